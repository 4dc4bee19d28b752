//! `cargo xtask lint` on both dialects with seeded data: warnings for a dropped column that
//! holds data and a renamed column, `--deny-warnings`, `-- lint: allow <rule>`, errors for
//! predicted failures, `--json`, `--all` without a database, and (PostgreSQL) an index built
//! without CONCURRENTLY on a large table.

mod deploy;

use std::fs;

use deploy::{table_mut, text, Project};

fn lint(p: &Project, args: &[&str]) -> (bool, String) {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    let out = p.xtask(&all).output().unwrap();
    (out.status.success(), text(&out))
}

fn lint_json(p: &Project, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["lint", "--json"];
    all.extend_from_slice(args);
    let out = p.xtask(&all).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

/// Every finding of the JSON report as (migration, rule, severity, allowed).
fn findings(v: &serde_json::Value) -> Vec<(String, String, String, bool)> {
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["findings"].as_array().unwrap().iter())
        .map(|f| {
            (
                f["migration"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["allowed"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Prepends `line` to a pending migration's file.
fn prepend(p: &Project, tag: &str, line: &str) {
    let path = p.folder().join(format!("{tag}.sql"));
    let sql = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("{line}\n{sql}")).unwrap();
}

fn warnings_for_a_dropped_column_with_rows_and_a_rename(p: Project) {
    let p = p.seeded();
    let with_excerpt = p.count("SELECT count(*) FROM posts WHERE excerpt IS NOT NULL");
    assert!(with_excerpt > 0, "the seed writes excerpts");
    let drop = p.add_change("drop_excerpt", &[], |s| table_mut(s, "posts").columns.retain(|c| c.name != "excerpt"));
    let rename = p.add_change("rename_title", &["posts.title=headline"], |s| {
        table_mut(s, "posts").columns.iter_mut().find(|c| c.name == "title").unwrap().name = "headline".into();
    });
    let (ok, t) = lint(&p, &[]);
    assert!(ok, "warnings alone do not fail lint:\n{t}");
    for needle in [
        "data-loss",
        &format!("drops column posts.excerpt: {with_excerpt} row(s) hold a value"),
        "rename",
        "renames column posts.title to headline",
        "expand/contract",
        "0 error(s), 2 warning(s)",
    ] {
        assert!(t.contains(needle), "{needle}:\n{t}");
    }
    let (ok, t) = lint(&p, &["--deny-warnings"]);
    assert!(!ok, "--deny-warnings fails on warnings:\n{t}");
    let v = lint_json(&p, &[]);
    assert_eq!((v["errors"].as_u64(), v["warnings"].as_u64(), v["ok"].as_bool()), (Some(0), Some(2), Some(true)));
    let f = findings(&v);
    assert!(f.contains(&(drop.clone(), "data-loss".into(), "warning".into(), false)), "{f:?}");
    assert!(f.contains(&(rename.clone(), "rename".into(), "warning".into(), false)), "{f:?}");
    let loss = v["migrations"][0]["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "data-loss").unwrap();
    assert_eq!(
        (loss["table"].as_str(), loss["column"].as_str(), loss["count"].as_i64()),
        (Some("posts"), Some("excerpt"), Some(with_excerpt))
    );

    // Each file acknowledges its own rule: the same line in the other file does nothing.
    prepend(&p, &rename, "-- lint: allow data-loss");
    let (ok, _) = lint(&p, &["--deny-warnings"]);
    assert!(!ok);
    prepend(&p, &drop, "-- lint: allow data-loss");
    prepend(&p, &rename, "-- lint: allow rename");
    let (ok, t) = lint(&p, &["--deny-warnings"]);
    assert!(ok, "{t}");
    assert!(t.contains("0 error(s), 0 warning(s), 2 allowed by -- lint: allow"), "{t}");
    let f = findings(&lint_json(&p, &["--deny-warnings"]));
    assert!(f.contains(&(drop.clone(), "data-loss".into(), "warning".into(), true)), "{f:?}");
    // A misspelt rule is a warning of its own.
    prepend(&p, &drop, "-- lint: allow data-los");
    let (ok, t) = lint(&p, &["--deny-warnings"]);
    assert!(!ok && t.contains("unknown-lint-rule") && t.contains("`-- lint: allow data-los` names no rule"), "{t}");
    // Linting changed nothing.
    assert_eq!(p.state_of(&drop), "pending");
    assert_eq!(p.count("SELECT count(*) FROM posts WHERE excerpt IS NOT NULL"), with_excerpt);
}
both_dialects!(warnings_for_a_dropped_column_with_rows_and_a_rename: warnings_sqlite, warnings_postgres);

fn predicted_failures_are_errors(p: Project) {
    let p = p.seeded();
    let tag = p.add_migration("unique_status", "-- lint: allow duplicates-under-unique\nCREATE UNIQUE INDEX \"posts_status_unique\" ON \"posts\" (\"status\");");
    let (ok, t) = lint(&p, &[]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("error duplicates-under-unique: 2 row(s) of posts share a value of (status)")
            && t.contains("1 error(s)"),
        "{t}"
    );
    let v = lint_json(&p, &[]);
    assert_eq!((v["errors"].as_u64(), v["ok"].as_bool()), (Some(1), Some(false)));
    // Errors cannot be allowed: the migration would fail.
    assert!(findings(&v).contains(&(tag, "duplicates-under-unique".into(), "error".into(), false)));
}
both_dialects!(predicted_failures_are_errors: errors_sqlite, errors_postgres);

#[test]
fn all_lints_every_migration_without_a_database() {
    let p = Project::sqlite();
    p.add_change("drop_excerpt", &[], |s| table_mut(s, "posts").columns.retain(|c| c.name != "excerpt"));
    let (ok, t) = lint(&p, &["--all"]);
    assert!(ok, "{t}");
    assert!(t.contains("all 7 migration(s), schema only") && t.contains("0000_initial"), "{t}");
    assert!(t.contains("drops column posts.excerpt and its data"), "{t}");
    assert!(t.contains("data is not measured with --all"), "{t}");
    assert!(!p.root().join("data/sqlite.db").exists(), "lint --all created the database");
    let (ok, _) = lint(&p, &["--all", "--deny-warnings"]);
    assert!(!ok);
}

#[test]
fn an_index_without_concurrently_on_a_large_table_is_a_warning_on_postgresql() {
    let Some(p) = Project::postgres() else { return };
    p.xtask(&["migrate", "-q"]).assert().success();
    p.add_migration("big", "CREATE TABLE \"big\" (\"id\" integer PRIMARY KEY NOT NULL, \"v\" text);");
    p.xtask(&["migrate", "-q"]).assert().success();
    p.execute("INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 20000) g; ANALYZE big;");
    let tag = p.add_migration(
        "big_v_idx",
        "CREATE INDEX \"big_v_idx\" ON \"big\" (\"v\");--> statement-breakpoint\nCREATE INDEX \"teams_created_at_idx\" ON \"teams\" (\"created_at\");",
    );
    let (ok, t) = lint(&p, &[]);
    assert!(ok, "{t}");
    assert!(
        t.contains("warning index-not-concurrent: builds index big_v_idx on big without CONCURRENTLY")
            && t.contains("(about 20000 rows)"),
        "{t}"
    );
    assert!(!t.contains("teams_created_at_idx on teams without"), "a small table is no hazard:\n{t}");
    let (ok, _) = lint(&p, &["--deny-warnings"]);
    assert!(!ok);
    // CONCURRENTLY (a migration of its own) is the fix.
    fs::write(p.folder().join(format!("{tag}.sql")), "CREATE INDEX CONCURRENTLY \"big_v_idx\" ON \"big\" (\"v\");")
        .unwrap();
    let (ok, t) = lint(&p, &["--deny-warnings"]);
    assert!(ok && !t.contains("index-not-concurrent"), "{t}");
    p.xtask(&["migrate", "--no-backup"]).assert().success();
    assert_eq!(p.state_of(&tag), "applied");
}

#[test]
fn sqlite_has_no_concurrent_index_hazard() {
    let p = Project::sqlite();
    p.xtask(&["migrate", "-q"]).assert().success();
    p.add_migration("big", "CREATE TABLE \"big\" (\"id\" integer PRIMARY KEY NOT NULL, \"v\" text);");
    p.xtask(&["migrate", "-q"]).assert().success();
    p.execute("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000) INSERT INTO big SELECT n, 'v' || n FROM g;");
    p.add_migration("big_v_idx", "CREATE INDEX \"big_v_idx\" ON \"big\" (\"v\");");
    let (ok, t) = lint(&p, &["--deny-warnings"]);
    assert!(ok && !t.contains("index-not-concurrent"), "{t}");
}
