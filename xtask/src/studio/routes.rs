//! The studio's routes and their handlers. Database work runs on blocking threads (the
//! drivers are synchronous); pages are rendered there too, from the catalog of that request.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | tables and views with row counts |
//! | `GET /t/{table}` | the grid: `sort`, `dir`, filters `fc`/`fo`/`fv`, pages `after`/`before`/`last`/`offset` |
//! | `GET /t/{table}/row?k=` | one row, whole, with what references it |
//! | `GET, POST /t/{table}/edit?k=&c=` | a cell's editor; saving it |
//! | `GET, POST /t/{table}/new` | the insert form; inserting |
//! | `GET, POST /t/{table}/delete?k=…` | the confirmation with cascade counts; deleting |
//! | `GET /t/{table}/export?format=csv\|json` | the table (filters, order) as a download |
//! | `GET /schema`, `GET /schema.svg` | structure and diagram |
//! | `GET, POST /console`, `POST /console/export?format=` | the SQL console; a query's result as a download |

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cms_db::connection::Value;
use maud::Markup;
use tokio::sync::mpsc;

use super::browse;
use super::catalog::{Relation, RowKey};
use super::console::{self, Collect, DISPLAY_CAP};
use super::db::{within, Db};
use super::diagram;
use super::edit::{self, CellInput, Field};
use super::error::StudioError;
use super::export::{self, Format, QueryExport, Stream, Writer};
use super::pages::{self, href, table_path, Chrome, EditView, GridView, RowView};
use super::query::{self, row_cursor, row_query, shape, values_from_json, Filter, Grid, Op, Page, Sort};
use super::relations::{self, delete_plan};
use super::security::{self, Guard};

/// Rows per grid page.
pub const PAGE_ROWS: usize = 50;

/// Rows per query while a table is exported.
const EXPORT_PAGE: usize = 1_000;

const CSS: &str = include_str!("assets/studio.css");
const JS: &str = include_str!("assets/studio.js");

/// Everything a handler shares.
pub struct App {
    pub db: Db,
    pub guard: Arc<Guard>,
    pub chrome: Chrome,
}

impl App {
    fn page(&self, status: StatusCode, markup: Markup) -> Response {
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
    }

    fn error_page(&self, e: &StudioError) -> Response {
        self.page(e.status(), pages::error(&self.chrome, e))
    }
}

/// The router, behind [`security::middleware`].
pub fn router(app: Arc<App>) -> Router {
    let guard = app.guard.clone();
    Router::new()
        .route("/", get(tables))
        .route("/t/{table}", get(grid))
        .route("/t/{table}/row", get(row))
        .route("/t/{table}/edit", get(edit_form).post(edit_save))
        .route("/t/{table}/new", get(insert_form).post(insert_save))
        .route("/t/{table}/delete", get(delete_confirm).post(delete_rows))
        .route("/t/{table}/export", get(export_table))
        .route("/schema", get(schema))
        .route("/schema.svg", get(schema_svg))
        .route("/console", get(console_form).post(console_run))
        .route("/console/export", post(console_export))
        .route("/assets/studio.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }))
        .route("/assets/studio.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], JS) }))
        .fallback(not_found)
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(guard, security::middleware))
}

/// Query-string or form pairs, repeated names kept in order.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(bytes: &[u8]) -> Params {
        Params(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    fn query(raw: Option<String>) -> Params {
        Params::parse(raw.unwrap_or_default().as_bytes())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// A POST form with this launch's CSRF token (refused with 403 otherwise).
pub struct Form(pub Params);

impl FromRequest<Arc<App>> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Form, Response> {
        let bytes = Bytes::from_request(req, app).await.map_err(IntoResponse::into_response)?;
        let params = Params::parse(&bytes);
        app.guard.check_csrf(params.get("csrf")).map_err(IntoResponse::into_response)?;
        Ok(Form(params))
    }
}

/// Runs `f` on a blocking thread; an error becomes its page.
async fn blocking(app: Arc<App>, f: impl FnOnce(&App) -> Result<Response, StudioError> + Send + 'static) -> Response {
    let handle = tokio::task::spawn_blocking(move || f(&app).unwrap_or_else(|e| app.error_page(&e)));
    handle.await.unwrap_or_else(|e| {
        (StatusCode::INTERNAL_SERVER_ERROR, format!("studio: a handler failed: {e}")).into_response()
    })
}

fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn relation<'c>(catalog: &'c super::catalog::Catalog, table: &str) -> Result<&'c Relation, StudioError> {
    catalog.relation(table).ok_or_else(|| StudioError::NotFound(format!("there is no table or view {table:?}")))
}

fn key_param(p: &Params) -> Result<Vec<Value>, StudioError> {
    let k = p.get("k").ok_or_else(|| StudioError::BadRequest("which row? (the link has no k=)".into()))?;
    Ok(values_from_json(k)?)
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    app.error_page(&StudioError::NotFound("there is no such page in the studio".into()))
}

async fn tables(State(app): State<Arc<App>>) -> Response {
    blocking(app, |app| {
        let started = Instant::now();
        let (catalog, counts) = app.db.counts()?;
        Ok(app.page(StatusCode::OK, pages::tables(&app.chrome, &catalog, &counts, started.elapsed())))
    })
    .await
}

/// The grid request a query string describes.
fn grid_request(p: &Params, rel: &Relation, limit: usize) -> Result<Grid, StudioError> {
    let sort = p
        .get("sort")
        .filter(|s| !s.is_empty())
        .map(|c| Sort { column: c.to_string(), descending: p.get("dir") == Some("desc") });
    let (cols, ops, vals) = (p.all("fc"), p.all("fo"), p.all("fv"));
    let mut filters = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        if c.is_empty() {
            continue;
        }
        let code = ops.get(i).copied().unwrap_or("eq");
        let op = Op::parse(code).ok_or_else(|| StudioError::BadRequest(format!("unknown filter operator {code:?}")))?;
        filters.push(Filter { column: c.to_string(), op, value: vals.get(i).copied().unwrap_or_default().to_string() });
    }
    let page = if let Some(c) = p.get("after") {
        Page::After(values_from_json(c)?)
    } else if let Some(c) = p.get("before") {
        Page::Before(values_from_json(c)?)
    } else if p.has("last") && rel.key != RowKey::None {
        Page::Last
    } else if rel.key == RowKey::None {
        Page::Offset(p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0))
    } else {
        Page::First
    };
    Ok(Grid { filters, sort, page, limit, key_order: false })
}

async fn grid(State(app): State<Arc<App>>, Path(table): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = Params::query(q);
    blocking(app, move |app| {
        let started = Instant::now();
        let (catalog, request, mut rows) = app.db.read(|tx, catalog| {
            let rel = relation(catalog, &table)?;
            let mut request = grid_request(&p, rel, PAGE_ROWS)?;
            let rows = browse::page(tx, catalog, rel, &mut request)?;
            Ok((catalog.clone(), request, rows))
        })?;
        let rel = relation(&catalog, &table)?;
        let more = rows.len() > request.limit;
        rows.truncate(request.limit);
        if request.reversed() {
            rows.reverse();
        }
        let (has_prev, has_next) = match &request.page {
            Page::First => (false, more),
            Page::After(_) => (true, more),
            Page::Before(_) => (more, true),
            Page::Last => (more, false),
            Page::Offset(o) => (*o > 0, more),
        };
        let notice = match (p.get("deleted"), p.get("inserted")) {
            (Some(n), _) => Some(format!("Deleted {n} row(s).")),
            _ => None,
        };
        let view = GridView {
            catalog: &catalog,
            rel,
            grid: &request,
            rows,
            has_prev,
            has_next,
            count: if request.filters.is_empty() { app.db.cheap_count(&catalog, &table) } else { None },
            notice,
            elapsed: started.elapsed(),
        };
        Ok(app.page(StatusCode::OK, pages::grid(&app.chrome, &view)))
    })
    .await
}

/// One row's values (in column order) and what references it.
fn read_row(app: &App, table: &str, key: &[Value]) -> Result<(Vec<Value>, Vec<relations::Referencing>), StudioError> {
    app.db.read(|tx, catalog| {
        let rel = relation(catalog, table)?;
        let q = row_query(catalog.dialect, rel, key)?;
        let row =
            tx.query(&q.sql, &q.params)?.into_iter().next().ok_or_else(|| {
                StudioError::NotFound(format!("{table} has no row with that key (deleted meanwhile?)"))
            })?;
        let values = row[shape(rel).columns_at..].to_vec();
        let refs = relations::referencing(tx, catalog, rel, &values)?;
        Ok((values, refs))
    })
}

async fn row(State(app): State<Arc<App>>, Path(table): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = Params::query(q);
    blocking(app, move |app| {
        let key = key_param(&p)?;
        let (values, referencing) = read_row(app, &table, &key)?;
        let catalog = app.db.cached_catalog();
        let rel = relation(&catalog, &table)?;
        let notice = if p.has("saved") {
            Some("Saved.".to_string())
        } else if p.has("inserted") {
            Some("Inserted.".to_string())
        } else {
            None
        };
        let view = RowView { catalog: &catalog, rel, key, values, referencing, notice };
        Ok(app.page(StatusCode::OK, pages::row(&app.chrome, &view)))
    })
    .await
}

fn edit_page(
    app: &App,
    table: &str,
    key: Vec<Value>,
    column: &str,
    error: Option<(&StudioError, CellInput)>,
) -> Result<Response, StudioError> {
    if app.db.read_only {
        return Err(StudioError::ReadOnly);
    }
    let (values, _) = read_row(app, table, &key)?;
    let catalog = app.db.cached_catalog();
    let rel = relation(&catalog, table)?;
    let i =
        rel.column_index(column).ok_or_else(|| StudioError::NotFound(format!("{table} has no column {column:?}")))?;
    let status = error.as_ref().map_or(StatusCode::OK, |(e, _)| e.status());
    let (message, input) = match error {
        Some((e, input)) => (Some(e.message()), Some(input)),
        None => (None, None),
    };
    let view = EditView { rel, key, col: &rel.columns[i], current: values[i].clone(), error: message, input };
    Ok(app.page(status, pages::edit(&app.chrome, &view)))
}

async fn edit_form(State(app): State<Arc<App>>, Path(table): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = Params::query(q);
    blocking(app, move |app| {
        let key = key_param(&p)?;
        let column = p.get("c").ok_or_else(|| StudioError::BadRequest("which column? (the link has no c=)".into()))?;
        edit_page(app, &table, key, column, None)
    })
    .await
}

async fn edit_save(State(app): State<Arc<App>>, Path(table): Path<String>, Form(p): Form) -> Response {
    blocking(app, move |app| {
        let key = key_param(&p)?;
        let column = p.get("c").ok_or_else(|| StudioError::BadRequest("which column? (the form has no c)".into()))?;
        let input = CellInput {
            value: p.get("value").unwrap_or_default().to_string(),
            null: p.has("null"),
            json: p.get("json") == Some("1"),
        };
        match edit::update_cell(&app.db, &table, &key, column, &input) {
            Ok(()) => Ok(see_other(&href(
                &format!("{}/row", table_path(&table)),
                &[("k", query::values_to_json(&key)), ("saved", "1".into())],
            ))),
            Err(
                e @ (StudioError::Constraint(_)
                | StudioError::BadRequest(_)
                | StudioError::Sql(_)
                | StudioError::Timeout(_)),
            ) => edit_page(app, &table, key, column, Some((&e, input))),
            Err(e) => Err(e),
        }
    })
    .await
}

async fn insert_form(State(app): State<Arc<App>>, Path(table): Path<String>) -> Response {
    blocking(app, move |app| {
        if app.db.read_only {
            return Err(StudioError::ReadOnly);
        }
        let catalog = app.db.catalog()?;
        let rel = relation(&catalog, &table)?;
        if !rel.editable() {
            return Err(StudioError::BadRequest(format!("{table} has no key: insert rows with the SQL console")));
        }
        Ok(app.page(StatusCode::OK, pages::insert(&app.chrome, rel, None, None)))
    })
    .await
}

async fn insert_save(State(app): State<Arc<App>>, Path(table): Path<String>, Form(p): Form) -> Response {
    blocking(app, move |app| {
        let catalog = app.db.cached_catalog();
        let rel = relation(&catalog, &table)?;
        let fields: Vec<Field> = rel
            .columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| Field {
                column: c.name.clone(),
                // Ticked "default", or not sent at all: left to the database.
                default: p.has(&format!("d:{}", c.name))
                    || !(p.has(&format!("v:{}", c.name)) || p.has(&format!("n:{}", c.name))),
                input: CellInput {
                    value: p.get(&format!("v:{}", c.name)).unwrap_or_default().to_string(),
                    null: p.has(&format!("n:{}", c.name)),
                    json: false,
                },
            })
            .collect();
        match edit::insert_row(&app.db, &table, &fields) {
            Ok(key) => Ok(see_other(&href(
                &format!("{}/row", table_path(&table)),
                &[("k", query::values_to_json(&key)), ("inserted", "1".into())],
            ))),
            Err(
                e @ (StudioError::Constraint(_)
                | StudioError::BadRequest(_)
                | StudioError::Sql(_)
                | StudioError::Timeout(_)),
            ) => Ok(app.page(e.status(), pages::insert(&app.chrome, rel, Some(&e.message()), Some(&fields)))),
            Err(e) => Err(e),
        }
    })
    .await
}

fn keys_param(p: &Params) -> Result<Vec<Vec<Value>>, StudioError> {
    let keys: Result<Vec<_>, _> = p.all("k").into_iter().map(values_from_json).collect();
    let keys = keys?;
    if keys.is_empty() {
        return Err(StudioError::BadRequest("no rows were chosen: tick the rows to delete first".into()));
    }
    Ok(keys)
}

fn confirm_page(
    app: &App,
    table: &str,
    keys: &[Vec<Value>],
    error: Option<&StudioError>,
) -> Result<Response, StudioError> {
    if app.db.read_only {
        return Err(StudioError::ReadOnly);
    }
    let plan = app.db.read(|tx, catalog| {
        let rel = relation(catalog, table)?;
        if !rel.editable() {
            return Err(StudioError::BadRequest(format!("{table} has no key: delete rows with the SQL console")));
        }
        delete_plan(tx, catalog, rel, keys)
    });
    if let Err(e @ (StudioError::NotFound(_) | StudioError::BadRequest(_))) = &plan {
        return Err(StudioError::BadRequest(e.message()));
    }
    let catalog = app.db.cached_catalog();
    let rel = relation(&catalog, table)?;
    let status = error.map_or(StatusCode::OK, StudioError::status);
    Ok(app.page(status, pages::confirm_delete(&app.chrome, rel, keys, &plan, error.map(|e| e.message()).as_deref())))
}

async fn delete_confirm(State(app): State<Arc<App>>, Path(table): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = Params::query(q);
    blocking(app, move |app| confirm_page(app, &table, &keys_param(&p)?, None)).await
}

async fn delete_rows(State(app): State<Arc<App>>, Path(table): Path<String>, Form(p): Form) -> Response {
    blocking(app, move |app| {
        let keys = keys_param(&p)?;
        match edit::delete_rows(&app.db, &table, &keys) {
            Ok(n) => Ok(see_other(&href(&table_path(&table), &[("deleted", n.to_string())]))),
            Err(e @ (StudioError::Constraint(_) | StudioError::Sql(_) | StudioError::Timeout(_))) => {
                confirm_page(app, &table, &keys, Some(&e))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

/// A download's file name: the name's safe characters.
fn file_name(name: &str, format: Format) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    format!("{safe}.{}", format.extension())
}

/// Streams what `produce` writes; an error before the first byte is an error page.
async fn download(
    app: Arc<App>,
    format: Format,
    name: String,
    produce: impl FnOnce(&App, &mut Stream) + Send + 'static,
) -> Response {
    let (tx, mut rx) = mpsc::channel(16);
    let worker = app.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = Stream::new(tx);
        produce(&worker, &mut stream);
        stream.flush();
    });
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(e)) => {
            return app.page(StatusCode::BAD_REQUEST, pages::error(&app.chrome, &StudioError::Sql(e.to_string())));
        }
        None => Bytes::new(),
    };
    let (tx2, rx2) = mpsc::channel(16);
    tokio::spawn(async move {
        if tx2.send(Ok(first)).await.is_err() {
            return;
        }
        while let Some(chunk) = rx.recv().await {
            if tx2.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let disposition = format!("attachment; filename=\"{}\"", file_name(&name, format));
    let mut r = axum::body::Body::from_stream(export::Body(rx2)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn format_param(p: &Params) -> Result<Format, StudioError> {
    let f = p.get("format").unwrap_or("csv");
    Format::parse(f).ok_or_else(|| StudioError::BadRequest(format!("unknown export format {f:?} (csv or json)")))
}

async fn export_table(State(app): State<Arc<App>>, Path(table): Path<String>, RawQuery(q): RawQuery) -> Response {
    let p = Params::query(q);
    let format = match format_param(&p) {
        Ok(f) => f,
        Err(e) => return app.error_page(&e),
    };
    let name = table.clone();
    download(app, format, name, move |app, stream| {
        let catalog = match app.db.catalog() {
            Ok(c) => c,
            Err(e) => return stream.fail(e.message()),
        };
        let Some(rel) = catalog.relation(&table).cloned() else {
            stream.fail(format!("there is no table or view {table:?}"));
            return;
        };
        let mut request = match grid_request(&p, &rel, EXPORT_PAGE) {
            Ok(mut g) => {
                g.page = if rel.key == RowKey::None { Page::Offset(0) } else { Page::First };
                g
            }
            Err(e) => return stream.fail(e.message()),
        };
        let at = shape(&rel).columns_at;
        let mut writer = Writer::new(
            format,
            rel.columns.iter().map(|c| c.name.clone()).collect(),
            rel.columns.iter().map(|c| c.class).collect(),
        );
        let mut started = false;
        loop {
            let rows = app.db.read(|tx, catalog| browse::page(tx, catalog, relation(catalog, &table)?, &mut request));
            let mut rows = match rows {
                Ok(r) => r,
                Err(e) => return stream.fail(e.message()),
            };
            if !started {
                stream.write(&writer.start());
                started = true;
            }
            let more = rows.len() > request.limit;
            rows.truncate(request.limit);
            for row in &rows {
                let line = writer.row(&row[at..]);
                stream.write(&line);
            }
            if !more || stream.closed {
                break;
            }
            request.page = match &request.page {
                Page::Offset(o) => Page::Offset(o + request.limit as u64),
                _ => match rows.last().and_then(|r| row_cursor(&rel, request.sort.as_ref(), r)) {
                    Some(c) => Page::After(c),
                    None => break,
                },
            };
        }
        let end = writer.finish();
        stream.write(&end);
    })
    .await
}

async fn schema(State(app): State<Arc<App>>) -> Response {
    blocking(app, |app| {
        let catalog = app.db.catalog()?;
        let svg = diagram::svg(&catalog);
        Ok(app.page(StatusCode::OK, pages::schema(&app.chrome, &catalog, &svg)))
    })
    .await
}

async fn schema_svg(State(app): State<Arc<App>>) -> Response {
    blocking(app, |app| {
        let catalog = app.db.catalog()?;
        Ok(([(header::CONTENT_TYPE, "image/svg+xml")], diagram::svg(&catalog)).into_response())
    })
    .await
}

async fn console_form(State(app): State<Arc<App>>) -> Response {
    app.page(StatusCode::OK, pages::console(&app.chrome, "", None))
}

/// Runs console SQL on a pooled connection within the time limit.
fn run_console(app: &App, sql: &str, sink: &mut dyn console::RowSink) -> Result<console::Summary, StudioError> {
    let limit: Duration = app.db.timeout;
    let read_only = app.db.read_only;
    let ran =
        app.db.with_connection(|conn, _| within(conn, limit, |conn| console::run(conn, sql, read_only, limit, sink)));
    app.db.schema_may_have_changed();
    ran
}

async fn console_run(State(app): State<Arc<App>>, Form(p): Form) -> Response {
    blocking(app, move |app| {
        let sql = p.get("sql").unwrap_or_default().to_string();
        let mut collect = Collect::new(DISPLAY_CAP);
        let outcome = run_console(app, &sql, &mut collect).map(|s| (s, collect.results));
        let status = outcome.as_ref().err().map_or(StatusCode::OK, StudioError::status);
        Ok(app.page(status, pages::console(&app.chrome, &sql, Some(&outcome))))
    })
    .await
}

async fn console_export(State(app): State<Arc<App>>, RawQuery(q): RawQuery, Form(p): Form) -> Response {
    let format = match format_param(&Params::query(q)) {
        Ok(f) => f,
        Err(e) => return app.error_page(&e),
    };
    let sql = p.get("sql").unwrap_or_default().to_string();
    download(app, format, "query".into(), move |app, stream| {
        let mut sink = QueryExport::new(format, stream);
        let result = run_console(app, &sql, &mut sink);
        let started = sink.started();
        match result {
            Ok(_) if started => sink.finish(),
            Ok(_) => sink.stream.fail("the query returned no rows to export (it has no result set)".into()),
            Err(e) => sink.stream.fail(format!("{}: {}", e.title(), e.message())),
        }
    })
    .await
}
