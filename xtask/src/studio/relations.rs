//! Foreign keys in both directions: the link a foreign-key value becomes, the rows that
//! reference a row (per child table, counted), and what deleting rows would do to the rows
//! that reference them (ON DELETE CASCADE, SET NULL, SET DEFAULT, and the references that
//! would make the delete fail), counted before anything is deleted.

use std::collections::{BTreeMap, BTreeSet};

use cms_db::connection::{Sql, Value};
use cms_db::schema::model::{Action, ForeignKey};
use cms_db::Dialect;

use super::catalog::{Catalog, Relation, RowKey};
use super::error::StudioError;
use super::query::{ident, keys_match, referencing_count, relation_sql, Builder};

/// Referencing rows are counted up to this many ("10,000+" beyond).
pub const COUNT_CAP: u64 = 10_000;

/// Where a foreign-key value leads.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    /// The referenced row itself (the key is the referenced table's primary key).
    Row { table: String, key: Vec<Value> },
    /// The referenced table filtered on the referenced columns (they are a unique key other
    /// than the primary key).
    Filtered { table: String, filters: Vec<(String, Value)> },
}

/// The value of `column` in `row` (values in the relation's column order).
fn value_of<'a>(rel: &Relation, row: &'a [Value], column: &str) -> Option<&'a Value> {
    rel.column_index(column).and_then(|i| row.get(i))
}

/// The link of foreign key `fk` of `rel` for a row (column values in column order), `None`
/// when a value is NULL or the referenced table is unknown.
pub fn fk_link(catalog: &Catalog, rel: &Relation, fk: &ForeignKey, row: &[Value]) -> Option<Link> {
    let values: Vec<Value> = fk.columns.iter().map(|c| value_of(rel, row, c).cloned()).collect::<Option<_>>()?;
    if values.iter().any(Value::is_null) {
        return None;
    }
    let table = catalog.display_of(&fk.references);
    let target = catalog.relation(&table)?;
    let pairs: BTreeMap<&str, &Value> = fk.referenced_columns.iter().map(String::as_str).zip(values.iter()).collect();
    if let RowKey::Primary(pk) = &target.key {
        let same: BTreeSet<&str> = pk.iter().map(String::as_str).collect();
        if same == pairs.keys().copied().collect() {
            let key = pk.iter().map(|c| pairs[c.as_str()].clone()).collect();
            return Some(Link::Row { table, key });
        }
    }
    Some(Link::Filtered { table, filters: fk.referenced_columns.iter().cloned().zip(values).collect() })
}

/// Rows of one child table that reference a row.
#[derive(Clone, Debug, PartialEq)]
pub struct Referencing {
    pub child: String,
    /// The child's columns that hold the reference, and the values they hold.
    pub filters: Vec<(String, Value)>,
    /// Counted up to [`COUNT_CAP`] + 1.
    pub count: u64,
    pub on_delete: Action,
}

/// For a row of `rel` (column values in column order): per foreign key that points at `rel`,
/// how many rows reference it.
pub fn referencing(
    tx: &mut dyn Sql,
    catalog: &Catalog,
    rel: &Relation,
    row: &[Value],
) -> Result<Vec<Referencing>, StudioError> {
    let mut out = Vec::new();
    for incoming in catalog.incoming(&rel.display) {
        let Some(child) = catalog.relation(&incoming.child) else { continue };
        let values: Option<Vec<Value>> =
            incoming.fk.referenced_columns.iter().map(|c| value_of(rel, row, c).cloned()).collect();
        let Some(values) = values.filter(|v| !v.iter().any(Value::is_null)) else { continue };
        let q = referencing_count(catalog.dialect, child, &incoming.fk.columns, &values, COUNT_CAP)?;
        let count = tx.query(&q.sql, &q.params)?.first().and_then(|r| r.first()).and_then(Value::int).unwrap_or(0);
        out.push(Referencing {
            child: incoming.child.clone(),
            filters: incoming.fk.columns.iter().cloned().zip(values).collect(),
            count: count as u64,
            on_delete: incoming.fk.on_delete,
        });
    }
    Ok(out)
}

/// What deleting rows does to one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Rows deleted with them (ON DELETE CASCADE, at any depth).
    Deleted,
    /// Rows whose reference becomes NULL (ON DELETE SET NULL) or its default (SET DEFAULT).
    Cleared { columns: Vec<String>, to_default: bool },
    /// Rows that still reference a deleted row (RESTRICT / NO ACTION): the delete fails.
    Blocks { columns: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consequence {
    pub table: String,
    pub effect: Effect,
    pub rows: u64,
}

/// The consequences of deleting `keys` from `root`, counted in the caller's snapshot: the
/// rows the cascade deletes in every table (the root's own rows included), the references
/// set to NULL or their default, and the references that would make the delete fail.
/// `incomplete` is set when a cycle of ON DELETE CASCADE through several tables was cut.
pub struct DeletePlan {
    pub consequences: Vec<Consequence>,
    pub incomplete: bool,
}

pub fn delete_plan(
    tx: &mut dyn Sql,
    catalog: &Catalog,
    root: &Relation,
    keys: &[Vec<Value>],
) -> Result<DeletePlan, StudioError> {
    let mut b = Builder::new(catalog.dialect);
    let root_cond = keys_match(&mut b, root, keys)?;
    let mut sets = Sets::new(catalog, &root.display, root_cond);
    let closure = sets.closure.clone();
    let mut consequences = Vec::new();
    for table in &closure {
        let Some(set) = sets.set_sql(table) else { continue };
        let n = count(tx, &format!("SELECT count(*) FROM ({set}) AS s"), &b.params)?;
        if n > 0 || table == &root.display {
            consequences.push(Consequence { table: table.clone(), effect: Effect::Deleted, rows: n });
        }
    }
    // References from rows that stay: cleared, or blocking.
    for rel in catalog.relations.values() {
        for fk in &rel.foreign_keys {
            let parent = catalog.display_of(&fk.references);
            if !closure.contains(&parent) || fk.on_delete == Action::Cascade {
                continue;
            }
            let Some(parent_set) = sets.set_sql(&parent) else { continue };
            let mut cond = format!(
                "{} IN (SELECT {} FROM ({parent_set}) AS p)",
                tuple(&fk.columns),
                fk.referenced_columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
            );
            // Rows of a table the cascade deletes anyway are not left behind.
            if closure.contains(&rel.display) {
                if let (Some(own), RowKey::Primary(pk)) = (sets.set_sql(&rel.display), &rel.key) {
                    cond.push_str(&format!(
                        " AND {} NOT IN (SELECT {} FROM ({own}) AS o)",
                        tuple(pk),
                        pk.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            let sql = format!("SELECT count(*) FROM {} WHERE {cond}", relation_sql(catalog.dialect, &rel.name));
            let n = count(tx, &sql, &b.params)?;
            if n == 0 {
                continue;
            }
            let effect = match fk.on_delete {
                Action::SetNull => Effect::Cleared { columns: fk.columns.clone(), to_default: false },
                Action::SetDefault => Effect::Cleared { columns: fk.columns.clone(), to_default: true },
                _ => Effect::Blocks { columns: fk.columns.clone() },
            };
            consequences.push(Consequence { table: rel.display.clone(), effect, rows: n });
        }
    }
    Ok(DeletePlan { consequences, incomplete: sets.incomplete })
}

fn count(tx: &mut dyn Sql, sql: &str, params: &[Value]) -> Result<u64, StudioError> {
    // Only the placeholders the text uses may be bound (PostgreSQL counts them).
    let used = max_placeholder(sql);
    let n = tx.query(sql, &params[..used.min(params.len())])?;
    Ok(n.first().and_then(|r| r.first()).and_then(Value::int).unwrap_or(0) as u64)
}

/// The highest `$n` in a text.
fn max_placeholder(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut max = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if let Ok(n) = sql[start..j].parse::<usize>() {
                max = max.max(n);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    max
}

/// `"a"` or `("a", "b")`.
fn tuple(columns: &[String]) -> String {
    if columns.len() == 1 {
        ident(&columns[0])
    } else {
        format!("({})", columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", "))
    }
}

/// The SQL of "the rows of table X that the delete removes", per table of the cascade.
struct Sets<'c> {
    catalog: &'c Catalog,
    root: String,
    root_cond: String,
    /// Every table the cascade reaches (the root first, then in discovery order).
    closure: Vec<String>,
    memo: BTreeMap<String, Option<String>>,
    in_progress: BTreeSet<String>,
    incomplete: bool,
}

impl<'c> Sets<'c> {
    fn new(catalog: &'c Catalog, root: &str, root_cond: String) -> Sets<'c> {
        let mut closure = vec![root.to_string()];
        let mut i = 0;
        while i < closure.len() {
            let parent = closure[i].clone();
            for inc in catalog.incoming(&parent) {
                if inc.fk.on_delete == Action::Cascade && !closure.contains(&inc.child) {
                    closure.push(inc.child.clone());
                }
            }
            i += 1;
        }
        Sets {
            catalog,
            root: root.to_string(),
            root_cond,
            closure,
            memo: BTreeMap::new(),
            in_progress: BTreeSet::new(),
            incomplete: false,
        }
    }

    /// The columns a set of `rel` must carry: its key and every column a foreign key points at.
    fn carried(&self, rel: &Relation) -> Vec<String> {
        let mut cols: Vec<String> = match &rel.key {
            RowKey::Primary(pk) => pk.clone(),
            _ => Vec::new(),
        };
        for inc in self.catalog.incoming(&rel.display) {
            for c in &inc.fk.referenced_columns {
                if !cols.contains(c) {
                    cols.push(c.clone());
                }
            }
        }
        if cols.is_empty() {
            cols = rel.columns.iter().map(|c| c.name.clone()).collect();
        }
        cols
    }

    fn set_sql(&mut self, table: &str) -> Option<String> {
        if let Some(done) = self.memo.get(table) {
            return done.clone();
        }
        if !self.in_progress.insert(table.to_string()) {
            self.incomplete = true;
            return None;
        }
        let sql = self.build(table);
        self.in_progress.remove(table);
        self.memo.insert(table.to_string(), sql.clone());
        sql
    }

    fn build(&mut self, table: &str) -> Option<String> {
        let catalog = self.catalog;
        let dialect: Dialect = catalog.dialect;
        let rel = catalog.relation(table)?;
        let mut conds = Vec::new();
        if table == self.root {
            conds.push(self.root_cond.clone());
        }
        let mut self_keys = Vec::new();
        for fk in &rel.foreign_keys {
            if fk.on_delete != Action::Cascade {
                continue;
            }
            let parent = catalog.display_of(&fk.references);
            if parent == table {
                self_keys.push(fk.clone());
                continue;
            }
            if !self.closure.contains(&parent) {
                continue;
            }
            let Some(parent_set) = self.set_sql(&parent) else { continue };
            conds.push(format!(
                "{} IN (SELECT {} FROM ({parent_set}) AS p)",
                tuple(&fk.columns),
                fk.referenced_columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
            ));
        }
        if conds.is_empty() {
            return None;
        }
        let carried = self.carried(rel);
        let cols = carried.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        let target = relation_sql(dialect, &rel.name);
        let base = format!("SELECT {cols} FROM {target} WHERE {}", conds.join(" OR "));
        if self_keys.is_empty() {
            return Some(base);
        }
        // A tree (parent_id → id ON DELETE CASCADE): the rows found, and their descendants.
        let x_cols = carried.iter().map(|c| format!("x.{}", ident(c))).collect::<Vec<_>>().join(", ");
        let joins = self_keys
            .iter()
            .map(|fk| {
                fk.columns
                    .iter()
                    .zip(&fk.referenced_columns)
                    .map(|(c, r)| format!("x.{} = d.{}", ident(c), ident(r)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            })
            .map(|j| format!("({j})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        Some(format!(
            "WITH RECURSIVE d({cols}) AS ({base} UNION SELECT {x_cols} FROM {target} AS x JOIN d ON {joins}) SELECT {cols} FROM d"
        ))
    }
}

/// A plan's consequences as sentences.
pub fn describe(c: &Consequence) -> String {
    let rows = if c.rows == 1 { "1 row".to_string() } else { format!("{} rows", group(c.rows)) };
    match &c.effect {
        Effect::Deleted => format!("{rows} of {} deleted", c.table),
        Effect::Cleared { columns, to_default: false } => {
            format!("{rows} of {} keep their row but {} becomes NULL", c.table, columns.join(", "))
        }
        Effect::Cleared { columns, to_default: true } => {
            format!("{rows} of {} get the default in {}", c.table, columns.join(", "))
        }
        Effect::Blocks { columns } => format!(
            "{rows} of {} still reference them through {} (RESTRICT / NO ACTION): the database will refuse the delete",
            c.table,
            columns.join(", ")
        ),
    }
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::connection::Connection;

    fn db(ddl: &str) -> (Connection, Catalog) {
        let raw = cms_db::sqlite::open_in_memory().unwrap();
        raw.execute_batch(ddl).unwrap();
        let schema = cms_db::schema::introspect::sqlite(&raw).unwrap();
        let mut conn = Connection::Sqlite(raw);
        let catalog = Catalog::build(schema, &mut conn, String::new()).unwrap();
        (conn, catalog)
    }

    const TREE: &str = "
        CREATE TABLE sites (id TEXT PRIMARY KEY, env TEXT REFERENCES envs(id) ON DELETE SET NULL);
        CREATE TABLE envs (id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE);
        CREATE TABLE pages (id TEXT PRIMARY KEY, site_id TEXT REFERENCES sites(id) ON DELETE CASCADE,
                            env_id TEXT REFERENCES envs(id) ON DELETE CASCADE);
        CREATE TABLE nav (id INTEGER PRIMARY KEY, page_id TEXT REFERENCES pages(id) ON DELETE CASCADE,
                          parent_id INTEGER REFERENCES nav(id) ON DELETE CASCADE);
        CREATE TABLE defs (id TEXT PRIMARY KEY);
        CREATE TABLE sections (id INTEGER PRIMARY KEY, page_id TEXT REFERENCES pages(id) ON DELETE CASCADE,
                               def_id TEXT REFERENCES defs(id) ON DELETE RESTRICT);
        CREATE TABLE posts (id INTEGER PRIMARY KEY, page_id TEXT REFERENCES pages(id) ON DELETE SET NULL);
        INSERT INTO sites VALUES ('s1', NULL), ('s2', NULL);
        INSERT INTO envs VALUES ('e1', 's1'), ('e2', 's2');
        UPDATE sites SET env = 'e1' WHERE id = 's1';
        UPDATE sites SET env = 'e1' WHERE id = 's2';
        INSERT INTO pages VALUES ('p1', 's1', 'e1'), ('p2', NULL, 'e1'), ('p3', 's2', 'e2');
        INSERT INTO nav VALUES (1, 'p1', NULL), (2, NULL, 1), (3, NULL, 2), (4, NULL, NULL);
        INSERT INTO defs VALUES ('d1');
        INSERT INTO sections VALUES (1, 'p1', 'd1'), (2, 'p2', 'd1'), (3, 'p3', 'd1');
        INSERT INTO posts VALUES (1, 'p1'), (2, 'p3');
    ";

    fn rows(plan: &DeletePlan, table: &str) -> Option<u64> {
        plan.consequences.iter().find(|c| c.table == table && c.effect == Effect::Deleted).map(|c| c.rows)
    }

    #[test]
    fn counts_every_level_of_a_cascade_with_diamonds_and_trees() {
        let (mut conn, catalog) = db(TREE);
        let sites = catalog.relation("sites").unwrap().clone();
        let plan = delete_plan(&mut conn, &catalog, &sites, &[vec![Value::Text("s1".into())]]).unwrap();
        assert!(!plan.incomplete);
        assert_eq!(rows(&plan, "sites"), Some(1));
        assert_eq!(rows(&plan, "envs"), Some(1));
        // p1 through site_id, p2 through env_id (a diamond), p3 not.
        assert_eq!(rows(&plan, "pages"), Some(2));
        // nav 1 by page, 2 and 3 as its descendants; 4 stays.
        assert_eq!(rows(&plan, "nav"), Some(3));
        assert_eq!(rows(&plan, "sections"), Some(2));
        let cleared: Vec<_> = plan.consequences.iter().filter(|c| matches!(c.effect, Effect::Cleared { .. })).collect();
        // posts.page_id of post 1 becomes NULL; site s2's env (e1) too; site s1 itself is deleted.
        assert_eq!(cleared.len(), 2, "{:?}", plan.consequences);
        assert!(cleared.iter().any(|c| c.table == "posts" && c.rows == 1));
        assert!(cleared.iter().any(|c| c.table == "sites" && c.rows == 1));
        // What the database really does agrees.
        let before: i64 = conn.query("SELECT count(*) FROM nav", &[]).unwrap()[0][0].int().unwrap();
        conn.execute("DELETE FROM sites WHERE id = 's1'", &[]).unwrap();
        let after: i64 = conn.query("SELECT count(*) FROM nav", &[]).unwrap()[0][0].int().unwrap();
        assert_eq!(before - after, 3);
    }

    #[test]
    fn restrict_references_are_reported_as_blocking() {
        let (mut conn, catalog) = db(TREE);
        let defs = catalog.relation("defs").unwrap().clone();
        let plan = delete_plan(&mut conn, &catalog, &defs, &[vec![Value::Text("d1".into())]]).unwrap();
        let blocks = plan.consequences.iter().find(|c| matches!(c.effect, Effect::Blocks { .. })).unwrap();
        assert_eq!((blocks.table.as_str(), blocks.rows), ("sections", 3));
        assert!(describe(blocks).contains("refuse"));
    }

    #[test]
    fn links_and_referencing_rows() {
        let (mut conn, catalog) = db(TREE);
        let pages = catalog.relation("pages").unwrap();
        let row = vec![Value::Text("p1".into()), Value::Text("s1".into()), Value::Text("e1".into())];
        let fk = pages.foreign_keys.iter().find(|f| f.columns == ["site_id"]).unwrap();
        assert_eq!(
            fk_link(&catalog, pages, fk, &row),
            Some(Link::Row { table: "sites".into(), key: vec![Value::Text("s1".into())] })
        );
        let refs = referencing(&mut conn, &catalog, pages, &row).unwrap();
        let count = |t: &str| refs.iter().find(|r| r.child == t).map(|r| r.count);
        assert_eq!((count("nav"), count("sections"), count("posts")), (Some(1), Some(1), Some(1)));
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(max_placeholder("a $1 b $12 c $"), 12);
    }
}
