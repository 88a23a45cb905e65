use sea_orm::entity::prelude::*;

/// One member a notice was sent to (frozen when the notice is sent), with the acknowledgement.
/// Delivery status lives on the member's `outbox` row (`kind = 'notice'`, same notice id).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notice_recipients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notice_id: i64,
    pub batch_id: i64,
    pub member_id: i64,
    /// Bound to Telegram and active when the notice was sent (else nothing was queued).
    pub reachable: bool,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub reminders: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
