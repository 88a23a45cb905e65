//! Webhook mode, for running several bot processes behind one URL: Telegram POSTs each update
//! with the secret token we gave it in `X-Telegram-Bot-Api-Secret-Token`; anything without
//! the right token is refused (401) before it is read.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use teloxide::payloads::SetWebhookSetters;
use teloxide::prelude::Requester;
use teloxide::types::Update;

use crate::runtime::BotRuntime;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Where the route is mounted by default.
pub const DEFAULT_PATH: &str = "/telegram/webhook";

#[derive(Clone)]
struct Hook {
    rt: BotRuntime,
    secret: std::sync::Arc<str>,
}

/// The webhook route at `path`, to be merged into the panel's router.
pub fn router(rt: BotRuntime, secret: &str, path: &str) -> Router {
    Router::new().route(path, post(receive)).with_state(Hook {
        rt,
        secret: secret.into(),
    })
}

/// Equal in constant time (the comparison does not reveal how much of the secret matched).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if hook.secret.is_empty() || !same(given, hook.secret.as_bytes()) {
        tracing::warn!("webhook call with a wrong secret token refused");
        return StatusCode::UNAUTHORIZED;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            // Answer 200: Telegram would otherwise resend it forever.
            tracing::warn!(error = %e, "malformed update ignored");
            return StatusCode::OK;
        }
    };
    match hook.rt.handle_update(&update).await {
        Ok(()) => StatusCode::OK,
        // Nothing was committed: Telegram delivers it again; the dedupe makes that safe.
        Err(e) => {
            tracing::error!(error = %e, "webhook update not handled");
            gridline_shared::metrics::COUNTERS
                .handler_error(gridline_shared::metrics::Component::Bot);
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Tells Telegram where to POST updates, with the secret token.
pub async fn register(rt: &BotRuntime, url: &str, secret: &str) -> Result<(), String> {
    let parsed = url
        .parse()
        .map_err(|_| format!("invalid webhook URL {url:?}"))?;
    rt.bot()
        .set_webhook(parsed)
        .secret_token(secret.to_owned())
        .allowed_updates(crate::polling::allowed_updates())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
