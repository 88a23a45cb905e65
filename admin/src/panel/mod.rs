//! The web panel: server-rendered HTML (askama templates in `admin/templates/`), Chinese first
//! with an English switch, every asset embedded in the binary.
//!
//! One module per thing the panel serves (inbox, report, notices, dashboard, exports, roster,
//! areas, categories, holidays, users, audit, api_tokens, simulator, and `api` for the JSON
//! API), beside the request layer (`session`, `auth`, `error`, `forms`, `filter`, `layout`,
//! `assets`, `throttle`). Every route is in [`routes`] or [`api_routes`]; ARCHITECTURE.md maps
//! each one to its handler and core function.
//!
//! # Adding a page (for every panel module)
//!
//! 1. Write a handler taking [`CurrentUser`] (redirects to `/login` when nobody is logged in) and
//!    returning `Result<impl IntoResponse, PanelError>`. It parses, calls, renders — nothing
//!    else: a read is one `gridline_shared` call with `user.scope()`; a change is one *staff
//!    command* with `&state.db`, `&user.actor()` and `user.ip()`.
//! 2. A staff command lives in the core's domain module (`areas::add`, `staff::add_user`,
//!    `members::deactivate`…): it checks the actor's role (`staff::require_admin`…) and scope,
//!    makes the change and writes its audit line (`audit::log` with an `AuditAction` and an
//!    `AuditTarget`) in one transaction. It refuses with a `Problem` inside
//!    `CoreError::{Invalid, Conflict, Forbidden}`; `?` turns that into the error page in the
//!    user's language (400, 409, 403), and a form shown again takes the message from
//!    [`error::form_refusal`]. Never match a refusal by its wording.
//! 3. Render a template that `{% extends "base.html" %}` and has a field `page: PageCtx`
//!    (from `user.page(state, "nav.key", "title.key")`); text via `{{ page.t("key") }}`, keys
//!    in `admin/locales/<module>.yml`, both languages (`panel.<module>.*`).
//! 4. Every `<form>` carries `<input type="hidden" name="csrf_token" value="{{ page.csrf }}">`;
//!    the session middleware refuses any POST without the right one (403) before a handler runs.
//! 5. Register the route in [`routes`] (pages) or [`api_routes`] (the bearer-token API, outside
//!    the session middleware), a nav entry in [`layout::NAV`], and a row in ARCHITECTURE.md's
//!    "Where does X live".

pub mod api;
pub mod api_tokens;
pub mod areas;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod categories;
pub mod charts;
pub mod dashboard;
pub mod error;
pub mod exports;
pub mod filter;
pub mod forms;
pub mod holidays;
pub mod inbox;
pub mod layout;
pub mod notices;
pub mod password;
pub mod report;
pub mod roster;
pub mod session;
pub mod settings;
pub mod simulator;
pub mod throttle;
pub mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};

use crate::app::AppState;

pub use error::PanelError;
pub use layout::PageCtx;
pub use session::{Ctx, CurrentUser};

/// Every HTML page, behind the session middleware (locale, session, CSRF, headers).
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route(password::PATH, get(password::form).post(password::change))
        .route("/inbox", get(inbox::page))
        .route("/inbox/bulk", post(inbox::bulk))
        .route("/reports/{id}", get(report::page))
        .route("/reports/{id}/attachments/{aid}", get(report::attachment))
        .route("/reports/{id}/{action}", post(report::act))
        .route("/dashboard", get(dashboard::page))
        .route("/export.csv", get(exports::csv))
        .route("/export.xlsx", get(exports::xlsx))
        .route(
            "/api-tokens",
            get(api_tokens::tokens_page).post(api_tokens::create_token),
        )
        .route("/api-tokens/{id}/revoke", post(api_tokens::revoke_token))
        .route("/roster", get(roster::page))
        .route("/roster/upload", post(roster::upload))
        .route("/roster/members/{id}/deactivate", post(roster::deactivate))
        .route("/roster/members/{id}/code", post(roster::new_code))
        .route("/roster/members/{id}/unbind", post(roster::unbind))
        .route("/roster/sheet/{community}", get(roster::sheet))
        .route("/admin/areas", get(areas::areas_page))
        .route("/admin/areas/add", post(areas::add_area))
        .route("/admin/areas/{id}/rename", post(areas::rename_area))
        .route("/admin/categories", get(categories::categories_page))
        .route("/admin/categories/{id}", post(categories::save_category))
        .route(
            "/admin/holidays",
            get(holidays::holidays_page).post(holidays::add_holiday),
        )
        .route("/admin/holidays/remove", post(holidays::remove_holiday))
        .route(
            "/admin/users",
            get(users::users_page).post(users::create_user),
        )
        .route("/admin/users/{id}/active", post(users::set_user_active))
        .route("/admin/users/{id}/reset", post(users::reset_password))
        .route("/admin/audit", get(audit::audit_page))
        .route(
            "/admin/settings",
            get(settings::settings_page).post(settings::save_settings),
        )
        .merge(notices::routes())
        .merge(simulator::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state, session::middleware))
        // The session middleware reads every POST body first, with the limit of its route
        // (`session::FORM_LIMIT`, or `MULTIPART_LIMIT` on the upload routes for a logged-in user,
        // a few at a time); the extractors read it again from memory, so axum's own default
        // (2 MB) must not refuse an upload the middleware accepted.
        .layer(DefaultBodyLimit::max(session::MULTIPART_LIMIT))
}

/// Machine routes outside the session middleware (no cookies, no CSRF): the read-only JSON API
/// under `/api/v1/…` (bearer tokens).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", get(api::reports))
        .route("/api/v1/reports/{id}", get(api::report))
        .route("/api/v1/areas", get(api::areas))
        .route("/api/v1/notices", get(api::notices))
        .route("/api/v1/{*rest}", get(api::not_found))
}

/// `/`: the inbox when logged in, else the login form.
async fn home(ctx: Ctx) -> Redirect {
    if ctx.user.is_some() {
        Redirect::to("/inbox")
    } else {
        Redirect::to("/login")
    }
}

async fn not_found() -> PanelError {
    PanelError::NotFound
}
