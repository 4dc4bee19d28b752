//! A restore killed with `kill -9` at real points of its swap, through the real binary: on
//! SQLite between its two renames (database, uploads/), on PostgreSQL while pg_restore runs.
//! The next restore, backup or reset-complete says so and brings the database and uploads/
//! back together (finishing or undoing the restore), and no pg_restore of a killed restore
//! lives on to commit later.
//!
//! The binary pauses at a named point when `CMS_TEST_PAUSE_AT` names it: it writes its pid to
//! `CMS_TEST_PAUSE_FILE` and waits until that file is deleted.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

const DEADLINE: Duration = Duration::from_secs(120);

/// Polls `ready` until it holds; fails the test after `within`. Tests wait for conditions,
/// never for a fixed time.
fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "gave up after {within:?} waiting until {what}");
        // The pause between two checks of the condition, not a wait for it.
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Project {
    dir: tempfile::TempDir,
    /// PostgreSQL: the database URL; SQLite (data/sqlite.db) otherwise.
    url: Option<String>,
}

impl Project {
    fn new(url: Option<&str>) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::os::unix::fs::symlink(repo.join("migrations"), dir.path().join("migrations")).unwrap();
        Project { dir, url: url.map(String::from) }
    }

    /// Migrated and seeded, with uploads (nested folders, an empty file).
    fn seeded(url: Option<&str>) -> Project {
        let p = Project::new(url);
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed", "--seed", "3"]).assert().success();
        let up = p.root().join("uploads");
        fs::create_dir_all(up.join("images/2026")).unwrap();
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend((0..200_000).map(|_| fastrand::u8(..)));
        fs::write(up.join("images/hero.jpg"), &jpeg).unwrap();
        fs::write(up.join("images/2026/notes.txt"), "notes ".repeat(1000)).unwrap();
        fs::write(up.join("empty.bin"), b"").unwrap();
        p
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A path relative to the project root.
    fn show(&self, p: &Path) -> String {
        p.strip_prefix(self.root()).unwrap().to_string_lossy().into_owned()
    }

    fn db(&self) -> PathBuf {
        self.root().join("data/sqlite.db")
    }

    fn env(&self, cmd: &mut StdCommand) {
        cmd.env("CMS_PROJECT_ROOT", self.root()).current_dir("/");
        match &self.url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        cmd.env_remove("CMS_TEST_PAUSE_AT").env_remove("CMS_TEST_PAUSE_FILE");
    }

    fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("xtask"));
        self.env(&mut cmd);
        cmd.args(args);
        let mut cmd = Command::from_std(cmd);
        cmd.timeout(DEADLINE);
        cmd
    }

    /// Starts `xtask args` so that it pauses at `point`; returns once it is paused there.
    fn paused(&self, args: &[&str], point: &str) -> Paused {
        let marker = self.root().join(format!("paused-{}", point.replace(':', "-")));
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("xtask"));
        self.env(&mut cmd);
        cmd.args(args)
            .env("CMS_TEST_PAUSE_AT", point)
            .env("CMS_TEST_PAUSE_FILE", &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Paused { child: cmd.spawn().unwrap(), marker };
        wait_until(&format!("xtask {args:?} reaches {point}"), DEADLINE, || {
            if let Some(status) = child.child.try_wait().unwrap() {
                let out = child.child.wait_with_output_now();
                panic!("xtask {args:?} ended ({status}) before reaching {point}:\n{out}");
            }
            child.marker.exists()
        });
        child
    }

    /// The newest archive whose name does not contain `pre-`.
    fn archive(&self) -> PathBuf {
        let mut v: Vec<PathBuf> = fs::read_dir(self.root().join("backups"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.ends_with(".tar.zst") && !n.contains("pre-")
            })
            .collect();
        v.sort();
        v.pop().expect("a backup archive")
    }

    /// Every row of every table, as text (SQLite, or the PostgreSQL database).
    fn rows(&self) -> String {
        match &self.url {
            None => {
                let conn = rusqlite::Connection::open_with_flags(
                    self.db(),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .unwrap();
                let tables: Vec<String> = conn
                    .prepare(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1",
                    )
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let mut out = String::new();
                for t in tables {
                    let mut st = conn.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1")).unwrap();
                    let n = st.column_count();
                    let rows = st
                        .query_map([], |r| {
                            Ok((0..n)
                                .map(|i| match r.get_ref(i).unwrap() {
                                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                                    other => format!("{other:?}"),
                                })
                                .collect::<Vec<_>>()
                                .join("|"))
                        })
                        .unwrap();
                    for row in rows {
                        out.push_str(&format!("{t}: {}\n", row.unwrap()));
                    }
                }
                out
            }
            Some(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                let tables: Vec<String> = client
                    .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", &[])
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut out = String::new();
                for t in tables {
                    for row in client.query(&format!("SELECT t::text FROM \"{t}\" t ORDER BY 1"), &[]).unwrap() {
                        let s: String = row.get(0);
                        out.push_str(&format!("{t}: {s}\n"));
                    }
                }
                out
            }
        }
    }

    /// Every file and folder under uploads/ with its SHA-256 (empty when there is none).
    fn uploads(&self) -> BTreeMap<String, String> {
        fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                if e.file_type().unwrap().is_dir() {
                    out.insert(format!("{name}/"), "dir".into());
                    walk(&e.path(), &format!("{name}/"), out);
                } else {
                    out.insert(name, test_support::sha256_hex(&fs::read(e.path()).unwrap()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root().join("uploads"), "", &mut out);
        out
    }

    fn state(&self) -> State {
        State { rows: self.rows(), uploads: self.uploads() }
    }

    /// Changes the database and uploads/ after the backup, so each side is recognisable.
    fn change(&self) {
        match &self.url {
            None => {
                let conn = rusqlite::Connection::open(self.db()).unwrap();
                conn.execute_batch("PRAGMA foreign_keys=OFF; DELETE FROM posts; UPDATE pages SET slug = slug || '-b';")
                    .unwrap();
            }
            Some(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                client.batch_execute("DELETE FROM posts; UPDATE pages SET slug = slug || '-b'").unwrap();
            }
        }
        fs::remove_file(self.root().join("uploads/images/hero.jpg")).unwrap();
        fs::write(self.root().join("uploads/added-after-the-backup.txt"), "b").unwrap();
    }

    /// What a restore may leave behind: the record, staging folders, staged and kept
    /// database files.
    fn leftovers(&self) -> Vec<String> {
        let mut v = Vec::new();
        for dir in [self.root().join("backups"), self.root().to_path_buf(), self.root().join("data")] {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".restore-") || name.contains(".restore-") || name.contains(".replaced-") {
                    v.push(name);
                }
            }
        }
        v
    }

    /// Temp files of killed runs wherever a backup or restore puts them (backups/, the project
    /// root, data/), each with the bytes under it.
    fn temps(&self) -> Vec<(PathBuf, u64)> {
        fn bytes(p: &Path) -> u64 {
            let meta = fs::symlink_metadata(p).unwrap();
            if meta.is_dir() {
                fs::read_dir(p).unwrap().flatten().map(|e| bytes(&e.path())).sum()
            } else {
                meta.len()
            }
        }
        let mut v = Vec::new();
        for dir in [self.root().join("backups"), self.root().to_path_buf(), self.root().join("data")] {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let temp = name.starts_with('.') && name.contains(".tmp-")
                    || (name.starts_with(".restore-") && name != ".restore-in-progress.json")
                    || name.contains(".restore-")
                    || name.contains(".replaced-");
                if temp {
                    v.push((e.path(), bytes(&e.path())));
                }
            }
        }
        v.sort();
        v
    }

    /// Makes the project a git repository with this repository's .gitignore.
    fn git_init(&self) {
        fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.gitignore"), self.root().join(".gitignore")).unwrap();
        let ok = StdCommand::new("git").args(["init", "-q"]).current_dir(self.root()).status().unwrap();
        assert!(ok.success());
    }

    /// What `git status` shows as untracked (every file), but the test's own pause markers.
    fn git_untracked(&self) -> Vec<String> {
        let out = StdCommand::new("git")
            .args(["status", "--porcelain", "--untracked-files=all"])
            .current_dir(self.root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.contains("paused-")).map(String::from).collect()
    }

    /// The staging folder of a restore that was killed (in backups/, which git ignores).
    fn staging(&self) -> PathBuf {
        fs::read_dir(self.root().join("backups"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with(".restore-"))
            .expect("the killed restore's staging folder")
    }
}

#[derive(Debug, PartialEq, Eq)]
struct State {
    rows: String,
    uploads: BTreeMap<String, String>,
}

/// A paused xtask; killed on drop if the test ends early.
struct Paused {
    child: Child,
    marker: PathBuf,
}

trait OutputNow {
    fn wait_with_output_now(&mut self) -> String;
}

impl OutputNow for Child {
    fn wait_with_output_now(&mut self) -> String {
        use std::io::Read as _;
        let mut out = String::new();
        if let Some(mut s) = self.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = self.stderr.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }
}

impl Paused {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it go on past the pause point.
    fn resume(&self) {
        fs::remove_file(&self.marker).unwrap();
    }

    /// `kill -9`, the exit reaped; what it had printed.
    fn kill9_output(mut self) -> String {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
        self.child.wait_with_output_now()
    }

    /// `kill -9`, and the exit reaped.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "{status}");
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Processes whose parent is `parent` and whose name is `comm`, with their command lines.
fn children_named(parent: u32, comm: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if name == comm && ppid == Some(parent) {
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            out.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    out
}

/// Whether `pid` is still a live `comm` (not gone, not a zombie, not a reused pid).
fn alive(pid: u32, comm: &str) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some((head, rest)) = stat.rsplit_once(')') else { return false };
    let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
    name == comm && !rest.trim_start().starts_with('Z')
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

/// SQLite: backup (state A), change (state B); returns the archive's name and both states.
fn sqlite_a_and_b() -> (Project, String, State, State) {
    let p = Project::seeded(None);
    p.xtask(&["backup", "--quiet"]).assert().success();
    let archive = p.archive().file_name().unwrap().to_string_lossy().into_owned();
    let a = p.state();
    p.change();
    let b = p.state();
    assert_ne!(a.rows, b.rows);
    assert_ne!(a.uploads, b.uploads);
    (p, archive, a, b)
}

#[test]
fn sqlite_killed_between_its_two_renames_is_finished_by_the_next_backup() {
    let (p, archive, a, b) = sqlite_a_and_b();
    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-database-swap");
    paused.kill9();
    // The window is real: the database is the backup's, uploads/ still the old one.
    assert_eq!(p.rows(), a.rows, "the database was swapped before the kill");
    assert_eq!(p.uploads(), b.uploads, "uploads/ was not swapped before the kill");

    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found"), "{out}");
    assert!(out.contains("after the database was replaced, before uploads/ was"), "{out}");
    assert!(out.contains("finishing it") && out.contains("finished: the database and uploads/ are both from"), "{out}");
    assert_eq!(p.state(), a, "database and uploads/ both from the backup");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    // The backup that followed holds that one state, and a second command finds nothing.
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    let again = stdout_of(&mut p.xtask(&["backup"]));
    assert!(!again.contains("interrupted"), "{again}");
}

#[test]
fn sqlite_killed_with_uploads_moved_aside_is_finished_by_the_next_restore() {
    let (p, archive, a, _b) = sqlite_a_and_b();
    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-old-uploads-aside");
    paused.kill9();
    assert!(!p.root().join("uploads").exists(), "killed with uploads/ moved aside");

    let out = stdout_of(&mut p.xtask(&["restore", &archive, "--yes"]));
    assert!(out.contains("interrupted restore found") && out.contains("finished:"), "{out}");
    assert!(out.contains("and uploads/ in"), "the new restore ran too: {out}");
    assert_eq!(p.state(), a);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sqlite_killed_with_a_damaged_staging_folder_is_undone() {
    let (p, archive, _a, b) = sqlite_a_and_b();
    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-database-swap");
    paused.kill9();
    // What was staged no longer matches the archive: finishing would give the wrong uploads.
    fs::write(p.staging().join("uploads/images/hero.jpg"), b"not the backed-up bytes").unwrap();

    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found"), "{out}");
    assert!(out.contains("undoing it: the staged uploads/ no longer matches the archive's checksums"), "{out}");
    assert!(out.contains("undone: the database and uploads/ are as they were before that restore"), "{out}");
    assert_eq!(p.state(), b, "database and uploads/ both as before the restore");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sqlite_undo_puts_the_old_database_back_with_its_wal() {
    let (p, archive, _a, _b) = sqlite_a_and_b();
    // The live database as a crashed writer leaves it: committed rows only in its -wal.
    let wal = p.root().join("data/sqlite.db-wal");
    let conn = rusqlite::Connection::open(p.db()).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; UPDATE pages SET slug = slug || '-wal';")
        .unwrap();
    let (main, log) = (fs::read(p.db()).unwrap(), fs::read(&wal).unwrap());
    let with_wal = p.state();
    drop(conn);
    let alone = p.root().join("main-file-alone.db");
    fs::write(&alone, &main).unwrap();
    let in_main: i64 = rusqlite::Connection::open(&alone)
        .unwrap()
        .query_row("SELECT count(*) FROM pages WHERE slug LIKE '%-wal'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(in_main, 0, "the change is not in the main file");
    fs::remove_file(&alone).unwrap();
    fs::write(p.db(), &main).unwrap();
    fs::write(&wal, &log).unwrap();
    assert_eq!(p.state(), with_wal, "the rows are in the -wal");

    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-database-swap");
    paused.kill9();
    fs::remove_file(p.staging().join("uploads/images/2026/notes.txt")).unwrap();
    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("undoing it: the staged uploads/ no longer matches"), "{out}");
    assert_eq!(p.state(), with_wal, "the old database is back with its -wal");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn sqlite_killed_before_replacing_anything_is_undone_by_reset_complete() {
    let (p, archive, _a, _b) = sqlite_a_and_b();
    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-intent");
    paused.kill9();
    let out = stdout_of(&mut p.xtask(&["reset-complete", "--yes", "--no-images"]));
    assert!(out.contains("interrupted restore found") && out.contains("before it replaced anything"), "{out}");
    assert!(out.contains("undone:"), "{out}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_running_restore_is_not_taken_for_an_interrupted_one() {
    let (p, archive, a, _b) = sqlite_a_and_b();
    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-database-swap");
    // Its record is there, but so is the restore: a backup now neither finishes nor undoes it.
    assert!(p.root().join("backups/.restore-in-progress.json").exists());
    let out = p.xtask(&["backup"]).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("interrupted restore found"), "{text}");
    assert_eq!(out.status.code(), Some(3), "the restore holds the backup lock: {text}");
    paused.resume();
    let mut paused = paused;
    let status = paused.child.wait().unwrap();
    assert!(status.success(), "{status}: {}", paused.child.wait_with_output_now());
    assert_eq!(p.state(), a);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

/// PostgreSQL: backup (state A), change (state B), then a restore of A killed with `kill -9`
/// while its pg_restore runs (held up by a lock the test takes). Checks that the pg_restore
/// dies with it and commits nothing.
fn postgres_killed_during_pg_restore(db: &test_support::pg::TestDb) -> (Project, State, State) {
    let p = Project::seeded(Some(db.url()));
    p.xtask(&["backup", "--quiet"]).assert().success();
    let archive = p.archive().file_name().unwrap().to_string_lossy().into_owned();
    let a = p.state();
    p.change();
    let b = p.state();
    assert_ne!(a.rows, b.rows);

    let paused = p.paused(&["restore", &archive, "--yes"], "restore:before-pg-restore");
    // Hold a lock pg_restore's --clean needs, so it is still running when the restore dies.
    let mut blocker = db.client();
    blocker.batch_execute("BEGIN; LOCK TABLE posts IN ACCESS SHARE MODE").unwrap();
    paused.resume();
    let mut pg_restore = None;
    wait_until("a pg_restore --single-transaction is started", DEADLINE, || {
        let found = children_named(paused.pid(), "pg_restore");
        pg_restore = found.into_iter().find(|(_, c)| c.contains("--single-transaction"));
        pg_restore.is_some()
    });
    let pg_restore = pg_restore.unwrap();
    // It is waiting for our lock.
    let mut watcher = db.client();
    wait_until("pg_restore waits for the lock", DEADLINE, || {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_restore' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        waiting > 0
    });
    paused.kill9();

    // The orphan dies with its parent instead of committing once the lock is free.
    wait_until(
        &format!("pg_restore {} dies with the killed restore ({})", pg_restore.0, pg_restore.1),
        Duration::from_secs(20),
        || !alive(pg_restore.0, "pg_restore"),
    );
    blocker.batch_execute("ROLLBACK").unwrap();
    drop(blocker);
    // Its server session ends too, with nothing committed.
    wait_until("the killed pg_restore's session ends", DEADLINE, || {
        let left: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_restore'",
                &[],
            )
            .unwrap()
            .get(0);
        left == 0
    });
    drop(watcher);
    assert_eq!(p.state(), b, "the database is entirely the old one, and so is uploads/");
    (p, a, b)
}

#[test]
fn postgres_killed_while_pg_restore_runs_leaves_no_pg_restore_and_the_next_command_finishes_it() {
    let Some(db) = test_support::pg::database() else { return };
    let (p, a, _b) = postgres_killed_during_pg_restore(&db);
    // The next command finishes the restore: the verified dump again, then uploads/.
    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found") && out.contains("while pg_restore was running"), "{out}");
    assert!(out.contains("finished: the database and uploads/ are both from"), "{out}");
    assert_eq!(p.state(), a, "database and uploads/ both from the backup");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    let again = stdout_of(&mut p.xtask(&["backup"]));
    assert!(!again.contains("interrupted"), "{again}");
}

#[test]
fn postgres_killed_with_a_damaged_staging_folder_is_undone_from_the_safety_backup() {
    let Some(db) = test_support::pg::database() else { return };
    let (p, _a, b) = postgres_killed_during_pg_restore(&db);
    fs::remove_file(p.staging().join("postgres.dump")).unwrap();
    // pg_restore may have committed as far as the record can tell: the database comes back
    // from the safety backup, uploads/ was never moved.
    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found") && out.contains("while pg_restore was running"), "{out}");
    assert!(out.contains("undoing it: pg_restore may have committed, and the staged dump is gone or damaged"), "{out}");
    assert!(out.contains("undone:"), "{out}");
    assert_eq!(p.state(), b, "database and uploads/ both as before the restore");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

/// "removed N leftover temp file(s) of killed runs (pid P): freed X" for these temps.
fn removed_line(pid: u32, temps: &[(PathBuf, u64)]) -> String {
    let bytes: u64 = temps.iter().map(|(_, n)| n).sum();
    format!(
        "removed {} leftover temp file(s) of killed runs (pid {pid}): freed {}\n",
        temps.len(),
        indicatif::HumanBytes(bytes)
    )
}

#[test]
fn temps_of_killed_restores_are_ignored_by_git_and_removed_by_the_next_restore_or_prune() {
    let (p, archive, a, b) = sqlite_a_and_b();
    p.git_init();
    let untracked = p.git_untracked();
    assert!(untracked.iter().all(|l| !l.contains("backups/") && !l.contains("data/")), "{untracked:?}");

    // 1. Killed once everything is verified, before the safety backup: the staging folder
    //    (backups/.restore-PID-…/) and the staged database (data/.sqlite.db.restore-PID) stay.
    let killed = p.paused(&["restore", &archive, "--yes"], "restore:verified");
    let first = killed.pid();
    killed.kill9();
    let temps = p.temps();
    let names: Vec<String> = temps.iter().map(|(t, _)| p.show(t)).collect();
    assert!(names.iter().any(|n| n.starts_with(&format!("backups/.restore-{first}-"))), "{names:?}");
    assert!(names.contains(&format!("data/.sqlite.db.restore-{first}")), "{names:?}");
    assert_eq!(p.git_untracked(), untracked, "git ignores every temp");
    assert_eq!(p.state(), b, "nothing live was changed");
    let list = stdout_of(&mut p.xtask(&["backup", "list"]));
    assert!(
        list.contains(&format!("found {} leftover temp file(s) of killed runs (pid {first})", temps.len())),
        "{list}"
    );

    // 2. The next restore removes them, says how much it freed, and is itself killed while it
    //    takes its safety backup: its own staging, staged database and snapshot stay.
    let killed = p.paused(&["restore", &archive, "--yes"], "backup:after-snapshot");
    let second = killed.pid();
    let out = killed.kill9_output();
    assert!(out.contains(&removed_line(first, &temps)), "{out}");
    let temps = p.temps();
    let names: Vec<String> = temps.iter().map(|(t, _)| p.show(t)).collect();
    assert!(names.iter().all(|n| n.contains(&second.to_string())), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with(&format!("backups/.snapshot.db.tmp-{second}-"))), "{names:?}");
    assert_eq!(p.git_untracked(), untracked, "git ignores every temp");

    // 3. So does prune; then a restore goes through, leaving nothing.
    let out = stdout_of(&mut p.xtask(&["backup", "prune", "--keep-last", "5"]));
    assert!(out.contains(&removed_line(second, &temps)), "{out}");
    assert!(p.temps().is_empty(), "{:?}", p.temps());
    let out = stdout_of(&mut p.xtask(&["restore", &archive, "--yes"]));
    assert!(!out.contains("leftover"), "{out}");
    assert_eq!(p.state(), a);
    assert!(p.temps().is_empty() && p.leftovers().is_empty(), "{:?}", p.temps());

    // 4. Without a database to back up, the old uploads/ is kept in backups/, ignored too.
    fs::remove_file(p.db()).unwrap();
    let out = stdout_of(&mut p.xtask(&["restore", &archive, "--yes"]));
    assert!(out.contains("the current uploads/ will be kept as backups/uploads.pre-restore-"), "{out}");
    assert_eq!(p.git_untracked(), untracked, "git ignores the kept uploads/");
}
