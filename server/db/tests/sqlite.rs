//! The migrator on real SQLite files: the project's schema, real-world folder features,
//! failure atomicity, table rebuilds with child rows, and concurrent deployers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cms_db::error::DbError;
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::migrate::plan::EntryState;
use cms_db::{DatabaseUrl, MigrationSet};
use rusqlite::Connection;

fn project_migrations() -> PathBuf {
    test_support::fixture::project_migrations("sqlite")
}

/// Writes a Drizzle folder: `(tag, when, sql)` entries, journal version and dialect.
fn folder(dir: &Path, version: &str, dialect: &str, entries: &[(&str, i64, &str)]) -> PathBuf {
    fs::create_dir_all(dir.join("meta")).unwrap();
    let list: Vec<String> = entries
        .iter()
        .enumerate()
        .map(|(i, (tag, when, sql))| {
            fs::write(dir.join(format!("{tag}.sql")), sql).unwrap();
            format!(r#"{{"idx":{i},"version":"{version}","when":{when},"tag":"{tag}","breakpoints":true}}"#)
        })
        .collect();
    fs::write(
        dir.join("meta/_journal.json"),
        format!(r#"{{"version":"{version}","dialect":"{dialect}","entries":[{}]}}"#, list.join(",")),
    )
    .unwrap();
    dir.to_path_buf()
}

/// Copies the project's folder with the journal cut to its first `n` entries.
fn project_prefix(dir: &Path, n: usize) -> PathBuf {
    project_prefix_of(&project_migrations(), dir, n)
}

fn migrate(db: &Path, dir: &Path) -> Result<Vec<String>, DbError> {
    migrate_with(db, dir, &MigrateOptions::default())
}

fn migrate_with(db: &Path, dir: &Path, options: &MigrateOptions) -> Result<Vec<String>, DbError> {
    let set = MigrationSet::load(dir)?;
    let mut driver = cms_db::driver(&DatabaseUrl::Sqlite { path: db.to_path_buf() }, false)?;
    Ok(migrator::migrate(driver.as_mut(), &set, options, &mut |_| {})?.into_iter().map(|a| a.tag).collect())
}

fn states(db: &Path, dir: &Path) -> Vec<String> {
    let set = MigrationSet::load(dir).unwrap();
    let mut driver = cms_db::driver(&DatabaseUrl::Sqlite { path: db.to_path_buf() }, true).unwrap();
    migrator::status(driver.as_mut(), &set).unwrap().entries.iter().map(|e| e.state.label().to_string()).collect()
}

/// Schema and every row of every table: what "exactly as it was" means.
fn dump(db: &Path) -> String {
    let conn = Connection::open(db).unwrap();
    let mut out = String::new();
    let mut stmt =
        conn.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").unwrap();
    let objects: Vec<(String, String, Option<String>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    for (ty, name, sql) in objects {
        out.push_str(&format!("{ty} {name}: {}\n", sql.unwrap_or_default()));
        if ty == "table" && !name.contains("_fts_") {
            let mut rows = conn.prepare(&format!("SELECT * FROM \"{name}\" ORDER BY rowid")).unwrap();
            let n = rows.column_count();
            let all: Vec<String> = rows
                .query_map([], |r| {
                    Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            out.push_str(&all.join("\n"));
            out.push('\n');
        }
    }
    out
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get(0)).unwrap()
}

#[test]
fn project_schema_applies_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");
    let applied = migrate(&db, &project_migrations()).unwrap();
    assert!(applied.len() >= 4, "{applied:?}");
    assert!(migrate(&db, &project_migrations()).unwrap().is_empty());
    assert!(states(&db, &project_migrations()).iter().all(|s| s == "applied"));
    let conn = Connection::open(&db).unwrap();
    for table in [
        "teams",
        "sites",
        "environments",
        "locales",
        "section_definitions",
        "pages",
        "page_sections",
        "page_section_contents",
        "posts",
        "images",
        "navigation_items",
        "site_settings",
    ] {
        count(&conn, table);
    }
    // Bookkeeping is drizzle-orm's: hash of the bytes, created_at = when, id NULL.
    let set = MigrationSet::load(&project_migrations()).unwrap();
    let rows: Vec<(bool, String, String, i64)> = conn
        .prepare("SELECT id IS NULL, hash, typeof(created_at), created_at FROM __drizzle_migrations ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), set.migrations.len());
    for (row, m) in rows.iter().zip(&set.migrations) {
        let bytes = fs::read(project_migrations().join(format!("{}.sql", m.tag))).unwrap();
        assert_eq!(row, &(true, cms_db::migrate::journal::sha256_hex(&bytes), "integer".to_string(), m.when));
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// Fills every table of the schema as it stands after migration `0004`.
fn fill_every_table(conn: &Connection) {
    conn.execute_batch(
        "BEGIN;
         INSERT INTO teams VALUES ('t1', 'team', 1, 1);
         INSERT INTO sites (id, team_id, name, domain, default_environment_id, created_at, updated_at) VALUES ('s1', 't1', 'site', 'localhost:4000', 'e1', 1, 1);
         INSERT INTO environments (id, site_id, name, created_at, updated_at) VALUES ('e1', 's1', 'main', 1, 1);
         INSERT INTO locales (code, name, status, created_at) VALUES ('en', 'English', 'active', 1), ('de', 'German', 'inactive', 1);
         INSERT INTO section_definitions (id, key, name, elements_structure, template_key, created_at, updated_at) VALUES ('d1', 'hero', 'Hero', '{}', 'hero', 1, 1);
         INSERT INTO pages (id, site_id, environment_id, slug, name, created_at, updated_at) VALUES ('p1', 's1', 'e1', 'home', 'Home', 1, 1);
         INSERT INTO page_sections (id, page_id, section_def_id, sort_order, status, created_at, updated_at) VALUES ('ps1', 'p1', 'd1', 0, 'published', 1, 1), ('ps2', 'p1', 'd1', 1, 'draft', 1, 1);
         INSERT INTO page_section_contents (id, page_section_id, locale_code, content, created_at, updated_at) VALUES ('c1', 'ps1', 'en', '{}', 1, 1), ('c2', 'ps1', 'de', '{}', 1, 1), ('c3', 'ps2', 'en', '{}', 1, 1);
         INSERT INTO images (id, file_name, url, alt, created_at, updated_at) VALUES ('i1', 'hero.jpg', '/uploads/images/hero.jpg', 'Hero', 1, 1);
         INSERT INTO posts (id, site_id, environment_id, title, slug, body, status, featured_image_id, created_at, updated_at) VALUES ('po1', 's1', 'e1', 'T', 'hello', 'B', 'published', 'i1', 1, 1);
         INSERT INTO site_settings (id, key, value, created_at, updated_at) VALUES ('ss1', 'title', 'CMS', 1, 1);
         INSERT INTO navigation_items (id, environment_id, label, page_id, sort_order, created_at, updated_at) VALUES ('n1', 'e1', 'Home', 'p1', 0, 1, 1);
         COMMIT;",
    )
    .unwrap();
}

const TABLES: [&str; 12] = [
    "teams",
    "sites",
    "environments",
    "locales",
    "section_definitions",
    "pages",
    "page_sections",
    "page_section_contents",
    "posts",
    "images",
    "navigation_items",
    "site_settings",
];

#[test]
fn table_rebuild_keeps_every_child_row() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");
    let all = MigrationSet::load(&project_migrations()).unwrap().migrations.len();
    let before_rebuild = project_prefix(&tmp.path().join("m"), all - 1);
    migrate(&db, &before_rebuild).unwrap();
    let counts_before: Vec<i64> = {
        let conn = cms_db::sqlite::open(&db).unwrap();
        fill_every_table(&conn);
        TABLES.iter().map(|t| count(&conn, t)).collect()
    };
    let applied = migrate(&db, &project_migrations()).unwrap();
    assert_eq!(applied.len(), 1, "the last project migration is the page_sections rebuild");
    let conn = cms_db::sqlite::open(&db).unwrap();
    let counts_after: Vec<i64> = TABLES.iter().map(|t| count(&conn, t)).collect();
    assert_eq!(counts_before, counts_after, "no row may be lost by the rebuild ({TABLES:?})");
    assert_eq!(count(&conn, "page_section_contents"), 3);
    let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 0);
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let fk_on: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(fk_on, 1);
    // The rebuilt table still cascades.
    conn.execute("DELETE FROM pages WHERE id = 'p1'", []).unwrap();
    assert_eq!(count(&conn, "page_section_contents"), 0);
}

#[test]
fn naive_rebuild_would_have_lost_rows() {
    // The hazard we guard against, shown on the same schema: FKs on inside a transaction.
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("app.db");
    let all = MigrationSet::load(&project_migrations()).unwrap().migrations.len();
    migrate(&db, &project_prefix(&tmp.path().join("m"), all - 1)).unwrap();
    let conn = cms_db::sqlite::open(&db).unwrap();
    fill_every_table(&conn);
    let set = MigrationSet::load(&project_migrations()).unwrap();
    let rebuild = &set.migrations.last().unwrap().file.as_ref().unwrap().sql;
    conn.execute_batch("BEGIN").unwrap();
    for chunk in rebuild.split("--> statement-breakpoint") {
        conn.execute_batch(chunk).unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&conn, "page_section_contents"), 0);
}

#[test]
fn real_world_features_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(
        &tmp.path().join("m"),
        "5",
        "sqlite",
        &[
            ("0000_crlf", 1000, "CREATE TABLE `a` (\r\n\t`id` integer PRIMARY KEY,\r\n\t`v` text\r\n);\r\n--> statement-breakpoint\r\nCREATE INDEX `a_v` ON `a` (`v`);\r\n"),
            ("0001_strings", 2000, "INSERT INTO a (v) VALUES ('x; y'), ('--> not a comment? ''; still');\n--> statement-breakpoint\nINSERT INTO a (\"v\") VALUES ('z;') ;"),
            ("0002_trigger", 3000, "CREATE TABLE log (msg text);\n--> statement-breakpoint\nCREATE TRIGGER a_ins AFTER INSERT ON a BEGIN\n  INSERT INTO log VALUES ('inserted; ' || new.v);\n  INSERT INTO log VALUES (CASE WHEN new.v IS NULL THEN 'null' ELSE 'set' END);\nEND;\n--> statement-breakpoint\nINSERT INTO a (v) VALUES ('t');"),
            ("0003_fts", 4000, "CREATE VIRTUAL TABLE docs USING fts5(title, body);\n--> statement-breakpoint\nINSERT INTO docs VALUES ('hello', 'world; again');"),
            ("0004_empty_chunks", 5000, "--> statement-breakpoint\n\n--> statement-breakpoint\n-- just a comment\n--> statement-breakpoint\nCREATE TABLE b (id integer);\n--> statement-breakpoint\n"),
            // `when` going backwards: journal order rules.
            ("0005_backwards", 4500, "CREATE TABLE c (id integer);"),
            ("0006_multi", 6000, "CREATE TABLE d1 (x); CREATE TABLE d2 (x);\nCREATE TABLE d3 (x);"),
        ],
    );
    let db = tmp.path().join("x.db");
    let applied = migrate(&db, &dir).unwrap();
    assert_eq!(
        applied,
        ["0000_crlf", "0001_strings", "0002_trigger", "0003_fts", "0004_empty_chunks", "0005_backwards", "0006_multi"]
    );
    let conn = Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "a"), 4);
    assert_eq!(count(&conn, "log"), 2);
    let hit: i64 = conn.query_row("SELECT count(*) FROM docs WHERE docs MATCH 'again'", [], |r| r.get(0)).unwrap();
    assert_eq!(hit, 1);
    for t in ["b", "c", "d1", "d2", "d3"] {
        count(&conn, t);
    }
    let v: String = conn.query_row("SELECT v FROM a WHERE id = 2", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "--> not a comment? '; still");
    assert!(states(&db, &dir).iter().all(|s| s == "applied"));
}

#[test]
fn self_managed_file_with_its_own_commit_and_pragma() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(
        &tmp.path().join("m"),
        "7",
        "sqlite",
        &[
            ("0000_init", 1, "CREATE TABLE parent (id integer PRIMARY KEY, v text);\n--> statement-breakpoint\nCREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id) ON DELETE CASCADE);"),
            (
                "0001_rebuild_by_hand",
                2,
                "COMMIT;\nPRAGMA foreign_keys=OFF;\nBEGIN;\nCREATE TABLE __new_parent (id integer PRIMARY KEY, v text NOT NULL DEFAULT '');\nINSERT INTO __new_parent SELECT id, coalesce(v, '') FROM parent;\nDROP TABLE parent;\nALTER TABLE __new_parent RENAME TO parent;\nCOMMIT;\nPRAGMA foreign_keys=ON;\nBEGIN;",
            ),
        ],
    );
    let db = tmp.path().join("x.db");
    let first = project_prefix_of(&dir, &tmp.path().join("first"), 1);
    migrate(&db, &first).unwrap();
    {
        let conn = cms_db::sqlite::open(&db).unwrap();
        conn.execute_batch("INSERT INTO parent VALUES (1, NULL), (2, 'b'); INSERT INTO child VALUES (10, 1), (11, 2);")
            .unwrap();
    }
    assert_eq!(migrate(&db, &dir).unwrap(), ["0001_rebuild_by_hand"]);
    let conn = cms_db::sqlite::open(&db).unwrap();
    assert_eq!(count(&conn, "child"), 2);
    assert_eq!(count(&conn, "__drizzle_migrations"), 2);
    let fk_on: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(fk_on, 1);
    assert!(conn.is_autocommit());
}

fn project_prefix_of(src: &Path, dst: &Path, n: usize) -> PathBuf {
    fs::create_dir_all(dst.join("meta")).unwrap();
    let mut journal: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(src.join("meta/_journal.json")).unwrap()).unwrap();
    journal["entries"].as_array_mut().unwrap().truncate(n);
    for e in journal["entries"].as_array().unwrap() {
        let tag = e["tag"].as_str().unwrap();
        fs::copy(src.join(format!("{tag}.sql")), dst.join(format!("{tag}.sql"))).unwrap();
    }
    fs::write(dst.join("meta/_journal.json"), journal.to_string()).unwrap();
    dst.to_path_buf()
}

#[test]
fn failed_migration_leaves_the_database_as_after_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = [
        ("0000_ok", 1, "CREATE TABLE a (id integer);\n--> statement-breakpoint\nINSERT INTO a VALUES (1);"),
        (
            "0001_broken",
            2,
            "CREATE TABLE b (id integer);\n--> statement-breakpoint\nINSERT INTO a VALUES (2);\n--> statement-breakpoint\nINSERT INTO nowhere VALUES (3);\n--> statement-breakpoint\nCREATE TABLE c (id integer);",
        ),
        ("0002_never", 3, "CREATE TABLE d (id integer);"),
    ];
    let dir = folder(&tmp.path().join("m"), "7", "sqlite", &entries);
    let db = tmp.path().join("x.db");
    migrate(&db, &project_prefix_of(&dir, &tmp.path().join("first"), 1)).unwrap();
    let before = dump(&db);
    let err = migrate(&db, &dir).unwrap_err().to_string();
    assert!(err.contains("migration 0001_broken failed at statement 3 (line 5 of 0001_broken.sql)"), "{err}");
    assert!(err.contains("no such table: nowhere"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_eq!(dump(&db), before);
    assert_eq!(states(&db, &dir), ["applied", "pending", "pending"]);
}

#[test]
fn broken_foreign_keys_roll_the_rebuild_back() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = [
        ("0000_init", 1, "CREATE TABLE parent (id integer PRIMARY KEY);\n--> statement-breakpoint\nCREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent(id));"),
        ("0001_drops_parent_rows", 2, "PRAGMA foreign_keys=OFF;--> statement-breakpoint\nDELETE FROM parent;--> statement-breakpoint\nPRAGMA foreign_keys=ON;"),
    ];
    let dir = folder(&tmp.path().join("m"), "7", "sqlite", &entries);
    let db = tmp.path().join("x.db");
    migrate(&db, &project_prefix_of(&dir, &tmp.path().join("first"), 1)).unwrap();
    cms_db::sqlite::open(&db)
        .unwrap()
        .execute_batch("INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1);")
        .unwrap();
    let before = dump(&db);
    let err = migrate(&db, &dir).unwrap_err().to_string();
    assert!(
        err.contains(
            "migration 0001_drops_parent_rows leaves broken foreign keys: child row 1 has no parent in parent"
        ),
        "{err}"
    );
    assert_eq!(dump(&db), before);
}

#[test]
fn drift_is_refused_with_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(
        &tmp.path().join("m"),
        "7",
        "sqlite",
        &[
            ("0000_a", 1, "CREATE TABLE a (x);\n"),
            ("0001_b", 2, "CREATE TABLE b (x);\n"),
            ("0002_c", 3, "CREATE TABLE c (x);\n"),
        ],
    );
    let db = tmp.path().join("x.db");
    migrate(&db, &dir).unwrap();

    fs::write(dir.join("0000_a.sql"), "CREATE TABLE a (x);\r\n").unwrap();
    fs::write(dir.join("0001_b.sql"), "CREATE TABLE b (x, y);\n").unwrap();
    let set = MigrationSet::load(&dir).unwrap();
    let mut driver = cms_db::driver(&DatabaseUrl::Sqlite { path: db.clone() }, true).unwrap();
    let st = migrator::status(driver.as_mut(), &set).unwrap();
    assert_eq!(
        st.entries[0].state,
        EntryState::Modified { applied_at: st.entries[0].state_applied_at(), line_endings_only: true }
    );
    assert!(matches!(st.entries[1].state, EntryState::Modified { line_endings_only: false, .. }));
    let err = migrate(&db, &dir).unwrap_err().to_string();
    assert!(err.contains("migration 0001_b was applied but its file has changed"), "{err}");
    assert!(err.contains("only its line endings differ"), "{err}");

    fs::write(dir.join("0000_a.sql"), "CREATE TABLE a (x);\n").unwrap();
    fs::write(dir.join("0001_b.sql"), "CREATE TABLE b (x);\n").unwrap();
    fs::remove_file(dir.join("0002_c.sql")).unwrap();
    let err = migrate(&db, &dir).unwrap_err().to_string();
    assert!(err.contains("migration 0002_c was applied but its file 0002_c.sql is missing"), "{err}");
}

trait AppliedAt {
    fn state_applied_at(&self) -> Option<i64>;
}

impl AppliedAt for cms_db::migrate::plan::EntryStatus {
    fn state_applied_at(&self) -> Option<i64> {
        match self.state {
            EntryState::Modified { applied_at, .. } | EntryState::Applied { applied_at } => applied_at,
            _ => None,
        }
    }
}

#[test]
fn late_merged_migration_is_reported_and_applied_only_when_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let full = folder(
        &tmp.path().join("m"),
        "7",
        "sqlite",
        &[
            ("0000_a", 1, "CREATE TABLE a (x);"),
            ("0001_branch", 2, "CREATE TABLE b (x);"),
            ("0002_c", 3, "CREATE TABLE c (x);"),
        ],
    );
    let main_only = folder(
        &tmp.path().join("main"),
        "7",
        "sqlite",
        &[("0000_a", 1, "CREATE TABLE a (x);"), ("0002_c", 3, "CREATE TABLE c (x);")],
    );
    let db = tmp.path().join("x.db");
    migrate(&db, &main_only).unwrap();
    assert_eq!(states(&db, &full), ["applied", "out of order", "applied"]);
    let err = migrate(&db, &full).unwrap_err().to_string();
    assert!(err.contains("0001_branch is pending but the later migration 0002_c is already applied"), "{err}");
    let options = MigrateOptions { allow_out_of_order: true, ..MigrateOptions::default() };
    assert_eq!(migrate_with(&db, &full, &options).unwrap(), ["0001_branch"]);
    assert_eq!(states(&db, &full), ["applied", "applied", "applied"]);
}

#[test]
fn concurrent_deployers_apply_each_migration_once() {
    let tmp = tempfile::tempdir().unwrap();
    let entries: Vec<(String, i64, String)> = (0..30)
        .map(|i| {
            (
                format!("{i:04}_m"),
                i,
                format!("CREATE TABLE t{i} (x);\n--> statement-breakpoint\nINSERT INTO t{i} VALUES ({i});"),
            )
        })
        .collect();
    let refs: Vec<(&str, i64, &str)> = entries.iter().map(|(a, b, c)| (a.as_str(), *b, c.as_str())).collect();
    let dir = folder(&tmp.path().join("m"), "7", "sqlite", &refs);
    let db = tmp.path().join("x.db");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (db, dir) = (db.clone(), dir.clone());
            std::thread::spawn(move || migrate(&db, &dir).map(|v| v.len()))
        })
        .collect();
    let applied: usize = handles.into_iter().map(|h| h.join().unwrap().unwrap()).sum();
    assert_eq!(applied, 30);
    let conn = Connection::open(&db).unwrap();
    assert_eq!(count(&conn, "__drizzle_migrations"), 30);
    let distinct: i64 =
        conn.query_row("SELECT count(DISTINCT hash) FROM __drizzle_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(distinct, 30);
}

#[test]
fn a_held_lock_makes_the_second_deployer_wait_then_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(&tmp.path().join("m"), "7", "sqlite", &[("0000_a", 1, "CREATE TABLE a (x);")]);
    let db = tmp.path().join("x.db");
    let holder = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cms_db::sqlite::lock_file_path(&db))
        .unwrap();
    holder.lock().unwrap();
    let started = Instant::now();
    let options = MigrateOptions { lock_timeout: Duration::from_millis(300), ..MigrateOptions::default() };
    let err = migrate_with(&db, &dir, &options).unwrap_err().to_string();
    assert!(err.contains("another migrate is running"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    holder.unlock().unwrap();
    assert_eq!(migrate(&db, &dir).unwrap(), ["0000_a"]);
}

#[test]
fn read_only_database_file_is_refused_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(&tmp.path().join("m"), "7", "sqlite", &[("0000_a", 1, "CREATE TABLE a (x);")]);
    let db = tmp.path().join("x.db");
    Connection::open(&db).unwrap().execute_batch("CREATE TABLE keep (x); INSERT INTO keep VALUES (1);").unwrap();
    let before = fs::read(&db).unwrap();
    fs::set_permissions(&db, fs::Permissions::from_mode(0o444)).unwrap();
    let err = migrate(&db, &dir).unwrap_err().to_string();
    assert!(err.contains("read-only") && err.contains("x.db"), "{err}");
    assert_eq!(fs::read(&db).unwrap(), before);
}

#[test]
fn looking_never_creates_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("missing.db");
    assert!(states(&db, &project_migrations()).iter().all(|s| s == "pending"));
    let set = MigrationSet::load(&project_migrations()).unwrap();
    let mut driver = cms_db::driver(&DatabaseUrl::Sqlite { path: db.clone() }, true).unwrap();
    assert_eq!(migrator::pending(driver.as_mut(), &set, false).unwrap().len(), set.migrations.len());
    assert!(!db.exists());
}

#[test]
fn postgres_journal_against_sqlite_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = folder(&tmp.path().join("m"), "7", "postgresql", &[("0000_a", 1, "CREATE TABLE a (x int);")]);
    let err = migrate(&tmp.path().join("x.db"), &dir).unwrap_err().to_string();
    assert!(err.contains("is a postgresql journal but DATABASE_URL is a sqlite database"), "{err}");
}
