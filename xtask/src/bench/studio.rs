//! `cargo xtask bench studio [--sites N] [--runs N] [--postgres-url URL]`: the studio's
//! response times on a database seeded with `seed --scale`, over real HTTP on 127.0.0.1:
//! the table list (right after start, after a change, and again with nothing changed), page
//! 1 of the largest table, a page beyond its row 900,000 (a keyset page, reached by the
//! cursor of that row), and filtered pages. Figures, not pass/fail; the goal is 50 ms for each (release build).
//!
//! The database is built in a temporary project by this binary's own `migrate` and `seed
//! --seed 1 --scale N`; with `--postgres-url` also on a scratch database created on that
//! server (and dropped after).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use cms_db::connect;
use cms_db::connection::{Sql, Value};
use cms_db::schema::source::PgScratch;
use cms_db::DatabaseUrl;

use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Sites `seed --scale` generates (each adds 80 rows to page_section_contents, the largest
    /// table: 12,500 make it 1,000,000 rows, 1.79 million in all)
    #[arg(long, default_value_t = 12_500, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    sites: usize,
    /// Timed requests of each kind (the median and the slowest are shown)
    #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000))]
    runs: usize,
    /// Also measure PostgreSQL: a server and a role that may create databases (a scratch
    /// database is created there and dropped afterwards)
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    out!("| studio ({profile} build), {} sites | request | median | slowest | goal |", args.sites);
    out!("|---|---|---|---|---|");
    let tmp = tempfile::tempdir().context("creating a temporary project")?;
    std::os::unix::fs::symlink(ctx.root.join("migrations"), tmp.path().join("migrations"))
        .context("linking the migrations folder")?;
    let sqlite = DatabaseUrl::Sqlite { path: tmp.path().join("data/sqlite.db") };
    measure(tmp.path(), &sqlite, &args)?;
    if let Some(server) = &args.postgres_url {
        let scratch = PgScratch::create(server).map_err(|e| anyhow::anyhow!("{e}"))?;
        let url = DatabaseUrl::parse(scratch.url())?;
        measure(tmp.path(), &url, &args)?;
        drop(scratch);
    }
    Ok(ExitCode::SUCCESS)
}

/// Seeds the database at `url`, starts a studio on it and times the requests.
fn measure(root: &Path, url: &DatabaseUrl, args: &Args) -> Result<()> {
    let dialect = url.dialect();
    let raw_url = match url {
        DatabaseUrl::Sqlite { path } => format!("file:{}", path.display()),
        DatabaseUrl::Postgres { url } => url.clone(),
    };
    let exe = std::env::current_exe().context("finding this binary")?;
    let sh = xshell::Shell::new()?;
    let sites = args.sites.to_string();
    let seeded = Instant::now();
    for step in [vec!["migrate", "-q"], vec!["seed", "--seed", "1", "--scale", &sites]] {
        let what = step.join(" ");
        xshell::cmd!(sh, "{exe} {step...}")
            .env("CMS_PROJECT_ROOT", root)
            .env("DATABASE_URL", &raw_url)
            .env("CMS_IMAGES_OFFLINE", "1")
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("xtask {what}"))?;
    }
    eprintln!("{dialect}: seeded in {:.1} s", seeded.elapsed().as_secs_f64());
    if dialect == cms_db::Dialect::Postgres {
        // As autovacuum does shortly after a bulk load: the planner's statistics.
        connect(url)?.batch("ANALYZE")?;
    }

    // What to ask for, found before the studio opens the database (and the connection closed
    // again: see `db::check_database` on SQLite's locks).
    let (largest, rows, deep_key, parent_id) = {
        let mut conn = connect(url)?;
        let mut best = (String::new(), 0i64);
        for table in ["sites", "environments", "pages", "page_sections", "page_section_contents", "posts"] {
            let n = conn.query(&format!("SELECT count(*) FROM {table}"), &[])?[0][0].int().unwrap_or(0);
            if n > best.1 {
                best = (table.to_string(), n);
            }
        }
        ensure!(
            best.1 > 900_000,
            "the largest table ({}) has {} rows; raise --sites to pass row 900,000",
            best.0,
            best.1
        );
        let deep = conn.query(&format!("SELECT id FROM {} ORDER BY id LIMIT 1 OFFSET 900000", best.0), &[])?;
        let deep_key = deep.into_iter().next().and_then(|r| r.into_iter().next()).context("row 900,001")?;
        let parent = conn.query("SELECT id FROM page_sections ORDER BY id LIMIT 1 OFFSET 250000", &[])?;
        let parent_id = parent.into_iter().next().and_then(|r| r.into_iter().next()).context("a page section")?;
        (best.0, best.1, deep_key, parent_id)
    };
    let studio =
        crate::studio::spawn(url.clone(), crate::studio::Options { port: 0, ..crate::studio::Options::default() })?;
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(120))
        .build()?;
    let (base, token) = studio.url.split_once("/?token=").context("the studio's URL")?;
    let port = base.rsplit(':').next().unwrap_or_default();
    let cookie = format!("studio_{port}={token}");
    let get = |path: &str| -> Result<(Duration, String)> {
        let started = Instant::now();
        let r = client.get(format!("{base}{path}")).header("Cookie", &cookie).send()?;
        let status = r.status();
        let body = r.text()?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("{path}: {status}: {}", body.chars().take(400).collect::<String>());
        }
        Ok((took, body))
    };
    let json = |v: &Value| crate::studio::query::values_to_json(std::slice::from_ref(v));
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let label = format!("{dialect}, {} rows in {largest}", crate::studio::relations::group(rows as u64));

    let (first, _) = get("/")?;
    out!("| {label} | table list, right after start (counting began at start) | {} | | < 50 ms |", fine(first));
    // A change (through the console, committed) makes the next table list count again.
    let console = get("/console")?.1;
    let at = console.find("name=\"csrf\" value=\"").context("the console's CSRF field")? + 19;
    let csrf = console[at..at + console[at..].find('"').unwrap_or(0)].to_string();
    let touch = "UPDATE site_settings SET updated_at = updated_at + 1 WHERE key = (SELECT min(key) FROM site_settings)";
    let mut recounts = Vec::new();
    for _ in 0..args.runs.div_ceil(4) {
        let r = client
            .post(format!("{base}/console"))
            .header("Cookie", &cookie)
            .header("Origin", base)
            .form(&[("sql", touch), ("csrf", &csrf)])
            .send()?;
        ensure!(r.status().is_success(), "the console refused the change: {}", r.status());
        recounts.push(get("/")?.0);
    }
    recounts.sort();
    out!(
        "| {label} | table list after a change (SQLite counts every table again) | {} | {} | < 50 ms |",
        fine(recounts[recounts.len() / 2]),
        fine(*recounts.last().unwrap_or(&Duration::ZERO))
    );
    let requests: Vec<(String, String)> = vec![
        ("table list, nothing changed since it was last shown".into(), "/".into()),
        (format!("{largest}: page 1"), format!("/t/{largest}")),
        (format!("{largest}: the page after row 900,000"), format!("/t/{largest}?after={}", enc(&json(&deep_key)))),
        (
            format!("{largest}: filtered, page_section_id = one section"),
            format!(
                "/t/{largest}?fc=page_section_id&fo=eq&fv={}",
                enc(&crate::studio::pages::value_text(&parent_id, crate::studio::catalog::TypeClass::Text)
                    .unwrap_or_default())
            ),
        ),
        (
            format!("{largest}: filtered, locale_code = de (half the rows)"),
            format!("/t/{largest}?fc=locale_code&fo=eq&fv=de"),
        ),
        (
            format!("{largest}: filtered, locale_code = de, after row 900,000"),
            format!("/t/{largest}?fc=locale_code&fo=eq&fv=de&after={}", enc(&json(&deep_key))),
        ),
    ];
    for (what, path) in &requests {
        let mut times = Vec::with_capacity(args.runs);
        let (_, body) = get(path)?; // warm-up, and a check of what comes back
        ensure!(body.contains("id=\"grid\"") || body.contains("id=\"tables\""), "{path} is no grid: {body:.300}");
        for _ in 0..args.runs {
            times.push(get(path)?.0);
        }
        times.sort();
        out!(
            "| {label} | {what} | {} | {} | < 50 ms |",
            fine(times[times.len() / 2]),
            fine(*times.last().unwrap_or(&Duration::ZERO))
        );
    }
    studio.stop()
}

/// A duration in milliseconds with two decimals (a warm request takes a fraction of one).
fn fine(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
