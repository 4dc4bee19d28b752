//! Demo data: the seeded demo environment, large generated data sets (`--scale`), and clearing
//! every application row in an order taken from the database's own foreign-key graph.

pub mod clear;
pub mod content;
pub mod ids;
pub mod scale;
pub mod write;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::connection::Connection;
use crate::error::DbError;
pub use content::{DemoIds, ImageFile, Table, V};
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

/// The demo rows for these options (pure but for the clock when there is no seed).
pub fn demo_tables(seed: Option<u64>) -> (Vec<Table>, DemoIds) {
    demo_tables_with_images(seed, &[])
}

/// The demo rows with the image `files` found on disk recorded as they are (see
/// [`content::with_image_files`]). With a seed, every id and time is a function of it (and of
/// the files); without, the ids are random and the time is now.
pub fn demo_tables_with_images(seed: Option<u64>, files: &[ImageFile]) -> (Vec<Table>, DemoIds) {
    let mut ids = IdSource::new(seed);
    let now = base_time(seed, now_ms());
    let (mut tables, demo_ids) = content::demo(&mut || ids.uuid(), now);
    content::with_image_files(&mut tables, files, now);
    (tables, demo_ids)
}

/// Seeds the demo environment in one transaction: all or nothing. On a database that already
/// holds a team it changes nothing, unless `force`.
pub fn seed(conn: &mut Connection, options: &SeedOptions) -> Result<SeedOutcome, DbError> {
    seed_with_images(conn, options, &[])
}

/// [`seed`], with the image files present in `uploads/images` recorded as they are, in the same
/// transaction: a reset that readers see committed has its images registered too.
pub fn seed_with_images(
    conn: &mut Connection,
    options: &SeedOptions,
    files: &[ImageFile],
) -> Result<SeedOutcome, DbError> {
    let (tables, ids) = demo_tables_with_images(options.seed, files);
    seed_tables(conn, &tables, options.force)?.map_or_else(
        || Ok(SeedOutcome::Seeded { ids, counts: counts(conn)? }),
        |teams| Ok(SeedOutcome::AlreadySeeded { teams }),
    )
}

/// Writes `tables` in one transaction, after clearing everything when `force`. Returns the
/// number of teams instead when the database is already seeded and not `force`.
///
/// Image rows already there for the seed's files (seed-images may have run first) give way to
/// the seed's: the id is the same (both derive it from the file name; a row registered before
/// that rule is re-keyed, which is safe because without a team nothing refers to an image), and
/// the times and metadata become the seed's, so the result depends on the seed and the files
/// on disk only, not on what ran before.
pub fn seed_tables(conn: &mut Connection, tables: &[Table], force: bool) -> Result<Option<i64>, DbError> {
    let e = |m: &'static str| move |err: rusqlite::Error| DbError::database(m.to_string(), err);
    let files = image_file_names(tables);
    match conn {
        Connection::Sqlite(c) => {
            // IMMEDIATE: a concurrent seed or reset waits for this one (busy timeout) and then
            // sees its teams, instead of failing when it upgrades a read transaction.
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(e("starting the seed transaction"))?;
            let teams: i64 =
                tx.query_row("SELECT count(*) FROM teams", [], |r| r.get(0)).map_err(e("counting teams"))?;
            if teams > 0 && !force {
                return Ok(Some(teams));
            }
            if force {
                clear::clear_sqlite(&tx)?;
            }
            {
                let mut st =
                    tx.prepare("DELETE FROM images WHERE file_name = ?1").map_err(e("replacing image rows"))?;
                for f in &files {
                    st.execute([f]).map_err(e("replacing image rows"))?;
                }
            }
            write::sqlite(&tx, tables)?;
            tx.commit().map_err(e("committing the seed"))?;
        }
        Connection::Postgres(c) => {
            let pe =
                |m: &'static str| move |err: ::postgres::Error| DbError::database(m, crate::postgres::pg_message(&err));
            let mut tx = c.transaction().map_err(pe("starting the seed transaction"))?;
            clear::lock_postgres_writers(&mut tx)?;
            let teams: i64 = tx.query_one("SELECT count(*) FROM teams", &[]).map_err(pe("counting teams"))?.get(0);
            if teams > 0 && !force {
                return Ok(Some(teams));
            }
            if force {
                clear::clear_postgres(&mut tx)?;
            }
            tx.execute("DELETE FROM images WHERE file_name = ANY($1)", &[&files])
                .map_err(pe("replacing image rows"))?;
            write::postgres(&mut tx, tables)?;
            tx.commit().map_err(pe("committing the seed"))?;
        }
    }
    Ok(None)
}

/// The file names of the image rows in `tables`.
fn image_file_names(tables: &[Table]) -> Vec<String> {
    let Some(images) = tables.iter().find(|t| t.name == "images") else { return Vec::new() };
    let Some(col) = images.columns.iter().position(|c| *c == "file_name") else { return Vec::new() };
    images
        .rows
        .iter()
        .filter_map(|r| match &r[col] {
            V::Text(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
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
                .map_err(|e| DbError::database("counting rows", crate::postgres::pg_message(&e)))?
                .get(0),
        };
        out.push((t, n));
    }
    Ok(out)
}
