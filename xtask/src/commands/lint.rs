//! `cargo xtask lint [--all] [--json] [--deny-warnings] [--migrations DIR]`: what pending
//! migrations will do to the data, before they run (the pre-flight `migrate` runs too, see
//! [`crate::migration_analysis`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use cms_db::migrate::migrator;

use crate::migration_analysis::{analyze_all, analyze_pending, print_report, split_status, Live};
use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Every migration of the folder against the replayed schemas only (no database needed;
    /// nothing that needs data is measured)
    #[arg(long)]
    all: bool,
    /// Machine-readable output
    #[arg(long)]
    json: bool,
    /// Exit 1 on warnings too, not only on predicted failures (for CI)
    #[arg(long)]
    deny_warnings: bool,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// PostgreSQL server (and a role with CREATEDB) for the scratch database
    #[arg(long, value_name = "URL")]
    dev_url: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, _) = ctx.database_url()?;
    let set = ctx.migrations(args.migrations.as_deref(), &url)?;
    let server = crate::schema_plan::scratch_server(ctx, args.dev_url.as_deref(), &[]);
    let started = Instant::now();
    let (analysis, what) = if args.all {
        (analyze_all(&set, &server)?, format!("all {} migration(s), schema only", set.migrations.len()))
    } else {
        let st = migrator::status(cms_db::driver(&url, true)?.as_mut(), &set)?;
        // The same refusals as migrate: a folder that disagrees with the database.
        cms_db::migrate::plan::plan(&set, &st, true)?;
        let (applied, pending) = split_status(&set, &st);
        let mut live = Live::open(&url)?;
        let a = analyze_pending(&set, &applied, &pending, &mut live, &server)?;
        (a, format!("{} pending migration(s) against {}", pending.len(), url.redacted()))
    };
    let report = &analysis.report;
    let (errors, warnings) = (report.errors().len(), report.warnings().len());
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    if args.json {
        let out = serde_json::json!({
            "database": url.redacted(),
            "dialect": url.dialect(),
            "mode": if args.all { "all" } else { "pending" },
            "migrations": report.migrations,
            "errors": errors,
            "warnings": warnings,
            "allowed": report.findings().filter(|f| f.allowed).count(),
            "ok": !failed,
        });
        out!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        out!("lint       {what} ({})", crate::format::ms(started.elapsed()));
        print_report(report, true);
        let allowed = report.findings().filter(|f| f.allowed).count();
        out!(
            "{errors} error(s), {warnings} warning(s){}{}",
            if allowed > 0 { format!(", {allowed} allowed by -- lint: allow") } else { String::new() },
            if args.all { "; data is not measured with --all (run lint without it against the database)" } else { "" }
        );
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
