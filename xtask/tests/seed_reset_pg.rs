//! seed, reset-data and reset-complete on a real PostgreSQL server through the real binary.
//! Each test gets its own database on the throwaway cluster (or TEST_POSTGRES_URL).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use cms_db::connection::Connection;
use predicates::prelude::*;
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
        cms_db::seed::counts(&mut self.connection()).unwrap().into_iter().collect()
    }

    /// Every application row as text, in a stable order: equal dumps mean identical data.
    fn dump(&self) -> String {
        dump(&mut self.db.client())
    }

    /// Puts `photos` into uploads/images.
    fn put_images(&self, photos: &[(&str, Vec<u8>)]) {
        let dir = self.dir.path().join("uploads/images");
        fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in photos {
            fs::write(dir.join(file), bytes).unwrap();
        }
    }
}

/// Every application row as `client` sees it (inside its transaction, when one is open).
fn dump(client: &mut impl postgres::GenericClient) -> String {
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = String::new();
    for table in tables {
        let sql = format!("SELECT t::text FROM \"{table}\" t ORDER BY 1");
        for row in client.query(&sql, &[]).unwrap() {
            out.push_str(&format!("{table}: {}\n", row.get::<_, String>(0)));
        }
    }
    out
}

/// The demo's nine image files as real JPEGs (no placeholder marker), each its own picture; the
/// same bytes on every call.
fn demo_photos() -> Vec<(&'static str, Vec<u8>)> {
    [
        "hero-home.jpg",
        "hero-about.jpg",
        "gallery-1.jpg",
        "gallery-2.jpg",
        "gallery-3.jpg",
        "gallery-4.jpg",
        "post-1.jpg",
        "post-2.jpg",
        "post-3.jpg",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, file)| {
        let (w, h) = (48 + 8 * i as u16, 32);
        let rgb: Vec<u8> = (0..u32::from(w) * u32::from(h) * 3).map(|k| (k as u8).wrapping_mul(i as u8 + 3)).collect();
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 80).encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        (file, out)
    })
    .collect()
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
fn with_images_on_disk_the_same_seed_gives_the_same_rows_whatever_ran_before() {
    let photos = demo_photos();
    let (Some(a), Some(b), Some(c)) = (Project::new(), Project::new(), Project::new()) else { return };
    for p in [&a, &b, &c] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.put_images(&photos);
    }
    // b: seed-images registered the files before the seed (its own ids and times).
    b.xtask(&["seed-images", "--offline"]).assert().success().stdout(predicate::str::contains("9 already present"));
    for (p, n) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        p.xtask(&["seed", "--seed", n]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    }
    let seeded = a.dump();
    let (bytes, placeholders): (i64, i64) = {
        let row =
            a.db.client()
                .query_one("SELECT sum(bytes)::bigint, count(*) FILTER (WHERE is_placeholder) FROM images", &[])
                .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((bytes, placeholders), (photos.iter().map(|(_, b)| b.len() as i64).sum(), 0));
    assert_eq!(b.dump(), seeded, "seed-images before the seed changes nothing");
    assert_ne!(c.dump(), seeded, "--seed 8 differs");
    c.xtask(&["reset-data", "--yes", "--seed", "7"]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    assert_eq!(c.dump(), seeded, "reset-data --seed 7");
    c.xtask(&["reset-data", "--yes"]).assert().success();
    assert_ne!(c.dump(), seeded, "without --seed the rows are fresh");
    c.xtask(&["seed", "--force", "--yes", "--seed", "7"]).assert().success();
    assert_eq!(c.dump(), seeded, "seed --force --seed 7");
}

/// SHA-256 of [`dump`] after `seed --seed 7` with no image files on disk, and with the demo's
/// photos ([`demo_photos`]) in uploads/images. Taken before the demo copy moved from Rust
/// literals into a data file: every seeded row must stay byte for byte what it was.
const SEED_7_DUMP_SHA256: &str = "9e3da870608a75eb07777312c699080d504fde3a2afaf20b8817c0a55b1fbc3c";
const SEED_7_WITH_PHOTOS_DUMP_SHA256: &str = "8b49e389a65584385eb0a92cef47829f439d16f8729e64dcd943429f3a3869b7";
/// The same after `seed --seed 7 --scale 3` (the bulk path).
const SEED_7_SCALE_3_DUMP_SHA256: &str = "a9980b90ebdb4e9fb8e0b1810fa1cef593bdf83666198b20d973643407a8b962";

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[test]
fn seed_7_writes_exactly_the_pinned_rows() {
    let (Some(plain), Some(photos), Some(scaled)) = (Project::new(), Project::new(), Project::new()) else { return };
    photos.put_images(&demo_photos());
    for p in [&plain, &photos] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed", "--seed", "7"]).assert().success();
    }
    let dump = plain.dump();
    assert!(dump.contains("teams: ") && dump.contains("page_section_contents: "), "{dump}");
    assert_eq!(sha256_hex(&dump), SEED_7_DUMP_SHA256, "seed --seed 7 wrote other rows than before:\n{dump}");
    let dump = photos.dump();
    assert_eq!(
        sha256_hex(&dump),
        SEED_7_WITH_PHOTOS_DUMP_SHA256,
        "seed --seed 7 with the demo photos on disk wrote other rows than before:\n{dump}"
    );
    scaled.xtask(&["migrate", "-q"]).assert().success();
    scaled.xtask(&["seed", "--seed", "7", "--scale", "3"]).assert().success();
    let dump = scaled.dump();
    assert_eq!(
        sha256_hex(&dump),
        SEED_7_SCALE_3_DUMP_SHA256,
        "seed --seed 7 --scale 3 wrote other rows than before:\n{dump}"
    );
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
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    p.xtask(&["seed", "--scale", "2", "--seed", "1"]).assert().success();
    let old = p.dump();
    // A request's snapshot, taken before the reset: it has read one table so far.
    let mut reader = p.db.client();
    reader.batch_execute("SET statement_timeout = '10s'").unwrap();
    let mut request = reader
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .unwrap();
    let teams: i64 = request.query_one("SELECT count(*) FROM teams", &[]).unwrap().get(0);
    assert_eq!(teams, 1);

    let mut writer = p.db.client();
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
    assert_eq!(dump(&mut request), old);
    tx.commit().unwrap();
    assert_eq!(dump(&mut request), old, "a snapshot taken before the reset sees all of the old rows");
    request.commit().unwrap();
    let new = p.dump();
    assert_ne!(new, old);
    assert_eq!(p.counts()["sites"], 1);
    p.xtask(&["reset-data", "--yes", "--seed", "2"]).assert().success();
    assert_eq!(p.dump(), new, "the same rows as reset-data --seed 2");
}

#[test]
fn two_resets_at_once_take_turns() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.xtask(&["seed", "--seed", "1"]).assert().success();
    let mut first_client = p.db.client();
    let mut first = first_client.transaction().unwrap();
    reset_uncommitted(&mut first, 2);
    // A second reset meanwhile waits for the first, then clears what the first wrote.
    let second = {
        let root = p.dir.path().to_path_buf();
        let url = p.db.url().to_string();
        std::thread::spawn(move || {
            Command::cargo_bin("xtask")
                .unwrap()
                .env("CMS_PROJECT_ROOT", root)
                .env("CMS_IMAGES_OFFLINE", "1")
                .env("DATABASE_URL", url)
                .current_dir("/")
                .args(["reset-data", "--yes", "--seed", "3"])
                .output()
                .unwrap()
        })
    };
    // Commit only once the second reset is waiting for the writer lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut watcher = p.db.client();
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
    let counts = p.counts();
    assert_eq!((counts["teams"], counts["sites"], counts["pages"]), (1, 1, 3), "{counts:?}");
    let reference = Project::new().unwrap();
    reference.xtask(&["migrate", "-q"]).assert().success();
    reference.xtask(&["seed", "--seed", "3"]).assert().success();
    assert_eq!(p.dump(), reference.dump(), "the second reset's rows, exactly");
}

#[test]
fn a_failure_part_way_through_seeding_leaves_nothing() {
    let Some(p) = Project::new() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    let (mut tables, _) = cms_db::seed::demo_tables(Some(1));
    let posts = tables.iter_mut().find(|t| t.name == "posts").unwrap();
    let env = posts.columns.iter().position(|c| *c == "environment_id").unwrap();
    posts.rows[2][env] = cms_db::connection::Value::Text("no-such-environment".into());
    let err = cms_db::seed::seed_tables(&mut p.connection(), &tables, false).unwrap_err();
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
    let anchors = cms_db::seed::scale::Anchors {
        team_id: "no-such-team".into(),
        text_section_id: "no-such-definition".into(),
        locales: vec!["en".into()],
    };
    let tables =
        cms_db::seed::scale::sites(&mut cms_db::seed::ids::IdSource::new(Some(9)), &anchors, 100, 1, 1_700_000_000_000);
    let mut written = 0;
    let err = cms_db::seed::bulk::load(&mut p.connection(), cms_db::seed::scale::TABLES, [tables], |_| written += 1)
        .unwrap_err();
    assert_eq!(written, 1, "the rows were written before the keys came back");
    assert!(err.to_string().contains("foreign key"), "{err}");
    assert_eq!(foreign_keys(&p), keys_before);
    assert_eq!(p.dump(), rows_before);
}
