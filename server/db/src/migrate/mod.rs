//! The Drizzle-compatible migrator: the journal and its files, the pure plan, statement
//! splitting, and the runner that applies a plan through a narrow driver per database.

pub mod journal;
pub mod migrator;
pub mod plan;
pub mod statements;

use crate::migrate::migrator::Driver;
use crate::{postgres, sqlite, DatabaseUrl, DbError};

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
