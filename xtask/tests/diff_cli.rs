//! `cargo xtask diff` through the real binary: the SQL between two schemas, printed only when
//! verified; exit codes; renames with and without a terminal; bad input.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use test_support::fixture;

fn xtask(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("xtask").unwrap();
    cmd.env("CMS_PROJECT_ROOT", root).env_remove("DATABASE_URL").current_dir("/").args(args);
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

fn failure(cmd: &mut Command) -> (i32, String) {
    let out = cmd.assert().failure().get_output().clone();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stderr).unwrap())
}

fn migrations(dialect: &str) -> String {
    format!("migrations:{}", fixture::project_migrations(dialect).display())
}

#[test]
fn the_sql_from_empty_to_our_history_builds_the_same_schema() {
    let root = tempfile::tempdir().unwrap();
    let sql = stdout_of(&mut xtask(root.path(), &["diff", "--from", "empty", "--to", &migrations("sqlite")]));
    assert!(sql.contains("CREATE TABLE `pages`") && sql.contains("--> statement-breakpoint"), "{sql}");
    // Runnable as it is by sqlite3.
    let db = root.path().join("built.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(sql.replace("--> statement-breakpoint", "").as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(status.success());
    let built = format!("file:{}", db.display());
    xtask(root.path(), &["diff", "--from", &migrations("sqlite"), "--to", &built, "--exit-code"]).assert().code(0);
    // And the other way round, our migrator on a fresh database: no difference either.
    xtask(root.path(), &["migrate", "--migrations", &fixture::project_migrations("sqlite").display().to_string()])
        .assert()
        .success();
    let migrated = format!("file:{}", root.path().join("data/sqlite.db").display());
    xtask(root.path(), &["diff", "--from", &migrations("sqlite"), "--to", &migrated, "--exit-code"]).assert().code(0);
}

#[test]
fn a_database_migrated_by_drizzle_orm_has_no_difference() {
    let Some(dz) = test_support::drizzle::harness() else { return };
    let root = tempfile::tempdir().unwrap();
    let db = root.path().join("drizzle.db");
    dz.migrate_sqlite(&fixture::project_migrations("sqlite"), &db).unwrap();
    let live = format!("file:{}", db.display());
    let out = xtask(root.path(), &["diff", "--from", &migrations("sqlite"), "--to", &live, "--exit-code"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

fn sql_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    format!("sql:{}", path.display())
}

#[test]
fn exit_codes_json_and_destructive_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let a = sql_file(dir.path(), "a.sql", "CREATE TABLE t (id integer PRIMARY KEY, name text, gone text);");
    let b = sql_file(
        dir.path(),
        "b.sql",
        "CREATE TABLE t (id integer PRIMARY KEY, name text NOT NULL DEFAULT '');\nCREATE INDEX t_name ON t (name);",
    );
    xtask(dir.path(), &["diff", "--from", &a, "--to", &a, "--exit-code"]).assert().code(0);
    let out =
        xtask(dir.path(), &["diff", "--from", &a, "--to", &b, "--exit-code"]).assert().code(2).get_output().clone();
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(sql.contains("-- warning:") && sql.contains("gone"), "{sql}");
    assert!(sql.contains("CREATE INDEX `t_name`"), "{sql}");
    let json = stdout_of(&mut xtask(dir.path(), &["diff", "--from", &a, "--to", &b, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["dialect"], "sqlite");
    let changes = v["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["description"].as_str().unwrap().contains("gone")), "{json}");
    assert!(!v["sql"].as_array().unwrap().is_empty());
}

#[test]
fn a_drop_and_an_add_is_never_silent() {
    let dir = tempfile::tempdir().unwrap();
    let a = sql_file(dir.path(), "a.sql", "CREATE TABLE t (id integer PRIMARY KEY, title text);");
    let b = sql_file(dir.path(), "b.sql", "CREATE TABLE t (id integer PRIMARY KEY, headline text);");
    // No terminal (assert_cmd gives none): an error listing the choice, nothing printed.
    let (code, err) = failure(&mut xtask(dir.path(), &["diff", "--from", &a, "--to", &b]));
    assert_eq!(code, 1);
    assert!(err.contains("t.title") && err.contains("--rename t.title=headline"), "{err}");
    assert!(err.contains("no terminal"), "{err}");
    let sql = stdout_of(&mut xtask(dir.path(), &["diff", "--from", &a, "--to", &b, "--rename", "t.title=headline"]));
    assert!(sql.contains("RENAME COLUMN `title` TO `headline`"), "{sql}");
    let (_, err) = failure(&mut xtask(dir.path(), &["diff", "--from", &a, "--to", &b, "--rename", "title"]));
    assert!(err.contains("--rename") && err.contains("old=new"), "{err}");
}

#[test]
fn bad_sources_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = sql_file(dir.path(), "good.sql", "CREATE TABLE t (id integer);");
    let broken =
        sql_file(dir.path(), "broken.sql", "CREATE TABLE t (id integer);\n\nCREATE TABLE u (id integer REFERENCES);\n");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (vec!["--from".into(), "file:/nonexistent/x.db".into(), "--to".into(), good.clone()], vec!["does not exist"]),
        (vec!["--from".into(), broken.clone(), "--to".into(), good.clone()], vec!["broken.sql:3"]),
        (vec!["--from".into(), "nonsense:thing".into(), "--to".into(), "empty".into()], vec!["unknown schema source"]),
        (vec!["--from".into(), migrations("sqlite"), "--to".into(), migrations("postgresql")], vec!["one dialect"]),
        (
            vec!["--from".into(), "postgres://u:s3cr%40t@127.0.0.1:1/db".into(), "--to".into(), "empty".into()],
            vec!["127.0.0.1"],
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["diff"];
        full.extend(args.iter().map(String::as_str));
        let (code, err) = failure(&mut xtask(dir.path(), &full));
        assert_eq!(code, 1, "{args:?}: {err}");
        for e in expected {
            assert!(err.contains(e), "{args:?}: expected {e:?} in {err}");
        }
        assert!(!err.contains("s3cr"), "{err}");
    }
    // A folder whose replay fails names the migration and the statement.
    let folder = dir.path().join("m");
    fixture::write_folder(
        &folder,
        "sqlite",
        "7",
        &[("0000_ok", 1, "CREATE TABLE a (x);"), ("0001_bad", 2, "CREATE TABLE a (y);")],
    );
    let (_, err) = failure(&mut xtask(
        dir.path(),
        &["diff", "--from", "empty", "--to", &format!("migrations:{}", folder.display())],
    ));
    assert!(err.contains("0001_bad") && err.contains("statement 1") && err.contains("already exists"), "{err}");
}

#[test]
fn postgres_history_from_empty_and_a_migrated_database() {
    let Some(db) = test_support::pg::database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sql = stdout_of(&mut xtask(
        dir.path(),
        &["diff", "--from", "empty", "--to", &migrations("postgresql"), "--dev-url", db.url()],
    ));
    assert!(sql.contains("CREATE TABLE \"pages\""), "{sql}");
    xtask(dir.path(), &["migrate", "--database-url", db.url()])
        .env("CMS_PROJECT_ROOT", test_support::project_root())
        .assert()
        .success();
    let out = xtask(dir.path(), &["diff", "--from", &migrations("postgresql"), "--to", db.url(), "--exit-code"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    // The message names the database, never its password.
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no difference") && err.contains(":***@"), "{err}");
    let (userinfo, _) = db.url().split_once("://").unwrap().1.rsplit_once('@').unwrap();
    let password = userinfo.split_once(':').unwrap().1;
    assert!(!err.contains(password), "{err}");
}
