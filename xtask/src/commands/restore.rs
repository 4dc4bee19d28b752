//! `cargo xtask restore FILE|latest [--yes] [--force]`: verify everything, take a safety
//! backup, then swap the database and uploads/ into place atomically. Nothing live is touched
//! until the archive has passed every check; a restore killed half-way is finished or undone
//! by the next restore, backup or reset-complete.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::backups::restore::{restore, RestoreOptions};
use crate::backups::{with_lock_exit_code, MAX_WAIT_SECS};
use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// The archive (path, or file name in the backups folder), or `latest`
    #[arg(value_name = "FILE|latest")]
    target: String,
    /// Backups folder (relative paths resolve against the project root)
    #[arg(long, value_name = "DIR", default_value = "backups")]
    dir: PathBuf,
    /// Replace without asking (required without a terminal)
    #[arg(long, short)]
    yes: bool,
    /// Restore a backup made by a newer schema than this code knows
    #[arg(long)]
    force: bool,
    /// Wait up to SECS (at most a day) for a running backup to finish instead of exiting with code 3
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_SECS))]
    wait: u64,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let options =
        RestoreOptions { target: args.target, dir: args.dir, yes: args.yes, force: args.force, wait: args.wait };
    with_lock_exit_code(restore(ctx, &options))
}
