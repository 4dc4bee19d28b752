//! `cargo xtask …`: the CMS's operations toolkit. This file only parses flags and dispatches;
//! each command lives in its own module under [`commands`] with a single `run`, and no command
//! imports another: what two commands share is a library module here (backups, images,
//! seeding, migration_analysis, schema_plan, …).

#[macro_use]
mod project;
mod commands;

// Libraries the commands share; none of them is a command.
mod backups;
mod bench;
mod confirm;
mod durable;
mod files;
mod format;
mod images;
mod migration_analysis;
mod schema_plan;
mod seeding;
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
    Migrate(commands::migrate::Args),
    /// What pending migrations will do to the data, before they run (errors, warnings; CI gate)
    Lint(commands::lint::Args),
    /// Undo the newest applied migration(s): a .down.sql, the engine's verified change, or the backup
    Rollback(commands::rollback::Args),
    /// Write the migration from the migrations folders to the code schema (both dialects), verified
    Generate(commands::generate::Args),
    /// Print the SQL between two schemas (database, migrations folder, SQL file, empty), verified
    Diff(commands::diff::Args),
    /// Development: make the database match the code schema directly (data-loss guard)
    Push(commands::push::Args),
    /// Show every migration as applied, pending, modified, missing or out of order
    Status(commands::status::Args),
    /// Exit non-zero when the database, the migrations folder and the code schema disagree (CI gate)
    Check(commands::check::Args),
    /// Seed the demo environment (idempotent; --seed N reproducible; --scale N large)
    Seed(commands::seed::Args),
    /// Download the sample images into uploads/images and register them (placeholders offline)
    SeedImages(commands::seed_images::Args),
    /// Delete every application row (keep schema and history), then seed
    ResetData(commands::reset_data::Args),
    /// Wipe database, uploads/ and vector_index/; migrate; seed; fetch the images
    ResetComplete(commands::reset_complete::Args),
    /// Measure the toolkit's speed
    Bench(commands::bench::Args),
    /// Archive the database and uploads/ (list, verify, prune; retention for cron)
    Backup(Box<commands::backup::Args>),
    /// Verify a backup, take a safety backup, then swap it into place
    Restore(commands::restore::Args),
    /// Serve a local web UI to browse and edit the database (127.0.0.1:4983, token, --read-only)
    Studio(commands::studio::Args),
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
    // Commands that write into the project's folders (backups/, uploads/, data/) or replace
    // its data need a project; the others also run on absolute paths from anywhere.
    let writes_project = matches!(
        cli.command,
        Command::ResetComplete(_)
            | Command::ResetData(_)
            | Command::Restore(_)
            | Command::Rollback(_)
            | Command::Migrate(_)
            | Command::Backup(_)
            | Command::Seed(_)
            | Command::SeedImages(_)
    );
    if writes_project {
        if let Err(err) = ctx.require_project() {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    }
    if matches!(
        cli.command,
        Command::ResetComplete(_) | Command::ResetData(_) | Command::Restore(_) | Command::Rollback(_)
    ) {
        ctx.announce_root();
    }
    let result = match cli.command {
        Command::Migrate(args) => commands::migrate::run(&ctx, args),
        Command::Lint(args) => commands::lint::run(&ctx, args),
        Command::Rollback(args) => commands::rollback::run(&ctx, args),
        Command::Generate(args) => commands::generate::run(&ctx, args),
        Command::Diff(args) => commands::diff::run(&ctx, args),
        Command::Push(args) => commands::push::run(&ctx, args),
        Command::Status(args) => commands::status::run(&ctx, args),
        Command::Check(args) => commands::check::run(&ctx, args),
        Command::Seed(args) => commands::seed::run(&ctx, args),
        Command::SeedImages(args) => commands::seed_images::run(&ctx, args),
        Command::ResetData(args) => commands::reset_data::run(&ctx, args),
        Command::ResetComplete(args) => commands::reset_complete::run(&ctx, args),
        Command::Bench(args) => commands::bench::run(&ctx, args),
        Command::Backup(args) => commands::backup::run(&ctx, *args),
        Command::Restore(args) => commands::restore::run(&ctx, args),
        Command::Studio(args) => commands::studio::run(&ctx, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
