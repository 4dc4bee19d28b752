//! One way to talk to a database, whichever the dialect: [`Sql`] (`query`, `execute`,
//! `batch`) with `$1`-style placeholders everywhere, plain [`Value`]s in and out, and
//! [`Connection::transaction`]. The dialect differences (placeholders, parameter types, how a
//! transaction starts) live here and in the drivers, never at call sites.

use postgres::types::{FromSql, IsNull, ToSql, Type};

use crate::error::DbError;
use crate::migrate::journal::Dialect;

/// A parameter or a result cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// An integer, also from text that holds one (SQLite columns hold what they were given).
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Real(f) => Some(*f as i64),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

pub type Row = Vec<Value>;

/// Runs SQL written once for both dialects (`$1`, `$2` … placeholders).
pub trait Sql {
    fn dialect(&self) -> Dialect;
    /// Every row of a query.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// One statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Several statements without parameters (DDL, `BEGIN`, …).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
}

/// One connection to the application database.
pub enum Connection {
    Sqlite(rusqlite::Connection),
    Postgres(::postgres::Client),
}

/// How a transaction starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxMode {
    /// Reads and writes; SQLite takes the write lock at once (`BEGIN IMMEDIATE`), so two
    /// writers queue instead of failing half-way.
    Write,
    /// One consistent snapshot for reading (PostgreSQL `REPEATABLE READ READ ONLY`).
    ReadSnapshot,
}

impl Connection {
    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled back when it
    /// returns an error or panics.
    pub fn transaction<T, E: From<DbError>>(
        &mut self,
        mode: TxMode,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, E>,
    ) -> Result<T, E> {
        transaction(self, mode, f)
    }
}

/// [`Connection::transaction`] for anything that speaks [`Sql`] (a pooled connection too).
pub fn transaction<S: Sql + ?Sized, T, E: From<DbError>>(
    conn: &mut S,
    mode: TxMode,
    f: impl FnOnce(&mut dyn Sql) -> Result<T, E>,
) -> Result<T, E> {
    conn.batch(begin_statement(conn.dialect(), mode))?;
    struct Open<'a, S: Sql + ?Sized>(Option<&'a mut S>);
    impl<S: Sql + ?Sized> Drop for Open<'_, S> {
        fn drop(&mut self) {
            if let Some(conn) = self.0.take() {
                let _ = conn.batch("ROLLBACK");
            }
        }
    }
    let mut open = Open(Some(conn));
    let result = f(&mut Dyn(open.0.as_deref_mut().expect("the transaction is open")));
    let conn = open.0.take().expect("the transaction is open");
    match result {
        Ok(value) => match conn.batch("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                // A deferred constraint refused at COMMIT leaves an SQLite transaction open.
                let _ = conn.batch("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Lets a `&mut S` (sized or not) be handed on as `&mut dyn Sql`.
struct Dyn<'a, S: Sql + ?Sized>(&'a mut S);

impl<S: Sql + ?Sized> Sql for Dyn<'_, S> {
    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        self.0.query(sql, params)
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.0.execute(sql, params)
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.0.batch(sql)
    }
}

fn begin_statement(dialect: Dialect, mode: TxMode) -> &'static str {
    match (dialect, mode) {
        (Dialect::Sqlite, TxMode::Write) => "BEGIN IMMEDIATE",
        // Deferred: the snapshot starts with the first read and holds until the end (WAL).
        (Dialect::Sqlite, TxMode::ReadSnapshot) => "BEGIN",
        (Dialect::Postgres, TxMode::Write) => "BEGIN",
        (Dialect::Postgres, TxMode::ReadSnapshot) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    }
}

impl Sql for Connection {
    fn dialect(&self) -> Dialect {
        match self {
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Postgres(_) => Dialect::Postgres,
        }
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Connection::Sqlite(c) => Sql::query(c, sql, params),
            Connection::Postgres(c) => Sql::query(c, sql, params),
        }
    }
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Connection::Sqlite(c) => Sql::execute(c, sql, params),
            Connection::Postgres(c) => Sql::execute(c, sql, params),
        }
    }
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Connection::Sqlite(c) => Sql::batch(c, sql),
            Connection::Postgres(c) => Sql::batch(c, sql),
        }
    }
}

// --- SQLite ------------------------------------------------------------------------------

fn sqlite_error(sql: &str) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| DbError::failed(format!("running `{}`", abbreviated(sql)), e)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// An SQLite cell as a [`Value`] (text that is not UTF-8 is read lossily).
impl From<rusqlite::types::ValueRef<'_>> for Value {
    fn from(v: rusqlite::types::ValueRef<'_>) -> Value {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

macro_rules! impl_sqlite_sql {
    ($t:ty) => {
        impl Sql for $t {
            fn dialect(&self) -> Dialect {
                Dialect::Sqlite
            }
            fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
                sqlite_query(self, sql, params)
            }
            fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
                sqlite_execute(self, sql, params)
            }
            fn batch(&mut self, sql: &str) -> Result<(), DbError> {
                self.execute_batch(sql).map_err(sqlite_error(sql))
            }
        }
    };
}

impl_sqlite_sql!(rusqlite::Connection);
impl_sqlite_sql!(rusqlite::Transaction<'_>);

fn sqlite_query(c: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
    let e = sqlite_error(sql);
    let mut stmt = c.prepare_cached(&sqlite_placeholders(sql)).map_err(&e)?;
    let n = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter())).map_err(&e)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(&e)? {
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            cells.push(Value::from(row.get_ref(i).map_err(&e)?));
        }
        out.push(cells);
    }
    Ok(out)
}

fn sqlite_execute(c: &rusqlite::Connection, sql: &str, params: &[Value]) -> Result<u64, DbError> {
    let e = sqlite_error(sql);
    let mut stmt = c.prepare_cached(&sqlite_placeholders(sql)).map_err(&e)?;
    Ok(stmt.execute(rusqlite::params_from_iter(params.iter())).map_err(&e)? as u64)
}

/// `$1`-style placeholders as SQLite's `?1`; text inside quotes is left alone.
pub fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            None if matches!(c, '\'' | '"' | '`') => quote = Some(c),
            _ => {}
        }
        if c == '$' && quote.is_none() && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

// --- PostgreSQL --------------------------------------------------------------------------

fn pg_error(sql: &str) -> impl Fn(::postgres::Error) -> DbError + '_ {
    move |e| DbError::failed(format!("running `{}`", abbreviated(sql)), e)
}

/// A [`Value`] bound to whatever type the server inferred for its placeholder: an integer to
/// `int2`/`int4`/`int8`/`float`/`bool`/`text`, text to any text type, `json`/`jsonb` or a
/// number, so call sites never spell PostgreSQL's parameter types.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot pass {:?} as PostgreSQL type {ty}; cast the placeholder in the SQL ($n::{ty})", self.0)
                .into()
        };
        let int = |i: i64, out: &mut bytes::BytesMut| -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
            match *ty {
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                Type::FLOAT4 => (i as f32).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => i.to_string().to_sql(ty, out),
                _ => Err(mismatch()),
            }
        };
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => int(*i, out),
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => f.to_string().to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Text(s) => match *ty {
                Type::INT2 | Type::INT4 | Type::INT8 | Type::BOOL => {
                    let i: i64 = match s.trim() {
                        "true" | "t" => 1,
                        "false" | "f" => 0,
                        other => other.parse().map_err(|_| mismatch())?,
                    };
                    int(i, out)
                }
                Type::FLOAT4 | Type::FLOAT8 => {
                    let f: f64 = s.trim().parse().map_err(|_| mismatch())?;
                    Param(&Value::Real(f)).to_sql(ty, out)
                }
                Type::JSON => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSONB => {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ if <String as ToSql>::accepts(ty) || ty.name() == "citext" => s.to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Blob(b) if *ty == Type::BYTEA => b.to_sql(ty, out),
            Value::Blob(_) => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A result cell of any type the CMS stores; other types are an error that says to cast.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(match *ty {
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::JSON => Value::Text(String::from_utf8(raw.to_vec())?),
            Type::JSONB => Value::Text(String::from_utf8(raw.get(1..).unwrap_or_default().to_vec())?),
            _ if <String as FromSql>::accepts(ty) || ty.name() == "citext" => Value::Text(String::from_sql(ty, raw)?),
            _ => {
                return Err(format!(
                    "a column of PostgreSQL type {ty} cannot be read as a plain value; cast it in the query (col::text)"
                )
                .into())
            }
        }))
    }

    fn from_sql_null(_: &Type) -> Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn pg_rows(rows: Vec<::postgres::Row>, sql: &str) -> Result<Vec<Row>, DbError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut cells = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let cell: Cell = row
                .try_get(i)
                .map_err(|e| DbError::failed(format!("reading the result of `{}`", abbreviated(sql)), e))?;
            cells.push(cell.0);
        }
        out.push(cells);
    }
    Ok(out)
}

fn pg_params(params: &[Value]) -> Vec<Param<'_>> {
    params.iter().map(Param).collect()
}

macro_rules! impl_pg_sql {
    ($t:ty) => {
        impl Sql for $t {
            fn dialect(&self) -> Dialect {
                Dialect::Postgres
            }
            fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
                let params = pg_params(params);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let rows = ::postgres::GenericClient::query(self, sql, &refs).map_err(pg_error(sql))?;
                pg_rows(rows, sql)
            }
            fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
                let params = pg_params(params);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                ::postgres::GenericClient::execute(self, sql, &refs).map_err(pg_error(sql))
            }
            fn batch(&mut self, sql: &str) -> Result<(), DbError> {
                ::postgres::GenericClient::batch_execute(self, sql).map_err(pg_error(sql))
            }
        }
    };
}

impl_pg_sql!(::postgres::Client);
impl_pg_sql!(::postgres::Transaction<'_>);

/// The start of a statement, for messages.
fn abbreviated(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(80).collect::<String>())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite;

    #[test]
    fn a_commit_refused_by_a_deferred_key_rolls_back() {
        let mut c = Connection::Sqlite(sqlite::open_in_memory().unwrap());
        c.batch("CREATE TABLE p (id integer PRIMARY KEY); CREATE TABLE k (p integer REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)").unwrap();
        let err = c.transaction(TxMode::Write, |tx| tx.execute("INSERT INTO k VALUES (7)", &[])).unwrap_err();
        let text = crate::error::with_causes(&err);
        assert!(text.starts_with("running `COMMIT`: ") && text.contains("FOREIGN KEY"), "{text}");
        assert_eq!(err.sqlite_code(), Some(rusqlite::ErrorCode::ConstraintViolation), "{text}");
        assert_eq!(err.sqlite_extended_code(), Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY), "{text}");
        assert_eq!(err.database_message().as_deref(), Some("FOREIGN KEY constraint failed"), "{text}");
        // The connection is usable again: no transaction was left open.
        c.transaction(TxMode::Write, |tx| tx.execute("INSERT INTO p VALUES (1)", &[])).unwrap();
        assert_eq!(c.query("SELECT count(*) FROM k", &[]).unwrap(), vec![vec![Value::Int(0)]]);
    }

    #[test]
    fn placeholders_translate_outside_quotes() {
        assert_eq!(sqlite_placeholders("SELECT $1, $12 FROM t WHERE a = $2"), "SELECT ?1, ?12 FROM t WHERE a = ?2");
        assert_eq!(sqlite_placeholders("SELECT '$1', $1"), "SELECT '$1', ?1");
        assert_eq!(sqlite_placeholders("SELECT 'it''s $1' || $2"), "SELECT 'it''s $1' || ?2");
        assert_eq!(sqlite_placeholders("SELECT \"$1\", `$2`, $3"), "SELECT \"$1\", `$2`, ?3");
        assert_eq!(sqlite_placeholders("SELECT $x, $"), "SELECT $x, $");
    }

    #[test]
    fn sqlite_values_round_trip_and_transactions_roll_back() {
        let mut c = Connection::Sqlite(sqlite::open_in_memory().unwrap());
        c.batch("CREATE TABLE t (i integer, r real, s text, b blob, n text)").unwrap();
        let row = vec![Value::Int(7), Value::Real(2.5), "a".into(), Value::Blob(vec![0, 1]), Value::Null];
        assert_eq!(c.execute("INSERT INTO t VALUES ($1, $2, $3, $4, $5)", &row).unwrap(), 1);
        assert_eq!(c.query("SELECT * FROM t WHERE s = $1", &["a".into()]).unwrap(), vec![row]);
        let failed: Result<(), DbError> = c.transaction(TxMode::Write, |tx| {
            tx.execute("DELETE FROM t", &[])?;
            Err(DbError::database("test", "stop"))
        });
        assert!(failed.is_err());
        assert_eq!(c.query("SELECT count(*) FROM t", &[]).unwrap(), vec![vec![Value::Int(1)]]);
        c.transaction(TxMode::Write, |tx| tx.execute("DELETE FROM t", &[]).map(drop)).unwrap();
        assert_eq!(c.query("SELECT count(*) FROM t", &[]).unwrap(), vec![vec![Value::Int(0)]]);
    }
}
