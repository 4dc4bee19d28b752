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
use std::process::Command as StdCommand;
use std::time::Duration;

use assert_cmd::Command;
use test_support::backups;
use test_support::process::{alive, children_named, wait_until, DEADLINE};
use test_support::project::Project;
use test_support::{pg, rows};

/// The repository's migrations, on SQLite (the project's `data/sqlite.db`, no `DATABASE_URL`)
/// or on the PostgreSQL database at `url`; commands stop at no test pause point unless
/// [`Project::paused`] says so, and each may take [`DEADLINE`] at most.
fn project(url: Option<&str>) -> Project {
    let p = Project::linked().env_remove("CMS_TEST_PAUSE_AT").env_remove("CMS_TEST_PAUSE_FILE").timeout(DEADLINE);
    match url {
        Some(url) => p.with_database_url(url),
        None => p,
    }
}

/// Migrated and seeded, with uploads (nested folders, an empty file).
fn seeded(url: Option<&str>) -> Project {
    let p = project(url);
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

/// A path relative to the project root.
fn show(p: &Project, path: &Path) -> String {
    path.strip_prefix(p.root()).unwrap().to_string_lossy().into_owned()
}

/// The newest archive whose name does not contain `pre-`.
fn archive(p: &Project) -> PathBuf {
    let mut v = backups::archives(&p.root().join("backups"));
    v.retain(|a| !a.file_name().unwrap().to_string_lossy().contains("pre-"));
    v.pop().expect("a backup archive")
}

/// Every row of every table (Drizzle's bookkeeping included), as text: SQLite, or the
/// PostgreSQL database.
fn table_rows(p: &Project) -> String {
    match p.database_url() {
        None => rows::sqlite(&p.sqlite_db(), &[]),
        Some(url) => rows::postgres(&mut postgres::Client::connect(url, postgres::NoTls).unwrap(), &[]),
    }
}

fn state(p: &Project) -> State {
    State { rows: table_rows(p), uploads: backups::uploads(p.root()) }
}

/// Changes the database and uploads/ after the backup, so each side is recognisable.
fn change(p: &Project) {
    match p.database_url() {
        None => {
            let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
            conn.execute_batch("PRAGMA foreign_keys=OFF; DELETE FROM posts; UPDATE pages SET slug = slug || '-b';")
                .unwrap();
        }
        Some(url) => {
            let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
            client.batch_execute("DELETE FROM posts; UPDATE pages SET slug = slug || '-b'").unwrap();
        }
    }
    fs::remove_file(p.root().join("uploads/images/hero.jpg")).unwrap();
    fs::write(p.root().join("uploads/added-after-the-backup.txt"), "b").unwrap();
}

/// What a restore may leave behind: the record, staging folders, staged and kept database
/// files.
fn leftovers(p: &Project) -> Vec<String> {
    let mut v = Vec::new();
    for dir in [p.root().join("backups"), p.root().to_path_buf(), p.root().join("data")] {
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
fn temp_files(p: &Project) -> Vec<(PathBuf, u64)> {
    fn bytes(p: &Path) -> u64 {
        let meta = fs::symlink_metadata(p).unwrap();
        if meta.is_dir() {
            fs::read_dir(p).unwrap().flatten().map(|e| bytes(&e.path())).sum()
        } else {
            meta.len()
        }
    }
    let mut v = Vec::new();
    for dir in [p.root().join("backups"), p.root().to_path_buf(), p.root().join("data")] {
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
fn git_init(p: &Project) {
    fs::copy(test_support::project_root().join(".gitignore"), p.root().join(".gitignore")).unwrap();
    let ok = StdCommand::new("git").args(["init", "-q"]).current_dir(p.root()).status().unwrap();
    assert!(ok.success());
}

/// What `git status` shows as untracked (every file), but the test's own pause markers.
fn git_untracked(p: &Project) -> Vec<String> {
    let out = StdCommand::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(p.root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.contains("paused-")).map(String::from).collect()
}

/// The staging folder of a restore that was killed (in backups/, which git ignores).
fn staging(p: &Project) -> PathBuf {
    fs::read_dir(p.root().join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with(".restore-"))
        .expect("the killed restore's staging folder")
}

#[derive(Debug, PartialEq, Eq)]
struct State {
    rows: String,
    uploads: BTreeMap<String, String>,
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

/// SQLite: backup (state A), change (state B); returns the archive's name and both states.
fn sqlite_a_and_b() -> (Project, String, State, State) {
    a_and_b(None)
}

/// On SQLite (`url` none) or the PostgreSQL database at `url`: backup (state A), change (state
/// B); returns the archive's name and both states.
fn a_and_b(url: Option<&str>) -> (Project, String, State, State) {
    let p = seeded(url);
    p.xtask(&["backup", "--quiet"]).assert().success();
    let archive = archive(&p).file_name().unwrap().to_string_lossy().into_owned();
    let a = state(&p);
    change(&p);
    let b = state(&p);
    assert_ne!(a.rows, b.rows);
    assert_ne!(a.uploads, b.uploads);
    (p, archive, a, b)
}

/// [`sqlite_a_and_b`], then a restore of A killed with `kill -9` at `point`.
fn sqlite_restore_killed_at(point: &str) -> (Project, String, State, State) {
    let (p, archive, a, b) = sqlite_a_and_b();
    p.paused(&["restore", &archive, "--yes"], point).kill9();
    (p, archive, a, b)
}

#[test]
fn sqlite_killed_between_its_two_renames_is_finished_by_the_next_backup() {
    let (p, _archive, a, b) = sqlite_restore_killed_at("restore:after-database-swap");
    // The window is real: the database is the backup's, uploads/ still the old one.
    assert_eq!(table_rows(&p), a.rows, "the database was swapped before the kill");
    assert_eq!(backups::uploads(p.root()), b.uploads, "uploads/ was not swapped before the kill");

    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found"), "{out}");
    assert!(out.contains("after the database was replaced, before uploads/ was"), "{out}");
    assert!(out.contains("finishing it") && out.contains("finished: the database and uploads/ are both from"), "{out}");
    assert_eq!(state(&p), a, "database and uploads/ both from the backup");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    // The backup that followed holds that one state, and a second command finds nothing.
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    let again = stdout_of(&mut p.xtask(&["backup"]));
    assert!(!again.contains("interrupted"), "{again}");
}

#[test]
fn sqlite_killed_with_uploads_moved_aside_is_finished_by_the_next_restore() {
    let (p, archive, a, _b) = sqlite_restore_killed_at("restore:after-old-uploads-aside");
    assert!(!p.root().join("uploads").exists(), "killed with uploads/ moved aside");

    let out = stdout_of(&mut p.xtask(&["restore", &archive, "--yes"]));
    assert!(out.contains("interrupted restore found") && out.contains("finished:"), "{out}");
    assert!(out.contains("and uploads/ in"), "the new restore ran too: {out}");
    assert_eq!(state(&p), a);
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
}

#[test]
fn sqlite_killed_with_a_damaged_staging_folder_is_undone() {
    let (p, _archive, _a, b) = sqlite_restore_killed_at("restore:after-database-swap");
    // What was staged no longer matches the archive: finishing would give the wrong uploads.
    fs::write(staging(&p).join("uploads/images/hero.jpg"), b"not the backed-up bytes").unwrap();

    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found"), "{out}");
    assert!(out.contains("undoing it: the staged uploads/ no longer matches the archive's checksums"), "{out}");
    assert!(out.contains("undone: the database and uploads/ are as they were before that restore"), "{out}");
    assert_eq!(state(&p), b, "database and uploads/ both as before the restore");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
}

#[test]
fn sqlite_undo_puts_the_old_database_back_with_its_wal() {
    let (p, archive, _a, _b) = sqlite_a_and_b();
    // The live database as a crashed writer leaves it: committed rows only in its -wal.
    let wal = p.root().join("data/sqlite.db-wal");
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; UPDATE pages SET slug = slug || '-wal';")
        .unwrap();
    let (main, log) = (fs::read(p.sqlite_db()).unwrap(), fs::read(&wal).unwrap());
    let with_wal = state(&p);
    drop(conn);
    let alone = p.root().join("main-file-alone.db");
    fs::write(&alone, &main).unwrap();
    let in_main: i64 = rusqlite::Connection::open(&alone)
        .unwrap()
        .query_row("SELECT count(*) FROM pages WHERE slug LIKE '%-wal'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(in_main, 0, "the change is not in the main file");
    fs::remove_file(&alone).unwrap();
    fs::write(p.sqlite_db(), &main).unwrap();
    fs::write(&wal, &log).unwrap();
    assert_eq!(state(&p), with_wal, "the rows are in the -wal");

    let paused = p.paused(&["restore", &archive, "--yes"], "restore:after-database-swap");
    paused.kill9();
    fs::remove_file(staging(&p).join("uploads/images/2026/notes.txt")).unwrap();
    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("undoing it: the staged uploads/ no longer matches"), "{out}");
    assert_eq!(state(&p), with_wal, "the old database is back with its -wal");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
}

#[test]
fn sqlite_killed_before_replacing_anything_is_undone_by_reset_complete() {
    let (p, _archive, _a, _b) = sqlite_restore_killed_at("restore:after-intent");
    let out = stdout_of(&mut p.xtask(&["reset-complete", "--yes", "--no-images"]));
    assert!(out.contains("interrupted restore found") && out.contains("before it replaced anything"), "{out}");
    assert!(out.contains("undone:"), "{out}");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
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
    paused.resume_and_finish();
    assert_eq!(state(&p), a);
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
}

/// PostgreSQL: backup (state A), change (state B), then a restore of A killed with `kill -9`
/// while its pg_restore runs (held up by a lock the test takes). Checks that the pg_restore
/// dies with it and commits nothing.
fn postgres_killed_during_pg_restore(db: &test_support::pg::TestDb) -> (Project, State, State) {
    let (p, archive, a, b) = a_and_b(Some(db.url()));
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
        pg::sessions_waiting_for_a_lock(&mut watcher, "pg_restore") > 0
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
    wait_until("the killed pg_restore's session ends", DEADLINE, || pg::sessions_of(&mut watcher, "pg_restore") == 0);
    drop(watcher);
    assert_eq!(state(&p), b, "the database is entirely the old one, and so is uploads/");
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
    assert_eq!(state(&p), a, "database and uploads/ both from the backup");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    let again = stdout_of(&mut p.xtask(&["backup"]));
    assert!(!again.contains("interrupted"), "{again}");
}

#[test]
fn postgres_killed_with_a_damaged_staging_folder_is_undone_from_the_safety_backup() {
    let Some(db) = test_support::pg::database() else { return };
    let (p, _a, b) = postgres_killed_during_pg_restore(&db);
    fs::remove_file(staging(&p).join("postgres.dump")).unwrap();
    // pg_restore may have committed as far as the record can tell: the database comes back
    // from the safety backup, uploads/ was never moved.
    let out = stdout_of(&mut p.xtask(&["backup"]));
    assert!(out.contains("interrupted restore found") && out.contains("while pg_restore was running"), "{out}");
    assert!(out.contains("undoing it: pg_restore may have committed, and the staged dump is gone or damaged"), "{out}");
    assert!(out.contains("undone:"), "{out}");
    assert_eq!(state(&p), b, "database and uploads/ both as before the restore");
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
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
    git_init(&p);
    let untracked = git_untracked(&p);
    assert!(untracked.iter().all(|l| !l.contains("backups/") && !l.contains("data/")), "{untracked:?}");

    // 1. Killed once everything is verified, before the safety backup: the staging folder
    //    (backups/.restore-PID-…/) and the staged database (data/.sqlite.db.restore-PID) stay.
    let killed = p.paused(&["restore", &archive, "--yes"], "restore:verified");
    let first = killed.pid();
    killed.kill9();
    let temps = temp_files(&p);
    let names: Vec<String> = temps.iter().map(|(t, _)| show(&p, t)).collect();
    assert!(names.iter().any(|n| n.starts_with(&format!("backups/.restore-{first}-"))), "{names:?}");
    assert!(names.contains(&format!("data/.sqlite.db.restore-{first}")), "{names:?}");
    assert_eq!(git_untracked(&p), untracked, "git ignores every temp");
    assert_eq!(state(&p), b, "nothing live was changed");
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
    let temps = temp_files(&p);
    let names: Vec<String> = temps.iter().map(|(t, _)| show(&p, t)).collect();
    assert!(names.iter().all(|n| n.contains(&second.to_string())), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with(&format!("backups/.snapshot.db.tmp-{second}-"))), "{names:?}");
    assert_eq!(git_untracked(&p), untracked, "git ignores every temp");

    // 3. So does prune; then a restore goes through, leaving nothing.
    let out = stdout_of(&mut p.xtask(&["backup", "prune", "--keep-last", "5"]));
    assert!(out.contains(&removed_line(second, &temps)), "{out}");
    assert!(temp_files(&p).is_empty(), "{:?}", temp_files(&p));
    let out = stdout_of(&mut p.xtask(&["restore", &archive, "--yes"]));
    assert!(!out.contains("leftover"), "{out}");
    assert_eq!(state(&p), a);
    assert!(temp_files(&p).is_empty() && leftovers(&p).is_empty(), "{:?}", temp_files(&p));

    // 4. Without a database to back up, the old uploads/ is kept in backups/, ignored too.
    fs::remove_file(p.sqlite_db()).unwrap();
    let out = stdout_of(&mut p.xtask(&["restore", &archive, "--yes"]));
    assert!(out.contains("the current uploads/ will be kept as backups/uploads.pre-restore-"), "{out}");
    assert_eq!(git_untracked(&p), untracked, "git ignores the kept uploads/");
}
