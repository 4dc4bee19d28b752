//! `cargo xtask check [--no-pending] [--json]`: the CI gate. Exit 0 when everything agrees, 1
//! otherwise, each problem on stderr with what to do:
//!
//! - the database and the migrations folder (edited, missing, unlisted or out-of-order
//!   migrations; with `--no-pending`, anything pending);
//! - *schema drift*: the code schema (`cms_schema.rs`, or `--schema SRC`) and a migrations
//!   folder differ (a code change no migration carries, or a hand-written migration the code
//!   lacks), per dialect: the configured database's folder always, the other dialect's default
//!   folder when it can be replayed (SQLite always; PostgreSQL with a server);
//! - *database drift*: the live database differs from what its applied migrations create (a
//!   column added by hand, an index dropped in production): only the applied ones are
//!   replayed, so pending migrations are not drift.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use cms_db::migrate::journal::JournalProblem;
use cms_db::migrate::migrator::{migrate, MigrateOptions};
use cms_db::migrate::plan::{EntryState, Finding, Status};
use cms_db::postgres::PostgresDriver;
use cms_db::schema::diff::{diff, Change, Renames};
use cms_db::schema::introspect::{self, SchemaFilter};
use cms_db::schema::source::{ScratchDb, ScratchServer, Source};
use cms_db::schema::{Dialect, Schema};
use cms_db::sqlite::SqliteDriver;
use cms_db::{DatabaseUrl, MigrationSet};
use serde::Serialize;

use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Also fail when anything is pending (a deploy gate)
    #[arg(long)]
    no_pending: bool,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// Every finding as JSON on stdout (the exit code stays 0 or 1)
    #[arg(long)]
    json: bool,
    /// The schema the folders must build (default: schema, the code schema in cms_schema.rs)
    #[arg(long, value_name = "SRC", default_value = "schema")]
    schema: String,
    /// PostgreSQL server and a role with CREATEDB for scratch databases (default: DATABASE_URL
    /// when it is PostgreSQL; without one the PostgreSQL folder's schema drift is not checked)
    #[arg(long, value_name = "URL", env = "DEV_DATABASE_URL")]
    dev_url: Option<String>,
}

/// One thing that is wrong.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Problem {
    /// The database and the folder disagree (or the folder is malformed).
    Migrations { message: String },
    /// `--no-pending` and something is pending.
    Pending { tags: Vec<String>, message: String },
    /// The code schema and a migrations folder differ.
    SchemaDrift { dialect: Dialect, folder: String, changes: Vec<String>, message: String },
    /// The live database differs from what its applied migrations create.
    DatabaseDrift { database: String, differences: Vec<String>, message: String },
}

impl Problem {
    fn message(&self) -> &str {
        match self {
            Problem::Migrations { message }
            | Problem::Pending { message, .. }
            | Problem::SchemaDrift { message, .. }
            | Problem::DatabaseDrift { message, .. } => message,
        }
    }

    fn details(&self) -> &[String] {
        match self {
            Problem::SchemaDrift { changes, .. } => changes,
            Problem::DatabaseDrift { differences, .. } => differences,
            _ => &[],
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, set, st) = ctx.migration_status(args.migrations.as_deref())?;
    let dialect = url.dialect();
    let mut problems: Vec<Problem> =
        st.findings().iter().map(|f| Problem::Migrations { message: f.to_string() }).collect();
    let pending: Vec<String> =
        st.entries.iter().filter(|e| e.state == EntryState::Pending).map(|e| e.tag.clone()).collect();
    if args.no_pending && !pending.is_empty() {
        let message =
            format!("{} migration(s) pending: {} (run `cargo xtask migrate`)", pending.len(), pending.join(", "));
        problems.push(Problem::Pending { tags: pending.clone(), message });
    }
    let mut notes = Vec::new();
    let mut checked = Vec::new();

    let desired = crate::schema_plan::source(ctx, &args.schema).context("--schema")?;
    let scratch = crate::schema_plan::scratch_server(ctx, args.dev_url.as_deref(), &[]);

    // Schema drift: the configured database's folder, then the other dialect's default one
    // (only against the code schema: `--schema sql:FILE` is SQL of one dialect).
    let mut folders: Vec<(Dialect, PathBuf)> = vec![(dialect, set.dir.clone())];
    let other = match dialect {
        Dialect::Sqlite => Dialect::Postgres,
        Dialect::Postgres => Dialect::Sqlite,
    };
    let other_dir = ctx.root.join(other.default_folder());
    if args.migrations.is_none() && other_dir.is_dir() && matches!(desired, Source::Schema) {
        folders.push((other, other_dir));
    }
    let mut own_folder_schema = None;
    for (d, dir) in folders {
        if d == Dialect::Postgres && scratch.postgres_url.is_none() {
            notes.push(format!(
                "{} was not compared with {}: no PostgreSQL server for scratch databases (pass --dev-url URL or set DEV_DATABASE_URL)",
                ctx.show(&dir),
                label(&desired)
            ));
            continue;
        }
        let folder_set = if dir == set.dir { set.clone() } else { MigrationSet::load(&dir)? };
        if let Some(p) = blocking_problem(&folder_set) {
            notes.push(format!(
                "{} was not compared with {}: fix its problems first ({p})",
                ctx.show(&dir),
                label(&desired)
            ));
            continue;
        }
        let folder = Source::Migrations(dir.clone());
        let (built, wanted) =
            crate::schema_plan::in_parallel(|| folder.load(d, &scratch), || desired.load(d, &scratch));
        let built = built.with_context(|| format!("replaying {} to compare it with {desired}", ctx.show(&dir)))?;
        let wanted = wanted.with_context(|| format!("reading {desired} ({d})"))?;
        let changes = diff(&built, &wanted, &Renames::none_are_renames())?;
        if !changes.is_empty() {
            problems.push(schema_drift(ctx, d, &dir, &desired, &changes));
        }
        checked.push(format!("{} builds {}", ctx.show(&dir), label(&desired)));
        if dir == set.dir {
            own_folder_schema = Some(built);
        }
    }

    // Database drift: the live database against its applied migrations replayed.
    match database_drift(ctx, &url, &set, &st, own_folder_schema, &scratch)? {
        Drift::Same => checked.push(format!("{url} has no drift")),
        Drift::Differs(p) => problems.push(p),
        Drift::NotChecked(why) => notes.push(format!("database drift not checked: {why}")),
    }

    if args.json {
        let out = serde_json::json!({
            "ok": problems.is_empty(),
            "database": url.redacted(),
            "dialect": dialect,
            "migrations_dir": set.dir,
            "applied": st.count("applied"),
            "pending": pending.len(),
            "findings": problems,
            "checked": checked,
            "notes": notes,
        });
        out!("{}", serde_json::to_string_pretty(&out)?);
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    if problems.is_empty() {
        if !args.json {
            out!(
                "ok: {} ({}) and {} agree: {} applied, {} pending; {}",
                url,
                dialect,
                ctx.show(&set.dir),
                st.count("applied"),
                pending.len(),
                checked.join("; ")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("check failed: {} problem(s) ({url}, {}):", problems.len(), ctx.show(&set.dir));
    for p in &problems {
        eprintln!("  - {}", p.message());
        for d in p.details() {
            eprintln!("      {d}");
        }
    }
    Ok(ExitCode::FAILURE)
}

/// A folder problem that keeps it from being replayed (files the journal does not list never
/// run, so they do not).
fn blocking_problem(set: &MigrationSet) -> Option<String> {
    set.problems.iter().find(|p| !matches!(p, JournalProblem::UnlistedFile { .. })).map(ToString::to_string)
}

/// What the folders are compared with, in words.
fn label(desired: &Source) -> String {
    match desired {
        Source::Schema => "the code schema (server/db/src/cms_schema.rs)".to_string(),
        other => other.to_string(),
    }
}

fn schema_drift(ctx: &Context, d: Dialect, dir: &Path, desired: &Source, changes: &[Change]) -> Problem {
    let what = label(desired);
    let to_do = match desired {
        Source::Schema => {
            "run `cargo xtask generate` to write the migration that does (or change cms_schema.rs to match the folder)"
                .to_string()
        }
        other => format!("run `cargo xtask generate --to {other}` to write the migration that does"),
    };
    Problem::SchemaDrift {
        dialect: d,
        folder: ctx.show(dir),
        changes: changes.iter().map(ToString::to_string).collect(),
        message: format!(
            "schema drift ({d}): {} does not build {what}; {to_do}. What a migration would have to do:",
            ctx.show(dir)
        ),
    }
}

enum Drift {
    Same,
    Differs(Problem),
    NotChecked(String),
}

fn database_drift(
    ctx: &Context,
    url: &DatabaseUrl,
    set: &MigrationSet,
    st: &Status,
    folder_schema: Option<Schema>,
    scratch: &ScratchServer,
) -> Result<Drift> {
    if let Some(path) = url.sqlite_path().filter(|p| !p.exists()) {
        return Ok(Drift::NotChecked(format!("{} does not exist yet", ctx.show(path))));
    }
    let unsure = st.findings().into_iter().find(|f| {
        matches!(f, Finding::Modified { .. } | Finding::AppliedFileMissing { .. } | Finding::Orphan(_))
            || matches!(f, Finding::Journal(p) if !matches!(p, JournalProblem::UnlistedFile { .. }))
    });
    if let Some(f) = unsure {
        return Ok(Drift::NotChecked(format!(
            "what the applied migrations create is unknown until this is fixed: {f}"
        )));
    }
    let applied: Vec<bool> = st.entries.iter().map(|e| matches!(e.state, EntryState::Applied { .. })).collect();
    let dialect = url.dialect();
    let expected = match folder_schema {
        // Everything applied: the folder's replay is what the applied migrations create.
        Some(schema) if applied.iter().all(|a| *a) => schema,
        _ => {
            let mut subset = set.clone();
            subset.problems.clear();
            subset.migrations =
                set.migrations.iter().zip(&applied).filter(|(_, a)| **a).map(|(m, _)| m.clone()).collect();
            replay(&subset, scratch).context("replaying the applied migrations to compare them with the database")?
        }
    };
    let live = Source::Live(url_text(url)).load(dialect, scratch).with_context(|| format!("reading {url}"))?;
    let changes = diff(&expected, &live, &Renames::none_are_renames())?;
    if changes.is_empty() {
        return Ok(Drift::Same);
    }
    let n = applied.iter().filter(|a| **a).count();
    Ok(Drift::Differs(Problem::DatabaseDrift {
        database: url.redacted(),
        differences: changes.iter().map(drift_line).collect(),
        message: format!(
            "database drift: {url} differs from what its {n} applied migration(s) create (changed by hand, outside the migrations?): undo the change on the database, or put it into cms_schema.rs and run `cargo xtask generate` then `cargo xtask migrate`. The differences:"
        ),
    }))
}

/// The URL as a schema source spells it (SQLite paths are already absolute).
fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite { path } => format!("file:{}", path.display()),
        DatabaseUrl::Postgres { url } => url.clone(),
    }
}

/// A difference from what the migrations create (`from`) to the live database, in words.
fn drift_line(c: &Change) -> String {
    match c {
        Change::CreateTable { table } => {
            format!("table {} exists in the database but no migration creates it", table.name)
        }
        Change::DropTable { table } => format!("table {} is missing from the database", table.name),
        Change::AddColumn { table, column } => {
            format!("column {table}.{} exists in the database but no migration creates it", column.name)
        }
        Change::DropColumn { table, column } => format!("column {table}.{} is missing from the database", column.name),
        Change::CreateIndex { table, index } => {
            format!("index {} on {table} exists in the database but no migration creates it", index.name)
        }
        Change::DropIndex { table, index } => format!("index {} on {table} is missing from the database", index.name),
        other => format!("the database differs: {other}"),
    }
}

/// A migrations set (e.g. only its applied entries) replayed by our migrator into a scratch
/// database and read back.
pub fn replay(set: &MigrationSet, scratch: &ScratchServer) -> Result<Schema> {
    let options = MigrateOptions::default();
    match ScratchDb::create(set.dialect, scratch, "replaying the applied migrations")? {
        ScratchDb::Sqlite(conn) => {
            let mut driver = SqliteDriver::new(conn, None);
            migrate(&mut driver, set, &options, &mut |_| {})?;
            let conn = driver.connection().context("the scratch driver keeps its connection")?;
            Ok(introspect::sqlite(conn)?)
        }
        ScratchDb::Postgres(mut pg) => {
            let mut driver = PostgresDriver::connect(pg.url())?;
            migrate(&mut driver, set, &options, &mut |_| {})?;
            drop(driver);
            Ok(introspect::postgres(pg.client(), SchemaFilter::All)?)
        }
    }
}
