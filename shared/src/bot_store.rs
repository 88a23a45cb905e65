//! The bot's storage: each chat's dialogue state, the updates already handled (dedupe), the
//! confirmed polling offset, the bot's direct messages about reports, and the bytes of files
//! fetched after an update was committed.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::conversation::State;
use crate::db::Db;
use crate::entity::{attachment, bot_dialogue, bot_kv, bot_message_ref, bot_processed, outbox};
use crate::error::CoreResult;

const OFFSET_KEY: &str = "polling_offset";

/// The stored conversation state of a chat (`Idle` when none).
pub async fn load_state(db: &impl ConnectionTrait, chat_id: i64) -> CoreResult<State> {
    Ok(bot_dialogue::Entity::find_by_id(chat_id)
        .one(db)
        .await?
        .map(|row| State::from_json(&row.state))
        .unwrap_or_default())
}

/// Stores a chat's conversation state.
pub async fn save_state(
    db: &impl ConnectionTrait,
    chat_id: i64,
    member_id: Option<i64>,
    state: &State,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    let row = bot_dialogue::ActiveModel {
        chat_id: Set(chat_id),
        member_id: Set(member_id),
        state: Set(state.to_json()),
        updated_at: Set(now),
    };
    bot_dialogue::Entity::insert(row)
        .on_conflict(
            OnConflict::column(bot_dialogue::Column::ChatId)
                .update_columns([
                    bot_dialogue::Column::MemberId,
                    bot_dialogue::Column::State,
                    bot_dialogue::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The dedupe keys of an update: by update id, and by chat + message id for a user's message.
pub fn update_keys(update_id: i64, chat_id: i64, message_id: Option<i64>) -> Vec<String> {
    let mut keys = vec![format!("u:{update_id}")];
    if let Some(m) = message_id {
        keys.push(format!("m:{chat_id}:{m}"));
    }
    keys
}

/// Marks an update handled, in the caller's transaction. Returns `false` (and writes nothing)
/// when any of its keys was handled before: the update is a repeat.
pub async fn claim_update(
    db: &impl ConnectionTrait,
    keys: &[String],
    now: DateTime<Utc>,
) -> CoreResult<bool> {
    let seen = bot_processed::Entity::find()
        .filter(bot_processed::Column::Key.is_in(keys.iter().cloned()))
        .count(db)
        .await?;
    if seen > 0 {
        return Ok(false);
    }
    for key in keys {
        bot_processed::ActiveModel {
            key: Set(key.clone()),
            processed_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    Ok(true)
}

/// Whether an update was handled (tests, webhook retries).
pub async fn is_processed(db: &impl ConnectionTrait, update_id: i64) -> CoreResult<bool> {
    Ok(bot_processed::Entity::find_by_id(format!("u:{update_id}"))
        .one(db)
        .await?
        .is_some())
}

/// Forgets handled updates older than `before` (Telegram keeps undelivered updates 24 hours).
pub async fn prune_processed(db: &Db, before: DateTime<Utc>) -> CoreResult<u64> {
    let txn = db.write().await?;
    let n = bot_processed::Entity::delete_many()
        .filter(bot_processed::Column::ProcessedAt.lt(before))
        .exec(&*txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n)
}

/// A value of `bot_kv` (the polling offset, the demo's seeding marker), `None` when unset.
pub async fn read_value(db: &impl ConnectionTrait, key: &str) -> CoreResult<Option<String>> {
    Ok(bot_kv::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|r| r.value))
}

/// Sets a value of `bot_kv` (inside the caller's transaction).
pub async fn write_value(
    db: &impl ConnectionTrait,
    key: &str,
    value: &str,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    let row = bot_kv::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now),
    };
    bot_kv::Entity::insert(row)
        .on_conflict(
            OnConflict::column(bot_kv::Column::Key)
                .update_columns([bot_kv::Column::Value, bot_kv::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The polling offset confirmed last (the next update id to ask for), 0 when none.
pub async fn load_offset(db: &impl ConnectionTrait) -> CoreResult<i64> {
    Ok(read_value(db, OFFSET_KEY)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Stores the polling offset; it never moves backwards.
pub async fn store_offset(db: &Db, offset: i64) -> CoreResult<()> {
    let txn = db.write().await?;
    let current = load_offset(&*txn).await?;
    if offset > current {
        write_value(&*txn, OFFSET_KEY, &offset.to_string(), Utc::now()).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Remembers that the bot's message `message_id` in `chat_id` is about `report_id`.
pub async fn remember_message(
    db: &Db,
    chat_id: i64,
    message_id: i64,
    report_id: i64,
) -> CoreResult<()> {
    let txn = db.write().await?;
    if bot_message_ref::Entity::find_by_id((chat_id, message_id))
        .one(&*txn)
        .await?
        .is_none()
    {
        bot_message_ref::ActiveModel {
            chat_id: Set(chat_id),
            message_id: Set(message_id),
            report_id: Set(report_id),
            created_at: Set(Utc::now()),
        }
        .insert(&*txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The report a bot message in this chat is about: a queued message (outbox, once sent) or a
/// direct one the bot remembered.
pub async fn report_of_message(
    db: &impl ConnectionTrait,
    chat_id: i64,
    message_id: i64,
) -> CoreResult<Option<i64>> {
    let queued = outbox::Entity::find()
        .filter(outbox::Column::ChatId.eq(chat_id))
        .filter(outbox::Column::TelegramMessageId.eq(message_id))
        .filter(outbox::Column::ReportId.is_not_null())
        .order_by_desc(outbox::Column::Id)
        .one(db)
        .await?;
    if let Some(row) = queued {
        return Ok(row.report_id);
    }
    Ok(bot_message_ref::Entity::find_by_id((chat_id, message_id))
        .one(db)
        .await?
        .map(|r| r.report_id))
}

/// An attachment still waiting for its bytes: (id, Telegram file id).
pub async fn pending_file(db: &impl ConnectionTrait, id: i64) -> CoreResult<Option<(i64, String)>> {
    Ok(attachment::Entity::find_by_id(id)
        .filter(attachment::Column::Data.is_null())
        .one(db)
        .await?
        .and_then(|a| a.telegram_file_id.map(|f| (a.id, f))))
}

/// Attachments still waiting for their bytes (e.g. the bot stopped before fetching them),
/// newest first.
pub async fn pending_files(
    db: &impl ConnectionTrait,
    limit: u64,
) -> CoreResult<Vec<(i64, String)>> {
    Ok(attachment::Entity::find()
        .filter(attachment::Column::Data.is_null())
        .filter(attachment::Column::TelegramFileId.is_not_null())
        .filter(
            sea_orm::Condition::any()
                .add(attachment::Column::Size.is_null())
                .add(attachment::Column::Size.gte(0)),
        )
        .order_by_desc(attachment::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|a| a.telegram_file_id.map(|f| (a.id, f)))
        .collect())
}

/// Stores the fetched bytes of an attachment.
pub async fn store_file(db: &Db, id: i64, bytes: Vec<u8>) -> CoreResult<()> {
    let txn = db.write().await?;
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    attachment::Entity::update_many()
        .col_expr(attachment::Column::Data, Expr::value(bytes))
        .col_expr(attachment::Column::Size, Expr::value(size))
        .filter(attachment::Column::Id.eq(id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Gives up on fetching an attachment's bytes (too large, or gone): the file id stays, the
/// size is recorded as -1 so it is not tried again.
pub async fn give_up_file(db: &Db, id: i64) -> CoreResult<()> {
    let txn = db.write().await?;
    attachment::Entity::update_many()
        .col_expr(attachment::Column::Size, Expr::value(-1i64))
        .filter(attachment::Column::Id.eq(id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The user blocked the bot (Telegram told us with a `my_chat_member` update): their member
/// is marked blocked, so nothing more is queued for them until they write again.
pub async fn member_blocked_bot(db: &Db, telegram_user_id: i64) -> CoreResult<bool> {
    use crate::domain::MemberStatus;
    use crate::entity::member;
    let txn = db.write().await?;
    let n = member::Entity::update_many()
        .col_expr(
            member::Column::Status,
            Expr::value(MemberStatus::Blocked.code()),
        )
        .col_expr(member::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(member::Column::TelegramUserId.eq(telegram_user_id))
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .exec(&*txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(n > 0)
}
