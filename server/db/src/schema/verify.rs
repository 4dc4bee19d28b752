//! Verification: a planned migration is run on a scratch database holding the *from* schema,
//! the result is introspected and must be the *to* schema. A wrong migration is never
//! produced: on a mismatch the error carries what is left over (`diff(result, to)`).
//!
//! The scratch copy of *from* is built by rendering `diff(empty, from)` and running it, which
//! exercises the renderer on every object of *from* too; that copy must read back as *from*.
//!
//! Statements run the way the project's migrator runs a file: on SQLite, a plan holding
//! `PRAGMA foreign_keys` runs in one transaction with foreign keys off (the pragmas
//! themselves are not run: inside a transaction they do nothing) and `PRAGMA
//! foreign_key_check` must pass before it commits; on PostgreSQL, statements run in a
//! transaction except those marked [`Statement::outside_transaction`], which run on their own.
//!
//! Scratch databases are the sources' ([`ScratchDb`]): SQLite in memory; PostgreSQL a
//! temporary database created on the server given and always dropped, also when something
//! fails.

use super::diff::{self, Change, DiffError, Renames};
use super::model::Schema;
use super::source::{ScratchDb, ScratchServer, SourceError};
use super::sql::{self, Statement};

/// Why a plan is not known to be right.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verifying the migration on a scratch database: {0}")]
    Scratch(#[from] SourceError),
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
    let mut db = ScratchDb::create(from.dialect, server, "verifying the migration")?;
    let build = sql::create(from);
    run(&mut db, &build).map_err(|f| VerifyError::BuildFrom { number: f.number, sql: f.sql, message: f.message })?;
    let left = residual(&db.introspect()?, from)?;
    if !left.is_empty() {
        return Err(VerifyError::FromNotReproduced { residual: left });
    }
    run(&mut db, statements).map_err(|f| VerifyError::Apply { number: f.number, sql: f.sql, message: f.message })?;
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

/// Runs planned statements on a scratch database as the migrator would.
pub fn run(db: &mut ScratchDb, statements: &[Statement]) -> Result<(), StatementFailed> {
    match db {
        ScratchDb::Sqlite(conn) => run_sqlite(conn, statements),
        ScratchDb::Postgres(pg) => run_postgres(pg.client(), statements),
    }
}

fn residual(result: &Schema, expected: &Schema) -> Result<Vec<Change>, VerifyError> {
    Ok(diff::diff(result, expected, &Renames::none_are_renames())?)
}

/// A statement that failed: its 1-based number among the statements, its text and the
/// database's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {number} failed: {message}\n  {sql}")]
pub struct StatementFailed {
    pub number: usize,
    pub sql: String,
    pub message: String,
}

type Failed = StatementFailed;

/// `PRAGMA foreign_keys = …`.
fn is_foreign_keys_pragma(sql: &str) -> bool {
    let words: Vec<String> = sql::words(sql).into_iter().take(2).map(|w| w.text.to_ascii_uppercase()).collect();
    words == ["PRAGMA", "FOREIGN_KEYS"] && sql.contains('=')
}

/// Runs planned statements on an SQLite connection as the migrator runs a file: one transaction; with foreign keys off around it when the
/// file switches them (and `foreign_key_check` passing before the commit).
pub fn run_sqlite(conn: &mut rusqlite::Connection, statements: &[Statement]) -> Result<(), Failed> {
    let fk_off = statements.iter().any(|s| is_foreign_keys_pragma(&s.sql));
    let fail = |number: usize, sql: &str, e: &dyn std::fmt::Display| Failed {
        number,
        sql: sql.to_string(),
        message: e.to_string(),
    };
    if fk_off {
        conn.pragma_update(None, "foreign_keys", "OFF").map_err(|e| fail(0, "PRAGMA foreign_keys=OFF", &e))?;
    }
    let result = (|| {
        let tx = conn.transaction().map_err(|e| fail(0, "BEGIN", &e))?;
        for (i, st) in statements.iter().enumerate() {
            if is_foreign_keys_pragma(&st.sql) {
                continue;
            }
            tx.execute_batch(&st.sql).map_err(|e| fail(i + 1, &st.sql, &e))?;
        }
        if fk_off {
            let violations: i64 = tx
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))
                .map_err(|e| fail(0, "PRAGMA foreign_key_check", &e))?;
            if violations > 0 {
                return Err(fail(
                    statements.len(),
                    "PRAGMA foreign_key_check",
                    &format!("{violations} rows violate a foreign key"),
                ));
            }
        }
        tx.commit().map_err(|e| fail(0, "COMMIT", &e))
    })();
    if fk_off {
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| fail(0, "PRAGMA foreign_keys=ON", &e))?;
    }
    result
}

/// Runs planned statements on PostgreSQL: consecutive statements in one transaction, a
/// statement marked `outside_transaction` on its own.
pub fn run_postgres(client: &mut postgres::Client, statements: &[Statement]) -> Result<(), Failed> {
    let mut i = 0;
    while i < statements.len() {
        if statements[i].outside_transaction {
            client.batch_execute(&statements[i].sql).map_err(|e| Failed {
                number: i + 1,
                sql: statements[i].sql.clone(),
                message: pg_message(&e),
            })?;
            i += 1;
            continue;
        }
        let start = i;
        while i < statements.len() && !statements[i].outside_transaction {
            i += 1;
        }
        let mut tx = client.transaction().map_err(|e| Failed {
            number: start + 1,
            sql: "BEGIN".into(),
            message: pg_message(&e),
        })?;
        for (n, st) in statements.iter().enumerate().take(i).skip(start) {
            tx.batch_execute(&st.sql).map_err(|e| Failed {
                number: n + 1,
                sql: st.sql.clone(),
                message: pg_message(&e),
            })?;
        }
        tx.commit().map_err(|e| Failed { number: i, sql: "COMMIT".into(), message: pg_message(&e) })?;
    }
    Ok(())
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}
