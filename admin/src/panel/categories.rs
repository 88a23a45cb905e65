//! `/admin/categories`: the categories and their time limits per urgency. County and town
//! admins see them; categories are county-wide, so only the county admin changes them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use gridline_shared::domain::StaffRole;
use gridline_shared::{categories, manage};

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::form_refusal as refusal;
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
    user.require_county_admin()?;
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
