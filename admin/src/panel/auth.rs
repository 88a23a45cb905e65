//! Login and logout. Passwords are argon2id (checked on the blocking pool); failures are
//! throttled per account and per address (each attempt counted before it is checked); logging
//! in always starts a fresh session (new id); a password set by somebody else is changed first.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::{panel_sessions, staff};
use rust_i18n::t;
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::app::AppState;
use crate::panel::error::PanelError;
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::{Ctx, session_cookie};
use crate::panel::throttle::Blocked;
use crate::tr;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub page: PageCtx,
    pub username: String,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn next_or_inbox(next: Option<&str>) -> String {
    next.and_then(crate::panel::session::safe_next)
        .filter(|n| !n.starts_with("/login") && !n.starts_with("/logout"))
        .unwrap_or_else(|| "/inbox".to_owned())
}

/// GET /login: the form (with an anonymous session holding its CSRF token).
pub async fn login_form(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<NextQuery>,
) -> Result<Response, PanelError> {
    let next = next_or_inbox(q.next.as_deref());
    if ctx.user.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let mut ctx = ctx;
    let mut new_cookie = None;
    if ctx.session.is_none() {
        let (token, row) =
            panel_sessions::start_anonymous(&state.db, ctx.ip.as_deref(), Utc::now()).await?;
        ctx.session = Some(row);
        new_cookie = Some(token);
    }
    let page = LoginPage {
        page: PageCtx::anonymous(&state, &ctx, "panel.login.title"),
        username: String::new(),
        next,
        error: None,
    };
    let mut resp = page.into_response();
    if let Some(token) = new_cookie {
        resp.headers_mut().append(
            header::SET_COOKIE,
            session_cookie(&token, state.settings.cookie_secure),
        );
    }
    Ok(resp)
}

/// A hash to check against when the username is unknown, so both cases take as long.
async fn dummy_hash() -> &'static str {
    static HASH: OnceCell<String> = OnceCell::const_new();
    HASH.get_or_init(|| async {
        staff::hash_password("gridline-dummy-password")
            .await
            .unwrap_or_default()
    })
    .await
}

/// POST /login (`username`, `password`, `next`, `csrf_token` — checked by the middleware).
pub async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    form: FormData,
) -> Result<Response, PanelError> {
    let locale = ctx.locale;
    let username = form.get("username").unwrap_or("").to_owned();
    let password = form.raw("password").to_owned();
    let next = next_or_inbox(form.get("next"));
    let ip = ctx.ip.clone();
    let refuse = |status: StatusCode, message: String| {
        let page = LoginPage {
            page: PageCtx::anonymous(&state, &ctx, "panel.login.title"),
            username: username.clone(),
            next: next.clone(),
            error: Some(message),
        };
        (status, page).into_response()
    };
    if username.is_empty() || password.is_empty() {
        return Ok(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            tr(locale, "panel.login.missing"),
        ));
    }
    if username.chars().count() > 64 || password.len() > staff::MAX_PASSWORD_BYTES {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            tr(locale, "panel.login.failed"),
        ));
    }

    // Counted before the password is checked (atomically), so parallel guesses cannot all pass.
    if let Err(blocked) = state.throttle.attempt(&username, ip.as_deref()) {
        let (secs, key) = match blocked {
            Blocked::Account { retry_after } => (retry_after, "panel.login.throttled_account"),
            Blocked::Address { retry_after } => (retry_after, "panel.login.throttled_address"),
        };
        let minutes = secs.as_secs().div_ceil(60).max(1);
        panel_sessions::record_throttled_login(&state.db, &username, ip.as_deref()).await?;
        return Ok(refuse(
            StatusCode::TOO_MANY_REQUESTS,
            t!(key, locale = locale, minutes = minutes).into_owned(),
        ));
    }

    let user = staff::find_by_username(state.db.conn(), &username).await?;
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => dummy_hash().await.to_owned(),
    };
    let password_ok = staff::verify_password(&password, &hash).await;
    let user = match user {
        Some(u) if password_ok && u.active => u,
        other => {
            panel_sessions::record_failed_login(
                &state.db,
                &username,
                other.as_ref(),
                ip.as_deref(),
            )
            .await?;
            return Ok(refuse(
                StatusCode::UNAUTHORIZED,
                tr(locale, "panel.login.failed"),
            ));
        }
    };

    state.throttle.success(&username, ip.as_deref());
    let old_session = ctx.session.as_ref().map(|s| s.id.as_str());
    let token =
        panel_sessions::log_in(&state.db, &user, old_session, ip.as_deref(), Utc::now()).await?;

    // A password somebody else set (the first admin's, a reset) is changed before anything.
    let target = if user.must_change_password {
        crate::panel::password::PATH.to_owned()
    } else {
        next
    };
    let mut resp = Redirect::to(&target).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&token, state.settings.cookie_secure),
    );
    Ok(resp)
}

/// POST /logout: ends the session.
pub async fn logout(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PanelError> {
    if let Some(session) = &ctx.session {
        panel_sessions::log_out(&state.db, &session.id, ctx.user.as_ref(), ctx.ip.as_deref())
            .await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session_cookie("", state.settings.cookie_secure),
    );
    Ok(resp)
}
