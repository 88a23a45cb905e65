//! The report page: fields, timeline, photos, location, resident contact, and one POST form
//! per action. Every action goes through `gridline_shared::inbox::act` (the lifecycle's
//! transition plus its audit line). Outside the user's scope a report does not exist: 404 for
//! the page, every action and every photo.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::domain::{ReturnReason, TimelineAction};
use gridline_shared::entity::report;
use gridline_shared::inbox;
use gridline_shared::lifecycle::{Action, LifecycleError};
use gridline_shared::report_page::{self, ReportDetail};
use gridline_shared::{Problem, reports, response_templates};

use crate::app::AppState;
use crate::panel::error::{PanelError, refusal_message, refusal_status};
use crate::panel::forms::FormData;
use crate::panel::inbox::{light_label, parse_assignee};
use crate::panel::layout::{Opt, PageCtx, local_time, local_time_opt, opt};
use crate::panel::session::CurrentUser;
use crate::tr;

pub struct Field {
    pub label: String,
    pub value: String,
}

pub struct TimelineLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub change: String,
    pub note: String,
    /// Internal (not shown to the reporter).
    pub internal: bool,
    pub kind: &'static str,
}

pub struct TemplateOpt {
    pub id: i64,
    pub title: String,
    pub body: String,
}

pub struct Photo {
    pub href: String,
    pub is_image: bool,
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub page: PageCtx,
    pub id: i64,
    pub heading: String,
    pub state: String,
    pub state_code: &'static str,
    pub light: &'static str,
    pub light_label: String,
    pub due: String,
    pub description: String,
    pub fields: Vec<Field>,
    pub contact: Vec<Field>,
    pub location: Option<(String, String, String)>,
    pub address: String,
    pub photos: Vec<Photo>,
    pub timeline: Vec<TimelineLine>,
    pub actions: Vec<&'static str>,
    pub assignees: Vec<Opt>,
    pub reasons: Vec<Opt>,
    pub templates: Vec<TemplateOpt>,
    pub flash: Option<String>,
    pub error: Option<String>,
    /// Filed in the chat simulator.
    pub simulated: bool,
}

impl ReportPage {
    pub fn can(&self, action: &str) -> bool {
        self.actions.contains(&action)
    }
}

/// The report's fields, the always-shown ones first, then those that are filled in.
fn fields(d: &ReportDetail, locale: &str) -> Vec<Field> {
    let r = &d.report;
    let mut fields = vec![
        Field {
            label: tr(locale, "panel.report.kind"),
            value: tr(locale, format!("report.kind.{}", r.kind.code())),
        },
        Field {
            label: tr(locale, "panel.report.urgency"),
            value: tr(locale, format!("report.urgency.{}", r.urgency.code())),
        },
        Field {
            label: tr(locale, "panel.report.category"),
            value: match (&d.parent_category, &d.category) {
                (Some(p), Some(c)) => format!("{} / {}", p.label(locale), c.label(locale)),
                (None, Some(c)) => c.label(locale).to_owned(),
                _ => String::new(),
            },
        },
        Field {
            label: tr(locale, "panel.report.origin"),
            value: d.origin.clone(),
        },
        Field {
            label: tr(locale, "panel.report.handling"),
            value: d.handling.clone(),
        },
        Field {
            label: tr(locale, "panel.report.reporter"),
            value: d
                .reporter
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default(),
        },
        Field {
            label: tr(locale, "panel.report.assignee"),
            value: d.assignee.clone().unwrap_or_default(),
        },
        Field {
            label: tr(locale, "panel.report.created"),
            value: local_time(r.created_at),
        },
    ];
    let optional = [
        ("panel.report.people", r.people_involved.clone()),
        ("panel.report.household", r.household.clone()),
        (
            "panel.report.household_count",
            r.household_count.map(|n| n.to_string()),
        ),
        (
            "panel.report.visit_method",
            r.visit_method
                .map(|m| tr(locale, format!("panel.visit_method.{}", m.code()))),
        ),
        ("panel.report.topics", r.topics.clone()),
        (
            "panel.report.resolved_on_spot",
            r.resolved_on_spot
                .map(|b| tr(locale, if b { "panel.yes" } else { "panel.no" })),
        ),
        (
            "panel.report.return_reason",
            r.return_reason
                .map(|x| tr(locale, format!("report.return_reason.{}", x.code()))),
        ),
        ("panel.report.reason_note", r.reason_note.clone()),
        (
            "panel.report.duplicate_of",
            r.duplicate_of.map(|n| format!("#{n}")),
        ),
        (
            "panel.report.parent",
            r.parent_report_id.map(|n| format!("#{n}")),
        ),
        (
            "panel.report.escalation",
            (r.escalation_level > 0).then(|| r.escalation_level.to_string()),
        ),
        ("panel.report.closed", r.closed_at.map(local_time)),
    ];
    for (key, value) in optional {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            fields.push(Field {
                label: tr(locale, key),
                value: v,
            });
        }
    }
    fields
}

/// The resident's name and phone. Personal data: only reaches here for staff in scope (the
/// detail was scoped).
fn contact(r: &report::Model, locale: &str) -> Vec<Field> {
    let mut contact = Vec::new();
    if let Some(n) = r.resident_name.clone().filter(|v| !v.trim().is_empty()) {
        contact.push(Field {
            label: tr(locale, "panel.report.resident_name"),
            value: n,
        });
    }
    if let Some(p) = r.resident_phone.clone().filter(|v| !v.trim().is_empty()) {
        contact.push(Field {
            label: tr(locale, "panel.report.resident_phone"),
            value: p,
        });
    }
    contact
}

/// The point as text, a `geo:` link and a map link, when the report has a usable one.
fn location(r: &report::Model) -> Option<(String, String, String)> {
    match (r.latitude, r.longitude) {
        (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => Some((
            format!("{lat:.6}, {lon:.6}"),
            format!("geo:{lat:.6},{lon:.6}"),
            format!(
                "https://uri.amap.com/marker?position={lon:.6},{lat:.6}&coordinate=wgs84&callnative=0"
            ),
        )),
        _ => None,
    }
}

fn photos(d: &ReportDetail) -> Vec<Photo> {
    let r = &d.report;
    d.attachments
        .iter()
        .map(|a| Photo {
            href: format!("/reports/{}/attachments/{}", r.id, a.id),
            is_image: a.kind == "photo"
                || a.mime.as_deref().is_some_and(|m| m.starts_with("image/")),
            name: a
                .file_name
                .clone()
                .unwrap_or_else(|| format!("{} #{}", a.kind, a.id)),
        })
        .collect()
}

/// The timeline in the user's words: who, what, from which state to which.
fn timeline(d: &ReportDetail, locale: &str) -> Vec<TimelineLine> {
    d.events
        .iter()
        .map(|ev| {
            let e = &ev.event;
            let actor = match e.actor_kind.as_str() {
                "system" => tr(locale, "panel.timeline.system"),
                _ if ev.actor.is_empty() => tr(locale, "panel.timeline.unknown"),
                "member" => format!("{}（{}）", ev.actor, tr(locale, "panel.timeline.member")),
                _ => ev.actor.clone(),
            };
            let change = match (e.from_state, e.to_state) {
                (Some(a), Some(b)) if a != b => format!(
                    "{} → {}",
                    tr(locale, a.i18n_key()),
                    tr(locale, b.i18n_key())
                ),
                (None, Some(b)) => tr(locale, b.i18n_key()),
                _ => String::new(),
            };
            TimelineLine {
                at: local_time(e.at),
                actor,
                action: tr(locale, format!("panel.action.{}", e.action)),
                change,
                note: e.note.clone().unwrap_or_default(),
                internal: !e.public,
                kind: match e.action {
                    TimelineAction::Comment => "comment",
                    TimelineAction::Reply => "reply",
                    _ => "step",
                },
            }
        })
        .collect()
}

/// Who the report may be assigned to (staff, then grid leaders of the handling area), when
/// the user may assign it.
async fn assignees(
    state: &AppState,
    d: &ReportDetail,
    locale: &str,
) -> Result<Vec<Opt>, PanelError> {
    let r = &d.report;
    Ok(if d.actions.contains(&"assign") {
        let c = report_page::assignee_choices(state.db.conn(), &r.handling_area_path).await?;
        let mut v: Vec<Opt> = c
            .staff
            .into_iter()
            .map(|(id, name)| {
                opt(
                    format!("s:{id}"),
                    format!("{name}（{}）", tr(locale, "panel.assign.staff")),
                    false,
                )
            })
            .collect();
        v.extend(
            c.members
                .into_iter()
                .map(|(id, name, area)| opt(format!("m:{id}"), format!("{name}（{area}）"), false)),
        );
        v
    } else {
        Vec::new()
    })
}

fn return_reasons(locale: &str) -> Vec<Opt> {
    ReturnReason::ALL
        .iter()
        .map(|x| {
            opt(
                x.code(),
                tr(locale, format!("report.return_reason.{}", x.code())),
                false,
            )
        })
        .collect()
}

/// The canned replies in the user's language, when the user may reply.
async fn reply_templates(
    state: &AppState,
    d: &ReportDetail,
    locale: &str,
) -> Result<Vec<TemplateOpt>, PanelError> {
    Ok(if d.actions.contains(&"reply") {
        response_templates::list(state.db.conn(), locale)
            .await?
            .into_iter()
            .map(|t| TemplateOpt {
                id: t.id,
                title: t.title,
                body: t.body,
            })
            .collect()
    } else {
        Vec::new()
    })
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    d: ReportDetail,
    flash: Option<String>,
    error: Option<String>,
) -> Result<ReportPage, PanelError> {
    let locale = user.locale;
    let r = &d.report;
    let assignees = assignees(state, &d, locale).await?;
    let templates = reply_templates(state, &d, locale).await?;
    let (light, light_label) = light_label(d.light, locale);
    Ok(ReportPage {
        page: user.page(state, "inbox", "panel.report.title").await,
        id: r.id,
        heading: format!(
            "#{} · {}",
            r.id,
            tr(locale, format!("report.kind.{}", r.kind.code()))
        ),
        state: tr(locale, r.state.i18n_key()),
        state_code: r.state.code(),
        light,
        light_label,
        due: local_time_opt(r.due_at),
        description: r.description.clone(),
        fields: fields(&d, locale),
        contact: contact(r, locale),
        location: location(r),
        address: r.address.clone().unwrap_or_default(),
        photos: photos(&d),
        timeline: timeline(&d, locale),
        actions: d.actions.clone(),
        assignees,
        reasons: return_reasons(locale),
        templates,
        flash,
        error,
        simulated: r.simulated,
    })
}

/// GET /reports/{id}
pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PanelError> {
    let id: i64 = id.parse().map_err(|_| PanelError::NotFound)?;
    let d = report_page::detail(state.db.conn(), &user.actor(), id, Utc::now()).await?;
    let done = FormData::parse(raw.as_deref().unwrap_or("").as_bytes())
        .get("done")
        .filter(|c| report_page::PANEL_ACTIONS.contains(c))
        .map(|c| tr(user.locale, format!("panel.flash.{c}")));
    Ok(render(&state, &user, d, done, None).await?.into_response())
}

/// GET /reports/{id}/attachments/{aid}: the stored file, only inside the scope.
pub async fn attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Response, PanelError> {
    let id: i64 = id.parse().map_err(|_| PanelError::NotFound)?;
    let aid: i64 = aid.parse().map_err(|_| PanelError::NotFound)?;
    let a = report_page::attachment_in_scope(state.db.conn(), &user.scope(), id, aid).await?;
    let mime = a.mime.as_deref().unwrap_or("");
    let data = a.data.unwrap_or_default();
    // Only a few image types are shown inline, and only when the bytes are what the type
    // claims (a "photo" of random bytes or a renamed PDF is a download); anything else is a
    // download.
    let inline = (matches!(
        mime,
        "image/jpeg" | "image/png" | "image/webp" | "image/gif"
    ) || (a.kind == "photo" && mime.is_empty()))
        && image_magic_matches(if mime.is_empty() { "image/jpeg" } else { mime }, &data);
    let content_type = if inline {
        if mime.is_empty() { "image/jpeg" } else { mime }
    } else {
        "application/octet-stream"
    };
    let mut resp = data.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(if inline { "inline" } else { "attachment" }),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(resp)
}

/// Whether `data` starts with the signature of the image type `mime`.
fn image_magic_matches(mime: &str, data: &[u8]) -> bool {
    match mime {
        "image/jpeg" => data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/gif" => data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a"),
        "image/webp" => data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP",
        _ => false,
    }
}

fn note(form: &FormData) -> Option<String> {
    form.get("note").map(str::to_owned)
}

fn required_note(form: &FormData, locale: &str) -> Result<String, PanelError> {
    note(form).ok_or_else(|| PanelError::BadRequest(Problem::NoteRequired.message(locale)))
}

/// Reads an action from its form. Unknown action names are "not found".
async fn action_from_form(
    state: &AppState,
    code: &str,
    form: &FormData,
    locale: &str,
) -> Result<Action, PanelError> {
    Ok(match code {
        "accept" => Action::Accept,
        "assign" => Action::Assign(
            form.get("assignee")
                .and_then(parse_assignee)
                .ok_or_else(|| PanelError::BadRequest(tr(locale, "panel.form.choose_assignee")))?,
        ),
        "return" => Action::Return {
            reason: form
                .get("reason")
                .and_then(ReturnReason::parse)
                .ok_or_else(|| PanelError::BadRequest(tr(locale, "panel.form.choose_reason")))?,
            note: note(form),
        },
        "reject" => Action::Reject {
            note: required_note(form, locale)?,
        },
        "duplicate" => Action::MarkDuplicate {
            of: form
                .get("of")
                .map(|v| v.trim_start_matches('#').trim())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| PanelError::BadRequest(tr(locale, "panel.form.duplicate_of")))?,
        },
        "reply" => {
            let text = match (note(form), form.get("template")) {
                (Some(n), _) => n,
                (None, Some(tid)) => {
                    let tid: i64 = tid.parse().map_err(|_| PanelError::NotFound)?;
                    response_templates::find(state.db.conn(), tid)
                        .await?
                        .map(|t| t.body)
                        .ok_or(PanelError::NotFound)?
                }
                (None, None) => required_note(form, locale)?,
            };
            Action::Reply { note: text }
        }
        "comment" => Action::Comment {
            note: required_note(form, locale)?,
        },
        "resolve" => Action::Resolve { note: note(form) },
        "verify_fail" => Action::VerifyFail {
            note: required_note(form, locale)?,
        },
        "close" => Action::Close { note: note(form) },
        "reopen" => Action::Reopen {
            note: required_note(form, locale)?,
        },
        "escalate" => Action::Escalate { note: note(form) },
        _ => return Err(PanelError::NotFound),
    })
}

/// The report page again, with the reason an action was not done.
async fn refuse(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    status: StatusCode,
    message: String,
) -> Result<Response, PanelError> {
    let d = report_page::detail(state.db.conn(), &user.actor(), id, Utc::now()).await?;
    let page = render(state, user, d, None, Some(message)).await?;
    Ok((status, page).into_response())
}

/// POST /reports/{id}/{action}
pub async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, code)): Path<(String, String)>,
    form: FormData,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let id: i64 = id.parse().map_err(|_| PanelError::NotFound)?;
    // Outside the scope nothing else is said: 404 before reading the form.
    reports::find_in_scope(state.db.conn(), &user.scope(), id).await?;
    if !report_page::PANEL_ACTIONS.contains(&code.as_str()) {
        return Err(PanelError::NotFound);
    }
    let action = match action_from_form(&state, &code, &form, locale).await {
        Ok(a) => a,
        Err(PanelError::BadRequest(m)) => {
            return refuse(&state, &user, id, StatusCode::UNPROCESSABLE_ENTITY, m).await;
        }
        Err(e) => return Err(e),
    };
    match inbox::act(
        &state.db,
        &user.actor(),
        id,
        action,
        user.ip.as_deref(),
        Utc::now(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/reports/{id}?done={code}")).into_response()),
        Err(LifecycleError::Refused(r)) => {
            let status = refusal_status(&r);
            if status == StatusCode::NOT_FOUND {
                return Err(PanelError::NotFound);
            }
            refuse(&state, &user, id, status, refusal_message(&r, locale)).await
        }
        Err(e) => Err(e.into()),
    }
}
