//! Demo data: the seeded demo environment, large generated data sets (`--scale`), and clearing
//! every application row in an order taken from the database's own foreign-key graph.

pub mod clear;
pub mod content;
pub mod ids;
pub mod scale;
pub mod write;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::db::connection::Connection;
use crate::db::error::DbError;
pub use content::{DemoIds, Table, V};
use ids::{base_time, IdSource};

#[derive(Clone, Debug, Default)]
pub struct SeedOptions {
    /// Ids, timestamps and generated values become a function of this number.
    pub seed: Option<u64>,
    /// Clear every application row first (as reset-data does), in the same transaction.
    pub force: bool,
}

#[derive(Clone, Debug)]
pub enum SeedOutcome {
    /// The database already holds data; nothing was changed.
    AlreadySeeded {
        teams: i64,
    },
    Seeded {
        ids: DemoIds,
        counts: Vec<(String, i64)>,
    },
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The demo rows for these options (pure).
pub fn demo_tables(seed: Option<u64>) -> (Vec<Table>, DemoIds) {
    let mut ids = IdSource::new(seed);
    content::demo(&mut || ids.uuid(), base_time(seed, now_ms()))
}

/// Seeds the demo environment in one transaction: all or nothing. On a database that already
/// holds a team it changes nothing, unless `force`.
pub fn seed(conn: &mut Connection, options: &SeedOptions) -> Result<SeedOutcome, DbError> {
    let (tables, ids) = demo_tables(options.seed);
    seed_tables(conn, &tables, options.force)?.map_or_else(
        || Ok(SeedOutcome::Seeded { ids, counts: counts(conn)? }),
        |teams| Ok(SeedOutcome::AlreadySeeded { teams }),
    )
}

/// Writes `tables` in one transaction, after clearing everything when `force`. Returns the
/// number of teams instead when the database is already seeded and not `force`.
pub fn seed_tables(conn: &mut Connection, tables: &[Table], force: bool) -> Result<Option<i64>, DbError> {
    let e = |m: &'static str| move |err: rusqlite::Error| DbError::database(m.to_string(), err);
    match conn {
        Connection::Sqlite(c) => {
            let tx = c.transaction().map_err(e("starting the seed transaction"))?;
            let teams: i64 =
                tx.query_row("SELECT count(*) FROM teams", [], |r| r.get(0)).map_err(e("counting teams"))?;
            if teams > 0 && !force {
                return Ok(Some(teams));
            }
            if force {
                clear::clear_sqlite(&tx)?;
            }
            let existing = {
                let mut st = tx.prepare("SELECT file_name, id FROM images").map_err(e("reading images"))?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(e("reading images"))?;
                rows.collect::<Result<HashMap<String, String>, _>>().map_err(e("reading images"))?
            };
            write::sqlite(&tx, &with_existing_images(tables, &existing))?;
            tx.commit().map_err(e("committing the seed"))?;
        }
        Connection::Postgres(c) => {
            let pe = |m: &'static str| {
                move |err: ::postgres::Error| DbError::database(m, crate::db::postgres::pg_message(&err))
            };
            let mut tx = c.transaction().map_err(pe("starting the seed transaction"))?;
            let teams: i64 = tx.query_one("SELECT count(*) FROM teams", &[]).map_err(pe("counting teams"))?.get(0);
            if teams > 0 && !force {
                return Ok(Some(teams));
            }
            if force {
                clear::clear_postgres(&mut tx)?;
            }
            let existing: HashMap<String, String> = tx
                .query("SELECT file_name, id FROM images", &[])
                .map_err(pe("reading images"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            write::postgres(&mut tx, &with_existing_images(tables, &existing))?;
            tx.commit().map_err(pe("committing the seed"))?;
        }
    }
    Ok(None)
}

/// `tables` with the images already in the database reused (see [`content::reuse_images`]):
/// seed-images may have run first.
fn with_existing_images<'a>(tables: &'a [Table], existing: &HashMap<String, String>) -> std::borrow::Cow<'a, [Table]> {
    if existing.is_empty() {
        return std::borrow::Cow::Borrowed(tables);
    }
    let mut owned = tables.to_vec();
    content::reuse_images(&mut owned, existing);
    std::borrow::Cow::Owned(owned)
}

/// Rows per application table, in name order.
pub fn counts(conn: &mut Connection) -> Result<Vec<(String, i64)>, DbError> {
    let tables = clear::application_tables(conn)?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let sql = format!("SELECT count(*) FROM \"{t}\"");
        let n: i64 = match conn {
            Connection::Sqlite(c) => {
                c.query_row(&sql, [], |r| r.get(0)).map_err(|e| DbError::database("counting rows", e))?
            }
            Connection::Postgres(c) => c
                .query_one(&sql, &[])
                .map_err(|e| DbError::database("counting rows", crate::db::postgres::pg_message(&e)))?
                .get(0),
        };
        out.push((t, n));
    }
    Ok(out)
}
