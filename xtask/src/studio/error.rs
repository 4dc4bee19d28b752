//! What can go wrong in a request, and the status and page each one becomes.

use std::time::Duration;

use axum::http::StatusCode;
use cms_db::DbError;

use super::query::Invalid;

#[derive(Debug)]
pub enum StudioError {
    /// No such table, column or row.
    NotFound(String),
    /// A request that cannot be carried out as sent (a malformed value, an unknown filter).
    BadRequest(String),
    /// A write while the studio runs with `--read-only`.
    ReadOnly,
    /// A change the database refused for one of its constraints; nothing was changed.
    Constraint(String),
    /// The database refused a statement (SQL that fails).
    Sql(String),
    /// The statement ran into `--statement-timeout`.
    Timeout(Duration),
    /// No connection to the database.
    Unavailable(String),
}

impl StudioError {
    pub fn status(&self) -> StatusCode {
        match self {
            StudioError::NotFound(_) => StatusCode::NOT_FOUND,
            StudioError::BadRequest(_) | StudioError::Sql(_) => StatusCode::BAD_REQUEST,
            StudioError::ReadOnly => StatusCode::FORBIDDEN,
            StudioError::Constraint(_) => StatusCode::CONFLICT,
            StudioError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            StudioError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            StudioError::NotFound(_) => "Not found",
            StudioError::BadRequest(_) => "Cannot do that",
            StudioError::ReadOnly => "Read-only",
            StudioError::Constraint(_) => "Nothing was changed",
            StudioError::Sql(_) => "The database refused the statement",
            StudioError::Timeout(_) => "Stopped: time limit",
            StudioError::Unavailable(_) => "Database unavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            StudioError::NotFound(m)
            | StudioError::BadRequest(m)
            | StudioError::Constraint(m)
            | StudioError::Sql(m)
            | StudioError::Unavailable(m) => m.clone(),
            StudioError::ReadOnly => {
                "the studio runs with --read-only: nothing can be changed (restart it without --read-only to edit)"
                    .into()
            }
            StudioError::Timeout(limit) => format!(
                "the statement was stopped after {} s (--statement-timeout); nothing was changed",
                limit.as_secs_f64()
            ),
        }
    }
}

impl From<DbError> for StudioError {
    fn from(e: DbError) -> StudioError {
        match e {
            DbError::SqliteOpen { .. } | DbError::PostgresConnect { .. } => StudioError::Unavailable(e.to_string()),
            other => StudioError::Sql(database_words(&other)),
        }
    }
}

/// What to show for a refused statement: what the database said, as it said it (SQLite's
/// message; PostgreSQL's severity, message, detail and hint), without our "running `…`"
/// around it. An error no database spoke in reads with its causes.
pub fn database_words(e: &DbError) -> String {
    match e.cause() {
        Some(said) => said.to_string(),
        None => cms_db::error::with_causes(e),
    }
}

impl From<Invalid> for StudioError {
    fn from(e: Invalid) -> StudioError {
        StudioError::BadRequest(e.0)
    }
}
