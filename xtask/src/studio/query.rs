//! The SQL the studio runs, built as plain text plus parameters (pure, unit-tested).
//!
//! Identifiers come from the [`Catalog`](super::catalog::Catalog) only and are double-quoted
//! (both dialects); every value is a `$n` parameter. On PostgreSQL a value compared with or
//! written to a column is bound as text and cast to the column's type
//! (`CAST(CAST($1 AS text) AS uuid)`), so every type the catalog can name works, and columns the
//! database layer cannot read as plain values are selected as `CAST(col AS text)`.
//!
//! Pages are keyset pages: `WHERE (sort, key) > (last row's) ORDER BY sort, key LIMIT n`,
//! so page 1 and a page a million rows in cost the same (an index seek). NULLs in a sort
//! column are ordered as each dialect orders them by default (SQLite first, PostgreSQL last
//! in ascending order), so an index on the column serves the order.

use std::fmt::Write as _;

use cms_db::connection::Value;
use cms_db::schema::model::QualifiedName;
use cms_db::Dialect;

use super::catalog::{pg_cast_type, pg_reads_natively, Col, Relation, RowKey};

/// SQL text and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub sql: String,
    pub params: Vec<Value>,
}

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A relation's name as SQL (`"pages"`, PostgreSQL `"public"."pages"`).
pub fn relation_sql(dialect: Dialect, name: &QualifiedName) -> String {
    match dialect {
        Dialect::Sqlite => ident(&name.name),
        Dialect::Postgres => format!("{}.{}", ident(&name.schema), ident(&name.name)),
    }
}

/// How a column is selected: as it is, or (PostgreSQL types the database layer cannot read)
/// as text.
pub fn select_expr(dialect: Dialect, col: &Col) -> String {
    if dialect == Dialect::Postgres && !pg_reads_natively(&col.data_type) {
        format!("CAST({} AS text)", ident(&col.name))
    } else {
        ident(&col.name)
    }
}

/// A filter's operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Contains,
    IsNull,
    NotNull,
    In,
}

impl Op {
    pub const ALL: [Op; 8] = [Op::Eq, Op::Ne, Op::Lt, Op::Gt, Op::Contains, Op::IsNull, Op::NotNull, Op::In];

    /// As it appears in URLs.
    pub fn code(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Gt => "gt",
            Op::Contains => "contains",
            Op::IsNull => "null",
            Op::NotNull => "notnull",
            Op::In => "in",
        }
    }

    pub fn parse(code: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.code() == code)
    }

    /// As the filter bar shows it.
    pub fn label(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "≠",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Contains => "contains",
            Op::IsNull => "is null",
            Op::NotNull => "is not null",
            Op::In => "in",
        }
    }

    pub fn takes_value(self) -> bool {
        !matches!(self, Op::IsNull | Op::NotNull)
    }
}

/// One condition of the filter bar; conditions are combined with AND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: String,
    pub descending: bool,
}

/// Which page of a grid.
#[derive(Clone, Debug, PartialEq)]
pub enum Page {
    First,
    /// The rows after this cursor (the last row of the previous page).
    After(Vec<Value>),
    /// The rows before this cursor (the first row of the next page).
    Before(Vec<Value>),
    Last,
    /// Relations without a key: by offset.
    Offset(u64),
}

/// A grid page request.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub filters: Vec<Filter>,
    pub sort: Option<Sort>,
    pub page: Page,
    pub limit: usize,
    /// SQLite: read the table in key order even when a filter column has an index (see
    /// [`probe_query`]).
    pub key_order: bool,
}

/// Builds SQL text with numbered parameters.
pub struct Builder {
    pub dialect: Dialect,
    pub sql: String,
    pub params: Vec<Value>,
}

impl Builder {
    pub fn new(dialect: Dialect) -> Builder {
        Builder { dialect, sql: String::new(), params: Vec::new() }
    }

    /// A parameter as is: `$n`.
    pub fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }

    /// A parameter that stands for a value of `col`: PostgreSQL binds it as text and casts it
    /// to the column's type; SQLite's column affinity converts it.
    pub fn value_for(&mut self, col: Option<&Col>, v: Value) -> String {
        let p = self.param(v);
        match (self.dialect, col) {
            (Dialect::Postgres, Some(col)) => format!("CAST(CAST({p} AS text) AS {})", pg_cast_type(&col.data_type)),
            _ => p,
        }
    }

    pub fn finish(self) -> Query {
        Query { sql: self.sql, params: self.params }
    }
}

/// Why a request cannot become SQL (an unknown column, a filter without its value …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn column<'r>(rel: &'r Relation, name: &str) -> Result<&'r Col, Invalid> {
    rel.column(name).ok_or_else(|| Invalid(format!("{} has no column {name:?}", rel.display)))
}

/// The key's parts: (SQL expression, the column when it is one).
fn key_parts(rel: &Relation) -> Vec<(String, Option<&Col>)> {
    match &rel.key {
        RowKey::Primary(cols) => cols.iter().map(|c| (ident(c), rel.column(c))).collect(),
        RowKey::Rowid => vec![("rowid".to_string(), None)],
        RowKey::None => Vec::new(),
    }
}

/// What a grid query selects: the hidden `rowid` first when rows are found by it, then every
/// column. [`Shape::columns_at`] says where the columns start.
pub fn select_list(dialect: Dialect, rel: &Relation) -> String {
    let mut parts = Vec::new();
    if rel.key == RowKey::Rowid {
        parts.push("rowid".to_string());
    }
    parts.extend(rel.columns.iter().map(|c| select_expr(dialect, c)));
    parts.join(", ")
}

/// Where the values of a result row are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub columns_at: usize,
}

pub fn shape(rel: &Relation) -> Shape {
    Shape { columns_at: usize::from(rel.key == RowKey::Rowid) }
}

/// The key of a result row (in key order), read from the row as [`select_list`] selected it.
pub fn row_key(rel: &Relation, row: &[Value]) -> Option<Vec<Value>> {
    match &rel.key {
        RowKey::Primary(cols) => {
            let at = shape(rel).columns_at;
            cols.iter().map(|c| rel.column_index(c).and_then(|i| row.get(at + i).cloned())).collect()
        }
        RowKey::Rowid => row.first().map(|v| vec![v.clone()]),
        RowKey::None => None,
    }
}

/// The cursor of a row for a grid sorted by `sort`: the sort column's value, then the key.
pub fn row_cursor(rel: &Relation, sort: Option<&Sort>, row: &[Value]) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    if let Some(s) = effective_sort(rel, sort) {
        out.push(row.get(shape(rel).columns_at + rel.column_index(&s.column)?)?.clone());
    }
    out.extend(row_key(rel, row)?);
    Some(out)
}

/// The sort that needs its own cursor value: none when sorting by the key's only column.
fn effective_sort<'s>(rel: &Relation, sort: Option<&'s Sort>) -> Option<&'s Sort> {
    sort.filter(|s| !matches!(&rel.key, RowKey::Primary(k) if k.len() == 1 && k[0] == s.column))
}

/// `key = $n` (or `(a, b) = ($1, $2)`) for one row.
pub fn key_match(b: &mut Builder, rel: &Relation, key: &[Value]) -> Result<String, Invalid> {
    let parts = key_parts(rel);
    if parts.is_empty() {
        return Err(Invalid(format!("rows of {} cannot be addressed: it has no primary key", rel.display)));
    }
    if parts.len() != key.len() {
        return Err(Invalid(format!("a key of {} has {} value(s), not {}", rel.display, parts.len(), key.len())));
    }
    if key.iter().any(Value::is_null) {
        return Err(Invalid("a key value is NULL".into()));
    }
    let lhs: Vec<String> = parts.iter().map(|(e, _)| e.clone()).collect();
    let rhs: Vec<String> = parts.iter().zip(key).map(|((_, c), v)| b.value_for(*c, v.clone())).collect();
    Ok(if lhs.len() == 1 {
        format!("{} = {}", lhs[0], rhs[0])
    } else {
        format!("({}) = ({})", lhs.join(", "), rhs.join(", "))
    })
}

/// Matches any of `keys`.
pub fn keys_match(b: &mut Builder, rel: &Relation, keys: &[Vec<Value>]) -> Result<String, Invalid> {
    if keys.is_empty() {
        return Err(Invalid("no rows were chosen".into()));
    }
    let parts: Result<Vec<String>, Invalid> = keys.iter().map(|k| key_match(b, rel, k)).collect();
    Ok(format!("({})", parts?.join(" OR ")))
}

fn filter_sql(b: &mut Builder, rel: &Relation, f: &Filter) -> Result<String, Invalid> {
    let col = column(rel, &f.column)?;
    let c = ident(&col.name);
    if f.op.takes_value()
        && f.op != Op::In
        && f.op != Op::Contains
        && f.value.is_empty()
        && col.class != super::catalog::TypeClass::Text
    {
        return Err(Invalid(format!("the filter on {} needs a value", col.name)));
    }
    let v = || Value::Text(f.value.clone());
    Ok(match f.op {
        Op::Eq => format!("{c} = {}", b.value_for(Some(col), v())),
        Op::Ne => format!("{c} <> {}", b.value_for(Some(col), v())),
        Op::Lt => format!("{c} < {}", b.value_for(Some(col), v())),
        Op::Gt => format!("{c} > {}", b.value_for(Some(col), v())),
        Op::Contains => {
            let pattern = format!("%{}%", like_escape(&f.value));
            let p = b.param(Value::Text(pattern));
            match b.dialect {
                Dialect::Sqlite => format!("{c} LIKE {p} ESCAPE '\\'"),
                Dialect::Postgres => format!("CAST({c} AS text) ILIKE {p} ESCAPE '\\'"),
            }
        }
        Op::IsNull => format!("{c} IS NULL"),
        Op::NotNull => format!("{c} IS NOT NULL"),
        Op::In => {
            let items: Vec<&str> = f.value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            if items.is_empty() {
                return Err(Invalid(format!("the `in` filter on {} needs values separated by commas", col.name)));
            }
            let ps: Vec<String> = items.iter().map(|s| b.value_for(Some(col), Value::Text((*s).to_string()))).collect();
            format!("{c} IN ({})", ps.join(", "))
        }
    })
}

/// `%`, `_` and `\` taken literally in a LIKE pattern (with `ESCAPE '\'`).
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The WHERE conditions of the filters (AND).
pub fn filters_sql(b: &mut Builder, rel: &Relation, filters: &[Filter]) -> Result<Vec<String>, Invalid> {
    filters.iter().map(|f| filter_sql(b, rel, f)).collect()
}

/// Whether NULL sorts above every value in ascending order (PostgreSQL) or below (SQLite).
fn nulls_high(dialect: Dialect) -> bool {
    dialect == Dialect::Postgres
}

/// The condition "comes after `cursor`" in the order (sort column, key), ascending unless
/// `descending`.
fn keyset_sql(
    b: &mut Builder,
    rel: &Relation,
    sort: Option<&Col>,
    descending: bool,
    cursor: &[Value],
) -> Result<String, Invalid> {
    let parts = key_parts(rel);
    let expected = parts.len() + usize::from(sort.is_some());
    if cursor.len() != expected || parts.is_empty() {
        return Err(Invalid(
            "the page link is out of date (its position does not fit this table); start again from the first page"
                .into(),
        ));
    }
    let (sort_value, key_values) = match sort {
        Some(_) => (Some(&cursor[0]), &cursor[1..]),
        None => (None, cursor),
    };
    if key_values.iter().any(Value::is_null) {
        return Err(Invalid("the page link is out of date; start again from the first page".into()));
    }
    let op = if descending { "<" } else { ">" };
    let lhs: Vec<String> = parts.iter().map(|(e, _)| e.clone()).collect();
    let rhs: Vec<String> = parts.iter().zip(key_values).map(|((_, c), v)| b.value_for(*c, v.clone())).collect();
    let key_cmp = if lhs.len() == 1 {
        format!("{} {op} {}", lhs[0], rhs[0])
    } else {
        format!("({}) {op} ({})", lhs.join(", "), rhs.join(", "))
    };
    let Some(col) = sort else { return Ok(key_cmp) };
    let s = ident(&col.name);
    let nulls_last = descending != nulls_high(b.dialect);
    let sv = sort_value.expect("a sorted cursor has the sort value");
    Ok(if sv.is_null() {
        if nulls_last {
            format!("({s} IS NULL AND {key_cmp})")
        } else {
            format!("(({s} IS NULL AND {key_cmp}) OR {s} IS NOT NULL)")
        }
    } else {
        let p = b.value_for(Some(col), sv.clone());
        let tail = if nulls_last { format!(" OR {s} IS NULL") } else { String::new() };
        format!("({s} {op} {p} OR ({s} = {p} AND {key_cmp}){tail})")
    })
}

/// The query of one grid page: at most `limit + 1` rows (one more tells that there is a next
/// page). For [`Page::Before`] and [`Page::Last`] the rows come in reverse order: the caller
/// reverses them ([`Grid::reversed`]).
pub fn grid_query(dialect: Dialect, rel: &Relation, grid: &Grid) -> Result<Query, Invalid> {
    let mut b = Builder::new(dialect);
    let sort_col = match &grid.sort {
        Some(s) => Some(column(rel, &s.column)?),
        None => None,
    };
    let keyset = rel.key != RowKey::None;
    let own_sort = effective_sort(rel, grid.sort.as_ref()).and(sort_col);
    let base_desc = grid.sort.as_ref().is_some_and(|s| s.descending);
    let desc = if grid.reversed() { !base_desc } else { base_desc };
    let mut conditions = filters_sql(&mut b, rel, &grid.filters)?;
    match (&grid.page, keyset) {
        (Page::After(c) | Page::Before(c), true) => conditions.push(keyset_sql(&mut b, rel, own_sort, desc, c)?),
        (Page::After(_) | Page::Before(_) | Page::Last, false) => {
            return Err(Invalid(format!("{} has no key: its pages go by number", rel.display)));
        }
        _ => {}
    }
    let mut sql = format!("SELECT {} FROM {}", select_list(dialect, rel), relation_sql(dialect, &rel.name));
    if grid.key_order && dialect == Dialect::Sqlite && own_sort.is_none() && keyset {
        match &rel.key_index {
            Some(index) => {
                let _ = write!(sql, " INDEXED BY {}", ident(index));
            }
            None => sql.push_str(" NOT INDEXED"),
        }
    }
    if !conditions.is_empty() {
        let _ = write!(sql, " WHERE {}", conditions.join(" AND "));
    }
    let dir = if desc { " DESC" } else { "" };
    let mut order: Vec<String> = Vec::new();
    if let Some(c) = own_sort {
        order.push(format!("{}{dir}", ident(&c.name)));
    } else if let (Some(c), false) = (sort_col, keyset) {
        order.push(format!("{}{dir}", ident(&c.name)));
    }
    if keyset {
        order.extend(key_parts(rel).into_iter().map(|(e, _)| format!("{e}{dir}")));
    }
    if !order.is_empty() {
        let _ = write!(sql, " ORDER BY {}", order.join(", "));
    }
    let _ = write!(sql, " LIMIT {}", grid.limit + 1);
    if let Page::Offset(n) = grid.page {
        if n > 0 {
            let _ = write!(sql, " OFFSET {n}");
        }
    }
    b.sql = sql;
    Ok(b.finish())
}

impl Grid {
    /// The query reads backwards (the caller reverses the rows).
    pub fn reversed(&self) -> bool {
        matches!(self.page, Page::Before(_) | Page::Last)
    }
}

/// Matching rows the probe counts up to: with more, reading in key order finds a page's
/// rows after about `limit × rows / PROBE_CAP` rows.
pub const PROBE_CAP: u64 = 5_000;

/// SQLite without statistics takes an index on a filter column for selective, whatever the
/// column holds: `locale_code = 'de'` then reads half a million rows through that index and
/// sorts them to return 51. This probe counts (up to [`PROBE_CAP`], through that same index)
/// the rows the grid's index-friendly filters match; when they reach the cap, the grid is
/// read in key order instead ([`Grid::key_order`]). `None` when no filter can use an index
/// other than the key's, or the grid is sorted by another column.
pub fn probe_query(dialect: Dialect, rel: &Relation, grid: &Grid) -> Result<Option<Query>, Invalid> {
    let first_key = match &rel.key {
        RowKey::Primary(k) => k.first().map(String::as_str),
        _ => None,
    };
    if dialect != Dialect::Sqlite || rel.key == RowKey::None || effective_sort(rel, grid.sort.as_ref()).is_some() {
        return Ok(None);
    }
    let indexable: Vec<Filter> = grid
        .filters
        .iter()
        .filter(|f| !matches!(f.op, Op::Contains | Op::Ne))
        .filter(|f| rel.indexed.contains(&f.column) && Some(f.column.as_str()) != first_key)
        .cloned()
        .collect();
    if indexable.is_empty() {
        return Ok(None);
    }
    let mut b = Builder::new(dialect);
    let conditions = filters_sql(&mut b, rel, &indexable)?;
    b.sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {PROBE_CAP}) AS s",
        relation_sql(dialect, &rel.name),
        conditions.join(" AND ")
    );
    Ok(Some(b.finish()))
}

/// One row by its key.
pub fn row_query(dialect: Dialect, rel: &Relation, key: &[Value]) -> Result<Query, Invalid> {
    let mut b = Builder::new(dialect);
    let cond = key_match(&mut b, rel, key)?;
    b.sql = format!("SELECT {} FROM {} WHERE {cond}", select_list(dialect, rel), relation_sql(dialect, &rel.name));
    Ok(b.finish())
}

/// How many rows of `child` have `columns` equal to `values` (at most `cap + 1` are counted).
pub fn referencing_count(
    dialect: Dialect,
    child: &Relation,
    columns: &[String],
    values: &[Value],
    cap: u64,
) -> Result<Query, Invalid> {
    let mut b = Builder::new(dialect);
    let mut conds = Vec::new();
    for (c, v) in columns.iter().zip(values) {
        let col = column(child, c)?;
        conds.push(format!("{} = {}", ident(c), b.value_for(Some(col), v.clone())));
    }
    b.sql = format!(
        "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {}) AS s",
        relation_sql(dialect, &child.name),
        conds.join(" AND "),
        cap + 1
    );
    Ok(b.finish())
}

/// `UPDATE rel SET col = value WHERE key`.
pub fn update_query(
    dialect: Dialect,
    rel: &Relation,
    key: &[Value],
    column_name: &str,
    value: Value,
) -> Result<Query, Invalid> {
    let col = column(rel, column_name)?;
    if col.generated {
        return Err(Invalid(format!("{} is a generated column: the database computes it", col.name)));
    }
    let mut b = Builder::new(dialect);
    let v = b.value_for(Some(col), value);
    let cond = key_match(&mut b, rel, key)?;
    b.sql = format!("UPDATE {} SET {} = {v} WHERE {cond}", relation_sql(dialect, &rel.name), ident(&col.name));
    Ok(b.finish())
}

/// `INSERT … RETURNING key`: the columns given, every other one left to its default.
pub fn insert_query(dialect: Dialect, rel: &Relation, values: &[(String, Value)]) -> Result<Query, Invalid> {
    let mut b = Builder::new(dialect);
    // Read back as the grid reads them (a uuid key as text).
    let returning: Vec<String> =
        key_parts(rel).into_iter().map(|(e, col)| col.map_or(e, |c| select_expr(dialect, c))).collect();
    if returning.is_empty() {
        return Err(Invalid(format!("{} has no key: insert rows with the SQL console", rel.display)));
    }
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    for (name, v) in values {
        let col = column(rel, name)?;
        if col.generated {
            return Err(Invalid(format!("{} is a generated column: the database computes it", col.name)));
        }
        names.push(ident(&col.name));
        exprs.push(b.value_for(Some(col), v.clone()));
    }
    let target = relation_sql(dialect, &rel.name);
    b.sql = if names.is_empty() {
        format!("INSERT INTO {target} DEFAULT VALUES RETURNING {}", returning.join(", "))
    } else {
        format!(
            "INSERT INTO {target} ({}) VALUES ({}) RETURNING {}",
            names.join(", "),
            exprs.join(", "),
            returning.join(", ")
        )
    };
    Ok(b.finish())
}

/// `DELETE FROM rel WHERE key IN keys`.
pub fn delete_query(dialect: Dialect, rel: &Relation, keys: &[Vec<Value>]) -> Result<Query, Invalid> {
    let mut b = Builder::new(dialect);
    let cond = keys_match(&mut b, rel, keys)?;
    b.sql = format!("DELETE FROM {} WHERE {cond}", relation_sql(dialect, &rel.name));
    Ok(b.finish())
}

// --- values in URLs ---------------------------------------------------------------------------

/// Values as JSON for a URL or a form field: NULL as `null`, integers and reals as numbers (a
/// real always with a fraction or exponent), text as a string, a blob as `{"hex": "…"}`.
pub fn values_to_json(values: &[Value]) -> String {
    let items: Vec<serde_json::Value> = values
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::Value::Null,
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Real(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Blob(b) => serde_json::json!({ "hex": hex::encode(b) }),
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// The inverse of [`values_to_json`].
pub fn values_from_json(text: &str) -> Result<Vec<Value>, Invalid> {
    let bad = || Invalid("the link carries a malformed row position; start again from the table".into());
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let items = v.as_array().ok_or_else(bad)?;
    items
        .iter()
        .map(|item| match item {
            serde_json::Value::Null => Ok(Value::Null),
            serde_json::Value::Number(n) => {
                n.as_i64().map(Value::Int).or_else(|| n.as_f64().map(Value::Real)).ok_or_else(bad)
            }
            serde_json::Value::String(s) => Ok(Value::Text(s.clone())),
            serde_json::Value::Object(o) => {
                o.get("hex").and_then(|h| h.as_str()).and_then(|h| hex::decode(h).ok()).map(Value::Blob).ok_or_else(bad)
            }
            _ => Err(bad()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::studio::catalog::{Kind, TypeClass};

    fn col(name: &str, ty: &str, class: TypeClass) -> Col {
        Col {
            name: name.into(),
            data_type: ty.into(),
            class,
            not_null: false,
            default: None,
            has_default: false,
            generated: false,
        }
    }

    fn rel(key: RowKey) -> Relation {
        Relation {
            name: QualifiedName::new("main", "t"),
            display: "t".into(),
            kind: Kind::Table,
            columns: vec![
                col("id", "INTEGER", TypeClass::Integer),
                col("name", "TEXT", TypeClass::Text),
                col("n", "INTEGER", TypeClass::Integer),
            ],
            key,
            foreign_keys: Vec::new(),
            indexed: ["n".to_string()].into_iter().collect(),
            key_index: Some("pk_index".into()),
        }
    }

    fn pk() -> RowKey {
        RowKey::Primary(vec!["id".into()])
    }

    fn grid(page: Page, sort: Option<(&str, bool)>, filters: Vec<Filter>) -> Grid {
        Grid {
            filters,
            sort: sort.map(|(c, d)| Sort { column: c.into(), descending: d }),
            page,
            limit: 2,
            key_order: false,
        }
    }

    #[test]
    fn first_and_next_pages_seek_on_the_key() {
        let r = rel(pk());
        let q = grid_query(Dialect::Sqlite, &r, &grid(Page::First, None, vec![])).unwrap();
        assert_eq!(q.sql, r#"SELECT "id", "name", "n" FROM "t" ORDER BY "id" LIMIT 3"#);
        let q = grid_query(Dialect::Sqlite, &r, &grid(Page::After(vec![Value::Int(7)]), None, vec![])).unwrap();
        assert_eq!(q.sql, r#"SELECT "id", "name", "n" FROM "t" WHERE "id" > $1 ORDER BY "id" LIMIT 3"#);
        assert_eq!(q.params, vec![Value::Int(7)]);
        let q = grid_query(Dialect::Postgres, &r, &grid(Page::Before(vec![Value::Int(7)]), None, vec![])).unwrap();
        assert_eq!(
            q.sql,
            r#"SELECT "id", "name", "n" FROM "main"."t" WHERE "id" < CAST(CAST($1 AS text) AS INTEGER) ORDER BY "id" DESC LIMIT 3"#
        );
    }

    #[test]
    fn sorted_pages_carry_the_sort_value_and_handle_nulls() {
        let r = rel(pk());
        let q = grid_query(
            Dialect::Sqlite,
            &r,
            &grid(Page::After(vec!["b".into(), Value::Int(3)]), Some(("name", false)), vec![]),
        )
        .unwrap();
        assert_eq!(q.params, vec![Value::Int(3), Value::Text("b".into())]);
        assert_eq!(
            q.sql,
            r#"SELECT "id", "name", "n" FROM "t" WHERE ("name" > $2 OR ("name" = $2 AND "id" > $1)) ORDER BY "name", "id" LIMIT 3"#
        );
        // SQLite: NULLs first ascending, so after a NULL come the other NULLs and every value.
        let q = grid_query(
            Dialect::Sqlite,
            &r,
            &grid(Page::After(vec![Value::Null, Value::Int(3)]), Some(("name", false)), vec![]),
        )
        .unwrap();
        assert!(q.sql.contains(r#"(("name" IS NULL AND "id" > $1) OR "name" IS NOT NULL)"#), "{}", q.sql);
        // PostgreSQL: NULLs last ascending.
        let q = grid_query(
            Dialect::Postgres,
            &r,
            &grid(Page::After(vec!["b".into(), Value::Int(3)]), Some(("name", false)), vec![]),
        )
        .unwrap();
        assert!(q.sql.contains(r#" OR "name" IS NULL)"#), "{}", q.sql);
        // Sorting by the key itself needs no extra cursor value.
        let q = grid_query(Dialect::Sqlite, &r, &grid(Page::After(vec![Value::Int(3)]), Some(("id", true)), vec![]))
            .unwrap();
        assert_eq!(q.sql, r#"SELECT "id", "name", "n" FROM "t" WHERE "id" < $1 ORDER BY "id" DESC LIMIT 3"#);
    }

    #[test]
    fn composite_keys_and_rowid() {
        let r = rel(RowKey::Primary(vec!["id".into(), "n".into()]));
        let q = grid_query(Dialect::Sqlite, &r, &grid(Page::After(vec![Value::Int(1), Value::Int(2)]), None, vec![]))
            .unwrap();
        assert!(q.sql.contains(r#"WHERE ("id", "n") > ($1, $2) ORDER BY "id", "n""#), "{}", q.sql);
        let r = rel(RowKey::Rowid);
        let q = grid_query(Dialect::Sqlite, &r, &grid(Page::Last, None, vec![])).unwrap();
        assert_eq!(q.sql, r#"SELECT rowid, "id", "name", "n" FROM "t" ORDER BY rowid DESC LIMIT 3"#);
        assert_eq!(row_key(&r, &[Value::Int(9), Value::Int(1)]), Some(vec![Value::Int(9)]));
    }

    #[test]
    fn filters_are_parameters() {
        let r = rel(pk());
        let f = |c: &str, op, v: &str| Filter { column: c.into(), op, value: v.into() };
        let q = grid_query(
            Dialect::Sqlite,
            &r,
            &grid(
                Page::First,
                None,
                vec![
                    f("name", Op::Contains, "50%_x"),
                    f("n", Op::In, "1, 2,"),
                    f("name", Op::IsNull, ""),
                    f("id", Op::Ne, "3"),
                ],
            ),
        )
        .unwrap();
        assert!(
            q.sql.contains(r#"WHERE "name" LIKE $1 ESCAPE '\' AND "n" IN ($2, $3) AND "name" IS NULL AND "id" <> $4"#),
            "{}",
            q.sql
        );
        assert_eq!(q.params[0], Value::Text("%50\\%\\_x%".into()));
        let q =
            grid_query(Dialect::Postgres, &r, &grid(Page::First, None, vec![f("name", Op::Contains, "a")])).unwrap();
        assert!(q.sql.contains(r#"CAST("name" AS text) ILIKE $1"#));
        assert!(grid_query(Dialect::Sqlite, &r, &grid(Page::First, None, vec![f("nope", Op::Eq, "1")])).is_err());
        assert!(grid_query(Dialect::Sqlite, &r, &grid(Page::First, None, vec![f("n", Op::In, " , ")])).is_err());
    }

    #[test]
    fn broad_filters_on_an_indexed_column_read_in_key_order() {
        let r = rel(pk());
        let f = |c: &str| Filter { column: c.into(), op: Op::Eq, value: "1".into() };
        let mut g = grid(Page::First, None, vec![f("n"), f("name")]);
        let probe = probe_query(Dialect::Sqlite, &r, &g).unwrap().unwrap();
        assert_eq!(probe.sql, r#"SELECT count(*) FROM (SELECT 1 FROM "t" WHERE "n" = $1 LIMIT 5000) AS s"#);
        assert!(probe_query(Dialect::Postgres, &r, &g).unwrap().is_none());
        assert!(probe_query(Dialect::Sqlite, &r, &grid(Page::First, None, vec![f("name")])).unwrap().is_none());
        assert!(probe_query(Dialect::Sqlite, &r, &grid(Page::First, Some(("name", false)), vec![f("n")]))
            .unwrap()
            .is_none());
        g.key_order = true;
        let q = grid_query(Dialect::Sqlite, &r, &g).unwrap();
        assert!(q.sql.contains(r#"FROM "t" INDEXED BY "pk_index" WHERE"#), "{}", q.sql);
        let mut rowid = rel(RowKey::Rowid);
        rowid.key_index = None;
        assert!(grid_query(Dialect::Sqlite, &rowid, &g).unwrap().sql.contains("FROM \"t\" NOT INDEXED WHERE"));
    }

    #[test]
    fn relations_without_a_key_page_by_offset() {
        let mut r = rel(RowKey::None);
        r.kind = Kind::View;
        let q = grid_query(Dialect::Sqlite, &r, &grid(Page::Offset(4), Some(("n", true)), vec![])).unwrap();
        assert_eq!(q.sql, r#"SELECT "id", "name", "n" FROM "t" ORDER BY "n" DESC LIMIT 3 OFFSET 4"#);
        assert!(grid_query(Dialect::Sqlite, &r, &grid(Page::After(vec![Value::Int(1)]), None, vec![])).is_err());
        assert!(row_query(Dialect::Sqlite, &r, &[Value::Int(1)]).is_err());
    }

    #[test]
    fn writes_quote_names_and_bind_values() {
        let mut r = rel(pk());
        r.columns[1].name = "we\"ird".into();
        let q = update_query(Dialect::Sqlite, &r, &[Value::Int(1)], "we\"ird", "x".into()).unwrap();
        assert_eq!(q.sql, r#"UPDATE "t" SET "we""ird" = $1 WHERE "id" = $2"#);
        let q = insert_query(Dialect::Postgres, &r, &[("n".into(), Value::Text("5".into()))]).unwrap();
        assert_eq!(q.sql, r#"INSERT INTO "main"."t" ("n") VALUES (CAST(CAST($1 AS text) AS INTEGER)) RETURNING "id""#);
        let q = insert_query(Dialect::Sqlite, &r, &[]).unwrap();
        assert_eq!(q.sql, r#"INSERT INTO "t" DEFAULT VALUES RETURNING "id""#);
        let q = delete_query(Dialect::Sqlite, &r, &[vec![Value::Int(1)], vec![Value::Int(2)]]).unwrap();
        assert_eq!(q.sql, r#"DELETE FROM "t" WHERE ("id" = $1 OR "id" = $2)"#);
        assert!(update_query(Dialect::Sqlite, &r, &[Value::Int(1)], "missing", Value::Null).is_err());
    }

    #[test]
    fn values_round_trip_through_json() {
        let v =
            vec![Value::Null, Value::Int(-3), Value::Real(2.0), Value::Text("a\"b".into()), Value::Blob(vec![0, 255])];
        assert_eq!(values_from_json(&values_to_json(&v)).unwrap(), v);
        assert!(values_from_json("{").is_err());
        assert!(values_from_json("[true]").is_err());
    }

    #[test]
    fn keyset_pages_walk_a_real_table_in_both_directions() {
        let mut conn = cms_db::connection::Connection::Sqlite(cms_db::sqlite::open_in_memory().unwrap());
        use cms_db::connection::Sql;
        conn.batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)").unwrap();
        for i in 1..=7 {
            let name: Value = if i % 3 == 0 { Value::Null } else { Value::Text(format!("v{}", i % 2)) };
            conn.execute("INSERT INTO t VALUES ($1, $2, $3)", &[Value::Int(i), name, Value::Int(i)]).unwrap();
        }
        let r = rel(pk());
        for sort in [None, Some(("name", false)), Some(("name", true))] {
            let mut seen = Vec::new();
            let mut page = Page::First;
            loop {
                let g = grid(page.clone(), sort, vec![]);
                let q = grid_query(Dialect::Sqlite, &r, &g).unwrap();
                let mut rows = conn.query(&q.sql, &q.params).unwrap();
                let more = rows.len() > g.limit;
                rows.truncate(g.limit);
                let last = rows.last().cloned();
                seen.extend(rows.iter().map(|row| row[0].int().unwrap()));
                if !more {
                    break;
                }
                page = Page::After(row_cursor(&r, g.sort.as_ref(), &last.unwrap()).unwrap());
            }
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(sorted, (1..=7).collect::<Vec<_>>(), "every row once with {sort:?}: {seen:?}");
            // Walking backwards from the end gives the same order.
            let mut back = Vec::new();
            let mut page = Page::Last;
            loop {
                let g = grid(page.clone(), sort, vec![]);
                let q = grid_query(Dialect::Sqlite, &r, &g).unwrap();
                let mut rows = conn.query(&q.sql, &q.params).unwrap();
                let more = rows.len() > g.limit;
                rows.truncate(g.limit);
                rows.reverse();
                let first = rows.first().cloned();
                let mut ids: Vec<i64> = rows.iter().map(|row| row[0].int().unwrap()).collect();
                ids.extend(back);
                back = ids;
                if !more {
                    break;
                }
                page = Page::Before(row_cursor(&r, g.sort.as_ref(), &first.unwrap()).unwrap());
            }
            assert_eq!(back, seen, "backwards equals forwards with {sort:?}");
        }
    }
}
