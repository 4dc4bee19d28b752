//! backup and restore on a real PostgreSQL (test-support's throwaway cluster), with real
//! pg_dump and pg_restore.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

struct Project {
    dir: tempfile::TempDir,
    url: String,
}

impl Project {
    fn new(url: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::os::unix::fs::symlink(repo.join("migrations"), dir.path().join("migrations")).unwrap();
        Project { dir, url: url.to_string() }
    }

    fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("xtask").unwrap();
        cmd.env("CMS_PROJECT_ROOT", self.dir.path()).env("DATABASE_URL", &self.url).current_dir("/").args(args);
        cmd
    }

    fn archives(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(self.dir.path().join("backups"))
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(".tar.zst")).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Every row of every application table, as text.
fn dump(client: &mut postgres::Client) -> String {
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

fn uploads(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(root.join("uploads")).unwrap().flatten() {
        out.insert(
            e.file_name().to_string_lossy().into_owned(),
            test_support::sha256_hex(&fs::read(e.path()).unwrap()),
        );
    }
    out
}

#[test]
fn postgres_round_trip_with_a_safety_backup() {
    let Some(db) = test_support::pg::database() else { return };
    let p = Project::new(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "5"]).assert().success();
    fs::create_dir_all(p.dir.path().join("uploads")).unwrap();
    fs::write(p.dir.path().join("uploads/a.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
    let rows = dump(&mut db.client());
    let files = uploads(p.dir.path());

    p.xtask(&["backup"]).assert().success().stdout(predicate::str::contains("postgresql, 6 migration(s)"));
    let archive = p.archives().pop().unwrap();
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    p.xtask(&["backup", "list"]).assert().success().stdout(predicate::str::contains("postgresql"));

    {
        let mut c = db.client();
        c.batch_execute("DELETE FROM posts; UPDATE pages SET slug = slug || '-changed'").unwrap();
    }
    fs::remove_file(p.dir.path().join("uploads/a.jpg")).unwrap();
    assert_ne!(dump(&mut db.client()), rows);

    // Refused while another session is connected.
    let holder = db.client();
    p.xtask(&["restore", "latest", "--yes"]).assert().failure().stderr(predicate::str::contains("in use"));
    drop(holder);
    p.xtask(&["restore", archive.to_str().unwrap(), "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pre-restore"));
    assert_eq!(dump(&mut db.client()), rows);
    assert_eq!(uploads(p.dir.path()), files);
    p.xtask(&["check", "--no-pending"]).assert().success();
    // The safety backup holds the changed state.
    let safety = p.archives().into_iter().find(|a| a.to_string_lossy().contains("pre-restore")).unwrap();
    p.xtask(&["backup", "verify", safety.to_str().unwrap()]).assert().success();
}

#[test]
fn postgres_backup_during_continuous_writes_restores_a_committed_prefix() {
    let Some(db) = test_support::pg::database() else { return };
    let p = Project::new(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    let mut setup = db.client();
    setup.batch_execute("CREATE TABLE writes (n bigint PRIMARY KEY, payload text NOT NULL)").unwrap();
    drop(setup);
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicI64::new(0));
    let writer = {
        let (stop, committed) = (stop.clone(), committed.clone());
        let mut client = db.client();
        std::thread::spawn(move || {
            let insert = client.prepare("INSERT INTO writes (n, payload) VALUES ($1, $2)").unwrap();
            let payload = "x".repeat(100);
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                client.execute(&insert, &[&n, &payload]).unwrap();
                committed.store(n, Ordering::SeqCst);
            }
        })
    };
    while committed.load(Ordering::SeqCst) < 500 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = committed.load(Ordering::SeqCst);
    let t = Instant::now();
    p.xtask(&["backup", "--quiet"]).assert().success();
    let elapsed = t.elapsed();
    let after = committed.load(Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let rate = (after - before) as f64 / elapsed.as_secs_f64();
    assert!(rate >= 500.0, "the writer must commit at least 500 tx/s during the backup; it did {rate:.0}");

    p.xtask(&["restore", "latest", "--yes"]).assert().success();
    let mut c = db.client();
    let row = c.query_one("SELECT count(*), min(n), max(n) FROM writes", &[]).unwrap();
    let (count, min, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((min, count), (1, max), "a prefix 1..=k without gaps");
    assert!(count >= before && count <= after, "{before} <= {count} <= {after}");
}

#[test]
fn a_failing_pg_restore_changes_nothing() {
    let Some(db) = test_support::pg::database() else { return };
    let p = Project::new(db.url());
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "2"]).assert().success();
    p.xtask(&["backup", "--quiet"]).assert().success();
    // A view that depends on a table the restore must drop makes pg_restore fail part-way.
    let mut c = db.client();
    c.batch_execute("DELETE FROM posts; CREATE VIEW v_pages AS SELECT * FROM pages;").unwrap();
    let rows = dump(&mut c);
    drop(c);
    p.xtask(&["restore", "latest", "--yes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("database is unchanged"));
    assert_eq!(dump(&mut db.client()), rows);
}
