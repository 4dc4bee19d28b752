//! `cargo xtask generate` through the real binary, on copies of the project's folders, on both
//! dialects: every kind of change made to (a copy of) the code schema becomes one verified
//! migration that migrates a seeded database keeping its rows, after which `check` passes;
//! drizzle-orm's real migrator builds the same schema from the generated folder; renames with
//! flags, on a terminal and without one; custom migrations; bad input writes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use cms_db::cms_schema;
use cms_db::connection::{self, Sql};
use cms_db::schema::declare::*;
use cms_db::schema::{Action, Dialect};
use cms_db::DatabaseUrl;
use test_support::project::Project;

/// A temporary project root with copies of both migrations folders, on SQLite (its default
/// database) or on a PostgreSQL test database; xtask without the network and without
/// `DEV_DATABASE_URL`, run from `/`, no terminal.
fn project(dialect: Dialect) -> Option<Project> {
    Project::copied().env("CMS_IMAGES_OFFLINE", "1").env_remove("DEV_DATABASE_URL").on(&dialect.to_string())
}

fn folder(p: &Project, d: Dialect) -> PathBuf {
    p.root().join(d.default_folder())
}

/// `sql:FILE` holding the DDL of `schema` in `dialect`.
fn write_desired(p: &Project, dialect: Dialect, schema: &SchemaDef, name: &str) -> String {
    let path = p.root().join(format!("{name}.sql"));
    fs::write(&path, schema.ddl(dialect)).unwrap();
    format!("sql:{}", path.display())
}

/// The folder's files (the `.sql` files and the journal's bytes).
fn snapshot(p: &Project, d: Dialect) -> (Vec<String>, Vec<u8>) {
    (sql_files(&folder(p, d)), fs::read(folder(p, d).join("meta/_journal.json")).unwrap())
}

fn connection(p: &Project) -> connection::Connection {
    cms_db::connect(&DatabaseUrl::parse(&p.url()).unwrap()).unwrap()
}

/// Rows per table.
fn row_counts(p: &Project, dialect: Dialect) -> BTreeMap<String, i64> {
    let mut conn = connection(p);
    let list = match dialect {
        Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__drizzle_migrations'",
        Dialect::Postgres => "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    };
    let names: Vec<String> =
        conn.query(list, &[]).unwrap().into_iter().map(|r| r[0].text().unwrap().to_string()).collect();
    names
        .into_iter()
        .map(|t| {
            let n = conn.query(&format!("SELECT count(*) FROM \"{t}\""), &[]).unwrap()[0][0].int().unwrap();
            (t, n)
        })
        .collect()
}

fn sql_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    v.sort();
    v
}

fn ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.assert().success().get_output().clone();
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn fails(cmd: &mut Command) -> String {
    let out = cmd.assert().code(1).get_output().clone();
    String::from_utf8(out.stderr).unwrap()
}

/// One change to the code schema, applied on top of the ones before it.
struct Step {
    name: &'static str,
    renames: &'static [&'static str],
    change: fn(&mut SchemaDef),
    /// A table renamed by the step (its rows move with it).
    renamed_table: Option<(&'static str, &'static str)>,
    /// Tables the step drops (their rows go with them).
    dropped_tables: &'static [&'static str],
    /// Portable SQL run after the migration (rows for a new table).
    then: &'static str,
}

fn t<'a>(s: &'a mut SchemaDef, name: &str) -> &'a mut TableDef {
    s.table_mut(name).unwrap()
}

fn steps() -> Vec<Step> {
    let step = |name, change: fn(&mut SchemaDef)| Step {
        name,
        renames: &[],
        change,
        renamed_table: None,
        dropped_tables: &[],
        then: "",
    };
    vec![
        step("add_nullable_column", |s| t(s, "posts").columns.push(text("subtitle"))),
        step("add_not_null_column_with_default", |s| {
            t(s, "pages").columns.push(integer("views").not_null().default(0))
        }),
        Step {
            then: "INSERT INTO tags (id, site_id, name, created_at) SELECT 'tag-1', id, 'news', 1 FROM sites;
                   INSERT INTO tags (id, site_id, name, created_at) SELECT 'tag-2', id, 'howto', 2 FROM sites",
            ..step("create_table", |s| {
                s.tables.push(
                    table(
                        "tags",
                        [
                            text("id").primary_key(),
                            text("site_id").not_null().references(fk("sites", "id").on_delete(Action::Cascade)),
                            text("name").not_null(),
                            timestamp("created_at").not_null(),
                        ],
                    )
                    .unique(["site_id", "name"])
                    .index(["name"]),
                )
            })
        },
        step("create_index", |s| {
            let p = t(s, "posts");
            *p = p.clone().index(["title"]);
        }),
        step("add_unique", |s| {
            let p = t(s, "pages");
            *p = p.clone().unique(["site_id", "slug"]);
        }),
        step("add_check", |s| {
            let p = t(s, "pages");
            *p = p.clone().check("pages_slug_check", "\"slug\" <> ''");
        }),
        step("change_default", |s| t(s, "posts").column_mut("status").unwrap().default = Some("published".into())),
        step("drop_not_null", |s| t(s, "posts").column_mut("body").unwrap().not_null = false),
        step("set_not_null", |s| t(s, "posts").column_mut("excerpt").unwrap().not_null = true),
        step("change_type", |s| t(s, "posts").column_mut("published_at").unwrap().ty = Type::Text),
        step("change_foreign_key_action", |s| {
            let c = t(s, "page_sections").column_mut("section_def_id").unwrap();
            c.references.as_mut().unwrap().on_delete = Action::Cascade;
        }),
        step("add_column_with_foreign_key", |s| {
            t(s, "posts").columns.push(text("tag_id").references(fk("tags", "id").on_delete(Action::SetNull)))
        }),
        step("drop_foreign_key", |s| t(s, "posts").column_mut("featured_image_id").unwrap().references = None),
        step("drop_index", |s| t(s, "pages").indexes.retain(|i| i.name != "pages_site_id_idx")),
        step("drop_check", |s| t(s, "locales").checks.clear()),
        step("change_primary_key", |s| {
            let p = t(s, "site_settings");
            p.column_mut("id").unwrap().primary_key = false;
            p.primary_key = vec!["id".into(), "key".into()];
        }),
        Step {
            renames: &["posts.subtitle=subheading"],
            ..step("rename_column", |s| t(s, "posts").column_mut("subtitle").unwrap().name = "subheading".into())
        },
        Step {
            renames: &["tags=labels"],
            renamed_table: Some(("tags", "labels")),
            ..step("rename_table", |s| {
                let tags = t(s, "tags");
                tags.name = "labels".into();
                tags.uniques = vec![vec!["site_id".into(), "name".into()]];
                tags.indexes =
                    vec![IndexDef { name: "labels_name_idx".into(), columns: vec!["name".into()], unique: false }];
                t(s, "posts").column_mut("tag_id").unwrap().references.as_mut().unwrap().table = "labels".into();
            })
        },
        step("drop_column", |s| t(s, "pages").columns.retain(|c| c.name != "views")),
        Step {
            dropped_tables: &["labels"],
            ..step("drop_table", |s| {
                s.tables.retain(|t| t.name != "labels");
                t(s, "posts").columns.retain(|c| c.name != "tag_id");
            })
        },
    ]
}

/// Every step: one migration (written once: a second run finds nothing), applied to the
/// seeded database with its rows kept, `check` clean against the changed schema; at the end
/// drizzle-orm's migrator builds the same schema from the folder.
fn catalogue(dialect: Dialect) {
    let Some(p) = project(dialect) else { return };
    ok(&mut p.xtask(&["migrate", "-q"]));
    ok(&mut p.xtask(&["seed"]));
    let mut schema = cms_schema::declaration();
    let mut counts = row_counts(&p, dialect);
    assert!(counts["posts"] > 0 && counts["page_section_contents"] > 0, "{counts:?}");
    let d = dialect.to_string();
    for (i, s) in steps().into_iter().enumerate() {
        (s.change)(&mut schema);
        let desired = write_desired(&p, dialect, &schema, s.name);
        let before = sql_files(&folder(&p, dialect));
        let mut args = vec!["generate", "--dialect", &d, "--to", &desired, "--name", s.name];
        for r in s.renames {
            args.extend(["--rename", r]);
        }
        let (out, _) = ok(&mut p.xtask(&args));
        let after = sql_files(&folder(&p, dialect));
        assert_eq!(after.len(), before.len() + 1, "{}: {out}", s.name);
        let new = after.iter().find(|f| !before.contains(f)).unwrap();
        assert!(new.ends_with(&format!("_{}.sql", s.name)), "{new}");
        assert!(out.contains(&format!("wrote {}/{new}", dialect.default_folder())), "{out}");
        // Generating again writes nothing (every step on SQLite; on PostgreSQL, where each run
        // makes scratch databases, every fourth step and the renames).
        if dialect == Dialect::Sqlite || i % 4 == 0 || !s.renames.is_empty() {
            let (again, _) = ok(&mut p.xtask(&args));
            assert!(again.contains("no schema changes"), "{}: {again}", s.name);
            assert_eq!(sql_files(&folder(&p, dialect)), after, "{}: a second run writes nothing", s.name);
        }
        assert_eq!(sql_files(&folder(&p, other(dialect))).len(), 6, "the other dialect's folder is left alone");

        ok(&mut p.xtask(&["migrate", "-q"]));
        if !s.then.is_empty() {
            connection(&p).batch(s.then).unwrap();
        }
        let now = row_counts(&p, dialect);
        for (table, n) in &counts {
            if s.dropped_tables.contains(&table.as_str()) {
                assert!(!now.contains_key(table), "{}: {table} dropped", s.name);
                continue;
            }
            let name = match s.renamed_table {
                Some((from, to)) if from == table => to,
                _ => table.as_str(),
            };
            assert_eq!(now.get(name), Some(n), "{}: the rows of {table} are kept ({now:?})", s.name);
        }
        counts = now;
        let (out, _) = ok(&mut p.xtask(&["check", "--no-pending", "--schema", &desired]));
        assert!(out.starts_with("ok:"), "{}: {out}", s.name);
    }
    assert_eq!(counts.get("tags"), None);

    // drizzle-orm's own migrator, on a fresh database, builds what ours builds.
    let Some(dz) = test_support::drizzle::harness() else { return };
    let folder = folder(&p, dialect);
    let fresh = match dialect {
        Dialect::Sqlite => {
            let db = p.root().join("drizzle.db");
            dz.migrate_sqlite(&folder, &db).unwrap();
            (format!("file:{}", db.display()), None)
        }
        Dialect::Postgres => {
            let db = test_support::pg::database().unwrap();
            dz.migrate_pg(&folder, db.url()).unwrap();
            (db.url().to_string(), Some(db))
        }
    };
    let from = format!("migrations:{}", folder.display());
    ok(p.xtask(&["diff", "--from", &from, "--to", &fresh.0, "--exit-code"]).env("DATABASE_URL", &fresh.0));
}

fn other(d: Dialect) -> Dialect {
    match d {
        Dialect::Sqlite => Dialect::Postgres,
        Dialect::Postgres => Dialect::Sqlite,
    }
}

#[test]
fn every_kind_of_change_sqlite() {
    catalogue(Dialect::Sqlite);
}

#[test]
fn every_kind_of_change_postgres() {
    catalogue(Dialect::Postgres);
}

#[test]
fn the_code_schema_needs_no_migration_and_both_folders_are_written_together() {
    let Some(p) = project(Dialect::Postgres) else { return };
    let (out, _) = ok(&mut p.xtask(&["generate"]));
    assert!(out.contains("no schema changes") && out.contains("migrations/postgresql"), "{out}");
    assert!(out.contains("migrations/sqlite"), "{out}");
    // One change, both folders, one name; then nothing.
    let mut schema = cms_schema::declaration();
    t(&mut schema, "posts").columns.push(text("subtitle"));
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let file = p.root().join(format!("{d}.sql"));
        fs::write(&file, schema.ddl(d)).unwrap();
        let (out, _) =
            ok(&mut p.xtask(&["generate", "--dialect", &d.to_string(), "--to", &format!("sql:{}", file.display())]));
        assert!(out.contains("0006_add_posts_subtitle.sql"), "{out}");
        assert!(fs::read_to_string(folder(&p, d).join("0006_add_posts_subtitle.sql")).unwrap().contains("subtitle"));
    }
    let journal: serde_json::Value =
        serde_json::from_slice(&fs::read(folder(&p, Dialect::Postgres).join("meta/_journal.json")).unwrap()).unwrap();
    let last = journal["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["idx"], 6);
    assert_eq!(last["version"], "7");
    assert!(last["when"].as_i64().unwrap() > 1_750_669_200_000);
    let sqlite: serde_json::Value =
        serde_json::from_slice(&fs::read(folder(&p, Dialect::Sqlite).join("meta/_journal.json")).unwrap()).unwrap();
    assert_eq!(sqlite["entries"].as_array().unwrap().last().unwrap()["version"], "6");
    // The code schema is what the folders had: `generate` wants to undo the column in both.
    let (out, _) = ok(&mut p.xtask(&["generate", "--dry-run"]));
    assert!(out.contains("0007_drop_posts_subtitle.sql") && out.contains("DROP COLUMN"), "{out}");
    assert!(out.contains("-- warning:"), "{out}");
    assert_eq!(sql_files(&folder(&p, Dialect::Sqlite)).len(), 7, "a dry run writes nothing");
    let (_, err) = ok(&mut p.xtask(&["generate", "--name", "undo_subtitle"]));
    assert!(err.contains("warning:") && err.contains("drop column posts.subtitle"), "{err}");
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let text = fs::read_to_string(folder(&p, d).join("0007_undo_subtitle.sql")).unwrap();
        assert!(text.contains("-- warning:") && text.contains("subtitle"), "{text}");
    }
}

#[test]
fn without_a_postgres_server_nothing_is_written() {
    let p = project(Dialect::Sqlite).unwrap();
    let before = (snapshot(&p, Dialect::Sqlite), snapshot(&p, Dialect::Postgres));
    let err = fails(&mut p.xtask(&["generate", "--custom", "--dialect", "all", "--to", "empty"]));
    assert!(err.contains("--custom writes an empty migration"), "{err}");
    let mut cmd = p.xtask(&["generate", "--dialect", "all"]);
    let err = fails(&mut cmd);
    assert!(err.contains("--dev-url") && err.contains("nothing was written"), "{err}");
    assert_eq!((snapshot(&p, Dialect::Sqlite), snapshot(&p, Dialect::Postgres)), before);
}

#[test]
fn custom_migrations_are_empty_files_with_their_entries() {
    let p = project(Dialect::Sqlite).unwrap();
    let (out, _) = ok(&mut p.xtask(&["generate", "--custom", "--name", "backfill_slugs"]));
    assert!(out.contains("write the SQL into the new file"), "{out}");
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let text = fs::read_to_string(folder(&p, d).join("0006_backfill_slugs.sql")).unwrap();
        assert!(text.starts_with("-- Custom SQL migration file"), "{text}");
    }
    // A data fix written into it runs with `migrate`.
    fs::write(folder(&p, Dialect::Sqlite).join("0006_backfill_slugs.sql"), "UPDATE pages SET slug = lower(slug);\n")
        .unwrap();
    ok(&mut p.xtask(&["migrate", "-q"]));
    let (out, _) = ok(&mut p.xtask(&["status"]));
    assert!(out.contains("0006_backfill_slugs"), "{out}");
}

#[test]
fn renames_need_a_flag_or_an_answer_on_a_terminal() {
    let p = project(Dialect::Sqlite).unwrap();
    let mut schema = cms_schema::declaration();
    t(&mut schema, "posts").column_mut("excerpt").unwrap().name = "summary".into();
    let desired = write_desired(&p, Dialect::Sqlite, &schema, "renamed");
    let before = snapshot(&p, Dialect::Sqlite);
    let args = ["generate", "--dialect", "sqlite", "--to", &desired];
    // No terminal: an error listing the choice; nothing written.
    let err = fails(&mut p.xtask(&args));
    assert!(err.contains("posts.excerpt dropped") && err.contains("--rename posts.excerpt=summary"), "{err}");
    assert!(err.contains("no terminal") && err.contains("nothing was written"), "{err}");
    assert_eq!(snapshot(&p, Dialect::Sqlite), before);

    // On a terminal: "n" is a drop and an add (with its warning), "y" a rename.
    let (code, out, err) = on_terminal(&p, &[&args[..], &["--dry-run"]].concat(), "n\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("is it a rename"), "{err}");
    assert!(out.contains("-- warning:") && out.contains("ADD `summary`"), "{out}");
    let (code, out, err) = on_terminal(&p, &[&args[..], &["--name", "rename_excerpt"]].concat(), "y\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("rename column posts.excerpt to summary"), "{out}");
    let text = fs::read_to_string(folder(&p, Dialect::Sqlite).join("0006_rename_excerpt.sql")).unwrap();
    assert_eq!(text, "ALTER TABLE `posts` RENAME COLUMN `excerpt` TO `summary`;\n");

    // With the flag: no question.
    let p = project(Dialect::Sqlite).unwrap();
    let desired = write_desired(&p, Dialect::Sqlite, &schema, "renamed");
    let (out, _) =
        ok(&mut p.xtask(&["generate", "--dialect", "sqlite", "--to", &desired, "--rename", "posts.excerpt=summary"]));
    assert!(out.contains("rename column posts.excerpt to summary"), "{out}");
}

/// Runs xtask with its stdin on a pseudo-terminal fed `input`; (exit code, stdout, stderr).
fn on_terminal(p: &Project, args: &[&str], input: &str) -> (Option<i32>, String, String) {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors; nothing else is passed.
    let rc =
        unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: the descriptors were just opened and are owned by these files alone.
    let (mut master, slave) = unsafe { (fs::File::from_raw_fd(master), fs::File::from_raw_fd(slave)) };
    let mut cmd = p.xtask_command(args);
    let child = cmd.stdin(Stdio::from(slave)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    master.write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn bad_input_writes_nothing() {
    let p = project(Dialect::Sqlite).unwrap();
    let mut schema = cms_schema::declaration();
    t(&mut schema, "posts").columns.push(text("subtitle"));
    let desired = write_desired(&p, Dialect::Sqlite, &schema, "desired");
    let before = (snapshot(&p, Dialect::Sqlite), snapshot(&p, Dialect::Postgres));
    let unchanged = |p: &Project| assert_eq!((snapshot(p, Dialect::Sqlite), snapshot(p, Dialect::Postgres)), before);

    for name in ["with space", "../escape", "Upper", ""] {
        let err = fails(&mut p.xtask(&["generate", "--dialect", "sqlite", "--to", &desired, "--name", name]));
        assert!(err.contains("lowercase letters, digits and underscores"), "{name:?}: {err}");
        unchanged(&p);
    }
    assert!(!p.root().join("migrations/escape.sql").exists());

    // `--to` of the other dialect.
    let pg_folder = format!("migrations:{}", folder(&p, Dialect::Postgres).display());
    let err = fails(&mut p.xtask(&["generate", "--dialect", "sqlite", "--to", &pg_folder]));
    assert!(err.contains("is a postgresql schema") && err.contains("nothing was written"), "{err}");
    let err = fails(&mut p.xtask(&[
        "generate",
        "--migrations",
        "migrations/sqlite",
        "--to",
        "postgres://someone@127.0.0.1:1/elsewhere",
    ]));
    assert!(err.contains("is a postgresql schema"), "{err}");
    unchanged(&p);

    // A folder with problems is refused first.
    fs::write(folder(&p, Dialect::Sqlite).join("0042_stray.sql"), "CREATE TABLE stray (x);").unwrap();
    let err = fails(&mut p.xtask(&["generate", "--dialect", "sqlite", "--to", &desired]));
    assert!(err.contains("0042_stray.sql is not listed") && err.contains("has problems"), "{err}");
    fs::remove_file(folder(&p, Dialect::Sqlite).join("0042_stray.sql")).unwrap();
    unchanged(&p);

    // A journal whose last `when` lies in the future.
    let journal = folder(&p, Dialect::Sqlite).join("meta/_journal.json");
    let original = fs::read_to_string(&journal).unwrap();
    fs::write(&journal, original.replace("1750669200000", "4102444800000")).unwrap();
    let err = fails(&mut p.xtask(&["generate", "--dialect", "sqlite", "--to", &desired]));
    assert!(err.contains("0005_section_status_check") && err.contains("later than now"), "{err}");
    assert!(err.contains("2100-01-01"), "{err}");
    fs::write(&journal, &original).unwrap();
    unchanged(&p);
}

#[test]
fn a_read_only_folder_is_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let p = project(Dialect::Sqlite).unwrap();
    let mut schema = cms_schema::declaration();
    t(&mut schema, "posts").columns.push(text("subtitle"));
    let desired = write_desired(&p, Dialect::Sqlite, &schema, "desired");
    let root_mode = |m| fs::set_permissions(p.root(), fs::Permissions::from_mode(m)).unwrap();
    root_mode(0o755);
    fs::set_permissions(p.root().join("desired.sql"), fs::Permissions::from_mode(0o644)).unwrap();
    let folder = folder(&p, Dialect::Sqlite);
    for read_only in [folder.clone(), folder.join("meta")] {
        let before = snapshot(&p, Dialect::Sqlite);
        fs::set_permissions(&read_only, fs::Permissions::from_mode(0o555)).unwrap();
        let mut cmd = p.xtask_command(&["generate", "--dialect", "sqlite", "--to", &desired, "--name", "blocked"]);
        // Root ignores permissions: run as nobody, for whom they apply.
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().unwrap();
        fs::set_permissions(&read_only, fs::Permissions::from_mode(0o755)).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("writable") && err.contains("nothing was written"), "{err}");
        assert_eq!(snapshot(&p, Dialect::Sqlite), before, "{}", read_only.display());
        let leftovers: Vec<_> = fs::read_dir(&folder)
            .unwrap()
            .chain(fs::read_dir(folder.join("meta")).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    root_mode(0o700);
}
