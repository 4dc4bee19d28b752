//! Where `DATABASE_URL` comes from: `--database-url`, the environment, the project's `.env`,
//! or the default, in that order.

use std::fmt;
use std::path::Path;

use crate::db::error::DbError;
use crate::db::url::{DatabaseUrl, DEFAULT_DATABASE_URL};

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
