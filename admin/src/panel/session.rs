//! The panel's request layer: locale, session, CSRF and security headers.
//!
//! For every panel request [`middleware`]:
//! 1. picks the locale (`?lang=` — remembered in a cookie — else the `gridline_lang` cookie,
//!    else Chinese);
//! 2. loads the session from the `gridline_session` cookie (database-backed, see
//!    `gridline_shared::panel_sessions`), ends it when idle or too old, refreshes it;
//! 3. on every POST (PUT, PATCH, DELETE), refuses with 403 — before any handler runs — unless
//!    the form's `csrf_token` (urlencoded or multipart body, or an `X-CSRF-Token` header) equals
//!    the session's token. A request that cannot pass is refused *before its body is read*: no
//!    live session, an upload without a logged-in user, a wrong `X-CSRF-Token` header, a
//!    `Content-Length` over the route's limit. Bodies are read up to [`FORM_LIMIT`], on the
//!    upload routes ([`is_upload`]) up to [`MULTIPART_LIMIT`] with at most [`UPLOADS_AT_ONCE`]
//!    read at a time (503 beyond);
//! 4. sends a user who must change their password (set by somebody else) to `/password` from
//!    every other page;
//! 5. puts a [`Ctx`] in the request extensions (handlers take it, or [`CurrentUser`]);
//! 6. adds security headers (CSP without inline script, no framing, no sniffing, no caching of
//!    pages).

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::entity::{panel_session, staff_user};
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::{Scope, panel_sessions, staff};

use crate::app::AppState;
use crate::panel::error::PanelError;
use crate::tr;

pub const SESSION_COOKIE: &str = "gridline_session";
pub const LANG_COOKIE: &str = "gridline_lang";
/// Largest body of a POST outside the upload routes.
pub const FORM_LIMIT: usize = 1024 * 1024;
/// Largest body of an upload (rosters, notice attachments, simulator photos).
pub const MULTIPART_LIMIT: usize = 32 * 1024 * 1024;
/// How many upload bodies are read at once (each up to [`MULTIPART_LIMIT`] in memory).
pub const UPLOADS_AT_ONCE: usize = 4;

/// The routes that take a large multipart body, only for a logged-in user.
pub fn is_upload(path: &str) -> bool {
    path == "/roster/upload"
        || path == "/notices/new"
        || path
            .strip_prefix("/simulator/")
            .and_then(|rest| rest.strip_suffix("/photo"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Where a user who must change their password may still go.
fn allowed_before_password_change(path: &str) -> bool {
    path == crate::panel::password::PATH || path == "/logout" || path.starts_with("/static/")
}

tokio::task_local! {
    /// The locale of the request being served (error pages read it).
    pub static LOCALE: &'static str;
}

/// The current request's locale (`zh-CN` outside a request).
pub fn current_locale() -> &'static str {
    LOCALE.try_with(|l| *l).unwrap_or("zh-CN")
}

pub fn parse_locale(s: &str) -> Option<&'static str> {
    match s.trim() {
        "zh-CN" | "zh" | "zh-cn" => Some("zh-CN"),
        "en" | "en-US" | "en-GB" => Some("en"),
        _ => None,
    }
}

/// What the middleware learnt about the request.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub locale: &'static str,
    /// The live session (anonymous or logged in).
    pub session: Option<panel_session::Model>,
    /// The logged-in, active staff user.
    pub user: Option<staff_user::Model>,
    /// The client address (the TCP peer).
    pub ip: Option<String>,
    /// Path and query of this request (for the language switch and `next`).
    pub uri: String,
}

impl Ctx {
    pub fn csrf(&self) -> String {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.clone())
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = PanelError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Ctx, PanelError> {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(|| PanelError::Internal("panel route without the session layer".into()))
    }
}

/// The logged-in staff user. Handlers that take it are only reached when somebody is logged
/// in: anybody else is sent to `/login?next=…`.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub user: staff_user::Model,
    pub session: panel_session::Model,
    pub locale: &'static str,
    pub ip: Option<String>,
    pub uri: String,
}

impl CurrentUser {
    pub fn actor(&self) -> StaffActor {
        StaffActor::of(&self.user)
    }
    pub fn scope(&self) -> Scope {
        self.user.scope()
    }
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
    /// 403 unless the user's role may act (not a viewer): the core's rule.
    pub fn require_actor(&self) -> Result<(), PanelError> {
        Ok(staff::require_can_act(&self.actor())?)
    }
    /// 403 unless county or town admin: the core's rule (pages only admins see).
    pub fn require_admin(&self) -> Result<(), PanelError> {
        Ok(staff::require_admin(&self.actor())?)
    }
    /// The client address, for the audit line of what this user does.
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }
}

/// Where to come back after logging in: only a local path, made safe for a `Location` header
/// (control characters refused, other non-ASCII percent-encoded).
pub fn safe_next(next: &str) -> Option<String> {
    if !next.starts_with('/') || next.starts_with("//") || next.contains('\\') {
        return None;
    }
    let mut out = String::with_capacity(next.len());
    for c in next.chars() {
        if c.is_ascii_graphic() {
            out.push(c);
        } else if c.is_control() || c.is_whitespace() {
            return None;
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match (ctx.user, ctx.session) {
            (Some(user), Some(session)) => Ok(CurrentUser {
                user,
                session,
                locale: ctx.locale,
                ip: ctx.ip,
                uri: ctx.uri,
            }),
            _ => {
                let next = if parts.method == Method::GET {
                    ctx.uri.clone()
                } else {
                    "/inbox".to_owned()
                };
                let target = format!(
                    "/login?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// The value of one cookie from the request headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// `Set-Cookie` for the session (empty token: delete it).
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let max_age = if token.is_empty() {
        0
    } else {
        panel_sessions::ABSOLUTE_TIMEOUT.num_seconds()
    };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("gridline_session=; Path=/; Max-Age=0"))
}

fn lang_cookie(locale: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={locale}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("gridline_lang=zh-CN; Path=/"))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The session middleware; see the module docs.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let query_lang = query_param(req.uri().query(), "lang").and_then(|l| parse_locale(&l));
    let locale = query_lang
        .or_else(|| cookie(req.headers(), LANG_COOKIE).and_then(|l| parse_locale(&l)))
        .unwrap_or("zh-CN");
    LOCALE
        .scope(locale, async move {
            let mut resp = match handle(&state, locale, req, next).await {
                Ok(r) => readable_rejection(r).await,
                Err(e) => e.into_response(),
            };
            let headers = resp.headers_mut();
            if let Some(l) = query_lang {
                headers.append(
                    header::SET_COOKIE,
                    lang_cookie(l, state.settings.cookie_secure),
                );
            }
            set_security_headers(headers);
            resp
        })
        .await
}

async fn handle(
    state: &AppState,
    locale: &'static str,
    req: Request,
    next: Next,
) -> Result<Response, PanelError> {
    let now = Utc::now();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());

    // A user deactivated since login has no session any more.
    let (session, user) = match cookie(req.headers(), SESSION_COOKIE) {
        Some(token) => match panel_sessions::resolve(&state.db, &token, now).await? {
            Some((session, user)) => (Some(session), user),
            None => (None, None),
        },
        None => (None, None),
    };

    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Held until the response is made: the body of an upload is read under it.
    let mut _upload_permit = None;
    let req = if unsafe_method {
        let path = req.uri().path().to_owned();
        let upload = is_upload(&path);
        let limit = if upload { MULTIPART_LIMIT } else { FORM_LIMIT };
        // Refused before a byte of the body is read when it cannot pass anyway.
        let header_token = req
            .headers()
            .get("x-csrf-token")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let hopeless = match &session {
            None => true,
            Some(s) => {
                (upload && user.is_none())
                    || header_token
                        .as_deref()
                        .is_some_and(|t| !panel_sessions::constant_time_eq(t, &s.csrf_token))
            }
        };
        if hopeless {
            tracing::warn!(path = %path, "refused a POST without a session or a valid CSRF token");
            return Err(PanelError::Csrf);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(PanelError::TooLarge);
        }
        if upload {
            _upload_permit = Some(
                state
                    .uploads
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| PanelError::Busy)?,
            );
        }
        let (ok, req) = check_csrf(session.as_ref(), req, limit).await?;
        if !ok {
            tracing::warn!(path = %req.uri().path(), "refused a POST without a valid CSRF token");
            return Err(PanelError::Csrf);
        }
        req
    } else {
        req
    };

    if let Some(u) = &user
        && u.must_change_password
        && !allowed_before_password_change(req.uri().path())
    {
        return Ok(Redirect::to(crate::panel::password::PATH).into_response());
    }

    let mut req = req;
    req.extensions_mut().insert(Ctx {
        locale,
        session,
        user,
        ip,
        uri,
    });
    Ok(next.run(req).await)
}

/// axum's own extractor rejections (a path id that is not a number, a broken multipart body,
/// a body over the limit) answer in plain text; the panel answers every refusal with its page.
async fn readable_rejection(resp: Response) -> Response {
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    let status = resp.status();
    if !status.is_client_error() || is_html {
        return resp;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return PanelError::TooLarge.into_response();
    }
    let body = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    if body.starts_with(b"Invalid URL") {
        // A path id that does not parse names nothing.
        return PanelError::NotFound.into_response();
    }
    let locale = current_locale();
    let mut page = PanelError::BadRequest(tr(locale, "panel.error.bad_form")).into_response();
    *page.status_mut() = status;
    page
}

/// Compares the submitted token with the session's. Returns the request rebuilt with its body.
async fn check_csrf(
    session: Option<&panel_session::Model>,
    req: Request,
    limit: usize,
) -> Result<(bool, Request), PanelError> {
    let expected = session.map(|s| s.csrf_token.clone()).unwrap_or_default();
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| PanelError::TooLarge)?;
    let submitted = match header_token {
        Some(t) => Some(t),
        None if content_type.starts_with("application/x-www-form-urlencoded") => {
            form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "csrf_token")
                .map(|(_, v)| v.into_owned())
        }
        None if content_type.starts_with("multipart/form-data") => {
            multipart_token(&parts, bytes.clone()).await
        }
        None => None,
    };
    let ok = !expected.is_empty()
        && submitted.is_some_and(|t| panel_sessions::constant_time_eq(&t, &expected));
    Ok((ok, Request::from_parts(parts, Body::from(bytes))))
}

async fn multipart_token(parts: &Parts, bytes: Bytes) -> Option<String> {
    // The same parts (extensions included: the body limit set for the panel's uploads).
    let req = Request::from_parts(parts.clone(), Body::from(bytes));
    let mut mp = Multipart::from_request(req, &()).await.ok()?;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("csrf_token") {
            return field.text().await.ok();
        }
    }
    None
}

fn set_security_headers(h: &mut axum::http::HeaderMap) {
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        if !h.contains_key(k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths() {
        assert_eq!(
            safe_next("/inbox?kind=visit").as_deref(),
            Some("/inbox?kind=visit")
        );
        assert_eq!(
            safe_next("/inbox?q=楼道").as_deref(),
            Some("/inbox?q=%E6%A5%BC%E9%81%93")
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/a\r\nSet-Cookie: x",
            "/a b",
            "",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}
