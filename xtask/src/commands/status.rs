//! `cargo xtask status [--json]`: what is applied, pending, modified, missing, out of order.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cms_db::migrate::journal::printable;
use cms_db::migrate::plan::{EntryState, Status};

use crate::project::{utc, Context};

#[derive(clap::Args)]
pub struct Args {
    /// Machine-readable output
    #[arg(long)]
    json: bool,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, set, status) = ctx.migration_status(args.migrations.as_deref())?;
    if args.json {
        let findings: Vec<String> = status.findings().iter().map(ToString::to_string).collect();
        let out = serde_json::json!({
            "database": url.redacted(),
            "dialect": url.dialect(),
            "migrations_dir": set.dir,
            "entries": status.entries,
            "orphans": status.orphans,
            "journal_problems": status.journal_problems,
            "findings": findings,
            "summary": summary_json(&status),
        });
        out!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("database   {url} ({})", url.dialect());
    out!("migrations {} ({} in journal)", ctx.show(&set.dir), set.migrations.len());
    print_table(&status);
    Ok(ExitCode::SUCCESS)
}

fn summary_json(st: &Status) -> serde_json::Value {
    serde_json::json!({
        "applied": st.count("applied"),
        "pending": st.count("pending"),
        "out_of_order": st.count("out of order"),
        "modified": st.count("modified"),
        "file_missing": st.count("file missing"),
        "orphans": st.orphans.len(),
        "journal_problems": st.journal_problems.len(),
    })
}

pub fn print_table(st: &Status) {
    for e in &st.entries {
        let detail = match &e.state {
            EntryState::Applied { applied_at: Some(t) } => format!("applied {}", utc(*t)),
            EntryState::Applied { applied_at: None } => "applied (by drizzle-orm or before times were recorded)".into(),
            EntryState::Pending => String::new(),
            EntryState::OutOfOrder { later } => format!("pending, but {later} is already applied"),
            EntryState::Modified { line_endings_only: true, .. } => {
                "file changed since it was applied: line endings only".into()
            }
            EntryState::Modified { line_endings_only: false, .. } => "file changed since it was applied".into(),
            EntryState::FileMissing { applied: true } => "applied, but its file is gone".into(),
            EntryState::FileMissing { applied: false } => "its file is gone".into(),
        };
        out!("  {:<13} {:<40} {detail}", e.state.label(), printable(&e.tag));
    }
    for o in &st.orphans {
        out!(
            "  {:<13} {:<40} applied, but no journal entry matches (hash {}…)",
            "unknown",
            o.name.as_deref().unwrap_or("?"),
            &o.hash[..o.hash.len().min(12)]
        );
    }
    for p in &st.journal_problems {
        out!("  problem: {p}");
    }
    out!(
        "{} applied, {} pending, {} problem(s)",
        st.count("applied"),
        st.count("pending") + st.count("out of order"),
        st.findings().len()
    );
}
