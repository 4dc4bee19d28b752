//! Where `DATABASE_URL` comes from: `--database-url`, the environment, the project's `.env`,
//! or the default, in that order.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::DbError;
use crate::url::{DatabaseUrl, DEFAULT_DATABASE_URL};

/// How the project root was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootSource {
    /// `CMS_PROJECT_ROOT`.
    Environment,
    /// `CARGO_MANIFEST_DIR`, which `cargo run` sets for the crate being run.
    Cargo,
    /// The current directory or one above it.
    CurrentDir,
    /// The folder of the running binary or one above it (a binary copied to a server).
    Binary,
}

impl fmt::Display for RootSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootSource::Environment => "CMS_PROJECT_ROOT",
            RootSource::Cargo => "the crate cargo ran",
            RootSource::CurrentDir => "the current directory",
            RootSource::Binary => "the binary's location",
        })
    }
}

/// Finds the project root at run time, never from a path compiled into the binary (with two
/// checkouts sharing a target dir, cargo reuses one binary for both; a release binary copied
/// to a server would point at the build machine). In order: `CMS_PROJECT_ROOT`; the
/// environment's `CARGO_MANIFEST_DIR` (set by `cargo run`) and its parents; the current
/// directory and its parents; the binary's folder and its parents. A project root is a
/// folder holding `migrations/`.
pub fn project_root() -> Result<(PathBuf, RootSource), DbError> {
    let env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(root) = env("CMS_PROJECT_ROOT") {
        if !root.is_dir() {
            return Err(DbError::Url(format!(
                "CMS_PROJECT_ROOT is {}, which is not a folder; point it at the project (the folder holding migrations/) or unset it",
                root.display()
            )));
        }
        return Ok((root, RootSource::Environment));
    }
    let candidates = [
        (env("CARGO_MANIFEST_DIR"), RootSource::Cargo),
        (std::env::current_dir().ok(), RootSource::CurrentDir),
        (std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)), RootSource::Binary),
    ];
    for (start, source) in candidates {
        if let Some(root) = start.as_deref().and_then(find_root_from) {
            return Ok((root, source));
        }
    }
    Err(DbError::Url(
        "cannot find the project root (the folder holding migrations/) above the current directory or the binary; run the command inside the project or set CMS_PROJECT_ROOT".into(),
    ))
}

/// `start` or the nearest folder above it that holds `migrations/`.
pub fn find_root_from(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|dir| dir.join("migrations").is_dir()).map(Path::to_path_buf)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Environment,
    DotEnv,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "--database-url",
            Source::Environment => "DATABASE_URL",
            Source::DotEnv => ".env",
            Source::Default => "default",
        })
    }
}

/// Picks the URL and makes relative SQLite paths absolute against `root`.
pub fn database_url(root: &Path, flag: Option<&str>, env: Option<&str>) -> Result<(DatabaseUrl, Source), DbError> {
    let (raw, source) = if let Some(f) = flag {
        (f.to_string(), Source::Flag)
    } else if let Some(e) = env.filter(|e| !e.is_empty()) {
        (e.to_string(), Source::Environment)
    } else if let Some(v) = dotenv_value(root, "DATABASE_URL")? {
        (v, Source::DotEnv)
    } else {
        (DEFAULT_DATABASE_URL.to_string(), Source::Default)
    };
    let url = DatabaseUrl::parse(&raw).map_err(|e| DbError::Url(format!("{e} (from {source})")))?;
    Ok((url.resolve(root), source))
}

/// A key of the project's `.env`, without touching the process environment.
fn dotenv_value(root: &Path, key: &str) -> Result<Option<String>, DbError> {
    let path = root.join(".env");
    if !path.exists() {
        return Ok(None);
    }
    let iter =
        dotenvy::from_path_iter(&path).map_err(|e| DbError::Url(format!("{} cannot be read: {e}", path.display())))?;
    for item in iter {
        let (k, v) = item.map_err(|e| DbError::Url(format!("{} is malformed: {e}", path.display())))?;
        if k == key {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_found_above_the_start() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("migrations/sqlite")).unwrap();
        std::fs::create_dir_all(root.path().join("xtask/src")).unwrap();
        assert_eq!(find_root_from(&root.path().join("xtask/src")).as_deref(), Some(root.path()));
        assert_eq!(find_root_from(&root.path().join("migrations/sqlite")).as_deref(), Some(root.path()));
        assert_eq!(find_root_from(root.path()).as_deref(), Some(root.path()));
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(find_root_from(elsewhere.path()), None);
    }

    #[test]
    fn precedence() {
        let root = tempfile::tempdir().unwrap();
        let (url, src) = database_url(root.path(), None, None).unwrap();
        assert_eq!(src, Source::Default);
        assert_eq!(url.sqlite_path(), Some(root.path().join("data/sqlite.db").as_path()));
        std::fs::write(root.path().join(".env"), "# c\nDATABASE_URL=file:from-dotenv.db\n").unwrap();
        assert_eq!(database_url(root.path(), None, None).unwrap().1, Source::DotEnv);
        assert_eq!(database_url(root.path(), None, Some("file:e.db")).unwrap().1, Source::Environment);
        let (url, src) = database_url(root.path(), Some("postgres://u:p@h/d"), Some("file:e.db")).unwrap();
        assert_eq!(src, Source::Flag);
        assert_eq!(url.redacted(), "postgres://u:***@h/d");
    }
}
