//! The core's error type. Adapters map it to what their users see (a chat message, a 404 page).

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Does not exist, or exists outside the caller's scope (the two look the same on purpose).
    #[error("not found")]
    NotFound,
    /// Visible, but the caller's role may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The request makes sense but clashes with what is stored (a taken username…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Malformed input, with a message for the user.
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;
