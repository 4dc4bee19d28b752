//! `cargo xtask seed-images [--offline] [--concurrency N] [--manifest FILE]`: downloads the
//! sample images listed in `scripts/seed-images.toml` into `uploads/images/`, verified, and
//! records them in the images table. An image that cannot be fetched (offline, or the download
//! fails) becomes a generated placeholder of the intended size, marked as such, with a warning:
//! the command still succeeds, so `reset-complete` completes on an offline machine. A later run
//! with network replaces the placeholders.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::images::fetch::FetchConfig;
use crate::images::{fetch_and_register, retry, Options, DEFAULT_MANIFEST};
use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Fetch nothing: every image not already present becomes a placeholder
    #[arg(long)]
    offline: bool,
    /// Downloads at a time (1 to 64)
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// The manifest (relative to the project root)
    #[arg(long, value_name = "FILE", default_value = DEFAULT_MANIFEST)]
    manifest: PathBuf,
    /// Seconds allowed for each request, body included
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = positive_secs)]
    timeout: f64,
    /// Seconds allowed to connect
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = positive_secs)]
    connect_timeout: f64,
    /// The largest file accepted, in bytes (at most 1 TiB)
    #[arg(long, value_name = "BYTES", default_value_t = 20 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 40))]
    max_bytes: u64,
    /// Retries after a failed attempt (connection errors, timeouts, 5xx, 429)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=20))]
    retries: u32,
    /// The first retry's delay in milliseconds; it doubles each time (with jitter, up to 10 s)
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    backoff_ms: u64,
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("expected a number of seconds between 0 and 86400, got {s:?}")),
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let options = Options {
        manifest: args.manifest,
        offline: args.offline,
        concurrency: usize::from(args.concurrency),
        quiet: false,
        seed: None,
        fetch: FetchConfig {
            connect_timeout: Duration::from_secs_f64(args.connect_timeout),
            timeout: Duration::from_secs_f64(args.timeout),
            max_bytes: args.max_bytes,
            policy: retry::Policy {
                retries: args.retries,
                base: Duration::from_millis(args.backoff_ms),
                ..retry::Policy::default()
            },
        },
    };
    let summary = fetch_and_register(ctx, &options)?;
    out!("{}", summary.line());
    if summary.placeholders > 0 {
        eprintln!(
            "warning: {} placeholder(s) stand in for images that could not be fetched; run `cargo xtask seed-images` again with network to replace them",
            summary.placeholders
        );
    }
    Ok(ExitCode::SUCCESS)
}
