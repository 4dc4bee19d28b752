//! Verification: a planned migration is run on a scratch database holding the *from* schema,
//! the result is introspected and must be the *to* schema. A wrong migration is never
//! produced: on a mismatch the error carries what is left over (`diff(result, to)`).
//!
//! The scratch copy of *from* is built by rendering `diff(empty, from)` and running it, which
//! exercises the renderer on every object of *from* too; that copy must read back as *from*.
//!
//! Both run through the project's migrator: each becomes a migration file's text
//! ([`sql::to_migration_text`]), split and run as `migrate` runs a file (one transaction, with
//! foreign keys off around it and `PRAGMA foreign_key_check` before the commit when it holds
//! `PRAGMA foreign_keys`; statements between `COMMIT;` and `BEGIN;` on their own), so what is
//! verified is the text that is written.
//!
//! Scratch databases are the sources' ([`ScratchDb`]): SQLite in memory; PostgreSQL a
//! temporary database created on the server given and always dropped, also when something
//! fails.

use std::path::PathBuf;

use super::diff::{self, Change, DiffError, Renames};
use super::introspect::{self, SchemaFilter};
use super::model::{Dialect, Schema};
use super::source::{ScratchDb, ScratchServer, SourceError};
use super::sql::{self, Statement};
use crate::error::DbError;
use crate::migrate::journal::{Migration, MigrationFile};
use crate::migrate::migrator::{Driver, Prepared, Record};
use crate::migrate::statements::{run_mode, split};
use crate::postgres::PostgresDriver;
use crate::sqlite::SqliteDriver;

/// Why a plan is not known to be right.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verifying the migration on a scratch database")]
    Scratch(#[source] Box<SourceError>),
    #[error(
        "building a scratch copy of the starting schema failed at statement {number}: {message}\n  {sql}\n\
         (the SQL renderer cannot reproduce that schema: a bug, please report it)"
    )]
    BuildFrom { number: usize, sql: String, message: String },
    #[error(
        "the scratch copy of the starting schema does not read back as that schema (a bug in the SQL renderer, \
         please report it); left over:\n{}",
        list(residual)
    )]
    FromNotReproduced { residual: Vec<Change> },
    #[error("statement {number} of the planned migration failed on a scratch copy: {message}\n  {sql}")]
    Apply { number: usize, sql: String, message: String },
    #[error(
        "the planned migration does not produce the target schema (a bug in the schema engine, please \
         report it); nothing was written. Left over after running it:\n{}",
        list(residual)
    )]
    Mismatch { residual: Vec<Change> },
    #[error(transparent)]
    Diff(#[from] DiffError),
    /// The migrator refused or failed otherwise (e.g. `PRAGMA foreign_key_check`).
    #[error("running the migration on a scratch copy")]
    Migrator(#[source] Box<DbError>),
}

impl From<SourceError> for VerifyError {
    fn from(e: SourceError) -> VerifyError {
        VerifyError::Scratch(Box::new(e))
    }
}

impl From<DbError> for VerifyError {
    fn from(e: DbError) -> VerifyError {
        VerifyError::Migrator(Box::new(e))
    }
}

fn list(changes: &[Change]) -> String {
    changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
}

/// Runs `statements` on a scratch database (made on `server`) holding `from`, and checks
/// that the result is `to`.
pub fn verify(server: &ScratchServer, from: &Schema, to: &Schema, statements: &[Statement]) -> Result<(), VerifyError> {
    if from.dialect != to.dialect {
        return Err(DiffError::DialectMismatch { from: from.dialect, to: to.dialect }.into());
    }
    let mut db = Scratch::create(from.dialect, server)?;
    db.driver().prepare_bookkeeping()?;
    let build = sql::create(from);
    apply(db.driver(), "0000_verify_from", &build).map_err(|e| match e {
        Failure::Statement(f) => VerifyError::BuildFrom { number: f.number, sql: f.sql, message: f.message },
        Failure::Other(e) => VerifyError::from(e),
    })?;
    let left = residual(&db.introspect()?, from)?;
    if !left.is_empty() {
        return Err(VerifyError::FromNotReproduced { residual: left });
    }
    apply(db.driver(), "0001_verify_plan", statements).map_err(|e| match e {
        Failure::Statement(f) => VerifyError::Apply { number: f.number, sql: f.sql, message: f.message },
        Failure::Other(e) => VerifyError::from(e),
    })?;
    let left = residual(&db.introspect()?, to)?;
    if !left.is_empty() {
        return Err(VerifyError::Mismatch { residual: left });
    }
    Ok(())
}

/// `diff` + `render` + [`verify`]: the statements that turn `from` into `to`, known to work.
pub fn plan(
    server: &ScratchServer,
    from: &Schema,
    to: &Schema,
    renames: &Renames,
) -> Result<Vec<Statement>, VerifyError> {
    let changes = diff::diff(from, to, renames)?;
    let statements = sql::render(from.dialect, &changes, from, to);
    verify(server, from, to, &statements)?;
    Ok(statements)
}

fn residual(result: &Schema, expected: &Schema) -> Result<Vec<Change>, VerifyError> {
    Ok(diff::diff(result, expected, &Renames::none_are_renames())?)
}

/// A statement that failed: its 1-based number in the migration file, its text and the
/// database's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {number} failed: {message}\n  {sql}")]
pub struct StatementFailed {
    pub number: usize,
    pub sql: String,
    pub message: String,
}

/// Why [`apply`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Statement(StatementFailed),
    #[error(transparent)]
    Other(DbError),
}

/// Runs planned statements through the migrator's driver as the migration `tag` (its text
/// is [`sql::to_migration_text`]), recording it in the bookkeeping table as `migrate` does.
/// The driver's bookkeeping table must exist ([`Driver::prepare_bookkeeping`]).
pub fn apply(driver: &mut dyn Driver, tag: &str, statements: &[Statement]) -> Result<(), Failure> {
    let text = sql::to_migration_text(statements);
    let file =
        MigrationFile::from_bytes(PathBuf::from(format!("{tag}.sql")), text.into_bytes()).map_err(Failure::Other)?;
    let when = tag.split('_').next().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
    let migration = Migration { idx: when, tag: tag.to_string(), when, breakpoints: true, file: Some(file.clone()) };
    let dialect = driver.dialect();
    let split = split(dialect, &file.sql);
    let prepared = Prepared { migration: &migration, file: &file, mode: run_mode(dialect, &split), statements: split };
    let record = Record { hash: &file.hash, created_at: when, name: tag };
    driver.apply(&prepared, &record).map_err(|e| match e {
        DbError::Statement { number, cause, .. } => Failure::Statement(StatementFailed {
            number,
            sql: prepared.statements.get(number.wrapping_sub(1)).map(|s| s.sql.clone()).unwrap_or_default(),
            message: cause.to_string(),
        }),
        other => Failure::Other(other),
    })
}

/// A scratch database behind the migrator's driver; dropped with the value.
enum Scratch {
    Sqlite(Box<SqliteDriver>),
    Postgres { driver: Box<PostgresDriver>, _db: ScratchDb },
}

impl Scratch {
    fn create(dialect: Dialect, server: &ScratchServer) -> Result<Scratch, VerifyError> {
        match ScratchDb::create(dialect, server, "verifying the migration")? {
            ScratchDb::Sqlite(conn) => Ok(Scratch::Sqlite(Box::new(SqliteDriver::new(conn, None)))),
            ScratchDb::Postgres(pg) => {
                let driver = PostgresDriver::connect(pg.url())?;
                Ok(Scratch::Postgres { driver: Box::new(driver), _db: ScratchDb::Postgres(pg) })
            }
        }
    }

    fn driver(&mut self) -> &mut dyn Driver {
        match self {
            Scratch::Sqlite(d) => d.as_mut(),
            Scratch::Postgres { driver, .. } => driver.as_mut(),
        }
    }

    fn introspect(&mut self) -> Result<Schema, VerifyError> {
        let schema = match self {
            Scratch::Sqlite(d) => introspect::sqlite(d.connection().expect("a scratch database has its connection")),
            Scratch::Postgres { driver, .. } => introspect::postgres(driver.client(), SchemaFilter::All),
        };
        Ok(schema.map_err(SourceError::from)?)
    }
}
