use sea_orm::entity::prelude::*;

/// One batch of a notice (分批): its recipients are queued to be sent from `send_at`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notice_batches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notice_id: i64,
    /// 1, 2, 3 … in sending order.
    pub seq: i32,
    /// e.g. `1–500` or an area's name.
    pub label: String,
    pub send_at: DateTimeUtc,
    pub recipients: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
