//! `/admin/users`: the staff users in scope; create one, deactivate or reactivate, reset a
//! password (the new one shown once). County and town admins only, and only for roles below
//! their own (the core's rule, `staff::may_manage_user`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use gridline_shared::domain::{AreaLevel, StaffRole};
use gridline_shared::{areas, staff};
use rust_i18n::t;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::form_refusal;
use crate::panel::error::form_status;
use crate::panel::forms::FormData;
use crate::panel::layout::{Opt, PageCtx, local_time_opt, opt};
use crate::panel::session::CurrentUser;
use crate::tr;

pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub area: String,
    pub active: bool,
    pub last_login: String,
    pub manageable: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub page: PageCtx,
    pub rows: Vec<UserRow>,
    pub roles: Vec<Opt>,
    pub areas: Vec<Opt>,
    pub error: Option<String>,
    /// `(username, password)` after a reset: shown once.
    pub new_password: Option<(String, String)>,
}

async fn render_users(
    state: &AppState,
    user: &CurrentUser,
    error: Option<String>,
    new_password: Option<(String, String)>,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let conn = state.db.conn();
    let scope = user.scope();
    let actor = user.actor();
    let users = staff::users_in_scope(conn, &scope).await?;
    let names =
        gridline_shared::inbox::area_names(conn, users.iter().map(|u| u.area_path.as_str()))
            .await?;
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id,
            username: u.username.clone(),
            role: tr(locale, format!("panel.role.{}", u.role.code())),
            area: gridline_shared::inbox::display_or_county(&u.area_path, &names),
            active: u.active,
            last_login: local_time_opt(u.last_login_at),
            manageable: u.id != user.user.id
                && staff::may_manage_user(&actor, u.role, &u.area_path),
        })
        .collect();
    let roles = StaffRole::ALL
        .iter()
        .filter(|r| staff::may_assign_role(user.user.role, **r))
        .map(|r| {
            opt(
                r.code(),
                t!(format!("panel.role.{}", r.code()), locale = locale),
                *r == StaffRole::Secretary,
            )
        })
        .collect();
    let areas = areas::tree(conn, &scope, AreaLevel::Community)
        .await?
        .into_iter()
        .map(|(a, depth)| {
            opt(
                a.id.to_string(),
                format!("{}{}", "　".repeat(depth), a.name),
                false,
            )
        })
        .collect();
    let status = form_status(&error);
    let page = UsersPage {
        page: user.page(state, "admin", "panel.users.title").await,
        rows,
        roles,
        areas,
        error,
        new_password,
    };
    Ok((status, page).into_response())
}

pub async fn users_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    render_users(&state, &user, None, None).await
}

/// POST /admin/users (`username`, `password`, `role`, `area`)
pub async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let role = form
        .get("role")
        .and_then(StaffRole::parse)
        .ok_or_else(|| PanelError::BadRequest(tr(locale, "panel.users.bad_role")))?;
    let area: i64 = form
        .get("area")
        .and_then(|a| a.parse().ok())
        .ok_or(PanelError::NotFound)?;
    let username = form.get("username").unwrap_or("");
    let password = form.raw("password");
    let actor = user.actor();
    match staff::add_user(&state.db, &actor, username, password, role, area, user.ip()).await {
        Ok(_) => Ok(Redirect::to("/admin/users").into_response()),
        Err(e) => render_users(&state, &user, Some(form_refusal(e, locale)?), None).await,
    }
}

/// POST /admin/users/{id}/active (`active` = 1 | 0)
pub async fn set_user_active(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PanelError> {
    let active = form.get("active") == Some("1");
    staff::set_user_active(&state.db, &user.actor(), id, active, user.ip()).await?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// POST /admin/users/{id}/reset: a new one-time password, shown once.
pub async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    let (u, password) = staff::reset_user_password(&state.db, &user.actor(), id, user.ip()).await?;
    render_users(&state, &user, None, Some((u.username, password))).await
}
