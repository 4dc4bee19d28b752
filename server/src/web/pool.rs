//! Connection pools: r2d2_sqlite (WAL, foreign keys, busy timeout: the settings of
//! [`cms_db::sqlite::open`], but never creating a file) and r2d2_postgres (the `sslmode`,
//! `sslrootcert` and connect-timeout handling of [`cms_db::postgres::connect`]).
//!
//! A pooled [`Conn`] speaks [`Sql`] by handing each call to the client it holds, so requests
//! read through [`cms_db::connection::transaction`] with `$1` placeholders and plain
//! [`Value`]s, like every other user of `cms-db`.

use std::time::Duration;

use postgres_native_tls::MakeTlsConnector;
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::OpenFlags;

use cms_db::connection::{Row, Sql, Value};
use cms_db::error::DbError;
use cms_db::migrate::journal::Dialect;
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
    /// The pooled client, which speaks [`Sql`] itself.
    fn sql(&mut self) -> &mut dyn Sql {
        match self {
            Conn::Sqlite(c) => &mut **c,
            Conn::Postgres(c) => &mut **c,
        }
    }
}

/// A pooled connection runs SQL as the client it holds does (`$1` placeholders, plain
/// [`Value`]s), so requests use [`cms_db::connection::transaction`] like every other caller.
impl Sql for Conn {
    fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(c) => Sql::dialect(&**c),
            Conn::Postgres(c) => Sql::dialect(&**c),
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.sql().query(sql, params)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.sql().execute(sql, params)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.sql().batch(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::connection::{transaction, TxMode};

    #[test]
    fn pooled_connections_read_every_type_in_one_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        cms_db::sqlite::open(&path).unwrap().execute_batch("CREATE TABLE t (x integer)").unwrap();
        let db = Db::open(&DatabaseUrl::Sqlite { path: path.clone() }, 2).unwrap();
        let mut conn = db.get().unwrap();
        assert_eq!(conn.dialect(), Dialect::Sqlite);
        let rows = transaction(&mut conn, TxMode::ReadSnapshot, |tx| {
            tx.query("SELECT $1, 7, NULL, 2.5, x'41' WHERE $2 = 'yes'", &["a".into(), "yes".into()])
        })
        .unwrap();
        assert_eq!(
            rows,
            vec![vec![
                Value::Text("a".into()),
                Value::Int(7),
                Value::Null,
                Value::Real(2.5),
                Value::Blob(b"A".to_vec())
            ]]
        );
        // One snapshot: a row another connection commits after the first read is not seen.
        let (first, second) = transaction(&mut conn, TxMode::ReadSnapshot, |tx| {
            let first = tx.query("SELECT count(*) FROM t", &[])?;
            cms_db::sqlite::open(&path).unwrap().execute_batch("INSERT INTO t VALUES (1)").unwrap();
            let second = tx.query("SELECT count(*) FROM t", &[])?;
            Ok::<_, DbError>((first[0][0].int(), second[0][0].int()))
        })
        .unwrap();
        assert_eq!((first, second), (Some(0), Some(0)));
        let after = transaction(&mut conn, TxMode::ReadSnapshot, |tx| tx.query("SELECT count(*) FROM t", &[])).unwrap();
        assert_eq!(after[0][0].int(), Some(1));
        let err = conn.query("SELECT nope FROM missing_table", &[]).unwrap_err();
        let text = cms_db::error::with_causes(&err);
        assert!(text.contains("no such table: missing_table"), "{text}");
        assert_eq!(err.database_message().as_deref(), Some("no such table: missing_table"), "{text}");
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
