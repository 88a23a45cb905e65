//! Notices (通知): county, town and community staff send training notices to grid leaders
//! "by category, by level, in batches" (分类、分层、分批), and see who received and who
//! acknowledged (签收) them.
//!
//! A notice is composed as a draft (title, text, optional attachment, audience = area subtrees
//! × member roles × tags, a batch plan, an optional reminder time). Sending it freezes the
//! recipient list (`notice_recipients`, each in one batch) and queues one `outbox` row per
//! reachable member in the same transaction (multi-row inserts, dedupe key
//! `notice:<id>:member:<mid>`), each not before its batch's time. Delivery status is read from
//! those outbox rows; the acknowledgement lives on the recipient row. Everything takes the
//! caller's [`Scope`]: outside it a notice does not exist, and an audience never reaches past it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::domain::AreaLevel;
use crate::entity::{notice, notice_batch};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;
use crate::scope::Scope;

mod audience;
mod draft;
mod progress;
mod reminders;
mod sending;
mod telegram;

pub use audience::{audience_count, audience_members};
pub use draft::create;
pub use progress::{
    batch_progress, delivery_counts, export_recipients, recipients, recipients_csv,
};
pub use reminders::{acknowledge, remind, run_due, set_reminder};
pub use sending::{cancel, pause, resend_uncertain, resume, set_batch_time, submit};
pub use telegram::{ack_data, parse_ack_data, render_html};

/// Telegram's limit for a message text; a caption (with an attachment) is shorter.
pub const MAX_TEXT_CHARS: usize = 3500;
pub const MAX_CAPTION_CHARS: usize = 900;
/// Telegram bots may upload documents up to 50 MB; the panel accepts less.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// Rows per multi-row INSERT (well under SQLite's 32,766 bound parameters).
const INSERT_CHUNK: usize = 500;

/// Who receives a notice: members in any of `area_ids`' subtrees (none: the whole scope),
/// with any of `roles` (none: every role), carrying any of `tags` (none: no tag needed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    #[serde(default)]
    pub area_ids: Vec<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// How the recipients are split into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BatchMode {
    /// Everyone at once.
    Single,
    /// Batches of `size` members (in roster order).
    BySize { size: u32 },
    /// One batch per area at `level` (town or community).
    ByArea { level: AreaLevel },
}

/// Batches and their times: the first at `first_at`, each next one `interval_minutes` later
/// (each batch's time can be changed afterwards with [`set_batch_time`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub mode: BatchMode,
    /// `None`: as soon as the notice is sent.
    pub first_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub interval_minutes: i64,
}

impl Default for BatchPlan {
    fn default() -> Self {
        BatchPlan {
            mode: BatchMode::Single,
            first_at: None,
            interval_minutes: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    pub mime: String,
    pub data: Vec<u8>,
}

/// What the author composes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewNotice {
    pub title: String,
    /// Plain text; `**bold**` is rendered bold, everything else is shown as typed.
    pub body: String,
    pub attachment: Option<Attachment>,
    pub audience: Audience,
    pub plan: BatchPlan,
    /// Remind those who have not acknowledged at this time.
    pub remind_at: Option<DateTime<Utc>>,
}

/// What pressing 收到 did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// First press: recorded now.
    Recorded,
    /// Already acknowledged earlier (recorded once, however often pressed).
    Already,
    /// This member was not sent this notice (stale or forged button).
    NotRecipient,
}

/// The recipient count shown before sending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AudienceCount {
    /// Members matching the audience (not counting those who left).
    pub total: u64,
    /// Of those, bound to Telegram and not blocking the bot: they will get a message.
    pub reachable: u64,
}

/// Delivery of a notice (or one batch of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    pub recipients: i64,
    /// Waiting for their batch, being sent, or paused.
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub blocked: i64,
    /// Telegram may have accepted the message but its answer never came: not resent blindly.
    pub uncertain: i64,
    pub cancelled: i64,
    /// Not bound to Telegram (or blocked) when the notice was sent: nothing was queued.
    pub unreachable: i64,
    pub acknowledged: i64,
}

impl DeliveryCounts {
    fn add(&mut self, status: &str, n: i64, acked: i64) {
        self.recipients += n;
        self.acknowledged += acked;
        match status {
            "sent" => self.sent += n,
            "failed" => self.failed += n,
            "blocked" => self.blocked += n,
            "uncertain" => self.uncertain += n,
            "cancelled" => self.cancelled += n,
            "unreachable" => self.unreachable += n,
            _ => self.queued += n,
        }
    }
    /// Nothing is waiting any more.
    pub fn finished(&self) -> bool {
        self.queued == 0
    }
    /// Percent (0–100) of recipients whose message is no longer waiting.
    pub fn percent_done(&self) -> i64 {
        if self.recipients == 0 {
            100
        } else {
            (self.recipients - self.queued) * 100 / self.recipients
        }
    }
    pub fn percent(&self, part: i64) -> i64 {
        if self.recipients == 0 {
            0
        } else {
            part * 100 / self.recipients
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BatchProgress {
    pub batch: notice_batch::Model,
    pub counts: DeliveryCounts,
}

/// One line of the recipient list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientRow {
    pub member_id: i64,
    pub name: String,
    pub area_path: String,
    pub role: String,
    pub batch_seq: i32,
    /// `queued`, `sent`, `failed`, `blocked`, `uncertain`, `cancelled`, `unreachable`.
    pub status: String,
    pub error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// Summary of [`submit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Submitted {
    pub recipients: u64,
    pub queued: u64,
    pub batches: u64,
}

fn require_sender(actor: &StaffActor) -> CoreResult<()> {
    if actor.role.can_act() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(Problem::ViewerMayNotAct))
    }
}

/// The audit line of a notice action (`actor_id` `None`: the scheduler).
async fn audit(
    txn: &impl ConnectionTrait,
    actor_id: Option<i64>,
    action: &str,
    notice_id: i64,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    let target = format!("notice:{notice_id}");
    crate::audit::record_at(txn, actor_id, action, Some(&target), detail, None, now).await?;
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> CoreResult<String> {
    serde_json::to_string(v).map_err(|e| CoreError::Internal(format!("json: {e}")))
}

/// A notice visible in `scope` (outside it: `NotFound`).
pub async fn get(conn: &impl ConnectionTrait, scope: &Scope, id: i64) -> CoreResult<notice::Model> {
    let n = notice::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(CoreError::NotFound)?;
    if scope.contains(&n.area_path) {
        Ok(n)
    } else {
        Err(CoreError::NotFound)
    }
}

impl notice::Model {
    pub fn audience(&self) -> Audience {
        serde_json::from_str(&self.audience).unwrap_or_default()
    }
    pub fn plan(&self) -> BatchPlan {
        serde_json::from_str(&self.batch_plan).unwrap_or_default()
    }
    pub fn html(&self) -> String {
        render_html(&self.title, &self.body)
    }
}

/// Notices visible in `scope`, newest first; `before_id` pages (keyset).
pub async fn list(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    before_id: Option<i64>,
    limit: u64,
) -> CoreResult<Vec<notice::Model>> {
    let mut q = notice::Entity::find()
        .select_only()
        .columns([
            notice::Column::Id,
            notice::Column::Title,
            notice::Column::Body,
            notice::Column::AttachmentName,
            notice::Column::AttachmentMime,
            notice::Column::Audience,
            notice::Column::BatchPlan,
            notice::Column::AreaId,
            notice::Column::AreaPath,
            notice::Column::CreatedBy,
            notice::Column::Status,
            notice::Column::RemindAt,
            notice::Column::RemindersSent,
            notice::Column::CreatedAt,
            notice::Column::UpdatedAt,
            notice::Column::SubmittedAt,
        ])
        .expr_as(Expr::value(Option::<Vec<u8>>::None), "attachment_data")
        .filter(scope.condition(notice::Column::AreaPath));
    if let Some(before) = before_id {
        q = q.filter(notice::Column::Id.lt(before));
    }
    Ok(q.order_by_desc(notice::Column::Id)
        .limit(limit)
        .into_model::<notice::Model>()
        .all(conn)
        .await?)
}
