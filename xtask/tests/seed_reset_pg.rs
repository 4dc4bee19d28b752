//! seed, reset-data and reset-complete on a real PostgreSQL server through the real binary.
//! Each test gets its own database on the throwaway cluster (or TEST_POSTGRES_URL).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use server::db::connection::Connection;
use test_support::pg::TestDb;

/// A temporary project root using the repository's migrations, pointed at one test database.
struct Project {
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Project {
    fn new() -> Option<Project> {
        let db = test_support::pg::database()?;
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::os::unix::fs::symlink(repo.join("migrations"), dir.path().join("migrations")).unwrap();
        Some(Project { dir, db })
    }

    fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("xtask").unwrap();
        cmd.env("CMS_PROJECT_ROOT", self.dir.path())
            .env("CMS_IMAGES_OFFLINE", "1")
            .env("DATABASE_URL", self.db.url())
            .current_dir("/")
            .args(args);
        cmd
    }

    fn connection(&self) -> Connection {
        Connection::Postgres(self.db.client())
    }

    fn counts(&self) -> HashMap<String, i64> {
        server::seed::counts(&mut self.connection()).unwrap().into_iter().collect()
    }

    /// Every application row as text, in a stable order: equal dumps mean identical data.
    fn dump(&self) -> String {
        let mut client = self.db.client();
        let mut tables: Vec<String> = self.counts().into_keys().collect();
        tables.sort();
        let mut out = String::new();
        for table in tables {
            let sql = format!("SELECT t::text FROM \"{table}\" t ORDER BY 1");
            for row in client.query(&sql, &[]).unwrap() {
                out.push_str(&format!("{table}: {}\n", row.get::<_, String>(0)));
            }
        }
        out
    }
}

#[test]
fn seeding_twice_changes_nothing_and_every_table_gets_rows() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed"])
        .assert()
        .success()
        .stdout(predicate::str::contains("http://localhost:4000/pages/home?locale=en"));
    let first = p.dump();
    p.xtask(&["seed"]).assert().success().stdout(predicate::str::contains("already seeded"));
    assert_eq!(p.dump(), first);
    let counts = p.counts();
    assert!(counts.values().all(|n| *n > 0), "{counts:?}");
    assert_eq!(counts["teams"], 1);
    assert_eq!(counts["posts"], 3);
}

#[test]
fn same_seed_same_rows_different_seed_different_rows() {
    let (Some(a), Some(b), Some(c)) = (Project::new(), Project::new(), Project::new()) else { return };
    for (p, n) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed", "--seed", n]).assert().success();
    }
    assert_eq!(a.dump(), b.dump());
    assert_ne!(a.dump(), c.dump());
}

#[test]
fn a_failure_part_way_through_seeding_leaves_nothing() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    let (mut tables, _) = server::seed::demo_tables(Some(1));
    let posts = tables.iter_mut().find(|t| t.name == "posts").unwrap();
    let env = posts.columns.iter().position(|c| *c == "environment_id").unwrap();
    posts.rows[2][env] = server::seed::V::Text("no-such-environment".into());
    let err = server::seed::seed_tables(&mut p.connection(), &tables, false).unwrap_err();
    assert!(err.to_string().contains("posts"), "{err}");
    assert!(p.counts().values().all(|n| *n == 0), "{:?}", p.counts());
}

#[test]
fn seed_force_and_scale_write_through_copy() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let before = p.dump();
    p.xtask(&["seed", "--force"]).assert().failure().stderr(predicate::str::contains("--yes"));
    assert_eq!(p.dump(), before, "a refused --force changes nothing");
    p.xtask(&["seed", "--force", "--yes", "--seed", "1"]).assert().success();
    assert_eq!(p.dump(), before, "--force with the same seed gives the same rows back");
    p.xtask(&["seed", "--scale", "3", "--seed", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scaled: 3 sites"));
    assert_eq!(p.counts()["sites"], 4);
}

#[test]
fn reset_data_empties_every_table_and_keeps_history() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--scale", "2"]).assert().success();
    assert!(p.counts().values().all(|n| *n > 0), "every table has rows: {:?}", p.counts());
    p.xtask(&["reset-data"]).assert().failure().stderr(predicate::str::contains("refusing without --yes"));
    assert_eq!(p.counts()["sites"], 3, "a refused reset changes nothing");
    p.xtask(&["reset-data", "--yes", "--no-seed"]).assert().success();
    assert!(p.counts().values().all(|n| *n == 0), "{:?}", p.counts());
    p.xtask(&["check", "--no-pending"]).assert().success();
    p.xtask(&["reset-data", "--yes", "--seed", "3"]).assert().success().stdout(predicate::str::contains("seeded"));
    assert_eq!(p.counts()["sites"], 1);
}

#[test]
fn reset_complete_backs_up_drops_and_rebuilds() {
    let Some(p) = Project::new() else { return };
    // From an empty database: nothing to back up.
    p.xtask(&["reset-complete", "--yes", "--no-images", "--seed", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("drop tables").and(predicate::str::contains("safety backup").not()));
    let seeded = p.dump();
    // Something of ours that must go, and a leftover upload.
    p.db.client().batch_execute("CREATE TABLE stray (x int); INSERT INTO stray VALUES (1);").unwrap();
    fs::write(p.dir.path().join("uploads/images/old.jpg"), "x").unwrap();
    p.xtask(&["reset-complete", "--yes", "--no-images", "--seed", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("safety backup"));
    assert_eq!(p.dump(), seeded);
    assert!(!p.dir.path().join("uploads/images/old.jpg").exists());
    let stray: i64 =
        p.db.client().query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'stray'", &[]).unwrap().get(0);
    assert_eq!(stray, 0);
    p.xtask(&["check", "--no-pending"]).assert().success();
    // The safety backup is one of the backup command's archives; restoring it brings back the
    // stray table that the reset dropped.
    let backups = test_support::fixture::visible_files(&p.dir.path().join("backups"));
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0].contains("pre-reset"), "{backups:?}");
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    p.xtask(&["restore", "latest", "--yes"]).assert().success();
    let stray: i64 = p.db.client().query_one("SELECT count(*) FROM stray", &[]).unwrap().get(0);
    assert_eq!(stray, 1);
}

#[test]
fn reset_complete_refuses_while_another_connection_is_open() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["reset-complete", "--yes", "--no-images", "--seed", "2"]).assert().success();
    let before = p.dump();
    let mut other = p.db.client();
    other.batch_execute("SET application_name = 'cms-server'").unwrap();
    p.xtask(&["reset-complete", "--yes", "--no-images"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("other connection").and(predicate::str::contains("cms-server")));
    drop(other);
    assert_eq!(p.dump(), before, "a refused reset changes nothing");
    // Once it is gone, the reset goes ahead (PostgreSQL may take a moment to see the session end).
    let mut ok = false;
    for _ in 0..50 {
        if p.xtask(&["reset-complete", "--yes", "--no-images", "--no-backup"]).output().unwrap().status.success() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok, "reset-complete never went ahead after the other connection closed");
}

#[test]
fn reset_complete_refuses_a_remote_server_without_allow_remote() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    let remote = "postgres://app:secret@db.example.invalid:5432/cms";
    p.xtask(&["reset-complete", "--yes", "--no-images"]).env("DATABASE_URL", remote).assert().failure().stderr(
        predicate::str::contains("--allow-remote")
            .and(predicate::str::contains("not on this machine"))
            .and(predicate::str::contains("secret").not()),
    );
    assert!(!p.dir.path().join("uploads").exists(), "nothing was touched");
}

fn foreign_keys(p: &Project) -> Vec<String> {
    p.db.client()
        .query(
            "SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
               FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn scale_on_postgres_puts_back_every_foreign_key_and_a_violation_undoes_everything() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let keys_before = foreign_keys(&p);
    assert!(keys_before.len() >= 10, "{keys_before:?}");
    p.xtask(&["seed", "--scale", "4"]).assert().success();
    assert_eq!(foreign_keys(&p), keys_before, "the same constraints, validated, after a bulk load");
    let rows_before = p.dump();

    // A bulk load whose rows break a foreign key fails when the key is added back, and the
    // transaction leaves neither rows nor a missing constraint behind.
    let mut client = p.db.client();
    let mut tx = client.transaction().unwrap();
    let keys = server::seed::write::postgres_drop_foreign_keys(&mut tx, server::seed::scale::TABLES).unwrap();
    let anchors = server::seed::scale::Anchors {
        team_id: "no-such-team".into(),
        text_section_id: "no-such-definition".into(),
        locales: vec!["en".into()],
    };
    let tables =
        server::seed::scale::sites(&mut server::seed::ids::IdSource::new(Some(9)), &anchors, 100, 1, 1_700_000_000_000);
    server::seed::write::postgres(&mut tx, &tables).unwrap();
    let err = server::seed::write::postgres_add_foreign_keys(&mut tx, &keys).unwrap_err();
    assert!(err.to_string().contains("foreign key"), "{err}");
    drop(tx);
    drop(client);
    assert_eq!(foreign_keys(&p), keys_before);
    assert_eq!(p.dump(), rows_before);
}
