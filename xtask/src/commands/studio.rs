//! `cargo xtask studio [--port 4983] [--read-only] [--host 127.0.0.1] [--statement-timeout SECS]`:
//! a local web UI to browse and edit the configured database (see [`crate::studio`]).

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::project::Context;
use crate::studio::{serve_until_ctrl_c, Options};

#[derive(clap::Args)]
pub struct Args {
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 4983)]
    port: u16,
    /// Open the database read-only and hide every write control
    #[arg(long)]
    read_only: bool,
    /// Address to listen on; anything but a loopback address exposes the database to the
    /// network (a warning says so)
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    host: IpAddr,
    /// Time limit of every statement, the SQL console's included
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    statement_timeout: u64,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, _) = ctx.database_url()?;
    let options = Options {
        host: args.host,
        port: args.port,
        read_only: args.read_only,
        statement_timeout: Duration::from_secs(args.statement_timeout),
    };
    if !options.host.is_loopback() {
        eprintln!(
            "warning: studio listens on {} (not loopback): anyone who can reach this machine and learns the token can \
             read{} the database, and http carries the token unencrypted",
            options.host,
            if options.read_only { "" } else { " and change" }
        );
    }
    serve_until_ctrl_c(url, options)?;
    Ok(ExitCode::SUCCESS)
}
