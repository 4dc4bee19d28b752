//! `cargo xtask bench …`: the toolkit's speed, suite by suite (see [`crate::bench`]). Figures,
//! not pass/fail: speed is measured here, never in timed tests.

use std::process::ExitCode;

use anyhow::Result;

use crate::bench;
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
    Diff(bench::diff::Args),
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
    Backup(bench::backup::Args),
    /// The studio's table list, first and deep keyset pages, filtered pages on `seed --scale` (both dialects)
    Studio(bench::studio::Args),
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
    Preflight(bench::preflight::Args),
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    match args.what {
        What::Migrate { count, status_runs } => bench::migrate::run(count, status_runs.max(1)),
        What::Check { entries } => bench::check::run(entries as usize),
        What::Diff(args) => bench::diff::run(args),
        What::SeedImages { count, latency_ms, concurrency } => {
            bench::images::run(count, latency_ms, concurrency.clamp(1, 64))
        }
        What::Backup(args) => bench::backup::run(ctx, args),
        What::Studio(args) => bench::studio::run(ctx, args),
        What::Preflight(args) => bench::preflight::run(ctx, args),
        What::Generate { runs, postgres } => bench::generate::run(ctx, runs as usize, postgres.as_deref()),
    }
}
