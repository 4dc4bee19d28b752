//! `cargo xtask bench check`: `check` over folders of growing size; its time per entry must
//! stay flat.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result};
use cms_db::migrate::migrator::{self};
use cms_db::migrate::plan::Status;
use cms_db::{DatabaseUrl, MigrationSet};
use sha2::Digest as _;

use crate::format::ms;

/// A folder of `count` entries: the first half applied (rows written straight into the
/// bookkeeping table), then pending ones, and every third entry without its file.
fn check_folder(dir: &Path, db: &Path, count: usize) -> Result<()> {
    fs::create_dir_all(dir.join("meta"))?;
    let mut entries = Vec::with_capacity(count);
    let conn = rusqlite::Connection::open(db)?;
    conn.execute_batch(
        "CREATE TABLE __drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric); BEGIN",
    )?;
    for i in 0..count {
        let tag = format!("{i:06}_bench");
        let when = 1_700_000_000_000i64 + i as i64;
        let sql = format!("CREATE TABLE `t{i}` (`id` integer PRIMARY KEY);\n");
        if i % 3 != 2 {
            fs::write(dir.join(format!("{tag}.sql")), &sql)?;
        }
        if i < count / 2 {
            conn.execute(
                "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?1, ?2)",
                rusqlite::params![hex::encode(sha2::Sha256::digest(sql.as_bytes())), when],
            )?;
        }
        entries.push(serde_json::json!({"idx": i, "version": "6", "when": when, "tag": tag, "breakpoints": true}));
    }
    conn.execute_batch("COMMIT")?;
    let journal = serde_json::json!({"version": "7", "dialect": "sqlite", "entries": entries});
    fs::write(dir.join("meta/_journal.json"), serde_json::to_vec(&journal)?)?;
    Ok(())
}

pub fn run(largest: usize) -> Result<ExitCode> {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    out!("| check ({profile} build): entries | load folder | read rows + status + findings | total | per entry |");
    out!("|---|---|---|---|---|");
    for count in [largest / 10, largest / 3, largest] {
        let tmp = tempfile::tempdir().context("creating a temporary folder")?;
        let folder = tmp.path().join("migrations");
        let db = tmp.path().join("bench.db");
        check_folder(&folder, &db, count)?;
        let url = DatabaseUrl::Sqlite { path: db };
        let started = Instant::now();
        let set = MigrationSet::load(&folder)?;
        let loaded = started.elapsed();
        let mut driver = cms_db::driver(&url, true)?;
        let st: Status = migrator::status(driver.as_mut(), &set)?;
        let findings = st.findings();
        let total = started.elapsed();
        anyhow::ensure!(st.count("applied") > 0 && !findings.is_empty(), "the folder was not read as built");
        out!(
            "| {count} | {} | {} | {} | {:.2} µs |",
            ms(loaded),
            ms(total - loaded),
            ms(total),
            total.as_secs_f64() * 1e6 / count as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}
