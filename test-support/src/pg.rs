//! A real PostgreSQL for tests: one fresh, empty database per test.
//!
//! - `TEST_POSTGRES_URL` set: that server; each test gets a `CREATE DATABASE`d database that
//!   is dropped again when its [`TestDb`] is dropped.
//! - Otherwise: one throwaway cluster per test process, started from the machine's binaries
//!   (`/usr/lib/postgresql/<highest version>/bin`): `initdb` into a temp folder, `postgres` on
//!   a free port of 127.0.0.1 (as the `postgres` OS user when running as root). It is shaped
//!   like production: `scram-sha-256` password authentication for every connection (no
//!   `trust`), and the test databases belong to the role [`TEST_ROLE`], whose password
//!   [`TEST_PASSWORD`] holds `@ : / %` and a space, so every [`TestDb::url`] carries a
//!   percent-encoded password and every PostgreSQL test goes through it. The server is
//!   spawned by a thread that lives as long as the process, with `PR_SET_PDEATHSIG = SIGKILL`,
//!   so it dies with the test process however that ends; at a normal exit it is shut down and
//!   its folder removed.
//! - `TEST_POSTGRES_URL` must accept plain (non-TLS) connections from the test helpers
//!   (`sslmode=prefer` falls back to plain); its user needs `CREATEDB`.
//! - Neither: [`database`] returns `None` after a loud `SKIPPED:` line, or panics under
//!   `CI=true`.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};

/// How long the throwaway cluster may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The throwaway cluster's role for the test databases (`LOGIN CREATEDB`, no superuser); each
/// test database is created owned by it.
pub const TEST_ROLE: &str = "cms_test";

/// [`TEST_ROLE`]'s password: every character a URL must percent-encode that production
/// passwords commonly hold (`@`, `:`, `/`, `%` and a space).
pub const TEST_PASSWORD: &str = "p@ss:w/rd% x";

/// The throwaway cluster's superuser (`postgres`) password, used by this harness only.
const SUPERUSER_PASSWORD: &str = "adm/n@p:ss% 0";

/// A database of its own for one test; dropped (`DROP DATABASE … WITH (FORCE)`) on drop.
pub struct TestDb {
    url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// `postgres://…/<name>`: the database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new plain connection to the database (panics when it cannot connect).
    pub fn client(&self) -> Client {
        Client::connect(&self.url, NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test database {}: {e}", self.name))
    }

    /// A connection to the database as the server's administrator (the throwaway cluster's
    /// superuser; with `TEST_POSTGRES_URL`, that URL's role, which may be the test's own).
    pub fn admin_client(&self) -> Client {
        Client::connect(&with_database(&self.admin_url, &self.name), NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test database {} as the administrator: {e}", self.name))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Ok(mut admin) = Client::connect(&self.admin_url, NoTls) else {
            return;
        };
        let quoted = quote_ident(&self.name);
        // WITH (FORCE) (PostgreSQL 13+) ends sessions a test left open; plain DROP otherwise.
        if admin.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")).is_err() {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"));
        }
    }
}

/// A fresh, empty database on a real server, or `None` (after a loud `SKIPPED:` line) when
/// there is neither `TEST_POSTGRES_URL` nor PostgreSQL binaries. Under `CI=true` a missing
/// server is a panic, not a skip.
///
/// ```text
/// let Some(db) = test_support::pg::database() else { return };
/// ```
pub fn database() -> Option<TestDb> {
    let server = match SERVER.get_or_init(init_server) {
        Ok(Some(server)) => server,
        Ok(None) => {
            static SAID: OnceLock<()> = OnceLock::new();
            if crate::under_ci() || SAID.set(()).is_ok() {
                return crate::skip(
                    "no PostgreSQL: neither TEST_POSTGRES_URL nor binaries in /usr/lib/postgresql/*/bin \
                     (apt-get install postgresql, or set TEST_POSTGRES_URL=postgres://user@host/db)",
                );
            }
            return None;
        }
        Err(message) => panic!("{message}"),
    };
    let admin_url = server.admin_url();
    let name = unique_name();
    let mut admin = Client::connect(&admin_url, NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server {}: {e}", server.describe()));
    let owner = match server {
        Server::External { .. } => String::new(),
        Server::Cluster { .. } => format!(" OWNER {}", quote_ident(TEST_ROLE)),
    };
    admin
        .batch_execute(&format!("CREATE DATABASE {}{owner}", quote_ident(&name)))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {}: {e}", server.describe()));
    Some(TestDb { url: with_database(&server.test_url(), &name), name, admin_url })
}

enum Server {
    /// `TEST_POSTGRES_URL`, verbatim.
    External { url: String },
    /// The throwaway cluster of this process.
    Cluster { port: u16 },
}

impl Server {
    /// The superuser's URL on the throwaway cluster; `TEST_POSTGRES_URL` as it is.
    fn admin_url(&self) -> String {
        match self {
            Server::External { url } => url.clone(),
            Server::Cluster { port } => {
                format!("postgres://postgres:{}@127.0.0.1:{port}/postgres", percent_encode(SUPERUSER_PASSWORD))
            }
        }
    }

    /// The URL the tests get (before [`with_database`]): [`TEST_ROLE`] with its
    /// percent-encoded password on the throwaway cluster; `TEST_POSTGRES_URL` as it is.
    fn test_url(&self) -> String {
        match self {
            Server::External { url } => url.clone(),
            Server::Cluster { port } => {
                format!("postgres://{TEST_ROLE}:{}@127.0.0.1:{port}/postgres", percent_encode(TEST_PASSWORD))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Server::External { .. } => "TEST_POSTGRES_URL".into(),
            Server::Cluster { port } => format!("the throwaway cluster on 127.0.0.1:{port}"),
        }
    }
}

static SERVER: OnceLock<Result<Option<Server>, String>> = OnceLock::new();

fn init_server() -> Result<Option<Server>, String> {
    if let Some(url) = std::env::var("TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty()) {
        return Ok(Some(Server::External { url: url.trim().to_string() }));
    }
    let Some(bin) = find_bin_dir() else {
        return Ok(None);
    };
    start_cluster(&bin).map(|port| Some(Server::Cluster { port }))
}

/// `/usr/lib/postgresql/<N>/bin` of the highest version that has `initdb` and `postgres`.
fn find_bin_dir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version: Vec<u32> =
                e.file_name().to_str()?.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

// --- the throwaway cluster -------------------------------------------------------------------

/// The postmaster's pid while it runs (0 when none), for the exit handler.
static SERVER_PID: AtomicI32 = AtomicI32::new(0);
/// True between spawning the postmaster and reaping it.
static SERVER_ALIVE: AtomicBool = AtomicBool::new(false);
/// The cluster's folder, removed at exit.
static CLUSTER_DIR: OnceLock<PathBuf> = OnceLock::new();

const DIR_PREFIX: &str = "cms-test-pg-";

fn start_cluster(bin: &Path) -> Result<u16, String> {
    let owner = if unsafe { libc::geteuid() } == 0 {
        Some(passwd_ids("postgres").ok_or(
            "running as root, but there is no `postgres` OS user to run the throwaway PostgreSQL \
             cluster as (initdb refuses root); create one (adduser --system --group postgres) or \
             set TEST_POSTGRES_URL",
        )?)
    } else {
        None
    };

    let parent = cluster_parent(owner.is_some());
    remove_stale_clusters(&parent);
    let base = parent.join(format!("{DIR_PREFIX}{}-{}", std::process::id(), nanos()));
    fs::DirBuilder::new().mode(0o700).create(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let _ = CLUSTER_DIR.set(base.clone());
    // SAFETY: registering a plain `extern "C" fn` that touches only atomics and the file system.
    unsafe { libc::atexit(stop_cluster) };
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&base, Some(uid), Some(gid))
            .map_err(|e| format!("cannot chown {} to postgres: {e}", base.display()))?;
    }
    let data = base.join("data");
    let log_path = base.join("postgres.log");

    // Password authentication (scram-sha-256) for every connection, local and TCP, as in
    // production; initdb reads the superuser's password from a 0600 file, removed right after.
    let pwfile = base.join("superuser-password");
    write_private(&pwfile, &format!("{SUPERUSER_PASSWORD}\n"), owner)?;
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["--auth=scram-sha-256", "-U", "postgres", "--encoding=UTF8", "--locale=C", "--no-sync"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .current_dir(&base)
        .env_remove("PGDATA")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    as_owner(&mut initdb, owner);
    let out = initdb.output().map_err(|e| format!("cannot run {}: {e}", bin.join("initdb").display()));
    let _ = fs::remove_file(&pwfile);
    let out = out?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }

    let guardian = Guardian::spawn();
    let mut last_error = String::new();
    for _attempt in 0..5 {
        let port = free_port()?;
        let log = fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let _ = fs::set_permissions(&log_path, fs::Permissions::from_mode(0o644));
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&base)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"])
            .current_dir(&base)
            .env_remove("PGDATA")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        as_owner(&mut cmd, owner);
        // SAFETY: prctl is async-signal-safe; it makes the kernel kill the server when the
        // thread that spawned it (the guardian, which never returns) goes away with the process.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let pid = guardian.spawn_child(cmd)?;
        match wait_ready(port, &guardian) {
            Ok(mut client) => {
                create_test_role(&mut client)?;
                return Ok(port);
            }
            Err(Failure::Exited(status)) => {
                let log = read_log(&log_path);
                let port_taken = log.contains("could not bind") || log.contains("already in use");
                last_error = format!(
                    "the throwaway PostgreSQL server exited ({status}) before accepting connections; its log ({}):\n{log}",
                    log_path.display()
                );
                if !port_taken {
                    break;
                }
            }
            Err(Failure::Timeout) => {
                // SAFETY: signalling the child we spawned, which has not been reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                last_error = format!(
                    "the throwaway PostgreSQL server did not accept connections on 127.0.0.1:{port} within {} s; its log ({}):\n{}",
                    READY_TIMEOUT.as_secs(),
                    log_path.display(),
                    read_log(&log_path)
                );
                break;
            }
        }
    }
    Err(last_error)
}

enum Failure {
    Exited(String),
    Timeout,
}

/// Polls until the superuser can log in (by password, over TCP); its connection.
fn wait_ready(port: u16, guardian: &Guardian) -> Result<Client, Failure> {
    let started = Instant::now();
    let mut config = postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .password(SUPERUSER_PASSWORD)
        .dbname("postgres")
        .connect_timeout(Duration::from_secs(2));
    loop {
        if let Ok(status) = guardian.exited.try_recv() {
            return Err(Failure::Exited(status));
        }
        if let Ok(mut client) = config.connect(NoTls) {
            if client.simple_query("SELECT 1").is_ok() {
                return Ok(client);
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(Failure::Timeout);
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// [`TEST_ROLE`]: may log in (by its password) and create databases, nothing more.
fn create_test_role(admin: &mut Client) -> Result<(), String> {
    admin
        .batch_execute(&format!(
            "SET password_encryption = 'scram-sha-256'; CREATE ROLE {} LOGIN CREATEDB PASSWORD {}",
            quote_ident(TEST_ROLE),
            quote_literal(TEST_PASSWORD)
        ))
        .map_err(|e| format!("cannot create the test role {TEST_ROLE} on the throwaway cluster: {e}"))
}

/// The thread that spawns the server and lives as long as the process: `PR_SET_PDEATHSIG`
/// fires when the spawning *thread* exits, so it must never return.
struct Guardian {
    requests: mpsc::Sender<Command>,
    spawned: mpsc::Receiver<Result<i32, String>>,
    exited: mpsc::Receiver<String>,
}

impl Guardian {
    fn spawn() -> Guardian {
        let (req_tx, req_rx) = mpsc::channel::<Command>();
        let (spawned_tx, spawned_rx) = mpsc::channel();
        let (exited_tx, exited_rx) = mpsc::channel();
        thread::Builder::new()
            .name("test-postgres-guardian".into())
            .spawn(move || {
                while let Ok(mut cmd) = req_rx.recv() {
                    match cmd.spawn() {
                        Err(e) => {
                            let _ = spawned_tx.send(Err(format!("cannot start {:?}: {e}", cmd.get_program())));
                        }
                        Ok(mut child) => {
                            SERVER_PID.store(child.id() as i32, Ordering::SeqCst);
                            SERVER_ALIVE.store(true, Ordering::SeqCst);
                            let _ = spawned_tx.send(Ok(child.id() as i32));
                            let status = child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
                            SERVER_ALIVE.store(false, Ordering::SeqCst);
                            SERVER_PID.store(0, Ordering::SeqCst);
                            let _ = exited_tx.send(status);
                        }
                    }
                }
                loop {
                    thread::park();
                }
            })
            .expect("cannot spawn the PostgreSQL guardian thread");
        Guardian { requests: req_tx, spawned: spawned_rx, exited: exited_rx }
    }

    fn spawn_child(&self, cmd: Command) -> Result<i32, String> {
        self.requests.send(cmd).map_err(|_| "the PostgreSQL guardian thread is gone".to_string())?;
        self.spawned.recv().map_err(|_| "the PostgreSQL guardian thread is gone".to_string())?
    }
}

/// At process exit: an immediate shutdown of the server (it releases its shared memory),
/// SIGKILL if it lingers, then the cluster's folder is removed. Best effort.
extern "C" fn stop_cluster() {
    let pid = SERVER_PID.load(Ordering::SeqCst);
    if pid > 0 && SERVER_ALIVE.load(Ordering::SeqCst) {
        // SAFETY: the pid is our unreaped child while SERVER_ALIVE is set.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        let started = Instant::now();
        while SERVER_ALIVE.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(5));
        }
        if SERVER_ALIVE.load(Ordering::SeqCst) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let started = Instant::now();
            while SERVER_ALIVE.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(1) {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
    if let Some(dir) = CLUSTER_DIR.get() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Where the cluster's folder goes: the temp dir, unless the server runs as `postgres` and
/// cannot reach it (a root-only `TMPDIR`); then `/tmp`.
fn cluster_parent(as_postgres: bool) -> PathBuf {
    let tmp = std::env::temp_dir();
    let reachable = tmp.ancestors().all(|dir| fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if as_postgres && !reachable {
        PathBuf::from("/tmp")
    } else {
        tmp
    }
}

/// Folders of clusters whose test process is gone (killed before its exit handler ran).
fn remove_stale_clusters(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Writes `text` to a new file only its owner (the server's OS user) can read.
fn write_private(path: &Path, text: &str, owner: Option<(u32, u32)>) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("cannot chown {} to postgres: {e}", path.display()))?;
    }
    Ok(())
}

fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
        if let Some(home) = passwd_home("postgres") {
            cmd.env("HOME", home);
        }
        cmd.env("USER", "postgres").env("LOGNAME", "postgres");
    }
}

/// uid and gid of an OS user, from /etc/passwd.
fn passwd_ids(user: &str) -> Option<(u32, u32)> {
    let line = passwd_line(user)?;
    let f: Vec<&str> = line.split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

fn passwd_home(user: &str) -> Option<String> {
    passwd_line(user)?.split(':').nth(5).map(str::to_string)
}

fn passwd_line(user: &str) -> Option<String> {
    fs::read_to_string("/etc/passwd").ok()?.lines().find(|l| l.split(':').next() == Some(user)).map(str::to_string)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

fn nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

// --- names and URLs --------------------------------------------------------------------------

/// `cms_test_<pid>_<n>_<time>`: unique per test, across processes and runs on a shared server.
fn unique_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() % 1_000_000_000);
    format!("cms_test_{}_{n}_{t}", std::process::id())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `text` for a URL's userinfo: everything but RFC 3986's unreserved characters
/// percent-encoded.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `url` with its database (the path) replaced by `name`; query parameters are kept, a
/// `dbname=` parameter dropped.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    let kept: Vec<&str> = query.split('&').filter(|kv| !kv.is_empty() && !kv.starts_with("dbname=")).collect();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

/// How many sessions the program `application` (its `application_name`: `pg_dump`,
/// `pg_restore`…) has on the database `client` is connected to.
pub fn sessions_of(client: &mut Client, application: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            &[&application],
        )
        .unwrap()
        .get(0)
}

/// How many of those ([`sessions_of`]) wait for a lock.
pub fn sessions_waiting_for_a_lock(client: &mut Client, application: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'",
            &[&application],
        )
        .unwrap()
        .get(0)
}

/// The PostgreSQL binaries' folder this process would use (for tests that need `psql` or
/// `pg_dump`), if any.
pub fn bin_dir() -> Option<PathBuf> {
    find_bin_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "t2"), "postgres://u@h/t2");
        assert_eq!(
            with_database("postgresql://h/x?dbname=x&application_name=a", "t3"),
            "postgresql://h/t3?application_name=a"
        );
    }

    #[test]
    fn passwords_in_urls_are_percent_encoded() {
        assert_eq!(percent_encode(TEST_PASSWORD), "p%40ss%3Aw%2Frd%25%20x");
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        let url = format!("postgres://{TEST_ROLE}:{}@127.0.0.1:5432/db", percent_encode(TEST_PASSWORD));
        let config: postgres::Config = url.parse().unwrap();
        assert_eq!(config.get_password(), Some(TEST_PASSWORD.as_bytes()));
        assert_eq!(config.get_user(), Some(TEST_ROLE));
    }

    #[test]
    fn passwd_lookup() {
        assert_eq!(passwd_ids("root"), Some((0, 0)));
        assert_eq!(passwd_ids("no-such-user-here"), None);
    }
}
