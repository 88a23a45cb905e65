//! `/admin/settings` (「县级设置」): the county-wide choices of
//! `gridline_shared::county_settings`, one form with every setting. County and town admins
//! see them; only the county admin changes them (the core refuses anyone else).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::CoreError;
use gridline_shared::county_settings::{self, Kind, Setting, Value};
use gridline_shared::domain::StaffRole;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::{form_refusal, form_status};
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::CurrentUser;
use crate::tr;

pub struct SettingRow {
    pub key: &'static str,
    pub label: String,
    pub hint: String,
    /// A checkbox (on/off) or a number field.
    pub switch: bool,
    pub on: bool,
    pub number: String,
    pub min: i64,
    pub max: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub page: PageCtx,
    pub rows: Vec<SettingRow>,
    pub editable: bool,
    pub saved: bool,
    pub error: Option<String>,
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    saved: bool,
    error: Option<String>,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let now = county_settings::load(state.db.conn()).await?;
    let rows = Setting::all()
        .map(|s| {
            let (switch, min, max) = match s.kind() {
                Kind::Switch { .. } => (true, 0, 0),
                Kind::Number { min, max, .. } => (false, min, max),
            };
            SettingRow {
                key: s.key(),
                label: tr(locale, s.label_key()),
                hint: tr(locale, s.hint_key()),
                switch,
                on: now.is_on(s),
                number: now.number(s).to_string(),
                min,
                max,
            }
        })
        .collect();
    let status = form_status(&error);
    let page = SettingsPage {
        page: user.page(state, "admin", "panel.settings.title").await,
        rows,
        editable: user.user.role == StaffRole::CountyAdmin,
        saved,
        error,
    };
    Ok((status, page).into_response())
}

/// GET /admin/settings (`saved` after a change)
pub async fn settings_page(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let saved = FormData::parse(raw.as_deref().unwrap_or("").as_bytes())
        .get("saved")
        .is_some();
    render(&state, &user, saved, None).await
}

/// POST /admin/settings (one field per setting, named by its key; an unticked switch is
/// absent)
pub async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let mut values = Vec::new();
    for s in Setting::all() {
        match s.read(form.get(s.key())) {
            Ok(v) => values.push((s, v)),
            Err(problem) => {
                let message = form_refusal(CoreError::Invalid(problem), user.locale)?;
                let message = format!("{}：{message}", tr(user.locale, s.label_key()));
                return render(&state, &user, false, Some(message)).await;
            }
        }
    }
    let values: Vec<(Setting, Value)> = values;
    match county_settings::update(&state.db, &user.actor(), &values, user.ip(), Utc::now()).await {
        Ok(_) => Ok(Redirect::to("/admin/settings?saved=1").into_response()),
        Err(e) => render(&state, &user, false, Some(form_refusal(e, user.locale)?)).await,
    }
}
