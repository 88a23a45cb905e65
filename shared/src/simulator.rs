//! The chat simulator: staff talk to the bot as a roster member, in the panel, through the same
//! conversation core as Telegram ([`runner::handle`]). Nothing here knows the panel; it is a
//! second adapter beside the Telegram one.
//!
//! - A simulated chat is a chat id Telegram never uses: [`SIMULATED_CHAT_BASE`] (2^53) plus the
//!   member's id; its user id is the same number (as in Telegram's private chats). A member is
//!   simulated when they are unbound (they bind in the simulator, by code or shared phone) or
//!   were bound in the simulator; a member bound to a real Telegram account is never played.
//! - What a simulated chat files is marked `simulated` (the report, its timeline events, the
//!   outbox rows to simulated chats). The delivery worker never claims outbox rows of simulated
//!   chats; the simulator pulls them into the chat's transcript and marks them sent.
//! - The transcript (`simulator_messages`) keeps both sides with their buttons, so a press on
//!   an older message edits it as Telegram would. A photo keeps its bytes there until the
//!   report is filed; the runner then copies them into `attachments` (see [`file_bytes`]).
//! - One chat's inputs are handled in order (a lock per chat, as the Telegram adapter does).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::conversation::runner::{self, ChatLocks, Incoming, Reply, RunnerSettings};
use crate::conversation::{Button, FileKind, FileRef, Input, Keyboard, parse_text};
use crate::db::Db;
use crate::domain::{MemberStatus, OutboxStatus};
use crate::entity::{member, outbox, simulator_message};
use crate::error::CoreError;
use crate::lifecycle::StaffActor;
use crate::outbox::OutgoingMessage;
use crate::scope::Scope;

/// The first simulated chat id: 2^53. Telegram's chat and user ids stay below 2^52 (and
/// negative for groups), so no real chat is ever in this range.
pub const SIMULATED_CHAT_BASE: i64 = 1 << 53;

/// Update ids of simulated inputs start here (Telegram's are 32-bit).
const UPDATE_BASE: i64 = 1 << 53;

/// The `file_id` prefix of a photo uploaded in the simulator (`sim:<message id>`).
pub const FILE_PREFIX: &str = "sim:";

/// Telegram's limit for one message's text; longer texts are refused as Telegram would.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Messages of a transcript shown at once (the newest).
pub const TRANSCRIPT_LIMIT: u64 = 300;

/// Whether a chat id is a simulated chat.
pub fn is_simulated_chat(chat_id: i64) -> bool {
    chat_id >= SIMULATED_CHAT_BASE
}

/// The simulated chat (and user) id of a member.
pub fn chat_of_member(member_id: i64) -> i64 {
    SIMULATED_CHAT_BASE.saturating_add(member_id)
}

/// Why the simulator refused an input (the panel says it in the user's language).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No such member, or outside the staff user's scope (the same on purpose).
    #[error("not found")]
    NotFound,
    /// The member is bound to a real Telegram account: the simulator never speaks for them.
    #[error("member is bound to a real Telegram account")]
    RealAccount,
    /// An empty message (nothing typed, an empty file).
    #[error("empty input")]
    Empty,
    /// Longer than Telegram allows.
    #[error("text longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
    /// The upload is not a JPEG, PNG, GIF or WebP picture.
    #[error("not an image")]
    NotImage,
    /// A button that is not (any more) on that message.
    #[error("stale button")]
    StaleButton,
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<DbErr> for SimError {
    fn from(e: DbErr) -> Self {
        SimError::Core(CoreError::Db(e))
    }
}

impl SimError {
    /// The i18n key of the message shown for this refusal (`None`: a server error).
    pub fn i18n_key(&self) -> Option<&'static str> {
        Some(match self {
            SimError::NotFound => "sim.error.not_found",
            SimError::RealAccount => "sim.error.real_account",
            SimError::Empty => "sim.error.empty",
            SimError::TooLong => "sim.error.too_long",
            SimError::NotImage => "sim.error.not_image",
            SimError::StaleButton => "sim.error.stale_button",
            SimError::Core(_) => return None,
        })
    }
}

/// What the user does in a simulated chat.
#[derive(Clone, Debug, PartialEq)]
pub enum SimInput {
    /// Typed text (`/cmd arg` is a command, as in Telegram).
    Text(String),
    /// An inline button on the bot's message `message_id` (a transcript id).
    Press {
        message_id: i64,
        data: String,
    },
    /// A photo with an optional caption.
    Photo {
        bytes: Vec<u8>,
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
    /// The member's own phone from the roster (the share-phone button).
    Contact,
}

impl SimInput {
    fn kind(&self) -> &'static str {
        match self {
            SimInput::Text(_) => "text",
            SimInput::Press { .. } => "press",
            SimInput::Photo { .. } => "photo",
            SimInput::Location { .. } => "location",
            SimInput::Contact => "contact",
        }
    }
}

/// One message of a transcript, as the panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimMessage {
    pub id: i64,
    pub from_bot: bool,
    /// `text`, `photo`, `location`, `contact`, `press`, `toast`.
    pub kind: String,
    pub body: String,
    /// Inline buttons under the message.
    pub buttons: Vec<Vec<Button>>,
    pub report_id: Option<i64>,
    /// Queued by the core (a report update, a task card, a notice) rather than a direct reply.
    pub queued: bool,
    /// A photo whose bytes are stored (served by [`photo`]).
    pub has_photo: bool,
    pub at: DateTime<Utc>,
}

/// A chat as the phone shows it: the messages and the reply keyboard in force.
#[derive(Clone, Debug, PartialEq)]
pub struct Transcript {
    pub messages: Vec<SimMessage>,
    pub keyboard: Keyboard,
}

/// Whether the simulator may speak for this member: unbound, or bound in the simulator.
pub fn playable(m: &member::Model) -> bool {
    match m.telegram_user_id {
        None => true,
        Some(uid) => is_simulated_chat(uid),
    }
}

/// A member inside `scope` (else [`SimError::NotFound`]).
pub async fn member_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
    member_id: i64,
) -> Result<member::Model, SimError> {
    member::Entity::find_by_id(member_id)
        .filter(scope.condition(member::Column::AreaPath))
        .one(db)
        .await?
        .ok_or(SimError::NotFound)
}

/// Members in scope who have not left, whose name or phone contains `query` (all when blank),
/// by id.
pub async fn search(
    db: &impl ConnectionTrait,
    scope: &Scope,
    query: &str,
    limit: u64,
) -> Result<Vec<member::Model>, SimError> {
    let mut q = member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .filter(member::Column::Status.ne(MemberStatus::Left));
    let query = query.trim();
    if !query.is_empty() {
        q = q.filter(
            Condition::any()
                .add(member::Column::Name.contains(query))
                .add(member::Column::Phone.contains(query)),
        );
    }
    Ok(q.order_by_asc(member::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// A member in scope who never bound (the first by id), to play a new grid leader.
pub async fn new_unbound(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> Result<Option<member::Model>, SimError> {
    Ok(member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .filter(member::Column::Status.ne(MemberStatus::Left))
        .filter(member::Column::TelegramUserId.is_null())
        .order_by_asc(member::Column::Id)
        .one(db)
        .await?)
}

fn chat_locks() -> &'static ChatLocks {
    static LOCKS: OnceLock<ChatLocks> = OnceLock::new();
    LOCKS.get_or_init(ChatLocks::default)
}

/// The picture format of `bytes` by its signature, if it is one the panel shows.
pub fn image_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Staff command: handles one input of a simulated chat — in order with the chat's other
/// inputs, through the conversation core — then records the bot's replies and pulls the
/// chat's queued messages. The audit line (the kind of input only: what was typed may hold
/// personal data) is written with the input. Staff who may act only.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &Db,
    actor: &StaffActor,
    member_id: i64,
    input: SimInput,
    settings: &RunnerSettings,
    language_code: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    crate::staff::require_can_act(actor)?;
    let staff_user_id = actor.id;
    let m = member_in_scope(db.conn(), &actor.scope, member_id).await?;
    if !playable(&m) {
        return Err(SimError::RealAccount);
    }
    let chat_id = chat_of_member(m.id);
    check(&input)?;
    let _turn = chat_locks().lock(chat_id).await;
    // What the user did goes into the transcript first: its id is the message id.
    let txn = db.write().await?;
    let mut pressed: Option<i64> = None;
    let (body, mime, data) = match &input {
        SimInput::Text(t) => (t.clone(), None, None),
        SimInput::Press { message_id, data } => {
            let label = pressed_button(&*txn, chat_id, *message_id, data)
                .await?
                .ok_or(SimError::StaleButton)?;
            pressed = Some(*message_id);
            (label, None, None)
        }
        SimInput::Photo { bytes, caption } => {
            let too_big = bytes.len() as u64 > settings.max_file_bytes;
            (
                caption.clone().unwrap_or_default(),
                image_mime(bytes).map(str::to_owned),
                // A file over the limit is refused by the core, as in Telegram: not kept.
                (!too_big).then(|| bytes.clone()),
            )
        }
        SimInput::Location {
            latitude,
            longitude,
        } => (format!("{latitude:.5}, {longitude:.5}"), None, None),
        SimInput::Contact => (m.phone.clone(), None, None),
    };
    let row = simulator_message::ActiveModel {
        chat_id: Set(chat_id),
        member_id: Set(Some(m.id)),
        sender: Set("user".into()),
        kind: Set(input.kind().into()),
        body: Set(body),
        keyboard: Set(keyboard_json(&Keyboard::None)),
        report_id: Set(None),
        outbox_id: Set(None),
        mime: Set(mime.clone()),
        data: Set(data),
        staff_user_id: Set(Some(staff_user_id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let target = Some(AuditTarget::Member(m.id));
    let kind = Some(input.kind());
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::SimulatorInput,
        target,
        kind,
        ip,
    )
    .await?;
    txn.commit().await?;

    let core_input = match input {
        SimInput::Text(t) => parse_text(&t),
        SimInput::Press { data, .. } => Input::Callback { data },
        SimInput::Photo { bytes, caption } => Input::File {
            file: FileRef {
                kind: FileKind::Photo,
                file_id: format!("{FILE_PREFIX}{}", row.id),
                unique_id: format!("{FILE_PREFIX}{}", row.id),
                size: Some(bytes.len() as u64),
                mime,
                file_name: None,
            },
            caption: caption.filter(|c| !c.trim().is_empty()),
        },
        SimInput::Location {
            latitude,
            longitude,
        } => Input::Location {
            latitude,
            longitude,
        },
        SimInput::Contact => Input::Contact {
            phone: m.phone.clone(),
            is_own: true,
        },
    };
    let incoming = Incoming {
        update_id: UPDATE_BASE.saturating_add(row.id),
        chat_id,
        private: true,
        user_id: Some(chat_id),
        message_id: pressed.is_none().then_some(row.id),
        reply_to: None,
        reply_to_report: None,
        language_code: Some(language_code.to_owned()),
        input: core_input,
    };
    let outcome = runner::handle(db, incoming, settings, now).await?;
    if !outcome.duplicate {
        record_replies(db, m.id, chat_id, pressed, outcome.replies, now).await?;
    }
    pull_chat(db, chat_id, now).await?;
    Ok(())
}

fn check(input: &SimInput) -> Result<(), SimError> {
    match input {
        SimInput::Text(t) => {
            if t.trim().is_empty() {
                return Err(SimError::Empty);
            }
            if t.chars().count() > MAX_TEXT_CHARS {
                return Err(SimError::TooLong);
            }
        }
        SimInput::Photo { bytes, caption } => {
            if bytes.is_empty() {
                return Err(SimError::Empty);
            }
            if image_mime(bytes).is_none() {
                return Err(SimError::NotImage);
            }
            if caption
                .as_ref()
                .is_some_and(|c| c.chars().count() > MAX_TEXT_CHARS)
            {
                return Err(SimError::TooLong);
            }
        }
        SimInput::Location {
            latitude,
            longitude,
        } => {
            if !(latitude.is_finite()
                && longitude.is_finite()
                && (-90.0..=90.0).contains(latitude)
                && (-180.0..=180.0).contains(longitude))
            {
                return Err(SimError::Empty);
            }
        }
        SimInput::Press { data, .. } => {
            if data.is_empty() {
                return Err(SimError::StaleButton);
            }
        }
        SimInput::Contact => {}
    }
    Ok(())
}

fn keyboard_json(k: &Keyboard) -> String {
    serde_json::to_string(k).unwrap_or_else(|_| "{\"type\":\"none\"}".to_owned())
}

fn keyboard_of(json: &str) -> Keyboard {
    serde_json::from_str(json).unwrap_or(Keyboard::None)
}

/// The label of the inline button `data` on the bot's message `message_id` of this chat.
async fn pressed_button(
    db: &impl ConnectionTrait,
    chat_id: i64,
    message_id: i64,
    data: &str,
) -> Result<Option<String>, SimError> {
    let Some(msg) = simulator_message::Entity::find_by_id(message_id)
        .filter(simulator_message::Column::ChatId.eq(chat_id))
        .filter(simulator_message::Column::Sender.eq("bot"))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(match keyboard_of(&msg.keyboard) {
        Keyboard::Inline { rows } => rows
            .into_iter()
            .flatten()
            .find(|b| b.data == data)
            .map(|b| b.label),
        _ => None,
    })
}

fn bot_row(
    member_id: i64,
    chat_id: i64,
    kind: &str,
    body: String,
    keyboard: &Keyboard,
    report_id: Option<i64>,
    now: DateTime<Utc>,
) -> simulator_message::ActiveModel {
    simulator_message::ActiveModel {
        chat_id: Set(chat_id),
        member_id: Set(Some(member_id)),
        sender: Set("bot".into()),
        kind: Set(kind.into()),
        body: Set(body),
        keyboard: Set(keyboard_json(keyboard)),
        report_id: Set(report_id),
        outbox_id: Set(None),
        mime: Set(None),
        data: Set(None),
        staff_user_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Performs the core's replies on the transcript (what the Telegram adapter does with the Bot
/// API), in one transaction.
async fn record_replies(
    db: &Db,
    member_id: i64,
    chat_id: i64,
    pressed: Option<i64>,
    replies: Vec<Reply>,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    let txn = db.write().await?;
    let mut answered = false;
    for reply in replies {
        match reply {
            Reply::Send {
                text,
                keyboard,
                report_id,
            } => {
                bot_row(member_id, chat_id, "text", text, &keyboard, report_id, now)
                    .insert(&*txn)
                    .await?;
            }
            Reply::Answer(text) => {
                // A button press gets one answer; a toast shows briefly under the chat.
                if let (Some(t), false) = (text, answered) {
                    bot_row(member_id, chat_id, "toast", t, &Keyboard::None, None, now)
                        .insert(&*txn)
                        .await?;
                }
                answered = true;
            }
            Reply::Edit { text, keyboard } => {
                if let Some(id) = pressed {
                    // An edit keeps inline buttons only; anything else leaves none.
                    let keyboard = match keyboard {
                        k @ Keyboard::Inline { .. } => k,
                        _ => Keyboard::None,
                    };
                    update_pressed(&*txn, chat_id, id, Some(text), keyboard, now).await?;
                }
            }
            Reply::ClearButtons => {
                if let Some(id) = pressed {
                    update_pressed(&*txn, chat_id, id, None, Keyboard::None, now).await?;
                }
            }
            Reply::ReplaceButtons(rows) => {
                if let Some(id) = pressed {
                    let k = Keyboard::Inline { rows };
                    update_pressed(&*txn, chat_id, id, None, k, now).await?;
                }
            }
        }
    }
    txn.commit().await?;
    Ok(())
}

async fn update_pressed(
    db: &impl ConnectionTrait,
    chat_id: i64,
    id: i64,
    text: Option<String>,
    keyboard: Keyboard,
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    let mut q = simulator_message::Entity::update_many()
        .col_expr(
            simulator_message::Column::Keyboard,
            Expr::value(keyboard_json(&keyboard)),
        )
        .col_expr(simulator_message::Column::UpdatedAt, Expr::value(now));
    if let Some(t) = text {
        q = q.col_expr(simulator_message::Column::Body, Expr::value(t));
    }
    q.filter(simulator_message::Column::Id.eq(id))
        .filter(simulator_message::Column::ChatId.eq(chat_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves the due queued messages (report updates, task cards, notices) of the simulated chat of
/// a member in `scope` into the transcript and marks them sent — the simulator is their
/// messenger. Returns how many. The scope is checked first: a member outside it is
/// [`SimError::NotFound`] and nothing of theirs changes.
pub async fn pull_outbox(
    db: &Db,
    scope: &Scope,
    member_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, SimError> {
    let m = member_in_scope(db.conn(), scope, member_id).await?;
    pull_chat(db, chat_of_member(m.id), now).await
}

/// [`pull_outbox`] for a chat already checked.
async fn pull_chat(db: &Db, chat_id: i64, now: DateTime<Utc>) -> Result<usize, SimError> {
    if !is_simulated_chat(chat_id) {
        return Ok(0);
    }
    let due = || {
        outbox::Entity::find()
            .filter(outbox::Column::ChatId.eq(chat_id))
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
            .filter(outbox::Column::NotBefore.lte(now))
            .order_by_asc(outbox::Column::Id)
    };
    // Most polls find nothing: look before taking the write lock.
    if due().one(db.conn()).await?.is_none() {
        return Ok(0);
    }
    let txn = db.write().await?;
    let rows = due().all(&*txn).await?;
    show_queued(&*txn, &rows, now).await?;
    txn.commit().await?;
    Ok(rows.len())
}

/// What [`pull_outbox`] does, for every simulated chat at once (in transactions of a few hundred
/// messages): the demo's seeding delivers its messages this way. Returns how many.
pub async fn pull_all_due(db: &Db, now: DateTime<Utc>) -> Result<usize, SimError> {
    let mut total = 0;
    loop {
        let txn = db.write().await?;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::ChatId.gte(SIMULATED_CHAT_BASE))
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
            .filter(outbox::Column::NotBefore.lte(now))
            .order_by_asc(outbox::Column::Id)
            .limit(500)
            .all(&*txn)
            .await?;
        if rows.is_empty() {
            return Ok(total);
        }
        show_queued(&*txn, &rows, now).await?;
        txn.commit().await?;
        total += rows.len();
    }
}

/// Shows queued messages of simulated chats in their transcripts and marks them sent.
async fn show_queued(
    txn: &impl ConnectionTrait,
    rows: &[outbox::Model],
    now: DateTime<Utc>,
) -> Result<(), SimError> {
    for row in rows {
        let msg = row.message().unwrap_or_else(|| OutgoingMessage::text(""));
        let html = serde_json::from_str::<serde_json::Value>(&row.payload)
            .ok()
            .and_then(|v| v.get("html").and_then(serde_json::Value::as_bool))
            .unwrap_or(false);
        let text = if html {
            plain_text(&msg.text)
        } else {
            msg.text
        };
        let keyboard = if msg.buttons.is_empty() {
            Keyboard::None
        } else {
            Keyboard::Inline { rows: msg.buttons }
        };
        let mut shown = bot_row(
            row.member_id.unwrap_or(row.chat_id - SIMULATED_CHAT_BASE),
            row.chat_id,
            "text",
            text,
            &keyboard,
            row.report_id,
            now,
        );
        shown.outbox_id = Set(Some(row.id));
        let shown = shown.insert(txn).await?;
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Sent))
            .col_expr(outbox::Column::SentAt, Expr::value(now))
            .col_expr(outbox::Column::TelegramMessageId, Expr::value(shown.id))
            .col_expr(outbox::Column::Simulated, Expr::value(true))
            .filter(outbox::Column::Id.eq(row.id))
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// A notice's HTML as plain text (tags dropped, the five entities decoded).
fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The chat's transcript (the newest [`TRANSCRIPT_LIMIT`] messages, oldest first) and the
/// reply keyboard in force, for a member in `scope`.
pub async fn transcript(
    db: &impl ConnectionTrait,
    scope: &Scope,
    member_id: i64,
) -> Result<Transcript, SimError> {
    let m = member_in_scope(db, scope, member_id).await?;
    let chat_id = chat_of_member(m.id);
    let mut rows = simulator_message::Entity::find()
        .select_only()
        .columns([
            simulator_message::Column::Id,
            simulator_message::Column::Sender,
            simulator_message::Column::Kind,
            simulator_message::Column::Body,
            simulator_message::Column::Keyboard,
            simulator_message::Column::ReportId,
            simulator_message::Column::OutboxId,
            simulator_message::Column::Mime,
            simulator_message::Column::CreatedAt,
        ])
        .expr_as(
            Expr::col(simulator_message::Column::Data).is_not_null(),
            "has_data",
        )
        .filter(simulator_message::Column::ChatId.eq(chat_id))
        .order_by_desc(simulator_message::Column::Id)
        .limit(TRANSCRIPT_LIMIT)
        .into_tuple::<(
            i64,
            String,
            String,
            String,
            String,
            Option<i64>,
            Option<i64>,
            Option<String>,
            DateTime<Utc>,
            bool,
        )>()
        .all(db)
        .await?;
    rows.reverse();
    let mut keyboard = Keyboard::None;
    let mut messages = Vec::with_capacity(rows.len());
    for (id, sender, kind, body, kb, report_id, outbox_id, _mime, at, has_data) in rows {
        let from_bot = sender == "bot";
        let kb = keyboard_of(&kb);
        let buttons = match &kb {
            Keyboard::Inline { rows } => rows.clone(),
            _ => Vec::new(),
        };
        if from_bot {
            match &kb {
                Keyboard::Menu { .. }
                | Keyboard::RequestContact { .. }
                | Keyboard::RequestLocation { .. } => keyboard = kb.clone(),
                Keyboard::Remove => keyboard = Keyboard::None,
                Keyboard::None | Keyboard::Inline { .. } => {}
            }
        }
        messages.push(SimMessage {
            id,
            from_bot,
            kind,
            body,
            buttons,
            report_id,
            queued: outbox_id.is_some(),
            has_photo: has_data,
            at,
        });
    }
    Ok(Transcript { messages, keyboard })
}

/// The bytes and type of a photo the user sent in a simulated chat of a member in `scope`.
pub async fn photo(
    db: &impl ConnectionTrait,
    scope: &Scope,
    member_id: i64,
    message_id: i64,
) -> Result<(String, Vec<u8>), SimError> {
    let m = member_in_scope(db, scope, member_id).await?;
    let row = simulator_message::Entity::find_by_id(message_id)
        .filter(simulator_message::Column::ChatId.eq(chat_of_member(m.id)))
        .one(db)
        .await?
        .ok_or(SimError::NotFound)?;
    match (row.mime, row.data) {
        (Some(mime), Some(data)) => Ok((mime, data)),
        _ => Err(SimError::NotFound),
    }
}

/// The stored bytes (and type) of a photo uploaded in simulated chat `chat_id`, by its
/// `sim:<id>` file id — the runner copies them into the report's attachment.
pub async fn file_bytes(
    db: &impl ConnectionTrait,
    chat_id: i64,
    file_id: &str,
) -> Result<Option<(Option<String>, Vec<u8>)>, DbErr> {
    let Some(id) = file_id
        .strip_prefix(FILE_PREFIX)
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    if !is_simulated_chat(chat_id) {
        return Ok(None);
    }
    Ok(simulator_message::Entity::find_by_id(id)
        .filter(simulator_message::Column::ChatId.eq(chat_id))
        .one(db)
        .await?
        .and_then(|r| r.data.map(|d| (r.mime, d))))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chat_range() {
        assert!(!is_simulated_chat(123_456_789));
        assert!(!is_simulated_chat(-1_001_234_567_890));
        assert!(!is_simulated_chat((1 << 52) - 1));
        assert!(is_simulated_chat(chat_of_member(1)));
        assert_eq!(chat_of_member(7) - SIMULATED_CHAT_BASE, 7);
    }

    #[test]
    fn image_signatures() {
        assert_eq!(image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_mime(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_mime(b"GIF89a..."), Some("image/gif"));
        assert_eq!(image_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_mime(b"%PDF-1.7"), None);
        assert_eq!(image_mime(b""), None);
    }

    #[test]
    fn html_as_plain_text() {
        assert_eq!(plain_text("<b>停水</b> &amp; 通知"), "停水 & 通知");
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            check(&SimInput::Text("  ".into())),
            Err(SimError::Empty)
        ));
        assert!(matches!(
            check(&SimInput::Photo {
                bytes: b"%PDF".to_vec(),
                caption: None
            }),
            Err(SimError::NotImage)
        ));
        assert!(matches!(
            check(&SimInput::Location {
                latitude: f64::NAN,
                longitude: 1.0
            }),
            Err(SimError::Empty)
        ));
        assert!(check(&SimInput::Contact).is_ok());
    }
}
