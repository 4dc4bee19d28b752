//! `cargo xtask rollback` on both dialects with seeded data: an added table and an added
//! column undone (every other row byte-identical), a `<tag>.down.sql`, the data-loss guard,
//! `--from-backup`, rollback twice then migrate again (the same schema), and the refusals
//! (a target that is not applied, drift, a self-managed migration without a down file).

mod deploy;

use std::fs;

use cms_db::schema::diff::{self, Renames};
use deploy::{column, table_mut, text, Project};

const TAGS: &str = "CREATE TABLE \"tags\" (\"id\" text PRIMARY KEY NOT NULL, \"name\" text NOT NULL);";

fn rollback(p: &Project, args: &[&str]) -> (bool, String) {
    let mut all = vec!["rollback"];
    all.extend_from_slice(args);
    let out = p.xtask(&all).output().unwrap();
    (out.status.success(), text(&out))
}

fn migrate(p: &Project) {
    let out = p.xtask(&["migrate"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

fn same_schema(a: &cms_db::schema::Schema, b: &cms_db::schema::Schema) {
    let changes = diff::diff(a, b, &Renames::none_are_renames()).unwrap();
    assert!(changes.is_empty(), "the schemas differ: {changes:?}");
}

fn added_table(p: Project) {
    let p = p.seeded();
    let (before, schema) = (p.dump(), p.schema());
    let tag = p.add_migration("tags", TAGS);
    migrate(&p);
    assert!(p.has_table("tags"));
    let (ok, t) = rollback(&p, &["--dry-run"]);
    assert!(ok && t.contains("DROP TABLE") && t.contains("dry run"), "{t}");
    assert!(p.has_table("tags"), "a dry run changes nothing");
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(ok, "{t}");
    assert!(
        t.contains(&format!("{tag} with the engine's computed change (verified)")) && t.contains("drop table tags"),
        "{t}"
    );
    assert_eq!(p.state_of(&tag), "pending");
    assert!(!p.has_table("tags"));
    same_schema(&schema, &p.schema());
    assert_eq!(p.dump(), before, "every other row is as it was");
}
both_dialects!(added_table: added_table_sqlite, added_table_postgres);

fn added_column(p: Project) {
    let p = p.seeded();
    let (before, schema) = (p.dump(), p.schema());
    let tag =
        p.add_change("subtitle", &[], |s| table_mut(s, "posts").columns.push(column("subtitle", p.text_type(), None)));
    migrate(&p);
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(ok, "{t}");
    assert!(t.contains("drop column posts.subtitle"), "{t}");
    assert_eq!(p.state_of(&tag), "pending");
    same_schema(&schema, &p.schema());
    assert_eq!(p.dump(), before, "posts and every other table byte-identical");
}
both_dialects!(added_column: added_column_sqlite, added_column_postgres);

fn data_loss_needs_accepting(p: Project) {
    let p = p.seeded();
    let before = p.dump();
    let tag =
        p.add_change("subtitle", &[], |s| table_mut(s, "posts").columns.push(column("subtitle", p.text_type(), None)));
    migrate(&p);
    p.execute("UPDATE posts SET subtitle = 'written since'");
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(!ok, "{t}");
    assert!(
        t.contains("rollback refused: it deletes data")
            && t.contains("drops column posts.subtitle: 3 row(s) hold a value")
            && t.contains("--accept-data-loss"),
        "{t}"
    );
    assert_eq!(p.state_of(&tag), "applied");
    assert_eq!(p.count("SELECT count(*) FROM posts WHERE subtitle IS NOT NULL"), 3);
    let (ok, t) = rollback(&p, &["--yes", "--accept-data-loss"]);
    assert!(ok, "{t}");
    assert_eq!(p.state_of(&tag), "pending");
    assert_eq!(p.dump(), before);
}
both_dialects!(data_loss_needs_accepting: data_loss_sqlite, data_loss_postgres);

fn down_file(p: Project) {
    let p = p.seeded();
    let schema = p.schema();
    let tag = p.add_migration("posts_title_idx", "CREATE INDEX \"posts_title_idx\" ON \"posts\" (\"title\");");
    let down = p.folder().join(format!("{tag}.down.sql"));
    fs::write(&down, "DROP INDEX \"posts_title_idx\";\n").unwrap();
    // It belongs to its migration: not a stray file.
    let out = p.xtask(&["migrate"]).output().unwrap();
    assert!(out.status.success() && !text(&out).contains("not listed in meta/_journal.json"), "{}", text(&out));
    let status = p.xtask(&["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["journal_problems"], serde_json::json!([]));
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(ok, "{t}");
    assert!(t.contains(&format!("{tag} with {}", p.dialect.default_folder())) && t.contains(".down.sql"), "{t}");
    assert_eq!(p.state_of(&tag), "pending");
    same_schema(&schema, &p.schema());
    // A down file that does not give back the schema before its migration is refused.
    migrate(&p);
    fs::write(&down, "SELECT 1;\n").unwrap();
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(!ok && t.contains("does not give back the schema before") && t.contains("posts_title_idx"), "{t}");
    assert_eq!(p.state_of(&tag), "applied");
}
both_dialects!(down_file: down_file_sqlite, down_file_postgres);

fn from_backup(p: Project) {
    let p = p.seeded();
    let before = p.dump();
    let tag = p.add_migration("tags", TAGS);
    migrate(&p);
    p.execute("UPDATE posts SET title = 'changed after the deploy'");
    let (ok, t) = rollback(&p, &["--from-backup", "--dry-run"]);
    assert!(ok && t.contains("-pre-migrate.tar.zst") && t.contains("dry run"), "{t}");
    let (ok, t) = rollback(&p, &["--from-backup", "--yes"]);
    assert!(ok, "{t}");
    assert_eq!(p.state_of(&tag), "pending");
    assert!(!p.has_table("tags"));
    assert_eq!(p.dump(), before, "the database as the backup has it");
    // The restore kept what it replaced.
    assert!(p.backups().iter().any(|b| b.ends_with("-pre-restore.tar.zst")), "{:?}", p.backups());
    // No pre-migrate backup before a migration applied without one: refused.
    let other = p.add_migration("more", "CREATE TABLE \"more\" (\"id\" text PRIMARY KEY NOT NULL);");
    p.xtask(&["migrate", "--no-backup"]).assert().success();
    let (ok, t) = rollback(&p, &["--from-backup", "--yes"]);
    assert!(!ok && t.contains("no pre-migrate backup") && t.contains(&other), "{t}");
    assert_eq!(p.state_of(&other), "applied");
}
both_dialects!(from_backup: from_backup_sqlite, from_backup_postgres);

fn twice_then_migrate_again(p: Project) {
    let p = p.seeded();
    let t1 = p.add_migration("tags", TAGS);
    let t2 = p.add_change("subtitle", &[], |s| {
        let posts = table_mut(s, "posts");
        posts.columns.push(column("subtitle", p.text_type(), None));
        posts.indexes.insert(
            "posts_subtitle_idx".into(),
            cms_db::schema::Index {
                name: "posts_subtitle_idx".into(),
                unique: false,
                keys: vec![cms_db::schema::IndexKey {
                    target: cms_db::schema::IndexTarget::Column("subtitle".into()),
                    descending: false,
                    collation: None,
                    nulls_not_default: false,
                    opclass: None,
                }],
                predicate: None,
                method: None,
                include: vec![],
            },
        );
    });
    migrate(&p);
    let (schema, rows) = (p.schema(), p.dump());
    for _ in 0..2 {
        let (ok, t) = rollback(&p, &["--yes"]);
        assert!(ok, "{t}");
    }
    assert_eq!((p.state_of(&t1), p.state_of(&t2)), ("pending".to_string(), "pending".to_string()));
    migrate(&p);
    same_schema(&schema, &p.schema());
    assert_eq!(p.dump(), rows);
    // --to: everything after the tag, in one run.
    let last_kept = p.states()[5].0.clone();
    let (ok, t) = rollback(&p, &["--to", &last_kept, "--yes"]);
    assert!(ok && t.contains("2 migration(s), newest first"), "{t}");
    assert_eq!((p.state_of(&t1), p.state_of(&t2)), ("pending".to_string(), "pending".to_string()));
}
both_dialects!(twice_then_migrate_again: twice_sqlite, twice_postgres);

fn refusals(p: Project) {
    let p = p.seeded();
    let tag = p.add_migration("tags", TAGS);
    migrate(&p);
    let (ok, t) = rollback(&p, &["--to", "0099_nope", "--yes"]);
    assert!(!ok && t.contains("--to 0099_nope: it is not an applied migration"), "{t}");
    let (ok, t) = rollback(&p, &["--steps", "99", "--yes"]);
    assert!(!ok && t.contains("only 7 migration(s) are applied"), "{t}");
    // Drift: a column nobody's migration made.
    p.execute("ALTER TABLE posts ADD COLUMN sneaky text");
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(!ok && t.contains("the database has drift") && t.contains("sneaky"), "{t}");
    assert_eq!(p.state_of(&tag), "applied");
    assert!(p.has_table("tags"));
    p.execute("ALTER TABLE posts DROP COLUMN sneaky");
    // A migration that runs outside our transaction cannot be undone without its down file.
    let managed = match p.dialect {
        cms_db::Dialect::Postgres => "CREATE INDEX CONCURRENTLY \"posts_slug_idx\" ON \"posts\" (\"slug\");",
        cms_db::Dialect::Sqlite => "COMMIT;\nCREATE INDEX \"posts_slug_idx\" ON \"posts\" (\"slug\");\nBEGIN;",
    };
    let managed = p.add_migration("managed", managed);
    p.xtask(&["migrate", "--no-backup"]).assert().success();
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(!ok && t.contains("runs without our transaction") && t.contains(&format!("{managed}.down.sql")), "{t}");
    assert_eq!(p.state_of(&managed), "applied");
    // Without a terminal, --yes is required.
    fs::write(p.folder().join(format!("{managed}.down.sql")), "DROP INDEX \"posts_slug_idx\";").unwrap();
    let (ok, t) = rollback(&p, &[]);
    assert!(!ok && t.contains("refusing without --yes"), "{t}");
    assert_eq!(p.state_of(&managed), "applied");
    let (ok, t) = rollback(&p, &["--yes"]);
    assert!(ok, "{t}");
    assert_eq!(p.state_of(&managed), "pending");
}
both_dialects!(refusals: refusals_sqlite, refusals_postgres);
