//! seed, reset-data and reset-complete on SQLite through the real binary.

use std::fs;

use cms_db::connection::Connection;
use predicates::prelude::*;
use test_support::project::Project;
use test_support::{demo, rows};

/// A temporary project root that uses the repository's migrations, on its SQLite file (no
/// `DATABASE_URL`); images without the network.
fn project() -> Project {
    Project::linked().env("CMS_IMAGES_OFFLINE", "1")
}

fn counts(p: &Project) -> Vec<(String, i64)> {
    let conn = cms_db::sqlite::open_read_only(&p.sqlite_db()).unwrap().unwrap();
    cms_db::seed::counts(&mut Connection::Sqlite(conn)).unwrap()
}

#[test]
fn seed_is_idempotent_and_prints_a_summary() {
    let p = project();
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed"]).assert().success().stdout(
        predicate::str::contains("http://localhost:4000/pages/home?locale=en").and(predicate::str::contains("team id")),
    );
    let first = rows::application(&p);
    p.xtask(&["seed"]).assert().success().stdout(predicate::str::contains("already seeded"));
    assert_eq!(rows::application(&p), first);
    let counts: std::collections::HashMap<_, _> = counts(&p).into_iter().collect();
    assert_eq!(counts["teams"], 1);
    assert_eq!(counts["pages"], 3);
    assert_eq!(counts["posts"], 3);
    assert!(counts["section_definitions"] >= 7);
}

#[test]
fn same_seed_same_rows_different_seed_different_rows() {
    let (a, b, c) = (project(), project(), project());
    for (p, n) in [(&a, "42"), (&b, "42"), (&c, "43")] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed", "--seed", n]).assert().success();
    }
    assert_eq!(rows::application(&a), rows::application(&b));
    assert_ne!(rows::application(&a), rows::application(&c));
    let (d, e) = (project(), project());
    for p in [&d, &e] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed"]).assert().success();
    }
    assert_ne!(rows::application(&d), rows::application(&e), "without --seed, ids are fresh");
}

/// The rows `seed --seed 7` writes on SQLite, pinned before the demo copy moved from Rust literals
/// into a data file: every seeded row must stay byte for byte what it was.
const SEED_7: demo::PinnedSeed7 = demo::PinnedSeed7 {
    plain: "9e5470cb21c011d2e7486e632191a3f8de05ced01af03b3251968e45625fe63b",
    with_photos: "670497b3fdbcf30cca747cc5d66fa5e4425a2b233726f8bab0a3dfae535bc83c",
    scale_3: "807e98473426935a8f994a1fd12499dc002ed7bdeb8d87b50a28d652f7cbac2d",
};

#[test]
fn seed_7_writes_exactly_the_pinned_rows() {
    demo::assert_seed_7_writes(|| Some(project()), &SEED_7);
}

#[test]
fn with_images_on_disk_the_same_seed_gives_the_same_rows_whatever_ran_before() {
    let photos = demo::photos();
    let projects: Vec<Project> = (0..4).map(|_| project()).collect();
    for p in &projects {
        p.xtask(&["migrate", "-q"]).assert().success();
        demo::put(p.root(), &photos);
    }
    let [a, b, c, d] = &projects[..] else { unreachable!() };
    // c: seed-images registered the files before the seed (its own ids and times).
    c.xtask(&["seed-images", "--offline"]).assert().success().stdout(predicate::str::contains("9 already present"));
    for (p, n) in [(a, "7"), (b, "7"), (c, "7"), (d, "8")] {
        p.xtask(&["seed", "--seed", n]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    }
    let seeded = rows::application(a);
    // The files are registered as they are on disk, not as placeholders.
    let conn = rusqlite::Connection::open(a.sqlite_db()).unwrap();
    let (bytes, placeholders): (i64, i64) = conn
        .query_row("SELECT sum(bytes), sum(is_placeholder) FROM images", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    drop(conn);
    assert_eq!((bytes, placeholders), (photos.iter().map(|(_, b)| b.len() as i64).sum(), 0));
    assert_eq!(rows::application(b), seeded, "two folders with the same files, seeded with --seed 7");
    assert_eq!(rows::application(c), seeded, "seed-images before the seed changes nothing");
    assert_ne!(rows::application(d), seeded, "--seed 8 differs");
    // reset-data and seed --force with --seed 7 give the same rows again, from any data.
    d.xtask(&["reset-data", "--yes", "--seed", "7"]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    assert_eq!(rows::application(d), seeded, "reset-data --seed 7");
    b.xtask(&["reset-data", "--yes"]).assert().success();
    assert_ne!(rows::application(b), seeded, "without --seed the rows are fresh");
    b.xtask(&["seed", "--force", "--yes", "--seed", "7"]).assert().success();
    assert_eq!(rows::application(b), seeded, "seed --force --seed 7");
    // seed-images afterwards finds the rows as it would have written them.
    c.xtask(&["seed-images", "--offline"]).assert().success();
    let ids = |p: &Project| -> Vec<(String, String)> {
        let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
        let mut st = conn.prepare("SELECT file_name, id FROM images ORDER BY file_name").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(ids(c), ids(a));
}

#[test]
fn a_failure_part_way_through_seeding_leaves_nothing() {
    let p = project();
    p.xtask(&["migrate", "-q"]).assert().success();
    let (mut tables, _) = cms_db::seed::demo_tables(Some(1));
    // Break a late table: a post whose environment does not exist.
    let posts = tables.iter_mut().find(|t| t.name == "posts").unwrap();
    let env = posts.columns.iter().position(|c| *c == "environment_id").unwrap();
    posts.rows[1][env] = cms_db::connection::Value::Text("no-such-environment".into());
    let mut conn = cms_db::connect(&cms_db::DatabaseUrl::Sqlite { path: p.sqlite_db() }).unwrap();
    assert!(cms_db::seed::seed_tables(&mut conn, &tables, false).is_err());
    drop(conn);
    assert!(counts(&p).iter().all(|(_, n)| *n == 0), "{:?}", counts(&p));
}

#[test]
fn scale_adds_coherent_sites_and_a_second_run_adds_more() {
    let p = project();
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "5", "--scale", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scaled: 3 sites"));
    p.xtask(&["seed", "--seed", "5", "--scale", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scaled: 2 sites"));
    let counts: std::collections::HashMap<_, _> = counts(&p).into_iter().collect();
    assert_eq!(counts["sites"], 6);
    assert_eq!(counts["environments"], 1 + 5 * 2);
    p.xtask(&["check"]).assert().success();
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    let problems: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(problems, 0);
    p.xtask(&["seed", "--scale", "x"]).assert().failure().stderr(predicate::str::contains("invalid value"));
}

#[test]
fn a_scale_run_that_fails_part_way_adds_nothing_and_ends() {
    let p = project();
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let before = rows::application(&p);
    // Fails in the third batch of sites, while the generator is ahead of the writer.
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER fail_posts BEFORE INSERT ON posts WHEN (SELECT count(*) FROM posts) > 6000
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .unwrap();
    drop(conn);
    p.xtask(&["seed", "--scale", "1000"])
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .failure()
        .stderr(predicate::str::contains("injected failure"));
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    conn.execute_batch("DROP TRIGGER fail_posts").unwrap();
    drop(conn);
    assert_eq!(rows::application(&p), before, "all or nothing");
}

#[test]
fn seed_on_an_unmigrated_database_says_what_to_do() {
    let p = project();
    p.xtask(&["seed"]).assert().failure().stderr(predicate::str::contains("run `cargo xtask migrate` first"));
}

#[test]
fn reset_data_empties_every_table_and_keeps_history() {
    let p = project();
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed"]).assert().success();
    assert!(counts(&p).iter().all(|(_, n)| *n > 0), "every table has rows: {:?}", counts(&p));
    p.xtask(&["reset-data"]).assert().failure().stderr(predicate::str::contains("refusing without --yes"));
    p.xtask(&["reset-data", "--yes", "--no-seed"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cleared 12 tables"));
    assert!(counts(&p).iter().all(|(_, n)| *n == 0), "{:?}", counts(&p));
    p.xtask(&["check", "--no-pending"]).assert().success();
    p.xtask(&["reset-data", "--yes", "--seed", "3"]).assert().success().stdout(predicate::str::contains("seeded"));
    assert!(counts(&p).iter().all(|(_, n)| *n > 0));
}

#[test]
fn reset_complete_from_nothing_and_with_wal_files_missing() {
    let p = project();
    p.xtask(&["reset-complete", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("migrate").and(predicate::str::contains("done in")));
    assert!(p.root().join("uploads/images").is_dir());
    assert!(counts(&p).iter().all(|(_, n)| *n > 0));
    // A leftover upload and vector index go; -wal/-shm may or may not exist.
    fs::write(p.root().join("uploads/images/old.jpg"), "x").unwrap();
    fs::create_dir_all(p.root().join("vector_index/x")).unwrap();
    let _ = fs::remove_file(p.root().join("data/sqlite.db-wal"));
    let _ = fs::remove_file(p.root().join("data/sqlite.db-shm"));
    p.xtask(&["reset-complete", "--yes"]).assert().success().stdout(predicate::str::contains("safety backup"));
    assert!(!p.root().join("uploads/images/old.jpg").exists());
    assert!(!p.root().join("vector_index/x").exists());
    // The safety backup is one of the backup command's archives, verified and restorable.
    let backups = test_support::fixture::visible_files(&p.root().join("backups"));
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0].contains("pre-reset"), "{backups:?}");
    p.xtask(&["backup", "verify", "latest"]).assert().success();
    p.xtask(&["restore", "latest", "--yes"]).assert().success();
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    let teams: i64 = conn.query_row("SELECT count(*) FROM teams", [], |r| r.get(0)).unwrap();
    assert_eq!(teams, 1);
}

#[test]
fn reset_complete_fetches_images_and_reset_data_keeps_them_registered() {
    let p = project();
    p.xtask(&["reset-complete", "--yes", "--seed", "4"])
        .assert()
        .success()
        .stdout(predicate::str::contains("images (seed-images)").and(predicate::str::contains("9 placeholder(s)")));
    let images = |p: &Project| -> Vec<(String, i64, i64)> {
        let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
        let mut st = conn.prepare("SELECT file_name, bytes, is_placeholder FROM images ORDER BY file_name").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    };
    let registered = images(&p);
    assert_eq!(registered.len(), 9);
    for (file, bytes, placeholder) in &registered {
        let on_disk = fs::metadata(p.root().join("uploads/images").join(file)).unwrap().len() as i64;
        assert_eq!((*bytes, *placeholder), (on_disk, 1), "{file}");
    }
    // The hero section points at the registered row.
    let conn = rusqlite::Connection::open(p.sqlite_db()).unwrap();
    let hero_id: String =
        conn.query_row("SELECT id FROM images WHERE file_name = 'hero-home.jpg'", [], |r| r.get(0)).unwrap();
    let refs: i64 = conn
        .query_row("SELECT count(*) FROM page_section_contents WHERE content LIKE '%' || ?1 || '%'", [&hero_id], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(refs >= 1);
    drop(conn);
    // reset-data recreates the rows; the files stay and are registered again.
    p.xtask(&["reset-data", "--yes"]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    assert_eq!(images(&p), registered);
    // --no-images and --offline together make no sense.
    p.xtask(&["reset-complete", "--yes", "--no-images", "--offline"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used with"));
}

#[test]
fn reset_complete_refuses_while_another_process_has_the_database_open() {
    let p = project();
    p.xtask(&["reset-complete", "--yes", "--seed", "1"]).assert().success();
    let before = rows::application(&p);
    let mut holder = std::process::Command::new("sqlite3")
        .arg(p.sqlite_db())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(child) = holder.as_mut() else {
        panic!("this test holds the database open from another process with the sqlite3 CLI (apt-get install sqlite3)");
    };
    // sqlite3 has the file open once it answers a query on it.
    use std::io::{BufRead as _, Write as _};
    child.stdin.as_mut().unwrap().write_all(b"SELECT count(*) FROM teams;\n").unwrap();
    let stdout = child.stdout.take().unwrap();
    let (answered, answer) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = answered.send(line);
    });
    let line = answer.recv_timeout(std::time::Duration::from_secs(30)).expect("sqlite3 answers within 30 s");
    assert_eq!(line.trim(), "1", "sqlite3 read the seeded database");
    p.xtask(&["reset-complete", "--yes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is open in another process"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(rows::application(&p), before);
}
