//! A fake WeCom (企业微信) for tests: a real HTTP server on 127.0.0.1 (port 0) playing WeCom's
//! side of a self-built app, so Gridline's real API client, crypto and callback endpoint are
//! what is tested.
//!
//! - It holds the app's corp id, secret, callback token and EncodingAESKey, and speaks the API
//!   (`/cgi-bin/gettoken`, `message/send`, `message/update_template_card`, `media/get`,
//!   `media/upload`, `menu/create`) with WeCom's `errcode` answers: access tokens expire (after
//!   a settable lifetime, or at once with [`FakeWecom::expire_tokens`]: 42001), unknown tokens
//!   are 40014, unknown users 81013, and faults can be queued per API (45009, -1, 5xx, delays).
//! - It records what Gridline sent: messages (text, cards, images, files), card updates,
//!   uploads, menus; texts over WeCom's 2048 bytes are cut as WeCom cuts them and counted
//!   ([`FakeWecom::length_violations`]), and more than 30 messages a minute to one member are
//!   dropped as WeCom drops them and counted ([`FakeWecom::per_member_violations`]).
//! - It plays the members: it encrypts and signs callbacks (text, image, location, menu click,
//!   card press…) with its own implementation of WeCom's scheme ([`WecomSide`], checked
//!   against the documentation's sample values) and POSTs them to Gridline's callback URL; a
//!   prepared callback can be delivered again, as WeCom retries.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes::Aes256;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

pub const CORP_ID: &str = "ww7303a1b2c3d4e5f6";
pub const AGENT_ID: i64 = 1000002;
pub const SECRET: &str = "fake-wecom-app-secret-7303";
pub const TOKEN: &str = "GridlineFakeToken7303";
/// 43 characters whose last one carries non-zero trailing bits, as WeCom's keys do.
pub const AES_KEY: &str = "kWxPEV2UEDyxWc7gbKUyYeNBHeGn0W1VhkHgM6fKgot";
/// WeCom cuts a text message's content beyond this many bytes.
pub const TEXT_LIMIT_BYTES: usize = 2048;
/// WeCom delivers at most this many app messages to one member per minute (the rest are
/// dropped without an error).
pub const PER_MEMBER_PER_MINUTE: usize = 30;

/// WeCom's side of the callback crypto, written independently of Gridline's
/// (`gridline_bot::wecom::crypto`): the two are checked against each other and against the
/// documentation's samples.
#[derive(Clone)]
pub struct WecomSide {
    token: String,
    key: [u8; 32],
    receive_id: String,
}

impl WecomSide {
    /// Panics on a key that is not 43 characters of base64 (test data).
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> WecomSide {
        assert_eq!(
            encoding_aes_key.len(),
            43,
            "an EncodingAESKey is 43 characters"
        );
        // Decode by hand, 6 bits a character, dropping the 2 bits past the 32 bytes.
        let mut bits: u64 = 0;
        let mut nbits = 0;
        let mut key = Vec::with_capacity(33);
        for c in encoding_aes_key.bytes() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => panic!("not base64: {c}"),
            };
            bits = (bits << 6) | u64::from(v);
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                key.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        WecomSide {
            token: token.to_owned(),
            key: key[..32].try_into().unwrap(),
            receive_id: receive_id.to_owned(),
        }
    }

    pub fn sign(&self, timestamp: &str, nonce: &str, encrypted: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypted];
        parts.sort();
        let digest = Sha1::digest(parts.concat().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn encrypt(&self, msg: &str, random: [u8; 16]) -> String {
        let mut buf = random.to_vec();
        buf.extend((msg.len() as u32).to_be_bytes());
        buf.extend(msg.as_bytes());
        buf.extend(self.receive_id.as_bytes());
        let pad = 32 - buf.len() % 32;
        buf.extend(std::iter::repeat_n(pad as u8, pad));
        let len = buf.len();
        let iv: [u8; 16] = self.key[..16].try_into().unwrap();
        let out = cbc::Encryptor::<Aes256>::new(&self.key.into(), &iv.into())
            .encrypt_padded::<NoPadding>(&mut buf, len)
            .unwrap()
            .to_vec();
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// Decrypts and returns (message, receive id); `None` when anything is off.
    pub fn decrypt(&self, encrypted: &str) -> Option<(String, String)> {
        let mut buf = base64::engine::general_purpose::STANDARD
            .decode(encrypted)
            .ok()?;
        let iv: [u8; 16] = self.key[..16].try_into().unwrap();
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.into(), &iv.into())
            .decrypt_padded::<NoPadding>(&mut buf)
            .ok()?;
        let pad = *plain.last()? as usize;
        if !(1..=32).contains(&pad) {
            return None;
        }
        let plain = &plain[..plain.len().checked_sub(pad)?];
        let len = u32::from_be_bytes(plain.get(16..20)?.try_into().ok()?) as usize;
        let msg = plain.get(20..20 + len)?;
        let rest = plain.get(20 + len..)?;
        Some((
            String::from_utf8(msg.to_vec()).ok()?,
            String::from_utf8(rest.to_vec()).ok()?,
        ))
    }
}

/// `<![CDATA[…]]>`, splitting any `]]>` inside.
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A fault answered instead of performing the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// `{"errcode": N, "errmsg": …}` with HTTP 200, as WeCom answers (45009, -1, 60020 …).
    Errcode(i64),
    /// An HTTP status without a WeCom answer (a 502 from a gateway).
    Http(u16),
    /// Sleep, then answer normally.
    Delay(Duration),
}

/// A message Gridline sent through `message/send`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    pub msg_id: String,
    pub to_user: String,
    pub msgtype: String,
    /// Text content (as delivered: cut to 2048 bytes), or empty.
    pub text: String,
    /// The whole request body.
    pub body: Value,
    /// Dropped by the per-member limit (not shown to the member).
    pub dropped: bool,
}

impl SentMessage {
    pub fn card_task_id(&self) -> Option<&str> {
        self.body["template_card"]["task_id"].as_str()
    }
    /// (label, key) of every button of a card.
    pub fn card_buttons(&self) -> Vec<(String, String)> {
        self.body["template_card"]["button_list"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                (
                    b["text"].as_str().unwrap_or_default().to_owned(),
                    b["key"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
    /// A media id sent as an image or file.
    pub fn media_id(&self) -> Option<&str> {
        self.body[self.msgtype.as_str()]["media_id"].as_str()
    }
}

/// A card changed after a press.
#[derive(Clone, Debug, PartialEq)]
pub struct CardUpdate {
    pub user_ids: Vec<String>,
    pub response_code: String,
    pub replace_name: Option<String>,
}

/// A file Gridline uploaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Upload {
    pub media_id: String,
    pub kind: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Clone)]
struct StoredMedia {
    bytes: Vec<u8>,
    content_type: String,
    file_name: String,
}

#[derive(Default)]
struct Inner {
    /// Issued tokens and when they expire.
    tokens: HashMap<String, Instant>,
    tokens_issued: u64,
    token_ttl_secs: u64,
    calls: HashMap<String, usize>,
    faults: HashMap<String, VecDeque<Fault>>,
    sent: Vec<SentMessage>,
    updates: Vec<CardUpdate>,
    uploads: Vec<Upload>,
    media: HashMap<String, StoredMedia>,
    menus: Vec<Value>,
    task_ids: HashSet<String>,
    /// Response codes that may update a card once.
    response_codes: HashSet<String>,
    unknown_users: HashSet<String>,
    /// Departures per member, for the per-minute limit.
    per_member: HashMap<String, VecDeque<Instant>>,
    length_violations: u32,
    per_member_violations: u32,
    seq: u64,
}

impl Inner {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

type Shared = Arc<Mutex<Inner>>;

/// The running fake. Dropping it stops the server.
pub struct FakeWecom {
    addr: SocketAddr,
    shared: Shared,
    side: WecomSide,
    http: reqwest::Client,
    callback_url: Mutex<Option<String>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// A callback ready to POST (and to POST again, as WeCom retries).
#[derive(Clone, Debug)]
pub struct Callback {
    /// The decrypted XML.
    pub plain: String,
    /// `msg_signature=…&timestamp=…&nonce=…`.
    pub query: String,
    pub body: String,
    pub msg_id: Option<String>,
}

impl FakeWecom {
    pub async fn start() -> FakeWecom {
        let shared: Shared = Arc::new(Mutex::new(Inner {
            token_ttl_secs: 7200,
            ..Default::default()
        }));
        let app = Router::new()
            .route("/cgi-bin/gettoken", get(gettoken))
            .route("/cgi-bin/message/send", post(message_send))
            .route(
                "/cgi-bin/message/update_template_card",
                post(update_template_card),
            )
            .route("/cgi-bin/media/get", get(media_get))
            .route("/cgi-bin/media/upload", post(media_upload))
            .route("/cgi-bin/menu/create", post(menu_create))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake wecom");
        let addr = listener.local_addr().expect("fake wecom address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeWecom {
            addr,
            shared,
            side: WecomSide::new(TOKEN, AES_KEY, CORP_ID),
            http: reqwest::Client::new(),
            callback_url: Mutex::new(None),
            _shutdown: tx,
        }
    }

    /// What `GRIDLINE_WECOM_API_URL` should be set to.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The app's settings as Gridline is given them, pointing at this fake.
    pub fn config(&self) -> gridline_bot::wecom::WecomConfig {
        gridline_bot::wecom::WecomConfig {
            corp_id: CORP_ID.into(),
            agent_id: AGENT_ID,
            secret: SECRET.into(),
            token: TOKEN.into(),
            aes_key: AES_KEY.into(),
            api_url: self.api_url(),
        }
    }

    pub fn side(&self) -> &WecomSide {
        &self.side
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- WeCom's administration ----

    /// Tokens issued from now on live this long.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().token_ttl_secs = ttl.as_secs().max(1);
    }

    /// Every issued token expires now: the next call with one is answered 42001.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for at in self.lock().tokens.values_mut() {
            *at = now;
        }
    }

    /// WeCom forgets every issued token: the next call with one is answered 40014.
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// `gettoken` calls answered with a token.
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }

    /// Calls of one API (`message/send`, `gettoken` …), faults included.
    pub fn calls(&self, api: &str) -> usize {
        self.lock().calls.get(api).copied().unwrap_or(0)
    }

    /// The next calls of `api` answer with these faults, in order.
    pub fn fail_next(&self, api: &str, faults: impl IntoIterator<Item = Fault>) {
        self.lock()
            .faults
            .entry(api.to_owned())
            .or_default()
            .extend(faults);
    }

    /// Messages to this user id fail as to someone outside the app (81013).
    pub fn forget_user(&self, user_id: &str) {
        self.lock().unknown_users.insert(user_id.to_owned());
    }

    /// A file a member sent, for `media/get`; returns its media id.
    pub fn store_media(&self, bytes: &[u8], content_type: &str, file_name: &str) -> String {
        let mut inner = self.lock();
        let id = format!("MEDIA_{}_{}", inner.next(), "x".repeat(8));
        inner.media.insert(
            id.clone(),
            StoredMedia {
                bytes: bytes.to_vec(),
                content_type: content_type.to_owned(),
                file_name: file_name.to_owned(),
            },
        );
        id
    }

    // ---- what Gridline did ----

    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Messages the member was shown (not dropped by the per-member limit).
    pub fn sent_to(&self, user_id: &str) -> Vec<SentMessage> {
        self.lock()
            .sent
            .iter()
            .filter(|m| m.to_user == user_id && !m.dropped)
            .cloned()
            .collect()
    }

    pub fn card_updates(&self) -> Vec<CardUpdate> {
        self.lock().updates.clone()
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.lock().uploads.clone()
    }

    pub fn menus(&self) -> Vec<Value> {
        self.lock().menus.clone()
    }

    /// Texts longer than WeCom shows (cut).
    pub fn length_violations(&self) -> u32 {
        self.lock().length_violations
    }

    /// Messages beyond 30 a minute to one member (dropped).
    pub fn per_member_violations(&self) -> u32 {
        self.lock().per_member_violations
    }

    /// Waits until `user_id` was shown `n` messages (or panics after `within`).
    pub async fn wait_for_sent(
        &self,
        user_id: &str,
        n: usize,
        within: Duration,
    ) -> Vec<SentMessage> {
        let deadline = Instant::now() + within;
        loop {
            let sent = self.sent_to(user_id);
            if sent.len() >= n {
                return sent;
            }
            assert!(
                Instant::now() < deadline,
                "{user_id} got {} of {n} messages: {sent:?}",
                sent.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // ---- members act: callbacks to Gridline ----

    /// Where callbacks go (Gridline's `/wecom/callback`).
    pub fn set_callback_url(&self, url: &str) {
        *self.callback_url.lock().unwrap() = Some(url.to_owned());
    }

    fn callback_url(&self) -> String {
        self.callback_url
            .lock()
            .unwrap()
            .clone()
            .expect("set_callback_url first")
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn header(user_id: &str, create_time: i64) -> String {
        format!(
            "<ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime>",
            cdata(CORP_ID),
            cdata(user_id)
        )
    }

    /// Encrypts and signs `plain` (a message's XML) as WeCom POSTs it.
    pub fn prepare(&self, plain: &str, msg_id: Option<String>) -> Callback {
        let random: [u8; 16] = rand::random();
        let encrypted = self.side.encrypt(plain, random);
        let timestamp = Self::now().to_string();
        let nonce = rand::random::<u32>().to_string();
        let signature = self.side.sign(&timestamp, &nonce, &encrypted);
        Callback {
            plain: plain.to_owned(),
            query: query(&[
                ("msg_signature", &signature),
                ("timestamp", &timestamp),
                ("nonce", &nonce),
            ]),
            body: format!(
                "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt><AgentID>{}</AgentID></xml>",
                cdata(CORP_ID),
                cdata(&encrypted),
                cdata(&AGENT_ID.to_string())
            ),
            msg_id,
        }
    }

    fn message(&self, user_id: &str, body: &str) -> Callback {
        let msg_id = {
            let mut inner = self.lock();
            format!("{}", 7_303_000_000_000_000_000u64 + inner.next())
        };
        let plain = format!(
            "<xml>{}{body}<MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>",
            Self::header(user_id, Self::now())
        );
        self.prepare(&plain, Some(msg_id))
    }

    fn event(&self, user_id: &str, body: &str) -> Callback {
        let plain = format!(
            "<xml>{}<MsgType>{}</MsgType>{body}<AgentID>{AGENT_ID}</AgentID></xml>",
            Self::header(user_id, Self::now()),
            cdata("event")
        );
        self.prepare(&plain, None)
    }

    pub fn text(&self, user_id: &str, text: &str) -> Callback {
        self.message(
            user_id,
            &format!(
                "<MsgType>{}</MsgType><Content>{}</Content>",
                cdata("text"),
                cdata(text)
            ),
        )
    }

    /// A photo: stored for `media/get`, its media id in the message.
    pub fn image(&self, user_id: &str, jpeg: &[u8]) -> Callback {
        let media_id = self.store_media(jpeg, "image/jpeg", "photo.jpg");
        self.message(
            user_id,
            &format!(
                "<MsgType>{}</MsgType><PicUrl>{}</PicUrl><MediaId>{}</MediaId>",
                cdata("image"),
                cdata("https://wework.qpic.cn/fake/0"),
                cdata(&media_id)
            ),
        )
    }

    pub fn voice(&self, user_id: &str, amr: &[u8]) -> Callback {
        let media_id = self.store_media(amr, "audio/amr", "voice.amr");
        self.message(
            user_id,
            &format!(
                "<MsgType>{}</MsgType><MediaId>{}</MediaId><Format>{}</Format>",
                cdata("voice"),
                cdata(&media_id),
                cdata("amr")
            ),
        )
    }

    pub fn location(&self, user_id: &str, latitude: f64, longitude: f64, label: &str) -> Callback {
        self.message(
            user_id,
            &format!(
                "<MsgType>{}</MsgType><Location_X>{latitude}</Location_X><Location_Y>{longitude}</Location_Y>\
                 <Scale>15</Scale><Label>{}</Label><AppType>{}</AppType>",
                cdata("location"),
                cdata(label),
                cdata("wxwork")
            ),
        )
    }

    pub fn menu_click(&self, user_id: &str, key: &str) -> Callback {
        self.event(
            user_id,
            &format!(
                "<Event>{}</Event><EventKey>{}</EventKey>",
                cdata("click"),
                cdata(key)
            ),
        )
    }

    pub fn enter_agent(&self, user_id: &str) -> Callback {
        self.event(
            user_id,
            &format!(
                "<Event>{}</Event><EventKey>{}</EventKey>",
                cdata("enter_agent"),
                cdata("")
            ),
        )
    }

    /// A press on a card's button; WeCom issues a fresh response code with it (valid for one
    /// `update_template_card`).
    pub fn card_press(&self, user_id: &str, task_id: &str, key: &str) -> Callback {
        let code = {
            let mut inner = self.lock();
            let code = format!("RC-PRESS-{}", inner.next());
            inner.response_codes.insert(code.clone());
            code
        };
        self.event(
            user_id,
            &format!(
                "<Event>{}</Event><EventKey>{}</EventKey><TaskId>{}</TaskId>\
                 <CardType>{}</CardType><ResponseCode>{}</ResponseCode>",
                cdata("template_card_event"),
                cdata(key),
                cdata(task_id),
                cdata("button_interaction"),
                cdata(&code)
            ),
        )
    }

    /// POSTs a callback to Gridline; returns the HTTP status and body.
    pub async fn deliver(&self, callback: &Callback) -> (u16, String) {
        self.post_raw(&callback.query, callback.body.clone()).await
    }

    /// POSTs anything to the callback URL (for forged and broken requests).
    pub async fn post_raw(&self, query: &str, body: String) -> (u16, String) {
        let response = self
            .http
            .post(format!("{}?{query}", self.callback_url()))
            .header(header::CONTENT_TYPE.as_str(), "text/xml")
            .body(body)
            .send()
            .await
            .expect("the callback URL answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The URL verification WeCom makes when the callback URL is saved: returns the HTTP
    /// status, the answer, and the random string the answer must equal.
    pub async fn verify_url(&self) -> (u16, String, String) {
        let expected = format!("{}", rand::random::<u64>());
        let echostr = self.side.encrypt(&expected, rand::random());
        let timestamp = Self::now().to_string();
        let nonce = rand::random::<u32>().to_string();
        let signature = self.side.sign(&timestamp, &nonce, &echostr);
        let (status, body) = self
            .get_raw(&query(&[
                ("msg_signature", &signature),
                ("timestamp", &timestamp),
                ("nonce", &nonce),
                ("echostr", &echostr),
            ]))
            .await;
        (status, body, expected)
    }

    /// GETs the callback URL with `query` (already encoded).
    pub async fn get_raw(&self, query: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}?{query}", self.callback_url()))
            .send()
            .await
            .expect("the callback URL answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

/// `a=1&b=2`, percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

// ---- the API ----

fn answer(errcode: i64, errmsg: &str) -> Response {
    axum::Json(json!({ "errcode": errcode, "errmsg": errmsg })).into_response()
}

/// Counts the call, then applies a queued fault (`Some` answer) or lets it through.
async fn fault(shared: &Shared, api: &str) -> Option<Response> {
    let next = {
        let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
        *inner.calls.entry(api.to_owned()).or_default() += 1;
        inner.faults.get_mut(api).and_then(VecDeque::pop_front)
    };
    match next? {
        Fault::Errcode(code) => Some(answer(
            code,
            match code {
                45009 => "api freq out of limit",
                -1 => "system busy",
                _ => "fault injected",
            },
        )),
        Fault::Http(status) => Some(
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                "bad gateway",
            )
                .into_response(),
        ),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

/// The token check every API but `gettoken` makes: the refusal, if any.
fn token_refusal(shared: &Shared, q: &HashMap<String, String>) -> Option<Response> {
    let inner = shared.lock().unwrap_or_else(|p| p.into_inner());
    match q.get("access_token").filter(|t| !t.is_empty()) {
        None => Some(answer(41001, "access_token missing")),
        Some(t) => match inner.tokens.get(t) {
            None => Some(answer(40014, "invalid access_token")),
            Some(at) if Instant::now() >= *at => Some(answer(42001, "access_token expired")),
            Some(_) => None,
        },
    }
}

async fn gettoken(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = fault(&shared, "gettoken").await {
        return f;
    }
    if q.get("corpid").map(String::as_str) != Some(CORP_ID) {
        return answer(40013, "invalid corpid");
    }
    if q.get("corpsecret").map(String::as_str) != Some(SECRET) {
        return answer(40001, "invalid credential");
    }
    let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
    let n = inner.next();
    let token = format!("FAKE_TOKEN_{n}_{}", rand::random::<u32>());
    let ttl = inner.token_ttl_secs;
    inner
        .tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    inner.tokens_issued += 1;
    axum::Json(json!({
        "errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": ttl
    }))
    .into_response()
}

async fn message_send(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(f) = fault(&shared, "message/send").await {
        return f;
    }
    if let Some(r) = token_refusal(&shared, &q) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return answer(47001, "data format error");
    };
    if body["agentid"].as_i64() != Some(AGENT_ID) {
        return answer(40056, "invalid agentid");
    }
    let Some(to_user) = body["touser"].as_str().map(str::to_owned) else {
        return answer(40003, "invalid userid");
    };
    let msgtype = body["msgtype"].as_str().unwrap_or_default().to_owned();
    let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
    if inner.unknown_users.contains(&to_user) {
        return axum::Json(json!({
            "errcode": 81013, "errmsg": "user & party & tag all invalid", "invaliduser": to_user
        }))
        .into_response();
    }
    let mut text = String::new();
    let mut response_code = None;
    match msgtype.as_str() {
        "text" => {
            let content = body["text"]["content"].as_str().unwrap_or_default();
            if content.is_empty() {
                return answer(44004, "empty content");
            }
            text = content.to_owned();
            if text.len() > TEXT_LIMIT_BYTES {
                inner.length_violations += 1;
                let mut cut = TEXT_LIMIT_BYTES;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
        }
        "template_card" => {
            let card = &body["template_card"];
            let buttons = card["button_list"].as_array().map_or(0, Vec::len);
            if card["card_type"] != "button_interaction" || !(1..=6).contains(&buttons) {
                return answer(40058, "invalid template_card");
            }
            let Some(task_id) = card["task_id"].as_str() else {
                return answer(40058, "task_id missing");
            };
            if !inner.task_ids.insert(task_id.to_owned()) {
                return answer(40058, "task_id duplicated");
            }
            let code = format!("RC-SEND-{}", inner.next());
            inner.response_codes.insert(code.clone());
            response_code = Some(code);
        }
        "image" | "file" => {
            let media = body[msgtype.as_str()]["media_id"]
                .as_str()
                .unwrap_or_default();
            if !inner.uploads.iter().any(|u| u.media_id == media) {
                return answer(40007, "invalid media_id");
            }
        }
        _ => return answer(40008, "invalid message type"),
    }
    // WeCom drops messages beyond 30 a minute to one member, without an error.
    let now = Instant::now();
    let window = inner.per_member.entry(to_user.clone()).or_default();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        window.pop_front();
    }
    let dropped = window.len() >= PER_MEMBER_PER_MINUTE;
    if dropped {
        inner.per_member_violations += 1;
    } else if let Some(w) = inner.per_member.get_mut(&to_user) {
        w.push_back(now);
    }
    let msg_id = format!("MSGID_{}", inner.next());
    inner.sent.push(SentMessage {
        msg_id: msg_id.clone(),
        to_user,
        msgtype,
        text,
        body,
        dropped,
    });
    let mut out = json!({
        "errcode": 0, "errmsg": "ok", "invaliduser": "", "invalidparty": "", "invalidtag": "",
        "unlicenseduser": "", "msgid": msg_id,
    });
    if let Some(code) = response_code {
        out["response_code"] = json!(code);
    }
    axum::Json(out).into_response()
}

async fn update_template_card(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(f) = fault(&shared, "message/update_template_card").await {
        return f;
    }
    if let Some(r) = token_refusal(&shared, &q) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return answer(47001, "data format error");
    };
    if body["agentid"].as_i64() != Some(AGENT_ID) {
        return answer(40056, "invalid agentid");
    }
    let code = body["response_code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
    // A response code works once.
    if !inner.response_codes.remove(&code) {
        return answer(40058, "invalid response_code");
    }
    inner.updates.push(CardUpdate {
        user_ids: body["userids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
        response_code: code,
        replace_name: body["button"]["replace_name"].as_str().map(str::to_owned),
    });
    answer(0, "ok")
}

async fn media_get(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = fault(&shared, "media/get").await {
        return f;
    }
    if let Some(r) = token_refusal(&shared, &q) {
        return r;
    }
    let media = {
        let inner = shared.lock().unwrap_or_else(|p| p.into_inner());
        q.get("media_id")
            .and_then(|id| inner.media.get(id).cloned())
    };
    let Some(m) = media else {
        return answer(40007, "invalid media_id");
    };
    (
        [
            (header::CONTENT_TYPE, m.content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", m.file_name),
            ),
        ],
        m.bytes,
    )
        .into_response()
}

async fn media_upload(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    mut multipart: Multipart,
) -> Response {
    if let Some(f) = fault(&shared, "media/upload").await {
        return f;
    }
    if let Some(r) = token_refusal(&shared, &q) {
        return r;
    }
    let kind = q.get("type").cloned().unwrap_or_default();
    if !["image", "voice", "video", "file"].contains(&kind.as_str()) {
        return answer(40004, "invalid media type");
    }
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() != Some("media") {
            continue;
        }
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let Ok(bytes) = field.bytes().await else {
            return answer(40006, "invalid file size");
        };
        if bytes.len() <= 5 {
            return answer(40006, "invalid file size");
        }
        let mut inner = shared.lock().unwrap_or_else(|p| p.into_inner());
        let media_id = format!("UPLOADED_{}", inner.next());
        inner.uploads.push(Upload {
            media_id: media_id.clone(),
            kind: kind.clone(),
            file_name,
            content_type,
            bytes: bytes.to_vec(),
        });
        return axum::Json(json!({
            "errcode": 0, "errmsg": "", "type": kind, "media_id": media_id,
            "created_at": chrono::Utc::now().timestamp().to_string()
        }))
        .into_response();
    }
    answer(41005, "media data missing")
}

async fn menu_create(
    State(shared): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(f) = fault(&shared, "menu/create").await {
        return f;
    }
    if let Some(r) = token_refusal(&shared, &q) {
        return r;
    }
    if q.get("agentid").and_then(|a| a.parse::<i64>().ok()) != Some(AGENT_ID) {
        return answer(40056, "invalid agentid");
    }
    let Ok(menu) = serde_json::from_slice::<Value>(&body) else {
        return answer(47001, "data format error");
    };
    let top = menu["button"].as_array().map_or(0, Vec::len);
    if !(1..=3).contains(&top) {
        return answer(40017, "invalid button size");
    }
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .menus
        .push(menu);
    answer(0, "ok")
}
