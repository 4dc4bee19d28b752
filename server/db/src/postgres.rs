//! PostgreSQL: connections (sslmode, bounded connect time, password never printed) and the
//! migration driver (one transaction per migration, advisory lock on a dedicated connection).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};

use crate::error::DbError;
use crate::migrate::journal::Dialect;
use crate::migrate::migrator::{
    aftermath, applied_once_index_sql, applied_twice, Driver, MigrationLock, Prepared, Record, MIGRATIONS_SCHEMA,
};
use crate::migrate::plan::AppliedRow;
use crate::migrate::statements::{leaves_transaction_open, RunMode};
use crate::sqlite::now_millis;
use crate::url::{redact, scrub};

/// Connecting gives up after this long unless the URL sets `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory-lock key of `migrate` ("drizzle" in ASCII).
pub const LOCK_KEY: i64 = 0x0064_7269_7a7a_6c65;

/// `sslmode` as libpq spells it; tokio-postgres only knows disable/prefer/require, so we
/// take the parameter off the URL and build the TLS connector ourselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tls {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

struct ParsedUrl {
    config: Config,
    tls: Tls,
    root_cert: Option<String>,
}

fn parse(url: &str) -> Result<ParsedUrl, DbError> {
    // The client library's own words may echo pieces of the URL (an unknown option, a value):
    // they are scrubbed of anything that may be the password.
    let bad = |m: String| DbError::Url(format!("invalid PostgreSQL URL {}: {}", redact(url), scrub(&m, url)));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut tls = Tls::Prefer;
    let mut root_cert = None;
    let mut keep = Vec::new();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "sslmode" => {
                tls = match v {
                    "disable" => Tls::Disable,
                    "allow" | "prefer" => Tls::Prefer,
                    "require" => Tls::Require,
                    "verify-ca" => Tls::VerifyCa,
                    "verify-full" => Tls::VerifyFull,
                    other => {
                        return Err(bad(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )))
                    }
                }
            }
            "sslrootcert" => root_cert = Some(v.to_string()),
            "sslcert" | "sslkey" | "sslcrl" | "sslcompression" => {
                return Err(bad(format!("{k} is not supported; use sslmode and sslrootcert")))
            }
            _ => keep.push(kv),
        }
    }
    let rebuilt = if keep.is_empty() { base.to_string() } else { format!("{base}?{}", keep.join("&")) };
    let mut config: Config = rebuilt.parse().map_err(|e: postgres::Error| bad(e.to_string()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("cms-xtask");
    }
    config.ssl_mode(match tls {
        Tls::Disable => SslMode::Disable,
        Tls::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    Ok(ParsedUrl { config, tls, root_cert })
}

/// The password our connections send for `url`, percent-decoded (from the userinfo or a
/// `password=` parameter): what a libpq child (`pg_dump`, `pg_restore`) must be given in
/// `PGPASSWORD` to authenticate as we do.
pub fn password(url: &str) -> Result<Option<Vec<u8>>, DbError> {
    Ok(parse(url)?.config.get_password().map(<[u8]>::to_vec))
}

/// Whether every host of the URL is this machine (loopback or a Unix socket).
pub fn is_local(url: &str) -> Result<bool, DbError> {
    let parsed = parse(url)?;
    let hosts = parsed.config.get_hosts();
    Ok(!hosts.is_empty()
        && hosts.iter().all(|h| match h {
            postgres::config::Host::Tcp(name) => matches!(name.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]"),
            postgres::config::Host::Unix(_) => true,
        }))
}

/// Connects, giving up after the connect timeout even when a server accepts the TCP
/// connection and then says nothing. Errors show the URL with its password redacted.
pub fn connect(url: &str) -> Result<Client, DbError> {
    let parsed = parse(url)?;
    let fail = |message: String| DbError::PostgresConnect { url: redact(url), message: scrub(&message, url) };
    let deadline = parsed.config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT) + Duration::from_secs(1);
    let tls = parsed.tls;
    let connector =
        if tls == Tls::Disable { None } else { Some(tls_connector(tls, parsed.root_cert.as_deref()).map_err(fail)?) };
    let config = parsed.config;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = match connector {
            None => config.connect(NoTls),
            Some(c) => config.connect(c),
        };
        let _ = tx.send(result);
    });
    match rx.recv_timeout(deadline) {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => {
            Err(fail(format!("{}; check that the server is running and DATABASE_URL is right", pg_message(&e))))
        }
        Err(_) => Err(fail(format!(
            "no answer within {} s; check the host and port, or set connect_timeout in the URL",
            deadline.as_secs()
        ))),
    }
}

/// What a connection pool needs to open connections exactly as [`connect`] does: the parsed
/// configuration (connect timeout, application name, `sslmode`) and the TLS connector for it
/// (`sslrootcert`, verification as libpq's `sslmode` says; unused with `sslmode=disable`).
pub fn pool_parts(
    url: &str,
    application_name: &str,
) -> Result<(Config, postgres_native_tls::MakeTlsConnector), DbError> {
    let mut parsed = parse(url)?;
    let fail = |message: String| DbError::PostgresConnect { url: redact(url), message: scrub(&message, url) };
    if !url.contains("application_name=") {
        parsed.config.application_name(application_name);
    }
    let tls = if parsed.tls == Tls::Disable { Tls::Prefer } else { parsed.tls };
    let connector = tls_connector(tls, parsed.root_cert.as_deref()).map_err(fail)?;
    Ok((parsed.config, connector))
}

/// The TLS connector for `tls` and `root_cert`, built once per process: building one loads and
/// parses the system's CA certificates (tens of milliseconds), and a command connects many
/// times (status, scratch databases, their drops).
fn tls_connector(tls: Tls, root_cert: Option<&str>) -> Result<postgres_native_tls::MakeTlsConnector, String> {
    type Cache = Vec<((Tls, Option<String>), postgres_native_tls::MakeTlsConnector)>;
    static BUILT: std::sync::Mutex<Cache> = std::sync::Mutex::new(Vec::new());
    let key = (tls, root_cert.map(str::to_string));
    if let Some((_, c)) = BUILT.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let built = build_tls_connector(tls, root_cert)?;
    BUILT.lock().unwrap_or_else(|e| e.into_inner()).push((key, built.clone()));
    Ok(built)
}

fn build_tls_connector(tls: Tls, root_cert: Option<&str>) -> Result<postgres_native_tls::MakeTlsConnector, String> {
    let mut b = native_tls::TlsConnector::builder();
    match tls {
        // libpq's prefer/require encrypt without verifying the certificate.
        Tls::Prefer | Tls::Require => {
            b.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true);
        }
        Tls::VerifyCa => {
            b.danger_accept_invalid_hostnames(true);
        }
        Tls::VerifyFull | Tls::Disable => {}
    }
    if let Some(path) = root_cert {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| format!("sslrootcert {path} is not a PEM certificate: {e}"))?;
        b.add_root_certificate(cert);
    }
    let c = b.build().map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(postgres_native_tls::MakeTlsConnector::new(c))
}

pub use crate::error::pg_message;

fn db_err(context: &'static str) -> impl Fn(postgres::Error) -> DbError {
    move |e| DbError::failed(context, e)
}

pub struct PostgresDriver {
    client: Client,
    url: String,
}

impl PostgresDriver {
    pub fn connect(url: &str) -> Result<PostgresDriver, DbError> {
        Ok(PostgresDriver { client: connect(url)?, url: url.to_string() })
    }

    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

const QUALIFIED: &str = "\"drizzle\".\"__drizzle_migrations\"";

impl Driver for PostgresDriver {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn applied(&mut self) -> Result<Vec<AppliedRow>, DbError> {
        crate::migrate::migrator::applied_rows(&mut self.client)
    }

    fn prepare_bookkeeping(&mut self) -> Result<(), DbError> {
        // drizzle-orm's own DDL, then our extra nullable columns.
        self.client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{MIGRATIONS_SCHEMA}\";
                 CREATE TABLE IF NOT EXISTS {QUALIFIED} (
                    id SERIAL PRIMARY KEY,
                    hash text NOT NULL,
                    created_at bigint
                 );
                 ALTER TABLE {QUALIFIED} ADD COLUMN IF NOT EXISTS name text,
                    ADD COLUMN IF NOT EXISTS applied_at bigint,
                    ADD COLUMN IF NOT EXISTS duration_ms bigint;"
            ))
            .map_err(db_err("creating drizzle.__drizzle_migrations"))?;
        self.client.batch_execute(&applied_once_index_sql(QUALIFIED)).map_err(applied_twice)
    }

    fn apply(&mut self, p: &Prepared<'_>, record: &Record<'_>) -> Result<(), DbError> {
        let started = Instant::now();
        let file = p.file.path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        let stmt_err = |number: usize, line: usize, e: postgres::Error| DbError::Statement {
            tag: p.migration.tag.clone(),
            file: file.clone(),
            number,
            line,
            cause: Box::new(e.into()),
            aftermath: aftermath(p, number),
        };
        let insert = format!("INSERT INTO {QUALIFIED} (\"hash\", \"created_at\", \"name\", \"applied_at\", \"duration_ms\") VALUES ($1, $2, $3, $4, $5)");
        let e = db_err("recording the migration");
        match &p.mode {
            RunMode::Transaction | RunMode::TransactionForeignKeysOff => {
                let mut tx = self.client.transaction().map_err(&e)?;
                for st in &p.statements {
                    tx.batch_execute(&st.sql).map_err(|err| stmt_err(st.number, st.line, err))?;
                }
                let ms = started.elapsed().as_millis() as i64;
                tx.execute(&insert, &[&record.hash, &record.created_at, &record.name, &now_millis(), &ms])
                    .map_err(&e)?;
                tx.commit().map_err(&e)
            }
            RunMode::SelfManaged { opens_inside_transaction, .. } => {
                if *opens_inside_transaction {
                    self.client.batch_execute("BEGIN").map_err(&e)?;
                }
                for st in &p.statements {
                    if let Err(err) = self.client.batch_execute(&st.sql) {
                        let _ = self.client.batch_execute("ROLLBACK");
                        return Err(stmt_err(st.number, st.line, err));
                    }
                }
                let ms = started.elapsed().as_millis() as i64;
                self.client
                    .execute(&insert, &[&record.hash, &record.created_at, &record.name, &now_millis(), &ms])
                    .map_err(&e)?;
                // A transaction the file left open is closed here, as drizzle-orm's final
                // COMMIT would close it.
                if leaves_transaction_open(&p.statements, *opens_inside_transaction) {
                    self.client.batch_execute("COMMIT").map_err(&e)?;
                }
                Ok(())
            }
        }
    }

    fn lock(&mut self, timeout: Duration) -> Result<MigrationLock, DbError> {
        // A dedicated connection: the lock is the session's, and closing it releases the lock
        // even if we die.
        let mut client = connect(&self.url)?;
        let started = Instant::now();
        loop {
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
                .map_err(db_err("taking the migration lock"))?
                .get(0);
            if got {
                return Ok(MigrationLock::new(AdvisoryLock(client)));
            }
            if started.elapsed() >= timeout {
                return Err(DbError::LockTimeout {
                    waited_secs: timeout.as_secs(),
                    detail: " (pg_try_advisory_lock)".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

struct AdvisoryLock(Client);

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        let _ = self.0.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]);
    }
}

/// What a libpq client (`pg_dump`, `pg_restore`, `psql`) needs to connect as we do: the URL
/// without its password, for the command line, and the password, percent-decoded, for the
/// child's `PGPASSWORD`.
///
/// The password is the one our own connections use (the parsed connection configuration of
/// [`password`]), so the child authenticates exactly as we do. The URL
/// keeps everything else as written: a percent-encoded user name stays encoded (libpq decodes
/// URIs itself). The userinfo ends at the first `@`, as our connection reads it, so a `/`,
/// `?` or `#` the password should have encoded does not change what libpq connects to.
pub fn split_password(url: &str) -> (String, Option<std::ffi::OsString>) {
    let mut out = url.to_string();
    let mut written = None;
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        if let Some(at) = out[auth_start..].find('@').map(|i| auth_start + i) {
            if let Some(colon) = out[auth_start..at].find(':').map(|i| auth_start + i) {
                written = Some(crate::url::percent_decode(&out.as_bytes()[colon + 1..at]));
                out.replace_range(colon..at, "");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q);
        let mut kept = Vec::new();
        for kv in query[1..].split('&') {
            match kv.split_once('=') {
                Some((k, v)) if crate::url::is_password_key(k.as_bytes()) => {
                    written = Some(crate::url::percent_decode(v.as_bytes()))
                }
                _ => kept.push(kv),
            }
        }
        out = if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) };
    }
    let password = match password(url) {
        Ok(parsed) => parsed,
        // Not a URL we can connect with either; the written form is the best guess.
        Err(_) => written,
    };
    (out, password.map(std::os::unix::ffi::OsStringExt::from_vec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn passwords_split_off() {
        assert_eq!(split_password("postgres://u:pw@h/db"), ("postgres://u@h/db".into(), Some("pw".into())));
        assert_eq!(
            split_password("postgres://u@h/db?password=x&sslmode=require"),
            ("postgres://u@h/db?sslmode=require".into(), Some("x".into()))
        );
        assert_eq!(split_password("postgres://u@h/db"), ("postgres://u@h/db".into(), None));
    }

    #[test]
    fn split_passwords_are_decoded_as_our_connection_decodes_them() {
        // What libpq children get in PGPASSWORD is what the postgres crate sends.
        let url = "postgres://cms:p%40ss%3Aw%2Frd%25%20x@127.0.0.1:5432/db?sslmode=disable";
        let (rest, password) = split_password(url);
        assert_eq!(rest, "postgres://cms@127.0.0.1:5432/db?sslmode=disable");
        assert_eq!(password.as_deref(), Some("p@ss:w/rd% x".as_ref()));
        let config: postgres::Config = url.parse().unwrap();
        assert_eq!(password.unwrap().as_bytes(), config.get_password().unwrap());

        // A percent-encoded user name stays encoded: libpq decodes the URI itself.
        assert_eq!(
            split_password("postgresql://us%40er:pw%2F@h/db"),
            ("postgresql://us%40er@h/db".into(), Some("pw/".into()))
        );
        // libpq's sslmode values the postgres crate does not know do not get in the way.
        assert_eq!(
            split_password("postgres://u:a%20b@h/db?sslmode=verify-full&application_name=x"),
            ("postgres://u@h/db?sslmode=verify-full&application_name=x".into(), Some("a b".into()))
        );
        // A password parameter, encoded, wins over the userinfo as in our connection.
        assert_eq!(
            split_password("postgres://u:one@h/db?password=tw%26o%3D&sslmode=require"),
            ("postgres://u@h/db?sslmode=require".into(), Some("tw&o=".into()))
        );
        // Not UTF-8 once decoded: passed on byte for byte.
        let (_, raw) = split_password("postgres://u:%FFx@h/db");
        assert_eq!(raw.unwrap().as_bytes(), b"\xFFx");
        // Unencoded `/`, `?` or `#` in the password: the URL libpq gets names the same host and
        // database our connection uses, and the password is all of it.
        for (url, pw) in [
            ("postgres://u:pa/ss@h/db", "pa/ss"),
            ("postgres://u:pa?ss@h/db", "pa?ss"),
            ("postgres://u:pa#ss@h/db", "pa#ss"),
        ] {
            assert_eq!(split_password(url), ("postgres://u@h/db".into(), Some(pw.into())), "{url}");
        }
        // An empty password is a password.
        assert_eq!(split_password("postgres://u:@h/db"), ("postgres://u@h/db".into(), Some("".into())));
    }

    #[test]
    fn sslmodes_are_taken_off_the_url() {
        let p = parse("postgres://u:p@h:5433/db?sslmode=verify-full&sslrootcert=/x.pem&application_name=a").unwrap();
        assert_eq!(p.tls, Tls::VerifyFull);
        assert_eq!(p.root_cert.as_deref(), Some("/x.pem"));
        assert_eq!(p.config.get_application_name(), Some("a"));
        assert_eq!(p.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(parse("postgres://u@h/db?sslmode=disable").unwrap().tls, Tls::Disable);
        assert_eq!(parse("postgres://u@h/db").unwrap().tls, Tls::Prefer);
        let err = parse("postgres://u:secret@h/db?sslmode=bogus").err().unwrap().to_string();
        assert!(err.contains("sslmode=bogus") && !err.contains("secret"), "{err}");
    }
}
