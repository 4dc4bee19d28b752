//! `cargo xtask bench migrate`: the cost of applying many trivial migrations to a fresh
//! SQLite database, and of `status` over them.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::migrate::plan::Status;
use cms_db::{DatabaseUrl, MigrationSet};

use crate::format::ms;

/// Writes a Drizzle folder with `count` one-statement migrations.
pub fn generate_folder(dir: &Path, count: usize) -> Result<()> {
    fs::create_dir_all(dir.join("meta"))?;
    let mut entries = String::new();
    for i in 0..count {
        let tag = format!("{i:04}_bench_{i}");
        fs::write(
            dir.join(format!("{tag}.sql")),
            format!("CREATE TABLE `t{i}` (\n\t`id` integer PRIMARY KEY NOT NULL,\n\t`v` text\n);\n"),
        )?;
        let sep = if i + 1 == count { "" } else { "," };
        write!(entries, "\n    {{ \"idx\": {i}, \"version\": \"6\", \"when\": {}, \"tag\": \"{tag}\", \"breakpoints\": true }}{sep}", 1_700_000_000_000i64 + i as i64)?;
    }
    fs::write(
        dir.join("meta/_journal.json"),
        format!("{{\n  \"version\": \"7\",\n  \"dialect\": \"sqlite\",\n  \"entries\": [{entries}\n  ]\n}}\n"),
    )?;
    Ok(())
}

pub fn run(count: usize, status_runs: usize) -> Result<ExitCode> {
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;
    let folder = tmp.path().join("migrations");
    generate_folder(&folder, count)?;
    let url = DatabaseUrl::Sqlite { path: tmp.path().join("bench.db") };

    let started = Instant::now();
    let set = MigrationSet::load(&folder)?;
    let mut driver = cms_db::driver(&url, false)?;
    let applied = migrator::migrate(driver.as_mut(), &set, &MigrateOptions::default(), &mut |_| {})?;
    let migrate_time = started.elapsed();
    anyhow::ensure!(applied.len() == count, "applied {} of {count}", applied.len());
    drop(driver);

    let mut times = Vec::with_capacity(status_runs);
    for _ in 0..status_runs {
        let t = Instant::now();
        let set = MigrationSet::load(&folder)?;
        let mut driver = cms_db::driver(&url, true)?;
        let st: Status = migrator::status(driver.as_mut(), &set)?;
        anyhow::ensure!(st.count("applied") == count, "status saw {} applied", st.count("applied"));
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    let per = migrate_time / count as u32;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    out!("| benchmark ({profile} build) | figure | goal |");
    out!("|---|---|---|");
    out!(
        "| migrate {count} trivial migrations, fresh SQLite | {} total, {:.3} ms/migration | < 1 ms/migration |",
        ms(migrate_time),
        per.as_secs_f64() * 1000.0
    );
    out!("| status over {count} applied (median of {status_runs}) | {} | < 50 ms |", ms(median));
    out!("| status fastest / slowest | {} / {} | |", ms(times[0]), ms(*times.last().unwrap_or(&Duration::ZERO)));
    Ok(ExitCode::SUCCESS)
}
