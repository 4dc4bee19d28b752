//! `DATABASE_URL` parsing: which dialect, where the file is, and a printable form with the
//! password replaced by `***`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::DbError;
use crate::migrate::journal::Dialect;

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
                let (path, options) = rest.split_once('?').unwrap_or((rest, ""));
                if path.is_empty() {
                    return Err(DbError::Url(format!(
                        "`{}` names no database file; write e.g. file:data/sqlite.db",
                        redact(raw)
                    )));
                }
                // SQLite URI options (`?mode=ro`, `?cache=shared`) would be silently dropped, and
                // `mode=ro` would not stop a write command: refuse them instead.
                if !options.is_empty() {
                    return Err(DbError::Url(format!(
                        "`{}`: SQLite URL options after `?` are not supported; remove them. Commands that only read (status, check, diff, backup) open the database read-only already, and the studio has --read-only",
                        redact(raw)
                    )));
                }
                return Ok(DatabaseUrl::Sqlite { path: PathBuf::from(path) });
            }
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            // Only a scheme-shaped scheme is named: anything before `://` may hold a password.
            let named = if scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
                format!(" `{scheme}`")
            } else {
                String::new()
            };
            return Err(DbError::Url(format!(
                "unknown database URL scheme{named} in `{}`; use file:PATH (SQLite) or postgres://user@host/db (PostgreSQL)",
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
            // A mistyped URL (`postgres//u:secret@h/db`) or a libpq `key=value` string is taken
            // for a file name; a password in it is still never shown.
            DatabaseUrl::Sqlite { path } => format!("file:{}", redact(&path.display().to_string())),
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

/// Replaces every part of `url` that may hold a password by `***`: the password of the
/// userinfo (`user:secret@host`) and `password=` parameters (`?password=secret`, or libpq's
/// `password=secret` key/value form). Holds for any string, well-formed URL or not: when a
/// password was not percent-encoded (`#`, `?`, `/`, `@` or `:` in it), everything from the
/// first `:` after the scheme to the last `@` is hidden, which may hide more than the
/// password but never less. Strings without a password are returned unchanged.
pub fn redact(url: &str) -> String {
    replace_ranges(url, &secret_ranges(url))
}

/// `message` with every run of 4 or more characters that also occurs in a secret part of
/// `url` (as written or percent-decoded) replaced by `***`: for error text from other code
/// (the PostgreSQL client, libpq tools) that may echo pieces of the URL it was given.
pub fn scrub(message: &str, url: &str) -> String {
    const MIN: usize = 4;
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for r in secret_ranges(url) {
        let raw = url[r].as_bytes();
        secrets.push(percent_decode(raw));
        secrets.push(raw.to_vec());
    }
    secrets.retain(|s| s.len() >= MIN);
    if secrets.is_empty() {
        return message.to_string();
    }
    let m = message.as_bytes();
    let mut covered = vec![false; m.len()];
    for i in 0..m.len() {
        let longest = secrets
            .iter()
            .flat_map(|s| (0..s.len()).map(move |j| m[i..].iter().zip(&s[j..]).take_while(|(a, b)| a == b).count()))
            .max()
            .unwrap_or(0);
        if longest >= MIN {
            covered[i..i + longest].iter_mut().for_each(|c| *c = true);
        }
    }
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < m.len() {
        if covered[i] {
            let start = i;
            while i < m.len() && covered[i] {
                i += 1;
            }
            ranges.push(start..i);
        } else {
            i += 1;
        }
    }
    replace_ranges(message, &ranges)
}

/// `s` with each (sorted, disjoint) byte range replaced by `***`, widened to whole characters.
fn replace_ranges(s: &str, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    for r in ranges {
        let mut start = r.start.max(pos);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = r.end.max(start);
        while !s.is_char_boundary(end) {
            end += 1;
        }
        if start < pos {
            start = pos;
        }
        out.push_str(&s[pos..start]);
        out.push_str("***");
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

/// The byte ranges of `s` that may hold a password, sorted and merged.
fn secret_ranges(s: &str) -> Vec<Range<usize>> {
    let mut ranges = parameter_ranges(s);
    ranges.extend(userinfo_range(s));
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// The password of the userinfo. A well-formed URL has it between the first `:` after the
/// scheme and the `@` before the host; an unencoded password may contain `@`, `/`, `?`, `#`
/// and `:` itself, so the range runs to the *last* `@` of the whole string. Without any `@`,
/// a "port" that is not a number may be a password whose host was left out: everything from
/// its `:` on is hidden.
fn userinfo_range(s: &str) -> Option<Range<usize>> {
    // `scheme://` at the start; otherwise (`postgres:/…`, `user:pw@host`) the first `:` of the
    // string may begin the password.
    let scheme = s.find("://").filter(|&i| {
        s[..i].starts_with(|c: char| c.is_ascii_alphabetic())
            && s[..i].chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let rest_start = scheme.map_or(0, |i| i + 3);
    let rest = &s[rest_start..];
    if let Some(last_at) = rest.rfind('@') {
        return rest[..last_at].find(':').map(|colon| rest_start + colon + 1..rest_start + last_at);
    }
    // Without `scheme://` there is no authority to look into.
    scheme?;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let mut offset = rest_start;
    for chunk in authority.split(',') {
        let colon = if chunk.starts_with('[') { chunk.find("]:").map(|i| i + 1) } else { chunk.find(':') };
        if let Some(colon) = colon {
            let port = &chunk[colon + 1..];
            let number = &port[..port.find('?').unwrap_or(port.len())];
            if !number.bytes().all(|b| b.is_ascii_digit()) {
                return Some(offset + colon + 1..s.len());
            }
        }
        offset += chunk.len() + 1;
    }
    None
}

/// The values of `password` parameters: after `?` or `&` (the key possibly percent-encoded;
/// the value runs to the next `&key=` or the end, so an unencoded `&` in it stays hidden),
/// and libpq's `password = value` key/value form (a quoted value to its closing quote).
fn parameter_ranges(s: &str) -> Vec<Range<usize>> {
    let b = s.as_bytes();
    let mut ranges = Vec::new();
    for i in 0..b.len() {
        if b[i] == b'?' || b[i] == b'&' {
            let key_start = i + 1;
            let Some(eq) = b[key_start..].iter().position(|&c| matches!(c, b'=' | b'&' | b'?')).map(|p| key_start + p)
            else {
                continue;
            };
            if b[eq] != b'=' || !is_password_key(&b[key_start..eq]) {
                continue;
            }
            let value_end = (eq + 1..b.len()).find(|&j| b[j] == b'&' && starts_like_parameter(&b[j + 1..]));
            ranges.push(eq + 1..value_end.unwrap_or(b.len()));
        }
        if i == 0 || b[i - 1].is_ascii_whitespace() {
            let key_end = i + b[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            if !b[i..key_end].eq_ignore_ascii_case(b"password") {
                continue;
            }
            let mut j = key_end;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j == b.len() || b[j] != b'=' {
                continue;
            }
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let end = if b.get(j) == Some(&b'\'') {
                let mut k = j + 1;
                while k < b.len() && b[k] != b'\'' {
                    k += if b[k] == b'\\' { 2 } else { 1 };
                }
                (k + 1).min(b.len())
            } else {
                j + b[j..].iter().take_while(|c| !c.is_ascii_whitespace()).count()
            };
            ranges.push(j..end);
        }
    }
    ranges
}

pub(crate) fn is_password_key(key: &[u8]) -> bool {
    String::from_utf8_lossy(&percent_decode(key)).trim().eq_ignore_ascii_case("password")
}

/// Whether `s` begins with `key=` (letters, digits, `_`, `-`, `.`, `%`).
fn starts_like_parameter(s: &[u8]) -> bool {
    let key = s.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'%')).count();
    key > 0 && s.get(key) == Some(&b'=')
}

/// `url` naming database `name` instead of its own (the path replaced, a `dbname=`
/// parameter dropped; everything else, the password included, kept as it is).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    // The authority ends at the first `/` after the last `@` (a password may hold a `/`).
    let host_start = base[scheme_end..].rfind('@').map_or(scheme_end, |at| scheme_end + at + 1);
    let path_start = base[host_start..].find('/').map_or(base.len(), |p| host_start + p);
    let mut out = format!("{}/{name}", &base[..path_start]);
    let params: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.to_ascii_lowercase().starts_with("dbname="))
        .collect();
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// `%XX` decoded; a `%` not followed by two hex digits is kept as it is (as libpq's and
/// tokio-postgres's URL parsers do).
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn with_database_names_another_database_and_keeps_the_rest() {
        assert_eq!(
            with_database("postgres://u:p%40ss@h:5432/cms?sslmode=require", "x"),
            "postgres://u:p%40ss@h:5432/x?sslmode=require"
        );
        assert_eq!(with_database("postgres://u:a/b@h/cms", "x"), "postgres://u:a/b@h/x");
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(with_database("postgres://h/?dbname=cms&user=u", "x"), "postgres://h/x?user=u");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"p%40ss%3aw%2Frd%25%20x"), b"p@ss:w/rd% x");
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%4"), b"%4");
        assert_eq!(percent_decode(b"%zz%41"), b"%zzA");
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
        // Options are refused, never silently dropped (`mode=ro` would not stop a write).
        assert!(DatabaseUrl::parse("file:/abs/x.db?mode=rwc").is_err());
        assert_eq!(DatabaseUrl::parse("file:/abs/x.db?").unwrap(), DatabaseUrl::Sqlite { path: "/abs/x.db".into() });
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

    #[test]
    fn sqlite_url_options_are_refused_not_dropped() {
        for raw in ["file:data/x.db?mode=ro", "sqlite:x.db?cache=shared", "sqlite:?mode=ro"] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(err.contains("are not supported") || err.contains("names no database"), "{raw}: {err}");
        }
        let err = DatabaseUrl::parse("file:data/x.db?mode=ro").unwrap_err().to_string();
        assert!(err.contains("?mode=ro") && err.contains("read-only"), "{err}");
    }

    #[test]
    fn redaction_of_malformed_urls() {
        for (url, shown) in [
            // Unencoded `#`, `?`, `/`, `@` and `:` in the password.
            ("postgres://u:pa#ss@host/db", "postgres://u:***@host/db"),
            ("postgres://u:pa?ss@host/db", "postgres://u:***@host/db"),
            ("postgres://u:pa/ss@host/db", "postgres://u:***@host/db"),
            ("postgres://u:p@s:s/w?o#rd@host:5432/db?sslmode=disable", "postgres://u:***@host:5432/db?sslmode=disable"),
            // An unencoded `@` in the user name (user@server) does not hide the password.
            ("postgres://me@srv:secret@srv.example.com/db", "postgres://me@srv:***@srv.example.com/db"),
            // In doubt (an `@` after the host), more is hidden, never less.
            ("postgres://u:pw@h:1/db?application_name=a@b", "postgres://u:***@b"),
            // A password parameter: encoded key, unencoded `&` or `#` in the value.
            ("postgres://h/db?pass%77ord=secret&sslmode=require", "postgres://h/db?pass%77ord=***&sslmode=require"),
            ("postgres://h/db?PASSWORD=se&cr#et", "postgres://h/db?PASSWORD=***"),
            ("postgres://u@h/db?password=p@ssword&x=1", "postgres://u@h/db?password=***&x=1"),
            // No host: a "port" that is no number may be the password.
            ("postgres://u:secret", "postgres://u:***"),
            ("postgres://u:sec/ret", "postgres://u:***"),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
            ("postgres://[::1]:5432,h2:5433/db", "postgres://[::1]:5432,h2:5433/db"),
            // Mistyped schemes and libpq's key=value form.
            ("postgres:/u:secret@h/db", "postgres:***@h/db"),
            ("host=h user=u password=secret dbname=d", "host=h user=u password=*** dbname=d"),
            ("host=h password = 'se cr\\'et' dbname=d", "host=h password = *** dbname=d"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn no_error_of_parse_shows_the_password() {
        for raw in [
            "mysql://root:hunter2@db/app",
            "root:hunter2@db://x",
            "sqlite:?password=hunter2",
            "redis:user:hunter2@host",
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(!err.contains("hunter2") && !err.contains("unte"), "{raw}: {err}");
        }
        // Taken for a file name (no scheme we know), shown without the password.
        for raw in ["postgres//u:hunter2@h/db", "host=h password=hunter2 dbname=d"] {
            let url = DatabaseUrl::parse(raw).unwrap();
            assert!(!format!("{url} {url:?}").contains("hunter2"), "{raw}: {url}");
        }
    }

    #[test]
    fn scrubbing_messages() {
        let url = "postgres://u:pa?sslmode=Sekr1t@h/db";
        assert_eq!(scrub("sslmode=Sekr1t@h/db is not one of", url), "***@h/db is not one of");
        // Decoded forms and pieces of 4 or more characters are caught too.
        assert_eq!(scrub("unknown option `w0rd`", "postgres://u:s%40w0rd@h/db"), "unknown option `***`");
        // Nothing else is touched.
        assert_eq!(scrub("connection refused", "postgres://u:pw@h/db"), "connection refused");
        assert_eq!(scrub("connection refused", "postgres://u@h/db"), "connection refused");
    }
}
