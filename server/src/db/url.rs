//! `DATABASE_URL` parsing: which dialect, where the file is, and a printable form with the
//! password replaced by `***`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::db::error::DbError;
use crate::db::journal::Dialect;

/// The URL used when nothing is configured.
pub const DEFAULT_DATABASE_URL: &str = "file:data/sqlite.db";

/// A parsed `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite database file (absolute after [`DatabaseUrl::resolve`]), or `:memory:`.
    Sqlite { path: PathBuf },
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`), kept verbatim.
    Postgres { url: String },
}

impl DatabaseUrl {
    /// Parses `file:`, `sqlite:` (and `sqlite://`), bare paths, `postgres://` and
    /// `postgresql://`. Anything else with a scheme is an error that names the scheme.
    pub fn parse(raw: &str) -> Result<DatabaseUrl, DbError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(DbError::Url(
                "DATABASE_URL is empty; set it to a file path (file:data/sqlite.db) or a postgres:// URL".into(),
            ));
        }
        let lower = raw.to_ascii_lowercase();
        if raw == ":memory:" {
            return Ok(DatabaseUrl::Sqlite { path: PathBuf::from(raw) });
        }
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres { url: raw.to_string() });
        }
        for prefix in ["sqlite://", "sqlite:", "file://", "file:"] {
            if lower.starts_with(prefix) {
                let rest = &raw[prefix.len()..];
                // `file:x.db?mode=rwc` style options are not ours to interpret; drop them.
                let path = rest.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(DbError::Url(format!(
                        "`{raw}` names no database file; write e.g. file:data/sqlite.db"
                    )));
                }
                return Ok(DatabaseUrl::Sqlite { path: PathBuf::from(path) });
            }
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(DbError::Url(format!(
                "unknown database URL scheme `{scheme}` in `{}`; use file:PATH (SQLite) or postgres://user@host/db (PostgreSQL)",
                redact(raw)
            )));
        }
        if let Some((scheme, _)) = raw.split_once(':') {
            // `C:\x` style drive letters are paths; anything else with a colon is a scheme.
            let windows_drive = scheme.len() == 1 && scheme.chars().all(|c| c.is_ascii_alphabetic());
            if !windows_drive && !scheme.contains('/') && !scheme.contains('.') {
                return Err(DbError::Url(format!(
                    "unknown database URL scheme `{scheme}:` in `{}`; use file:PATH (SQLite) or postgres://user@host/db (PostgreSQL)",
                    redact(raw)
                )));
            }
        }
        Ok(DatabaseUrl::Sqlite { path: PathBuf::from(raw) })
    }

    /// Makes a relative SQLite path absolute against `root` (the project root, never the
    /// current directory).
    pub fn resolve(self, root: &Path) -> DatabaseUrl {
        match self {
            DatabaseUrl::Sqlite { path } if path.as_os_str() != ":memory:" && path.is_relative() => {
                DatabaseUrl::Sqlite { path: root.join(path) }
            }
            other => other,
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            DatabaseUrl::Sqlite { .. } => Dialect::Sqlite,
            DatabaseUrl::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// The SQLite file, if this is SQLite and not in-memory.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite { path } if path.as_os_str() != ":memory:" => Some(path),
            _ => None,
        }
    }

    /// The URL as it may be printed: the password (in userinfo or a `password=` parameter)
    /// replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite { path } => format!("file:{}", path.display()),
            DatabaseUrl::Postgres { url } => redact(url),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// Replaces the password of a URL-shaped string by `***`: `user:secret@host` and
/// `?password=secret`. Strings without a password are returned unchanged.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..].find(['/', '?', '#']).map_or(out.len(), |i| auth_start + i);
        // A password may itself contain `@` when not percent-encoded: the last `@` ends it.
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pass_start = auth_start + colon + 1;
                out.replace_range(pass_start..auth_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out = format!("{head}{query}");
    }
    out
}

/// Splits the password off a URL (userinfo or `password=` parameter), so the URL can go on a
/// child's command line and the password in its environment.
pub fn split_password(url: &str) -> (String, Option<String>) {
    let mut out = url.to_string();
    let mut password = None;
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..].find(['/', '?', '#']).map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            if let Some(colon) = out[auth_start..auth_start + at].find(':') {
                password = Some(out[auth_start + colon + 1..auth_start + at].to_string());
                out.replace_range(auth_start + colon..auth_start + at, "");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q);
        let mut kept = Vec::new();
        for kv in query[1..].split('&') {
            match kv.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("password") => password = Some(v.to_string()),
                _ => kept.push(kv),
            }
        }
        out = if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) };
    }
    (out, password)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_split_off() {
        assert_eq!(split_password("postgres://u:pw@h/db"), ("postgres://u@h/db".into(), Some("pw".into())));
        assert_eq!(
            split_password("postgres://u@h/db?password=x&sslmode=require"),
            ("postgres://u@h/db?sslmode=require".into(), Some("x".into()))
        );
        assert_eq!(split_password("postgres://u@h/db"), ("postgres://u@h/db".into(), None));
    }

    use super::*;

    #[test]
    fn sqlite_forms() {
        for raw in ["file:data/sqlite.db", "sqlite:data/sqlite.db", "sqlite://data/sqlite.db", "data/sqlite.db"] {
            assert_eq!(
                DatabaseUrl::parse(raw).unwrap(),
                DatabaseUrl::Sqlite { path: "data/sqlite.db".into() },
                "{raw}"
            );
        }
        assert_eq!(
            DatabaseUrl::parse("file:/abs/x.db?mode=rwc").unwrap(),
            DatabaseUrl::Sqlite { path: "/abs/x.db".into() }
        );
    }

    #[test]
    fn relative_paths_resolve_against_root() {
        let url = DatabaseUrl::parse("file:data/x.db").unwrap().resolve(Path::new("/proj"));
        assert_eq!(url.sqlite_path(), Some(Path::new("/proj/data/x.db")));
        let abs = DatabaseUrl::parse("/var/x.db").unwrap().resolve(Path::new("/proj"));
        assert_eq!(abs.sqlite_path(), Some(Path::new("/var/x.db")));
        let mem = DatabaseUrl::parse(":memory:").unwrap().resolve(Path::new("/proj"));
        assert_eq!(mem.sqlite_path(), None);
    }

    #[test]
    fn postgres_forms() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().dialect(), Dialect::Postgres);
        assert_eq!(DatabaseUrl::parse("POSTGRESQL://u@h/db").unwrap().dialect(), Dialect::Postgres);
    }

    #[test]
    fn unknown_scheme_is_an_error_without_password() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/app").unwrap_err().to_string();
        assert!(err.contains("mysql"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(DatabaseUrl::parse("redis:thing").is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://h/db?user=u&password=secret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        let url = DatabaseUrl::parse("postgresql://a:b@c/d").unwrap();
        assert_eq!(format!("{url} {url:?}"), "postgresql://a:***@c/d DatabaseUrl(postgresql://a:***@c/d)");
    }
}
