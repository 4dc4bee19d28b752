//! `restore` on PostgreSQL leaves the database exactly as the backup was: objects made after
//! the backup (a table, a view, a type, a function, a schema) are dropped in the same
//! transaction as the restore (backup_pg.rs: a restore that fails changes nothing, those drops
//! included). Real server (password authentication), real pg_dump, pg_restore and psql.

use std::path::Path;

use assert_cmd::Command;

fn xtask(root: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.env("CMS_PROJECT_ROOT", root).env("DATABASE_URL", url).current_dir("/").args(args);
    cmd
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::os::unix::fs::symlink(repo.join("migrations"), dir.path().join("migrations")).unwrap();
    dir
}

/// Every user object, by kind, as one sorted list of lines.
fn objects(client: &mut postgres::Client) -> Vec<String> {
    let rows = client
        .query(
            "SELECT 'relation ' || n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg_toast%'
             UNION ALL SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE t.typtype = 'e' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             UNION ALL SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
              WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND nspname NOT LIKE 'pg_%'
             ORDER BY 1",
            &[],
        )
        .unwrap();
    rows.iter().map(|r| r.get::<_, String>(0)).collect()
}

#[test]
fn restore_drops_what_was_made_after_the_backup_and_keeps_the_rows() {
    let Some(db) = test_support::pg::database() else { return };
    let root = project();
    let url = db.url();
    xtask(root.path(), url, &["migrate", "--no-backup"]).assert().success();
    let mut client = db.client();
    client.batch_execute("INSERT INTO teams (id, name, created_at, updated_at) VALUES ('t1', 'kept', 1, 1)").unwrap();
    let before = objects(&mut client);
    xtask(root.path(), url, &["backup"]).assert().success();

    // Made after the backup: by a migration since undone, or by hand.
    client
        .batch_execute(
            "CREATE TABLE audit_log (id serial PRIMARY KEY, what text);
             INSERT INTO audit_log (what) VALUES ('x');
             CREATE VIEW team_names AS SELECT name FROM teams;
             CREATE TYPE mood AS ENUM ('calm');
             CREATE FUNCTION one(a integer, b text) RETURNS integer LANGUAGE sql AS 'SELECT 1';
             CREATE SCHEMA reporting;
             CREATE TABLE reporting.\"odd name\" (id integer);
             INSERT INTO teams (id, name, created_at, updated_at) VALUES ('t2', 'after the backup', 2, 2);",
        )
        .unwrap();
    drop(client);

    let out = xtask(root.path(), url, &["restore", "latest", "--yes"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("table public.audit_log") && out.contains("schema reporting"), "says what it drops: {out}");

    let mut client = db.client();
    assert_eq!(objects(&mut client), before, "exactly the objects of the backup");
    let teams: Vec<String> =
        client.query("SELECT name FROM teams ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(teams, ["kept"]);
    // And the pre-restore backup holds what was dropped.
    xtask(root.path(), url, &["backup", "list"]).assert().success().stdout(predicates::str::contains("pre-restore"));
}

#[test]
fn another_roles_object_is_left_in_place_not_a_reason_to_fail() {
    let Some(db) = test_support::pg::database() else { return };
    let root = project();
    let url = db.url();
    xtask(root.path(), url, &["migrate", "--no-backup"]).assert().success();
    xtask(root.path(), url, &["backup"]).assert().success();
    let mut admin = db.admin_client();
    let mut client = db.client();
    let who = |c: &mut postgres::Client| c.query_one("SELECT current_user::text", &[]).unwrap().get::<_, String>(0);
    if who(&mut admin) == who(&mut client) {
        eprintln!("SKIPPED: the administrator is the test's own role here (TEST_POSTGRES_URL)");
        return;
    }
    // After the backup: a DBA's view (not ours to drop) and a table of ours.
    admin.batch_execute("CREATE VIEW dba_uptime AS SELECT now() AS at").unwrap();
    client.batch_execute("CREATE TABLE audit_log (id integer)").unwrap();
    drop((admin, client));

    xtask(root.path(), url, &["restore", "latest", "--yes"]).assert().success();
    let names = objects(&mut db.client());
    assert!(names.contains(&"relation public.dba_uptime".to_string()), "{names:?}");
    assert!(!names.contains(&"relation public.audit_log".to_string()), "{names:?}");
}
