//! SQLite introspection: the pragmas for what they expose (columns, NOT NULL, primary-key
//! order, which indexes exist and where they come from, foreign-key targets and actions,
//! WITHOUT ROWID, STRICT, shadow tables), and the stored CREATE text, read by a small parser
//! over [`tokenize`], for the rest (names, CHECKs, defaults, collations, generated columns,
//! AUTOINCREMENT, DEFERRABLE, index expressions and predicates).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};

use super::{
    join_tokens, matching_paren, normalize_sql_expression, split_top_level, strip_wrapping_parens, tokenize,
    IntrospectError, Lexer, Token, TokenKind,
};
use crate::schema::model::*;

/// drizzle's bookkeeping table: never part of a schema.
const BOOKKEEPING_TABLE: &str = "__drizzle_migrations";

const MAIN: &str = "main";

/// Reads the `main` database of `conn` into a [`Schema`] in the model's normal form.
pub fn sqlite(conn: &Connection) -> Result<Schema, IntrospectError> {
    let mut schema = Schema::empty(Dialect::Sqlite);
    let objects = catalog(conn)?;
    let kinds = table_list(conn)?;
    let excluded = |name: &str, table: &str| is_internal(name) || is_internal(table);

    for o in &objects {
        if excluded(&o.name, &o.table) {
            continue;
        }
        let qname = QualifiedName::new(MAIN, o.name.clone());
        match o.kind.as_str() {
            "table" => match kinds.get(&o.name) {
                Some(k) if k.kind == "table" => {
                    let table = read_table(conn, o, k, &kinds)?;
                    schema.tables.insert(qname, table);
                }
                Some(k) if k.kind == "virtual" => {
                    let sql = o.sql.as_deref().unwrap_or_default();
                    schema.virtual_tables.insert(
                        qname.clone(),
                        VirtualTable { name: qname, module: module_of(sql), definition: normalize_sql_expression(sql) },
                    );
                }
                // Shadow tables belong to their virtual table.
                _ => {}
            },
            "view" => {
                let definition = normalize_sql_expression(o.sql.as_deref().unwrap_or_default());
                schema.views.insert(qname.clone(), View { name: qname, definition, materialized: false });
            }
            "trigger" => {
                let definition = normalize_sql_expression(o.sql.as_deref().unwrap_or_default());
                let table = QualifiedName::new(MAIN, o.table.clone());
                let trigger = Trigger { name: qname, table, definition };
                schema.triggers.insert(trigger.key(), trigger);
            }
            _ => {} // indexes are read with their table
        }
    }
    Ok(schema)
}

/// SQLite's own objects and drizzle's bookkeeping table (with its indexes).
fn is_internal(name: &str) -> bool {
    name.len() >= 7 && name[..7].eq_ignore_ascii_case("sqlite_") || name.eq_ignore_ascii_case(BOOKKEEPING_TABLE)
}

struct Object {
    kind: String,
    name: String,
    table: String,
    sql: Option<String>,
}

fn catalog(conn: &Connection) -> Result<Vec<Object>, IntrospectError> {
    let what = "sqlite_schema";
    let err = |source| IntrospectError::Sqlite { what: what.into(), source };
    let mut stmt =
        conn.prepare("SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY type, name").map_err(err)?;
    let rows = stmt
        .query_map([], |r| Ok(Object { kind: r.get(0)?, name: r.get(1)?, table: r.get(2)?, sql: r.get(3)? }))
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

/// What `pragma table_list` says about a table.
struct TableKind {
    /// `table`, `view`, `virtual` or `shadow`.
    kind: String,
    without_rowid: bool,
    strict: bool,
}

fn table_list(conn: &Connection) -> Result<BTreeMap<String, TableKind>, IntrospectError> {
    let err = |source| IntrospectError::Sqlite { what: "pragma table_list".into(), source };
    let mut stmt =
        conn.prepare("SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'").map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                TableKind {
                    kind: r.get(1)?,
                    without_rowid: r.get::<_, i64>(2)? != 0,
                    strict: r.get::<_, i64>(3)? != 0,
                },
            ))
        })
        .map_err(err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

fn pragma_err(pragma: &str, object: &str) -> impl Fn(rusqlite::Error) -> IntrospectError {
    let what = format!("pragma {pragma}({object})");
    move |source| IntrospectError::Sqlite { what: what.clone(), source }
}

struct XColumn {
    name: String,
    not_null: bool,
    pk: i64,
    hidden: i64,
}

fn table_xinfo(conn: &Connection, table: &str) -> Result<Vec<XColumn>, IntrospectError> {
    let err = pragma_err("table_xinfo", table);
    let mut stmt = conn
        .prepare("SELECT name, \"notnull\", pk, hidden FROM pragma_table_xinfo(?1, 'main') ORDER BY cid")
        .map_err(&err)?;
    let rows = stmt
        .query_map([table], |r| {
            Ok(XColumn { name: r.get(0)?, not_null: r.get::<_, i64>(1)? != 0, pk: r.get(2)?, hidden: r.get(3)? })
        })
        .map_err(&err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

struct IndexEntry {
    name: String,
    unique: bool,
    /// `c` (CREATE INDEX), `u` (UNIQUE constraint) or `pk`.
    origin: String,
}

fn index_list(conn: &Connection, table: &str) -> Result<Vec<IndexEntry>, IntrospectError> {
    let err = pragma_err("index_list", table);
    let mut stmt = conn
        .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1, 'main') ORDER BY seq")
        .map_err(&err)?;
    let rows = stmt
        .query_map([table], |r| Ok(IndexEntry { name: r.get(0)?, unique: r.get::<_, i64>(1)? != 0, origin: r.get(2)? }))
        .map_err(&err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

/// One key of an index (`pragma index_xinfo` rows with `key = 1`).
struct XKey {
    /// -1 rowid, -2 an expression.
    cid: i64,
    name: Option<String>,
    descending: bool,
}

fn index_xinfo(conn: &Connection, index: &str) -> Result<Vec<XKey>, IntrospectError> {
    let err = pragma_err("index_xinfo", index);
    let mut stmt = conn
        .prepare("SELECT cid, name, \"desc\" FROM pragma_index_xinfo(?1, 'main') WHERE key = 1 ORDER BY seqno")
        .map_err(&err)?;
    let rows = stmt
        .query_map([index], |r| Ok(XKey { cid: r.get(0)?, name: r.get(1)?, descending: r.get::<_, i64>(2)? != 0 }))
        .map_err(&err)?;
    rows.collect::<Result<_, _>>().map_err(err)
}

/// One foreign key from `pragma foreign_key_list`, its rows gathered.
struct XForeignKey {
    table: String,
    from: Vec<String>,
    to: Vec<Option<String>>,
    on_update: Action,
    on_delete: Action,
}

fn foreign_key_list(conn: &Connection, table: &str) -> Result<Vec<XForeignKey>, IntrospectError> {
    let err = pragma_err("foreign_key_list", table);
    let mut stmt = conn
        .prepare(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1, 'main') \
             ORDER BY id, seq",
        )
        .map_err(&err)?;
    let mut rows = stmt.query([table]).map_err(&err)?;
    let mut out: Vec<(i64, XForeignKey)> = Vec::new();
    while let Some(r) = rows.next().map_err(&err)? {
        let id: i64 = r.get(0).map_err(&err)?;
        if out.last().is_none_or(|(last, _)| *last != id) {
            out.push((
                id,
                XForeignKey {
                    table: r.get(1).map_err(&err)?,
                    from: Vec::new(),
                    to: Vec::new(),
                    on_update: action(&r.get::<_, String>(4).map_err(&err)?),
                    on_delete: action(&r.get::<_, String>(5).map_err(&err)?),
                },
            ));
        }
        let fk = &mut out.last_mut().expect("pushed above").1;
        fk.from.push(r.get(2).map_err(&err)?);
        fk.to.push(r.get(3).map_err(&err)?);
    }
    Ok(out.into_iter().map(|(_, fk)| fk).collect())
}

fn action(s: &str) -> Action {
    match s.to_ascii_uppercase().as_str() {
        "CASCADE" => Action::Cascade,
        "SET NULL" => Action::SetNull,
        "SET DEFAULT" => Action::SetDefault,
        "RESTRICT" => Action::Restrict,
        _ => Action::NoAction,
    }
}

fn definition_error(object: &str, sql: &str, message: impl Into<String>) -> IntrospectError {
    IntrospectError::Definition { object: object.to_string(), message: message.into(), sql: sql.to_string() }
}

fn read_table(
    conn: &Connection,
    o: &Object,
    kind: &TableKind,
    kinds: &BTreeMap<String, TableKind>,
) -> Result<Table, IntrospectError> {
    let sql = o.sql.as_deref().unwrap_or_default();
    let parsed = parse_create_table(sql).map_err(|m| definition_error(&format!("table {}", o.name), sql, m))?;
    let mut table = Table::new(QualifiedName::new(MAIN, o.name.clone()));
    table.without_rowid = kind.without_rowid;
    table.strict = kind.strict;

    let xcolumns = table_xinfo(conn, &o.name)?;
    for x in xcolumns.iter().filter(|x| x.hidden != 1) {
        let p = parsed.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&x.name)).ok_or_else(|| {
            definition_error(&format!("table {}", o.name), sql, format!("column {} is not in the text", x.name))
        })?;
        let generated = match (&p.generated, x.hidden) {
            (Some(g), 2 | 3) => Some(Generated { expression: g.expression.clone(), stored: x.hidden == 3 }),
            _ => None,
        };
        table.columns.push(Column {
            name: x.name.clone(),
            data_type: p.data_type.clone(),
            not_null: x.not_null,
            default: p.default.clone(),
            generated,
            identity: None,
            autoincrement: p.autoincrement,
            collation: p.collation.clone(),
        });
    }

    let mut pk: Vec<&XColumn> = xcolumns.iter().filter(|x| x.pk > 0).collect();
    pk.sort_by_key(|x| x.pk);
    if !pk.is_empty() {
        table.primary_key = Some(PrimaryKey {
            name: parsed.primary_key_name.clone(),
            columns: pk.iter().map(|x| x.name.clone()).collect(),
        });
    }

    let mut text_uniques: Vec<Option<&(Option<String>, Vec<String>)>> = parsed.uniques.iter().map(Some).collect();
    for entry in index_list(conn, &o.name)? {
        match entry.origin.as_str() {
            "u" => {
                let columns: Vec<String> =
                    index_xinfo(conn, &entry.name)?.into_iter().map(|k| k.name.unwrap_or_default()).collect();
                let name = text_uniques
                    .iter_mut()
                    .find(|u| u.is_some_and(|(_, cols)| same_names(cols, &columns)))
                    .and_then(Option::take)
                    .and_then(|(name, _)| name.clone());
                table.uniques.push(Unique { name, columns, nulls_not_distinct: false });
            }
            "c" => {
                let index = read_index(conn, &entry)?;
                table.indexes.insert(index.name.clone(), index);
            }
            _ => {} // the primary key's own index
        }
    }

    let mut text_fks: Vec<Option<&ParsedForeignKey>> = parsed.foreign_keys.iter().map(Some).collect();
    for x in foreign_key_list(conn, &o.name)? {
        let p = text_fks
            .iter_mut()
            .find(|p| p.is_some_and(|p| same_names(&p.columns, &x.from) && p.table.eq_ignore_ascii_case(&x.table)))
            .and_then(Option::take);
        // The target as the catalog names it, whatever case the REFERENCES clause used.
        let target = kinds.keys().find(|k| k.eq_ignore_ascii_case(&x.table)).cloned().unwrap_or(x.table.clone());
        let referenced_columns = if x.to.iter().all(Option::is_some) {
            x.to.iter().flatten().cloned().collect()
        } else if kinds.contains_key(&target) {
            // `REFERENCES parent` without columns: the parent's primary key.
            let mut pk: Vec<XColumn> = table_xinfo(conn, &target)?.into_iter().filter(|c| c.pk > 0).collect();
            pk.sort_by_key(|c| c.pk);
            pk.into_iter().map(|c| c.name).collect()
        } else {
            Vec::new()
        };
        table.foreign_keys.push(ForeignKey {
            name: p.and_then(|p| p.name.clone()),
            columns: x.from,
            references: QualifiedName::new(MAIN, target),
            referenced_columns,
            on_delete: x.on_delete,
            on_update: x.on_update,
            deferrable: p.map_or(Deferrable::NotDeferrable, |p| p.deferrable),
        });
    }

    table.checks = parsed.checks;
    table.normalize();
    Ok(table)
}

fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

fn read_index(conn: &Connection, entry: &IndexEntry) -> Result<Index, IntrospectError> {
    let sql: Option<String> = conn
        .query_row("SELECT sql FROM main.sqlite_schema WHERE type = 'index' AND name = ?1", [&entry.name], |r| r.get(0))
        .optional()
        .map_err(|source| IntrospectError::Sqlite { what: format!("the definition of index {}", entry.name), source })?
        .flatten();
    let sql = sql.unwrap_or_default();
    let parsed = parse_create_index(&sql).map_err(|m| definition_error(&format!("index {}", entry.name), &sql, m))?;
    let xkeys = index_xinfo(conn, &entry.name)?;
    if xkeys.len() != parsed.keys.len() {
        return Err(definition_error(
            &format!("index {}", entry.name),
            &sql,
            format!("{} keys in the text, {} in the catalog", parsed.keys.len(), xkeys.len()),
        ));
    }
    let keys = xkeys
        .into_iter()
        .zip(parsed.keys)
        .map(|(x, p)| IndexKey {
            target: match (x.cid, x.name) {
                (cid, Some(name)) if cid >= 0 => IndexTarget::Column(name),
                // The rowid, named as the statement names it.
                (-1, _) => IndexTarget::Column(p.column.unwrap_or(p.expression)),
                _ => IndexTarget::Expression(p.expression),
            },
            descending: x.descending,
            collation: p.collation,
            nulls_not_default: false,
            opclass: None,
        })
        .collect();
    Ok(Index {
        name: entry.name.clone(),
        unique: entry.unique,
        keys,
        predicate: parsed.predicate,
        method: None,
        include: Vec::new(),
    })
}

/// `CREATE VIRTUAL TABLE t USING fts5(…)` → `fts5`.
fn module_of(sql: &str) -> String {
    let tokens = tokenize(sql, Lexer::Sqlite);
    tokens
        .iter()
        .position(|t| t.is_word("USING"))
        .and_then(|i| tokens.get(i + 1))
        .and_then(Token::ident)
        .map(|m| m.to_ascii_lowercase())
        .unwrap_or_default()
}

// --- the CREATE TABLE / CREATE INDEX parser ----------------------------------------------------

#[derive(Debug, Default, PartialEq)]
struct ParsedTable {
    columns: Vec<ParsedColumn>,
    primary_key_name: Option<String>,
    /// Named or not, with their columns.
    uniques: Vec<(Option<String>, Vec<String>)>,
    checks: Vec<Check>,
    foreign_keys: Vec<ParsedForeignKey>,
}

#[derive(Debug, Default, PartialEq)]
struct ParsedColumn {
    name: String,
    data_type: String,
    default: Option<String>,
    collation: Option<String>,
    generated: Option<Generated>,
    autoincrement: bool,
}

#[derive(Debug, PartialEq)]
struct ParsedForeignKey {
    name: Option<String>,
    columns: Vec<String>,
    table: String,
    deferrable: Deferrable,
}

/// A cursor over the tokens of one definition.
struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
    pos: usize,
}

impl<'t, 'a> Cursor<'t, 'a> {
    fn new(tokens: &'t [Token<'a>]) -> Self {
        Cursor { tokens, pos: 0 }
    }

    fn peek(&self) -> Option<&'t Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn at_word(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is_word(kw))
    }

    fn eat_word(&mut self, kw: &str) -> bool {
        let yes = self.at_word(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_words(&mut self, kws: &[&str]) -> bool {
        let yes = kws.iter().enumerate().all(|(i, kw)| self.tokens.get(self.pos + i).is_some_and(|t| t.is_word(kw)));
        if yes {
            self.pos += kws.len();
        }
        yes
    }

    fn expect_word(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_word(kw) {
            Ok(())
        } else {
            Err(format!("expected {kw} {}", self.here()))
        }
    }

    fn here(&self) -> String {
        match self.peek() {
            Some(t) => format!("at `{}`", t.text),
            None => "at the end".into(),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        let name = self.peek().and_then(Token::ident).ok_or_else(|| format!("expected a name {}", self.here()))?;
        self.pos += 1;
        Ok(name)
    }

    /// `( … )` at the cursor: the tokens inside.
    fn group(&mut self) -> Result<&'t [Token<'a>], String> {
        if !self.peek().is_some_and(|t| t.is("(")) {
            return Err(format!("expected `(` {}", self.here()));
        }
        let close = matching_paren(self.tokens, self.pos).ok_or("a `(` is never closed")?;
        let inside = &self.tokens[self.pos + 1..close];
        self.pos = close + 1;
        Ok(inside)
    }

    /// `[schema .] name`: the name.
    fn qualified_name(&mut self) -> Result<String, String> {
        let first = self.ident()?;
        if self.peek().is_some_and(|t| t.is(".")) {
            self.pos += 1;
            return self.ident();
        }
        Ok(first)
    }

    /// `ON CONFLICT <resolution>`, which the model does not keep.
    fn skip_conflict_clause(&mut self) {
        if self.eat_words(&["ON", "CONFLICT"]) {
            self.pos += 1;
        }
    }
}

/// The column names of `( a, b COLLATE x DESC )`.
fn column_list(inside: &[Token<'_>]) -> Result<Vec<String>, String> {
    split_top_level(inside)
        .into_iter()
        .map(|part| part.first().and_then(Token::ident).ok_or_else(|| "expected a column name".to_string()))
        .collect()
}

/// Words that end a column's type and start its constraints.
const COLUMN_CONSTRAINT_STARTS: [&str; 12] = [
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
    "DEFERRABLE",
];

/// Words that start a table constraint.
const TABLE_CONSTRAINT_STARTS: [&str; 5] = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

fn parse_create_table(sql: &str) -> Result<ParsedTable, String> {
    let tokens = tokenize(sql, Lexer::Sqlite);
    let mut c = Cursor::new(&tokens);
    c.expect_word("CREATE")?;
    let _ = c.eat_word("TEMP") || c.eat_word("TEMPORARY");
    c.expect_word("TABLE")?;
    c.eat_words(&["IF", "NOT", "EXISTS"]);
    c.qualified_name()?;
    if c.at_word("AS") {
        return Err("CREATE TABLE … AS SELECT has no column definitions to read".into());
    }
    let body = c.group()?;
    let mut table = ParsedTable::default();
    for item in split_top_level(body) {
        let first = item.first().ok_or("an empty column or constraint definition")?;
        if TABLE_CONSTRAINT_STARTS.iter().any(|k| first.is_word(k)) {
            parse_table_constraints(item, &mut table)?;
        } else {
            parse_column(item, &mut table)?;
        }
    }
    Ok(table)
}

fn parse_column(item: &[Token<'_>], table: &mut ParsedTable) -> Result<(), String> {
    let mut c = Cursor::new(item);
    let mut col = ParsedColumn { name: c.ident()?, ..ParsedColumn::default() };
    let type_start = c.pos;
    while let Some(t) = c.peek() {
        if COLUMN_CONSTRAINT_STARTS.iter().any(|k| t.is_word(k)) {
            break;
        }
        if t.is("(") {
            c.group()?;
        } else {
            c.pos += 1;
        }
    }
    col.data_type = join_tokens(&item[type_start..c.pos]).to_ascii_uppercase();
    let mut name: Option<String> = None;
    while !c.at_end() {
        if c.eat_word("CONSTRAINT") {
            name = Some(c.ident()?);
            continue;
        }
        if c.eat_words(&["PRIMARY", "KEY"]) {
            table.primary_key_name = name.take();
            let _ = c.eat_word("ASC") || c.eat_word("DESC");
            c.skip_conflict_clause();
            col.autoincrement = c.eat_word("AUTOINCREMENT");
        } else if c.eat_words(&["NOT", "NULL"]) || c.eat_word("NULL") {
            c.skip_conflict_clause();
        } else if c.eat_word("UNIQUE") {
            c.skip_conflict_clause();
            table.uniques.push((name.take(), vec![col.name.clone()]));
        } else if c.eat_word("CHECK") {
            let expression = normalize_tokens(c.group()?);
            table.checks.push(Check { name: name.take(), expression });
        } else if c.eat_word("DEFAULT") {
            col.default = parse_default(&mut c)?;
        } else if c.eat_word("COLLATE") {
            col.collation = Some(c.ident()?.to_ascii_uppercase());
        } else if c.eat_word("REFERENCES") {
            let (table_name, deferrable) = parse_references(&mut c)?;
            table.foreign_keys.push(ParsedForeignKey {
                name: name.take(),
                columns: vec![col.name.clone()],
                table: table_name,
                deferrable,
            });
        } else if c.eat_words(&["GENERATED", "ALWAYS", "AS"]) || c.eat_word("AS") {
            let expression = normalize_tokens(c.group()?);
            let stored = c.eat_word("STORED");
            let _ = stored || c.eat_word("VIRTUAL");
            col.generated = Some(Generated { expression, stored });
        } else if let Some(deferrable) = parse_deferrable(&mut c) {
            // A DEFERRABLE clause on its own (`REFERENCES p NOT NULL DEFERRABLE …`): SQLite
            // gives it to the table's latest foreign key.
            if let Some(fk) = table.foreign_keys.last_mut() {
                fk.deferrable = deferrable;
            }
        } else {
            return Err(format!("unexpected {} in column {}", c.here(), col.name));
        }
        name = None;
    }
    table.columns.push(col);
    Ok(())
}

/// `DEFAULT` value: `( expr )`, a signed number, or one literal or word. `DEFAULT NULL` is no
/// default.
///
/// A lone name (`DEFAULT text`, `DEFAULT "text"`, `` DEFAULT `text` ``, `DEFAULT [text]`) is,
/// to SQLite, the string literal of that name (whatever the double-quoted-string setting), so
/// it reads as that literal: `'text'`, the same as `DEFAULT 'text'`. Only `NULL`, `TRUE`,
/// `FALSE` and `CURRENT_TIME`/`_DATE`/`_TIMESTAMP` written bare are not names there.
fn parse_default(c: &mut Cursor<'_, '_>) -> Result<Option<String>, String> {
    let start = c.pos;
    match c.peek() {
        Some(t) if t.is("(") => {
            c.group()?;
        }
        Some(t) if t.is("-") || t.is("+") => c.pos += 2,
        Some(t) => {
            c.pos += 1;
            if let Some(name) = default_name(t) {
                return Ok(Some(format!("'{}'", name.replace('\'', "''"))));
            }
        }
        None => return Err("DEFAULT without a value".into()),
    }
    let tokens = c.tokens.get(start..c.pos).ok_or("DEFAULT without a value")?;
    let value = normalize_tokens(tokens);
    Ok((value != "NULL").then_some(value))
}

/// The name a lone token after `DEFAULT` stands for, when SQLite reads it as a name (and so as
/// the string literal of that name): any quoted identifier, and any bare word but the value
/// keywords.
fn default_name(t: &Token<'_>) -> Option<String> {
    const VALUES: [&str; 6] = ["NULL", "TRUE", "FALSE", "CURRENT_TIME", "CURRENT_DATE", "CURRENT_TIMESTAMP"];
    match &t.kind {
        TokenKind::Quoted(name) => Some(name.clone()),
        TokenKind::Word if !VALUES.iter().any(|k| t.is_word(k)) => Some(t.text.to_string()),
        _ => None,
    }
}

/// After `REFERENCES`: the parent table, its columns (skipped: the catalog has them), the
/// actions (the catalog has them too) and DEFERRABLE (which it does not).
fn parse_references(c: &mut Cursor<'_, '_>) -> Result<(String, Deferrable), String> {
    let table = c.ident()?;
    if c.peek().is_some_and(|t| t.is("(")) {
        c.group()?;
    }
    let mut deferrable = Deferrable::NotDeferrable;
    loop {
        if c.eat_word("ON") {
            // `ON INSERT <action>` is accepted and means nothing.
            let _ = c.eat_word("DELETE") || c.eat_word("UPDATE") || c.eat_word("INSERT");
            if !(c.eat_words(&["SET", "NULL"])
                || c.eat_words(&["SET", "DEFAULT"])
                || c.eat_word("CASCADE")
                || c.eat_word("RESTRICT")
                || c.eat_words(&["NO", "ACTION"]))
            {
                return Err(format!("unknown foreign key action {}", c.here()));
            }
        } else if c.eat_word("MATCH") {
            c.ident()?;
        } else if let Some(d) = parse_deferrable(c) {
            deferrable = d;
        } else {
            return Ok((table, deferrable));
        }
    }
}

/// `NOT DEFERRABLE [INITIALLY …]` or `DEFERRABLE [INITIALLY …]` at the cursor.
fn parse_deferrable(c: &mut Cursor<'_, '_>) -> Option<Deferrable> {
    if c.eat_words(&["NOT", "DEFERRABLE"]) {
        skip_initially(c);
        Some(Deferrable::NotDeferrable)
    } else if c.eat_word("DEFERRABLE") {
        Some(match skip_initially(c) {
            Some(true) => Deferrable::InitiallyDeferred,
            _ => Deferrable::InitiallyImmediate,
        })
    } else {
        None
    }
}

/// `INITIALLY DEFERRED` (true) / `INITIALLY IMMEDIATE` (false).
fn skip_initially(c: &mut Cursor<'_, '_>) -> Option<bool> {
    if c.eat_words(&["INITIALLY", "DEFERRED"]) {
        Some(true)
    } else if c.eat_words(&["INITIALLY", "IMMEDIATE"]) {
        Some(false)
    } else {
        None
    }
}

/// One comma-separated item of table constraints. SQLite separates table constraints by
/// optional commas (`CHECK (a > 0) FOREIGN KEY (a) REFERENCES p(id)` is two), so an item
/// holds one or more. `CONSTRAINT name` names the constraint right after it (a name nothing
/// takes, before a comma or at the end, is allowed and means nothing).
fn parse_table_constraints(item: &[Token<'_>], table: &mut ParsedTable) -> Result<(), String> {
    let mut c = Cursor::new(item);
    let mut name: Option<String> = None;
    let mut parsed = 0;
    while !c.at_end() {
        if c.eat_word("CONSTRAINT") {
            name = Some(c.ident()?);
            continue;
        }
        if c.eat_words(&["PRIMARY", "KEY"]) {
            let mut keys = c.group()?;
            // `PRIMARY KEY (id AUTOINCREMENT)`.
            if keys.last().is_some_and(|t| t.is_word("AUTOINCREMENT")) {
                keys = &keys[..keys.len() - 1];
                if let [column] = column_list(keys)?.as_slice() {
                    if let Some(col) = table.columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(column)) {
                        col.autoincrement = true;
                    }
                }
            }
            table.primary_key_name = name.take();
            c.skip_conflict_clause();
        } else if c.eat_word("UNIQUE") {
            let columns = column_list(c.group()?)?;
            table.uniques.push((name.take(), columns));
            c.skip_conflict_clause();
        } else if c.eat_word("CHECK") {
            let expression = normalize_tokens(c.group()?);
            table.checks.push(Check { name: name.take(), expression });
            c.skip_conflict_clause();
        } else if c.eat_words(&["FOREIGN", "KEY"]) {
            let columns = column_list(c.group()?)?;
            c.expect_word("REFERENCES")?;
            let (parent, deferrable) = parse_references(&mut c)?;
            table.foreign_keys.push(ParsedForeignKey { name: name.take(), columns, table: parent, deferrable });
        } else if parsed == 0 {
            return Err(format!("unknown table constraint {}", c.here()));
        } else {
            return Err(format!("unexpected {} after a table constraint", c.here()));
        }
        parsed += 1;
    }
    Ok(())
}

fn normalize_tokens(tokens: &[Token<'_>]) -> String {
    join_tokens(strip_wrapping_parens(tokens))
}

#[derive(Debug, PartialEq)]
struct ParsedIndex {
    keys: Vec<ParsedKey>,
    predicate: Option<String>,
}

#[derive(Debug, PartialEq)]
struct ParsedKey {
    /// The column when the key is a plain name.
    column: Option<String>,
    /// The key without `COLLATE` and `ASC`/`DESC`, normalised.
    expression: String,
    collation: Option<String>,
}

fn parse_create_index(sql: &str) -> Result<ParsedIndex, String> {
    let tokens = tokenize(sql, Lexer::Sqlite);
    let mut c = Cursor::new(&tokens);
    c.expect_word("CREATE")?;
    c.eat_word("UNIQUE");
    c.expect_word("INDEX")?;
    c.eat_words(&["IF", "NOT", "EXISTS"]);
    c.qualified_name()?;
    c.expect_word("ON")?;
    c.ident()?;
    let mut keys = Vec::new();
    for part in split_top_level(c.group()?) {
        let mut part = part;
        if part.last().is_some_and(|t| t.is_word("ASC") || t.is_word("DESC")) {
            part = &part[..part.len() - 1];
        }
        let mut collation = None;
        if part.len() >= 2 && part[part.len() - 2].is_word("COLLATE") {
            collation = part[part.len() - 1].ident().map(|s| s.to_ascii_uppercase());
            part = &part[..part.len() - 2];
        }
        let column = match part {
            [t] if matches!(t.kind, TokenKind::Word | TokenKind::Quoted(_)) => t.ident(),
            _ => None,
        };
        if part.is_empty() {
            return Err("an empty index key".into());
        }
        keys.push(ParsedKey { column, expression: normalize_tokens(part), collation });
    }
    if keys.is_empty() {
        return Err("an index without keys".into());
    }
    let predicate = if c.eat_word("WHERE") {
        let rest = &tokens[c.pos..];
        c.pos = tokens.len();
        Some(normalize_tokens(rest))
    } else {
        None
    };
    if !c.at_end() {
        return Err(format!("unexpected {}", c.here()));
    }
    Ok(ParsedIndex { keys, predicate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_columns_types_defaults_and_generated() {
        let t = parse_create_table(
            "CREATE TABLE IF NOT EXISTS main.\"t\" (\n  `id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,\n  [price] \
             decimal ( 10 , 2 ) DEFAULT -1.5 CHECK (price >= 0),\n  name varchar(20) COLLATE nocase DEFAULT ('x') \
             UNIQUE,\n  \"total\" real GENERATED ALWAYS AS (price * 2) STORED, -- comment, with a comma\n  v AS \
             (lower(name)), n text DEFAULT NULL, untyped\n)",
        )
        .unwrap();
        let cols: Vec<(&str, &str, Option<&str>)> =
            t.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str(), c.default.as_deref())).collect();
        assert_eq!(
            cols,
            [
                ("id", "INTEGER", None),
                ("price", "DECIMAL(10, 2)", Some("-1.5")),
                ("name", "VARCHAR(20)", Some("'x'")),
                ("total", "REAL", None),
                ("v", "", None),
                ("n", "TEXT", None),
                ("untyped", "", None),
            ]
        );
        assert!(t.columns[0].autoincrement);
        assert_eq!(t.columns[2].collation.as_deref(), Some("NOCASE"));
        assert_eq!(t.columns[3].generated, Some(Generated { expression: "price * 2".into(), stored: true }));
        assert_eq!(t.columns[4].generated, Some(Generated { expression: "lower(name)".into(), stored: false }));
        assert_eq!(t.checks, [Check { name: None, expression: "price >= 0".into() }]);
        assert_eq!(t.uniques, [(None, vec!["name".to_string()])]);
    }

    #[test]
    fn parses_named_table_constraints_and_foreign_keys() {
        let t = parse_create_table(
            "CREATE TABLE t (a int, b int, c int REFERENCES p ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED, \
             CONSTRAINT \"t_pk\" PRIMARY KEY (a, b) ON CONFLICT ROLLBACK, CONSTRAINT t_u UNIQUE (b COLLATE nocase, c), \
             CONSTRAINT [t_check] CHECK ((a > 0)), CHECK (b <> a), FOREIGN KEY (a, b) REFERENCES q(x, y) ON UPDATE \
             CASCADE ON DELETE NO ACTION MATCH SIMPLE NOT DEFERRABLE, CONSTRAINT fk FOREIGN KEY (c) REFERENCES `r` \
             DEFERRABLE) WITHOUT ROWID, STRICT",
        )
        .unwrap();
        assert_eq!(t.primary_key_name.as_deref(), Some("t_pk"));
        assert_eq!(t.uniques, [(Some("t_u".into()), vec!["b".to_string(), "c".to_string()])]);
        assert_eq!(
            t.checks,
            [
                Check { name: Some("t_check".into()), expression: "a > 0".into() },
                Check { name: None, expression: "b <> a".into() }
            ]
        );
        let fks: Vec<(Option<&str>, &str, Deferrable)> =
            t.foreign_keys.iter().map(|f| (f.name.as_deref(), f.table.as_str(), f.deferrable)).collect();
        assert_eq!(
            fks,
            [
                (None, "p", Deferrable::InitiallyDeferred),
                (None, "q", Deferrable::NotDeferrable),
                (Some("fk"), "r", Deferrable::InitiallyImmediate)
            ]
        );
    }

    #[test]
    fn table_constraints_need_no_comma_between_them() {
        let spaced = parse_create_table(
            "CREATE TABLE c (a int, b int, FOREIGN KEY (a) REFERENCES p(id) FOREIGN KEY (b) REFERENCES p(id) \
             CHECK (a > 0) ON CONFLICT FAIL FOREIGN KEY (b) REFERENCES q CONSTRAINT n1 CHECK (b > 0) CONSTRAINT n2 \
             UNIQUE (a, b) CONSTRAINT pk PRIMARY KEY (a))",
        )
        .unwrap();
        let commas = parse_create_table(
            "CREATE TABLE c (a int, b int, FOREIGN KEY (a) REFERENCES p(id), FOREIGN KEY (b) REFERENCES p(id), \
             CHECK (a > 0) ON CONFLICT FAIL, FOREIGN KEY (b) REFERENCES q, CONSTRAINT n1 CHECK (b > 0), CONSTRAINT \
             n2 UNIQUE (a, b), CONSTRAINT pk PRIMARY KEY (a))",
        )
        .unwrap();
        assert_eq!(spaced, commas);
        assert_eq!(spaced.foreign_keys.len(), 3);
        assert_eq!(
            spaced.checks,
            [
                Check { name: None, expression: "a > 0".into() },
                Check { name: Some("n1".into()), expression: "b > 0".into() }
            ]
        );
        assert_eq!(spaced.uniques, [(Some("n2".into()), vec!["a".to_string(), "b".to_string()])]);
        assert_eq!(spaced.primary_key_name.as_deref(), Some("pk"));
        // A name nothing takes is allowed; a later one replaces it.
        let t = parse_create_table("CREATE TABLE t (a int, CONSTRAINT x, CHECK (a > 0) CONSTRAINT y CONSTRAINT z)")
            .unwrap();
        assert_eq!(t.checks, [Check { name: None, expression: "a > 0".into() }]);
        let t = parse_create_table("CREATE TABLE t (a int, CONSTRAINT x CONSTRAINT y CHECK (a > 0))").unwrap();
        assert_eq!(t.checks[0].name.as_deref(), Some("y"));
        assert!(parse_create_table("CREATE TABLE t (a int, CHECK (a > 0) b int)")
            .unwrap_err()
            .contains("unexpected at `b` after a table constraint"));
        assert!(parse_create_table("CREATE TABLE t (a int, CONSTRAINT x b)").unwrap_err().contains("unknown"));
    }

    #[test]
    fn column_constraints_in_any_order_and_key_options() {
        let t = parse_create_table(
            "CREATE TABLE t (id integer, a int REFERENCES p ON INSERT CASCADE NOT NULL DEFERRABLE INITIALLY DEFERRED \
             CONSTRAINT c CHECK (a > 0) CONSTRAINT dangling, PRIMARY KEY (id AUTOINCREMENT))",
        )
        .unwrap();
        assert_eq!(t.columns[1].data_type, "INT");
        assert_eq!(t.foreign_keys[0].deferrable, Deferrable::InitiallyDeferred);
        assert_eq!(t.checks, [Check { name: Some("c".into()), expression: "a > 0".into() }]);
        assert!(t.columns[0].autoincrement);
    }

    #[test]
    fn a_lone_name_as_default_is_the_string_of_that_name() {
        let t = parse_create_table(
            "CREATE TABLE t (a text DEFAULT \"text\", b text DEFAULT text, c text DEFAULT 'text', d DEFAULT `text`, \
             e DEFAULT [text], f DEFAULT \"it's\", g DEFAULT Key, h DEFAULT \"true\", i DEFAULT true, j DEFAULT \
             current_timestamp, k DEFAULT null, l DEFAULT ('x'))",
        )
        .unwrap();
        let defaults: Vec<Option<&str>> = t.columns.iter().map(|c| c.default.as_deref()).collect();
        assert_eq!(
            defaults,
            [
                Some("'text'"),
                Some("'text'"),
                Some("'text'"),
                Some("'text'"),
                Some("'text'"),
                Some("'it''s'"),
                Some("'Key'"),
                Some("'true'"),
                Some("TRUE"),
                Some("CURRENT_TIMESTAMP"),
                None,
                Some("'x'")
            ]
        );
    }

    #[test]
    fn parse_errors_say_where() {
        assert!(parse_create_table("CREATE TABLE t (a int DEFAULT 1 FOO)").unwrap_err().contains("`FOO`"));
        assert_eq!(
            parse_create_table("CREATE TABLE t (a unsigned big int)").unwrap().columns[0].data_type,
            "UNSIGNED BIG INT"
        );
        assert!(parse_create_table("CREATE TABLE t AS SELECT 1").is_err());
        assert!(parse_create_table("CREATE TABLE t (a int").is_err());
        assert!(parse_create_index("CREATE INDEX i ON t ()").is_err());
    }

    #[test]
    fn parses_index_keys_collations_and_predicates() {
        let i = parse_create_index(
            "CREATE UNIQUE INDEX IF NOT EXISTS \"i\" ON `t` (\"a\" COLLATE NoCase DESC, lower( b ) ASC, (c + 1)) \
             WHERE (a IS NOT NULL) -- partial",
        )
        .unwrap();
        assert_eq!(
            i.keys,
            [
                ParsedKey { column: Some("a".into()), expression: "a".into(), collation: Some("NOCASE".into()) },
                ParsedKey { column: None, expression: "lower(b)".into(), collation: None },
                ParsedKey { column: None, expression: "c + 1".into(), collation: None },
            ]
        );
        assert_eq!(i.predicate.as_deref(), Some("a IS NOT NULL"));
    }
}
