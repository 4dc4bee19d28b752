//! SQLite introspection on real databases: every object kind read into the model's normal
//! form, and no phantom differences between databases that hold the same schema spelled
//! differently (quoting, whitespace, keyword case, a drizzle-kit table rebuild).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use cms_db::schema::introspect::{self, normalize_sql_expression};
use cms_db::schema::*;
use rusqlite::config::DbConfig;
use rusqlite::Connection;

/// An in-memory database configured as all of ours are (double-quoted strings off).
fn open() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false).unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false).unwrap();
    conn
}

fn schema_of(sql: &str) -> Schema {
    let conn = open();
    conn.execute_batch(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    introspect::sqlite(&conn).unwrap()
}

/// Applies a Drizzle folder statement by statement (split on `--> statement-breakpoint`).
fn apply_folder(conn: &Connection, folder: &Path) {
    let journal: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(folder.join("meta/_journal.json")).unwrap()).unwrap();
    for entry in journal["entries"].as_array().unwrap() {
        let tag = entry["tag"].as_str().unwrap();
        let sql = fs::read_to_string(folder.join(format!("{tag}.sql"))).unwrap();
        for statement in sql.split("--> statement-breakpoint").filter(|s| !s.trim().is_empty()) {
            conn.execute_batch(statement).unwrap_or_else(|e| panic!("{tag}: {e}\n{statement}"));
        }
    }
}

fn main_name(name: &str) -> QualifiedName {
    QualifiedName::new("main", name)
}

fn col(name: &str, data_type: &str, not_null: bool) -> Column {
    Column { not_null, ..Column::new(name, data_type) }
}

fn key(target: IndexTarget, descending: bool, collation: Option<&str>) -> IndexKey {
    IndexKey { target, descending, collation: collation.map(Into::into), nulls_not_default: false, opclass: None }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const EVERY_KIND: &str = r#"
CREATE TABLE `teams` (
    `id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
    `name` text COLLATE NOCASE NOT NULL,
    `slug` text NOT NULL UNIQUE,
    `status` text DEFAULT 'active' NOT NULL,
    `created_at` integer DEFAULT (unixepoch()) NOT NULL,
    `score` real DEFAULT -1.5,
    `data` text,
    `kind` text GENERATED ALWAYS AS (json_extract("data", '$.kind')) VIRTUAL,
    `total` integer AS (score * 2) STORED,
    CONSTRAINT "teams_status_check" CHECK("status" in ('active', 'inactive')),
    CHECK (length(name) > 0)
);
CREATE UNIQUE INDEX `teams_name_unique` ON `teams` (`name`);
CREATE INDEX `teams_lower_name_idx` ON `teams` (lower("name") DESC, `slug` COLLATE RTRIM);
CREATE INDEX `teams_active_idx` ON `teams` (`created_at`) WHERE "status" = 'active';
CREATE TABLE "memberships" (
    "team_id" integer NOT NULL REFERENCES "teams"("id") ON DELETE CASCADE,
    "user_id" text NOT NULL,
    "role" varchar ( 20 ) NOT NULL,
    "invited_by" integer,
    CONSTRAINT "memberships_pk" PRIMARY KEY ("team_id", "user_id"),
    CONSTRAINT "memberships_role_unique" UNIQUE ("team_id", "role"),
    FOREIGN KEY ("invited_by") REFERENCES teams ON UPDATE SET NULL ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;
CREATE TABLE strict_t (id INTEGER PRIMARY KEY, n ANY) STRICT;
CREATE VIEW `active_teams` AS SELECT "id", "name" FROM `teams` WHERE status = 'active';
CREATE TRIGGER `teams_touch` AFTER UPDATE ON `teams` BEGIN UPDATE teams SET created_at = created_at WHERE id = new.id; END;
CREATE VIRTUAL TABLE `teams_fts` USING fts5(name, slug, content='teams', content_rowid='id');
CREATE TABLE `__drizzle_migrations` (id INTEGER PRIMARY KEY, hash text NOT NULL, created_at numeric);
CREATE UNIQUE INDEX "__drizzle_migrations_applied_once" ON "__drizzle_migrations" ("hash", "created_at");
INSERT INTO teams (name, slug) VALUES ('a', 'a');
ANALYZE;
"#;

#[test]
fn every_object_kind_is_read_in_normal_form() {
    let s = schema_of(EVERY_KIND);
    assert_eq!(s.dialect, Dialect::Sqlite);
    assert!(s.schemas.is_empty());
    let tables: Vec<&str> = s.tables.keys().map(|k| k.name.as_str()).collect();
    assert_eq!(tables, ["memberships", "strict_t", "teams"], "no sqlite_%, bookkeeping or shadow tables");

    let mut teams = Table::new(main_name("teams"));
    teams.columns = vec![
        Column { autoincrement: true, ..col("id", "INTEGER", true) },
        Column { collation: Some("NOCASE".into()), ..col("name", "TEXT", true) },
        col("slug", "TEXT", true),
        Column { default: Some("'active'".into()), ..col("status", "TEXT", true) },
        Column { default: Some("unixepoch()".into()), ..col("created_at", "INTEGER", true) },
        Column { default: Some("-1.5".into()), ..col("score", "REAL", false) },
        col("data", "TEXT", false),
        Column {
            generated: Some(Generated { expression: "json_extract(data, '$.kind')".into(), stored: false }),
            ..col("kind", "TEXT", false)
        },
        Column {
            generated: Some(Generated { expression: "score * 2".into(), stored: true }),
            ..col("total", "INTEGER", false)
        },
    ];
    teams.primary_key = Some(PrimaryKey { name: None, columns: names(&["id"]) });
    teams.uniques = vec![Unique { name: None, columns: names(&["slug"]), nulls_not_distinct: false }];
    teams.checks = vec![
        Check { name: Some("teams_status_check".into()), expression: "status IN ('active', 'inactive')".into() },
        Check { name: None, expression: "length(name) > 0".into() },
    ];
    for index in [
        Index {
            name: "teams_name_unique".into(),
            unique: true,
            keys: vec![key(IndexTarget::Column("name".into()), false, None)],
            predicate: None,
            method: None,
            include: vec![],
        },
        Index {
            name: "teams_lower_name_idx".into(),
            unique: false,
            keys: vec![
                key(IndexTarget::Expression("lower(name)".into()), true, None),
                key(IndexTarget::Column("slug".into()), false, Some("RTRIM")),
            ],
            predicate: None,
            method: None,
            include: vec![],
        },
        Index {
            name: "teams_active_idx".into(),
            unique: false,
            keys: vec![key(IndexTarget::Column("created_at".into()), false, None)],
            predicate: Some("status = 'active'".into()),
            method: None,
            include: vec![],
        },
    ] {
        teams.indexes.insert(index.name.clone(), index);
    }
    teams.normalize();
    assert_eq!(s.table("teams"), Some(&teams));

    let mut memberships = Table::new(main_name("memberships"));
    memberships.columns = vec![
        col("team_id", "INTEGER", true),
        col("user_id", "TEXT", true),
        col("role", "VARCHAR(20)", true),
        col("invited_by", "INTEGER", false),
    ];
    memberships.primary_key =
        Some(PrimaryKey { name: Some("memberships_pk".into()), columns: names(&["team_id", "user_id"]) });
    memberships.uniques = vec![Unique {
        name: Some("memberships_role_unique".into()),
        columns: names(&["team_id", "role"]),
        nulls_not_distinct: false,
    }];
    memberships.foreign_keys = vec![
        ForeignKey {
            name: None,
            columns: names(&["team_id"]),
            references: main_name("teams"),
            referenced_columns: names(&["id"]),
            on_delete: Action::Cascade,
            on_update: Action::NoAction,
            deferrable: Deferrable::NotDeferrable,
        },
        ForeignKey {
            name: None,
            columns: names(&["invited_by"]),
            references: main_name("teams"),
            // `REFERENCES teams` without columns: the parent's primary key.
            referenced_columns: names(&["id"]),
            on_delete: Action::Restrict,
            on_update: Action::SetNull,
            deferrable: Deferrable::InitiallyDeferred,
        },
    ];
    memberships.without_rowid = true;
    memberships.normalize();
    assert_eq!(s.table("memberships"), Some(&memberships));

    let strict = s.table("strict_t").unwrap();
    assert!(strict.strict && !strict.without_rowid);
    assert_eq!(strict.columns, [col("id", "INTEGER", false), col("n", "ANY", false)]);

    assert_eq!(
        s.views.values().collect::<Vec<_>>(),
        [&View {
            name: main_name("active_teams"),
            definition: "CREATE VIEW active_teams AS SELECT id, name FROM teams WHERE status = 'active'".into(),
            materialized: false,
        }]
    );
    assert_eq!(
        s.triggers.values().collect::<Vec<_>>(),
        [&Trigger {
            name: main_name("teams_touch"),
            table: main_name("teams"),
            definition: "CREATE TRIGGER teams_touch AFTER UPDATE ON teams BEGIN UPDATE teams SET created_at = \
                         created_at WHERE id = new.id; END"
                .into(),
        }]
    );
    assert_eq!(
        s.virtual_tables.values().collect::<Vec<_>>(),
        [&VirtualTable {
            name: main_name("teams_fts"),
            module: "fts5".into(),
            definition: "CREATE VIRTUAL TABLE teams_fts USING fts5(name, slug, content = 'teams', content_rowid = \
                         'id')"
                .into(),
        }]
    );
    assert!(s.enums.is_empty() && s.sequences.is_empty());
}

#[test]
fn the_same_sql_twice_reads_equal() {
    assert_eq!(schema_of(EVERY_KIND), schema_of(EVERY_KIND));
}

/// drizzle-kit's table rebuild (`__new_t`, copy, drop, rename) makes SQLite rewrite the stored
/// CREATE text with quotes: it must read exactly like the table created directly.
#[test]
fn a_drizzle_kit_rebuild_reads_like_the_table_created_directly() {
    let parent = "CREATE TABLE `teams` (`id` text PRIMARY KEY NOT NULL);\n";
    let direct = format!(
        "{parent}CREATE TABLE `projects` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`team_id` text NOT NULL,\n\t`status` \
         text DEFAULT 'draft' NOT NULL,\n\tFOREIGN KEY (`team_id`) REFERENCES `teams`(`id`) ON UPDATE no action ON \
         DELETE cascade,\n\tCONSTRAINT \"projects_status_check\" CHECK(\"status\" in ('draft', 'live'))\n);\nCREATE \
         INDEX `projects_team_id_idx` ON `projects` (`team_id`);"
    );
    let rebuilt = format!(
        "{parent}CREATE TABLE `projects` (`id` text PRIMARY KEY NOT NULL, `team_id` text NOT NULL, `status` text \
         DEFAULT 'live' NOT NULL);\nCREATE INDEX `projects_team_id_idx` ON `projects` (`team_id`);\nINSERT INTO teams \
         VALUES ('t');\nINSERT INTO projects VALUES ('p', 't', 'live');\nPRAGMA foreign_keys=OFF;\nCREATE TABLE \
         `__new_projects` (\n\t`id` text PRIMARY KEY NOT NULL,\n\t`team_id` text NOT NULL,\n\t`status` text DEFAULT \
         'draft' NOT NULL,\n\tFOREIGN KEY (`team_id`) REFERENCES `teams`(`id`) ON UPDATE no action ON DELETE \
         cascade,\n\tCONSTRAINT \"projects_status_check\" CHECK(\"status\" in ('draft', 'live'))\n);\nINSERT INTO \
         `__new_projects`(\"id\", \"team_id\", \"status\") SELECT \"id\", \"team_id\", \"status\" FROM \
         `projects`;\nDROP TABLE `projects`;\nALTER TABLE `__new_projects` RENAME TO `projects`;\nPRAGMA \
         foreign_keys=ON;\nCREATE INDEX `projects_team_id_idx` ON `projects` (`team_id`);"
    );
    let conn = open();
    conn.execute_batch(&rebuilt).unwrap();
    let stored: String =
        conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 'projects'", [], |r| r.get(0)).unwrap();
    assert!(stored.starts_with("CREATE TABLE \"projects\""), "SQLite rewrote the name: {stored}");
    assert_eq!(introspect::sqlite(&conn).unwrap(), schema_of(&direct));
}

#[test]
fn quoting_whitespace_comments_keyword_case_and_constraint_placement_are_not_changes() {
    let variants = [
        "CREATE TABLE `t` (`id` text PRIMARY KEY NOT NULL, `n` integer DEFAULT 0 NOT NULL, `s` text DEFAULT 'a', \
         CONSTRAINT \"t_n_check\" CHECK(\"n\" >= 0 AND `s` in ('a', 'b')));\
         CREATE INDEX `t_s_idx` ON `t` (lower(`s`)) WHERE `n` > 0;\
         CREATE VIEW `v` AS SELECT `id` FROM `t`;",
        "create table t (\n  id   TEXT not null,  -- the key\n  n INTEGER not null default (0),\n  s text default \
         ('a'),\n  primary key (id),\n  constraint [t_n_check] check ((n >= 0 and s IN ('a','b')))\n);\
         CREATE INDEX t_s_idx ON t (LOWER(s)) WHERE (n > 0);\
         create view v as /* ids */ select id from t;",
        "CREATE TABLE \"t\" (\"id\" text NOT NULL PRIMARY KEY, \"n\" integer NOT NULL DEFAULT 0, \"s\" text \
         DEFAULT 'a', CONSTRAINT t_n_check CHECK (\"n\" >= 0 AND \"s\" IN ('a', 'b')));\
         CREATE INDEX \"t_s_idx\" ON \"t\" (lower(\"s\")) WHERE \"n\" > 0;\
         CREATE VIEW \"v\" AS SELECT \"id\" FROM \"t\";",
    ];
    let first = schema_of(variants[0]);
    for v in &variants[1..] {
        assert_eq!(schema_of(v), first, "{v}");
    }
    // A real difference still reads as one.
    let changed = [
        variants[0].replace("\"n\" >= 0", "\"n\" > 0"),
        variants[0].replace("DEFAULT 0", "DEFAULT 1"),
        variants[0].replace("WHERE `n` > 0", "WHERE `n` > 1"),
        variants[0].replace("t_n_check", "t_n_positive"),
        variants[0].replace("lower(`s`)", "upper(`s`)"),
        variants[0].replace("SELECT `id`", "SELECT `id`, `n`"),
    ];
    for c in &changed {
        assert_ne!(schema_of(c), first, "{c}");
    }
}

#[test]
fn declaration_order_of_constraints_is_not_a_change() {
    let a = schema_of(
        "CREATE TABLE p (id integer PRIMARY KEY); CREATE TABLE t (a integer REFERENCES p(id), b integer \
         REFERENCES p(id), CHECK (a > 0), CHECK (b > 0), UNIQUE (a), UNIQUE (b));",
    );
    let b = schema_of(
        "CREATE TABLE p (id integer PRIMARY KEY); CREATE TABLE t (a integer, b integer, UNIQUE (b), UNIQUE (a), \
         CHECK (b > 0), CHECK (a > 0), FOREIGN KEY (b) REFERENCES p(id), FOREIGN KEY (a) REFERENCES p(id));",
    );
    assert_eq!(a, b);
    assert_eq!(a.table("t").unwrap().foreign_keys.len(), 2);
}

#[test]
fn added_and_dropped_columns_read_like_a_table_created_that_way() {
    let altered = schema_of(
        "CREATE TABLE `t` (`id` text PRIMARY KEY NOT NULL, `old` text);\
         ALTER TABLE `t` ADD `n` integer DEFAULT 0 NOT NULL;\
         ALTER TABLE `t` ADD `p` text REFERENCES `t`(`id`) ON UPDATE no action ON DELETE set null;\
         ALTER TABLE `t` DROP COLUMN `old`;",
    );
    let direct = schema_of(
        "CREATE TABLE `t` (`id` text PRIMARY KEY NOT NULL, `n` integer DEFAULT 0 NOT NULL, `p` text, FOREIGN KEY \
         (`p`) REFERENCES `t`(`id`) ON UPDATE no action ON DELETE set null);",
    );
    assert_eq!(altered, direct);
}

/// An FTS5 table kept in sync by triggers, as real Drizzle folders write it (custom SQL
/// migrations): one virtual table, its triggers, and none of its shadow tables.
#[test]
fn fts5_with_triggers_is_one_virtual_table_and_its_triggers() {
    let sql = "CREATE TABLE `posts` (`id` integer PRIMARY KEY NOT NULL, `title` text NOT NULL, `body` text NOT \
               NULL);\n--> statement-breakpoint\nCREATE VIRTUAL TABLE `posts_fts` USING fts5(`title`, `body`, \
               content='posts', content_rowid='id', tokenize='porter unicode61');\n--> \
               statement-breakpoint\nCREATE TRIGGER `posts_ai` AFTER INSERT ON `posts` BEGIN\n  INSERT INTO \
               posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body);\nEND;\n--> \
               statement-breakpoint\nCREATE TRIGGER `posts_ad` AFTER DELETE ON `posts` BEGIN\n  INSERT INTO \
               posts_fts(posts_fts, rowid, title, body) VALUES('delete', old.id, old.title, old.body);\nEND;\n--> \
               statement-breakpoint\nCREATE TRIGGER `posts_au` AFTER UPDATE ON `posts` BEGIN\n  INSERT INTO \
               posts_fts(posts_fts, rowid, title, body) VALUES('delete', old.id, old.title, old.body);\n  INSERT \
               INTO posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body);\nEND;\n--> \
               statement-breakpoint\nINSERT INTO posts VALUES (1, 'hello', 'world');";
    let conn = open();
    for statement in sql.split("--> statement-breakpoint") {
        conn.execute_batch(statement).unwrap();
    }
    let shadow: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'posts\\_fts\\_%' ESCAPE '\\'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(shadow, 4, "FTS5 made its shadow tables (_data, _idx, _docsize, _config)");
    let s = introspect::sqlite(&conn).unwrap();
    assert_eq!(s.tables.keys().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["posts"]);
    let vt = &s.virtual_tables[&main_name("posts_fts")];
    assert_eq!(vt.module, "fts5");
    assert_eq!(
        vt.definition,
        "CREATE VIRTUAL TABLE posts_fts USING fts5(title, body, content = 'posts', content_rowid = 'id', tokenize \
         = 'porter unicode61')"
    );
    let triggers: BTreeSet<(&str, &str)> =
        s.triggers.values().map(|t| (t.name.name.as_str(), t.table.name.as_str())).collect();
    assert_eq!(triggers, BTreeSet::from([("posts_ad", "posts"), ("posts_ai", "posts"), ("posts_au", "posts")]));
    // The same folder spelled without quotes reads the same.
    let bare = sql.replace('`', "");
    let conn2 = open();
    for statement in bare.split("--> statement-breakpoint") {
        conn2.execute_batch(statement).unwrap();
    }
    assert_eq!(introspect::sqlite(&conn2).unwrap(), s);
    // An FTS5 table without external content has a `_content` shadow table: also hidden.
    let own = schema_of("CREATE VIRTUAL TABLE notes USING fts5(body);");
    assert!(own.tables.is_empty(), "{:?}", own.tables.keys());
    assert_eq!(own.virtual_tables.len(), 1);
}

#[test]
fn the_bookkeeping_table_and_sqlites_own_tables_are_not_part_of_a_schema() {
    let s = schema_of(
        "CREATE TABLE `__drizzle_migrations` (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric, name \
         text, applied_at integer, duration_ms integer);\
         CREATE UNIQUE INDEX \"__drizzle_migrations_applied_once\" ON \"__drizzle_migrations\" (\"hash\", \
         \"created_at\");\
         CREATE TABLE t (id integer PRIMARY KEY AUTOINCREMENT, v text);\
         INSERT INTO t (v) VALUES ('x');\
         CREATE INDEX t_v ON t (v);\
         ANALYZE;",
    );
    assert!(s.tables.len() == 1, "{:?}", s.tables.keys());
    assert!(s.table("t").unwrap().columns[0].autoincrement);
    assert!(schema_of("CREATE TABLE `__drizzle_migrations` (id SERIAL PRIMARY KEY, hash text);").is_empty());
}

#[test]
fn the_projects_sqlite_folder_applied_twice_reads_equal_with_its_tables_keys_and_checks() {
    let folder = test_support::fixture::project_migrations("sqlite");
    let read = || {
        let conn = open();
        apply_folder(&conn, &folder);
        introspect::sqlite(&conn).unwrap()
    };
    let s = read();
    assert_eq!(s, read());
    for t in [
        "teams",
        "sites",
        "environments",
        "locales",
        "section_definitions",
        "pages",
        "page_sections",
        "page_section_contents",
        "images",
        "posts",
        "site_settings",
        "navigation_items",
    ] {
        assert!(s.table(t).is_some(), "table {t} missing: {:?}", s.tables.keys());
    }
    let sites = s.table("sites").unwrap();
    assert!(sites.foreign_keys.contains(&ForeignKey {
        name: None,
        columns: names(&["default_environment_id"]),
        references: main_name("environments"),
        referenced_columns: names(&["id"]),
        on_delete: Action::SetNull,
        on_update: Action::NoAction,
        deferrable: Deferrable::InitiallyDeferred,
    }));
    let contents = s.table("page_section_contents").unwrap();
    assert!(contents.foreign_keys.iter().any(|f| f.columns == ["locale_code"]
        && f.references == main_name("locales")
        && f.on_update == Action::Cascade
        && f.on_delete == Action::Restrict));
    // 0005 rebuilt page_sections the drizzle-kit way: its check, default and indexes are there.
    let sections = s.table("page_sections").unwrap();
    assert_eq!(
        sections.checks,
        [Check {
            name: Some("page_sections_status_check".into()),
            expression: "status IN ('draft', 'published')".into()
        }]
    );
    assert_eq!(sections.column("status").unwrap().default.as_deref(), Some("'draft'"));
    assert_eq!(
        sections.indexes.keys().collect::<Vec<_>>(),
        ["page_sections_page_id_sort_order_idx", "page_sections_section_def_id_idx"]
    );
    assert_eq!(sections.foreign_keys.len(), 2);
    assert!(s.table("posts").unwrap().checks.iter().any(|c| c.name.as_deref() == Some("posts_status_check")));
    assert_eq!(s.table("images").unwrap().column("is_placeholder").unwrap().default.as_deref(), Some("FALSE"));
    assert!(s.table("teams").unwrap().indexes["teams_name_unique"].unique);
}

/// The normal form is SQL that SQLite runs, so whoever renders DDL from it can rely on it.
#[test]
fn normalised_definitions_recreate_the_same_objects() {
    let s = schema_of(EVERY_KIND);
    let conn = open();
    conn.execute_batch(EVERY_KIND).unwrap();
    conn.execute_batch("DROP VIEW active_teams; DROP TRIGGER teams_touch;").unwrap();
    for v in s.views.values() {
        conn.execute_batch(&v.definition).unwrap();
    }
    for t in s.triggers.values() {
        conn.execute_batch(&t.definition).unwrap();
    }
    assert_eq!(introspect::sqlite(&conn).unwrap(), s);
    assert_eq!(
        normalize_sql_expression(&s.views.values().next().unwrap().definition),
        s.views.values().next().unwrap().definition
    );
}

/// `ALTER TABLE … RENAME` makes SQLite rewrite every reference in the stored text (checks,
/// indexes, triggers, views) with double quotes: the result reads like the SQL written with
/// the new names.
#[test]
fn renamed_tables_and_columns_read_like_the_schema_written_with_the_new_names() {
    let renamed = schema_of(
        "CREATE TABLE t (id integer PRIMARY KEY, a integer CHECK (a > 0));\
         CREATE INDEX t_a ON t (a * 2) WHERE a > 1;\
         CREATE VIEW v AS SELECT a FROM t;\
         CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = a + 1 WHERE id = new.id; END;\
         ALTER TABLE t RENAME COLUMN a TO b;\
         ALTER TABLE t RENAME TO u;",
    );
    let direct = schema_of(
        "CREATE TABLE u (id integer PRIMARY KEY, b integer CHECK (b > 0));\
         CREATE INDEX t_a ON u (b * 2) WHERE b > 1;\
         CREATE VIEW v AS SELECT b FROM u;\
         CREATE TRIGGER tr AFTER INSERT ON u BEGIN UPDATE u SET b = b + 1 WHERE id = new.id; END;",
    );
    assert_eq!(renamed, direct);
}

/// The schema a Drizzle folder holding `migrations` (one file each) replays to, read the way
/// `diff` and `check` read a `migrations:` source.
fn schema_of_folder(migrations: &[&str]) -> Schema {
    let tags: Vec<String> = (0..migrations.len()).map(|i| format!("{i:04}_m")).collect();
    let entries: Vec<(&str, i64, &str)> =
        migrations.iter().enumerate().map(|(i, sql)| (tags[i].as_str(), 1_700_000_000_000 + i as i64, *sql)).collect();
    let dir = test_support::fixture::folder("sqlite", "7", &entries);
    source::Source::Migrations(dir.path().to_path_buf())
        .load(Dialect::Sqlite, &source::ScratchServer::default())
        .unwrap_or_else(|e| panic!("{e:#?}"))
}

/// SQLite separates table constraints by optional commas, and drizzle-kit has written
/// `FOREIGN KEY (…) REFERENCES … FOREIGN KEY (…) …` without one: such tables (in a folder
/// and directly) read like the comma-separated spelling.
#[test]
fn table_constraints_without_commas_read_like_the_comma_separated_spelling() {
    let parent = "CREATE TABLE `p` (`id` integer PRIMARY KEY NOT NULL, `code` text NOT NULL UNIQUE);\n";
    let pairs = [
        // Two foreign keys.
        (
            "CREATE TABLE `c` (`a` integer NOT NULL, `b` integer, FOREIGN KEY (`a`) REFERENCES `p`(`id`) ON UPDATE no \
             action ON DELETE cascade FOREIGN KEY (`b`) REFERENCES `p`(`id`) ON UPDATE no action ON DELETE set null);",
            "CREATE TABLE `c` (`a` integer NOT NULL, `b` integer, FOREIGN KEY (`a`) REFERENCES `p`(`id`) ON UPDATE no \
             action ON DELETE cascade, FOREIGN KEY (`b`) REFERENCES `p`(`id`) ON UPDATE no action ON DELETE set null);",
        ),
        // A CHECK followed by a FOREIGN KEY, and a UNIQUE and a PRIMARY KEY after it.
        (
            "CREATE TABLE c (a integer NOT NULL, b text, CHECK (a > 0) FOREIGN KEY (b) REFERENCES p(code) \
             DEFERRABLE INITIALLY DEFERRED UNIQUE (b) PRIMARY KEY (a))",
            "CREATE TABLE c (a integer NOT NULL, b text, CHECK (a > 0), FOREIGN KEY (b) REFERENCES p(code) \
             DEFERRABLE INITIALLY DEFERRED, UNIQUE (b), PRIMARY KEY (a))",
        ),
        // Named constraints back to back.
        (
            "CREATE TABLE c (a integer, b integer, CONSTRAINT \"c_a_check\" CHECK (a > 0) CONSTRAINT c_b_check \
             CHECK (b > a) CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES p(id) CONSTRAINT c_pk PRIMARY KEY (a, b))",
            "CREATE TABLE c (a integer, b integer, CONSTRAINT \"c_a_check\" CHECK (a > 0), CONSTRAINT c_b_check \
             CHECK (b > a), CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES p(id), CONSTRAINT c_pk PRIMARY KEY (a, b))",
        ),
    ];
    for (without, with) in pairs {
        let expected = schema_of(&format!("{parent}{with}"));
        assert_eq!(schema_of(&format!("{parent}{without}")), expected, "{without}");
        assert_eq!(schema_of_folder(&[parent, without]), expected, "{without} in a folder");
    }

    let two_fks = schema_of(&format!("{parent}{}", pairs[0].0));
    let c = two_fks.table("c").unwrap();
    let fks: Vec<(&[String], Action)> = c.foreign_keys.iter().map(|f| (f.columns.as_slice(), f.on_delete)).collect();
    assert_eq!(fks, [(&names(&["a"])[..], Action::Cascade), (&names(&["b"])[..], Action::SetNull)]);

    let checked = schema_of(&format!("{parent}{}", pairs[1].0));
    let c = checked.table("c").unwrap();
    assert_eq!(c.checks, [Check { name: None, expression: "a > 0".into() }]);
    assert_eq!(c.foreign_keys[0].deferrable, Deferrable::InitiallyDeferred);
    assert_eq!(c.foreign_keys[0].referenced_columns, ["code"]);
    assert_eq!(c.uniques, [Unique { name: None, columns: names(&["b"]), nulls_not_distinct: false }]);
    assert_eq!(c.primary_key, Some(PrimaryKey { name: None, columns: names(&["a"]) }));

    let named = schema_of(&format!("{parent}{}", pairs[2].0));
    let c = named.table("c").unwrap();
    assert_eq!(
        c.checks,
        [
            Check { name: Some("c_a_check".into()), expression: "a > 0".into() },
            Check { name: Some("c_b_check".into()), expression: "b > a".into() },
        ]
    );
    assert_eq!(c.foreign_keys[0].name.as_deref(), Some("c_fk"));
    assert_eq!(c.primary_key, Some(PrimaryKey { name: Some("c_pk".into()), columns: names(&["a", "b"]) }));
}

/// Column constraints follow each other in any order with no separator, as SQLite accepts
/// them; a DEFERRABLE clause on its own belongs to the column's foreign key.
#[test]
fn column_constraints_in_any_order_read_like_the_usual_spelling() {
    let parent = "CREATE TABLE p (id integer PRIMARY KEY);";
    let liberal = schema_of(&format!(
        "{parent} CREATE TABLE c (id integer, a integer REFERENCES p ON INSERT CASCADE NOT NULL CONSTRAINT c_a CHECK \
         (a > 0) DEFERRABLE INITIALLY DEFERRED DEFAULT 1 COLLATE BINARY CONSTRAINT unused, PRIMARY KEY (id \
         AUTOINCREMENT))"
    ));
    let usual = schema_of(&format!(
        "{parent} CREATE TABLE c (id integer PRIMARY KEY AUTOINCREMENT, a integer NOT NULL DEFAULT 1 COLLATE \
         BINARY, CONSTRAINT c_a CHECK (a > 0), FOREIGN KEY (a) REFERENCES p DEFERRABLE INITIALLY DEFERRED)"
    ));
    assert_eq!(liberal, usual);
    assert!(liberal.table("c").unwrap().columns[0].autoincrement);
}

/// SQLite reads a lone name after DEFAULT (bare, double-quoted, backquoted or bracketed) as the
/// string literal of that name, also with double-quoted strings off: it reads as that literal.
#[test]
fn a_lone_name_as_default_reads_as_the_string_literal_it_is() {
    let base = "CREATE TABLE `t` (`id` integer PRIMARY KEY NOT NULL);\nINSERT INTO t (id) VALUES (1);\n";
    let spellings = ["\"text\"", "text", "'text'", "`text`", "[text]", "('text')"];
    let read = |spelling: &str| {
        let conn = open();
        conn.execute_batch(&format!("{base}ALTER TABLE `t` ADD `kind` text NOT NULL DEFAULT {spelling};"))
            .unwrap_or_else(|e| panic!("{spelling}: {e}"));
        conn.execute("INSERT INTO t (id) VALUES (2)", []).unwrap();
        let values: Vec<String> = conn
            .prepare("SELECT kind FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(values, ["text", "text"], "SQLite's own value for DEFAULT {spelling}");
        introspect::sqlite(&conn).unwrap()
    };
    let expected = read("'text'");
    assert_eq!(expected.table("t").unwrap().column("kind").unwrap().default.as_deref(), Some("'text'"));
    for s in spellings {
        assert_eq!(read(s), expected, "DEFAULT {s}");
    }
    // Quotes inside are escaped; a quoted `true` is a string, a bare one the boolean.
    let s = schema_of("CREATE TABLE t (a text DEFAULT \"it's\", b DEFAULT \"true\", c DEFAULT true, d DEFAULT Mixed);");
    let defaults: Vec<Option<&str>> = s.table("t").unwrap().columns.iter().map(|c| c.default.as_deref()).collect();
    assert_eq!(defaults, [Some("'it''s'"), Some("'true'"), Some("TRUE"), Some("'Mixed'")]);
    assert_eq!(
        s,
        schema_of("CREATE TABLE t (a text DEFAULT 'it''s', b DEFAULT 'true', c DEFAULT TRUE, d DEFAULT 'Mixed');")
    );
}

/// `diff --from empty --to` a folder whose column got `DEFAULT "text"` by ALTER TABLE: the
/// SQL it makes runs on SQLite (double-quoted strings off), gives rows the default, and reads
/// back equal to the folder; a folder declaring `DEFAULT 'text'` is no change from it.
#[test]
fn a_folder_with_a_double_quoted_default_diffs_from_empty_into_sql_sqlite_runs() {
    let folder = schema_of_folder(&[
        "CREATE TABLE `items` (`id` integer PRIMARY KEY NOT NULL, `name` text);",
        "ALTER TABLE `items` ADD `kind` text NOT NULL DEFAULT \"text\";--> statement-breakpoint\nALTER TABLE `items` \
         ADD `note` text DEFAULT \"it's\";",
    ]);
    let declared = schema_of_folder(&[
        "CREATE TABLE `items` (`id` integer PRIMARY KEY NOT NULL, `name` text, `kind` text DEFAULT 'text' NOT NULL, \
         `note` text DEFAULT 'it''s');",
    ]);
    assert_eq!(folder, declared);
    assert!(diff::diff(&declared, &folder, &diff::Renames::none_are_renames()).unwrap().is_empty());

    let empty = Schema::empty(Dialect::Sqlite);
    let up = verify::plan(&source::ScratchServer::default(), &empty, &folder, &diff::Renames::none())
        .unwrap_or_else(|e| panic!("{e}"));
    let text = sql::to_migration_text(&up);
    assert!(
        text.contains("`kind` text DEFAULT 'text' NOT NULL") && text.contains("`note` text DEFAULT 'it''s'"),
        "{text}"
    );
    let conn = open();
    for st in &up {
        conn.execute_batch(&st.sql).unwrap_or_else(|e| panic!("{e}\n{}", st.sql));
    }
    conn.execute("INSERT INTO items (id, name) VALUES (1, 'a')", []).unwrap();
    let row: (String, String) =
        conn.query_row("SELECT kind, note FROM items", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(row, ("text".to_string(), "it's".to_string()));
    assert_eq!(introspect::sqlite(&conn).unwrap(), folder);
}
