use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub report_id: i64,
    pub event_id: Option<i64>,
    /// `photo`, `voice`, `document`, `video`.
    pub kind: String,
    pub telegram_file_id: Option<String>,
    pub telegram_file_unique_id: Option<String>,
    pub mime: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<i64>,
    /// The stored bytes, so the panel can show the file without the bot token.
    pub data: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
