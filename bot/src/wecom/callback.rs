//! The callback endpoint WeCom calls (`/wecom/callback` by default), to be merged into the
//! panel's router like the Telegram webhook.
//!
//! - `GET` is the URL verification WeCom makes when the callback URL is saved: the signature
//!   over `echostr` is checked (otherwise the server would decrypt anything for anyone), then
//!   the decrypted `echostr` is the answer.
//! - `POST` carries an encrypted message or event: signature checked in constant time, then
//!   decrypted (the corp id checked), read into an [`Inbound`] and handed to the
//!   [`InboundHandler`]. A refused signature hands nothing on.
//! - **Inside WeCom's 5 seconds**: the handler runs as its own task; the answer (an empty 200:
//!   replies go through the API, never as a passive reply) waits for it at most
//!   [`CallbackSettings::answer_within`]. A handler still busy then gets a 503 answered, keeps
//!   running, and WeCom's retry joins it instead of starting it again.
//! - **Each callback once**: WeCom retries a callback three times; the same
//!   [`Inbound::dedupe_key`] (the `MsgId`, or sender + time + event) seen again answers 200
//!   without calling the handler. A handler that fails ([`HandlerError::Retry`], a panic) is
//!   forgotten, so WeCom's retry runs it again. This memory is the fast path for retries
//!   arriving within minutes; the handler's own transaction should also record the key
//!   (like `bot_processed`) so that a restart in between cannot make a repeat count twice.
//! - A POST whose timestamp is further than [`CallbackSettings::replay_window`] from the
//!   server's clock is refused (403) even with a good signature: a captured callback cannot be
//!   replayed after the memory of it is gone.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dashmap::DashMap;
use serde::Deserialize;
use tokio::sync::watch;

use super::crypto::{CallbackCrypto, CryptoError};
use super::inbound::{Envelope, Inbound};

/// Where the route is mounted by default.
pub const DEFAULT_PATH: &str = "/wecom/callback";
/// Callbacks are small XML documents; anything larger is refused before it is read.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why a handler did not handle a callback.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Nothing was committed; WeCom should deliver it again (answered 500, forgotten).
    #[error("not handled now: {0}")]
    Retry(String),
    /// It will never be handled (logged, answered 200 so that WeCom stops retrying).
    #[error("refused: {0}")]
    Refused(String),
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;

/// What the channel does with a callback: the conversation adapter, or a test's recorder.
/// Return after the callback's effects are committed; send replies after that (through the
/// API, in a task of your own) so the answer to WeCom is not held up by them.
pub trait InboundHandler: Send + Sync + 'static {
    fn handle(&self, inbound: Inbound) -> HandlerFuture;
}

impl<F, Fut> InboundHandler for F
where
    F: Fn(Inbound) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, inbound: Inbound) -> HandlerFuture {
        Box::pin(self(inbound))
    }
}

#[derive(Clone, Debug)]
pub struct CallbackSettings {
    /// The app's AgentID: messages naming another app are ignored.
    pub agent_id: i64,
    /// Longest wait for the handler before answering (WeCom gives up after 5 s).
    pub answer_within: Duration,
    /// POSTs whose timestamp is further than this from now are refused; `None`: not checked.
    pub replay_window: Option<Duration>,
    /// How long a handled callback's key is remembered.
    pub remember: Duration,
}

impl CallbackSettings {
    pub fn new(agent_id: i64) -> CallbackSettings {
        CallbackSettings {
            agent_id,
            answer_within: Duration::from_secs(4),
            replay_window: Some(Duration::from_secs(3600)),
            remember: Duration::from_secs(600),
        }
    }
}

/// A callback's handling as other deliveries of it see it.
#[derive(Clone)]
enum Seen {
    /// Running: `Some(true)` once handled, `Some(false)` if it failed.
    InFlight(watch::Receiver<Option<bool>>),
    Done(Instant),
}

struct Hook {
    crypto: CallbackCrypto,
    handler: Arc<dyn InboundHandler>,
    settings: CallbackSettings,
    seen: DashMap<String, Seen>,
    last_prune: Mutex<Instant>,
}

/// The callback route at `path`, to be merged into the panel's router.
pub fn router(
    crypto: CallbackCrypto,
    settings: CallbackSettings,
    handler: Arc<dyn InboundHandler>,
    path: &str,
) -> Router {
    let hook = Arc::new(Hook {
        crypto,
        handler,
        settings,
        seen: DashMap::new(),
        last_prune: Mutex::new(Instant::now()),
    });
    Router::new()
        .route(path, get(verify_url).post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(hook)
}

#[derive(Deserialize)]
struct Params {
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

fn refusal(e: &CryptoError) -> Response {
    match e {
        CryptoError::BadSignature => {
            tracing::warn!("WeCom callback with a wrong signature refused");
            plain(StatusCode::FORBIDDEN, "wrong signature")
        }
        other => {
            tracing::warn!(error = %other, "WeCom callback not decrypted");
            plain(StatusCode::BAD_REQUEST, "not decrypted")
        }
    }
}

async fn verify_url(State(hook): State<Arc<Hook>>, Query(p): Query<Params>) -> Response {
    let (Some(sig), Some(ts), Some(nonce), Some(echostr)) =
        (p.msg_signature, p.timestamp, p.nonce, p.echostr)
    else {
        return plain(StatusCode::BAD_REQUEST, "missing parameters");
    };
    match hook.crypto.verify_url(&sig, &ts, &nonce, &echostr) {
        Ok(echo) => {
            tracing::info!("WeCom callback URL verified");
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                echo,
            )
                .into_response()
        }
        Err(e) => refusal(&e),
    }
}

async fn receive(State(hook): State<Arc<Hook>>, Query(p): Query<Params>, body: String) -> Response {
    let (Some(sig), Some(ts), Some(nonce)) = (p.msg_signature, p.timestamp, p.nonce) else {
        return plain(StatusCode::BAD_REQUEST, "missing parameters");
    };
    let envelope = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "WeCom callback body unreadable");
            return plain(StatusCode::BAD_REQUEST, "unreadable body");
        }
    };
    let xml = match hook.crypto.open(&sig, &ts, &nonce, &envelope.encrypt) {
        Ok(xml) => xml,
        Err(e) => return refusal(&e),
    };
    if let Some(window) = hook.settings.replay_window {
        let now = chrono::Utc::now().timestamp();
        let off = ts
            .trim()
            .parse::<i64>()
            .ok()
            .map(|t| now.saturating_sub(t).unsigned_abs());
        if off.is_none_or(|off| off > window.as_secs()) {
            tracing::warn!(
                off_by_seconds = ?off,
                "WeCom callback outside the replay window refused (is the server's clock right?)"
            );
            return plain(StatusCode::FORBIDDEN, "stale timestamp");
        }
    }
    let inbound = match Inbound::parse(&xml) {
        Ok(i) => i,
        Err(e) => {
            // Authentic but unreadable: answering an error would only make WeCom repeat it.
            tracing::error!(error = %e, "WeCom callback decrypted but not readable; ignored");
            return StatusCode::OK.into_response();
        }
    };
    if inbound
        .agent_id
        .is_some_and(|a| a != hook.settings.agent_id)
    {
        tracing::warn!(
            agent_id = ?inbound.agent_id,
            "WeCom callback for another app ignored"
        );
        return StatusCode::OK.into_response();
    }
    hook.prune();
    let key = inbound.dedupe_key();
    let kind = inbound.message.kind();
    let mut result = {
        let entry = hook.seen.entry(key.clone());
        match entry {
            dashmap::Entry::Occupied(o) => match o.get().clone() {
                Seen::Done(_) => {
                    tracing::debug!(kind, "repeated WeCom callback answered");
                    return StatusCode::OK.into_response();
                }
                Seen::InFlight(rx) => rx,
            },
            dashmap::Entry::Vacant(v) => {
                let (tx, rx) = watch::channel(None);
                v.insert(Seen::InFlight(rx.clone()));
                let hook = hook.clone();
                tokio::spawn(async move {
                    let guard = Forget {
                        hook: hook.clone(),
                        key: key.clone(),
                        armed: true,
                    };
                    let outcome = hook.handler.handle(inbound).await;
                    guard.settle(&outcome, kind);
                    let _ = tx.send(Some(
                        outcome.is_ok() || matches!(outcome, Err(HandlerError::Refused(_))),
                    ));
                });
                rx
            }
        }
    };
    let waited = tokio::time::timeout(
        hook.settings.answer_within,
        result.wait_for(Option::is_some),
    )
    .await;
    match waited {
        Ok(Ok(done)) if *done == Some(true) => StatusCode::OK.into_response(),
        Ok(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "not handled"),
        Err(_) => {
            tracing::warn!(
                kind,
                "WeCom callback still being handled; answered 503, WeCom's retry will wait for it"
            );
            plain(StatusCode::SERVICE_UNAVAILABLE, "still handling")
        }
    }
}

/// Settles a callback's entry: remembered when handled, forgotten when it failed or the
/// handler panicked (so WeCom's retry runs it again).
struct Forget {
    hook: Arc<Hook>,
    key: String,
    armed: bool,
}

impl Forget {
    fn settle(mut self, outcome: &Result<(), HandlerError>, kind: &'static str) {
        match outcome {
            Ok(()) => {
                self.hook
                    .seen
                    .insert(self.key.clone(), Seen::Done(Instant::now()));
                self.armed = false;
            }
            Err(HandlerError::Refused(reason)) => {
                tracing::warn!(kind, reason, "WeCom callback refused by the handler");
                self.hook
                    .seen
                    .insert(self.key.clone(), Seen::Done(Instant::now()));
                self.armed = false;
            }
            Err(HandlerError::Retry(reason)) => {
                tracing::error!(
                    kind,
                    reason,
                    "WeCom callback not handled; WeCom will retry it"
                );
            }
        }
    }
}

impl Drop for Forget {
    fn drop(&mut self) {
        if self.armed {
            self.hook.seen.remove(&self.key);
        }
    }
}

impl Hook {
    /// Forgets handled callbacks older than `remember` (at most once a minute).
    fn prune(&self) {
        let Ok(mut last) = self.last_prune.lock() else {
            return;
        };
        if last.elapsed() < Duration::from_secs(60) {
            return;
        }
        *last = Instant::now();
        let remember = self.settings.remember;
        self.seen.retain(|_, seen| match seen {
            Seen::Done(at) => at.elapsed() < remember,
            Seen::InFlight(_) => true,
        });
    }
}
