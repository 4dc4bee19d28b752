//! Temp files of runs that were killed (`kill -9`, the OOM killer, a reboot): found by name,
//! removed at the start of the next backup, restore or prune, and shown by `backup list`.
//!
//! Every temp's name carries its owner's pid, and every temp lives where git ignores it:
//!
//! - backup, in its backups folder: `.snapshot.db.tmp-PID-XXXXXXXX` (the SQLite snapshot, up
//!   to the database's size, with any `-journal`/`-wal`/`-shm` SQLite made beside it),
//!   `.snapshot.dump.tmp-PID-…` (pg_dump's output), `.<archive name>.tmp-PID-…`; restore's
//!   record is written as `.restore-in-progress.json.tmp-PID-…` in `backups/`;
//! - restore: its staging folder `backups/.restore-PID-XXXXXX/` (in the project root when
//!   `backups/` is on another filesystem than uploads/), and next to the live SQLite database
//!   the verified database `.<db>.restore-PID` (with `-wal`/`-shm`/`-journal`) and, while it
//!   swaps, the replaced one `.<db>.replaced-PID` (with `-wal`, `-shm`, `.partial`,
//!   `.from-safety-backup`);
//! - `backup verify`: `$TMPDIR/cms-verify-PID-XXXXXX/`.
//!
//! A temp is a leftover when its owner is gone: no process has its pid (`kill(pid, 0)` says
//! ESRCH), or the one that has it is a zombie. A pid can be reused: when a live process has
//! the pid but started after the temp was last written, it is not the temp's owner, and the
//! temp is a leftover too, but only where we hold the lock every writer of that temp holds
//! while it writes (the backups folder's lock, the restore lock), so that a wrong clock can
//! never make us remove a live run's temp. A temp whose owner may be alive is never touched.
//!
//! Restore's temps are looked at only while no restore runs (we hold the restore lock, or for
//! `backup list` nobody does) and no interrupted restore's record exists: the record's own
//! recovery finishes or undoes that restore and removes what it names. Restores made by
//! earlier versions named their staging folder `.restore-XXXXXX/` (project root) and their
//! record's temp `.restore-in-progress.tmp-XXXXXX` without a pid; those are leftovers only
//! under the restore lock.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The prefix of `backup verify`'s temp folder (then the pid and a dash).
pub const VERIFY_PREFIX: &str = "cms-verify-";
/// The prefix of restore's staging folder (then the pid and a dash).
pub const STAGING_PREFIX: &str = ".restore-";
/// Suffixes SQLite may add to a database file it opens.
const SQLITE_SIDE_FILES: [&str; 3] = ["-journal", "-wal", "-shm"];
/// Suffixes of the replaced database's files while restore swaps.
const REPLACED_FILES: [&str; 5] = ["-wal", "-shm", "-journal", ".partial", ".from-safety-backup"];

/// A temp of a run that is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    /// Its owner's pid (none for the unnamed temps of earlier versions).
    pub pid: Option<u32>,
    /// What removing it frees (files with other links count nothing).
    pub bytes: u64,
}

/// How restore's temps are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreTemps {
    /// Not at all: a restore runs now, or an interrupted restore's record names them.
    Skip,
    /// We hold the restore lock and there is no record: every restore temp whose owner is
    /// gone, pid reuse included, and earlier versions' unnamed ones.
    Locked,
    /// `backup list`, which takes no lock: those whose pid no process has.
    Peek,
}

/// Where to look, and which locks we hold.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The project root (earlier versions' staging folders).
    pub root: PathBuf,
    /// Backups folders, each with whether we hold its backup lock.
    pub backup_dirs: Vec<(PathBuf, bool)>,
    /// The project's `backups/`, where restore stages (whatever `--dir` says).
    pub restore_home: PathBuf,
    /// The live SQLite database, when the database is SQLite.
    pub database: Option<PathBuf>,
    pub restore: RestoreTemps,
    /// Where `backup verify` makes its temp folder.
    pub temp_dir: Option<PathBuf>,
}

/// The owner of a temp, as far as we can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Gone,
    /// Another process has the pid now: it started after the temp was last written.
    Reused,
    /// Alive, or we cannot tell.
    MaybeAlive,
}

/// Every leftover in `scope`, sorted by path.
pub fn find(scope: &Scope) -> Vec<Leftover> {
    let mut out = Vec::new();
    let mut consider = |path: PathBuf, pid: Option<u32>, locked: bool, peek: bool| {
        let Ok(meta) = fs::symlink_metadata(&path) else { return };
        let gone = match pid {
            // Earlier versions' unnamed temps: only the restore lock tells.
            None => locked && !peek,
            Some(pid) => match owner(pid, meta.modified().unwrap_or(SystemTime::now())) {
                Owner::Gone => true,
                Owner::Reused => locked && !peek,
                Owner::MaybeAlive => false,
            },
        };
        if gone && !out.iter().any(|l: &Leftover| l.path == path) {
            out.push(Leftover { bytes: size(&path, &meta), path, pid });
        }
    };
    let restore_locked = scope.restore == RestoreTemps::Locked;
    let restore_peek = scope.restore == RestoreTemps::Peek;
    let mut dirs = scope.backup_dirs.clone();
    if !dirs.iter().any(|(d, _)| same_dir(d, &scope.restore_home)) {
        dirs.push((scope.restore_home.clone(), false));
    }
    for (dir, locked) in &dirs {
        for (name, is_dir) in entries(dir) {
            if is_dir {
                continue;
            }
            if let Some(pid) = parse_tmp(&name) {
                // Restore's record temp is written under the restore lock, not the backup one.
                let restore_record = name.starts_with(".restore-in-progress.");
                let locked = if restore_record { restore_locked } else { *locked };
                consider(dir.join(&name), Some(pid), locked, false);
            } else if restore_locked && is_legacy_record_temp(&name) {
                consider(dir.join(&name), None, true, false);
            }
        }
    }
    if scope.restore != RestoreTemps::Skip {
        for dir in [&scope.restore_home, &scope.root] {
            for (name, is_dir) in entries(dir) {
                if !is_dir {
                    continue;
                }
                match parse_staging(&name) {
                    Some(Some(pid)) => consider(dir.join(&name), Some(pid), restore_locked, restore_peek),
                    Some(None) if restore_locked => consider(dir.join(&name), None, true, false),
                    _ => {}
                }
            }
        }
        if let Some(db) = &scope.database {
            if let (Some(dir), Some(db_name)) = (db.parent(), db.file_name().and_then(|n| n.to_str())) {
                for (name, is_dir) in entries(dir) {
                    if let (false, Some(pid)) = (is_dir, parse_database_temp(db_name, &name)) {
                        consider(dir.join(&name), Some(pid), restore_locked, restore_peek);
                    }
                }
            }
        }
    }
    if let Some(tmp) = &scope.temp_dir {
        // Only our own user's: another user's are theirs to clean.
        let me = unsafe { libc::geteuid() };
        for (name, is_dir) in entries(tmp) {
            if let (true, Some(pid)) = (is_dir, parse_verify(&name)) {
                let path = tmp.join(&name);
                if fs::symlink_metadata(&path).is_ok_and(|m| m.uid() == me) {
                    consider(path, Some(pid), false, false);
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Removes them; what was removed and the bytes freed. One that cannot be removed is a
/// warning, not an error: a temp must never stop a backup.
pub fn remove(found: Vec<Leftover>) -> (Vec<Leftover>, u64) {
    let mut removed = Vec::new();
    let mut freed = 0;
    for l in found {
        let result = match fs::symlink_metadata(&l.path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&l.path),
            Ok(_) => fs::remove_file(&l.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                freed += l.bytes;
                removed.push(l);
            }
            Err(e) => eprintln!("warning: cannot remove the leftover temp {}: {e}", l.path.display()),
        }
    }
    (removed, freed)
}

/// "N leftover temp file(s) of killed runs (pid …)", for one line of output.
pub fn summary(leftovers: &[Leftover]) -> String {
    let mut pids: Vec<u32> = leftovers.iter().filter_map(|l| l.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    let mut whose: Vec<String> = Vec::new();
    if !pids.is_empty() {
        whose.push(format!("pid {}", pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")));
    }
    if leftovers.iter().any(|l| l.pid.is_none()) {
        whose.push("an earlier version's restore".into());
    }
    format!("{} leftover temp file(s) of killed runs ({})", leftovers.len(), whose.join("; "))
}

/// Whether the process that made a temp (last written at `modified`) is gone.
fn owner(pid: u32, modified: SystemTime) -> Owner {
    if pid == std::process::id() {
        return Owner::MaybeAlive;
    }
    let Ok(p) = libc::pid_t::try_from(pid) else { return Owner::MaybeAlive };
    if p <= 0 {
        return Owner::MaybeAlive;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    if unsafe { libc::kill(p, 0) } != 0 {
        // EPERM: it exists, as another user.
        return if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            Owner::Gone
        } else {
            Owner::MaybeAlive
        };
    }
    match process_info(pid) {
        Some(ProcessInfo { zombie: true, .. }) => Owner::Gone,
        // The clock's resolution and /proc's boot time (whole seconds) leave a margin.
        Some(ProcessInfo { started: Some(started), .. }) if started > modified + Duration::from_secs(2) => {
            Owner::Reused
        }
        _ => Owner::MaybeAlive,
    }
}

struct ProcessInfo {
    zombie: bool,
    started: Option<SystemTime>,
}

/// Linux: state and start time from /proc/PID/stat (start in clock ticks after boot, boot time
/// from /proc/stat). Elsewhere nothing, and a live pid is taken as the owner.
fn process_info(pid: u32) -> Option<ProcessInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let zombie = matches!(fields.first(), Some(&"Z") | Some(&"X"));
    let started = (|| {
        let ticks: u64 = fields.get(19)?.parse().ok()?;
        let boot: u64 = fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|s| s.trim().parse().ok())?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + Duration::from_millis(ticks * 1000 / hz))
    })();
    Some(ProcessInfo { zombie, started })
}

/// (name, is a folder) of each entry of `dir`; nothing when it cannot be read.
fn entries(dir: &Path) -> Vec<(String, bool)> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let is_dir = e.file_type().ok()?.is_dir();
            Some((name, is_dir))
        })
        .collect()
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// Bytes freed by removing `path`: a file's size unless other names link to it, or the sum
/// over a folder.
fn size(path: &Path, meta: &fs::Metadata) -> u64 {
    if meta.is_dir() {
        let Ok(rd) = fs::read_dir(path) else { return 0 };
        rd.flatten().filter_map(|e| fs::symlink_metadata(e.path()).ok().map(|m| size(&e.path(), &m))).sum()
    } else if meta.is_file() && meta.nlink() <= 1 {
        meta.len()
    } else {
        0
    }
}

fn is_tag(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse_pid(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p > 0)
}

/// `.NAME.tmp-PID-TAG` with SQLite's side-file suffixes: backup's temps, restore's record temp.
pub fn parse_tmp(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, rest) = name.rsplit_once(".tmp-")?;
    let rest = SQLITE_SIDE_FILES.iter().find_map(|s| rest.strip_suffix(s)).unwrap_or(rest);
    let (pid, tag) = rest.split_once('-')?;
    is_tag(tag).then_some(())?;
    parse_pid(pid)
}

/// Earlier versions' record temp: `.restore-in-progress.tmp-TAG`.
fn is_legacy_record_temp(name: &str) -> bool {
    name.strip_prefix(".restore-in-progress.tmp-").is_some_and(is_tag)
}

/// A staging folder: `.restore-PID-TAG` (`Some(Some(pid))`), or an earlier version's
/// `.restore-TAG` (`Some(None)`).
pub fn parse_staging(name: &str) -> Option<Option<u32>> {
    let rest = name.strip_prefix(STAGING_PREFIX)?;
    match rest.split_once('-') {
        Some((pid, tag)) => Some(Some(parse_pid(pid).filter(|_| is_tag(tag))?)),
        None => is_tag(rest).then_some(None),
    }
}

/// `.DB.restore-PID` or `.DB.replaced-PID`, with the suffixes each may have.
pub fn parse_database_temp(db_name: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_prefix(db_name)?;
    if let Some(rest) = rest.strip_prefix(".restore-") {
        let pid = SQLITE_SIDE_FILES.iter().find_map(|s| rest.strip_suffix(s)).unwrap_or(rest);
        return parse_pid(pid);
    }
    let rest = rest.strip_prefix(".replaced-")?;
    let pid = REPLACED_FILES.iter().find_map(|s| rest.strip_suffix(s)).unwrap_or(rest);
    parse_pid(pid)
}

/// `cms-verify-PID-TAG`.
pub fn parse_verify(name: &str) -> Option<u32> {
    let (pid, tag) = name.strip_prefix(VERIFY_PREFIX)?.split_once('-')?;
    is_tag(tag).then_some(())?;
    parse_pid(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_tmp(".snapshot.db.tmp-1234-0a1b2c3d"), Some(1234));
        assert_eq!(parse_tmp(".snapshot.db.tmp-1234-0a1b2c3d-journal"), Some(1234));
        assert_eq!(parse_tmp(".20260501T100000Z-pre-restore.tar.zst.tmp-77-deadbeef"), Some(77));
        assert_eq!(parse_tmp(".restore-in-progress.json.tmp-9-Ab3xYz"), Some(9));
        for other in
            ["snapshot.db.tmp-1-a", ".backup.lock", ".x.tmp-abc-1", ".x.tmp-0-a", ".x.tmp-12-", ".x.tmp-12-a/b"]
        {
            assert_eq!(parse_tmp(other), None, "{other}");
        }
        assert_eq!(parse_staging(".restore-4321-aBc123"), Some(Some(4321)));
        assert_eq!(parse_staging(".restore-aBc123"), Some(None));
        assert_eq!(parse_staging(".restore-in-progress.json"), None);
        assert_eq!(parse_staging(".restore.lock"), None);
        assert!(is_legacy_record_temp(".restore-in-progress.tmp-aB12cd"));
        assert_eq!(parse_database_temp("sqlite.db", ".sqlite.db.restore-55"), Some(55));
        assert_eq!(parse_database_temp("sqlite.db", ".sqlite.db.restore-55-wal"), Some(55));
        assert_eq!(parse_database_temp("sqlite.db", ".sqlite.db.replaced-56.partial"), Some(56));
        assert_eq!(parse_database_temp("sqlite.db", ".sqlite.db.replaced-56-shm"), Some(56));
        assert_eq!(parse_database_temp("sqlite.db", ".other.db.restore-55"), None);
        assert_eq!(parse_database_temp("sqlite.db", "sqlite.db-wal"), None);
        assert_eq!(parse_verify("cms-verify-99-x1Y2z3"), Some(99));
        assert_eq!(parse_verify("cms-verify-x1Y2z3"), None);
    }

    /// A pid no process has: a child that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn only_temps_of_processes_that_are_gone_are_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        fs::create_dir_all(&backups).unwrap();
        let mut sleeper = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let (live, dead) = (sleeper.id(), dead_pid());
        let write = |name: String, bytes: usize| {
            let p = backups.join(name);
            fs::write(&p, vec![0u8; bytes]).unwrap();
            p
        };
        let dead_temp = write(format!(".snapshot.db.tmp-{dead}-0000abcd"), 3000);
        let live_temp = write(format!(".snapshot.db.tmp-{live}-0000abcd"), 5000);
        // The live process's pid on a temp written before it started: a reused pid.
        let reused = write(format!(".x.tar.zst.tmp-{live}-0000abcd"), 7000);
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options().write(true).open(&reused).unwrap().set_modified(hour_ago).unwrap();
        let mine = write(format!(".x.tar.zst.tmp-{}-0000abcd", std::process::id()), 11);
        write("not-ours.tmp-1-2".into(), 13);

        let scope = |locked: bool| Scope {
            root: dir.path().to_path_buf(),
            backup_dirs: vec![(backups.clone(), locked)],
            restore_home: backups.clone(),
            database: None,
            restore: RestoreTemps::Skip,
            temp_dir: None,
        };
        // Without the folder's lock a live pid is never taken for a reused one.
        let found: Vec<PathBuf> = find(&scope(false)).into_iter().map(|l| l.path).collect();
        assert_eq!(found, std::slice::from_ref(&dead_temp));
        let found = find(&scope(true));
        let paths: Vec<&PathBuf> = found.iter().map(|l| &l.path).collect();
        assert_eq!(paths, [&dead_temp, &reused], "sorted by name");
        let (removed, freed) = remove(found);
        assert_eq!((removed.len(), freed), (2, 10_000));
        assert!(!dead_temp.exists() && !reused.exists());
        assert!(live_temp.exists() && mine.exists(), "a live process's temps stay");
        let (lo, hi) = (dead.min(live), dead.max(live));
        assert_eq!(summary(&removed), format!("2 leftover temp file(s) of killed runs (pid {lo}, {hi})"));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        // Now gone: its temp is a leftover even without any lock.
        assert_eq!(find(&scope(false)).into_iter().map(|l| l.path).collect::<Vec<_>>(), [live_temp]);
    }

    #[test]
    fn restore_temps_only_when_no_restore_runs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let home = root.join("backups");
        let data = root.join("data");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&data).unwrap();
        let dead = dead_pid();
        let staging = home.join(format!(".restore-{dead}-aB12cd"));
        fs::create_dir_all(staging.join("uploads/images")).unwrap();
        fs::write(staging.join("uploads/images/a.jpg"), vec![1u8; 4096]).unwrap();
        let legacy = root.join(".restore-Zx81qq");
        fs::create_dir_all(&legacy).unwrap();
        let staged = data.join(format!(".sqlite.db.restore-{dead}"));
        fs::write(&staged, vec![2u8; 8192]).unwrap();
        let db = data.join("sqlite.db");
        fs::write(&db, b"live").unwrap();
        // A hard link to the live database frees nothing.
        let replaced = data.join(format!(".sqlite.db.replaced-{dead}"));
        fs::hard_link(&db, &replaced).unwrap();
        let scope = |restore| Scope {
            root: root.to_path_buf(),
            backup_dirs: vec![(home.clone(), true)],
            restore_home: home.clone(),
            database: Some(db.clone()),
            restore,
            temp_dir: None,
        };
        assert!(find(&scope(RestoreTemps::Skip)).is_empty());
        let peek: Vec<PathBuf> = find(&scope(RestoreTemps::Peek)).into_iter().map(|l| l.path).collect();
        assert_eq!(peek, [staging.clone(), replaced.clone(), staged.clone()], "no unnamed folder without the lock");
        let found = find(&scope(RestoreTemps::Locked));
        assert_eq!(found.len(), 4, "{found:?}");
        let (removed, freed) = remove(found);
        assert_eq!((removed.len(), freed), (4, 4096 + 8192));
        assert!(db.exists() && !legacy.exists() && !staging.exists() && !staged.exists() && !replaced.exists());
    }
}
