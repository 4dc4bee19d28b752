//! The project root and the configuration every command shares.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use cms_db::config::{database_url, project_root, RootSource, Source};
use cms_db::connect;
use cms_db::connection::Connection;
use cms_db::migrate::migrator;
use cms_db::migrate::plan::{EntryState, Status};
use cms_db::{DatabaseUrl, MigrationSet};

pub struct Context {
    /// Every path resolves against it; found at run time (see `project_root`). Outside any
    /// project, the current directory (see [`Context::require_project`]).
    pub root: PathBuf,
    root_source: Result<RootSource, String>,
    database_url_flag: Option<String>,
}

impl Context {
    /// The project around us. Outside any project the commands that only read what they are
    /// given (diff, status, check, lint, generate, push, studio with absolute paths or a URL)
    /// still run, relative paths resolving against the current directory; the others call
    /// [`Context::require_project`].
    pub fn new(database_url_flag: Option<String>) -> Result<Context> {
        let (root, root_source) = match project_root() {
            Ok((root, source)) => (root, Ok(source)),
            Err(e) => {
                let cwd = std::env::current_dir().context("cannot read the current directory")?;
                (cwd, Err(e.to_string()))
            }
        };
        Ok(Context { root, root_source, database_url_flag })
    }

    /// A context rooted at `root` (tests).
    #[cfg(test)]
    pub fn at(root: PathBuf) -> Context {
        Context { root, root_source: Ok(RootSource::Environment), database_url_flag: None }
    }

    /// An error unless a project root was found: for the commands that write into the
    /// project's folders (backups/, uploads/, data/) or replace its data.
    pub fn require_project(&self) -> Result<()> {
        match &self.root_source {
            Ok(_) => Ok(()),
            Err(e) => anyhow::bail!("{e}"),
        }
    }

    /// The first line of a command that changes or deletes data: which project it acts on.
    pub fn announce_root(&self) {
        if let Ok(source) = &self.root_source {
            crate::out!("project    {} (from {})", self.root.display(), source);
        }
    }

    pub fn database_url(&self) -> Result<(DatabaseUrl, Source)> {
        let env = std::env::var("DATABASE_URL").ok();
        Ok(database_url(&self.root, self.database_url_flag.as_deref(), env.as_deref())?)
    }

    /// The migrations folder: `--migrations DIR` (relative to the project root) or the
    /// dialect's default.
    pub fn migrations(&self, flag: Option<&Path>, url: &DatabaseUrl) -> Result<MigrationSet> {
        let dir = match flag {
            Some(d) => self.root.join(d),
            None => {
                if let Err(e) = &self.root_source {
                    anyhow::bail!("{e}; or name the migrations folder with --migrations DIR");
                }
                self.root.join(url.dialect().default_folder())
            }
        };
        let set = MigrationSet::load(&dir).with_context(|| "cannot load the migrations".to_string())?;
        set.expect_dialect(url.dialect())?;
        Ok(set)
    }

    /// The configured database, its migrations folder and what is applied, read without
    /// changing anything (a missing SQLite file reads as empty): status, check and push.
    pub fn migration_status(&self, migrations: Option<&Path>) -> Result<(DatabaseUrl, MigrationSet, Status)> {
        let (url, _) = self.database_url()?;
        let set = self.migrations(migrations, &url)?;
        let mut driver = cms_db::driver(&url, true)?;
        let status = migrator::status(driver.as_mut(), &set)?;
        Ok((url, set, status))
    }

    /// A connection to `url`, whose migrations (this project's folder) are all applied;
    /// otherwise a clear error: seed, seed-images and reset-data write rows only there.
    pub fn open_migrated(&self, url: &DatabaseUrl) -> Result<Connection> {
        let set = self.migrations(None, url)?;
        let mut driver = cms_db::driver(url, true)?;
        let st = migrator::status(driver.as_mut(), &set)?;
        let pending = st
            .entries
            .iter()
            .filter(|e| matches!(e.state, EntryState::Pending | EntryState::OutOfOrder { .. }))
            .count();
        let problems = st.findings().iter().filter(|f| f.blocks_migrate(false)).count();
        if pending > 0 || problems > 0 {
            anyhow::bail!(
                "{url} is not fully migrated ({pending} pending, {problems} problem(s)); run `cargo xtask migrate` first"
            );
        }
        drop(driver);
        Ok(connect(url)?)
    }

    /// A path for messages: relative to the root when inside it.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// Milliseconds since the epoch as a UTC time.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

/// Prints a line to stdout, ignoring a closed pipe: output must never abort a command half-way
/// (`cargo xtask reset-complete | head` must still finish the reset).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
