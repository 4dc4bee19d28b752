//! Helpers shared by the commands that replace a database (reset-complete, restore): file
//! names and removal, and who else is using the database.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use server::db::connection::Connection;

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

/// Other processes holding the database, its -wal or its -shm open (Linux: /proc/*/fd).
pub fn open_by_others(db: &Path) -> Vec<String> {
    let targets: Vec<PathBuf> = [db.to_path_buf(), suffixed(db, "-wal"), suffixed(db, "-shm")]
        .iter()
        .filter_map(|p| fs::canonicalize(p).ok())
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let me = std::process::id().to_string();
    let mut users = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else { return users };
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

    #[test]
    fn removing_a_missing_file_is_fine_and_an_open_file_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        remove_file_if_present(&db).unwrap();
        fs::write(&db, "x").unwrap();
        // This process holding it open does not count as another user.
        let _held = fs::File::open(&db).unwrap();
        assert!(open_by_others(&db).is_empty());
        let mut other =
            std::process::Command::new("sleep").arg("5").stdin(fs::File::open(&db).unwrap()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let users = open_by_others(&db);
        other.kill().unwrap();
        other.wait().unwrap();
        assert_eq!(users.len(), 1, "{users:?}");
        assert!(users[0].contains("sleep"), "{users:?}");
        remove_file_if_present(&db).unwrap();
        assert!(!db.exists());
    }
}
