//! `cargo xtask bench diff`: `diff --from migrations:DIR --to <database migrated from it>` on a
//! generated folder of 100 migrations, against the time our `migrate` needs to replay the same
//! folder into a fresh database. The engine should add little on top of the replay.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::schema::source::{ScratchServer, Source};
use cms_db::schema::{sql, verify, Dialect};
use cms_db::{DatabaseUrl, MigrationSet};

use super::median;
use crate::format::ms;
use crate::schema_plan;

#[derive(clap::Args)]
pub struct Args {
    /// Migrations in the generated folder
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(4..=2000))]
    count: u64,
    /// Timed runs of each (the median is shown)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    runs: u64,
    /// Also measure PostgreSQL: a server and role that may create databases
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

/// A folder of `count` migrations, valid in both dialects: tables created, columns added,
/// indexes made, a foreign key between neighbours.
fn write_folder(dir: &Path, dialect: &str, count: usize) -> Result<()> {
    fs::create_dir_all(dir.join("meta"))?;
    let tables = count.div_ceil(4);
    let mut entries = Vec::new();
    for i in 0..count {
        let t = i % tables;
        let sql = match i / tables {
            0 if t == 0 => format!("CREATE TABLE \"t{t}\" (\"id\" integer PRIMARY KEY NOT NULL, \"name\" text NOT NULL);"),
            0 => format!(
                "CREATE TABLE \"t{t}\" (\"id\" integer PRIMARY KEY NOT NULL, \"name\" text NOT NULL, \"parent\" integer REFERENCES \"t{}\"(\"id\") ON DELETE cascade);",
                t - 1
            ),
            1 => format!("ALTER TABLE \"t{t}\" ADD COLUMN \"note\" text DEFAULT 'x';"),
            2 => format!("CREATE INDEX \"t{t}_name_idx\" ON \"t{t}\" (\"name\");"),
            _ => format!("CREATE UNIQUE INDEX \"t{t}_note_idx\" ON \"t{t}\" (\"note\", \"id\");"),
        };
        let tag = format!("{i:04}_bench");
        fs::write(dir.join(format!("{tag}.sql")), sql)?;
        entries.push(serde_json::json!({"idx": i, "version": "7", "when": 1_700_000_000_000i64 + i as i64, "tag": tag, "breakpoints": true}));
    }
    let journal = serde_json::json!({"version": "7", "dialect": dialect, "entries": entries});
    fs::write(dir.join("meta/_journal.json"), serde_json::to_vec_pretty(&journal)?)?;
    Ok(())
}

pub fn run(args: Args) -> Result<ExitCode> {
    let count = args.count as usize;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let mut table = String::new();
    writeln!(table, "| bench diff ({profile} build, {count} migrations) | migrate (replay) | diff | ratio | goal |")?;
    writeln!(table, "|---|---|---|---|---|")?;
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;

    // SQLite: a fresh file per migrate run; diff against the first one.
    let folder = tmp.path().join("sqlite");
    write_folder(&folder, "sqlite", count)?;
    let mut migrate_times = Vec::new();
    for run in 0..args.runs {
        let url = DatabaseUrl::Sqlite { path: tmp.path().join(format!("m{run}.db")) };
        migrate_times.push(time_migrate(&url, &folder)?);
    }
    let live = Source::Live(format!("file:{}", tmp.path().join("m0.db").display()));
    let diff_times = time_diff(&folder, &live, Dialect::Sqlite, &ScratchServer::default(), args.runs)?;
    row(&mut table, "SQLite", median(migrate_times), median(diff_times))?;

    if let Some(server) = &args.postgres {
        let folder = tmp.path().join("postgresql");
        write_folder(&folder, "postgresql", count)?;
        let scratch = ScratchServer::postgres(server.clone());
        let mut migrate_times = Vec::new();
        let mut keep = None;
        for _ in 0..args.runs {
            let db = cms_db::schema::source::PgScratch::create(server)?;
            let url = DatabaseUrl::Postgres { url: db.url().to_string() };
            migrate_times.push(time_migrate(&url, &folder)?);
            keep = Some(db);
        }
        let db = keep.expect("at least one run");
        let live = Source::Live(db.url().to_string());
        let diff_times = time_diff(&folder, &live, Dialect::Postgres, &scratch, args.runs)?;
        row(&mut table, "PostgreSQL", median(migrate_times), median(diff_times))?;
    }
    out!("{}", table.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn row(table: &mut String, name: &str, migrate: Duration, diff: Duration) -> Result<()> {
    writeln!(
        table,
        "| {name} | {} | {} | {:.2}× | ≤ 1.5× |",
        ms(migrate),
        ms(diff),
        diff.as_secs_f64() / migrate.as_secs_f64()
    )?;
    Ok(())
}

fn time_migrate(url: &DatabaseUrl, folder: &Path) -> Result<Duration> {
    let started = Instant::now();
    let set = MigrationSet::load(folder)?;
    let mut driver = cms_db::driver(url, false)?;
    migrator::migrate(driver.as_mut(), &set, &MigrateOptions::default(), &mut |_| {})?;
    Ok(started.elapsed())
}

/// What `diff --from migrations:FOLDER --to LIVE` does: read both, diff, render, verify.
fn time_diff(
    folder: &Path,
    live: &Source,
    dialect: Dialect,
    scratch: &ScratchServer,
    runs: u64,
) -> Result<Vec<Duration>> {
    let from = Source::Migrations(folder.to_path_buf());
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let a = from.load(dialect, scratch)?;
        let b = live.load(dialect, scratch)?;
        let (changes, _) = schema_plan::changes(&a, &b, &[])?;
        anyhow::ensure!(changes.is_empty(), "the migrated database differs from its folder: {changes:?}");
        let statements = sql::render(dialect, &changes, &a, &b);
        if !statements.is_empty() {
            verify::verify(scratch, &a, &b, &statements)?;
        }
        times.push(started.elapsed());
    }
    Ok(times)
}
