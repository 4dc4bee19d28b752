//! `cargo xtask backup [create] | list | verify FILE|latest | prune`: timestamped archives of
//! the database and uploads/, with restic-style retention and a lock for cron.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};

use crate::backups::archive::{self, Codec};
use crate::backups::names::{self, Compression};
use crate::backups::retention::{self, Policy};
use crate::backups::{
    archives, create_locked, default_threads, lock, prepare_dir, prune_locked, resolve_target, verify,
    with_lock_exit_code, CreateOptions, Created, MAX_KEEP, MAX_THREADS, MAX_WAIT_SECS,
};
use crate::project::Context;

/// A usage error's exit code (as clap's).
const USAGE_EXIT: u8 = 2;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    create: CreateArgs,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Make one archive of the database and uploads/ (the default)
    Create(CreateArgs),
    /// Show our archives: time, size, dialect, migrations, age
    List(ListArgs),
    /// Check every checksum, the snapshot's integrity, and read a pg dump in full
    Verify(VerifyArgs),
    /// Delete backups the retention policy does not keep
    Prune(PruneArgs),
}

#[derive(clap::Args, Clone)]
struct DirArg {
    /// Backups folder (relative paths resolve against the project root)
    #[arg(long, value_name = "DIR", default_value = "backups")]
    dir: PathBuf,
}

#[derive(clap::Args, Clone)]
struct CreateArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Add a label to the file name (lowercase letters, digits, dashes)
    #[arg(long, value_name = "L")]
    label: Option<String>,
    /// Print nothing on success (errors still go to stderr)
    #[arg(long, short)]
    quiet: bool,
    /// After a successful backup, delete what the retention policy does not keep
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    keep: KeepArgs,
    /// Wait up to SECS (at most a day) for another backup/restore to finish instead of exiting with code 3
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_SECS))]
    wait: u64,
    /// Archive compression: zstd (.tar.zst, the default: fastest in `bench backup`) or gzip (.tar.gz)
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    compression: Compression,
    /// Compression level: zstd 1 to 19 (default 3), gzip 1 to 9 (default 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=19))]
    level: Option<u32>,
    /// Compression threads, 1 to 256 (default: the number of cores)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_THREADS as i64))]
    threads: Option<u16>,
}

#[derive(clap::Args, Clone, Default)]
struct KeepArgs {
    /// Keep the N newest backups
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP))]
    keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N hours (UTC) [default policy: 24]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP))]
    keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last N days (UTC) [default policy: 7]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP))]
    keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N ISO weeks [default policy: 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP))]
    keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months [default policy: 12]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP))]
    keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last N years
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_KEEP))]
    keep_yearly: Option<u32>,
}

impl KeepArgs {
    /// No flag: the documented default. Any flag: exactly the flags given.
    fn policy(&self) -> Policy {
        let flags =
            [self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly];
        if flags.iter().all(Option::is_none) {
            return Policy::DEFAULT;
        }
        Policy {
            last: self.keep_last.unwrap_or(0),
            hourly: self.keep_hourly.unwrap_or(0),
            daily: self.keep_daily.unwrap_or(0),
            weekly: self.keep_weekly.unwrap_or(0),
            monthly: self.keep_monthly.unwrap_or(0),
            yearly: self.keep_yearly.unwrap_or(0),
        }
    }
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    dir: DirArg,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// An archive (path, or file name in the backups folder), or `latest`
    #[arg(value_name = "FILE|latest")]
    target: String,
    #[command(flatten)]
    dir: DirArg,
}

#[derive(clap::Args)]
struct PruneArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    keep: KeepArgs,
    /// Print what would be kept and deleted, and why; delete nothing
    #[arg(long)]
    dry_run: bool,
    /// Print nothing on success
    #[arg(long, short)]
    quiet: bool,
    /// Wait up to SECS (at most a day) for another backup/restore to finish instead of exiting with code 3
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_SECS))]
    wait: u64,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let result = match args.command {
        None | Some(Sub::Create(_)) => {
            let a = match args.command {
                Some(Sub::Create(a)) => a,
                _ => args.create,
            };
            // Checked before anything is written, like clap's own range checks.
            if let (Compression::Gzip, Some(level @ 10..)) = (a.compression, a.level) {
                eprintln!("error: invalid value '{level}' for '--level <N>': gzip levels are 1..=9 (zstd: 1..=19)");
                return Ok(ExitCode::from(USAGE_EXIT));
            }
            // A restore interrupted half-way is finished or undone first: never a backup of a
            // database from one side and uploads/ from the other.
            crate::backups::restore::recover_interrupted(ctx, Duration::from_secs(a.wait))
                .and_then(|()| run_create(ctx, a))
        }
        Some(Sub::List(a)) => list(ctx, &dir_of(ctx, &a.dir)),
        Some(Sub::Verify(a)) => run_verify(ctx, &dir_of(ctx, &a.dir), &a.target),
        Some(Sub::Prune(a)) => crate::backups::restore::recover_interrupted(ctx, Duration::from_secs(a.wait))
            .and_then(|()| run_prune(ctx, a)),
    };
    with_lock_exit_code(result)
}

fn dir_of(ctx: &Context, dir: &DirArg) -> PathBuf {
    ctx.root.join(&dir.dir)
}

fn run_create(ctx: &Context, a: CreateArgs) -> Result<ExitCode> {
    if let Some(label) = &a.label {
        names::validate_label(label).map_err(anyhow::Error::msg)?;
    }
    let policy = a.keep.policy();
    if a.prune && policy.is_empty() {
        bail!(retention::EmptyPolicy.to_string());
    }
    let options = CreateOptions {
        dir: a.dir.dir.clone(),
        label: a.label.clone(),
        codec: Codec {
            compression: a.compression,
            level: a.level.unwrap_or_else(|| Codec::default_level(a.compression)),
            threads: a.threads.map_or_else(default_threads, usize::from).max(1),
        },
        wait: Duration::from_secs(a.wait),
    };
    let dir = ctx.root.join(&options.dir);
    prepare_dir(&dir)?;
    let _lock = lock::acquire(&dir, options.wait)?;
    crate::backups::restore::clean_leftovers(ctx, &dir, a.quiet, false)?;
    let made = create_locked(ctx, &options)?;
    if !a.quiet {
        report_created(ctx, &made);
    }
    if a.prune {
        prune_locked(ctx, &dir, &policy, false, a.quiet)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn report_created(ctx: &Context, made: &Created) {
    let m = &made.manifest;
    let uploads = m.members.iter().filter(|x| x.path.starts_with("uploads/") && x.sha256.is_some()).count();
    out!(
        "backup {} ({}, {} migration(s){}, {} upload(s); {} -> {} in {:.2} s)",
        ctx.show(&made.path),
        m.dialect,
        m.migrations.applied,
        m.migrations.last_tag.as_ref().map(|t| format!(", last {t}")).unwrap_or_default(),
        uploads,
        crate::format::size(m.total_size()),
        crate::format::size(made.archive_bytes),
        made.elapsed.as_secs_f64()
    );
}

fn list(ctx: &Context, dir: &Path) -> Result<ExitCode> {
    let all = archives(dir)?;
    if all.is_empty() {
        out!("no backups in {}", ctx.show(dir));
        crate::backups::restore::report_leftovers(ctx, dir)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    out!("{:<44} {:>10}  {:<10} {:<36} {:>8}", "backup", "size", "dialect", "migrations", "age");
    for (name, path) in &all {
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let (dialect, migrations) = match archive::read_header(path) {
            Ok(Some(h)) => (
                h.dialect,
                format!(
                    "{}{}",
                    h.migrations.applied,
                    h.migrations.last_tag.map(|t| format!(" (last {t})")).unwrap_or_default()
                ),
            ),
            Ok(None) => ("?".into(), "? (no header)".into()),
            Err(e) => ("?".into(), format!("unreadable: {e}")),
        };
        out!(
            "{:<44} {:>10}  {:<10} {:<36} {:>8}",
            name.file_name(),
            crate::format::size(size),
            dialect,
            migrations,
            age(name.time, now)
        );
    }
    out!("{} backup(s) in {}", all.len(), ctx.show(dir));
    crate::backups::restore::report_leftovers(ctx, dir)?;
    Ok(ExitCode::SUCCESS)
}

fn run_verify(ctx: &Context, dir: &Path, target: &str) -> Result<ExitCode> {
    let path = resolve_target(ctx, dir, target)?;
    let started = Instant::now();
    let manifest = verify(&path)?;
    out!(
        "ok {}: {} member(s), {} checked, created {} ({}, {} migration(s)) in {:.2} s",
        ctx.show(&path),
        manifest.members.len(),
        crate::format::size(manifest.total_size()),
        manifest.created_at,
        manifest.dialect,
        manifest.migrations.applied,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_prune(ctx: &Context, a: PruneArgs) -> Result<ExitCode> {
    let dir = dir_of(ctx, &a.dir);
    let policy = a.keep.policy();
    if policy.is_empty() {
        bail!(retention::EmptyPolicy.to_string());
    }
    if !dir.is_dir() {
        bail!("{} does not exist; there is nothing to prune", dir.display());
    }
    let _lock = if a.dry_run { None } else { Some(lock::acquire(&dir, Duration::from_secs(a.wait))?) };
    crate::backups::restore::clean_leftovers(ctx, &dir, a.quiet, a.dry_run)?;
    prune_locked(ctx, &dir, &policy, a.dry_run, a.quiet)?;
    Ok(ExitCode::SUCCESS)
}

fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs < 0 {
        return "future".into();
    }
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_flags_default_only_when_none_given() {
        assert_eq!(KeepArgs::default().policy(), Policy::DEFAULT);
        let only_last = KeepArgs { keep_last: Some(3), ..Default::default() };
        assert_eq!(only_last.policy(), Policy { last: 3, ..Default::default() });
        assert!(KeepArgs { keep_daily: Some(0), ..Default::default() }.policy().is_empty());
    }

    #[test]
    fn sizes_and_ages() {
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::hours(5), now), "5h");
        assert_eq!(age(now + chrono::Duration::hours(5), now), "future");
    }
}
