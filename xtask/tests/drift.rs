//! `cargo xtask check` on schema drift (the code schema against the migrations folders) and
//! database drift (the live database against what its applied migrations create), through
//! the real binary on both dialects.

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;
use cms_db::cms_schema;
use cms_db::connection::Sql;
use cms_db::schema::declare::text;
use cms_db::schema::Dialect;
use cms_db::DatabaseUrl;
use test_support::project::Project;

/// A temporary project root with copies of both folders, on SQLite or a PostgreSQL test
/// database; xtask without the network and without `DEV_DATABASE_URL`.
fn project(dialect: Dialect) -> Option<Project> {
    Project::copied().env("CMS_IMAGES_OFFLINE", "1").env_remove("DEV_DATABASE_URL").on(&dialect.to_string())
}

fn folder(p: &Project, dialect: Dialect) -> PathBuf {
    p.root().join(dialect.default_folder())
}

/// Runs SQL on the live database, as someone with a console would.
fn by_hand(p: &Project, sql: &str) {
    let mut conn = cms_db::connect(&DatabaseUrl::parse(&p.url()).unwrap()).unwrap();
    conn.batch(sql).unwrap();
}

/// Appends a journal entry and its file.
fn add_migration(p: &Project, dialect: Dialect, tag: &str, when: i64, sql: &str) {
    let journal = folder(p, dialect).join("meta/_journal.json");
    let mut j: serde_json::Value = serde_json::from_slice(&fs::read(&journal).unwrap()).unwrap();
    let entries = j["entries"].as_array_mut().unwrap();
    let idx = entries.len();
    let version = entries[0]["version"].clone();
    entries.push(serde_json::json!({"idx": idx, "version": version, "when": when, "tag": tag, "breakpoints": true}));
    fs::write(&journal, serde_json::to_string_pretty(&j).unwrap()).unwrap();
    fs::write(folder(p, dialect).join(format!("{tag}.sql")), sql).unwrap();
}

fn ok(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

fn fails(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().code(1).get_output().stderr.clone()).unwrap()
}

fn json(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_slice(&cmd.assert().code(1).get_output().stdout).unwrap()
}

/// A column added by hand and an index dropped by hand are database drift; putting them back
/// makes `check` pass again.
fn changes_made_by_hand(dialect: Dialect) {
    let Some(p) = project(dialect) else { return };
    ok(&mut p.xtask(&["migrate", "-q"]));
    ok(&mut p.xtask(&["seed"]));
    let out = ok(&mut p.xtask(&["check"]));
    assert!(out.starts_with("ok:") && out.contains("no drift"), "{out}");

    by_hand(&p, "ALTER TABLE teams ADD COLUMN nickname text");
    by_hand(&p, "DROP INDEX pages_site_id_idx");
    let err = fails(&mut p.xtask(&["check"]));
    assert!(err.contains("database drift") && err.contains("6 applied migration(s)"), "{err}");
    assert!(err.contains("column teams.nickname exists in the database but no migration creates it"), "{err}");
    assert!(err.contains("index pages_site_id_idx on pages is missing from the database"), "{err}");
    assert!(!err.contains("schema drift ("), "the folders still build the code schema: {err}");
    let v = json(&mut p.xtask(&["check", "--json"]));
    assert_eq!(v["ok"], false);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v}");
    assert_eq!(findings[0]["kind"], "database_drift");
    assert_eq!(findings[0]["differences"].as_array().unwrap().len(), 2, "{v}");

    by_hand(&p, "ALTER TABLE teams DROP COLUMN nickname");
    by_hand(&p, "CREATE INDEX pages_site_id_idx ON pages (site_id)");
    ok(&mut p.xtask(&["check", "--no-pending"]));
}

#[test]
fn changes_made_by_hand_sqlite() {
    changes_made_by_hand(Dialect::Sqlite);
}

#[test]
fn changes_made_by_hand_postgres() {
    changes_made_by_hand(Dialect::Postgres);
}

/// A migration written by hand that the code schema lacks is schema drift (the database,
/// migrated, has no drift); a code change that no migration carries is too.
fn code_and_folder_disagree(dialect: Dialect) {
    let Some(p) = project(dialect) else { return };
    add_migration(
        &p,
        dialect,
        "0006_hand_written",
        1_760_000_000_000,
        "CREATE TABLE audit_log (id text PRIMARY KEY NOT NULL, message text NOT NULL);",
    );
    ok(&mut p.xtask(&["migrate", "-q"]));
    let err = fails(&mut p.xtask(&["check"]));
    let folder = dialect.default_folder();
    assert!(err.contains(&format!("schema drift ({dialect}): {folder} does not build the code schema")), "{err}");
    assert!(err.contains("drop table audit_log") && err.contains("cargo xtask generate"), "{err}");
    assert!(!err.contains("database drift"), "{err}");

    // Undo it; now the code changes instead.
    let p = project(dialect).unwrap();
    ok(&mut p.xtask(&["migrate", "-q"]));
    let mut schema = cms_schema::declaration();
    schema.table_mut("posts").unwrap().columns.push(text("subtitle"));
    let file = p.root().join("code.sql");
    fs::write(&file, schema.ddl(dialect)).unwrap();
    let code = format!("sql:{}", file.display());
    let err = fails(&mut p.xtask(&["check", "--schema", &code]));
    assert!(err.contains(&format!("{folder} does not build {code}")), "{err}");
    assert!(err.contains("add column posts.subtitle"), "{err}");
    assert!(err.contains(&format!("cargo xtask generate --to {code}")), "{err}");
    let v = json(&mut p.xtask(&["check", "--schema", &code, "--json"]));
    assert_eq!(v["findings"][0]["kind"], "schema_drift");
    assert_eq!(v["findings"][0]["changes"][0], "add column posts.subtitle");
}

#[test]
fn code_and_folder_disagree_sqlite() {
    code_and_folder_disagree(Dialect::Sqlite);
}

#[test]
fn code_and_folder_disagree_postgres() {
    code_and_folder_disagree(Dialect::Postgres);
}

/// Only the applied migrations are replayed: a pending one is not drift, and a change by hand
/// is measured against what was applied.
#[test]
fn drift_is_measured_against_the_applied_migrations_only() {
    let p = project(Dialect::Sqlite).unwrap();
    let journal = folder(&p, Dialect::Sqlite).join("meta/_journal.json");
    let full = fs::read(&journal).unwrap();
    let mut j: serde_json::Value = serde_json::from_slice(&full).unwrap();
    j["entries"].as_array_mut().unwrap().pop();
    fs::write(&journal, serde_json::to_string_pretty(&j).unwrap()).unwrap();
    let last = folder(&p, Dialect::Sqlite).join("0005_section_status_check.sql");
    let aside = p.root().join("aside.sql");
    fs::rename(&last, &aside).unwrap();
    ok(&mut p.xtask(&["migrate", "-q"]));
    fs::rename(&aside, &last).unwrap();
    fs::write(&journal, &full).unwrap();

    let out = ok(&mut p.xtask(&["check"]));
    assert!(out.contains("5 applied, 1 pending") && out.contains("no drift"), "{out}");
    by_hand(&p, "CREATE INDEX pages_name_idx ON pages (name)");
    let err = fails(&mut p.xtask(&["check"]));
    assert!(err.contains("5 applied migration(s)"), "{err}");
    assert!(err.contains("index pages_name_idx on pages exists in the database but no migration creates it"), "{err}");
    assert_eq!(err.matches("      ").count(), 1, "only the index differs: {err}");
}

#[test]
fn a_folder_with_problems_is_reported_and_not_replayed() {
    let p = project(Dialect::Sqlite).unwrap();
    ok(&mut p.xtask(&["migrate", "-q"]));
    fs::remove_file(folder(&p, Dialect::Sqlite).join("0003_site_settings.sql")).unwrap();
    let err = fails(&mut p.xtask(&["check"]));
    assert!(err.contains("0003_site_settings.sql is missing"), "{err}");
    assert!(err.contains("migrations/sqlite was not compared with the code schema (server/db/src/cms_schema.rs): fix its problems first"), "{err}");
    assert!(err.contains("database drift not checked"), "{err}");
}
