//! migrate's pre-flight on both dialects with seeded data: a pending migration the data would
//! make fail (NULLs under a new NOT NULL, duplicates under a new unique index, orphans under a
//! new foreign key) refuses the whole run before anything runs, an earlier pending migration
//! included; the pre-migrate backup taken when a run goes ahead, and restoring it.

mod deploy;

use deploy::{column, table_mut, text, Project};

const AUDIT: &str = "CREATE TABLE \"audit_log\" (\"id\" text PRIMARY KEY NOT NULL);";

/// Runs migrate, which must refuse; its output.
fn refused(p: &Project) -> String {
    let out = p.xtask(&["migrate"]).output().unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "migrate went ahead:\n{t}");
    assert!(t.contains("nothing was applied (a deploy applies every pending migration or none)"), "{t}");
    t
}

/// Nothing of the run happened: both migrations pending, the first one's table absent, the
/// rows as they were, no backup taken.
fn nothing_ran(p: &Project, tags: &[&str], before: &str) {
    for tag in tags {
        assert_eq!(p.state_of(tag), "pending", "{tag}");
    }
    assert!(!p.has_table("audit_log"), "the earlier pending migration ran");
    assert_eq!(p.dump(), before);
    assert!(p.backups().is_empty(), "a refused run takes no backup: {:?}", p.backups());
}

fn nulls_under_not_null(p: Project) {
    let p = p.seeded();
    let before = p.dump();
    let first = p.add_migration("audit", AUDIT);
    let bad = p.add_change("published_at_required", &[], |s| {
        table_mut(s, "posts").columns.iter_mut().find(|c| c.name == "published_at").unwrap().not_null = true;
    });
    let draft = p.text("SELECT id FROM posts WHERE published_at IS NULL").expect("the seed has a draft post");
    let t = refused(&p);
    for needle in [
        bad.as_str(),
        "nulls-under-not-null",
        "1 row(s) of posts have NULL in published_at",
        &draft,
        "UPDATE posts SET published_at",
    ] {
        assert!(t.contains(needle), "{needle}:\n{t}");
    }
    nothing_ran(&p, &[&first, &bad], &before);
    // With the data fixed, the same run goes through.
    p.execute("UPDATE posts SET published_at = 1 WHERE published_at IS NULL");
    p.xtask(&["migrate"]).assert().success();
    assert_eq!(p.state_of(&bad), "applied");
    assert!(p.has_table("audit_log"));
}
both_dialects!(nulls_under_not_null: nulls_under_not_null_sqlite, nulls_under_not_null_postgres);

fn duplicates_under_unique_index(p: Project) {
    let p = p.seeded();
    let before = p.dump();
    let first = p.add_migration("audit", AUDIT);
    let bad =
        p.add_migration("unique_status", "CREATE UNIQUE INDEX \"posts_status_unique\" ON \"posts\" (\"status\");");
    let t = refused(&p);
    for needle in [
        bad.as_str(),
        "duplicates-under-unique",
        "2 row(s) of posts share a value of (status)",
        "posts_status_unique",
        "published x2",
    ] {
        assert!(t.contains(needle), "{needle}:\n{t}");
    }
    nothing_ran(&p, &[&first, &bad], &before);
}
both_dialects!(duplicates_under_unique_index: duplicates_under_unique_index_sqlite, duplicates_under_unique_index_postgres);

fn orphans_under_foreign_key(p: Project) {
    let p = p.seeded();
    let before = p.dump();
    let ty = p.text_type();
    let default = match p.dialect {
        cms_db::Dialect::Sqlite => "'nobody'",
        cms_db::Dialect::Postgres => "'nobody'::text",
    };
    // The column comes from an earlier pending migration: its default is what the rows hold.
    let first =
        p.add_change("author", &[], |s| table_mut(s, "posts").columns.push(column("author_id", ty, Some(default))));
    let bad = p.add_change("author_fk", &[], |s| {
        let named = s.dialect == cms_db::Dialect::Postgres;
        let teams = cms_db::schema::QualifiedName::new(s.dialect.default_schema(), "teams");
        table_mut(s, "posts").foreign_keys.push(cms_db::schema::ForeignKey {
            name: named.then(|| "posts_author_id_teams_id_fk".to_string()),
            columns: vec!["author_id".into()],
            references: teams,
            referenced_columns: vec!["id".into()],
            on_delete: cms_db::schema::Action::NoAction,
            on_update: cms_db::schema::Action::NoAction,
            deferrable: cms_db::schema::Deferrable::NotDeferrable,
        });
    });
    let t = refused(&p);
    for needle in [
        bad.as_str(),
        "orphans-under-foreign-key",
        "3 row(s) of posts have a author_id with no row in teams(id)",
        "-> nobody",
    ] {
        assert!(t.contains(needle), "{needle}:\n{t}");
    }
    for tag in [&first, &bad] {
        assert_eq!(p.state_of(tag), "pending", "{tag}");
    }
    assert!(p.schema().table("posts").unwrap().column("author_id").is_none(), "the earlier pending migration ran");
    assert_eq!(p.dump(), before);
    assert!(p.backups().is_empty());
}
both_dialects!(orphans_under_foreign_key: orphans_under_foreign_key_sqlite, orphans_under_foreign_key_postgres);

fn data_fixed_by_the_run_itself_is_not_refused(p: Project) {
    let p = p.seeded();
    // The classic: fill the NULLs, then require the column. The pre-flight cannot predict a
    // table the run writes itself: a note, and the migration's transaction decides.
    p.add_migration("fill_published_at", "UPDATE \"posts\" SET \"published_at\" = 0 WHERE \"published_at\" IS NULL;");
    let bad = p.add_change("published_at_required", &[], |s| {
        table_mut(s, "posts").columns.iter_mut().find(|c| c.name == "published_at").unwrap().not_null = true;
    });
    let out = p.xtask(&["migrate"]).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("not measured") && t.contains("writes rows of posts itself"), "{t}");
    assert_eq!(p.state_of(&bad), "applied");
}
both_dialects!(data_fixed_by_the_run_itself_is_not_refused: data_fixed_by_the_run_sqlite, data_fixed_by_the_run_postgres);

fn pre_migrate_backup(p: Project) {
    let p = p.seeded();
    assert!(p.backups().is_empty(), "migrating an empty database takes no backup: {:?}", p.backups());
    let before = p.dump();
    let tag =
        p.add_change("subtitle", &[], |s| table_mut(s, "posts").columns.push(column("subtitle", p.text_type(), None)));
    // A dry run and --no-backup take none.
    p.xtask(&["migrate", "--dry-run"]).assert().success();
    assert!(p.backups().is_empty());
    let out = p.xtask(&["migrate"]).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let backups = p.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let archive = &backups[0];
    assert!(archive.ends_with("-pre-migrate.tar.zst"), "{archive}");
    assert!(
        t.contains(archive.as_str())
            && t.contains("cargo xtask rollback --from-backup")
            && t.contains("cargo xtask restore"),
        "{t}"
    );
    assert!(t.contains("pre-flight 1 pending migration(s) checked"), "{t}");
    assert_eq!(p.state_of(&tag), "applied");
    // Nothing pending: no backup.
    p.xtask(&["migrate"]).assert().success();
    assert_eq!(p.backups().len(), 1);
    p.execute("UPDATE posts SET subtitle = 'written after the deploy'");
    p.xtask(&["backup", "verify", archive]).assert().success();
    p.xtask(&["restore", archive, "--yes"]).assert().success();
    assert_eq!(p.state_of(&tag), "pending");
    assert!(p.schema().table("posts").unwrap().column("subtitle").is_none());
    assert_eq!(p.dump(), before);
}
both_dialects!(pre_migrate_backup: pre_migrate_backup_sqlite, pre_migrate_backup_postgres);

#[test]
fn no_backup_and_no_preflight_skip_them() {
    let p = Project::sqlite().seeded();
    p.add_migration("audit", AUDIT);
    let bad =
        p.add_migration("unique_status", "CREATE UNIQUE INDEX \"posts_status_unique\" ON \"posts\" (\"status\");");
    // Without the pre-flight, the migration itself fails (the earlier one is applied by then).
    let out = p.xtask(&["migrate", "--no-preflight", "--no-backup"]).output().unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("pre-flight skipped")
            && t.contains("backup     skipped (--no-backup)")
            && t.contains("UNIQUE constraint failed"),
        "{t}"
    );
    assert_eq!(p.state_of(&bad), "pending");
    assert!(p.has_table("audit_log"));
    assert!(p.backups().is_empty());
}

fn unique_index_over_a_column_the_run_adds(p: Project) {
    let p = p.seeded();
    let default = match p.dialect {
        cms_db::Dialect::Sqlite => "'x'",
        cms_db::Dialect::Postgres => "'x'::text",
    };
    let ty = p.text_type();
    p.add_change("code", &[], |s| {
        let posts = table_mut(s, "posts");
        posts.columns.push(cms_db::schema::Column { not_null: true, ..column("code", ty, Some(default)) });
    });
    // With the key it extends (already unique), the new column's default changes nothing.
    let fine =
        p.add_migration("code_unique", "CREATE UNIQUE INDEX \"posts_id_code_unique\" ON \"posts\" (\"id\", \"code\");");
    let out = p.xtask(&["migrate", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("pre-flight 2 pending migration(s) checked") && !text(&out).contains("measure"),
        "{}",
        text(&out)
    );
    // Alone, every row gets the same default: all of them are duplicates.
    let bad =
        p.add_migration("code_alone_unique", "CREATE UNIQUE INDEX \"posts_code_unique\" ON \"posts\" (\"code\");");
    let t = refused(&p);
    assert!(t.contains(&bad) && t.contains("3 row(s) of posts share a value of (code)") && t.contains("x x3"), "{t}");
    assert_eq!(p.state_of(&fine), "pending");
}
both_dialects!(unique_index_over_a_column_the_run_adds: unique_over_new_column_sqlite, unique_over_new_column_postgres);

fn rows_a_new_check_rejects(p: Project) {
    let p = p.seeded();
    let bad = p.add_change("short_titles", &[], |s| {
        let named = s.dialect == cms_db::Dialect::Postgres;
        table_mut(s, "posts").checks.push(cms_db::schema::Check {
            name: named.then(|| "posts_title_short".to_string()),
            expression: "length(title) < 5".into(),
        });
    });
    let t = refused(&p);
    assert!(
        t.contains(&bad) && t.contains("rows-failing-check") && t.contains("3 row(s) of posts fail the new check"),
        "{t}"
    );
    assert_eq!(p.state_of(&bad), "pending");
}
both_dialects!(rows_a_new_check_rejects: check_sqlite, check_postgres);

#[test]
fn values_a_type_change_cannot_convert_on_postgresql() {
    let Some(p) = Project::postgres() else { return };
    let p = p.seeded();
    p.execute("UPDATE posts SET excerpt = '12' WHERE status = 'draft'");
    let bad = p.add_migration(
        "excerpt_int",
        "ALTER TABLE \"posts\" ALTER COLUMN \"excerpt\" SET DATA TYPE integer USING \"excerpt\"::integer;",
    );
    let t = refused(&p);
    assert!(
        t.contains(&bad)
            && t.contains("unconvertible-values: 2 value(s) of posts.excerpt do not convert from text to integer"),
        "{t}"
    );
    // A USING expression of its own is tried as it is written, in a savepoint.
    std::fs::write(
        p.folder().join(format!("{bad}.sql")),
        "ALTER TABLE \"posts\" ALTER COLUMN \"excerpt\" SET DATA TYPE integer USING (\"excerpt\" || '0')::integer;",
    )
    .unwrap();
    let t = refused(&p);
    assert!(t.contains("with USING") && t.contains("invalid input syntax for type integer"), "{t}");
    // Values that convert go through.
    p.execute("UPDATE posts SET excerpt = '7'");
    p.xtask(&["migrate"]).assert().success();
    assert_eq!(p.state_of(&bad), "applied");
}

#[test]
fn sqlite_type_changes_cannot_fail_and_say_so() {
    let p = Project::sqlite().seeded();
    let tag = p.add_change("excerpt_int", &[], |s| {
        table_mut(s, "posts").columns.iter_mut().find(|c| c.name == "excerpt").unwrap().data_type = "INTEGER".into();
    });
    let out = p.xtask(&["migrate"]).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("SQLite converts by type affinity"), "{t}");
    assert_eq!(p.state_of(&tag), "applied");
}
