//! The intent record of a restore that is replacing live data, and what the next command does
//! when it finds one: a restore that was killed half-way (between its database swap and its
//! uploads swap, or while pg_restore ran) is finished or undone, so the database and uploads/
//! always come from the same side.
//!
//! `restore` writes `backups/.restore-in-progress.json` (atomically, fsynced) before its first
//! change to live data, naming the archive, the staged paths, where the replaced files are
//! kept, and which steps are done; it updates the record after each step and removes it at the
//! end. While it runs it holds `backups/.restore.lock`, so a record whose lock is free belongs
//! to a restore that is gone. The next `restore`, `backup` or `reset-complete` finds such a
//! record, says so, and:
//!
//! - finishes the restore when the database was already replaced (or, on PostgreSQL, may have
//!   been) and everything still staged is there and verified against the archive's checksums:
//!   the staged uploads/ is moved into place (and on PostgreSQL the verified dump is restored
//!   again: one transaction with `--clean`, so it gives the backup's database whether or not
//!   the interrupted pg_restore had committed);
//! - otherwise undoes it: the replaced database goes back (SQLite: the kept old file and its
//!   -wal/-shm; PostgreSQL: the safety backup's dump), the old uploads/ goes back, and the
//!   staged files are removed.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backups::leftovers::RestoreTemps;
use crate::backups::lock::{self, LockHeld};
use crate::backups::manifest::{Manifest, MemberKind, POSTGRES_MEMBER, SQLITE_MEMBER};
use crate::backups::{self as backup, archive};
use crate::durable;
use crate::files::{remove_file_if_present, suffixed};
use crate::project::Context;

pub const RECORD_FILE: &str = ".restore-in-progress.json";
/// The record's format version.
pub const VERSION: u32 = 1;
const LOCK_FILE: &str = ".restore.lock";

/// Where the record and the restore lock live: the project's `backups/`, whatever `--dir` a
/// command is given, so every command finds them.
fn home(root: &Path) -> PathBuf {
    root.join("backups")
}

pub fn record_path(root: &Path) -> PathBuf {
    home(root).join(RECORD_FILE)
}

/// Where restore stages the archive's uploads/ (and a PostgreSQL dump), and where it keeps the
/// replaced uploads/ when there is no database to back up: the project's `backups/` (git
/// ignores it, and the staging folder's name carries our pid, see
/// [`crate::backups::leftovers`]), unless it is on another filesystem than uploads/ (a rename
/// cannot cross filesystems): then the project root, where .gitignore covers them too.
pub fn aside_dir(root: &Path) -> Result<PathBuf> {
    let dir = home(root);
    backup::prepare_dir(&dir)?;
    let uploads = root.join("uploads");
    let live = if uploads.exists() { uploads } else { root.to_path_buf() };
    use std::os::unix::fs::MetadataExt as _;
    Ok(match (fs::metadata(&dir), fs::metadata(&live)) {
        (Ok(a), Ok(b)) if a.dev() == b.dev() => dir,
        _ => root.to_path_buf(),
    })
}

/// How `backup list` (no lock) may judge restore's temps: not while an interrupted restore's
/// record names them.
pub fn restore_temps_peek(root: &Path) -> RestoreTemps {
    if record_path(root).exists() {
        RestoreTemps::Skip
    } else {
        RestoreTemps::Peek
    }
}

/// For backup and prune: the restore lock when no restore holds it (kept while the temps are
/// removed), and how restore's temps may be judged.
pub fn restore_temps_locked(root: &Path) -> Result<(RestoreTemps, Option<Guard>)> {
    if !home(root).is_dir() {
        // No restore of ours ever ran here (it keeps its lock in backups/): only temps whose
        // pid is gone, without creating the folder.
        return Ok((restore_temps_peek(root), None));
    }
    match Guard::try_acquire(root)? {
        Some(guard) if !record_path(root).exists() => Ok((RestoreTemps::Locked, Some(guard))),
        _ => Ok((RestoreTemps::Skip, None)),
    }
}

/// For restore, which holds the restore lock.
pub fn restore_temps_held(root: &Path, _guard: &Guard) -> RestoreTemps {
    if record_path(root).exists() {
        RestoreTemps::Skip
    } else {
        RestoreTemps::Locked
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Intent {
    pub version: u32,
    pub pid: u32,
    pub started_at: String,
    /// The archive being restored.
    pub archive: PathBuf,
    /// The database URL, password redacted.
    pub database: String,
    pub target: Target,
    /// The staging folder (on the project's filesystem); removed at the end.
    pub staging: PathBuf,
    /// The live uploads/.
    pub uploads: PathBuf,
    /// Whether uploads/ existed when the record was written.
    pub had_uploads: bool,
    /// The verified uploads/ from the archive, waiting to be moved into place.
    pub staged_uploads: PathBuf,
    /// SHA-256 over the archive's uploads (path, size, SHA-256 of each file, sorted): what
    /// the staged uploads/ must still be for the restore to be finished.
    pub staged_uploads_digest: String,
    /// Where the replaced uploads/ goes: inside the staging folder (removed at the end), or
    /// a kept `uploads.pre-restore-<UTC>` folder.
    pub old_uploads: PathBuf,
    /// The safety backup of what is replaced (none when there was no database).
    pub safety_backup: Option<PathBuf>,
    pub steps: Steps,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "dialect", rename_all = "lowercase")]
pub enum Target {
    Sqlite {
        /// The live database file.
        database: PathBuf,
        /// The verified database from the archive, next to it.
        staged: PathBuf,
        /// The replaced database (a hard link, or a copy), and its -wal/-shm beside it.
        old: PathBuf,
        had_database: bool,
    },
    Postgresql {
        /// The verified dump from the archive.
        dump: PathBuf,
        dump_sha256: String,
    },
}

/// Which steps are done. Each is recorded after it happened; one that was under way when the
/// process died is told from the files themselves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Steps {
    /// The database is being replaced (SQLite: old file kept, -wal/-shm moved aside, staged
    /// file renamed into place; PostgreSQL: pg_restore running).
    pub database_started: bool,
    pub database_swapped: bool,
    /// The live uploads/ was moved to `old_uploads`.
    pub old_uploads_aside: bool,
    pub uploads_swapped: bool,
}

impl Intent {
    /// Writes the record atomically: a temp file in the same folder, fsynced, renamed over
    /// the record, the folder fsynced.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = home(root);
        backup::prepare_dir(&dir)?;
        // Named with our pid, like every temp (see crate::backups::leftovers).
        let prefix = format!("{RECORD_FILE}.tmp-{}-", std::process::id());
        durable::replace(&record_path(root), &prefix, &serde_json::to_vec_pretty(self)?)
            .context("writing the restore record")
    }

    /// Records one more step.
    pub fn step(&mut self, root: &Path, f: impl FnOnce(&mut Steps)) -> Result<()> {
        f(&mut self.steps);
        self.save(root)
    }

    fn load(path: &Path) -> Result<Intent> {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let unreadable = || {
            format!(
                "{} is not a restore record this tool can read; move it away once the database and uploads/ are checked",
                path.display()
            )
        };
        let record: Intent = serde_json::from_slice(&bytes).with_context(unreadable)?;
        if record.version > VERSION {
            bail!("{} (record version {}, newer than this xtask)", unreadable(), record.version);
        }
        Ok(record)
    }
}

/// SHA-256 over the uploads an archive's manifest lists (files only: path, size, SHA-256).
pub fn uploads_digest(manifest: &Manifest) -> String {
    let mut lines: Vec<String> = manifest
        .members
        .iter()
        .filter(|m| m.kind == MemberKind::File && m.path.starts_with("uploads/"))
        .map(|m| format!("{}\t{}\t{}\n", m.path, m.size, m.sha256.as_deref().unwrap_or_default()))
        .collect();
    lines.sort();
    hex::encode(Sha256::digest(lines.concat()))
}

/// The same digest over a staged uploads/ folder, every file read again.
fn staged_digest(staged: &Path) -> Result<String> {
    fn walk(dir: &Path, name: &str, lines: &mut Vec<String>) -> Result<()> {
        for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let member = format!("{name}/{}", e.file_name().to_string_lossy());
            let kind = e.file_type()?;
            if kind.is_dir() {
                walk(&e.path(), &member, lines)?;
            } else {
                let mut f = File::open(e.path())?;
                let mut hasher = Sha256::new();
                let size = io::copy(&mut f, &mut hasher)?;
                lines.push(format!("{member}\t{size}\t{}\n", hex::encode(hasher.finalize())));
            }
        }
        Ok(())
    }
    let mut lines = Vec::new();
    walk(staged, "uploads", &mut lines)?;
    lines.sort();
    Ok(hex::encode(Sha256::digest(lines.concat())))
}

fn file_sha256(path: &Path) -> Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Held by a restore for as long as it runs: a record whose lock is free is an interrupted
/// restore's. The kernel releases it however the process ends.
pub struct Guard {
    _file: File,
}

fn open_lock(root: &Path) -> Result<(File, PathBuf)> {
    let dir = home(root);
    backup::prepare_dir(&dir)?;
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((file, path))
}

impl Guard {
    /// Takes the restore lock, waiting up to `wait` for another restore to end.
    pub fn acquire(root: &Path, wait: Duration) -> Result<Guard> {
        let (mut file, path) = open_lock(root)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                    let holder = if holder.is_empty() { "a restore".to_string() } else { format!("restore, {holder}") };
                    return Err(LockHeld { path, holder, waited: started.elapsed() }.into());
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()))
                }
            }
        }
        let _ = file.set_len(0);
        let _ = write!(file, "pid {}", std::process::id());
        Ok(Guard { _file: file })
    }

    /// The lock, unless a restore holds it.
    fn try_acquire(root: &Path) -> Result<Option<Guard>> {
        let (file, path) = open_lock(root)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Guard { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

pub use crate::backups::pause::pause_point;

/// For `backup` and `reset-complete`: finishes or undoes an interrupted restore, if there is
/// one. A restore that is running now is left alone.
pub fn recover(ctx: &Context, wait: Duration) -> Result<()> {
    if !record_path(&ctx.root).exists() {
        return Ok(());
    }
    let Some(guard) = Guard::try_acquire(&ctx.root)? else { return Ok(()) };
    recover_locked(ctx, &guard, wait)
}

/// The same, for a caller that already holds the restore lock. The backup lock is held while
/// live data changes, so no backup snapshots it half-way (waiting up to `wait` for one).
pub fn recover_locked(ctx: &Context, _guard: &Guard, wait: Duration) -> Result<()> {
    let path = record_path(&ctx.root);
    if !path.exists() {
        return Ok(());
    }
    let _lock = lock::acquire(&home(&ctx.root), wait)?;
    let record = Intent::load(&path)?;
    out!(
        "interrupted restore found ({}): restoring {} into {} (pid {}, started {}) stopped {}",
        ctx.show(&path),
        ctx.show(&record.archive),
        record.database,
        record.pid,
        record.started_at,
        where_it_stopped(&record)
    );
    let pg_url = pg_url_for(ctx, &record)?;
    let plan = decide(&record);
    match plan {
        Plan::Finish(why) => {
            out!("  finishing it: {why}");
            finish(&ctx.root, &record, pg_url.as_deref()).context(
                "finishing the interrupted restore failed; the next restore, backup or reset-complete tries again",
            )?;
            out!("  finished: the database and uploads/ are both from {}", ctx.show(&record.archive));
        }
        Plan::Undo(why) => {
            out!("  undoing it: {why}");
            undo(&ctx.root, &record, pg_url.as_deref()).context(
                "undoing the interrupted restore failed; the next restore, backup or reset-complete tries again",
            )?;
            out!("  undone: the database and uploads/ are as they were before that restore");
        }
    }
    Ok(())
}

/// PostgreSQL needs the live URL (with its password, which the record never holds): it must
/// be the database the record names.
fn pg_url_for(ctx: &Context, record: &Intent) -> Result<Option<String>> {
    let Target::Postgresql { .. } = record.target else { return Ok(None) };
    let (url, _) = ctx.database_url()?;
    match url {
        cms_db::DatabaseUrl::Postgres { url: raw } if url.redacted() == record.database => Ok(Some(raw)),
        other => bail!(
            "the interrupted restore was into {}, but DATABASE_URL is now {other}: point DATABASE_URL at {} and run this again to finish or undo it",
            record.database,
            record.database
        ),
    }
}

fn where_it_stopped(r: &Intent) -> &'static str {
    let s = &r.steps;
    match (&r.target, s.database_started, s.database_swapped, s.old_uploads_aside, s.uploads_swapped) {
        (_, _, _, _, true) => "after both swaps, while cleaning up",
        (_, _, true, true, false) => "after the database was replaced and the old uploads/ moved aside",
        (_, _, true, false, false) => "after the database was replaced, before uploads/ was",
        (Target::Postgresql { .. }, true, false, _, _) => "while pg_restore was running",
        (Target::Sqlite { .. }, true, false, _, _) => "while the database was being replaced",
        _ => "before it replaced anything",
    }
}

enum DbState {
    /// The live database was never replaced (at most its -wal/-shm were moved aside).
    Untouched,
    Swapped,
    /// pg_restore ran and its outcome is unknown: the database is the old one or the backup's.
    Unknown,
}

fn database_state(r: &Intent) -> DbState {
    match &r.target {
        _ if r.steps.database_swapped => DbState::Swapped,
        _ if !r.steps.database_started => DbState::Untouched,
        Target::Postgresql { .. } => DbState::Unknown,
        // The rename is the swap: the staged file is gone once it happened.
        Target::Sqlite { staged, database, .. } => {
            if !staged.exists() && database.exists() {
                DbState::Swapped
            } else {
                DbState::Untouched
            }
        }
    }
}

/// Whether uploads/ has been swapped already: the staged folder is gone and uploads/ is
/// there, with the old one aside (or there was none).
fn uploads_swapped(r: &Intent) -> bool {
    r.steps.uploads_swapped
        || (!r.staged_uploads.exists() && r.uploads.exists() && (r.old_uploads.exists() || !r.had_uploads))
}

enum Plan {
    Finish(String),
    Undo(String),
}

fn decide(r: &Intent) -> Plan {
    let db = database_state(r);
    if let DbState::Untouched = db {
        return Plan::Undo("the live database had not been replaced yet".into());
    }
    if !uploads_swapped(r) {
        if !r.staged_uploads.is_dir() {
            return Plan::Undo(format!("the staged uploads/ ({}) is gone", r.staged_uploads.display()));
        }
        match staged_digest(&r.staged_uploads) {
            Ok(d) if d == r.staged_uploads_digest => {}
            Ok(_) => return Plan::Undo("the staged uploads/ no longer matches the archive's checksums".into()),
            Err(e) => return Plan::Undo(format!("the staged uploads/ cannot be read ({e:#})")),
        }
    }
    if let (DbState::Unknown, Target::Postgresql { dump, dump_sha256 }) = (&db, &r.target) {
        return match file_sha256(dump) {
            Ok(sha) if &sha == dump_sha256 => Plan::Finish(
                "pg_restore may or may not have committed; the staged dump and uploads/ are intact and verified, so the dump is restored again (one transaction) and uploads/ moved into place".into(),
            ),
            _ => Plan::Undo("pg_restore may have committed, and the staged dump is gone or damaged".into()),
        };
    }
    Plan::Finish("the database was already replaced; the staged uploads/ is intact and verified".into())
}

/// Completes the swap from wherever it stopped, then cleans up.
pub fn finish(root: &Path, r: &Intent, pg_url: Option<&str>) -> Result<()> {
    match (&r.target, database_state(r)) {
        (Target::Sqlite { .. }, DbState::Swapped) => {}
        (Target::Postgresql { dump, .. }, DbState::Unknown) => {
            let url = pg_url.context("no PostgreSQL URL to finish the restore with")?;
            super::refuse_if_pg_in_use(url)?;
            super::pg_objects::restore(url, dump)?;
        }
        (Target::Postgresql { .. }, DbState::Swapped) => {}
        _ => bail!("the database was not replaced; there is nothing to finish"),
    }
    if !uploads_swapped(r) {
        if r.uploads.exists() && !r.old_uploads.exists() {
            fs::rename(&r.uploads, &r.old_uploads).context("moving the old uploads/ aside")?;
        }
        fs::rename(&r.staged_uploads, &r.uploads).context("moving the restored uploads/ into place")?;
        durable::sync_dir(root)?;
    }
    clean_up(root, r)
}

/// Puts back what was replaced, then cleans up.
pub fn undo(root: &Path, r: &Intent, pg_url: Option<&str>) -> Result<()> {
    let state = database_state(r);
    match &r.target {
        Target::Sqlite { database, old, had_database, .. } => {
            if r.steps.database_started {
                super::refuse_if_open(database)?;
            }
            // Whether the live file ends up as the one the -wal/-shm moved aside belong to.
            let original = if !matches!(state, DbState::Swapped) {
                // The live database never left: the kept link (or copy) of it just goes.
                remove_file_if_present(old)?;
                true
            } else {
                // The live file is the restored database: its own -wal/-shm go first.
                for suffix in ["-wal", "-shm"] {
                    remove_file_if_present(&suffixed(database, suffix))?;
                }
                if old.exists() {
                    // rename(2) over the live name: the old database is back in one step.
                    fs::rename(old, database).with_context(|| format!("putting {} back", database.display()))?;
                    true
                } else if !had_database {
                    remove_file_if_present(database)?;
                    false
                } else {
                    // The kept old file is gone: the safety backup has it (its -wal included).
                    let safety = r
                        .safety_backup
                        .as_ref()
                        .context("the replaced database was not kept and there is no safety backup")?;
                    let back = suffixed(old, ".from-safety-backup");
                    extract_member(safety, SQLITE_MEMBER, &back)?;
                    fs::rename(&back, database).with_context(|| format!("putting {} back", database.display()))?;
                    false
                }
            };
            for suffix in ["-wal", "-shm"] {
                let aside = suffixed(old, suffix);
                if original && aside.exists() {
                    fs::rename(&aside, suffixed(database, suffix))?;
                }
            }
            durable::sync_dir(database.parent().unwrap_or(Path::new(".")))?;
        }
        Target::Postgresql { .. } => {
            if !matches!(state, DbState::Untouched) {
                let url = pg_url.context("no PostgreSQL URL to undo the restore with")?;
                let safety =
                    r.safety_backup.as_ref().context("there is no safety backup to put the database back from")?;
                let dump = r.staging.join("undo.dump");
                fs::create_dir_all(&r.staging)?;
                extract_member(safety, POSTGRES_MEMBER, &dump)?;
                super::refuse_if_pg_in_use(url)?;
                super::pg_objects::restore(url, &dump)
                    .with_context(|| format!("restoring the safety backup {}", safety.display()))?;
            }
        }
    }
    if r.old_uploads.exists() {
        if r.uploads.exists() {
            let restored = r.staging.join(".restored-uploads");
            fs::create_dir_all(&r.staging)?;
            fs::rename(&r.uploads, &restored).context("moving the restored uploads/ away")?;
        }
        fs::rename(&r.old_uploads, &r.uploads).context("putting the old uploads/ back")?;
        durable::sync_dir(root)?;
    }
    clean_up(root, r)
}

/// One member of an archive (the safety backup's database), verified with the rest of the
/// archive, into `dest`.
fn extract_member(archive_path: &Path, member: &str, dest: &Path) -> Result<()> {
    let mut file = None;
    let read = archive::read(archive_path, |entry, r| {
        if entry.path == member {
            let mut f = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
            r.copy_to(&mut f)?;
            file = Some(f);
        }
        Ok(())
    });
    let checked = read.and_then(|_| {
        let f = file.with_context(|| format!("{} holds no {member}", archive_path.display()))?;
        f.sync_all()?;
        Ok(())
    });
    if checked.is_err() {
        let _ = fs::remove_file(dest);
    }
    checked
}

/// Removes what the restore left: the kept old database, the staged files, the staging
/// folder (with the old uploads/ in it, unless kept aside) and, last, the record.
fn clean_up(root: &Path, r: &Intent) -> Result<()> {
    if let Target::Sqlite { staged, old, .. } = &r.target {
        for p in [staged.clone(), suffixed(staged, "-wal"), suffixed(staged, "-shm")] {
            remove_file_if_present(&p)?;
        }
        for suffix in ["", "-wal", "-shm", ".partial", ".from-safety-backup"] {
            let p = suffixed(old, suffix);
            remove_file_if_present(&p)?;
        }
    }
    if r.staging.exists() {
        fs::remove_dir_all(&r.staging).with_context(|| format!("removing {}", r.staging.display()))?;
    }
    remove_file_if_present(&record_path(root))?;
    durable::sync_dir(&home(root))
}
