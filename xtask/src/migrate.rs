//! `cargo xtask migrate [--dry-run]`: apply what is pending.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use cms_db::migrate::journal::printable;
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::migrate::statements::RunMode;

use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Print the SQL that would run and change nothing
    #[arg(long)]
    dry_run: bool,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// Also apply pending migrations that sit before already-applied ones in the journal
    #[arg(long)]
    allow_out_of_order: bool,
    /// Seconds to wait for another migrate on the same database to finish
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    lock_timeout: u64,
    /// Print only errors
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, source) = ctx.database_url()?;
    let set = ctx.migrations(args.migrations.as_deref(), &url)?;
    let say = |s: String| {
        if !args.quiet {
            out!("{s}");
        }
    };
    say(format!("database   {url} ({}, from {source})", url.dialect()));
    say(format!("migrations {} ({} in journal)", ctx.show(&set.dir), set.migrations.len()));
    for file in set.unlisted_files() {
        eprintln!(
            "warning: {} is not listed in meta/_journal.json, so it is not run (add it to the journal or delete it)",
            printable(file)
        );
    }

    if args.dry_run {
        let mut driver = cms_db::driver(&url, true)?;
        let pending = migrator::pending(driver.as_mut(), &set, args.allow_out_of_order)?;
        if pending.is_empty() {
            out!("nothing to migrate: every migration is applied");
        }
        for p in &pending {
            out!("\n-- {} ({}, {} statements)", p.migration.tag, mode_label(&p.mode), p.statements.len());
            for st in &p.statements {
                let sep = if st.sql.trim_end().ends_with(';') { "" } else { ";" };
                out!("{}{sep}", st.sql);
            }
        }
        out!("\ndry run: {} migration(s) would be applied; nothing was changed", pending.len());
        return Ok(ExitCode::SUCCESS);
    }

    let started = Instant::now();
    // Plan read-only first: a folder that disagrees with the database is refused before
    // anything is created or changed. `migrate` plans again under the lock.
    migrator::pending(cms_db::driver(&url, true)?.as_mut(), &set, args.allow_out_of_order)?;
    let mut driver = cms_db::driver(&url, false)?;
    let options = MigrateOptions {
        allow_out_of_order: args.allow_out_of_order,
        lock_timeout: Duration::from_secs(args.lock_timeout),
    };
    let applied = migrator::migrate(driver.as_mut(), &set, &options, &mut |a| {
        say(format!(
            "  applied {:<40} {:>4} statements  {:>9}  {}",
            a.tag,
            a.statements,
            ms(a.duration),
            mode_label(&a.mode)
        ));
    })?;
    if applied.is_empty() {
        say(format!("nothing to migrate: all {} migrations are applied", set.migrations.len()));
    } else {
        say(format!("{} migration(s) applied in {}", applied.len(), ms(started.elapsed())));
    }
    Ok(ExitCode::SUCCESS)
}

fn mode_label(mode: &RunMode) -> String {
    match mode {
        RunMode::Transaction => "in a transaction".into(),
        RunMode::TransactionForeignKeysOff => "in a transaction, foreign keys off, foreign_key_check passed".into(),
        RunMode::SelfManaged { reason, .. } => format!("without a wrapping transaction: {reason}"),
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
