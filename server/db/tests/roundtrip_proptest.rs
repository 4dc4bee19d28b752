//! Random schema pairs: a few tables with columns of a few types (PostgreSQL: an enum too,
//! whose values are added, removed and reordered), nullable or not, with defaults, generated
//! columns, primary keys (single or composite), unique constraints, checks, plain, unique and
//! partial indexes, foreign keys between the tables, a view and a trigger (PostgreSQL: a
//! function `f0` in one of three versions, two bodies and a wider signature, called by a check
//! and the trigger's WHEN); the *to* side may
//! rename a table and a column (and says so). Both sides are
//! built as real databases and introspected; the diff between them is rendered, verified on
//! a scratch database, applied to the *from* database, and what it reads back must be *to*.
//! Table and column names come from small pools, so the two sides share most names and the
//! diff is mostly alterations. SQLite always; PostgreSQL with fewer cases when a server is
//! there.

use cms_db::migrate::migrator::Driver;
use cms_db::postgres::PostgresDriver;
use cms_db::schema::diff::{self, Renames};
use cms_db::schema::introspect::{self, SchemaFilter};
use cms_db::schema::source::ScratchServer;
use cms_db::schema::verify;
use cms_db::schema::{sql, Dialect, Schema};
use cms_db::sqlite::SqliteDriver;
use proptest::prelude::*;

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
    /// A generated column `g` = `id * factor`.
    generated: Option<u8>,
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
    /// The enum `mood`'s values (PostgreSQL), from `v0`…`v3`.
    mood: Vec<usize>,
    /// PostgreSQL: no function `f0` (0), or one of its versions (1…3).
    func: u8,
    /// Table `i` is called `r{i}` (the *to* side renames it from `t{i}`).
    renamed_table: Option<usize>,
    /// Column `c{n}` of table `i` is called `d{n}`.
    renamed_column: Option<(usize, usize)>,
}

impl Spec {
    fn table(&self, i: usize) -> String {
        if self.renamed_table == Some(i) {
            format!("r{i}")
        } else {
            format!("t{i}")
        }
    }

    fn column(&self, i: usize, n: usize) -> String {
        if self.renamed_column == Some((i, n)) {
            format!("d{n}")
        } else {
            format!("c{n}")
        }
    }
}

fn col() -> impl Strategy<Value = Col> {
    (0..5usize, 0..4u8, any::<bool>(), proptest::option::of(-3..4i8)).prop_map(|(name, ty, not_null, default)| Col {
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
        proptest::option::of(1..3u8),
    )
        .prop_map(|(cols, composite_pk, unique, check, indexes, fks, generated)| {
            let mut seen = std::collections::BTreeSet::new();
            let cols = cols.into_iter().filter(|c| seen.insert(c.name)).collect();
            Tab { cols, generated, composite_pk, unique, check, indexes, fks }
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec(proptest::option::of(tab()), TABLES),
        any::<bool>(),
        any::<bool>(),
        Just(vec![0usize, 1, 2, 3]).prop_shuffle().prop_flat_map(|v| (1..=4usize).prop_map(move |n| v[..n].to_vec())),
        0..4u8,
    )
        .prop_map(|(tables, view, trigger, mood, func)| Spec {
            tables,
            view,
            trigger,
            mood,
            func,
            renamed_table: None,
            renamed_column: None,
        })
}

/// A pair of specs; the second may rename a table and a column the first has.
fn pair() -> impl Strategy<Value = (Spec, Spec, Vec<String>)> {
    (spec(), spec(), proptest::option::of(0..TABLES), proptest::option::of((0..TABLES, 0..5usize))).prop_map(
        |(from, mut to, rt, rc)| {
            let mut renames = Vec::new();
            if let Some(i) = rt.filter(|i| from.tables[*i].is_some() && to.tables[*i].is_some()) {
                to.renamed_table = Some(i);
                renames.push(format!("t{i}={}", to.table(i)));
            }
            let has =
                |s: &Spec, i: usize, n: usize| s.tables[i].as_ref().is_some_and(|t| t.cols.iter().any(|c| c.name == n));
            if let Some((i, n)) = rc.filter(|(i, n)| has(&from, *i, *n) && has(&to, *i, *n)) {
                to.renamed_column = Some((i, n));
                renames.push(format!("{}.c{n}={}", to.table(i), to.column(i, n)));
            }
            (from, to, renames)
        },
    )
}

fn ty(d: Dialect, t: u8) -> &'static str {
    match (t, d) {
        (0, _) => "integer",
        (1, _) | (3.., Dialect::Sqlite) => "text",
        (2, Dialect::Sqlite) => "real",
        (2, Dialect::Postgres) => "double precision",
        (_, Dialect::Postgres) => "mood",
    }
}

fn default_sql(spec: &Spec, t: u8, v: i8) -> String {
    match t {
        0 => v.to_string(),
        1 => format!("'s{v}'"),
        2 => format!("{v}.5"),
        _ => format!("'v{}'", spec.mood[0]),
    }
}

/// Whether table `i` has a single-column key a foreign key can point at.
fn single_key(spec: &Spec, i: usize) -> bool {
    spec.tables[i].as_ref().is_some_and(|t| !t.composite_pk || t.cols.is_empty())
}

fn ddl(spec: &Spec, d: Dialect) -> String {
    let mut out = String::new();
    if d == Dialect::Postgres {
        let values: Vec<String> = spec.mood.iter().map(|v| format!("'v{v}'")).collect();
        out.push_str(&format!("CREATE TYPE mood AS ENUM ({});\n", values.join(", ")));
        let f0 = match spec.func {
            1 => "f0(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + 1 $$",
            2 => "f0(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + 2 $$",
            3 => "f0(x integer, y integer DEFAULT 0) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + y $$",
            _ => "",
        };
        if !f0.is_empty() {
            out.push_str(&format!("CREATE FUNCTION {f0};\n"));
        }
    }
    let calls_f0 = d == Dialect::Postgres && spec.func != 0;
    let mut after = String::new();
    for (i, t) in spec.tables.iter().enumerate() {
        let Some(t) = t else { continue };
        let tn = spec.table(i);
        let cn = |n: usize| spec.column(i, n);
        let mut lines = vec!["id integer NOT NULL".to_string()];
        for (pos, c) in t.cols.iter().enumerate() {
            let key_col = t.composite_pk && pos == 0;
            let mut s = format!("{} {}", cn(c.name), ty(d, c.ty));
            if c.not_null || key_col {
                s.push_str(" NOT NULL");
            }
            if let Some(v) = c.default {
                s.push_str(&format!(" DEFAULT {}", default_sql(spec, c.ty, v)));
            }
            lines.push(s);
        }
        if let Some(factor) = t.generated {
            lines.push(format!("g integer GENERATED ALWAYS AS (id * {factor}) STORED"));
        }
        match t.cols.first() {
            Some(first) if t.composite_pk => lines.push(format!("PRIMARY KEY (id, {})", cn(first.name))),
            _ => lines.push("PRIMARY KEY (id)".to_string()),
        }
        if let Some(c) = t.unique.and_then(|p| t.cols.get(p)) {
            lines.push(format!("CONSTRAINT {tn}_c{}_key UNIQUE ({})", c.name, cn(c.name)));
        }
        if calls_f0 && i == 0 {
            lines.push(format!("CONSTRAINT {tn}_f0_check CHECK (f0(id) > -1000)"));
        }
        if let Some(c) = t.check.and_then(|p| t.cols.get(p)) {
            let cond = match c.ty {
                0 => format!("{} >= -100", cn(c.name)),
                1 => format!("length({}) < 100", cn(c.name)),
                2 => format!("{} > -100", cn(c.name)),
                _ => format!("{} IS NOT NULL OR id > 0", cn(c.name)),
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
                "CONSTRAINT {tn}_c{}_fk FOREIGN KEY ({}) REFERENCES {}(id) ON DELETE {action}",
                c.name,
                cn(c.name),
                spec.table(*target)
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
            let predicate = if *partial { format!(" WHERE {} IS NOT NULL", cn(c.name)) } else { String::new() };
            out.push_str(&format!(
                "CREATE {}INDEX {name} ON {tn} ({}){predicate};\n",
                if *unique { "UNIQUE " } else { "" },
                cn(c.name)
            ));
        }
    }
    out.push_str(&after);
    let t0 = spec.table(0);
    if spec.view && spec.tables[0].is_some() {
        out.push_str(&format!("CREATE VIEW v0 AS SELECT * FROM {t0};\n"));
    }
    if spec.trigger && spec.tables[0].is_some() {
        out.push_str(&match d {
            Dialect::Sqlite => format!("CREATE TRIGGER t0_touch AFTER UPDATE ON {t0} BEGIN SELECT 1; END;\n"),
            Dialect::Postgres => format!(
                "CREATE TRIGGER t0_touch BEFORE UPDATE ON {t0} FOR EACH ROW {}\
                 EXECUTE FUNCTION suppress_redundant_updates_trigger();\n",
                if calls_f0 { "WHEN (f0(1) > 0) " } else { "" }
            ),
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
    Sqlite(Box<SqliteDriver>),
    Postgres(Box<test_support::pg::TestDb>, Box<::postgres::Client>),
}

impl Db {
    fn open(d: Dialect) -> Option<Db> {
        match d {
            Dialect::Sqlite => {
                Some(Db::Sqlite(Box::new(SqliteDriver::new(cms_db::sqlite::open_in_memory().unwrap(), None))))
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
            Db::Sqlite(d) => d.connection().unwrap().execute_batch(sql).unwrap_or_else(|e| panic!("{e}\n{sql}")),
            Db::Postgres(_, c) => c.batch_execute(sql).unwrap_or_else(|e| panic!("{e:?}\n{sql}")),
        }
    }

    fn introspect(&mut self) -> Schema {
        match self {
            Db::Sqlite(d) => introspect::sqlite(d.connection().unwrap()).unwrap(),
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

fn check(d: Dialect, from: &Spec, to: &Spec, renames: &[String]) -> Result<(), TestCaseError> {
    let (from_sql, to_sql) = (ddl(&fk_names_unique(from), d), ddl(&fk_names_unique(to), d));
    let Some(mut db) = Db::open(d) else { return Ok(()) };
    db.exec(&from_sql);
    let from_schema = db.introspect();
    let Some(mut target) = Db::open(d) else { return Ok(()) };
    target.exec(&to_sql);
    let to_schema = target.introspect();
    drop(target);

    let renames = Renames::parse(renames).unwrap().and_rest_are_not_renames();
    let changes = diff::diff(&from_schema, &to_schema, &renames).unwrap_or_else(|e| panic!("{e}"));
    let statements = sql::render(d, &changes, &from_schema, &to_schema);
    let text = sql::to_migration_text(&statements);
    let context = format!("--- from:\n{from_sql}--- to:\n{to_sql}--- migration:\n{text}");
    if let Err(e) = verify::verify(&db.scratch(), &from_schema, &to_schema, &statements) {
        return Err(TestCaseError::fail(format!("verify: {e}\n{context}")));
    }
    let run = |d: &mut dyn Driver| {
        d.prepare_bookkeeping().map_err(verify::Failure::Other)?;
        verify::apply(d, "0001_proptest", &statements)
    };
    let applied = match &mut db {
        Db::Sqlite(d) => run(d.as_mut()),
        Db::Postgres(pg, _) => run(&mut PostgresDriver::connect(pg.url()).unwrap()),
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
    fn sqlite_random_schema_pairs_round_trip((from, to, renames) in pair()) {
        check(Dialect::Sqlite, &from, &to, &renames)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn postgres_random_schema_pairs_round_trip((from, to, renames) in pair()) {
        check(Dialect::Postgres, &from, &to, &renames)?;
    }
}
