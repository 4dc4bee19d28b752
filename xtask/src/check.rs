//! `cargo xtask check [--no-pending]`: the CI gate. Exit 0 when the database and the folder
//! agree, 1 otherwise (with the list of what is wrong on stderr).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cms_db::migrate::plan::EntryState;

use crate::project::Context;
use crate::status;

#[derive(clap::Args)]
pub struct Args {
    /// Also fail when anything is pending (a deploy gate)
    #[arg(long)]
    no_pending: bool,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, set, st) = status::read(ctx, args.migrations.as_deref())?;
    let mut findings: Vec<String> = st.findings().iter().map(ToString::to_string).collect();
    let pending: Vec<&str> =
        st.entries.iter().filter(|e| e.state == EntryState::Pending).map(|e| e.tag.as_str()).collect();
    if args.no_pending && !pending.is_empty() {
        findings.push(format!(
            "{} migration(s) pending: {} (run `cargo xtask migrate`)",
            pending.len(),
            pending.join(", ")
        ));
    }
    if findings.is_empty() {
        out!(
            "ok: {} ({}) and {} agree: {} applied, {} pending",
            url,
            url.dialect(),
            ctx.show(&set.dir),
            st.count("applied"),
            pending.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("check failed: {url} and {} disagree:", ctx.show(&set.dir));
    for f in &findings {
        eprintln!("  - {f}");
    }
    Ok(ExitCode::FAILURE)
}
