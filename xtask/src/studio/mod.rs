//! The studio (`cargo xtask studio`): a local web UI to browse and edit the configured database, safe by default (see
//! [`security`]): loopback only, a fresh token per launch that becomes an HttpOnly
//! SameSite=Strict cookie, the `Host` header checked, writes and console requests only from
//! its own pages with a CSRF token, and `--read-only`.
//!
//! - [`catalog`]: what the database holds (schema engine introspection + view columns);
//! - [`query`]: the SQL of grids (keyset pages, sort, filters), rows and changes (pure);
//! - [`browse`]: one grid page read (with SQLite's probe for broad filters);
//! - [`db`]: the connection pool, the catalog kept current, time limits, row counts;
//! - [`relations`]: foreign-key links, referencing rows, the cascade a delete would run;
//! - [`edit`]: cell edits, inserts and deletes, constraint errors in words;
//! - [`console`]: the SQL console; [`export`]: CSV and JSON;
//! - [`diagram`]: the schema as SVG; [`pages`]: the HTML; [`routes`]: the handlers.

mod browse;
pub mod catalog;
mod console;
mod db;
mod diagram;
mod edit;
mod error;
mod export;
pub mod pages;
pub mod query;
pub mod relations;
mod routes;
mod security;

use std::future::Future;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use cms_db::DatabaseUrl;

/// How a studio is served.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: IpAddr,
    pub port: u16,
    pub read_only: bool,
    pub statement_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 4983,
            read_only: false,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves the studio on `url` until Ctrl-C, printing its address (with the token) on stdout.
pub fn serve_until_ctrl_c(url: DatabaseUrl, options: Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let studio = Studio::bind(url, options).await?;
        out!("studio: {}", studio.url());
        eprintln!(
            "studio: serving {}{}; Ctrl-C stops it",
            studio.app.db.describe(),
            if studio.app.db.read_only { " read-only" } else { "" }
        );
        studio.serve(shutdown_signal()).await
    })
}

/// A studio bound to its port, not yet serving.
pub struct Studio {
    listener: tokio::net::TcpListener,
    app: Arc<routes::App>,
}

impl Studio {
    /// Opens the database (and reads its schema), then binds the port.
    pub async fn bind(url: DatabaseUrl, options: Options) -> Result<Studio> {
        let (read_only, timeout) = (options.read_only, options.statement_timeout);
        let db = tokio::task::spawn_blocking(move || db::Db::open(url, read_only, timeout))
            .await
            .context("opening the database")?
            .map_err(|e| anyhow!("{}", e.message()))?;
        let addr = SocketAddr::new(options.host, options.port);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| match e.kind() {
            ErrorKind::AddrInUse => anyhow!(
                "port {} is already in use on {}: another studio or program listens there; stop it or pass --port N \
                 (--port 0 picks a free one)",
                options.port,
                options.host
            ),
            ErrorKind::PermissionDenied => {
                anyhow!(
                    "not allowed to listen on port {} of {}: {e}; pick a port above 1023",
                    options.port,
                    options.host
                )
            }
            _ => anyhow!("cannot listen on {addr}: {e}"),
        })?;
        let local = listener.local_addr().context("reading the bound address")?;
        let guard = Arc::new(security::Guard::new(local).context("reading random bytes for the token")?);
        let chrome = pages::Chrome {
            database: db.describe(),
            dialect: db.dialect,
            read_only: db.read_only,
            csrf: guard.csrf().to_string(),
        };
        let app = Arc::new(routes::App { db, guard, chrome });
        // The table list's counts, taken now so the first visit finds them (SQLite keeps them
        // while nothing changes).
        let counting = app.clone();
        tokio::task::spawn_blocking(move || {
            let _ = counting.db.counts();
        });
        Ok(Studio { listener, app })
    }

    /// `http://127.0.0.1:PORT/?token=TOKEN`.
    pub fn url(&self) -> String {
        self.app.guard.url()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        axum::serve(self.listener, routes::router(self.app)).with_graceful_shutdown(shutdown).await.context("serving")
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

/// A studio serving on a thread of its own (the benchmark).
pub struct Running {
    /// The sign-in URL (`http://127.0.0.1:PORT/?token=…`).
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Running {
    /// Stops serving and waits for the thread.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow!("the studio thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Starts a studio on its own thread and runtime; returns once it listens.
pub fn spawn(url: DatabaseUrl, options: Options) -> Result<Running> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(async move {
            let studio = match Studio::bind(url, options).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("{e:#}")));
                    return Ok(());
                }
            };
            let _ = ready_tx.send(Ok(studio.url()));
            studio
                .serve(async move {
                    let _ = stop_rx.await;
                })
                .await
        })
    });
    let url = ready_rx.recv().map_err(|_| anyhow!("the studio thread ended before it listened"))??;
    Ok(Running { url, stop: Some(stop_tx), thread: Some(thread) })
}
