//! The studio's connections: a small pool (read-only opens with `--read-only`), the catalog
//! kept in step with the database's schema, the time limit on every statement, and the row
//! counts of the table list.
//!
//! Every request runs in one transaction through [`cms_db::connection::transaction`]: reads in
//! a read snapshot, each change in one write transaction. The time limit is PostgreSQL's
//! `SET LOCAL statement_timeout` and, on SQLite, an interrupt of the connection when the limit
//! passes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use cms_db::connection::{transaction, Connection, Sql, TxMode, Value};
use cms_db::schema::introspect::{self, SchemaFilter};
use cms_db::{DatabaseUrl, DbError, Dialect};

use super::catalog::{Catalog, Kind};
use super::error::StudioError;
use super::query::relation_sql;

/// Connections open at most at once (the machine has few cores; requests are short).
const MAX_CONNECTIONS: usize = 4;

/// PostgreSQL tables estimated above this many rows show the estimate, marked as such.
pub const EXACT_COUNT_LIMIT: f64 = 100_000.0;

/// PostgreSQL: how long the catalog is trusted before its schema version is read again (the
/// digest takes a few milliseconds; SQLite's `PRAGMA schema_version` is read every time).
const SCHEMA_CHECK: Duration = Duration::from_secs(2);

/// How long the table list may spend counting one view.
const VIEW_COUNT_BUDGET: Duration = Duration::from_secs(1);

/// One row count of the table list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Count {
    /// `None`: not counted within its time budget.
    pub rows: Option<u64>,
    /// PostgreSQL's estimate (`pg_class.reltuples`, or the planner's for a table never
    /// analysed), not an exact count.
    pub estimated: bool,
}

/// The database behind the studio.
pub struct Db {
    url: DatabaseUrl,
    pub dialect: Dialect,
    pub read_only: bool,
    pub timeout: Duration,
    pool: Mutex<Pool>,
    freed: Condvar,
    catalog: RwLock<Arc<Catalog>>,
    /// PostgreSQL: when the schema was last compared (at most every [`SCHEMA_CHECK`]).
    schema_checked: Mutex<Instant>,
    /// The SQL console ran: compare the schema on the next request whatever the time.
    schema_stale: AtomicBool,
    /// SQLite: exact counts, kept while `PRAGMA data_version` on their connection says nobody
    /// committed since.
    sqlite_counts: Mutex<Option<SqliteCounts>>,
}

/// SQLite's counting connection and the counts it last made.
struct SqliteCounts {
    conn: Connection,
    /// `PRAGMA data_version` and the catalog version when they were counted, and the counts.
    cached: Option<(i64, String, BTreeMap<String, Count>)>,
}

struct Pool {
    idle: Vec<Connection>,
    open: usize,
}

impl Db {
    /// Opens the database (read-only with `read_only`) and reads its catalog. A missing SQLite
    /// file is an error, never a new empty database.
    pub fn open(url: DatabaseUrl, read_only: bool, timeout: Duration) -> Result<Db, StudioError> {
        let dialect = url.dialect();
        check_database(&url, read_only)?;
        let mut first = open_connection(&url, read_only)?;
        let catalog = load_catalog(&mut first)?;
        let sqlite_counts = match dialect {
            Dialect::Sqlite => Some(SqliteCounts { conn: open_connection(&url, true)?, cached: None }),
            Dialect::Postgres => None,
        };
        Ok(Db {
            url,
            dialect,
            read_only,
            timeout,
            pool: Mutex::new(Pool { idle: vec![first], open: 1 }),
            freed: Condvar::new(),
            catalog: RwLock::new(Arc::new(catalog)),
            schema_checked: Mutex::new(Instant::now()),
            schema_stale: AtomicBool::new(false),
            sqlite_counts: Mutex::new(sqlite_counts),
        })
    }

    /// The database URL as it may be shown (password redacted).
    pub fn describe(&self) -> String {
        self.url.redacted()
    }

    fn checkout(&self) -> Result<Connection, StudioError> {
        let mut pool = self.pool.lock().expect("the pool lock");
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < MAX_CONNECTIONS {
                pool.open += 1;
                drop(pool);
                return open_connection(&self.url, self.read_only).inspect_err(|_| {
                    self.pool.lock().expect("the pool lock").open -= 1;
                });
            }
            pool = self.freed.wait(pool).expect("the pool lock");
        }
    }

    /// Puts a connection back, unless it is broken or still inside a transaction (an SQLite
    /// COMMIT refused by a deferred foreign key leaves the transaction open: roll it back).
    fn checkin(&self, mut conn: Connection) {
        let healthy = match &mut conn {
            Connection::Sqlite(c) => c.is_autocommit() || c.execute_batch("ROLLBACK").is_ok(),
            Connection::Postgres(c) => !c.is_closed(),
        };
        let mut pool = self.pool.lock().expect("the pool lock");
        if healthy {
            pool.idle.push(conn);
        } else {
            pool.open -= 1;
        }
        drop(pool);
        self.freed.notify_one();
    }

    /// Runs `f` on a pooled connection, with the current catalog.
    pub fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection, &Arc<Catalog>) -> Result<T, StudioError>,
    ) -> Result<T, StudioError> {
        let mut conn = self.checkout()?;
        let result = self.catalog_for(&mut conn).and_then(|catalog| f(&mut conn, &catalog));
        self.checkin(conn);
        result
    }

    /// `f` in one read snapshot, within the time limit.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql, &Arc<Catalog>) -> Result<T, StudioError>,
    ) -> Result<T, StudioError> {
        self.read_within(self.timeout, f)
    }

    /// `f` in one read snapshot, within `limit`.
    pub fn read_within<T>(
        &self,
        limit: Duration,
        f: impl FnOnce(&mut dyn Sql, &Arc<Catalog>) -> Result<T, StudioError>,
    ) -> Result<T, StudioError> {
        self.with_connection(|conn, catalog| {
            within(conn, limit, |conn| {
                transaction(conn, TxMode::ReadSnapshot, |tx| {
                    set_statement_timeout(tx, limit)?;
                    f(tx, catalog)
                })
            })
        })
    }

    /// `f` in one write transaction, within the time limit: committed when it returns `Ok`,
    /// rolled back otherwise. Refused with `--read-only`.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Sql, &Arc<Catalog>) -> Result<T, StudioError>,
    ) -> Result<T, StudioError> {
        if self.read_only {
            return Err(StudioError::ReadOnly);
        }
        let limit = self.timeout;
        self.with_connection(|conn, catalog| {
            within(conn, limit, |conn| {
                transaction(conn, TxMode::Write, |tx| {
                    set_statement_timeout(tx, limit)?;
                    f(tx, catalog)
                })
            })
        })
    }

    /// The SQL console may have changed the schema: compare it on the next request.
    pub fn schema_may_have_changed(&self) {
        self.schema_stale.store(true, Ordering::SeqCst);
    }

    /// The catalog, read again when the schema changed since it was read.
    fn catalog_for(&self, conn: &mut Connection) -> Result<Arc<Catalog>, StudioError> {
        if self.dialect == Dialect::Postgres && !self.schema_stale.swap(false, Ordering::SeqCst) {
            let mut checked = self.schema_checked.lock().expect("the schema check lock");
            if checked.elapsed() < SCHEMA_CHECK {
                return Ok(self.cached_catalog());
            }
            *checked = Instant::now();
        }
        let version = schema_version(conn)?;
        let current = self.catalog.read().expect("the catalog lock").clone();
        if current.version == version {
            return Ok(current);
        }
        let fresh = Arc::new(load_catalog(conn)?);
        *self.catalog.write().expect("the catalog lock") = fresh.clone();
        Ok(fresh)
    }

    /// The current catalog (read again when the schema changed).
    pub fn catalog(&self) -> Result<Arc<Catalog>, StudioError> {
        self.with_connection(|_, catalog| Ok(catalog.clone()))
    }

    /// The catalog as last read (no database round trip).
    pub fn cached_catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("the catalog lock").clone()
    }

    /// Row counts of every table and view (see [`Count`]).
    pub fn counts(&self) -> Result<(Arc<Catalog>, BTreeMap<String, Count>), StudioError> {
        let catalog = self.catalog()?;
        let mut counts = match self.dialect {
            Dialect::Sqlite => self.sqlite_table_counts(&catalog)?,
            Dialect::Postgres => self.postgres_table_counts(&catalog)?,
        };
        for rel in catalog.relations.values().filter(|r| r.kind != Kind::Table) {
            if counts.contains_key(&rel.display) {
                continue;
            }
            let sql = format!("SELECT count(*) FROM {}", relation_sql(self.dialect, &rel.name));
            let rows = self
                .read_within(VIEW_COUNT_BUDGET.min(self.timeout), |tx, _| Ok(tx.query(&sql, &[])?))
                .ok()
                .and_then(|r| r.first().and_then(|r| r.first()).and_then(Value::int))
                .map(|n| n as u64);
            counts.insert(rel.display.clone(), Count { rows, estimated: false });
        }
        Ok((catalog, counts))
    }

    /// The row count of one table when it costs next to nothing: SQLite's kept count while
    /// it is still valid (never a new count of a large table), PostgreSQL's estimate (exact
    /// up to [`EXACT_COUNT_LIMIT`] rows).
    pub fn cheap_count(&self, catalog: &Catalog, table: &str) -> Option<Count> {
        let rel = catalog.relation(table).filter(|r| r.kind == Kind::Table)?;
        match self.dialect {
            Dialect::Sqlite => {
                let mut guard = self.sqlite_counts.try_lock().ok()?;
                let SqliteCounts { conn, cached } = guard.as_mut()?;
                let (version, schema, counts) = cached.as_ref()?;
                let now = conn.query("PRAGMA data_version", &[]).ok()?.first()?.first()?.int()?;
                (now == *version && *schema == catalog.version).then(|| counts.get(table).copied()).flatten()
            }
            Dialect::Postgres => {
                let target = relation_sql(Dialect::Postgres, &rel.name);
                self.read(|tx, _| {
                    let rows = tx.query(
                        "SELECT c.reltuples::float8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = $1 AND c.relname = $2",
                        &[Value::from(rel.name.schema.as_str()), Value::from(rel.name.name.as_str())],
                    )?;
                    let mut estimate = match rows.first().and_then(|r| r.first()) {
                        Some(Value::Real(f)) => *f,
                        _ => -1.0,
                    };
                    if estimate < 0.0 {
                        estimate = planner_estimate(tx, &target)?;
                    }
                    if estimate > EXACT_COUNT_LIMIT {
                        return Ok(Count { rows: Some(estimate.round() as u64), estimated: true });
                    }
                    let n = tx.query(&format!("SELECT count(*) FROM {target}"), &[])?;
                    Ok(Count {
                        rows: n.first().and_then(|r| r.first()).and_then(Value::int).map(|n| n as u64),
                        estimated: false,
                    })
                })
                .ok()
            }
        }
    }

    /// SQLite: exact `count(*)` of every table in one snapshot, reused while no connection
    /// has committed anything since (`PRAGMA data_version`) and the schema is the same.
    fn sqlite_table_counts(&self, catalog: &Catalog) -> Result<BTreeMap<String, Count>, StudioError> {
        let mut guard = self.sqlite_counts.lock().expect("the counts lock");
        let SqliteCounts { conn, cached: cache } = guard.as_mut().expect("SQLite keeps a counting connection");
        let data_version = conn
            .query("PRAGMA data_version", &[])?
            .first()
            .and_then(|r| r.first())
            .and_then(Value::int)
            .unwrap_or_default();
        if let Some((v, schema, counts)) = cache.as_ref() {
            if *v == data_version && *schema == catalog.version {
                return Ok(counts.clone());
            }
        }
        let tables: Vec<_> = catalog.relations.values().filter(|r| r.kind == Kind::Table).collect();
        let limit = self.timeout;
        let counts = within(conn, limit, |conn| {
            transaction(conn, TxMode::ReadSnapshot, |tx| {
                let mut out = BTreeMap::new();
                for rel in &tables {
                    let sql = format!("SELECT count(*) FROM {}", relation_sql(Dialect::Sqlite, &rel.name));
                    let n = tx.query(&sql, &[])?.first().and_then(|r| r.first()).and_then(Value::int);
                    out.insert(rel.display.clone(), Count { rows: n.map(|n| n as u64), estimated: false });
                }
                Ok::<_, StudioError>(out)
            })
        })?;
        *cache = Some((data_version, catalog.version.clone(), counts.clone()));
        Ok(counts)
    }

    /// PostgreSQL: `pg_class.reltuples` (the planner's estimate for a table never analysed);
    /// an exact `count(*)` where the estimate is at most [`EXACT_COUNT_LIMIT`].
    fn postgres_table_counts(&self, catalog: &Catalog) -> Result<BTreeMap<String, Count>, StudioError> {
        let tables: Vec<_> = catalog.relations.values().filter(|r| r.kind == Kind::Table).cloned().collect();
        self.read(|tx, _| {
            let rows = tx.query(
                "SELECT n.nspname::text, c.relname::text, c.reltuples::float8
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p')",
                &[],
            )?;
            let mut reltuples = BTreeMap::new();
            for r in rows {
                if let [Value::Text(ns), Value::Text(name), n] = r.as_slice() {
                    let n = match n {
                        Value::Real(f) => *f,
                        other => other.int().unwrap_or(-1) as f64,
                    };
                    reltuples.insert((ns.clone(), name.clone()), n);
                }
            }
            let mut out = BTreeMap::new();
            for rel in &tables {
                let target = relation_sql(Dialect::Postgres, &rel.name);
                let mut estimate =
                    reltuples.get(&(rel.name.schema.clone(), rel.name.name.clone())).copied().unwrap_or(-1.0);
                if estimate < 0.0 {
                    estimate = planner_estimate(tx, &target)?;
                }
                let count = if estimate > EXACT_COUNT_LIMIT {
                    Count { rows: Some(estimate.round() as u64), estimated: true }
                } else {
                    let n = tx
                        .query(&format!("SELECT count(*) FROM {target}"), &[])?
                        .first()
                        .and_then(|r| r.first())
                        .and_then(Value::int);
                    Count { rows: n.map(|n| n as u64), estimated: false }
                };
                out.insert(rel.display.clone(), count);
            }
            Ok(out)
        })
    }
}

impl Drop for Db {
    /// A PostgreSQL client closes by blocking on a runtime of its own, which must not happen
    /// on a thread of the server's runtime (where the last reference may go): the connections
    /// are closed on a thread of their own.
    fn drop(&mut self) {
        let pool = self.pool.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = std::mem::take(&mut pool.idle);
        if idle.iter().any(|c| matches!(c, Connection::Postgres(_))) {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

/// The planner's row estimate for a table (`EXPLAIN (FORMAT JSON)`), which it derives from
/// the table's current size even before the first ANALYZE.
fn planner_estimate(tx: &mut dyn Sql, target: &str) -> Result<f64, DbError> {
    let rows = tx.query(&format!("EXPLAIN (FORMAT JSON) SELECT 1 FROM {target}"), &[])?;
    let text =
        rows.into_iter().next().and_then(|r| r.into_iter().next()).and_then(Value::into_text).unwrap_or_default();
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0))
}

/// Checks the database once, with the project's own open (a missing SQLite file is an
/// error, never a new empty database; a file that is no database is named as such), before
/// any connection of the studio is open: that open reads the file's header through a file
/// handle of its own, and closing a handle drops every POSIX lock this process holds on the
/// file, those of open SQLite connections included (another process would then take the
/// database for unused and remove its `-wal` under our feet).
fn check_database(url: &DatabaseUrl, read_only: bool) -> Result<(), StudioError> {
    let DatabaseUrl::Sqlite { .. } = url else { return Ok(()) };
    let Some(path) = url.sqlite_path() else {
        return Err(StudioError::Unavailable(
            "the studio needs an SQLite file, not an in-memory database; point DATABASE_URL at a file".into(),
        ));
    };
    if !path.is_file() {
        return Err(StudioError::Unavailable(format!(
            "there is no database at {}; run `cargo xtask migrate` (and `seed`) first, or set DATABASE_URL",
            path.display()
        )));
    }
    if read_only {
        cms_db::sqlite::open_read_only(path)?;
    } else {
        cms_db::sqlite::open(path)?;
    }
    Ok(())
}

/// Opens one connection: SQLite read-only (and `query_only`) or read-write with the project's
/// settings ([`cms_db::sqlite::configure`]), never creating the file; PostgreSQL with
/// read-only transactions by default under `--read-only`. See [`check_database`] for why
/// SQLite connections are opened here and not with `cms_db::sqlite::open`.
pub fn open_connection(url: &DatabaseUrl, read_only: bool) -> Result<Connection, StudioError> {
    match url {
        DatabaseUrl::Sqlite { .. } => {
            use rusqlite::OpenFlags;
            let path = url.sqlite_path().ok_or_else(|| StudioError::Unavailable("not an SQLite file".into()))?;
            let failed = |e: rusqlite::Error| StudioError::Unavailable(format!("opening {}: {e}", path.display()));
            let conn = if read_only {
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(failed)?;
                conn.busy_timeout(Duration::from_secs(5)).map_err(failed)?;
                cms_db::sqlite::forbid_double_quoted_strings(&conn).map_err(failed)?;
                conn.pragma_update(None, "query_only", true).map_err(failed)?;
                conn
            } else {
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(failed)?;
                cms_db::sqlite::configure(&conn).map_err(failed)?;
                conn
            };
            conn.set_prepared_statement_cache_capacity(64);
            Ok(Connection::Sqlite(conn))
        }
        DatabaseUrl::Postgres { url: raw } => {
            let mut client = cms_db::postgres::connect(raw)?;
            if read_only {
                client
                    .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    .map_err(|e| StudioError::Unavailable(cms_db::postgres::pg_message(&e)))?;
            }
            Ok(Connection::Postgres(client))
        }
    }
}

/// What changes whenever the schema does: SQLite's `schema_version`; on PostgreSQL a digest
/// of the user relations, their columns and the constraints (their catalog rows' `xmin`
/// change with every DDL statement that touches them).
fn schema_version(conn: &mut Connection) -> Result<String, StudioError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => "PRAGMA schema_version",
        Dialect::Postgres => {
            "SELECT md5(coalesce((SELECT string_agg(c.oid::text || ':' || c.xmin::text, ',' ORDER BY c.oid)
                                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')), '')
                     || coalesce((SELECT string_agg(a.attrelid::text || ':' || a.attnum || ':' || a.xmin::text, ',' ORDER BY a.attrelid, a.attnum)
                                    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                                    JOIN pg_namespace n ON n.oid = c.relnamespace
                                   WHERE a.attnum > 0 AND c.relkind IN ('r', 'p', 'v', 'm')
                                     AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')), '')
                     || coalesce((SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_constraint), '')
                     || coalesce((SELECT string_agg(oid::text || ':' || xmin::text, ',' ORDER BY oid) FROM pg_enum), ''))"
        }
    };
    let rows = conn.query(sql, &[])?;
    Ok(match rows.first().and_then(|r| r.first()) {
        Some(Value::Int(i)) => i.to_string(),
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    })
}

/// Introspects the database into a fresh [`Catalog`], in one read snapshot.
fn load_catalog(conn: &mut Connection) -> Result<Catalog, StudioError> {
    let version = schema_version(conn)?;
    let introspected = |e: introspect::IntrospectError| StudioError::Sql(format!("reading the schema: {e}"));
    let schema = match conn {
        Connection::Sqlite(c) => introspect::sqlite(c).map_err(introspected)?,
        Connection::Postgres(c) => {
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .map_err(|e| StudioError::Sql(cms_db::postgres::pg_message(&e)))?;
            let schema = introspect::postgres(c, SchemaFilter::All);
            let _ = c.batch_execute("COMMIT");
            schema.map_err(introspected)?
        }
    };
    transaction(conn, TxMode::ReadSnapshot, |tx| Catalog::build(schema, tx, version)).map_err(StudioError::from)
}

/// PostgreSQL: the time limit for every statement of the current transaction.
fn set_statement_timeout(tx: &mut dyn Sql, limit: Duration) -> Result<(), DbError> {
    if tx.dialect() == Dialect::Postgres {
        tx.batch(&format!("SET LOCAL statement_timeout = {}", limit.as_millis().max(1)))?;
    }
    Ok(())
}

/// Runs `f` within `limit`: on SQLite a watchdog interrupts the connection when the limit
/// passes (PostgreSQL's own `statement_timeout` is set by the caller's transaction). An error
/// after the limit passed is a [`StudioError::Timeout`].
pub fn within<T>(
    conn: &mut Connection,
    limit: Duration,
    f: impl FnOnce(&mut Connection) -> Result<T, StudioError>,
) -> Result<T, StudioError> {
    let started = Instant::now();
    let fired = Arc::new(AtomicBool::new(false));
    let (done, watchdog) = match conn {
        Connection::Sqlite(c) => {
            let handle = c.get_interrupt_handle();
            let (tx, rx) = mpsc::channel::<()>();
            let fired = fired.clone();
            let watchdog = std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    fired.store(true, Ordering::SeqCst);
                    handle.interrupt();
                }
            });
            (Some(tx), Some(watchdog))
        }
        Connection::Postgres(_) => (None, None),
    };
    let result = f(conn);
    drop(done);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    match result {
        Err(_) if fired.load(Ordering::SeqCst) || started.elapsed() >= limit => Err(StudioError::Timeout(limit)),
        other => other,
    }
}
