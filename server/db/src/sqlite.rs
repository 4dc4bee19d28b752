//! SQLite: connections (WAL, foreign keys, busy timeout) and the migration driver.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OpenFlags};

use crate::error::DbError;
use crate::migrate::journal::Dialect;
use crate::migrate::migrator::{
    aftermath, applied_once_index_sql, applied_twice, Driver, MigrationLock, Prepared, Record, MIGRATIONS_TABLE,
};
use crate::migrate::plan::AppliedRow;
use crate::migrate::statements::{is_foreign_keys_pragma, RunMode};

/// How long a connection waits for another writer before failing with SQLITE_BUSY.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What is at a database path before we open it.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    Nothing,
    /// A regular file that is empty or starts with SQLite's header.
    Database,
}

/// Refuses what cannot be an SQLite database (a folder, `/dev/null`, a FIFO, a text file), with
/// what to do, before SQLite turns it into "disk I/O error" or an empty database.
fn inspect(path: &Path) -> Result<Found, String> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
        Err(e) => return Err(format!("{e}; check DATABASE_URL and the folder's permissions")),
    };
    if let Some(kind) = crate::regular_file::special_kind(&meta) {
        return Err(format!(
            "it is {kind}, not a database file; point DATABASE_URL at an SQLite file (e.g. file:data/sqlite.db)"
        ));
    }
    // The header is left to SQLite (SQLITE_NOTADB, see `explain_open_error`): opening and
    // closing the file here would drop every POSIX lock this process holds on it, the locks
    // of its open SQLite connections included.
    Ok(Found::Database)
}

const NOT_SQLITE: &str = "it is not an SQLite database (it does not start with SQLite's header); check DATABASE_URL, or restore a backup with `cargo xtask restore`";

/// Says what a failed open means when SQLite cannot write next to the file: in WAL mode it
/// needs to create `<name>-wal` and `<name>-shm` in the database's folder.
fn explain_open_error(path: &Path, e: &rusqlite::Error) -> String {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
        return NOT_SQLITE.into();
    }
    let readonly = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied)
    );
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if readonly && !folder_is_writable(folder) {
        format!(
            "{e}: SQLite needs to create {name}-wal and {name}-shm next to the database, and the folder {} is not writable; make it writable (chmod u+w) or move the database to a writable folder",
            folder.display()
        )
    } else if readonly {
        format!("{e}; check that the file and its folder are writable")
    } else {
        e.to_string()
    }
}

/// Whether we may create files in `dir` (tried, not guessed from mode bits: root, ACLs and
/// read-only mounts all answer the same way).
fn folder_is_writable(dir: &Path) -> bool {
    tempfile::Builder::new().prefix(".cms-write-probe").tempfile_in(dir).is_ok()
}

/// Opens (creating it and its folder if needed) a read-write connection with WAL, foreign keys
/// on and a busy timeout. A file marked read-only is refused, whoever runs us (root included).
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let err = |message: String| DbError::SqliteOpen { path: path.to_path_buf(), message };
    inspect(path).map_err(err)?;
    if let Ok(meta) = fs::metadata(path) {
        if meta.permissions().readonly() {
            return Err(err(
                "the file is read-only; make it writable (chmod u+w) or point DATABASE_URL at a writable copy".into(),
            ));
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| err(format!("cannot create its folder {}: {e}", parent.display())))?;
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| err(explain_open_error(path, &e)))?;
    configure(&conn).map_err(|e| err(explain_open_error(path, &e)))?;
    Ok(conn)
}

/// Switches SQLite's legacy double-quoted string literals off (`SQLITE_DBCONFIG_DQS_DML` and
/// `_DDL`), as better-sqlite3 builds SQLite for drizzle-orm. With them on, `"c"` naming a
/// column that does not exist silently becomes the string `'c'`: a drizzle-kit rebuild that
/// copies a column the old table lacks would write that string into every row instead of
/// failing with "no such column". Every connection we open goes through here.
pub fn forbid_double_quoted_strings(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)?;
    Ok(())
}

/// An in-memory database with the same rules as a file (no double-quoted strings, foreign
/// keys on).
pub fn open_in_memory() -> Result<Connection, DbError> {
    let e = |e: rusqlite::Error| DbError::failed("opening an in-memory SQLite database", e);
    let conn = Connection::open_in_memory().map_err(e)?;
    forbid_double_quoted_strings(&conn).map_err(e)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(e)?;
    Ok(conn)
}

/// Opens an existing database read-only (for status, check, backup and dry runs); `None` when
/// it does not exist, so looking never creates a file. A database in a folder we may not write
/// (so SQLite cannot create its `-shm`) and without a `-wal` (so no writer is active) is read
/// as immutable.
pub fn open_read_only(path: &Path) -> Result<Option<Connection>, DbError> {
    let err = |message: String| DbError::SqliteOpen { path: path.to_path_buf(), message };
    if inspect(path).map_err(err)? == Found::Nothing {
        return Ok(None);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let probe = |conn: Connection| -> rusqlite::Result<Connection> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        forbid_double_quoted_strings(&conn)?;
        // Fail now, with the path, if it cannot be read.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    };
    match Connection::open_with_flags(path, flags).and_then(probe) {
        Ok(conn) => Ok(Some(conn)),
        Err(e) => {
            let mut wal = path.as_os_str().to_os_string();
            wal.push("-wal");
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !Path::new(&wal).exists() && !folder_is_writable(folder) {
                let uri = format!("file:{}?immutable=1", uri_path(path));
                if let Ok(conn) = Connection::open_with_flags(&uri, flags | OpenFlags::SQLITE_OPEN_URI).and_then(probe)
                {
                    return Ok(Some(conn));
                }
            }
            Err(err(explain_open_error(path, &e)))
        }
    }
}

/// `path` for an SQLite `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The settings every read-write connection gets: no double-quoted strings, busy timeout, WAL (retried while another process
/// holds a new file), `synchronous=NORMAL`, foreign keys on. The server's pool runs it on each
/// connection it opens.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    forbid_double_quoted_strings(conn)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Switching to WAL needs a moment of exclusive access and does not wait on the busy
    // handler: two processes opening a new file at once would otherwise fail at random.
    let started = Instant::now();
    loop {
        let mode: rusqlite::Result<String> = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0));
        let result = match mode {
            Ok(m) if m.eq_ignore_ascii_case("wal") => Ok(()),
            Ok(_) => conn.pragma_update(None, "journal_mode", "WAL"),
            Err(e) => Err(e),
        };
        match result {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other?,
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The SQLite migration driver. Without a connection (a database that does not exist yet,
/// opened for looking only) it reports no applied migrations.
pub struct SqliteDriver {
    conn: Option<Connection>,
    path: Option<PathBuf>,
}

impl SqliteDriver {
    pub fn new(conn: Connection, path: Option<PathBuf>) -> SqliteDriver {
        SqliteDriver { conn: Some(conn), path }
    }

    /// For status and dry runs: never creates or changes anything.
    pub fn read_only(path: &Path) -> Result<SqliteDriver, DbError> {
        Ok(SqliteDriver { conn: open_read_only(path)?, path: Some(path.to_path_buf()) })
    }

    pub fn connection(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    fn conn(&self) -> Result<&Connection, DbError> {
        self.conn.as_ref().ok_or_else(|| DbError::database("migrate", "the database was opened read-only"))
    }
}

fn db_err(context: &str) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| DbError::failed(context, e)
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Driver for SqliteDriver {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn applied(&mut self) -> Result<Vec<AppliedRow>, DbError> {
        match &mut self.conn {
            Some(conn) => crate::migrate::migrator::applied_rows(conn),
            None => Ok(Vec::new()),
        }
    }

    fn prepare_bookkeeping(&mut self) -> Result<(), DbError> {
        let conn = self.conn()?;
        let e = db_err("creating __drizzle_migrations");
        // drizzle-orm's own DDL, so either tool can take over the database.
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS \"{MIGRATIONS_TABLE}\" (\n\t\t\t\tid SERIAL PRIMARY KEY,\n\t\t\t\thash text NOT NULL,\n\t\t\t\tcreated_at numeric\n\t\t\t)"
        ))
        .map_err(&e)?;
        let mut stmt =
            conn.prepare(&format!("SELECT name FROM pragma_table_info('{MIGRATIONS_TABLE}')")).map_err(&e)?;
        let cols: Vec<String> = stmt.query_map([], |r| r.get(0)).map_err(&e)?.collect::<Result<_, _>>().map_err(&e)?;
        for (col, ty) in [("name", "text"), ("applied_at", "integer"), ("duration_ms", "integer")] {
            if !cols.iter().any(|c| c == col) {
                conn.execute_batch(&format!("ALTER TABLE \"{MIGRATIONS_TABLE}\" ADD COLUMN {col} {ty}")).map_err(&e)?;
            }
        }
        conn.execute_batch(&applied_once_index_sql(&format!("\"{MIGRATIONS_TABLE}\""))).map_err(applied_twice)
    }

    fn apply(&mut self, p: &Prepared<'_>, record: &Record<'_>) -> Result<(), DbError> {
        let conn = self.conn()?;
        let tag = &p.migration.tag;
        let started = Instant::now();
        let stmt_err = |number: usize, line: usize, e: rusqlite::Error| DbError::Statement {
            tag: tag.clone(),
            file: p.file.path.file_name().map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            number,
            line,
            cause: Box::new(e.into()),
            aftermath: aftermath(p, number),
        };
        let e = db_err("recording the migration");
        let insert = |conn: &Connection, started: Instant| {
            conn.execute(
                &format!("INSERT INTO \"{MIGRATIONS_TABLE}\" (\"hash\", \"created_at\", \"name\", \"applied_at\", \"duration_ms\") VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![record.hash, record.created_at, record.name, now_millis(), started.elapsed().as_millis() as i64],
            )
        };
        match &p.mode {
            RunMode::Transaction | RunMode::TransactionForeignKeysOff => {
                let fk_off = p.mode == RunMode::TransactionForeignKeysOff;
                if fk_off {
                    conn.pragma_update(None, "foreign_keys", "OFF").map_err(&e)?;
                }
                let result = (|| {
                    conn.execute_batch("BEGIN IMMEDIATE").map_err(&e)?;
                    for st in &p.statements {
                        if fk_off && is_foreign_keys_pragma(&st.sql) {
                            continue; // a no-op inside a transaction; we switched it off outside
                        }
                        conn.execute_batch(&st.sql).map_err(|err| stmt_err(st.number, st.line, err))?;
                    }
                    if fk_off {
                        foreign_key_check(conn, tag, "It was rolled back: the database is as it was after the previous migration. Fix the migration so every row keeps its parent.")?;
                    }
                    insert(conn, started).map_err(&e)?;
                    conn.execute_batch("COMMIT").map_err(&e)
                })();
                if result.is_err() && !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                if fk_off {
                    conn.pragma_update(None, "foreign_keys", "ON").map_err(&e)?;
                }
                result
            }
            RunMode::SelfManaged { opens_inside_transaction, .. } => {
                let result = (|| {
                    if *opens_inside_transaction {
                        conn.execute_batch("BEGIN").map_err(&e)?;
                    }
                    for st in &p.statements {
                        conn.execute_batch(&st.sql).map_err(|err| stmt_err(st.number, st.line, err))?;
                    }
                    foreign_key_check(conn, tag, "This migration manages its own transactions, so its changes stay; it was not recorded. Repair the rows by hand or restore a backup.")?;
                    insert(conn, started).map_err(&e)?;
                    if !conn.is_autocommit() {
                        // The file left a transaction open; drizzle-orm's final COMMIT closes it.
                        conn.execute_batch("COMMIT").map_err(&e)?;
                    }
                    Ok(())
                })();
                if result.is_err() && !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                // The file may have switched foreign keys off for this connection.
                conn.pragma_update(None, "foreign_keys", "ON").map_err(&e)?;
                result
            }
        }
    }

    fn lock(&mut self, timeout: Duration) -> Result<MigrationLock, DbError> {
        let Some(path) = &self.path else {
            return Ok(MigrationLock::new(()));
        };
        let lock_path = lock_file_path(path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| DbError::failed(format!("creating the migration lock {}", lock_path.display()), e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(MigrationLock::new(LockedFile(file))),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(DbError::LockTimeout {
                        waited_secs: timeout.as_secs(),
                        detail: format!(" on {}", lock_path.display()),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(DbError::failed(format!("locking {}", lock_path.display()), e))
                }
            }
        }
    }
}

struct LockedFile(File);

impl Drop for LockedFile {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// The file that keeps two `migrate` runs on one SQLite database apart. It is keyed on the
/// database file itself, not on the path as written: `file:/srv/current.db` (a symlink) and
/// `file:/srv/db/cms.db` share one lock, as do `a/../cms.db` and `cms.db`.
pub fn lock_file_path(db: &Path) -> PathBuf {
    let real = real_path(db);
    let mut name = real.file_name().unwrap_or_default().to_os_string();
    name.push(".migrate-lock");
    real.with_file_name(name)
}

/// The canonical path of `path`, or of its folder when the file does not exist yet (a
/// dangling symlink is followed as far as it resolves, at most 40 links like the kernel).
fn real_path(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        if let Ok(real) = fs::canonicalize(&path) {
            return real;
        }
        match fs::read_link(&path) {
            Ok(target) => path = path.parent().map_or(target.clone(), |p| p.join(&target)),
            Err(_) => break,
        }
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            fs::canonicalize(parent).map_or_else(|_| path.clone(), |p| p.join(name))
        }
        _ => path,
    }
}

fn foreign_key_check(conn: &Connection, tag: &str, aftermath: &str) -> Result<(), DbError> {
    let e = db_err("PRAGMA foreign_key_check");
    let mut stmt = conn.prepare("PRAGMA foreign_key_check").map_err(&e)?;
    let rows: Vec<(String, Option<i64>, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(&e)?
        .collect::<Result<_, _>>()
        .map_err(&e)?;
    if rows.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = rows
        .iter()
        .take(5)
        .map(|(table, rowid, parent)| {
            format!("{table} row {} has no parent in {parent}", rowid.map_or("?".into(), |r| r.to_string()))
        })
        .collect();
    let more = if rows.len() > 5 { format!(" (and {} more)", rows.len() - 5) } else { String::new() };
    Err(DbError::ForeignKeyCheck {
        tag: tag.to_string(),
        violations: format!("{}{more}", shown.join("; ")),
        aftermath: aftermath.to_string(),
    })
}
