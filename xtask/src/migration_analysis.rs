//! The pre-flight of pending migrations, with its effects: the analysis itself is the schema
//! engine's (`cms_db::schema::preflight`, pure); this module runs it for `lint`, `migrate`
//! (before anything is applied) and `rollback`:
//!
//! - [`Replay`]: the folder replayed migration by migration in ONE scratch database, read
//!   back after each one (what each migration changes);
//! - [`Live`]: the live database, read only: its schema, whether it holds rows, and the
//!   probes' counting queries in one read-only snapshot (each in a savepoint).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use cms_db::connection::{Connection, Sql, TxMode, Value};
use cms_db::migrate::journal::{printable, Migration};
use cms_db::migrate::migrator::{Driver, Prepared, Record};
use cms_db::migrate::plan::{EntryState, Status};
use cms_db::migrate::statements::{run_mode, split};
use cms_db::postgres::PostgresDriver;
use cms_db::schema::diff::{self, Change, Renames};
use cms_db::schema::introspect::{self, SchemaFilter};
use cms_db::schema::preflight::{self, Finding, Mode, Outcome, Probe, Report, Rule, Severity, Step};
use cms_db::schema::source::{ScratchDb, ScratchServer};
use cms_db::schema::{sql, verify, Dialect, Schema};
use cms_db::sqlite::SqliteDriver;
use cms_db::{DatabaseUrl, DbError, MigrationSet};

/// The report in words: per migration its changes (`changes`) and findings, errors and
/// warnings first.
pub fn print_report(report: &Report, changes: bool) {
    for m in &report.migrations {
        if m.findings.is_empty() && !changes {
            continue;
        }
        out!("  {}", printable(&m.migration));
        if changes {
            for c in &m.changes {
                out!("    change   {c}");
            }
        }
        for f in &m.findings {
            out!("    {}", finding_line(f));
        }
    }
}

/// One finding without its migration's name (printed above it).
pub fn finding_line(f: &Finding) -> String {
    let text = f.to_string();
    let body = text.strip_prefix(&format!("{}: ", f.migration)).unwrap_or(&text);
    body.replace("\n    fix:", "\n             fix:")
}

/// Journal indexes of the applied migrations, and of those `migrate` would apply.
pub fn split_status(set: &MigrationSet, st: &Status) -> (Vec<usize>, Vec<usize>) {
    let mut applied = Vec::new();
    let mut pending = Vec::new();
    for (i, e) in st.entries.iter().enumerate() {
        match e.state {
            EntryState::Applied { .. } | EntryState::Modified { .. } => applied.push(i),
            EntryState::Pending | EntryState::OutOfOrder { .. } if set.migrations[i].file.is_some() => pending.push(i),
            _ => {}
        }
    }
    (applied, pending)
}

/// What the analysis found, and what it cost.
pub struct Analysis {
    pub report: Report,
    /// The scratch database being dropped (joined when this goes).
    pub cleanup: Deferred,
    /// Replaying the folder into the scratch database and reading it back.
    pub replay: Duration,
    /// The probes on the live database.
    pub measure: Duration,
    pub queries: usize,
}

/// Pre-flight of the pending migrations (`pending`, journal indexes, in the order they will
/// run) on a database where `applied` are applied: the folder replayed in one scratch
/// database, each pending migration's changes measured on `live`.
pub fn analyze_pending(
    set: &MigrationSet,
    applied: &[usize],
    pending: &[usize],
    live: &mut Live,
    server: &ScratchServer,
) -> Result<Analysis> {
    let started = Instant::now();
    let mut replay = Replay::new(set.dialect, server)?;
    for &i in applied {
        replay.apply(set, &set.migrations[i])?;
    }
    let mut schemas = vec![replay.introspect()?];
    for &i in pending {
        replay.apply(set, &set.migrations[i])?;
        schemas.push(replay.introspect()?);
    }
    let cleanup = replay.drop_in_background();
    let replayed = started.elapsed();
    let drift = diff::diff(&schemas[0], &live.schema, &Renames::none_are_renames())?;
    let steps: Vec<Step<'_>> = pending
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let m = &set.migrations[i];
            let sql = m.file.as_ref().map_or("", |f| f.sql.as_str());
            Step { name: &m.tag, before: &schemas[k], after: &schemas[k + 1], sql, rename_text: sql, reverse: false }
        })
        .collect();
    let plan = preflight::plan(set.dialect, Mode::Live(&live.schema), &steps)?;
    let t = Instant::now();
    let outcomes = live.measure(&plan.probes)?;
    let measure = t.elapsed();
    let mut report = preflight::report(&plan, &outcomes);
    if let (false, Some(first)) = (drift.is_empty(), report.migrations.first_mut()) {
        first.findings.insert(0, drift_finding(&first.migration, &drift));
    }
    Ok(Analysis { report, cleanup, replay: replayed, measure, queries: plan.probes.len() })
}

fn drift_finding(migration: &str, drift: &[Change]) -> Finding {
    let shown: Vec<String> = drift.iter().take(5).map(ToString::to_string).collect();
    let more = if drift.len() > 5 { format!(" and {} more", drift.len() - 5) } else { String::new() };
    Finding {
        migration: migration.to_string(),
        rule: Rule::Drift,
        severity: Severity::Warning,
        table: None,
        column: None,
        count: Some(drift.len() as u64),
        samples: Vec::new(),
        sample_key: None,
        message: format!(
            "the live schema is not what the applied migrations give ({}{more}); the checks measured the live tables as they are",
            shown.join("; ")
        ),
        advice: "find out who changed the database by hand (`cargo xtask diff --from migrations:DIR --to <database>`), and put the change in a migration".into(),
        allowed: false,
    }
}

/// `lint --all`: every migration against the schema the folder gives before it (no data).
pub fn analyze_all(set: &MigrationSet, server: &ScratchServer) -> Result<Analysis> {
    let started = Instant::now();
    if let Some(m) = set.migrations.iter().find(|m| m.file.is_none()) {
        bail!("journal entry {} has no file; restore it from version control", printable(&m.tag));
    }
    let mut replay = Replay::new(set.dialect, server)?;
    let mut schemas = vec![replay.introspect()?];
    for m in &set.migrations {
        replay.apply(set, m)?;
        schemas.push(replay.introspect()?);
    }
    let cleanup = replay.drop_in_background();
    let steps: Vec<Step<'_>> = set
        .migrations
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let sql = m.file.as_ref().map_or("", |f| f.sql.as_str());
            Step { name: &m.tag, before: &schemas[k], after: &schemas[k + 1], sql, rename_text: sql, reverse: false }
        })
        .collect();
    let plan = preflight::plan(set.dialect, Mode::SchemaOnly, &steps)?;
    let report = preflight::report(&plan, &[]);
    Ok(Analysis { report, cleanup, replay: started.elapsed(), measure: Duration::ZERO, queries: 0 })
}

// --- the scratch replay ----------------------------------------------------------------------

/// One scratch database the folder is replayed into, migration by migration, through the
/// migrator's driver (each file runs as `migrate` runs it).
pub struct Replay {
    scratch: Scratch,
}

enum Scratch {
    Sqlite(Box<SqliteDriver>),
    Postgres { driver: Box<PostgresDriver>, _db: ScratchDb },
}

impl Replay {
    pub fn new(dialect: Dialect, server: &ScratchServer) -> Result<Replay> {
        let scratch = match ScratchDb::create(dialect, server, "the pre-flight replay of the migrations")
            .context("creating a scratch database for the replay (--dev-url names another server)")?
        {
            ScratchDb::Sqlite(conn) => Scratch::Sqlite(Box::new(SqliteDriver::new(conn, None))),
            ScratchDb::Postgres(pg) => {
                let driver = PostgresDriver::connect(pg.url())?;
                Scratch::Postgres { driver: Box::new(driver), _db: ScratchDb::Postgres(pg) }
            }
        };
        let mut replay = Replay { scratch };
        replay.driver().prepare_bookkeeping()?;
        Ok(replay)
    }

    pub fn driver(&mut self) -> &mut dyn Driver {
        match &mut self.scratch {
            Scratch::Sqlite(d) => d.as_mut(),
            Scratch::Postgres { driver, .. } => driver.as_mut(),
        }
    }

    /// Runs one migration of `set` as `migrate` would.
    pub fn apply(&mut self, set: &MigrationSet, m: &Migration) -> Result<()> {
        let file = m.file.as_ref().with_context(|| format!("journal entry {} has no file", printable(&m.tag)))?;
        let statements = split(set.dialect, &file.sql);
        let prepared = Prepared { migration: m, file, mode: run_mode(set.dialect, &statements), statements };
        let record = Record { hash: &file.hash, created_at: m.when, name: &m.tag };
        self.driver().apply(&prepared, &record).with_context(|| {
            format!(
                "migration {} fails on a scratch database holding the schema before it, whatever the data",
                printable(&m.tag)
            )
        })
    }

    /// Runs planned statements (a rollback step) as the migration `tag`.
    pub fn apply_statements(&mut self, tag: &str, statements: &[sql::Statement]) -> Result<(), verify::Failure> {
        verify::apply(self.driver(), tag, statements)
    }

    /// Drops the scratch database on a thread of its own: PostgreSQL's `DROP DATABASE` waits
    /// for a checkpoint (a second or more), which need not hold up the migration. The
    /// returned guard waits for it when it goes, so the process never leaves it behind.
    pub fn drop_in_background(self) -> Deferred {
        Deferred(Some(std::thread::spawn(move || drop(self))))
    }

    pub fn introspect(&mut self) -> Result<Schema> {
        let schema = match &mut self.scratch {
            Scratch::Sqlite(d) => introspect::sqlite(d.connection().context("the scratch database is open")?),
            Scratch::Postgres { driver, .. } => introspect::postgres(driver.client(), SchemaFilter::All),
        };
        schema.context("reading the scratch database")
    }
}

/// Work finishing on another thread; waited for when this value goes.
pub struct Deferred(Option<std::thread::JoinHandle<()>>);

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

// --- the live database, read only ------------------------------------------------------------

/// The live database opened for reading: its schema, and a connection to measure on (`None`:
/// an SQLite file that does not exist yet).
pub struct Live {
    pub schema: Schema,
    conn: Option<Connection>,
}

impl Live {
    /// Opens without creating or changing anything.
    pub fn open(url: &DatabaseUrl) -> Result<Live> {
        match url {
            DatabaseUrl::Sqlite { .. } => {
                let Some(path) = url.sqlite_path() else {
                    return Ok(Live { schema: Schema::empty(Dialect::Sqlite), conn: None });
                };
                match cms_db::sqlite::open_read_only(path)? {
                    None => Ok(Live { schema: Schema::empty(Dialect::Sqlite), conn: None }),
                    Some(conn) => {
                        let schema = introspect::sqlite(&conn).with_context(|| format!("reading {url}"))?;
                        Ok(Live { schema, conn: Some(Connection::Sqlite(conn)) })
                    }
                }
            }
            DatabaseUrl::Postgres { url: raw } => {
                let mut client = cms_db::postgres::connect(raw)?;
                client
                    .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .map_err(|e| DbError::failed("reading the schema", e))?;
                let schema = introspect::postgres(&mut client, SchemaFilter::All);
                client.batch_execute("ROLLBACK").map_err(|e| DbError::failed("reading the schema", e))?;
                Ok(Live {
                    schema: schema.with_context(|| format!("reading {url}"))?,
                    conn: Some(Connection::Postgres(client)),
                })
            }
        }
    }

    /// Whether any application table has a row (one `LIMIT 1` query per table).
    pub fn holds_data(&mut self) -> Result<bool> {
        let Some(conn) = self.conn.as_mut() else { return Ok(false) };
        for name in self.schema.tables.keys() {
            let table = match self.schema.dialect {
                Dialect::Sqlite if name.schema == "main" => quote(&name.name),
                _ => format!("{}.{}", quote(&name.schema), quote(&name.name)),
            };
            if !conn.query(&format!("SELECT 1 FROM {table} LIMIT 1"), &[])?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs the probes in one read-only snapshot, each in a savepoint (a failing one is an
    /// outcome, not an error); the sample query only when the count is above zero.
    pub fn measure(&mut self, probes: &[Probe]) -> Result<Vec<Outcome>> {
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(probes
                .iter()
                .map(|_| Outcome::Counted { count: 0, detail: None, samples: Vec::new() })
                .collect());
        };
        conn.transaction(TxMode::ReadSnapshot, |tx| -> Result<Vec<Outcome>> {
            let mut out = Vec::with_capacity(probes.len());
            for p in probes {
                tx.batch("SAVEPOINT preflight")?;
                let result = run_probe(tx, p);
                if result.is_err() {
                    tx.batch("ROLLBACK TO SAVEPOINT preflight")?;
                }
                tx.batch("RELEASE SAVEPOINT preflight")?;
                out.push(match result {
                    Ok(o) => o,
                    Err(e) => Outcome::Failed(db_message(e)),
                });
            }
            Ok(out)
        })
    }

    /// Gives up the connection (before anything else writes to the database).
    pub fn close(self) {}
}

fn run_probe(tx: &mut dyn Sql, p: &Probe) -> Result<Outcome, DbError> {
    let rows = tx.query(&p.count_sql, &[])?;
    let first = rows.first();
    let count = first.and_then(|r| r.first()).and_then(Value::int).unwrap_or(0).max(0) as u64;
    let detail = first.and_then(|r| r.get(1)).and_then(Value::int).map(|n| n.max(0) as u64);
    let mut samples = Vec::new();
    if let (true, Some(sql)) = (count > 0, &p.sample_sql) {
        for row in tx.query(sql, &[])? {
            let cells: Vec<Option<String>> = row
                .into_iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::Text(s) => Some(s),
                    Value::Int(i) => Some(i.to_string()),
                    Value::Real(f) => Some(f.to_string()),
                    Value::Blob(b) => Some(format!("x'{}'", hex::encode(b))),
                })
                .collect();
            samples.push(p.sample(&cells));
        }
    }
    Ok(Outcome::Counted { count, detail, samples })
}

/// The database's own words for a failed probe.
fn db_message(e: DbError) -> String {
    match e.cause() {
        Some(said) => said.to_string(),
        None => cms_db::error::with_causes(&e),
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// For messages: a PostgreSQL scratch database needs a server.
pub fn scratch_hint(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => {
            " (the scratch database is made on the same server: its role needs CREATEDB, or pass --dev-url)"
        }
    }
}
