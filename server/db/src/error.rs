//! Errors of the database layer. Every message says what is wrong and what to do.

use std::path::PathBuf;

use thiserror::Error;

/// PostgreSQL's error codes, as [`DbError::sql_state`] gives them.
pub use postgres::error::SqlState;

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

    /// A failure that has no error value, only words (a connection opened read-only, a pool
    /// that gave no connection). A driver's or the operating system's error is never flattened
    /// into one: [`DbError::Failed`] keeps it.
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

    /// A statement of a migration file failed. `cause` is the driver's error, kept as its type
    /// for [`DbError::cause`] and its accessors. It is shown in this error's own text, between
    /// where the statement is and what the failure left behind, so it is not also a source (the
    /// chain would say it twice).
    #[error("migration {tag} failed at statement {number} (line {line} of {file}): {cause}\n{aftermath}")]
    Statement { tag: String, file: String, number: usize, line: usize, cause: Box<Cause>, aftermath: String },

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

    /// The driver's (or the operating system's) error behind this failure, through the
    /// contexts around it; `None` when there is none (a failure in words only).
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            DbError::Failed { cause, .. } => Some(cause),
            DbError::Statement { cause, .. } => Some(cause),
            DbError::Context { source, .. } => source.cause(),
            DbError::ConcurrentMigrate { cause, .. } => cause.cause(),
            _ => None,
        }
    }

    /// What the database itself said, in its own words, without severity, detail or hint:
    /// PostgreSQL's error message, SQLite's message. `None` when the database said nothing
    /// (no driver error, an I/O error, a value that could not be converted).
    pub fn database_message(&self) -> Option<String> {
        self.cause()?.database_message()
    }

    /// PostgreSQL's SQLSTATE for an error the server reported.
    pub fn sql_state(&self) -> Option<&SqlState> {
        self.cause()?.sql_state()
    }

    /// The whole error PostgreSQL reported: its detail, hint, constraint, table, column…
    pub fn postgres_error(&self) -> Option<&postgres::error::DbError> {
        self.cause()?.postgres_error()
    }

    /// SQLite's primary result code for an error SQLite reported.
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        self.cause()?.sqlite_code()
    }

    /// SQLite's extended result code (`SQLITE_CONSTRAINT_UNIQUE`, …) for an error SQLite
    /// reported.
    pub fn sqlite_extended_code(&self) -> Option<std::ffi::c_int> {
        self.cause()?.sqlite_extended_code()
    }
}

/// `e` and the causes after it on one line, each after a colon ("what was being done: why"),
/// as `anyhow` shows an error with `{:#}`: for output that is not an `anyhow` error (a log
/// line, a JSON field, a page).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
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
            Cause::Postgres(e) => f.write_str(&pg_message(e)),
            Cause::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Cause {}

impl Cause {
    /// What the database said, in its own words (see [`DbError::database_message`]).
    pub fn database_message(&self) -> Option<String> {
        match self {
            Cause::Sqlite(rusqlite::Error::SqliteFailure(code, message)) => {
                Some(message.clone().unwrap_or_else(|| code.to_string()))
            }
            Cause::Sqlite(rusqlite::Error::SqlInputError { msg, .. }) => Some(msg.clone()),
            Cause::Postgres(e) => e.as_db_error().map(|db| db.message().to_string()),
            _ => None,
        }
    }

    /// PostgreSQL's SQLSTATE (see [`DbError::sql_state`]).
    pub fn sql_state(&self) -> Option<&SqlState> {
        match self {
            Cause::Postgres(e) => e.code(),
            _ => None,
        }
    }

    /// The error PostgreSQL reported (see [`DbError::postgres_error`]).
    pub fn postgres_error(&self) -> Option<&postgres::error::DbError> {
        match self {
            Cause::Postgres(e) => e.as_db_error(),
            _ => None,
        }
    }

    /// SQLite's primary result code (see [`DbError::sqlite_code`]).
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        self.sqlite_error().map(|e| e.code)
    }

    /// SQLite's extended result code (see [`DbError::sqlite_extended_code`]).
    pub fn sqlite_extended_code(&self) -> Option<std::ffi::c_int> {
        self.sqlite_error().map(|e| e.extended_code)
    }

    fn sqlite_error(&self) -> Option<&rusqlite::ffi::Error> {
        match self {
            Cause::Sqlite(rusqlite::Error::SqlInputError { error, .. }) => Some(error),
            Cause::Sqlite(e) => e.sqlite_error(),
            _ => None,
        }
    }
}

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

/// The database's own words for an error: message, detail and hint.
pub fn pg_message(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (detail: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
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

    #[test]
    fn the_database_s_words_and_codes_are_read_through_contexts_not_searched_for() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a text UNIQUE); INSERT INTO t VALUES ('x')").unwrap();
        let refused = conn.execute("INSERT INTO t VALUES ('x')", []).unwrap_err();
        let e = DbError::failed("inserting into t", refused).in_context("seeding");
        assert_eq!(e.database_message().as_deref(), Some("UNIQUE constraint failed: t.a"));
        assert_eq!(e.sqlite_code(), Some(rusqlite::ErrorCode::ConstraintViolation));
        assert_eq!(e.sqlite_extended_code(), Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert_eq!((e.sql_state(), e.postgres_error().is_some()), (None, false));
        assert_eq!(with_causes(&e), "seeding: inserting into t: UNIQUE constraint failed: t.a");

        // SQL that does not parse: SQLite's message without where it stopped.
        let e = DbError::failed("running `SELEC 1`", conn.prepare("SELEC 1").unwrap_err());
        assert_eq!(e.database_message().as_deref(), Some("near \"SELEC\": syntax error"), "{e:?}");
        assert_eq!(e.sqlite_code(), Some(rusqlite::ErrorCode::Unknown), "SQLITE_ERROR");

        // Words only, or an error of the operating system: the database said nothing.
        let words = DbError::database("migrate", "the database was opened read-only");
        assert_eq!((words.cause().is_none(), words.database_message()), (true, None));
        assert_eq!(with_causes(&words), "migrate: the database was opened read-only");
        let io = DbError::failed("locking x", std::io::Error::other("no locks here"));
        assert!(matches!(io.cause(), Some(Cause::Io(_))));
        assert_eq!((io.database_message(), io.sqlite_code()), (None, None));
        assert_eq!(with_causes(&io), "locking x: no locks here");
    }
}
