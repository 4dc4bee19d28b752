//! Errors of the database layer. Every message says what is wrong and what to do.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("{0}")]
    Url(String),

    #[error("{}: {message}", path.display())]
    Migrations { path: PathBuf, message: String },

    #[error("cannot open the SQLite database {}: {message}", path.display())]
    SqliteOpen { path: PathBuf, message: String },

    #[error("cannot connect to PostgreSQL at {url}: {message}")]
    PostgresConnect { url: String, message: String },

    #[error("{context}: {message}")]
    Database { context: String, message: String },

    #[error("migration {tag} failed at statement {number} (line {line} of {file}): {message}\n{aftermath}")]
    Statement { tag: String, file: String, number: usize, line: usize, message: String, aftermath: String },

    #[error("migration {tag} leaves broken foreign keys: {violations}\n{aftermath}")]
    ForeignKeyCheck { tag: String, violations: String, aftermath: String },

    #[error("the database and the migrations folder disagree; nothing was applied:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Drift(Vec<String>),

    #[error("another migrate applied {tag} on this database while this run was applying it: the failure below comes from that run, not from the file. Two runs got past the migration lock (is the database on a network filesystem, or was its .migrate-lock file removed?); run `cargo xtask status` to see the state")]
    ConcurrentMigrate {
        tag: String,
        #[source]
        cause: Box<DbError>,
    },

    #[error("another migrate is running on this database (waited {waited_secs} s for its lock{detail}); try again when it has finished, or raise --lock-timeout")]
    LockTimeout { waited_secs: u64, detail: String },
}

impl DbError {
    pub fn database(context: impl Into<String>, message: impl std::fmt::Display) -> DbError {
        DbError::Database { context: context.into(), message: message.to_string() }
    }
}
