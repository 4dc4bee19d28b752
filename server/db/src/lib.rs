//! `cms-db`: everything that talks to a database, and no web code. The CMS server, the xtask
//! and the studio share it:
//!
//! - [`url`], [`config`]: `DATABASE_URL`, where it comes from, the project root;
//! - [`connect`], [`connection`], [`sqlite`], [`postgres`]: opening connections and the one
//!   query API (both dialects);
//! - [`migrate`]: the Drizzle-compatible migrator (journal, pure plan, statements, drivers);
//! - [`schema`]: the schema engine (introspection into a plain model, diff, DDL, verify);
//! - [`seed`]: the demo content, `--scale`, clearing in foreign-key order;
//! - [`cms_schema`]: the CMS schema written in Rust, the source of truth for migrations.

pub mod cms_schema;
pub mod config;
pub mod connection;
pub mod dialect;
pub mod error;
pub mod migrate;
pub mod postgres;
pub mod regular_file;
pub mod schema;
pub mod seed;
pub mod sqlite;
pub mod url;

pub use error::DbError;
pub use migrate::driver;
pub use migrate::journal::{Dialect, MigrationSet};
pub use url::DatabaseUrl;

/// Opens a read-write connection (SQLite: creating the file; WAL, foreign keys, busy timeout).
pub fn connect(url: &DatabaseUrl) -> Result<connection::Connection, DbError> {
    use connection::Connection;
    match url {
        DatabaseUrl::Sqlite { path } if url.sqlite_path().is_some() => Ok(Connection::Sqlite(sqlite::open(path)?)),
        DatabaseUrl::Sqlite { .. } => Ok(Connection::Sqlite(sqlite::open_in_memory()?)),
        DatabaseUrl::Postgres { url } => Ok(Connection::Postgres(postgres::connect(url)?)),
    }
}
