//! The studio's pages, rendered on the server with maud (every value escaped by default; the
//! only unescaped text is the diagram, whose every value is escaped when it is drawn).
//! Write controls (edit, insert, delete) are not rendered with `--read-only`.

use std::collections::BTreeMap;
use std::time::Duration;

use cms_db::connection::Value;
use cms_db::Dialect;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::catalog::{Catalog, Col, Kind, Relation, RowKey, TypeClass};
use super::console::{StatementResult, Summary, DISPLAY_CAP};
use super::db::Count;
use super::edit::{looks_like_json, CellInput};
use super::error::StudioError;
use super::query::{row_key, shape, values_to_json, Filter, Grid, Op, Page, Sort};
use super::relations::{describe, fk_link, group, DeletePlan, Effect, Link, Referencing, COUNT_CAP};

/// Characters of a value shown in a grid cell before it is cut.
pub const TRUNCATE: usize = 60;

/// What every page shows around its content.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub database: String,
    pub dialect: Dialect,
    pub read_only: bool,
    pub csrf: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tables,
    Schema,
    Console,
}

/// A path segment, percent-encoded (everything but unreserved characters).
pub fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `path?k=v&…` with the pairs form-encoded.
pub fn href(path: &str, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("{path}?{}", s.finish())
}

pub fn table_path(table: &str) -> String {
    format!("/t/{}", path_segment(table))
}

pub fn row_href(table: &str, key: &[Value]) -> String {
    href(&format!("{}/row", table_path(table)), &[("k", values_to_json(key))])
}

/// The grid's filters and order as URL pairs (without the page).
pub fn grid_pairs(filters: &[Filter], sort: Option<&Sort>) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(s) = sort {
        pairs.push(("sort", s.column.clone()));
        pairs.push(("dir", if s.descending { "desc" } else { "asc" }.to_string()));
    }
    for f in filters {
        pairs.push(("fc", f.column.clone()));
        pairs.push(("fo", f.op.code().to_string()));
        pairs.push(("fv", f.value.clone()));
    }
    pairs
}

/// A value as plain text (`None` for NULL).
pub fn value_text(v: &Value, class: TypeClass) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Int(i) if class == TypeClass::Bool => Some((*i != 0).to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(s) => Some(s.clone()),
        Value::Blob(b) => Some(hex::encode(b)),
    }
}

fn layout(chrome: &Chrome, title: &str, section: Option<Section>, body: Markup) -> Markup {
    let nav = |s: Section, href: &str, label: &str| {
        html! { a href=(href) class=[(section == Some(s)).then_some("active")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · studio" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/studio.css";
                script src="/assets/studio.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "studio" }
                    nav {
                        (nav(Section::Tables, "/", "Tables"))
                        (nav(Section::Schema, "/schema", "Schema"))
                        (nav(Section::Console, "/console", "SQL console"))
                    }
                    span.db title="database" { (chrome.database) " · " (chrome.dialect) }
                    @if chrome.read_only { span.badge.ro title="started with --read-only: nothing can be changed" { "read-only" } }
                }
                main { (body) }
            }
        }
    }
}

fn count_text(c: Option<&Count>) -> Markup {
    match c {
        Some(Count { rows: Some(n), estimated: true }) => html! {
            span.estimate title="PostgreSQL's estimate (pg_class.reltuples), not an exact count" { "≈ " (group(*n)) }
        },
        Some(Count { rows: Some(n), estimated: false }) => html! { (group(*n)) },
        Some(Count { rows: None, .. }) => html! { span.muted title="not counted within its time budget" { "?" } },
        None => html! { span.muted { "—" } },
    }
}

/// The table list.
pub fn tables(chrome: &Chrome, catalog: &Catalog, counts: &BTreeMap<String, Count>, elapsed: Duration) -> Markup {
    let body = html! {
        h1 { "Tables" }
        p.muted {
            (catalog.relations.len()) " tables and views. "
            @if chrome.dialect == Dialect::Postgres { "Counts above 100,000 rows are PostgreSQL's estimates (≈). " }
            "Counted in " (format!("{:.1}", elapsed.as_secs_f64() * 1000.0)) " ms."
        }
        table.list id="tables" {
            thead { tr { th { "name" } th { "kind" } th.num { "rows" } th.num { "columns" } th { "key" } } }
            tbody {
                @for rel in catalog.relations.values() {
                    tr {
                        td { a href=(table_path(&rel.display)) { (rel.display) } }
                        td.muted { (rel.kind.label()) }
                        td.num { (count_text(counts.get(&rel.display))) }
                        td.num { (rel.columns.len()) }
                        td.muted {
                            @match &rel.key {
                                RowKey::Primary(k) => { (k.join(", ")) }
                                RowKey::Rowid => { "rowid" }
                                RowKey::None => { "none" }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(chrome, "Tables", Some(Section::Tables), body)
}

fn link_href(link: &Link) -> String {
    match link {
        Link::Row { table, key } => row_href(table, key),
        Link::Filtered { table, filters } => {
            let fs: Vec<Filter> = filters
                .iter()
                .map(|(c, v)| Filter {
                    column: c.clone(),
                    op: Op::Eq,
                    value: value_text(v, TypeClass::Other).unwrap_or_default(),
                })
                .collect();
            href(&table_path(table), &grid_pairs(&fs, None))
        }
    }
}

/// A value in a grid cell: NULL marked, empty text marked, long text cut with a link to the
/// whole value (the row view), bytes summarised.
fn cell(v: &Value, col: &Col, full: Option<&str>) -> Markup {
    match v {
        Value::Null => html! { span.null { "NULL" } },
        Value::Text(s) if s.is_empty() => html! { span.empty title="empty text (not NULL)" { "\"\"" } },
        Value::Blob(b) => {
            html! { span.blob title=(format!("{} bytes", b.len())) { "⟨" (b.len()) " bytes⟩ " (hex::encode(&b[..b.len().min(8)])) } }
        }
        _ => {
            let text = value_text(v, col.class).unwrap_or_default();
            if text.chars().count() > TRUNCATE || text.contains('\n') {
                let short: String = text.lines().next().unwrap_or_default().chars().take(TRUNCATE).collect();
                html! {
                    span.cut title=(format!("{} characters", text.chars().count())) { (short) "…" }
                    @if let Some(full) = full {
                        " " a.full href=(full) title="the whole value" { "full" }
                    } @else {
                        details.inline { summary { "full" } pre { (text) } }
                    }
                }
            } else {
                html! { (text) }
            }
        }
    }
}

/// One grid page and what it needs.
pub struct GridView<'a> {
    pub catalog: &'a Catalog,
    pub rel: &'a Relation,
    pub grid: &'a Grid,
    /// Rows in display order, as [`super::query::select_list`] selects them.
    pub rows: Vec<Vec<Value>>,
    pub has_prev: bool,
    pub has_next: bool,
    pub count: Option<Count>,
    pub notice: Option<String>,
    pub elapsed: Duration,
}

fn filter_bar(rel: &Relation, filters: &[Filter], sort: Option<&Sort>) -> Markup {
    let mut rows: Vec<Filter> = filters.to_vec();
    rows.push(Filter { column: String::new(), op: Op::Eq, value: String::new() });
    html! {
        form.filters method="get" action=(table_path(&rel.display)) {
            @if let Some(s) = sort {
                input type="hidden" name="sort" value=(s.column);
                input type="hidden" name="dir" value=(if s.descending { "desc" } else { "asc" });
            }
            @for (i, f) in rows.iter().enumerate() {
                div.filter {
                    select name="fc" aria-label="column" {
                        option value="" selected[f.column.is_empty()] { "column…" }
                        @for c in &rel.columns { option value=(c.name) selected[c.name == f.column] { (c.name) } }
                    }
                    select name="fo" aria-label="operator" {
                        @for op in Op::ALL { option value=(op.code()) selected[op == f.op] { (op.label()) } }
                    }
                    input type="text" name="fv" value=(f.value) placeholder="value (in: a, b, c)" aria-label="value";
                    @if i < filters.len() {
                        @let rest: Vec<Filter> = filters.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, f)| f.clone()).collect();
                        a.remove href=(href(&table_path(&rel.display), &grid_pairs(&rest, sort))) title="remove this filter" { "×" }
                    }
                }
            }
            button type="submit" { "Filter" }
            @if !filters.is_empty() { " " a href=(href(&table_path(&rel.display), &grid_pairs(&[], sort))) { "clear filters" } }
        }
    }
}

/// A table's grid.
pub fn grid(chrome: &Chrome, v: &GridView<'_>) -> Markup {
    let rel = v.rel;
    let at = shape(rel).columns_at;
    let editable = rel.editable() && !chrome.read_only;
    let sort = v.grid.sort.as_ref();
    let base = grid_pairs(&v.grid.filters, sort);
    let page_href = |page: (&'static str, String)| {
        let mut p = base.clone();
        p.push(page);
        href(&table_path(&rel.display), &p)
    };
    let cursor_of = |row: &Vec<Value>| super::query::row_cursor(rel, sort, row).map(|c| values_to_json(&c));
    let keyset = rel.key != RowKey::None;
    let offset = match v.grid.page {
        Page::Offset(n) => n,
        _ => 0,
    };
    let prev = if !v.has_prev {
        None
    } else if keyset {
        v.rows.first().and_then(cursor_of).map(|c| page_href(("before", c)))
    } else {
        Some(page_href(("offset", offset.saturating_sub(v.grid.limit as u64).to_string())))
    };
    let next = if !v.has_next {
        None
    } else if keyset {
        v.rows.last().and_then(cursor_of).map(|c| page_href(("after", c)))
    } else {
        Some(page_href(("offset", (offset + v.grid.limit as u64).to_string())))
    };
    let first = href(&table_path(&rel.display), &base);
    let last = keyset.then(|| page_href(("last", "1".into())));
    let sort_href = |c: &str| {
        let descending = sort.is_some_and(|s| s.column == c && !s.descending);
        href(&table_path(&rel.display), &grid_pairs(&v.grid.filters, Some(&Sort { column: c.into(), descending })))
    };
    let export = |format: &str| {
        let mut p = base.clone();
        p.push(("format", format.to_string()));
        href(&format!("{}/export", table_path(&rel.display)), &p)
    };
    let pager = html! {
        nav.pager {
            a href=(first) class=[(!v.has_prev).then_some("disabled")] { "« first" }
            @if let Some(p) = &prev { a href=(p) rel="prev" { "‹ previous" } } @else { span.disabled { "‹ previous" } }
            @if let Some(n) = &next { a href=(n) rel="next" { "next ›" } } @else { span.disabled { "next ›" } }
            @if let Some(l) = &last { a href=(l) class=[(!v.has_next).then_some("disabled")] { "last »" } }
            span.muted {
                (v.rows.len()) " rows on this page"
                @if !keyset { " (offset " (offset) "; no key, so pages go by offset)" } @else { " (keyset pages on " (key_label(rel)) ")" }
                " · " (format!("{:.1}", v.elapsed.as_secs_f64() * 1000.0)) " ms"
            }
        }
    };
    let body = html! {
        div.title-row {
            h1 { (rel.display) }
            span.muted { (rel.kind.label()) @if let Some(c) = &v.count { " · " (count_text(Some(c))) " rows" } }
            div.actions {
                @if editable { a.button href=(format!("{}/new", table_path(&rel.display))) { "+ Insert row" } }
                a.button href=(export("csv")) { "Export CSV" }
                a.button href=(export("json")) { "Export JSON" }
                a.button href=(format!("/schema#{}", path_segment(&rel.display))) { "Structure" }
            }
        }
        @if let Some(n) = &v.notice { p.notice { (n) } }
        @if !rel.editable() && rel.kind == Kind::Table { p.muted { "This table has no primary key: its rows cannot be opened or edited here (use the SQL console)." } }
        (filter_bar(rel, &v.grid.filters, sort))
        (pager)
        form id="rows" method="get" action=(format!("{}/delete", table_path(&rel.display))) {
            div.grid-wrap {
                table.grid id="grid" {
                    thead {
                        tr {
                            @if editable { th.pick { span.sr { "select" } } }
                            @if rel.key != RowKey::None { th.pick { } }
                            @for c in &rel.columns {
                                th data-column=(c.name) {
                                    a href=(sort_href(&c.name)) title="sort" {
                                        (c.name)
                                        @if let Some(s) = sort.filter(|s| s.column == c.name) { @if s.descending { " ▼" } @else { " ▲" } }
                                    }
                                    span.type { (c.data_type.to_ascii_lowercase()) }
                                }
                            }
                        }
                    }
                    tbody {
                        @for row in &v.rows {
                            @let key = row_key(rel, row);
                            @let values = &row[at.min(row.len())..];
                            @let open = key.as_ref().map(|k| row_href(&rel.display, k));
                            tr {
                                @if editable { td.pick { @if let Some(k) = &key { input type="checkbox" name="k" value=(values_to_json(k)) aria-label="select row"; } } }
                                @if rel.key != RowKey::None { td.pick { @if let Some(o) = &open { a.open href=(o) title="open the row" { "↗" } } } }
                                @for (i, c) in rel.columns.iter().enumerate() {
                                    @let value = values.get(i).unwrap_or(&Value::Null);
                                    @let link = rel.foreign_keys_of(&c.name).next().and_then(|fk| fk_link(v.catalog, rel, fk, values));
                                    @let full = open.as_ref().map(|o| format!("{o}#col-{}", path_segment(&c.name)));
                                    td class=[matches!(c.class, TypeClass::Integer | TypeClass::Real).then_some("num")] data-column=(c.name) {
                                        @if let (Some(l), false) = (&link, value.is_null()) {
                                            a.fk href=(link_href(l)) title="go to the referenced row" { (cell(value, c, full.as_deref())) }
                                        } @else {
                                            (cell(value, c, full.as_deref()))
                                        }
                                    }
                                }
                            }
                        }
                        @if v.rows.is_empty() { tr { td.muted colspan=(rel.columns.len() + 2) { "No rows." } } }
                    }
                }
            }
            @if editable && !v.rows.is_empty() { button.danger type="submit" { "Delete selected…" } }
        }
        (pager)
    };
    layout(chrome, &rel.display, Some(Section::Tables), body)
}

fn key_label(rel: &Relation) -> String {
    match &rel.key {
        RowKey::Primary(k) => k.join(", "),
        RowKey::Rowid => "rowid".into(),
        RowKey::None => String::new(),
    }
}

/// One row, every value whole, with its links both ways.
pub struct RowView<'a> {
    pub catalog: &'a Catalog,
    pub rel: &'a Relation,
    pub key: Vec<Value>,
    /// Column values in column order.
    pub values: Vec<Value>,
    pub referencing: Vec<Referencing>,
    pub notice: Option<String>,
}

pub fn row(chrome: &Chrome, v: &RowView<'_>) -> Markup {
    let rel = v.rel;
    let editable = rel.editable() && !chrome.read_only;
    let key_json = values_to_json(&v.key);
    let body = html! {
        p.crumbs { a href=(table_path(&rel.display)) { (rel.display) } " › row " code { (key_text(&v.key)) } }
        @if let Some(n) = &v.notice { p.notice { (n) } }
        table.record id="record" {
            tbody {
                @for (i, c) in rel.columns.iter().enumerate() {
                    @let value = v.values.get(i).unwrap_or(&Value::Null);
                    @let link = rel.foreign_keys_of(&c.name).next().and_then(|fk| fk_link(v.catalog, rel, fk, &v.values));
                    tr id=(format!("col-{}", path_segment(&c.name))) data-column=(c.name) {
                        th { (c.name) br; span.type { (c.data_type.to_ascii_lowercase()) @if c.not_null { " not null" } } }
                        td.value {
                            @match value {
                                Value::Null => { span.null { "NULL" } }
                                Value::Text(s) if s.is_empty() => { span.empty { "\"\" (empty text)" } }
                                Value::Text(s) if looks_like_json(s) => {
                                    pre.json { (serde_json::from_str::<serde_json::Value>(s).ok().and_then(|j| serde_json::to_string_pretty(&j).ok()).unwrap_or_else(|| s.clone())) }
                                }
                                _ => { pre.plain { (value_text(value, c.class).unwrap_or_default()) } }
                            }
                            @if let (Some(l), false) = (&link, value.is_null()) {
                                a.fk href=(link_href(l)) { "→ " (v.catalog.display_of(&rel.foreign_keys_of(&c.name).next().map(|f| f.references.clone()).unwrap_or_else(|| rel.name.clone()))) }
                            }
                        }
                        td.edit {
                            @if editable && !c.generated {
                                a href=(href(&format!("{}/edit", table_path(&rel.display)), &[("k", key_json.clone()), ("c", c.name.clone())])) { "edit" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Referenced by" }
        @if v.referencing.is_empty() {
            p.muted { "No foreign key points at this row." }
        } @else {
            ul.referencing id="referencing" {
                @for r in &v.referencing {
                    @let fs: Vec<Filter> = r.filters.iter().map(|(c, val)| Filter { column: c.clone(), op: Op::Eq, value: value_text(val, TypeClass::Other).unwrap_or_default() }).collect();
                    li data-child=(r.child) {
                        a href=(href(&table_path(&r.child), &grid_pairs(&fs, None))) { (r.child) }
                        " (" (r.filters.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")) ") · "
                        span.count { @if r.count > COUNT_CAP { (group(COUNT_CAP)) "+" } @else { (group(r.count)) } }
                        (if r.count == 1 { " row" } else { " rows" }) " · on delete " (r.on_delete.sql().to_ascii_lowercase())
                    }
                }
            }
        }
        @if editable {
            form.inline method="get" action=(format!("{}/delete", table_path(&rel.display))) {
                input type="hidden" name="k" value=(key_json);
                button.danger type="submit" { "Delete this row…" }
            }
        }
    };
    layout(chrome, &format!("{} row", rel.display), Some(Section::Tables), body)
}

fn key_text(key: &[Value]) -> String {
    key.iter().map(|v| value_text(v, TypeClass::Other).unwrap_or_else(|| "NULL".into())).collect::<Vec<_>>().join(", ")
}

/// The editor of one cell.
pub struct EditView<'a> {
    pub rel: &'a Relation,
    pub key: Vec<Value>,
    pub col: &'a Col,
    pub current: Value,
    pub error: Option<String>,
    /// What was sent, when it is shown again after an error.
    pub input: Option<CellInput>,
}

fn editor(col: &Col, name: &str, text: &str, json: bool) -> Markup {
    let long = text.contains('\n') || text.chars().count() > 60;
    html! {
        @if json {
            textarea.json name=(name) rows="14" spellcheck="false" data-json="1" { (text) }
            p.json-error aria-live="polite" {}
        } @else {
            @match col.class {
                TypeClass::Integer => { input type="number" step="1" name=(name) value=(text); }
                TypeClass::Real => { input type="number" step="any" name=(name) value=(text); }
                TypeClass::Bool => {
                    select name=(name) {
                        option value="true" selected[text == "true"] { "true" }
                        option value="false" selected[text == "false"] { "false" }
                    }
                }
                _ if long => { textarea name=(name) rows="8" { (text) } }
                _ => { input type="text" name=(name) value=(text); }
            }
        }
    }
}

pub fn edit(chrome: &Chrome, v: &EditView<'_>) -> Markup {
    let rel = v.rel;
    let current = value_text(&v.current, v.col.class);
    let text = v.input.as_ref().map(|i| i.value.clone()).unwrap_or_else(|| current.clone().unwrap_or_default());
    let json = v.input.as_ref().map_or(v.col.class == TypeClass::Json || looks_like_json(&text), |i| i.json);
    let null = v.input.as_ref().map_or(v.current.is_null(), |i| i.null);
    let body = html! {
        p.crumbs {
            a href=(table_path(&rel.display)) { (rel.display) } " › "
            a href=(row_href(&rel.display, &v.key)) { "row " (key_text(&v.key)) } " › " (v.col.name)
        }
        h1 { "Edit " (v.col.name) }
        p.muted { (v.col.data_type.to_ascii_lowercase()) @if v.col.not_null { " · not null" } @if json { " · JSON (checked before it is saved)" } }
        @if let Some(e) = &v.error { p.error role="alert" { (e) } }
        form.editor id="edit" method="post" action=(format!("{}/edit", table_path(&rel.display))) {
            input type="hidden" name="csrf" value=(chrome.csrf);
            input type="hidden" name="k" value=(values_to_json(&v.key));
            input type="hidden" name="c" value=(v.col.name);
            @if json { input type="hidden" name="json" value="1"; }
            (editor(v.col, "value", &text, json))
            label.null-toggle { input type="checkbox" name="null" value="1" checked[null]; " NULL" }
            div.buttons {
                button type="submit" { "Save" }
                " " a href=(row_href(&rel.display, &v.key)) { "Cancel" }
            }
        }
    };
    layout(chrome, &format!("Edit {}", v.col.name), Some(Section::Tables), body)
}

/// The insert form.
pub fn insert(chrome: &Chrome, rel: &Relation, error: Option<&str>, sent: Option<&[super::edit::Field]>) -> Markup {
    let body = html! {
        p.crumbs { a href=(table_path(&rel.display)) { (rel.display) } " › new row" }
        h1 { "Insert into " (rel.display) }
        p.muted { "Columns marked “default” are left out of the INSERT, so the database fills them in (their default, or NULL)." }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.editor id="insert" method="post" action=(format!("{}/new", table_path(&rel.display))) {
            input type="hidden" name="csrf" value=(chrome.csrf);
            table.record {
                tbody {
                    @for c in rel.columns.iter().filter(|c| !c.generated) {
                        @let before = sent.and_then(|s| s.iter().find(|f| f.column == c.name));
                        @let default = before.map_or(c.has_default || !c.not_null, |f| f.default);
                        @let null = before.is_some_and(|f| f.input.null);
                        @let text = before.map(|f| f.input.value.clone()).unwrap_or_default();
                        tr data-column=(c.name) {
                            th { (c.name) br; span.type { (c.data_type.to_ascii_lowercase()) @if c.not_null { " not null" } } }
                            td {
                                (editor(c, &format!("v:{}", c.name), &text, c.class == TypeClass::Json))
                            }
                            td.toggles {
                                label { input type="checkbox" name=(format!("d:{}", c.name)) value="1" checked[default]; " default" }
                                @if let Some(d) = &c.default { br; span.muted.small { "= " (d) } }
                                br;
                                label { input type="checkbox" name=(format!("n:{}", c.name)) value="1" checked[null]; " NULL" }
                            }
                        }
                    }
                }
            }
            div.buttons { button type="submit" { "Insert" } " " a href=(table_path(&rel.display)) { "Cancel" } }
        }
    };
    layout(chrome, &format!("Insert into {}", rel.display), Some(Section::Tables), body)
}

/// The confirmation before a delete, with what the delete takes along.
pub fn confirm_delete(
    chrome: &Chrome,
    rel: &Relation,
    keys: &[Vec<Value>],
    plan: &Result<DeletePlan, StudioError>,
    error: Option<&str>,
) -> Markup {
    let n = keys.len();
    let body = html! {
        p.crumbs { a href=(table_path(&rel.display)) { (rel.display) } " › delete" }
        h1 { "Delete " (if n == 1 { "1 row".to_string() } else { format!("{n} rows") }) " of " (rel.display) "?" }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        ul.keys { @for k in keys { li { a href=(row_href(&rel.display, k)) { code { (key_text(k)) } } } } }
        @match plan {
            Ok(plan) => {
                @let cascaded: Vec<_> = plan.consequences.iter().filter(|c| !(c.table == rel.display && c.effect == Effect::Deleted)).collect();
                @let children: u64 = plan.consequences.iter().filter(|c| c.effect == Effect::Deleted && c.table != rel.display).map(|c| c.rows).sum();
                @if cascaded.is_empty() {
                    p id="consequences" { "Nothing else references " (if n == 1 { "it" } else { "them" }) ": only " (if n == 1 { "this row is" } else { "these rows are" }) " deleted." }
                } @else {
                    p id="cascade-total" { "ON DELETE CASCADE also deletes " strong.cascade-count { (group(children)) } " child row(s):" }
                    ul id="consequences" {
                        @for c in &cascaded {
                            li class=(match c.effect { Effect::Deleted => "deleted", Effect::Cleared { .. } => "cleared", Effect::Blocks { .. } => "blocks" })
                               data-table=(c.table) data-rows=(c.rows) { (describe(c)) }
                        }
                    }
                }
                @if plan.incomplete { p.muted { "A cycle of ON DELETE CASCADE between several tables was cut short: the counts may be low." } }
            }
            Err(e) => { p.error { "The rows the delete would take along could not be counted: " (e.message()) } }
        }
        form.inline id="confirm" method="post" action=(format!("{}/delete", table_path(&rel.display))) {
            input type="hidden" name="csrf" value=(chrome.csrf);
            @for k in keys { input type="hidden" name="k" value=(values_to_json(k)); }
            button.danger type="submit" { "Delete" }
            " " a href=(table_path(&rel.display)) { "Cancel" }
        }
    };
    layout(chrome, "Delete", Some(Section::Tables), body)
}

/// The SQL console, with the outcome of a run.
pub fn console(
    chrome: &Chrome,
    sql: &str,
    outcome: Option<&Result<(Summary, Vec<StatementResult>), StudioError>>,
) -> Markup {
    let body = html! {
        h1 { "SQL console" }
        p.muted {
            "Statements run in one transaction, "
            @if chrome.read_only { "read-only and rolled back (--read-only)" } @else { "committed when all succeed" }
            ", within the time limit; the first " (group(DISPLAY_CAP as u64)) " rows of each result are shown. "
            "Ctrl+Enter runs."
        }
        form id="console" method="post" action="/console" {
            input type="hidden" name="csrf" value=(chrome.csrf);
            textarea name="sql" rows="8" spellcheck="false" autofocus placeholder="SELECT * FROM pages LIMIT 10" { (sql) }
            div.buttons {
                button type="submit" { "Run" }
                " " button.secondary type="submit" formaction="/console/export?format=csv" { "Export CSV" }
                " " button.secondary type="submit" formaction="/console/export?format=json" { "Export JSON" }
            }
        }
        @match outcome {
            None => {}
            Some(Err(e)) => { div.error id="console-error" role="alert" { strong { (e.title()) ": " } (e.message()) } }
            Some(Ok((summary, results))) => {
                p.timing id="timing" {
                    (summary.statements) " statement(s) in " span.ms { (format!("{:.1}", summary.elapsed.as_secs_f64() * 1000.0)) } " ms · "
                    @if summary.committed { "committed" } @else { "rolled back (read-only)" }
                }
                @for r in results {
                    section.result {
                        @if r.returns_rows {
                            p.muted {
                                (r.rows.len()) " row(s)"
                                @if r.capped { span.note.capped { " — only the first " (group(DISPLAY_CAP as u64)) " rows are shown; export the query for all of them" } }
                            }
                            div.grid-wrap {
                                table.grid.result-grid {
                                    thead { tr { @for c in &r.columns { th { (c) } } } }
                                    tbody {
                                        @for row in &r.rows {
                                            tr { @for v in row {
                                                td class=[matches!(v, Value::Int(_) | Value::Real(_)).then_some("num")] {
                                                    @match v {
                                                        Value::Null => { span.null { "NULL" } }
                                                        Value::Text(s) if s.is_empty() => { span.empty { "\"\"" } }
                                                        _ => { (value_text(v, TypeClass::Other).unwrap_or_default()) }
                                                    }
                                                }
                                            } }
                                        }
                                    }
                                }
                            }
                        } @else {
                            p.muted { code { (r.sql.chars().take(80).collect::<String>()) } ": " (r.affected.unwrap_or(0)) " row(s) changed" }
                        }
                    }
                }
            }
        }
    };
    layout(chrome, "SQL console", Some(Section::Console), body)
}

/// Every table's structure and the diagram.
pub fn schema(chrome: &Chrome, catalog: &Catalog, diagram: &str) -> Markup {
    let body = html! {
        h1 { "Schema" }
        div.diagram-wrap id="diagram" { (PreEscaped(diagram)) }
        @for rel in catalog.relations.values() {
            section.structure id=(path_segment(&rel.display)) {
                h2 { a href=(table_path(&rel.display)) { (rel.display) } " " span.muted.small { (rel.kind.label()) } }
                table.list {
                    thead { tr { th { "column" } th { "type" } th { "null" } th { "default" } th { "key" } } }
                    tbody {
                        @for c in &rel.columns {
                            tr {
                                td { (c.name) }
                                td { code { (c.data_type.to_ascii_lowercase()) } }
                                td { @if c.not_null { "not null" } @else { span.muted { "null" } } }
                                td { @if let Some(d) = &c.default { code { (d) } } @if c.generated { span.muted { "generated" } } }
                                td {
                                    @if rel.key_columns().is_some_and(|k| k.contains(&c.name)) { "PK " }
                                    @for fk in rel.foreign_keys_of(&c.name) { "FK → " (catalog.display_of(&fk.references)) " " }
                                }
                            }
                        }
                    }
                }
                @if let Some(t) = catalog.schema.tables.get(&rel.name) {
                    ul.constraints {
                        @if let Some(pk) = &t.primary_key { li { "primary key (" (pk.columns.join(", ")) ")" } }
                        @for u in &t.uniques { li { "unique " @if let Some(n) = &u.name { code { (n) } " " } "(" (u.columns.join(", ")) ")" } }
                        @for (name, ix) in &t.indexes {
                            li {
                                @if ix.unique { "unique " } "index " code { (name) } " ("
                                (ix.keys.iter().map(|k| match &k.target {
                                    cms_db::schema::model::IndexTarget::Column(c) => format!("{c}{}", if k.descending { " DESC" } else { "" }),
                                    cms_db::schema::model::IndexTarget::Expression(e) => e.clone(),
                                }).collect::<Vec<_>>().join(", "))
                                ")"
                                @if let Some(p) = &ix.predicate { " WHERE " code { (p) } }
                            }
                        }
                        @for fk in &t.foreign_keys {
                            li {
                                "foreign key (" (fk.columns.join(", ")) ") → "
                                a href=(format!("#{}", path_segment(&catalog.display_of(&fk.references)))) { (catalog.display_of(&fk.references)) }
                                " (" (fk.referenced_columns.join(", ")) ") on delete " (fk.on_delete.sql().to_ascii_lowercase())
                                ", on update " (fk.on_update.sql().to_ascii_lowercase())
                            }
                        }
                        @for ch in &t.checks { li { "check " @if let Some(n) = &ch.name { code { (n) } " " } code { (ch.expression) } } }
                    }
                }
                @if let Some(view) = catalog.schema.views.get(&rel.name) { pre.definition { (view.definition) } }
                @if let Some(vt) = catalog.schema.virtual_tables.get(&rel.name) { pre.definition { (vt.definition) } }
            }
        }
    };
    layout(chrome, "Schema", Some(Section::Schema), body)
}

/// An error as a page.
pub fn error(chrome: &Chrome, e: &StudioError) -> Markup {
    let body = html! {
        h1 { (e.title()) }
        p.error role="alert" { (e.message()) }
        p { a href="/" { "Back to the tables" } }
    };
    layout(chrome, e.title(), None, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links_are_encoded() {
        assert_eq!(path_segment("pages"), "pages");
        assert_eq!(path_segment("a b/<c>"), "a%20b%2F%3Cc%3E");
        assert_eq!(href("/t/x", &[("k", "[\"a&b\"]".into())]), "/t/x?k=%5B%22a%26b%22%5D");
    }

    #[test]
    fn values_are_escaped_and_nulls_marked() {
        let col = Col {
            name: "c".into(),
            data_type: "text".into(),
            class: TypeClass::Text,
            not_null: false,
            default: None,
            has_default: false,
            generated: false,
        };
        let html = cell(&Value::Text("<script>alert(1)</script>".into()), &col, None).into_string();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert!(cell(&Value::Null, &col, None).into_string().contains("NULL"));
        assert!(cell(&Value::Text(String::new()), &col, None).into_string().contains("empty"));
        let long = "x".repeat(200);
        let html = cell(&Value::Text(long), &col, Some("/t/a/row?k=1#col-c")).into_string();
        assert!(html.contains("…") && html.contains("/t/a/row?k=1#col-c") && !html.contains(&"x".repeat(TRUNCATE + 1)));
    }
}
