//! `cargo xtask rollback [--steps N | --to TAG] [--dry-run] [--yes] [--accept-data-loss]
//! [--from-backup] [--migrations DIR]`: undoes the newest applied migrations, newest first.
//!
//! Each one is undone by its `<tag>.down.sql` when there is one, otherwise by the engine's
//! diff from the schema after it to the schema the folder gives before it (renames as its own
//! statements say, run backwards). Before anything is changed: the database must have no drift
//! (its schema is what a replay of its applied migrations gives), every step is run on that
//! replay (one scratch database) and must give back exactly the schema before its migration,
//! and what the steps would delete or fail on is measured on the live database (data loss
//! needs `--accept-data-loss`). Each step then runs in one transaction with the deletion of its
//! migration's bookkeeping row (SQLite: foreign keys off around it and `PRAGMA
//! foreign_key_check` before the commit, as the migrator runs a file), so `status` shows the
//! migration pending again. `--from-backup` restores the `pre-migrate` backup taken before the
//! oldest migration undone, through the restore command (verified, atomic, safety backup).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use cms_db::connection::{Connection, Sql, TxMode, Value};
use cms_db::migrate::journal::printable;
use cms_db::migrate::migrator;
use cms_db::migrate::plan::{EntryState, Status};
use cms_db::migrate::statements::{
    is_foreign_keys_pragma, leaves_transaction_open, run_mode, split, RunMode, Statement,
};
use cms_db::schema::diff::{self, Renames};
use cms_db::schema::preflight::{self, Mode, Step};
use cms_db::schema::sql::{self, to_migration_text};
use cms_db::schema::Dialect;
use cms_db::{DatabaseUrl, MigrationSet};

use crate::backups::restore::{restore, RestoreOptions};
use crate::backups::retention::PRE_MIGRATE_LABEL;
use crate::backups::{archive, archives, with_lock_exit_code};
use crate::confirm::confirm;
use crate::format::ms;
use crate::migration_analysis::{finding_line, Live, Replay};
use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// How many of the newest applied migrations to undo
    #[arg(long, value_name = "N", conflicts_with = "to", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    steps: Option<u32>,
    /// Undo every migration applied after TAG (TAG itself stays applied)
    #[arg(long, value_name = "TAG")]
    to: Option<String>,
    /// Print what would be undone and how (the SQL, what it deletes) and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Do it without asking (required without a terminal)
    #[arg(long, short)]
    yes: bool,
    /// Undo even when that deletes data (a column or table added by the migration that holds rows)
    #[arg(long)]
    accept_data_loss: bool,
    /// Restore the pre-migrate backup taken before the oldest migration undone instead
    #[arg(long)]
    from_backup: bool,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// Backups folder for --from-backup (relative paths resolve against the project root)
    #[arg(long, value_name = "DIR", default_value = "backups")]
    dir: PathBuf,
    /// PostgreSQL server (and a role with CREATEDB) for the scratch database
    #[arg(long, value_name = "URL")]
    dev_url: Option<String>,
    /// Seconds to wait for a migrate (or backup) running on the same database
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    lock_timeout: u64,
}

/// How one migration is undone.
struct Down {
    /// Journal index of the migration.
    index: usize,
    tag: String,
    /// `<tag>.down.sql`, or the engine's computed change.
    source: DownSource,
    /// The text that runs (the file's, or the rendered statements').
    text: String,
    /// The same as planned statements (for the scratch run).
    statements: Vec<sql::Statement>,
    /// The engine's changes, in words.
    changes: Vec<String>,
}

enum DownSource {
    File(PathBuf),
    Computed,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, _) = ctx.database_url()?;
    let set = ctx.migrations(args.migrations.as_deref(), &url)?;
    out!("database   {url} ({})", url.dialect());
    let st = migrator::status(cms_db::driver(&url, true)?.as_mut(), &set)?;
    let blocking: Vec<String> =
        st.findings().into_iter().filter(|f| f.blocks_migrate(false)).map(|f| format!("  - {f}")).collect();
    if !blocking.is_empty() {
        bail!(
            "rollback refused: the database and the migrations folder disagree; nothing was changed:\n{}",
            blocking.join("\n")
        );
    }
    let applied = applied_indexes(&st);
    if applied.is_empty() {
        bail!("nothing to roll back: no migration of {} is applied", ctx.show(&set.dir));
    }
    let undo = match (&args.to, args.steps) {
        (Some(tag), _) => {
            let Some(pos) = applied.iter().position(|&i| set.migrations[i].tag == *tag) else {
                bail!(
                    "rollback refused: --to {}: it is not an applied migration; the applied ones are {}",
                    printable(tag),
                    applied.iter().map(|&i| set.migrations[i].tag.as_str()).collect::<Vec<_>>().join(", ")
                );
            };
            if pos + 1 == applied.len() {
                bail!("nothing to roll back: {} is the newest applied migration", printable(tag));
            }
            applied.len() - pos - 1
        }
        (None, steps) => {
            let n = steps.unwrap_or(1) as usize;
            if n > applied.len() {
                bail!("rollback refused: --steps {n}, but only {} migration(s) are applied", applied.len());
            }
            n
        }
    };
    let keep = applied.len() - undo;
    // Newest first.
    let undone: Vec<usize> = applied[keep..].iter().rev().copied().collect();
    out!(
        "rollback   {} migration(s), newest first: {}",
        undone.len(),
        undone.iter().map(|&i| set.migrations[i].tag.as_str()).collect::<Vec<_>>().join(", ")
    );
    if args.from_backup {
        return from_backup(ctx, &args, &url, &set, &applied[..keep], &undone);
    }
    undo_schema(ctx, &args, &url, &set, &applied, keep, &undone)
}

fn applied_indexes(st: &Status) -> Vec<usize> {
    st.entries
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.state, EntryState::Applied { .. }))
        .map(|(i, _)| i)
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn undo_schema(
    ctx: &Context,
    args: &Args,
    url: &DatabaseUrl,
    set: &MigrationSet,
    applied: &[usize],
    keep: usize,
    undone: &[usize],
) -> Result<ExitCode> {
    let d = set.dialect;
    // A migration that manages its own transactions may do anything the schema does not show.
    for &i in undone {
        let m = &set.migrations[i];
        let down = down_path(set, &m.tag);
        let file = m.file.as_ref().context("an applied migration has its file")?;
        if let (false, RunMode::SelfManaged { reason, .. }) = (down.is_file(), run_mode(d, &split(d, &file.sql))) {
            bail!(
                "rollback refused: migration {} runs without our transaction ({reason}), so what it did cannot be known from the schema alone; write {} to undo it; nothing was changed",
                m.tag,
                ctx.show(&down)
            );
        }
    }
    let started = Instant::now();
    let server = crate::schema_plan::scratch_server(ctx, args.dev_url.as_deref(), &[]);
    let mut live = Live::open(url)?;
    // One scratch database: the applied migrations replayed, read back at the target and after
    // each migration undone.
    let mut replay = Replay::new(d, &server)?;
    for &i in &applied[..keep] {
        replay.apply(set, &set.migrations[i])?;
    }
    let mut schemas = vec![replay.introspect()?];
    for &i in &applied[keep..] {
        replay.apply(set, &set.migrations[i])?;
        schemas.push(replay.introspect()?);
    }
    let drift =
        diff::diff(schemas.last().expect("the replay's last state"), &live.schema, &Renames::none_are_renames())?;
    if !drift.is_empty() {
        bail!(
            "rollback refused: the database has drift: its schema is not what its applied migrations give, so undoing them could drop what they do not know of; nothing was changed:\n{}\n(`cargo xtask diff --from migrations:{} --to <database>` shows it); fix the drift first, or use --from-backup",
            drift.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"),
            ctx.show(&set.dir)
        );
    }

    // Each migration's way back, from the schema after it to the schema before it.
    let mut downs = Vec::with_capacity(undone.len());
    for (j, &i) in undone.iter().enumerate() {
        let m = &set.migrations[i];
        let before = &schemas[schemas.len() - 1 - j];
        let after = &schemas[schemas.len() - 2 - j];
        let forward = m.file.as_ref().map_or("", |f| f.sql.as_str());
        let path = down_path(set, &m.tag);
        let down = if path.is_file() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", ctx.show(&path)))?;
            let changes = preflight::changes_for(before, after, &text, false)?;
            let statements = split(d, &text).into_iter().map(|s| sql::Statement::new(s.sql)).collect();
            Down {
                index: i,
                tag: m.tag.clone(),
                source: DownSource::File(path),
                text,
                statements,
                changes: changes.iter().map(ToString::to_string).collect(),
            }
        } else {
            let changes = preflight::changes_for(before, after, forward, true)?;
            let statements = sql::render(d, &changes, before, after);
            Down {
                index: i,
                tag: m.tag.clone(),
                source: DownSource::Computed,
                text: to_migration_text(&statements),
                statements,
                changes: changes.iter().map(ToString::to_string).collect(),
            }
        };
        downs.push(down);
    }

    // Verified like every plan: each step run on the replay must give back the schema before
    // its migration.
    for (j, down) in downs.iter().enumerate() {
        let expected = &schemas[schemas.len() - 2 - j];
        replay.apply_statements(&format!("{}_rollback", 900_000 + j), &down.statements).map_err(|e| {
            anyhow!("rollback refused: undoing {} ({}) fails on a scratch copy of the database's schema: {}; nothing was changed", down.tag, down.how(ctx), cms_db::error::with_causes(&e))
        })?;
        let left = diff::diff(&replay.introspect()?, expected, &Renames::none_are_renames())?;
        if !left.is_empty() {
            bail!(
                "rollback refused: {} does not give back the schema before {} (left over after it on a scratch copy:\n{}\n); fix it; nothing was changed",
                down.how(ctx),
                down.tag,
                left.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n")
            );
        }
    }
    let _scratch_dropped = replay.drop_in_background();

    // What it would delete, or fail on, measured on the live database.
    let names: Vec<String> = downs.iter().map(|dn| format!("undo {}", dn.tag)).collect();
    let steps: Vec<Step<'_>> = downs
        .iter()
        .enumerate()
        .map(|(j, dn)| {
            let forward = set.migrations[dn.index].file.as_ref().map_or("", |f| f.sql.as_str());
            let (rename_text, reverse) = match dn.source {
                DownSource::File(_) => (dn.text.as_str(), false),
                DownSource::Computed => (forward, true),
            };
            Step {
                name: &names[j],
                before: &schemas[schemas.len() - 1 - j],
                after: &schemas[schemas.len() - 2 - j],
                sql: &dn.text,
                rename_text,
                reverse,
            }
        })
        .collect();
    let plan = preflight::plan(d, Mode::Live(&live.schema), &steps)?;
    let outcomes = live.measure(&plan.probes)?;
    live.close();
    let report = preflight::report(&plan, &outcomes);

    for dn in &downs {
        out!("  {} with {}", dn.tag, dn.how(ctx));
        for c in &dn.changes {
            out!("    change   {c}");
        }
    }
    let errors = report.errors();
    if !errors.is_empty() {
        bail!(
            "rollback refused: undoing would fail because of the data; nothing was changed:\n{}",
            errors.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
        );
    }
    let loss = report.data_loss();
    for f in &loss {
        eprintln!("warning: {}", finding_line(f).replace("\n             fix:", "\n  fix:"));
    }
    if args.dry_run {
        for dn in &downs {
            out!("\n-- undo {} ({})", dn.tag, dn.how(ctx));
            out!("{}", dn.text.trim_end());
        }
        out!(
            "\ndry run: {} migration(s) would be rolled back; nothing was changed (checked in {})",
            downs.len(),
            ms(started.elapsed())
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !loss.is_empty() && !args.accept_data_loss {
        bail!(
            "rollback refused: it deletes data; nothing was changed:\n{}\npass --accept-data-loss to delete it (take a backup first: `cargo xtask backup`), or use --from-backup to go back to the pre-migrate backup",
            loss.iter().map(|f| format!("  {}: {}", f.migration, f.message)).collect::<Vec<_>>().join("\n")
        );
    }
    confirm(
        &format!(
            "roll back {} migration(s) ({}) on {url}{}?",
            downs.len(),
            downs.iter().map(|dn| dn.tag.as_str()).collect::<Vec<_>>().join(", "),
            if loss.is_empty() { "" } else { ", deleting the data listed above" }
        ),
        args.yes,
    )?;
    execute(url, set, applied, &downs, Duration::from_secs(args.lock_timeout))?;
    out!(
        "rolled back {} migration(s) in {}; `cargo xtask status` shows them pending, `cargo xtask migrate` applies them again",
        downs.len(),
        ms(started.elapsed())
    );
    Ok(ExitCode::SUCCESS)
}

impl Down {
    fn how(&self, ctx: &Context) -> String {
        match &self.source {
            DownSource::File(p) => ctx.show(p),
            DownSource::Computed => "the engine's computed change (verified)".into(),
        }
    }
}

fn down_path(set: &MigrationSet, tag: &str) -> PathBuf {
    set.dir.join(format!("{tag}.down.sql"))
}

/// Runs the steps on the live database under the migrate lock, each in one transaction with
/// the deletion of its migration's bookkeeping row. The runner is this module's, not the
/// migrator driver's `apply` (which always writes a bookkeeping row, where a rollback deletes
/// one); it runs a file the way the driver does (split and run mode from the migrator's
/// statements module; SQLite foreign keys off around the transaction and `PRAGMA
/// foreign_key_check` before the commit; self-managed files statement by statement), and the
/// same text went through the driver on the scratch replay first.
fn execute(
    url: &DatabaseUrl,
    set: &MigrationSet,
    applied: &[usize],
    downs: &[Down],
    lock_timeout: Duration,
) -> Result<()> {
    let mut lock_driver = cms_db::driver(url, false)?;
    let _lock = lock_driver.lock(lock_timeout)?;
    drop(lock_driver);
    let mut conn = cms_db::connect(url)?;
    // Under the lock: nobody migrated or rolled back meanwhile.
    let now = Status::compute(set, &cms_db::migrate::migrator::applied_rows(&mut conn)?);
    if applied_indexes(&now) != applied {
        bail!("another migrate or rollback changed this database meanwhile; nothing was changed; run rollback again");
    }
    for dn in downs {
        let t = Instant::now();
        let m = &set.migrations[dn.index];
        let file = m.file.as_ref().context("an applied migration has its file")?;
        let row = bookkeeping_row(&mut conn, &file.hash, m.when)?;
        match &mut conn {
            Connection::Sqlite(c) => sqlite_step(c, &dn.tag, &dn.text, Some(row)),
            pg => pg_step(pg, &dn.text, Some(row)),
        }
        .with_context(|| format!("rolling back {}", dn.tag))?;
        out!("  rolled back {:<36} {:>9}", dn.tag, ms(t.elapsed()));
    }
    Ok(())
}

/// The key (SQLite rowid, PostgreSQL id) of the bookkeeping row that records the migration
/// with this file hash and `when` (the one written for it, else the newest with its hash).
fn bookkeeping_row(conn: &mut Connection, hash: &str, when: i64) -> Result<i64> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT rowid, hash, CAST(created_at AS integer) FROM \"__drizzle_migrations\" ORDER BY rowid"
        }
        Dialect::Postgres => {
            "SELECT id, hash, CAST(created_at AS bigint) FROM \"drizzle\".\"__drizzle_migrations\" ORDER BY id"
        }
    };
    let rows: Vec<(i64, String, Option<i64>)> = conn
        .query(sql, &[])?
        .into_iter()
        .filter_map(|r| Some((r.first()?.int()?, r.get(1)?.text()?.to_string(), r.get(2).and_then(Value::int))))
        .collect();
    rows.iter()
        .rev()
        .find(|(_, h, w)| h == hash && *w == Some(when))
        .or_else(|| rows.iter().rev().find(|(_, h, _)| h == hash))
        .map(|(k, _, _)| *k)
        .ok_or_else(|| anyhow!("its bookkeeping row is gone (another rollback?)"))
}

fn statement_error(st: &Statement, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("statement {} (line {}) failed: {e}\n  {}", st.number, st.line, st.sql)
}

fn sqlite_step(c: &rusqlite::Connection, tag: &str, text: &str, rowid: Option<i64>) -> Result<()> {
    let statements = split(Dialect::Sqlite, text);
    let delete = |c: &rusqlite::Connection| -> Result<()> {
        if let Some(rowid) = rowid {
            c.execute("DELETE FROM \"__drizzle_migrations\" WHERE rowid = ?1", [rowid])
                .context("deleting the bookkeeping row")?;
        }
        Ok(())
    };
    match run_mode(Dialect::Sqlite, &statements) {
        mode @ (RunMode::Transaction | RunMode::TransactionForeignKeysOff) => {
            let fk_off = mode == RunMode::TransactionForeignKeysOff;
            if fk_off {
                // A no-op inside a transaction: switched off before it begins.
                c.pragma_update(None, "foreign_keys", "OFF")?;
            }
            let result = (|| -> Result<()> {
                c.execute_batch("BEGIN IMMEDIATE")?;
                for st in &statements {
                    if fk_off && is_foreign_keys_pragma(&st.sql) {
                        continue;
                    }
                    c.execute_batch(&st.sql).map_err(|e| statement_error(st, e))?;
                }
                if fk_off {
                    foreign_key_check(c, tag)?;
                }
                delete(c)?;
                c.execute_batch("COMMIT")?;
                Ok(())
            })();
            if result.is_err() && !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK");
            }
            if fk_off {
                c.pragma_update(None, "foreign_keys", "ON")?;
            }
            result.context("it was rolled back: the database is as it was before this step")
        }
        RunMode::SelfManaged { opens_inside_transaction, .. } => {
            let result = (|| -> Result<()> {
                if opens_inside_transaction {
                    c.execute_batch("BEGIN")?;
                }
                for st in &statements {
                    c.execute_batch(&st.sql).map_err(|e| statement_error(st, e))?;
                }
                foreign_key_check(c, tag)?;
                delete(c)?;
                if !c.is_autocommit() {
                    c.execute_batch("COMMIT")?;
                }
                Ok(())
            })();
            if result.is_err() && !c.is_autocommit() {
                let _ = c.execute_batch("ROLLBACK");
            }
            c.pragma_update(None, "foreign_keys", "ON")?;
            result.context("the down file manages its own transactions: what it committed before the failure stays; check the database")
        }
    }
}

fn foreign_key_check(c: &rusqlite::Connection, tag: &str) -> Result<()> {
    let mut stmt = c.prepare("PRAGMA foreign_key_check")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} row {} has no parent in {}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?.map_or("?".into(), |n| n.to_string()),
                r.get::<_, String>(2)?
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    bail!("undoing {tag} leaves broken foreign keys: {}", rows.iter().take(5).cloned().collect::<Vec<_>>().join("; "))
}

fn pg_step(conn: &mut Connection, text: &str, id: Option<i64>) -> Result<()> {
    let statements = split(Dialect::Postgres, text);
    let delete = "DELETE FROM \"drizzle\".\"__drizzle_migrations\" WHERE id = $1";
    match run_mode(Dialect::Postgres, &statements) {
        RunMode::Transaction | RunMode::TransactionForeignKeysOff => conn
            .transaction(TxMode::Write, |tx| -> Result<()> {
                for st in &statements {
                    tx.batch(&st.sql).map_err(|e| statement_error(st, cms_db::error::with_causes(&e)))?;
                }
                if let Some(id) = id {
                    tx.execute(delete, &[Value::Int(id)]).context("deleting the bookkeeping row")?;
                }
                Ok(())
            })
            .context("it was rolled back: the database is as it was before this step"),
        RunMode::SelfManaged { opens_inside_transaction, .. } => {
            if opens_inside_transaction {
                conn.batch("BEGIN")?;
            }
            for st in &statements {
                if let Err(e) = conn.batch(&st.sql) {
                    let _ = conn.batch("ROLLBACK");
                    return Err(statement_error(st, cms_db::error::with_causes(&e))).context(
                        "the down file manages its own transactions: what it committed before the failure stays; check the database",
                    );
                }
            }
            if let Some(id) = id {
                conn.execute(delete, &[Value::Int(id)]).context("deleting the bookkeeping row")?;
            }
            if leaves_transaction_open(&statements, opens_inside_transaction) {
                conn.batch("COMMIT")?;
            }
            Ok(())
        }
    }
}

/// `--from-backup`: the newest `pre-migrate` backup whose migrations are exactly those applied
/// before the oldest migration undone, restored by the restore command.
fn from_backup(
    ctx: &Context,
    args: &Args,
    url: &DatabaseUrl,
    set: &MigrationSet,
    kept: &[usize],
    undone: &[usize],
) -> Result<ExitCode> {
    let dir = ctx.root.join(&args.dir);
    let want: Vec<String> = kept.iter().map(|&i| set.migrations[i].tag.clone()).collect();
    let oldest = &set.migrations[*undone.last().expect("something is undone")].tag;
    let mut others = Vec::new();
    let mut found = None;
    for (name, path) in archives(&dir)? {
        if name.label.as_deref() != Some(PRE_MIGRATE_LABEL) {
            continue;
        }
        let Ok(Some(header)) = archive::read_header(&path) else { continue };
        if header.dialect == url.dialect().to_string() && header.migrations.tags == want {
            found = Some((path, header));
            break;
        }
        others.push(format!(
            "{} ({} migration(s){})",
            name.file_name(),
            header.migrations.applied,
            header.migrations.last_tag.as_deref().map(|t| format!(", last {t}")).unwrap_or_default()
        ));
    }
    let Some((path, header)) = found else {
        bail!(
            "rollback refused: no pre-migrate backup in {} was taken just before {oldest} (none holds exactly the {} migration(s) applied before it{}){}; `cargo xtask backup list` shows every backup, `cargo xtask restore FILE` restores one; nothing was changed",
            ctx.show(&dir),
            want.len(),
            want.last().map(|t| format!(", up to {t}")).unwrap_or_default(),
            if others.is_empty() { String::new() } else { format!("; pre-migrate backups found: {}", others.join(", ")) }
        );
    };
    out!(
        "  restore {} (taken {} before {oldest}: {} migration(s)); every write since then is replaced (restore keeps a pre-restore backup of the current state)",
        ctx.show(&path),
        header.created_at,
        header.migrations.applied
    );
    if args.dry_run {
        out!("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    // The restore command's own path: verified before anything is touched, atomic, with a
    // safety backup; it asks on a terminal unless --yes.
    let options = RestoreOptions {
        target: path.display().to_string(),
        dir: dir.clone(),
        yes: args.yes,
        force: false,
        wait: args.lock_timeout,
    };
    let code = with_lock_exit_code(restore(ctx, &options))?;
    if code == ExitCode::SUCCESS {
        drop_what_the_backup_lacks(ctx, args, url, set, kept)?;
        out!(
            "rolled back to before {oldest} from {}; `cargo xtask status` shows {} pending",
            ctx.show(&path),
            undone.iter().rev().map(|&i| set.migrations[i].tag.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(code)
}

/// After a restore, the schema must be what the folder gives up to the target. A PostgreSQL
/// restore (`pg_restore --clean`) replaces only the objects its dump holds, so objects made
/// after the backup (a table an undone migration created) are still there: they are dropped,
/// by the engine's change verified like every plan (their rows are in the pre-restore backup).
/// Anything else that differs is drift, said and left alone.
fn drop_what_the_backup_lacks(
    ctx: &Context,
    args: &Args,
    url: &DatabaseUrl,
    set: &MigrationSet,
    kept: &[usize],
) -> Result<()> {
    use cms_db::schema::diff::Change;
    let d = set.dialect;
    let server = crate::schema_plan::scratch_server(ctx, args.dev_url.as_deref(), &[]);
    let mut replay = Replay::new(d, &server)?;
    for &i in kept {
        replay.apply(set, &set.migrations[i])?;
    }
    let target = replay.introspect()?;
    let _scratch_dropped = replay.drop_in_background();
    let live = Live::open(url)?;
    let current = live.schema.clone();
    live.close();
    let changes = diff::diff(&current, &target, &Renames::none_are_renames())?;
    if changes.is_empty() {
        return Ok(());
    }
    let is_drop = |c: &Change| {
        matches!(
            c,
            Change::DropTable { .. }
                | Change::DropIndex { .. }
                | Change::DropView { .. }
                | Change::DropTrigger { .. }
                | Change::DropSequence { .. }
                | Change::DropEnum { .. }
                | Change::DropSchema { .. }
                | Change::DropVirtualTable { .. }
        )
    };
    if !changes.iter().all(is_drop) {
        bail!(
            "the restored database is not what its migrations give (drift the backup already had?):\n{}\n`cargo xtask diff --from <database> --to migrations:{}` shows it",
            changes.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"),
            ctx.show(&set.dir)
        );
    }
    let statements = sql::render(d, &changes, &current, &target);
    cms_db::schema::verify::verify(&server, &current, &target, &statements)?;
    let text = to_migration_text(&statements);
    let mut conn = cms_db::connect(url)?;
    match &mut conn {
        Connection::Sqlite(c) => sqlite_step(c, "the restore", &text, None),
        pg => pg_step(pg, &text, None),
    }
    .context("dropping what the backup does not hold")?;
    out!(
        "  dropped what the backup does not hold (made after it; its rows are in the pre-restore backup): {}",
        changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}
