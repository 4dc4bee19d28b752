//! `GET /health`: whether the database answers (through the pool) and the migration state
//! (read fresh from the database and the migrations folder).

use std::path::Path;

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::db::url::DatabaseUrl;
use crate::web::pool::{Db, Query};
use crate::web::startup::migration_state;

/// The status code and JSON body: 200 while the database answers, 503 when it does not.
pub fn report(db: &Db, url: &DatabaseUrl, migrations: &Path) -> (StatusCode, Value) {
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
    let probe = db.get().and_then(|mut conn| conn.rows("SELECT count(*) FROM locales", &[]));
    if let Err(e) = probe {
        return unreachable(e.to_string());
    }
    match migration_state(url, migrations) {
        Ok(state) => (StatusCode::OK, json!({ "database": "ok", "dialect": dialect, "migrations": state })),
        Err(e) => unreachable(e.to_string()),
    }
}
