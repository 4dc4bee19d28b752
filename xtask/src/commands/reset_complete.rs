//! `cargo xtask reset-complete`: a brand-new development environment. Safety backup, wipe the
//! database (file, -wal, -shm; or the PostgreSQL schema), uploads/ and vector_index/, then
//! migrate and seed. Each step is printed with its duration.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use cms_db::connect;
use cms_db::connection::{Connection, Sql};
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::seed::SeedOptions;
use cms_db::DatabaseUrl;

use crate::backups as backup;
use crate::confirm::confirm;
use crate::files::{open_by_others, postgres_sessions, remove_file_if_present, suffixed};
use crate::format::ms;
use crate::images;
use crate::project::Context;
use crate::seeding::seed_and_report;

#[derive(clap::Args)]
pub struct Args {
    /// Confirm without asking
    #[arg(long, short)]
    yes: bool,
    /// Do not fetch the sample images
    #[arg(long)]
    no_images: bool,
    /// Fetch no images: generate placeholders (as CMS_IMAGES_OFFLINE=1 does)
    #[arg(long, conflicts_with = "no_images")]
    offline: bool,
    /// Do not take a safety backup of a database that holds data
    #[arg(long)]
    no_backup: bool,
    /// Allow a PostgreSQL database on another host
    #[arg(long)]
    allow_remote: bool,
    /// Make the seeded data a function of N
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let out = f().with_context(|| format!("{name} failed"))?;
    out!("  {name:<34} {:>9}", ms(started.elapsed()));
    Ok(out)
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    // A restore interrupted half-way is finished or undone first, so what the safety backup
    // below saves is one consistent state.
    crate::backups::restore::recover_interrupted(ctx, Duration::from_secs(60))?;
    let (url, source) = ctx.database_url()?;
    let started = Instant::now();
    if let DatabaseUrl::Postgres { url: raw } = &url {
        if !args.allow_remote && !cms_db::postgres::is_local(raw)? {
            bail!("{url} is not on this machine; reset-complete drops every table there. Pass --allow-remote if that is really what you want");
        }
    }
    // A fresh checkout has nothing to lose: no question then, so a newcomer's first command
    // just works.
    if !nothing_to_lose(&ctx.root, &url) {
        confirm(&format!("wipe {url}, uploads/ and vector_index/ and rebuild them?"), args.yes)?;
    }
    out!("reset-complete: {url} ({}, from {source})", url.dialect());

    match &url {
        DatabaseUrl::Sqlite { path } if url.sqlite_path().is_some() => {
            let users = step("check nobody has the database open", || open_by_others(path))?;
            if !users.is_empty() {
                bail!(
                    "{} is open in another process ({}); stop it first (deleting an open database silently loses its writes)",
                    path.display(),
                    users.join(", ")
                );
            }
            if !args.no_backup && sqlite_has_data(path)? {
                safety_backup(ctx)?;
            }
            step("remove database, -wal, -shm", || {
                for p in [path.clone(), suffixed(path, "-wal"), suffixed(path, "-shm")] {
                    remove_file_if_present(&p)?;
                }
                Ok(())
            })?;
        }
        DatabaseUrl::Sqlite { .. } => {}
        DatabaseUrl::Postgres { .. } => {
            let mut conn = connect(&url)?;
            let users = step("check nobody else is connected", || postgres_sessions(&mut conn))?;
            if !users.is_empty() {
                bail!(
                    "{url} has {} other connection(s) ({}); stop them first (the CMS server, a psql shell…): \
                     dropping the tables under them loses their work or leaves them waiting on locks",
                    users.len(),
                    users.join(", ")
                );
            }
            if !args.no_backup && postgres_has_data(&mut conn)? {
                safety_backup(ctx)?;
            }
            step("drop tables, types and drizzle schema", || drop_postgres(&mut conn))?;
        }
    }
    step("remove uploads/ and vector_index/", || {
        for dir in ["uploads", "vector_index"] {
            let p = ctx.root.join(dir);
            if p.exists() {
                fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        fs::create_dir_all(ctx.root.join("data"))?;
        fs::create_dir_all(ctx.root.join("uploads/images"))?;
        fs::create_dir_all(ctx.root.join("vector_index"))?;
        // The folders' placeholders are tracked in git; keep the checkout clean.
        for keep in ["uploads/.gitkeep", "vector_index/.gitkeep"] {
            fs::write(ctx.root.join(keep), "")?;
        }
        Ok(())
    })?;
    step("migrate", || {
        let set = ctx.migrations(None, &url)?;
        let mut driver = cms_db::driver(&url, false)?;
        let applied = migrator::migrate(
            driver.as_mut(),
            &set,
            &MigrateOptions { lock_timeout: Duration::from_secs(30), ..Default::default() },
            &mut |_| {},
        )?;
        Ok(applied.len())
    })?;
    let mut conn = connect(&url)?;
    let started_seed = Instant::now();
    seed_and_report(&mut conn, &SeedOptions { seed: args.seed, force: false })?;
    out!("  {:<34} {:>9}", "seed", ms(started_seed.elapsed()));
    if !args.no_images {
        let options = images::Options { offline: args.offline, quiet: true, seed: args.seed, ..Default::default() };
        let summary = step("images (seed-images)", || images::fetch_and_register(ctx, &options))?;
        out!("    {}", summary.line());
    }
    out!("done in {}", ms(started.elapsed()));
    Ok(ExitCode::SUCCESS)
}

/// True for SQLite when the database file does not exist and uploads/ and vector_index/ hold
/// nothing but their placeholders.
fn nothing_to_lose(root: &Path, url: &DatabaseUrl) -> bool {
    let Some(db) = url.sqlite_path() else { return false };
    let only_placeholders = |dir: &str| {
        fs::read_dir(root.join(dir)).map_or(true, |entries| {
            entries
                .flatten()
                .all(|e| e.file_name() == ".gitkeep" || (e.file_name() == "images" && is_empty_dir(&e.path())))
        })
    };
    !db.exists() && only_placeholders("uploads") && only_placeholders("vector_index")
}

fn is_empty_dir(p: &Path) -> bool {
    fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

fn sqlite_has_data(path: &Path) -> Result<bool> {
    let Some(conn) = cms_db::sqlite::open_read_only(path)? else { return Ok(false) };
    let mut conn = Connection::Sqlite(conn);
    Ok(cms_db::seed::counts(&mut conn)?.iter().any(|(_, n)| *n > 0))
}

fn postgres_has_data(conn: &mut dyn Sql) -> Result<bool> {
    Ok(cms_db::seed::counts(conn)?.iter().any(|(_, n)| *n > 0))
}

/// A backup archive labelled `pre-reset` (the backup command's own: consistent snapshot or
/// pg_dump, uploads, manifest), so `cargo xtask restore` can bring it all back.
fn safety_backup(ctx: &Context) -> Result<()> {
    let options =
        backup::CreateOptions { label: Some("pre-reset".into()), wait: Duration::from_secs(60), ..Default::default() };
    let created = step("safety backup", || {
        backup::create(ctx, &options).context("nothing was deleted; fix it or pass --no-backup")
    })?;
    out!("    saved to {} (cargo xtask restore {0} brings it back)", ctx.show(&created.path));
    Ok(())
}

/// Drops every application table and type and the drizzle schema in one transaction, giving up
/// rather than waiting forever on a lock someone else holds.
fn drop_postgres(conn: &mut dyn Sql) -> Result<()> {
    conn.batch(
        "BEGIN; SET LOCAL lock_timeout = '10s';
         DO $$ DECLARE r record; BEGIN
           FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
             EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', r.tablename);
           END LOOP;
           FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
                      AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid) LOOP
             EXECUTE format('DROP TYPE IF EXISTS public.%I CASCADE', r.typname);
           END LOOP;
         END $$;
         DROP SCHEMA IF EXISTS drizzle CASCADE;
         COMMIT;",
    )?;
    Ok(())
}
