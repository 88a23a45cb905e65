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

use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_i18n::t;
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use serde::{Deserialize, Serialize};

use crate::areas;
use crate::db::Db;
use crate::domain::{AreaLevel, MemberStatus};
use crate::entity::{area, member, notice, notice_batch, notice_recipient, outbox};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::outbox::{Button, MessageKind, OutgoingMessage};
use crate::problem::Problem;
use crate::scope::Scope;

pub const STATUS_DRAFT: &str = "draft";
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_PAUSED: &str = "paused";
pub const STATUS_CANCELLED: &str = "cancelled";

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

// ---------------------------------------------------------------------------------------------
// Formatting

/// Escapes text for Telegram's HTML parse mode.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The notice as Telegram HTML: the title in bold, then the body escaped, with `**bold**`
/// spans of the body in bold (an unpaired `**` stays as typed).
pub fn render_html(title: &str, body: &str) -> String {
    let mut out = format!("<b>{}</b>", escape_html(title.trim()));
    let body = body.trim();
    if !body.is_empty() {
        out.push_str("\n\n");
        let parts: Vec<&str> = body.split("**").collect();
        let paired = parts.len() % 2 == 1;
        for (i, part) in parts.iter().enumerate() {
            let bold = i % 2 == 1 && (paired || i + 1 < parts.len());
            if i % 2 == 1 && !bold {
                out.push_str("**");
            }
            if bold {
                out.push_str("<b>");
                out.push_str(&escape_html(part));
                out.push_str("</b>");
            } else {
                out.push_str(&escape_html(part));
            }
        }
    }
    out
}

/// Callback data of the 收到 button: `ack:<notice_id>`.
pub fn ack_data(notice_id: i64) -> String {
    format!("ack:{notice_id}")
}

/// Parses `ack:<notice_id>` (for the bot).
pub fn parse_ack_data(data: &str) -> Option<i64> {
    data.strip_prefix("ack:")?.parse().ok()
}

/// The payload of an outbox row: an [`OutgoingMessage`] plus how to send it (`html`, and the
/// notice whose attachment goes with it). Extra keys are ignored by readers of the plain type.
fn payload(
    text: String,
    notice_id: i64,
    with_attachment: bool,
    locale: &str,
) -> CoreResult<String> {
    let message = OutgoingMessage {
        text,
        buttons: vec![vec![Button {
            label: t!("msg.notice.ack_button", locale = locale).into_owned(),
            data: ack_data(notice_id),
        }]],
        report_id: None,
    };
    let mut value =
        serde_json::to_value(&message).map_err(|e| CoreError::Internal(format!("payload: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("html".into(), serde_json::Value::Bool(true));
        if with_attachment {
            obj.insert(
                "attachment_notice".into(),
                serde_json::Value::from(notice_id),
            );
        }
    }
    Ok(value.to_string())
}

// ---------------------------------------------------------------------------------------------
// Audience

fn audience_condition(
    scope: &Scope,
    audience: &Audience,
    areas_in: &[area::Model],
) -> sea_orm::Condition {
    let mut cond = sea_orm::Condition::all()
        .add(scope.condition(member::Column::AreaPath))
        .add(member::Column::Status.ne(MemberStatus::Left));
    if !areas_in.is_empty() {
        let mut any = sea_orm::Condition::any();
        for a in areas_in {
            any = any.add(Scope::of_area(a).condition(member::Column::AreaPath));
        }
        cond = cond.add(any);
    }
    let roles: Vec<String> = audience
        .roles
        .iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    if !roles.is_empty() {
        cond = cond.add(member::Column::Role.is_in(roles));
    }
    let tags: Vec<&str> = audience
        .tags
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    if !tags.is_empty() {
        let mut any = sea_orm::Condition::any();
        for tag in tags {
            // Tags are stored `,党员,新任,`; a tag never contains a comma, and LIKE wildcards
            // are dropped from the filter so it matches whole tags only.
            let clean: String = tag
                .chars()
                .filter(|c| !matches!(c, '%' | '_' | ',' | '\\'))
                .collect();
            any = any.add(member::Column::Tags.like(format!("%,{clean},%")));
        }
        cond = cond.add(any);
    }
    cond
}

/// The audience's areas, each checked against the scope (outside it: `NotFound`).
async fn audience_areas(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    audience: &Audience,
) -> CoreResult<Vec<area::Model>> {
    let mut out = Vec::new();
    for id in &audience.area_ids {
        out.push(areas::find_in_scope(conn, scope, *id).await?);
    }
    Ok(out)
}

/// Members of the audience inside `scope`, in roster order (area path, id).
pub async fn audience_members(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    audience: &Audience,
) -> CoreResult<Vec<member::Model>> {
    let areas_in = audience_areas(conn, scope, audience).await?;
    Ok(member::Entity::find()
        .filter(audience_condition(scope, audience, &areas_in))
        .order_by_asc(member::Column::AreaPath)
        .order_by_asc(member::Column::Id)
        .all(conn)
        .await?)
}

fn is_reachable(m: &member::Model) -> bool {
    m.telegram_chat_id.is_some() && m.status == MemberStatus::Active
}

/// The recipient count shown before sending.
pub async fn audience_count(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    audience: &Audience,
) -> CoreResult<AudienceCount> {
    let areas_in = audience_areas(conn, scope, audience).await?;
    let cond = audience_condition(scope, audience, &areas_in);
    use sea_orm::PaginatorTrait;
    let total = member::Entity::find()
        .filter(cond.clone())
        .count(conn)
        .await?;
    let reachable = member::Entity::find()
        .filter(cond)
        .filter(member::Column::TelegramChatId.is_not_null())
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .count(conn)
        .await?;
    Ok(AudienceCount { total, reachable })
}

// ---------------------------------------------------------------------------------------------
// Compose, send, pause, cancel

fn require_sender(actor: &StaffActor) -> CoreResult<()> {
    if actor.role.can_act() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(Problem::ViewerMayNotAct))
    }
}

/// Longest title of a notice.
const MAX_TITLE_CHARS: usize = 200;
/// Longest wait between two batches: 30 days.
const MAX_INTERVAL_MINUTES: i64 = 60 * 24 * 30;

fn validate(new: &NewNotice) -> CoreResult<()> {
    if new.title.trim().is_empty() {
        return Err(CoreError::Invalid(Problem::NoticeTitleEmpty));
    }
    if new.title.chars().count() > MAX_TITLE_CHARS {
        return Err(CoreError::Invalid(Problem::NoticeTitleTooLong {
            max: MAX_TITLE_CHARS,
        }));
    }
    let rendered = render_html(&new.title, &new.body).chars().count();
    let limit = if new.attachment.is_some() {
        MAX_CAPTION_CHARS
    } else {
        MAX_TEXT_CHARS
    };
    if rendered > limit {
        return Err(CoreError::Invalid(if new.attachment.is_some() {
            Problem::NoticeCaptionTooLong {
                length: rendered,
                max: limit,
            }
        } else {
            Problem::NoticeTextTooLong {
                length: rendered,
                max: limit,
            }
        }));
    }
    if let Some(a) = &new.attachment {
        if a.data.is_empty() {
            return Err(CoreError::Invalid(Problem::AttachmentEmpty));
        }
        if a.data.len() > MAX_ATTACHMENT_BYTES {
            return Err(CoreError::Invalid(Problem::AttachmentTooLarge {
                max_mb: MAX_ATTACHMENT_BYTES / (1024 * 1024),
            }));
        }
    }
    if let BatchMode::BySize { size } = new.plan.mode
        && size == 0
    {
        return Err(CoreError::Invalid(Problem::BatchSizeZero));
    }
    if let BatchMode::ByArea { level } = new.plan.mode
        && !matches!(level, AreaLevel::Town | AreaLevel::Community)
    {
        return Err(CoreError::Invalid(Problem::BatchAreaLevel));
    }
    if !(0..=MAX_INTERVAL_MINUTES).contains(&new.plan.interval_minutes) {
        return Err(CoreError::Invalid(Problem::BatchIntervalOutOfRange {
            max: MAX_INTERVAL_MINUTES,
        }));
    }
    Ok(())
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

/// Saves a draft in the actor's scope (the audience's areas must lie inside it).
pub async fn create(
    db: &Db,
    actor: &StaffActor,
    new: NewNotice,
    now: DateTime<Utc>,
) -> CoreResult<notice::Model> {
    require_sender(actor)?;
    validate(&new)?;
    let txn = db.write().await?;
    audience_areas(&*txn, &actor.scope, &new.audience).await?;
    let (name, mime, data) = match new.attachment {
        Some(a) => (Some(a.file_name), Some(a.mime), Some(a.data)),
        None => (None, None, None),
    };
    let model = notice::ActiveModel {
        title: Set(new.title.trim().to_owned()),
        body: Set(new.body),
        attachment_name: Set(name),
        attachment_mime: Set(mime),
        attachment_data: Set(data),
        audience: Set(to_json(&new.audience)?),
        batch_plan: Set(to_json(&new.plan)?),
        area_id: Set(actor.scope.area_id()),
        area_path: Set(actor.scope.path().to_owned()),
        created_by: Set(Some(actor.id)),
        status: Set(STATUS_DRAFT.into()),
        remind_at: Set(new.remind_at),
        reminders_sent: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        submitted_at: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    audit(&*txn, Some(actor.id), "notice.create", model.id, None, now).await?;
    txn.commit().await?;
    Ok(model)
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

/// Splits the audience into batches: (label, members).
fn split_batches(
    plan: &BatchPlan,
    members: Vec<member::Model>,
    names: &HashMap<i64, area::Model>,
) -> Vec<(String, Vec<member::Model>)> {
    if members.is_empty() {
        return Vec::new();
    }
    match plan.mode {
        BatchMode::Single => vec![(String::new(), members)],
        BatchMode::BySize { size } => {
            let size = size.max(1) as usize;
            let mut out = Vec::new();
            let mut start = 1;
            let mut rest = members;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(size));
                let label = format!("{}–{}", start, start + rest.len() - 1);
                start += rest.len();
                out.push((label, rest));
                rest = tail;
            }
            out
        }
        BatchMode::ByArea { level } => {
            // Members are in area-path order, so each area's members are contiguous.
            let mut out: Vec<(Option<i64>, String, Vec<member::Model>)> = Vec::new();
            for m in members {
                let key = areas::ancestor_id_at(&m.area_path, level);
                match out.last_mut() {
                    Some((k, _, list)) if *k == key => list.push(m),
                    _ => {
                        let label = key
                            .and_then(|id| names.get(&id))
                            .map(|a| a.name.clone())
                            .unwrap_or_default();
                        out.push((key, label, vec![m]));
                    }
                }
            }
            out.into_iter().map(|(_, l, list)| (l, list)).collect()
        }
    }
}

/// Sends a draft: freezes the recipients into batches and queues one message per reachable
/// member, each not before its batch's time — all in one transaction.
pub async fn submit(
    db: &Db,
    actor: &StaffActor,
    notice_id: i64,
    now: DateTime<Utc>,
) -> CoreResult<Submitted> {
    require_sender(actor)?;
    let txn = db.write().await?;
    let n = get(&*txn, &actor.scope, notice_id).await?;
    if n.status != STATUS_DRAFT {
        return Err(CoreError::Conflict(Problem::NoticeAlreadySent));
    }
    let audience = n.audience();
    let plan = n.plan();
    let members = audience_members(&*txn, &actor.scope, &audience).await?;
    let names = areas::names_in_scope(&*txn, &actor.scope).await?;
    let batches = split_batches(&plan, members, &names);
    let first_at = plan.first_at.unwrap_or(now).max(now);
    let locale = "zh-CN";
    let text = n.html();
    let with_attachment = n.attachment_data.is_some();
    let mut summary = Submitted::default();
    for (i, (label, list)) in batches.into_iter().enumerate() {
        let send_at = first_at + ChronoDuration::minutes(plan.interval_minutes * i as i64);
        let batch = notice_batch::ActiveModel {
            notice_id: Set(n.id),
            seq: Set(i as i32 + 1),
            label: Set(label),
            send_at: Set(send_at),
            recipients: Set(list.len() as i32),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        summary.batches += 1;
        for chunk in list.chunks(INSERT_CHUNK) {
            let mut recipients = Query::insert();
            recipients.into_table(notice_recipient::Entity).columns([
                notice_recipient::Column::NoticeId,
                notice_recipient::Column::BatchId,
                notice_recipient::Column::MemberId,
                notice_recipient::Column::Reachable,
                notice_recipient::Column::Reminders,
            ]);
            let mut messages = bulk_outbox_insert();
            let mut queued = 0u64;
            for m in chunk {
                let reachable = is_reachable(m);
                recipients
                    .values([
                        n.id.into(),
                        batch.id.into(),
                        m.id.into(),
                        reachable.into(),
                        0i32.into(),
                    ])
                    .map_err(|e| CoreError::Internal(e.to_string()))?;
                if let (true, Some(chat)) = (reachable, m.telegram_chat_id) {
                    let locale = if m.language.code() == "en" {
                        "en"
                    } else {
                        locale
                    };
                    push_bulk_message(
                        &mut messages,
                        MessageKind::Notice,
                        (m.id, chat, n.id),
                        payload(text.clone(), n.id, with_attachment, locale)?,
                        format!("notice:{}:member:{}", n.id, m.id),
                        send_at,
                        now,
                    )?;
                    queued += 1;
                }
            }
            txn.execute(&recipients).await?;
            if queued > 0 {
                txn.execute(&messages).await?;
            }
            summary.recipients += chunk.len() as u64;
            summary.queued += queued;
        }
    }
    let mut active: notice::ActiveModel = n.into();
    active.status = Set(STATUS_ACTIVE.into());
    active.submitted_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(&*txn).await?;
    audit(
        &*txn,
        Some(actor.id),
        "notice.send",
        notice_id,
        Some(&format!(
            "recipients={} queued={} batches={}",
            summary.recipients, summary.queued, summary.batches
        )),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn set_status(
    db: &Db,
    actor: &StaffActor,
    notice_id: i64,
    now: DateTime<Utc>,
    allowed_from: &[&str],
    to: &str,
    rows_from: &[&str],
    rows_to: &str,
    action: &str,
) -> CoreResult<u64> {
    require_sender(actor)?;
    let txn = db.write().await?;
    let n = get(&*txn, &actor.scope, notice_id).await?;
    if !allowed_from.contains(&n.status.as_str()) {
        return Err(CoreError::Conflict(Problem::NoticeWrongState));
    }
    let changed = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(rows_to))
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Status.is_in(rows_from.iter().copied()))
        .exec(&*txn)
        .await?
        .rows_affected;
    let mut active: notice::ActiveModel = n.into();
    active.status = Set(to.into());
    active.updated_at = Set(now);
    if to == STATUS_CANCELLED {
        active.remind_at = Set(None);
    }
    active.update(&*txn).await?;
    audit(
        &*txn,
        Some(actor.id),
        action,
        notice_id,
        Some(&format!("messages={changed}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(changed)
}

/// Stops sending: messages not yet taken by a worker are held (those in flight finish).
pub async fn pause(db: &Db, actor: &StaffActor, id: i64, now: DateTime<Utc>) -> CoreResult<u64> {
    set_status(
        db,
        actor,
        id,
        now,
        &[STATUS_ACTIVE],
        STATUS_PAUSED,
        &["pending"],
        "held",
        "notice.pause",
    )
    .await
}

/// Sends the held messages again.
pub async fn resume(db: &Db, actor: &StaffActor, id: i64, now: DateTime<Utc>) -> CoreResult<u64> {
    set_status(
        db,
        actor,
        id,
        now,
        &[STATUS_PAUSED],
        STATUS_ACTIVE,
        &["held"],
        "pending",
        "notice.resume",
    )
    .await
}

/// Cancels whatever was not sent yet (a draft is cancelled as a whole).
pub async fn cancel(db: &Db, actor: &StaffActor, id: i64, now: DateTime<Utc>) -> CoreResult<u64> {
    set_status(
        db,
        actor,
        id,
        now,
        &[STATUS_DRAFT, STATUS_ACTIVE, STATUS_PAUSED],
        STATUS_CANCELLED,
        &["pending", "held"],
        "cancelled",
        "notice.cancel",
    )
    .await
}

/// Moves one batch to another time (its messages not yet sent follow).
pub async fn set_batch_time(
    db: &Db,
    actor: &StaffActor,
    notice_id: i64,
    batch_id: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CoreResult<u64> {
    use sea_orm::sea_query::ExprTrait;
    require_sender(actor)?;
    let txn = db.write().await?;
    let n = get(&*txn, &actor.scope, notice_id).await?;
    if n.status == STATUS_CANCELLED {
        return Err(CoreError::Conflict(Problem::NoticeCancelled));
    }
    let batch = notice_batch::Entity::find_by_id(batch_id)
        .filter(notice_batch::Column::NoticeId.eq(notice_id))
        .one(&*txn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let at = std::cmp::max(at, now);
    let mut a: notice_batch::ActiveModel = batch.into();
    a.send_at = Set(at);
    a.update(&*txn).await?;
    let members = Query::select()
        .column(notice_recipient::Column::MemberId)
        .from(notice_recipient::Entity)
        .and_where(Expr::col(notice_recipient::Column::BatchId).eq(batch_id))
        .to_owned();
    let moved = outbox::Entity::update_many()
        .col_expr(outbox::Column::NotBefore, Expr::value(at))
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Kind.eq(MessageKind::Notice.code()))
        .filter(outbox::Column::Status.is_in(["pending", "held"]))
        .filter(outbox::Column::MemberId.in_subquery(members))
        .exec(&*txn)
        .await?
        .rows_affected;
    audit(
        &*txn,
        Some(actor.id),
        "notice.batch_time",
        notice_id,
        Some(&format!("batch={batch_id} at={}", at.to_rfc3339())),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(moved)
}

/// Queues the messages that Telegram may have accepted (answer timed out) once more: an
/// explicit decision by staff, since some members may then see the notice twice.
pub async fn resend_uncertain(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    now: DateTime<Utc>,
) -> CoreResult<u64> {
    require_sender(actor)?;
    let txn = db.write().await?;
    get(&*txn, &actor.scope, id).await?;
    let n = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value("pending"))
        .col_expr(outbox::Column::NotBefore, Expr::value(now))
        .filter(outbox::Column::NoticeId.eq(id))
        .filter(outbox::Column::Status.eq("uncertain"))
        .exec(&*txn)
        .await?
        .rows_affected;
    audit(
        &*txn,
        Some(actor.id),
        "notice.resend_uncertain",
        id,
        Some(&format!("messages={n}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Acknowledgement and reminders

/// Records that `member_id` pressed 收到 on notice `notice_id` (the bot routes the callback
/// `ack:<notice_id>` here). Recorded once, however often pressed.
pub async fn acknowledge(db: &Db, member_id: i64, notice_id: i64) -> CoreResult<AckOutcome> {
    let now = Utc::now();
    let txn = db.write().await?;
    let updated = notice_recipient::Entity::update_many()
        .col_expr(notice_recipient::Column::AcknowledgedAt, Expr::value(now))
        .filter(notice_recipient::Column::NoticeId.eq(notice_id))
        .filter(notice_recipient::Column::MemberId.eq(member_id))
        .filter(notice_recipient::Column::AcknowledgedAt.is_null())
        .exec(&*txn)
        .await?
        .rows_affected;
    let outcome = if updated > 0 {
        AckOutcome::Recorded
    } else if notice_recipient::Entity::find()
        .filter(notice_recipient::Column::NoticeId.eq(notice_id))
        .filter(notice_recipient::Column::MemberId.eq(member_id))
        .one(&*txn)
        .await?
        .is_some()
    {
        AckOutcome::Already
    } else {
        AckOutcome::NotRecipient
    };
    txn.commit().await?;
    Ok(outcome)
}

/// Sets (or clears) the time of the scheduled reminder.
pub async fn set_reminder(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    require_sender(actor)?;
    let txn = db.write().await?;
    let n = get(&*txn, &actor.scope, id).await?;
    let mut a: notice::ActiveModel = n.into();
    a.remind_at = Set(at);
    a.updated_at = Set(now);
    a.update(&*txn).await?;
    audit(
        &*txn,
        Some(actor.id),
        "notice.reminder_time",
        id,
        at.map(|t| t.to_rfc3339()).as_deref(),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Queues a reminder to every recipient who got the notice and has not acknowledged it.
/// Returns how many were queued. `actor` is `None` for the scheduler.
pub async fn remind(
    db: &Db,
    actor: Option<&StaffActor>,
    id: i64,
    now: DateTime<Utc>,
) -> CoreResult<u64> {
    let txn = db.write().await?;
    let n = match actor {
        Some(a) => {
            require_sender(a)?;
            get(&*txn, &a.scope, id).await?
        }
        None => notice::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or(CoreError::NotFound)?,
    };
    let queued = remind_in(&*txn, &n, now).await?;
    audit(
        &*txn,
        actor.map(|a| a.id),
        "notice.remind",
        id,
        Some(&format!("messages={queued}")),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(queued)
}

async fn remind_in(
    txn: &impl ConnectionTrait,
    n: &notice::Model,
    now: DateTime<Utc>,
) -> CoreResult<u64> {
    use sea_orm::sea_query::ExprTrait;
    if n.status == STATUS_CANCELLED || n.status == STATUS_DRAFT {
        return Err(CoreError::Conflict(Problem::NoticeWrongState));
    }
    let round = n.reminders_sent + 1;
    // Recipients not acknowledged whose notice was delivered, with a chat to write to.
    let backend = txn.get_database_backend();
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "SELECT m.id AS member_id, m.telegram_chat_id AS chat_id, m.language AS language \
                 FROM notice_recipients r \
                 JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
                 JOIN members m ON m.id = r.member_id \
                 WHERE r.notice_id = $1 AND r.acknowledged_at IS NULL AND o.status = 'sent' \
                   AND m.status = 'active' AND m.telegram_chat_id IS NOT NULL \
                 ORDER BY m.id",
            ),
            [n.id.into()],
        ))
        .await?;
    let title = escape_html(&n.title);
    let mut queued = 0;
    let mut ids = Vec::new();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut messages = bulk_outbox_insert();
        let mut any = false;
        for row in chunk {
            let member_id: i64 = row.try_get("", "member_id")?;
            let chat_id: i64 = row.try_get("", "chat_id")?;
            let language: String = row.try_get("", "language")?;
            let locale = if language == "en" { "en" } else { "zh-CN" };
            let text = t!("msg.notice.reminder", locale = locale, title = title).into_owned();
            push_bulk_message(
                &mut messages,
                MessageKind::Reminder,
                (member_id, chat_id, n.id),
                payload(text, n.id, false, locale)?,
                format!("notice:{}:remind:{}:member:{}", n.id, round, member_id),
                now,
                now,
            )?;
            ids.push(member_id);
            any = true;
            queued += 1;
        }
        if any {
            txn.execute(&messages).await?;
        }
    }
    for chunk in ids.chunks(INSERT_CHUNK) {
        notice_recipient::Entity::update_many()
            .col_expr(
                notice_recipient::Column::Reminders,
                Expr::col(notice_recipient::Column::Reminders).add(1),
            )
            .filter(notice_recipient::Column::NoticeId.eq(n.id))
            .filter(notice_recipient::Column::MemberId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    notice::Entity::update_many()
        .col_expr(notice::Column::RemindersSent, Expr::value(round))
        .col_expr(notice::Column::UpdatedAt, Expr::value(now))
        .filter(notice::Column::Id.eq(n.id))
        .exec(txn)
        .await?;
    Ok(queued)
}

/// The scheduler's part of notices: sends the reminders that are due. Safe to run in several
/// processes at once (each reminder is claimed by clearing its time in a conditional update).
pub async fn run_due(db: &Db, now: DateTime<Utc>) -> CoreResult<u64> {
    let due: Vec<(i64, Option<DateTime<Utc>>)> = notice::Entity::find()
        .select_only()
        .column(notice::Column::Id)
        .column(notice::Column::RemindAt)
        .filter(notice::Column::RemindAt.lte(now))
        .filter(notice::Column::Status.is_in([STATUS_ACTIVE, STATUS_PAUSED]))
        .into_tuple()
        .all(db.conn())
        .await?;
    let mut total = 0;
    for (id, at) in due {
        let txn = db.write().await?;
        let claimed = notice::Entity::update_many()
            .col_expr(
                notice::Column::RemindAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(notice::Column::Id.eq(id))
            .filter(notice::Column::RemindAt.eq(at))
            .exec(&*txn)
            .await?
            .rows_affected;
        if claimed == 1
            && let Some(n) = notice::Entity::find_by_id(id).one(&*txn).await?
        {
            let queued = remind_in(&*txn, &n, now).await?;
            audit(
                &*txn,
                None,
                "notice.remind",
                id,
                Some(&format!("scheduled messages={queued}")),
                now,
            )
            .await?;
            total += queued;
        }
        txn.commit().await?;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// Progress

/// `$1, $2 …` placeholders as the backend wants them.
fn sql(backend: DbBackend, s: &str) -> String {
    if backend != DbBackend::Sqlite {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

const STATUS_EXPR: &str =
    "CASE WHEN r.reachable = $R THEN COALESCE(o.status, 'cancelled') ELSE 'unreachable' END";

fn status_expr(backend: DbBackend) -> String {
    STATUS_EXPR.replace(
        "$R",
        if backend == DbBackend::Postgres {
            "TRUE"
        } else {
            "1"
        },
    )
}

/// Delivery counts per notice, for the notices of `notice_ids` visible in `scope` (others are
/// left out). The JSON API and the notice list read these.
pub async fn delivery_counts(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_ids: &[i64],
) -> CoreResult<HashMap<i64, DeliveryCounts>> {
    let mut out = HashMap::new();
    if notice_ids.is_empty() {
        return Ok(out);
    }
    let visible: Vec<i64> = notice::Entity::find()
        .select_only()
        .column(notice::Column::Id)
        .filter(notice::Column::Id.is_in(notice_ids.iter().copied()))
        .filter(scope.condition(notice::Column::AreaPath))
        .into_tuple()
        .all(conn)
        .await?;
    let backend = conn.get_database_backend();
    for chunk in visible.chunks(INSERT_CHUNK) {
        for id in chunk {
            out.insert(*id, DeliveryCounts::default());
        }
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT r.notice_id AS k, {st} AS st, COUNT(*) AS n, \
                     SUM(CASE WHEN r.acknowledged_at IS NULL THEN 0 ELSE 1 END) AS acked \
                     FROM notice_recipients r \
                     LEFT JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
                     WHERE r.notice_id IN ({list}) GROUP BY r.notice_id, {st}",
                    st = status_expr(backend)
                ),
            ))
            .await?;
        for row in rows {
            let (k, st, n, acked) = count_row(&row)?;
            out.entry(k).or_default().add(&st, n, acked);
        }
    }
    Ok(out)
}

fn count_row(row: &sea_orm::QueryResult) -> CoreResult<(i64, String, i64, i64)> {
    let k: i64 = row.try_get("", "k")?;
    let st: String = row.try_get("", "st")?;
    let n: i64 = row.try_get("", "n")?;
    let acked: i64 = match row.try_get::<Option<i64>>("", "acked") {
        Ok(v) => v.unwrap_or(0),
        // PostgreSQL sums bigints into numeric on some versions.
        Err(_) => row
            .try_get::<Option<f64>>("", "acked")
            .ok()
            .flatten()
            .unwrap_or(0.0) as i64,
    };
    Ok((k, st, n, acked))
}

/// Progress of each batch of a notice: queued / sent / failed / blocked / acknowledged.
pub async fn batch_progress(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_id: i64,
) -> CoreResult<Vec<BatchProgress>> {
    get(conn, scope, notice_id).await?;
    let batches = notice_batch::Entity::find()
        .filter(notice_batch::Column::NoticeId.eq(notice_id))
        .order_by_asc(notice_batch::Column::Seq)
        .all(conn)
        .await?;
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                &format!(
                    "SELECT r.batch_id AS k, {st} AS st, COUNT(*) AS n, \
                     SUM(CASE WHEN r.acknowledged_at IS NULL THEN 0 ELSE 1 END) AS acked \
                     FROM notice_recipients r \
                     LEFT JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
                     WHERE r.notice_id = $1 GROUP BY r.batch_id, {st}",
                    st = status_expr(backend)
                ),
            ),
            [notice_id.into()],
        ))
        .await?;
    let mut counts: HashMap<i64, DeliveryCounts> = HashMap::new();
    for row in rows {
        let (k, st, n, acked) = count_row(&row)?;
        counts.entry(k).or_default().add(&st, n, acked);
    }
    Ok(batches
        .into_iter()
        .map(|b| BatchProgress {
            counts: counts.get(&b.id).copied().unwrap_or_default(),
            batch: b,
        })
        .collect())
}

/// The recipients of a notice with their status, in batch then roster order. `status`
/// filters (e.g. `unacknowledged`, `failed`); `after` and `limit` page (by recipient id).
pub async fn recipients(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_id: i64,
    status: Option<&str>,
    after: Option<i64>,
    limit: u64,
) -> CoreResult<Vec<(i64, RecipientRow)>> {
    get(conn, scope, notice_id).await?;
    let backend = conn.get_database_backend();
    let st = status_expr(backend);
    let mut where_extra = String::new();
    match status {
        Some("acknowledged") => where_extra.push_str(" AND r.acknowledged_at IS NOT NULL"),
        Some("unacknowledged") => where_extra.push_str(" AND r.acknowledged_at IS NULL"),
        Some(
            s @ ("queued" | "sent" | "failed" | "blocked" | "uncertain" | "cancelled"
            | "unreachable"),
        ) => {
            if s == "queued" {
                where_extra.push_str(&format!(" AND {st} IN ('pending','sending','held')"));
            } else {
                where_extra.push_str(&format!(" AND {st} = '{s}'"));
            }
        }
        _ => {}
    }
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                &format!(
                    "SELECT r.id AS rid, m.id AS member_id, m.name AS name, m.area_path AS area_path, \
                     m.role AS role, b.seq AS seq, {st} AS st, o.last_error AS error, o.sent_at AS sent_at, \
                     r.acknowledged_at AS acknowledged_at \
                     FROM notice_recipients r \
                     JOIN members m ON m.id = r.member_id \
                     JOIN notice_batches b ON b.id = r.batch_id \
                     LEFT JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
                     WHERE r.notice_id = $1 AND r.id > $2{where_extra} \
                     ORDER BY r.id LIMIT $3"
                ),
            ),
            [
                notice_id.into(),
                after.unwrap_or(0).into(),
                (limit.min(i64::MAX as u64) as i64).into(),
            ],
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let raw: String = row.try_get("", "st")?;
        let status = match raw.as_str() {
            "pending" | "sending" | "held" => "queued".to_owned(),
            _ => raw,
        };
        out.push((
            row.try_get("", "rid")?,
            RecipientRow {
                member_id: row.try_get("", "member_id")?,
                name: row.try_get("", "name")?,
                area_path: row.try_get("", "area_path")?,
                role: row.try_get("", "role")?,
                batch_seq: row.try_get("", "seq")?,
                status,
                error: row.try_get("", "error")?,
                sent_at: row.try_get("", "sent_at")?,
                acknowledged_at: row.try_get("", "acknowledged_at")?,
            },
        ));
    }
    Ok(out)
}

/// The recipient list as CSV (UTF-8 with a BOM so spreadsheet programs read the Chinese):
/// name, area, role, batch, status, sent at, acknowledged at, error. No phone numbers.
pub async fn recipients_csv(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    notice_id: i64,
    locale: &str,
) -> CoreResult<Vec<u8>> {
    let names = areas::names_in_scope(conn, scope).await?;
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let header = [
        "name",
        "area",
        "role",
        "batch",
        "status",
        "sent_at",
        "acknowledged_at",
        "error",
    ]
    .map(|k| t!(format!("notice.csv.{k}"), locale = locale).into_owned());
    let csv_err = |e: csv::Error| CoreError::Internal(format!("csv: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    let mut after = None;
    loop {
        let page = recipients(conn, scope, notice_id, None, after, 2000).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        for (_, r) in &page {
            let fmt = |t: Option<DateTime<Utc>>| {
                t.map(|t| {
                    t.with_timezone(&crate::holidays::county_offset())
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default()
            };
            w.write_record([
                csv_safe(&r.name).as_str(),
                csv_safe(&areas::display_path(&r.area_path, &names)).as_str(),
                csv_safe(&r.role).as_str(),
                &r.batch_seq.to_string(),
                &t!(format!("notice.status.{}", r.status), locale = locale),
                &fmt(r.sent_at),
                &fmt(r.acknowledged_at),
                r.error.as_deref().unwrap_or(""),
            ])
            .map_err(csv_err)?;
        }
    }
    w.into_inner()
        .map_err(|e| CoreError::Internal(format!("csv: {e}")))
}

/// A cell a spreadsheet will not run as a formula.
fn csv_safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// A multi-row INSERT into the outbox for bulk messages (notices, reminders); rows whose dedupe
/// key is already queued are skipped, so a repeated send never queues a member twice.
fn bulk_outbox_insert() -> InsertStatement {
    let mut stmt = Query::insert();
    stmt.into_table(outbox::Entity)
        .columns([
            outbox::Column::Kind,
            outbox::Column::Priority,
            outbox::Column::MemberId,
            outbox::Column::ChatId,
            outbox::Column::NoticeId,
            outbox::Column::Payload,
            outbox::Column::DedupeKey,
            outbox::Column::Status,
            outbox::Column::Attempts,
            outbox::Column::NotBefore,
            outbox::Column::Simulated,
            outbox::Column::CreatedAt,
            outbox::Column::Retaken,
        ])
        .on_conflict(
            OnConflict::column(outbox::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        );
    stmt
}

/// Adds one pending row to a [`bulk_outbox_insert`]: `to` is (member, chat, notice).
fn push_bulk_message(
    stmt: &mut InsertStatement,
    kind: MessageKind,
    to: (i64, i64, i64),
    payload: String,
    dedupe_key: String,
    not_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    let (member_id, chat_id, notice_id) = to;
    stmt.values([
        kind.code().into(),
        kind.priority().into(),
        member_id.into(),
        chat_id.into(),
        notice_id.into(),
        payload.into(),
        dedupe_key.into(),
        "pending".into(),
        0i32.into(),
        not_before.into(),
        crate::simulator::is_simulated_chat(chat_id).into(),
        now.into(),
        0i32.into(),
    ])
    .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(())
}

/// Staff command: the recipient list of a notice in scope as CSV (see [`recipients_csv`]), with
/// the audit line of the export.
pub async fn export_recipients(
    db: &Db,
    actor: &StaffActor,
    notice_id: i64,
    locale: &str,
    ip: Option<&str>,
) -> CoreResult<Vec<u8>> {
    use crate::audit::{AuditAction, AuditTarget};
    let bytes = recipients_csv(db.conn(), &actor.scope, notice_id, locale).await?;
    let target = Some(AuditTarget::Notice(notice_id));
    crate::audit::log_alone(
        db,
        Some(actor.id),
        AuditAction::NoticeExport,
        target,
        None,
        ip,
    )
    .await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_bold_pairs_render() {
        assert_eq!(
            render_html("培训<通知>", "请 **周五** 前到 A&B 会议室"),
            "<b>培训&lt;通知&gt;</b>\n\n请 <b>周五</b> 前到 A&amp;B 会议室"
        );
        assert_eq!(render_html("t", "a ** b"), "<b>t</b>\n\na ** b");
        assert_eq!(render_html("t", "<script>"), "<b>t</b>\n\n&lt;script&gt;");
    }

    #[test]
    fn ack_data_round_trips() {
        assert_eq!(parse_ack_data(&ack_data(42)), Some(42));
        assert_eq!(parse_ack_data("ack:x"), None);
        assert_eq!(parse_ack_data("task:done:1"), None);
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            sql(DbBackend::Sqlite, "a = $1 AND b = $12"),
            "a = ? AND b = ?"
        );
        assert_eq!(sql(DbBackend::Postgres, "a = $1"), "a = $1");
    }
}
