//! The project root and the configuration every command shares.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use cms_db::config::{database_url, project_root, RootSource, Source};
use cms_db::migrate::migrator;
use cms_db::migrate::plan::Status;
use cms_db::{DatabaseUrl, MigrationSet};

pub struct Context {
    /// Every path resolves against it; found at run time (see `project_root`).
    pub root: PathBuf,
    pub root_source: RootSource,
    database_url_flag: Option<String>,
}

impl Context {
    pub fn new(database_url_flag: Option<String>) -> Result<Context> {
        let (root, root_source) = project_root()?;
        Ok(Context { root, root_source, database_url_flag })
    }

    /// A context rooted at `root` (tests).
    #[cfg(test)]
    pub fn at(root: PathBuf) -> Context {
        Context { root, root_source: RootSource::Environment, database_url_flag: None }
    }

    /// The first line of a command that changes or deletes data: which project it acts on.
    pub fn announce_root(&self) {
        crate::out!("project    {} (from {})", self.root.display(), self.root_source);
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
            None => self.root.join(url.dialect().default_folder()),
        };
        let set = MigrationSet::load(&dir).with_context(|| "cannot load the migrations".to_string())?;
        set.expect_dialect(url.dialect())?;
        Ok(set)
    }

    /// A path for messages: relative to the root when inside it.
    /// The configured database, its migrations folder and what is applied, read without
    /// changing anything (a missing SQLite file reads as empty): status, check and push.
    pub fn migration_status(&self, migrations: Option<&Path>) -> Result<(DatabaseUrl, MigrationSet, Status)> {
        let (url, _) = self.database_url()?;
        let set = self.migrations(migrations, &url)?;
        let mut driver = cms_db::driver(&url, true)?;
        let status = migrator::status(driver.as_mut(), &set)?;
        Ok((url, set, status))
    }

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
