//! Demo data: the seeded demo environment (its copy in the data file `demo.json`, turned into
//! rows by a pure builder), large generated data sets (`--scale`), image rows, and clearing
//! every application row in an order taken from the database's own foreign-key graph.
//!
//! Everything goes through [`crate::connection::Sql`] with `$n` placeholders, in one
//! transaction per command; the only writer that differs by dialect is [`bulk`], for
//! `--scale`.

pub mod bulk;
pub mod clear;
pub mod content;
pub mod data;
pub mod ids;
pub mod images;
pub mod scale;
pub mod structure;
pub mod table;
pub mod write;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::connection::{transaction, Sql, TxMode};
use crate::error::DbError;
pub use content::DemoIds;
use ids::{base_time, IdSource};
pub use images::ImageFile;
pub use table::Table;

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
pub fn seed(conn: &mut dyn Sql, options: &SeedOptions) -> Result<SeedOutcome, DbError> {
    seed_with_images(conn, options, &[])
}

/// [`seed`], with the image files present in `uploads/images` recorded as they are, in the same
/// transaction: a reset that readers see committed has its images registered too.
pub fn seed_with_images(
    conn: &mut dyn Sql,
    options: &SeedOptions,
    files: &[ImageFile],
) -> Result<SeedOutcome, DbError> {
    let (tables, ids) = demo_tables_with_images(options.seed, files);
    match seed_tables(conn, &tables, options.force)? {
        Some(teams) => Ok(SeedOutcome::AlreadySeeded { teams }),
        None => Ok(SeedOutcome::Seeded { ids, counts: counts(conn)? }),
    }
}

/// Writes `tables` in one transaction, after clearing everything when `force`. Returns the
/// number of teams instead when the database is already seeded and not `force`.
///
/// The transaction holds the writers' lock from its start ([`clear::lock_writers`]; SQLite's
/// write transaction is one): a concurrent seed or reset waits for this one and then sees its
/// teams.
///
/// Image rows already there for the seed's files (seed-images may have run first) give way to
/// the seed's: the id is the same (both derive it from the file name; a row registered before
/// that rule is re-keyed, which is safe because without a team nothing refers to an image), and
/// the times and metadata become the seed's, so the result depends on the seed and the files
/// on disk only, not on what ran before.
pub fn seed_tables(conn: &mut dyn Sql, tables: &[Table], force: bool) -> Result<Option<i64>, DbError> {
    let files = images::file_names(tables);
    transaction(conn, TxMode::Write, |tx| {
        clear::lock_writers(tx)?;
        let teams = count(tx, "teams")?;
        if teams > 0 && !force {
            return Ok(Some(teams));
        }
        if force {
            clear::delete_all(tx)?;
        }
        images::forget(tx, &files)?;
        write::insert(tx, tables)?;
        Ok(None)
    })
}

fn count(conn: &mut dyn Sql, table: &str) -> Result<i64, DbError> {
    let rows = conn
        .query(&format!("SELECT count(*) FROM \"{table}\""), &[])
        .map_err(|e| e.in_context(format!("counting the rows of {table}")))?;
    Ok(rows.first().and_then(|r| r.first()).and_then(|v| v.int()).unwrap_or(0))
}

/// Rows per application table, in name order.
pub fn counts(conn: &mut dyn Sql) -> Result<Vec<(String, i64)>, DbError> {
    let tables = clear::application_tables(conn)?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let n = count(conn, &t)?;
        out.push((t, n));
    }
    Ok(out)
}
