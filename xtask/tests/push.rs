//! `cargo xtask push` through the real binary on both dialects: safe changes applied, data loss
//! counted and refused without `--accept-data-loss` (nothing changed), applied with it; a
//! database with pending migrations refused; a remote PostgreSQL refused without
//! `--allow-remote`; `--dry-run` changes nothing.

use std::fs;

use assert_cmd::Command;
use cms_db::cms_schema;
use cms_db::connection::Sql;
use cms_db::schema::declare::{integer, text, SchemaDef};
use cms_db::schema::source::{ScratchServer, Source};
use cms_db::schema::{Dialect, Schema};
use cms_db::DatabaseUrl;
use test_support::project::Project;

/// A temporary project root with the repository's migrations, on SQLite or a PostgreSQL test
/// database; xtask without the network and without `DEV_DATABASE_URL`.
fn project(dialect: Dialect) -> Option<Project> {
    Project::linked().env("CMS_IMAGES_OFFLINE", "1").env_remove("DEV_DATABASE_URL").on(&dialect.to_string())
}

/// `sql:FILE` holding the DDL of `schema` in `dialect`.
fn write_desired(p: &Project, dialect: Dialect, schema: &SchemaDef) -> String {
    let path = p.root().join("desired.sql");
    fs::write(&path, schema.ddl(dialect)).unwrap();
    format!("sql:{}", path.display())
}

fn query_int(p: &Project, sql: &str) -> i64 {
    let mut conn = cms_db::connect(&DatabaseUrl::parse(&p.url()).unwrap()).unwrap();
    conn.query(sql, &[]).unwrap()[0][0].int().unwrap()
}

/// The live schema, read as `diff` reads it.
fn live_schema(p: &Project, dialect: Dialect) -> Schema {
    let scratch = match p.pg() {
        Some(db) => ScratchServer::postgres(db.url()),
        None => ScratchServer::default(),
    };
    Source::parse(&p.url()).unwrap().load(dialect, &scratch).unwrap()
}

fn ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.assert().success().get_output().clone();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn fails(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().code(1).get_output().stderr.clone()).unwrap()
}

fn guarded(dialect: Dialect) {
    let Some(p) = project(dialect) else { return };

    // Pending migrations: refused, with what to run.
    let err = fails(&mut p.xtask(&["push"]));
    assert!(err.contains("6 migration(s)") && err.contains("run `cargo xtask migrate` first"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    ok(&mut p.xtask(&["migrate", "-q"]));
    ok(&mut p.xtask(&["seed"]));
    let (out, _) = ok(&mut p.xtask(&["push"]));
    assert!(out.contains("nothing to push"), "{out}");

    // A safe change is applied at once.
    let mut schema = cms_schema::declaration();
    schema.table_mut("posts").unwrap().columns.push(text("subtitle"));
    schema.table_mut("pages").unwrap().columns.push(integer("views").not_null().default(0));
    let desired = write_desired(&p, dialect, &schema);
    let (out, _) = ok(&mut p.xtask(&["push", "--to", &desired]));
    assert!(out.contains("add column posts.subtitle") && out.contains("pushed:"), "{out}");
    assert!(live_schema(&p, dialect).table("posts").unwrap().column("subtitle").is_some());

    // Losing data: refused without the flag, nothing changed (also with --dry-run).
    let posts = query_int(&p, "SELECT count(*) FROM posts");
    let excerpts = query_int(&p, "SELECT count(*) FROM posts WHERE excerpt IS NOT NULL");
    assert!(excerpts > 0);
    p.xtask(&["push", "--to", &desired]).assert().success();
    let mut lossy = schema.clone();
    let t = lossy.table_mut("posts").unwrap();
    t.columns.retain(|c| c.name != "excerpt");
    t.column_mut("subtitle").unwrap().not_null = true;
    lossy.tables.retain(|t| t.name != "site_settings");
    let lossy_sql = write_desired(&p, dialect, &lossy);
    let settings = query_int(&p, "SELECT count(*) FROM site_settings");
    let before = live_schema(&p, dialect);
    let err = fails(&mut p.xtask(&["push", "--to", &lossy_sql]));
    assert!(err.contains(&format!("drop column posts.excerpt: {excerpts} value(s) deleted with the column")), "{err}");
    assert!(err.contains(&format!("drop table site_settings: {settings} row(s) deleted with the table")), "{err}");
    assert!(err.contains(&format!("posts.subtitle: set not null: {posts} row(s) with NULL")), "{err}");
    assert!(err.contains("--accept-data-loss") && err.contains("nothing was changed"), "{err}");
    assert_eq!(live_schema(&p, dialect), before);
    assert_eq!(query_int(&p, "SELECT count(*) FROM posts WHERE excerpt IS NOT NULL"), excerpts);
    let (out, _) = ok(&mut p.xtask(&["push", "--to", &lossy_sql, "--dry-run"]));
    assert!(out.contains("dry run: push would refuse it without --accept-data-loss"), "{out}");
    // Accepted, but not confirmed (no terminal, no --yes): still nothing.
    let err = fails(&mut p.xtask(&["push", "--to", &lossy_sql, "--accept-data-loss"]));
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(live_schema(&p, dialect), before);

    // Accepted and confirmed: applied, the rows in the way deleted.
    ok(&mut p.xtask(&["push", "--to", &lossy_sql, "--accept-data-loss", "--yes"]));
    let after = live_schema(&p, dialect);
    assert!(after.table("site_settings").is_none());
    assert!(after.table("posts").unwrap().column("excerpt").is_none());
    assert_eq!(query_int(&p, "SELECT count(*) FROM posts"), 0, "the posts with a NULL subtitle were deleted");
    assert!(query_int(&p, "SELECT count(*) FROM pages") > 0, "other tables keep their rows");
    let (out, _) = ok(&mut p.xtask(&["push", "--to", &lossy_sql]));
    assert!(out.contains("nothing to push"), "{out}");
    // The database now differs from its migrations: check says so.
    let err = fails(&mut p.xtask(&["check"]));
    assert!(err.contains("database drift") && err.contains("table site_settings is missing"), "{err}");
}

#[test]
fn push_is_guarded_sqlite() {
    guarded(Dialect::Sqlite);
}

#[test]
fn push_is_guarded_postgres() {
    guarded(Dialect::Postgres);
}

#[test]
fn a_remote_postgres_needs_allow_remote() {
    let p = project(Dialect::Sqlite).unwrap();
    let remote = "postgres://cms:s3cret@db.example.invalid/cms";
    let err = fails(p.xtask(&["push"]).env("DATABASE_URL", remote));
    assert!(err.contains("--allow-remote") && err.contains("nothing was changed"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // With the flag it goes on (and fails to connect, in bounded time, without the password).
    let err = fails(p.xtask(&["push", "--allow-remote"]).env("DATABASE_URL", remote));
    assert!(!err.contains("--allow-remote") && !err.contains("s3cret"), "{err}");
}

#[test]
fn the_other_dialect_is_refused() {
    let p = project(Dialect::Sqlite).unwrap();
    ok(&mut p.xtask(&["migrate", "-q"]));
    let pg = format!("migrations:{}", test_support::fixture::project_migrations("postgresql").display());
    let err = fails(&mut p.xtask(&["push", "--to", &pg]));
    assert!(err.contains("is a postgresql schema") && err.contains("sqlite database"), "{err}");
}
