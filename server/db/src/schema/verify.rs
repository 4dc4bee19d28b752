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
//! Scratch databases: SQLite in memory; PostgreSQL a temporary database created on the
//! server given and always dropped, also when something fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;

use super::diff::{self, Change, DiffError, Renames};
use super::introspect::{self, IntrospectError, SchemaFilter};
use super::model::{Dialect, Schema};
use super::sql::{self, Statement};

/// Where scratch databases are made.
#[derive(Clone, Debug)]
pub enum Scratch {
    /// An in-memory SQLite database.
    Sqlite,
    /// A temporary database on this PostgreSQL server (the connection's role needs
    /// `CREATEDB`); the configuration's database name is where `CREATE DATABASE` runs.
    Postgres(postgres::Config),
}

impl Scratch {
    pub fn dialect(&self) -> Dialect {
        match self {
            Scratch::Sqlite => Dialect::Sqlite,
            Scratch::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A PostgreSQL server given as a URL.
    pub fn postgres_url(url: &str) -> Result<Scratch, VerifyError> {
        url.parse::<postgres::Config>()
            .map(Scratch::Postgres)
            .map_err(|e| VerifyError::Scratch { message: format!("not a PostgreSQL URL: {e}") })
    }
}

/// Why a plan is not known to be right.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the scratch database could not be made: {message}")]
    Scratch { message: String },
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
    #[error("reading the scratch database back: {0}")]
    Introspect(#[from] IntrospectError),
    #[error(transparent)]
    Diff(#[from] DiffError),
}

fn list(changes: &[Change]) -> String {
    changes.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
}

/// Runs `statements` on a scratch database holding `from`, and checks that the result is
/// `to`.
pub fn verify(scratch: &Scratch, from: &Schema, to: &Schema, statements: &[Statement]) -> Result<(), VerifyError> {
    if from.dialect != scratch.dialect() || to.dialect != scratch.dialect() {
        return Err(DiffError::DialectMismatch { from: from.dialect, to: scratch.dialect() }.into());
    }
    let mut db = ScratchDb::open(scratch)?;
    let build = sql::create(from);
    db.run(&build).map_err(|f| VerifyError::BuildFrom { number: f.number, sql: f.sql, message: f.message })?;
    let built = db.introspect()?;
    let left = residual(&built, from)?;
    if !left.is_empty() {
        return Err(VerifyError::FromNotReproduced { residual: left });
    }
    db.run(statements).map_err(|f| VerifyError::Apply { number: f.number, sql: f.sql, message: f.message })?;
    let result = db.introspect()?;
    let left = residual(&result, to)?;
    if !left.is_empty() {
        return Err(VerifyError::Mismatch { residual: left });
    }
    Ok(())
}

/// `diff` + `render` + [`verify`]: the statements that turn `from` into `to`, known to work.
pub fn plan(scratch: &Scratch, from: &Schema, to: &Schema, renames: &Renames) -> Result<Vec<Statement>, VerifyError> {
    let changes = diff::diff(from, to, renames)?;
    let statements = sql::render(from.dialect, &changes, from, to);
    verify(scratch, from, to, &statements)?;
    Ok(statements)
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

/// A scratch database, dropped with the value.
enum ScratchDb {
    Sqlite(rusqlite::Connection),
    Postgres { client: postgres::Client, _guard: TempDatabase },
}

impl ScratchDb {
    fn open(scratch: &Scratch) -> Result<ScratchDb, VerifyError> {
        match scratch {
            Scratch::Sqlite => {
                let e = |e: rusqlite::Error| VerifyError::Scratch { message: format!("in-memory SQLite: {e}") };
                let conn = rusqlite::Connection::open_in_memory().map_err(e)?;
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false).map_err(e)?;
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false).map_err(e)?;
                conn.pragma_update(None, "foreign_keys", "ON").map_err(e)?;
                Ok(ScratchDb::Sqlite(conn))
            }
            Scratch::Postgres(config) => {
                let guard = TempDatabase::create(config)?;
                let client = guard.connect()?;
                Ok(ScratchDb::Postgres { client, _guard: guard })
            }
        }
    }

    fn introspect(&mut self) -> Result<Schema, VerifyError> {
        Ok(match self {
            ScratchDb::Sqlite(conn) => introspect::sqlite(conn)?,
            ScratchDb::Postgres { client, .. } => introspect::postgres(client, SchemaFilter::All)?,
        })
    }

    fn run(&mut self, statements: &[Statement]) -> Result<(), Failed> {
        match self {
            ScratchDb::Sqlite(conn) => run_sqlite(conn, statements),
            ScratchDb::Postgres { client, .. } => run_postgres(client, statements),
        }
    }
}

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

/// A temporary PostgreSQL database, dropped (`WITH (FORCE)`) when the value is.
struct TempDatabase {
    config: postgres::Config,
    name: String,
}

impl TempDatabase {
    fn create(config: &postgres::Config) -> Result<TempDatabase, VerifyError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let name = format!(
            "cms_scratch_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = config.connect(postgres::NoTls).map_err(|e| VerifyError::Scratch {
            message: format!("cannot connect to the PostgreSQL server: {}", pg_message(&e)),
        })?;
        admin.batch_execute(&format!("CREATE DATABASE {}", sql::postgres::quote(&name))).map_err(|e| {
            let insufficient = e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
            VerifyError::Scratch {
                message: if insufficient {
                    format!(
                        "the role may not create a database ({}); give it CREATEDB or pass --dev-url with a database to use",
                        pg_message(&e)
                    )
                } else {
                    format!("CREATE DATABASE {name}: {}", pg_message(&e))
                },
            }
        })?;
        Ok(TempDatabase { config: config.clone(), name })
    }

    fn connect(&self) -> Result<postgres::Client, VerifyError> {
        let mut c = self.config.clone();
        c.dbname(&self.name);
        c.connect(postgres::NoTls).map_err(|e| VerifyError::Scratch {
            message: format!("cannot connect to the scratch database {}: {}", self.name, pg_message(&e)),
        })
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = self.config.connect(postgres::NoTls) {
            let q = sql::postgres::quote(&self.name);
            if admin.batch_execute(&format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)")).is_err() {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {q}"));
            }
        }
    }
}
