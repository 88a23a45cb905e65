//! `/admin/categories`: the categories and their time limits per urgency. County and town
//! admins see them; categories are county-wide, so only the county admin changes them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use gridline_shared::categories::{self, LimitField, LimitTexts};
use gridline_shared::domain::StaffRole;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::form_refusal;
use crate::panel::error::form_status;
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::CurrentUser;

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
            rows.push(CategoryRow {
                id: c.id,
                name: c.label(locale).to_owned(),
                sub: c.parent_id.is_some(),
                limits: LimitField::all()
                    .map(|f| {
                        (
                            f.code().to_owned(),
                            c.limit_text(f).unwrap_or("").to_owned(),
                        )
                    })
                    .collect(),
            });
        }
    }
    let status = form_status(&error);
    let page = CategoriesPage {
        page: user.page(state, "admin", "panel.categories.title").await,
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
    let limits = LimitTexts::from_fn(|field| form.get(field.code()).unwrap_or("").to_owned());
    match categories::set_limits(&state.db, &user.actor(), id, &limits, user.ip()).await {
        Ok(_) => Ok(Redirect::to("/admin/categories").into_response()),
        Err(e) => render_categories(&state, &user, Some(form_refusal(e, user.locale)?)).await,
    }
}
