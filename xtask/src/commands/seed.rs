//! `cargo xtask seed [--seed N] [--force] [--scale N]`: the demo environment.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result};
use cms_db::connection::{Connection, Sql, Value};
use cms_db::seed::scale::{self, Anchors, ROWS_PER_SITE};
use cms_db::seed::{ids::IdSource, SeedOptions};

use crate::confirm::confirm;
use crate::project::Context;
use crate::seeding::{present_images, seed_with_images_and_report};

#[derive(clap::Args)]
pub struct Args {
    /// Make every id, timestamp and generated value a function of N (reproducible data)
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Clear all data first (as reset-data does); asks for confirmation
    #[arg(long)]
    force: bool,
    /// Also generate N more sites (each with environments, pages, sections, contents, posts)
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    scale: Option<usize>,
    /// Confirm destructive actions without asking
    #[arg(long, short)]
    yes: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, _) = ctx.database_url()?;
    if args.force {
        confirm(&format!("delete every row in {url} and seed again?"), args.yes)?;
    }
    let options = SeedOptions { seed: args.seed, force: args.force };
    let mut conn = ctx.open_migrated(&url)?;
    seed_with_images_and_report(&mut conn, &options, &present_images(ctx))?;
    if let Some(n) = args.scale {
        scale_up(&mut conn, n, args.seed)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn scale_up(conn: &mut Connection, sites: usize, seed: Option<u64>) -> Result<()> {
    const BATCH: usize = 250;
    let anchors = anchors(conn)?;
    let first = existing_sites(conn)?;
    // Seeded: a function of N (and of the sites already there, so a second run adds new ids).
    // Unseeded: one random starting point; a fast generator after that.
    let start = match seed {
        Some(n) => n.wrapping_add(1).wrapping_add((first as u64) << 32),
        None => IdSource::Random.next_u64(),
    };
    let mut ids = IdSource::new(Some(start));
    let now = cms_db::seed::ids::base_time(seed, cms_db::seed::now_ms());
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new((sites * ROWS_PER_SITE) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} {eta}").expect("template"),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = Instant::now();
    // Generation runs on its own thread, a couple of batches ahead of the writer.
    // Written batches go back to it to be freed: the allocator's arena is that thread's, and the
    // writer spends its time in the database instead (measured on SQLite, 1M rows: 287k ->
    // 313-331k rows/s).
    let (tx_batches, batches) = std::sync::mpsc::sync_channel(2);
    let (tx_spent, spent) = std::sync::mpsc::channel::<Vec<cms_db::seed::Table>>();
    std::thread::scope(|scope| -> Result<()> {
        // Owned here, so an error below drops them: the generator's next send fails and ends it,
        // and its last wait for spent batches ends.
        let (batches, tx_spent) = (batches, tx_spent);
        scope.spawn(move || {
            for done in (0..sites).step_by(BATCH) {
                let n = BATCH.min(sites - done);
                let batch = scale::sites(&mut ids, &anchors, first + done, n, now);
                spent.try_iter().for_each(drop);
                if tx_batches.send(batch).is_err() {
                    return; // the writer failed and stopped listening
                }
            }
            drop(tx_batches); // the writer's loop ends…
            spent.iter().for_each(drop); // …and it hands back the last batches
        });
        // One transaction for the whole run: all or nothing, and a single commit.
        cms_db::seed::bulk::load(conn, scale::TABLES, batches.iter(), |tables| {
            let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
            bar.inc(rows as u64);
            let _ = tx_spent.send(tables);
        })?;
        Ok(())
    })?;
    bar.finish_and_clear();
    let rows = sites * ROWS_PER_SITE;
    let secs = started.elapsed().as_secs_f64();
    out!("scaled: {sites} sites, {rows} rows in {:.2} s ({:.0} rows/s)", secs, rows as f64 / secs.max(1e-9));
    Ok(())
}

/// The first column of every row of `sql`, as text.
fn texts(conn: &mut dyn Sql, sql: &str) -> Result<Vec<String>> {
    Ok(conn.query(sql, &[])?.into_iter().filter_map(|r| r.into_iter().next()?.into_text()).collect())
}

fn anchors(conn: &mut dyn Sql) -> Result<Anchors> {
    let team_id = texts(conn, "SELECT id FROM teams WHERE name = 'dev-team'")?
        .pop()
        .context("the demo team dev-team is missing; run `cargo xtask seed` first")?;
    let text_section_id = texts(conn, "SELECT id FROM section_definitions WHERE key = 'text'")?
        .pop()
        .context("the `text` section definition is missing; run `cargo xtask seed --force`")?;
    let locales = texts(conn, "SELECT code FROM locales ORDER BY code")?;
    Ok(Anchors { team_id, text_section_id, locales })
}

fn existing_sites(conn: &mut dyn Sql) -> Result<usize> {
    let rows = conn.query("SELECT count(*) FROM sites", &[])?;
    let n = rows.first().and_then(|r| r.first()).and_then(Value::int).context("counting sites")?;
    Ok(usize::try_from(n)?)
}
