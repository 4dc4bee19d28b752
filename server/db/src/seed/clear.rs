//! Clearing every application row while keeping the schema and the migration history, in an
//! order derived from the database's actual foreign-key graph.

use std::collections::{BTreeMap, BTreeSet};

use crate::connection::Connection;
use crate::error::DbError;
use crate::migrate::migrator::MIGRATIONS_TABLE;
use crate::postgres::pg_message;

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

/// Application tables: everything but SQLite's own, FTS shadow tables and the bookkeeping.
pub fn application_tables(conn: &mut Connection) -> Result<Vec<String>, DbError> {
    match conn {
        Connection::Sqlite(c) => sqlite_tables(c),
        Connection::Postgres(c) => postgres_tables(c),
    }
}

/// Base tables of the `public` schema (the drizzle schema holds the bookkeeping).
fn postgres_tables(c: &mut impl ::postgres::GenericClient) -> Result<Vec<String>, DbError> {
    Ok(c.query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
        &[],
    )
    .map_err(|e| DbError::database("listing tables", pg_message(&e)))?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

fn sqlite_tables(c: &rusqlite::Connection) -> Result<Vec<String>, DbError> {
    let e = |err| DbError::database("listing tables", err);
    let mut stmt = c
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name <> ?1 AND (sql IS NULL OR sql NOT LIKE 'CREATE VIRTUAL%')
               AND name NOT IN (SELECT m.name || suffix FROM sqlite_master m,
                    (SELECT '_data' AS suffix UNION ALL SELECT '_idx' UNION ALL SELECT '_content'
                     UNION ALL SELECT '_docsize' UNION ALL SELECT '_config') WHERE m.sql LIKE 'CREATE VIRTUAL%')
             ORDER BY name",
        )
        .map_err(e)?;
    let names =
        stmt.query_map([MIGRATIONS_TABLE], |r| r.get(0)).map_err(e)?.collect::<Result<Vec<String>, _>>().map_err(e)?;
    Ok(names)
}

fn sqlite_edges(c: &rusqlite::Connection, tables: &[String]) -> Result<Vec<(String, String)>, DbError> {
    let e = |err| DbError::database("reading foreign keys", err);
    let mut edges = Vec::new();
    for t in tables {
        let mut stmt = c.prepare("SELECT \"table\" FROM pragma_foreign_key_list(?1)").map_err(e)?;
        for parent in stmt.query_map([t], |r| r.get::<_, String>(0)).map_err(e)? {
            edges.push((t.clone(), parent.map_err(e)?));
        }
    }
    Ok(edges)
}

/// Deletes every application row inside the caller's transaction; foreign-key checks are
/// deferred to commit so cycles need no special order.
pub fn clear_sqlite(tx: &rusqlite::Connection) -> Result<Vec<String>, DbError> {
    let tables = sqlite_tables(tx)?;
    let order = delete_order(&tables, &sqlite_edges(tx, &tables)?);
    tx.execute_batch("PRAGMA defer_foreign_keys = ON").map_err(|e| DbError::database("deferring foreign keys", e))?;
    for t in &order {
        tx.execute(&format!("DELETE FROM \"{t}\""), []).map_err(|e| DbError::database(format!("clearing {t}"), e))?;
    }
    Ok(order)
}

/// (child, parent) table pairs of the foreign keys between `public` tables.
fn postgres_edges(c: &mut impl ::postgres::GenericClient) -> Result<Vec<(String, String)>, DbError> {
    Ok(c.query(
        "SELECT child.relname::text, parent.relname::text
           FROM pg_constraint k
           JOIN pg_class child ON child.oid = k.conrelid
           JOIN pg_class parent ON parent.oid = k.confrelid
          WHERE k.contype = 'f'
            AND child.relnamespace = 'public'::regnamespace AND parent.relnamespace = 'public'::regnamespace
          ORDER BY 1, 2",
        &[],
    )
    .map_err(|e| DbError::database("reading foreign keys", pg_message(&e)))?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect())
}

/// Sequences owned by a column of `public` tables (serial and identity columns).
fn postgres_owned_sequences(c: &mut impl ::postgres::GenericClient) -> Result<Vec<String>, DbError> {
    Ok(c.query(
        "SELECT s.oid::regclass::text
           FROM pg_class s
           JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           JOIN pg_class t ON t.oid = d.refobjid
          WHERE s.relkind = 'S' AND t.relkind IN ('r', 'p') AND t.relnamespace = 'public'::regnamespace
          ORDER BY 1",
        &[],
    )
    .map_err(|e| DbError::database("listing sequences", pg_message(&e)))?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// Deletes every application row inside the caller's transaction, children before parents, and
/// restarts the sequences of serial and identity columns. Returns the tables in that order.
///
/// `DELETE`, not `TRUNCATE`, because the server keeps reading meanwhile. `TRUNCATE` is not
/// MVCC-safe: a request whose snapshot predates the commit but that reaches a table after it
/// finds the table empty (a 404 "no site", a page without sections), and its ACCESS EXCLUSIVE
/// locks, taken table by table in an order of their own, deadlock with requests that hold
/// ACCESS SHARE on one table and wait for the next. `DELETE` takes ROW EXCLUSIVE, which no
/// reader's ACCESS SHARE conflicts with, and the rows it removes stay visible to every snapshot
/// taken before the commit: a request sees the whole old data or the whole new data. Restarting a
/// sequence (transactional since PostgreSQL 10) locks only the sequence, which readers never
/// touch. Nothing here takes a table lock stronger than ROW EXCLUSIVE.
pub fn clear_postgres(tx: &mut ::postgres::Transaction<'_>) -> Result<Vec<String>, DbError> {
    let tables = postgres_tables(tx)?;
    let order = delete_order(&tables, &postgres_edges(tx)?);
    // Deferrable keys (sites.default_environment_id) are checked at commit, when the seed's
    // rows are in; the others hold at every statement because children go first.
    tx.batch_execute("SET CONSTRAINTS ALL DEFERRED")
        .map_err(|e| DbError::database("deferring foreign keys", pg_message(&e)))?;
    for t in &order {
        tx.batch_execute(&format!("DELETE FROM public.\"{t}\""))
            .map_err(|e| DbError::database(format!("clearing {t}"), pg_message(&e)))?;
    }
    for s in postgres_owned_sequences(tx)? {
        tx.batch_execute(&format!("ALTER SEQUENCE {s} RESTART"))
            .map_err(|e| DbError::database(format!("restarting the sequence {s}"), pg_message(&e)))?;
    }
    Ok(order)
}

/// The advisory-lock key that rewrites of the data (seed, `seed --force`, reset-data) take for
/// their transaction ("cms_seed" in ASCII; `migrate` uses another).
pub const WRITER_LOCK_KEY: i64 = 0x636d_735f_7365_6564;

/// Waits for any other seed or reset to commit, then holds the writer lock until this
/// transaction ends: two rewrites take turns, and the second one's statements (READ COMMITTED)
/// see everything the first wrote. Readers never take this lock.
pub fn lock_postgres_writers(tx: &mut ::postgres::Transaction<'_>) -> Result<(), DbError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK_KEY])
        .map_err(|e| DbError::database("waiting for another seed or reset to finish", pg_message(&e)))?;
    Ok(())
}

/// Clears every application row in one transaction. Returns the tables in the order cleared.
pub fn clear(conn: &mut Connection) -> Result<Vec<String>, DbError> {
    match conn {
        Connection::Sqlite(c) => {
            // IMMEDIATE: the write lock first, so a concurrent writer waits (busy timeout) instead
            // of failing when it upgrades a read transaction.
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| DbError::database("starting the transaction", e))?;
            let order = clear_sqlite(&tx)?;
            tx.commit().map_err(|e| DbError::database("committing", e))?;
            Ok(order)
        }
        Connection::Postgres(c) => {
            let mut tx = c.transaction().map_err(|e| DbError::database("starting the transaction", pg_message(&e)))?;
            lock_postgres_writers(&mut tx)?;
            let order = clear_postgres(&mut tx)?;
            tx.commit().map_err(|e| DbError::database("committing", pg_message(&e)))?;
            Ok(order)
        }
    }
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
