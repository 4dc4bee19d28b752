//! The SQL console: the text split into statements (cms-db's splitter, the migrator's), all
//! run in one transaction of the console's own (a read-only snapshot that is rolled back
//! with `--read-only`, committed otherwise), within the time limit, rows handed to a
//! [`RowSink`] that decides how many it wants (the page shows the first
//! [`DISPLAY_CAP`] rows of each statement; an export takes them all).
//!
//! The console runs the user's SQL verbatim, so it talks to the drivers directly for what
//! the `Sql` API does not give: column names of arbitrary results, every type as text
//! (PostgreSQL's simple protocol), reading a large result in steps (a PostgreSQL cursor,
//! SQLite's own stepping).

use std::time::{Duration, Instant};

use cms_db::connection::{Connection, Value};
use cms_db::migrate::statements::{leading_words, split, Statement};
use cms_db::Dialect;
use postgres::error::SqlState;
use postgres::SimpleQueryMessage;

use super::error::StudioError;

/// Rows of one statement shown on the page.
pub const DISPLAY_CAP: usize = 1_000;

/// PostgreSQL rows fetched per round trip from the console's cursor.
const FETCH: usize = 500;

/// Where a statement's results go.
pub trait RowSink {
    /// A statement that returns rows begins.
    fn columns(&mut self, statement: usize, sql: &str, names: Vec<String>);
    /// One row; `false` when no more rows of this statement are wanted.
    fn row(&mut self, row: Vec<Value>) -> bool;
    /// A statement ended; `affected` is the count of rows it changed when it returned none.
    fn done(&mut self, statement: usize, sql: &str, affected: Option<u64>);
}

/// What a statement showed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementResult {
    /// 0-based position among the run's statements.
    pub index: usize,
    pub sql: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// More rows than [`DISPLAY_CAP`] were returned.
    pub capped: bool,
    pub returns_rows: bool,
    pub affected: Option<u64>,
}

/// Collects up to `cap` rows of every statement.
pub struct Collect {
    pub cap: usize,
    pub results: Vec<StatementResult>,
}

impl Collect {
    pub fn new(cap: usize) -> Collect {
        Collect { cap, results: Vec::new() }
    }

    fn current(&mut self, index: usize, sql: &str) -> &mut StatementResult {
        if self.results.last().is_none_or(|r| r.index != index) {
            self.results.push(StatementResult { index, sql: sql.to_string(), ..StatementResult::default() });
        }
        self.results.last_mut().expect("just pushed")
    }
}

impl RowSink for Collect {
    fn columns(&mut self, index: usize, sql: &str, names: Vec<String>) {
        let r = self.current(index, sql);
        r.columns = names;
        r.returns_rows = true;
    }
    fn row(&mut self, row: Vec<Value>) -> bool {
        let cap = self.cap;
        let Some(r) = self.results.last_mut() else { return false };
        if r.rows.len() >= cap {
            r.capped = true;
            return false;
        }
        r.rows.push(row);
        true
    }
    fn done(&mut self, index: usize, sql: &str, affected: Option<u64>) {
        let r = self.current(index, sql);
        if !r.returns_rows {
            r.affected = affected;
        }
    }
}

/// How a console run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub statements: usize,
    pub elapsed: Duration,
    /// The changes were committed (never with `--read-only`).
    pub committed: bool,
}

/// Why a statement may not run in the console: the console owns the transaction (and, on
/// PostgreSQL, its read-only mode and time limit).
pub fn refusal(sql: &str) -> Option<String> {
    let words = leading_words(sql, 6);
    let first = words.first().map(String::as_str).unwrap_or_default();
    let has = |w: &str| words.iter().any(|x| x == w);
    let control = match first {
        "BEGIN" | "START" | "COMMIT" | "END" | "ABORT" | "DISCARD" => true,
        "ROLLBACK" => !has("TO"),
        "PREPARE" => words.get(1).is_some_and(|w| w == "TRANSACTION"),
        "SET" | "RESET" => {
            has("TRANSACTION")
                || has("CHARACTERISTICS")
                || has("TRANSACTION_READ_ONLY")
                || has("DEFAULT_TRANSACTION_READ_ONLY")
                || has("STATEMENT_TIMEOUT")
                || has("ALL")
                || has("SESSION") && has("AUTHORIZATION")
                || has("ROLE")
        }
        _ => false,
    };
    control.then(|| {
        format!(
            "{first} is not run here: the console runs everything in one transaction of its own (committed at the \
             end, or rolled back with --read-only) with its own time limit; leave transaction control out"
        )
    })
}

/// Runs `text` on `conn` (the caller applies the time limit to SQLite with
/// [`super::db::within`]; PostgreSQL gets `statement_timeout` here).
pub fn run(
    conn: &mut Connection,
    text: &str,
    read_only: bool,
    limit: Duration,
    sink: &mut dyn RowSink,
) -> Result<Summary, StudioError> {
    let started = Instant::now();
    let statements = split(conn_dialect(conn), text);
    if statements.is_empty() {
        return Err(StudioError::BadRequest("there is no SQL to run".into()));
    }
    for (i, s) in statements.iter().enumerate() {
        if let Some(why) = refusal(&s.sql) {
            return Err(StudioError::BadRequest(format!("statement {}: {why}", i + 1)));
        }
    }
    let committed = match conn {
        Connection::Sqlite(c) => sqlite(c, &statements, read_only, sink)?,
        Connection::Postgres(c) => postgres(c, &statements, read_only, limit, started, sink)?,
    };
    Ok(Summary { statements: statements.len(), elapsed: started.elapsed(), committed })
}

fn conn_dialect(conn: &Connection) -> Dialect {
    match conn {
        Connection::Sqlite(_) => Dialect::Sqlite,
        Connection::Postgres(_) => Dialect::Postgres,
    }
}

fn failed(i: usize, total: usize, message: impl std::fmt::Display) -> StudioError {
    if total == 1 {
        StudioError::Sql(format!("{message}; nothing was changed"))
    } else {
        StudioError::Sql(format!("statement {}: {message}; nothing was changed", i + 1))
    }
}

fn sqlite(
    c: &mut rusqlite::Connection,
    statements: &[Statement],
    read_only: bool,
    sink: &mut dyn RowSink,
) -> Result<bool, StudioError> {
    let total = statements.len();
    c.execute_batch(if read_only { "BEGIN" } else { "BEGIN IMMEDIATE" }).map_err(|e| failed(0, total, e))?;
    let body = |c: &rusqlite::Connection, sink: &mut dyn RowSink| -> Result<(), StudioError> {
        for (i, s) in statements.iter().enumerate() {
            let mut st = c.prepare(&s.sql).map_err(|e| failed(i, total, e))?;
            let n = st.column_count();
            if n > 0 {
                let names = st.column_names().into_iter().map(str::to_string).collect();
                sink.columns(i, &s.sql, names);
                let mut rows = st.raw_query();
                while let Some(row) = rows.next().map_err(|e| failed(i, total, e))? {
                    let mut values = Vec::with_capacity(n);
                    for k in 0..n {
                        values.push(Value::from(row.get_ref(k).map_err(|e| failed(i, total, e))?));
                    }
                    if !sink.row(values) {
                        break;
                    }
                }
                drop(rows);
                sink.done(i, &s.sql, None);
            } else {
                let changed = st.raw_execute().map_err(|e| failed(i, total, e))?;
                sink.done(i, &s.sql, Some(changed as u64));
            }
        }
        Ok(())
    };
    let result = body(c, sink);
    match (&result, read_only) {
        (Ok(()), false) => {
            if let Err(e) = c.execute_batch("COMMIT") {
                let _ = c.execute_batch("ROLLBACK");
                return Err(failed(total - 1, total, e));
            }
            Ok(true)
        }
        _ => {
            let _ = c.execute_batch("ROLLBACK");
            result.map(|()| false)
        }
    }
}

/// Whether a PostgreSQL statement can be read through a cursor.
fn is_query(sql: &str) -> bool {
    matches!(leading_words(sql, 1).first().map(String::as_str), Some("SELECT" | "WITH" | "VALUES" | "TABLE"))
}

fn postgres(
    c: &mut postgres::Client,
    statements: &[Statement],
    read_only: bool,
    limit: Duration,
    started: Instant,
    sink: &mut dyn RowSink,
) -> Result<bool, StudioError> {
    let total = statements.len();
    // A statement stopped by statement_timeout is the time limit, told by its SQLSTATE (not by
    // the clock, which starts elsewhere).
    let pg = |i: usize| {
        move |e: postgres::Error| {
            if e.code() == Some(&SqlState::QUERY_CANCELED) {
                StudioError::Timeout(limit)
            } else {
                failed(i, total, cms_db::postgres::pg_message(&e))
            }
        }
    };
    let begin = if read_only { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" } else { "BEGIN" };
    c.batch_execute(begin).map_err(pg(0))?;
    let mut body = || -> Result<(), StudioError> {
        for (i, s) in statements.iter().enumerate() {
            // What is left of the limit, for this statement.
            let left = limit.saturating_sub(started.elapsed()).as_millis().max(1);
            c.batch_execute(&format!("SET LOCAL statement_timeout = {left}")).map_err(pg(i))?;
            let sql = s.sql.trim().trim_end_matches(';').trim_end();
            if is_query(sql) {
                c.batch_execute("SAVEPOINT studio_console").map_err(pg(i))?;
                match c.batch_execute(&format!("DECLARE studio_rows NO SCROLL CURSOR FOR {sql}")) {
                    Ok(()) => {
                        read_cursor(c, i, &s.sql, sink).map_err(pg(i))?;
                        c.batch_execute("CLOSE studio_rows; RELEASE SAVEPOINT studio_console").map_err(pg(i))?;
                        continue;
                    }
                    // A data-modifying WITH cannot be a cursor: run it plainly.
                    Err(e) if e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED) => {
                        c.batch_execute("ROLLBACK TO SAVEPOINT studio_console").map_err(pg(i))?;
                    }
                    Err(e) => return Err(pg(i)(e)),
                }
            }
            let messages = c.simple_query(sql).map_err(pg(i))?;
            simple_messages(messages, i, &s.sql, sink);
        }
        Ok(())
    };
    let result = body();
    match (&result, read_only) {
        (Ok(()), false) => {
            c.batch_execute("COMMIT").map_err(pg(total - 1))?;
            Ok(true)
        }
        _ => {
            let _ = c.batch_execute("ROLLBACK");
            result.map(|()| false)
        }
    }
}

fn read_cursor(c: &mut postgres::Client, i: usize, sql: &str, sink: &mut dyn RowSink) -> Result<(), postgres::Error> {
    let mut started = false;
    loop {
        let messages = c.simple_query(&format!("FETCH {FETCH} FROM studio_rows"))?;
        let mut got = 0;
        let mut wanted = true;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) if !started => {
                    started = true;
                    sink.columns(i, sql, cols.iter().map(|c| c.name().to_string()).collect());
                }
                SimpleQueryMessage::Row(row) => {
                    got += 1;
                    if !started {
                        started = true;
                        sink.columns(i, sql, row.columns().iter().map(|c| c.name().to_string()).collect());
                    }
                    if wanted {
                        wanted = sink.row(simple_row(&row));
                    }
                }
                _ => {}
            }
        }
        if !started {
            started = true;
            sink.columns(i, sql, Vec::new());
        }
        if got < FETCH || !wanted {
            sink.done(i, sql, None);
            return Ok(());
        }
    }
}

fn simple_row(row: &postgres::SimpleQueryRow) -> Vec<Value> {
    (0..row.len()).map(|k| row.get(k).map_or(Value::Null, |s| Value::Text(s.to_string()))).collect()
}

fn simple_messages(messages: Vec<SimpleQueryMessage>, i: usize, sql: &str, sink: &mut dyn RowSink) {
    let mut has_rows = false;
    let mut wanted = true;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                has_rows = true;
                wanted = true;
                sink.columns(i, sql, cols.iter().map(|c| c.name().to_string()).collect());
            }
            SimpleQueryMessage::Row(row) if wanted => {
                wanted = sink.row(simple_row(&row));
            }
            SimpleQueryMessage::CommandComplete(n) => {
                sink.done(i, sql, if has_rows { None } else { Some(n) });
                has_rows = false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::connection::Sql as _;

    #[test]
    fn transaction_control_is_refused() {
        for sql in [
            "BEGIN",
            "commit;",
            "ROLLBACK",
            "end",
            "SET TRANSACTION READ WRITE",
            "set default_transaction_read_only = off",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "RESET ALL",
            "set statement_timeout = 0",
            "START TRANSACTION",
        ] {
            assert!(refusal(sql).is_some(), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "ROLLBACK TO SAVEPOINT a",
            "SAVEPOINT a",
            "SET search_path = public",
            "UPDATE t SET end_at = 1",
        ] {
            assert!(refusal(sql).is_none(), "{sql}");
        }
    }

    #[test]
    fn sqlite_runs_statements_in_one_transaction_and_caps_rows() {
        let mut conn = Connection::Sqlite(cms_db::sqlite::open_in_memory().unwrap());
        conn.batch("CREATE TABLE t (n INTEGER)").unwrap();
        let mut sink = Collect::new(3);
        let s = run(
            &mut conn,
            "INSERT INTO t VALUES (1), (2), (3), (4); SELECT n, 'x' AS s FROM t ORDER BY n;",
            false,
            Duration::from_secs(5),
            &mut sink,
        )
        .unwrap();
        assert!(s.committed);
        assert_eq!(sink.results.len(), 2, "{:?}", sink.results);
        assert_eq!(sink.results[0].affected, Some(4));
        assert_eq!(sink.results[1].columns, ["n", "s"]);
        assert_eq!(sink.results[1].rows.len(), 3);
        assert!(sink.results[1].capped);
        // A failing statement takes the earlier ones back.
        let e =
            run(&mut conn, "DELETE FROM t; SELECT nope FROM t", false, Duration::from_secs(5), &mut Collect::new(3))
                .unwrap_err();
        assert!(e.message().contains("statement 2") && e.message().contains("no such column"), "{}", e.message());
        assert_eq!(conn.query("SELECT count(*) FROM t", &[]).unwrap()[0][0], Value::Int(4));
        // Read-only runs are rolled back.
        let s = run(&mut conn, "DELETE FROM t", true, Duration::from_secs(5), &mut Collect::new(3)).unwrap();
        assert!(!s.committed);
        assert_eq!(conn.query("SELECT count(*) FROM t", &[]).unwrap()[0][0], Value::Int(4));
    }
}
