//! Where a schema comes from. Every source becomes a database that is then introspected, so
//! both sides of a comparison are normalised by the same engine:
//!
//! | spelled | becomes |
//! |---|---|
//! | `file:PATH`, `sqlite:PATH`, `PATH.db` | a live SQLite database, opened read-only (never created) |
//! | `postgres://…`, `postgresql://…` | a live PostgreSQL database, read in a read-only transaction |
//! | `migrations:DIR` | the Drizzle folder replayed by our migrator into a scratch database |
//! | `sql:FILE` | the file executed into a scratch database |
//! | `schema` | the code schema (`cms_schema.rs`): its DDL executed into a scratch database |
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
use postgres::Client;
use rusqlite::Connection;

use super::declare::SchemaDef;
use super::introspect::{self, tokenize, IntrospectError, Lexer, SchemaFilter};
use super::model::{Dialect, Schema};
use crate::migrate::journal::MigrationSet;
use crate::migrate::migrator::{migrate, MigrateOptions};
use crate::migrate::statements::split;
use crate::postgres::{connect, pg_message, PostgresDriver};
use crate::sqlite::{open_in_memory, open_read_only, SqliteDriver};
use crate::url::{redact, scrub};
use crate::{DatabaseUrl, DbError};

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
    /// The code schema (`schema`): [`crate::cms_schema`]'s DDL run into a scratch database.
    Schema,
}

/// Why a source could not become a schema. Messages never show a password.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("unknown schema source `{0}`: use file:PATH or PATH.db (SQLite), postgres://USER@HOST/DB (PostgreSQL), migrations:DIR, sql:FILE, schema or empty")]
    Unknown(String),
    #[error("`{spelled}` names no {what}; write e.g. {example}")]
    Incomplete { spelled: String, what: &'static str, example: &'static str },
    #[error("the SQLite database {} does not exist (a schema source is only read, never created); check the path", path.display())]
    MissingDatabase { path: PathBuf },
    #[error("cannot read {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// A statement of a `sql:` file failed.
    #[error("{}:{line}: {message}", file.display())]
    Script { file: PathBuf, line: usize, message: String },
    /// A migration of a `migrations:` folder failed (the cause names the migration, the
    /// statement and its line).
    #[error("replaying {}", folder.display())]
    Replay {
        folder: PathBuf,
        #[source]
        source: Box<DbError>,
    },
    #[error("{} is a {found} migrations folder, but the schema it is compared with is {expected}", folder.display())]
    DialectMismatch { folder: PathBuf, found: Dialect, expected: Dialect },
    #[error("cannot create a scratch database on {server}: the role {role} may not create databases; pass --dev-url URL naming a server and role that may (CREATEDB), e.g. a local development server")]
    NoCreateDb { server: String, role: String },
    #[error("{what} needs a PostgreSQL server for a scratch database; pass --dev-url URL")]
    NoScratchServer { what: String },
    #[error("{context}: {message}")]
    Database { context: String, message: String },
    /// Opening or connecting failed (the message names the database, password redacted).
    #[error(transparent)]
    Db(Box<DbError>),
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
}

impl From<DbError> for SourceError {
    fn from(e: DbError) -> SourceError {
        SourceError::Db(Box::new(e))
    }
}

impl Source {
    /// Parses `file:…`, `sqlite:…`, a bare path ending in `.db`, `.db3`, `.sqlite` or
    /// `.sqlite3`, `postgres://…`, `postgresql://…`, `migrations:DIR`, `sql:FILE` and `empty`.
    pub fn parse(raw: &str) -> Result<Source, SourceError> {
        let s = raw.trim();
        let lower = s.to_ascii_lowercase();
        if lower == "empty" {
            return Ok(Source::Empty);
        }
        if lower == "schema" {
            return Ok(Source::Schema);
        }
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Source::Live(s.to_string()));
        }
        for (prefix, what, example) in [
            ("migrations:", "migrations folder", "migrations:migrations/sqlite"),
            ("sql:", "SQL file", "sql:schema.sql"),
        ] {
            if lower.starts_with(prefix) {
                let path = &s[prefix.len()..];
                if path.is_empty() {
                    return Err(SourceError::Incomplete { spelled: redact(s), what, example });
                }
                let path = PathBuf::from(path);
                return Ok(if prefix == "sql:" { Source::Sql(path) } else { Source::Migrations(path) });
            }
        }
        let is_url = ["sqlite:", "file:"].iter().any(|p| lower.starts_with(p));
        let is_db_file = [".db", ".db3", ".sqlite", ".sqlite3"].iter().any(|ext| lower.ends_with(ext));
        if is_url || is_db_file && !s.contains("://") {
            return match DatabaseUrl::parse(s) {
                Ok(DatabaseUrl::Sqlite { .. }) => Ok(Source::Live(s.to_string())),
                _ => Err(SourceError::Incomplete {
                    spelled: redact(s),
                    what: "database file",
                    example: "file:data/sqlite.db",
                }),
            };
        }
        Err(SourceError::Unknown(redact(s)))
    }

    /// Relative paths made absolute against `root` (the project root), never the current
    /// directory.
    pub fn resolve(self, root: &Path) -> Source {
        match self {
            Source::Live(url) => match DatabaseUrl::parse(&url) {
                Ok(DatabaseUrl::Sqlite { path }) if path.is_relative() && path.as_os_str() != ":memory:" => {
                    Source::Live(format!("file:{}", root.join(path).display()))
                }
                _ => Source::Live(url),
            },
            Source::Migrations(p) if p.is_relative() => Source::Migrations(root.join(p)),
            Source::Sql(p) if p.is_relative() => Source::Sql(root.join(p)),
            other => other,
        }
    }

    /// The dialect the source itself determines: a live database's, or a migrations folder's
    /// (its journal says). `sql:` and `empty` take the dialect of what they are compared to.
    pub fn dialect(&self) -> Result<Option<Dialect>, SourceError> {
        match self {
            Source::Live(url) => Ok(Some(DatabaseUrl::parse(url)?.dialect())),
            Source::Migrations(dir) => Ok(Some(MigrationSet::load(dir)?.dialect)),
            Source::Sql(_) | Source::Empty | Source::Schema => Ok(None),
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
            Source::Schema => load_declared(crate::cms_schema::definition(), dialect, scratch),
            Source::Live(url) => match DatabaseUrl::parse(url)? {
                DatabaseUrl::Postgres { url } => read_only_snapshot(&mut connect(&url)?, &url),
                DatabaseUrl::Sqlite { path } => {
                    let conn = open_read_only(&path)?.ok_or(SourceError::MissingDatabase { path })?;
                    Ok(introspect::sqlite(&conn)?)
                }
            },
            Source::Sql(file) => {
                if dialect == Dialect::Postgres && scratch.postgres_url.is_none() {
                    return Err(SourceError::NoScratchServer { what: self.to_string() });
                }
                let sql = std::fs::read_to_string(file)
                    .map_err(|e| SourceError::File { path: file.clone(), message: e.to_string() })?;
                let mut db = ScratchDb::create(dialect, scratch, &self.to_string())?;
                db.execute_script(&sql, file)?;
                db.introspect()
            }
            Source::Migrations(dir) => replay(dir, dialect, scratch, &self.to_string()),
        }
    }
}

/// Replays a Drizzle folder with our migrator into a scratch database and reads it back.
fn replay(dir: &Path, dialect: Dialect, scratch: &ScratchServer, purpose: &str) -> Result<Schema, SourceError> {
    let set = MigrationSet::load(dir)?;
    let found = set.dialect;
    if found != dialect {
        return Err(SourceError::DialectMismatch { folder: dir.to_path_buf(), found, expected: dialect });
    }
    let failed = |source: DbError| SourceError::Replay { folder: dir.to_path_buf(), source: Box::new(source) };
    let options = MigrateOptions::default();
    match ScratchDb::create(dialect, scratch, purpose)? {
        ScratchDb::Sqlite(conn) => {
            let mut driver = SqliteDriver::new(conn, None);
            migrate(&mut driver, &set, &options, &mut |_| {}).map_err(failed)?;
            let conn = driver.connection().expect("the driver keeps its connection");
            Ok(introspect::sqlite(conn)?)
        }
        ScratchDb::Postgres(mut pg) => {
            let mut driver = PostgresDriver::connect(pg.url())?;
            migrate(&mut driver, &set, &options, &mut |_| {}).map_err(failed)?;
            drop(driver);
            Ok(introspect::postgres(pg.client(), SchemaFilter::All)?)
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
            Source::Schema => f.write_str("schema"),
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
    matches!(DatabaseUrl::parse(url), Ok(DatabaseUrl::Postgres { .. }))
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
    /// PostgreSQL: the database each scratch database is a copy of (`CREATE DATABASE …
    /// TEMPLATE`); `None`: `template0`, an empty one. A template holding what a folder expects
    /// but does not create (Supabase's `auth` schema, extensions) lets such folders replay.
    pub template: Option<String>,
}

impl ScratchServer {
    pub fn postgres(url: impl Into<String>) -> ScratchServer {
        ScratchServer { postgres_url: Some(url.into()), template: None }
    }

    /// The same server, with scratch databases copied from `template` (see [`ScratchServer::template`]).
    pub fn with_template(mut self, template: Option<String>) -> ScratchServer {
        self.template = template;
        self
    }

    /// `--dev-url` when given, else the server of the first live PostgreSQL source among
    /// those compared (scratch databases go on the same server as the live one).
    pub fn choose(dev_url: Option<&str>, sources: &[&Source]) -> ScratchServer {
        let url = dev_url.or_else(|| sources.iter().find_map(|s| s.postgres_url()));
        ScratchServer { postgres_url: url.map(String::from), template: None }
    }
}

/// A declared schema as a database has it: [`SchemaDef::ddl`] run into a scratch database (made
/// as `scratch` says) and introspected, so it is normalised exactly as every other schema the
/// engine compares. A declaration that is not valid, or SQL the database refuses, is an error
/// saying so.
pub fn load_declared(def: &SchemaDef, dialect: Dialect, scratch: &ScratchServer) -> Result<Schema, SourceError> {
    def.validate().map_err(|e| SourceError::Database {
        context: "the code schema (server/db/src/cms_schema.rs)".into(),
        message: e.to_string(),
    })?;
    let mut db = ScratchDb::create(dialect, scratch, "the code schema")?;
    let file = Path::new("<the code schema's DDL>");
    // One transaction: one commit instead of one per statement (a server that syncs every
    // commit to disk takes seconds otherwise).
    db.execute_script("BEGIN;", file)?;
    db.execute_script(&def.ddl(dialect), file)?;
    db.execute_script("COMMIT;", file)?;
    db.introspect()
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
            Dialect::Sqlite => Ok(ScratchDb::Sqlite(open_in_memory()?)),
            Dialect::Postgres => {
                let url = server
                    .postgres_url
                    .as_deref()
                    .ok_or_else(|| SourceError::NoScratchServer { what: purpose.to_string() })?;
                Ok(ScratchDb::Postgres(Box::new(PgScratch::create_from(url, server.template.as_deref())?)))
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            ScratchDb::Sqlite(_) => Dialect::Sqlite,
            ScratchDb::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a SQL script statement by statement (split as the migrator splits a file: on
    /// `--> statement-breakpoint` and between statements); a failure names `file`, the line
    /// of the failing statement (PostgreSQL: of the failing token when it says) and the
    /// database's message.
    pub fn execute_script(&mut self, sql: &str, file: &Path) -> Result<(), SourceError> {
        let lexer = match self {
            ScratchDb::Sqlite(_) => Lexer::Sqlite,
            ScratchDb::Postgres(_) => Lexer::Postgres,
        };
        for st in split(self.dialect(), sql) {
            // The line of a byte offset into the statement; without one, of its first token
            // (a statement's leading comments are not where it fails).
            let first_token = tokenize(&st.sql, lexer).first().map_or(0, |t| t.start);
            let line_at = |offset: usize| st.line + st.sql.get(..offset).unwrap_or_default().matches('\n').count();
            let result = match self {
                ScratchDb::Sqlite(conn) => conn.execute_batch(&st.sql).map_err(|e| match e {
                    rusqlite::Error::SqlInputError { msg, offset, .. } if offset >= 0 => {
                        (line_at(offset as usize), msg)
                    }
                    e => (line_at(first_token), e.to_string()),
                }),
                ScratchDb::Postgres(pg) => pg.client().batch_execute(&st.sql).map_err(|e| {
                    // A position is a 1-based character index into the statement.
                    let at = match e.as_db_error().and_then(|d| d.position()) {
                        Some(postgres::error::ErrorPosition::Original(p)) => {
                            st.sql.char_indices().nth((*p as usize).saturating_sub(1)).map_or(first_token, |(i, _)| i)
                        }
                        _ => first_token,
                    };
                    (line_at(at), pg_message(&e))
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
    /// The scratch database's own URL.
    url: String,
    client: Option<Client>,
}

impl PgScratch {
    /// Creates `cms_scratch_<unix seconds>_<random>` from `template0` on the server of
    /// `server_url`, first dropping scratch databases left there more than an hour ago.
    pub fn create(server_url: &str) -> Result<PgScratch, SourceError> {
        PgScratch::create_from(server_url, None)
    }

    /// [`PgScratch::create`] as a copy of the database `template` (`None`: `template0`).
    pub fn create_from(server_url: &str, template: Option<&str>) -> Result<PgScratch, SourceError> {
        let mut admin = connect(server_url)?;
        drop_leftovers(&mut admin, now_secs());
        let name = scratch_name(now_secs());
        let from = template.map_or_else(|| "template0".to_string(), |t| format!("\"{}\"", t.replace('"', "\"\"")));
        if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE {from}")) {
            let role = admin.query_one("SELECT current_user::text", &[]).ok().map(|r| r.get::<_, String>(0));
            let mut failed = create_failed(&e, server_url, role.as_deref());
            if let (Some(t), SourceError::Database { message, .. }) = (template, &mut failed) {
                message.push_str(&format!(
                    " (scratch databases are copies of the template database {t:?}, CMS_SCRATCH_TEMPLATE: it must exist on this server and have no open sessions, connect --dev-url to another database such as postgres)"
                ));
            }
            return Err(failed);
        }
        // From here on the guard drops the database, whatever happens next.
        let url = crate::url::with_database(server_url, &name);
        let mut scratch = PgScratch { name, server_url: server_url.to_string(), url, client: None };
        // Nothing in a scratch database needs to survive a crash: commits need not wait for
        // the WAL flush (a replay of a long folder is one commit per migration).
        admin
            .batch_execute(&format!("ALTER DATABASE \"{}\" SET synchronous_commit TO off", scratch.name))
            .map_err(|e| DbError::failed("configuring the scratch database", e))?;
        scratch.client = Some(connect(&scratch.url)?);
        Ok(scratch)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scratch database's URL (the server's, with the scratch database's name).
    pub fn url(&self) -> &str {
        &self.url
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
        let Ok(mut admin) = connect(&self.server_url) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the project's folder for `dialect` builds against the code schema.
    fn folder_vs_code(dialect: Dialect, scratch: &ScratchServer) -> Vec<String> {
        use crate::schema::diff::{diff, Renames};
        let folder = test_support::fixture::project_migrations(&dialect.to_string());
        let built = Source::Migrations(folder).load(dialect, scratch).unwrap();
        let code = Source::parse("schema").unwrap().load(dialect, scratch).unwrap();
        diff(&built, &code, &Renames::none_are_renames()).unwrap().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_sqlite_folder_builds_exactly_the_code_schema() {
        assert_eq!(folder_vs_code(Dialect::Sqlite, &ScratchServer::default()), Vec::<String>::new());
    }

    #[test]
    fn the_postgres_folder_builds_exactly_the_code_schema() {
        let Some(db) = test_support::pg::database() else { return };
        assert_eq!(folder_vs_code(Dialect::Postgres, &ScratchServer::postgres(db.url())), Vec::<String>::new());
    }

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
    fn scratch_databases_go_on_the_dev_url_or_the_live_server() {
        let live = Source::parse("postgres://u@live/db").unwrap();
        let sql = Source::parse("sql:s.sql").unwrap();
        assert_eq!(ScratchServer::choose(None, &[&sql, &live]).postgres_url.as_deref(), Some("postgres://u@live/db"));
        assert_eq!(
            ScratchServer::choose(Some("postgres://dev/x"), &[&live]).postgres_url.as_deref(),
            Some("postgres://dev/x")
        );
        assert_eq!(ScratchServer::choose(None, &[&sql, &Source::Empty]).postgres_url, None);
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
