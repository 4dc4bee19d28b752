//! Helpers shared by the commands that replace a database (reset-complete, restore): file
//! names and removal, and who else is using the database.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use cms_db::connection::Connection;

/// `path` with `suffix` appended to its file name: `data/sqlite.db` + `-wal`.
pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes a file; one that is already gone is fine.
pub fn remove_file_if_present(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
    }
}

/// Other processes holding the database, its -wal or its -shm open: from `/proc/*/fd` on
/// Linux, else from `lsof` (macOS, BSDs). When neither can tell, an error: "nobody" must never
/// be said where we cannot see.
pub fn open_by_others(db: &Path) -> Result<Vec<String>> {
    match open_by_others_via(Path::new("/proc"), "lsof", db) {
        Err(e) if std::env::var("CMS_ASSUME_DATABASE_UNUSED").is_ok_and(|v| v == "1") => {
            eprintln!("warning: {e:#}; going on because CMS_ASSUME_DATABASE_UNUSED=1");
            Ok(Vec::new())
        }
        other => other,
    }
}

fn open_by_others_via(proc_root: &Path, lsof: &str, db: &Path) -> Result<Vec<String>> {
    let targets: Vec<PathBuf> = [db.to_path_buf(), suffixed(db, "-wal"), suffixed(db, "-shm")]
        .iter()
        .filter_map(|p| fs::canonicalize(p).ok())
        .collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    if proc_root.join("self/fd").is_dir() {
        return Ok(holders_from_proc(proc_root, &targets));
    }
    holders_from_lsof(lsof, &targets).with_context(|| {
        format!(
            "cannot tell whether another process has {} open (no {} and no working lsof); stop the server and anything else using the database, then run again with CMS_ASSUME_DATABASE_UNUSED=1",
            db.display(),
            proc_root.display()
        )
    })
}

fn holders_from_proc(proc_root: &Path, targets: &[PathBuf]) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut users = Vec::new();
    let Ok(procs) = fs::read_dir(proc_root) else { return users };
    for entry in procs.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
        if fds.flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|l| targets.contains(&l))) {
            let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            users.push(format!("pid {pid} {}", comm.trim()));
        }
    }
    users
}

/// `lsof -F pc FILE…`: one `p<pid>` line per process, then `c<command>`. It exits 1 when no
/// process has any of the files open.
fn holders_from_lsof(lsof: &str, targets: &[PathBuf]) -> Result<Vec<String>> {
    let mut args: Vec<std::ffi::OsString> = vec!["-F".into(), "pc".into()];
    args.extend(targets.iter().map(|t| t.as_os_str().to_os_string()));
    let out = duct::cmd(lsof, args).stdout_capture().stderr_null().stdin_null().unchecked().run()?;
    if !(out.status.success() || out.status.code() == Some(1)) {
        bail!("lsof failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let me = std::process::id().to_string();
    let mut users = Vec::new();
    let mut pid = None;
    for line in text.lines() {
        if let Some(p) = line.strip_prefix('p') {
            pid = Some(p.to_string());
        } else if let (Some(c), Some(p)) = (line.strip_prefix('c'), pid.take()) {
            if p != me {
                users.push(format!("pid {p} {c}"));
            }
        }
    }
    Ok(users)
}

/// Other client sessions on the same database, described for the error message.
pub fn postgres_sessions(conn: &mut Connection) -> Result<Vec<String>> {
    let Connection::Postgres(c) = conn else { bail!("not a PostgreSQL connection") };
    let rows = c.query(
        "SELECT pid, coalesce(nullif(application_name, ''), 'unnamed client'), coalesce(state, 'unknown')
           FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
          ORDER BY pid",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| format!("pid {} {} ({})", r.get::<_, i32>(0), r.get::<_, String>(1), r.get::<_, String>(2)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_append_to_the_file_name() {
        assert_eq!(suffixed(Path::new("data/sqlite.db"), "-wal"), PathBuf::from("data/sqlite.db-wal"));
    }

    /// Polls `f` until it returns something non-empty, for at most 10 s.
    fn eventually(f: impl Fn() -> Vec<String>) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = f();
            if !found.is_empty() || std::time::Instant::now() > deadline {
                return found;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn removing_a_missing_file_is_fine_and_an_open_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        remove_file_if_present(&db).unwrap();
        fs::write(&db, "x").unwrap();
        // This process holding it open does not count as another user.
        let _held = fs::File::open(&db).unwrap();
        assert!(open_by_others(&db).unwrap().is_empty());
        let mut other =
            std::process::Command::new("sleep").arg("30").stdin(fs::File::open(&db).unwrap()).spawn().unwrap();
        let via_proc = eventually(|| open_by_others(&db).unwrap());
        // Without /proc (macOS): lsof tells the same.
        let no_proc = dir.path().join("no-proc");
        let via_lsof = eventually(|| open_by_others_via(&no_proc, "lsof", &db).unwrap());
        // Neither: an error that says so, never "nobody".
        let blind = open_by_others_via(&no_proc, "/nonexistent/lsof", &db).unwrap_err();
        other.kill().unwrap();
        other.wait().unwrap();
        assert_eq!(via_proc.len(), 1, "{via_proc:?}");
        assert!(via_proc[0].contains("sleep"), "{via_proc:?}");
        assert_eq!(via_lsof.len(), 1, "{via_lsof:?}");
        assert!(via_lsof[0].contains("sleep") && via_lsof[0] == via_proc[0], "{via_lsof:?} vs {via_proc:?}");
        let blind = format!("{blind:#}");
        assert!(
            blind.contains("cannot tell whether another process has") && blind.contains("CMS_ASSUME_DATABASE_UNUSED"),
            "{blind}"
        );
        remove_file_if_present(&db).unwrap();
        assert!(!db.exists());
    }
}
