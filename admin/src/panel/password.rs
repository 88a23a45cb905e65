//! `/password`: every staff user changes their own password here, giving the current one. A
//! user whose password somebody else set (the first admin, a reset) is sent here by the session
//! middleware from every other page until it is changed. The change rotates the session (all
//! the user's sessions end, this browser gets a new one).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::{CoreError, Problem, staff};
use rust_i18n::t;
use serde::Deserialize;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::error::{form_refusal, form_status};
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::{CurrentUser, session_cookie};
use crate::panel::throttle::Blocked;

/// The page's path (the session middleware lets a user who must change their password reach
/// only this, `/logout` and the static files).
pub const PATH: &str = "/password";

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub page: PageCtx,
    pub must_change: bool,
    pub changed: bool,
    pub min: usize,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordQuery {
    changed: Option<String>,
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    changed: bool,
    error: Option<String>,
    status: Option<StatusCode>,
) -> Result<Response, PanelError> {
    let status = status.unwrap_or_else(|| form_status(&error));
    let page = PasswordPage {
        page: user.page(state, "password", "panel.password.title").await,
        must_change: user.user.must_change_password,
        changed,
        min: staff::MIN_PASSWORD_CHARS,
        error,
    };
    Ok((status, page).into_response())
}

/// GET /password
pub async fn form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PasswordQuery>,
) -> Result<Response, PanelError> {
    let changed = q.changed.is_some() && !user.user.must_change_password;
    render(&state, &user, changed, None, None).await
}

/// POST /password (`current`, `new`, `confirm`, `csrf_token` — checked by the middleware).
/// Wrong current passwords count against the login throttle of the account and address.
pub async fn change(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let current = form.raw("current");
    let new = form.raw("new");
    if new != form.raw("confirm") {
        let message = Problem::PasswordsDiffer.message(locale);
        return render(&state, &user, false, Some(message), None).await;
    }
    let username = user.user.username.clone();
    if let Err(blocked) = state.throttle.attempt(&username, user.ip()) {
        let (secs, key) = match blocked {
            Blocked::Account { retry_after } => (retry_after, "panel.login.throttled_account"),
            Blocked::Address { retry_after } => (retry_after, "panel.login.throttled_address"),
        };
        let minutes = secs.as_secs().div_ceil(60).max(1);
        let message = t!(key, locale = locale, minutes = minutes).into_owned();
        return render(
            &state,
            &user,
            false,
            Some(message),
            Some(StatusCode::TOO_MANY_REQUESTS),
        )
        .await;
    }
    let result =
        staff::change_own_password(&state.db, user.user.id, current, new, user.ip(), Utc::now())
            .await;
    if !matches!(result, Err(CoreError::Invalid(Problem::PasswordWrong))) {
        // Only a wrong current password is a guess.
        state.throttle.success(&username, user.ip());
    }
    match result {
        Ok(token) => {
            let mut resp = Redirect::to(&format!("{PATH}?changed=1")).into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(&token, state.settings.cookie_secure),
            );
            Ok(resp)
        }
        Err(e) => {
            let message = form_refusal(e, locale)?;
            render(&state, &user, false, Some(message), None).await
        }
    }
}
