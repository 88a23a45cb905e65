use crate::domain::{MessageKind, OutboxStatus};
use sea_orm::entity::prelude::*;

/// One message the bot sends on its own initiative, written in the same transaction as the
/// change that causes it and drained by the delivery worker.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: MessageKind,
    /// Lower goes first: person-to-person messages before bulk notices.
    pub priority: i16,
    pub member_id: Option<i64>,
    pub chat_id: i64,
    pub report_id: Option<i64>,
    pub notice_id: Option<i64>,
    /// JSON of [`crate::outbox::OutgoingMessage`].
    pub payload: String,
    /// At most one row per key (e.g. one notice per member).
    pub dedupe_key: Option<String>,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub not_before: DateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub telegram_message_id: Option<i64>,
    pub simulated: bool,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    /// How often the row was taken again after its holder's lease ran out (a crash mid-send:
    /// each retake may have delivered the message twice).
    pub retaken: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
