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

    /// A failure described in words only. Where there is an error value to keep (the
    /// driver's), [`DbError::Failed`] keeps it instead.
    #[error("{context}: {message}")]
    Database { context: String, message: String },

    /// `context` says what was being done when `source` happened.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<DbError>,
    },

    /// `context` says what was being done; the cause is the driver's own error, kept as its
    /// type (and shown in the database's words) so callers can inspect it.
    #[error("{context}")]
    Failed {
        context: String,
        #[source]
        cause: Cause,
    },

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

    /// This error, with what was being done when it happened.
    pub fn in_context(self, context: impl Into<String>) -> DbError {
        DbError::Context { context: context.into(), source: Box::new(self) }
    }

    /// `context` failed because of `cause`, which is kept (see [`DbError::Failed`]).
    pub fn failed(context: impl Into<String>, cause: impl Into<Cause>) -> DbError {
        DbError::Failed { context: context.into(), cause: cause.into() }
    }
}

/// The error a driver or the operating system returned, kept as it was. It reads as the
/// database says it (PostgreSQL: severity, message, detail and hint); its own cause chain is
/// in that text already, so it is the last link of a [`DbError`]'s chain.
#[derive(Debug)]
pub enum Cause {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    Io(std::io::Error),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Sqlite(e) => write!(f, "{e}"),
            Cause::Postgres(e) => f.write_str(&crate::postgres::pg_message(e)),
            Cause::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Cause {}

impl From<rusqlite::Error> for Cause {
    fn from(e: rusqlite::Error) -> Cause {
        Cause::Sqlite(e)
    }
}

impl From<postgres::Error> for Cause {
    fn from(e: postgres::Error) -> Cause {
        Cause::Postgres(e)
    }
}

impl From<std::io::Error> for Cause {
    fn from(e: std::io::Error) -> Cause {
        Cause::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_cause_is_the_source_in_the_database_s_words() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let e = DbError::failed("counting teams", conn.execute("SELECT * FROM teams", []).unwrap_err());
        assert_eq!(e.to_string(), "counting teams");
        let source = std::error::Error::source(&e).expect("the cause is kept");
        assert!(source.to_string().contains("no such table: teams"), "{source}");
        let Some(Cause::Sqlite(rusqlite::Error::SqliteFailure(_, Some(_)))) = source.downcast_ref::<Cause>() else {
            panic!("the driver's error, as its type: {source:?}")
        };
        assert!(std::error::Error::source(source).is_none(), "the last link");
    }
}
