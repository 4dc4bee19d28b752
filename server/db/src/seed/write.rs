//! Writing rows: prepared statements on SQLite, `COPY … FROM STDIN` on PostgreSQL.

use std::io::Write as _;

use rusqlite::types::ToSqlOutput;

use crate::error::DbError;
use crate::postgres::pg_message;
use crate::seed::content::{Table, V};

impl rusqlite::ToSql for V {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            V::Text(s) => ToSqlOutput::from(s.as_str()),
            V::Int(i) => ToSqlOutput::from(*i),
            V::Null => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

fn column_list(t: &Table) -> String {
    t.columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
}

/// Inserts every row with one cached prepared statement per table.
pub fn sqlite(conn: &rusqlite::Connection, tables: &[Table]) -> Result<(), DbError> {
    for t in tables {
        if t.rows.is_empty() {
            continue;
        }
        let placeholders = (1..=t.columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let sql = format!("INSERT INTO \"{}\" ({}) VALUES ({placeholders})", t.name, column_list(t));
        let mut stmt =
            conn.prepare_cached(&sql).map_err(|e| DbError::database(format!("inserting into {}", t.name), e))?;
        for row in &t.rows {
            stmt.execute(rusqlite::params_from_iter(row.iter()))
                .map_err(|e| DbError::database(format!("inserting into {}", t.name), e))?;
        }
    }
    Ok(())
}

/// Appends one value in COPY's text format.
fn copy_value(out: &mut Vec<u8>, v: &V) {
    match v {
        V::Null => out.extend_from_slice(b"\\N"),
        V::Int(i) => {
            let _ = write!(out, "{i}");
        }
        V::Text(s) => {
            for b in s.bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    _ => out.push(b),
                }
            }
        }
    }
}

/// Encodes rows in COPY's text format.
pub fn copy_text(rows: &[Vec<V>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            copy_value(&mut out, v);
        }
        out.push(b'\n');
    }
    out
}

/// Streams every table through `COPY … FROM STDIN`.
pub fn postgres(tx: &mut ::postgres::Transaction<'_>, tables: &[Table]) -> Result<(), DbError> {
    for t in tables {
        if t.rows.is_empty() {
            continue;
        }
        let err = |e: ::postgres::Error| DbError::database(format!("copying into {}", t.name), pg_message(&e));
        let mut w = tx.copy_in(&format!("COPY \"{}\" ({}) FROM STDIN", t.name, column_list(t))).map_err(err)?;
        w.write_all(&copy_text(&t.rows)).map_err(|e| DbError::database(format!("copying into {}", t.name), e))?;
        w.finish().map_err(err)?;
    }
    Ok(())
}

/// A foreign-key constraint as PostgreSQL itself prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKey {
    pub table: String,
    pub name: String,
    pub definition: String,
}

/// For a bulk load in `tx`: drops the foreign keys of `tables` and returns them so that
/// [`postgres_add_foreign_keys`] puts back exactly the same constraints. Checking a whole table
/// once when the constraint is added back is several times cheaper than a trigger per row; a
/// violation then fails the transaction, so the load stays all or nothing and the schema ends
/// as it began.
pub fn postgres_drop_foreign_keys(
    tx: &mut ::postgres::Transaction<'_>,
    tables: &[&str],
) -> Result<Vec<ForeignKey>, DbError> {
    let err = |e: ::postgres::Error| DbError::database("suspending foreign keys", pg_message(&e));
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let keys: Vec<ForeignKey> = tx
        .query(
            "SELECT c.relname::text, k.conname::text, pg_get_constraintdef(k.oid)
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
              WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace
                AND c.relname::text = ANY($1)
              ORDER BY c.relname, k.conname",
            &[&names],
        )
        .map_err(err)?
        .iter()
        .map(|r| ForeignKey { table: r.get(0), name: r.get(1), definition: r.get(2) })
        .collect();
    for k in &keys {
        tx.batch_execute(&format!("ALTER TABLE \"{}\" DROP CONSTRAINT \"{}\"", k.table, k.name)).map_err(err)?;
    }
    Ok(keys)
}

/// Adds back what [`postgres_drop_foreign_keys`] dropped, each validated over its whole table.
pub fn postgres_add_foreign_keys(tx: &mut ::postgres::Transaction<'_>, keys: &[ForeignKey]) -> Result<(), DbError> {
    for k in keys {
        tx.batch_execute(&format!("ALTER TABLE \"{}\" ADD CONSTRAINT \"{}\" {}", k.table, k.name, k.definition))
            .map_err(|e| {
                DbError::database(format!("checking foreign key {} of {}", k.name, k.table), pg_message(&e))
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes() {
        let rows = vec![vec![V::Text("a\tb\\c\nd".into()), V::Int(-3), V::Null]];
        assert_eq!(copy_text(&rows), b"a\\tb\\\\c\\nd\t-3\t\\N\n");
    }
}
