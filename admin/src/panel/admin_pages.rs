//! Admin pages: areas (tree, add, rename), categories and their deadlines, holidays, users and
//! the audit log. County and town admins only (a secretary or viewer gets 403); categories and
//! holidays are county-wide, so only the county admin changes them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use gridline_shared::calendar::DayKind;
use gridline_shared::domain::{AreaLevel, StaffRole};
use gridline_shared::{CoreError, categories, holidays, manage};
use rust_i18n::t;

use super::{Opt, opt};
use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::forms::FormData;
use crate::panel::layout::{PageCtx, local_time, local_time_opt};
use crate::panel::session::CurrentUser;

fn require_county(user: &CurrentUser) -> Result<(), PanelError> {
    if user.user.role == StaffRole::CountyAdmin {
        Ok(())
    } else {
        Err(PanelError::Forbidden)
    }
}

/// A core refusal in the user's words, for re-rendering a form with a message; any other
/// error as it is.
fn refusal(e: CoreError, locale: &str) -> Result<String, PanelError> {
    match e {
        CoreError::Invalid(m) => Ok(format!("{}{m}", t!("b.admin.invalid", locale = locale))),
        CoreError::Conflict(_) => Ok(t!("b.admin.conflict", locale = locale).into_owned()),
        e => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Areas

pub struct AreaRow {
    pub id: i64,
    pub name: String,
    pub level: String,
    pub indent: String,
    pub can_add: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "areas.html")]
pub struct AreasPage {
    pub page: PageCtx,
    pub rows: Vec<AreaRow>,
    pub error: Option<String>,
}

async fn render_areas(
    state: &AppState,
    user: &CurrentUser,
    error: Option<String>,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    // The tree down to the grids (micro-grids come with the roster and would be thousands).
    let rows = manage::area_tree(state.db.conn(), &user.scope(), AreaLevel::Grid)
        .await?
        .into_iter()
        .map(|(a, depth)| AreaRow {
            id: a.id,
            level: t!(super::level_key(a.level), locale = locale).into_owned(),
            indent: "　".repeat(depth * 2),
            can_add: a.level.child().is_some(),
            name: a.name,
        })
        .collect();
    let status = super::form_status(&error);
    let page = AreasPage {
        page: user.page(state, "admin", "b.areas.title").await,
        rows,
        error,
    };
    Ok((status, page).into_response())
}

pub async fn areas_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    render_areas(&state, &user, None).await
}

/// POST /admin/areas/add (`parent`, `name`)
pub async fn add_area(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let parent: i64 = form
        .get("parent")
        .and_then(|p| p.parse().ok())
        .ok_or(PanelError::NotFound)?;
    let name = form.get("name").unwrap_or("");
    let txn = state.db.write().await?;
    match manage::add_area(&*txn, &user.scope(), parent, name).await {
        Ok(a) => {
            user.audit_in(
                &*txn,
                "area.add",
                Some(&format!("area:{}", a.id)),
                Some(&a.name),
            )
            .await?;
            txn.commit().await?;
            Ok(Redirect::to("/admin/areas").into_response())
        }
        Err(e) => {
            drop(txn);
            let m = refusal(e, user.locale)?;
            render_areas(&state, &user, Some(m)).await
        }
    }
}

/// POST /admin/areas/{id}/rename (`name`)
pub async fn rename_area(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let name = form.get("name").unwrap_or("");
    let txn = state.db.write().await?;
    match manage::rename_area(&*txn, &user.scope(), id, name).await {
        Ok(a) => {
            user.audit_in(
                &*txn,
                "area.rename",
                Some(&format!("area:{}", a.id)),
                Some(&a.name),
            )
            .await?;
            txn.commit().await?;
            Ok(Redirect::to("/admin/areas").into_response())
        }
        Err(e) => {
            drop(txn);
            let m = refusal(e, user.locale)?;
            render_areas(&state, &user, Some(m)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Categories and deadlines

pub struct CategoryRow {
    pub id: i64,
    pub name: String,
    pub sub: bool,
    pub limits: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "categories.html")]
pub struct CategoriesPage {
    pub page: PageCtx,
    pub rows: Vec<CategoryRow>,
    pub editable: bool,
    pub error: Option<String>,
}

const LIMIT_FIELDS: [&str; 6] = [
    "accept_normal",
    "accept_urgent",
    "accept_critical",
    "handle_normal",
    "handle_urgent",
    "handle_critical",
];

async fn render_categories(
    state: &AppState,
    user: &CurrentUser,
    error: Option<String>,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let all = categories::all(state.db.conn()).await?;
    let mut rows = Vec::new();
    for top in all.iter().filter(|c| c.parent_id.is_none()) {
        for c in std::iter::once(top).chain(all.iter().filter(|c| c.parent_id == Some(top.id))) {
            let v = |o: &Option<String>| o.clone().unwrap_or_default();
            rows.push(CategoryRow {
                id: c.id,
                name: c.label(locale).to_owned(),
                sub: c.parent_id.is_some(),
                limits: LIMIT_FIELDS
                    .iter()
                    .zip([
                        v(&c.accept_normal),
                        v(&c.accept_urgent),
                        v(&c.accept_critical),
                        v(&c.handle_normal),
                        v(&c.handle_urgent),
                        v(&c.handle_critical),
                    ])
                    .map(|(f, val)| ((*f).to_owned(), val))
                    .collect(),
            });
        }
    }
    let status = super::form_status(&error);
    let page = CategoriesPage {
        page: user.page(state, "admin", "b.categories.title").await,
        rows,
        editable: user.user.role == StaffRole::CountyAdmin,
        error,
    };
    Ok((status, page).into_response())
}

pub async fn categories_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    render_categories(&state, &user, None).await
}

/// POST /admin/categories/{id} (the six limits; empty = inherit)
pub async fn save_category(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PanelError> {
    require_county(&user)?;
    let f = |name: &str| form.get(name).unwrap_or("").to_owned();
    let limits = manage::LimitTexts {
        accept_normal: f("accept_normal"),
        accept_urgent: f("accept_urgent"),
        accept_critical: f("accept_critical"),
        handle_normal: f("handle_normal"),
        handle_urgent: f("handle_urgent"),
        handle_critical: f("handle_critical"),
    };
    let txn = state.db.write().await?;
    match manage::set_category_limits(&*txn, id, &limits).await {
        Ok(c) => {
            let detail = format!(
                "{:?}/{:?}/{:?} {:?}/{:?}/{:?}",
                c.accept_normal,
                c.accept_urgent,
                c.accept_critical,
                c.handle_normal,
                c.handle_urgent,
                c.handle_critical
            );
            user.audit_in(
                &*txn,
                "category.limits",
                Some(&format!("category:{}", c.code)),
                Some(&detail),
            )
            .await?;
            txn.commit().await?;
            Ok(Redirect::to("/admin/categories").into_response())
        }
        Err(e) => {
            drop(txn);
            let m = refusal(e, user.locale)?;
            render_categories(&state, &user, Some(m)).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Holidays

pub struct HolidayRow {
    pub day: String,
    pub kind: String,
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "holidays.html")]
pub struct HolidaysPage {
    pub page: PageCtx,
    pub rows: Vec<HolidayRow>,
    pub editable: bool,
}

pub async fn holidays_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let locale = user.locale;
    let rows = holidays::list(state.db.conn())
        .await?
        .into_iter()
        .map(|h| HolidayRow {
            day: h.day.format("%Y-%m-%d").to_string(),
            kind: t!(format!("b.holidays.kind.{}", h.kind), locale = locale).into_owned(),
            name: h.name,
        })
        .collect();
    let page = HolidaysPage {
        page: user.page(&state, "admin", "b.holidays.title").await,
        rows,
        editable: user.user.role == StaffRole::CountyAdmin,
    };
    Ok(page.into_response())
}

fn form_day(form: &FormData, locale: &str) -> Result<NaiveDate, PanelError> {
    form.get("day")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| {
            PanelError::BadRequest(t!("b.holidays.bad_day", locale = locale).into_owned())
        })
}

/// Longest name of a holiday.
const MAX_HOLIDAY_NAME_CHARS: usize = 40;

/// POST /admin/holidays (`day`, `kind` = holiday | workday, `name`)
pub async fn add_holiday(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    require_county(&user)?;
    let day = form_day(&form, user.locale)?;
    let kind = match form.get("kind") {
        Some("workday") => DayKind::Workday,
        Some("holiday") | None => DayKind::Holiday,
        Some(_) => {
            return Err(PanelError::BadRequest(
                t!("b.holidays.bad_kind", locale = user.locale).into_owned(),
            ));
        }
    };
    // Refused when too long rather than cut: nothing typed is silently lost.
    let name = form.get("name").unwrap_or("").to_owned();
    if name.chars().count() > MAX_HOLIDAY_NAME_CHARS {
        return Err(PanelError::BadRequest(
            t!(
                "b.holidays.name_too_long",
                locale = user.locale,
                max = MAX_HOLIDAY_NAME_CHARS
            )
            .into_owned(),
        ));
    }
    let txn = state.db.write().await?;
    holidays::set_day(&*txn, day, kind, &name).await?;
    user.audit_in(
        &*txn,
        "holiday.set",
        Some(&format!("day:{day}")),
        Some(kind.as_str()),
    )
    .await?;
    txn.commit().await?;
    Ok(Redirect::to("/admin/holidays").into_response())
}

/// POST /admin/holidays/remove (`day`)
pub async fn remove_holiday(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    require_county(&user)?;
    let day = form_day(&form, user.locale)?;
    let txn = state.db.write().await?;
    holidays::remove_day(&*txn, day).await?;
    user.audit_in(&*txn, "holiday.remove", Some(&format!("day:{day}")), None)
        .await?;
    txn.commit().await?;
    Ok(Redirect::to("/admin/holidays").into_response())
}

// ---------------------------------------------------------------------------------------------
// Users

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
    let users = manage::users_in_scope(conn, &scope).await?;
    let names =
        gridline_shared::inbox::area_names(conn, users.iter().map(|u| u.area_path.as_str()))
            .await?;
    let rows = users
        .iter()
        .map(|u| UserRow {
            id: u.id,
            username: u.username.clone(),
            role: t!(format!("panel.role.{}", u.role.code()), locale = locale).into_owned(),
            area: gridline_shared::inbox::display_or_county(&u.area_path, &names),
            active: u.active,
            last_login: local_time_opt(u.last_login_at),
            manageable: u.id != user.user.id
                && manage::may_manage_user(&user.user, u.role, &u.area_path),
        })
        .collect();
    let roles = StaffRole::ALL
        .iter()
        .filter(|r| user.user.role == StaffRole::CountyAdmin || **r != StaffRole::CountyAdmin)
        .map(|r| {
            opt(
                r.code(),
                t!(format!("panel.role.{}", r.code()), locale = locale),
                *r == StaffRole::Secretary,
            )
        })
        .collect();
    let areas = manage::area_tree(conn, &scope, AreaLevel::Community)
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
    let status = super::form_status(&error);
    let page = UsersPage {
        page: user.page(state, "admin", "b.users.title").await,
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
    user.require_admin()?;
    let locale = user.locale;
    let role = form.get("role").and_then(StaffRole::parse).ok_or_else(|| {
        PanelError::BadRequest(t!("b.users.bad_role", locale = locale).into_owned())
    })?;
    let area: i64 = form
        .get("area")
        .and_then(|a| a.parse().ok())
        .ok_or(PanelError::NotFound)?;
    let username = form.get("username").unwrap_or("");
    let password = form.raw("password");
    let txn = state.db.write().await?;
    match manage::create_user(&*txn, &user.user, username, password, role, area).await {
        Ok(u) => {
            user.audit_in(
                &*txn,
                "user.create",
                Some(&format!("user:{}", u.username)),
                Some(role.code()),
            )
            .await?;
            txn.commit().await?;
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(e) => {
            drop(txn);
            let m = refusal(e, locale)?;
            render_users(&state, &user, Some(m), None).await
        }
    }
}

/// POST /admin/users/{id}/active (`active` = 1 | 0)
pub async fn set_user_active(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let active = form.get("active") == Some("1");
    let txn = state.db.write().await?;
    let u = manage::set_user_active(&*txn, &user.user, id, active).await?;
    user.audit_in(
        &*txn,
        if active {
            "user.activate"
        } else {
            "user.deactivate"
        },
        Some(&format!("user:{}", u.username)),
        None,
    )
    .await?;
    txn.commit().await?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// POST /admin/users/{id}/reset: a new one-time password, shown once.
pub async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let txn = state.db.write().await?;
    let (u, password) = manage::reset_password(&*txn, &user.user, id).await?;
    user.audit_in(
        &*txn,
        "user.reset_password",
        Some(&format!("user:{}", u.username)),
        None,
    )
    .await?;
    txn.commit().await?;
    render_users(&state, &user, None, Some((u.username, password))).await
}

// ---------------------------------------------------------------------------------------------
// Audit log

pub struct AuditRow {
    pub at: String,
    pub who: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub page: PageCtx,
    pub rows: Vec<AuditRow>,
    pub users: Vec<Opt>,
    pub from: String,
    pub to: String,
    pub next_href: Option<String>,
}

const AUDIT_PAGE: u64 = 100;

/// GET /admin/audit (`user`, `from`, `to`, `before`)
pub async fn audit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let locale = user.locale;
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let bad = |what: &str| super::bad_filter(locale, what);
    let q = manage::AuditQuery {
        staff_id: form
            .get("user")
            .map(|u| u.parse::<i64>().map_err(|_| bad("user")))
            .transpose()?,
        from: super::parse_date(&form, "from", locale)?,
        to: super::parse_date(&form, "to", locale)?,
        before_id: form
            .get("before")
            .map(|u| u.parse::<i64>().map_err(|_| bad("before")))
            .transpose()?,
    };
    let scope = user.scope();
    let is_root = user.user.role == StaffRole::CountyAdmin
        && gridline_shared::areas::find_root(state.db.conn())
            .await?
            .is_some_and(|r| r.id == scope.area_id());
    let (entries, names) =
        manage::audit_search(state.db.conn(), &scope, is_root, &q, AUDIT_PAGE).await?;
    let next_href = (entries.len() as u64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &form.0 {
                if k != "before" && k != "lang" {
                    ser.append_pair(k, v);
                }
            }
            ser.append_pair("before", &id.to_string());
            format!("/admin/audit?{}", ser.finish())
        });
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            at: local_time(e.at),
            who: e
                .staff_id
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_else(|| "—".into()),
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    let users = manage::users_in_scope(state.db.conn(), &scope)
        .await?
        .into_iter()
        .map(|u| opt(u.id.to_string(), u.username, q.staff_id == Some(u.id)))
        .collect();
    let page = AuditPage {
        page: user.page(&state, "admin", "b.audit.title").await,
        rows,
        users,
        from: q.from.map(|d| d.to_string()).unwrap_or_default(),
        to: q.to.map(|d| d.to_string()).unwrap_or_default(),
        next_href,
    };
    Ok(page.into_response())
}
