//! The migrator against a real PostgreSQL (see `test_support::pg`): the project's folder,
//! real-world folder features, failures and rollback, drift, concurrency and the deployers'
//! lock, connection failures.

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use cms_db::migrate::migrator::{self, Applied, Driver, MigrateOptions};
use cms_db::migrate::plan::{EntryState, Status};
use cms_db::migrate::statements::RunMode;
use cms_db::{DatabaseUrl, DbError, MigrationSet};
use postgres::Client;
use test_support::fixture;
use test_support::pg::TestDb;

/// The advisory-lock key of `migrate`: mirrors the private `LOCK_KEY` of
/// server/src/db/postgres.rs ("drizzle" in ASCII).
const LOCK_KEY: i64 = 0x0064_7269_7a7a_6c65;

fn url(db: &TestDb) -> DatabaseUrl {
    DatabaseUrl::Postgres { url: db.url().to_string() }
}

fn open(db: &TestDb) -> Box<dyn Driver> {
    cms_db::driver(&url(db), false).expect("connect to the test database")
}

fn load(dir: &Path) -> MigrationSet {
    MigrationSet::load(dir).expect("load the migrations folder")
}

fn options() -> MigrateOptions {
    MigrateOptions { allow_out_of_order: false, lock_timeout: Duration::from_secs(30) }
}

fn migrate_with(db: &TestDb, set: &MigrationSet, options: &MigrateOptions) -> Result<Vec<Applied>, DbError> {
    migrator::migrate(open(db).as_mut(), set, options, &mut |_| {})
}

fn migrate(db: &TestDb, set: &MigrationSet) -> Result<Vec<Applied>, DbError> {
    migrate_with(db, set, &options())
}

fn status(db: &TestDb, set: &MigrationSet) -> Status {
    let mut driver = cms_db::driver(&url(db), true).expect("connect read-only");
    migrator::status(driver.as_mut(), set).expect("status")
}

fn tags(applied: &[Applied]) -> Vec<&str> {
    applied.iter().map(|a| a.tag.as_str()).collect()
}

fn labels(st: &Status) -> Vec<&'static str> {
    st.entries.iter().map(|e| e.state.label()).collect()
}

/// `(hash, created_at)` of the bookkeeping table in the order the rows were written.
fn bookkeeping(client: &mut Client) -> Vec<(String, String)> {
    if !exists(client, "drizzle.__drizzle_migrations") {
        return Vec::new();
    }
    client
        .query("SELECT hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn exists(client: &mut Client, relation: &str) -> bool {
    client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation]).unwrap().get(0)
}

fn count(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// Advisory locks held in the test's database (pg_locks is cluster-wide).
fn advisory_locks(client: &mut Client) -> i64 {
    count(
        client,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
}

fn err_of<T>(r: Result<T, DbError>) -> DbError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn project_folder_applies_then_nothing_is_pending() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let dir = fixture::project_migrations("postgresql");
    let set = load(&dir);
    let n = set.migrations.len();
    assert!(n >= 6, "the project has {n} migrations");
    assert!(set.problems.is_empty(), "{:?}", set.problems);

    // Status only looks: everything pending, nothing created.
    let st = status(&db, &set);
    assert_eq!(st.count("pending"), n, "{:?}", labels(&st));
    let mut client = db.client();
    assert!(!exists(&mut client, "drizzle.__drizzle_migrations"));

    let mut seen = Vec::new();
    let applied = migrator::migrate(open(&db).as_mut(), &set, &options(), &mut |a| seen.push(a.tag.clone())).unwrap();
    let journal_tags: Vec<&str> = set.migrations.iter().map(|m| m.tag.as_str()).collect();
    assert_eq!(tags(&applied), journal_tags);
    assert_eq!(seen, journal_tags);
    assert!(applied.iter().all(|a| a.mode == RunMode::Transaction));

    let st = status(&db, &set);
    assert_eq!(st.count("applied"), n, "{:?}", labels(&st));
    assert!(st.findings().is_empty(), "{:?}", st.findings());
    assert!(migrate(&db, &set).unwrap().is_empty());

    // drizzle-orm's bookkeeping: sha256 of the file's bytes, created_at = the journal's when.
    assert_eq!(bookkeeping(&mut client), fixture::expected_rows(&dir));
    let names: Vec<Option<String>> = client
        .query("SELECT name FROM drizzle.__drizzle_migrations ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, journal_tags.iter().map(|t| Some(t.to_string())).collect::<Vec<_>>());
    for table in ["teams", "sites", "environments", "pages", "posts", "images", "site_settings", "navigation_items"] {
        assert!(exists(&mut client, &format!("public.{table}")), "{table}");
    }
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'images' AND column_name = 'sha256'"
        ),
        1
    );
}

#[test]
fn real_world_folder_features_apply() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    // Journal version 5, dialect "pg" (older Drizzle Kit); `when` going backwards.
    let dir = fixture::folder(
        "pg",
        "5",
        &[
            (
                "0000_enum_crlf",
                1_700_000_500_000,
                "CREATE TYPE \"public\".\"status\" AS ENUM('draft', 'published');\r\n\
                 --> statement-breakpoint\r\n\
                 CREATE TABLE \"t\" (\r\n\
                 \t\"id\" serial PRIMARY KEY NOT NULL,\r\n\
                 \t\"s\" \"status\" DEFAULT 'draft' NOT NULL,\r\n\
                 \t\"note\" text DEFAULT 'a;b' NOT NULL\r\n\
                 );\r\n\
                 COMMENT ON TABLE \"t\" IS 'semi;colons; -- and no comment';\r\n",
            ),
            (
                "0001_do_block_empty_chunks",
                1_700_000_300_000,
                "DO $$ BEGIN\n CREATE TYPE \"public\".\"mood\" AS ENUM('sad', 'ok');\n\
                 EXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;\n\
                 --> statement-breakpoint\n\
                 --> statement-breakpoint\n\
                 -- only a comment here\n\
                 --> statement-breakpoint\n\
                 INSERT INTO \"t\" (\"s\", \"note\") VALUES ('published', 'it''s; fine');\n\
                 --> statement-breakpoint\n",
            ),
            ("0002_enum_add_value", 1_700_000_400_000, "ALTER TYPE \"public\".\"status\" ADD VALUE 'archived';"),
            (
                "0003_concurrent_index",
                1_700_000_100_000,
                "CREATE INDEX CONCURRENTLY \"t_note_idx\" ON \"t\" USING btree (\"note\");",
            ),
            (
                "0004_own_transaction",
                1_700_000_200_000,
                "BEGIN;\nCREATE TABLE \"u\" (\"id\" integer);\n\
                 INSERT INTO \"u\" VALUES (1);\n\
                 INSERT INTO \"t\" (\"s\") VALUES ('archived');\nCOMMIT;\n",
            ),
        ],
    );
    let set = load(dir.path());
    assert!(set.problems.is_empty(), "{:?}", set.problems);

    let applied = migrate(&db, &set).unwrap();
    assert_eq!(
        tags(&applied),
        [
            "0000_enum_crlf",
            "0001_do_block_empty_chunks",
            "0002_enum_add_value",
            "0003_concurrent_index",
            "0004_own_transaction"
        ]
    );
    let statements: Vec<usize> = applied.iter().map(|a| a.statements).collect();
    assert_eq!(statements, [3, 2, 1, 1, 5]);
    assert_eq!(applied[0].mode, RunMode::Transaction);
    assert_eq!(applied[1].mode, RunMode::Transaction);
    assert_eq!(applied[2].mode, RunMode::Transaction);
    assert!(matches!(applied[3].mode, RunMode::SelfManaged { .. }));
    assert!(matches!(applied[4].mode, RunMode::SelfManaged { .. }));

    let st = status(&db, &set);
    assert_eq!(st.count("applied"), 5, "{:?}", labels(&st));
    assert!(st.findings().is_empty(), "{:?}", st.findings());
    assert!(migrate(&db, &set).unwrap().is_empty());

    let mut client = db.client();
    // Recorded in journal order, each with its own `when`, CRLF file hashed as it is.
    assert_eq!(bookkeeping(&mut client), fixture::expected_rows(dir.path()));
    let created: Vec<String> = bookkeeping(&mut client).into_iter().map(|(_, c)| c).collect();
    assert_eq!(created, ["1700000500000", "1700000300000", "1700000400000", "1700000100000", "1700000200000"]);

    let rows: Vec<(String, String)> = client
        .query("SELECT s::text, note FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        [("published".to_string(), "it's; fine".to_string()), ("archived".to_string(), "a;b".to_string())]
    );
    let values: Vec<String> =
        client.query("SELECT unnest(enum_range(NULL::status))::text", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(values, ["draft", "published", "archived"]);
    let mood: bool = client.query_one("SELECT to_regtype('public.mood') IS NOT NULL", &[]).unwrap().get(0);
    assert!(mood, "the DO block created the enum");
    let comment: String = client.query_one("SELECT obj_description('t'::regclass, 'pg_class')", &[]).unwrap().get(0);
    assert_eq!(comment, "semi;colons; -- and no comment");
    let valid: bool = client
        .query_one("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_note_idx'::regclass", &[])
        .unwrap()
        .get(0);
    assert!(valid, "the concurrently built index is valid");
    assert_eq!(count(&mut client, "SELECT count(*) FROM u"), 1);
    // The migration that managed its own transaction left none open behind it.
    assert!(migrate(&db, &set).unwrap().is_empty());
}

#[test]
fn failing_statement_rolls_back_its_migration() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let broken = "CREATE TABLE \"b\" (\"id\" integer);\n\
                  --> statement-breakpoint\n\
                  INSERT INTO \"a\" VALUES (1);\n\
                  --> statement-breakpoint\n\
                  SELEC 1;\n\
                  --> statement-breakpoint\n\
                  CREATE TABLE \"c\" (\"id\" integer);";
    let entries = |second: &'static str| {
        [
            ("0000_base", 1_000, "CREATE TABLE \"a\" (\"id\" integer PRIMARY KEY);"),
            ("0001_broken", 2_000, second),
            ("0002_after", 3_000, "CREATE TABLE \"d\" (\"id\" integer);"),
        ]
    };
    let dir = fixture::folder("postgresql", "7", &entries(broken));
    let set = load(dir.path());

    let err = err_of(migrate(&db, &set));
    match &err {
        DbError::Statement { tag, number, line, cause, .. } => {
            assert_eq!(tag, "0001_broken");
            assert_eq!(*number, 3);
            assert_eq!(*line, 5);
            assert!(cause.to_string().contains("syntax error"), "{cause}");
            assert_eq!(err.sql_state(), Some(&cms_db::error::SqlState::SYNTAX_ERROR), "{err}");
            assert_eq!(err.database_message().as_deref(), Some("syntax error at or near \"SELEC\""), "{err}");
        }
        other => panic!("expected a statement error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("0001_broken"), "{text}");
    assert!(text.contains("statement 3"), "{text}");
    assert!(text.contains("syntax error at or near \"SELEC\""), "{text}");
    assert!(text.contains("rolled back"), "{text}");

    // Exactly as after the first migration.
    let mut client = db.client();
    assert!(exists(&mut client, "public.a"));
    assert_eq!(count(&mut client, "SELECT count(*) FROM a"), 0);
    for gone in ["public.b", "public.c", "public.d"] {
        assert!(!exists(&mut client, gone), "{gone} exists");
    }
    assert_eq!(bookkeeping(&mut client), fixture::expected_rows(dir.path())[..1]);
    assert_eq!(labels(&status(&db, &set)), ["applied", "pending", "pending"]);
    drop(client);

    // Fixed, it goes on from there.
    let fixed = "CREATE TABLE \"b\" (\"id\" integer);\n\
                 --> statement-breakpoint\n\
                 INSERT INTO \"a\" VALUES (1);\n\
                 --> statement-breakpoint\n\
                 SELECT 1;\n\
                 --> statement-breakpoint\n\
                 CREATE TABLE \"c\" (\"id\" integer);";
    fixture::write_folder(dir.path(), "postgresql", "7", &entries(fixed));
    let set = load(dir.path());
    assert_eq!(tags(&migrate(&db, &set).unwrap()), ["0001_broken", "0002_after"]);
    let mut client = db.client();
    assert_eq!(count(&mut client, "SELECT count(*) FROM a"), 1);
    assert!(exists(&mut client, "public.d"));
}

#[test]
fn edited_applied_file_is_refused_and_line_endings_are_told_apart() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let a = ("0000_a", 1_000, "CREATE TABLE \"a\" (\"id\" integer);\n");
    let b = ("0001_b", 2_000, "CREATE TABLE \"b\" (\"id\" integer);\n");
    let c = ("0002_c", 3_000, "CREATE TABLE \"c\" (\"id\" integer);\n");
    let dir = fixture::folder("postgresql", "7", &[a, b]);
    assert_eq!(migrate(&db, &load(dir.path())).unwrap().len(), 2);
    let mut client = db.client();

    // A real edit, with a new migration next to it: nothing runs.
    let edited = ("0001_b", 2_000, "CREATE TABLE \"b\" (\"id\" bigint);\n");
    fixture::write_folder(dir.path(), "postgresql", "7", &[a, edited, c]);
    let set = load(dir.path());
    let text = err_of(migrate(&db, &set)).to_string();
    assert!(text.contains("migration 0001_b was applied but its file has changed"), "{text}");
    assert!(!text.contains("line endings"), "{text}");
    assert!(text.contains("nothing was applied"), "{text}");
    assert!(matches!(status(&db, &set).entries[1].state, EntryState::Modified { line_endings_only: false, .. }));
    assert!(!exists(&mut client, "public.c"));
    assert_eq!(bookkeeping(&mut client).len(), 2);

    // Only the line endings changed.
    let crlf = ("0001_b", 2_000, "CREATE TABLE \"b\" (\"id\" integer);\r\n");
    fixture::write_folder(dir.path(), "postgresql", "7", &[a, crlf, c]);
    let set = load(dir.path());
    let text = err_of(migrate(&db, &set)).to_string();
    assert!(text.contains("migration 0001_b was applied but its file has changed"), "{text}");
    assert!(text.contains("only its line endings differ"), "{text}");
    assert!(matches!(status(&db, &set).entries[1].state, EntryState::Modified { line_endings_only: true, .. }));
    assert!(!exists(&mut client, "public.c"));

    // Restored, the new migration applies.
    fixture::write_folder(dir.path(), "postgresql", "7", &[a, b, c]);
    assert_eq!(tags(&migrate(&db, &load(dir.path())).unwrap()), ["0002_c"]);
}

#[test]
fn deleted_applied_file_is_refused() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let a = ("0000_a", 1_000, "CREATE TABLE \"a\" (\"id\" integer);");
    let b = ("0001_b", 2_000, "CREATE TABLE \"b\" (\"id\" integer);");
    let c = ("0002_c", 3_000, "CREATE TABLE \"c\" (\"id\" integer);");
    let dir = fixture::folder("postgresql", "7", &[a, b]);
    migrate(&db, &load(dir.path())).unwrap();

    // The file is gone, its journal entry stays.
    fixture::write_folder(dir.path(), "postgresql", "7", &[a, b, c]);
    std::fs::remove_file(dir.path().join("0001_b.sql")).unwrap();
    let set = load(dir.path());
    assert_eq!(status(&db, &set).entries[1].state, EntryState::FileMissing { applied: true });
    let findings: Vec<String> = status(&db, &set).findings().iter().map(ToString::to_string).collect();
    assert!(
        findings.iter().any(|f| f.contains("migration 0001_b was applied but its file 0001_b.sql is missing")),
        "{findings:?}"
    );
    let text = err_of(migrate(&db, &set)).to_string();
    assert!(text.contains("0001_b.sql") && (text.contains("missing") || text.contains("does not exist")), "{text}");
    assert!(text.contains("nothing was applied"), "{text}");

    // File and journal entry gone: the applied row matches nothing.
    fixture::write_folder(dir.path(), "postgresql", "7", &[a, c]);
    let set = load(dir.path());
    let st = status(&db, &set);
    assert_eq!(st.orphans.len(), 1);
    let text = err_of(migrate(&db, &set)).to_string();
    assert!(text.contains("no journal entry matches"), "{text}");

    let mut client = db.client();
    assert!(!exists(&mut client, "public.c"));
    assert_eq!(bookkeeping(&mut client).len(), 2);
}

#[test]
fn late_merged_migration_is_out_of_order() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let a = ("0000_a", 1_000, "CREATE TABLE \"a\" (\"id\" integer);");
    let b = ("0001_branch", 2_000, "CREATE TABLE \"b\" (\"id\" integer);");
    let c = ("0002_c", 3_000, "CREATE TABLE \"c\" (\"id\" integer);");
    let dir = fixture::folder("postgresql", "7", &[a, c]);
    migrate(&db, &load(dir.path())).unwrap();

    // A branch's migration (earlier `when`) is merged in before the applied 0002_c.
    fixture::write_folder(dir.path(), "postgresql", "7", &[a, b, c]);
    let set = load(dir.path());
    let st = status(&db, &set);
    assert_eq!(labels(&st), ["applied", "out of order", "applied"]);
    assert_eq!(st.entries[1].state, EntryState::OutOfOrder { later: "0002_c".into() });
    let text = err_of(migrate(&db, &set)).to_string();
    assert!(text.contains("migration 0001_branch is pending but the later migration 0002_c"), "{text}");
    let mut client = db.client();
    assert!(!exists(&mut client, "public.b"));

    let applied = migrate_with(&db, &set, &MigrateOptions { allow_out_of_order: true, ..options() }).unwrap();
    assert_eq!(tags(&applied), ["0001_branch"]);
    assert!(exists(&mut client, "public.b"));
    assert_eq!(status(&db, &set).count("applied"), 3);
    assert_eq!(bookkeeping(&mut client).len(), 3);
}

#[test]
fn concurrent_migrates_apply_each_migration_once() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    const DEPLOYERS: usize = 4;
    let dir = fixture::project_migrations("postgresql");
    let n = load(&dir).migrations.len();
    let start = Arc::new(Barrier::new(DEPLOYERS));
    let finish = Arc::new(Barrier::new(DEPLOYERS + 1));
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..DEPLOYERS)
        .map(|_| {
            let (start, finish, tx) = (start.clone(), finish.clone(), tx.clone());
            let (url, dir) = (url(&db), dir.clone());
            thread::spawn(move || {
                let set = MigrationSet::load(&dir).unwrap();
                let mut driver = cms_db::driver(&url, false).unwrap();
                start.wait();
                let result = migrator::migrate(driver.as_mut(), &set, &options(), &mut |_| {})
                    .map(|applied| applied.len())
                    .map_err(|e| e.to_string());
                tx.send(result).unwrap();
                // Keep the driver (and its connection) open until the checks below are done.
                finish.wait();
            })
        })
        .collect();
    let results: Vec<Result<usize, String>> = (0..DEPLOYERS).map(|_| rx.recv().unwrap()).collect();
    let counts: Vec<usize> =
        results.iter().map(|r| r.clone().unwrap_or_else(|e| panic!("a deployer failed: {e}"))).collect();
    assert_eq!(counts.iter().sum::<usize>(), n, "{counts:?}");

    let mut client = db.client();
    let rows = bookkeeping(&mut client);
    assert_eq!(rows.len(), n);
    let mut hashes: Vec<&String> = rows.iter().map(|(h, _)| h).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), n, "a migration was recorded twice");
    assert_eq!(rows, fixture::expected_rows(&dir));

    // The lock was released although the deployers' drivers are still open: another migrate
    // gets it at once.
    assert_eq!(advisory_locks(&mut client), 0);
    let started = Instant::now();
    let again = migrate_with(&db, &load(&dir), &MigrateOptions { lock_timeout: Duration::ZERO, ..options() }).unwrap();
    assert!(again.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));

    finish.wait();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(advisory_locks(&mut client), 0);
}

#[test]
fn lock_timeout_when_another_deployer_holds_the_lock() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let set = load(&fixture::project_migrations("postgresql"));
    let mut holder = db.client();
    holder.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).unwrap();

    let started = Instant::now();
    let err = match migrate_with(&db, &set, &MigrateOptions { lock_timeout: Duration::from_secs(1), ..options() }) {
        Ok(_) => panic!(
            "migrate ran while pg_advisory_lock({LOCK_KEY:#x}) was held: did LOCK_KEY in server/src/db/postgres.rs change?"
        ),
        Err(e) => e,
    };
    let waited = started.elapsed();
    assert!(matches!(err, DbError::LockTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("another migrate is running"), "{err}");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(!exists(&mut holder, "drizzle.__drizzle_migrations"), "nothing may run without the lock");

    holder.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).unwrap();
    assert_eq!(migrate(&db, &set).unwrap().len(), set.migrations.len());
}

#[test]
fn refused_connection_fails_fast_without_the_password() {
    let started = Instant::now();
    let err =
        err_of(cms_db::driver(&DatabaseUrl::Postgres { url: "postgres://user:s3cret@127.0.0.1:1/db".into() }, false));
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = err.to_string();
    assert!(matches!(err, DbError::PostgresConnect { .. }), "{err:?}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
}

#[test]
fn silent_server_times_out_without_the_password() {
    // Accepts connections and never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let silent = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };

    let started = Instant::now();
    let err = err_of(cms_db::driver(
        &DatabaseUrl::Postgres { url: format!("postgres://user:s3cret@127.0.0.1:{port}/db?connect_timeout=2") },
        false,
    ));
    let waited = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    silent.join().unwrap();

    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let text = err.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

#[test]
fn sqlite_journal_against_postgres_is_an_error() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let set = load(&fixture::project_migrations("sqlite"));
    let mut driver = open(&db);
    for text in [
        err_of(migrator::status(driver.as_mut(), &set)).to_string(),
        err_of(migrator::migrate(driver.as_mut(), &set, &options(), &mut |_| {})).to_string(),
    ] {
        assert!(text.contains("is a sqlite journal but DATABASE_URL is a postgresql database"), "{text}");
        assert!(text.contains("migrations/postgresql"), "{text}");
    }
    let mut client = db.client();
    assert!(!exists(&mut client, "drizzle.__drizzle_migrations"));
    assert!(!exists(&mut client, "public.teams"));
}

/// A file with its own `BEGIN; … COMMIT;` that fails inside its transaction.
fn own_transaction_failure(db: &TestDb) -> (tempfile::TempDir, DbError) {
    let dir = fixture::folder(
        "postgresql",
        "7",
        &[
            ("0000_base", 1_000, "CREATE TABLE \"a\" (\"id\" integer);"),
            (
                "0001_own",
                2_000,
                "BEGIN;\nCREATE TABLE \"o\" (\"id\" integer);\nINSERT INTO \"a\" VALUES (1);\nSELEC 1;\nCOMMIT;\n",
            ),
        ],
    );
    let err = err_of(migrate(db, &load(dir.path())));
    (dir, err)
}

#[test]
fn own_transaction_failure_is_rolled_back_and_not_recorded() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let (dir, err) = own_transaction_failure(&db);
    assert!(matches!(err, DbError::Statement { number: 4, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("0001_own") && text.contains("statement 4"), "{text}");
    let mut client = db.client();
    assert!(!exists(&mut client, "public.o"), "the file's transaction was rolled back");
    assert_eq!(count(&mut client, "SELECT count(*) FROM a"), 0);
    assert_eq!(bookkeeping(&mut client), fixture::expected_rows(dir.path())[..1]);
    // No transaction was left open on the way: fixed, the file applies.
    std::fs::write(
        dir.path().join("0001_own.sql"),
        "BEGIN;\nCREATE TABLE \"o\" (\"id\" integer);\nINSERT INTO \"a\" VALUES (1);\nSELECT 1;\nCOMMIT;\n",
    )
    .unwrap();
    assert_eq!(tags(&migrate(&db, &load(dir.path())).unwrap()), ["0001_own"]);
    assert!(exists(&mut client, "public.o"));
    assert_eq!(count(&mut client, "SELECT count(*) FROM a"), 1);
}

#[test]
fn own_transaction_failure_message_says_it_was_rolled_back() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let (_dir, err) = own_transaction_failure(&db);
    let text = err.to_string();
    assert!(!text.contains("stay applied"), "the message claims committed statements that were rolled back: {text}");
    assert!(text.contains("rolled back"), "{text}");
}

#[test]
fn sslmode_is_honoured_and_the_password_never_shown() {
    let Some(db) = test_support::pg::database() else {
        return;
    };
    // The test role's password needs percent-encoding; the throwaway cluster has no TLS. A
    // TEST_POSTGRES_URL with TLS would accept `require`: then only the redaction is checked.
    let password = cms_db::postgres::password(db.url()).unwrap().expect("the test URL carries a password");
    let password = String::from_utf8(password).unwrap();
    let encoded = db.url().split_once("://").and_then(|(_, r)| r.rsplit_once('@')).map(|(u, _)| u.to_string()).unwrap();
    let sep = if db.url().contains('?') { '&' } else { '?' };
    let with_password = db.url().to_string();
    for mode in ["disable", "allow", "prefer"] {
        let url = DatabaseUrl::Postgres { url: format!("{with_password}{sep}sslmode={mode}") };
        assert!(cms_db::driver(&url, true).is_ok(), "sslmode={mode}");
    }
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = DatabaseUrl::Postgres { url: format!("{with_password}{sep}sslmode={mode}") };
        let Err(e) = cms_db::driver(&url, true) else { continue };
        let text = e.to_string();
        assert!(text.contains("TLS"), "sslmode={mode}: {text}");
        assert!(!text.contains(&password) && !text.contains(&encoded), "{text}");
        assert!(text.contains(":***@"), "{text}");
    }
}
