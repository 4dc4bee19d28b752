//! A temporary project root to run the real binaries (`xtask`, `server`) in, as a deployment
//! has one: the repository's `migrations/` (linked, or copied for a test that changes it), a
//! database (the project's SQLite file `data/sqlite.db`, or a PostgreSQL test database of its
//! own), and the environment every command of the test gets. Commands run from `/`: only
//! `CMS_PROJECT_ROOT` points them at the project.
//!
//! What differs between tests is said where the project is built: which `DATABASE_URL`
//! ([`Project::with_sqlite_url`], [`Project::with_database_url`], [`Project::on_postgres`]; by
//! default none), and any other variable ([`Project::env`], [`Project::env_remove`]).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::pg::TestDb;
use crate::process::Paused;

/// A temporary project root; removed (and its PostgreSQL test database dropped) on drop.
pub struct Project {
    dir: TempDir,
    pg: Option<TestDb>,
    database_url: Option<String>,
    env: Vec<(OsString, Option<OsString>)>,
    timeout: Option<Duration>,
}

impl Project {
    /// `migrations/` a symbolic link to the repository's: for tests that only read it.
    pub fn linked() -> Project {
        let p = Project::bare();
        std::os::unix::fs::symlink(crate::project_root().join("migrations"), p.root().join("migrations"))
            .expect("link migrations/ to the repository's");
        p
    }

    /// `migrations/` a copy of the repository's (both dialects): for tests that change it.
    pub fn copied() -> Project {
        Project::bare().with_copy_of("migrations")
    }

    /// A copy of the repository's folder `name` (`scripts`, `migrations/sqlite`…) in the
    /// project too, at the same place.
    pub fn with_copy_of(self, name: &str) -> Project {
        copy_dir(&crate::project_root().join(name), &self.root().join(name));
        self
    }

    /// No `migrations/` at all: for a test that writes its own, or copies one dialect's folder
    /// ([`Project::with_copy_of`] `migrations/sqlite`, say).
    pub fn bare() -> Project {
        let dir = tempfile::tempdir().expect("create a temp dir");
        Project { dir, pg: None, database_url: None, env: Vec::new(), timeout: None }
    }

    /// On a fresh PostgreSQL test database of its own: `DATABASE_URL` is its URL. `None` (after
    /// a loud `SKIPPED:` line; a panic under `CI=true`) without a PostgreSQL server.
    pub fn on_postgres(mut self) -> Option<Project> {
        let db = crate::pg::database()?;
        self.database_url = Some(db.url().to_string());
        self.pg = Some(db);
        Some(self)
    }

    /// `DATABASE_URL=file:<root>/data/sqlite.db`: the project's SQLite file, spelled out. (Unset,
    /// the binaries default to the same file.)
    pub fn with_sqlite_url(mut self) -> Project {
        self.database_url = Some(format!("file:{}", self.sqlite_db().display()));
        self
    }

    /// `DATABASE_URL=url` (a database the test manages itself).
    pub fn with_database_url(mut self, url: &str) -> Project {
        self.database_url = Some(url.to_string());
        self
    }

    /// On the dialect named as the migrations folders are (`sqlite`: the project's SQLite file
    /// with [`Project::with_sqlite_url`]; `postgresql`: [`Project::on_postgres`]).
    pub fn on(self, dialect: &str) -> Option<Project> {
        match dialect {
            "sqlite" => Some(self.with_sqlite_url()),
            "postgresql" => self.on_postgres(),
            other => panic!("no dialect {other:?}: sqlite or postgresql"),
        }
    }

    /// `key=value` for every command.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Project {
        self.env.push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// `key` removed from every command's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Project {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Every [`Project::xtask`] command is killed after `limit`, which fails the test.
    pub fn timeout(mut self, limit: Duration) -> Project {
        self.timeout = Some(limit);
        self
    }

    /// The project root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `<root>/data/sqlite.db`, the project's SQLite database.
    pub fn sqlite_db(&self) -> PathBuf {
        self.root().join("data/sqlite.db")
    }

    /// The project's own PostgreSQL test database ([`Project::on_postgres`]).
    pub fn pg(&self) -> Option<&TestDb> {
        self.pg.as_ref()
    }

    /// The `DATABASE_URL` the commands get; `None` when it is unset.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The database the commands use: `DATABASE_URL` when they get one, else the project's
    /// SQLite file as a `file:` URL.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("file:{}", self.sqlite_db().display()),
        }
    }

    /// `program` on this project: `CMS_PROJECT_ROOT`, `DATABASE_URL` (set or removed), the
    /// project's other variables, run from `/`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("CMS_PROJECT_ROOT", self.root()).current_dir("/");
        match &self.database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }

    /// `xtask args` on this project, as a plain command (a test that spawns it, gives it a
    /// terminal, another user…).
    pub fn xtask_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(xtask_binary());
        cmd.args(args);
        cmd
    }

    /// `xtask args` on this project, to run and assert on (with the project's time limit).
    pub fn xtask(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.xtask_command(args));
        if let Some(limit) = self.timeout {
            cmd.timeout(limit);
        }
        cmd
    }

    /// Starts `xtask args` so that it pauses at `point` of the binary's test hook, and returns
    /// once it is paused there (see [`Paused`]). The marker file is `paused-…` in the root.
    pub fn paused(&self, args: &[&str], point: &str) -> Paused {
        static MARKERS: AtomicUsize = AtomicUsize::new(0);
        let n = MARKERS.fetch_add(1, Ordering::Relaxed);
        let marker = self.root().join(format!("paused-{}-{n}", point.replace(':', "-")));
        Paused::start(&mut self.xtask_command(args), point, marker)
    }
}

/// The xtask binary: cargo's `CARGO_BIN_EXE_xtask` in xtask's own tests; elsewhere (the
/// server's tests) the one `cargo test --workspace` builds next to the test binaries.
pub fn xtask_binary() -> PathBuf {
    let path = std::env::var_os("CARGO_BIN_EXE_xtask").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut dir = exe.parent().expect("the test binary's folder").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        dir.join(format!("xtask{}", std::env::consts::EXE_SUFFIX))
    });
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p xtask` (or `cargo test --workspace`, which builds it) first",
        path.display()
    );
    path
}

/// Copies the folder `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}
