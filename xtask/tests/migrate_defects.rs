//! Defects of `migrate` found against real folders and real deployments: double-quoted
//! strings in drizzle-kit rebuilds, the project root of a shared binary, two deployers through
//! a symlink, NUL bytes in a file, and stale files the journal does not list.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use rusqlite::Connection;
use test_support::fixture;

fn xtask_in(root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.env("CMS_PROJECT_ROOT", root).env_remove("DATABASE_URL").current_dir("/");
    cmd
}

fn stderr_of_failure(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().failure().get_output().stderr.clone()).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A project root holding `migrations/sqlite` written from `entries`.
fn project(entries: &[(&str, i64, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fixture::write_folder(&root.path().join("migrations/sqlite"), "sqlite", "7", entries);
    root
}

const USER_ROOMS: &str =
    "CREATE TABLE `user_rooms` (`id` integer PRIMARY KEY NOT NULL, `user` text NOT NULL, `current_room_id` text);
--> statement-breakpoint
INSERT INTO `user_rooms` VALUES (1, 'ann', 'lobby'), (2, 'bob', 'kitchen'), (3, 'cy', NULL);";

/// drizzle-kit's rebuild as some real outputs have it: it copies `room_id`, which the old
/// table does not have (it has `current_room_id`).
const BROKEN_REBUILD: &str = "PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_user_rooms` (
\t`id` integer PRIMARY KEY NOT NULL,
\t`user` text NOT NULL,
\t`room_id` text
);
--> statement-breakpoint
INSERT INTO `__new_user_rooms`(\"id\", \"user\", \"room_id\") SELECT \"id\", \"user\", \"room_id\" FROM `user_rooms`;--> statement-breakpoint
DROP TABLE `user_rooms`;--> statement-breakpoint
ALTER TABLE `__new_user_rooms` RENAME TO `user_rooms`;--> statement-breakpoint
PRAGMA foreign_keys=ON;";

#[test]
fn a_rebuild_copying_a_missing_column_fails_and_keeps_the_rows() {
    let root = project(&[("0000_rooms", 1, USER_ROOMS), ("0001_rebuild", 2, BROKEN_REBUILD)]);
    let err = stderr_of_failure(xtask_in(root.path()).arg("migrate"));
    assert!(err.contains("0001_rebuild.sql"), "{err}");
    assert!(err.contains("statement 3"), "{err}");
    assert!(err.contains("no such column") && err.contains("room_id"), "{err}");

    let conn = Connection::open(root.path().join("data/sqlite.db")).unwrap();
    let rows: Vec<(i64, String, Option<String>)> = conn
        .prepare("SELECT id, user, current_room_id FROM user_rooms ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [(1, "ann".into(), Some("lobby".into())), (2, "bob".into(), Some("kitchen".into())), (3, "cy".into(), None)]
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM sqlite_master WHERE name = '__new_user_rooms'"), 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM __drizzle_migrations"), 1);
}

#[test]
fn every_connection_refuses_double_quoted_strings() {
    // The server's pool and every command go through the same open; a seed or a studio query
    // naming a column that does not exist must fail, not read a string.
    let root = project(&[("0000_rooms", 1, USER_ROOMS)]);
    xtask_in(root.path()).arg("migrate").assert().success();
    let conn = cms_db::sqlite::open(&root.path().join("data/sqlite.db")).unwrap();
    let err = conn.query_row("SELECT \"no_such\" FROM user_rooms", [], |r| r.get::<_, String>(0)).unwrap_err();
    assert!(err.to_string().contains("no such column") && err.to_string().contains("no_such"), "{err}");
    let mem = cms_db::sqlite::open_in_memory().unwrap();
    let err = mem.execute_batch("CREATE TABLE t (x); CREATE INDEX i ON t (\"nope\");").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// A copy of the project's SQLite migrations in a new folder, as a second checkout.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture::project_migrations("sqlite");
    let dst = dir.path().join("migrations/sqlite");
    fs::create_dir_all(dst.join("meta")).unwrap();
    for name in fs::read_dir(&src).unwrap().map(|e| e.unwrap().file_name()) {
        if src.join(&name).is_file() {
            fs::copy(src.join(&name), dst.join(&name)).unwrap();
        }
    }
    fs::copy(src.join("meta/_journal.json"), dst.join("meta/_journal.json")).unwrap();
    dir
}

/// The binary without any hint of a root but what the test gives it.
fn bare_xtask(bin: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(bin);
    cmd.env_remove("CMS_PROJECT_ROOT").env_remove("CARGO_MANIFEST_DIR").env_remove("DATABASE_URL");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn xtask_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("xtask")
}

#[test]
fn the_root_is_found_at_run_time_not_compiled_in() {
    let (a, b) = (checkout(), checkout());

    // The current directory (or one above it) decides, whatever binary runs.
    let out = bare_xtask(&xtask_bin()).arg("migrate").current_dir(b.path().join("migrations/sqlite")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(b.path().join("data/sqlite.db").exists());
    assert!(!a.path().join("data/sqlite.db").exists());

    // `cargo run` in checkout A sets CARGO_MANIFEST_DIR to A's xtask crate: A it is, even run
    // from elsewhere.
    fs::create_dir_all(a.path().join("xtask")).unwrap();
    let out = bare_xtask(&xtask_bin())
        .arg("migrate")
        .env("CARGO_MANIFEST_DIR", a.path().join("xtask"))
        .current_dir(b.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(a.path().join("data/sqlite.db").exists());

    // A binary copied next to a project finds it from its own location.
    let c = checkout();
    fs::create_dir_all(c.path().join("bin")).unwrap();
    let copied = c.path().join("bin/xtask");
    fs::copy(xtask_bin(), &copied).unwrap();
    let out = bare_xtask(&copied).arg("migrate").current_dir("/").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(c.path().join("data/sqlite.db").exists());

    // Destructive commands say which root they act on, first.
    let out = bare_xtask(&copied).args(["reset-data", "--yes", "--no-seed"]).current_dir("/").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("project") && first.contains(&c.path().display().to_string()), "{stdout}");
    assert!(first.contains("binary"), "{first}");

    // No root anywhere: a clear error, nothing created.
    let nowhere = tempfile::tempdir().unwrap();
    let lone = nowhere.path().join("xtask");
    fs::copy(xtask_bin(), &lone).unwrap();
    let out = bare_xtask(&lone).arg("migrate").current_dir(nowhere.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot find the project root") && err.contains("CMS_PROJECT_ROOT"), "{err}");
    assert!(!nowhere.path().join("data").exists());
}

/// 60 migrations, each of which logs itself once.
fn logging_project(n: usize) -> tempfile::TempDir {
    let mut entries: Vec<(String, i64, String)> = vec![("0000_log".into(), 1, "CREATE TABLE log (n integer);".into())];
    for i in 1..n {
        entries.push((format!("{i:04}_m"), 1 + i as i64, format!("INSERT INTO log VALUES ({i});")));
    }
    let borrowed: Vec<(&str, i64, &str)> = entries.iter().map(|(t, w, s)| (t.as_str(), *w, s.as_str())).collect();
    project(&borrowed)
}

#[test]
fn two_deployers_through_a_symlink_apply_each_migration_once() {
    let root = logging_project(60);
    let db_dir = root.path().join("srv/db");
    fs::create_dir_all(&db_dir).unwrap();
    let real = db_dir.join("cms.db");
    let link = root.path().join("srv/current.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let children: Vec<_> = (0..6)
        .map(|i| {
            let url = if i % 2 == 0 { format!("file:{}", real.display()) } else { format!("file:{}", link.display()) };
            let mut cmd = StdCommand::new(xtask_bin());
            cmd.env("CMS_PROJECT_ROOT", root.path())
                .env("DATABASE_URL", url)
                .args(["migrate", "-q"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let conn = Connection::open(&real).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM __drizzle_migrations"), 60);
    assert_eq!(count(&conn, "SELECT count(*) FROM log"), 59);
    assert_eq!(count(&conn, "SELECT count(DISTINCT n) FROM log"), 59);

    // The bookkeeping table itself refuses a second row for one migration.
    let err = conn
        .execute_batch("INSERT INTO __drizzle_migrations (hash, created_at) SELECT hash, created_at FROM __drizzle_migrations LIMIT 1")
        .unwrap_err();
    assert!(err.to_string().contains("UNIQUE"), "{err}");
}

#[test]
fn the_lock_file_belongs_to_the_database_file_not_the_path() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("db")).unwrap();
    let real = dir.path().join("db/cms.db");
    fs::write(&real, b"").unwrap();
    let link = dir.path().join("current.db");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let dotted = dir.path().join("db/../db/cms.db");
    let expected = cms_db::sqlite::lock_file_path(&real);
    assert_eq!(cms_db::sqlite::lock_file_path(&link), expected);
    assert_eq!(cms_db::sqlite::lock_file_path(&dotted), expected);
    // Before the database exists: a dangling link still leads to the same lock.
    let later = dir.path().join("db/later.db");
    let later_link = dir.path().join("later-link.db");
    std::os::unix::fs::symlink(&later, &later_link).unwrap();
    assert_eq!(cms_db::sqlite::lock_file_path(&later_link), cms_db::sqlite::lock_file_path(&later));
}

const NUL_FILE: &[u8] = b"CREATE TABLE a (x integer);\n--> statement-breakpoint\nCREATE TABLE b (y integer);\0CREATE TABLE c (z integer);\n";

#[test]
fn a_nul_byte_is_refused_with_nothing_applied_sqlite() {
    let root = project(&[("0000_first", 1, "CREATE TABLE first (x integer);"), ("0001_nul", 2, "")]);
    fs::write(root.path().join("migrations/sqlite/0001_nul.sql"), NUL_FILE).unwrap();
    let err = stderr_of_failure(xtask_in(root.path()).arg("migrate"));
    assert!(err.contains("0001_nul.sql") && err.contains("NUL byte at byte offset 80"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(!root.path().join("data/sqlite.db").exists(), "nothing may be created");
    let err = stderr_of_failure(xtask_in(root.path()).arg("check"));
    assert!(err.contains("NUL byte"), "{err}");
}

#[test]
fn a_nul_byte_is_refused_with_nothing_applied_postgres() {
    let Some(db) = test_support::pg::database() else { return };
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("migrations/postgresql");
    fixture::write_folder(
        &dir,
        "postgresql",
        "7",
        &[("0000_first", 1, "CREATE TABLE first (x integer);"), ("0001_nul", 2, "")],
    );
    fs::write(dir.join("0001_nul.sql"), NUL_FILE).unwrap();
    let err = stderr_of_failure(xtask_in(root.path()).args(["migrate", "--database-url", db.url()]));
    assert!(err.contains("0001_nul.sql") && err.contains("NUL byte at byte offset 80"), "{err}");
    let mut client = db.client();
    let tables: i64 = client
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "nothing may be applied");
}

#[test]
fn stale_unjournaled_files_warn_on_migrate_and_fail_check() {
    let root = project(&[("0000_first", 1, "CREATE TABLE first (x integer);")]);
    let dir = root.path().join("migrations/sqlite");
    fs::write(dir.join("0001_old_experiment.sql"), "DROP TABLE first;").unwrap();
    fs::write(dir.join("0007_stale.sql"), "CREATE TABLE stale (x);").unwrap();

    let out = xtask_in(root.path()).arg("migrate").assert().success().get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: 0001_old_experiment.sql is not listed"), "{err}");
    assert!(err.contains("warning: 0007_stale.sql is not listed"), "{err}");
    let conn = Connection::open(root.path().join("data/sqlite.db")).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM first"), 0, "the journaled migration ran");
    assert_eq!(count(&conn, "SELECT count(*) FROM sqlite_master WHERE name = 'stale'"), 0, "the stale file never runs");

    let out = xtask_in(root.path()).arg("status").assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("0001_old_experiment.sql") && out.contains("0007_stale.sql"), "{out}");

    let err = stderr_of_failure(xtask_in(root.path()).arg("check"));
    assert!(err.contains("0007_stale.sql is not listed in meta/_journal.json"), "{err}");
}

#[test]
fn databases_that_are_not_files_are_refused_with_what_to_do() {
    let root = project(&[("0000_first", 1, "CREATE TABLE first (x integer);")]);
    let folder = root.path().join("a-folder");
    fs::create_dir_all(&folder).unwrap();
    let text = root.path().join("notes.txt");
    fs::write(&text, "these are not the tables you are looking for\n").unwrap();
    let cases = [
        (format!("file:{}", folder.display()), "it is a directory"),
        ("file:/dev/null".to_string(), "it is a character device"),
        (format!("file:{}", text.display()), "it is not an SQLite database"),
    ];
    for (url, expected) in &cases {
        for cmd in ["status", "migrate", "check"] {
            let err = stderr_of_failure(xtask_in(root.path()).args([cmd, "--database-url", url]));
            assert!(err.contains(expected) && err.contains("DATABASE_URL"), "{cmd} {url}: {err}");
        }
    }
    assert_eq!(fs::read_to_string(&text).unwrap(), "these are not the tables you are looking for\n");
}

#[test]
fn a_database_in_a_read_only_folder_reads_and_says_why_it_cannot_write() {
    let root = project(&[
        ("0000_first", 1, "CREATE TABLE first (x integer);"),
        ("0001_second", 2, "CREATE TABLE second (x integer);"),
    ]);
    let j = root.path().join("migrations/sqlite/meta/_journal.json");
    let full = fs::read_to_string(&j).unwrap();
    let mut one: serde_json::Value = serde_json::from_str(&full).unwrap();
    one["entries"].as_array_mut().unwrap().truncate(1);
    fs::write(&j, serde_json::to_string(&one).unwrap()).unwrap();
    xtask_in(root.path()).arg("migrate").assert().success();
    // Checkpoint so no -wal/-shm stay behind, then make the folder read-only (for root, the
    // commands run as `nobody`, since root writes into read-only folders).
    let db = root.path().join("data/sqlite.db");
    Connection::open(&db).unwrap().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    fs::write(&j, full).unwrap();
    set_mode(root.path(), 0o755);
    set_mode(&db, 0o666);
    let data = root.path().join("data");
    set_mode(&data, 0o555);
    let status = unprivileged(root.path(), "status").output().unwrap();
    let migrate = unprivileged(root.path(), "migrate").output().unwrap();
    set_mode(&data, 0o755);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(String::from_utf8_lossy(&status.stdout).contains("1 applied, 1 pending"));
    assert!(!migrate.status.success());
    let err = String::from_utf8_lossy(&migrate.stderr);
    assert!(err.contains("sqlite.db-wal") && err.contains("is not writable"), "{err}");
    assert!(!err.contains("is it an SQLite database"), "{err}");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `xtask <command>` on `root`, as `nobody` when we are root, so that permissions apply.
fn unprivileged(root: &Path, command: &str) -> StdCommand {
    use std::os::unix::process::CommandExt;
    let mut cmd = StdCommand::new(xtask_bin());
    cmd.env("CMS_PROJECT_ROOT", root).env_remove("DATABASE_URL").current_dir("/").arg(command);
    if rustix_is_root() {
        cmd.uid(65534).gid(65534);
    }
    cmd
}

fn rustix_is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A driver whose lock and first reading of the bookkeeping table are those of a run that
/// started before another run applied everything: the lock did not keep them apart.
struct PastTheLock {
    inner: Box<dyn cms_db::migrate::migrator::Driver>,
    stale_reads: usize,
}

impl cms_db::migrate::migrator::Driver for PastTheLock {
    fn dialect(&self) -> cms_db::migrate::journal::Dialect {
        self.inner.dialect()
    }
    fn applied(&mut self) -> Result<Vec<cms_db::migrate::plan::AppliedRow>, cms_db::DbError> {
        if self.stale_reads > 0 {
            self.stale_reads -= 1;
            return Ok(Vec::new());
        }
        self.inner.applied()
    }
    fn prepare_bookkeeping(&mut self) -> Result<(), cms_db::DbError> {
        self.inner.prepare_bookkeeping()
    }
    fn apply(
        &mut self,
        m: &cms_db::migrate::migrator::Prepared<'_>,
        record: &cms_db::migrate::migrator::Record<'_>,
    ) -> Result<(), cms_db::DbError> {
        self.inner.apply(m, record)
    }
    fn lock(&mut self, _: std::time::Duration) -> Result<cms_db::migrate::migrator::MigrationLock, cms_db::DbError> {
        Ok(cms_db::migrate::migrator::MigrationLock::new(()))
    }
}

#[test]
fn a_run_that_lost_the_race_blames_the_other_run_not_the_file() {
    use cms_db::migrate::migrator::{migrate, MigrateOptions};
    let root = project(&[("0000_first", 1, "CREATE TABLE first (x integer);")]);
    let set = cms_db::MigrationSet::load(&root.path().join("migrations/sqlite")).unwrap();
    let url = cms_db::DatabaseUrl::parse(&format!("file:{}", root.path().join("data/sqlite.db").display())).unwrap();
    migrate(cms_db::driver(&url, false).unwrap().as_mut(), &set, &MigrateOptions::default(), &mut |_| {}).unwrap();
    let mut late = PastTheLock { inner: cms_db::driver(&url, false).unwrap(), stale_reads: 1 };
    let err = migrate(&mut late, &set, &MigrateOptions::default(), &mut |_| {}).unwrap_err();
    let text = format!("{err}");
    assert!(matches!(err, cms_db::DbError::ConcurrentMigrate { .. }), "{text}");
    assert!(text.contains("another migrate applied 0000_first") && text.contains("not from the file"), "{text}");
    let cause = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(cause.contains("already exists"), "{cause}");
}

#[test]
fn sqlite_url_options_are_refused_so_mode_ro_never_writes() {
    let root = project(&[("0000_first", 1, "CREATE TABLE first (x integer);")]);
    xtask_in(root.path()).arg("migrate").assert().success();
    let before = fs::read(root.path().join("data/sqlite.db")).unwrap();
    let j = root.path().join("migrations/sqlite/meta/_journal.json");
    fixture::write_folder(
        &root.path().join("migrations/sqlite"),
        "sqlite",
        "7",
        &[("0000_first", 1, "CREATE TABLE first (x integer);"), ("0001_second", 2, "CREATE TABLE second (x);")],
    );
    assert!(j.exists());
    for cmd in ["migrate", "status"] {
        let err = stderr_of_failure(xtask_in(root.path()).args([cmd, "--database-url", "file:data/sqlite.db?mode=ro"]));
        assert!(err.contains("?mode=ro") && err.contains("not supported") && err.contains("read-only"), "{err}");
    }
    assert_eq!(fs::read(root.path().join("data/sqlite.db")).unwrap(), before, "nothing was written");
}
