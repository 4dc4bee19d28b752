//! `cargo xtask …`: the CMS's operations toolkit. This file only parses flags and dispatches;
//! each command lives in its own module with a single `run`.

#[macro_use]
mod project;
mod backup;
mod bench;
mod bench_backup;
mod bench_diff;
mod bench_images;
mod bench_preflight;
mod check;
mod confirm;
mod diff;
mod files;
mod format;
mod generate;
mod lint;
mod migrate;
mod push;
mod reset_complete;
mod reset_data;
mod restore;
mod rollback;
mod schema_plan;
mod seed;
mod seed_images;
mod status;
mod studio;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Operations toolkit of the CMS: migrations, demo data, sample images, resets, backups and restore",
    version
)]
struct Cli {
    /// Database to use (default: $DATABASE_URL, then DATABASE_URL in the project's .env, then
    /// file:data/sqlite.db). file:/sqlite:/bare paths are SQLite; postgres:// is PostgreSQL.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, each in its own transaction
    Migrate(migrate::Args),
    /// What pending migrations will do to the data, before they run (errors, warnings; CI gate)
    Lint(lint::Args),
    /// Undo the newest applied migration(s): a .down.sql, the engine's verified change, or the backup
    Rollback(rollback::Args),
    /// Write the migration from the migrations folders to the code schema (both dialects), verified
    Generate(generate::Args),
    /// Print the SQL between two schemas (database, migrations folder, SQL file, empty), verified
    Diff(diff::Args),
    /// Development: make the database match the code schema directly (data-loss guard)
    Push(push::Args),
    /// Show every migration as applied, pending, modified, missing or out of order
    Status(status::Args),
    /// Exit non-zero when the database, the migrations folder and the code schema disagree (CI gate)
    Check(check::Args),
    /// Seed the demo environment (idempotent; --seed N reproducible; --scale N large)
    Seed(seed::Args),
    /// Download the sample images into uploads/images and register them (placeholders offline)
    SeedImages(seed_images::Args),
    /// Delete every application row (keep schema and history), then seed
    ResetData(reset_data::Args),
    /// Wipe database, uploads/ and vector_index/; migrate; seed; fetch the images
    ResetComplete(reset_complete::Args),
    /// Measure the toolkit's speed
    Bench(bench::Args),
    /// Archive the database and uploads/ (list, verify, prune; retention for cron)
    Backup(Box<backup::Args>),
    /// Verify a backup, take a safety backup, then swap it into place
    Restore(restore::Args),
    /// Serve a local web UI to browse and edit the database (127.0.0.1:4983, token, --read-only)
    Studio(studio::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = match project::Context::new(cli.database_url) {
        Ok(ctx) => ctx,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    if matches!(
        cli.command,
        Command::ResetComplete(_) | Command::ResetData(_) | Command::Restore(_) | Command::Rollback(_)
    ) {
        ctx.announce_root();
    }
    let result = match cli.command {
        Command::Migrate(args) => migrate::run(&ctx, args),
        Command::Lint(args) => lint::run(&ctx, args),
        Command::Rollback(args) => rollback::run(&ctx, args),
        Command::Generate(args) => generate::run(&ctx, args),
        Command::Diff(args) => diff::run(&ctx, args),
        Command::Push(args) => push::run(&ctx, args),
        Command::Status(args) => status::run(&ctx, args),
        Command::Check(args) => check::run(&ctx, args),
        Command::Seed(args) => seed::run(&ctx, args),
        Command::SeedImages(args) => seed_images::run(&ctx, args),
        Command::ResetData(args) => reset_data::run(&ctx, args),
        Command::ResetComplete(args) => reset_complete::run(&ctx, args),
        Command::Bench(args) => bench::run(&ctx, args),
        Command::Backup(args) => backup::run(&ctx, *args),
        Command::Restore(args) => restore::run(&ctx, args),
        Command::Studio(args) => studio::run(&ctx, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
