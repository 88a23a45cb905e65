//! Long polling, written by hand rather than with teloxide's dispatcher: the dispatcher
//! confirms an offset as soon as a batch arrives (before the handlers finish) and panics when
//! getMe fails at start. Here the offset stored in the database moves past an update only
//! after its effect was committed, so a restarted bot never skips an update; what it sees
//! twice is deduplicated by the core.

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::time::Duration;

use gridline_shared::conversation::render::tr;
use gridline_shared::domain::Lang;
use gridline_shared::{CoreError, bot_store};
use teloxide::payloads::{GetUpdatesSetters, SetMyCommandsSetters};
use teloxide::prelude::Requester;
use teloxide::types::{AllowedUpdate, BotCommand, Update};

use crate::convert;
use crate::runtime::BotRuntime;

/// A failing update is tried this many times before it is skipped (with an error log), so one
/// poisonous update cannot stop the bot for everyone.
const MAX_ATTEMPTS_PER_UPDATE: u32 = 5;

/// Growing pauses for retries: 1 s, 2 s, 4 s … up to 60 s.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn next_pause(&mut self) -> Duration {
        let secs = 1u64 << self.failures.min(6);
        self.failures = self.failures.saturating_add(1);
        Duration::from_secs(secs.min(60))
    }
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Sleeps, or returns `false` at once when `shutdown` fires.
async fn pause(d: Duration, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    tokio::select! {
        _ = shutdown => false,
        _ = tokio::time::sleep(d) => true,
    }
}

/// The command list shown by Telegram clients, in Chinese and English.
pub fn commands(lang: Lang) -> Vec<BotCommand> {
    [
        "start", "visit", "incident", "request", "my", "skip", "cancel", "lang", "help",
    ]
    .iter()
    .map(|c| BotCommand::new(*c, tr(&format!("bot.cmd.{c}"), lang)))
    .collect()
}

/// Start-up calls that must not kill the bot when Telegram is unreachable: getMe is retried
/// with backoff until it answers (or shutdown); the command list is best effort.
pub async fn start(rt: &BotRuntime, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    let bot = rt.bot();
    let mut backoff = Backoff::default();
    loop {
        match bot.get_me().await {
            Ok(me) => {
                tracing::info!(username = ?me.username, "Telegram bot connected");
                break;
            }
            Err(e) => {
                let wait = backoff.next_pause();
                tracing::warn!(error = %e, retry_in = ?wait, "getMe failed; retrying");
                if !pause(wait, shutdown).await {
                    return false;
                }
            }
        }
    }
    if let Err(e) = bot.set_my_commands(commands(Lang::Zh)).await {
        tracing::warn!(error = %e, "setMyCommands failed");
    }
    if let Err(e) = bot
        .set_my_commands(commands(Lang::En))
        .language_code("en")
        .await
    {
        tracing::warn!(error = %e, "setMyCommands (en) failed");
    }
    true
}

/// The update kinds the bot asks for.
pub fn allowed_updates() -> Vec<AllowedUpdate> {
    vec![
        AllowedUpdate::Message,
        AllowedUpdate::EditedMessage,
        AllowedUpdate::CallbackQuery,
        AllowedUpdate::MyChatMember,
    ]
}

/// Polls until `shutdown` resolves.
pub async fn run(rt: BotRuntime, shutdown: impl Future<Output = ()> + Send) {
    let mut shutdown = Box::pin(shutdown);
    if !start(&rt, &mut shutdown).await {
        return;
    }
    let bot = rt.bot().clone();
    let db = rt.db().clone();
    let mut backoff = Backoff::default();
    // Polling and a webhook exclude each other.
    loop {
        match bot.delete_webhook().await {
            Ok(_) => break,
            Err(e) => {
                let wait = backoff.next_pause();
                tracing::warn!(error = %e, retry_in = ?wait, "deleteWebhook failed; retrying");
                if !pause(wait, &mut shutdown).await {
                    return;
                }
            }
        }
    }
    backoff.reset();
    // Housekeeping: files a previous run did not fetch; old dedupe marks.
    {
        let rt = rt.clone();
        tokio::spawn(async move { rt.fetch_pending_files().await });
    }
    if let Err(e) =
        bot_store::prune_processed(&db, chrono::Utc::now() - chrono::Duration::days(3)).await
    {
        tracing::warn!(error = %e, "pruning old update marks failed; tried again at the next start");
    }

    let mut offset = loop {
        match bot_store::load_offset(db.conn()).await {
            Ok(o) => break o,
            Err(e) => {
                let wait = backoff.next_pause();
                tracing::warn!(error = %e, "reading the polling offset failed; retrying");
                if !pause(wait, &mut shutdown).await {
                    return;
                }
            }
        }
    };
    backoff.reset();
    let mut attempts: HashMap<i64, u32> = HashMap::new();
    let timeout = rt.config().poll_timeout;
    loop {
        let request = bot
            .get_updates()
            .offset(i32::try_from(offset).unwrap_or(i32::MAX))
            .timeout(timeout)
            .allowed_updates(allowed_updates());
        let result = tokio::select! {
            _ = &mut shutdown => return,
            r = request.into_future() => r,
        };
        let updates = match result {
            Ok(u) => {
                backoff.reset();
                u
            }
            Err(e) => {
                let wait = backoff.next_pause();
                tracing::warn!(error = %e, retry_in = ?wait, "getUpdates failed; retrying");
                if !pause(wait, &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        if updates.is_empty() {
            continue;
        }
        let failures = process_batch(&rt, updates.clone()).await;
        let failed: Vec<i64> = failures.iter().map(|f| f.update_id).collect();
        let max_id = updates
            .iter()
            .map(convert::update_id)
            .max()
            .unwrap_or(offset - 1);
        let mut next = max_id + 1;
        let mut retry = false;
        if let Some(first_failed) = failed.iter().copied().min() {
            let n = attempts.entry(first_failed).or_insert(0);
            // The database being unreachable (a restart, a network cut) is nobody's update's
            // fault: it is waited out, however long, and never makes an update be skipped.
            let unavailable = failures
                .iter()
                .any(|f| f.update_id == first_failed && f.database_unavailable);
            if !unavailable {
                *n += 1;
            }
            if *n >= MAX_ATTEMPTS_PER_UPDATE {
                tracing::error!(
                    update_id = first_failed,
                    "update failed repeatedly; skipped"
                );
                attempts.remove(&first_failed);
                // Skip only this one; later failures are retried next round.
                let others = failed
                    .iter()
                    .copied()
                    .filter(|id| *id != first_failed)
                    .min();
                if let Some(o) = others {
                    next = o;
                    retry = true;
                }
            } else {
                next = first_failed;
                retry = true;
            }
        }
        attempts.retain(|id, _| *id >= next);
        if next > offset {
            if let Err(e) = bot_store::store_offset(&db, next).await {
                // Kept in memory; the dedupe marks protect against a replay after a restart.
                tracing::warn!(error = %e, "storing the polling offset failed");
            }
            offset = next;
        }
        if retry {
            let wait = backoff.next_pause();
            if !pause(wait, &mut shutdown).await {
                return;
            }
        }
    }
}

/// An update whose effect could not be committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub update_id: i64,
    /// It failed because the database could not be reached (or it waited behind such an
    /// update of its chat): worth retrying for as long as that lasts.
    pub database_unavailable: bool,
}

/// Whether an error means the database is unreachable for now (connection refused or lost,
/// the server restarting or shutting down, no connection in time) rather than a problem
/// with the update.
pub fn database_unavailable(e: &CoreError) -> bool {
    let CoreError::Db(db) = e else {
        return false;
    };
    let text = db.to_string().to_ascii_lowercase();
    [
        "connection",
        "pool timed out",
        "pool closed",
        "broken pipe",
        "io error",
        "error communicating",
        "the database system is",
        "57p01",
        "57p02",
        "57p03",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Handles a batch: one task per chat, each chat's updates in order, chats in parallel.
/// Returns the updates whose effect could not be committed, and why.
pub async fn process_batch(rt: &BotRuntime, updates: Vec<Update>) -> Vec<Failure> {
    let mut by_chat: Vec<(i64, Vec<Update>)> = Vec::new();
    for u in updates {
        let key = convert::chat_key(&u);
        match by_chat.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(u),
            None => by_chat.push((key, vec![u])),
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    let mut ids_of_task: HashMap<tokio::task::Id, Vec<i64>> = HashMap::new();
    for (_, list) in by_chat {
        let rt = rt.clone();
        let ids: Vec<i64> = list.iter().map(convert::update_id).collect();
        let handle = tasks.spawn(async move {
            let mut failed: Vec<Failure> = Vec::new();
            for u in list {
                let id = convert::update_id(&u);
                if let Some(first) = failed.first() {
                    // Keep the chat's order: after a failure, its later updates wait too.
                    let database_unavailable = first.database_unavailable;
                    failed.push(Failure {
                        update_id: id,
                        database_unavailable,
                    });
                    continue;
                }
                if let Err(e) = rt.handle_update(&u).await {
                    let database_unavailable = database_unavailable(&e);
                    tracing::error!(update_id = id, error = %e, database_unavailable, "update not handled; will retry");
                    gridline_shared::metrics::COUNTERS
                        .handler_error(gridline_shared::metrics::Component::Bot);
                    failed.push(Failure {
                        update_id: id,
                        database_unavailable,
                    });
                }
            }
            failed
        });
        ids_of_task.insert(handle.id(), ids);
    }
    let mut failed = Vec::new();
    while let Some(r) = tasks.join_next_with_id().await {
        match r {
            Ok((_, f)) => failed.extend(f),
            Err(e) => {
                // A panic rolled its update back (the transaction was dropped): the chat's
                // updates are tried again, and skipped like any failing update after
                // `MAX_ATTEMPTS_PER_UPDATE` — never passed over silently.
                tracing::error!(error = %e, "update task panicked; will retry");
                gridline_shared::metrics::COUNTERS
                    .handler_error(gridline_shared::metrics::Component::Bot);
                failed.extend(
                    ids_of_task
                        .remove(&e.id())
                        .unwrap_or_default()
                        .into_iter()
                        .map(|update_id| Failure {
                            update_id,
                            database_unavailable: false,
                        }),
                );
            }
        }
    }
    failed
}
