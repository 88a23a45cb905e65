//! The core's error type. Adapters map it to what their users see (a chat message, a 404 page);
//! a refusal carries a [`Problem`], said in the user's language with [`Problem::message`].

use sea_orm::DbErr;

use crate::problem::Problem;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Does not exist, or exists outside the caller's scope (the two look the same on purpose).
    #[error("not found")]
    NotFound,
    /// Visible, but the caller's role may not do this.
    #[error("not allowed: {0}")]
    Forbidden(Problem),
    /// The request makes sense but clashes with what is stored (a taken username…).
    #[error("conflict: {0}")]
    Conflict(Problem),
    /// Malformed input.
    #[error("invalid input: {0}")]
    Invalid(Problem),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// What was refused, for a refusal (`Forbidden`, `Conflict`, `Invalid`).
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            CoreError::Forbidden(p) | CoreError::Conflict(p) | CoreError::Invalid(p) => Some(p),
            _ => None,
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
