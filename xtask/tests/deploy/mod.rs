//! What the deploy tests (pre-flight, lint, rollback) share: a temporary project root with a
//! copy of the repository's migrations for one dialect, migrated and seeded through the real
//! binary, to which a test appends migrations (written by hand, or rendered by the schema
//! engine from an edited copy of the folder's schema, as `generate` would write them).

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use cms_db::schema::diff::{self, Renames};
use cms_db::schema::source::{ScratchServer, Source};
use cms_db::schema::sql::{self, to_migration_text};
use cms_db::schema::{Dialect, Schema};
use test_support::rows;

pub struct Project {
    project: test_support::project::Project,
    pub dialect: Dialect,
}

/// test-support's project with a copy of `dialect`'s migrations folder only, on its SQLite file
/// (no `DATABASE_URL`) until said otherwise; images without the network.
fn copy_of(dialect: Dialect) -> test_support::project::Project {
    test_support::project::Project::bare().with_copy_of(dialect.default_folder()).env("CMS_IMAGES_OFFLINE", "1")
}

impl Project {
    pub fn sqlite() -> Project {
        Project { project: copy_of(Dialect::Sqlite), dialect: Dialect::Sqlite }
    }

    /// `None` (after a loud skip line) without a PostgreSQL server.
    pub fn postgres() -> Option<Project> {
        Some(Project { project: copy_of(Dialect::Postgres).on_postgres()?, dialect: Dialect::Postgres })
    }

    /// Migrated and seeded (`migrate`, `seed --seed 7`).
    pub fn seeded(self) -> Project {
        self.xtask(&["migrate", "-q"]).assert().success();
        self.xtask(&["seed", "--seed", "7"]).assert().success();
        self
    }

    pub fn root(&self) -> &Path {
        self.project.root()
    }

    pub fn url(&self) -> String {
        self.project.url()
    }

    pub fn xtask(&self, args: &[&str]) -> Command {
        self.project.xtask(args)
    }

    pub fn folder(&self) -> PathBuf {
        self.root().join(self.dialect.default_folder())
    }

    fn scratch(&self) -> ScratchServer {
        match self.project.pg() {
            Some(db) => ScratchServer::postgres(db.url()),
            None => ScratchServer::default(),
        }
    }

    /// The live database's schema.
    pub fn schema(&self) -> Schema {
        Source::Live(self.url()).load(self.dialect, &self.scratch()).unwrap()
    }

    /// The schema the migrations folder gives.
    pub fn folder_schema(&self) -> Schema {
        Source::Migrations(self.folder()).load(self.dialect, &self.scratch()).unwrap()
    }

    /// Appends a migration `NNNN_name` with `sql`; its tag.
    pub fn add_migration(&self, name: &str, sql: &str) -> String {
        let journal_path = self.folder().join("meta/_journal.json");
        let mut journal: serde_json::Value = serde_json::from_slice(&fs::read(&journal_path).unwrap()).unwrap();
        let entries = journal["entries"].as_array_mut().unwrap();
        let idx = entries.len() as i64;
        let when = entries.last().map_or(1_700_000_000_000, |e| e["when"].as_i64().unwrap()) + 1000;
        let tag = format!("{idx:04}_{name}");
        entries.push(serde_json::json!({"idx": idx, "version": "7", "when": when, "tag": tag, "breakpoints": true}));
        fs::write(&journal_path, serde_json::to_vec_pretty(&journal).unwrap()).unwrap();
        fs::write(self.folder().join(format!("{tag}.sql")), sql).unwrap();
        tag
    }

    /// Appends the migration the schema engine writes for `edit` of the folder's schema
    /// (`renames` as `diff --rename` takes them); its tag.
    pub fn add_change(&self, name: &str, renames: &[&str], edit: impl FnOnce(&mut Schema)) -> String {
        let from = self.folder_schema();
        let mut to = from.clone();
        edit(&mut to);
        for t in to.tables.values_mut() {
            t.normalize();
        }
        let changes = diff::diff(&from, &to, &Renames::parse(renames).unwrap().and_rest_are_not_renames()).unwrap();
        let text = to_migration_text(&sql::render(self.dialect, &changes, &from, &to));
        self.add_migration(name, &text)
    }

    /// The type the engine spells `text` in this dialect.
    pub fn text_type(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "TEXT",
            Dialect::Postgres => "text",
        }
    }

    pub fn execute(&self, sql: &str) {
        match self.project.pg() {
            Some(db) => db.client().batch_execute(sql).unwrap(),
            None => rusqlite::Connection::open(self.project.sqlite_db()).unwrap().execute_batch(sql).unwrap(),
        }
    }

    /// The first column of the first row of `sql`, as text.
    pub fn text(&self, sql: &str) -> Option<String> {
        match self.project.pg() {
            Some(db) => db.client().query(sql, &[]).unwrap().first().and_then(|r| r.get::<_, Option<String>>(0)),
            None => {
                let c = rusqlite::Connection::open(self.project.sqlite_db()).unwrap();
                c.query_row(sql, [], |r| r.get::<_, Option<String>>(0)).ok().flatten()
            }
        }
    }

    pub fn count(&self, sql: &str) -> i64 {
        match self.project.pg() {
            Some(db) => db.client().query_one(sql, &[]).unwrap().get::<_, i64>(0),
            None => {
                rusqlite::Connection::open(self.project.sqlite_db()).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
            }
        }
    }

    pub fn has_table(&self, name: &str) -> bool {
        self.schema().table(name).is_some()
    }

    /// Every row of every application table except `except`, in a stable order: equal dumps
    /// are identical data.
    pub fn dump_except(&self, except: &[&str]) -> String {
        match self.project.pg() {
            Some(db) => rows::postgres(&mut db.client(), except),
            None => rows::sqlite(&self.project.sqlite_db(), &[&[rows::BOOKKEEPING], except].concat()),
        }
    }

    pub fn dump(&self) -> String {
        self.dump_except(&[])
    }

    /// `status --json`: each entry's tag and state.
    pub fn states(&self) -> Vec<(String, String)> {
        let out = self.xtask(&["status", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["tag"].as_str().unwrap().to_string(), e["state"].as_str().unwrap().to_string()))
            .collect()
    }

    pub fn state_of(&self, tag: &str) -> String {
        self.states().into_iter().find(|(t, _)| t == tag).map(|(_, s)| s).unwrap_or_else(|| panic!("no entry {tag}"))
    }

    /// The archives in backups/ (file names).
    pub fn backups(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.root().join("backups"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// The output of a command as text (stdout then stderr).
pub fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs both dialects' versions of a test body.
#[macro_export]
macro_rules! both_dialects {
    ($body:ident: $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $body(deploy::Project::sqlite());
        }

        #[test]
        fn $postgres() {
            let Some(p) = deploy::Project::postgres() else { return };
            $body(p);
        }
    };
}

/// The table `name` of `s` (default namespace), to edit.
pub fn table_mut<'a>(s: &'a mut Schema, name: &str) -> &'a mut cms_db::schema::Table {
    let q = cms_db::schema::QualifiedName::new(s.dialect.default_schema(), name);
    s.tables.get_mut(&q).unwrap_or_else(|| panic!("no table {name}"))
}

/// A new nullable column of `ty`, with `default` (an expression, as the catalog prints it).
pub fn column(name: &str, ty: &str, default: Option<&str>) -> cms_db::schema::Column {
    cms_db::schema::Column { default: default.map(str::to_string), ..cms_db::schema::Column::new(name, ty) }
}
