//! Acknowledgements (收到) and reminders to those who have not acknowledged.

use chrono::{DateTime, Utc};
use rust_i18n::t;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::sending::{bulk_outbox_insert, push_bulk_message};
use super::telegram::payload;
use super::{AckOutcome, INSERT_CHUNK, audit, get, require_sender};
use crate::db::{self, Db};
use crate::domain::NoticeStatus;
use crate::entity::{notice, notice_recipient};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::outbox::MessageKind;
use crate::problem::Problem;
use crate::text::escape_html;

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
    if n.status == NoticeStatus::Cancelled || n.status == NoticeStatus::Draft {
        return Err(CoreError::Conflict(Problem::NoticeWrongState));
    }
    let round = n.reminders_sent + 1;
    // Recipients not acknowledged whose notice was delivered, with a chat to write to.
    let rows = db::query_all(
        txn,
        "SELECT m.id AS member_id, m.telegram_chat_id AS chat_id, m.language AS language \
                 FROM notice_recipients r \
                 JOIN outbox o ON o.notice_id = r.notice_id AND o.member_id = r.member_id AND o.kind = 'notice' \
                 JOIN members m ON m.id = r.member_id \
                 WHERE r.notice_id = $1 AND r.acknowledged_at IS NULL AND o.status = 'sent' \
                   AND m.status = 'active' AND m.telegram_chat_id IS NOT NULL \
                 ORDER BY m.id",
        [n.id.into()],
    )
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
        .filter(notice::Column::Status.is_in([NoticeStatus::Active, NoticeStatus::Paused]))
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
