//! Form bodies: `application/x-www-form-urlencoded` with repeated keys allowed (checkbox lists).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

use crate::panel::error::PanelError;

/// A decoded form: every (name, value) pair in order.
#[derive(Clone, Debug, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(bytes: &[u8]) -> FormData {
        FormData(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// The first value of `name`, trimmed; `None` when missing or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
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
            .filter(|v| !v.is_empty())
            .collect()
    }
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
