//! Schema sources: live databases read without being changed, SQL files executed into
//! scratch databases that are always dropped, and clear errors (missing file, unreachable
//! server within a bounded time and without the password, SQL errors with file and line).

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use cms_db::schema::introspect;
use cms_db::schema::source::{create_failed, ScratchServer, Source, SourceError};
use cms_db::schema::Dialect;
use rusqlite::config::DbConfig;
use rusqlite::Connection;

const SCHEMA_SQL: &str = "CREATE TABLE `teams` (\n  `id` text PRIMARY KEY NOT NULL,\n  `name` text NOT NULL\n);\n\
                          CREATE UNIQUE INDEX `teams_name_unique` ON `teams` (`name`);\n\
                          CREATE TRIGGER t_ai AFTER INSERT ON teams BEGIN\n  UPDATE teams SET name = lower(name) \
                          WHERE id = new.id;\nEND;\n";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn sqlite_file(dir: &Path, sql: &str) -> std::path::PathBuf {
    let path = dir.join("live.db");
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(sql).unwrap();
    conn.execute("INSERT INTO teams VALUES ('1', 'A')", []).unwrap();
    path
}

/// Every file of `dir` with its size and a digest of its bytes.
fn listing(dir: &Path) -> Vec<(String, usize, u64)> {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<(String, usize, u64)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes.len(), h.finish())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_live_sqlite_database_is_read_without_being_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_file(dir.path(), SCHEMA_SQL);
    let before = listing(dir.path());
    let source = Source::parse(&format!("file:{}", path.display())).unwrap();
    assert_eq!(source.dialect().unwrap(), Some(Dialect::Sqlite));
    let schema = source.load(Dialect::Sqlite, &ScratchServer::default()).unwrap();
    // The database file is untouched; a WAL reader may leave SQLite's empty `-wal` and its
    // `-shm` index behind (a read-only connection cannot remove them), nothing else.
    let after = listing(dir.path());
    assert_eq!(after[0], before[0], "reading changed the database file");
    for (name, size, _) in &after[1..] {
        assert!(name == "live.db-shm" || name == "live.db-wal" && *size == 0, "{after:?}");
    }
    assert!(schema.table("teams").is_some() && schema.triggers.len() == 1);

    let conn = Connection::open(&path).unwrap();
    assert_eq!(schema, introspect::sqlite(&conn).unwrap());
    // A bare path and `sqlite:` read the same database.
    for spelled in [path.display().to_string(), format!("sqlite:{}", path.display())] {
        let s = Source::parse(&spelled).unwrap().load(Dialect::Sqlite, &ScratchServer::default()).unwrap();
        assert_eq!(s, schema, "{spelled}");
    }
}

#[test]
fn a_missing_sqlite_database_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let err = Source::parse(&format!("file:{}", path.display()))
        .unwrap()
        .load(Dialect::Sqlite, &ScratchServer::default())
        .unwrap_err();
    assert!(matches!(err, SourceError::MissingDatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.db") && err.to_string().contains("does not exist"), "{err}");
    assert!(!path.exists(), "looking created the file");
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn relative_sources_resolve_against_the_given_root() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_file(dir.path(), SCHEMA_SQL);
    write(dir.path(), "schema.sql", SCHEMA_SQL);
    let live = Source::parse("file:live.db").unwrap().resolve(dir.path());
    let sql = Source::parse("sql:schema.sql").unwrap().resolve(dir.path());
    let scratch = ScratchServer::default();
    assert_eq!(live.load(Dialect::Sqlite, &scratch).unwrap(), sql.load(Dialect::Sqlite, &scratch).unwrap());
}

#[test]
fn a_sql_file_becomes_the_schema_it_creates() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "schema.sql", SCHEMA_SQL);
    let schema = Source::parse(&format!("sql:{}", file.display()))
        .unwrap()
        .load(Dialect::Sqlite, &ScratchServer::default())
        .unwrap();
    let conn = Connection::open_in_memory().unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false).unwrap();
    conn.execute_batch(SCHEMA_SQL).unwrap();
    assert_eq!(schema, introspect::sqlite(&conn).unwrap());
    assert_eq!(
        Source::Empty.load(Dialect::Sqlite, &ScratchServer::default()).unwrap(),
        cms_db::schema::Schema::empty(Dialect::Sqlite)
    );
}

#[test]
fn a_sql_file_with_an_error_names_file_line_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.sql",
        &format!("{SCHEMA_SQL}-- the next statement is wrong\nCREATE INDEX i ON teams (missing_column);\n"),
    );
    let err = Source::Sql(file.clone()).load(Dialect::Sqlite, &ScratchServer::default()).unwrap_err();
    let SourceError::Script { file: f, line, message } = &err else { panic!("{err:?}") };
    assert_eq!((f.as_path(), *line), (file.as_path(), 10), "{err}");
    assert!(message.contains("missing_column"), "{message}");
    assert!(err.to_string().starts_with(&format!("{}:10: ", file.display())), "{err}");
    // Double-quoted strings are off, as on all our connections: "x" is a column, not a string.
    let dqs = write(dir.path(), "dqs.sql", "CREATE TABLE t (a text);\nCREATE INDEX i ON t (\"nope\");\n");
    let err = Source::Sql(dqs).load(Dialect::Sqlite, &ScratchServer::default()).unwrap_err();
    assert!(err.to_string().contains(":2: ") && err.to_string().contains("nope"), "{err}");
    let missing =
        Source::Sql(dir.path().join("absent.sql")).load(Dialect::Sqlite, &ScratchServer::default()).unwrap_err();
    assert!(missing.to_string().contains("absent.sql"), "{missing}");
}

#[test]
fn a_migrations_folder_knows_its_dialect() {
    let sqlite =
        Source::parse(&format!("migrations:{}", test_support::fixture::project_migrations("sqlite").display()));
    assert_eq!(sqlite.unwrap().dialect().unwrap(), Some(Dialect::Sqlite));
    let pg = Source::Migrations(test_support::fixture::project_migrations("postgresql"));
    assert_eq!(pg.dialect().unwrap(), Some(Dialect::Postgres));
    let dir = tempfile::tempdir().unwrap();
    let err = Source::Migrations(dir.path().to_path_buf()).dialect().unwrap_err();
    assert!(err.to_string().contains("_journal.json"), "{err}");
}

// --- PostgreSQL ---------------------------------------------------------------------------------

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn an_unreachable_server_fails_quickly_without_showing_the_password() {
    let url = format!("postgres://cms:s3cr%40t-pw@127.0.0.1:{}/cms", closed_port());
    let started = Instant::now();
    let err = Source::parse(&url).unwrap().load(Dialect::Postgres, &ScratchServer::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    let text = format!("{err} {err:?}");
    assert!(matches!(&err, SourceError::Db(e) if matches!(**e, cms_db::DbError::PostgresConnect { .. })), "{text}");
    assert!(!text.contains("s3cr") && text.contains("***"), "{text}");
    // The same for a scratch server given by --dev-url.
    let err = Source::Sql("x.sql".into()).load(Dialect::Postgres, &ScratchServer::postgres(url.clone())).unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cr"), "{err}");
}

#[test]
fn a_postgres_sql_file_needs_a_server_for_its_scratch_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "schema.sql", "CREATE TABLE t (id integer);");
    let err = Source::Sql(file).load(Dialect::Postgres, &ScratchServer::default()).unwrap_err();
    assert!(err.to_string().contains("--dev-url"), "{err}");
}

/// Held by every test that makes scratch databases on the (per-process) test server, so that
/// one test's scratch database is not another's leftover.
static SCRATCH_COUNT: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn count_lock() -> std::sync::MutexGuard<'static, ()> {
    SCRATCH_COUNT.lock().unwrap_or_else(|e| e.into_inner())
}

fn scratch_databases(client: &mut postgres::Client) -> Vec<String> {
    client
        .query("SELECT datname::text FROM pg_database WHERE datname LIKE 'cms\\_scratch\\_%'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn a_live_postgres_database_is_read_in_a_read_only_transaction() {
    let Some(db) = test_support::pg::database() else { return };
    let mut client = db.client();
    client.batch_execute("CREATE TABLE t (id serial PRIMARY KEY, n text NOT NULL)").unwrap();
    let source = Source::parse(db.url()).unwrap();
    assert!(!source.to_string().contains(test_support::pg::TEST_PASSWORD), "{source}");
    let schema = source.load(Dialect::Postgres, &ScratchServer::default()).unwrap();
    assert_eq!(schema, introspect::postgres(&mut client, Default::default()).unwrap());
    assert!(schema.table("t").is_some());
}

#[test]
fn a_postgres_sql_file_runs_in_a_scratch_database_that_is_always_dropped() {
    let Some(db) = test_support::pg::database() else { return };
    let mut client = db.client();
    let dir = tempfile::tempdir().unwrap();
    let sql = "CREATE TYPE status AS ENUM ('a', 'b');\nCREATE TABLE t (\n  id serial PRIMARY KEY,\n  s status DEFAULT \
               'a'\n);\nCREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;\nCREATE \
               TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();\n";
    let file = write(dir.path(), "schema.sql", sql);
    let scratch = ScratchServer::postgres(db.url());
    let _counting = count_lock();
    let before = scratch_databases(&mut client);
    let schema = Source::Sql(file).load(Dialect::Postgres, &scratch).unwrap();
    client.batch_execute(sql).unwrap();
    assert_eq!(schema, introspect::postgres(&mut client, Default::default()).unwrap());
    assert_eq!(scratch_databases(&mut client), before, "the scratch database was dropped");

    // An error names file, line and message, and the scratch database goes too.
    let broken = write(dir.path(), "broken.sql", &format!("{sql}\nALTER TABLE t\n  ADD COLUMN x nosuchtype;\n"));
    let err = Source::Sql(broken.clone()).load(Dialect::Postgres, &scratch).unwrap_err();
    let SourceError::Script { file, line, message } = &err else { panic!("{err:?}") };
    assert_eq!((file.as_path(), *line), (broken.as_path(), 10), "{err}");
    assert!(message.contains("nosuchtype"), "{message}");
    assert_eq!(scratch_databases(&mut client), before);
}

#[test]
fn a_role_that_may_not_create_databases_is_told_about_dev_url() {
    let Some(db) = test_support::pg::database() else { return };
    let mut client = db.client();
    // A real permission error (the test role may create databases but not roles).
    let e = client.batch_execute("CREATE ROLE someone_else").unwrap_err();
    let err = create_failed(&e, db.url(), Some("cms_test"));
    let text = err.to_string();
    assert!(matches!(err, SourceError::NoCreateDb { .. }), "{text}");
    assert!(
        text.contains("--dev-url") && text.contains("cms_test") && !text.contains(test_support::pg::TEST_PASSWORD),
        "{text}"
    );
}

#[test]
fn scratch_databases_go_with_their_guard_even_on_a_panic_and_old_leftovers_are_dropped() {
    let Some(db) = test_support::pg::database() else { return };
    let mut client = db.client();
    let _counting = count_lock();
    let before = scratch_databases(&mut client);
    let url = db.url().to_string();
    let name = std::panic::catch_unwind(move || {
        let mut scratch = cms_db::schema::source::PgScratch::create(&url).unwrap();
        scratch.client().batch_execute("CREATE TABLE t (id integer)").unwrap();
        let name = scratch.name().to_string();
        std::panic::panic_any(name);
    })
    .unwrap_err();
    let name = name.downcast::<String>().unwrap();
    assert!(name.starts_with("cms_scratch_"), "{name}");
    assert_eq!(scratch_databases(&mut client), before, "{name} was left behind");

    // A killed run's leftover (named two hours ago) goes when the next scratch database is
    // made; one made a minute ago (another run's, still in use) stays.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let old = format!("cms_scratch_{}_deadbeef", now - 7200);
    let recent = format!("cms_scratch_{}_cafebabe", now - 60);
    for n in [&old, &recent] {
        client.batch_execute(&format!("CREATE DATABASE \"{n}\"")).unwrap();
    }
    let scratch = cms_db::schema::source::PgScratch::create(db.url()).unwrap();
    let during = scratch_databases(&mut client);
    assert!(!during.contains(&old) && during.contains(&recent), "{during:?}");
    drop(scratch);
    client.batch_execute(&format!("DROP DATABASE \"{recent}\"")).unwrap();
    assert_eq!(scratch_databases(&mut client), before);
}

// --- migrations folders ---------------------------------------------------------------------------

/// Applies a Drizzle folder statement by statement, the plain way (no bookkeeping).
fn apply_plain(folder: &Path, run: &mut dyn FnMut(&str)) {
    let journal: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join("meta/_journal.json")).unwrap()).unwrap();
    for entry in journal["entries"].as_array().unwrap() {
        let sql = fs::read_to_string(folder.join(format!("{}.sql", entry["tag"].as_str().unwrap()))).unwrap();
        for statement in sql.split("--> statement-breakpoint").filter(|s| !s.trim().is_empty()) {
            run(statement);
        }
    }
}

#[test]
fn the_projects_sqlite_folder_replays_into_the_schema_its_statements_make() {
    let folder = test_support::fixture::project_migrations("sqlite");
    let source = Source::parse(&format!("migrations:{}", folder.display())).unwrap();
    let replayed = source.load(Dialect::Sqlite, &ScratchServer::default()).unwrap();
    let conn = Connection::open_in_memory().unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false).unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false).unwrap();
    apply_plain(&folder, &mut |s| conn.execute_batch(s).unwrap());
    assert_eq!(replayed, introspect::sqlite(&conn).unwrap(), "the bookkeeping table is not part of it");
    assert!(replayed.table("page_sections").is_some());
    assert_eq!(replayed, source.load(Dialect::Sqlite, &ScratchServer::default()).unwrap());

    let err = source.load(Dialect::Postgres, &ScratchServer::default()).unwrap_err();
    assert!(matches!(err, SourceError::DialectMismatch { .. }), "{err}");
}

#[test]
fn a_failing_replay_names_the_migration_and_the_statement() {
    let dir = test_support::fixture::folder(
        "sqlite",
        "7",
        &[
            ("0000_init", 1_700_000_000_000, "CREATE TABLE `a` (`id` integer PRIMARY KEY);"),
            (
                "0001_broken",
                1_700_000_100_000,
                "CREATE TABLE `b` (`id` integer);\n--> statement-breakpoint\nINSERT INTO `b` SELECT `nope` FROM `a`;",
            ),
        ],
    );
    let err =
        Source::Migrations(dir.path().to_path_buf()).load(Dialect::Sqlite, &ScratchServer::default()).unwrap_err();
    // The error says what it was replaying; its causes name the migration, the statement and
    // the database's message (each said once, as an error chain prints them).
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!("\n  caused by: {c}"));
        cause = c.source();
    }
    assert!(matches!(err, SourceError::Replay { .. }), "{text}");
    assert!(text.starts_with(&format!("replaying {}", dir.path().display())), "{text}");
    assert!(text.contains("0001_broken") && text.contains("statement 2") && text.contains("nope"), "{text}");
    let missing = Source::Migrations(dir.path().join("absent")).load(Dialect::Sqlite, &ScratchServer::default());
    assert!(missing.unwrap_err().to_string().contains("absent"));
}

#[test]
fn the_projects_postgresql_folder_replays_into_a_scratch_database_that_is_dropped() {
    let Some(db) = test_support::pg::database() else { return };
    let mut client = db.client();
    let folder = test_support::fixture::project_migrations("postgresql");
    let _counting = count_lock();
    let before = scratch_databases(&mut client);
    let replayed =
        Source::Migrations(folder.clone()).load(Dialect::Postgres, &ScratchServer::postgres(db.url())).unwrap();
    assert_eq!(scratch_databases(&mut client), before);
    apply_plain(&folder, &mut |s| client.batch_execute(s).unwrap());
    assert_eq!(replayed, introspect::postgres(&mut client, Default::default()).unwrap());
    assert!(replayed.schemas.is_empty(), "the drizzle schema holds only the bookkeeping table");
}

/// A server that accepts the connection and then says nothing is given up on in bounded time.
#[test]
fn a_server_that_never_answers_is_given_up_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("postgres://cms:s3cret-pw@127.0.0.1:{port}/cms?connect_timeout=2");
    let started = Instant::now();
    let err = Source::parse(&url).unwrap().load(Dialect::Postgres, &ScratchServer::default()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret") && text.contains("127.0.0.1"), "{text}");
    drop(listener);
}

/// A database that drizzle-orm's own migrator built from the project's folder (with its own
/// bookkeeping table) reads exactly like our replay of the same folder: nothing about a real
/// Drizzle database is a difference.
#[test]
fn a_database_migrated_by_drizzle_orm_reads_like_our_replay_of_its_folder() {
    let Some(drizzle) = test_support::drizzle::harness() else { return };
    let folder = test_support::fixture::project_migrations("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("drizzle.db");
    drizzle.migrate_sqlite(&folder, &file).unwrap();
    let theirs = Source::parse(&format!("file:{}", file.display())).unwrap();
    let ours = Source::Migrations(folder);
    let scratch = ScratchServer::default();
    assert_eq!(theirs.load(Dialect::Sqlite, &scratch).unwrap(), ours.load(Dialect::Sqlite, &scratch).unwrap());

    let Some(db) = test_support::pg::database() else { return };
    let folder = test_support::fixture::project_migrations("postgresql");
    drizzle.migrate_pg(&folder, db.url()).unwrap();
    let scratch = ScratchServer::postgres(db.url());
    let _counting = count_lock();
    let theirs = Source::parse(db.url()).unwrap().load(Dialect::Postgres, &scratch).unwrap();
    assert_eq!(theirs, Source::Migrations(folder).load(Dialect::Postgres, &scratch).unwrap());
}
