//! `/admin/holidays`: days off on weekdays and make-up workdays (调休). County and town admins
//! see them; the holiday table is county-wide, so only the county admin changes it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use gridline_shared::calendar::DayKind;
use gridline_shared::domain::StaffRole;
use gridline_shared::holidays;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::CurrentUser;
use crate::tr;

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
            kind: tr(locale, format!("panel.holidays.kind.{}", h.kind)),
            name: h.name,
        })
        .collect();
    let page = HolidaysPage {
        page: user.page(&state, "admin", "panel.holidays.title").await,
        rows,
        editable: user.user.role == StaffRole::CountyAdmin,
    };
    Ok(page.into_response())
}

fn form_day(form: &FormData, locale: &str) -> Result<NaiveDate, PanelError> {
    form.get("day")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| PanelError::BadRequest(tr(locale, "panel.holidays.bad_day")))
}

/// POST /admin/holidays (`day`, `kind` = holiday | workday, `name`)
pub async fn add_holiday(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let day = form_day(&form, user.locale)?;
    let kind = match form.get("kind") {
        Some("workday") => DayKind::Workday,
        Some("holiday") | None => DayKind::Holiday,
        Some(_) => {
            return Err(PanelError::BadRequest(tr(
                user.locale,
                "panel.holidays.bad_kind",
            )));
        }
    };
    let name = form.get("name").unwrap_or("");
    holidays::set(&state.db, &user.actor(), day, kind, name, user.ip()).await?;
    Ok(Redirect::to("/admin/holidays").into_response())
}

/// POST /admin/holidays/remove (`day`)
pub async fn remove_holiday(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let day = form_day(&form, user.locale)?;
    holidays::remove(&state.db, &user.actor(), day, user.ip()).await?;
    Ok(Redirect::to("/admin/holidays").into_response())
}
