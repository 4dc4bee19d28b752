//! `cargo run -p server`: the CMS HTTP server. Flags here; everything else in `server::web`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cms_db::config::{database_url, project_root};
use server::web::app::{self, AppState};
use server::web::pool::Db;
use server::web::startup;

/// The CMS server: pages, posts, images, a JSON API and /health.
#[derive(Parser)]
#[command(name = "server", version)]
struct Args {
    /// Port to listen on
    #[arg(long, env = "PORT", default_value_t = 4000)]
    port: u16,
    /// Address to listen on (0.0.0.0 for every interface)
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Database URL (default: DATABASE_URL, then the project's .env, then file:data/sqlite.db)
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Folder whose images/ subfolder is served at /uploads/images (default <project>/uploads)
    #[arg(long, value_name = "DIR")]
    uploads: Option<PathBuf>,
    /// Migrations folder to check against (default <project>/migrations/<dialect>)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// Database connections in the pool
    #[arg(long, value_name = "N", default_value_t = 8)]
    pool_size: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cms_db::error::with_causes(&*e));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (root, _) = project_root()?;
    let env = std::env::var("DATABASE_URL").ok();
    let (url, source) = database_url(&root, args.database_url.as_deref(), env.as_deref())?;
    let migrations = args.migrations.map_or_else(|| startup::migrations_dir(&root, &url), |d| root.join(d));
    let migration_state = startup::check(&url, &migrations)?;
    let db = Db::open(&url, args.pool_size)?;
    let uploads = args.uploads.map_or_else(|| root.join("uploads"), |d| root.join(d));
    let addr = SocketAddr::new(args.bind, args.port);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Blocking database work queues here rather than piling up on the pool.
        .max_blocking_threads(args.pool_size.max(1) as usize * 2)
        .build()?;
    let state = AppState::new(db, url.clone(), uploads.clone(), migrations);
    let keep = state.clone();
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("cannot listen on {addr}: {e}; is another server running there? pick another --port")
        })?;
        eprintln!(
            "database   {url} ({}, from {source}); {} migrations applied",
            url.dialect(),
            migration_state.applied
        );
        eprintln!("uploads    {}", uploads.display());
        eprintln!("serving    http://{addr}/pages/home (Ctrl-C to stop)");
        app::serve(listener, state, shutdown_signal()).await?;
        eprintln!("stopped");
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    drop(runtime);
    // PostgreSQL's blocking client must not be dropped inside the runtime: the pool goes last.
    drop(keep);
    result
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
