//! `GET /health`: whether the database answers (a query on a pooled connection) and the
//! migration state (the folder compared with the database's bookkeeping rows, read in the same
//! read-only snapshot through the same [`Sql`] API as every request, and kept for
//! [`MIGRATIONS_TTL`], so health checks neither open connections of their own nor re-hash the
//! migration files on every call).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::web::pool::Db;
use crate::web::startup::MigrationState;
use cms_db::connection::{transaction, Sql, TxMode};
use cms_db::error::{with_causes, DbError};
use cms_db::migrate::migrator::applied_rows;
use cms_db::migrate::plan::Status;
use cms_db::url::DatabaseUrl;
use cms_db::MigrationSet;

/// How long a migration state is reused before the folder and the database are read again.
pub const MIGRATIONS_TTL: Duration = Duration::from_secs(5);

/// The migration state, or why the migrations folder could not be read.
type Migrations = Result<MigrationState, String>;

/// The health check of one server: its migrations folder and the last migration state.
pub struct Health {
    migrations: PathBuf,
    cache: Cache<Migrations>,
}

impl Health {
    pub fn new(migrations: PathBuf) -> Health {
        Health { migrations, cache: Cache::new(MIGRATIONS_TTL) }
    }

    /// The status code and JSON body: 200 while the database answers (with `migrations.state`
    /// `ok`, `pending`, `drift`, or `error` when the folder cannot be read), 503 when it does not.
    pub fn report(&self, db: &Db, url: &DatabaseUrl) -> (StatusCode, Value) {
        let dialect = url.dialect().to_string();
        let unreachable = |error: String| {
            (StatusCode::SERVICE_UNAVAILABLE, json!({ "database": "unreachable", "dialect": dialect, "error": error }))
        };
        if let Some(path) = url.sqlite_path() {
            // Open connections keep a deleted file alive: look at the path itself.
            if !path.is_file() {
                return unreachable(format!("the database file {} is missing", path.display()));
            }
        }
        let mut conn = match db.get() {
            Ok(c) => c,
            Err(e) => return unreachable(with_causes(&e)),
        };
        // One read-only snapshot, as for a page: the probe, then (when not cached) the
        // bookkeeping rows.
        let state = transaction(&mut conn, TxMode::ReadSnapshot, |tx| {
            tx.query("SELECT count(*) FROM locales", &[])?;
            self.cache.get_or_try_insert(Instant::now(), || migration_state(tx, &self.migrations))
        });
        match state {
            Err(e) => unreachable(with_causes(&e)),
            Ok(Ok(state)) => (StatusCode::OK, json!({ "database": "ok", "dialect": dialect, "migrations": state })),
            Ok(Err(folder)) => (
                StatusCode::OK,
                json!({ "database": "ok", "dialect": dialect, "migrations": { "state": "error", "error": folder } }),
            ),
        }
    }
}

/// The folder's migrations against the bookkeeping rows read through `q`. A folder that cannot
/// be read (or is for the other dialect) is the inner `Err`; a failing query the outer one.
fn migration_state(q: &mut dyn Sql, dir: &Path) -> Result<Migrations, DbError> {
    let set = match MigrationSet::load(dir).and_then(|set| set.expect_dialect(q.dialect()).map(|()| set)) {
        Ok(set) => set,
        Err(e) => return Ok(Err(with_causes(&e))),
    };
    let rows = applied_rows(q)?;
    Ok(Ok(MigrationState::from_status(&Status::compute(&set, &rows))))
}

/// One value, computed again once it is older than `ttl`; a computation that fails is not kept.
struct Cache<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Cache<T> {
    fn new(ttl: Duration) -> Cache<T> {
        Cache { ttl, slot: Mutex::new(None) }
    }

    fn get_or_try_insert<E>(&self, now: Instant, compute: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, value)) = slot.as_ref() {
            if now.saturating_duration_since(*at) < self.ttl {
                return Ok(value.clone());
            }
        }
        let value = compute()?;
        *slot = Some((now, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_a_value_for_its_ttl_and_never_keeps_a_failure() {
        let cache = Cache::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let mut calls = 0;
        let mut get = |now, fail: bool| {
            cache.get_or_try_insert(now, || {
                calls += 1;
                if fail {
                    Err("down")
                } else {
                    Ok(calls)
                }
            })
        };
        assert_eq!(get(t0, true), Err("down"));
        assert_eq!(get(t0, false), Ok(2), "a failure is not kept");
        assert_eq!(get(t0 + Duration::from_secs(4), false), Ok(2), "within the ttl: the kept value");
        assert_eq!(get(t0 + Duration::from_secs(5), false), Ok(3), "after it: computed again");
        assert_eq!(get(t0 + Duration::from_secs(9), true), Ok(3));
    }
}
