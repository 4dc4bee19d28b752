//! Backups: timestamped archives of the database and uploads/ (archive format, manifest,
//! snapshots, names, restic-style retention, the lock for cron, leftovers of killed runs) and
//! restoring them. `cargo xtask backup` and `cargo xtask restore` are the commands over this
//! library; migrate, rollback and reset-complete take their safety backups through it.

pub mod archive;
pub mod child;
pub mod leftovers;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod pause;
pub mod pg_objects;
pub mod restore;
pub mod retention;
pub mod snapshot;

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use chrono::{SubsecRound, Utc};
use cms_db::DatabaseUrl;

use crate::durable::sync_dir;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
