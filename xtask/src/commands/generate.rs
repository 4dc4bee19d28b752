//! `cargo xtask generate`: the code schema (or `--to SRC`) compared with the migrations folders
//! (replayed), and the migration that closes the gap written as `NNNN_<name>.sql` plus its
//! journal entry, in each dialect's folder — only after it is verified: the replayed folder
//! with the new file applied must be the desired schema.
//!
//! Nothing is written when a folder has problems (`check`'s journal findings), when a journal's
//! last `when` lies in the future, when a rename is ambiguous and there is no terminal to ask
//! on, or when any dialect's migration cannot be made: every folder's plan is made and verified
//! before the first byte is written. Each folder gets its `.sql` and its journal both or
//! neither (temp files in the folder, fsynced, renamed: the `.sql` first, then the journal; the
//! `.sql` removed again when the journal cannot be replaced), and when the second folder cannot
//! be written the first one is put back.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use cms_db::migrate::journal::printable;
use cms_db::schema::diff::{self, Change, DiffError, RenameCandidate, Renames, Safety};
use cms_db::schema::source::{ScratchServer, Source};
use cms_db::schema::{sql, verify, Dialect, Schema};
use cms_db::MigrationSet;
use serde_json::{Map, Value};

use crate::durable;
use crate::project::{utc, Context};
use crate::schema_plan;

/// What drizzle-kit writes into a `--custom` migration.
pub const CUSTOM_TEXT: &str = "-- Custom SQL migration file, put your code below! --\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DialectArg {
    Sqlite,
    Postgresql,
    All,
}

impl DialectArg {
    fn one(self) -> Option<Dialect> {
        match self {
            DialectArg::Sqlite => Some(Dialect::Sqlite),
            DialectArg::Postgresql => Some(Dialect::Postgres),
            DialectArg::All => None,
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The migration's name: lowercase letters, digits and underscores (default: made from the changes)
    #[arg(long)]
    name: Option<String>,
    /// Which folders: sqlite, postgresql or all (default: all; the one dialect of --migrations or --to)
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    /// The desired schema (default: schema, the code schema in server/db/src/cms_schema.rs);
    /// also sql:FILE, migrations:DIR, a database URL or empty
    #[arg(long, value_name = "SRC")]
    to: Option<String>,
    /// A rename, not a drop and an add: old=new (table) or table.old=new (column); repeatable
    #[arg(long, value_name = "OLD=NEW")]
    rename: Vec<String>,
    /// Write an empty migration (and its journal entry) for hand-written SQL, e.g. a data fix
    #[arg(long)]
    custom: bool,
    /// Print what would be written and write nothing
    #[arg(long)]
    dry_run: bool,
    /// One migrations folder instead of the project's (its journal says its dialect)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// PostgreSQL server and a role with CREATEDB for scratch databases (default: DATABASE_URL
    /// when it is PostgreSQL)
    #[arg(long, value_name = "URL", env = "DEV_DATABASE_URL")]
    dev_url: Option<String>,
}

/// One folder to write into.
struct Target {
    dialect: Dialect,
    set: MigrationSet,
    /// The journal's text and its parsed form.
    journal: Journal,
}

/// A migration ready to be written into one folder.
struct Planned {
    target: Target,
    changes: Vec<Change>,
    text: String,
    statements: usize,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    if let Some(name) = &args.name {
        validate_name(name)?;
    }
    if args.custom && (args.to.is_some() || !args.rename.is_empty()) {
        bail!("--custom writes an empty migration for hand-written SQL: --to and --rename do not apply to it");
    }
    let to = schema_plan::source(ctx, args.to.as_deref().unwrap_or("schema")).context("--to")?;
    let targets = targets(ctx, &args, &to)?;
    let now = now_ms();
    for t in &targets {
        preflight(ctx, t, now)?;
    }

    let mut plans = Vec::new();
    if args.custom {
        for target in targets {
            plans.push(Planned { target, changes: Vec::new(), text: CUSTOM_TEXT.to_string(), statements: 0 });
        }
    } else {
        let scratch = scratch_server(ctx, args.dev_url.as_deref(), &to, &targets)?;
        let mut renames = RenameAnswers::new(&args.rename)?;
        for target in targets {
            let d = target.dialect;
            let folder = Source::Migrations(target.set.dir.clone());
            let (from, desired) = schema_plan::in_parallel(|| folder.load(d, &scratch), || to.load(d, &scratch));
            let from = from.with_context(|| format!("replaying {}", ctx.show(&target.set.dir)))?;
            let desired = desired.with_context(|| format!("reading --to {to} ({d})"))?;
            let changes = renames.changes(&from, &desired)?;
            if changes.is_empty() {
                out!("{}: no changes, {} already builds {}", d, ctx.show(&target.set.dir), label(&to));
                continue;
            }
            let statements = sql::render(d, &changes, &from, &desired);
            verify::verify(&scratch, &from, &desired, &statements)
                .with_context(|| format!("verifying the {d} migration; nothing was written"))?;
            plans.push(Planned {
                target,
                text: sql::to_migration_text(&statements),
                statements: statements.len(),
                changes,
            });
        }
    }
    if plans.is_empty() {
        out!("no schema changes: nothing to generate, nothing was written");
        return Ok(ExitCode::SUCCESS);
    }

    let name = match &args.name {
        Some(n) => n.clone(),
        None if args.custom => format!("custom_{}", chrono::Utc::now().format("%Y%m%d%H%M%S")),
        None => derived_name(&plans[0].changes),
    };
    for p in &plans {
        warn_about_data(ctx, p);
    }
    let mut files = Vec::new();
    for p in &plans {
        let entry = p.target.journal.next_entry(&name, p.target.dialect, now);
        let tag = entry.tag.clone();
        let journal_text = p.target.journal.with_entry(&entry);
        files.push((p, tag, entry, journal_text));
    }
    if args.dry_run {
        for (p, tag, entry, _) in &files {
            out!("-- {}/{tag}.sql ({}, {} statement(s))", ctx.show(&p.target.set.dir), p.target.dialect, p.statements);
            out!("{}", p.text.trim_end());
            out!("-- journal entry: {}", entry.json());
            out!("");
        }
        out!("dry run: {} migration(s) would be written; nothing was written", files.len());
        return Ok(ExitCode::SUCCESS);
    }

    let mut written: Vec<Written> = Vec::new();
    for (p, tag, _, journal_text) in &files {
        match write_migration(&p.target.set.dir, tag, &p.text, journal_text, &p.target.journal.bytes) {
            Ok(w) => written.push(w),
            Err(e) => {
                for w in written.iter().rev() {
                    if let Err(undo) = w.undo() {
                        eprintln!("error: could not put {} back: {undo:#}", ctx.show(&w.sql_path));
                    }
                }
                return Err(
                    e.context(format!("writing {tag} into {}; nothing was written", ctx.show(&p.target.set.dir)))
                );
            }
        }
    }
    for (p, tag, entry, _) in &files {
        out!(
            "wrote {}/{tag}.sql ({}, {} statement(s)) and its journal entry (idx {}, when {})",
            ctx.show(&p.target.set.dir),
            p.target.dialect,
            p.statements,
            entry.idx,
            utc(entry.when)
        );
        for c in &p.changes {
            out!("  {c}");
        }
    }
    if args.custom {
        out!("write the SQL into the new file(s), then run `cargo xtask migrate`");
    } else {
        out!("review the SQL, then run `cargo xtask migrate`");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the folders are compared with, in words.
fn label(to: &Source) -> String {
    match to {
        Source::Schema => "the code schema".to_string(),
        other => other.to_string(),
    }
}

/// Names are file-name parts: lowercase letters, digits and underscores.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        bail!(
            "--name {:?}: a migration name is 1 to 100 lowercase letters, digits and underscores (e.g. add_post_subtitle); nothing was written",
            printable(name)
        );
    }
    Ok(())
}

/// A name that says what the migration does: its change when there is one kind, else a
/// timestamp (`schema_20250101120000`).
pub fn derived_name(changes: &[Change]) -> String {
    let word = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
    };
    let one = |c: &Change| -> Option<String> {
        Some(match c {
            Change::CreateTable { table } => format!("create_{}", word(&table.name.name)),
            Change::DropTable { table } => format!("drop_{}", word(&table.name.name)),
            Change::RenameTable { from, to } => format!("rename_{}_to_{}", word(&from.name), word(&to.name)),
            Change::AddColumn { table, column } => format!("add_{}_{}", word(&table.name), word(&column.name)),
            Change::DropColumn { table, column } => format!("drop_{}_{}", word(&table.name), word(&column.name)),
            Change::RenameColumn { table, from, to } => {
                format!("rename_{}_{}_to_{}", word(&table.name), word(from), word(to))
            }
            Change::CreateIndex { index, .. } => format!("create_{}", word(&index.name)),
            Change::DropIndex { index, .. } => format!("drop_{}", word(&index.name)),
            other => format!("alter_{}", word(&other.table()?.name)),
        })
    };
    let names: Vec<Option<String>> = changes.iter().map(one).collect();
    let first = names.first().cloned().flatten();
    let derived = match first {
        Some(n) if names.iter().all(|x| x.as_ref() == Some(&n)) => Some(n),
        // Several changes of one table: alter_<table>.
        _ => {
            let tables: Vec<_> = changes.iter().map(|c| c.table().map(|t| t.name.clone())).collect();
            match tables.first() {
                Some(Some(t)) if tables.iter().all(|x| x.as_ref() == Some(t)) => Some(format!("alter_{}", word(t))),
                _ => None,
            }
        }
    };
    match derived {
        Some(mut n) if !n.is_empty() => {
            n.truncate(60);
            n.trim_end_matches('_').to_string()
        }
        _ => format!("schema_{}", chrono::Utc::now().format("%Y%m%d%H%M%S")),
    }
}

/// The folders to write into, with their dialects, from `--migrations`, `--dialect` and the
/// dialect `--to` determines (a live database or a migrations folder).
fn targets(ctx: &Context, args: &Args, to: &Source) -> Result<Vec<Target>> {
    let to_dialect = to.dialect().with_context(|| format!("reading --to {to}"))?;
    let requested = args.dialect.and_then(DialectArg::one);
    let explicit_all = args.dialect == Some(DialectArg::All);
    let other_dialect = |folder: &str, d: Dialect, t: Dialect| {
        anyhow::anyhow!(
            "--to {to} is a {t} schema but {folder} is a {d} migrations folder: a migration is generated from a schema of its own dialect (pass --to a {d} source); nothing was written"
        )
    };
    let dirs: Vec<(Dialect, PathBuf)> = if let Some(dir) = &args.migrations {
        let dir = ctx.root.join(dir);
        let set = MigrationSet::load(&dir)?;
        if explicit_all {
            bail!(
                "--migrations {} is one {} folder: leave --dialect out or pass --dialect {}",
                ctx.show(&dir),
                set.dialect,
                set.dialect
            );
        }
        if let Some(r) = requested.filter(|r| *r != set.dialect) {
            bail!("--dialect {r}, but {} is a {} migrations folder", ctx.show(&dir), set.dialect);
        }
        if let Some(t) = to_dialect.filter(|t| *t != set.dialect) {
            return Err(other_dialect(&ctx.show(&dir), set.dialect, t));
        }
        vec![(set.dialect, dir)]
    } else {
        let folder = |d: Dialect| ctx.root.join(d.default_folder());
        match (requested, to_dialect) {
            (Some(r), Some(t)) if r != t => return Err(other_dialect(r.default_folder(), r, t)),
            (Some(r), _) => vec![(r, folder(r))],
            (None, Some(t)) if explicit_all => bail!(
                "--to {to} is a {t} schema: a migration can be generated from it for {t} only (pass --dialect {t})"
            ),
            (None, Some(t)) => vec![(t, folder(t))],
            (None, None) => {
                let both: Vec<(Dialect, PathBuf)> = [Dialect::Sqlite, Dialect::Postgres]
                    .into_iter()
                    .map(|d| (d, folder(d)))
                    .filter(|(_, dir)| explicit_all || dir.is_dir())
                    .collect();
                if both.is_empty() {
                    bail!("neither migrations/sqlite nor migrations/postgresql exists below {}", ctx.root.display());
                }
                both
            }
        }
    };
    dirs.into_iter()
        .map(|(dialect, dir)| {
            let set = MigrationSet::load(&dir)?;
            if set.dialect != dialect {
                bail!("{} is a {} migrations folder, not {dialect}", ctx.show(&dir), set.dialect);
            }
            let journal = Journal::read(&dir)?;
            Ok(Target { dialect, set, journal })
        })
        .collect()
}

/// A folder with problems is refused before anything else (`check` lists the same ones); so
/// is a journal whose last `when` lies in the future (a new entry must come after it).
fn preflight(ctx: &Context, t: &Target, now: i64) -> Result<()> {
    if !t.set.problems.is_empty() {
        let list: Vec<String> = t.set.problems.iter().map(|p| format!("  - {p}")).collect();
        bail!(
            "{} has problems; fix them first (`cargo xtask check` lists them too), nothing was written:\n{}",
            ctx.show(&t.set.dir),
            list.join("\n")
        );
    }
    if let Some(last) = t.set.migrations.iter().max_by_key(|m| m.when).filter(|m| m.when > now) {
        bail!(
            "{}: journal entry {} has `when` {} ({}), which is later than now ({}): a new migration must come after every earlier one, so it would be dated in the future too. Fix that entry's `when` (a wrong clock wrote it, or it was edited) or wait; nothing was written",
            ctx.show(&t.set.dir),
            printable(&last.tag),
            last.when,
            utc(last.when),
            utc(now)
        );
    }
    Ok(())
}

/// Where PostgreSQL scratch databases are made: `--dev-url`, a live PostgreSQL `--to`, or the
/// configured database when it is PostgreSQL. None for a PostgreSQL target is an error.
fn scratch_server(ctx: &Context, dev_url: Option<&str>, to: &Source, targets: &[Target]) -> Result<ScratchServer> {
    let server = schema_plan::scratch_server(ctx, dev_url, &[to]);
    if server.postgres_url.is_none() && targets.iter().any(|t| t.dialect == Dialect::Postgres) {
        bail!(
            "generating the PostgreSQL migration needs a PostgreSQL server for scratch databases (the folder is replayed into one): pass --dev-url postgres://USER@HOST/DB (a role that may CREATE DATABASE; or set DEV_DATABASE_URL), use a PostgreSQL DATABASE_URL, or pass --dialect sqlite to write the SQLite migration only; nothing was written"
        );
    }
    Ok(server)
}

/// Destructive changes and changes that depend on the data, on stderr (the file marks the
/// destructive statements with `-- warning:` lines).
fn warn_about_data(ctx: &Context, p: &Planned) {
    for c in &p.changes {
        match c.safety() {
            Safety::Safe => {}
            Safety::Destructive(loss) => {
                eprintln!("warning: {} ({}): {c}: {loss}", ctx.show(&p.target.set.dir), p.target.dialect)
            }
            Safety::DataDependent(req) => eprintln!(
                "note: {} ({}): {c}: fails on a database where this does not hold: {req} (`cargo xtask migrate` checks it on the database before anything runs)",
                ctx.show(&p.target.set.dir),
                p.target.dialect
            ),
        }
    }
}

// --- renames -------------------------------------------------------------------------------

/// Renames settled once for every dialect: the `--rename` flags, then the answers given on a
/// terminal (each candidate is asked about once, even when both dialects have it).
struct RenameAnswers {
    flags: Renames,
    accepted: Vec<RenameCandidate>,
    declined: Vec<String>,
}

impl RenameAnswers {
    fn new(flags: &[String]) -> Result<RenameAnswers> {
        Ok(RenameAnswers { flags: Renames::parse(flags)?, accepted: Vec::new(), declined: Vec::new() })
    }

    fn asked(&self, c: &RenameCandidate) -> bool {
        let arg = c.rename_arg();
        self.accepted.iter().any(|a| a.rename_arg() == arg) || self.declined.contains(&arg)
    }

    fn changes(&mut self, from: &Schema, to: &Schema) -> Result<Vec<Change>> {
        // Nothing to do is nothing to do, whatever renames were asked for (running the same
        // `generate --rename …` twice writes one migration).
        if diff::same(from, to) {
            return Ok(Vec::new());
        }
        loop {
            let mut renames = self.flags.clone();
            for a in &self.accepted {
                renames.accept(a);
            }
            match diff::diff(from, to, &renames) {
                Ok(changes) => return Ok(changes),
                Err(DiffError::Ambiguous { candidates }) => {
                    let new: Vec<RenameCandidate> = candidates.into_iter().filter(|c| !self.asked(c)).collect();
                    if new.is_empty() {
                        return Ok(diff::diff(from, to, &renames.and_rest_are_not_renames())?);
                    }
                    if !std::io::stdin().is_terminal() {
                        let e = DiffError::Ambiguous { candidates: new };
                        bail!("{e}; there is no terminal to ask on, so nothing was written");
                    }
                    for c in new {
                        if schema_plan::ask(&format!("{c}: is it a rename (keeping the data)?"))? {
                            self.accepted.push(c);
                        } else {
                            self.declined.push(c.rename_arg());
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

// --- the journal ---------------------------------------------------------------------------

/// `meta/_journal.json` as read: its bytes (to put back) and its JSON.
pub struct Journal {
    pub bytes: Vec<u8>,
    value: Map<String, Value>,
    trailing_newline: bool,
}

/// A new journal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub idx: i64,
    pub version: String,
    pub when: i64,
    pub tag: String,
}

impl Entry {
    fn json(&self) -> String {
        format!(
            "{{\"idx\": {}, \"version\": {}, \"when\": {}, \"tag\": {}, \"breakpoints\": true}}",
            self.idx,
            Value::String(self.version.clone()),
            self.when,
            Value::String(self.tag.clone())
        )
    }
}

impl Journal {
    pub fn read(dir: &Path) -> Result<Journal> {
        let path = dir.join("meta/_journal.json");
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        Journal::parse(bytes).with_context(|| format!("{} is not a Drizzle journal", path.display()))
    }

    pub fn parse(bytes: Vec<u8>) -> Result<Journal> {
        let value: Map<String, Value> = serde_json::from_slice(&bytes)?;
        if !value.get("entries").is_some_and(Value::is_array) {
            bail!("it has no entries array");
        }
        let trailing_newline = bytes.ends_with(b"\n");
        Ok(Journal { bytes, value, trailing_newline })
    }

    fn entries(&self) -> &[Value] {
        self.value.get("entries").and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// The next entry: idx one past the largest, `when` now (and after every earlier entry),
    /// the entry version the folder's entries use (drizzle-kit 0.31: `6` SQLite, `7`
    /// PostgreSQL, when the folder has none yet).
    pub fn next_entry(&self, name: &str, dialect: Dialect, now: i64) -> Entry {
        let entries = self.entries();
        let idx = entries.iter().filter_map(|e| e.get("idx").and_then(Value::as_i64)).max().map_or(0, |m| m + 1);
        let last_when = entries.iter().filter_map(|e| e.get("when").and_then(Value::as_i64)).max();
        let when = last_when.map_or(now, |w| now.max(w + 1));
        let version = entries
            .iter()
            .rev()
            .find_map(|e| match e.get("version") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| match dialect {
                Dialect::Sqlite => "6".to_string(),
                Dialect::Postgres => "7".to_string(),
            });
        Entry { idx, version, when, tag: format!("{idx:04}_{name}") }
    }

    /// The journal's text with `entry` appended, written the way drizzle-kit writes it
    /// (`JSON.stringify(journal, null, 2)`, keys in drizzle-kit's order), so the only change in
    /// the file is the new entry.
    pub fn with_entry(&self, entry: &Entry) -> String {
        let mut value = self.value.clone();
        let mut new = Map::new();
        new.insert("idx".into(), entry.idx.into());
        new.insert("version".into(), entry.version.clone().into());
        new.insert("when".into(), entry.when.into());
        new.insert("tag".into(), entry.tag.clone().into());
        new.insert("breakpoints".into(), true.into());
        if let Some(Value::Array(entries)) = value.get_mut("entries") {
            entries.push(Value::Object(new));
        }
        let mut out = String::new();
        write_object(&mut out, &value, 0, &["version", "dialect", "entries"]);
        if self.trailing_newline {
            out.push('\n');
        }
        out
    }
}

const ENTRY_KEYS: &[&str] = &["idx", "version", "when", "tag", "breakpoints"];

/// `JSON.stringify(v, null, 2)`: two-space indentation, `"key": value`, empty arrays `[]`.
/// `order` lists the keys that come first, in that order; the rest follow sorted.
fn write_object(out: &mut String, map: &Map<String, Value>, depth: usize, order: &[&str]) {
    if map.is_empty() {
        out.push_str("{}");
        return;
    }
    let mut keys: Vec<&String> = Vec::new();
    for k in order {
        if let Some((key, _)) = map.get_key_value(*k) {
            keys.push(key);
        }
    }
    let mut rest: Vec<&String> = map.keys().filter(|k| !order.contains(&k.as_str())).collect();
    rest.sort();
    keys.extend(rest);
    out.push_str("{\n");
    for (i, k) in keys.iter().enumerate() {
        indent(out, depth + 1);
        out.push_str(&Value::String((*k).clone()).to_string());
        out.push_str(": ");
        let child_order: &[&str] = if k.as_str() == "entries" { ENTRY_KEYS } else { &[] };
        write_value(out, &map[k.as_str()], depth + 1, child_order);
        if i + 1 < keys.len() {
            out.push(',');
        }
        out.push('\n');
    }
    indent(out, depth);
    out.push('}');
}

fn write_value(out: &mut String, v: &Value, depth: usize, order: &[&str]) {
    match v {
        Value::Object(m) => write_object(out, m, depth, order),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, depth + 1);
                write_value(out, item, depth + 1, order);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, depth);
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

// --- writing -------------------------------------------------------------------------------

/// One folder's new migration, written; [`Written::undo`] puts the folder back.
struct Written {
    sql_path: PathBuf,
    journal_path: PathBuf,
    old_journal: Vec<u8>,
}

impl Written {
    fn undo(&self) -> Result<()> {
        let dir = self.journal_path.parent().context("the journal has a folder")?;
        let tmp = durable::staged(dir, ".journal.", ".tmp", &self.old_journal)?;
        set_mode_like(tmp.path(), &self.journal_path);
        durable::persist(tmp, &self.journal_path)?;
        fs::remove_file(&self.sql_path)?;
        if let Some(parent) = self.sql_path.parent() {
            durable::sync_dir(parent)?;
        }
        Ok(())
    }
}

/// Writes `<tag>.sql` and the new journal into `dir`, both or neither: both go to temp files in
/// their folders first (fsynced), then the `.sql` is renamed into place (never over an
/// existing file), then the journal; when the journal cannot be replaced the `.sql` is removed.
fn write_migration(dir: &Path, tag: &str, text: &str, journal: &str, old_journal: &[u8]) -> Result<Written> {
    let meta = dir.join("meta");
    let journal_path = meta.join("_journal.json");
    let sql_path = dir.join(format!("{tag}.sql"));
    if sql_path.exists() {
        bail!("{} already exists", sql_path.display());
    }
    let temp = |folder: &Path, prefix: &str, bytes: &[u8]| -> Result<tempfile::NamedTempFile> {
        let f = durable::staged(folder, prefix, ".tmp", bytes)?;
        set_mode_like(f.path(), &journal_path);
        Ok(f)
    };
    let sql_tmp = temp(dir, &format!(".{tag}.sql."), text.as_bytes())?;
    let journal_tmp = temp(&meta, ".journal.", journal.as_bytes())?;
    sql_tmp
        .persist_noclobber(&sql_path)
        .map_err(|e| anyhow::Error::new(e.error).context(format!("creating {}", sql_path.display())))?;
    if let Err(e) = journal_tmp.persist(&journal_path) {
        let _ = fs::remove_file(&sql_path);
        return Err(anyhow::Error::new(e.error).context(format!("replacing {}", journal_path.display())));
    }
    // Both names are in place; a folder that cannot be synced is not a reason to undo them.
    let _ = durable::sync_dir(dir);
    let _ = durable::sync_dir(&meta);
    Ok(Written { sql_path, journal_path, old_journal: old_journal.to_vec() })
}

/// New files get the journal's permissions (a temp file is 0600).
fn set_mode_like(path: &Path, like: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(like).map(|m| m.permissions().mode() & 0o777).unwrap_or(0o644);
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::schema::{Column, QualifiedName, Table};

    #[test]
    fn names_are_lowercase_letters_digits_and_underscores() {
        for good in ["add_post_subtitle", "x", "v2_tags"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "with space", "../escape", "Upper", "dash-ed", "dot.ted", "a/b", "née", &"x".repeat(101)] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains("lowercase letters, digits and underscores"), "{bad}: {err}");
        }
    }

    fn project_journal(dialect: &str) -> Vec<u8> {
        fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../migrations/{dialect}/meta/_journal.json")))
            .unwrap()
    }

    #[test]
    fn the_journal_is_rewritten_byte_for_byte_plus_the_new_entry() {
        for dialect in ["sqlite", "postgresql"] {
            let original = String::from_utf8(project_journal(dialect)).unwrap();
            let j = Journal::parse(original.clone().into_bytes()).unwrap();
            let d = if dialect == "sqlite" { Dialect::Sqlite } else { Dialect::Postgres };
            let entry = j.next_entry("add_x", d, 1_800_000_000_000);
            assert_eq!(entry.idx, 6);
            assert_eq!(entry.tag, "0006_add_x");
            assert_eq!(entry.when, 1_800_000_000_000);
            assert_eq!(entry.version, if dialect == "sqlite" { "6" } else { "7" });
            let text = j.with_entry(&entry);
            let cut = original.rfind("\n  ]").unwrap();
            assert_eq!(&text[..cut], &original[..cut], "earlier bytes unchanged");
            assert!(text[cut..].starts_with(&format!(
                ",\n    {{\n      \"idx\": 6,\n      \"version\": \"{}\",\n      \"when\": 1800000000000,\n      \"tag\": \"0006_add_x\",\n      \"breakpoints\": true\n    }}\n  ]\n}}\n",
                entry.version
            )), "{}", &text[cut..]);
            let reread: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(reread["entries"].as_array().unwrap().len(), 7);
        }
    }

    #[test]
    fn when_is_after_every_earlier_entry() {
        let j = Journal::parse(project_journal("sqlite")).unwrap();
        let last = 1_750_669_200_000;
        assert_eq!(j.next_entry("x", Dialect::Sqlite, last).when, last + 1);
        assert_eq!(j.next_entry("x", Dialect::Sqlite, last + 5).when, last + 5);
        let empty = Journal::parse(br#"{"version":"7","dialect":"postgresql","entries":[]}"#.to_vec()).unwrap();
        let e = empty.next_entry("first", Dialect::Postgres, 42);
        assert_eq!((e.idx, e.when, e.version.as_str(), e.tag.as_str()), (0, 42, "7", "0000_first"));
        assert!(!empty.with_entry(&e).ends_with('\n'));
        assert!(Journal::parse(br#"{"version":"7"}"#.to_vec()).is_err());
    }

    fn q(name: &str) -> QualifiedName {
        QualifiedName::new("main", name)
    }

    #[test]
    fn derived_names_say_what_changes() {
        let col = Column::new("subtitle", "TEXT");
        let add = Change::AddColumn { table: q("posts"), column: col.clone() };
        assert_eq!(derived_name(std::slice::from_ref(&add)), "add_posts_subtitle");
        let drop = Change::DropColumn { table: q("posts"), column: Column::new("excerpt", "TEXT") };
        assert_eq!(derived_name(&[add.clone(), drop]), "alter_posts");
        let table = Change::CreateTable { table: Table::new(q("Tags-2")) };
        assert_eq!(derived_name(std::slice::from_ref(&table)), "create_tags_2");
        let mixed = derived_name(&[add, table]);
        assert!(mixed.starts_with("schema_") && mixed.len() == "schema_".len() + 14, "{mixed}");
        assert!(validate_name(&mixed).is_ok());
    }
}
