//! PostgreSQL DDL. A table is never dropped and recreated to change it (its rows, grants and
//! dependants would go with it): columns, types (`USING "c"::type`), defaults, NOT NULL,
//! identity and constraints are all `ALTER TABLE`; an enum gains values with `ALTER TYPE … ADD
//! VALUE` (a statement marked to run outside the migration's transaction) and loses or
//! reorders them by a new type its columns are converted to.
//!
//! Order: schemas, extensions, enums and sequences first; renames; then what depends on something that
//! changes is dropped (triggers, views, foreign keys, and the checks, indexes and defaults
//! that call a function being dropped or name an enum being recreated), tables dropped,
//! indexes and constraints dropped, columns dropped, functions dropped, enums recreated,
//! functions created or replaced, columns added and altered, constraints and indexes added,
//! new tables created (parents first, their foreign keys inline when the parent exists, else
//! added after), functions that need those new tables, foreign keys added, views and
//! triggers created, then row-level security policies (a changed one is dropped with the
//! dependants and created here; a new table's RLS switches follow its CREATE TABLE); enums,
//! sequences, extensions and schemas that are gone are dropped last.
//!
//! Functions: a changed body is `CREATE OR REPLACE` (what calls it stays); a changed
//! signature is a `DROP FUNCTION` and a create, with everything that calls it (triggers,
//! views, checks, indexes, defaults) dropped before and created again after (a generated
//! column that calls it is not: verify stops such a plan). A `serial`
//! column that changes width keeps its sequence (`ALTER SEQUENCE … AS`), and so where it
//! stands.

use std::collections::{BTreeMap, BTreeSet};

use super::{literal, mentions_any, order_renames, topological, Statement};
use crate::schema::diff::{self, is_serial, Change, ColumnChange, EnumPosition, Loss};
use crate::schema::model::*;

/// `"name"` with quotes doubled.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table's name as Drizzle Kit writes it: bare in `public`, qualified elsewhere.
fn table_name(q: &QualifiedName) -> String {
    if q.schema == "public" || q.schema.is_empty() {
        quote(&q.name)
    } else {
        format!("{}.{}", quote(&q.schema), quote(&q.name))
    }
}

/// Always qualified (types, references, sequences).
fn qualified(q: &QualifiedName) -> String {
    let schema = if q.schema.is_empty() { "public" } else { &q.schema };
    format!("{}.{}", quote(schema), quote(&q.name))
}

fn quote_list(cols: &[String]) -> String {
    cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",")
}

/// A collation as written after `COLLATE`: quoted unless it already is (or is qualified).
fn collation(c: &str) -> String {
    if c.starts_with('"') || c.contains('.') {
        c.to_string()
    } else {
        quote(c)
    }
}

fn deferrable(d: Deferrable) -> &'static str {
    match d {
        Deferrable::NotDeferrable => "",
        Deferrable::InitiallyImmediate => " DEFERRABLE",
        Deferrable::InitiallyDeferred => " DEFERRABLE INITIALLY DEFERRED",
    }
}

fn sequence_options(o: &SequenceOptions, with_type: bool) -> String {
    let mut s = String::new();
    if with_type && !o.data_type.is_empty() {
        s.push_str(&format!("AS {} ", o.data_type));
    }
    s.push_str(&format!(
        "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {}",
        o.increment, o.min, o.max, o.start, o.cache
    ));
    if o.cycle {
        s.push_str(" CYCLE");
    }
    s
}

fn identity_sql(i: &Identity) -> String {
    format!(
        "GENERATED {} AS IDENTITY ({})",
        if i.always { "ALWAYS" } else { "BY DEFAULT" },
        sequence_options(&i.sequence, false)
    )
}

fn column_def(c: &Column, inline_pk: bool) -> String {
    let mut s = format!("{} {}", quote(&c.name), c.data_type);
    if let Some(coll) = &c.collation {
        s.push_str(" COLLATE ");
        s.push_str(&collation(coll));
    }
    if inline_pk {
        s.push_str(" PRIMARY KEY");
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(" GENERATED ALWAYS AS ({}) STORED", g.expression));
    }
    if let Some(i) = &c.identity {
        s.push(' ');
        s.push_str(&identity_sql(i));
    }
    if let Some(d) = &c.default {
        s.push_str(" DEFAULT ");
        s.push_str(d);
    }
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    s
}

fn primary_key_sql(pk: &PrimaryKey) -> String {
    match &pk.name {
        Some(n) => format!("CONSTRAINT {} PRIMARY KEY({})", quote(n), quote_list(&pk.columns)),
        None => format!("PRIMARY KEY({})", quote_list(&pk.columns)),
    }
}

fn unique_sql(u: &Unique) -> String {
    format!(
        "{}UNIQUE{}({})",
        u.name.as_ref().map(|n| format!("CONSTRAINT {} ", quote(n))).unwrap_or_default(),
        if u.nulls_not_distinct { " NULLS NOT DISTINCT" } else { "" },
        quote_list(&u.columns)
    )
}

fn check_sql(c: &Check) -> String {
    format!(
        "{}CHECK ({})",
        c.name.as_ref().map(|n| format!("CONSTRAINT {} ", quote(n))).unwrap_or_default(),
        c.expression
    )
}

fn foreign_key_sql(fk: &ForeignKey) -> String {
    let target = if fk.referenced_columns.is_empty() {
        qualified(&fk.references)
    } else {
        format!("{}({})", qualified(&fk.references), quote_list(&fk.referenced_columns))
    };
    format!(
        "{}FOREIGN KEY ({}) REFERENCES {target} ON DELETE {} ON UPDATE {}{}",
        fk.name.as_ref().map(|n| format!("CONSTRAINT {} ", quote(n))).unwrap_or_default(),
        quote_list(&fk.columns),
        super::action(fk.on_delete),
        super::action(fk.on_update),
        deferrable(fk.deferrable)
    )
}

fn default_pk_name(t: &QualifiedName) -> String {
    format!("{}_pkey", t.name)
}

/// `CREATE TABLE` for `t` with the foreign keys in `inline_fks`.
pub fn create_table_sql(t: &Table, inline_fks: &[&ForeignKey]) -> String {
    let inline_pk = t
        .primary_key
        .as_ref()
        .filter(|pk| pk.columns.len() == 1 && pk.name.as_deref().is_none_or(|n| n == default_pk_name(&t.name)))
        .map(|pk| pk.columns[0].clone());
    let mut lines: Vec<String> =
        t.columns.iter().map(|c| column_def(c, inline_pk.as_deref() == Some(c.name.as_str()))).collect();
    if let Some(pk) = t.primary_key.as_ref().filter(|_| inline_pk.is_none()) {
        lines.push(primary_key_sql(pk));
    }
    lines.extend(t.uniques.iter().map(unique_sql));
    lines.extend(t.checks.iter().map(check_sql));
    lines.extend(inline_fks.iter().map(|f| foreign_key_sql(f)));
    format!("CREATE TABLE {} (\n\t{}\n);", table_name(&t.name), lines.join(",\n\t"))
}

/// `CREATE [UNIQUE] INDEX` for an index of `table`.
pub fn create_index_sql(table: &QualifiedName, i: &Index) -> String {
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
                s.push_str(&collation(c));
            }
            if let Some(o) = &k.opclass {
                s.push(' ');
                s.push_str(o);
            }
            if k.descending {
                s.push_str(" DESC");
            }
            if k.nulls_not_default {
                s.push_str(if k.descending { " NULLS LAST" } else { " NULLS FIRST" });
            }
            s
        })
        .collect();
    let mut s =
        format!("CREATE {}INDEX {} ON {}", if i.unique { "UNIQUE " } else { "" }, quote(&i.name), table_name(table));
    if let Some(m) = &i.method {
        s.push_str(&format!(" USING {m}"));
    }
    s.push_str(&format!(" ({})", keys.join(",")));
    if !i.include.is_empty() {
        s.push_str(&format!(" INCLUDE ({})", quote_list(&i.include)));
    }
    if let Some(p) = &i.predicate {
        s.push_str(&format!(" WHERE ({p})"));
    }
    s.push(';');
    s
}

fn index_name(table: &QualifiedName, index: &str) -> String {
    table_name(&QualifiedName::new(table.schema.clone(), index))
}

fn view_sql(v: &View) -> String {
    let def = v.definition.trim().trim_end_matches(';').trim_end();
    format!("CREATE {}VIEW {} AS {def};", if v.materialized { "MATERIALIZED " } else { "" }, table_name(&v.name))
}

fn drop_view_sql(v: &View) -> String {
    format!("DROP {}VIEW {};", if v.materialized { "MATERIALIZED " } else { "" }, table_name(&v.name))
}

/// Whether a column type names the enum `e` (`e`, `"E"`, `schema.e`, arrays of them).
/// Returns the array suffix (`[]`…) when it does.
fn enum_column_suffix<'a>(data_type: &'a str, e: &QualifiedName) -> Option<&'a str> {
    let base = data_type.trim_end_matches("[]");
    let suffix = &data_type[base.len()..];
    let bare = |s: &str| {
        if s.starts_with('"') && s.ends_with('"') && s.len() >= 2 {
            s[1..s.len() - 1].replace("\"\"", "\"")
        } else {
            s.to_string()
        }
    };
    let matches = match split_qualified(base) {
        (Some(schema), name) => bare(schema) == e.schema && bare(name) == e.name,
        (None, name) => bare(name) == e.name && (e.schema == "public" || e.schema.is_empty()),
    };
    matches.then_some(suffix)
}

/// `schema.name` split at the dot outside quotes.
fn split_qualified(s: &str) -> (Option<&str>, &str) {
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '.' if !in_quotes => return (Some(&s[..i]), &s[i + 1..]),
            _ => {}
        }
    }
    (None, s)
}

/// The type a `serial` pseudo-type stands for.
fn serial_base(t: &str) -> &str {
    match t {
        "serial" => "integer",
        "bigserial" => "bigint",
        "smallserial" => "smallint",
        other => other,
    }
}

/// `CREATE POLICY` as drizzle-kit writes it: `CREATE POLICY "p" ON "t" AS PERMISSIVE FOR
/// SELECT TO public USING (true);`.
pub fn create_policy_sql(table: &QualifiedName, p: &Policy) -> String {
    let roles: Vec<String> = p
        .roles
        .iter()
        .map(|r| match r.as_str() {
            "public" | "current_user" | "current_role" | "session_user" => r.clone(),
            _ => quote(r),
        })
        .collect();
    let mut s = format!(
        "CREATE POLICY {} ON {} AS {} FOR {} TO {}",
        quote(&p.name),
        table_name(table),
        if p.permissive { "PERMISSIVE" } else { "RESTRICTIVE" },
        p.command.sql(),
        if roles.is_empty() { "public".to_string() } else { roles.join(", ") }
    );
    if let Some(u) = &p.using {
        s.push_str(&format!(" USING ({u})"));
    }
    if let Some(c) = &p.with_check {
        s.push_str(&format!(" WITH CHECK ({c})"));
    }
    s.push(';');
    s
}

/// `ALTER TABLE … ENABLE/DISABLE ROW LEVEL SECURITY` and `[NO] FORCE …` for the switches
/// that differ.
fn row_level_security_sql(
    table: &QualifiedName,
    from: diff::RowLevelSecurity,
    to: diff::RowLevelSecurity,
) -> Vec<Statement> {
    let mut out = Vec::new();
    if from.enabled != to.enabled {
        out.push(alter(table, if to.enabled { "ENABLE ROW LEVEL SECURITY" } else { "DISABLE ROW LEVEL SECURITY" }));
    }
    if from.forced != to.forced {
        out.push(alter(table, if to.forced { "FORCE ROW LEVEL SECURITY" } else { "NO FORCE ROW LEVEL SECURITY" }));
    }
    out
}

fn alter(table: &QualifiedName, rest: impl AsRef<str>) -> Statement {
    Statement::new(format!("ALTER TABLE {} {};", table_name(table), rest.as_ref()))
}

/// The statements for `changes` (from `from` to `to`), in an order that works.
pub(super) fn render(changes: &[Change], from: &Schema, to: &Schema) -> Vec<Statement> {
    let f = diff::renamed(from, changes);
    let mut out: Vec<Statement> = Vec::new();

    // What each table goes through.
    let mut created: Vec<QualifiedName> = Vec::new();
    let mut dropped_tables: Vec<&Table> = Vec::new();
    let mut alters: BTreeMap<(QualifiedName, String), Vec<&ColumnChange>> = BTreeMap::new();
    let mut recreated_cols: BTreeSet<(QualifiedName, String)> = BTreeSet::new();
    let mut type_changed: BTreeSet<(QualifiedName, String)> = BTreeSet::new();
    let mut dropped_cols: Vec<(QualifiedName, &Column)> = Vec::new();
    for c in changes {
        match c {
            Change::CreateTable { table } => created.push(table.name.clone()),
            Change::DropTable { table } => dropped_tables.push(table),
            Change::DropColumn { table, column } => dropped_cols.push((table.clone(), column)),
            Change::AlterColumn { table, column, change } => {
                alters.entry((table.clone(), column.clone())).or_default().push(change);
                match change {
                    ColumnChange::Generated { to: Some(_), .. } => {
                        recreated_cols.insert((table.clone(), column.clone()));
                    }
                    ColumnChange::Type { .. } | ColumnChange::Collation { .. } => {
                        type_changed.insert((table.clone(), column.clone()));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let dropped_names: BTreeSet<QualifiedName> = dropped_tables.iter().map(|t| t.name.clone()).collect();
    // Columns whose enum is recreated change type too.
    let recreated_enums: Vec<(&QualifiedName, &Vec<String>)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::RecreateEnum { name, to, .. } => Some((name, to)),
            _ => None,
        })
        .collect();
    let dropped_col_set: BTreeSet<(QualifiedName, String)> =
        dropped_cols.iter().map(|(t, c)| (t.clone(), c.name.clone())).collect();
    let mut enum_cols: Vec<(QualifiedName, &QualifiedName, &Column, String)> = Vec::new();
    for (e, _) in &recreated_enums {
        for (tname, t) in &f.tables {
            if dropped_names.contains(tname) {
                continue;
            }
            for c in &t.columns {
                if let Some(suffix) = enum_column_suffix(&c.data_type, e) {
                    if !dropped_col_set.contains(&(tname.clone(), c.name.clone())) {
                        enum_cols.push((tname.clone(), e, c, suffix.to_string()));
                    }
                }
            }
        }
    }

    // Tables whose columns change under views: those views are dropped and created again.
    let mut affected: BTreeSet<String> = BTreeSet::new();
    for t in &dropped_names {
        affected.insert(t.name.clone());
    }
    for (t, _) in type_changed.iter().chain(&recreated_cols).chain(&dropped_col_set) {
        affected.insert(t.name.clone());
    }
    for (t, ..) in &enum_cols {
        affected.insert(t.name.clone());
    }

    // Constraints and indexes that must be dropped and added again because what they stand on
    // changes (a column recreated, a type changed, the unique key a foreign key needs).
    let touches = |table: &QualifiedName, cols: &[String], set: &BTreeSet<(QualifiedName, String)>| {
        cols.iter().any(|c| set.contains(&(table.clone(), c.clone())))
    };
    let mut key_dropped_tables: BTreeSet<QualifiedName> = BTreeSet::new();
    for c in changes {
        match c {
            Change::SetPrimaryKey { table, from: Some(_), .. } | Change::DropUnique { table, .. } => {
                key_dropped_tables.insert(table.clone());
            }
            Change::DropIndex { table, index } if index.unique => {
                key_dropped_tables.insert(table.clone());
            }
            _ => {}
        }
    }
    let mut changed_cols = type_changed.clone();
    changed_cols.extend(recreated_cols.iter().cloned());
    let mut fk_recreate: Vec<(QualifiedName, &ForeignKey)> = Vec::new();
    let mut index_recreate: Vec<(QualifiedName, &Index)> = Vec::new();
    let mut unique_recreate: Vec<(QualifiedName, &Unique)> = Vec::new();
    let mut check_recreate: Vec<(QualifiedName, &Check)> = Vec::new();
    let mut pk_recreate: Vec<(QualifiedName, &PrimaryKey)> = Vec::new();
    let fk_dropped_by_change: BTreeSet<(QualifiedName, Option<String>)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropForeignKey { table, foreign_key } => Some((table.clone(), foreign_key.name.clone())),
            _ => None,
        })
        .collect();
    for (tname, t) in &f.tables {
        if dropped_names.contains(tname) {
            continue;
        }
        let Some(new_t) = to.tables.get(tname) else { continue };
        for fk in &t.foreign_keys {
            if fk_dropped_by_change.contains(&(tname.clone(), fk.name.clone())) {
                continue;
            }
            let stands_on_change = touches(tname, &fk.columns, &changed_cols)
                || touches(&fk.references, &fk.referenced_columns, &changed_cols)
                || key_dropped_tables.contains(&fk.references);
            if stands_on_change && new_t.foreign_keys.contains(fk) {
                fk_recreate.push((tname.clone(), fk));
            }
        }
        let recreated_names: Vec<String> =
            recreated_cols.iter().filter(|(t, _)| t == tname).map(|(_, c)| c.clone()).collect();
        if recreated_names.is_empty() {
            continue;
        }
        for i in t.indexes.values() {
            let on_it = i.keys.iter().any(|k| match &k.target {
                IndexTarget::Column(c) => recreated_names.contains(c),
                IndexTarget::Expression(e) => mentions_any(e, &recreated_names),
            }) || i.predicate.as_ref().is_some_and(|p| mentions_any(p, &recreated_names))
                || i.include.iter().any(|c| recreated_names.contains(c));
            if on_it && new_t.indexes.get(&i.name) == Some(i) {
                index_recreate.push((tname.clone(), i));
            }
        }
        for u in &t.uniques {
            if u.columns.iter().any(|c| recreated_names.contains(c)) && new_t.uniques.contains(u) {
                unique_recreate.push((tname.clone(), u));
            }
        }
        for c in &t.checks {
            if mentions_any(&c.expression, &recreated_names) && new_t.checks.contains(c) {
                check_recreate.push((tname.clone(), c));
            }
        }
        if let Some(pk) = &t.primary_key {
            if pk.columns.iter().any(|c| recreated_names.contains(c)) && new_t.primary_key.as_ref() == Some(pk) {
                pk_recreate.push((tname.clone(), pk));
            }
        }
    }

    // Functions: created, replaced in place, dropped (a changed signature is both). A function
    // whose signature names an enum that is recreated is dropped and created again around the
    // swap (the old type cannot be dropped under it).
    let mut fn_drops: Vec<&Function> = Vec::new();
    let mut fn_creates: Vec<&Function> = Vec::new();
    for c in changes {
        match c {
            Change::DropFunction { function } => fn_drops.push(function),
            Change::CreateFunction { function } | Change::ReplaceFunction { to: function, .. } => {
                fn_creates.push(function)
            }
            _ => {}
        }
    }
    for (e, _) in &recreated_enums {
        let names = [e.name.clone()];
        for (key, old) in &f.functions {
            let signature = format!("{} {}", old.parameters, old.returns.as_deref().unwrap_or_default());
            let uses = mentions_any(&signature, &names) || (is_atomic(old) && mentions_any(&old.definition, &names));
            if !uses || fn_drops.iter().any(|d| d.key() == *key) {
                continue;
            }
            fn_drops.push(old);
            if let Some(new) = to.functions.get(key) {
                if !fn_creates.iter().any(|c| c.key() == *key) {
                    fn_creates.push(new);
                }
            }
        }
    }
    let dropped_fns: BTreeSet<String> = fn_drops.iter().map(|d| d.name.name.clone()).collect();
    // What calls a dropped function, or names a recreated enum's values, and stays: checks and
    // indexes are dropped before and added again after, defaults dropped and set again.
    let mut callers: BTreeSet<String> = dropped_fns.clone();
    let enum_names: BTreeSet<String> = recreated_enums.iter().map(|(e, _)| e.name.clone()).collect();
    let mut default_restores: Vec<(QualifiedName, &Column)> = Vec::new();
    for (tname, t) in &f.tables {
        let Some(new_t) = to.tables.get(tname).filter(|_| !dropped_names.contains(tname)) else { continue };
        let names_any = |text: &str, set: &BTreeSet<String>| !set.is_empty() && mentions_any(text, set);
        let stands_on = |text: &str| names_any(text, &dropped_fns) || names_any(text, &enum_names);
        // As they are in `to` (a rename of theirs has run by the time they are dropped), when
        // no change of their own adds them.
        for c in &new_t.checks {
            let kept = t.checks.iter().any(|o| o.expression == c.expression)
                && !changes
                    .iter()
                    .any(|ch| matches!(ch, Change::AddCheck { table, check } if table == tname && check == c));
            if kept && stands_on(&c.expression) && !check_recreate.iter().any(|(x, y)| x == tname && y.name == c.name) {
                check_recreate.push((tname.clone(), c));
            }
        }
        for i in new_t.indexes.values() {
            let same = |o: &Index| Index { name: i.name.clone(), ..o.clone() } == *i;
            let kept = t.indexes.values().any(same)
                && !changes.iter().any(
                    |ch| matches!(ch, Change::CreateIndex { table, index } if table == tname && index.name == i.name),
                );
            let on_it = i.keys.iter().any(|k| matches!(&k.target, IndexTarget::Expression(e) if stands_on(e)))
                || i.predicate.as_deref().is_some_and(stands_on);
            if kept && on_it && !index_recreate.iter().any(|(x, y)| x == tname && y.name == i.name) {
                index_recreate.push((tname.clone(), i));
            }
        }
        for c in &t.columns {
            let calls = c.default.as_deref().is_some_and(|d| names_any(d, &dropped_fns));
            if calls && !dropped_col_set.contains(&(tname.clone(), c.name.clone())) {
                default_restores.push((tname.clone(), c));
            }
        }
    }
    callers.extend(enum_names.iter().cloned());

    // 1. Schemas, enums, sequences.
    for c in changes {
        if let Change::CreateSchema { name } = c {
            out.push(Statement::new(format!("CREATE SCHEMA {};", quote(name))));
        }
    }
    // Extensions: before the types, tables, indexes and functions that may use them.
    for c in changes {
        match c {
            Change::CreateExtension { extension } => {
                let mut sql = format!("CREATE EXTENSION IF NOT EXISTS {}", quote(&extension.name));
                if let Some(schema) = &extension.schema {
                    sql.push_str(&format!(" SCHEMA {}", quote(schema)));
                }
                sql.push(';');
                out.push(Statement::new(sql));
            }
            Change::AlterExtensionSchema { name, to, .. } => out.push(Statement::new(format!(
                "ALTER EXTENSION {} SET SCHEMA {};",
                quote(name),
                quote(to.as_deref().unwrap_or("public"))
            ))),
            _ => {}
        }
    }
    for c in changes {
        match c {
            Change::CreateEnum { definition } => out.push(Statement::new(format!(
                "CREATE TYPE {} AS ENUM({});",
                qualified(&definition.name),
                definition.values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ")
            ))),
            Change::RenameEnumValue { .. } | Change::AddEnumValue { .. } => {}
            _ => {}
        }
    }
    let mut enum_value_renames: BTreeMap<&QualifiedName, Vec<(String, String)>> = BTreeMap::new();
    for c in changes {
        if let Change::RenameEnumValue { name, from, to } = c {
            enum_value_renames.entry(name).or_default().push((from.clone(), to.clone()));
        }
    }
    for (name, pairs) in &enum_value_renames {
        for (a, b) in order_renames(pairs) {
            out.push(Statement::new(format!(
                "ALTER TYPE {} RENAME VALUE {} TO {};",
                qualified(name),
                literal(&a),
                literal(&b)
            )));
        }
    }
    for c in changes {
        if let Change::AddEnumValue { name, value, position } = c {
            let pos = match position {
                EnumPosition::Before(v) => format!(" BEFORE {}", literal(v)),
                EnumPosition::After(v) => format!(" AFTER {}", literal(v)),
                EnumPosition::End => String::new(),
            };
            out.push(
                Statement::new(format!("ALTER TYPE {} ADD VALUE {}{pos};", qualified(name), literal(value)))
                    .outside_transaction(),
            );
        }
    }
    for c in changes {
        match c {
            Change::CreateSequence { sequence } => out.push(Statement::new(format!(
                "CREATE SEQUENCE {} {};",
                qualified(&sequence.name),
                sequence_options(&sequence.options, true)
            ))),
            Change::AlterSequence { name, to, .. } => {
                let mut opts = sequence_options(to, true);
                if !to.cycle {
                    opts.push_str(" NO CYCLE");
                }
                out.push(Statement::new(format!("ALTER SEQUENCE {} {opts};", qualified(name))));
            }
            _ => {}
        }
    }

    // 2. Renames (objects whose name a rename takes are dropped first).
    let table_renames: Vec<(&QualifiedName, &QualifiedName)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::RenameTable { from, to } => Some((from, to)),
            _ => None,
        })
        .collect();
    let rename_targets: BTreeSet<&QualifiedName> = table_renames.iter().map(|(_, n)| *n).collect();
    for t in dropped_tables.iter().filter(|t| rename_targets.contains(&t.name)) {
        out.push(
            Statement::new(format!("DROP TABLE {};", table_name(&t.name)))
                .with_warning(Loss::Table { table: t.name.clone() }.to_string()),
        );
    }
    let mut column_renames: BTreeMap<&QualifiedName, Vec<(String, String)>> = BTreeMap::new();
    for c in changes {
        if let Change::RenameColumn { table, from, to } = c {
            column_renames.entry(table).or_default().push((from.clone(), to.clone()));
        }
    }
    let mut displaced_cols: BTreeSet<(QualifiedName, String)> = BTreeSet::new();
    for (table, col) in &dropped_cols {
        if column_renames.get(table).is_some_and(|r| r.iter().any(|(_, n)| *n == col.name)) {
            let old = table_renames.iter().find(|(_, n)| *n == table).map(|(o, _)| *o).unwrap_or(table);
            out.push(
                alter(old, format!("DROP COLUMN {}", quote(&col.name)))
                    .with_warning(Loss::Column { table: table.clone(), column: col.name.clone() }.to_string()),
            );
            displaced_cols.insert((table.clone(), col.name.clone()));
        }
    }
    // Within a schema, as a chain or a swap needs.
    let mut by_schema: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (a, b) in &table_renames {
        by_schema.entry(a.schema.as_str()).or_default().push((a.name.clone(), b.name.clone()));
    }
    for (schema, pairs) in &by_schema {
        for (a, b) in order_renames(pairs) {
            out.push(Statement::new(format!(
                "ALTER TABLE {} RENAME TO {};",
                table_name(&QualifiedName::new(*schema, a)),
                quote(&b)
            )));
        }
    }
    for (table, pairs) in &column_renames {
        for (a, b) in order_renames(pairs) {
            out.push(alter(table, format!("RENAME COLUMN {} TO {}", quote(&a), quote(&b))));
        }
    }
    for c in changes {
        match c {
            Change::RenameConstraint { table, from, to, .. } => {
                out.push(alter(table, format!("RENAME CONSTRAINT {} TO {}", quote(from), quote(to))))
            }
            Change::RenameIndex { table, from, to } => {
                out.push(Statement::new(format!("ALTER INDEX {} RENAME TO {};", index_name(table, from), quote(to))))
            }
            _ => {}
        }
    }

    // 3. Dependants of what changes: triggers, views (dependants first), foreign keys,
    //    indexes and constraints.
    let super::ViewsAndTriggers { mut view_drops, mut created_views, mut trigger_drops, mut created_triggers } =
        super::views_and_triggers(changes);
    for v in &view_drops {
        affected.insert(v.name.clone());
    }
    // Views that call a dropped function or name a recreated enum go down and up with it.
    affected.extend(callers.iter().cloned());
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
    for name in &view_drops {
        if to.views.contains_key(name) {
            created_views.insert(name.clone());
        }
    }
    // Triggers that call a dropped function (or name a recreated enum in their WHEN) are
    // dropped first and created again after.
    for (key, t) in &f.triggers {
        let listed = trigger_drops.iter().any(|d| d.key() == *key);
        if !listed && !callers.is_empty() && mentions_any(&t.definition, &callers) {
            trigger_drops.push(t);
            if to.triggers.contains_key(key) {
                created_triggers.insert(key.clone());
            }
        }
    }
    // Triggers on a view that is dropped go with it.
    for (name, t) in &to.triggers {
        if view_drops.contains(&t.table) && !created_triggers.contains(name) {
            created_triggers.insert(name.clone());
        }
    }
    // Policies dropped (a changed one is created again with the views and triggers); an
    // unchanged one whose expressions name a column that changes type or is recreated, call a
    // function that is dropped or name an enum that is recreated goes down and up with them
    // (PostgreSQL refuses those changes under a policy).
    let mut policy_recreate: Vec<(QualifiedName, &Policy)> = Vec::new();
    for (tname, t) in &f.tables {
        let Some(new_t) = to.tables.get(tname).filter(|_| !dropped_names.contains(tname)) else { continue };
        let cols: Vec<String> = changed_cols.iter().filter(|(x, _)| x == tname).map(|(_, c)| c.clone()).collect();
        let enum_cols_here: Vec<String> =
            enum_cols.iter().filter(|(x, ..)| x == tname).map(|(_, _, c, _)| c.name.clone()).collect();
        for p in t.policies.values() {
            if new_t.policies.get(&p.name) != Some(p) {
                continue;
            }
            let stands_on = |text: &str| {
                (!cols.is_empty() && mentions_any(text, &cols))
                    || (!enum_cols_here.is_empty() && mentions_any(text, &enum_cols_here))
                    || (!callers.is_empty() && mentions_any(text, &callers))
            };
            if p.using.as_deref().is_some_and(stands_on) || p.with_check.as_deref().is_some_and(stands_on) {
                policy_recreate.push((tname.clone(), p));
            }
        }
    }
    for c in changes {
        if let Change::DropPolicy { table, policy } = c {
            out.push(Statement::new(format!("DROP POLICY {} ON {} CASCADE;", quote(&policy.name), table_name(table))));
        }
    }
    for (table, policy) in &policy_recreate {
        out.push(Statement::new(format!("DROP POLICY {} ON {} CASCADE;", quote(&policy.name), table_name(table))));
    }
    for t in &trigger_drops {
        if !dropped_names.contains(&t.table) && !view_drops.contains(&t.table) {
            out.push(Statement::new(format!("DROP TRIGGER {} ON {};", quote(&t.name.name), table_name(&t.table))));
        }
    }
    let view_list: Vec<QualifiedName> = f.views.keys().filter(|n| view_drops.contains(*n)).cloned().collect();
    let (mut order, _) = topological(&view_list, |n| super::sqlite::view_deps(&f.views[n].definition, &f.views));
    order.reverse();
    for name in &order {
        out.push(Statement::new(drop_view_sql(&f.views[name])));
    }
    for c in changes {
        if let Change::DropForeignKey { table, foreign_key } = c {
            if !dropped_names.contains(table) {
                out.push(drop_constraint(table, &foreign_key.name));
            }
        }
    }
    for (table, fk) in &fk_recreate {
        out.push(drop_constraint(table, &fk.name));
    }
    for t in &dropped_tables {
        for fk in &t.foreign_keys {
            if fk.references != t.name && dropped_names.contains(&fk.references) {
                out.push(drop_constraint(&t.name, &fk.name));
            }
        }
    }
    // Functions that need a dropped table ([`names_tables`]: a row type in their signature, a
    // `BEGIN ATOMIC` body) go before it, unless something dropped with the tables still calls
    // them; the others after the columns (a dropped table's or column's default may call
    // them).
    let dropped_table_names: BTreeSet<String> = dropped_names.iter().map(|t| t.name.clone()).collect();
    let called_by_dropped = |name: &str| {
        let names = [name.to_string()];
        let calls = |text: &str| mentions_any(text, &names);
        dropped_tables.iter().any(|t| table_calls(t, &calls))
            || dropped_cols.iter().any(|(_, c)| column_calls(c, &calls))
            || check_recreate.iter().any(|(_, c)| calls(&c.expression))
            || index_recreate.iter().any(|(_, i)| index_calls(i, &calls))
            || default_restores.iter().any(|(_, c)| column_calls(c, &calls))
    };
    let (fn_drops_first, fn_drops_later): (Vec<&Function>, Vec<&Function>) =
        fn_drops.iter().partition(|d| names_tables(d, &dropped_table_names) && !called_by_dropped(&d.name.name));
    for d in &fn_drops_first {
        out.push(Statement::new(drop_function_sql(d)));
    }
    // Tables dropped (their foreign keys to each other are gone; the keys they point at may
    // change next).
    for t in dropped_tables.iter().filter(|t| !rename_targets.contains(&t.name)) {
        out.push(
            Statement::new(format!("DROP TABLE {};", table_name(&t.name)))
                .with_warning(Loss::Table { table: t.name.clone() }.to_string()),
        );
    }
    for c in changes {
        match c {
            Change::DropIndex { table, index } if !dropped_names.contains(table) => {
                out.push(Statement::new(format!("DROP INDEX {};", index_name(table, &index.name))));
            }
            Change::DropUnique { table, unique } => out.push(drop_constraint(table, &unique.name)),
            Change::DropCheck { table, check } => out.push(drop_constraint(table, &check.name)),
            Change::SetPrimaryKey { table, from: Some(pk), .. } => out.push(drop_constraint(table, &pk.name)),
            _ => {}
        }
    }
    for (table, i) in &index_recreate {
        out.push(Statement::new(format!("DROP INDEX {};", index_name(table, &i.name))));
    }
    for (table, u) in &unique_recreate {
        out.push(drop_constraint(table, &u.name));
    }
    for (table, c) in &check_recreate {
        out.push(drop_constraint(table, &c.name));
    }
    for (table, pk) in &pk_recreate {
        out.push(drop_constraint(table, &pk.name));
    }
    for (table, c) in &default_restores {
        out.push(alter(table, format!("ALTER COLUMN {} DROP DEFAULT", quote(&c.name))));
    }

    // 4. Columns dropped; then the functions nothing calls any more.
    for (table, col) in &dropped_cols {
        if displaced_cols.contains(&(table.clone(), col.name.clone())) {
            continue;
        }
        let st = alter(table, format!("DROP COLUMN {}", quote(&col.name)));
        out.push(if col.generated.is_some() {
            st
        } else {
            st.with_warning(Loss::Column { table: table.clone(), column: col.name.clone() }.to_string())
        });
    }

    for d in &fn_drops_later {
        out.push(Statement::new(drop_function_sql(d)));
    }

    // 5. Enums recreated: columns leaving the enum change type first (their values need not
    //    be in the new type); then a new type, the columns that keep the enum converted, the
    //    old type dropped, the new one renamed.
    let is_enum =
        |t: &str| f.enums.keys().chain(to.enums.keys()).any(|e| enum_column_suffix(t, e).is_some_and(|s| s.is_empty()));
    let column_alters = |table: &QualifiedName, column: &String, list: &[&ColumnChange]| {
        let (Some(old), Some(new)) =
            (f.tables.get(table).and_then(|t| t.column(column)), to.tables.get(table).and_then(|t| t.column(column)))
        else {
            return Vec::new();
        };
        let via_text = is_enum(&old.data_type) || is_enum(&new.data_type);
        alter_column(table, old, new, list, via_text)
    };
    let leaving: BTreeSet<(QualifiedName, String)> = enum_cols
        .iter()
        .filter(|(table, e, c, _)| {
            to.tables
                .get(table)
                .and_then(|t| t.column(&c.name))
                .is_some_and(|n| enum_column_suffix(&n.data_type, e).is_none())
        })
        .map(|(table, _, c, _)| (table.clone(), c.name.clone()))
        .collect();
    enum_cols.retain(|(table, _, c, _)| !leaving.contains(&(table.clone(), c.name.clone())));
    for key in &leaving {
        if let Some(list) = alters.get(key) {
            out.extend(column_alters(&key.0, &key.1, list));
        }
    }
    for (e, values) in &recreated_enums {
        let temp = QualifiedName::new(e.schema.clone(), format!("{}__new", e.name));
        out.push(Statement::new(format!(
            "CREATE TYPE {} AS ENUM({});",
            qualified(&temp),
            values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ")
        )));
        let cols: Vec<_> = enum_cols.iter().filter(|(_, en, ..)| en == e).collect();
        for (table, _, c, suffix) in &cols {
            if c.default.is_some() {
                out.push(alter(table, format!("ALTER COLUMN {} DROP DEFAULT", quote(&c.name))));
            }
            out.push(alter(
                table,
                format!(
                    "ALTER COLUMN {col} SET DATA TYPE {t}{suffix} USING {col}::text{suffix}::{t}{suffix}",
                    col = quote(&c.name),
                    t = qualified(&temp)
                ),
            ));
        }
        out.push(Statement::new(format!("DROP TYPE {};", qualified(e))));
        out.push(Statement::new(format!("ALTER TYPE {} RENAME TO {};", qualified(&temp), quote(&e.name))));
        for (table, _, c, _) in &cols {
            let new_default = to.tables.get(table).and_then(|t| t.column(&c.name)).and_then(|c| c.default.as_ref());
            if let (Some(_), Some(d)) = (&c.default, new_default) {
                out.push(alter(table, format!("ALTER COLUMN {} SET DEFAULT {d}", quote(&c.name))));
            }
        }
    }

    // Functions created or replaced: here, after the types they use and before the defaults,
    // checks, indexes, views and triggers that call them; those that need a table created or
    // a column added by this migration ([`names_tables`]) after the new tables.
    let mut new_names: BTreeSet<String> = created.iter().map(|t| t.name.clone()).collect();
    for c in changes {
        if let Change::AddColumn { table, column } = c {
            new_names.insert(table.name.clone());
            new_names.insert(column.name.clone());
        }
    }
    let (fn_creates_later, fn_creates_now): (Vec<&Function>, Vec<&Function>) =
        fn_creates.iter().partition(|c| names_tables(c, &new_names));
    for c in &fn_creates_now {
        out.push(Statement::new(c.definition.clone()));
    }

    // 6. Columns added and altered.
    for c in changes {
        if let Change::AddColumn { table, column } = c {
            if column.generated.is_none() {
                out.push(alter(table, format!("ADD COLUMN {}", column_def(column, false))));
            }
        }
    }
    for ((table, column), list) in &alters {
        if !leaving.contains(&(table.clone(), column.clone())) {
            out.extend(column_alters(table, column, list));
        }
    }
    for c in changes {
        if let Change::AddColumn { table, column } = c {
            if column.generated.is_some() {
                out.push(alter(table, format!("ADD COLUMN {}", column_def(column, false))));
            }
        }
    }

    // 7. Keys, uniques and checks added; indexes of existing tables.
    for c in changes {
        match c {
            Change::SetPrimaryKey { table, to: Some(pk), .. } => {
                out.push(alter(table, format!("ADD {}", primary_key_sql(pk))))
            }
            Change::AddUnique { table, unique } => out.push(alter(table, format!("ADD {}", unique_sql(unique)))),
            Change::AddCheck { table, check } => out.push(alter(table, format!("ADD {}", check_sql(check)))),
            Change::SetRowLevelSecurity { table, from, to } => out.extend(row_level_security_sql(table, *from, *to)),
            _ => {}
        }
    }
    for (table, pk) in &pk_recreate {
        out.push(alter(table, format!("ADD {}", primary_key_sql(pk))));
    }
    for (table, u) in &unique_recreate {
        out.push(alter(table, format!("ADD {}", unique_sql(u))));
    }
    for (table, c) in &check_recreate {
        out.push(alter(table, format!("ADD {}", check_sql(c))));
    }
    for c in changes {
        if let Change::CreateIndex { table, index } = c {
            out.push(Statement::new(create_index_sql(table, index)));
        }
    }
    for (table, i) in &index_recreate {
        out.push(Statement::new(create_index_sql(table, i)));
    }

    // 8. New tables, parents first, each with its indexes; a foreign key inline when its
    //    parent (and the key it references) exists by then.
    let (order, _) = topological(&created, |n| {
        to.tables.get(n).map(|t| t.foreign_keys.iter().map(|f| f.references.clone()).collect()).unwrap_or_default()
    });
    let mut done: BTreeSet<QualifiedName> = BTreeSet::new();
    let mut deferred_fks: Vec<(QualifiedName, &ForeignKey)> = Vec::new();
    let created_set: BTreeSet<&QualifiedName> = created.iter().collect();
    for name in &order {
        let t = &to.tables[name];
        let mut inline = Vec::new();
        for fk in &t.foreign_keys {
            let parent_ready = if fk.references == *name {
                constraint_covers(t, &fk.referenced_columns)
            } else {
                done.contains(&fk.references) || !created_set.contains(&fk.references)
            };
            if parent_ready {
                inline.push(fk);
            } else {
                deferred_fks.push((name.clone(), fk));
            }
        }
        out.push(Statement::new(create_table_sql(t, &inline)));
        out.extend(row_level_security_sql(
            name,
            diff::RowLevelSecurity { enabled: false, forced: false },
            diff::RowLevelSecurity::of(t),
        ));
        for i in t.indexes.values() {
            out.push(Statement::new(create_index_sql(name, i)));
        }
        done.insert(name.clone());
    }

    for c in &fn_creates_later {
        out.push(Statement::new(c.definition.clone()));
    }
    // Defaults that call a function that was dropped and created again, unless their column's
    // own changes set them.
    for (table, c) in &default_restores {
        let own = alters.get(&(table.clone(), c.name.clone())).is_some_and(|list| {
            list.iter().any(|ch| {
                matches!(ch, ColumnChange::Default { .. } | ColumnChange::Type { .. } | ColumnChange::Collation { .. })
            })
        });
        let by_enum = enum_cols.iter().any(|(t, _, col, _)| t == table && col.name == c.name);
        let new_default = to.tables.get(table).and_then(|t| t.column(&c.name)).and_then(|c| c.default.as_ref());
        if let (false, false, Some(d)) = (own, by_enum, new_default) {
            out.push(alter(table, format!("ALTER COLUMN {} SET DEFAULT {d}", quote(&c.name))));
        }
    }

    // 9. Foreign keys added.
    for c in changes {
        if let Change::AddForeignKey { table, foreign_key } = c {
            out.push(alter(table, format!("ADD {}", foreign_key_sql(foreign_key))));
        }
    }
    for (table, fk) in fk_recreate.iter().chain(&deferred_fks) {
        out.push(alter(table, format!("ADD {}", foreign_key_sql(fk))));
    }

    // 10. Views (in dependency order) and triggers.
    let view_list: Vec<QualifiedName> = to.views.keys().filter(|n| created_views.contains(*n)).cloned().collect();
    let (order, _) = topological(&view_list, |n| super::sqlite::view_deps(&to.views[n].definition, &to.views));
    for name in &order {
        out.push(Statement::new(view_sql(&to.views[name])));
    }
    for (name, t) in &to.triggers {
        if created_triggers.contains(name) {
            out.push(Statement::new(t.definition.clone()));
        }
    }
    // Policies: those of new tables, then the ones added or changed.
    for name in &created {
        for p in to.tables[name].policies.values() {
            out.push(Statement::new(create_policy_sql(name, p)));
        }
    }
    for c in changes {
        if let Change::CreatePolicy { table, policy } = c {
            out.push(Statement::new(create_policy_sql(table, policy)));
        }
    }
    for (table, policy) in &policy_recreate {
        out.push(Statement::new(create_policy_sql(table, policy)));
    }

    // 11. What is gone: enums, sequences, schemas.
    for c in changes {
        match c {
            Change::DropEnum { definition } => {
                out.push(Statement::new(format!("DROP TYPE {};", qualified(&definition.name))))
            }
            Change::DropSequence { sequence } => out.push(
                Statement::new(format!("DROP SEQUENCE {};", qualified(&sequence.name)))
                    .with_warning(Loss::Sequence { sequence: sequence.name.clone() }.to_string()),
            ),
            _ => {}
        }
    }
    for c in changes {
        if let Change::DropExtension { extension } = c {
            out.push(
                Statement::new(format!("DROP EXTENSION IF EXISTS {};", quote(&extension.name)))
                    .with_warning(Loss::Extension { name: extension.name.clone() }.to_string()),
            );
        }
    }
    for c in changes {
        if let Change::DropSchema { name } = c {
            out.push(Statement::new(format!("DROP SCHEMA {};", quote(name))));
        }
    }
    out
}

/// Whether a table's primary key or a unique constraint is exactly `cols` (so a foreign key to
/// them can be declared in the same CREATE TABLE).
fn constraint_covers(t: &Table, cols: &[String]) -> bool {
    let same = |a: &[String]| {
        let mut x = a.to_vec();
        let mut y = cols.to_vec();
        x.sort();
        y.sort();
        x == y
    };
    cols.is_empty() && t.primary_key.is_some()
        || t.primary_key.as_ref().is_some_and(|pk| same(&pk.columns))
        || t.uniques.iter().any(|u| same(&u.columns))
}

/// `DROP FUNCTION "s"."f"(a integer);` (or `PROCEDURE`).
fn drop_function_sql(f: &Function) -> String {
    format!("DROP {} {}({});", f.kind.sql(), qualified(&f.name), f.arguments)
}

/// The language a function is written in, as `pg_get_functiondef` prints it (` LANGUAGE x` on
/// a line of its own, before the body).
fn function_language(f: &Function) -> Option<&str> {
    f.definition.lines().find_map(|l| l.strip_prefix(" LANGUAGE ")).map(str::trim)
}

/// Whether `f` has a SQL-standard body (`BEGIN ATOMIC`), which depends on what it names.
fn is_atomic(f: &Function) -> bool {
    f.definition.lines().any(|l| l.trim_end() == "BEGIN ATOMIC")
}

/// Whether `f` may need one of `names` (tables, columns) to exist: its signature names one
/// (a row type), or its body does and is checked when it is created or depends on what it
/// names (any language but PL/pgSQL, which binds names only when it runs).
fn names_tables(f: &Function, names: &BTreeSet<String>) -> bool {
    if names.is_empty() {
        return false;
    }
    let signature = format!("{} {}", f.parameters, f.returns.as_deref().unwrap_or_default());
    mentions_any(&signature, names)
        || ((is_atomic(f) || function_language(f) != Some("plpgsql")) && mentions_any(&f.definition, names))
}

/// Whether a column's default or generated expression satisfies `calls`.
fn column_calls(c: &Column, calls: &dyn Fn(&str) -> bool) -> bool {
    c.default.as_deref().is_some_and(calls) || c.generated.as_ref().is_some_and(|g| calls(&g.expression))
}

/// Whether an index's expressions or predicate satisfy `calls`.
fn index_calls(i: &Index, calls: &dyn Fn(&str) -> bool) -> bool {
    i.keys.iter().any(|k| matches!(&k.target, IndexTarget::Expression(e) if calls(e)))
        || i.predicate.as_deref().is_some_and(calls)
}

/// Whether any expression of a table (defaults, generated columns, checks, indexes) satisfies
/// `calls`.
fn table_calls(t: &Table, calls: &dyn Fn(&str) -> bool) -> bool {
    t.columns.iter().any(|c| column_calls(c, calls))
        || t.checks.iter().any(|c| calls(&c.expression))
        || t.indexes.values().any(|i| index_calls(i, calls))
}

fn drop_constraint(table: &QualifiedName, name: &Option<String>) -> Statement {
    match name {
        Some(n) => alter(table, format!("DROP CONSTRAINT {}", quote(n))),
        // PostgreSQL always names constraints; a hand-made schema without a name cannot be
        // dropped by name.
        None => Statement::new(format!("-- a constraint of {} without a name cannot be dropped", table_name(table))),
    }
}

/// `ALTER TABLE … ALTER COLUMN …` for one column's changes, in an order PostgreSQL accepts.
/// `via_text`: the old or the new type is an enum, which casts only from and to `text`.
fn alter_column(
    table: &QualifiedName,
    old: &Column,
    new: &Column,
    changes: &[&ColumnChange],
    via_text: bool,
) -> Vec<Statement> {
    let col = quote(&new.name);
    let mut out = Vec::new();
    let has = |pred: &dyn Fn(&ColumnChange) -> bool| changes.iter().any(|c| pred(c));
    let generated_to = has(&|c| matches!(c, ColumnChange::Generated { to: Some(_), .. }));
    if generated_to {
        // A column becomes generated or its expression changes: drop it and add it again
        // (its values are computed; what stood on it is dropped before and added after).
        out.push(alter(table, format!("DROP COLUMN {col}")));
        out.push(alter(table, format!("ADD COLUMN {}", column_def(new, false))));
        return out;
    }
    let type_change = has(&|c| matches!(c, ColumnChange::Type { .. } | ColumnChange::Collation { .. }));
    let default_change = has(&|c| matches!(c, ColumnChange::Default { .. }));
    if old.default.is_some() && (default_change || type_change) {
        out.push(alter(table, format!("ALTER COLUMN {col} DROP DEFAULT")));
    }
    if old.identity.is_some() && new.identity.is_none() {
        out.push(alter(table, format!("ALTER COLUMN {col} DROP IDENTITY")));
    }
    if old.generated.is_some() && new.generated.is_none() {
        out.push(alter(table, format!("ALTER COLUMN {col} DROP EXPRESSION")));
    }
    if type_change && is_serial(&old.data_type) && is_serial(&new.data_type) {
        // Another width of `serial`: the column and its own sequence change type; the sequence
        // (and where it stands) is kept.
        let new_base = serial_base(&new.data_type);
        out.push(alter(table, format!("ALTER COLUMN {col} SET DATA TYPE {new_base} USING {col}::{new_base}")));
        out.push(Statement::new(format!(
            "DO $$ BEGIN EXECUTE 'ALTER SEQUENCE ' || pg_get_serial_sequence({}, {}) || ' AS {new_base}'; END $$;",
            literal(&qualified(table)),
            literal(&new.name)
        )));
    } else if type_change {
        let new_base = serial_base(&new.data_type);
        if is_serial(&old.data_type) {
            // The sequence `serial` made goes with the default.
            out.push(alter(table, format!("ALTER COLUMN {col} DROP DEFAULT")));
            out.push(Statement::new(format!(
                "DO $$ DECLARE s text := pg_get_serial_sequence({}, {}); \
                 BEGIN IF s IS NOT NULL THEN EXECUTE 'DROP SEQUENCE ' || s; END IF; END $$;",
                literal(&qualified(table)),
                literal(&new.name)
            )));
        }
        let coll = new.collation.as_ref().map(|c| format!(" COLLATE {}", collation(c))).unwrap_or_default();
        if serial_base(&old.data_type) != new_base || old.collation != new.collation {
            out.push(alter(
                table,
                format!(
                    "ALTER COLUMN {col} SET DATA TYPE {new_base}{coll} USING {col}{}::{new_base}",
                    if via_text { "::text" } else { "" }
                ),
            ));
        }
        if is_serial(&new.data_type) {
            let seq = QualifiedName::new(table.schema.clone(), format!("{}_{}_seq", table.name, new.name));
            out.push(Statement::new(format!(
                "CREATE SEQUENCE {} AS {new_base} OWNED BY {}.{col};",
                qualified(&seq),
                qualified(table)
            )));
            out.push(alter(table, format!("ALTER COLUMN {col} SET DEFAULT nextval({})", literal(&qualified(&seq)))));
            out.push(Statement::new(format!(
                "SELECT setval({}, COALESCE(max({col}), 0) + 1, false) FROM {};",
                literal(&qualified(&seq)),
                table_name(table)
            )));
        }
    }
    if old.not_null && !new.not_null && new.identity.is_none() {
        out.push(alter(table, format!("ALTER COLUMN {col} DROP NOT NULL")));
    }
    if !old.not_null && new.not_null {
        out.push(alter(table, format!("ALTER COLUMN {col} SET NOT NULL")));
    }
    if let Some(d) = &new.default {
        if default_change || (type_change && old.default.is_some()) {
            out.push(alter(table, format!("ALTER COLUMN {col} SET DEFAULT {d}")));
        }
    }
    match (&old.identity, &new.identity) {
        (None, Some(i)) => out.push(alter(table, format!("ALTER COLUMN {col} ADD {}", identity_sql(i)))),
        (Some(a), Some(b)) if a != b => {
            let o = &b.sequence;
            out.push(alter(
                table,
                format!(
                    "ALTER COLUMN {col} SET GENERATED {} SET INCREMENT BY {} SET MINVALUE {} SET MAXVALUE {} \
                     SET START WITH {} SET CACHE {} SET {}CYCLE",
                    if b.always { "ALWAYS" } else { "BY DEFAULT" },
                    o.increment,
                    o.min,
                    o.max,
                    o.start,
                    o.cache,
                    if o.cycle { "" } else { "NO " }
                ),
            ));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::diff::{diff, Renames};

    fn q(n: &str) -> QualifiedName {
        QualifiedName::new("public", n)
    }

    fn plan(from: &Schema, to: &Schema) -> Vec<Statement> {
        let changes = diff(from, to, &Renames::none_are_renames()).unwrap();
        render(&changes, from, to)
    }

    fn fk(name: &str, col: &str, target: &str) -> ForeignKey {
        ForeignKey {
            name: Some(name.into()),
            columns: vec![col.into()],
            references: q(target),
            referenced_columns: vec!["id".into()],
            on_delete: Action::Cascade,
            on_update: Action::NoAction,
            deferrable: Deferrable::NotDeferrable,
        }
    }

    fn keyed(name: &str, cols: &[&str]) -> Table {
        let mut t = Table::new(q(name));
        t.columns = std::iter::once("id")
            .chain(cols.iter().copied())
            .map(|c| Column { not_null: c == "id", ..Column::new(c, "integer") })
            .collect();
        t.primary_key = Some(PrimaryKey { name: Some(format!("{name}_pkey")), columns: vec!["id".into()] });
        t
    }

    #[test]
    fn a_cycle_of_new_tables_gets_one_key_added_after() {
        let mut sites = keyed("sites", &["env_id"]);
        sites.foreign_keys.push(fk("sites_env_fk", "env_id", "envs"));
        let mut envs = keyed("envs", &["site_id"]);
        envs.foreign_keys.push(fk("envs_site_fk", "site_id", "sites"));
        let mut to = Schema::empty(Dialect::Postgres);
        to.tables.insert(q("sites"), sites);
        to.tables.insert(q("envs"), envs);
        let sql: Vec<String> = plan(&Schema::empty(Dialect::Postgres), &to).into_iter().map(|s| s.sql).collect();
        assert_eq!(sql.len(), 3, "{sql:#?}");
        assert!(sql[0].starts_with("CREATE TABLE \"sites\" (\n\t\"id\" integer PRIMARY KEY NOT NULL,"), "{sql:#?}");
        assert!(!sql[0].contains("FOREIGN KEY"));
        assert!(sql[1].contains("CONSTRAINT \"envs_site_fk\" FOREIGN KEY (\"site_id\") REFERENCES \"public\".\"sites\"(\"id\") ON DELETE cascade ON UPDATE no action"));
        assert_eq!(
            sql[2],
            "ALTER TABLE \"sites\" ADD CONSTRAINT \"sites_env_fk\" FOREIGN KEY (\"env_id\") REFERENCES \"public\".\"envs\"(\"id\") ON DELETE cascade ON UPDATE no action;"
        );
    }

    #[test]
    fn an_added_enum_value_runs_outside_the_transaction() {
        let mut from = Schema::empty(Dialect::Postgres);
        from.enums.insert(q("mood"), Enum { name: q("mood"), values: vec!["a".into()] });
        let mut to = from.clone();
        to.enums.get_mut(&q("mood")).unwrap().values.insert(0, "z".into());
        let st = plan(&from, &to);
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].sql, "ALTER TYPE \"public\".\"mood\" ADD VALUE 'z' BEFORE 'a';");
        assert!(st[0].outside_transaction);
    }

    #[test]
    fn a_type_change_moves_the_default_out_of_the_way() {
        let mut from = Schema::empty(Dialect::Postgres);
        let mut t = keyed("t", &[]);
        t.columns.push(Column { default: Some("'1'::text".into()), ..Column::new("n", "text") });
        from.tables.insert(q("t"), t.clone());
        let mut to = from.clone();
        to.tables.get_mut(&q("t")).unwrap().columns[1] =
            Column { default: Some("1".into()), ..Column::new("n", "integer") };
        let sql: Vec<String> = plan(&from, &to).into_iter().map(|s| s.sql).collect();
        assert_eq!(
            sql,
            [
                "ALTER TABLE \"t\" ALTER COLUMN \"n\" DROP DEFAULT;",
                "ALTER TABLE \"t\" ALTER COLUMN \"n\" SET DATA TYPE integer USING \"n\"::integer;",
                "ALTER TABLE \"t\" ALTER COLUMN \"n\" SET DEFAULT 1;",
            ]
        );
    }

    fn function(name: &str, arguments: &str, language: &str, body: &str) -> Function {
        Function {
            name: q(name),
            kind: RoutineKind::Function,
            arguments: arguments.into(),
            parameters: arguments.into(),
            returns: Some("text".into()),
            definition: format!(
                "CREATE OR REPLACE FUNCTION public.{name}({arguments})\n RETURNS text\n LANGUAGE {language}\n\
                 AS $function$ {body} $function$"
            ),
        }
    }

    fn sql_of(from: &Schema, to: &Schema) -> Vec<String> {
        plan(from, to).into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn functions_come_after_what_they_need_and_before_what_calls_them() {
        let mut to = Schema::empty(Dialect::Postgres);
        let mut t = keyed("t", &[]);
        t.columns.push(Column { default: Some("code()".into()), ..Column::new("code", "text") });
        to.tables.insert(q("t"), t);
        // A PL/pgSQL body that names t binds it only when it runs; a SQL body is checked.
        for f in [
            function("code", "", "plpgsql", "BEGIN RETURN 'x'; END"),
            function("n", "", "sql", "SELECT count(*) FROM t"),
        ] {
            to.functions.insert(f.key(), f);
        }
        let sql = sql_of(&Schema::empty(Dialect::Postgres), &to);
        let at =
            |needle: &str| sql.iter().position(|s| s.contains(needle)).unwrap_or_else(|| panic!("{needle}: {sql:#?}"));
        assert!(at("FUNCTION public.code()") < at("CREATE TABLE \"t\""), "{sql:#?}");
        assert!(at("CREATE TABLE \"t\"") < at("FUNCTION public.n()"), "{sql:#?}");
        // Dropped: the table whose default calls it first.
        let sql = sql_of(&to, &Schema::empty(Dialect::Postgres));
        let at =
            |needle: &str| sql.iter().position(|s| s.contains(needle)).unwrap_or_else(|| panic!("{needle}: {sql:#?}"));
        assert!(at("DROP TABLE \"t\"") < at("DROP FUNCTION \"public\".\"code\"()"), "{sql:#?}");
    }

    #[test]
    fn a_new_signature_takes_what_calls_the_function_down_and_up() {
        let mut from = Schema::empty(Dialect::Postgres);
        let mut t = keyed("t", &[]);
        t.columns.push(Column { default: Some("f(1)".into()), ..Column::new("n", "text") });
        t.checks.push(Check { name: Some("t_n_check".into()), expression: "f(id) <> ''::text".into() });
        from.tables.insert(q("t"), t);
        let old = function("f", "x integer", "sql", "SELECT x::text");
        from.functions.insert(old.key(), old);
        let trigger = Trigger {
            name: q("t_f"),
            table: q("t"),
            definition:
                "CREATE TRIGGER t_f BEFORE UPDATE ON t FOR EACH ROW WHEN (f(old.id) <> '') EXECUTE FUNCTION g()".into(),
        };
        from.triggers.insert(trigger.key(), trigger);
        let mut to = from.clone();
        to.functions.clear();
        let new = function("f", "y integer", "sql", "SELECT y::text");
        to.functions.insert(new.key(), new);
        assert_eq!(
            sql_of(&from, &to),
            [
                "DROP TRIGGER \"t_f\" ON \"t\";",
                "ALTER TABLE \"t\" DROP CONSTRAINT \"t_n_check\";",
                "ALTER TABLE \"t\" ALTER COLUMN \"n\" DROP DEFAULT;",
                "DROP FUNCTION \"public\".\"f\"(x integer);",
                "CREATE OR REPLACE FUNCTION public.f(y integer)\n RETURNS text\n LANGUAGE sql\nAS $function$ SELECT y::text $function$;",
                "ALTER TABLE \"t\" ADD CONSTRAINT \"t_n_check\" CHECK (f(id) <> ''::text);",
                "ALTER TABLE \"t\" ALTER COLUMN \"n\" SET DEFAULT f(1);",
                "CREATE TRIGGER t_f BEFORE UPDATE ON t FOR EACH ROW WHEN (f(old.id) <> '') EXECUTE FUNCTION g();",
            ]
        );
    }

    #[test]
    fn enum_columns_are_recognised_in_every_spelling() {
        let e = QualifiedName::new("public", "status");
        assert_eq!(enum_column_suffix("status", &e), Some(""));
        assert_eq!(enum_column_suffix("status[]", &e), Some("[]"));
        assert_eq!(enum_column_suffix("public.status", &e), Some(""));
        assert_eq!(enum_column_suffix("\"public\".\"status\"", &e), Some(""));
        assert_eq!(enum_column_suffix("statuses", &e), None);
        let m = QualifiedName::new("auth", "Mood");
        assert_eq!(enum_column_suffix("auth.\"Mood\"", &m), Some(""));
        assert_eq!(enum_column_suffix("\"Mood\"", &m), None);
    }
}
