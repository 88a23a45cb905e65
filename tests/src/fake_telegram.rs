//! A fake Telegram Bot API server for tests: a real HTTP server on 127.0.0.1 (port 0) that
//! speaks the Bot API protocol (`POST /bot<token>/<method>`, JSON, form or multipart bodies,
//! `{"ok": …}` answers, `/file/bot<token>/<path>` downloads), so the product's real teloxide
//! client and HTTP path are what is tested.
//!
//! Tests play the users: they inject updates (text, photos, locations, contacts, button presses),
//! then read what the bot sent to each chat. Faults can be injected per method or per chat:
//! 429 with `retry_after`, 403 (blocked), 5xx, delays, cut connections (before or after the
//! call is performed), also as a seeded random share of a method's calls; and Telegram's
//! flood limits can be enforced (answering 429 when exceeded), so tests can prove they are kept.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const TOKEN: &str = "7303:TEST-token_for-the-fake-server";
pub const BOT_ID: i64 = 7303;
pub const BOT_USERNAME: &str = "gridline_test_bot";

/// A user of the fake Telegram: a private chat with the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUser {
    pub id: i64,
    pub first_name: String,
    pub language_code: Option<String>,
}

impl FakeUser {
    pub fn new(id: i64, first_name: &str) -> FakeUser {
        FakeUser {
            id,
            first_name: first_name.to_owned(),
            language_code: Some("zh-hans".into()),
        }
    }
    fn json(&self) -> Value {
        json!({"id": self.id, "is_bot": false, "first_name": self.first_name, "language_code": self.language_code})
    }
    fn chat(&self) -> Value {
        json!({"id": self.id, "type": "private", "first_name": self.first_name})
    }
}

/// What the bot sent (or edited) in a chat.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    pub message_id: i64,
    pub chat_id: i64,
    /// The method that created it (`sendmessage`, `sendphoto`, …), lowercase.
    pub method: String,
    /// Text, or the caption of a photo.
    pub text: String,
    /// `reply_markup` as sent (inline keyboard, reply keyboard, or null).
    pub reply_markup: Value,
    /// How many times it was edited.
    pub edits: u32,
    pub at: Instant,
}

impl SentMessage {
    /// The callback data of every inline button, row by row flattened.
    pub fn button_data(&self) -> Vec<String> {
        self.reply_markup["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
            .collect()
    }
    /// The labels of every button (inline or reply keyboard).
    pub fn button_labels(&self) -> Vec<String> {
        ["inline_keyboard", "keyboard"]
            .iter()
            .flat_map(|k| {
                self.reply_markup[*k]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|row| row.as_array().cloned().unwrap_or_default())
            .filter_map(|b| {
                b["text"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| b.as_str().map(str::to_owned))
            })
            .collect()
    }
}

/// A fault to answer with instead of the real result.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    TooManyRequests {
        retry_after: u32,
    },
    Forbidden,
    BadRequest(String),
    ServerError,
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// Perform the call, then sleep before answering (the client may time out having been served).
    DelayAfter(Duration),
    /// Cut the connection without an answer; the call is not performed (the client cannot
    /// tell this from [`Fault::ResetAfter`]: to it, both are "no answer").
    Reset,
    /// Perform the call (a message is recorded as delivered), then cut the connection without
    /// an answer: the client never learns that it went out.
    ResetAfter,
}

/// A seeded random share of calls of one method answering with faults (each call draws once:
/// 5xx, delay, reset before or after performing, or normal, by these shares).
#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    pub seed: u64,
    /// 502 Bad Gateway (not performed).
    pub server_error: f64,
    /// Answered normally after a delay drawn from `delay`.
    pub delayed: f64,
    pub delay: (Duration, Duration),
    /// [`Fault::Reset`].
    pub reset_before: f64,
    /// [`Fault::ResetAfter`].
    pub reset_after: f64,
}

/// A fault the server applied, for tests to account for it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedFault {
    pub method: String,
    pub chat_id: Option<i64>,
    /// The text of the message the call carried.
    pub text: String,
    pub fault: Fault,
    /// The message recorded as delivered despite the fault (`ResetAfter`, `Delay…`).
    pub message_id: Option<i64>,
}

/// splitmix64: a small deterministic generator for the random faults.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Default)]
struct Inner {
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    sent: Vec<SentMessage>,
    /// Every call: (method lowercase, chat_id if any, when).
    calls: Vec<(String, Option<i64>, Instant)>,
    faults: HashMap<String, VecDeque<Fault>>,
    blocked: std::collections::HashSet<i64>,
    latency: Duration,
    files: HashMap<String, Vec<u8>>,
    /// Enforced flood limits: (overall per second, per chat per second).
    flood: Option<(u32, u32)>,
    /// 429 answers given because a flood limit was exceeded.
    flood_violations: u32,
    webhook_deleted: u32,
    commands: Value,
    /// Position in `sent` by message id (lookups stay O(1) with tens of thousands of messages).
    sent_index: HashMap<i64, usize>,
    /// When each update was pushed, and when a getUpdates answer first handed it out.
    update_times: HashMap<i64, UpdateTimes>,
    /// Receivers of every message the bot sends (not edits), as it arrives.
    sent_subscribers: Vec<tokio::sync::mpsc::UnboundedSender<SentMessage>>,
    /// Random faults per method, with their generator.
    random: HashMap<String, (RandomFaults, Rng)>,
    /// Every fault applied, in order.
    applied: Vec<AppliedFault>,
}

/// When an update was pushed by a (fake) user and when the bot first received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateTimes {
    pub pushed: Instant,
    pub handed_out: Option<Instant>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    new_update: Arc<Notify>,
    new_message: Arc<Notify>,
}

/// The running fake server. Dropping it stops it.
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Shared,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                next_update_id: 1,
                next_message_id: 1,
                ..Default::default()
            })),
            new_update: Arc::new(Notify::new()),
            new_message: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/bot{token}/{method}", any(api))
            .route("/file/bot{token}/{*path}", get(download))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake telegram");
        let addr = listener.local_addr().expect("fake telegram address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeTelegram {
            addr,
            shared,
            _shutdown: tx,
        }
    }

    /// What `GRIDLINE_TELEGRAM_API_URL` should be set to.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- users act ----

    /// Queues a raw update (its `update_id` is assigned here) and returns the id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let id = {
            let mut inner = self.lock();
            let id = inner.next_update_id;
            inner.next_update_id += 1;
            update["update_id"] = json!(id);
            inner.updates.push_back(update);
            inner.update_times.insert(
                id,
                UpdateTimes {
                    pushed: Instant::now(),
                    handed_out: None,
                },
            );
            id
        };
        self.shared.new_update.notify_waiters();
        id
    }

    /// Queues the same update again (Telegram redelivering it), keeping its id.
    pub fn redeliver(&self, update: Value) {
        self.lock().updates.push_back(update);
        self.shared.new_update.notify_waiters();
    }

    fn next_message_id(&self) -> i64 {
        let mut inner = self.lock();
        let id = inner.next_message_id;
        inner.next_message_id += 1;
        id
    }

    fn user_message(&self, user: &FakeUser, fields: Value) -> Value {
        let mut msg = json!({
            "message_id": self.next_message_id(),
            "date": chrono::Utc::now().timestamp(),
            "chat": user.chat(),
            "from": user.json(),
        });
        if let (Some(m), Some(f)) = (msg.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                m.insert(k.clone(), v.clone());
            }
        }
        msg
    }

    /// The user sends text; returns the whole update (for redelivery tests).
    pub fn send_text(&self, user: &FakeUser, text: &str) -> Value {
        let mut fields = json!({"text": text});
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .map_or(0, |c| c.encode_utf16().count());
            fields["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        let message = self.user_message(user, fields);
        self.push(json!({"message": message}))
    }

    /// The user replies to one of the bot's messages.
    pub fn reply_text(&self, user: &FakeUser, to_message_id: i64, text: &str) -> Value {
        let original = self.lock().find_sent(to_message_id).cloned();
        let reply_to = json!({
            "message_id": to_message_id,
            "date": chrono::Utc::now().timestamp(),
            "chat": user.chat(),
            "from": bot_user(),
            "text": original.map(|m| m.text).unwrap_or_default(),
        });
        let message = self.user_message(user, json!({"text": text, "reply_to_message": reply_to}));
        self.push(json!({"message": message}))
    }

    /// Stores a file so `getFile` and the download route serve it (for raw updates that carry
    /// a voice note, a document or a photo of a given size).
    pub fn store_file(&self, file_id: &str, bytes: &[u8]) {
        self.lock().files.insert(file_id.to_owned(), bytes.to_vec());
    }

    /// The user sends a photo (stored so `getFile` and the download route serve it).
    pub fn send_photo(&self, user: &FakeUser, bytes: &[u8], caption: Option<&str>) -> Value {
        let n = self.lock().files.len();
        let small_id = format!("photo-small-{n}");
        let big_id = format!("photo-big-{n}");
        {
            let mut inner = self.lock();
            inner
                .files
                .insert(small_id.clone(), bytes[..bytes.len().min(16)].to_vec());
            inner.files.insert(big_id.clone(), bytes.to_vec());
        }
        let photo = json!([
            {"file_id": small_id, "file_unique_id": format!("u{small_id}"), "width": 90, "height": 90, "file_size": bytes.len().min(16)},
            {"file_id": big_id, "file_unique_id": format!("u{big_id}"), "width": 1280, "height": 960, "file_size": bytes.len()},
        ]);
        let mut fields = json!({"photo": photo});
        if let Some(c) = caption {
            fields["caption"] = json!(c);
        }
        let message = self.user_message(user, fields);
        self.push(json!({"message": message}))
    }

    pub fn send_location(&self, user: &FakeUser, latitude: f64, longitude: f64) -> Value {
        let message = self.user_message(
            user,
            json!({"location": {"latitude": latitude, "longitude": longitude}}),
        );
        self.push(json!({"message": message}))
    }

    /// The user shares their own contact (request_contact button).
    pub fn send_contact(&self, user: &FakeUser, phone: &str) -> Value {
        let message = self.user_message(
            user,
            json!({"contact": {"phone_number": phone, "first_name": user.first_name, "user_id": user.id}}),
        );
        self.push(json!({"message": message}))
    }

    /// The user presses an inline button on one of the bot's messages.
    pub fn press_button(&self, user: &FakeUser, message_id: i64, data: &str) -> Value {
        let original = self.lock().find_sent(message_id).cloned();
        let message = json!({
            "message_id": message_id,
            "date": chrono::Utc::now().timestamp(),
            "chat": user.chat(),
            "from": bot_user(),
            "text": original.as_ref().map(|m| m.text.clone()).unwrap_or_default(),
        });
        let id = format!("cb-{}-{}", user.id, self.next_message_id());
        self.push(json!({"callback_query": {
            "id": id, "from": user.json(), "chat_instance": format!("ci-{}", user.id),
            "message": message, "data": data,
        }}))
    }

    fn push(&self, mut update: Value) -> Value {
        let id = self.push_update(update.clone());
        update["update_id"] = json!(id);
        update
    }

    // ---- tests observe ----

    /// Everything the bot sent to a chat, oldest first (edits applied).
    pub fn sent_to(&self, chat_id: i64) -> Vec<SentMessage> {
        self.lock()
            .sent
            .iter()
            .filter(|m| m.chat_id == chat_id)
            .cloned()
            .collect()
    }

    pub fn all_sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Every message the bot sends from now on (sendMessage, sendPhoto, sendDocument; not
    /// edits), as it arrives — for benchmarks with thousands of chats, where scanning
    /// [`FakeTelegram::sent_to`] per message would dominate.
    pub fn subscribe_sent(&self) -> tokio::sync::mpsc::UnboundedReceiver<SentMessage> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.lock().sent_subscribers.push(tx);
        rx
    }

    /// When update `update_id` was pushed and first handed out by getUpdates.
    pub fn update_times(&self, update_id: i64) -> Option<UpdateTimes> {
        self.lock().update_times.get(&update_id).copied()
    }

    /// Waits until the chat has a message satisfying `pred` (checked on every new message).
    pub async fn wait_for(
        &self,
        chat_id: i64,
        timeout: Duration,
        pred: impl Fn(&SentMessage) -> bool,
    ) -> Option<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.new_message.notified();
            if let Some(m) = self.sent_to(chat_id).into_iter().rev().find(|m| pred(m)) {
                return Some(m);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sent_to(chat_id).into_iter().rev().find(|m| pred(m));
            }
        }
    }

    /// Waits until the chat has at least `n` messages; returns them.
    pub async fn wait_for_count(
        &self,
        chat_id: i64,
        n: usize,
        timeout: Duration,
    ) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.new_message.notified();
            let sent = self.sent_to(chat_id);
            if sent.len() >= n || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sent_to(chat_id);
            }
        }
    }

    /// How many calls of `method` (case-insensitive) were made.
    pub fn calls(&self, method: &str) -> usize {
        let m = method.to_ascii_lowercase();
        self.lock().calls.iter().filter(|(c, _, _)| *c == m).count()
    }

    /// Updates not yet confirmed by a getUpdates offset.
    pub fn pending_updates(&self) -> usize {
        self.lock().updates.len()
    }

    pub fn flood_violations(&self) -> u32 {
        self.lock().flood_violations
    }

    pub fn webhook_deletions(&self) -> u32 {
        self.lock().webhook_deleted
    }

    pub fn commands(&self) -> Value {
        self.lock().commands.clone()
    }

    // ---- faults ----

    /// The next call(s) of `method` answer with these faults, in order.
    pub fn fail_next(&self, method: &str, faults: impl IntoIterator<Item = Fault>) {
        self.lock()
            .faults
            .entry(method.to_ascii_lowercase())
            .or_default()
            .extend(faults);
    }

    /// From now on a seeded random share of `method`'s calls answer with faults (replacing an
    /// earlier setting for the method). Queued [`FakeTelegram::fail_next`] faults go first.
    pub fn random_faults(&self, method: &str, faults: RandomFaults) {
        let rng = Rng(faults.seed);
        self.lock()
            .random
            .insert(method.to_ascii_lowercase(), (faults, rng));
    }

    /// Stops the random faults of every method.
    pub fn clear_random_faults(&self) {
        self.lock().random.clear();
    }

    /// Every fault applied so far (random or queued), in order.
    pub fn applied_faults(&self) -> Vec<AppliedFault> {
        self.lock().applied.clone()
    }

    /// Sends to this chat answer 403 "bot was blocked by the user".
    pub fn block_chat(&self, chat_id: i64) {
        self.lock().blocked.insert(chat_id);
    }

    /// Every answer is delayed by this much (network latency).
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Enforce Telegram's flood limits: more than `overall` sends in any second, or more than
    /// `per_chat` in any second to one chat, are answered 429.
    pub fn enforce_flood_limits(&self, overall: u32, per_chat: u32) {
        self.lock().flood = Some((overall, per_chat));
    }
}

impl Inner {
    fn find_sent(&self, message_id: i64) -> Option<&SentMessage> {
        self.sent_index
            .get(&message_id)
            .and_then(|i| self.sent.get(*i))
    }
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Gridline", "username": BOT_USERNAME})
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

fn error(code: u16, description: &str, retry_after: Option<u32>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(r) = retry_after {
        body["parameters"] = json!({"retry_after": r});
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

/// Parses JSON, urlencoded or multipart bodies into one JSON object of parameters.
async fn parse_params(request: Request) -> Value {
    let ctype = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if ctype.starts_with("multipart/form-data") {
        let mut out = serde_json::Map::new();
        if let Ok(mut mp) = Multipart::from_request(request, &()).await {
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or("").to_owned();
                let is_file = field.file_name().is_some();
                let data = field.bytes().await.unwrap_or_default();
                let value = if is_file {
                    json!(format!("<file {} bytes>", data.len()))
                } else {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    serde_json::from_str::<Value>(&text)
                        .ok()
                        .filter(|v| v.is_object() || v.is_array())
                        .unwrap_or(json!(text))
                };
                out.insert(name, value);
            }
        }
        return Value::Object(out);
    }
    let body = Bytes::from_request(request, &()).await.unwrap_or_default();
    if ctype.starts_with("application/json") {
        return serde_json::from_slice(&body).unwrap_or(json!({}));
    }
    // urlencoded, or empty
    let mut out = serde_json::Map::new();
    for pair in String::from_utf8_lossy(&body)
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let mut kv = pair.splitn(2, '=');
        let k = kv.next().unwrap_or("").to_owned();
        let v = kv.next().unwrap_or("").replace('+', " ");
        out.insert(k, json!(percent_decode(&v)));
    }
    Value::Object(out)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn chat_id_of(params: &Value) -> Option<i64> {
    match &params["chat_id"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

async fn api(
    State(shared): State<Shared>,
    Path((token, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    if token != TOKEN {
        return error(401, "Unauthorized", None);
    }
    let method = method.to_ascii_lowercase();
    let params = parse_params(request).await;
    let chat_id = chat_id_of(&params);
    let is_send = matches!(
        method.as_str(),
        "sendmessage" | "sendphoto" | "senddocument" | "copymessage" | "forwardmessage"
    );

    let (fault, latency) = {
        let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        inner.calls.push((method.clone(), chat_id, now));
        let mut fault = inner.faults.get_mut(&method).and_then(VecDeque::pop_front);
        if fault.is_none()
            && let Some((cfg, rng)) = inner.random.get_mut(&method)
        {
            let x = rng.next_f64();
            let e1 = cfg.server_error;
            let e2 = e1 + cfg.delayed;
            let e3 = e2 + cfg.reset_before;
            let e4 = e3 + cfg.reset_after;
            fault = if x < e1 {
                Some(Fault::ServerError)
            } else if x < e2 {
                let (lo, hi) = cfg.delay;
                let span = hi.saturating_sub(lo).as_secs_f64();
                Some(Fault::Delay(
                    lo + Duration::from_secs_f64(span * rng.next_f64()),
                ))
            } else if x < e3 {
                Some(Fault::Reset)
            } else if x < e4 {
                Some(Fault::ResetAfter)
            } else {
                None
            };
        }
        if fault.is_none() && is_send && chat_id.is_some_and(|chat| inner.blocked.contains(&chat)) {
            fault = Some(Fault::Forbidden);
        }
        if fault.is_none()
            && is_send
            && let Some((overall, per_chat)) = inner.flood
        {
            // Calls are kept in arrival order: scan back over the last second only.
            let window = Duration::from_secs(1);
            let recent: Vec<Option<i64>> = inner
                .calls
                .iter()
                .rev()
                .take_while(|(_, _, t)| now.duration_since(*t) < window)
                .filter(|(m, _, _)| is_send_method(m))
                .map(|(_, c, _)| *c)
                .collect();
            let in_chat = recent.iter().filter(|c| **c == chat_id).count();
            // `recent` includes this call.
            if recent.len() > overall as usize || in_chat > per_chat as usize {
                inner.flood_violations += 1;
                inner.calls.pop();
                fault = Some(Fault::TooManyRequests { retry_after: 1 });
            }
        }
        if let Some(f) = &fault {
            inner.applied.push(AppliedFault {
                method: method.clone(),
                chat_id,
                text: params["text"]
                    .as_str()
                    .or(params["caption"].as_str())
                    .unwrap_or("")
                    .to_owned(),
                fault: f.clone(),
                message_id: None,
            });
        }
        (fault, inner.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut delay_after = None;
    match fault {
        Some(Fault::TooManyRequests { retry_after }) => {
            return error(
                429,
                &format!("Too Many Requests: retry after {retry_after}"),
                Some(retry_after),
            );
        }
        Some(Fault::Forbidden) => {
            return error(403, "Forbidden: bot was blocked by the user", None);
        }
        Some(Fault::BadRequest(d)) => return error(400, &format!("Bad Request: {d}"), None),
        Some(Fault::ServerError) => return error(502, "Bad Gateway", None),
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::DelayAfter(d)) => delay_after = Some(d),
        Some(Fault::Reset) => return cut_connection(),
        Some(Fault::ResetAfter) => {
            let response = perform(&shared, &method, &params).await;
            if response.status().is_success() {
                // Which message went out without the client knowing.
                let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
                let last = inner
                    .sent
                    .iter()
                    .rev()
                    .find(|m| Some(m.chat_id) == chat_id)
                    .map(|m| m.message_id);
                if let Some(applied) = inner
                    .applied
                    .iter_mut()
                    .rev()
                    .find(|a| a.method == method && a.chat_id == chat_id)
                {
                    applied.message_id = last;
                }
            }
            return cut_connection();
        }
        None => {}
    }
    let response = perform(&shared, &method, &params).await;
    if let Some(d) = delay_after {
        tokio::time::sleep(d).await;
    }
    response
}

/// An answer whose body breaks off after its first bytes: the connection is closed with no
/// usable answer (to the client, a reset).
fn cut_connection() -> Response {
    let parts: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"ok\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by the fake server",
        )),
    ];
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from_stream(futures_util::stream::iter(
            parts,
        )))
        .unwrap_or_else(|_| error(500, "reset", None))
}

fn is_send_method(m: &str) -> bool {
    matches!(
        m,
        "sendmessage" | "sendphoto" | "senddocument" | "copymessage" | "forwardmessage"
    )
}

async fn perform(shared: &Shared, method: &str, params: &Value) -> Response {
    match method {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Gridline", "username": BOT_USERNAME,
            "can_join_groups": false, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "getupdates" => get_updates(shared, params).await,
        "deletewebhook" => {
            shared
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .webhook_deleted += 1;
            ok(json!(true))
        }
        "getwebhookinfo" => {
            ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}))
        }
        "setmycommands" => {
            shared
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .commands = params["commands"].clone();
            ok(json!(true))
        }
        "answercallbackquery" | "setwebhook" | "deletemycommands" | "sendchataction" => {
            ok(json!(true))
        }
        "sendmessage" | "sendphoto" | "senddocument" => {
            let Some(chat_id) = chat_id_of(params) else {
                return error(400, "Bad Request: chat_id is empty", None);
            };
            let text = params["text"]
                .as_str()
                .or(params["caption"].as_str())
                .unwrap_or("")
                .to_owned();
            if method == "sendmessage" && text.is_empty() {
                return error(400, "Bad Request: message text is empty", None);
            }
            if text.chars().count() > 4096 {
                return error(400, "Bad Request: message is too long", None);
            }
            let message = {
                let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
                let id = inner.next_message_id;
                inner.next_message_id += 1;
                let m = SentMessage {
                    message_id: id,
                    chat_id,
                    method: method.to_owned(),
                    text: text.clone(),
                    reply_markup: params["reply_markup"].clone(),
                    edits: 0,
                    at: Instant::now(),
                };
                inner.sent_subscribers.retain(|s| s.send(m.clone()).is_ok());
                let index = inner.sent.len();
                inner.sent_index.insert(id, index);
                inner.sent.push(m);
                id
            };
            shared.new_message.notify_waiters();
            let mut result = json!({
                "message_id": message, "date": chrono::Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": "private", "first_name": "user"},
                "from": bot_user(),
            });
            if method == "sendphoto" {
                result["photo"] = json!([{"file_id": "sent-photo", "file_unique_id": "sent-photo-u", "width": 1, "height": 1}]);
                if !text.is_empty() {
                    result["caption"] = json!(text);
                }
            } else {
                result["text"] = json!(text);
            }
            ok(result)
        }
        "editmessagetext" | "editmessagereplymarkup" | "editmessagecaption" => {
            let chat_id = chat_id_of(params);
            let message_id = params["message_id"]
                .as_i64()
                .or_else(|| params["message_id"].as_str().and_then(|s| s.parse().ok()));
            let found = {
                let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
                let found = message_id
                    .and_then(|id| inner.sent_index.get(&id).copied())
                    .and_then(|i| inner.sent.get_mut(i))
                    .filter(|m| Some(m.chat_id) == chat_id);
                match found {
                    Some(m) => {
                        if let Some(t) = params["text"].as_str().or(params["caption"].as_str()) {
                            m.text = t.to_owned();
                        }
                        m.reply_markup = params["reply_markup"].clone();
                        m.edits += 1;
                        Some(m.clone())
                    }
                    None => None,
                }
            };
            match found {
                Some(m) => {
                    shared.new_message.notify_waiters();
                    ok(json!({
                        "message_id": m.message_id, "date": chrono::Utc::now().timestamp(),
                        "chat": {"id": m.chat_id, "type": "private", "first_name": "user"},
                        "from": bot_user(), "text": m.text,
                    }))
                }
                None => error(400, "Bad Request: message to edit not found", None),
            }
        }
        "getfile" => {
            let file_id = params["file_id"].as_str().unwrap_or("").to_owned();
            let size = shared
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .files
                .get(&file_id)
                .map(Vec::len);
            match size {
                Some(size) => ok(
                    json!({"file_id": file_id, "file_unique_id": format!("u{file_id}"), "file_size": size, "file_path": format!("photos/{file_id}.jpg")}),
                ),
                None => error(400, "Bad Request: invalid file_id", None),
            }
        }
        other => error(
            404,
            &format!("Not Found: method {other} is not implemented by the fake server"),
            None,
        ),
    }
}

/// `getUpdates` with Telegram's semantics: `offset` confirms (drops) every update with a smaller
/// id; the call waits up to `timeout` seconds for one to arrive.
async fn get_updates(shared: &Shared, params: &Value) -> Response {
    let num = |k: &str| {
        params[k]
            .as_i64()
            .or_else(|| params[k].as_str().and_then(|s| s.parse().ok()))
    };
    let offset = num("offset").unwrap_or(0);
    let limit = num("limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(num("timeout").unwrap_or(0).clamp(0, 50) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = shared.new_update.notified();
        let batch: Vec<Value> = {
            let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            let batch: Vec<Value> = inner.updates.iter().take(limit).cloned().collect();
            let now = Instant::now();
            for u in &batch {
                if let Some(t) = u["update_id"]
                    .as_i64()
                    .and_then(|id| inner.update_times.get_mut(&id))
                {
                    t.handed_out.get_or_insert(now);
                }
            }
            batch
        };
        if !batch.is_empty() {
            return ok(Value::Array(batch));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

async fn download(
    State(shared): State<Shared>,
    Path((token, path)): Path<(String, String)>,
) -> Response {
    if token != TOKEN {
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    let file_id = path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .trim_end_matches(".jpg")
        .to_owned();
    let bytes = shared
        .inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .files
        .get(&file_id)
        .cloned();
    match bytes {
        Some(b) => ([(header::CONTENT_TYPE, "image/jpeg")], b).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
