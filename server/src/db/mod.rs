//! The database layer shared by the server and the xtask: configuration, connections and the
//! Drizzle-compatible migrator.

pub mod config;
pub mod connection;
pub mod error;
pub mod journal;
pub mod migrator;
pub mod plan;
pub mod postgres;
pub mod regular_file;
pub mod sqlite;
pub mod statements;
pub mod url;

pub use error::DbError;
pub use journal::{Dialect, MigrationSet};
pub use url::DatabaseUrl;

use crate::db::migrator::Driver;

/// Opens a migration driver for `url`. `read_only` never creates or changes anything (an
/// SQLite file that does not exist reads as a database with nothing applied).
pub fn driver(url: &DatabaseUrl, read_only: bool) -> Result<Box<dyn Driver>, DbError> {
    match url {
        DatabaseUrl::Sqlite { path } if read_only => Ok(Box::new(sqlite::SqliteDriver::read_only(path)?)),
        DatabaseUrl::Sqlite { path } => {
            let conn = if url.sqlite_path().is_some() { sqlite::open(path)? } else { sqlite::open_in_memory()? };
            Ok(Box::new(sqlite::SqliteDriver::new(conn, url.sqlite_path().map(Into::into))))
        }
        DatabaseUrl::Postgres { url } => Ok(Box::new(postgres::PostgresDriver::connect(url)?)),
    }
}
