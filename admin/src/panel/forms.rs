//! Form bodies: `application/x-www-form-urlencoded` with repeated keys allowed (checkbox lists).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

use crate::panel::error::PanelError;

/// A decoded form: every (name, value) pair in order.
#[derive(Clone, Debug, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    /// Decodes a form (or a query string). Control characters other than tab and line breaks
    /// are dropped from names and values: browsers do not send them from a text field,
    /// PostgreSQL cannot store NUL, and XLSX exports cannot hold them.
    pub fn parse(bytes: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (clean(&k), clean(&v)))
                .collect(),
        )
    }
    /// The first value of `name`, trimmed; `None` when missing or blank (white space and
    /// zero-width characters only).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !is_blank(v))
    }
    /// The first value of `name` as typed (not trimmed), or "".
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    /// Every non-blank value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !is_blank(v))
            .collect()
    }
}

/// Nothing but white space and zero-width characters: a blank field.
fn is_blank(v: &str) -> bool {
    v.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
}

fn clean(s: &str) -> String {
    gridline_shared::conversation::machine::drop_control_chars(s).into_owned()
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = PanelError;
    async fn from_request(req: Request, state: &S) -> Result<FormData, PanelError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| PanelError::TooLarge)?;
        Ok(FormData::parse(&bytes))
    }
}
