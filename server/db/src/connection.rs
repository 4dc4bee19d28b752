//! One connection to the application database, whichever the dialect.

use crate::error::DbError;
use crate::url::DatabaseUrl;
use crate::{postgres, sqlite};

pub enum Connection {
    Sqlite(rusqlite::Connection),
    Postgres(::postgres::Client),
}

/// Opens a read-write connection (SQLite: creating the file; WAL, foreign keys, busy timeout).
pub fn connect(url: &DatabaseUrl) -> Result<Connection, DbError> {
    match url {
        DatabaseUrl::Sqlite { path } if url.sqlite_path().is_some() => Ok(Connection::Sqlite(sqlite::open(path)?)),
        DatabaseUrl::Sqlite { .. } => Ok(Connection::Sqlite(sqlite::open_in_memory()?)),
        DatabaseUrl::Postgres { url } => Ok(Connection::Postgres(postgres::connect(url)?)),
    }
}
