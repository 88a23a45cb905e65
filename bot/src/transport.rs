//! Sends outbox messages through the Telegram Bot API and classifies what Telegram answered.
//!
//! No teloxide `Throttle`: it freezes every chat on one 429 and covers only some calls; the
//! delivery worker paces itself (see `gridline_shared::delivery`).

use std::time::Duration;

use gridline_shared::delivery::{Outgoing, SendOutcome, Transport};
use gridline_shared::outbox::{Button, OutgoingMessage};
use teloxide::payloads::{SendDocumentSetters, SendMessageSetters};
use teloxide::prelude::Requester;
use teloxide::types::{ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ParseMode};
use teloxide::{ApiError, Bot, RequestError};

#[derive(Clone)]
pub struct TelegramTransport {
    bot: Bot,
}

impl TelegramTransport {
    pub fn new(bot: Bot) -> TelegramTransport {
        TelegramTransport { bot }
    }

    /// A transport with its own HTTP client whose requests time out after `timeout` (teloxide's
    /// default is 17 s), talking to `api_url` (Telegram's own when `None`).
    pub fn with_timeout(
        token: &str,
        api_url: Option<&str>,
        timeout: Duration,
    ) -> Result<TelegramTransport, crate::BotError> {
        let client = teloxide::net::default_reqwest_settings()
            .timeout(timeout)
            .build()
            .map_err(|e| crate::BotError::ApiUrl(format!("HTTP client: {e}")))?;
        let bot = crate::with_api_url(Bot::with_client(token, client), api_url)?;
        Ok(TelegramTransport { bot })
    }
}

/// Inline buttons of a core message as a Telegram keyboard.
pub fn keyboard(message: &OutgoingMessage) -> Option<InlineKeyboardMarkup> {
    (!message.buttons.is_empty()).then(|| inline(&message.buttons))
}

/// Rows of core buttons as a Telegram inline keyboard.
pub fn inline(rows: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
            .collect::<Vec<_>>()
    }))
}

impl Transport for TelegramTransport {
    async fn send(&self, chat_id: i64, out: &Outgoing) -> SendOutcome {
        let message = &out.message;
        let result = match &out.document {
            Some(doc) => {
                let file = InputFile::memory(doc.data.clone()).file_name(doc.file_name.clone());
                let mut request = self.bot.send_document(ChatId(chat_id), file);
                if !message.text.is_empty() {
                    request = request.caption(message.text.clone());
                }
                if out.html {
                    request = request.parse_mode(ParseMode::Html);
                }
                if let Some(kb) = keyboard(message) {
                    request = request.reply_markup(kb);
                }
                request.await
            }
            None => {
                let mut request = self.bot.send_message(ChatId(chat_id), message.text.clone());
                if out.html {
                    request = request.parse_mode(ParseMode::Html);
                }
                if let Some(kb) = keyboard(message) {
                    request = request.reply_markup(kb);
                }
                request.await
            }
        };
        classify(result.map(|m| i64::from(m.id.0)))
    }
}

/// What a Bot API answer means for the delivery worker.
pub fn classify(result: Result<i64, RequestError>) -> SendOutcome {
    match result {
        Ok(message_id) => SendOutcome::Sent { message_id },
        Err(RequestError::RetryAfter(wait)) => SendOutcome::RetryAfter(wait.duration()),
        Err(RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::CantInitiateConversation
            | ApiError::CantTalkWithBots,
        )) => SendOutcome::Blocked,
        // Telegram's 5xx arrive as "Bad Gateway", "Internal Server Error" and the like.
        Err(RequestError::Api(ApiError::Unknown(description))) if is_server_error(&description) => {
            SendOutcome::Transient(description)
        }
        Err(RequestError::Api(e)) => SendOutcome::Permanent(e.to_string()),
        Err(RequestError::MigrateToChatId(_)) => SendOutcome::Permanent("chat migrated".into()),
        Err(RequestError::Network(e)) => {
            if e.is_connect() || e.is_builder() {
                // Never reached Telegram (refused, DNS, TLS): safe to retry.
                SendOutcome::Transient(e.to_string())
            } else {
                // Timed out or cut off after the request went out: Telegram may have delivered
                // it. Not resent blindly.
                SendOutcome::Uncertain(e.to_string())
            }
        }
        Err(e @ RequestError::InvalidJson { .. }) => {
            // An answer came but was garbled: the request was processed in some way.
            SendOutcome::Uncertain(e.to_string())
        }
        Err(e @ RequestError::Io(_)) => SendOutcome::Transient(e.to_string()),
    }
}

/// Whether a Bot API error description is one of Telegram's 5xx answers.
pub(crate) fn is_server_error(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "bad gateway",
        "internal server error",
        "gateway timeout",
        "service unavailable",
        "internal error",
    ]
    .iter()
    .any(|s| d.contains(s))
}
