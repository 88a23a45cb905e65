//! Panel part B: dashboard, exports, the JSON API and its tokens, roster pages and the admin
//! pages. Handlers stay thin: the figures, exports, tokens, roster and admin changes are
//! decided in `gridline_shared` (`stats`, `export`, `api_tokens`, `manage`, `import`); these
//! modules read forms, check the role, call the core, write the audit line and render.

pub mod admin_pages;
pub mod api;
pub mod charts;
pub mod dashboard;
pub mod exports;
pub mod roster;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::NaiveDate;
use gridline_shared::calendar::Light;
use gridline_shared::domain::{ReportKind, ReportState, Urgency};
use gridline_shared::inbox::InboxFilter;
use rust_i18n::t;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::forms::FormData;

/// The HTML pages (behind the session middleware).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(dashboard::page))
        .route("/export.csv", get(exports::csv))
        .route("/export.xlsx", get(exports::xlsx))
        .route("/api-tokens", get(api::tokens_page).post(api::create_token))
        .route("/api-tokens/{id}/revoke", post(api::revoke_token))
        .route("/roster", get(roster::page))
        .route("/roster/upload", post(roster::upload))
        .route("/roster/members/{id}/deactivate", post(roster::deactivate))
        .route("/roster/sheet/{community}", get(roster::sheet))
        .route("/admin/areas", get(admin_pages::areas_page))
        .route("/admin/areas/add", post(admin_pages::add_area))
        .route("/admin/areas/{id}/rename", post(admin_pages::rename_area))
        .route("/admin/categories", get(admin_pages::categories_page))
        .route("/admin/categories/{id}", post(admin_pages::save_category))
        .route(
            "/admin/holidays",
            get(admin_pages::holidays_page).post(admin_pages::add_holiday),
        )
        .route("/admin/holidays/remove", post(admin_pages::remove_holiday))
        .route(
            "/admin/users",
            get(admin_pages::users_page).post(admin_pages::create_user),
        )
        .route(
            "/admin/users/{id}/active",
            post(admin_pages::set_user_active),
        )
        .route("/admin/users/{id}/reset", post(admin_pages::reset_password))
        .route("/admin/audit", get(admin_pages::audit_page))
}

/// `/api/v1/…` (bearer tokens; no session, no CSRF).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", get(api::reports))
        .route("/api/v1/reports/{id}", get(api::report))
        .route("/api/v1/areas", get(api::areas))
        .route("/api/v1/notices", get(api::notices))
        .route("/api/v1/{*rest}", get(api::not_found))
}

fn bad_filter(locale: &str, what: &str) -> PanelError {
    PanelError::BadRequest(t!("b.filter.bad", locale = locale, what = what).into_owned())
}

/// The inbox's filter from its query parameters (`state` repeatable or `open`, `kind`,
/// `category`, `area`, `urgency`, `light`, `from`, `to`, `q`) — the same names as `/inbox`.
pub fn parse_filter(form: &FormData, locale: &str) -> Result<InboxFilter, PanelError> {
    let mut f = InboxFilter::default();
    for s in form.all("state") {
        match s {
            "all" => {}
            "open" => f
                .states
                .extend(ReportState::ALL.iter().filter(|s| s.is_open())),
            s => f
                .states
                .push(ReportState::parse(s).ok_or_else(|| bad_filter(locale, "state"))?),
        }
    }
    if let Some(k) = form.get("kind") {
        f.kind = Some(ReportKind::parse(k).ok_or_else(|| bad_filter(locale, "kind"))?);
    }
    if let Some(c) = form.get("category") {
        f.category_id = Some(c.parse().map_err(|_| bad_filter(locale, "category"))?);
    }
    if let Some(a) = form.get("area") {
        f.area_id = Some(a.parse().map_err(|_| bad_filter(locale, "area"))?);
    }
    if let Some(u) = form.get("urgency") {
        f.urgency = Some(Urgency::parse(u).ok_or_else(|| bad_filter(locale, "urgency"))?);
    }
    if let Some(l) = form.get("light") {
        f.light = Some(match l {
            "green" => Light::Green,
            "yellow" => Light::Yellow,
            "red" => Light::Red,
            _ => return Err(bad_filter(locale, "light")),
        });
    }
    f.from = parse_date(form, "from", locale)?;
    f.to = parse_date(form, "to", locale)?;
    f.text = form.get("q").map(str::to_owned);
    Ok(f)
}

pub fn parse_date(
    form: &FormData,
    name: &str,
    locale: &str,
) -> Result<Option<NaiveDate>, PanelError> {
    form.get(name)
        .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad_filter(locale, name)))
        .transpose()
}

/// The status of a form page: 422 when it is shown again with a refusal, else 200.
fn form_status(error: &Option<String>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// A `<select>` option.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn opt(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Opt {
    Opt {
        value: value.into(),
        label: label.into(),
        selected,
    }
}

/// The i18n key of an area level's name (in this crate's texts).
pub fn level_key(level: gridline_shared::domain::AreaLevel) -> &'static str {
    use gridline_shared::domain::AreaLevel::*;
    match level {
        County => "b.level.county",
        Town => "b.level.town",
        Community => "b.level.community",
        Grid => "b.level.grid",
        MicroGrid => "b.level.micro_grid",
    }
}
