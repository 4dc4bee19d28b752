//! Connection pools: r2d2_sqlite (WAL, foreign keys, busy timeout: the settings of
//! [`cms_db::sqlite::open`], but never creating a file) and r2d2_postgres (the `sslmode`,
//! `sslrootcert` and connect-timeout handling of [`cms_db::postgres::connect`]).
//!
//! Queries go through [`Query`]: SQL written once with `$1`-style placeholders (translated for
//! SQLite), rows read as plain [`Cell`]s, so both dialects share one code path.

use std::time::Duration;

use postgres_native_tls::MakeTlsConnector;
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::OpenFlags;

use cms_db::error::DbError;
use cms_db::migrate::journal::Dialect;
use cms_db::postgres::pg_message;
use cms_db::url::DatabaseUrl;

/// How long a request waits for a free connection before it fails with 503.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements kept per SQLite connection.
const STATEMENT_CACHE: usize = 64;

type PgManager = PostgresConnectionManager<MakeTlsConnector>;

/// A pool of connections to the application database.
#[derive(Clone)]
pub enum Db {
    Sqlite(Pool<SqliteConnectionManager>),
    Postgres(Pool<PgManager>),
}

/// One connection taken from the pool; returned to it on drop.
pub enum Conn {
    Sqlite(PooledConnection<SqliteConnectionManager>),
    Postgres(PooledConnection<PgManager>),
}

impl Db {
    /// Opens a pool of at most `size` connections and checks one out, so a database that cannot
    /// be reached fails here, with its (redacted) URL, rather than on the first request.
    pub fn open(url: &DatabaseUrl, size: u32) -> Result<Db, DbError> {
        let db = match url {
            DatabaseUrl::Sqlite { .. } => {
                let Some(path) = url.sqlite_path() else {
                    return Err(DbError::Url(
                        "the server cannot serve an in-memory SQLite database; point DATABASE_URL at a file".into(),
                    ));
                };
                if !path.is_file() {
                    return Err(DbError::SqliteOpen {
                        path: path.to_path_buf(),
                        message: "the file does not exist; run `cargo xtask reset-complete` (or migrate and seed)"
                            .into(),
                    });
                }
                // Read-write (the server takes no write locks, but WAL readers need the -shm
                // file), without CREATE: a missing database is an error, never a new empty file.
                let manager = SqliteConnectionManager::file(path)
                    .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                    .with_init(|c| {
                        cms_db::sqlite::configure(c)?;
                        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                        Ok(())
                    });
                let pool = build(manager, size).map_err(|e| DbError::SqliteOpen {
                    path: path.to_path_buf(),
                    message: format!("{e}; check that the file and its folder are readable and writable"),
                })?;
                Db::Sqlite(pool)
            }
            DatabaseUrl::Postgres { url: raw } => {
                let (config, tls) = cms_db::postgres::pool_parts(raw, "cms-server")?;
                let pool =
                    build(PostgresConnectionManager::new(config, tls), size).map_err(|e| DbError::PostgresConnect {
                        url: url.redacted(),
                        message: format!("{e}; check that the server is running and DATABASE_URL is right"),
                    })?;
                Db::Postgres(pool)
            }
        };
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A connection, waiting up to [`CHECKOUT_TIMEOUT`] for one to be free.
    pub fn get(&self) -> Result<Conn, DbError> {
        let unavailable = |e: r2d2::Error| DbError::database("no database connection available", e);
        Ok(match self {
            Db::Sqlite(p) => Conn::Sqlite(p.get().map_err(unavailable)?),
            Db::Postgres(p) => Conn::Postgres(p.get().map_err(unavailable)?),
        })
    }
}

fn build<M: r2d2::ManageConnection>(manager: M, size: u32) -> Result<Pool<M>, r2d2::Error> {
    Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .connection_timeout(CHECKOUT_TIMEOUT)
        // Checked out connections are validated lazily: a broken one surfaces as a query error.
        .test_on_check_out(false)
        .build(manager)
}

impl Conn {
    /// Runs `f` inside one read-only transaction, so every query of a request sees the same
    /// committed data: a re-seed that commits between two of them (new site and environment
    /// ids) cannot turn the page into a 404. Rolled back when `f` fails or panics.
    pub fn snapshot<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, DbError>) -> Result<T, DbError> {
        let begin = match self {
            // Deferred: the snapshot starts with the first read and holds until the end (WAL).
            Conn::Sqlite(_) => "BEGIN",
            Conn::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.execute(begin)?;
        let mut open = Open(Some(self));
        let result = f(open.0.as_deref_mut().expect("the transaction is open"));
        let conn = open.0.take().expect("the transaction is open");
        match result {
            Ok(value) => conn.execute("COMMIT").map(|()| value),
            Err(e) => {
                let _ = conn.execute("ROLLBACK");
                Err(e)
            }
        }
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| DbError::database(sql, e)),
            Conn::Postgres(c) => c.batch_execute(sql).map_err(|e| DbError::database(sql, pg_message(&e))),
        }
    }
}

/// A transaction still open: rolled back if the code inside panics, before the connection
/// goes back to the pool.
struct Open<'a>(Option<&'a mut Conn>);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            let _ = conn.execute("ROLLBACK");
        }
    }
}

/// A value of a result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            Cell::Text(s) => s.parse().ok(),
            Cell::Null => None,
        }
    }
}

pub type Row = Vec<Cell>;

/// Runs a query with text parameters and returns every row.
pub trait Query {
    fn rows(&mut self, sql: &str, params: &[&str]) -> Result<Vec<Row>, DbError>;
}

impl Query for Conn {
    fn rows(&mut self, sql: &str, params: &[&str]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => sqlite_rows(c, sql, params),
            Conn::Postgres(c) => postgres_rows(c, sql, params),
        }
    }
}

impl Query for rusqlite::Connection {
    fn rows(&mut self, sql: &str, params: &[&str]) -> Result<Vec<Row>, DbError> {
        sqlite_rows(self, sql, params)
    }
}

fn sqlite_rows(c: &rusqlite::Connection, sql: &str, params: &[&str]) -> Result<Vec<Row>, DbError> {
    let e = |e: rusqlite::Error| DbError::database("querying the database", e);
    let mut stmt = c.prepare_cached(&sqlite_placeholders(sql)).map_err(e)?;
    let n = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(e)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(e)? {
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            use rusqlite::types::ValueRef;
            cells.push(match row.get_ref(i).map_err(e)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Int(v as i64),
                ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            });
        }
        out.push(cells);
    }
    Ok(out)
}

fn postgres_rows(c: &mut postgres::Client, sql: &str, params: &[&str]) -> Result<Vec<Row>, DbError> {
    use postgres::types::{ToSql, Type};
    let e = |e: postgres::Error| DbError::database("querying the database", pg_message(&e));
    let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let rows = c.query(sql, &params).map_err(e)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut cells = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let ty = column.type_();
            let cell = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i).map_err(e)?.map(Cell::Int)
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i).map_err(e)?.map(|v| Cell::Int(v.into()))
            } else if *ty == Type::INT2 {
                row.try_get::<_, Option<i16>>(i).map_err(e)?.map(|v| Cell::Int(v.into()))
            } else if *ty == Type::BOOL {
                row.try_get::<_, Option<bool>>(i).map_err(e)?.map(|v| Cell::Int(v.into()))
            } else {
                row.try_get::<_, Option<String>>(i).map_err(e)?.map(Cell::Text)
            };
            cells.push(cell.unwrap_or(Cell::Null));
        }
        out.push(cells);
    }
    Ok(out)
}

/// `$1`-style placeholders as SQLite's `?1`; text inside single quotes is left alone.
pub fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_translate_outside_quotes() {
        assert_eq!(sqlite_placeholders("SELECT $1, $12 FROM t WHERE a = $2"), "SELECT ?1, ?12 FROM t WHERE a = ?2");
        assert_eq!(sqlite_placeholders("SELECT '$1', $1"), "SELECT '$1', ?1");
        assert_eq!(sqlite_placeholders("SELECT 'it''s $1' || $2"), "SELECT 'it''s $1' || ?2");
        assert_eq!(sqlite_placeholders("SELECT $x, $"), "SELECT $x, $");
    }

    #[test]
    fn sqlite_rows_read_every_type() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        let rows = c.rows("SELECT $1, 7, NULL, 2.5, x'41' WHERE $2 = 'yes'", &["a", "yes"]).unwrap();
        assert_eq!(
            rows,
            vec![vec![Cell::Text("a".into()), Cell::Int(7), Cell::Null, Cell::Int(2), Cell::Text("A".into())]]
        );
        assert!(c.rows("SELECT $1", &["a"]).unwrap()[0][0].text() == Some("a"));
        let err = c.rows("SELECT nope FROM missing_table", &[]).unwrap_err().to_string();
        assert!(err.contains("no such table"), "{err}");
    }

    #[test]
    fn a_missing_sqlite_file_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let err = Db::open(&DatabaseUrl::Sqlite { path: path.clone() }, 2).err().unwrap().to_string();
        assert!(err.contains("does not exist") && err.contains("cargo xtask"), "{err}");
        assert!(!path.exists());
    }
}
