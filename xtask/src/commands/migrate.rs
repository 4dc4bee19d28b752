//! `cargo xtask migrate [--dry-run] [--no-preflight] [--no-backup]`: apply what is pending.
//!
//! Before the first pending migration runs: the pre-flight (the folder replayed in a scratch
//! database to know what each pending migration changes, its data-dependent changes measured
//! on the live database; one predicted failure refuses the whole run, so a deploy applies
//! every pending migration or none), then a backup labelled `pre-migrate` when the database
//! holds data (the backup command's own code), then the migrations.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use cms_db::migrate::journal::printable;
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::migrate::statements::RunMode;
use cms_db::schema::preflight::Severity;
use cms_db::{DatabaseUrl, MigrationSet};

use crate::backups::CreateOptions;
use crate::format::ms;
use crate::migration_analysis::{self as analysis, Live};
use crate::project::Context;

/// The label of the backup `migrate` takes before it changes anything (kept 30 days by
/// `backup prune` whatever the policy).
use crate::backups::retention::PRE_MIGRATE_LABEL;

#[derive(clap::Args)]
pub struct Args {
    /// Print the SQL that would run (after the pre-flight) and change nothing; takes no backup
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
    /// Skip the pre-flight checks of the data (NULLs, duplicates, orphans, checks, conversions)
    #[arg(long)]
    no_preflight: bool,
    /// Skip the pre-migrate backup
    #[arg(long)]
    no_backup: bool,
    /// PostgreSQL server (and a role with CREATEDB) for the pre-flight's scratch database
    #[arg(long, value_name = "URL")]
    dev_url: Option<String>,
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

    // Plan read-only first: a folder that disagrees with the database is refused before
    // anything is created or changed. `migrate` plans again under the lock.
    let st = migrator::status(cms_db::driver(&url, true)?.as_mut(), &set)?;
    cms_db::migrate::plan::plan(&set, &st, args.allow_out_of_order)?;
    let (applied, pending) = analysis::split_status(&set, &st);
    let pending: Vec<usize> = pending
        .into_iter()
        .filter(|&i| {
            args.allow_out_of_order || matches!(st.entries[i].state, cms_db::migrate::plan::EntryState::Pending)
        })
        .collect();

    let mut holds_data = false;
    // The pre-flight's scratch database is dropped while the run goes on (waited for at the end).
    let mut _scratch_dropped = None;
    if !pending.is_empty() {
        let mut live = Live::open(&url)?;
        holds_data = live.holds_data()?;
        if args.no_preflight {
            say("pre-flight skipped (--no-preflight)".into());
        } else if !holds_data {
            say("pre-flight the database holds no rows: nothing can fail because of the data".into());
        } else {
            _scratch_dropped = Some(preflight(ctx, &args, &set, &applied, &pending, &mut live)?);
        }
        live.close();
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
        out!("\ndry run: {} migration(s) would be applied; nothing was changed and no backup was taken", pending.len());
        return Ok(ExitCode::SUCCESS);
    }

    if !pending.is_empty() && holds_data {
        if args.no_backup {
            say("backup     skipped (--no-backup)".into());
        } else {
            pre_migrate_backup(ctx, &args, &url, &say)?;
        }
    }

    let started = Instant::now();
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

/// The pre-flight: prints its findings and refuses the whole run on a predicted failure.
fn preflight(
    ctx: &Context,
    args: &Args,
    set: &MigrationSet,
    applied: &[usize],
    pending: &[usize],
    live: &mut Live,
) -> Result<analysis::Deferred> {
    let started = Instant::now();
    let server = crate::schema_plan::scratch_server(ctx, args.dev_url.as_deref(), &[]);
    let analysis = analysis::analyze_pending(set, applied, pending, live, &server).with_context(|| {
        format!(
            "the pre-flight failed{}; nothing was applied (--no-preflight skips it)",
            analysis::scratch_hint(set.dialect)
        )
    })?;
    let report = &analysis.report;
    for m in &report.migrations {
        for f in &m.findings {
            match f.severity {
                Severity::Error => {}
                Severity::Warning if !f.allowed => {
                    eprintln!("warning: {}", f.to_string().replace("\n    fix:", "\n  fix:"))
                }
                _ if !args.quiet => out!("  note   {}", f.to_string().replace("\n    fix:", "\n         fix:")),
                _ => {}
            }
        }
    }
    let errors = report.errors();
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(|f| format!("  {f}")).collect();
        let tags: Vec<&str> = {
            let mut t: Vec<&str> = errors.iter().map(|f| f.migration.as_str()).collect();
            t.dedup();
            t
        };
        bail!(
            "pre-flight: {} predicted failure(s) in {}; nothing was applied (a deploy applies every pending migration or none):\n{}\nfix the data (or the migration), then run migrate again; --no-preflight skips these checks",
            errors.len(),
            tags.join(", "),
            list.join("\n")
        );
    }
    if !args.quiet {
        out!(
            "pre-flight {} pending migration(s) checked in {}: no predicted failure (replay {}, {} quer{} on the live database {})",
            pending.len(),
            ms(started.elapsed()),
            ms(analysis.replay),
            analysis.queries,
            if analysis.queries == 1 { "y" } else { "ies" },
            ms(analysis.measure)
        );
    }
    Ok(analysis.cleanup)
}

/// A backup labelled `pre-migrate`, through the backup command's own code (its lock, its
/// checks, its atomic publish).
fn pre_migrate_backup(ctx: &Context, args: &Args, url: &DatabaseUrl, say: &dyn Fn(String)) -> Result<()> {
    let wait = Duration::from_secs(args.lock_timeout);
    // As `backup` does: a restore interrupted half-way is finished or undone first.
    crate::backups::restore::recover_interrupted(ctx, wait)?;
    let options = CreateOptions { label: Some(PRE_MIGRATE_LABEL.into()), wait, ..CreateOptions::default() };
    let made = crate::backups::create(ctx, &options).with_context(|| {
        format!("the pre-migrate backup of {url} failed; nothing was applied (--no-backup skips it)")
    })?;
    let name =
        made.path.file_name().map_or_else(|| made.path.display().to_string(), |n| n.to_string_lossy().into_owned());
    say(format!(
        "backup     {} ({}, {:.2} s); to undo this deploy: cargo xtask rollback --from-backup (or cargo xtask restore {name})",
        ctx.show(&made.path),
        crate::format::size(made.archive_bytes),
        made.elapsed.as_secs_f64()
    ));
    Ok(())
}

fn mode_label(mode: &RunMode) -> String {
    match mode {
        RunMode::Transaction => "in a transaction".into(),
        RunMode::TransactionForeignKeysOff => "in a transaction, foreign keys off, foreign_key_check passed".into(),
        RunMode::SelfManaged { reason, .. } => format!("without a wrapping transaction: {reason}"),
    }
}
