//! seed, reset-data and reset-complete on a real PostgreSQL server through the real binary.
//! Each test gets its own database on the throwaway cluster (or TEST_POSTGRES_URL).

use std::collections::HashMap;
use std::fs;

use cms_db::connection::Connection;
use predicates::prelude::*;
use test_support::pg::TestDb;
use test_support::project::Project;
use test_support::{demo, rows};

/// A temporary project root using the repository's migrations, on a test database of its own;
/// images without the network.
fn project() -> Option<Project> {
    Project::linked().env("CMS_IMAGES_OFFLINE", "1").on_postgres()
}

fn db(p: &Project) -> &TestDb {
    p.pg().expect("a project on PostgreSQL")
}

fn connection(p: &Project) -> Connection {
    Connection::Postgres(db(p).client())
}

fn counts(p: &Project) -> HashMap<String, i64> {
    cms_db::seed::counts(&mut connection(p)).unwrap().into_iter().collect()
}

#[test]
fn seeding_twice_changes_nothing_and_every_table_gets_rows() {
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed"])
        .assert()
        .success()
        .stdout(predicate::str::contains("http://localhost:4000/pages/home?locale=en"));
    let first = rows::application(&p);
    p.xtask(&["seed"]).assert().success().stdout(predicate::str::contains("already seeded"));
    assert_eq!(rows::application(&p), first);
    let counts = counts(&p);
    assert!(counts.values().all(|n| *n > 0), "{counts:?}");
    assert_eq!(counts["teams"], 1);
    assert_eq!(counts["posts"], 3);
}

#[test]
fn same_seed_same_rows_different_seed_different_rows() {
    let (Some(a), Some(b), Some(c)) = (project(), project(), project()) else { return };
    for (p, n) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed", "--seed", n]).assert().success();
    }
    assert_eq!(rows::application(&a), rows::application(&b));
    assert_ne!(rows::application(&a), rows::application(&c));
}

#[test]
fn with_images_on_disk_the_same_seed_gives_the_same_rows_whatever_ran_before() {
    let photos = demo::photos();
    let (Some(a), Some(b), Some(c)) = (project(), project(), project()) else { return };
    for p in [&a, &b, &c] {
        p.xtask(&["migrate", "-q"]).assert().success();
        demo::put(p.root(), &photos);
    }
    // b: seed-images registered the files before the seed (its own ids and times).
    b.xtask(&["seed-images", "--offline"]).assert().success().stdout(predicate::str::contains("9 already present"));
    for (p, n) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        p.xtask(&["seed", "--seed", n]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    }
    let seeded = rows::application(&a);
    let (bytes, placeholders): (i64, i64) = {
        let row = db(&a)
            .client()
            .query_one("SELECT sum(bytes)::bigint, count(*) FILTER (WHERE is_placeholder) FROM images", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((bytes, placeholders), (photos.iter().map(|(_, b)| b.len() as i64).sum(), 0));
    assert_eq!(rows::application(&b), seeded, "seed-images before the seed changes nothing");
    assert_ne!(rows::application(&c), seeded, "--seed 8 differs");
    c.xtask(&["reset-data", "--yes", "--seed", "7"]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    assert_eq!(rows::application(&c), seeded, "reset-data --seed 7");
    c.xtask(&["reset-data", "--yes"]).assert().success();
    assert_ne!(rows::application(&c), seeded, "without --seed the rows are fresh");
    c.xtask(&["seed", "--force", "--yes", "--seed", "7"]).assert().success();
    assert_eq!(rows::application(&c), seeded, "seed --force --seed 7");
}

/// The rows `seed --seed 7` writes on PostgreSQL, pinned before the demo copy moved from Rust literals
/// into a data file: every seeded row must stay byte for byte what it was.
const SEED_7: demo::PinnedSeed7 = demo::PinnedSeed7 {
    plain: "9e3da870608a75eb07777312c699080d504fde3a2afaf20b8817c0a55b1fbc3c",
    with_photos: "8b49e389a65584385eb0a92cef47829f439d16f8729e64dcd943429f3a3869b7",
    scale_3: "a9980b90ebdb4e9fb8e0b1810fa1cef593bdf83666198b20d973643407a8b962",
};

#[test]
fn seed_7_writes_exactly_the_pinned_rows() {
    demo::assert_seed_7_writes(project, &SEED_7);
}

/// The reset as reset-data runs it, on an open transaction: the writer lock, clearing and the
/// seed's rows.
fn reset_uncommitted(tx: &mut postgres::Transaction<'_>, seed: u64) {
    cms_db::seed::clear::lock_writers(tx).unwrap();
    cms_db::seed::clear::delete_all(tx).unwrap_or_else(|e| panic!("the reset could not clear the data: {e:#?}"));
    cms_db::seed::write::insert(tx, &cms_db::seed::demo_tables(Some(seed)).0).unwrap();
}

#[test]
fn a_reset_takes_no_lock_that_blocks_readers_and_old_snapshots_keep_the_old_rows() {
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    p.xtask(&["seed", "--scale", "2", "--seed", "1"]).assert().success();
    let old = rows::application(&p);
    // A request's snapshot, taken before the reset: it has read one table so far.
    let mut reader = db(&p).client();
    reader.batch_execute("SET statement_timeout = '10s'").unwrap();
    let mut request = reader
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .unwrap();
    let teams: i64 = request.query_one("SELECT count(*) FROM teams", &[]).unwrap().get(0);
    assert_eq!(teams, 1);

    let mut writer = db(&p).client();
    // A reset that needs a lock the request holds would wait for it: fail instead of hanging.
    writer.batch_execute("SET lock_timeout = '10s'").unwrap();
    let mut tx = writer.transaction().unwrap();
    reset_uncommitted(&mut tx, 2);
    let modes: Vec<String> = tx
        .query(
            "SELECT DISTINCT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
              WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for mode in &modes {
        assert!(
            ["AccessShareLock", "RowShareLock", "RowExclusiveLock"].contains(&mode.as_str()),
            "the reset holds {mode} on an application table or index, which readers' ACCESS SHARE waits for: {modes:?}"
        );
    }
    // The request reads every table while the reset is uncommitted (no wait: a lock wait would
    // hit the statement timeout), and again after it commits: the old data, whole, both times.
    assert_eq!(rows::postgres(&mut request, &[]), old);
    tx.commit().unwrap();
    assert_eq!(rows::postgres(&mut request, &[]), old, "a snapshot taken before the reset sees all of the old rows");
    request.commit().unwrap();
    let new = rows::application(&p);
    assert_ne!(new, old);
    assert_eq!(counts(&p)["sites"], 1);
    p.xtask(&["reset-data", "--yes", "--seed", "2"]).assert().success();
    assert_eq!(rows::application(&p), new, "the same rows as reset-data --seed 2");
}

#[test]
fn two_resets_at_once_take_turns() {
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let mut first_client = db(&p).client();
    let mut first = first_client.transaction().unwrap();
    reset_uncommitted(&mut first, 2);
    // A second reset meanwhile waits for the first, then clears what the first wrote.
    let second = {
        let mut reset = p.xtask(&["reset-data", "--yes", "--seed", "3"]);
        std::thread::spawn(move || reset.output().unwrap())
    };
    // Commit only once the second reset is waiting for the writer lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut watcher = db(&p).client();
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
                    AND (classid::bigint << 32 | objid::bigint) = $1",
                &[&cms_db::seed::clear::WRITER_LOCK_KEY],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second reset never waited for the first");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.commit().unwrap();
    let out = second.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts = counts(&p);
    assert_eq!((counts["teams"], counts["sites"], counts["pages"]), (1, 1, 3), "{counts:?}");
    let reference = project().unwrap();
    reference.xtask(&["migrate", "-q"]).assert().success();
    reference.xtask(&["seed", "--seed", "3"]).assert().success();
    assert_eq!(rows::application(&p), rows::application(&reference), "the second reset's rows, exactly");
}

#[test]
fn a_failure_part_way_through_seeding_leaves_nothing() {
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    let (mut tables, _) = cms_db::seed::demo_tables(Some(1));
    let posts = tables.iter_mut().find(|t| t.name == "posts").unwrap();
    let env = posts.columns.iter().position(|c| *c == "environment_id").unwrap();
    posts.rows[2][env] = cms_db::connection::Value::Text("no-such-environment".into());
    let err = cms_db::seed::seed_tables(&mut connection(&p), &tables, false).unwrap_err();
    assert!(err.to_string().contains("posts"), "{err}");
    assert!(counts(&p).values().all(|n| *n == 0), "{:?}", counts(&p));
}

#[test]
fn seed_force_and_scale_write_through_copy() {
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let before = rows::application(&p);
    p.xtask(&["seed", "--force"]).assert().failure().stderr(predicate::str::contains("--yes"));
    assert_eq!(rows::application(&p), before, "a refused --force changes nothing");
    p.xtask(&["seed", "--force", "--yes", "--seed", "1"]).assert().success();
    assert_eq!(rows::application(&p), before, "--force with the same seed gives the same rows back");
    p.xtask(&["seed", "--scale", "3", "--seed", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scaled: 3 sites"));
    assert_eq!(counts(&p)["sites"], 4);
}

#[test]
fn reset_data_empties_every_table_and_keeps_history() {
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--scale", "2"]).assert().success();
    assert!(counts(&p).values().all(|n| *n > 0), "every table has rows: {:?}", counts(&p));
    p.xtask(&["reset-data"]).assert().failure().stderr(predicate::str::contains("refusing without --yes"));
    assert_eq!(counts(&p)["sites"], 3, "a refused reset changes nothing");
    p.xtask(&["reset-data", "--yes", "--no-seed"]).assert().success();
    assert!(counts(&p).values().all(|n| *n == 0), "{:?}", counts(&p));
    p.xtask(&["check", "--no-pending"]).assert().success();
    p.xtask(&["reset-data", "--yes", "--seed", "3"]).assert().success().stdout(predicate::str::contains("seeded"));
    assert_eq!(counts(&p)["sites"], 1);
}

#[test]
fn reset_complete_backs_up_drops_and_rebuilds() {
    let Some(p) = project() else { return };
    // From an empty database: nothing to back up.
    p.xtask(&["reset-complete", "--yes", "--no-images", "--seed", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("drop tables").and(predicate::str::contains("safety backup").not()));
    let seeded = rows::application(&p);
    // Something of ours that must go, and a leftover upload.
    db(&p).client().batch_execute("CREATE TABLE stray (x int); INSERT INTO stray VALUES (1);").unwrap();
    fs::write(p.root().join("uploads/images/old.jpg"), "x").unwrap();
    p.xtask(&["reset-complete", "--yes", "--no-images", "--seed", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("safety backup"));
    assert_eq!(rows::application(&p), seeded);
    assert!(!p.root().join("uploads/images/old.jpg").exists());
    let stray: i64 =
        db(&p).client().query_one("SELECT count(*) FROM pg_tables WHERE tablename = 'stray'", &[]).unwrap().get(0);
    assert_eq!(stray, 0);
    p.xtask(&["check", "--no-pending"]).assert().success();
    // The safety backup is one of the backup command's archives; restoring it brings back the
    // stray table that the reset dropped.
    let backups = test_support::fixture::visible_files(&p.root().join("backups"));
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0].contains("pre-reset"), "{backups:?}");
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    p.xtask(&["restore", "latest", "--yes"]).assert().success();
    let stray: i64 = db(&p).client().query_one("SELECT count(*) FROM stray", &[]).unwrap().get(0);
    assert_eq!(stray, 1);
}

#[test]
fn reset_complete_refuses_while_another_connection_is_open() {
    let Some(p) = project() else { return };
    p.xtask(&["reset-complete", "--yes", "--no-images", "--seed", "2"]).assert().success();
    let before = rows::application(&p);
    let mut other = db(&p).client();
    other.batch_execute("SET application_name = 'cms-server'").unwrap();
    p.xtask(&["reset-complete", "--yes", "--no-images"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("other connection").and(predicate::str::contains("cms-server")));
    drop(other);
    assert_eq!(rows::application(&p), before, "a refused reset changes nothing");
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
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    let remote = "postgres://app:secret@db.example.invalid:5432/cms";
    p.xtask(&["reset-complete", "--yes", "--no-images"]).env("DATABASE_URL", remote).assert().failure().stderr(
        predicate::str::contains("--allow-remote")
            .and(predicate::str::contains("not on this machine"))
            .and(predicate::str::contains("secret").not()),
    );
    assert!(!p.root().join("uploads").exists(), "nothing was touched");
}

fn foreign_keys(p: &Project) -> Vec<String> {
    db(p)
        .client()
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
    let Some(p) = project() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let keys_before = foreign_keys(&p);
    assert!(keys_before.len() >= 10, "{keys_before:?}");
    p.xtask(&["seed", "--scale", "4"]).assert().success();
    assert_eq!(foreign_keys(&p), keys_before, "the same constraints, validated, after a bulk load");
    let rows_before = rows::application(&p);

    // A bulk load whose rows break a foreign key fails when the key is added back, and the
    // transaction leaves neither rows nor a missing constraint behind.
    let anchors = cms_db::seed::scale::Anchors {
        team_id: "no-such-team".into(),
        text_section_id: "no-such-definition".into(),
        locales: vec!["en".into()],
    };
    let tables =
        cms_db::seed::scale::sites(&mut cms_db::seed::ids::IdSource::new(Some(9)), &anchors, 100, 1, 1_700_000_000_000);
    let mut written = 0;
    let err = cms_db::seed::bulk::load(&mut connection(&p), cms_db::seed::scale::TABLES, [tables], |_| written += 1)
        .unwrap_err();
    assert_eq!(written, 1, "the rows were written before the keys came back");
    assert!(err.to_string().contains("foreign key"), "{err}");
    assert_eq!(foreign_keys(&p), keys_before);
    assert_eq!(rows::application(&p), rows_before);
}
