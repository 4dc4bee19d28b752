//! `cargo xtask push`: development only. Makes the live database match the code schema (or
//! `--to SRC`) directly, without writing a migration, in one transaction: SQLite with foreign
//! keys off around it and `PRAGMA foreign_key_check` passing before the commit; PostgreSQL
//! enum values that must be added outside a transaction are added first, on their own.
//!
//! Guarded like a migration: the plan is verified on a scratch database first; a database whose
//! migrations are pending or modified is refused (push starts from what the folder built);
//! changes that lose data are listed with counts measured on the database (rows in a dropped
//! table, values in a dropped column, NULLs under a new NOT NULL, duplicates under a new
//! unique key, rows failing a new check or foreign key, values a type change cannot convert)
//! and refused without `--accept-data-loss`, which deletes the rows that stand in the way;
//! a PostgreSQL server that is not this machine needs `--allow-remote`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use cms_db::connection::{self, transaction, Sql, TxMode, Value};
use cms_db::migrate::plan::EntryState;
use cms_db::schema::diff::{Change, Loss, Requirement, Safety};
use cms_db::schema::sql::{self, Statement};
use cms_db::schema::{verify, Dialect, QualifiedName, Schema};
use cms_db::DatabaseUrl;

use crate::confirm::confirm;
use crate::project::Context;
use crate::schema_plan;

#[derive(clap::Args)]
pub struct Args {
    /// The schema to push (default: schema, the code schema in cms_schema.rs); also sql:FILE,
    /// migrations:DIR or another database
    #[arg(long, value_name = "SRC", default_value = "schema")]
    to: String,
    /// Print the plan and what it would delete; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Push even when data is lost (the rows in the way are deleted)
    #[arg(long)]
    accept_data_loss: bool,
    /// Do not ask before deleting data (needed without a terminal)
    #[arg(long)]
    yes: bool,
    /// Allow a PostgreSQL server that is not this machine
    #[arg(long)]
    allow_remote: bool,
    /// A rename, not a drop and an add: old=new (table) or table.old=new (column); repeatable
    #[arg(long, value_name = "OLD=NEW")]
    rename: Vec<String>,
    /// A Drizzle migrations folder (default: migrations/sqlite or migrations/postgresql)
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// PostgreSQL server and a role with CREATEDB for the scratch database the plan is verified
    /// on (default: the database's own server)
    #[arg(long, value_name = "URL", env = "DEV_DATABASE_URL")]
    dev_url: Option<String>,
}

/// How much data one change loses, measured on the live database.
#[derive(Debug)]
struct Measured {
    change: String,
    what: String,
    /// Rows (or values) affected; `None` when it cannot be counted.
    count: Option<u64>,
    /// What `--accept-data-loss` runs before the change, in the same transaction.
    delete: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let (url, _) = ctx.database_url()?;
    let dialect = url.dialect();
    if let DatabaseUrl::Postgres { url: raw } = &url {
        if !cms_db::postgres::is_local(raw)? && !args.allow_remote {
            bail!(
                "push changes {url} directly, without a migration: it is for development databases, and this server is not on this machine. Pass --allow-remote if it is a development database; for anything else write a migration (`cargo xtask generate`, then `cargo xtask migrate`); nothing was changed"
            );
        }
    }
    refuse_unfinished_migrations(ctx, args.migrations.as_deref())?;

    let to = schema_plan::source(ctx, &args.to).context("--to")?;
    if let Some(d) = to.dialect().with_context(|| format!("reading --to {to}"))?.filter(|d| *d != dialect) {
        bail!("--to {to} is a {d} schema but {url} is a {dialect} database; nothing was changed");
    }
    let scratch = crate::schema_plan::scratch_server(ctx, args.dev_url.as_deref(), &[&to]);
    let live_source = cms_db::schema::source::Source::Live(url_text(&url));
    let from = live_source.load(dialect, &scratch).with_context(|| format!("reading {url}"))?;
    let desired = to.load(dialect, &scratch).with_context(|| format!("reading --to {to}"))?;
    let (changes, _) = schema_plan::changes(&from, &desired, &args.rename)?;
    if changes.is_empty() {
        out!("nothing to push: {url} already matches {to}");
        return Ok(ExitCode::SUCCESS);
    }
    let statements = sql::render(dialect, &changes, &from, &desired);
    verify::verify(&scratch, &from, &desired, &statements).context("verifying the plan; nothing was changed")?;

    let mut conn = cms_db::connect(&url)?;
    let losses = measure(&mut conn, &changes, &from)?;
    out!("push {to} to {url} ({dialect}): {} change(s)", changes.len());
    for c in &changes {
        out!("  {c}");
    }
    out!("");
    out!("{}", sql::to_migration_text(&statements).trim_end());
    let lost: Vec<&Measured> = losses.iter().filter(|m| m.count != Some(0)).collect();
    if !lost.is_empty() {
        eprintln!("data loss:");
        for m in &lost {
            let n = m.count.map_or("an unknown number of".to_string(), |n| n.to_string());
            eprintln!("  - {}: {n} {}", m.change, m.what);
        }
    }
    if args.dry_run {
        let verdict = if lost.is_empty() || args.accept_data_loss {
            "push would apply it"
        } else {
            "push would refuse it without --accept-data-loss"
        };
        out!("\ndry run: {verdict}; nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if !lost.is_empty() {
        if !args.accept_data_loss {
            bail!(
                "{} change(s) would lose data (listed above); nothing was changed. Pass --accept-data-loss to push anyway (the rows in the way are deleted), or write a migration that moves the data (`cargo xtask generate`, then edit it)",
                lost.len()
            );
        }
        confirm(&format!("push deletes data from {url} (listed above); go on?"), args.yes)?;
    }

    // One deployer at a time: the migrate lock, held while the schema changes.
    let mut lock_driver = cms_db::driver(&url, false)?;
    let _lock = lock_driver.lock(Duration::from_secs(60))?;
    let deletes: Vec<&str> =
        if args.accept_data_loss { lost.iter().filter_map(|m| m.delete.as_deref()).collect() } else { Vec::new() };
    apply(&mut conn, dialect, &deletes, &statements)?;
    drop(conn);

    let after = live_source.load(dialect, &scratch).with_context(|| format!("reading {url} after the push"))?;
    let left = cms_db::schema::diff::diff(&after, &desired, &cms_db::schema::diff::Renames::none_are_renames())?;
    if !left.is_empty() {
        bail!(
            "the push was committed but {url} still differs from {to} (a bug in the schema engine, please report it): {}",
            left.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        );
    }
    out!("pushed: {url} now matches {to} ({} change(s))", changes.len());
    Ok(ExitCode::SUCCESS)
}

/// Push starts from the schema the folder built: pending, out-of-order, edited or missing
/// migrations are refused with what to run instead.
fn refuse_unfinished_migrations(ctx: &Context, migrations: Option<&std::path::Path>) -> Result<()> {
    let (url, set, st) = ctx.migration_status(migrations)?;
    let mut problems: Vec<String> = st.findings().iter().map(ToString::to_string).collect();
    let pending: Vec<&str> = st
        .entries
        .iter()
        .filter(|e| matches!(e.state, EntryState::Pending | EntryState::OutOfOrder { .. }))
        .map(|e| e.tag.as_str())
        .collect();
    if !pending.is_empty() {
        problems.push(format!(
            "{} migration(s) of {} are not applied: {} (run `cargo xtask migrate` first)",
            pending.len(),
            ctx.show(&set.dir),
            pending.join(", ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    bail!(
        "push refuses {url}: it starts from a database whose migrations are all applied and unchanged; nothing was changed:\n{}",
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )
}

fn url_text(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Sqlite { path } => format!("file:{}", path.display()),
        DatabaseUrl::Postgres { url } => url.clone(),
    }
}

// --- applying ------------------------------------------------------------------------------

/// `deletes` then `statements`, in one transaction (see the module documentation).
fn apply(
    conn: &mut connection::Connection,
    dialect: Dialect,
    deletes: &[&str],
    statements: &[Statement],
) -> Result<()> {
    let failed = |what: &str, sql: &str| format!("push failed at {what}; nothing was changed:\n  {sql}");
    match dialect {
        Dialect::Sqlite => {
            conn.batch("PRAGMA foreign_keys=OFF")?;
            let result = transaction(conn, TxMode::Write, |tx| -> Result<()> {
                for d in deletes {
                    tx.execute(d, &[]).with_context(|| failed("deleting the rows in the way", d))?;
                }
                for st in statements.iter().filter(|s| !is_foreign_keys_pragma(&s.sql)) {
                    tx.batch(&st.sql).with_context(|| failed("a statement", &st.sql))?;
                }
                let violations =
                    tx.query("SELECT \"table\", count(*) FROM pragma_foreign_key_check GROUP BY 1", &[])?;
                if !violations.is_empty() {
                    let list: Vec<String> = violations
                        .iter()
                        .map(|r| format!("{} ({} row(s))", r[0].text().unwrap_or("?"), r[1].int().unwrap_or(0)))
                        .collect();
                    bail!(
                        "push would leave rows whose foreign keys point nowhere: {}; it was rolled back, nothing was changed",
                        list.join(", ")
                    );
                }
                Ok(())
            });
            conn.batch("PRAGMA foreign_keys=ON")?;
            result
        }
        Dialect::Postgres => {
            // `ALTER TYPE … ADD VALUE` cannot be used in the transaction that adds the value:
            // the added values go first, each on its own (adding a value loses nothing).
            for st in statements.iter().filter(|s| s.outside_transaction) {
                conn.batch(&st.sql).with_context(|| failed("adding an enum value", &st.sql))?;
            }
            transaction(conn, TxMode::Write, |tx| -> Result<()> {
                if deletes.iter().any(|d| d.contains(CONVERTS_FN)) {
                    tx.batch(CONVERTS_FN_SQL)?;
                }
                for d in deletes {
                    tx.execute(d, &[]).with_context(|| failed("deleting the rows in the way", d))?;
                }
                for st in statements.iter().filter(|s| !s.outside_transaction) {
                    tx.batch(&st.sql).with_context(|| failed("a statement", &st.sql))?;
                }
                Ok(())
            })
        }
    }
}

fn is_foreign_keys_pragma(sql: &str) -> bool {
    let s = sql.trim().to_ascii_uppercase();
    s.starts_with("PRAGMA") && s.contains("FOREIGN_KEYS")
}

// --- measuring -----------------------------------------------------------------------------

/// `"name"` (both dialects: double quotes are identifiers, never strings, on our SQLite
/// connections).
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn qt(t: &QualifiedName) -> String {
    format!("{}.{}", q(&t.schema), q(&t.name))
}

/// PostgreSQL: whether a value converts from one type to another (the cast a type change runs),
/// as a session function.
const CONVERTS_FN: &str = "pg_temp.cms_push_converts";
const CONVERTS_FN_SQL: &str = "CREATE OR REPLACE FUNCTION pg_temp.cms_push_converts(v text, from_type text, to_type text) \
RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('SELECT (%L::%s)::%s', v, from_type, to_type); RETURN true; \
EXCEPTION WHEN others THEN RETURN false; END $$";

/// The live names of a table and its columns before the changes' renames.
struct Names<'a> {
    changes: &'a [Change],
}

impl Names<'_> {
    fn table(&self, to: &QualifiedName) -> QualifiedName {
        self.changes
            .iter()
            .find_map(|c| match c {
                Change::RenameTable { from, to: t } if t == to => Some(from.clone()),
                _ => None,
            })
            .unwrap_or_else(|| to.clone())
    }

    fn column(&self, table: &QualifiedName, column: &str) -> String {
        self.changes
            .iter()
            .find_map(|c| match c {
                Change::RenameColumn { table: t, from, to } if t == table && to == column => Some(from.clone()),
                _ => None,
            })
            .unwrap_or_else(|| column.to_string())
    }
}

fn measure(conn: &mut connection::Connection, changes: &[Change], from: &Schema) -> Result<Vec<Measured>> {
    let names = Names { changes };
    let dialect = from.dialect;
    let mut out = Vec::new();
    for c in changes {
        let m = match c.safety() {
            Safety::Safe => continue,
            Safety::Destructive(loss) => destructive(&loss, &names),
            Safety::DataDependent(req) => dependent(&req, &names, from, dialect),
        };
        let Some((what, count_sql, delete)) = m else {
            out.push(Measured { change: c.to_string(), what: "(cannot be counted)".into(), count: None, delete: None });
            continue;
        };
        if count_sql.contains(CONVERTS_FN) {
            conn.batch(CONVERTS_FN_SQL)?;
        }
        let count = match conn.query(&count_sql, &[]) {
            Ok(rows) => rows.first().and_then(|r| r.first()).and_then(Value::int).map(|n| n.max(0) as u64),
            // A condition on something the live database lacks: cannot be counted here.
            Err(_) => None,
        };
        out.push(Measured { change: c.to_string(), what, count, delete });
    }
    Ok(out)
}

type Plan = Option<(String, String, Option<String>)>;

fn destructive(loss: &Loss, names: &Names<'_>) -> Plan {
    match loss {
        Loss::Table { table } | Loss::VirtualTable { table } => {
            Some(("row(s) deleted with the table".into(), format!("SELECT count(*) FROM {}", qt(table)), None))
        }
        Loss::Column { table, column } | Loss::ColumnValues { table, column } => {
            let t = names.table(table);
            let col = q(column);
            Some((
                "value(s) deleted with the column".into(),
                format!("SELECT count(*) FROM {} WHERE {col} IS NOT NULL", qt(&t)),
                None,
            ))
        }
        Loss::Sequence { .. } | Loss::Extension { .. } => None,
    }
}

/// What a data-dependent change needs, counted, and the delete that makes room for it.
fn dependent(req: &Requirement, names: &Names<'_>, from: &Schema, dialect: Dialect) -> Plan {
    let plan = |what: &str, table: &QualifiedName, condition: String| {
        let t = qt(table);
        Some((
            what.to_string(),
            format!("SELECT count(*) FROM {t} WHERE {condition}"),
            Some(format!("DELETE FROM {t} WHERE {condition}")),
        ))
    };
    match req {
        Requirement::NoRows { table, column } => plan(
            &format!("row(s), and new column {column} is NOT NULL without a default"),
            &names.table(table),
            "true".into(),
        ),
        Requirement::NoNulls { table, columns } => {
            let live = names.table(table);
            let cond: Vec<String> = columns.iter().map(|c| format!("{} IS NULL", q(&names.column(table, c)))).collect();
            plan("row(s) with NULL where NULL is no longer allowed", &live, cond.join(" OR "))
        }
        Requirement::NoDuplicates { table, keys, predicate } => {
            let live = names.table(table);
            let live_table = from.tables.get(&live);
            let key_sql: Vec<String> = keys
                .iter()
                .map(|k| {
                    let c = names.column(table, k);
                    if live_table.is_some_and(|t| t.column(&c).is_some()) {
                        q(&c)
                    } else {
                        format!("({k})")
                    }
                })
                .collect();
            let mut cond: Vec<String> = key_sql.iter().map(|k| format!("{k} IS NOT NULL")).collect();
            if let Some(p) = predicate {
                cond.push(format!("({p})"));
            }
            let cond = cond.join(" AND ");
            let keys = key_sql.join(", ");
            let t = qt(&live);
            let row_id = row_id(dialect);
            Some((
                "duplicate row(s) under the new unique key (all but one of each)".into(),
                format!(
                    "SELECT CAST(coalesce(sum(n - 1), 0) AS bigint) FROM (SELECT count(*) AS n FROM {t} WHERE {cond} GROUP BY {keys} HAVING count(*) > 1) d"
                ),
                Some(format!(
                    "DELETE FROM {t} WHERE {cond} AND {row_id} NOT IN (SELECT min({row_id}) FROM {t} WHERE {cond} GROUP BY {keys})"
                )),
            ))
        }
        Requirement::NoOrphans { table, foreign_key } => {
            let live = names.table(table);
            let cols: Vec<String> = foreign_key.columns.iter().map(|c| q(&names.column(table, c))).collect();
            let not_null: Vec<String> = cols.iter().map(|c| format!("c.{c} IS NOT NULL")).collect();
            let parent = names.table(&foreign_key.references);
            let cond = if from.tables.contains_key(&parent) {
                let matches: Vec<String> = cols
                    .iter()
                    .zip(&foreign_key.referenced_columns)
                    .map(|(c, p)| format!("p.{} = c.{c}", q(&names.column(&foreign_key.references, p))))
                    .collect();
                format!(
                    "{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                    not_null.join(" AND "),
                    qt(&parent),
                    matches.join(" AND ")
                )
            } else {
                not_null.join(" AND ")
            };
            let t = qt(&live);
            let row_id = row_id(dialect);
            Some((
                format!("row(s) whose {} has no row in {}", foreign_key.columns.join(", "), foreign_key.references),
                format!("SELECT count(*) FROM {t} c WHERE {cond}"),
                Some(format!("DELETE FROM {t} WHERE {row_id} IN (SELECT c.{row_id} FROM {t} c WHERE {cond})")),
            ))
        }
        Requirement::RowsPassCheck { table, expression } => plan(
            &format!("row(s) failing the new check {expression}"),
            &names.table(table),
            format!("NOT ({expression})"),
        ),
        Requirement::ValuesConvert { table, column, from: old, to: new } => {
            let live = names.table(table);
            let col = q(&names.column(table, column));
            match dialect {
                Dialect::Postgres => plan(
                    &format!("value(s) of {column} that do not convert from {old} to {new}"),
                    &live,
                    format!("{col} IS NOT NULL AND NOT {CONVERTS_FN}({col}::text, {}, {})", literal(old), literal(new)),
                ),
                // SQLite converts by affinity and keeps what does not convert as it is.
                Dialect::Sqlite => {
                    let numeric = sqlite_affinity(new) != "TEXT" && sqlite_affinity(new) != "BLOB";
                    let cond = if numeric {
                        format!(
                            "{col} IS NOT NULL AND (typeof({col}) = 'blob' OR (typeof({col}) = 'text' AND CAST(CAST({col} AS NUMERIC) AS TEXT) <> {col}))"
                        )
                    } else {
                        "false".to_string()
                    };
                    Some((
                        format!("value(s) of {column} that stay as they are instead of becoming {new}"),
                        format!("SELECT count(*) FROM {} WHERE {cond}", qt(&live)),
                        None,
                    ))
                }
            }
        }
        Requirement::EnumValuesUnused { name, values } => {
            let list = values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ");
            let users: Vec<(QualifiedName, String)> = from
                .tables
                .values()
                .flat_map(|t| {
                    t.columns
                        .iter()
                        .filter(|c| enum_type_matches(&c.data_type, name))
                        .map(|c| (t.name.clone(), c.name.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let [(table, column)] = users.as_slice() else {
                return None;
            };
            plan(
                &format!("row(s) holding a value removed from enum {name}"),
                table,
                format!("{}::text IN ({list})", q(column)),
            )
        }
        Requirement::StrictTypes { .. } => None,
    }
}

/// The column that names a row physically.
fn row_id(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "rowid",
        Dialect::Postgres => "ctid",
    }
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn enum_type_matches(data_type: &str, name: &QualifiedName) -> bool {
    let t = data_type.trim_matches('"');
    t == name.name
        || t == format!("{}.{}", name.schema, name.name)
        || t == format!("\"{}\".\"{}\"", name.schema, name.name)
}

/// SQLite's type affinity of a declared type (its rules, in order).
fn sqlite_affinity(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "INTEGER"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "TEXT"
    } else if t.contains("BLOB") || t.is_empty() {
        "BLOB"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlite() {
        assert_eq!(sqlite_affinity("INTEGER"), "INTEGER");
        assert_eq!(sqlite_affinity("BIGINT"), "INTEGER");
        assert_eq!(sqlite_affinity("VARCHAR(20)"), "TEXT");
        assert_eq!(sqlite_affinity(""), "BLOB");
        assert_eq!(sqlite_affinity("DOUBLE PRECISION"), "REAL");
        assert_eq!(sqlite_affinity("DECIMAL(10,2)"), "NUMERIC");
    }

    #[test]
    fn renamed_tables_and_columns_are_measured_under_their_live_names() {
        let old = QualifiedName::new("main", "drafts");
        let new = QualifiedName::new("main", "posts");
        let changes = vec![
            Change::RenameTable { from: old.clone(), to: new.clone() },
            Change::RenameColumn { table: new.clone(), from: "body_md".into(), to: "body".into() },
        ];
        let names = Names { changes: &changes };
        assert_eq!(names.table(&new), old);
        assert_eq!(names.column(&new, "body"), "body_md");
        assert_eq!(names.column(&new, "title"), "title");
        let req = Requirement::NoNulls { table: new, columns: vec!["body".into()] };
        let (_, count, delete) = dependent(&req, &names, &Schema::empty(Dialect::Sqlite), Dialect::Sqlite).unwrap();
        assert_eq!(count, "SELECT count(*) FROM \"main\".\"drafts\" WHERE \"body_md\" IS NULL");
        assert_eq!(delete.unwrap(), "DELETE FROM \"main\".\"drafts\" WHERE \"body_md\" IS NULL");
    }
}
