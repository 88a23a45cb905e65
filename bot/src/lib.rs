//! The Telegram adapter. Turns Telegram updates into inputs of the core's conversation machine
//! and the core's effects into Bot API calls; also the [`transport::TelegramTransport`] the
//! delivery worker sends the outbox through. Nothing here decides anything.
//!
//! [`wecom`] is the WeCom (企业微信) channel's protocol layer, beside Telegram and sharing
//! nothing Telegram-specific with it.

pub mod convert;
pub mod polling;
pub mod runtime;
pub mod transport;
pub mod webhook;
pub mod wecom;

pub use runtime::{BotConfig, BotRuntime};

use teloxide::Bot;

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("invalid Telegram API URL {0:?}")]
    ApiUrl(String),
}

/// A teloxide client for `token`, talking to `api_url` (Telegram's own when `None`; tests
/// point it at a local fake server).
pub fn make_bot(token: &str, api_url: Option<&str>) -> Result<Bot, BotError> {
    with_api_url(Bot::new(token), api_url)
}

/// `bot` talking to `api_url` (unchanged when `None` or blank).
fn with_api_url(bot: Bot, api_url: Option<&str>) -> Result<Bot, BotError> {
    match api_url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(bot),
        Some(url) => {
            // teloxide joins paths onto the URL; a trailing slash would double up.
            let url = url.trim_end_matches('/');
            let parsed = url.parse().map_err(|_| BotError::ApiUrl(url.to_owned()))?;
            Ok(bot.set_api_url(parsed))
        }
    }
}
