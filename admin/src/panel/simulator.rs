//! The chat simulator: staff pick a roster member in their scope (or a new unbound one) and talk
//! to the bot in a phone-like chat — text, inline and reply-keyboard buttons, a photo, a
//! location, the member's own phone. Every input goes through `gridline_shared::simulator`,
//! which drives the same conversation core as Telegram; this module only renders.
//!
//! Plain forms work without JavaScript (each POST answers with a redirect back to the chat);
//! `static/simulator.js` submits them with `fetch` (header `X-Sim-Fetch: 1`, answered with the
//! chat's HTML fragment) and polls the fragment every 2 s for the bot's queued messages.
//! Off (every route 404, no nav entry) when the `simulator` setting is false.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use gridline_shared::conversation::Keyboard;
use gridline_shared::conversation::runner::RunnerSettings;
use gridline_shared::entity::member;
use gridline_shared::simulator::{self, SimError, SimInput};
use gridline_shared::{areas, inbox};
use serde::Deserialize;

use crate::app::AppState;
use crate::panel::error::PanelError;
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::CurrentUser;
use crate::tr;

/// "Send my location" sends this point: the centre of the demo county (大邑县).
pub const DEMO_LATITUDE: f64 = 30.587_2;
pub const DEMO_LONGITUDE: f64 = 103.521_0;

/// Members listed on the picker at once.
const PICK_LIMIT: u64 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/simulator", get(pick))
        .route("/simulator/new", get(new_member))
        .route("/simulator/{id}", get(chat))
        .route("/simulator/{id}/log", get(log))
        .route("/simulator/{id}/send", post(send))
        .route("/simulator/{id}/photo", post(photo_upload))
        .route("/simulator/{id}/photos/{mid}", get(photo))
}

/// 404 when the simulator is turned off; staff who may act only (it files reports).
fn enabled(state: &AppState, user: &CurrentUser) -> Result<(), PanelError> {
    if !state.settings.simulator_on() {
        return Err(PanelError::NotFound);
    }
    user.require_actor()
}

fn sim_error(e: SimError, locale: &str) -> PanelError {
    match e {
        SimError::NotFound => PanelError::NotFound,
        SimError::Core(c) => c.into(),
        other => match other.i18n_key() {
            Some(key) => PanelError::BadRequest(tr(locale, key)),
            None => PanelError::Internal(other.to_string()),
        },
    }
}

pub struct PickRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub phone: String,
    pub area: String,
    /// `unbound`, `simulated` or `telegram` (bound to a real account: not playable).
    pub binding: &'static str,
    pub binding_label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "simulator_pick.html")]
pub struct PickPage {
    pub page: PageCtx,
    pub q: String,
    pub rows: Vec<PickRow>,
    pub none_unbound: bool,
    pub sim_css: String,
}

#[derive(Deserialize, Default)]
pub struct PickQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    none: Option<String>,
}

fn binding_of(m: &member::Model) -> &'static str {
    match m.telegram_user_id {
        None => "unbound",
        Some(uid) if simulator::is_simulated_chat(uid) => "simulated",
        Some(_) => "telegram",
    }
}

/// GET /simulator: search a member in scope by name or phone, or take a new unbound one.
pub async fn pick(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<PickQuery>,
) -> Result<Response, PanelError> {
    enabled(&state, &user)?;
    let locale = user.locale;
    let q: String = query.q.trim().chars().take(50).collect();
    let members = simulator::search(state.db.conn(), &user.scope(), &q, PICK_LIMIT)
        .await
        .map_err(|e| sim_error(e, locale))?;
    let names = inbox::area_names(
        state.db.conn(),
        members.iter().map(|m| m.area_path.as_str()),
    )
    .await?;
    let rows = members
        .iter()
        .map(|m| {
            let binding = binding_of(m);
            PickRow {
                id: m.id,
                name: m.name.clone(),
                role: m.role.clone(),
                phone: m.phone.clone(),
                area: areas::display_path(&m.area_path, &names),
                binding,
                binding_label: tr(locale, format!("sim.binding.{binding}")),
            }
        })
        .collect();
    let page = PickPage {
        page: user.page(&state, "simulator", "sim.title").await,
        q,
        rows,
        none_unbound: query.none.is_some(),
        sim_css: crate::panel::assets::url("simulator.css"),
    };
    Ok(page.into_response())
}

/// GET /simulator/new: the chat of the first member in scope who never bound.
pub async fn new_member(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Redirect, PanelError> {
    enabled(&state, &user)?;
    let found = simulator::new_unbound(state.db.conn(), &user.scope())
        .await
        .map_err(|e| sim_error(e, user.locale))?;
    Ok(match found {
        Some(m) => Redirect::to(&format!("/simulator/{}", m.id)),
        None => Redirect::to("/simulator?none=1"),
    })
}

pub struct ButtonView {
    pub label: String,
    pub data: String,
}

pub struct MsgView {
    pub id: i64,
    pub from_bot: bool,
    pub kind: String,
    pub body: String,
    pub rows: Vec<Vec<ButtonView>>,
    pub photo_href: Option<String>,
    pub time: String,
    pub queued: bool,
}

/// The reply keyboard under the chat.
pub enum KeyboardView {
    None,
    /// Rows of labels; pressing one sends its text.
    Menu(Vec<Vec<String>>),
    Contact(String),
    Location {
        label: String,
        skip: String,
    },
}

/// The chat's messages and keyboard: the fragment the page includes and the script polls.
pub struct LogView {
    pub locale: &'static str,
    pub member_id: i64,
    pub csrf: String,
    pub messages: Vec<MsgView>,
    pub keyboard: KeyboardView,
    pub lat: String,
    pub lon: String,
}

impl LogView {
    pub fn t(&self, key: &str) -> String {
        tr(self.locale, key)
    }
}

#[derive(Template)]
#[template(path = "simulator_log.html")]
pub struct LogFragment {
    pub log: LogView,
}

#[derive(Template, WebTemplate)]
#[template(path = "simulator.html")]
pub struct ChatPage {
    pub page: PageCtx,
    pub log: LogView,
    pub member_id: i64,
    pub name: String,
    pub role: String,
    pub phone: String,
    pub area: String,
    pub binding: &'static str,
    pub binding_label: String,
    pub bind_code: String,
    pub start_text: String,
    pub error: Option<String>,
    pub sim_css: String,
    pub sim_js: String,
    pub max_mb: String,
}

async fn log_view(
    state: &AppState,
    user: &CurrentUser,
    member_id: i64,
) -> Result<LogView, PanelError> {
    let locale = user.locale;
    // The simulator is the messenger of the chat's queued messages: show what is due.
    let now = Utc::now();
    simulator::pull_outbox(&state.db, &user.scope(), member_id, now)
        .await
        .map_err(|e| sim_error(e, locale))?;
    let tr_ = simulator::transcript(state.db.conn(), &user.scope(), member_id)
        .await
        .map_err(|e| sim_error(e, locale))?;
    let offset = gridline_shared::holidays::county_offset();
    let messages = tr_
        .messages
        .into_iter()
        .map(|m| MsgView {
            photo_href: m
                .has_photo
                .then(|| format!("/simulator/{member_id}/photos/{}", m.id)),
            rows: m
                .buttons
                .into_iter()
                .map(|row| {
                    row.into_iter()
                        .map(|b| ButtonView {
                            label: b.label,
                            data: b.data,
                        })
                        .collect()
                })
                .collect(),
            id: m.id,
            from_bot: m.from_bot,
            kind: m.kind,
            body: m.body,
            time: m.at.with_timezone(&offset).format("%H:%M").to_string(),
            queued: m.queued,
        })
        .collect();
    let keyboard = match tr_.keyboard {
        Keyboard::Menu { rows } => KeyboardView::Menu(rows),
        Keyboard::RequestContact { label } => KeyboardView::Contact(label),
        Keyboard::RequestLocation { label, skip } => KeyboardView::Location { label, skip },
        Keyboard::None | Keyboard::Inline { .. } | Keyboard::Remove => KeyboardView::None,
    };
    Ok(LogView {
        locale,
        member_id,
        csrf: user.csrf().to_owned(),
        messages,
        keyboard,
        lat: DEMO_LATITUDE.to_string(),
        lon: DEMO_LONGITUDE.to_string(),
    })
}

#[derive(Deserialize, Default)]
pub struct ChatQuery {
    #[serde(default)]
    err: Option<String>,
}

/// The refusals a redirect may name (`?err=`), so a link cannot put arbitrary text on the page.
const ERROR_CODES: &[&str] = &[
    "empty",
    "too_long",
    "not_image",
    "stale_button",
    "real_account",
];

/// GET /simulator/{id}: the phone.
pub async fn chat(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(query): Query<ChatQuery>,
) -> Result<Response, PanelError> {
    enabled(&state, &user)?;
    let locale = user.locale;
    let m = simulator::member_in_scope(state.db.conn(), &user.scope(), id)
        .await
        .map_err(|e| sim_error(e, locale))?;
    let names = inbox::area_names(state.db.conn(), [m.area_path.as_str()]).await?;
    let binding = binding_of(&m);
    let log = log_view(&state, &user, m.id).await?;
    let error = query
        .err
        .filter(|c| ERROR_CODES.contains(&c.as_str()))
        .map(|c| tr(locale, format!("sim.error.{c}")))
        .or_else(|| (binding == "telegram").then(|| tr(locale, "sim.error.real_account")));
    let max_mb = format!(
        "{:.0}",
        state.settings.max_file_bytes as f64 / (1024.0 * 1024.0)
    );
    let page = ChatPage {
        page: user.page(&state, "simulator", "sim.title").await,
        log,
        member_id: m.id,
        area: areas::display_path(&m.area_path, &names),
        binding,
        binding_label: tr(locale, format!("sim.binding.{binding}")),
        start_text: format!("/start {}", m.bind_code),
        bind_code: m.bind_code,
        name: m.name,
        role: m.role,
        phone: m.phone,
        error,
        sim_css: crate::panel::assets::url("simulator.css"),
        sim_js: crate::panel::assets::url("simulator.js"),
        max_mb,
    };
    Ok(page.into_response())
}

fn fetch_mode(headers: &HeaderMap) -> bool {
    headers.get("x-sim-fetch").is_some()
}

async fn fragment(state: &AppState, user: &CurrentUser, id: i64) -> Result<Response, PanelError> {
    let html = LogFragment {
        log: log_view(state, user, id).await?,
    }
    .render()?;
    Ok(Html(html).into_response())
}

/// GET /simulator/{id}/log: the chat fragment (the script polls it).
pub async fn log(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    enabled(&state, &user)?;
    fragment(&state, &user, id).await
}

/// After an input: the fragment (script) or back to the chat (plain form); a refusal is a
/// message (script: the status and text; plain form: `?err=`).
async fn answer(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    fetch: bool,
    result: Result<(), SimError>,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    match result {
        Ok(()) if fetch => fragment(state, user, id).await,
        Ok(()) => Ok(Redirect::to(&format!("/simulator/{id}")).into_response()),
        Err(SimError::NotFound) => Err(PanelError::NotFound),
        Err(SimError::Core(c)) => Err(c.into()),
        Err(e) => {
            let key = e.i18n_key().unwrap_or("panel.error.internal");
            if fetch {
                // HTML (the panel turns other client errors into its error page).
                let text = gridline_shared::text::escape_html(&tr(locale, key));
                Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Html(format!("<p class=\"sim-refusal\">{text}</p>")),
                )
                    .into_response())
            } else {
                let code = key.rsplit('.').next().unwrap_or("empty");
                Ok(Redirect::to(&format!("/simulator/{id}?err={code}")).into_response())
            }
        }
    }
}

fn runner_settings(state: &AppState) -> RunnerSettings {
    RunnerSettings {
        max_file_bytes: state.settings.max_file_bytes,
    }
}

async fn perform(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    input: SimInput,
) -> Result<(), SimError> {
    simulator::send(
        &state.db,
        &user.actor(),
        id,
        input,
        &runner_settings(state),
        user.locale,
        user.ip(),
        Utc::now(),
    )
    .await
}

/// POST /simulator/{id}/send: `action` = `text` (`text`), `press` (`message_id`, `data`),
/// `location` (`lat`, `lon`) or `contact`.
pub async fn send(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PanelError> {
    enabled(&state, &user)?;
    let form = FormData::parse(&body);
    let fetch = fetch_mode(&headers);
    let input = match form.get("action").unwrap_or("text") {
        "press" => {
            let message_id = form
                .get("message_id")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            SimInput::Press {
                message_id,
                data: form.raw("data").to_owned(),
            }
        }
        "location" => {
            let num = |k: &str| form.get(k).and_then(|s| s.trim().parse::<f64>().ok());
            SimInput::Location {
                latitude: num("lat").unwrap_or(f64::NAN),
                longitude: num("lon").unwrap_or(f64::NAN),
            }
        }
        "contact" => SimInput::Contact,
        _ => SimInput::Text(form.raw("text").to_owned()),
    };
    let result = perform(&state, &user, id, input).await;
    answer(&state, &user, id, fetch, result).await
}

/// POST /simulator/{id}/photo (multipart: `file`, optional `caption`).
pub async fn photo_upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    mut mp: Multipart,
) -> Result<Response, PanelError> {
    enabled(&state, &user)?;
    let locale = user.locale;
    let fetch = fetch_mode(&headers);
    let bad = || PanelError::BadRequest(tr(locale, "sim.error.bad_form"));
    let mut bytes = Vec::new();
    let mut caption = None;
    while let Some(field) = mp.next_field().await.map_err(|_| bad())? {
        match field.name().unwrap_or("") {
            "file" => {
                bytes = field
                    .bytes()
                    .await
                    .map_err(|_| PanelError::TooLarge)?
                    .to_vec()
            }
            "caption" => {
                let c: String = field
                    .text()
                    .await
                    .map_err(|_| bad())?
                    .chars()
                    .filter(|ch| !ch.is_control() || matches!(ch, '\t' | '\n' | '\r'))
                    .collect();
                caption = Some(c).filter(|c| !c.trim().is_empty());
            }
            _ => {}
        }
    }
    let result = perform(&state, &user, id, SimInput::Photo { bytes, caption }).await;
    answer(&state, &user, id, fetch, result).await
}

/// GET /simulator/{id}/photos/{mid}: a photo the member sent in the chat.
pub async fn photo(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, mid)): Path<(i64, i64)>,
) -> Result<Response, PanelError> {
    enabled(&state, &user)?;
    let (mime, data) = simulator::photo(state.db.conn(), &user.scope(), id, mid)
        .await
        .map_err(|e| sim_error(e, user.locale))?;
    Ok(([(header::CONTENT_TYPE, mime)], data).into_response())
}
