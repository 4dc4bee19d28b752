//! `cargo xtask bench migrate`: the cost of applying many trivial migrations to a fresh
//! SQLite database, and of `status` over them. Figures, not pass/fail: speed is measured
//! here, never in timed tests.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::migrate::plan::Status;
use cms_db::{DatabaseUrl, MigrationSet};
use sha2::Digest as _;

use crate::format::ms;
use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Apply N generated migrations to a fresh SQLite database, then time `status`
    Migrate {
        #[arg(long, default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
        count: usize,
        /// How many times to time `status`
        #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000))]
        status_runs: usize,
    },
    /// `check` over folders of growing size (entries applied, pending and without a file):
    /// its time per entry must stay flat
    Check {
        /// The largest folder; also timed at a tenth and a third of it
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
        entries: u64,
    },
    /// `diff` between a generated folder and a database migrated from it, against `migrate`
    Diff(crate::bench_diff::Args),
    /// Fetch N images from a local server with added latency, in parallel and one by one
    SeedImages {
        #[arg(long, default_value_t = 24, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
        count: usize,
        /// Latency the server adds to every request
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=60_000))]
        latency_ms: u64,
        /// The parallel run's concurrency
        #[arg(long, default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
        concurrency: usize,
    },
    /// Back up and restore a large SQLite database plus uploads; compare with tar czf and a plain copy
    Backup(crate::bench_backup::Args),
    /// The studio's table list, first and deep keyset pages, filtered pages on `seed --scale` (both dialects)
    Studio(crate::studio::bench::Args),
    /// `generate` on the project's schema, whole process: with no change and with one added column
    Generate {
        /// Timed runs of each (the median is shown)
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1_000))]
        runs: u64,
        /// Also measure PostgreSQL: a server and role that may create databases
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
    },
    /// What migrate's pre-flight costs on a large seeded database (seed --scale)
    Preflight(crate::bench_preflight::Args),
}

pub fn run(_ctx: &Context, args: Args) -> Result<ExitCode> {
    match args.what {
        What::Migrate { count, status_runs } => bench_migrate(count, status_runs.max(1)),
        What::Check { entries } => bench_check(entries as usize),
        What::Diff(args) => crate::bench_diff::run(args),
        What::SeedImages { count, latency_ms, concurrency } => {
            crate::bench_images::run(count, latency_ms, concurrency.clamp(1, 64))
        }
        What::Backup(args) => crate::bench_backup::run(_ctx, args),
        What::Studio(args) => crate::studio::bench::run(_ctx, args),
        What::Preflight(args) => crate::bench_preflight::run(_ctx, args),
        What::Generate { runs, postgres } => bench_generate(_ctx, runs as usize, postgres.as_deref()),
    }
}

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

fn bench_migrate(count: usize, status_runs: usize) -> Result<ExitCode> {
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

fn bench_check(largest: usize) -> Result<ExitCode> {
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

/// `generate` as a user runs it (this binary, a new process each time) on a copy of the
/// project's folders: once with nothing to do, once writing the migration for one added
/// column (the code schema plus `posts.subtitle`, given as `--to sql:FILE`). The folder is
/// put back between runs, untimed.
fn bench_generate(ctx: &Context, runs: usize, postgres: Option<&str>) -> Result<ExitCode> {
    use cms_db::schema::Dialect;
    let exe = std::env::current_exe().context("finding this binary")?;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    out!("| generate ({profile} build, whole process, median of {runs}) | no change | one added column | goal |");
    out!("|---|---|---|---|");
    let mut dialects = vec![(Dialect::Sqlite, None)];
    if let Some(url) = postgres {
        dialects.push((Dialect::Postgres, Some(url)));
    }
    for (dialect, server) in dialects {
        let tmp = tempfile::tempdir().context("creating a temporary folder")?;
        let folder = tmp.path().join(dialect.default_folder());
        let pristine = tmp.path().join("pristine");
        copy_folder(&ctx.root.join(dialect.default_folder()), &pristine)?;
        let mut schema = cms_db::cms_schema::declaration();
        let posts = schema.tables.iter_mut().find(|t| t.name == "posts").context("the schema has posts")?;
        posts.columns.push(cms_db::schema::declare::text("subtitle"));
        let desired = tmp.path().join("desired.sql");
        fs::write(&desired, schema.ddl(dialect))?;
        let to = format!("sql:{}", desired.display());
        let run = |extra: &[&str]| -> Result<(Duration, String)> {
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("generate").args(["--dialect", &dialect.to_string()]).args(extra);
            if let Some(url) = server {
                cmd.args(["--dev-url", url]);
            }
            cmd.env("CMS_PROJECT_ROOT", tmp.path()).env_remove("DATABASE_URL").env_remove("DEV_DATABASE_URL");
            let started = Instant::now();
            let out = cmd.output().context("running generate")?;
            let took = started.elapsed();
            anyhow::ensure!(out.status.success(), "generate failed: {}", String::from_utf8_lossy(&out.stderr));
            Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
        };
        let mut unchanged = Vec::with_capacity(runs);
        let mut added = Vec::with_capacity(runs);
        for _ in 0..runs {
            let _ = fs::remove_dir_all(&folder);
            copy_folder(&pristine, &folder)?;
            let (t, out) = run(&[])?;
            anyhow::ensure!(out.contains("no schema changes"), "expected no change: {out}");
            unchanged.push(t);
            let (t, out) = run(&["--to", &to, "--name", "add_subtitle"])?;
            anyhow::ensure!(out.contains("0006_add_subtitle.sql"), "expected one new migration: {out}");
            added.push(t);
        }
        let median = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let goal = if dialect == Dialect::Sqlite { "< 100 ms" } else { "" };
        out!("| {dialect} | {} | {} | {goal} |", ms(median(unchanged)), ms(median(added)));
    }
    Ok(ExitCode::SUCCESS)
}

fn copy_folder(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to.join("meta"))?;
    for entry in fs::read_dir(from)? {
        let path = entry?.path();
        if path.is_file() {
            fs::copy(&path, to.join(path.file_name().context("a file name")?))?;
        }
    }
    fs::copy(from.join("meta/_journal.json"), to.join("meta/_journal.json"))?;
    Ok(())
}
