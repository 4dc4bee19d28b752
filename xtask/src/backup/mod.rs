//! `cargo xtask backup [create] | list | verify FILE|latest | prune`: timestamped archives of
//! the database and uploads/, with restic-style retention and a lock for cron.

pub mod archive;
pub mod child;
pub mod leftovers;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod pause;
pub mod retention;
pub mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{DateTime, SubsecRound, Utc};
use cms_db::DatabaseUrl;

use crate::project::Context;
use archive::{ArchiveWriter, Codec};
use manifest::{Manifest, Member, MemberKind, Migrations, FORMAT_VERSION, HEADER_PATH, POSTGRES_MEMBER, SQLITE_MEMBER};
use names::{ArchiveName, Compression};
use retention::Policy;

pub use lock::LOCK_HELD_EXIT;

/// The most compression threads `--threads` takes.
pub const MAX_THREADS: u16 = 256;
/// The longest `--wait` (backup, prune, restore): a day.
pub const MAX_WAIT_SECS: u64 = 86_400;
/// The most buckets a `--keep-*` rule takes.
pub const MAX_KEEP: i64 = 100_000;
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

/// What `create` needs; `pub` so other commands (restore, reset-complete) take their safety
/// backups through the same code.
#[derive(Clone, Debug)]
pub struct CreateOptions {
    /// The backups folder; relative paths resolve against the project root.
    pub dir: PathBuf,
    pub label: Option<String>,
    pub codec: Codec,
    /// How long to wait for the backup lock.
    pub wait: Duration,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            dir: PathBuf::from("backups"),
            label: None,
            codec: Codec { compression: Compression::Zstd, level: 3, threads: default_threads() },
            wait: Duration::ZERO,
        }
    }
}

/// What `create` made.
#[derive(Clone, Debug)]
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub archive_bytes: u64,
    pub elapsed: Duration,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).min(usize::from(MAX_THREADS))
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
            crate::restore::recover_interrupted(ctx, Duration::from_secs(a.wait)).and_then(|()| run_create(ctx, a))
        }
        Some(Sub::List(a)) => list(ctx, &dir_of(ctx, &a.dir)),
        Some(Sub::Verify(a)) => run_verify(ctx, &dir_of(ctx, &a.dir), &a.target),
        Some(Sub::Prune(a)) => {
            crate::restore::recover_interrupted(ctx, Duration::from_secs(a.wait)).and_then(|()| run_prune(ctx, a))
        }
    };
    with_lock_exit_code(result)
}

/// A held lock is exit code 3 (documented) with its message on stderr.
pub fn with_lock_exit_code(result: Result<ExitCode>) -> Result<ExitCode> {
    match result {
        Err(e) if e.downcast_ref::<lock::LockHeld>().is_some() => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(LOCK_HELD_EXIT))
        }
        other => other,
    }
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
    crate::restore::clean_leftovers(ctx, &dir, a.quiet, false)?;
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

/// Takes the backup lock, then makes one archive. For reset-complete's safety backup.
pub fn create(ctx: &Context, options: &CreateOptions) -> Result<Created> {
    let dir = ctx.root.join(&options.dir);
    prepare_dir(&dir)?;
    let _lock = lock::acquire(&dir, options.wait)?;
    create_locked(ctx, options)
}

/// The backups folder, created 0700.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating the backups folder {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (0700)", dir.display()))?;
    Ok(())
}

/// Removes the paths it holds when dropped (every error path), unless disarmed.
pub struct TempPaths(Vec<PathBuf>);

impl TempPaths {
    pub fn new() -> TempPaths {
        TempPaths(Vec::new())
    }

    pub fn add(&mut self, p: PathBuf) -> PathBuf {
        self.0.push(p.clone());
        p
    }
}

impl Drop for TempPaths {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

fn temp_name(dir: &Path, what: &str) -> PathBuf {
    dir.join(format!(".{what}.tmp-{}-{:08x}", std::process::id(), fastrand::u32(..)))
}

/// Makes one archive; the caller holds the lock.
pub fn create_locked(ctx: &Context, options: &CreateOptions) -> Result<Created> {
    let started = Instant::now();
    if let Some(label) = &options.label {
        names::validate_label(label).map_err(anyhow::Error::msg)?;
    }
    let (url, _) = ctx.database_url()?;
    let dir = ctx.root.join(&options.dir);
    prepare_dir(&dir)?;
    let now = Utc::now();
    let mut temps = TempPaths::new();
    let set = ctx.migrations(None, &url).ok();

    // 1. The database snapshot, into a temp file in the backups folder.
    let (snapshot_path, member, migrations) = match &url {
        DatabaseUrl::Sqlite { path } => {
            let Some(db) = url.sqlite_path() else {
                bail!("{url} is an in-memory database; there is nothing to back up")
            };
            let _ = path;
            let snap = temps.add(temp_name(&dir, "snapshot.db"));
            // SQLite may leave a journal next to the snapshot it writes.
            temps.add(crate::files::suffixed(&snap, "-journal"));
            snapshot::sqlite(db, &snap)?;
            let migrations = migrations_of(&DatabaseUrl::Sqlite { path: snap.clone() }, set.as_ref())?;
            (snap, SQLITE_MEMBER, migrations)
        }
        DatabaseUrl::Postgres { url: raw } => {
            let snap = temps.add(temp_name(&dir, "snapshot.dump"));
            snapshot::postgres(raw, &snap).map_err(|e| snapshot::disk_full_hint(e, &snap))?;
            let migrations = migrations_of(&url, set.as_ref())?;
            (snap, POSTGRES_MEMBER, migrations)
        }
    };
    pause::pause_point("backup:after-snapshot");

    // 2. The archive, into a temp file.
    let name = ArchiveName {
        time: now.trunc_subsecs(0),
        seq: 1,
        label: options.label.clone(),
        compression: options.codec.compression,
    };
    let tmp = temps.add(temp_name(&dir, &name.file_name()));
    let mut header = Manifest {
        format_version: FORMAT_VERSION,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tool: format!("xtask {}", env!("CARGO_PKG_VERSION")),
        dialect: url.dialect().to_string(),
        source: url.redacted(),
        migrations,
        members: Vec::new(),
        expected: None,
    };
    // What goes in, listed in the header with sizes before any of it is written, so a reader
    // checks every member before writing a byte of it.
    let snapshot_size = fs::metadata(&snapshot_path)?.len();
    let uploads = list_uploads(&ctx.root.join("uploads"))?;
    let mut expected = vec![Member { path: member.into(), kind: MemberKind::File, size: snapshot_size, sha256: None }];
    expected.extend(uploads.iter().map(|u| u.member.clone()));
    header.expected = Some(expected);
    let mut write = || -> Result<u64> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        pause::pause_point("backup:writing-archive");
        let mut w = ArchiveWriter::new(BufWriter::with_capacity(1 << 20, file), options.codec);
        w.add_bytes(HEADER_PATH, &serde_json::to_vec_pretty(&header)?)?;
        w.add_file(member, &snapshot_path, 0o600, snapshot_size)?;
        add_uploads(&mut w, &uploads)?;
        let mut full = header.clone();
        full.expected = None;
        full.members = std::mem::take(&mut w.members);
        let out = w.finish(&full)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        header = full;
        Ok(file.metadata()?.len())
    };
    let archive_bytes = write()
        .map_err(|e| snapshot::disk_full_hint(e, &tmp))
        .context("writing the archive; older backups are untouched")?;
    let _ = fs::remove_file(&snapshot_path);

    // 3. Publish under a name no other backup has (two in the same second get _2, _3 …).
    let path = publish(&tmp, &dir, name)?;
    sync_dir(&dir)?;
    Ok(Created { path, manifest: header, archive_bytes, elapsed: started.elapsed() })
}

fn migrations_of(url: &DatabaseUrl, set: Option<&cms_db::MigrationSet>) -> Result<Migrations> {
    let mut driver = cms_db::driver(url, true)?;
    let rows = driver.applied()?;
    Ok(match set {
        Some(set) => snapshot::name_rows(&rows, set),
        None => {
            let tags: Vec<String> =
                rows.iter().map(|r| r.name.clone().unwrap_or_else(|| format!("sha256:{}", r.hash))).collect();
            Migrations { applied: tags.len(), last_tag: tags.last().cloned(), tags }
        }
    })
}

/// Links the temp file to its final name (never replacing an existing file), then removes
/// the temp name.
fn publish(tmp: &Path, dir: &Path, mut name: ArchiveName) -> Result<PathBuf> {
    // Unique within the second whatever the label, so "newest" is never ambiguous.
    let taken = archives(dir)?.iter().filter(|(n, _)| n.time == name.time).map(|(n, _)| n.seq).max();
    name.seq = taken.map_or(1, |s| s + 1);
    loop {
        let dest = dir.join(name.file_name());
        match fs::hard_link(tmp, &dest) {
            Ok(()) => {
                fs::remove_file(tmp)?;
                return Ok(dest);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => name.seq += 1,
            Err(e) => {
                // A filesystem without hard links: rename, after checking the name is free.
                if dest.exists() {
                    name.seq += 1;
                    continue;
                }
                fs::rename(tmp, &dest).with_context(|| format!("renaming to {} ({e})", dest.display()))?;
                return Ok(dest);
            }
        }
    }
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing the folder {}", dir.display()))
}

/// One entry of uploads/ to archive: its member (path, type, size when listed) and file.
struct Upload {
    member: Member,
    file: PathBuf,
    mode: u32,
}

/// Every folder and regular file under uploads/, in archive order (links and other special
/// files are skipped with a warning).
fn list_uploads(uploads: &Path) -> Result<Vec<Upload>> {
    let meta = match fs::symlink_metadata(uploads) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", uploads.display())),
    };
    if !meta.is_dir() {
        bail!("{} is not a folder", uploads.display());
    }
    let mut out = vec![Upload {
        member: Member { path: "uploads".into(), kind: MemberKind::Dir, size: 0, sha256: None },
        file: uploads.to_path_buf(),
        mode: 0o755,
    }];
    walk(&mut out, uploads, "uploads")?;
    Ok(out)
}

fn walk(out: &mut Vec<Upload>, dir: &Path, name: &str) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Some(file_name) = e.file_name().to_str().map(String::from) else {
            eprintln!("warning: skipping {} (its name is not UTF-8)", e.path().display());
            continue;
        };
        let path = format!("{name}/{file_name}");
        let meta = fs::symlink_metadata(e.path())?;
        if meta.is_dir() {
            out.push(Upload {
                member: Member { path: path.clone(), kind: MemberKind::Dir, size: 0, sha256: None },
                file: e.path(),
                mode: 0o755,
            });
            walk(out, &e.path(), &path)?;
        } else if meta.is_file() {
            out.push(Upload {
                member: Member { path, kind: MemberKind::File, size: meta.len(), sha256: None },
                file: e.path(),
                mode: meta.permissions().mode(),
            });
        } else {
            eprintln!("warning: skipping {} (not a regular file: links are not backed up)", e.path().display());
        }
    }
    Ok(())
}

/// Archives the listed uploads; a file deleted since it was listed is skipped with a warning.
fn add_uploads<W: std::io::Write + Send + 'static>(w: &mut ArchiveWriter<W>, uploads: &[Upload]) -> Result<()> {
    for u in uploads {
        match u.member.kind {
            MemberKind::Dir => w.add_dir(&u.member.path)?,
            MemberKind::File => {
                if let Err(e) = w.add_file(&u.member.path, &u.file, u.mode, u.member.size) {
                    let gone = e.chain().any(|c| {
                        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
                    });
                    if !gone || u.file.exists() {
                        return Err(e);
                    }
                    eprintln!(
                        "warning: {} was deleted while the backup was running; it is not in this backup",
                        u.file.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Our archives in `dir`, newest first.
pub fn archives(dir: &Path) -> Result<Vec<(ArchiveName, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for e in entries {
        let e = e?;
        if let Some(name) = e.file_name().to_str().and_then(ArchiveName::parse) {
            if e.file_type()?.is_file() {
                out.push((name, e.path()));
            }
        }
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.0.key()));
    Ok(out)
}

/// `FILE` (absolute, relative to the project root, or a name in the backups folder) or
/// `latest`.
pub fn resolve_target(ctx: &Context, dir: &Path, target: &str) -> Result<PathBuf> {
    if target == "latest" {
        return archives(dir)?
            .into_iter()
            .next()
            .map(|(_, p)| p)
            .with_context(|| format!("there are no backups in {}; make one with `cargo xtask backup`", dir.display()));
    }
    let p = Path::new(target);
    let candidates = if p.is_absolute() { vec![p.to_path_buf()] } else { vec![ctx.root.join(p), dir.join(p)] };
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .with_context(|| format!("no backup file `{target}`; see `cargo xtask backup list`"))
}

fn list(ctx: &Context, dir: &Path) -> Result<ExitCode> {
    let all = archives(dir)?;
    if all.is_empty() {
        out!("no backups in {}", ctx.show(dir));
        crate::restore::report_leftovers(ctx, dir)?;
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
    crate::restore::report_leftovers(ctx, dir)?;
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

/// Every checksum, the header, then `PRAGMA integrity_check` on an SQLite snapshot or a full
/// read of a pg dump (extracted to a temp folder that is removed afterwards).
pub fn verify(path: &Path) -> Result<Manifest> {
    // Named with our pid, so that a killed verify's folder is found and removed (see leftovers).
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{}{}-", leftovers::VERIFY_PREFIX, std::process::id()))
        .tempdir()
        .context("creating a temp folder")?;
    let db = tmp.path().join("database");
    let manifest = archive::read(path, |entry, r| {
        if entry.path == SQLITE_MEMBER || entry.path == POSTGRES_MEMBER {
            let mut f = File::create(&db)?;
            std::io::copy(r, &mut f).with_context(|| format!("extracting the database to {}", db.display()))?;
        }
        Ok(())
    })?;
    check_header(path, &manifest)?;
    if manifest.member(SQLITE_MEMBER).is_some() {
        snapshot::sqlite_integrity(&db).with_context(|| format!("{} holds a damaged database", path.display()))?;
    } else if manifest.member(POSTGRES_MEMBER).is_some() {
        snapshot::read_pg_dump(&db).with_context(|| format!("{} holds an unreadable pg dump", path.display()))?;
    } else {
        bail!("{} holds no database snapshot", path.display());
    }
    Ok(manifest)
}

/// The header must say what the manifest says.
pub fn check_header(path: &Path, manifest: &Manifest) -> Result<()> {
    if let Some(mut h) = archive::read_header(path)? {
        // The header's member list was checked member by member while reading.
        h.expected = None;
        let mut full = manifest.clone();
        full.members.clear();
        full.expected = None;
        if h != full {
            bail!("{}: backup.json and manifest.json disagree; the archive is not trustworthy", path.display());
        }
    }
    Ok(())
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
    crate::restore::clean_leftovers(ctx, &dir, a.quiet, a.dry_run)?;
    prune_locked(ctx, &dir, &policy, a.dry_run, a.quiet)?;
    Ok(ExitCode::SUCCESS)
}

/// Plans retention over our archives (temp files and other files are not ours and never
/// touched), prints each verdict with its reasons, deletes unless `dry_run`.
pub fn prune_locked(ctx: &Context, dir: &Path, policy: &Policy, dry_run: bool, quiet: bool) -> Result<()> {
    let all = archives(dir)?;
    let items: Vec<retention::Item> =
        all.iter().map(|(n, _)| retention::Item { name: n.file_name(), time: n.time, seq: n.seq }).collect();
    let decisions = retention::plan(&items, policy, Utc::now()).map_err(|e| anyhow::anyhow!(e.to_string()))?;
    if !quiet {
        out!("retention ({policy}) in {}{}", ctx.show(dir), if dry_run { ", dry run: nothing is deleted" } else { "" });
    }
    let (mut kept, mut deleted) = (0, 0);
    for d in &decisions {
        let future = if d.future { " [dated in the future]" } else { "" };
        if d.keep {
            kept += 1;
            if !quiet {
                out!("  keep    {}  ({}){future}", d.item.name, d.reasons.join(", "));
            }
        } else {
            deleted += 1;
            if !quiet {
                out!(
                    "  {}  {}  (no rule keeps it){future}",
                    if dry_run { "would delete" } else { "delete" },
                    d.item.name
                );
            }
            if !dry_run {
                let p = dir.join(&d.item.name);
                fs::remove_file(&p).with_context(|| format!("deleting {}", p.display()))?;
            }
        }
    }
    if !dry_run && deleted > 0 {
        sync_dir(dir)?;
    }
    if !quiet {
        out!("{kept} kept, {deleted} {}", if dry_run { "would be deleted" } else { "deleted" });
    }
    Ok(())
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
    fn uploads_are_archived_as_listed_a_deleted_one_skipped_a_grown_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("uploads");
        fs::create_dir_all(uploads.join("images")).unwrap();
        for name in ["a.txt", "b.txt", "images/c.txt"] {
            fs::write(uploads.join(name), "abc").unwrap();
        }
        let listed = list_uploads(&uploads).unwrap();
        let paths: Vec<&str> = listed.iter().map(|u| u.member.path.as_str()).collect();
        assert_eq!(paths, ["uploads", "uploads/a.txt", "uploads/b.txt", "uploads/images", "uploads/images/c.txt"]);
        let codec = Codec { compression: Compression::Zstd, level: 1, threads: 1 };

        fs::remove_file(uploads.join("a.txt")).unwrap();
        let mut w = ArchiveWriter::new(Vec::new(), codec);
        add_uploads(&mut w, &listed).unwrap();
        let archived: Vec<&str> = w.members.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(archived, ["uploads", "uploads/b.txt", "uploads/images", "uploads/images/c.txt"]);

        fs::write(uploads.join("b.txt"), "abcdef").unwrap();
        let mut w = ArchiveWriter::new(Vec::new(), codec);
        let err = add_uploads(&mut w, &listed).unwrap_err().to_string();
        assert!(err.contains("b.txt grew from 3 to 6 bytes while the backup was running"), "{err}");
    }

    #[test]
    fn sizes_and_ages() {
        let now = Utc::now();
        assert_eq!(age(now - chrono::Duration::hours(5), now), "5h");
        assert_eq!(age(now + chrono::Duration::hours(5), now), "future");
    }
}
