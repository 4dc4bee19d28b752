//! Writing rows through any connection: multi-row `INSERT`s with `$n` placeholders, a few
//! thousand values per statement (both dialects' limits are far above).

use crate::connection::{Sql, Value};
use crate::error::DbError;
use crate::seed::table::Table;

/// Values bound by one statement at most.
const VALUES_PER_STATEMENT: usize = 4096;

/// `"a", "b", …`
pub fn column_list(columns: &[&str]) -> String {
    columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO "t" (…) VALUES ($1, …), ($n, …)` for `rows` rows.
pub fn insert_sql(table: &str, columns: &[&str], rows: usize) -> String {
    let n = columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let placeholders: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    format!("INSERT INTO \"{table}\" ({}) VALUES {}", column_list(columns), tuples.join(", "))
}

/// Inserts every row of `tables`, in order, inside the caller's transaction.
pub fn insert(tx: &mut dyn Sql, tables: &[Table]) -> Result<(), DbError> {
    for t in tables {
        let per_statement = (VALUES_PER_STATEMENT / t.columns.len().max(1)).max(1);
        for chunk in t.rows.chunks(per_statement) {
            let params: Vec<Value> = chunk.iter().flatten().cloned().collect();
            tx.execute(&insert_sql(t.name, t.columns, chunk.len()), &params)
                .map_err(|e| e.in_context(format!("inserting into {}", t.name)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_for_many_rows() {
        assert_eq!(insert_sql("t", &["a", "b"], 2), "INSERT INTO \"t\" (\"a\", \"b\") VALUES ($1, $2), ($3, $4)");
    }

    #[test]
    fn rows_go_in_as_given_in_chunks() {
        let mut c = crate::connection::Connection::Sqlite(crate::sqlite::open_in_memory().unwrap());
        c.batch("CREATE TABLE locales (code text PRIMARY KEY, name text, status text, created_at integer)").unwrap();
        let mut t = Table::new("locales");
        for i in 0..2500 {
            t.push(vec![
                ("code", format!("l{i:04}").into()),
                ("name", Value::Null),
                ("status", "active".into()),
                ("created_at", Value::Int(i)),
            ]);
        }
        insert(&mut c, &[t]).unwrap();
        let rows = c.query("SELECT count(*), min(code), max(code), sum(created_at) FROM locales", &[]).unwrap();
        assert_eq!(rows, [vec![Value::Int(2500), "l0000".into(), "l2499".into(), Value::Int(2499 * 2500 / 2)]]);
        let e = insert(&mut c, &[Table { name: "locales", columns: &["nope"], rows: vec![vec![Value::Null]] }])
            .unwrap_err();
        assert_eq!(e.to_string(), "inserting into locales");
        assert!(format!("{}", std::error::Error::source(&e).unwrap()).contains("nope"), "{e:?}");
    }
}
