//! Runs a plan against a database through a narrow [`Driver`]: reading the bookkeeping rows,
//! preparing the bookkeeping table, applying one migration, and holding the deployers' lock.

use std::time::{Duration, Instant};

use crate::connection::{Sql, Value};
use crate::error::{Cause, DbError};
use crate::migrate::journal::{Dialect, Migration, MigrationFile, MigrationSet};
use crate::migrate::plan::{plan, AppliedRow, Status};
use crate::migrate::statements::{committed_before, run_mode, split, RunMode, Statement};

/// drizzle-orm's bookkeeping table name (PostgreSQL: in schema `drizzle`).
pub const MIGRATIONS_TABLE: &str = "__drizzle_migrations";
pub const MIGRATIONS_SCHEMA: &str = "drizzle";

/// The unique index that lets the bookkeeping table hold one row per migration (its file's
/// hash and its journal `when`), so a second deployer that got past the lock cannot record
/// the same migration again: its transaction fails instead. drizzle-orm ignores the index.
pub fn applied_once_index_sql(qualified_table: &str) -> String {
    format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS \"{MIGRATIONS_TABLE}_applied_once\" ON {qualified_table} (\"hash\", \"created_at\")"
    )
}

/// What to say when the index cannot be created: the table already records a migration twice.
pub fn applied_twice(e: impl Into<Cause>) -> DbError {
    DbError::failed(
        "the bookkeeping table __drizzle_migrations records a migration more than once (two runs at once, before this version kept them apart); check the data those migrations changed, then delete the later duplicate rows (same hash and created_at) and run again",
        e,
    )
}

/// The bookkeeping rows of the database `conn` talks to, in the order they were written; none
/// when there is no bookkeeping table. drizzle-orm writes only `hash` and `created_at`: our own
/// `name` and `applied_at` columns may be absent. The one reader of `__drizzle_migrations`:
/// the migrate drivers, `status`, `check`, the seed's "is it migrated" and the server's health
/// check all read through it, on whatever connection they hold.
pub fn applied_rows(conn: &mut dyn Sql) -> Result<Vec<AppliedRow>, DbError> {
    // Where drizzle-orm keeps the table, and the order its rows were written in (SQLite's
    // `id SERIAL` is not a rowid alias, so drizzle-orm's rows have no id there).
    let (columns_sql, params, table, order): (&str, Vec<Value>, String, &str) = match conn.dialect() {
        Dialect::Sqlite => (
            "SELECT name FROM pragma_table_info($1)",
            vec![MIGRATIONS_TABLE.into()],
            format!("\"{MIGRATIONS_TABLE}\""),
            "rowid",
        ),
        Dialect::Postgres => (
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 AND table_schema = $2",
            vec![MIGRATIONS_TABLE.into(), MIGRATIONS_SCHEMA.into()],
            format!("\"{MIGRATIONS_SCHEMA}\".\"{MIGRATIONS_TABLE}\""),
            "id",
        ),
    };
    let columns: Vec<String> =
        conn.query(columns_sql, &params)?.into_iter().filter_map(|r| r.into_iter().next()?.into_text()).collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let has = |c: &str| columns.iter().any(|x| x == c);
    // The same SQL on both: bigint columns come back as integers.
    let sql = format!(
        "SELECT hash, CAST(created_at AS bigint), {}, {} FROM {table} ORDER BY {order}",
        if has("name") { "name" } else { "CAST(NULL AS text)" },
        if has("applied_at") { "CAST(applied_at AS bigint)" } else { "CAST(NULL AS bigint)" },
    );
    Ok(conn
        .query(&sql, &[])?
        .into_iter()
        .map(|r| AppliedRow {
            hash: r.first().and_then(Value::text).unwrap_or_default().to_string(),
            created_at: r.get(1).and_then(Value::int),
            name: r.get(2).and_then(Value::text).map(str::to_string),
            applied_at: r.get(3).and_then(Value::int),
        })
        .collect())
}

/// What a driver records next to a migration.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    pub hash: &'a str,
    pub created_at: i64,
    pub name: &'a str,
}

/// A migration ready to run: its statements and how they must run.
#[derive(Clone, Debug)]
pub struct Prepared<'a> {
    pub migration: &'a Migration,
    pub file: &'a MigrationFile,
    pub statements: Vec<Statement>,
    pub mode: RunMode,
}

/// Held while migrations run; released on drop, on every path.
pub struct MigrationLock(#[allow(dead_code)] Box<dyn Send>);

impl MigrationLock {
    pub fn new(guard: impl Send + 'static) -> MigrationLock {
        MigrationLock(Box::new(guard))
    }
}

/// The effects `migrate` needs from a database.
pub trait Driver {
    fn dialect(&self) -> Dialect;
    /// The bookkeeping rows in the order they were written; empty when there is no table.
    fn applied(&mut self) -> Result<Vec<AppliedRow>, DbError>;
    /// Creates the bookkeeping table (drizzle-orm's DDL) and our extra nullable columns.
    fn prepare_bookkeeping(&mut self) -> Result<(), DbError>;
    /// Runs one migration and writes its bookkeeping row, in one transaction unless the
    /// migration is self-managed.
    fn apply(&mut self, m: &Prepared<'_>, record: &Record<'_>) -> Result<(), DbError>;
    /// Waits up to `timeout` for the one-deployer-at-a-time lock.
    fn lock(&mut self, timeout: Duration) -> Result<MigrationLock, DbError>;
}

#[derive(Clone, Debug)]
pub struct MigrateOptions {
    pub allow_out_of_order: bool,
    pub lock_timeout: Duration,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions { allow_out_of_order: false, lock_timeout: Duration::from_secs(60) }
    }
}

/// What happened to one applied migration.
#[derive(Clone, Debug)]
pub struct Applied {
    pub tag: String,
    pub statements: usize,
    pub mode: RunMode,
    pub duration: Duration,
}

/// Reads the database's state and compares it with the folder.
pub fn status(driver: &mut dyn Driver, set: &MigrationSet) -> Result<Status, DbError> {
    set.expect_dialect(driver.dialect())?;
    let rows = driver.applied()?;
    Ok(Status::compute(set, &rows))
}

/// What `migrate` would run, without running it.
pub fn pending<'a>(
    driver: &mut dyn Driver,
    set: &'a MigrationSet,
    allow_out_of_order: bool,
) -> Result<Vec<Prepared<'a>>, DbError> {
    let st = status(driver, set)?;
    prepare(set, &st, allow_out_of_order)
}

fn prepare<'a>(set: &'a MigrationSet, st: &Status, allow_out_of_order: bool) -> Result<Vec<Prepared<'a>>, DbError> {
    plan(set, st, allow_out_of_order)?
        .into_iter()
        .map(|m| {
            let file =
                m.file.as_ref().ok_or_else(|| DbError::Drift(vec![format!("journal entry {} has no file", m.tag)]))?;
            let statements = split(set.dialect, &file.sql);
            let mode = run_mode(set.dialect, &statements);
            Ok(Prepared { migration: m, file, statements, mode })
        })
        .collect()
}

/// Applies every pending migration in journal order, each in its own transaction, under the
/// deployers' lock. `on_applied` is called after each one.
pub fn migrate(
    driver: &mut dyn Driver,
    set: &MigrationSet,
    options: &MigrateOptions,
    on_applied: &mut dyn FnMut(&Applied),
) -> Result<Vec<Applied>, DbError> {
    set.expect_dialect(driver.dialect())?;
    let _lock = driver.lock(options.lock_timeout)?;
    driver.prepare_bookkeeping()?;
    // Read under the lock: a concurrent deployer's work is visible now.
    let st = Status::compute(set, &driver.applied()?);
    let prepared = prepare(set, &st, options.allow_out_of_order)?;
    let mut done = Vec::with_capacity(prepared.len());
    for p in &prepared {
        let started = Instant::now();
        let record = Record { hash: &p.file.hash, created_at: p.migration.when, name: &p.migration.tag };
        if let Err(e) = driver.apply(p, &record) {
            return Err(explain_failure(driver, p, e));
        }
        let applied = Applied {
            tag: p.migration.tag.clone(),
            statements: p.statements.len(),
            mode: p.mode.clone(),
            duration: started.elapsed(),
        };
        on_applied(&applied);
        done.push(applied);
    }
    Ok(done)
}

/// A failure is first checked against the bookkeeping table: when another run recorded this
/// migration meanwhile, the statement's message ("table t already exists") would blame the
/// file, while the cause is a concurrent migrate that the lock did not keep out.
fn explain_failure(driver: &mut dyn Driver, p: &Prepared<'_>, error: DbError) -> DbError {
    let recorded = driver
        .applied()
        .is_ok_and(|rows| rows.iter().any(|r| r.hash == p.file.hash && r.created_at == Some(p.migration.when)));
    if recorded {
        DbError::ConcurrentMigrate { tag: p.migration.tag.clone(), cause: Box::new(error) }
    } else {
        error
    }
}

/// What a failed statement left behind, in words.
pub fn aftermath(p: &Prepared<'_>, number: usize) -> String {
    let rolled_back = "It was rolled back: the database is as it was after the previous migration. Fix the statement and run migrate again.";
    match &p.mode {
        RunMode::SelfManaged { opens_inside_transaction, .. } => {
            match committed_before(&p.statements, *opens_inside_transaction, number) {
                0 => rolled_back.to_string(),
                n => format!(
                    "This migration manages its own transactions: {n} statement(s) before the failure were committed and stay applied; the open transaction was rolled back and the migration was not recorded. Fix the file and finish it by hand, or restore a backup."
                ),
            }
        }
        _ => rolled_back.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Connection;

    /// Rows as drizzle-orm writes them (hash and created_at), then with our own columns.
    fn bookkeeping_reads_back(conn: &mut dyn Sql, table: &str, create: &str, add_ours: &str) {
        assert_eq!(applied_rows(conn).unwrap(), [], "no table, no rows");
        conn.batch(create).unwrap();
        conn.execute(&format!("INSERT INTO {table} (hash, created_at) VALUES ($1, $2)"), &["b".into(), 20.into()])
            .unwrap();
        conn.execute(&format!("INSERT INTO {table} (hash, created_at) VALUES ($1, $2)"), &["a".into(), 10.into()])
            .unwrap();
        let drizzle = |hash: &str, created_at: i64| AppliedRow {
            hash: hash.into(),
            created_at: Some(created_at),
            name: None,
            applied_at: None,
        };
        assert_eq!(applied_rows(conn).unwrap(), [drizzle("b", 20), drizzle("a", 10)], "in the order written");
        conn.batch(add_ours).unwrap();
        conn.execute(
            &format!("INSERT INTO {table} (hash, created_at, name, applied_at) VALUES ($1, $2, $3, $4)"),
            &["c".into(), 30.into(), "0002_c".into(), 99.into()],
        )
        .unwrap();
        let rows = applied_rows(conn).unwrap();
        assert_eq!(rows[..2], [drizzle("b", 20), drizzle("a", 10)]);
        let ours =
            AppliedRow { hash: "c".into(), created_at: Some(30), name: Some("0002_c".into()), applied_at: Some(99) };
        assert_eq!(rows[2], ours);
    }

    #[test]
    fn the_bookkeeping_reader_reads_drizzle_s_rows_and_ours_on_sqlite() {
        let mut conn = Connection::Sqlite(crate::sqlite::open_in_memory().unwrap());
        bookkeeping_reads_back(
            &mut conn,
            "\"__drizzle_migrations\"",
            "CREATE TABLE \"__drizzle_migrations\" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)",
            "ALTER TABLE \"__drizzle_migrations\" ADD COLUMN name text;
             ALTER TABLE \"__drizzle_migrations\" ADD COLUMN applied_at integer",
        );
    }

    #[test]
    fn the_bookkeeping_reader_reads_drizzle_s_rows_and_ours_on_postgres() {
        let Some(db) = test_support::pg::database() else { return };
        let mut conn = Connection::Postgres(db.client());
        bookkeeping_reads_back(
            &mut conn,
            "drizzle.__drizzle_migrations",
            "CREATE SCHEMA drizzle;
             CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)",
            "ALTER TABLE drizzle.__drizzle_migrations ADD COLUMN name text, ADD COLUMN applied_at bigint",
        );
    }
}
