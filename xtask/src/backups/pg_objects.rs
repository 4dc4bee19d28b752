//! What a PostgreSQL restore must remove besides what the dump replaces. `pg_restore --clean`
//! drops and recreates only the objects its dump holds, so a table, view, type, function,
//! schema or extension made after the backup (by a migration since undone, by hand) would
//! survive the restore. The live database's objects are compared with the dump's table of
//! contents (`pg_restore --list`); those the dump lacks are dropped in the same transaction as
//! the restore, so the database ends exactly as the backup was, or (on any error) unchanged.
//!
//! The comparison and the SQL are pure ([`missing_from_dump`], [`drop_sql`]); [`live_objects`]
//! reads the catalog.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use cms_db::connection::{Sql, Value};
use cms_db::DbError;

use super::{child, snapshot};

/// The kinds of object a dump lists as a whole (their parts, such as columns, indexes and
/// constraints, go with them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    // In drop order: dependants first.
    View,
    MaterializedView,
    Function,
    Procedure,
    Aggregate,
    ForeignTable,
    Table,
    Sequence,
    Domain,
    Type,
    Schema,
    Extension,
}

impl Kind {
    /// How `pg_restore --list` names the kind.
    fn toc(self) -> &'static str {
        match self {
            Kind::View => "VIEW",
            Kind::MaterializedView => "MATERIALIZED VIEW",
            Kind::Function => "FUNCTION",
            Kind::Procedure => "PROCEDURE",
            Kind::Aggregate => "AGGREGATE",
            Kind::ForeignTable => "FOREIGN TABLE",
            Kind::Table => "TABLE",
            Kind::Sequence => "SEQUENCE",
            Kind::Domain => "DOMAIN",
            Kind::Type => "TYPE",
            Kind::Schema => "SCHEMA",
            Kind::Extension => "EXTENSION",
        }
    }

    fn from_catalog(code: &str) -> Option<Kind> {
        Some(match code {
            "v" => Kind::View,
            "m" => Kind::MaterializedView,
            "f" => Kind::Function,
            "p" => Kind::Procedure,
            "a" => Kind::Aggregate,
            "F" => Kind::ForeignTable,
            "r" => Kind::Table,
            "S" => Kind::Sequence,
            "d" => Kind::Domain,
            "t" => Kind::Type,
            "n" => Kind::Schema,
            "e" => Kind::Extension,
            _ => return None,
        })
    }
}

/// One object of the live database. `name` of a function, procedure or aggregate carries its argument
/// types as the dump lists them: `f(integer, text)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveObject {
    pub kind: Kind,
    /// `None` for schemas and extensions.
    pub schema: Option<String>,
    pub name: String,
}

impl fmt::Display for LiveObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{} {s}.{}", self.kind.toc().to_lowercase(), self.name),
            None => write!(f, "{} {}", self.kind.toc().to_lowercase(), self.name),
        }
    }
}

/// The objects of `live` that the dump whose `pg_restore --list` output is `toc` does not hold.
/// A TOC line reads `ID; TABLEOID OID KIND SCHEMA NAME OWNER` (`-` for no schema); names may
/// hold spaces, so each live object is looked for by its full `KIND SCHEMA NAME ` prefix.
pub fn missing_from_dump<'a>(toc: &str, live: &'a [LiveObject]) -> Vec<&'a LiveObject> {
    let entries: Vec<&str> = toc
        .lines()
        .filter(|l| !l.trim_start().starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            // Skip the three numbers: "12; 1259 22123 ".
            let mut rest = l.trim_start();
            for _ in 0..3 {
                rest = rest.split_once(char::is_whitespace)?.1.trim_start();
            }
            Some(rest)
        })
        .collect();
    live.iter()
        .filter(|o| {
            let prefix = format!("{} {} {} ", o.kind.toc(), o.schema.as_deref().unwrap_or("-"), o.name);
            !entries.iter().any(|e| e.starts_with(&prefix))
        })
        .collect()
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `DROP … IF EXISTS … CASCADE` for each object, dependants first. CASCADE may take objects
/// the dump holds too (a view over a dropped table): the restore that follows in the same
/// transaction recreates every one of those.
pub fn drop_sql(objects: &[&LiveObject]) -> String {
    let mut sorted: Vec<&&LiveObject> = objects.iter().collect();
    sorted.sort_by_key(|o| o.kind);
    let mut out = String::new();
    for o in sorted {
        let qualified = match &o.schema {
            Some(s) => format!("{}.{}", ident(s), ident(&o.name)),
            None => ident(&o.name),
        };
        let statement = match o.kind {
            Kind::Function | Kind::Procedure | Kind::Aggregate => {
                // `f(integer, text)`: the name quoted, the argument types as the catalog spells them.
                let (name, args) = o.name.split_once('(').unwrap_or((&o.name, ")"));
                let schema = o.schema.as_deref().map(|s| format!("{}.", ident(s))).unwrap_or_default();
                format!("DROP {} IF EXISTS {schema}{}({args} CASCADE;", o.kind.toc(), ident(name))
            }
            kind => format!("DROP {} IF EXISTS {qualified} CASCADE;", kind.toc()),
        };
        out.push_str(&statement);
        out.push('\n');
    }
    out
}

/// The objects of the live database that a dump would list: in every schema but the system
/// ones, not part of an extension, sequences only when no column owns them, types only when
/// they stand alone (not a table's row type or an array). Only objects our role owns (or is a
/// member of the owner of): another role's object, such as a DBA's monitoring view, is left in
/// place as `pg_restore --clean` leaves it, rather than failing the restore.
pub fn live_objects(conn: &mut dyn Sql) -> Result<Vec<LiveObject>, DbError> {
    const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
        AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'";
    const NOT_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = o.oid AND d.deptype = 'e')";
    let sql = format!(
        "SELECT CASE o.relkind WHEN 'r' THEN 'r' WHEN 'p' THEN 'r' WHEN 'v' THEN 'v' WHEN 'm' THEN 'm' \
                WHEN 'S' THEN 'S' WHEN 'f' THEN 'F' END, n.nspname, o.relname \
           FROM pg_class o JOIN pg_namespace n ON n.oid = o.relnamespace \
          WHERE o.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT o.relispartition AND {USER_SCHEMA} AND {NOT_EXTENSION} \
            AND pg_has_role(o.relowner, 'USAGE') \
            AND NOT (o.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = o.oid \
                     AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))) \
         UNION ALL \
         SELECT CASE o.typtype WHEN 'd' THEN 'd' ELSE 't' END, n.nspname, o.typname \
           FROM pg_type o JOIN pg_namespace n ON n.oid = o.typnamespace \
          WHERE o.typtype IN ('e', 'd', 'r', 'c') AND {USER_SCHEMA} AND {NOT_EXTENSION} AND pg_has_role(o.typowner, 'USAGE') \
            AND (o.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = o.typrelid) = 'c') \
         UNION ALL \
         SELECT o.prokind::text, n.nspname, o.proname || '(' || oidvectortypes(o.proargtypes) || ')' \
           FROM pg_proc o JOIN pg_namespace n ON n.oid = o.pronamespace \
          WHERE o.prokind IN ('f', 'p', 'a') AND {USER_SCHEMA} AND {NOT_EXTENSION} AND pg_has_role(o.proowner, 'USAGE') \
         UNION ALL \
         SELECT 'n', NULL, n.nspname FROM pg_namespace n \
          WHERE {USER_SCHEMA} AND n.nspname <> 'public' AND pg_has_role(n.nspowner, 'USAGE') \
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = n.oid AND d.deptype = 'e') \
         UNION ALL \
         SELECT 'e', NULL, o.extname FROM pg_extension o WHERE o.extname <> 'plpgsql' AND pg_has_role(o.extowner, 'USAGE')"
    );
    let rows = conn.query(&sql, &[])?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let text = |i: usize| match r.get(i) {
                Some(Value::Text(s)) => Some(s.clone()),
                _ => None,
            };
            Some(LiveObject { kind: Kind::from_catalog(&text(0)?)?, schema: text(1), name: text(2)? })
        })
        .collect())
}

/// Restores the custom-format `dump` into the PostgreSQL database `url`, all or nothing, and
/// returns the objects it dropped because the dump lacks them (see the module). Nothing to
/// drop: `pg_restore --single-transaction --clean --if-exists`. Otherwise pg_restore writes the
/// restore as SQL next to the dump, and psql runs the drops and that script in ONE transaction
/// (`--single-transaction`, `ON_ERROR_STOP`). The children die with us (see [`child`]): killed,
/// they commit nothing.
pub fn restore(url: &str, dump: &Path) -> Result<Vec<String>> {
    snapshot::check_pg_versions("pg_restore", url)?;
    let (dbname, password) = cms_db::postgres::split_password(url);
    let with_password = |e: duct::Expression| match &password {
        Some(pw) => e.env("PGPASSWORD", pw),
        None => e,
    };
    let run = |what: &str, e: duct::Expression| -> Result<Vec<u8>> {
        let out = e.stdout_capture().stderr_capture().stdin_null().unchecked().run().with_context(|| {
            format!("cannot run {what}; install the PostgreSQL client (apt-get install postgresql-client)")
        })?;
        if !out.status.success() {
            bail!(
                "{what} failed ({}), so the database is unchanged (one transaction): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    };

    let toc = run("pg_restore --list", child::cmd("pg_restore", ["--list".as_ref(), dump.as_os_str()]))?;
    let mut client = cms_db::postgres::connect(url)?;
    let live = live_objects(&mut client).context("reading which objects the database holds")?;
    drop(client);
    let missing = missing_from_dump(&String::from_utf8_lossy(&toc), &live);
    let dropped: Vec<String> = missing.iter().map(ToString::to_string).collect();
    // pg_restore of the dump with `to` saying where it goes (the database, or a script file).
    let pg_restore = |to: &[String]| {
        let mut args: Vec<String> =
            ["--exit-on-error", "--clean", "--if-exists", "--no-owner"].map(String::from).to_vec();
        args.extend_from_slice(to);
        args.push(dump.display().to_string());
        child::cmd("pg_restore", args)
    };
    if missing.is_empty() {
        run("pg_restore", with_password(pg_restore(&["--single-transaction".into(), format!("--dbname={dbname}")])))?;
        return Ok(dropped);
    }
    snapshot::check_pg_versions("psql", url)?;
    let script = dump.with_extension("restore.sql");
    run("pg_restore", pg_restore(&[format!("--file={}", script.display())]))?;
    let psql = [
        "--no-psqlrc".to_string(),
        "--quiet".to_string(),
        "--single-transaction".to_string(),
        "--set=ON_ERROR_STOP=1".to_string(),
        format!("--dbname={dbname}"),
        format!("--command={}", drop_sql(&missing)),
        format!("--file={}", script.display()),
    ];
    let result = run("psql", with_password(child::cmd("psql", &psql)));
    let _ = std::fs::remove_file(&script);
    result?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOC: &str = "\
;
; Archive created at 2026-11-29 22:25:10 UTC
;     dbname: chk
;
6; 2615 22121 SCHEMA - drizzle postgres
7; 2615 23584 SCHEMA - extra postgres
216; 1259 22123 TABLE drizzle __drizzle_migrations postgres
215; 1259 22122 SEQUENCE drizzle __drizzle_migrations_id_seq postgres
219; 1259 22150 TABLE public environments postgres
232; 1259 23586 TABLE extra odd name postgres
895; 1247 23577 TYPE public mood postgres
233; 1255 23579 FUNCTION public f(integer, text) postgres
230; 1259 23580 VIEW public v postgres
3476; 0 22150 TABLE DATA public posts postgres
3331; 2606 23591 CONSTRAINT public environments environments_pkey postgres
";

    fn obj(kind: Kind, schema: Option<&str>, name: &str) -> LiveObject {
        LiveObject { kind, schema: schema.map(str::to_string), name: name.to_string() }
    }

    #[test]
    fn objects_the_dump_lists_are_kept_the_others_dropped() {
        let live = vec![
            obj(Kind::Schema, None, "drizzle"),
            obj(Kind::Table, Some("public"), "environments"),
            obj(Kind::Table, Some("extra"), "odd name"),
            obj(Kind::Type, Some("public"), "mood"),
            obj(Kind::Function, Some("public"), "f(integer, text)"),
            obj(Kind::View, Some("public"), "v"),
            // Made after the backup:
            obj(Kind::Table, Some("public"), "posts"), // only its data line matches "TABLE DATA …"
            obj(Kind::Table, Some("public"), "odd"),   // a prefix of "odd name" in another schema
            obj(Kind::Function, Some("public"), "f(integer)"),
            obj(Kind::Schema, None, "audit"),
            obj(Kind::Extension, None, "pgcrypto"),
        ];
        let missing: Vec<String> = missing_from_dump(TOC, &live).iter().map(|o| o.to_string()).collect();
        assert_eq!(
            missing,
            [
                "table public.posts",
                "table public.odd",
                "function public.f(integer)",
                "schema audit",
                "extension pgcrypto"
            ]
        );
    }

    #[test]
    fn drops_go_dependants_first_and_quote_names() {
        let live = [
            obj(Kind::Schema, None, "au\"dit"),
            obj(Kind::Table, Some("public"), "new table"),
            obj(Kind::View, Some("public"), "v2"),
            obj(Kind::Function, Some("public"), "g(integer, character varying)"),
            obj(Kind::Extension, None, "pgcrypto"),
        ];
        let refs: Vec<&LiveObject> = live.iter().collect();
        assert_eq!(
            drop_sql(&refs),
            "DROP VIEW IF EXISTS \"public\".\"v2\" CASCADE;\n\
             DROP FUNCTION IF EXISTS \"public\".\"g\"(integer, character varying) CASCADE;\n\
             DROP TABLE IF EXISTS \"public\".\"new table\" CASCADE;\n\
             DROP SCHEMA IF EXISTS \"au\"\"dit\" CASCADE;\n\
             DROP EXTENSION IF EXISTS \"pgcrypto\" CASCADE;\n"
        );
        assert_eq!(drop_sql(&[]), "");
    }
}
