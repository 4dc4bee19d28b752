//! The axum application: routes, shared state, and serving (in this thread's runtime with
//! [`serve`], or on a thread of its own with [`spawn`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::web::content::{self, Site};
use crate::web::error::WebError;
use crate::web::locale::LocaleChoice;
use crate::web::pool::Db;
use crate::web::render::{self, Chrome};
use crate::web::{api, health, uploads};
use cms_db::connection::{transaction, Sql, TxMode};
use cms_db::error::{with_causes, DbError};
use cms_db::url::DatabaseUrl;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    db: Db,
    url: DatabaseUrl,
    /// `<uploads>/images` is what `/uploads/images/{file}` serves.
    uploads: PathBuf,
    health: health::Health,
}

impl AppState {
    pub fn new(db: Db, url: DatabaseUrl, uploads: PathBuf, migrations: PathBuf) -> AppState {
        AppState(Arc::new(Inner { db, url, uploads, health: health::Health::new(migrations) }))
    }

    /// Runs `f` with a pooled connection on a blocking thread, in one read-only snapshot
    /// ([`TxMode::ReadSnapshot`]), so every query of a request sees the same committed data: a
    /// re-seed that commits between two of them (new site and environment ids) cannot turn the
    /// page into a 404.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, WebError> {
        let db = self.0.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().map_err(WebError::Unavailable)?;
            transaction(&mut conn, TxMode::ReadSnapshot, f).map_err(WebError::Database)
        })
        .await
        .map_err(|e| WebError::Internal(format!("a request handler failed: {e}")))?
    }
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/pages/home") }))
        .route("/pages/{slug}", get(page))
        // The seed's links say `/about`, `/contact`: short page addresses.
        .route("/{slug}", get(short_page))
        .route("/posts", get(posts))
        .route("/posts/{slug}", get(post))
        .route("/uploads/images/{file}", get(image))
        .route("/api/pages/{slug}", get(api_page))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// A server running on a thread of its own (tests, embedding); stops when dropped.
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr` (port 0 picks a free one) and serves on a new thread with its own runtime.
pub fn spawn(addr: SocketAddr, state: AppState) -> std::io::Result<Running> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let thread = std::thread::spawn(move || {
        let keep = state.clone();
        let result = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            serve(listener, state, async move {
                let _ = stopped.await;
            })
            .await
        });
        drop(runtime);
        // PostgreSQL's blocking client must not be dropped inside the runtime: the pool goes last.
        drop(keep);
        result
    });
    Ok(Running { addr, stop: Some(stop), thread: Some(thread) })
}

/// The route's one path parameter. A segment that is not UTF-8 once percent-decoded
/// (`/pages/%FF`) cannot name anything: the 404 answer of [`not_found`] (JSON under `/api/`),
/// not axum's plain-text 400.
struct Segment(String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(Segment(segment)),
            Err(_) => Err(not_found(parts.uri.clone()).await),
        }
    }
}

type Params = Query<Vec<(String, String)>>;

fn param(params: &Params, key: &str) -> Option<String> {
    params.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn host(headers: &HeaderMap) -> String {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_string()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// An HTML answer.
struct Html {
    status: StatusCode,
    lang: Option<String>,
    body: String,
}

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Some(v) = self.lang.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::CONTENT_LANGUAGE, v);
        }
        r
    }
}

fn failure_html(e: WebError) -> Response {
    eprintln!("error: {}", with_causes(&e));
    let chrome = Chrome { site_title: "", nav: &[], lang: "en", locale_param: None, locales: &[], path: "/" };
    let body = render::error_page(&chrome, "Sorry", e.public_message(), false);
    Html { status: e.status(), lang: None, body }.into_response()
}

/// The page for a database without a site.
fn no_site(path: &str) -> Html {
    let chrome = Chrome { site_title: "CMS", nav: &[], lang: "en", locale_param: None, locales: &[], path };
    let body = render::error_page(
        &chrome,
        "No site yet",
        "The database has no site. Run `cargo xtask seed` (or `cargo xtask reset-complete`) to create the demo site.",
        false,
    );
    Html { status: StatusCode::NOT_FOUND, lang: None, body }
}

/// Loads the site and its navigation, then renders with `body` (which returns the status, the
/// document, and the language it is in).
fn with_site(
    conn: &mut dyn Sql,
    host: &str,
    path: &str,
    locale: Option<&str>,
    body: impl FnOnce(&mut dyn Sql, &Site, &LocaleChoice, &Chrome<'_>) -> Result<(StatusCode, String), DbError>,
) -> Result<Html, DbError> {
    let Some(site) = content::site(conn, host)? else { return Ok(no_site(path)) };
    let nav = content::navigation(conn, &site)?;
    let locales = site.active_locales();
    let default = site.choose_locale(None).map(|c| c.default).unwrap_or_else(|_| "en".to_string());
    match site.choose_locale(locale) {
        Err(e) => {
            let chrome = Chrome {
                site_title: &site.title,
                nav: &nav,
                lang: &default,
                locale_param: None,
                locales: &locales,
                path,
            };
            let body = render::error_page(&chrome, "Language not available", &e.to_string(), true);
            Ok(Html { status: StatusCode::NOT_FOUND, lang: Some(default), body })
        }
        Ok(choice) => {
            let locale_param = (choice.locale != choice.default).then_some(choice.locale.as_str());
            let chrome = Chrome {
                site_title: &site.title,
                nav: &nav,
                lang: &choice.locale,
                locale_param,
                locales: &locales,
                path,
            };
            let (status, body) = body(conn, &site, &choice, &chrome)?;
            Ok(Html { status, lang: Some(choice.locale.clone()), body })
        }
    }
}

fn not_found_body(chrome: &Chrome<'_>, message: &str) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, render::error_page(chrome, "Page not found", message, false))
}

async fn page(State(st): State<AppState>, Segment(slug): Segment, params: Params, headers: HeaderMap) -> Response {
    let (host, locale) = (host(&headers), param(&params, "locale"));
    let result = st
        .with_conn(move |conn| {
            let path = format!("/pages/{slug}");
            with_site(conn, &host, &path, locale.as_deref(), |conn, site, choice, chrome| {
                Ok(match content::page(conn, site, &slug, choice)? {
                    Some(p) => (StatusCode::OK, render::page(chrome, &p)),
                    None => not_found_body(chrome, &format!("There is no page “{slug}”.")),
                })
            })
        })
        .await;
    result.map_or_else(failure_html, IntoResponse::into_response)
}

/// `/about?locale=de` → `/pages/about?locale=de`, for a page that exists under exactly that
/// slug; any other one-segment address (`/favicon.ico`, `/robots.txt`, `/nope`) is the 404 page.
async fn short_page(State(st): State<AppState>, Segment(slug): Segment, uri: Uri, headers: HeaderMap) -> Response {
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let (host, path) = (host(&headers), uri.path().to_string());
    let result = st
        .with_conn(move |conn| {
            if content::valid_slug(&slug) {
                if let Some(site) = content::site(conn, &host)? {
                    if content::page_exists(conn, &site, &slug)? {
                        return Ok(Redirect::temporary(&format!("/pages/{slug}{query}")).into_response());
                    }
                }
            }
            let html = with_site(conn, &host, &path, None, |_, _, _, chrome| {
                Ok(not_found_body(chrome, "There is nothing at this address."))
            })?;
            Ok(html.into_response())
        })
        .await;
    result.unwrap_or_else(failure_html)
}

async fn posts(State(st): State<AppState>, params: Params, headers: HeaderMap) -> Response {
    let (host, locale) = (host(&headers), param(&params, "locale"));
    let result = st
        .with_conn(move |conn| {
            with_site(conn, &host, "/posts", locale.as_deref(), |conn, site, _, chrome| {
                Ok((StatusCode::OK, render::posts(chrome, &content::posts(conn, site, now_ms())?)))
            })
        })
        .await;
    result.map_or_else(failure_html, IntoResponse::into_response)
}

async fn post(State(st): State<AppState>, Segment(slug): Segment, params: Params, headers: HeaderMap) -> Response {
    let (host, locale) = (host(&headers), param(&params, "locale"));
    let result = st
        .with_conn(move |conn| {
            let path = format!("/posts/{slug}");
            with_site(conn, &host, &path, locale.as_deref(), |conn, site, _, chrome| {
                Ok(match content::post_by_slug(conn, site, &slug, now_ms())? {
                    Some(p) => (StatusCode::OK, render::post(chrome, &p)),
                    None => not_found_body(chrome, &format!("There is no post “{slug}”.")),
                })
            })
        })
        .await;
    result.map_or_else(failure_html, IntoResponse::into_response)
}

async fn image(State(st): State<AppState>, Segment(file): Segment) -> Response {
    let dir = st.0.uploads.join("images");
    let served = tokio::task::spawn_blocking(move || uploads::read(&dir, &file)).await.ok().flatten();
    match served {
        Some(s) => {
            let mut r = s.bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(s.content_type));
            h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            r
        }
        None => no_image().into_response(),
    }
}

/// The image route's 404: the same for a missing file, a name that is not allowed, a link out
/// of the folder or a file that is not an image, so none of them can be told apart.
fn no_image() -> Html {
    let chrome =
        Chrome { site_title: "", nav: &[], lang: "en", locale_param: None, locales: &[], path: "/uploads/images/" };
    Html {
        status: StatusCode::NOT_FOUND,
        lang: None,
        body: render::error_page(&chrome, "Image not found", "There is no image by that name.", false),
    }
}

fn plain_not_found(path: &str) -> Html {
    let chrome = Chrome { site_title: "", nav: &[], lang: "en", locale_param: None, locales: &[], path };
    Html {
        status: StatusCode::NOT_FOUND,
        lang: None,
        body: render::error_page(&chrome, "Not found", "There is nothing at this address.", false),
    }
}

async fn api_page(State(st): State<AppState>, Segment(slug): Segment, params: Params, headers: HeaderMap) -> Response {
    let (host, locale) = (host(&headers), param(&params, "locale"));
    match st.with_conn(move |conn| api::page(conn, &host, &slug, locale.as_deref())).await {
        Ok((status, body, lang)) => {
            let mut r = (status, Json(body)).into_response();
            if let Some(v) = lang.and_then(|l| HeaderValue::from_str(&l).ok()) {
                r.headers_mut().insert(header::CONTENT_LANGUAGE, v);
            }
            r
        }
        Err(e) => {
            eprintln!("error: {}", with_causes(&e));
            (e.status(), Json(api::error("server_error", e.public_message(), &[]))).into_response()
        }
    }
}

async fn health(State(st): State<AppState>) -> Response {
    let s = st.clone();
    match tokio::task::spawn_blocking(move || s.0.health.report(&s.0.db, &s.0.url)).await {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(e) => failure_html(WebError::Internal(e.to_string())),
    }
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return (StatusCode::NOT_FOUND, Json(api::error("not_found", "no such API route", &[]))).into_response();
    }
    plain_not_found(uri.path()).into_response()
}
