//! The one database API on a real PostgreSQL: values bound to whatever type the server
//! infers for a placeholder, every stored type read back as a plain value, transactions.

use cms_db::connection::{Connection, Sql, TxMode, Value};
use cms_db::error::{with_causes, SqlState};
use cms_db::DbError;

#[test]
fn values_bind_to_the_inferred_types_and_read_back() {
    let Some(db) = test_support::pg::database() else { return };
    let mut c = Connection::Postgres(cms_db::postgres::connect(db.url()).unwrap());
    c.batch(
        "CREATE TABLE t (i2 smallint, i4 integer, i8 bigint, f8 double precision, b boolean, s text, v varchar(9), j jsonb, js json, by bytea)",
    )
    .unwrap();
    let row = vec![
        Value::Int(2),
        Value::Int(40_000),
        Value::Int(1 << 40),
        Value::Real(2.5),
        Value::Int(1),
        "text".into(),
        "var".into(),
        r#"{"a": 1}"#.into(),
        "[1,2]".into(),
        Value::Blob(vec![0, 255]),
    ];
    let sql = "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    assert_eq!(c.execute(sql, &row).unwrap(), 1);
    // Text where the server expects numbers is parsed; NULL binds anywhere.
    let nulls = vec![
        "3".into(),
        "4".into(),
        "5".into(),
        "0.5".into(),
        "false".into(),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
    ];
    c.execute(sql, &nulls).unwrap();
    let got = c.query("SELECT * FROM t ORDER BY i2", &[]).unwrap();
    assert_eq!(
        got[0],
        vec![
            Value::Int(2),
            Value::Int(40_000),
            Value::Int(1 << 40),
            Value::Real(2.5),
            Value::Int(1),
            "text".into(),
            "var".into(),
            r#"{"a": 1}"#.into(),
            "[1,2]".into(),
            Value::Blob(vec![0, 255]),
        ]
    );
    assert_eq!(got[1][..5], [Value::Int(3), Value::Int(4), Value::Int(5), Value::Real(0.5), Value::Int(0)]);
    assert!(got[1][5..].iter().all(Value::is_null));
    // A value that cannot be the placeholder's type says so.
    let err = with_causes(&c.execute("INSERT INTO t (i4) VALUES ($1)", &["forty".into()]).unwrap_err());
    assert!(err.contains("integer") || err.contains("int4"), "{err}");
    // A type without a plain form says to cast.
    let err = with_causes(&c.query("SELECT now()", &[]).unwrap_err());
    assert!(err.contains("::text"), "{err}");
    assert_eq!(c.query("SELECT now()::text IS NOT NULL", &[]).unwrap(), vec![vec![Value::Int(1)]]);

    let failed: Result<(), DbError> = c.transaction(TxMode::Write, |tx| {
        tx.execute("DELETE FROM t", &[])?;
        Err(DbError::database("test", "stop"))
    });
    assert!(failed.is_err());
    assert_eq!(c.query("SELECT count(*) FROM t", &[]).unwrap(), vec![vec![Value::Int(2)]]);
    let err = c.transaction(TxMode::ReadSnapshot, |tx| tx.execute("DELETE FROM t", &[])).unwrap_err();
    let text = with_causes(&err);
    assert!(text.starts_with("running `DELETE FROM t`: ") && text.contains("read-only"), "{text}");
    // The database's own error, as its type: no caller searches the text.
    assert_eq!(err.sql_state(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION), "{text}");
    assert_eq!(err.database_message().as_deref(), Some("cannot execute DELETE in a read-only transaction"), "{text}");
    // Shown as the database says it, as before the error was kept (severity first).
    assert_eq!(err.cause().unwrap().to_string(), "ERROR: cannot execute DELETE in a read-only transaction");
}
