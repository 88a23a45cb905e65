use sea_orm::entity::prelude::*;

/// One message of a simulated chat (see [`crate::simulator`]).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "simulator_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    pub member_id: Option<i64>,
    /// `user` or `bot`.
    pub sender: String,
    /// `text`, `photo`, `location`, `contact`, `press`, `toast`.
    pub kind: String,
    pub body: String,
    /// JSON of [`crate::conversation::Keyboard`].
    pub keyboard: String,
    pub report_id: Option<i64>,
    pub outbox_id: Option<i64>,
    pub mime: Option<String>,
    pub data: Option<Vec<u8>>,
    pub staff_user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
