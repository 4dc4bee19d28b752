//! `cargo xtask reset-data [--yes] [--no-seed]`: delete every application row (schema and
//! migration history stay), in the order of the database's foreign-key graph, then seed.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use cms_db::seed::SeedOptions;

use crate::confirm::confirm;
use crate::format::ms;
use crate::project::Context;
use crate::seeding::{present_images, seed_with_images_and_report};

#[derive(clap::Args)]
pub struct Args {
    /// Confirm without asking
    #[arg(long, short)]
    yes: bool,
    /// Leave the tables empty
    #[arg(long)]
    no_seed: bool,
    /// With seeding: make the data a function of N
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, _) = ctx.database_url()?;
    confirm(&format!("delete every row of every application table in {url}?"), args.yes)?;
    let mut conn = ctx.open_migrated(&url)?;
    let started = Instant::now();
    if args.no_seed {
        let order = cms_db::seed::clear::clear(&mut conn)?;
        out!("cleared {} tables in {}: {}", order.len(), ms(started.elapsed()), order.join(", "));
    } else {
        // Clearing, seeding and registering the image files on disk share one transaction: a
        // failure leaves the old data, and a reader sees the old data or the new, never a mix.
        let images = present_images(ctx);
        seed_with_images_and_report(&mut conn, &SeedOptions { seed: args.seed, force: true }, &images)?;
    }
    Ok(ExitCode::SUCCESS)
}
