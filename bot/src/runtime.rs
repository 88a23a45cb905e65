//! Handling one update end to end: per-chat ordering, the core's runner (one transaction),
//! then the replies (after the commit) and the files' bytes.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gridline_shared::conversation::Keyboard;
use gridline_shared::conversation::runner::{
    self, ChatLocks, DurableReceipts, QueuedReply, Reply, RunnerSettings,
};
use gridline_shared::delivery::{self, SendOutcome};
use gridline_shared::{CoreResult, Db, bot_store};
use std::future::IntoFuture;
use teloxide::net::Download;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageReplyMarkupSetters, EditMessageTextSetters,
    SendMessageSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    ButtonRequest, ChatId, FileId, KeyboardButton, KeyboardMarkup, KeyboardRemove, MessageId,
    ReplyMarkup, Update,
};
use teloxide::{Bot, RequestError};

use crate::convert::{self, CallbackMeta, Ignored};
use crate::transport::inline;

/// Telegram's limit for one message's text.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// How long a receipt's outbox row stays held by this process after the update's commit. The
/// bot sends it at once; a process killed before recording the result leaves it to the
/// delivery worker, which takes the row again when this lease has run out.
pub const RECEIPT_LEASE: Duration = Duration::from_secs(25);
/// A receipt is sent by the bot itself only while this much of its lease remains (otherwise it
/// is handed to the worker at once) …
const RECEIPT_MIN_LEASE: Duration = Duration::from_secs(21);
/// … and the send is abandoned (as `uncertain`: it may have gone out) after this long, so it
/// never outlives the lease (teloxide's own client gives up after 17 s).
const RECEIPT_SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// How the bot runs.
#[derive(Clone, Debug, PartialEq)]
pub struct BotConfig {
    /// Files larger than this are refused (and never downloaded).
    pub max_file_bytes: u64,
    /// Long-polling wait, in seconds (teloxide's HTTP client gives up after 17 s).
    pub poll_timeout: u32,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            max_file_bytes: runner::DEFAULT_MAX_FILE_BYTES,
            poll_timeout: 10,
        }
    }
}

/// The bot's state in this process: the database, the Telegram client, and one lock per chat
/// so that one chat's updates are handled in order while different chats run in parallel.
#[derive(Clone)]
pub struct BotRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    bot: Bot,
    config: BotConfig,
    chats: ChatLocks,
    /// Holds this process's receipts in the outbox (`lease_owner`).
    durable: DurableReceipts,
}

impl BotRuntime {
    pub fn new(db: Db, bot: Bot, config: BotConfig) -> BotRuntime {
        BotRuntime {
            inner: Arc::new(Inner {
                db,
                bot,
                config,
                chats: ChatLocks::default(),
                durable: DurableReceipts {
                    owner: format!(
                        "bot:{}:{}",
                        std::process::id(),
                        Utc::now().timestamp_micros()
                    ),
                    lease: RECEIPT_LEASE,
                },
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn bot(&self) -> &Bot {
        &self.inner.bot
    }

    pub fn config(&self) -> &BotConfig {
        &self.inner.config
    }

    /// Handles one update, in order with the other updates of its chat. `Err` only when the
    /// update's effect could not be committed (it may be delivered again; nothing was done).
    pub async fn handle_update(&self, update: &Update) -> CoreResult<()> {
        let _turn = self.inner.chats.lock(convert::chat_key(update)).await;
        self.handle_locked(update).await
    }

    async fn handle_locked(&self, update: &Update) -> CoreResult<()> {
        let update_id = convert::update_id(update);
        if let teloxide::types::UpdateKind::MyChatMember(change) = &update.kind {
            if change.chat.is_private() && change.new_chat_member.is_banned() {
                let user = i64::try_from(change.from.id.0).unwrap_or(0);
                if bot_store::member_blocked_bot(&self.inner.db, user).await? {
                    tracing::info!(update_id, "a member blocked the bot");
                }
            }
            return Ok(());
        }
        let converted = match convert::convert(update) {
            Ok(c) => c,
            Err(Ignored::Edited) => {
                tracing::debug!(update_id, "edited message ignored on purpose");
                return Ok(());
            }
            Err(why) => {
                tracing::info!(update_id, ?why, "update ignored");
                return Ok(());
            }
        };
        let chat_id = converted.incoming.chat_id;
        let settings = RunnerSettings {
            max_file_bytes: self.inner.config.max_file_bytes,
        };
        let outcome = runner::handle_durable(
            &self.inner.db,
            converted.incoming,
            &settings,
            Some(&self.inner.durable),
            Utc::now(),
        )
        .await?;
        if outcome.duplicate {
            // Still answer a repeated button press, so the user's client stops spinning.
            if let Some(cb) = &converted.callback
                && let Err(e) = self
                    .inner
                    .bot
                    .answer_callback_query(teloxide::types::CallbackQueryId(cb.query_id.clone()))
                    .await
            {
                log_send_error("answerCallbackQuery", &e);
            }
            return Ok(());
        }
        self.perform(
            chat_id,
            converted.callback.as_ref(),
            outcome.replies,
            &outcome.queued,
        )
        .await;
        for id in outcome.fetch {
            self.fetch_file(id).await;
        }
        Ok(())
    }

    /// Performs the replies after the commit. Receipts (`queued`: outbox rows this process
    /// holds) are sent once and their result recorded on the row, so the delivery worker
    /// retries them when Telegram failed. Other failures are logged, not retried: the update's
    /// effect is already stored.
    async fn perform(
        &self,
        chat_id: i64,
        callback: Option<&CallbackMeta>,
        replies: Vec<Reply>,
        queued: &[QueuedReply],
    ) {
        let bot = &self.inner.bot;
        let chat = ChatId(chat_id);
        let mut answered = false;
        for (index, reply) in replies.into_iter().enumerate() {
            if let Some(q) = queued.iter().find(|q| q.reply == index) {
                if let Reply::Send { text, keyboard, .. } = reply {
                    self.send_receipt(chat, q, text, &keyboard).await;
                }
                continue;
            }
            match reply {
                Reply::Send {
                    text,
                    keyboard,
                    report_id,
                } => {
                    let chunks = split_text(&text, MAX_MESSAGE_CHARS);
                    let last = chunks.len().saturating_sub(1);
                    for (i, chunk) in chunks.into_iter().enumerate() {
                        let mut req = bot.send_message(chat, chunk);
                        if i == last
                            && let Some(markup) = markup(&keyboard)
                        {
                            req = req.reply_markup(markup);
                        }
                        let mut result = req.clone().await;
                        // Flood control: wait as told (bounded) and try once more.
                        if let Err(RequestError::RetryAfter(wait)) = &result {
                            let wait = wait.duration().min(Duration::from_secs(30));
                            tokio::time::sleep(wait).await;
                            result = req.await;
                        }
                        match result {
                            Ok(sent) => {
                                if let Some(report_id) = report_id
                                    && let Err(e) = bot_store::remember_message(
                                        &self.inner.db,
                                        chat_id,
                                        i64::from(sent.id.0),
                                        report_id,
                                    )
                                    .await
                                {
                                    tracing::warn!(error = %e, "could not remember a message");
                                }
                            }
                            Err(e) => log_send_error("sendMessage", &e),
                        }
                    }
                }
                Reply::Answer(text) => {
                    if let Some(cb) = callback
                        && !answered
                    {
                        answered = true;
                        let mut req = bot.answer_callback_query(teloxide::types::CallbackQueryId(
                            cb.query_id.clone(),
                        ));
                        if let Some(t) = text {
                            req = req.text(truncate(&t, 190));
                        }
                        if let Err(e) = req.await {
                            log_send_error("answerCallbackQuery", &e);
                        }
                    }
                }
                Reply::Edit { text, keyboard } => {
                    if let Some(mid) = callback.and_then(|c| c.message_id) {
                        let mut req = bot.edit_message_text(
                            chat,
                            MessageId(mid),
                            truncate(&text, MAX_MESSAGE_CHARS),
                        );
                        if let Keyboard::Inline { rows } = &keyboard {
                            req = req.reply_markup(inline(rows));
                        }
                        if let Err(e) = req.await {
                            log_send_error("editMessageText", &e);
                        }
                    }
                }
                Reply::ClearButtons => {
                    if let Some(mid) = callback.and_then(|c| c.message_id)
                        && let Err(e) = bot.edit_message_reply_markup(chat, MessageId(mid)).await
                    {
                        log_send_error("editMessageReplyMarkup", &e);
                    }
                }
                Reply::ReplaceButtons(rows) => {
                    if let Some(mid) = callback.and_then(|c| c.message_id)
                        && let Err(e) = bot
                            .edit_message_reply_markup(chat, MessageId(mid))
                            .reply_markup(inline(&rows))
                            .await
                    {
                        log_send_error("editMessageReplyMarkup", &e);
                    }
                }
            }
        }
        // Every button press gets exactly one answer.
        if let Some(cb) = callback
            && !answered
            && let Err(e) = bot
                .answer_callback_query(teloxide::types::CallbackQueryId(cb.query_id.clone()))
                .await
        {
            log_send_error("answerCallbackQuery", &e);
        }
    }

    /// Sends a receipt whose outbox row this process holds, and records the outcome on the row
    /// with the delivery worker's rules (`delivery::record_held`): 5xx and connections that
    /// never reached Telegram go back to the queue and are retried by the worker with backoff;
    /// a request that went out without an answer is `uncertain` (maybe delivered; not resent).
    async fn send_receipt(&self, chat: ChatId, q: &QueuedReply, text: String, keyboard: &Keyboard) {
        let db = &self.inner.db;
        let owner = &self.inner.durable.owner;
        let Some(outbox_id) = q.outbox_id else {
            // Queued by an earlier submit of the same report: that row is its one receipt.
            return;
        };
        let left = (q.lease_until - Utc::now()).to_std().unwrap_or_default();
        let outcome = if left < RECEIPT_MIN_LEASE {
            None
        } else {
            let mut req = self
                .inner
                .bot
                .send_message(chat, truncate(&text, MAX_MESSAGE_CHARS));
            if let Some(markup) = markup(keyboard) {
                req = req.reply_markup(markup);
            }
            match tokio::time::timeout(RECEIPT_SEND_TIMEOUT, req.into_future()).await {
                Ok(result) => {
                    if let Err(e) = &result {
                        log_send_error("sendMessage (receipt)", e);
                    }
                    Some(crate::transport::classify(
                        result.map(|m| i64::from(m.id.0)),
                    ))
                }
                Err(_) => {
                    tracing::warn!(outbox_id, "receipt send timed out");
                    Some(SendOutcome::Uncertain("timed out".into()))
                }
            }
        };
        for attempt in 1..=5u64 {
            let result = match &outcome {
                Some(o) => delivery::record_held(db, owner, outbox_id, o.clone()).await,
                None => delivery::release_held(db, owner, outbox_id).await,
            };
            match result {
                Ok(()) => return,
                Err(e) => {
                    // The row stays held until its lease ends; the worker then takes it again.
                    tracing::warn!(outbox_id, attempt, error = %e, "recording a receipt's send");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
    }

    /// Downloads an attachment's bytes (the largest photo size was chosen when it arrived) into
    /// the database, so the panel can show it without the bot token. Files over the limit keep
    /// only their Telegram id.
    pub async fn fetch_file(&self, attachment_id: i64) {
        let db = &self.inner.db;
        let (id, file_id) = match bot_store::pending_file(db.conn(), attachment_id).await {
            Ok(Some(pending)) => pending,
            Ok(None) => return,
            Err(e) => {
                // Still pending: fetched again at the next start.
                tracing::warn!(attachment = attachment_id, error = %e, "reading a pending file");
                return;
            }
        };
        let bot = &self.inner.bot;
        let file = match bot.get_file(FileId(file_id)).await {
            Ok(f) => f,
            Err(e) => {
                log_send_error("getFile", &e);
                // Telegram refused this file (gone, too big): give up. A 5xx is transient:
                // keep it pending, fetched again at the next start.
                let permanent = match &e {
                    RequestError::Api(teloxide::ApiError::Unknown(d)) => {
                        !crate::transport::is_server_error(d)
                    }
                    RequestError::Api(_) => true,
                    _ => false,
                };
                if permanent {
                    give_up_file(db, id).await;
                }
                return;
            }
        };
        if u64::from(file.size) > self.inner.config.max_file_bytes && file.size != u32::MAX {
            tracing::warn!(
                attachment = id,
                size = file.size,
                "file over the size limit not downloaded"
            );
            give_up_file(db, id).await;
            return;
        }
        let mut bytes = Vec::new();
        match tokio::time::timeout(
            Duration::from_secs(120),
            bot.download_file(&file.path, &mut bytes),
        )
        .await
        {
            Ok(Ok(())) => {
                if bytes.len() as u64 > self.inner.config.max_file_bytes {
                    give_up_file(db, id).await;
                    return;
                }
                if let Err(e) = bot_store::store_file(db, id, bytes).await {
                    tracing::warn!(attachment = id, error = %e, "could not store a file");
                }
            }
            Ok(Err(e)) => tracing::warn!(attachment = id, error = %e, "file download failed"),
            Err(_) => tracing::warn!(attachment = id, "file download timed out"),
        }
    }

    /// Fetches files left without bytes (the bot stopped before fetching them).
    pub async fn fetch_pending_files(&self) {
        match bot_store::pending_files(self.inner.db.conn(), 200).await {
            Ok(ids) => {
                for (id, _) in ids {
                    self.fetch_file(id).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing files to fetch"),
        }
    }
}

/// Stops fetching a file (its Telegram id stays on the attachment).
async fn give_up_file(db: &gridline_shared::Db, id: i64) {
    if let Err(e) = bot_store::give_up_file(db, id).await {
        tracing::warn!(attachment = id, error = %e, "could not mark a file as not fetched");
    }
}

fn log_send_error(method: &str, e: &RequestError) {
    // The error names the problem (blocked, not found…), never the message's text.
    tracing::warn!(method, error = %e, "Telegram call failed");
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Splits a text into pieces of at most `max` characters, preferring line breaks.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > max {
        let window = &rest[..max];
        let cut = window
            .iter()
            .rposition(|c| *c == '\n')
            .filter(|i| *i >= max / 2)
            .map_or(max, |i| i + 1);
        out.push(rest[..cut].iter().collect());
        rest.drain(..cut);
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.into_iter().collect());
    }
    out
}

/// A core keyboard as Telegram markup.
pub fn markup(keyboard: &Keyboard) -> Option<ReplyMarkup> {
    match keyboard {
        Keyboard::None => None,
        Keyboard::Inline { rows } => Some(ReplyMarkup::InlineKeyboard(inline(rows))),
        Keyboard::Menu { rows } => Some(ReplyMarkup::Keyboard(
            KeyboardMarkup::new(rows.iter().map(|row| {
                row.iter()
                    .map(|l| KeyboardButton::new(l.clone()))
                    .collect::<Vec<_>>()
            }))
            .resize_keyboard()
            .persistent(),
        )),
        Keyboard::RequestContact { label } => Some(ReplyMarkup::Keyboard(
            KeyboardMarkup::new([[
                KeyboardButton::new(label.clone()).request(ButtonRequest::Contact)
            ]])
            .resize_keyboard()
            .one_time_keyboard(),
        )),
        Keyboard::RequestLocation { label, skip } => Some(ReplyMarkup::Keyboard(
            KeyboardMarkup::new([
                vec![KeyboardButton::new(label.clone()).request(ButtonRequest::Location)],
                vec![KeyboardButton::new(skip.clone())],
            ])
            .resize_keyboard()
            .one_time_keyboard(),
        )),
        Keyboard::Remove => Some(ReplyMarkup::KeyboardRemove(KeyboardRemove::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_long_text() {
        assert_eq!(split_text("abc", 10), ["abc"]);
        assert_eq!(split_text("", 10), [""]);
        let long: String = "字".repeat(9000);
        let parts = split_text(&long, MAX_MESSAGE_CHARS);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_MESSAGE_CHARS));
        assert_eq!(parts.concat(), long);
        let lines = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_text(&lines, MAX_MESSAGE_CHARS);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(3000)));
    }
}
