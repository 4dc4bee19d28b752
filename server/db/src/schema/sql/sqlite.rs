//! SQLite DDL. `ALTER TABLE` does what it can (add a column that allows it, rename a table or a
//! column, drop a column that nothing depends on); every other change to a table is a rebuild:
//!
//! ```sql
//! PRAGMA foreign_keys=OFF;
//! CREATE TABLE `__new_t` (…the new definition…);
//! INSERT INTO `__new_t`(`kept`, …) SELECT `kept`, … FROM `t`;
//! DROP TABLE `t`;
//! ALTER TABLE `__new_t` RENAME TO `t`;
//! PRAGMA foreign_keys=ON;
//! ```
//!
//! followed by the table's indexes, and the triggers and views that read it, created again.
//! Those triggers and views are dropped before the rebuild: `ALTER TABLE … RENAME` checks every
//! trigger and view of the schema and fails on one that names a table that is, for the
//! moment, missing. Children of a rebuilt table keep naming it and are valid again once the
//! rename is done; the project's runner runs a migration holding `PRAGMA foreign_keys` with
//! foreign keys off and checks `PRAGMA foreign_key_check` before it commits.
//!
//! Column types are written in lower case, as Drizzle Kit writes them (`text`, `integer`),
//! while the model keeps SQLite's normal form (upper case).
//!
//! Order: triggers and views that depend on what changes are dropped; indexes dropped; tables
//! and columns renamed; new tables created (parents first); columns added; tables rebuilt
//! (parents first); columns and tables dropped (children first); then indexes, views and
//! triggers created.

use std::collections::{BTreeMap, BTreeSet};

use super::{literal, mentions_any, order_renames, requalify, topological, Statement};
use crate::schema::diff::{self, Change, Safety};
use crate::schema::introspect::{tokenize, Lexer, TokenKind};
use crate::schema::model::*;

/// `` `name` `` with backticks doubled.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn quote_list(cols: &[String]) -> String {
    cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",")
}

fn constraint_prefix(name: &Option<String>) -> String {
    match name {
        Some(n) => format!("CONSTRAINT {} ", quote(n)),
        None => String::new(),
    }
}

/// A default as SQLite accepts it: literals as they are, any other expression in parentheses
/// (the model stores expressions without their outer parentheses). A lone name (`text`,
/// `"it's"`) is what SQLite makes of `DEFAULT name`: the string literal of the name
/// (`'text'`, `'it''s'`), never `(name)`, which it refuses as not constant.
fn default_sql(expr: &str) -> String {
    if let Some(name) = lone_name(expr) {
        literal(&name)
    } else if is_literal(expr) || is_current_time(expr) {
        expr.to_string()
    } else {
        format!("({expr})")
    }
}

/// The name when `expr` is nothing but one: a quoted identifier, or a bare word that is not
/// `NULL`, `TRUE`, `FALSE` or `CURRENT_TIME`/`_DATE`/`_TIMESTAMP`.
fn lone_name(expr: &str) -> Option<String> {
    match tokenize(expr, Lexer::Sqlite).as_slice() {
        [t] => match &t.kind {
            TokenKind::Quoted(name) => Some(name.clone()),
            TokenKind::Word if !is_literal(t.text) && !is_current_time(t.text) => Some(t.text.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn is_current_time(expr: &str) -> bool {
    matches!(expr.to_ascii_uppercase().as_str(), "CURRENT_TIME" | "CURRENT_DATE" | "CURRENT_TIMESTAMP")
}

/// A constant literal: a string, a blob, a number (signed), NULL, TRUE or FALSE.
fn is_literal(expr: &str) -> bool {
    let e = expr.trim();
    let upper = e.to_ascii_uppercase();
    if matches!(upper.as_str(), "NULL" | "TRUE" | "FALSE") {
        return true;
    }
    let body = |s: &str| {
        let b = s.as_bytes();
        b.len() >= 2 && b[0] == b'\'' && b[b.len() - 1] == b'\'' && !s[1..s.len() - 1].replace("''", "").contains('\'')
    };
    if body(e) {
        return true;
    }
    if (e.starts_with('x') || e.starts_with('X')) && body(&e[1..]) {
        return true;
    }
    let unsigned = e.trim_start_matches(['+', '-']).trim_start();
    !unsigned.is_empty()
        && unsigned.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
        && unsigned.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '+' || c == '-')
        && (unsigned.parse::<f64>().is_ok() || unsigned.to_ascii_lowercase().starts_with("0x"))
}

fn deferrable(d: Deferrable) -> &'static str {
    match d {
        Deferrable::NotDeferrable => "",
        Deferrable::InitiallyImmediate => " DEFERRABLE INITIALLY IMMEDIATE",
        Deferrable::InitiallyDeferred => " DEFERRABLE INITIALLY DEFERRED",
    }
}

fn column_def(c: &Column, inline_pk: bool, requalified: &dyn Fn(&str) -> String) -> String {
    let mut s = quote(&c.name);
    if !c.data_type.is_empty() {
        s.push(' ');
        s.push_str(&type_sql(&c.data_type));
    }
    if inline_pk {
        s.push_str(" PRIMARY KEY");
        if c.autoincrement {
            s.push_str(" AUTOINCREMENT");
        }
    }
    if let Some(coll) = &c.collation {
        s.push_str(" COLLATE ");
        s.push_str(coll);
    }
    if let Some(d) = &c.default {
        s.push_str(" DEFAULT ");
        s.push_str(&default_sql(d));
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(
            " GENERATED ALWAYS AS ({}) {}",
            requalified(&g.expression),
            if g.stored { "STORED" } else { "VIRTUAL" }
        ));
    }
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    s
}

/// A column type as Drizzle Kit writes it: lower case (`text`, `integer`, `varchar(255)`).
/// The model's normal form is upper case; SQLite reads a type name in any case the same, so
/// introspection gives the model's spelling back.
fn type_sql(data_type: &str) -> String {
    data_type.to_ascii_lowercase()
}

fn foreign_key_sql(fk: &ForeignKey) -> String {
    let target = if fk.referenced_columns.is_empty() {
        quote(&fk.references.name)
    } else {
        format!("{}({})", quote(&fk.references.name), quote_list(&fk.referenced_columns))
    };
    format!(
        "{}FOREIGN KEY ({}) REFERENCES {target} ON UPDATE {} ON DELETE {}{}",
        constraint_prefix(&fk.name),
        quote_list(&fk.columns),
        super::action(fk.on_update),
        super::action(fk.on_delete),
        deferrable(fk.deferrable)
    )
}

/// `CREATE TABLE` for `t`, under `name` (its own, or `__new_t` in a rebuild: the table's
/// qualified references in checks and generated columns follow).
pub fn create_table_sql(t: &Table, name: &str) -> String {
    let requalified =
        |e: &str| if name == t.name.name { e.to_string() } else { requalify(e, &t.name.name, &quote(name)) };
    let inline_pk = t
        .primary_key
        .as_ref()
        .filter(|pk| pk.columns.len() == 1 && pk.name.is_none() && t.column(&pk.columns[0]).is_some())
        .map(|pk| pk.columns[0].clone());
    let mut lines: Vec<String> =
        t.columns.iter().map(|c| column_def(c, inline_pk.as_deref() == Some(c.name.as_str()), &requalified)).collect();
    if let Some(pk) = t.primary_key.as_ref().filter(|_| inline_pk.is_none()) {
        // A named key keeps its column's AUTOINCREMENT inside: `PRIMARY KEY(`id` AUTOINCREMENT)`.
        let autoincrement = match pk.columns.as_slice() {
            [c] if t.column(c).is_some_and(|c| c.autoincrement) => " AUTOINCREMENT",
            _ => "",
        };
        lines.push(format!("{}PRIMARY KEY({}{autoincrement})", constraint_prefix(&pk.name), quote_list(&pk.columns)));
    }
    for fk in &t.foreign_keys {
        lines.push(foreign_key_sql(fk));
    }
    for u in &t.uniques {
        lines.push(format!("{}UNIQUE({})", constraint_prefix(&u.name), quote_list(&u.columns)));
    }
    for c in &t.checks {
        lines.push(format!("{}CHECK({})", constraint_prefix(&c.name), requalified(&c.expression)));
    }
    let mut options = Vec::new();
    if t.without_rowid {
        options.push("WITHOUT ROWID");
    }
    if t.strict {
        options.push("STRICT");
    }
    let options = if options.is_empty() { String::new() } else { format!(" {}", options.join(", ")) };
    format!("CREATE TABLE {} (\n\t{}\n){options};", quote(name), lines.join(",\n\t"))
}

/// `CREATE [UNIQUE] INDEX` for an index of `table`.
pub fn create_index_sql(table: &str, i: &Index) -> String {
    let keys: Vec<String> = i
        .keys
        .iter()
        .map(|k| {
            let mut s = match &k.target {
                IndexTarget::Column(c) => quote(c),
                IndexTarget::Expression(e) => format!("({e})"),
            };
            if let Some(c) = &k.collation {
                s.push_str(" COLLATE ");
                s.push_str(c);
            }
            if k.descending {
                s.push_str(" DESC");
            }
            s
        })
        .collect();
    let mut s = format!(
        "CREATE {}INDEX {} ON {} ({})",
        if i.unique { "UNIQUE " } else { "" },
        quote(&i.name),
        quote(table),
        keys.join(",")
    );
    if let Some(p) = &i.predicate {
        s.push_str(" WHERE ");
        s.push_str(p);
    }
    s.push(';');
    s
}

/// Whether `ALTER TABLE … ADD COLUMN` can add `c` to `t` (its definition in `to`).
fn addable(c: &Column, t: &Table) -> bool {
    let in_pk = t.primary_key.as_ref().is_some_and(|pk| pk.columns.contains(&c.name));
    let in_unique = t.uniques.iter().any(|u| u.columns.contains(&c.name));
    let in_fk = t.foreign_keys.iter().any(|f| f.columns.contains(&c.name));
    let default_ok = match &c.default {
        None => !c.not_null,
        Some(d) => (is_literal(d) || lone_name(d).is_some()) && !(c.not_null && d.trim().eq_ignore_ascii_case("NULL")),
    };
    let generated_ok = match &c.generated {
        None => true,
        Some(g) => !g.stored && !c.not_null && c.default.is_none(),
    };
    let default_ok = default_ok || (c.generated.is_some() && c.default.is_none());
    !in_pk && !in_unique && !in_fk && !c.autoincrement && default_ok && generated_ok
}

/// Whether `ALTER TABLE … DROP COLUMN` can drop `col` from `t` (as it is after the renames):
/// not part of the key, a unique or a foreign key, not named by a check, a generated column
/// or another table's foreign key. (Indexes on it are dropped before; triggers and views that
/// read the table are dropped and created again.)
fn droppable(col: &str, t: &Table, schema: &Schema) -> bool {
    let col_s = col.to_string();
    let names = std::slice::from_ref(&col_s);
    !(t.primary_key.as_ref().is_some_and(|pk| pk.columns.iter().any(|c| c == col))
        || t.uniques.iter().any(|u| u.columns.iter().any(|c| c == col))
        || t.foreign_keys.iter().any(|f| f.columns.iter().any(|c| c == col))
        || t.checks.iter().any(|c| mentions_any(&c.expression, names))
        || t.columns
            .iter()
            .any(|c| c.name != col && c.generated.as_ref().is_some_and(|g| mentions_any(&g.expression, names)))
        || schema.tables.values().any(|o| {
            o.foreign_keys.iter().any(|f| f.references == t.name && f.referenced_columns.iter().any(|c| c == col))
        }))
}

/// The statements for `changes` (from `from` to `to`), in an order that works.
pub(super) fn render(changes: &[Change], from: &Schema, to: &Schema) -> Vec<Statement> {
    let f = diff::renamed(from, changes);
    let mut created: Vec<QualifiedName> = Vec::new();
    let mut dropped_tables: Vec<&Table> = Vec::new();
    let mut rebuilt: BTreeSet<QualifiedName> = BTreeSet::new();
    let mut add_cols: BTreeMap<QualifiedName, Vec<&Column>> = BTreeMap::new();
    let mut drop_cols: BTreeMap<QualifiedName, Vec<&Column>> = BTreeMap::new();
    let mut table_renames: Vec<(QualifiedName, QualifiedName)> = Vec::new();
    let mut column_renames: BTreeMap<QualifiedName, Vec<(String, String)>> = BTreeMap::new();
    // Losses per table, for the warning on a rebuild's DROP TABLE.
    let mut losses: BTreeMap<QualifiedName, Vec<String>> = BTreeMap::new();

    for c in changes {
        if let (Some(t), Safety::Destructive(loss)) = (c.table(), c.safety()) {
            losses.entry(t.clone()).or_default().push(loss.to_string());
        }
        match c {
            Change::CreateTable { table } => created.push(table.name.clone()),
            Change::DropTable { table } => dropped_tables.push(table),
            Change::RenameTable { from, to } => table_renames.push((from.clone(), to.clone())),
            Change::RenameColumn { table, from, to } => {
                column_renames.entry(table.clone()).or_default().push((from.clone(), to.clone()))
            }
            Change::AddColumn { table, column } => {
                if to.tables.get(table).is_some_and(|t| addable(column, t)) {
                    add_cols.entry(table.clone()).or_default().push(column);
                } else {
                    rebuilt.insert(table.clone());
                }
            }
            Change::DropColumn { table, column } => drop_cols.entry(table.clone()).or_default().push(column),
            Change::AlterColumn { table, .. }
            | Change::SetPrimaryKey { table, .. }
            | Change::AddUnique { table, .. }
            | Change::DropUnique { table, .. }
            | Change::AddCheck { table, .. }
            | Change::DropCheck { table, .. }
            | Change::AddForeignKey { table, .. }
            | Change::DropForeignKey { table, .. }
            | Change::RenameConstraint { table, .. }
            | Change::AlterTableOptions { table, .. } => {
                rebuilt.insert(table.clone());
            }
            _ => {}
        }
    }
    // Columns dropped because a rename takes their name go before the renames.
    let mut displaced_cols: Vec<(QualifiedName, &Column)> = Vec::new();
    for (table, cols) in &mut drop_cols {
        let renamed_to: Vec<&String> =
            column_renames.get(table).map(|r| r.iter().map(|(_, n)| n).collect()).unwrap_or_default();
        cols.retain(|c| {
            if renamed_to.contains(&&c.name) {
                displaced_cols.push((table.clone(), c));
                false
            } else {
                true
            }
        });
    }
    for (table, cols) in &drop_cols {
        if let Some(t) = f.tables.get(table) {
            if cols.iter().any(|c| !droppable(&c.name, t, &f)) {
                rebuilt.insert(table.clone());
            }
        }
    }
    add_cols.retain(|t, _| !rebuilt.contains(t));
    drop_cols.retain(|t, v| !rebuilt.contains(t) && !v.is_empty());
    let dropped_names: BTreeSet<QualifiedName> = dropped_tables.iter().map(|t| t.name.clone()).collect();

    // What triggers and views may not outlive: rebuilt and dropped tables, tables losing a
    // column, dropped or replaced views and virtual tables; under their old names too.
    let mut affected: BTreeSet<String> = BTreeSet::new();
    for q in rebuilt.iter().chain(&dropped_names).chain(drop_cols.keys()) {
        affected.insert(q.name.clone());
        if let Some((old, _)) = table_renames.iter().find(|(_, new)| new == q) {
            affected.insert(old.name.clone());
        }
    }
    let super::ViewsAndTriggers { mut view_drops, mut created_views, trigger_drops, mut created_triggers } =
        super::views_and_triggers(changes);
    let mut trigger_drops: BTreeSet<(QualifiedName, String)> = trigger_drops.iter().map(|t| t.key()).collect();
    let mut vt_drops: Vec<&VirtualTable> = Vec::new();
    let mut vt_replaced: Vec<(&VirtualTable, &VirtualTable)> = Vec::new();
    let mut vt_created: Vec<&VirtualTable> = Vec::new();
    let mut index_drops: Vec<&Index> = Vec::new();
    let mut index_creates: Vec<(QualifiedName, Index)> = Vec::new();
    for c in changes {
        match c {
            Change::DropVirtualTable { table } => {
                affected.insert(table.name.name.clone());
                vt_drops.push(table);
            }
            Change::ReplaceVirtualTable { from, to } => {
                affected.insert(from.name.name.clone());
                vt_replaced.push((from, to));
            }
            Change::CreateVirtualTable { table } => vt_created.push(table),
            Change::DropIndex { table, index } if !rebuilt.contains(table) && !dropped_names.contains(table) => {
                index_drops.push(index);
            }
            Change::RenameIndex { table, from: old, to: new } if !rebuilt.contains(table) => {
                if let Some(i) = f.tables.get(table).and_then(|t| t.indexes.get(old)) {
                    index_drops.push(i);
                }
                if let Some(i) = to.tables.get(table).and_then(|t| t.indexes.get(new)) {
                    index_creates.push((table.clone(), i.clone()));
                }
            }
            Change::CreateIndex { table, index } if !rebuilt.contains(table) => {
                index_creates.push((table.clone(), index.clone()));
            }
            _ => {}
        }
    }
    for t in &rebuilt {
        if let Some(t) = to.tables.get(t) {
            index_creates.extend(t.indexes.values().map(|i| (t.name.clone(), i.clone())));
        }
    }
    for t in &created {
        if let Some(t) = to.tables.get(t) {
            index_creates.extend(t.indexes.values().map(|i| (t.name.clone(), i.clone())));
        }
    }
    // Views that read anything affected (transitively through views), and triggers that name
    // anything affected, are dropped first and created again.
    for v in &view_drops {
        affected.insert(v.name.clone());
    }
    loop {
        let before = view_drops.len();
        for (name, v) in &f.views {
            if !view_drops.contains(name) && mentions_any(&v.definition, &affected) {
                view_drops.insert(name.clone());
                affected.insert(name.name.clone());
            }
        }
        if view_drops.len() == before {
            break;
        }
    }
    for (name, t) in &f.triggers {
        if mentions_any(&t.definition, &affected) || affected.contains(&t.table.name) {
            trigger_drops.insert(name.clone());
        }
    }
    for name in &view_drops {
        if to.views.contains_key(name) {
            created_views.insert(name.clone());
        }
    }
    let recreated_view_names: BTreeSet<String> = created_views.iter().map(|v| v.name.clone()).collect();
    for (name, t) in &to.triggers {
        if trigger_drops.contains(name) || rebuilt.contains(&t.table) || recreated_view_names.contains(&t.table.name) {
            created_triggers.insert(name.clone());
        }
    }

    let mut out: Vec<Statement> = Vec::new();
    // 1. Triggers, views and indexes that must go first.
    for key in &trigger_drops {
        if let Some(t) = f.triggers.get(key) {
            out.push(Statement::new(format!("DROP TRIGGER {};", quote(&t.name.name))));
        }
    }
    let view_list: Vec<QualifiedName> = f.views.keys().filter(|n| view_drops.contains(*n)).cloned().collect();
    let (mut view_order, _) = topological(&view_list, |n| view_deps(&f.views[n].definition, &f.views));
    view_order.reverse();
    for name in &view_order {
        out.push(Statement::new(format!("DROP VIEW {};", quote(&name.name))));
    }
    for i in &index_drops {
        out.push(Statement::new(format!("DROP INDEX {};", quote(&i.name))));
    }
    for (vt, _) in &vt_replaced {
        out.push(
            Statement::new(format!("DROP TABLE {};", quote(&vt.name.name)))
                .with_warning(diff::Loss::VirtualTable { table: vt.name.clone() }.to_string()),
        );
    }

    // 2. Renames (objects whose name a rename takes are dropped first).
    let rename_targets: BTreeSet<&QualifiedName> = table_renames.iter().map(|(_, n)| n).collect();
    for t in dropped_tables.iter().filter(|t| rename_targets.contains(&t.name)) {
        out.push(drop_table(t));
    }
    for (table, c) in &displaced_cols {
        let old_table = table_renames.iter().find(|(_, n)| n == table).map(|(o, _)| o).unwrap_or(table);
        out.push(
            Statement::new(format!("ALTER TABLE {} DROP COLUMN {};", quote(&old_table.name), quote(&c.name)))
                .with_warning(diff::Loss::Column { table: table.clone(), column: c.name.clone() }.to_string()),
        );
    }
    let pairs: Vec<(String, String)> = table_renames.iter().map(|(a, b)| (a.name.clone(), b.name.clone())).collect();
    for (a, b) in order_renames(&pairs) {
        out.push(Statement::new(format!("ALTER TABLE {} RENAME TO {};", quote(&a), quote(&b))));
    }
    for (table, pairs) in &column_renames {
        for (a, b) in order_renames(pairs) {
            out.push(Statement::new(format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                quote(&table.name),
                quote(&a),
                quote(&b)
            )));
        }
    }

    // 3. New tables, parents first; virtual tables.
    let (order, _) = topological(&created, |n| fk_targets(to.tables.get(n)));
    for name in &order {
        out.push(Statement::new(create_table_sql(&to.tables[name], &name.name)));
    }
    for vt in vt_created.iter().copied().chain(vt_replaced.iter().map(|(_, n)| *n)) {
        out.push(Statement::new(vt.definition.clone()));
    }

    // 4. Columns ALTER TABLE can add.
    for (table, cols) in &add_cols {
        for c in cols {
            out.push(Statement::new(format!(
                "ALTER TABLE {} ADD {};",
                quote(&table.name),
                column_def(c, false, &|e: &str| e.to_string())
            )));
        }
    }

    // 5. Rebuilds, parents first.
    let rebuilt_list: Vec<QualifiedName> = rebuilt.iter().cloned().collect();
    let (order, _) = topological(&rebuilt_list, |n| fk_targets(to.tables.get(n)));
    for name in &order {
        let (Some(old), Some(new)) = (f.tables.get(name), to.tables.get(name)) else { continue };
        out.extend(rebuild(old, new, losses.get(name)));
    }

    // 6. Columns and tables dropped (children first).
    for (table, cols) in &drop_cols {
        for c in cols {
            let st = Statement::new(format!("ALTER TABLE {} DROP COLUMN {};", quote(&table.name), quote(&c.name)));
            out.push(if c.generated.is_some() {
                st
            } else {
                st.with_warning(diff::Loss::Column { table: table.clone(), column: c.name.clone() }.to_string())
            });
        }
    }
    let later: Vec<QualifiedName> =
        dropped_tables.iter().filter(|t| !rename_targets.contains(&t.name)).map(|t| t.name.clone()).collect();
    let (mut order, _) = topological(&later, |n| fk_targets(from.tables.get(n)));
    order.reverse();
    for name in &order {
        if let Some(t) = dropped_tables.iter().find(|t| &t.name == name) {
            out.push(drop_table(t));
        }
    }
    for vt in &vt_drops {
        out.push(
            Statement::new(format!("DROP TABLE {};", quote(&vt.name.name)))
                .with_warning(diff::Loss::VirtualTable { table: vt.name.clone() }.to_string()),
        );
    }

    // 7. Indexes, views (in dependency order), triggers.
    for (table, i) in &index_creates {
        out.push(Statement::new(create_index_sql(&table.name, i)));
    }
    let view_list: Vec<QualifiedName> = to.views.keys().filter(|n| created_views.contains(*n)).cloned().collect();
    let (order, _) = topological(&view_list, |n| view_deps(&to.views[n].definition, &to.views));
    for name in &order {
        out.push(Statement::new(to.views[name].definition.clone()));
    }
    for (name, t) in &to.triggers {
        if created_triggers.contains(name) {
            out.push(Statement::new(t.definition.clone()));
        }
    }
    out
}

fn drop_table(t: &Table) -> Statement {
    Statement::new(format!("DROP TABLE {};", quote(&t.name.name)))
        .with_warning(diff::Loss::Table { table: t.name.clone() }.to_string())
}

fn fk_targets(t: Option<&Table>) -> Vec<QualifiedName> {
    t.map(|t| t.foreign_keys.iter().map(|f| f.references.clone()).collect()).unwrap_or_default()
}

/// The views that a view's definition names.
pub(crate) fn view_deps(definition: &str, views: &BTreeMap<QualifiedName, View>) -> Vec<QualifiedName> {
    let ws = super::words(definition);
    views.keys().filter(|v| ws.iter().any(|w| w.text.eq_ignore_ascii_case(&v.name))).cloned().collect()
}

/// A table rebuild: `old` is the table as it is (after renames), `new` as it must become.
fn rebuild(old: &Table, new: &Table, losses: Option<&Vec<String>>) -> Vec<Statement> {
    let name = &new.name.name;
    let temp = format!("__new_{name}");
    let kept: Vec<String> = new
        .columns
        .iter()
        .filter(|c| c.generated.is_none() && old.column(&c.name).is_some())
        .map(|c| quote(&c.name))
        .collect();
    let mut out = vec![Statement::new("PRAGMA foreign_keys=OFF;"), Statement::new(create_table_sql(new, &temp))];
    // An AUTOINCREMENT counter carries over (rows deleted at the top keep their ids unused);
    // the copy below only raises it.
    let autoincrement = |t: &Table| t.columns.iter().any(|c| c.autoincrement);
    if autoincrement(old) && autoincrement(new) {
        out.push(Statement::new(format!(
            "INSERT INTO sqlite_sequence(name, seq) SELECT {}, seq FROM sqlite_sequence WHERE name = {};",
            literal(&temp),
            literal(name)
        )));
    }
    if !kept.is_empty() {
        let cols = kept.join(", ");
        out.push(Statement::new(format!("INSERT INTO {}({cols}) SELECT {cols} FROM {};", quote(&temp), quote(name))));
    }
    let mut drop = Statement::new(format!("DROP TABLE {};", quote(name)));
    if let Some(l) = losses.filter(|l| !l.is_empty()) {
        drop = drop.with_warning(format!("table rebuild {}", l.join("; ")));
    }
    out.push(drop);
    out.push(Statement::new(format!("ALTER TABLE {} RENAME TO {};", quote(&temp), quote(name))));
    out.push(Statement::new("PRAGMA foreign_keys=ON;"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::diff::{diff, Renames};

    fn q(n: &str) -> QualifiedName {
        QualifiedName::new("main", n)
    }

    fn schema(tables: Vec<Table>) -> Schema {
        let mut s = Schema::empty(Dialect::Sqlite);
        for t in tables {
            s.tables.insert(t.name.clone(), t);
        }
        s
    }

    fn pages(extra: Vec<Column>) -> Table {
        let mut t = Table::new(q("pages"));
        t.columns = vec![Column { not_null: true, ..Column::new("id", "INTEGER") }, Column::new("title", "TEXT")];
        t.columns.extend(extra);
        t.primary_key = Some(PrimaryKey { name: None, columns: vec!["id".into()] });
        t
    }

    fn text(from: &Schema, to: &Schema) -> String {
        let changes = diff(from, to, &Renames::none_are_renames()).unwrap();
        super::super::to_migration_text(&render(&changes, from, to))
    }

    #[test]
    fn alter_table_adds_what_it_can() {
        let from = schema(vec![pages(vec![])]);
        let constant = Column { not_null: true, default: Some("'draft'".into()), ..Column::new("status", "TEXT") };
        let to = schema(vec![pages(vec![constant, Column::new("n", "INTEGER")])]);
        assert_eq!(
            text(&from, &to),
            "ALTER TABLE `pages` ADD `status` text DEFAULT 'draft' NOT NULL;--> statement-breakpoint\n\
             ALTER TABLE `pages` ADD `n` integer;\n"
        );
    }

    #[test]
    fn a_column_alter_table_cannot_add_is_a_rebuild() {
        let from = schema(vec![pages(vec![Column::new("gone", "TEXT")])]);
        let at = Column { not_null: true, default: Some("CURRENT_TIMESTAMP".into()), ..Column::new("at", "TEXT") };
        let to = schema(vec![pages(vec![at])]);
        assert_eq!(
            text(&from, &to),
            "PRAGMA foreign_keys=OFF;--> statement-breakpoint\n\
             CREATE TABLE `__new_pages` (\n\
             \t`id` integer PRIMARY KEY NOT NULL,\n\
             \t`title` text,\n\
             \t`at` text DEFAULT CURRENT_TIMESTAMP NOT NULL\n\
             );\n--> statement-breakpoint\n\
             INSERT INTO `__new_pages`(`id`, `title`) SELECT `id`, `title` FROM `pages`;--> statement-breakpoint\n\
             -- warning: table rebuild drops column pages.gone and its values\n\
             DROP TABLE `pages`;--> statement-breakpoint\n\
             ALTER TABLE `__new_pages` RENAME TO `pages`;--> statement-breakpoint\n\
             PRAGMA foreign_keys=ON;\n"
        );
    }

    #[test]
    fn a_free_column_is_dropped_by_alter_table_and_a_keyed_one_by_a_rebuild() {
        let from = schema(vec![pages(vec![Column::new("body", "TEXT")])]);
        let to = schema(vec![pages(vec![])]);
        assert_eq!(
            text(&from, &to),
            "-- warning: drops column pages.body and its values\nALTER TABLE `pages` DROP COLUMN `body`;\n"
        );
        let mut keyed = pages(vec![Column::new("body", "TEXT")]);
        keyed.uniques.push(Unique { name: None, columns: vec!["body".into()], nulls_not_distinct: false });
        assert!(text(&schema(vec![keyed]), &to).contains("CREATE TABLE `__new_pages`"));
    }

    #[test]
    fn parents_are_created_first_and_dropped_last() {
        let parent = pages(vec![]);
        let mut child = Table::new(q("comments"));
        child.columns = vec![Column::new("page_id", "INTEGER")];
        child.foreign_keys.push(ForeignKey {
            name: None,
            columns: vec!["page_id".into()],
            references: q("pages"),
            referenced_columns: vec!["id".into()],
            on_delete: Action::Cascade,
            on_update: Action::NoAction,
            deferrable: Deferrable::InitiallyDeferred,
        });
        let both = schema(vec![child, parent]);
        let empty = Schema::empty(Dialect::Sqlite);
        let created = text(&empty, &both);
        assert!(created.find("CREATE TABLE `pages`").unwrap() < created.find("CREATE TABLE `comments`").unwrap());
        assert!(created.contains(
            "FOREIGN KEY (`page_id`) REFERENCES `pages`(`id`) ON UPDATE no action ON DELETE cascade DEFERRABLE INITIALLY DEFERRED"
        ));
        let dropped = text(&both, &empty);
        assert!(dropped.find("DROP TABLE `comments`").unwrap() < dropped.find("DROP TABLE `pages`").unwrap());
    }

    #[test]
    fn literals_are_told_from_expressions() {
        for l in ["'a'", "'it''s'", "0", "-1", "- 1", "1.5", "1e3", "NULL", "true", "X'00ff'", "0x1F"] {
            assert!(is_literal(l), "{l}");
        }
        for e in ["unixepoch()", "CURRENT_TIMESTAMP", "'a' || 'b'", "1 + 1", "abs(-1)", "a"] {
            assert!(!is_literal(e), "{e}");
        }
        assert_eq!(default_sql("unixepoch() * 1000"), "(unixepoch() * 1000)");
        assert_eq!(default_sql("CURRENT_TIMESTAMP"), "CURRENT_TIMESTAMP");
        assert_eq!(default_sql("'draft'"), "'draft'");
        // A lone name is SQLite's string literal of it, not an expression.
        assert_eq!(default_sql("text"), "'text'");
        assert_eq!(default_sql("\"it's\""), "'it''s'");
        assert_eq!(default_sql("TRUE"), "TRUE");
        assert_eq!(default_sql("NULL"), "NULL");
        assert!(addable(
            &Column { not_null: true, default: Some("text".into()), ..Column::new("k", "TEXT") },
            &pages(vec![])
        ));
    }

    #[test]
    fn a_named_primary_key_keeps_autoincrement() {
        let mut t = pages(vec![]);
        t.columns[0].autoincrement = true;
        t.primary_key.as_mut().unwrap().name = Some("pages_pk".into());
        let sql = create_table_sql(&t, "pages");
        assert!(sql.contains("CONSTRAINT `pages_pk` PRIMARY KEY(`id` AUTOINCREMENT)"), "{sql}");
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(&sql).unwrap();
        let read = crate::schema::introspect::sqlite(&conn).unwrap();
        assert_eq!(read.table("pages"), Some(&t));
    }
}
