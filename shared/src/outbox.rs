//! The durable queue of outgoing messages. Rows are written in the same transaction as the
//! change that causes them; the delivery worker drains them.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

pub use crate::domain::{MessageKind, OutboxStatus};
use crate::entity::{member, outbox};
use crate::error::CoreResult;

/// Person-to-person messages (task cards, report updates, replies) go before bulk notices.
pub const PRIORITY_DIRECT: i16 = 0;
pub const PRIORITY_BULK: i16 = 10;

/// An inline button: a label and the callback data the bot receives when it is pressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub data: String,
}

/// What to send, independent of any messenger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    /// Plain text (no markup).
    pub text: String,
    /// Rows of inline buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<Button>>,
    /// The report this message is about: a reply to it lands on that report's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<i64>,
}

impl OutgoingMessage {
    pub fn text(text: impl Into<String>) -> Self {
        OutgoingMessage {
            text: text.into(),
            buttons: Vec::new(),
            report_id: None,
        }
    }
}

impl MessageKind {
    /// Person-to-person messages go before bulk ones.
    pub fn priority(self) -> i16 {
        match self {
            MessageKind::Notice | MessageKind::Reminder => PRIORITY_BULK,
            _ => PRIORITY_DIRECT,
        }
    }
}

/// Queues one message to a member. Returns `None` (and queues nothing) when the member cannot
/// be reached: not bound to Telegram, left, or blocked the bot.
pub async fn enqueue_to_member(
    db: &impl ConnectionTrait,
    to: &member::Model,
    kind: MessageKind,
    message: &OutgoingMessage,
    dedupe_key: Option<String>,
    now: DateTime<Utc>,
) -> CoreResult<Option<outbox::Model>> {
    let Some(chat_id) = to.telegram_chat_id else {
        return Ok(None);
    };
    if to.status != crate::domain::MemberStatus::Active {
        return Ok(None);
    }
    let payload = serde_json::to_string(message)
        .map_err(|e| crate::error::CoreError::Internal(format!("payload: {e}")))?;
    let row = outbox::ActiveModel {
        kind: Set(kind),
        priority: Set(kind.priority()),
        member_id: Set(Some(to.id)),
        chat_id: Set(chat_id),
        report_id: Set(message.report_id),
        notice_id: Set(None),
        payload: Set(payload),
        dedupe_key: Set(dedupe_key),
        status: Set(OutboxStatus::Pending),
        attempts: Set(0),
        not_before: Set(now),
        lease_owner: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        telegram_message_id: Set(None),
        simulated: Set(crate::simulator::is_simulated_chat(chat_id)),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Some(row))
}

impl outbox::Model {
    pub fn message(&self) -> Option<OutgoingMessage> {
        serde_json::from_str(&self.payload).ok()
    }
}

/// Queued messages to one member, oldest first (tests and the simulator read these).
pub async fn for_member(
    db: &impl ConnectionTrait,
    member_id: i64,
) -> CoreResult<Vec<outbox::Model>> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::MemberId.eq(member_id))
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await?)
}
