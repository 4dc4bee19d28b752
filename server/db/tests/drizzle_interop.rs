//! Interop with the real drizzle-orm migrator (tools/drizzle-interop, via
//! `test_support::drizzle`), on SQLite files and on PostgreSQL: either tool takes over a
//! database from the other, both leave the same bookkeeping and schema behind, and what
//! drizzle-orm silently skips we report.
//!
//! drizzle-orm's SQLite path runs only the first statement of each breakpoint chunk, so every
//! folder given to it here has exactly one statement per chunk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cms_db::migrate::migrator::{self, Applied, MigrateOptions};
use cms_db::migrate::plan::{EntryState, Status};
use cms_db::{DatabaseUrl, MigrationSet};
use postgres::Client;
use rusqlite::{Connection, OpenFlags};
use test_support::drizzle::{Drizzle, Rows};
use test_support::fixture;
use test_support::pg::TestDb;

// --- our side --------------------------------------------------------------------------------

fn sqlite(path: &Path) -> DatabaseUrl {
    DatabaseUrl::Sqlite { path: path.to_path_buf() }
}

fn pg(db: &TestDb) -> DatabaseUrl {
    DatabaseUrl::Postgres { url: db.url().to_string() }
}

fn load(dir: &Path) -> MigrationSet {
    MigrationSet::load(dir).expect("load the migrations folder")
}

fn options(allow_out_of_order: bool) -> MigrateOptions {
    MigrateOptions { allow_out_of_order, lock_timeout: Duration::from_secs(30) }
}

/// Our migrate; the driver (and so, on SQLite, the connection: WAL checkpointed and removed)
/// is dropped before returning.
fn our_migrate(url: &DatabaseUrl, dir: &Path, allow_out_of_order: bool) -> Vec<String> {
    let set = load(dir);
    let mut driver = cms_db::driver(url, false).expect("open the database");
    let applied: Vec<Applied> = migrator::migrate(driver.as_mut(), &set, &options(allow_out_of_order), &mut |_| {})
        .unwrap_or_else(|e| panic!("our migrate failed: {e}"));
    applied.into_iter().map(|a| a.tag).collect()
}

fn our_status(url: &DatabaseUrl, dir: &Path) -> Status {
    let set = load(dir);
    let mut driver = cms_db::driver(url, true).expect("open the database read-only");
    migrator::status(driver.as_mut(), &set).expect("status")
}

fn labels(st: &Status) -> Vec<&'static str> {
    st.entries.iter().map(|e| e.state.label()).collect()
}

fn tags_from(dir: &Path, from: usize) -> Vec<String> {
    fixture::journal_entries(dir).into_iter().skip(from).map(|(tag, _)| tag).collect()
}

fn assert_no_wal(db: &Path) {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(size, 0, "{} is left behind with {size} bytes", wal.display());
}

/// Runs drizzle-orm's migrator and panics with its stderr when it fails.
fn drizzle_sqlite(dz: &Drizzle, dir: &Path, db: &Path) -> Rows {
    assert_no_wal(db);
    dz.migrate_sqlite(dir, db).unwrap_or_else(|e| panic!("drizzle-orm (sqlite) failed: {e}"))
}

fn drizzle_pg(dz: &Drizzle, dir: &Path, db: &TestDb) -> Rows {
    dz.migrate_pg(dir, db.url()).unwrap_or_else(|e| panic!("drizzle-orm (pg) failed: {e}"))
}

// --- inspecting SQLite files -----------------------------------------------------------------

fn inspect(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open read-only")
}

/// `(hash, created_at as text)` ordered like the harness prints them.
fn sqlite_rows(db: &Path) -> Rows {
    let conn = inspect(db);
    let mut stmt = conn
        .prepare("SELECT hash, CAST(created_at AS TEXT) FROM __drizzle_migrations ORDER BY created_at, rowid")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Everything drizzle-orm's columns say, in write order: hash, created_at as text, its storage
/// class, and whether id is NULL (drizzle-orm's `id SERIAL` is no rowid alias on SQLite).
fn sqlite_bookkeeping(db: &Path) -> Vec<(String, String, String, bool)> {
    let conn = inspect(db);
    let mut stmt = conn
        .prepare(
            "SELECT hash, CAST(created_at AS TEXT), typeof(created_at), id IS NULL \
             FROM __drizzle_migrations ORDER BY rowid",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

type SchemaRow = (String, String, String, Option<String>);

fn sqlite_schema(db: &Path) -> Vec<SchemaRow> {
    let conn = inspect(db);
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND tbl_name <> '__drizzle_migrations' ORDER BY name",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

fn sqlite_has_table(db: &Path, name: &str) -> bool {
    inspect(db)
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
        == 1
}

// --- inspecting PostgreSQL databases ---------------------------------------------------------

fn pg_rows(client: &mut Client) -> Rows {
    client
        .query("SELECT hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY created_at, id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn pg_strings(client: &mut Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client.query(sql, &[]).unwrap().iter().map(|r| (0..r.len()).map(|i| r.get(i)).collect()).collect()
}

/// Tables and columns, constraints and indexes of the `public` schema, and drizzle-orm's own
/// bookkeeping columns.
fn pg_schema(client: &mut Client) -> Vec<Vec<Vec<Option<String>>>> {
    [
        "SELECT table_name::text, column_name::text, ordinal_position::text, data_type::text, \
                is_nullable::text, column_default::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
        "SELECT table_name::text, table_type::text FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
        "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text \
         FROM information_schema.columns \
         WHERE table_schema = 'drizzle' AND table_name = '__drizzle_migrations' \
           AND column_name IN ('id', 'hash', 'created_at') ORDER BY ordinal_position",
    ]
    .iter()
    .map(|sql| pg_strings(client, sql))
    .collect()
}

fn pg_has_table(client: &mut Client, name: &str) -> bool {
    client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).unwrap().get(0)
}

/// `(tag, when, sql)` of a fixture folder.
type Entry = (&'static str, i64, &'static str);

/// A late-merge folder: `0000_a` and `0002_c` first, then `0001_branch` (an earlier `when`)
/// merged in between. One statement per chunk.
fn late_merge_entries(dialect: &str) -> (Vec<Entry>, Vec<Entry>) {
    let (a, b, c) = if dialect == "sqlite" {
        (
            "CREATE TABLE `a` (`id` integer PRIMARY KEY NOT NULL);",
            "CREATE TABLE `b` (`id` integer PRIMARY KEY NOT NULL);",
            "CREATE TABLE `c` (`id` integer PRIMARY KEY NOT NULL);\n--> statement-breakpoint\nCREATE INDEX `c_id_idx` ON `c` (`id`);",
        )
    } else {
        (
            "CREATE TABLE \"a\" (\"id\" integer PRIMARY KEY NOT NULL);",
            "CREATE TABLE \"b\" (\"id\" integer PRIMARY KEY NOT NULL);",
            "CREATE TABLE \"c\" (\"id\" integer PRIMARY KEY NOT NULL);\n--> statement-breakpoint\nCREATE INDEX \"c_id_idx\" ON \"c\" USING btree (\"id\");",
        )
    };
    let a = ("0000_a", 1_735_689_600_000, a);
    let b = ("0001_branch", 1_735_776_000_000, b);
    let c = ("0002_c", 1_735_862_400_000, c);
    (vec![a, c], vec![a, b, c])
}

// --- SQLite ----------------------------------------------------------------------------------

#[test]
fn sqlite_drizzle_then_us_then_drizzle() {
    let Some(dz) = test_support::drizzle::harness() else {
        return;
    };
    let full = fixture::project_migrations("sqlite");
    let n = fixture::journal_entries(&full).len();
    let expected = fixture::expected_rows(&full);
    let first3 = fixture::copy_truncated(&full, 3);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");

    // drizzle-orm starts the database.
    let rows = drizzle_sqlite(&dz, first3.path(), &db);
    assert_eq!(rows, expected[..3]);

    // We see its work and take over.
    let st = our_status(&sqlite(&db), &full);
    let mut want = vec!["applied"; 3];
    want.extend(vec!["pending"; n - 3]);
    assert_eq!(labels(&st), want);
    assert!(st.findings().is_empty(), "{:?}", st.findings());
    assert_eq!(our_migrate(&sqlite(&db), &full, false), tags_from(&full, 3));
    assert_eq!(sqlite_rows(&db), expected);

    // drizzle-orm, given the whole folder, finds nothing to do.
    let rows = drizzle_sqlite(&dz, &full, &db);
    assert_eq!(rows, expected);
    assert_eq!(rows, sqlite_rows(&db));
    assert_eq!(our_status(&sqlite(&db), &full).count("applied"), n);
}

#[test]
fn sqlite_full_by_us_equals_full_by_drizzle() {
    let Some(dz) = test_support::drizzle::harness() else {
        return;
    };
    let full = fixture::project_migrations("sqlite");
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours.db");
    let theirs = tmp.path().join("theirs.db");

    assert_eq!(our_migrate(&sqlite(&ours), &full, false), tags_from(&full, 0));
    assert_no_wal(&ours);
    let rows = drizzle_sqlite(&dz, &full, &theirs);

    assert_eq!(rows, fixture::expected_rows(&full));
    assert_eq!(sqlite_rows(&ours), rows);
    let bookkeeping = sqlite_bookkeeping(&ours);
    assert_eq!(bookkeeping, sqlite_bookkeeping(&theirs));
    assert!(bookkeeping.iter().all(|(_, _, ty, id_null)| ty == "integer" && *id_null));
    let schema = sqlite_schema(&ours);
    assert!(schema.iter().any(|(_, name, ..)| name == "page_sections"));
    assert_eq!(schema, sqlite_schema(&theirs));

    // Each tool sees the other's database as fully migrated.
    assert_eq!(our_status(&sqlite(&theirs), &full).count("applied"), rows.len());
    assert_eq!(drizzle_sqlite(&dz, &full, &ours), rows);
}

#[test]
fn sqlite_late_merge_skipped_by_drizzle_is_out_of_order_for_us() {
    let Some(dz) = test_support::drizzle::harness() else {
        return;
    };
    let (before, after) = late_merge_entries("sqlite");
    let dir = fixture::folder("sqlite", "7", &before);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");
    let rows = drizzle_sqlite(&dz, dir.path(), &db);
    assert_eq!(rows.len(), 2);

    fixture::write_folder(dir.path(), "sqlite", "7", &after);
    // drizzle-orm: 0001_branch's when is below max(created_at), so it is skipped silently.
    assert_eq!(drizzle_sqlite(&dz, dir.path(), &db), rows);
    assert!(!sqlite_has_table(&db, "b"));

    let st = our_status(&sqlite(&db), dir.path());
    assert_eq!(labels(&st), ["applied", "out of order", "applied"]);
    assert_eq!(st.entries[1].state, EntryState::OutOfOrder { later: "0002_c".into() });
    assert!(st
        .findings()
        .iter()
        .any(|f| f.to_string().contains("0001_branch is pending but the later migration 0002_c")));

    assert_eq!(our_migrate(&sqlite(&db), dir.path(), true), ["0001_branch"]);
    assert!(sqlite_has_table(&db, "b"));
    assert_eq!(
        sqlite_rows(&db),
        fixture::expected_rows(dir.path()),
        "ordered by created_at, the branch's row sits between the others"
    );
}

// --- PostgreSQL ------------------------------------------------------------------------------

#[test]
fn pg_drizzle_then_us_then_drizzle() {
    let Some(dz) = test_support::drizzle::harness() else {
        return;
    };
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let full = fixture::project_migrations("postgresql");
    let n = fixture::journal_entries(&full).len();
    let expected = fixture::expected_rows(&full);
    let first3 = fixture::copy_truncated(&full, 3);

    let rows = drizzle_pg(&dz, first3.path(), &db);
    assert_eq!(rows, expected[..3]);

    let st = our_status(&pg(&db), &full);
    let mut want = vec!["applied"; 3];
    want.extend(vec!["pending"; n - 3]);
    assert_eq!(labels(&st), want);
    assert!(st.findings().is_empty(), "{:?}", st.findings());
    assert_eq!(our_migrate(&pg(&db), &full, false), tags_from(&full, 3));
    let mut client = db.client();
    assert_eq!(pg_rows(&mut client), expected);

    let rows = drizzle_pg(&dz, &full, &db);
    assert_eq!(rows, expected);
    assert_eq!(rows, pg_rows(&mut client));
    assert_eq!(our_status(&pg(&db), &full).count("applied"), n);
}

#[test]
fn pg_full_by_us_equals_full_by_drizzle() {
    let Some(dz) = test_support::drizzle::harness() else {
        return;
    };
    let (Some(ours), Some(theirs)) = (test_support::pg::database(), test_support::pg::database()) else {
        return;
    };
    let full = fixture::project_migrations("postgresql");

    assert_eq!(our_migrate(&pg(&ours), &full, false), tags_from(&full, 0));
    let rows = drizzle_pg(&dz, &full, &theirs);
    assert_eq!(rows, fixture::expected_rows(&full));

    let (mut ours_client, mut theirs_client) = (ours.client(), theirs.client());
    assert_eq!(pg_rows(&mut ours_client), rows);
    let schema = pg_schema(&mut ours_client);
    assert!(!schema[0].is_empty(), "no columns in public");
    assert_eq!(schema, pg_schema(&mut theirs_client));

    assert_eq!(our_status(&pg(&theirs), &full).count("applied"), rows.len());
    assert_eq!(drizzle_pg(&dz, &full, &ours), rows);
}

#[test]
fn pg_late_merge_skipped_by_drizzle_is_out_of_order_for_us() {
    let Some(dz) = test_support::drizzle::harness() else {
        return;
    };
    let Some(db) = test_support::pg::database() else {
        return;
    };
    let (before, after) = late_merge_entries("postgresql");
    let dir = fixture::folder("postgresql", "7", &before);
    let rows = drizzle_pg(&dz, dir.path(), &db);
    assert_eq!(rows.len(), 2);

    fixture::write_folder(dir.path(), "postgresql", "7", &after);
    assert_eq!(drizzle_pg(&dz, dir.path(), &db), rows);
    let mut client = db.client();
    assert!(!pg_has_table(&mut client, "public.b"));

    let st = our_status(&pg(&db), dir.path());
    assert_eq!(labels(&st), ["applied", "out of order", "applied"]);
    assert_eq!(st.entries[1].state, EntryState::OutOfOrder { later: "0002_c".into() });

    assert_eq!(our_migrate(&pg(&db), dir.path(), true), ["0001_branch"]);
    assert!(pg_has_table(&mut client, "public.b"));
    assert_eq!(pg_rows(&mut client), fixture::expected_rows(dir.path()));
}
