//! Where a schema comes from. Every source becomes a database that is then introspected, so
//! both sides of a comparison are normalised by the same engine:
//!
//! | spelled | becomes |
//! |---|---|
//! | `file:PATH`, `sqlite:PATH`, `PATH.db` | a live SQLite database, opened read-only (never created) |
//! | `postgres://…`, `postgresql://…` | a live PostgreSQL database, read in a read-only transaction |
//! | `migrations:DIR` | the Drizzle folder replayed by our migrator into a scratch database |
//! | `sql:FILE` | the file executed into a scratch database |
//! | `empty` | an empty schema |
//!
//! Scratch databases ([`ScratchDb`]): SQLite in memory; PostgreSQL a temporary database
//! `cms_scratch_<unix seconds>_<random>` created on a given server and dropped when the guard
//! goes (also on an error or a panic). A run killed before it could drop one leaves it behind;
//! the next scratch database made on that server drops those older than an hour.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use super::introspect::{self, tokenize, IntrospectError, Lexer, SchemaFilter, TokenKind};
use super::model::{Dialect, Schema};

/// Connecting to PostgreSQL gives up after this long unless the URL sets `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The name prefix of scratch databases.
pub const SCRATCH_PREFIX: &str = "cms_scratch_";

/// Scratch databases older than this are a killed run's leftovers.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// A schema source, as `--from` / `--to` spell it.
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    /// A live database: `file:`/`sqlite:` URL or a bare `.db` path (SQLite), or a
    /// `postgres://`/`postgresql://` URL, kept as written.
    Live(String),
    /// A Drizzle Kit migrations folder (`migrations:DIR`).
    Migrations(PathBuf),
    /// A SQL file holding the desired state (`sql:FILE`).
    Sql(PathBuf),
    /// No schema at all (`empty`).
    Empty,
}

/// Why a source could not become a schema. Messages never show a password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("unknown schema source `{0}`: use file:PATH or PATH.db (SQLite), postgres://USER@HOST/DB (PostgreSQL), migrations:DIR, sql:FILE or empty")]
    Unknown(String),
    #[error("`{spelled}` names no {what}; write e.g. {example}")]
    Incomplete { spelled: String, what: &'static str, example: &'static str },
    #[error("the SQLite database {} does not exist (a schema source is only read, never created); check the path", path.display())]
    MissingDatabase { path: PathBuf },
    #[error("cannot open the SQLite database {} read-only: {message}", path.display())]
    SqliteOpen { path: PathBuf, message: String },
    #[error("cannot connect to PostgreSQL at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{context}: {message}")]
    Database { context: String, message: String },
    #[error("cannot read {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// A statement of a `sql:` file failed.
    #[error("{}:{line}: {message}", file.display())]
    Script { file: PathBuf, line: usize, message: String },
    #[error("cannot create a scratch database on {server}: the role {role} may not create databases; pass --dev-url URL naming a server and role that may (CREATEDB), e.g. a local development server")]
    NoCreateDb { server: String, role: String },
    #[error("{what} needs a PostgreSQL server for a scratch database; pass --dev-url URL")]
    NoScratchServer { what: String },
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
}

impl Source {
    /// Parses `file:…`, `sqlite:…`, a bare path ending in `.db`, `.sqlite` or `.sqlite3`,
    /// `postgres://…`, `postgresql://…`, `migrations:DIR`, `sql:FILE` and `empty`.
    pub fn parse(raw: &str) -> Result<Source, SourceError> {
        let s = raw.trim();
        let lower = s.to_ascii_lowercase();
        let rest = |prefix: &str| &s[prefix.len()..];
        if lower == "empty" {
            return Ok(Source::Empty);
        }
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Source::Live(s.to_string()));
        }
        for (prefix, what, example) in [
            ("migrations:", "migrations folder", "migrations:migrations/sqlite"),
            ("sql:", "SQL file", "sql:schema.sql"),
        ] {
            if lower.starts_with(prefix) {
                let path = rest(prefix);
                if path.is_empty() {
                    return Err(SourceError::Incomplete { spelled: redact(s), what, example });
                }
                let path = PathBuf::from(path);
                return Ok(if prefix == "sql:" { Source::Sql(path) } else { Source::Migrations(path) });
            }
        }
        for prefix in ["sqlite://", "sqlite:", "file://", "file:"] {
            if lower.starts_with(prefix) {
                if sqlite_path(s).as_os_str().is_empty() {
                    return Err(SourceError::Incomplete {
                        spelled: redact(s),
                        what: "database file",
                        example: "file:data/sqlite.db",
                    });
                }
                return Ok(Source::Live(s.to_string()));
            }
        }
        let is_db_file = [".db", ".sqlite", ".sqlite3", ".db3"].iter().any(|ext| lower.ends_with(ext));
        if is_db_file && !s.contains("://") {
            return Ok(Source::Live(s.to_string()));
        }
        Err(SourceError::Unknown(redact(s)))
    }

    /// Relative paths made absolute against `root` (the project root), never the current
    /// directory.
    pub fn resolve(self, root: &Path) -> Source {
        match self {
            Source::Live(url) if !is_postgres_url(&url) => {
                let path = sqlite_path(&url);
                if path.is_relative() {
                    Source::Live(format!("file:{}", root.join(path).display()))
                } else {
                    Source::Live(url)
                }
            }
            Source::Migrations(p) if p.is_relative() => Source::Migrations(root.join(p)),
            Source::Sql(p) if p.is_relative() => Source::Sql(root.join(p)),
            other => other,
        }
    }

    /// The dialect the source itself determines: a live database's, or a migrations folder's
    /// (its journal says). `sql:` and `empty` take the dialect of what they are compared to.
    pub fn dialect(&self) -> Result<Option<Dialect>, SourceError> {
        match self {
            Source::Live(url) if is_postgres_url(url) => Ok(Some(Dialect::Postgres)),
            Source::Live(_) => Ok(Some(Dialect::Sqlite)),
            Source::Migrations(dir) => journal_dialect(dir).map(Some),
            Source::Sql(_) | Source::Empty => Ok(None),
        }
    }

    /// For a live PostgreSQL source: its URL (a server scratch databases can be made on).
    pub fn postgres_url(&self) -> Option<&str> {
        match self {
            Source::Live(url) if is_postgres_url(url) => Some(url),
            _ => None,
        }
    }

    /// The schema this source holds, in `dialect`. Scratch databases are made as `scratch`
    /// says (PostgreSQL: on its server) and dropped before this returns.
    pub fn load(&self, dialect: Dialect, scratch: &ScratchServer) -> Result<Schema, SourceError> {
        match self {
            Source::Empty => Ok(Schema::empty(dialect)),
            Source::Live(url) if is_postgres_url(url) => {
                let mut client = connect(url)?;
                read_only_snapshot(&mut client, url)
            }
            Source::Live(url) => {
                let conn = open_read_only(&sqlite_path(url))?;
                Ok(introspect::sqlite(&conn)?)
            }
            Source::Sql(file) => {
                let sql = std::fs::read_to_string(file)
                    .map_err(|e| SourceError::File { path: file.clone(), message: e.to_string() })?;
                let mut db = ScratchDb::create(dialect, scratch, &format!("sql:{}", file.display()))?;
                db.execute_script(&sql, file)?;
                db.introspect()
            }
            Source::Migrations(dir) => Err(SourceError::File {
                path: dir.clone(),
                message: "replaying a migrations folder needs the migrator in cms-db".into(),
            }),
        }
    }
}

impl fmt::Display for Source {
    /// As spelled, with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Live(url) => f.write_str(&redact(url)),
            Source::Migrations(dir) => write!(f, "migrations:{}", dir.display()),
            Source::Sql(file) => write!(f, "sql:{}", file.display()),
            Source::Empty => f.write_str("empty"),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({self})")
    }
}

impl FromStr for Source {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Source, SourceError> {
        Source::parse(s)
    }
}

fn is_postgres_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The file of a `file:`/`sqlite:` URL or bare path (`?options` dropped).
fn sqlite_path(url: &str) -> PathBuf {
    let lower = url.to_ascii_lowercase();
    let rest = ["sqlite://", "sqlite:", "file://", "file:"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map_or(url, |p| &url[p.len()..]);
    PathBuf::from(rest.split('?').next().unwrap_or_default())
}

/// `meta/_journal.json`'s `dialect`.
fn journal_dialect(dir: &Path) -> Result<Dialect, SourceError> {
    let path = dir.join("meta").join("_journal.json");
    let bad = |message: String| SourceError::File { path: path.clone(), message };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| bad(format!("{e}; is {} a Drizzle migrations folder?", dir.display())))?;
    let journal: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    match journal.get("dialect").and_then(|d| d.as_str()) {
        Some("sqlite" | "turso") => Ok(Dialect::Sqlite),
        Some("postgresql") => Ok(Dialect::Postgres),
        other => Err(bad(format!("its dialect is {other:?}; expected \"sqlite\" or \"postgresql\""))),
    }
}

// --- SQLite ------------------------------------------------------------------------------------

/// Opens an existing database read-only; a missing file is an error, never a new database.
fn open_read_only(path: &Path) -> Result<Connection, SourceError> {
    if !path.is_file() {
        return Err(SourceError::MissingDatabase { path: path.to_path_buf() });
    }
    let err = |e: rusqlite::Error| SourceError::SqliteOpen { path: path.to_path_buf(), message: e.to_string() };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(err)?;
    forbid_double_quoted_strings(&conn).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())).map_err(err)?;
    Ok(conn)
}

fn forbid_double_quoted_strings(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    Ok(())
}

// --- PostgreSQL --------------------------------------------------------------------------------

/// Connects with a bounded connect time; errors show the URL without its password.
fn connect(url: &str) -> Result<Client, SourceError> {
    connect_config(url, config(url)?)
}

fn config(url: &str) -> Result<Config, SourceError> {
    let mut config = Config::from_str(url).map_err(|e| SourceError::Connect {
        url: redact(url),
        message: format!("not a valid PostgreSQL URL: {}", scrub(&e.to_string(), url)),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

fn connect_config(url: &str, config: Config) -> Result<Client, SourceError> {
    config.connect(NoTls).map_err(|e| SourceError::Connect {
        url: redact(url),
        message: format!("{}; check that the server is running and the URL is right", scrub(&pg_message(&e), url)),
    })
}

fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

/// Introspects in one read-only, repeatable-read transaction (a consistent snapshot that
/// cannot change anything).
fn read_only_snapshot(client: &mut Client, url: &str) -> Result<Schema, SourceError> {
    let db = |e: postgres::Error| SourceError::Database {
        context: format!("reading {}", redact(url)),
        message: scrub(&pg_message(&e), url),
    };
    client
        .batch_execute(
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )
        .map_err(db)?;
    let schema = introspect::postgres(client, SchemaFilter::All);
    client.batch_execute("ROLLBACK").map_err(db)?;
    Ok(schema?)
}

// --- scratch databases -------------------------------------------------------------------------

/// Where scratch databases are made for a given dialect.
#[derive(Clone, Debug, Default)]
pub struct ScratchServer {
    /// PostgreSQL: the URL of a server and a role that may `CREATE DATABASE` (`--dev-url`,
    /// or the live database being compared). Unused for SQLite (in memory).
    pub postgres_url: Option<String>,
}

impl ScratchServer {
    pub fn postgres(url: impl Into<String>) -> ScratchServer {
        ScratchServer { postgres_url: Some(url.into()) }
    }
}

/// A database that exists only while this value does: SQLite in memory, or a PostgreSQL
/// database created for it and dropped when it is dropped (on every path, panics included).
pub enum ScratchDb {
    Sqlite(Connection),
    Postgres(Box<PgScratch>),
}

impl ScratchDb {
    /// A new, empty scratch database; `purpose` (e.g. `sql:schema.sql`) is named in errors.
    pub fn create(dialect: Dialect, server: &ScratchServer, purpose: &str) -> Result<ScratchDb, SourceError> {
        match dialect {
            Dialect::Sqlite => {
                let err = |e: rusqlite::Error| SourceError::Database {
                    context: "opening an in-memory scratch database".into(),
                    message: e.to_string(),
                };
                let conn = Connection::open_in_memory().map_err(err)?;
                forbid_double_quoted_strings(&conn).map_err(err)?;
                conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
                Ok(ScratchDb::Sqlite(conn))
            }
            Dialect::Postgres => {
                let url = server
                    .postgres_url
                    .as_deref()
                    .ok_or_else(|| SourceError::NoScratchServer { what: purpose.to_string() })?;
                Ok(ScratchDb::Postgres(Box::new(PgScratch::create(url)?)))
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            ScratchDb::Sqlite(_) => Dialect::Sqlite,
            ScratchDb::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a SQL script statement by statement; a failure names `file`, the line of the
    /// failing statement (PostgreSQL: of the failing token when it says) and the message.
    pub fn execute_script(&mut self, sql: &str, file: &Path) -> Result<(), SourceError> {
        let lexer = match self {
            ScratchDb::Sqlite(_) => Lexer::Sqlite,
            ScratchDb::Postgres(_) => Lexer::Postgres,
        };
        for (offset, statement) in split_script(sql, lexer) {
            let line_of = |at: usize| 1 + sql[..at].matches('\n').count();
            let result = match self {
                ScratchDb::Sqlite(conn) => conn.execute_batch(statement).map_err(|e| (line_of(offset), e.to_string())),
                ScratchDb::Postgres(pg) => pg.client().batch_execute(statement).map_err(|e| {
                    let at = match e.as_db_error().and_then(|d| d.position()) {
                        Some(postgres::error::ErrorPosition::Original(p)) => statement
                            .char_indices()
                            .nth((*p as usize).saturating_sub(1))
                            .map_or(offset, |(i, _)| offset + i),
                        _ => offset,
                    };
                    (line_of(at), pg_message(&e))
                }),
            };
            result.map_err(|(line, message)| SourceError::Script { file: file.to_path_buf(), line, message })?;
        }
        Ok(())
    }

    /// The scratch database's schema.
    pub fn introspect(&mut self) -> Result<Schema, SourceError> {
        Ok(match self {
            ScratchDb::Sqlite(conn) => introspect::sqlite(conn)?,
            ScratchDb::Postgres(pg) => introspect::postgres(pg.client(), SchemaFilter::All)?,
        })
    }
}

/// A temporary PostgreSQL database, dropped (`WITH (FORCE)`) when this guard is dropped.
pub struct PgScratch {
    name: String,
    /// The server's URL the database was created from (and is dropped through).
    server_url: String,
    client: Option<Client>,
}

impl PgScratch {
    /// Creates `cms_scratch_<unix seconds>_<random>` from `template0` on the server of
    /// `server_url`, first dropping scratch databases left there more than an hour ago.
    pub fn create(server_url: &str) -> Result<PgScratch, SourceError> {
        let config = config(server_url)?;
        let mut admin = connect_config(server_url, config.clone())?;
        drop_leftovers(&mut admin, now_secs());
        let name = scratch_name(now_secs());
        if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0")) {
            return Err(create_failed(&e, server_url, config.get_user()));
        }
        // From here on the guard drops the database, whatever happens next.
        let mut scratch = PgScratch { name, server_url: server_url.to_string(), client: None };
        let mut scratch_config = config;
        scratch_config.dbname(&scratch.name);
        scratch.client = Some(connect_config(server_url, scratch_config)?);
        Ok(scratch)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The connection to the scratch database.
    pub fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("a scratch database has its connection until it is dropped")
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        // Our own session first, so the drop does not wait for it.
        drop(self.client.take());
        let Ok(mut admin) = config(&self.server_url).and_then(|c| connect_config(&self.server_url, c)) else {
            return; // the next run drops it as a leftover
        };
        drop_database(&mut admin, &self.name);
    }
}

/// Why `CREATE DATABASE` failed, in words: a role without `CREATEDB` is told about `--dev-url`.
pub fn create_failed(e: &postgres::Error, server_url: &str, role: Option<&str>) -> SourceError {
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return SourceError::NoCreateDb {
            server: redact(server_url),
            role: role.unwrap_or("(the default role)").to_string(),
        };
    }
    SourceError::Database {
        context: format!("creating a scratch database on {}", redact(server_url)),
        message: scrub(&pg_message(e), server_url),
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn scratch_name(now: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    format!("{SCRATCH_PREFIX}{now}_{:08x}", h.finish() as u32)
}

/// The creation time (unix seconds) a scratch database's name carries.
fn scratch_created(name: &str) -> Option<u64> {
    name.strip_prefix(SCRATCH_PREFIX)?.split('_').next()?.parse().ok()
}

/// Drops the scratch databases on this server made more than [`LEFTOVER_AGE`] ago (by a run
/// that was killed). Databases this role may not drop are left alone.
fn drop_leftovers(admin: &mut Client, now: u64) {
    let Ok(rows) = admin.query("SELECT datname::text FROM pg_database WHERE datname LIKE 'cms\\_scratch\\_%'", &[])
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        if scratch_created(&name).is_some_and(|t| now.saturating_sub(t) > LEFTOVER_AGE.as_secs()) {
            drop_database(admin, &name);
        }
    }
}

fn drop_database(admin: &mut Client, name: &str) {
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    // WITH (FORCE) (PostgreSQL 13+) ends sessions still connected; plain DROP before that.
    if admin.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")).is_err() {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"));
    }
}

// --- scripts -----------------------------------------------------------------------------------

/// Splits a SQL script into statements (with their byte offsets) at the `;`s that end one:
/// not inside quotes, comments, dollar quotes, or the `BEGIN … END` body of an SQLite
/// trigger / a PostgreSQL `BEGIN ATOMIC` function (where `CASE … END` nests).
fn split_script(sql: &str, lexer: Lexer) -> Vec<(usize, &str)> {
    let tokens = tokenize(sql, lexer);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut in_body = false;
    let mut case_depth = 0usize;
    let mut is_trigger = false;
    for (i, t) in tokens.iter().enumerate() {
        let first = *start.get_or_insert(i);
        if i == first {
            is_trigger = false;
            in_body = false;
            case_depth = 0;
        }
        if t.kind == TokenKind::Word {
            if i <= first + 2 && t.is_word("TRIGGER") {
                is_trigger = true;
            } else if t.is_word("BEGIN")
                && !in_body
                && (is_trigger || tokens.get(i + 1).is_some_and(|n| n.is_word("ATOMIC")))
            {
                in_body = true;
            } else if in_body && t.is_word("CASE") {
                case_depth += 1;
            } else if in_body && t.is_word("END") {
                if case_depth > 0 {
                    case_depth -= 1;
                } else {
                    in_body = false;
                }
            }
        }
        if t.is(";") && !in_body {
            let from = tokens[first].start;
            if i > first {
                out.push((from, sql[from..t.start].trim_end()));
            }
            start = None;
        }
    }
    if let Some(first) = start {
        let from = tokens[first].start;
        out.push((from, sql[from..].trim_end()));
    }
    out
}

// --- redaction ---------------------------------------------------------------------------------

/// `url` with its password (userinfo or `password=` parameter) replaced by `***`. When a
/// password was not percent-encoded, everything from the first `:` after the scheme to the
/// last `@` is hidden: more than the password, never less.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://").map(|i| i + 3) {
        let rest = &out[scheme_end..];
        if let Some(at) = rest.rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                out.replace_range(scheme_end + colon + 1..scheme_end + at, "***");
            }
        }
    }
    let mut search = 0;
    while let Some(p) = out[search..].to_ascii_lowercase().find("password=").map(|p| p + search) {
        let from = p + "password=".len();
        let to = out[from..].find(['&', ' ']).map_or(out.len(), |e| e + from);
        out.replace_range(from..to, "***");
        search = from + 3;
    }
    out
}

/// `message` with the URL's password (as written and percent-decoded) replaced by `***`:
/// for text from the client library, which may echo what it was given.
fn scrub(message: &str, url: &str) -> String {
    let Ok(config) = Config::from_str(url) else { return message.to_string() };
    let Some(password) = config.get_password().map(String::from_utf8_lossy) else { return message.to_string() };
    let mut out = message.to_string();
    if !password.is_empty() {
        out = out.replace(password.as_ref(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(Source::parse("empty").unwrap(), Source::Empty);
        assert_eq!(Source::parse(" EMPTY ").unwrap(), Source::Empty);
        assert_eq!(
            Source::parse("migrations:migrations/sqlite").unwrap(),
            Source::Migrations("migrations/sqlite".into())
        );
        assert_eq!(Source::parse("sql:/tmp/s.sql").unwrap(), Source::Sql("/tmp/s.sql".into()));
        for live in [
            "file:data/sqlite.db",
            "sqlite:x.db",
            "sqlite:///abs/x",
            "data/x.db",
            "x.sqlite3",
            "postgres://u@h/d",
            "postgresql://h/d",
        ] {
            assert_eq!(Source::parse(live).unwrap(), Source::Live(live.into()), "{live}");
        }
        assert_eq!(Source::parse("file:data/x.db").unwrap().dialect().unwrap(), Some(Dialect::Sqlite));
        assert_eq!(Source::parse("postgres://h/d").unwrap().dialect().unwrap(), Some(Dialect::Postgres));
        assert_eq!(Source::parse("sql:x.sql").unwrap().dialect().unwrap(), None);
    }

    #[test]
    fn bad_sources_say_what_is_accepted_without_showing_a_password() {
        for bad in ["mysql://u:s3cret@h/d", "data/notes.txt", "schema.sql", "redis://:s3cret@h"] {
            let e = Source::parse(bad).unwrap_err().to_string();
            assert!(e.contains("migrations:DIR") && e.contains("sql:FILE") && !e.contains("s3cret"), "{e}");
        }
        let e = Source::parse("sql:").unwrap_err().to_string();
        assert!(e.contains("SQL file") && e.contains("sql:schema.sql"), "{e}");
        assert!(Source::parse("file:").is_err());
        assert!(Source::parse("migrations:").is_err());
    }

    #[test]
    fn display_redacts_passwords() {
        let s = Source::parse("postgres://cms:p%40ss@db:5432/cms?sslmode=require").unwrap();
        assert_eq!(s.to_string(), "postgres://cms:***@db:5432/cms?sslmode=require");
        assert_eq!(format!("{s:?}"), "Source(postgres://cms:***@db:5432/cms?sslmode=require)");
        assert_eq!(redact("postgres://u:a/b@c@h/d"), "postgres://u:***@h/d");
        assert_eq!(
            redact("postgres://h/d?user=u&password=x%20y&sslmode=disable"),
            "postgres://h/d?user=u&password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn relative_paths_resolve_against_the_root() {
        let root = Path::new("/project");
        assert_eq!(
            Source::parse("file:data/x.db").unwrap().resolve(root),
            Source::Live("file:/project/data/x.db".into())
        );
        assert_eq!(Source::parse("file:/abs/x.db").unwrap().resolve(root), Source::Live("file:/abs/x.db".into()));
        assert_eq!(Source::parse("migrations:m").unwrap().resolve(root), Source::Migrations("/project/m".into()));
        assert_eq!(Source::parse("sql:/s.sql").unwrap().resolve(root), Source::Sql("/s.sql".into()));
        let pg = Source::parse("postgres://h/d").unwrap();
        assert_eq!(pg.clone().resolve(root), pg);
    }

    #[test]
    fn scripts_split_at_statement_ends_only() {
        let sql = "CREATE TABLE t (a text DEFAULT ';'); -- c;\n/* ; */ CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = CASE WHEN a = 'x' THEN 'y' ELSE a END;\n  DELETE FROM t WHERE a = ';';\nEND;\nSELECT 1";
        let parts: Vec<&str> = split_script(sql, Lexer::Sqlite).into_iter().map(|(_, s)| s).collect();
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[1].starts_with("CREATE TRIGGER") && parts[1].ends_with("END"));
        assert_eq!(parts[2], "SELECT 1");
        let pg = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$; CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3;";
        let parts: Vec<&str> = split_script(pg, Lexer::Postgres).into_iter().map(|(_, s)| s).collect();
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert_eq!(parts[2], "SELECT 3");
    }

    #[test]
    fn scratch_names_carry_their_creation_time() {
        let name = scratch_name(1_700_000_000);
        assert!(name.starts_with("cms_scratch_1700000000_"), "{name}");
        assert_eq!(scratch_created(&name), Some(1_700_000_000));
        assert_ne!(scratch_name(1), scratch_name(1));
        assert_eq!(scratch_created("cms_scratch_x_1"), None);
        assert_eq!(scratch_created("other_1_2"), None);
    }
}
