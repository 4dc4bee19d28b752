//! Random schema pairs: a few tables with columns of a few types, nullable or not, with
//! defaults, primary keys (single or composite), unique constraints, checks, plain, unique and
//! partial indexes, foreign keys between the tables, a view and a trigger. Both sides are
//! built as real databases and introspected; the diff between them is rendered, verified on
//! a scratch database, applied to the *from* database, and what it reads back must be *to*.
//! Table and column names come from small pools, so the two sides share most names and the
//! diff is mostly alterations. SQLite always; PostgreSQL with fewer cases when a server is
//! there.

use cms_db::schema::diff::{self, Renames};
use cms_db::schema::introspect::{self, SchemaFilter};
use cms_db::schema::source::ScratchServer;
use cms_db::schema::verify;
use cms_db::schema::{sql, Dialect, Schema};
use proptest::prelude::*;
use rusqlite::config::DbConfig;

const TABLES: usize = 3;

#[derive(Clone, Debug)]
struct Col {
    name: usize,
    ty: u8,
    not_null: bool,
    default: Option<i8>,
}

#[derive(Clone, Debug)]
struct Tab {
    cols: Vec<Col>,
    composite_pk: bool,
    unique: Option<usize>,
    check: Option<usize>,
    indexes: Vec<(usize, bool, bool)>,
    fks: Vec<(usize, usize, u8)>,
}

#[derive(Clone, Debug)]
struct Spec {
    tables: Vec<Option<Tab>>,
    view: bool,
    trigger: bool,
}

fn col() -> impl Strategy<Value = Col> {
    (0..5usize, 0..3u8, any::<bool>(), proptest::option::of(-3..4i8)).prop_map(|(name, ty, not_null, default)| Col {
        name,
        ty,
        not_null,
        default,
    })
}

fn tab() -> impl Strategy<Value = Tab> {
    (
        proptest::collection::vec(col(), 0..5),
        any::<bool>(),
        proptest::option::of(0..4usize),
        proptest::option::of(0..4usize),
        proptest::collection::vec((0..4usize, any::<bool>(), any::<bool>()), 0..3),
        proptest::collection::vec((0..4usize, 0..TABLES, 0..3u8), 0..2),
    )
        .prop_map(|(cols, composite_pk, unique, check, indexes, fks)| {
            let mut seen = std::collections::BTreeSet::new();
            let cols = cols.into_iter().filter(|c| seen.insert(c.name)).collect();
            Tab { cols, composite_pk, unique, check, indexes, fks }
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (proptest::collection::vec(proptest::option::of(tab()), TABLES), any::<bool>(), any::<bool>())
        .prop_map(|(tables, view, trigger)| Spec { tables, view, trigger })
}

fn ty(d: Dialect, t: u8) -> &'static str {
    match (t, d) {
        (0, _) => "integer",
        (1, _) => "text",
        (_, Dialect::Sqlite) => "real",
        (_, Dialect::Postgres) => "double precision",
    }
}

fn default_sql(t: u8, v: i8) -> String {
    match t {
        0 => v.to_string(),
        1 => format!("'s{v}'"),
        _ => format!("{v}.5"),
    }
}

/// Whether table `i` has a single-column key a foreign key can point at.
fn single_key(spec: &Spec, i: usize) -> bool {
    spec.tables[i].as_ref().is_some_and(|t| !t.composite_pk || t.cols.is_empty())
}

fn ddl(spec: &Spec, d: Dialect) -> String {
    let mut out = String::new();
    let mut after = String::new();
    for (i, t) in spec.tables.iter().enumerate() {
        let Some(t) = t else { continue };
        let tn = format!("t{i}");
        let mut lines = vec!["id integer NOT NULL".to_string()];
        for (pos, c) in t.cols.iter().enumerate() {
            let key_col = t.composite_pk && pos == 0;
            let mut s = format!("c{} {}", c.name, ty(d, c.ty));
            if c.not_null || key_col {
                s.push_str(" NOT NULL");
            }
            if let Some(v) = c.default {
                s.push_str(&format!(" DEFAULT {}", default_sql(c.ty, v)));
            }
            lines.push(s);
        }
        match t.cols.first() {
            Some(first) if t.composite_pk => lines.push(format!("PRIMARY KEY (id, c{})", first.name)),
            _ => lines.push("PRIMARY KEY (id)".to_string()),
        }
        if let Some(c) = t.unique.and_then(|p| t.cols.get(p)) {
            lines.push(format!("CONSTRAINT {tn}_c{}_key UNIQUE (c{})", c.name, c.name));
        }
        if let Some(c) = t.check.and_then(|p| t.cols.get(p)) {
            let cond = match c.ty {
                0 => format!("c{} >= -100", c.name),
                1 => format!("length(c{}) < 100", c.name),
                _ => format!("c{} > -100", c.name),
            };
            lines.push(format!("CONSTRAINT {tn}_c{}_check CHECK ({cond})", c.name));
        }
        for (pos, target, action) in &t.fks {
            let Some(c) = t.cols.get(*pos).filter(|c| c.ty == 0) else { continue };
            if !single_key(spec, *target) {
                continue;
            }
            let action = ["NO ACTION", "CASCADE", "SET NULL"][*action as usize];
            let fk = format!(
                "CONSTRAINT {tn}_c{}_fk FOREIGN KEY (c{}) REFERENCES t{target}(id) ON DELETE {action}",
                c.name, c.name
            );
            match d {
                Dialect::Sqlite => lines.push(fk),
                Dialect::Postgres => after.push_str(&format!("ALTER TABLE {tn} ADD {fk};\n")),
            }
        }
        // A column in two foreign keys is fine; the same constraint twice is not.
        lines.dedup();
        out.push_str(&format!("CREATE TABLE {tn} ({});\n", lines.join(", ")));
        let mut names = std::collections::BTreeSet::new();
        for (pos, unique, partial) in &t.indexes {
            let Some(c) = t.cols.get(*pos) else { continue };
            let name = format!("{tn}_c{}_{}", c.name, if *unique { "uidx" } else { "idx" });
            if !names.insert(name.clone()) {
                continue;
            }
            let predicate = if *partial { format!(" WHERE c{} IS NOT NULL", c.name) } else { String::new() };
            out.push_str(&format!(
                "CREATE {}INDEX {name} ON {tn} (c{}){predicate};\n",
                if *unique { "UNIQUE " } else { "" },
                c.name
            ));
        }
    }
    out.push_str(&after);
    if spec.view && spec.tables[0].is_some() {
        out.push_str("CREATE VIEW v0 AS SELECT * FROM t0;\n");
    }
    if spec.trigger && spec.tables[0].is_some() {
        out.push_str(match d {
            Dialect::Sqlite => "CREATE TRIGGER t0_touch AFTER UPDATE ON t0 BEGIN SELECT 1; END;\n",
            Dialect::Postgres => {
                "CREATE TRIGGER t0_touch BEFORE UPDATE ON t0 FOR EACH ROW \
                 EXECUTE FUNCTION suppress_redundant_updates_trigger();\n"
            }
        });
    }
    out
}

fn fk_names_unique(spec: &Spec) -> Spec {
    // Two foreign keys on one column would get one name: keep the first.
    let mut spec = spec.clone();
    for t in spec.tables.iter_mut().flatten() {
        let mut seen = std::collections::BTreeSet::new();
        let cols = t.cols.clone();
        t.fks.retain(|(pos, ..)| cols.get(*pos).is_none_or(|c| seen.insert(c.name)));
    }
    spec
}

enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<test_support::pg::TestDb>, Box<::postgres::Client>),
}

impl Db {
    fn open(d: Dialect) -> Option<Db> {
        match d {
            Dialect::Sqlite => {
                let c = rusqlite::Connection::open_in_memory().unwrap();
                c.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false).unwrap();
                c.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false).unwrap();
                c.pragma_update(None, "foreign_keys", "ON").unwrap();
                Some(Db::Sqlite(c))
            }
            Dialect::Postgres => {
                let db = test_support::pg::database()?;
                let client = db.client();
                Some(Db::Postgres(Box::new(db), Box::new(client)))
            }
        }
    }

    fn exec(&mut self, sql: &str) {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql).unwrap_or_else(|e| panic!("{e}\n{sql}")),
            Db::Postgres(_, c) => c.batch_execute(sql).unwrap_or_else(|e| panic!("{e:?}\n{sql}")),
        }
    }

    fn introspect(&mut self) -> Schema {
        match self {
            Db::Sqlite(c) => introspect::sqlite(c).unwrap(),
            Db::Postgres(_, c) => introspect::postgres(c, SchemaFilter::All).unwrap(),
        }
    }

    fn scratch(&self) -> ScratchServer {
        match self {
            Db::Sqlite(_) => ScratchServer::default(),
            Db::Postgres(db, _) => ScratchServer::postgres(db.url()),
        }
    }
}

fn check(d: Dialect, from: &Spec, to: &Spec) -> Result<(), TestCaseError> {
    let (from_sql, to_sql) = (ddl(&fk_names_unique(from), d), ddl(&fk_names_unique(to), d));
    let Some(mut db) = Db::open(d) else { return Ok(()) };
    db.exec(&from_sql);
    let from_schema = db.introspect();
    let Some(mut target) = Db::open(d) else { return Ok(()) };
    target.exec(&to_sql);
    let to_schema = target.introspect();
    drop(target);

    let changes = diff::diff(&from_schema, &to_schema, &Renames::none_are_renames()).unwrap();
    let statements = sql::render(d, &changes, &from_schema, &to_schema);
    let text = sql::to_migration_text(&statements);
    let context = format!("--- from:\n{from_sql}--- to:\n{to_sql}--- migration:\n{text}");
    if let Err(e) = verify::verify(&db.scratch(), &from_schema, &to_schema, &statements) {
        return Err(TestCaseError::fail(format!("verify: {e}\n{context}")));
    }
    let applied = match &mut db {
        Db::Sqlite(c) => verify::run_sqlite(c, &statements),
        Db::Postgres(_, c) => verify::run_postgres(c, &statements),
    };
    if let Err(e) = applied {
        return Err(TestCaseError::fail(format!("apply: {e}\n{context}")));
    }
    let result = db.introspect();
    let left = diff::diff(&result, &to_schema, &Renames::none_are_renames()).unwrap();
    prop_assert!(left.is_empty(), "left over: {left:#?}\n{context}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_random_schema_pairs_round_trip(from in spec(), to in spec()) {
        check(Dialect::Sqlite, &from, &to)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn postgres_random_schema_pairs_round_trip(from in spec(), to in spec()) {
        check(Dialect::Postgres, &from, &to)?;
    }
}
