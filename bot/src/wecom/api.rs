//! WeCom's server API for a self-built app ("服务端API"): the access token, sending text,
//! images, files and button cards, updating a card after a press, fetching and uploading
//! media, and creating the app menu.
//!
//! - **Access token**: `gettoken` with the corp id and the app's secret, cached until shortly
//!   before it expires. A call answered with 40014 / 42001 / 40001 (token invalid or expired)
//!   drops it, fetches a new one and is made once more; concurrent callers share one fetch
//!   (single flight: the cache is behind an async mutex and a caller only drops the token it
//!   was refused with).
//! - **Errors** are typed by what the caller should do ([`ApiError`]): retry later (5xx,
//!   `-1` system busy, connection refused), back off every WeCom send (45009 and the other call
//!   limits), stop writing to the user (not in the app's range, unknown), or give up.
//! - The secret and the access token travel in query strings; no error or log line here
//!   includes a URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gridline_shared::delivery::SendOutcome;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};

use super::menu::{Menu, MenuError};

/// WeCom's API host.
pub const DEFAULT_API_URL: &str = "https://qyapi.weixin.qq.com";
/// A text message's content is cut by WeCom beyond this many bytes.
pub const TEXT_LIMIT_BYTES: usize = 2048;
/// A `button_interaction` card holds at most this many buttons.
pub const MAX_CARD_BUTTONS: usize = 6;
/// A card's task id: at most this many bytes of `[0-9A-Za-z_\-@]`, unique within the app.
pub const MAX_TASK_ID_BYTES: usize = 128;
/// A button's key (sent back as the press's `EventKey`).
pub const MAX_BUTTON_KEY_BYTES: usize = 1024;
/// How long every WeCom send waits after a call limit was hit (WeCom says no time; its limits
/// are counted per minute).
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(60);
/// Files WeCom accepts for upload are larger than this.
pub const MIN_UPLOAD_BYTES: usize = 5;

/// Codes meaning "this access token is no good": drop it and fetch another.
const TOKEN_CODES: [i64; 3] = [40014, 42001, 40001];
/// Call limits: 45009 the API's frequency, 45033 concurrent calls, 45011 too frequent.
const RATE_CODES: [i64; 3] = [45009, 45033, 45011];
/// The user cannot get the app's messages: unknown user id (40003, 60111), outside the app's
/// visible range (60011), all recipients invalid (81013, 82001).
const USER_CODES: [i64; 5] = [40003, 60011, 60111, 81013, 82001];

/// What went wrong with a call, by what the caller should do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// WeCom could not take the call now (5xx, `-1` system busy, connection refused before
    /// anything was sent): retry later.
    #[error("WeCom is not available now: {0}")]
    Transient(String),
    /// A call limit was reached (45009 …): every WeCom send should wait `backoff`.
    #[error("WeCom call limit reached (errcode {errcode}); wait {backoff:?}")]
    RateLimited { errcode: i64, backoff: Duration },
    /// The user cannot receive the app's messages (unknown, left, outside the app's range).
    #[error("the user cannot receive this app's messages (errcode {errcode})")]
    InvalidUser { errcode: i64 },
    /// The request went out but no answer came back: it may have been performed.
    #[error("no answer from WeCom: {0}")]
    Uncertain(String),
    /// WeCom refused the call for good (a bad secret, a bad media id, an IP not trusted …).
    #[error("WeCom refused the call: errcode {errcode} ({errmsg})")]
    Permanent { errcode: i64, errmsg: String },
    /// A downloaded file was larger than the limit (nothing kept).
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The call was not made: what was asked cannot be sent (checked before calling).
    #[error("not sent: {0}")]
    Invalid(String),
}

impl ApiError {
    /// Whether trying again later can work.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::Transient(_) | ApiError::RateLimited { .. } | ApiError::Uncertain(_)
        )
    }

    /// What the delivery worker's rules make of it (see `gridline_shared::delivery`).
    pub fn send_outcome(&self) -> SendOutcome {
        match self {
            ApiError::Transient(m) => SendOutcome::Transient(m.clone()),
            ApiError::RateLimited { backoff, .. } => SendOutcome::RetryAfter(*backoff),
            ApiError::InvalidUser { .. } => SendOutcome::Blocked,
            ApiError::Uncertain(m) => SendOutcome::Uncertain(m.clone()),
            other => SendOutcome::Permanent(other.to_string()),
        }
    }
}

/// An `errcode` other than 0, by what it means.
pub fn classify(errcode: i64, errmsg: &str) -> ApiError {
    if errcode == -1 {
        ApiError::Transient(format!("system busy (errcode -1: {errmsg})"))
    } else if RATE_CODES.contains(&errcode) {
        ApiError::RateLimited {
            errcode,
            backoff: RATE_LIMIT_BACKOFF,
        }
    } else if USER_CODES.contains(&errcode) {
        ApiError::InvalidUser { errcode }
    } else {
        ApiError::Permanent {
            errcode,
            errmsg: errmsg.to_owned(),
        }
    }
}

/// What `message/send` answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub msg_id: Option<String>,
    /// For interactive cards: lets `update_template_card` change the card once (72 hours).
    pub response_code: Option<String>,
}

/// A text split into parts of which only some were delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error} (after {} of the text's parts were delivered)", delivered.len())]
pub struct PartialSend {
    pub delivered: Vec<Sent>,
    pub error: ApiError,
}

/// A `template_card` of type `button_interaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ButtonCard {
    /// Unique within the app, forever ([`new_task_id`]); the press names it.
    pub task_id: String,
    pub title: String,
    /// Grey text under the title.
    pub description: Option<String>,
    /// The card's body text (WeCom suggests at most 160 characters: send longer text as a
    /// text message first).
    pub text: Option<String>,
    pub buttons: Vec<CardButton>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardButton {
    /// Sent back as the press's `EventKey` (Gridline: the core's callback data).
    pub key: String,
    pub label: String,
    /// WeCom's button styles 1–4 (1, the default, is the blue one).
    pub style: u8,
}

impl CardButton {
    pub fn new(label: impl Into<String>, key: impl Into<String>) -> CardButton {
        CardButton {
            key: key.into(),
            label: label.into(),
            style: 1,
        }
    }
}

/// A fresh task id: `prefix` (its characters outside WeCom's set dropped) and 16 random hex
/// digits.
pub fn new_task_id(prefix: &str) -> String {
    let prefix: String = prefix
        .chars()
        .filter(|c| task_id_char(*c))
        .take(MAX_TASK_ID_BYTES - 17)
        .collect();
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

fn task_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@')
}

impl ButtonCard {
    /// WeCom's hard limits, checked before calling.
    pub fn check(&self) -> Result<(), ApiError> {
        let invalid = |m: &str| Err(ApiError::Invalid(m.to_owned()));
        if self.task_id.is_empty()
            || self.task_id.len() > MAX_TASK_ID_BYTES
            || !self.task_id.chars().all(task_id_char)
        {
            return invalid("a card's task id is 1 to 128 characters of [0-9A-Za-z_-@]");
        }
        if self.buttons.is_empty() || self.buttons.len() > MAX_CARD_BUTTONS {
            return invalid("a button card has 1 to 6 buttons");
        }
        if self.title.trim().is_empty() && self.text.as_deref().is_none_or(|t| t.trim().is_empty())
        {
            return invalid("a card needs a title or a text");
        }
        for (i, b) in self.buttons.iter().enumerate() {
            if b.key.is_empty() || b.key.len() > MAX_BUTTON_KEY_BYTES {
                return invalid("a button's key is 1 to 1024 bytes");
            }
            if b.label.trim().is_empty() {
                return invalid("a button needs a label");
            }
            if self.buttons[..i].iter().any(|o| o.key == b.key) {
                return invalid("two buttons of a card share a key");
            }
        }
        Ok(())
    }

    fn json(&self) -> Value {
        let mut main_title = json!({ "title": self.title });
        if let Some(d) = &self.description {
            main_title["desc"] = json!(d);
        }
        let mut card = json!({
            "card_type": "button_interaction",
            "main_title": main_title,
            "task_id": self.task_id,
            "button_list": self.buttons.iter().map(|b| json!({
                "text": b.label,
                "style": b.style.clamp(1, 4),
                "key": b.key,
            })).collect::<Vec<_>>(),
        });
        if let Some(t) = &self.text {
            card["sub_title_text"] = json!(t);
        }
        card
    }
}

/// Kinds of media `media/upload` takes, with WeCom's size limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    /// JPG or PNG, up to 10 MB.
    Image,
    /// AMR, up to 2 MB.
    Voice,
    /// MP4, up to 10 MB.
    Video,
    /// Anything, up to 20 MB.
    File,
}

impl MediaKind {
    pub fn code(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Voice => "voice",
            MediaKind::Video => "video",
            MediaKind::File => "file",
        }
    }
    pub fn max_bytes(self) -> usize {
        match self {
            MediaKind::Image | MediaKind::Video => 10 * 1024 * 1024,
            MediaKind::Voice => 2 * 1024 * 1024,
            MediaKind::File => 20 * 1024 * 1024,
        }
    }
}

/// A file fetched with `media/get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// From `Content-Disposition`, when WeCom names the file.
    pub file_name: Option<String>,
}

/// What the client needs to know about the app.
#[derive(Clone)]
pub struct ApiSettings {
    pub api_url: String,
    pub corp_id: String,
    pub agent_id: i64,
    /// The app's secret. Never printed.
    pub secret: String,
    /// Each request gives up after this long (an answer that does not come is
    /// [`ApiError::Uncertain`]).
    pub timeout: Duration,
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("api_url", &self.api_url)
            .field("corp_id", &self.corp_id)
            .field("agent_id", &self.agent_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

struct AccessToken {
    value: String,
    /// Refreshed from this instant on (a little before WeCom's expiry).
    refresh_at: Instant,
}

/// A client of WeCom's API for one app. Cheap to clone (one token cache for all clones).
#[derive(Clone)]
pub struct WecomClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    settings: ApiSettings,
    token: tokio::sync::Mutex<Option<AccessToken>>,
    token_fetches: AtomicU64,
}

enum Answer {
    Json(Value),
    File(reqwest::Response),
}

impl WecomClient {
    pub fn new(settings: ApiSettings) -> Result<WecomClient, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(5).min(settings.timeout))
            .build()
            .map_err(|e| ApiError::Invalid(format!("HTTP client: {}", e.without_url())))?;
        let base = settings.api_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ApiError::Invalid(format!(
                "the WeCom API URL {base:?} is not http(s)"
            )));
        }
        Ok(WecomClient {
            inner: Arc::new(Inner {
                http,
                base,
                settings,
                token: tokio::sync::Mutex::new(None),
                token_fetches: AtomicU64::new(0),
            }),
        })
    }

    pub fn agent_id(&self) -> i64 {
        self.inner.settings.agent_id
    }

    /// How many times `gettoken` was called (for tests and metrics).
    pub fn token_fetches(&self) -> u64 {
        self.inner.token_fetches.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/cgi-bin/{path}", self.inner.base)
    }

    /// The cached access token, fetched when there is none or it is about to expire.
    pub async fn access_token(&self) -> Result<String, ApiError> {
        let mut cached = self.inner.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops `refused` from the cache, unless another caller has already replaced it.
    async fn drop_token(&self, refused: &str) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == refused) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<AccessToken, ApiError> {
        self.inner.token_fetches.fetch_add(1, Ordering::Relaxed);
        let s = &self.inner.settings;
        let started = Instant::now();
        let response = self
            .inner
            .http
            .get(self.url("gettoken"))
            .query(&[
                ("corpid", s.corp_id.as_str()),
                ("corpsecret", s.secret.as_str()),
            ])
            .send()
            .await
            .map_err(request_error)?;
        let body = read_json(response).await?;
        let errcode = body["errcode"].as_i64().unwrap_or(0);
        if errcode != 0 {
            let errmsg = body["errmsg"].as_str().unwrap_or("");
            tracing::error!(errcode, errmsg, "WeCom refused an access token");
            // A bad secret (40001) is the settings' fault, not the token's.
            return Err(if TOKEN_CODES.contains(&errcode) {
                ApiError::Permanent {
                    errcode,
                    errmsg: errmsg.to_owned(),
                }
            } else {
                classify(errcode, errmsg)
            });
        }
        let value = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Transient("gettoken answered without a token".into()))?
            .to_owned();
        let expires_in = body["expires_in"].as_u64().unwrap_or(7200);
        // Refresh a tenth of the lifetime early, at most 5 minutes (7200 s → 6900 s).
        let early = (expires_in / 10).min(300);
        Ok(AccessToken {
            value,
            refresh_at: started + Duration::from_secs(expires_in - early),
        })
    }

    /// Makes a call built by `build` (given the access token), once more with a fresh token
    /// when the first is refused.
    async fn call(
        &self,
        build: &(dyn Fn(&str) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Answer, ApiError> {
        let mut retried = false;
        loop {
            let token = self.access_token().await?;
            let response = build(&token).send().await.map_err(request_error)?;
            let status = response.status();
            if status.is_server_error() {
                return Err(ApiError::Transient(format!("HTTP {status}")));
            }
            if status.as_u16() == 429 {
                return Err(ApiError::RateLimited {
                    errcode: 429,
                    backoff: RATE_LIMIT_BACKOFF,
                });
            }
            if !status.is_success() {
                return Err(ApiError::Permanent {
                    errcode: i64::from(status.as_u16()),
                    errmsg: format!("HTTP {status}"),
                });
            }
            let is_json = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/"));
            if !is_json {
                return Ok(Answer::File(response));
            }
            let body = read_json(response).await?;
            let errcode = body["errcode"].as_i64().unwrap_or(0);
            if errcode == 0 {
                return Ok(Answer::Json(body));
            }
            if TOKEN_CODES.contains(&errcode) && !retried {
                tracing::info!(
                    errcode,
                    "WeCom refused the access token; fetching a new one"
                );
                retried = true;
                self.drop_token(&token).await;
                continue;
            }
            return Err(classify(errcode, body["errmsg"].as_str().unwrap_or("")));
        }
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let url = self.url(path);
        let build = |token: &str| {
            self.inner
                .http
                .post(&url)
                .query(&[("access_token", token)])
                .json(body)
        };
        match self.call(&build).await? {
            Answer::Json(v) => Ok(v),
            Answer::File(_) => Err(ApiError::Uncertain(format!(
                "{path} answered with something other than JSON"
            ))),
        }
    }

    async fn send(&self, user_id: &str, msgtype: &str, content: Value) -> Result<Sent, ApiError> {
        let mut body = json!({
            "touser": user_id,
            "msgtype": msgtype,
            "agentid": self.agent_id(),
        });
        body[msgtype] = content;
        let answer = self.post_json("message/send", &body).await?;
        // A recipient WeCom could not reach comes back in `invaliduser` (or, not activated,
        // `unlicenseduser`) with errcode 0.
        for field in ["invaliduser", "unlicenseduser"] {
            if answer[field]
                .as_str()
                .is_some_and(|list| list.split('|').any(|u| u == user_id))
            {
                return Err(ApiError::InvalidUser { errcode: 0 });
            }
        }
        Ok(Sent {
            msg_id: answer["msgid"].as_str().map(str::to_owned),
            response_code: answer["response_code"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        })
    }

    /// Sends `text` to a member, in parts of at most [`TEXT_LIMIT_BYTES`] (split at a line end
    /// where one is near, never inside a character).
    pub async fn send_text(&self, user_id: &str, text: &str) -> Result<Vec<Sent>, PartialSend> {
        let mut delivered = Vec::new();
        let parts = split_text(text, TEXT_LIMIT_BYTES);
        if parts.is_empty() {
            return Err(PartialSend {
                delivered,
                error: ApiError::Invalid("empty text".into()),
            });
        }
        for part in parts {
            match self.send(user_id, "text", json!({ "content": part })).await {
                Ok(sent) => delivered.push(sent),
                Err(error) => return Err(PartialSend { delivered, error }),
            }
        }
        Ok(delivered)
    }

    /// Sends a button card (`template_card` / `button_interaction`).
    pub async fn send_card(&self, user_id: &str, card: &ButtonCard) -> Result<Sent, ApiError> {
        card.check()?;
        self.send(user_id, "template_card", card.json()).await
    }

    /// Sends an uploaded image.
    pub async fn send_image(&self, user_id: &str, media_id: &str) -> Result<Sent, ApiError> {
        self.send(user_id, "image", json!({ "media_id": media_id }))
            .await
    }

    /// Sends an uploaded file.
    pub async fn send_file(&self, user_id: &str, media_id: &str) -> Result<Sent, ApiError> {
        self.send(user_id, "file", json!({ "media_id": media_id }))
            .await
    }

    /// After a press: the card's buttons become one greyed-out button reading `label` (the
    /// choice made), for `user_id`. `response_code` is the press's (usable once).
    pub async fn update_card_button(
        &self,
        user_id: &str,
        response_code: &str,
        label: &str,
    ) -> Result<(), ApiError> {
        let body = json!({
            "userids": [user_id],
            "agentid": self.agent_id(),
            "response_code": response_code,
            "button": { "replace_name": label },
        });
        self.post_json("message/update_template_card", &body)
            .await
            .map(|_| ())
    }

    /// Downloads a member's photo, voice note or file; refuses (and stops reading) beyond
    /// `max_bytes`.
    pub async fn get_media(&self, media_id: &str, max_bytes: u64) -> Result<Media, ApiError> {
        let url = self.url("media/get");
        let build = |token: &str| {
            self.inner
                .http
                .get(&url)
                .query(&[("access_token", token), ("media_id", media_id)])
        };
        let mut response = match self.call(&build).await? {
            Answer::File(r) => r,
            Answer::Json(_) => {
                return Err(ApiError::Permanent {
                    errcode: 0,
                    errmsg: "media/get answered with JSON instead of the file".into(),
                });
            }
        };
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE);
        let file_name = header(CONTENT_DISPOSITION).and_then(|d| disposition_file_name(&d));
        if header(CONTENT_LENGTH)
            .and_then(|l| l.parse::<u64>().ok())
            .is_some_and(|l| l > max_bytes)
        {
            return Err(ApiError::TooLarge { limit: max_bytes });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(body_error)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(ApiError::TooLarge { limit: max_bytes });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Media {
            bytes,
            content_type,
            file_name,
        })
    }

    /// Uploads a file for sending (a media id valid three days).
    pub async fn upload_media(
        &self,
        kind: MediaKind,
        file_name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, ApiError> {
        if bytes.len() <= MIN_UPLOAD_BYTES || bytes.len() > kind.max_bytes() {
            return Err(ApiError::Invalid(format!(
                "a {} upload is {} to {} bytes",
                kind.code(),
                MIN_UPLOAD_BYTES + 1,
                kind.max_bytes()
            )));
        }
        // Checked once here so that building the request below cannot fail.
        reqwest::multipart::Part::bytes(Vec::new())
            .mime_str(content_type)
            .map_err(|_| ApiError::Invalid(format!("content type {content_type:?}")))?;
        let url = self.url("media/upload");
        let build = |token: &str| {
            let part =
                || reqwest::multipart::Part::bytes(bytes.clone()).file_name(file_name.to_owned());
            // The content type was checked above.
            let part = part().mime_str(content_type).unwrap_or_else(|_| part());
            self.inner
                .http
                .post(&url)
                .query(&[("access_token", token), ("type", kind.code())])
                .multipart(reqwest::multipart::Form::new().part("media", part))
        };
        let answer = match self.call(&build).await? {
            Answer::Json(v) => v,
            Answer::File(_) => {
                return Err(ApiError::Uncertain(
                    "media/upload answered with something other than JSON".into(),
                ));
            }
        };
        answer["media_id"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Uncertain("media/upload answered without a media id".into()))
    }

    /// Replaces the app's menu.
    pub async fn create_menu(&self, menu: &Menu) -> Result<(), ApiError> {
        menu.check()
            .map_err(|e: MenuError| ApiError::Invalid(e.to_string()))?;
        let url = self.url("menu/create");
        let agent = self.agent_id().to_string();
        let build = |token: &str| {
            self.inner
                .http
                .post(&url)
                .query(&[("access_token", token), ("agentid", agent.as_str())])
                .json(menu)
        };
        match self.call(&build).await? {
            Answer::Json(_) => Ok(()),
            Answer::File(_) => Err(ApiError::Uncertain(
                "menu/create answered with something other than JSON".into(),
            )),
        }
    }
}

/// A failed request, without its URL (which holds the secret or the token).
fn request_error(e: reqwest::Error) -> ApiError {
    let connect = e.is_connect();
    let message = e.without_url().to_string();
    if connect {
        // Nothing reached WeCom.
        ApiError::Transient(message)
    } else {
        ApiError::Uncertain(message)
    }
}

fn body_error(e: reqwest::Error) -> ApiError {
    ApiError::Uncertain(e.without_url().to_string())
}

async fn read_json(response: reqwest::Response) -> Result<Value, ApiError> {
    let bytes = response.bytes().await.map_err(body_error)?;
    serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::Uncertain("WeCom answered with something other than JSON".into()))
}

/// `attachment; filename="photo.jpg"` → `photo.jpg` (also `filename*=UTF-8''…`, decoded).
fn disposition_file_name(disposition: &str) -> Option<String> {
    for part in disposition.split(';').map(str::trim) {
        if let Some(v) = part.strip_prefix("filename*=") {
            let v = v.trim_matches('"');
            let encoded = v.split("''").nth(1).unwrap_or(v);
            let decoded = percent_decode(encoded);
            if !decoded.is_empty() {
                return Some(decoded);
            }
        }
    }
    disposition
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `text` into parts of at most `limit` bytes: at the last line break in the second
/// half of the window when there is one, else at the last character boundary. Blank parts are
/// dropped.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(4);
    let mut parts = Vec::new();
    let mut rest = text.trim_end();
    while !rest.is_empty() {
        if rest.len() <= limit {
            parts.push(rest.to_owned());
            break;
        }
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = match rest[..cut].rfind('\n').filter(|&i| i >= limit / 2) {
            Some(nl) => (&rest[..nl], &rest[nl + 1..]),
            None => (&rest[..cut], &rest[cut..]),
        };
        if !head.trim().is_empty() {
            parts.push(head.to_owned());
        }
        rest = tail;
    }
    parts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_character_within_the_limit() {
        assert_eq!(split_text("你好", 2048), ["你好"]);
        assert!(split_text("  \n ", 2048).is_empty());
        // 1000 Chinese characters = 3000 bytes: two parts, no character cut.
        let long = "网".repeat(1000);
        let parts = split_text(&long, TEXT_LIMIT_BYTES);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= TEXT_LIMIT_BYTES));
        assert_eq!(parts.concat(), long);
        // Lines: the cut falls at a line end.
        let lines: Vec<String> = (0..200).map(|i| format!("#{i} 张三家走访记录")).collect();
        let text = lines.join("\n");
        let parts = split_text(&text, TEXT_LIMIT_BYTES);
        assert!(parts.len() >= 2);
        for p in &parts {
            assert!(p.len() <= TEXT_LIMIT_BYTES);
            assert!(p.starts_with('#'), "{p:?}");
        }
        assert_eq!(parts.join("\n"), text);
        // Mixed widths near the boundary (4-byte emoji).
        let text = format!("{}{}", "a".repeat(2046), "😀😀");
        let parts = split_text(&text, TEXT_LIMIT_BYTES);
        assert_eq!(parts, ["a".repeat(2046), "😀😀".to_owned()]);
    }

    #[test]
    fn errcodes_are_classified() {
        assert!(matches!(
            classify(-1, "system busy"),
            ApiError::Transient(_)
        ));
        assert_eq!(
            classify(45009, "api freq out of limit"),
            ApiError::RateLimited {
                errcode: 45009,
                backoff: RATE_LIMIT_BACKOFF
            }
        );
        assert_eq!(
            classify(81013, ""),
            ApiError::InvalidUser { errcode: 81013 }
        );
        assert_eq!(
            classify(60111, ""),
            ApiError::InvalidUser { errcode: 60111 }
        );
        assert!(matches!(
            classify(60020, "not allow to access from your ip"),
            ApiError::Permanent { errcode: 60020, .. }
        ));
        assert_eq!(
            ApiError::RateLimited {
                errcode: 45009,
                backoff: RATE_LIMIT_BACKOFF
            }
            .send_outcome(),
            SendOutcome::RetryAfter(RATE_LIMIT_BACKOFF)
        );
        assert_eq!(
            ApiError::InvalidUser { errcode: 81013 }.send_outcome(),
            SendOutcome::Blocked
        );
        assert!(ApiError::Uncertain("x".into()).is_retryable());
        assert!(!ApiError::InvalidUser { errcode: 1 }.is_retryable());
    }

    #[test]
    fn cards_are_checked_before_sending() {
        let card = |buttons: usize| ButtonCard {
            task_id: new_task_id("r42"),
            title: "#42 路灯不亮".into(),
            description: None,
            text: Some("请接单".into()),
            buttons: (0..buttons)
                .map(|i| CardButton::new(format!("选项{i}"), format!("k:{i}")))
                .collect(),
        };
        card(6).check().unwrap();
        assert!(matches!(card(7).check(), Err(ApiError::Invalid(_))));
        assert!(matches!(card(0).check(), Err(ApiError::Invalid(_))));
        let mut bad = card(2);
        bad.task_id = "任务 1".into();
        assert!(matches!(bad.check(), Err(ApiError::Invalid(_))));
        let mut dup = card(2);
        dup.buttons[1].key = dup.buttons[0].key.clone();
        assert!(matches!(dup.check(), Err(ApiError::Invalid(_))));
        let id = new_task_id("notice:7 ack");
        assert!(id.starts_with("notice7ack-"), "{id}");
        assert_eq!(id.len(), "notice7ack-".len() + 16);
        assert_ne!(new_task_id("x"), new_task_id("x"));
        let json = card(2).json();
        assert_eq!(json["card_type"], "button_interaction");
        assert_eq!(json["button_list"][1]["key"], "k:1");
        assert_eq!(json["sub_title_text"], "请接单");
    }

    #[test]
    fn file_names_from_content_disposition() {
        assert_eq!(
            disposition_file_name("attachment; filename=\"photo.jpg\"").as_deref(),
            Some("photo.jpg")
        );
        assert_eq!(
            disposition_file_name("attachment; filename*=UTF-8''%E5%8F%B0%E8%B4%A6.xlsx")
                .as_deref(),
            Some("台账.xlsx")
        );
        assert_eq!(disposition_file_name("attachment"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
