//! The panel's one error type. Every variant becomes a plain page in the user's language; the
//! cause is logged (without personal data), never shown.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use gridline_shared::CoreError;
use gridline_shared::lifecycle::{LifecycleError, Refusal};
use rust_i18n::t;

use crate::panel::session::current_locale;
use crate::tr;

#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// Does not exist, or outside the user's scope (the same on purpose).
    #[error("not found")]
    NotFound,
    /// The user's role may not do this.
    #[error("forbidden")]
    Forbidden,
    /// A POST without the right CSRF token.
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("request body too large")]
    TooLarge,
    /// Too many uploads being read at once: try again in a moment.
    #[error("too many uploads at once")]
    Busy,
    /// Bad input, with a message already in the user's language.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The core refused a report action (status and message depend on why).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The core's error: a refusal ([`CoreError::problem`]) says its problem with its own
    /// status (invalid 400, conflict 409, forbidden 403); anything else is a server error.
    #[error("core: {0}")]
    Core(CoreError),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<CoreError> for PanelError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound => PanelError::NotFound,
            other => PanelError::Core(other),
        }
    }
}

impl From<LifecycleError> for PanelError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::Refused(Refusal::NotFound) => PanelError::NotFound,
            LifecycleError::Refused(r) => PanelError::Refused(r),
            LifecycleError::Core(c) => c.into(),
        }
    }
}

/// The message of a form shown again: what was invalid or clashes with what is stored, in the
/// user's words; anything else (not found, forbidden, a server error) as it is.
pub fn form_refusal(e: CoreError, locale: &str) -> Result<String, PanelError> {
    match e {
        CoreError::Invalid(p) | CoreError::Conflict(p) => Ok(p.message(locale)),
        e => Err(e.into()),
    }
}

/// The status of a form page: 422 when it is shown again with a refusal, else 200.
pub fn form_status(error: &Option<String>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// The status of a refusal.
pub fn refusal_status(r: &Refusal) -> StatusCode {
    match r {
        Refusal::NotFound => StatusCode::NOT_FOUND,
        Refusal::NotAllowed { .. } | Refusal::OutOfScope => StatusCode::FORBIDDEN,
        Refusal::WrongState { .. } | Refusal::ReopenWindowPassed => StatusCode::CONFLICT,
        Refusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A refusal in plain words.
pub fn refusal_message(r: &Refusal, locale: &str) -> String {
    match r {
        Refusal::NotFound => tr(locale, "panel.error.not_found"),
        Refusal::NotAllowed { .. } => tr(locale, "panel.refusal.not_allowed"),
        Refusal::OutOfScope => tr(locale, "panel.refusal.out_of_scope"),
        Refusal::ReopenWindowPassed => tr(locale, "panel.refusal.reopen_window"),
        Refusal::WrongState { action, state } => t!(
            "panel.refusal.wrong_state",
            locale = locale,
            action = t!(format!("panel.action.{action}"), locale = locale),
            state = t!(state.i18n_key(), locale = locale)
        )
        .into_owned(),
        Refusal::Invalid(p) => p.message(locale),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    locale: &'static str,
    title: String,
    message: String,
    home: String,
    css: String,
}

impl PanelError {
    pub fn status(&self) -> StatusCode {
        match self {
            PanelError::NotFound => StatusCode::NOT_FOUND,
            PanelError::Forbidden | PanelError::Csrf => StatusCode::FORBIDDEN,
            PanelError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PanelError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            PanelError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PanelError::Refused(r) => refusal_status(r),
            PanelError::Core(CoreError::Invalid(_)) => StatusCode::BAD_REQUEST,
            PanelError::Core(CoreError::Conflict(_)) => StatusCode::CONFLICT,
            PanelError::Core(CoreError::Forbidden(_)) => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown, in `locale`.
    pub fn message(&self, locale: &str) -> String {
        match self {
            PanelError::NotFound => tr(locale, "panel.error.not_found"),
            PanelError::Forbidden => tr(locale, "panel.error.forbidden"),
            PanelError::Csrf => tr(locale, "panel.error.csrf"),
            PanelError::TooLarge => tr(locale, "panel.error.too_large"),
            PanelError::Busy => tr(locale, "panel.error.busy"),
            PanelError::BadRequest(m) => {
                format!("{}{m}", t!("panel.error.bad_request", locale = locale))
            }
            PanelError::Refused(r) => refusal_message(r, locale),
            PanelError::Core(e) => match e.problem() {
                Some(p) => p.message(locale),
                None => tr(locale, "panel.error.internal"),
            },
            _ => tr(locale, "panel.error.internal"),
        }
    }
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !matches!(self, PanelError::Busy) {
            tracing::error!(error = %self, "panel request failed");
            gridline_shared::metrics::COUNTERS
                .handler_error(gridline_shared::metrics::Component::Panel);
        } else {
            tracing::debug!(error = %self, "panel request refused");
        }
        let locale = current_locale();
        let page = ErrorPage {
            locale,
            title: tr(locale, "panel.error.title"),
            message: self.message(locale),
            home: tr(locale, "panel.error.home"),
            css: crate::panel::assets::url("panel.css"),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.message(locale)).into_response(),
        }
    }
}
