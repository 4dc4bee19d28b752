//! backup, list, verify, prune and restore through the real binary, on SQLite (and on
//! PostgreSQL in backup_pg.rs).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use test_support::backups::{self, temp_files, Writer};
use test_support::process::{wait_until, DEADLINE};
use test_support::project::Project;
use test_support::rows;

/// Migrated and seeded, with a few uploads (one nested, one empty folder).
fn seeded() -> Project {
    let p = bare();
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let up = p.root().join("uploads");
    fs::create_dir_all(up.join("images/2026")).unwrap();
    fs::create_dir_all(up.join("empty")).unwrap();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend((0..300_000).map(|_| fastrand::u8(..)));
    fs::write(up.join("images/hero-home.jpg"), &jpeg).unwrap();
    fs::write(up.join("images/2026/notes.txt"), "plain text ".repeat(5000)).unwrap();
    fs::write(up.join("zero.bin"), b"").unwrap();
    p
}

/// The repository's migrations and the project's SQLite file (no `DATABASE_URL`); commands
/// stop at no test pause point unless [`Project::paused`] says so.
fn bare() -> Project {
    Project::linked().env_remove("CMS_TEST_PAUSE_AT")
}

fn backup_dir(p: &Project) -> PathBuf {
    p.root().join("backups")
}

/// Our archives in backups/, oldest first.
fn archives_in(p: &Project) -> Vec<PathBuf> {
    backups::archives(&backup_dir(p))
}

/// Every application row.
fn dump(p: &Project) -> String {
    rows::sqlite(&p.sqlite_db(), &[rows::BOOKKEEPING])
}

/// Leftovers of a failed run: temp files in backups/, staging folders, staged databases.
fn leftovers(p: &Project) -> Vec<String> {
    let mut v = Vec::new();
    for dir in [backup_dir(p), p.root().to_path_buf(), p.root().join("data")] {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains(".tmp-") || name.starts_with(".restore-") || name.contains(".restore-") {
                v.push(name);
            }
        }
    }
    v
}

/// Every file under `root` with its size and modification time.
fn snapshot_of_files(root: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    files_with_sizes(root, &mut files);
    files.into_iter().map(|(p, n)| (p.clone(), (n, fs::metadata(&p).unwrap().modified().unwrap()))).collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

#[test]
fn round_trip_gives_back_every_row_and_every_upload_byte() {
    let p = seeded();
    let rows = dump(&p);
    let uploads = backups::uploads(p.root());
    p.xtask(&["backup"]).assert().success().stdout(predicate::str::contains("backup backups/"));
    let archive = archives_in(&p).pop().unwrap();
    assert_eq!(fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(backup_dir(&p)).unwrap().permissions().mode() & 0o777, 0o700);
    p.xtask(&["backup", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("sqlite").and(predicate::str::contains("6 (last 0005_section_status_check)")));
    p.xtask(&["backup", "verify", "latest"]).assert().success().stdout(predicate::str::starts_with("ok "));
    assert!(archive.to_string_lossy().ends_with(".tar.zst"), "zstd by default");
    // Plain tools read the gzip form too.
    p.xtask(&["backup", "--compression", "gzip", "--quiet"]).assert().success();
    let gz = archives_in(&p).into_iter().find(|a| a.to_string_lossy().ends_with(".tar.gz")).unwrap();
    let listing = StdCommand::new("tar").arg("tzf").arg(&gz).output().unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("database/sqlite.db")
            && listing.contains("manifest.json")
            && listing.contains("uploads/images/hero-home.jpg")
    );

    // Damage the live data, then restore.
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute_batch("PRAGMA foreign_keys=OFF; DELETE FROM posts; DELETE FROM images;").unwrap();
    drop(conn);
    fs::remove_file(p.root().join("uploads/images/hero-home.jpg")).unwrap();
    fs::write(p.root().join("uploads/new.txt"), "added after the backup").unwrap();
    assert_ne!(dump(&p), rows);

    p.xtask(&["restore", "latest"]).assert().failure().stderr(predicate::str::contains("--yes"));
    p.xtask(&["restore", "latest", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("safety backup backups/").and(predicate::str::contains("pre-restore")));
    assert_eq!(dump(&p), rows);
    assert_eq!(backups::uploads(p.root()), uploads);
    assert_eq!(integrity(&p.sqlite_db()), "ok");
    for suffix in ["-wal", "-shm"] {
        assert!(!p.root().join(format!("data/sqlite.db{suffix}")).exists(), "stale {suffix} removed");
    }
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    // The safety backup holds the damaged state and verifies.
    let safety = archives_in(&p).into_iter().find(|a| a.to_string_lossy().contains("pre-restore")).unwrap();
    p.xtask(&["backup", "verify", safety.to_str().unwrap()]).assert().success();
    p.xtask(&["check", "--no-pending"]).assert().success();
}

#[test]
fn gzip_archives_restore_too() {
    let p = seeded();
    let rows = dump(&p);
    p.xtask(&["backup", "--compression", "gzip", "--quiet"]).assert().success().stdout("");
    let archive = archives_in(&p).pop().unwrap();
    assert!(archive.to_string_lossy().ends_with(".tar.gz"));
    // The database is lost: restore still works, and keeps the current uploads aside.
    let uploads = backups::uploads(p.root());
    fs::remove_file(p.sqlite_db()).unwrap();
    p.xtask(&["restore", archive.file_name().unwrap().to_str().unwrap(), "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("will be kept as backups/uploads.pre-restore-"));
    assert_eq!(dump(&p), rows);
    assert_eq!(backups::uploads(p.root()), uploads);
    // Kept in backups/ (which git ignores), not in the project root.
    let aside = fs::read_dir(backup_dir(&p))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("uploads.pre-restore-"));
    assert!(aside.unwrap().path().join("images/hero-home.jpg").is_file());
    // A database that replaces nothing is private.
    assert_eq!(mode(&p.sqlite_db()), 0o600);
}

#[test]
fn a_backup_during_continuous_writes_restores_a_committed_prefix() {
    let p = seeded();
    let conn = cms_db::sqlite::open(&p.sqlite_db()).unwrap();
    conn.execute_batch("CREATE TABLE writes (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)").unwrap();
    let writer = Writer::start(move |n| {
        conn.execute("INSERT INTO writes (n, payload) VALUES (?1, ?2)", rusqlite::params![n, "x".repeat(100)]).unwrap();
    });
    let (before, after) = writer.around(500, || {
        p.xtask(&["backup", "--quiet"]).assert().success();
    });
    // The backup does not stop the writer (how fast it writes meanwhile is a figure of
    // `cargo xtask bench backup`, not a test).
    assert!(after > before, "the writer kept committing while the backup ran ({before} -> {after})");

    p.xtask(&["restore", "latest", "--yes"]).assert().success();
    assert_eq!(integrity(&p.sqlite_db()), "ok");
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    let (count, min, max): (i64, i64, i64) = conn
        .query_row("SELECT count(*), min(n), max(n) FROM writes", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!((min, count), (1, max), "a prefix 1..=k without gaps");
    assert!(count >= before && count <= after, "{before} <= {count} <= {after}");
}

#[test]
fn a_damaged_archive_is_refused_and_nothing_is_touched() {
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let good = archives_in(&p).pop().unwrap();
    let bytes = fs::read(&good).unwrap();
    // Change the live data after the backup, so a restore would be visible.
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute_batch("PRAGMA foreign_keys=OFF; DELETE FROM posts;").unwrap();
    drop(conn);
    let rows = dump(&p);
    let uploads = backups::uploads(p.root());

    let flipped = backup_dir(&p).join("20200101T000000Z.tar.gz");
    let mut b = bytes.clone();
    b[bytes.len() / 3] ^= 0x40;
    fs::write(&flipped, &b).unwrap();
    let truncated = backup_dir(&p).join("20200101T000001Z.tar.gz");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let no_tail = backup_dir(&p).join("20200101T000002Z.tar.gz");
    fs::write(&no_tail, &bytes[..bytes.len() - 40]).unwrap();
    for bad in [&flipped, &truncated, &no_tail] {
        let name = bad.file_name().unwrap().to_str().unwrap();
        p.xtask(&["backup", "verify", name]).assert().failure().stderr(predicate::str::contains(name));
        p.xtask(&["restore", name, "--yes"]).assert().failure().stderr(predicate::str::contains("nothing was changed"));
        assert_eq!(dump(&p), rows);
        assert_eq!(backups::uploads(p.root()), uploads);
        assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    }
    assert!(
        !archives_in(&p).iter().any(|a| a.to_string_lossy().contains("pre-restore")),
        "no safety backup before verification"
    );
}

/// (name, type, bytes, link target) of a hand-made member.
type RawMember<'a> = (&'a str, tar::EntryType, &'a [u8], Option<&'a str>);

/// A tar.gz with raw member names (the tar crate refuses to write `..` or absolute paths).
fn hostile_archive(path: &Path, members: &[RawMember<'_>]) {
    let file = fs::File::create(path).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    for (name, kind, data, link) in members {
        let mut h = tar::Header::new_gnu();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        tar.append(&h, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn hostile_archives_are_refused() {
    let p = seeded();
    let rows = dump(&p);
    let uploads = backups::uploads(p.root());
    fs::create_dir_all(backup_dir(&p)).unwrap();
    let db = fs::read(p.sqlite_db()).unwrap();
    let manifest = |extra: &str| {
        format!(
            r#"{{"format_version":1,"created_at":"2026-01-01T00:00:00.000Z","tool":"x","dialect":"sqlite","source":"file:x","migrations":{{"applied":0,"last_tag":null,"tags":[]}},"members":[{{"path":"database/sqlite.db","type":"file","size":{},"sha256":"{}"}}{extra}]}}"#,
            db.len(),
            test_support::sha256_hex(&db)
        )
    };
    let m = manifest("");
    let cases: Vec<(&str, Vec<RawMember<'_>>, &str)> = vec![
        ("dotdot", vec![("uploads/../../evil.txt", tar::EntryType::Regular, b"x", None)], "contains `..`"),
        ("absolute", vec![("/tmp/evil-absolute.txt", tar::EntryType::Regular, b"x", None)], "absolute path"),
        ("symlink", vec![("uploads/link", tar::EntryType::Symlink, b"", Some("/etc/passwd"))], "is a link"),
        ("hardlink", vec![("uploads/hard", tar::EntryType::Link, b"", Some("database/sqlite.db"))], "is a link"),
        (
            "unlisted",
            vec![
                ("database/sqlite.db", tar::EntryType::Regular, &db, None),
                ("uploads/extra.txt", tar::EntryType::Regular, b"not in the manifest", None),
                ("manifest.json", tar::EntryType::Regular, m.as_bytes(), None),
            ],
            "`uploads/extra.txt` is not listed in the manifest",
        ),
    ];
    for (i, (what, members, message)) in cases.into_iter().enumerate() {
        let path = backup_dir(&p).join(format!("2020010{}T000000Z.tar.gz", i + 1));
        hostile_archive(&path, &members);
        let name = path.file_name().unwrap().to_str().unwrap();
        p.xtask(&["restore", name, "--yes"])
            .assert()
            .failure()
            .stderr(predicate::str::contains(message).and(predicate::str::contains("nothing was changed")));
        p.xtask(&["backup", "verify", name]).assert().failure().stderr(predicate::str::contains(message));
        assert_eq!(dump(&p), rows, "{what}");
        assert_eq!(backups::uploads(p.root()), uploads, "{what}");
        assert!(!p.root().join("../evil.txt").exists() && !Path::new("/tmp/evil-absolute.txt").exists());
        assert!(leftovers(&p).is_empty(), "{what}: {:?}", leftovers(&p));
    }
}

#[test]
fn overlapping_runs_exit_3_or_wait() {
    let p = seeded();
    fs::create_dir_all(backup_dir(&p)).unwrap();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(backup_dir(&p).join(".backup.lock"))
        .unwrap();
    lock.lock().unwrap();
    p.xtask(&["backup"]).assert().code(3).stderr(predicate::str::contains("another backup or restore is running"));
    p.xtask(&["backup", "prune"]).assert().code(3);
    p.xtask(&["restore", "latest", "--yes"]).assert().failure();
    let t = Instant::now();
    p.xtask(&["backup", "--wait", "1"]).assert().code(3).stderr(predicate::str::contains("after waiting"));
    assert!(t.elapsed() >= Duration::from_secs(1));
    // A run that waits gets the lock once it is released.
    let waiting = p
        .xtask_command(&["backup", "--wait", "30", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock_path = fs::canonicalize(backup_dir(&p).join(".backup.lock")).unwrap();
    let fds = PathBuf::from(format!("/proc/{}/fd", waiting.id()));
    wait_until("the second run has the lock file open (it is waiting for the lock)", DEADLINE, || {
        fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l == lock_path))
    });
    drop(lock);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(archives_in(&p).len(), 1);
}

#[test]
fn two_backups_at_once_both_land_under_distinct_names() {
    let p = seeded();
    let spawn = || {
        p.xtask_command(&["backup", "--wait", "60", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let archives = archives_in(&p);
    assert_eq!(archives.len(), 2, "{archives:?}");
    for a in &archives {
        p.xtask(&["backup", "verify", a.to_str().unwrap()]).assert().success();
    }
    // Without --wait, one of two simultaneous runs may find the lock held: exit 3, never a
    // clobbered archive.
    let (a, b) = (
        p.xtask_command(&["backup", "--quiet"]).stderr(Stdio::piped()).spawn().unwrap(),
        p.xtask_command(&["backup", "--quiet"]).stderr(Stdio::piped()).spawn().unwrap(),
    );
    let codes: Vec<i32> = [a, b].into_iter().map(|c| c.wait_with_output().unwrap().status.code().unwrap()).collect();
    assert!(codes.iter().all(|c| *c == 0 || *c == 3) && codes.contains(&0), "{codes:?}");
    assert_eq!(archives_in(&p).len(), 2 + codes.iter().filter(|c| **c == 0).count());
}

/// A small tmpfs mounted on backups/ for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let ok = StdCommand::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Tmpfs(dir.to_path_buf()));
        }
        let why = "SKIPPED: cannot mount a tmpfs (needs root) for the disk-full test";
        assert!(!test_support::under_ci(), "{why} (CI=true, so this is a failure)");
        eprintln!("{why}");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_leaves_no_temp_file_and_older_backups_intact() {
    let p = seeded();
    let Some(_tmpfs) = Tmpfs::mount(&backup_dir(&p), "2m") else { return };
    p.xtask(&["backup", "--quiet"]).assert().success();
    let older = archives_in(&p);
    assert_eq!(older.len(), 1);
    let older_bytes = fs::read(&older[0]).unwrap();

    // 1. The archive does not fit: 3 MB of incompressible uploads.
    let mut f = fs::File::create(p.root().join("uploads/big.jpg")).unwrap();
    f.write_all(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap();
    f.write_all(&(0..3_000_000).map(|_| fastrand::u8(..)).collect::<Vec<_>>()).unwrap();
    drop(f);
    p.xtask(&["backup"]).assert().failure().stderr(predicate::str::contains("is full"));
    assert_eq!(archives_in(&p), older);
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    fs::remove_file(p.root().join("uploads/big.jpg")).unwrap();

    // 2. The snapshot itself does not fit.
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute("CREATE TABLE blobs (b BLOB)", []).unwrap();
    for _ in 0..30 {
        conn.execute("INSERT INTO blobs VALUES (randomblob(100000))", []).unwrap();
    }
    drop(conn);
    p.xtask(&["backup"]).assert().failure().stderr(predicate::str::contains("is full"));
    assert_eq!(archives_in(&p), older);
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
    assert_eq!(fs::read(&older[0]).unwrap(), older_bytes);
    p.xtask(&["backup", "verify", "latest"]).assert().success();
}

#[test]
fn prune_follows_the_policy_and_touches_only_our_files() {
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let real = archives_in(&p).pop().unwrap();
    let names = [
        "20250101T000000Z.tar.gz",
        "20250102T000000Z-nightly.tar.gz",
        "20250103T000000Z.tar.zst",
        "20250103T000000Z_2.tar.gz",
    ];
    for n in names {
        fs::copy(&real, backup_dir(&p).join(n)).unwrap();
    }
    let foreign = [
        "notes.txt",
        ".20250104T000000Z.tar.gz.tmp-1-ab",
        "pre-reset-20250101T000000Z.db",
        "20250101T000000Z.tar.gz.bak",
    ];
    for n in foreign {
        fs::write(backup_dir(&p).join(n), "not ours").unwrap();
    }
    p.xtask(&["backup", "prune", "--keep-daily", "0"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("keeps nothing"));
    p.xtask(&["backup", "prune", "--keep-last", "2", "--dry-run"]).assert().success().stdout(
        predicate::str::contains("would delete  20250101T000000Z.tar.gz").and(predicate::str::contains("(last)")),
    );
    assert_eq!(archives_in(&p).len(), 5);
    p.xtask(&["backup", "prune", "--keep-last", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 kept, 3 deleted"));
    let left: Vec<String> =
        archives_in(&p).iter().map(|a| a.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(left, [names[3].to_string(), real.file_name().unwrap().to_string_lossy().into_owned()]);
    for n in foreign {
        assert!(backup_dir(&p).join(n).exists(), "{n} is not ours and stays");
    }
    // Idempotent, and --prune after a backup keeps the new one.
    p.xtask(&["backup", "prune", "--keep-last", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 kept, 0 deleted"));
    p.xtask(&["backup", "--prune", "--keep-last", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 kept, 2 deleted"));
    assert_eq!(archives_in(&p).len(), 1);
}

#[test]
fn schema_versions_are_checked_on_restore() {
    // A backup made by code that knows one more migration than ours is refused.
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let old_code = test_support::fixture::copy_truncated(&test_support::fixture::project_migrations("sqlite"), 5);
    fs::remove_file(p.root().join("migrations")).unwrap();
    fs::create_dir_all(p.root().join("migrations")).unwrap();
    std::os::unix::fs::symlink(old_code.path(), p.root().join("migrations/sqlite")).unwrap();
    p.xtask(&["restore", "latest", "--yes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("newer schema").and(predicate::str::contains("0005_section_status_check")));
    p.xtask(&["restore", "latest", "--yes", "--force"]).assert().success();

    // An older backup restores and says to migrate.
    let q = bare();
    fs::remove_file(q.root().join("migrations")).unwrap();
    fs::create_dir_all(q.root().join("migrations")).unwrap();
    std::os::unix::fs::symlink(old_code.path(), q.root().join("migrations/sqlite")).unwrap();
    q.xtask(&["migrate", "-q"]).assert().success();
    q.xtask(&["backup", "--quiet"]).assert().success();
    fs::remove_file(q.root().join("migrations/sqlite")).unwrap();
    std::os::unix::fs::symlink(test_support::fixture::project_migrations("sqlite"), q.root().join("migrations/sqlite"))
        .unwrap();
    q.xtask(&["restore", "latest", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run `cargo xtask migrate`"));
}

#[test]
fn restore_refuses_while_the_database_is_open_elsewhere() {
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let mut holder = StdCommand::new("sqlite3")
        .arg(p.sqlite_db())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the sqlite3 CLI (apt-get install sqlite3)");
    writeln!(holder.stdin.as_mut().unwrap(), "SELECT count(*) FROM teams;").unwrap();
    let pid = holder.id().to_string();
    let mut last = String::new();
    wait_until("restore notices sqlite3 holding the database", DEADLINE, || {
        let out = p.xtask(&["restore", "latest", "--yes"]).output().unwrap();
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        !out.status.success() && last.contains(&pid)
    });
    assert!(last.contains("in use by another process") && last.contains("nothing was changed"), "{last}");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    p.xtask(&["restore", "latest", "--yes"]).assert().success();
}

#[test]
fn works_under_crons_bare_environment_and_never_prompts() {
    let p = seeded();
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let cron = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("xtask").unwrap();
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("CMS_PROJECT_ROOT", p.root())
            .current_dir(elsewhere.path())
            .timeout(Duration::from_secs(60))
            .args(args);
        cmd
    };
    cron(&["backup", "--prune", "--quiet"]).assert().success().stdout("").stderr("");
    assert_eq!(archives_in(&p).len(), 1);
    assert!(fs::read_dir(elsewhere.path()).unwrap().next().is_none(), "nothing written to the current directory");
    cron(&["restore", "latest"]).assert().failure().stderr(predicate::str::contains("--yes"));
    // The shipped crontab runs exactly this command.
    let crontab = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/crontab")).unwrap();
    let line = crontab.lines().find(|l| !l.trim_start().starts_with('#') && l.contains("xtask")).unwrap();
    assert!(line.contains("backup --prune --quiet") && line.starts_with("0 * * * *"), "{line}");
}

#[test]
fn bad_input_gets_clear_errors() {
    let p = seeded();
    p.xtask(&["backup", "verify", "latest"]).assert().failure().stderr(predicate::str::contains("no backups"));
    p.xtask(&["restore", "latest", "--yes"]).assert().failure().stderr(predicate::str::contains("no backups"));
    p.xtask(&["backup", "verify", "nope.tar.gz"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no backup file `nope.tar.gz`"));
    p.xtask(&["backup", "--label", "Bad/Label"]).assert().failure().stderr(predicate::str::contains("invalid label"));
    p.xtask(&["backup", "--compression", "lz4"]).assert().code(2);
    p.xtask(&["backup", "prune"]).assert().failure().stderr(predicate::str::contains("does not exist"));
    fs::create_dir_all(backup_dir(&p)).unwrap();
    fs::write(backup_dir(&p).join("20250101T000000Z.tar.gz"), "not an archive").unwrap();
    p.xtask(&["backup", "verify", "latest"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("neither gzip nor zstd"));
    p.xtask(&["backup", "list"]).assert().success().stdout(predicate::str::contains("unreadable"));
    let q = bare();
    q.xtask(&["backup"]).assert().failure().stderr(predicate::str::contains("does not exist; nothing to back up"));
    assert!(leftovers(&q).is_empty());
}

/// The bytes of a hand-made member: given, or that many zeros streamed through the encoder.
enum Body<'a> {
    Bytes(&'a [u8]),
    Zeros(u64),
}

/// A hand-made member: name, the size its header declares, its bytes.
type BombMember<'a> = (&'a str, u64, Body<'a>);

/// A tar stream written by hand, so a member's header can declare more bytes than follow;
/// `complete` adds the end-of-archive blocks.
fn write_tar(out: &mut impl std::io::Write, members: &[BombMember<'_>], complete: bool) {
    let zeros = vec![0u8; 1 << 20];
    for (name, declared, body) in members {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(*declared);
        h.set_mode(0o600);
        h.set_cksum();
        out.write_all(h.as_bytes()).unwrap();
        let written = match body {
            Body::Bytes(b) => {
                out.write_all(b).unwrap();
                b.len() as u64
            }
            Body::Zeros(n) => {
                let mut left = *n;
                while left > 0 {
                    let k = left.min(zeros.len() as u64);
                    out.write_all(&zeros[..k as usize]).unwrap();
                    left -= k;
                }
                *n
            }
        };
        out.write_all(&zeros[..((512 - written % 512) % 512) as usize]).unwrap();
    }
    if complete {
        out.write_all(&zeros[..1024]).unwrap();
    }
}

/// `write_tar` into a .tar.gz or .tar.zst file.
fn bomb(path: &Path, members: &[BombMember<'_>], complete: bool) {
    let file = std::io::BufWriter::new(fs::File::create(path).unwrap());
    if path.to_string_lossy().ends_with(".gz") {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        write_tar(&mut enc, members, complete);
        enc.finish().unwrap().flush().unwrap();
    } else {
        let mut enc = zstd::Encoder::new(file, 1).unwrap();
        write_tar(&mut enc, members, complete);
        enc.finish().unwrap().flush().unwrap();
    }
}

/// Every file under `dir` (links not followed) with its size.
fn files_with_sizes(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = fs::symlink_metadata(e.path()).unwrap();
        if meta.is_dir() {
            files_with_sizes(&e.path(), out);
        } else if meta.is_file() {
            out.push((e.path(), meta.len()));
        }
    }
}

#[test]
fn a_decompression_bomb_is_refused_before_a_byte_of_it_is_written() {
    const GIB3: u64 = 3 << 30;
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let db = fs::read(p.sqlite_db()).unwrap();
    let db_sha = test_support::sha256_hex(&db);
    let rows = dump(&p);
    let uploads = backups::uploads(p.root());
    let size = db.len() as u64;
    // The kernel enforces "nothing larger than the manifest's size written anywhere": a
    // process that writes past this limit is killed by SIGXFSZ instead of exiting with 1.
    let limit: u64 = 4 << 20;
    assert!(size < limit);
    let fixed = r#""format_version":1,"created_at":"2026-01-01T00:00:00.000Z","tool":"xtask 0.1.0","dialect":"sqlite","source":"file:data/sqlite.db","migrations":{"applied":0,"last_tag":null,"tags":[]}"#;
    // Today's layout: backup.json first lists every member with its size.
    let header =
        format!(r#"{{{fixed},"members":[],"expected":[{{"path":"database/sqlite.db","type":"file","size":{size}}}]}}"#);
    // The layout of archives made before backup.json listed members: only manifest.json, last.
    let manifest = format!(
        r#"{{{fixed},"members":[{{"path":"database/sqlite.db","type":"file","size":{size},"sha256":"{db_sha}"}}]}}"#
    );
    let declared = format!("declares {GIB3} bytes (3.00 GiB)");
    // (file name, members, complete, the error it must give)
    let mut cases: Vec<(String, Vec<BombMember<'_>>, bool, String)> = Vec::new();
    for ext in ["tar.gz", "tar.zst"] {
        // Declares 3 GiB, streams 64 MiB of zeros, then the file ends.
        cases.push((
            format!("20200101T000001Z-listed.{ext}"),
            vec![
                ("backup.json", header.len() as u64, Body::Bytes(header.as_bytes())),
                ("database/sqlite.db", GIB3, Body::Zeros(64 << 20)),
            ],
            false,
            format!("member `database/sqlite.db` {declared} but backup.json lists {size} bytes"),
        ));
        // No list up front and no manifest: a first pass finds the stream cut short.
        cases.push((
            format!("20200101T000002Z-unlisted-cut.{ext}"),
            vec![("database/sqlite.db", GIB3, Body::Zeros(64 << 20))],
            false,
            "is damaged".to_string(),
        ));
    }
    // The real bomb: 3 GiB of zeros in a small file, and a manifest after it that lists the
    // member with its real size.
    for ext in ["tar.gz", "tar.zst"] {
        cases.push((
            format!("20200101T000003Z-unlisted-whole.{ext}"),
            vec![
                ("database/sqlite.db", GIB3, Body::Zeros(GIB3)),
                ("manifest.json", manifest.len() as u64, Body::Bytes(manifest.as_bytes())),
            ],
            true,
            format!("member `database/sqlite.db` {declared} but manifest.json lists {size} bytes"),
        ));
    }

    let tmp = tempfile::tempdir().unwrap();
    let mut before = Vec::new();
    files_with_sizes(p.root(), &mut before);
    for (name, members, complete, message) in &cases {
        let path = backup_dir(&p).join(name);
        bomb(&path, members, *complete);
        let archive_size = fs::metadata(&path).unwrap().len();
        assert!(archive_size < 4 << 20, "{name}: a small archive, {archive_size} bytes");
        for args in [vec!["restore", name.as_str(), "--yes"], vec!["backup", "verify", name.as_str()]] {
            let mut cmd = p.xtask_command(&args);
            cmd.env("TMPDIR", tmp.path());
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    let rl = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let out = Command::from_std(cmd).timeout(Duration::from_secs(300)).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?} on {name}: {:?}\n{err}", out.status);
            assert!(err.contains(message.as_str()) && err.contains(name.as_str()), "{args:?}: {err}");
            if args[0] == "restore" {
                assert!(err.contains("nothing was changed"), "{err}");
            }
            // Nothing left behind, nothing large written anywhere, the live data as it was.
            assert!(leftovers(&p).is_empty(), "{name}: {:?}", leftovers(&p));
            let mut written = Vec::new();
            files_with_sizes(tmp.path(), &mut written);
            assert!(written.is_empty(), "{name}: left in the temp folder: {written:?}");
            files_with_sizes(p.root(), &mut written);
            let new: Vec<_> = written.iter().filter(|f| !before.contains(f) && f.0 != path).collect();
            assert!(new.iter().all(|(_, n)| *n <= size), "{name}: {new:?}");
            assert_eq!(fs::read(p.sqlite_db()).unwrap(), db, "{name}: the live database file is unchanged");
            assert_eq!(dump(&p), rows);
            assert_eq!(backups::uploads(p.root()), uploads);
        }
        fs::remove_file(&path).unwrap();
    }
    assert!(
        !archives_in(&p).iter().any(|a| a.to_string_lossy().contains("pre-restore")),
        "no safety backup of a refused archive"
    );
}

#[test]
fn an_oversized_long_name_record_is_refused_before_it_is_read() {
    let p = seeded();
    fs::create_dir_all(backup_dir(&p)).unwrap();
    let rows = dump(&p);
    // A GNU long-name record declaring 3 GiB: the tar crate would read it whole into memory.
    let path = backup_dir(&p).join("20200101T000000Z.tar.zst");
    let file = fs::File::create(&path).unwrap();
    let mut enc = zstd::Encoder::new(file, 1).unwrap();
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(3 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    enc.write_all(h.as_bytes()).unwrap();
    enc.write_all(&vec![b'a'; 8 << 20]).unwrap();
    enc.finish().unwrap();
    for args in [["restore", "20200101T000000Z.tar.zst", "--yes"].as_slice(), &["backup", "verify", "latest"]] {
        p.xtask(args).assert().code(1).stderr(predicate::str::contains("a long-name record of 3221225472 bytes"));
    }
    assert_eq!(dump(&p), rows);
    assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
}

#[test]
fn temps_of_killed_backups_are_listed_then_removed_by_the_next_backup_and_live_ones_stay() {
    let p = seeded();
    // A backup killed while it writes its archive: its snapshot and its archive temp stay.
    let killed = p.paused(&["backup"], "backup:writing-archive");
    let pid = killed.pid();
    killed.kill9();
    let temps = temp_files(&backup_dir(&p));
    assert_eq!(temps.len(), 2, "{temps:?}");
    assert!(temps.iter().any(|n| n.starts_with(&format!(".snapshot.db.tmp-{pid}-"))), "{temps:?}");
    assert!(temps.iter().any(|n| n.contains(&format!(".tar.zst.tmp-{pid}-"))), "{temps:?}");
    let bytes: u64 = temps.iter().map(|n| fs::metadata(backup_dir(&p).join(n)).unwrap().len()).sum();
    assert!(bytes >= fs::metadata(p.sqlite_db()).unwrap().len() / 2, "the snapshot is about the database's size");
    let human = indicatif::HumanBytes(bytes).to_string();

    // `backup list` says so, and what will remove them.
    p.xtask(&["backup", "list"]).assert().success().stdout(
        predicate::str::contains(format!("found 2 leftover temp file(s) of killed runs (pid {pid}), {human}"))
            .and(predicate::str::contains("the next backup, restore or prune removes them"))
            .and(predicate::str::contains(format!("backups/.snapshot.db.tmp-{pid}-"))),
    );
    // The next backup removes them and says how much it freed, in one line.
    p.xtask(&["backup"]).assert().success().stdout(predicate::str::contains(format!(
        "removed 2 leftover temp file(s) of killed runs (pid {pid}): freed {human}\n"
    )));
    assert!(temp_files(&backup_dir(&p)).is_empty(), "{:?}", temp_files(&backup_dir(&p)));
    assert_eq!(archives_in(&p).len(), 1);
    p.xtask(&["backup", "list"]).assert().success().stdout(predicate::str::contains("leftover").not());

    // A live backup's temps are never touched: a killed backup's in another folder go, the
    // paused one's stay, and it then finishes.
    let other = p.root().join("other-backups");
    let killed = p.paused(&["backup", "--dir", "other-backups"], "backup:writing-archive");
    let dead = killed.pid();
    killed.kill9();
    assert_eq!(temp_files(&other).len(), 2);
    let live = p.paused(&["backup"], "backup:after-snapshot");
    let live_temps = temp_files(&backup_dir(&p));
    assert!(
        live_temps.len() == 1 && live_temps[0].starts_with(&format!(".snapshot.db.tmp-{}-", live.pid())),
        "{live_temps:?}"
    );
    let out = p.xtask(&["backup", "--dir", "other-backups"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains(&format!("removed 2 leftover temp file(s) of killed runs (pid {dead}): freed ")), "{out}");
    assert!(!out.contains(&live.pid().to_string()), "{out}");
    assert!(temp_files(&other).is_empty());
    assert_eq!(temp_files(&backup_dir(&p)), live_temps, "the live backup's snapshot is untouched");
    live.resume_and_finish();
    assert!(temp_files(&backup_dir(&p)).is_empty());
    assert_eq!(archives_in(&p).len(), 2);
    p.xtask(&["backup", "verify", "latest"]).assert().success();
}

#[test]
fn absurd_numbers_are_usage_errors_that_name_the_flag_and_its_range_and_write_nothing() {
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let before = snapshot_of_files(p.root());
    let cases: &[(&[&str], &str, &str)] = &[
        (&["backup", "--threads", "100000"], "--threads", "1..=256"),
        (&["backup", "--threads", "0"], "--threads", "1..=256"),
        (&["backup", "--level", "99"], "--level", "1..=19"),
        (&["backup", "--compression", "gzip", "--level", "12"], "--level", "1..=9"),
        (&["backup", "--wait", "99999999"], "--wait", "0..=86400"),
        (&["backup", "prune", "--keep-last", "1000000000"], "--keep-last", "0..=100000"),
        (&["restore", "latest", "--yes", "--wait", "99999999"], "--wait", "0..=86400"),
        (&["migrate", "--lock-timeout", "99999999"], "--lock-timeout", "0..=86400"),
        (&["seed", "--scale", "0"], "--scale", "1..="),
        (&["seed", "--scale", "100000000000"], "--scale", "1..="),
        (&["seed-images", "--concurrency", "1000"], "--concurrency", "1..=64"),
        (&["seed-images", "--max-bytes", "0"], "--max-bytes", "1.."),
        (&["seed-images", "--backoff-ms", "99999999"], "--backoff-ms", "0..="),
        (&["bench", "migrate", "--count", "0"], "--count", "1..="),
        (&["bench", "seed-images", "--concurrency", "1000"], "--concurrency", "1..=64"),
        (&["bench", "backup", "--db-mib", "0"], "--db-mib", "1..="),
        (&["bench", "backup", "--uploads-mib", "99999999999"], "--uploads-mib", "0..="),
    ];
    for (args, flag, range) in cases {
        let out = p.xtask(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag) && err.contains(range), "{args:?} must name {flag} and {range}: {err}");
        assert_eq!(snapshot_of_files(p.root()), before, "{args:?} wrote something");
    }
}

#[test]
fn a_truncated_large_archive_is_named_with_its_cause_and_what_to_do() {
    let p = seeded();
    // A database of many compressed frames, so the cut falls inside it.
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute("CREATE TABLE blobs (b BLOB)", []).unwrap();
    for _ in 0..24 {
        conn.execute("INSERT INTO blobs VALUES (randomblob(1048576))", []).unwrap();
    }
    drop(conn);
    p.xtask(&["backup", "--quiet"]).assert().success();
    p.xtask(&["backup", "--quiet", "--compression", "gzip"]).assert().success();
    let rows = dump(&p);
    let uploads = backups::uploads(p.root());
    for good in archives_in(&p) {
        let ext = if good.to_string_lossy().ends_with(".gz") { "tar.gz" } else { "tar.zst" };
        let bytes = fs::read(&good).unwrap();
        let name = format!("20200101T000000Z-cut.{ext}");
        fs::write(backup_dir(&p).join(&name), &bytes[..bytes.len() / 2]).unwrap();
        for args in [vec!["restore", name.as_str(), "--yes"], vec!["backup", "verify", name.as_str()]] {
            let out = p.xtask(&args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            for fact in [
                format!("backups/{name} is damaged: it is truncated or corrupt"),
                "reading member `database/sqlite.db`".to_string(),
                "Use another backup (`cargo xtask backup list`".to_string(),
                "`cargo xtask backup verify FILE`".to_string(),
                "make a new one with `cargo xtask backup`".to_string(),
            ] {
                assert!(err.contains(&fact), "{args:?} must say {fact:?}: {err}");
            }
            if args[0] == "restore" {
                assert!(err.contains("nothing was changed"), "{err}");
            }
            assert_eq!(dump(&p), rows);
            assert_eq!(backups::uploads(p.root()), uploads);
            assert!(leftovers(&p).is_empty(), "{:?}", leftovers(&p));
        }
        fs::remove_file(backup_dir(&p).join(&name)).unwrap();
    }
}

#[test]
fn a_restored_database_keeps_the_mode_of_the_file_it_replaces() {
    let p = seeded();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let archive = archives_in(&p).pop().unwrap();
    let archive = archive.file_name().unwrap().to_str().unwrap().to_string();
    for kept in [0o644, 0o640, 0o600, 0o664] {
        fs::set_permissions(p.sqlite_db(), fs::Permissions::from_mode(kept)).unwrap();
        p.xtask(&["restore", &archive, "--yes"]).assert().success();
        assert_eq!(mode(&p.sqlite_db()), kept, "restored over a {kept:o} file");
        assert_eq!(integrity(&p.sqlite_db()), "ok");
    }
}
