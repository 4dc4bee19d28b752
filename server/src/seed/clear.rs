//! Clearing every application row while keeping the schema and the migration history, in an
//! order derived from the database's actual foreign-key graph.

use std::collections::{BTreeMap, BTreeSet};

use crate::db::connection::Connection;
use crate::db::error::DbError;
use crate::db::migrator::MIGRATIONS_TABLE;
use crate::db::postgres::pg_message;

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

/// Empties every application table with one `TRUNCATE … CASCADE` inside the caller's
/// transaction.
pub fn clear_postgres(tx: &mut ::postgres::Transaction<'_>) -> Result<Vec<String>, DbError> {
    let tables = postgres_tables(tx)?;
    if tables.is_empty() {
        return Ok(tables);
    }
    let list = tables.iter().map(|t| format!("public.\"{t}\"")).collect::<Vec<_>>().join(", ");
    tx.batch_execute(&format!("TRUNCATE {list} RESTART IDENTITY CASCADE"))
        .map_err(|e| DbError::database("truncating the application tables", pg_message(&e)))?;
    Ok(tables)
}

/// Clears every application row in one transaction. Returns the tables in the order cleared.
pub fn clear(conn: &mut Connection) -> Result<Vec<String>, DbError> {
    match conn {
        Connection::Sqlite(c) => {
            let tx = c.transaction().map_err(|e| DbError::database("starting the transaction", e))?;
            let order = clear_sqlite(&tx)?;
            tx.commit().map_err(|e| DbError::database("committing", e))?;
            Ok(order)
        }
        Connection::Postgres(c) => {
            let mut tx = c.transaction().map_err(|e| DbError::database("starting the transaction", pg_message(&e)))?;
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
