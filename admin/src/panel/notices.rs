//! Notice pages: list, compose (audience with the recipient count before sending, batches,
//! schedule, reminder, attachment), detail with a live progress bar per batch (refreshed by
//! `static/notices.js`, or by reloading), pause / resume / cancel / remind / resend uncertain,
//! batch times, and the recipient list with its CSV export. Decisions and audit lines are in
//! `gridline_shared::notices`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use gridline_shared::domain::{AreaLevel, NoticeStatus};
use gridline_shared::entity::notice;
use gridline_shared::holidays::county_offset;
use gridline_shared::notices::{
    self, Attachment, Audience, AudienceCount, BatchMode, BatchPlan, DeliveryCounts, NewNotice,
};
use gridline_shared::{CoreError, areas, members};

use crate::app::AppState;
use crate::panel::error::PanelError;
use crate::panel::forms::FormData;
use crate::panel::layout::{Opt, PageCtx, local_time, local_time_opt};
use crate::panel::session::CurrentUser;
use crate::tr;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/notices", get(list))
        .route("/notices/new", get(new_form).post(create))
        .route("/notices/{id}", get(detail))
        .route("/notices/{id}/progress", get(progress))
        .route("/notices/{id}/recipients.csv", get(csv))
        .route("/notices/{id}/reminder", post(set_reminder))
        .route("/notices/{id}/batches/{bid}", post(set_batch_time))
        .route("/notices/{id}/do/{action}", post(act))
}

pub struct ListRow {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub status_code: String,
    pub created: String,
    pub counts: DeliveryCounts,
}

#[derive(Template, WebTemplate)]
#[template(path = "notices.html")]
pub struct ListPage {
    pub page: PageCtx,
    pub rows: Vec<ListRow>,
    pub can_send: bool,
    pub next_href: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "notice_new.html")]
pub struct NewPage {
    pub page: PageCtx,
    pub title: String,
    pub body: String,
    pub areas: Vec<Opt>,
    pub roles: Vec<Opt>,
    pub tags: Vec<Opt>,
    pub modes: Vec<Opt>,
    pub batch_size: String,
    pub first_at: String,
    pub interval: String,
    pub remind_at: String,
    pub count: Option<AudienceCount>,
    pub error: Option<String>,
}

pub struct BatchRow {
    pub id: i64,
    pub seq: i32,
    pub label: String,
    pub send_at: String,
    pub send_at_input: String,
    pub counts: DeliveryCounts,
}

#[derive(Template, WebTemplate)]
#[template(path = "notice_progress.html")]
pub struct ProgressFragment {
    pub page: PageCtx,
    pub id: i64,
    pub total: DeliveryCounts,
    pub batches: Vec<BatchRow>,
}

pub struct RecipientLine {
    pub name: String,
    pub area: String,
    pub batch: i32,
    pub status: String,
    pub status_code: String,
    pub sent_at: String,
    pub acknowledged_at: String,
    pub error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "notice.html")]
pub struct DetailPage {
    pub page: PageCtx,
    pub id: i64,
    pub title: String,
    pub html: String,
    pub status: String,
    pub status_code: String,
    pub attachment: String,
    pub audience: String,
    pub count: Option<AudienceCount>,
    pub total: DeliveryCounts,
    pub batches: Vec<BatchRow>,
    pub can_send: bool,
    pub remind_at: String,
    pub reminders_sent: i32,
    pub recipients: Vec<RecipientLine>,
    pub filters: Vec<Opt>,
    pub filter: String,
    pub next_href: Option<String>,
    pub flash: Option<String>,
}

/// `2026-03-02T10:00` (county time) for `<input type=datetime-local>`.
fn input_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&county_offset())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn parse_time(s: Option<&str>, locale: &str) -> Result<Option<DateTime<Utc>>, PanelError> {
    let Some(s) = s else { return Ok(None) };
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| PanelError::BadRequest(tr(locale, "nt.bad_time")))?;
    county_offset()
        .from_local_datetime(&naive)
        .single()
        .map(|t| Some(t.with_timezone(&Utc)))
        .ok_or_else(|| PanelError::BadRequest(tr(locale, "nt.bad_time")))
}

fn status_label(locale: &str, n: &notice::Model, counts: &DeliveryCounts) -> (String, String) {
    let code = if n.status == NoticeStatus::Active && counts.finished() {
        "done"
    } else {
        n.status.code()
    };
    (tr(locale, format!("nt.status.{code}")), code.to_owned())
}

/// GET /notices
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let before = form.get("before").and_then(|s| s.parse::<i64>().ok());
    let scope = user.scope();
    let list = notices::list(state.db.conn(), &scope, before, 50).await?;
    let ids: Vec<i64> = list.iter().map(|n| n.id).collect();
    let counts = notices::delivery_counts(state.db.conn(), &scope, &ids).await?;
    let next_href = (list.len() == 50)
        .then(|| list.last().map(|n| format!("/notices?before={}", n.id)))
        .flatten();
    let rows = list
        .into_iter()
        .map(|n| {
            let c = counts.get(&n.id).copied().unwrap_or_default();
            let (status, status_code) = status_label(user.locale, &n, &c);
            ListRow {
                id: n.id,
                title: n.title,
                status,
                status_code,
                created: local_time(n.created_at),
                counts: c,
            }
        })
        .collect();
    let page = user.page(&state, "notices", "nt.title").await;
    Ok(ListPage {
        page,
        rows,
        can_send: user.user.role.can_act(),
        next_href,
    }
    .into_response())
}

/// What the compose form holds.
#[derive(Default)]
struct Compose {
    title: String,
    body: String,
    area_ids: Vec<i64>,
    roles: Vec<String>,
    tags: Vec<String>,
    mode: String,
    batch_size: String,
    first_at: String,
    interval: String,
    remind_at: String,
    attachment: Option<Attachment>,
    action: String,
}

/// The audience picker's choices: towns and communities in scope, the members' roles and tags.
async fn options(
    state: &AppState,
    user: &CurrentUser,
    c: &Compose,
) -> Result<(Vec<Opt>, Vec<Opt>, Vec<Opt>), PanelError> {
    let scope = user.scope();
    let conn = state.db.conn();
    let names = areas::names_in_scope(conn, &scope).await?;
    let levels = [AreaLevel::Town, AreaLevel::Community];
    let areas = areas::at_levels(conn, &scope, &levels, MAX_AREA_CHOICES)
        .await?
        .into_iter()
        .map(|a| Opt {
            selected: c.area_ids.contains(&a.id),
            label: areas::display_path(&a.path, &names),
            value: a.id.to_string(),
        })
        .collect();
    let (roles, tags) = members::roles_and_tags(conn, &scope).await?;
    let opt = |v: String, sel: &[String]| Opt {
        selected: sel.contains(&v),
        label: v.clone(),
        value: v,
    };
    Ok((
        areas,
        roles.into_iter().map(|r| opt(r, &c.roles)).collect(),
        tags.into_iter().map(|t| opt(t, &c.tags)).collect(),
    ))
}

/// Most towns and communities offered as the audience.
const MAX_AREA_CHOICES: u64 = 2000;

fn modes(locale: &str, selected: &str) -> Vec<Opt> {
    ["single", "size", "town", "community"]
        .iter()
        .map(|m| Opt {
            value: (*m).to_owned(),
            label: tr(locale, format!("nt.mode.{m}")),
            selected: *m == selected || (selected.is_empty() && *m == "single"),
        })
        .collect()
}

async fn render_new(
    state: &AppState,
    user: &CurrentUser,
    c: Compose,
    count: Option<AudienceCount>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PanelError> {
    let (areas, roles, tags) = options(state, user, &c).await?;
    let page = user.page(state, "notices", "nt.new").await;
    let mut resp = NewPage {
        modes: modes(user.locale, &c.mode),
        page,
        title: c.title,
        body: c.body,
        areas,
        roles,
        tags,
        batch_size: c.batch_size,
        first_at: c.first_at,
        interval: c.interval,
        remind_at: c.remind_at,
        count,
        error,
    }
    .into_response();
    *resp.status_mut() = status;
    Ok(resp)
}

/// GET /notices/new
pub async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PanelError> {
    user.require_actor()?;
    let c = Compose {
        batch_size: "500".into(),
        interval: "0".into(),
        ..Default::default()
    };
    render_new(&state, &user, c, None, None, StatusCode::OK).await
}

async fn read_compose(mut mp: Multipart, locale: &str) -> Result<Compose, PanelError> {
    let mut c = Compose::default();
    let bad = || PanelError::BadRequest(tr(locale, "nt.bad_form"));
    while let Some(field) = mp.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let file_name: String = gridline_shared::conversation::machine::drop_control_chars(
                field.file_name().unwrap_or(""),
            )
            .chars()
            .take(255)
            .collect();
            let mime = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_owned();
            let data = field.bytes().await.map_err(|_| PanelError::TooLarge)?;
            if data.len() > notices::MAX_ATTACHMENT_BYTES {
                return Err(PanelError::TooLarge);
            }
            if !data.is_empty() && !file_name.is_empty() {
                c.attachment = Some(Attachment {
                    file_name,
                    mime,
                    data: data.to_vec(),
                });
            }
            continue;
        }
        let value = field.text().await.map_err(|_| bad())?;
        // As every panel form: no control characters (PostgreSQL cannot store NUL).
        let value = gridline_shared::conversation::machine::drop_control_chars(&value).into_owned();
        match name.as_str() {
            "title" => c.title = blank_to_empty(value),
            "body" => c.body = blank_to_empty(value),
            "area" => {
                if let Ok(id) = value.trim().parse() {
                    c.area_ids.push(id);
                }
            }
            "role" => c.roles.push(value),
            "tag" => c.tags.push(value),
            "mode" => c.mode = value,
            "batch_size" => c.batch_size = value,
            "first_at" => c.first_at = value,
            "interval" => c.interval = value,
            "remind_at" => c.remind_at = value,
            "action" => c.action = value,
            _ => {}
        }
    }
    Ok(c)
}

/// A text of white space and zero-width characters only is empty (so a title of invisible
/// characters is refused like an empty one).
fn blank_to_empty(v: String) -> String {
    let blank = v.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    });
    if blank { String::new() } else { v }
}

fn non_blank(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn to_new(c: &Compose, locale: &str) -> Result<NewNotice, PanelError> {
    let mode = match c.mode.as_str() {
        "size" => BatchMode::BySize {
            size: c
                .batch_size
                .trim()
                .parse()
                .map_err(|_| PanelError::BadRequest(tr(locale, "nt.bad_size")))?,
        },
        "town" => BatchMode::ByArea {
            level: AreaLevel::Town,
        },
        "community" => BatchMode::ByArea {
            level: AreaLevel::Community,
        },
        _ => BatchMode::Single,
    };
    let interval = match non_blank(&c.interval) {
        Some(s) => s
            .parse()
            .map_err(|_| PanelError::BadRequest(tr(locale, "nt.bad_interval")))?,
        None => 0,
    };
    Ok(NewNotice {
        title: c.title.clone(),
        body: c.body.clone(),
        attachment: c.attachment.clone(),
        audience: Audience {
            area_ids: c.area_ids.clone(),
            roles: c.roles.clone(),
            tags: c.tags.clone(),
        },
        plan: BatchPlan {
            mode,
            first_at: parse_time(non_blank(&c.first_at), locale)?,
            interval_minutes: interval,
        },
        remind_at: parse_time(non_blank(&c.remind_at), locale)?,
    })
}

/// POST /notices/new (multipart): `action=preview` shows the recipient count, `save` stores a
/// draft (sent from its page).
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    mp: Multipart,
) -> Result<Response, PanelError> {
    user.require_actor()?;
    let locale = user.locale;
    let c = read_compose(mp, locale).await?;
    let new = match to_new(&c, locale) {
        Ok(n) => n,
        Err(PanelError::BadRequest(m)) => {
            return render_new(
                &state,
                &user,
                c,
                None,
                Some(m),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let count = notices::audience_count(state.db.conn(), &user.scope(), &new.audience).await?;
    if c.action != "save" {
        return render_new(&state, &user, c, Some(count), None, StatusCode::OK).await;
    }
    match notices::create(&state.db, &user.actor(), new, Utc::now()).await {
        Ok(n) => Ok(Redirect::to(&format!("/notices/{}", n.id)).into_response()),
        Err(CoreError::Invalid(p)) => {
            render_new(
                &state,
                &user,
                c,
                Some(count),
                Some(p.message(locale)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn batch_rows(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<(DeliveryCounts, Vec<BatchRow>), PanelError> {
    let progress = notices::batch_progress(state.db.conn(), &user.scope(), id).await?;
    let mut total = DeliveryCounts::default();
    let rows = progress
        .into_iter()
        .map(|p| {
            let c = p.counts;
            total.recipients += c.recipients;
            total.queued += c.queued;
            total.sent += c.sent;
            total.failed += c.failed;
            total.blocked += c.blocked;
            total.uncertain += c.uncertain;
            total.cancelled += c.cancelled;
            total.unreachable += c.unreachable;
            total.acknowledged += c.acknowledged;
            BatchRow {
                id: p.batch.id,
                seq: p.batch.seq,
                label: p.batch.label,
                send_at: local_time(p.batch.send_at),
                send_at_input: input_time(p.batch.send_at),
                counts: c,
            }
        })
        .collect();
    Ok((total, rows))
}

/// GET /notices/{id}/progress: the progress block alone (the page refreshes it).
pub async fn progress(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    let (total, batches) = batch_rows(&state, &user, id).await?;
    let page = user.page(&state, "notices", "nt.title").await;
    Ok(ProgressFragment {
        page,
        id,
        total,
        batches,
    }
    .into_response())
}

const FILTERS: &[&str] = &[
    "",
    "queued",
    "sent",
    "failed",
    "blocked",
    "uncertain",
    "unreachable",
    "acknowledged",
    "unacknowledged",
];

/// GET /notices/{id}
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let scope = user.scope();
    let n = notices::get(state.db.conn(), &scope, id).await?;
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let filter = form
        .get("status")
        .filter(|s| FILTERS.contains(s))
        .unwrap_or("")
        .to_owned();
    let after = form.get("after").and_then(|s| s.parse::<i64>().ok());
    let (total, batches) = batch_rows(&state, &user, id).await?;
    let count = if n.status == NoticeStatus::Draft {
        Some(notices::audience_count(state.db.conn(), &scope, &n.audience()).await?)
    } else {
        None
    };
    let names = areas::names_in_scope(state.db.conn(), &scope).await?;
    let page_rows =
        notices::recipients(state.db.conn(), &scope, id, non_blank(&filter), after, 100).await?;
    let next_href = (page_rows.len() == 100)
        .then(|| {
            page_rows
                .last()
                .map(|(rid, _)| format!("/notices/{id}?status={filter}&after={rid}#recipients"))
        })
        .flatten();
    let recipients = page_rows
        .into_iter()
        .map(|(_, r)| RecipientLine {
            name: r.name,
            area: areas::display_path(&r.area_path, &names),
            batch: r.batch_seq,
            status: tr(locale, format!("nt.rstatus.{}", r.status)),
            status_code: r.status,
            sent_at: local_time_opt(r.sent_at),
            acknowledged_at: local_time_opt(r.acknowledged_at),
            error: r.error.unwrap_or_default(),
        })
        .collect();
    let audience = n.audience();
    let mut parts = Vec::new();
    if audience.area_ids.is_empty() {
        parts.push(tr(locale, "nt.everyone"));
    } else {
        for aid in &audience.area_ids {
            if let Some(a) = names.get(aid) {
                parts.push(areas::display_path(&a.path, &names));
            }
        }
    }
    if !audience.roles.is_empty() {
        parts.push(audience.roles.join("、"));
    }
    if !audience.tags.is_empty() {
        parts.push(audience.tags.join("、"));
    }
    let (status, status_code) = status_label(locale, &n, &total);
    let flash = form.get("done").map(|d| {
        tr(
            locale,
            format!(
                "nt.done.{}",
                d.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "")
            ),
        )
    });
    let filters = FILTERS
        .iter()
        .map(|f| Opt {
            value: (*f).to_owned(),
            label: if f.is_empty() {
                tr(locale, "nt.filter.all")
            } else {
                tr(locale, format!("nt.rstatus.{f}"))
            },
            selected: *f == filter,
        })
        .collect();
    let page = user.page(&state, "notices", "nt.title").await;
    Ok(DetailPage {
        page,
        id,
        html: n.html(),
        title: n.title.clone(),
        status,
        status_code,
        attachment: n.attachment_name.clone().unwrap_or_default(),
        audience: parts.join(" × "),
        count,
        total,
        batches,
        can_send: user.user.role.can_act(),
        remind_at: n.remind_at.map(input_time).unwrap_or_default(),
        reminders_sent: n.reminders_sent,
        recipients,
        filters,
        filter,
        next_href,
        flash,
    }
    .into_response())
}

/// POST /notices/{id}/do/{action}: send, pause, resume, cancel, remind, resend.
pub async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, action)): Path<(i64, String)>,
    _form: FormData,
) -> Result<Response, PanelError> {
    user.require_actor()?;
    let actor = user.actor();
    let now = Utc::now();
    let db = &state.db;
    let result = match action.as_str() {
        "send" => notices::submit(db, &actor, id, now).await.map(|_| ()),
        "pause" => notices::pause(db, &actor, id, now).await.map(|_| ()),
        "resume" => notices::resume(db, &actor, id, now).await.map(|_| ()),
        "cancel" => notices::cancel(db, &actor, id, now).await.map(|_| ()),
        "remind" => notices::remind(db, Some(&actor), id, now).await.map(|_| ()),
        "resend" => notices::resend_uncertain(db, &actor, id, now)
            .await
            .map(|_| ()),
        _ => return Err(PanelError::NotFound),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/notices/{id}?done={action}")).into_response()),
        Err(CoreError::Conflict(_)) => {
            Ok(Redirect::to(&format!("/notices/{id}?done=conflict")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /notices/{id}/reminder: `remind_at` (county time; blank clears it).
pub async fn set_reminder(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PanelError> {
    user.require_actor()?;
    let at = parse_time(form.get("remind_at"), user.locale)?;
    notices::set_reminder(&state.db, &user.actor(), id, at, Utc::now()).await?;
    Ok(Redirect::to(&format!("/notices/{id}?done=reminder")).into_response())
}

/// POST /notices/{id}/batches/{bid}: `send_at` (county time).
pub async fn set_batch_time(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, bid)): Path<(i64, i64)>,
    form: FormData,
) -> Result<Response, PanelError> {
    user.require_actor()?;
    let at = parse_time(form.get("send_at"), user.locale)?
        .ok_or_else(|| PanelError::BadRequest(tr(user.locale, "nt.bad_time")))?;
    notices::set_batch_time(&state.db, &user.actor(), id, bid, at, Utc::now()).await?;
    Ok(Redirect::to(&format!("/notices/{id}?done=batch")).into_response())
}

/// GET /notices/{id}/recipients.csv
pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    let bytes =
        notices::export_recipients(&state.db, &user.actor(), id, user.locale, user.ip()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"notice-{id}-recipients.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
