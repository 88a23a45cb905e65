//! Sending a notice: freezing the recipients into batches and queueing their messages; pausing,
//! resuming and cancelling; moving a batch; resending the uncertain ones.

use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::audience::{audience_members, is_reachable};
use super::telegram::payload;
use super::{BatchMode, BatchPlan, INSERT_CHUNK, Submitted, audit, get, require_sender};
use crate::areas;
use crate::db::Db;
use crate::domain::{AreaPath, NoticeStatus, OutboxStatus};
use crate::entity::{area, member, notice, notice_batch, notice_recipient, outbox};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::outbox::MessageKind;
use crate::problem::Problem;

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
                let key = AreaPath::stored(m.area_path.as_str()).id_at(level);
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
    if n.status != NoticeStatus::Draft {
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
    active.status = Set(NoticeStatus::Active);
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

/// A change of a sent notice's state and what it does to its queued messages.
struct StatusChange {
    /// The states it may start from.
    from: &'static [NoticeStatus],
    to: NoticeStatus,
    /// Queued messages in these states …
    rows_from: &'static [OutboxStatus],
    /// … move to this one.
    rows_to: OutboxStatus,
    /// The audit action.
    action: &'static str,
}

const PAUSE: StatusChange = StatusChange {
    from: &[NoticeStatus::Active],
    to: NoticeStatus::Paused,
    rows_from: &[OutboxStatus::Pending],
    rows_to: OutboxStatus::Held,
    action: "notice.pause",
};

const RESUME: StatusChange = StatusChange {
    from: &[NoticeStatus::Paused],
    to: NoticeStatus::Active,
    rows_from: &[OutboxStatus::Held],
    rows_to: OutboxStatus::Pending,
    action: "notice.resume",
};

const CANCEL: StatusChange = StatusChange {
    from: &[
        NoticeStatus::Draft,
        NoticeStatus::Active,
        NoticeStatus::Paused,
    ],
    to: NoticeStatus::Cancelled,
    rows_from: &[OutboxStatus::Pending, OutboxStatus::Held],
    rows_to: OutboxStatus::Cancelled,
    action: "notice.cancel",
};

async fn set_status(
    db: &Db,
    actor: &StaffActor,
    notice_id: i64,
    now: DateTime<Utc>,
    change: &StatusChange,
) -> CoreResult<u64> {
    require_sender(actor)?;
    let txn = db.write().await?;
    let n = get(&*txn, &actor.scope, notice_id).await?;
    if !change.from.contains(&n.status) {
        return Err(CoreError::Conflict(Problem::NoticeWrongState));
    }
    let changed = outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(change.rows_to))
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::Status.is_in(change.rows_from.iter().copied()))
        .exec(&*txn)
        .await?
        .rows_affected;
    let mut active: notice::ActiveModel = n.into();
    active.status = Set(change.to);
    active.updated_at = Set(now);
    if change.to == NoticeStatus::Cancelled {
        active.remind_at = Set(None);
    }
    active.update(&*txn).await?;
    audit(
        &*txn,
        Some(actor.id),
        change.action,
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
    set_status(db, actor, id, now, &PAUSE).await
}

/// Sends the held messages again.
pub async fn resume(db: &Db, actor: &StaffActor, id: i64, now: DateTime<Utc>) -> CoreResult<u64> {
    set_status(db, actor, id, now, &RESUME).await
}

/// Cancels whatever was not sent yet (a draft is cancelled as a whole).
pub async fn cancel(db: &Db, actor: &StaffActor, id: i64, now: DateTime<Utc>) -> CoreResult<u64> {
    set_status(db, actor, id, now, &CANCEL).await
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
    if n.status == NoticeStatus::Cancelled {
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
        .filter(outbox::Column::Kind.eq(MessageKind::Notice))
        .filter(outbox::Column::Status.is_in([OutboxStatus::Pending, OutboxStatus::Held]))
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
        .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending))
        .col_expr(outbox::Column::NotBefore, Expr::value(now))
        .filter(outbox::Column::NoticeId.eq(id))
        .filter(outbox::Column::Status.eq(OutboxStatus::Uncertain))
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

/// A multi-row INSERT into the outbox for bulk messages (notices, reminders); rows whose dedupe
/// key is already queued are skipped, so a repeated send never queues a member twice.
pub(super) fn bulk_outbox_insert() -> InsertStatement {
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
pub(super) fn push_bulk_message(
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
        OutboxStatus::Pending.code().into(),
        0i32.into(),
        not_before.into(),
        crate::simulator::is_simulated_chat(chat_id).into(),
        now.into(),
        0i32.into(),
    ])
    .map_err(|e| CoreError::Internal(e.to_string()))?;
    Ok(())
}
