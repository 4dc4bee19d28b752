//! What can go wrong while answering a request.

use thiserror::Error;

use cms_db::error::DbError;

#[derive(Debug, Error)]
pub enum WebError {
    /// No connection could be had (pool exhausted or the database unreachable): 503.
    #[error("the database is not available")]
    Unavailable(#[source] DbError),
    /// A query failed: 500. The message (with its causes, see [`with_causes`]) is logged, not
    /// shown.
    ///
    /// [`with_causes`]: cms_db::error::with_causes
    #[error(transparent)]
    Database(DbError),
    /// A bug or a panic in a blocking task: 500.
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            WebError::Unavailable(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
            _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What a visitor is told (details go to the server's stderr only).
    pub fn public_message(&self) -> &'static str {
        match self {
            WebError::Unavailable(_) => "The database is not available right now. Please try again in a moment.",
            _ => "Something went wrong on our side. The error has been logged.",
        }
    }
}
