//! `/api-tokens`: the page where staff create and revoke their tokens for the JSON API (the
//! secret shown once).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::api_tokens;
use gridline_shared::entity::api_token;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::form_refusal;
use crate::panel::error::form_status;
use crate::panel::forms::FormData;
use crate::panel::layout::{PageCtx, local_time, local_time_opt};
use crate::panel::session::CurrentUser;

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "api_tokens.html")]
pub struct TokensPage {
    pub page: PageCtx,
    pub tokens: Vec<TokenRow>,
    /// The secret of a token just created (shown this once).
    pub new_secret: Option<String>,
    pub error: Option<String>,
}

async fn render_tokens(
    state: &AppState,
    user: &CurrentUser,
    new_secret: Option<String>,
    error: Option<String>,
) -> Result<Response, PanelError> {
    let tokens = api_tokens::list_of(state.db.conn(), user.user.id)
        .await?
        .into_iter()
        .map(|t: api_token::Model| TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: local_time(t.created_at),
            last_used: local_time_opt(t.last_used_at),
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    let status = form_status(&error);
    let page = TokensPage {
        page: user.page(state, "api", "panel.api_tokens.title").await,
        tokens,
        new_secret,
        error,
    };
    Ok((status, page).into_response())
}

/// GET /api-tokens
pub async fn tokens_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, PanelError> {
    render_tokens(&state, &user, None, None).await
}

/// POST /api-tokens (`name`): creates a token and shows its secret once.
pub async fn create_token(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let name = form.get("name").unwrap_or("");
    match api_tokens::create(&state.db, &user.user, name, user.ip(), Utc::now()).await {
        Ok(created) => render_tokens(&state, &user, Some(created.secret), None).await,
        Err(e) => render_tokens(&state, &user, None, Some(form_refusal(e, user.locale)?)).await,
    }
}

/// POST /api-tokens/{id}/revoke
pub async fn revoke_token(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    api_tokens::revoke(&state.db, user.user.id, id, user.ip(), Utc::now()).await?;
    Ok(Redirect::to("/api-tokens").into_response())
}
