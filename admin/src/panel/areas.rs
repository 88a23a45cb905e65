//! `/admin/areas`: the area tree down to the grids, add an area below one, rename one. County
//! and town admins only (a secretary or viewer gets 403), inside their scope.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use gridline_shared::areas;
use gridline_shared::domain::AreaLevel;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::form_refusal;
use crate::panel::error::form_status;
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::layout::level_key;
use crate::panel::session::CurrentUser;
use crate::tr;

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
    let rows = areas::tree(state.db.conn(), &user.scope(), AreaLevel::Grid)
        .await?
        .into_iter()
        .map(|(a, depth)| AreaRow {
            id: a.id,
            level: tr(locale, level_key(a.level)),
            indent: "　".repeat(depth * 2),
            can_add: a.level.child().is_some(),
            name: a.name,
        })
        .collect();
    let status = form_status(&error);
    let page = AreasPage {
        page: user.page(state, "admin", "panel.areas.title").await,
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
    let parent: i64 = form
        .get("parent")
        .and_then(|p| p.parse().ok())
        .ok_or(PanelError::NotFound)?;
    let name = form.get("name").unwrap_or("");
    match areas::add(&state.db, &user.actor(), parent, name, user.ip()).await {
        Ok(_) => Ok(Redirect::to("/admin/areas").into_response()),
        Err(e) => render_areas(&state, &user, Some(form_refusal(e, user.locale)?)).await,
    }
}

/// POST /admin/areas/{id}/rename (`name`)
pub async fn rename_area(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PanelError> {
    let name = form.get("name").unwrap_or("");
    match areas::rename(&state.db, &user.actor(), id, name, user.ip()).await {
        Ok(_) => Ok(Redirect::to("/admin/areas").into_response()),
        Err(e) => render_areas(&state, &user, Some(form_refusal(e, user.locale)?)).await,
    }
}
