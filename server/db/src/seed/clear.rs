//! Clearing every application row while keeping the schema and the migration history, in an
//! order derived from the database's actual foreign-key graph.

use std::collections::{BTreeMap, BTreeSet};

use crate::connection::{transaction, Row, Sql, TxMode, Value};
use crate::dialect::Dialect;
use crate::error::DbError;
use crate::migrate::migrator::MIGRATIONS_TABLE;

/// Tables in delete order: every child before its parents. Cycles (sites ↔ environments) are
/// broken deterministically; the caller defers foreign-key checks to commit for them.
/// `edges` are (child, parent) pairs; self-references are ignored.
pub fn delete_order(tables: &[String], edges: &[(String, String)]) -> Vec<String> {
    let mut parents_of: BTreeMap<&str, BTreeSet<&str>> = tables.iter().map(|t| (t.as_str(), BTreeSet::new())).collect();
    let mut children_of: BTreeMap<&str, BTreeSet<&str>> = parents_of.clone();
    for (child, parent) in edges {
        if child != parent && parents_of.contains_key(child.as_str()) && parents_of.contains_key(parent.as_str()) {
            parents_of.get_mut(child.as_str()).expect("known").insert(parent);
            children_of.get_mut(parent.as_str()).expect("known").insert(child);
        }
    }
    let mut order = Vec::with_capacity(tables.len());
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < parents_of.len() {
        // A table may go when all its children are gone.
        let ready = children_of.iter().find(|(t, kids)| !done.contains(*t) && kids.iter().all(|k| done.contains(k)));
        let next = match ready {
            Some((t, _)) => *t,
            // A cycle: take the first remaining table.
            None => *children_of.keys().find(|t| !done.contains(*t)).expect("tables remain"),
        };
        done.insert(next);
        order.push(next.to_string());
    }
    order
}

/// What clearing reads from and says to a database, per dialect: the catalog queries and the
/// statements whose spelling differs. [`dialect_sql`] chooses; nothing else looks at the
/// dialect.
struct DialectSql {
    /// Application tables by name (`$1`: the bookkeeping table, which is not one).
    tables: &'static str,
    /// (child, parent) table pairs of the foreign keys.
    foreign_keys: &'static str,
    /// Defers foreign-key checks to the commit, for the rest of the transaction.
    defer_foreign_keys: &'static str,
    /// `DELETE FROM` a table (`{}` stands for its name).
    delete_from: &'static str,
    /// The sequences of serial and identity columns, restarted once their tables are empty.
    owned_sequences: Option<&'static str>,
    /// Takes the writers' lock until the transaction ends (`$1`: [`WRITER_LOCK_KEY`]). SQLite
    /// needs none: a write transaction (`BEGIN IMMEDIATE`) holds the database's write lock.
    writer_lock: Option<&'static str>,
}

fn dialect_sql(dialect: Dialect) -> &'static DialectSql {
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

/// Tables other than SQLite's own, FTS shadow tables and the bookkeeping.
const SQLITE: DialectSql = DialectSql {
    tables: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name <> $1 AND (sql IS NULL OR sql NOT LIKE 'CREATE VIRTUAL%')
               AND name NOT IN (SELECT m.name || suffix FROM sqlite_master m,
                    (SELECT '_data' AS suffix UNION ALL SELECT '_idx' UNION ALL SELECT '_content'
                     UNION ALL SELECT '_docsize' UNION ALL SELECT '_config') WHERE m.sql LIKE 'CREATE VIRTUAL%')
             ORDER BY name",
    foreign_keys: "SELECT m.name, k.\"table\" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) k
                    WHERE m.type = 'table' ORDER BY 1, 2",
    defer_foreign_keys: "PRAGMA defer_foreign_keys = ON",
    delete_from: "DELETE FROM \"{}\"",
    owned_sequences: None,
    writer_lock: None,
};

/// Base tables of the `public` schema (the drizzle schema holds the bookkeeping).
const POSTGRES: DialectSql = DialectSql {
    tables: "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name::text <> $1
              ORDER BY 1",
    foreign_keys: "SELECT child.relname::text, parent.relname::text
                     FROM pg_constraint k
                     JOIN pg_class child ON child.oid = k.conrelid
                     JOIN pg_class parent ON parent.oid = k.confrelid
                    WHERE k.contype = 'f'
                      AND child.relnamespace = 'public'::regnamespace AND parent.relnamespace = 'public'::regnamespace
                    ORDER BY 1, 2",
    // Deferrable keys (sites.default_environment_id) are checked at commit, when the seed's
    // rows are in; the others hold at every statement because children go first.
    defer_foreign_keys: "SET CONSTRAINTS ALL DEFERRED",
    delete_from: "DELETE FROM public.\"{}\"",
    owned_sequences: Some(
        "SELECT s.oid::regclass::text
           FROM pg_class s
           JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           JOIN pg_class t ON t.oid = d.refobjid
          WHERE s.relkind = 'S' AND t.relkind IN ('r', 'p') AND t.relnamespace = 'public'::regnamespace
          ORDER BY 1",
    ),
    writer_lock: Some("SELECT pg_advisory_xact_lock($1)"),
};

/// The first column of every row, as text.
fn texts(rows: Vec<Row>) -> Vec<String> {
    rows.into_iter().filter_map(|r| r.into_iter().next()?.into_text()).collect()
}

/// Application tables: everything but the database's own, FTS shadow tables and the
/// bookkeeping, by name.
pub fn application_tables(conn: &mut dyn Sql) -> Result<Vec<String>, DbError> {
    let sql = dialect_sql(conn.dialect());
    let rows = conn.query(sql.tables, &[MIGRATIONS_TABLE.into()]).map_err(|e| e.in_context("listing tables"))?;
    Ok(texts(rows))
}

/// (child, parent) table pairs of the foreign keys.
fn foreign_keys(conn: &mut dyn Sql) -> Result<Vec<(String, String)>, DbError> {
    let sql = dialect_sql(conn.dialect());
    let rows = conn.query(sql.foreign_keys, &[]).map_err(|e| e.in_context("reading foreign keys"))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| match <[Value; 2]>::try_from(r) {
            Ok([Value::Text(child), Value::Text(parent)]) => Some((child, parent)),
            _ => None,
        })
        .collect())
}

/// Deletes every application row inside the caller's transaction, children before parents,
/// with foreign-key checks deferred to the commit (cycles need no special order), and restarts
/// the sequences of serial and identity columns. Returns the tables in the order cleared.
///
/// `DELETE`, not `TRUNCATE`, because the server keeps reading meanwhile. On PostgreSQL
/// `TRUNCATE` is not MVCC-safe: a request whose snapshot predates the commit but that reaches a
/// table after it finds the table empty (a 404 "no site", a page without sections), and its
/// ACCESS EXCLUSIVE locks, taken table by table in an order of their own, deadlock with requests
/// that hold ACCESS SHARE on one table and wait for the next. `DELETE` takes ROW EXCLUSIVE,
/// which no reader's ACCESS SHARE conflicts with, and the rows it removes stay visible to every
/// snapshot taken before the commit: a request sees the whole old data or the whole new data.
/// Restarting a sequence (transactional since PostgreSQL 10) locks only the sequence, which
/// readers never touch. Nothing here takes a table lock stronger than ROW EXCLUSIVE.
pub fn delete_all(tx: &mut dyn Sql) -> Result<Vec<String>, DbError> {
    let sql = dialect_sql(tx.dialect());
    let tables = application_tables(tx)?;
    let order = delete_order(&tables, &foreign_keys(tx)?);
    tx.batch(sql.defer_foreign_keys).map_err(|e| e.in_context("deferring foreign keys"))?;
    for t in &order {
        tx.batch(&sql.delete_from.replace("{}", t)).map_err(|e| e.in_context(format!("clearing {t}")))?;
    }
    if let Some(sequences) = sql.owned_sequences {
        let sequences = tx.query(sequences, &[]).map_err(|e| e.in_context("listing sequences"))?;
        for s in texts(sequences) {
            tx.batch(&format!("ALTER SEQUENCE {s} RESTART"))
                .map_err(|e| e.in_context(format!("restarting the sequence {s}")))?;
        }
    }
    Ok(order)
}

/// The advisory-lock key that rewrites of the data (seed, `seed --force`, reset-data) take for
/// their transaction on PostgreSQL ("cms_seed" in ASCII; `migrate` uses another).
pub const WRITER_LOCK_KEY: i64 = 0x636d_735f_7365_6564;

/// Inside a write transaction: waits for any other seed or reset to commit, then holds the
/// writers' lock until this transaction ends. Two rewrites take turns, and the second one's
/// statements (READ COMMITTED) see everything the first wrote. Readers never take this lock.
pub fn lock_writers(tx: &mut dyn Sql) -> Result<(), DbError> {
    if let Some(lock) = dialect_sql(tx.dialect()).writer_lock {
        tx.execute(lock, &[WRITER_LOCK_KEY.into()])
            .map_err(|e| e.in_context("waiting for another seed or reset to finish"))?;
    }
    Ok(())
}

/// Clears every application row in one transaction. Returns the tables in the order cleared.
pub fn clear(conn: &mut dyn Sql) -> Result<Vec<String>, DbError> {
    transaction(conn, TxMode::Write, |tx| {
        lock_writers(tx)?;
        delete_all(tx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn e(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn children_go_before_parents() {
        let order = delete_order(
            &s(&["teams", "sites", "pages", "page_sections", "locales"]),
            &e(&[("sites", "teams"), ("pages", "sites"), ("page_sections", "pages"), ("nav", "pages")]),
        );
        let pos = |t: &str| order.iter().position(|x| x == t).unwrap();
        assert!(pos("page_sections") < pos("pages") && pos("pages") < pos("sites") && pos("sites") < pos("teams"));
        assert_eq!(order.len(), 5);
    }

    #[test]
    fn cycles_and_self_references_terminate() {
        let order = delete_order(
            &s(&["sites", "environments", "nav", "pages"]),
            &e(&[("sites", "environments"), ("environments", "sites"), ("nav", "nav"), ("pages", "environments")]),
        );
        assert_eq!(order.len(), 4);
        assert!(order.iter().position(|x| x == "pages") < order.iter().position(|x| x == "environments"));
    }
}
