//! The panel's one error type. Every variant becomes a plain page in the user's language; the
//! cause is logged (without personal data), never shown.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use gridline_shared::CoreError;
use gridline_shared::lifecycle::{LifecycleError, Refusal};
use rust_i18n::t;

use crate::panel::session::current_locale;

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
    /// Bad input, with a message already in the user's language.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The core refused an action (status and message depend on why).
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
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
            CoreError::Forbidden(_) => PanelError::Forbidden,
            CoreError::Invalid(m) => PanelError::BadRequest(m),
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

/// A core refusal in the user's words, for re-rendering a form with a message; any other
/// error as it is.
pub fn form_refusal(e: CoreError, locale: &str) -> Result<String, PanelError> {
    match e {
        CoreError::Invalid(m) => Ok(format!("{}{m}", t!("panel.admin.invalid", locale = locale))),
        CoreError::Conflict(_) => Ok(t!("panel.admin.conflict", locale = locale).into_owned()),
        e => Err(e.into()),
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
        Refusal::NotFound => t!("panel.error.not_found", locale = locale).into_owned(),
        Refusal::NotAllowed { .. } => t!("panel.refusal.not_allowed", locale = locale).into_owned(),
        Refusal::OutOfScope => t!("panel.refusal.out_of_scope", locale = locale).into_owned(),
        Refusal::ReopenWindowPassed => {
            t!("panel.refusal.reopen_window", locale = locale).into_owned()
        }
        Refusal::WrongState { action, state } => t!(
            "panel.refusal.wrong_state",
            locale = locale,
            action = t!(format!("panel.action.{action}"), locale = locale),
            state = t!(state.i18n_key(), locale = locale)
        )
        .into_owned(),
        Refusal::Invalid(m) => {
            // The core's messages are English; the common ones have a translation.
            let key = if m.starts_with("a note is required") {
                "panel.refusal.note_required"
            } else if m.starts_with("note longer") {
                "panel.refusal.note_too_long"
            } else if m.starts_with("say why") {
                "panel.refusal.say_why"
            } else if m.starts_with("the county has no higher") {
                "panel.refusal.top_level"
            } else if m.starts_with("this report has no reporter") {
                "panel.refusal.no_reporter"
            } else if m.starts_with("no such grid leader") || m.starts_with("this grid leader") {
                "panel.refusal.bad_member"
            } else if m.starts_with("no such staff") {
                "panel.refusal.bad_staff"
            } else if m.starts_with("a report cannot duplicate itself") {
                "panel.refusal.self_duplicate"
            } else if m.starts_with("report #") {
                "panel.refusal.no_original"
            } else {
                ""
            };
            if key.is_empty() {
                format!("{}{m}", t!("panel.refusal.invalid", locale = locale))
            } else {
                t!(key, locale = locale).into_owned()
            }
        }
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
            PanelError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PanelError::Refused(r) => refusal_status(r),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message shown, in `locale`.
    pub fn message(&self, locale: &str) -> String {
        match self {
            PanelError::NotFound => t!("panel.error.not_found", locale = locale).into_owned(),
            PanelError::Forbidden => t!("panel.error.forbidden", locale = locale).into_owned(),
            PanelError::Csrf => t!("panel.error.csrf", locale = locale).into_owned(),
            PanelError::TooLarge => t!("panel.error.too_large", locale = locale).into_owned(),
            PanelError::BadRequest(m) => {
                format!("{}{m}", t!("panel.error.bad_request", locale = locale))
            }
            PanelError::Refused(r) => refusal_message(r, locale),
            _ => t!("panel.error.internal", locale = locale).into_owned(),
        }
    }
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "panel request failed");
        } else {
            tracing::debug!(error = %self, "panel request refused");
        }
        let locale = current_locale();
        let page = ErrorPage {
            locale,
            title: t!("panel.error.title", locale = locale).into_owned(),
            message: self.message(locale),
            home: t!("panel.error.home", locale = locale).into_owned(),
            css: crate::panel::assets::url("panel.css"),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.message(locale)).into_response(),
        }
    }
}
