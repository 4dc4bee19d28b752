//! `cargo xtask seed [--seed N] [--force] [--scale N]`: the demo environment.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use cms_db::connection::{connect, Connection, Sql, Value};
use cms_db::migrate::migrator;
use cms_db::migrate::plan::EntryState;
use cms_db::seed::scale::{self, Anchors, ROWS_PER_SITE};
use cms_db::seed::{self, ids::IdSource, SeedOptions, SeedOutcome};
use cms_db::DatabaseUrl;

use crate::confirm::confirm;
use crate::format::ms;
use crate::project::Context;

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
    let mut conn = open_migrated(ctx, &url)?;
    seed_with_images_and_report(&mut conn, &options, &present_images(ctx))?;
    if let Some(n) = args.scale {
        scale_up(&mut conn, n, args.seed)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A connection to a database whose migrations are all applied; otherwise a clear error.
pub fn open_migrated(ctx: &Context, url: &DatabaseUrl) -> Result<Connection> {
    let set = ctx.migrations(None, url)?;
    let mut driver = cms_db::driver(url, true)?;
    let st = migrator::status(driver.as_mut(), &set)?;
    let pending =
        st.entries.iter().filter(|e| matches!(e.state, EntryState::Pending | EntryState::OutOfOrder { .. })).count();
    let problems = st.findings().iter().filter(|f| f.blocks_migrate(false)).count();
    if pending > 0 || problems > 0 {
        bail!(
            "{url} is not fully migrated ({pending} pending, {problems} problem(s)); run `cargo xtask migrate` first"
        );
    }
    drop(driver);
    Ok(connect(url)?)
}

/// Seeds and prints the summary (counts, ids, home page URL).
pub fn seed_and_report(conn: &mut dyn Sql, options: &SeedOptions) -> Result<()> {
    seed_with_images_and_report(conn, options, &[])
}

/// Seeds with the image files on disk recorded in the same transaction (see [`present_images`])
/// and prints the summary.
pub fn seed_with_images_and_report(
    conn: &mut dyn Sql,
    options: &SeedOptions,
    images: &[cms_db::seed::ImageFile],
) -> Result<()> {
    let started = Instant::now();
    match seed::seed_with_images(conn, options, images)? {
        SeedOutcome::AlreadySeeded { teams } => {
            out!(
                "already seeded ({teams} team(s)); nothing changed. Use `seed --force` or `reset-data` to start over."
            );
        }
        SeedOutcome::Seeded { ids, counts } => {
            out!(
                "seeded in {}{}",
                ms(started.elapsed()),
                options.seed.map(|n| format!(" (--seed {n})")).unwrap_or_default()
            );
            for (table, n) in counts {
                out!("  {table:<24} {n:>8}");
            }
            out!("  team id         {}", ids.team);
            out!("  site id         {}", ids.site);
            out!("  environment id  {}", ids.environment);
            if !images.is_empty() {
                out!("  images          {} file(s) in {} registered", images.len(), crate::seed_images::IMAGES_DIR);
            }
            out!("  home page       http://localhost:4000/pages/home?locale=en");
        }
    }
    Ok(())
}

/// The manifest's image files already in uploads/images (from an earlier seed-images), read
/// from disk: the seed records them as they are, in its own transaction, so the pages keep
/// pointing at real files and the rows are a function of `--seed N` and the files. Only a
/// warning when they cannot be read: the rows stay placeholders and `cargo xtask seed-images`
/// fixes them.
pub fn present_images(ctx: &Context) -> Vec<cms_db::seed::ImageFile> {
    let dir = ctx.root.join(crate::seed_images::IMAGES_DIR);
    let has_files = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().any(|e| !e.file_name().to_string_lossy().starts_with('.')))
        .unwrap_or(false);
    if !has_files {
        return Vec::new();
    }
    match crate::seed_images::present(ctx, None) {
        Ok(rows) => rows.iter().map(|r| r.seed_file()).collect(),
        Err(e) => {
            eprintln!("warning: could not read the files in {}: {e:#}; run `cargo xtask seed-images`", ctx.show(&dir));
            Vec::new()
        }
    }
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
