//! A small declarative API for writing a schema once, in Rust, for both dialects (what
//! Drizzle's `schema.ts` is for a TypeScript project). `crate::cms_schema` is written with it.
//!
//! ```
//! use cms_db::schema::declare::*;
//! use cms_db::schema::{Action, Dialect};
//!
//! let schema = SchemaDef::new([
//!     table("teams", [text("id").primary_key(), text("name").not_null().unique(), timestamp("created_at").not_null()]),
//!     table("sites", [
//!         text("id").primary_key(),
//!         text("team_id").not_null().references(fk("teams", "id").on_delete(Action::Cascade)),
//!         integer("sort_order").not_null().default(0),
//!     ])
//!     .index(["team_id", "sort_order"]),
//! ]);
//! assert!(schema.ddl(Dialect::Postgres).contains("\"created_at\" bigint NOT NULL"));
//! ```
//!
//! Column types are neutral and rendered per dialect:
//!
//! | type | SQLite | PostgreSQL |
//! |---|---|---|
//! | [`text`] | `text` | `text` |
//! | [`json`] (JSON kept as text) | `text` | `text` |
//! | [`integer`] (32-bit) | `integer` | `integer` |
//! | [`bigint`] (64-bit) | `integer` | `bigint` |
//! | [`timestamp`] (epoch milliseconds) | `integer` | `bigint` |
//! | [`boolean`] | `integer` (0/1) | `boolean` |
//!
//! Names follow Drizzle Kit's conventions, so a schema declared here reads like the one a
//! Drizzle project's folder builds: a unique constraint is `{table}_{columns}_unique` (SQLite: a
//! unique index of that name, as drizzle-kit writes it; PostgreSQL: a `UNIQUE` constraint), an
//! index `{table}_{columns}_idx`, a PostgreSQL foreign key
//! `{table}_{columns}_{target}_{target columns}_fk`, a primary key `{table}_pkey`.
//!
//! [`SchemaDef::model`] gives the plain [`Schema`] for a dialect and [`SchemaDef::ddl`] the SQL
//! that creates it (the schema engine's own renderer). The engine compares it with anything
//! else only after running that SQL into a scratch database and introspecting it (the
//! `schema` source), so both sides of every comparison are normalised the same way.

use std::collections::BTreeSet;

use super::model::{self, Action, Deferrable, Dialect, IndexKey, IndexTarget, QualifiedName, Schema};
use super::sql;

/// A neutral column type (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Text,
    /// JSON, stored as text in both dialects.
    Json,
    /// 32-bit integer.
    Integer,
    /// 64-bit integer.
    BigInt,
    /// Milliseconds since the Unix epoch (64-bit).
    Timestamp,
    Boolean,
}

impl Type {
    /// The type as the dialect's DDL spells it.
    pub fn sql(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (_, Type::Text | Type::Json) => "text",
            (Dialect::Sqlite, _) => "integer",
            (Dialect::Postgres, Type::Integer) => "integer",
            (Dialect::Postgres, Type::BigInt | Type::Timestamp) => "bigint",
            (Dialect::Postgres, Type::Boolean) => "boolean",
        }
    }
}

/// A column default: a constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
}

impl DefaultValue {
    /// The default as the dialect's DDL spells it (`'draft'`, `0`, `false`).
    pub fn sql(&self, _dialect: Dialect) -> String {
        match self {
            DefaultValue::Text(s) => format!("'{}'", s.replace('\'', "''")),
            DefaultValue::Integer(i) => i.to_string(),
            DefaultValue::Boolean(b) => b.to_string(),
        }
    }
}

impl From<&str> for DefaultValue {
    fn from(s: &str) -> DefaultValue {
        DefaultValue::Text(s.to_string())
    }
}

impl From<i64> for DefaultValue {
    fn from(i: i64) -> DefaultValue {
        DefaultValue::Integer(i)
    }
}

impl From<bool> for DefaultValue {
    fn from(b: bool) -> DefaultValue {
        DefaultValue::Boolean(b)
    }
}

/// What a foreign key points at, and its actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub table: String,
    pub columns: Vec<String>,
    pub on_delete: Action,
    pub on_update: Action,
    /// `DEFERRABLE INITIALLY DEFERRED`: checked at commit (for rows that point at each other).
    pub deferred: bool,
}

/// A reference to `table(column)`, `ON DELETE`/`ON UPDATE no action` until said otherwise.
pub fn fk(table: &str, column: &str) -> Reference {
    Reference {
        table: table.to_string(),
        columns: vec![column.to_string()],
        on_delete: Action::NoAction,
        on_update: Action::NoAction,
        deferred: false,
    }
}

impl Reference {
    pub fn on_delete(mut self, action: Action) -> Reference {
        self.on_delete = action;
        self
    }

    pub fn on_update(mut self, action: Action) -> Reference {
        self.on_update = action;
        self
    }

    pub fn deferred(mut self) -> Reference {
        self.deferred = true;
        self
    }
}

/// One column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: Type,
    pub not_null: bool,
    pub default: Option<DefaultValue>,
    /// The table's primary key is this one column.
    pub primary_key: bool,
    /// A unique constraint on this one column.
    pub unique: bool,
    /// A foreign key of this one column.
    pub references: Option<Reference>,
}

fn column(name: &str, ty: Type) -> Column {
    Column {
        name: name.to_string(),
        ty,
        not_null: false,
        default: None,
        primary_key: false,
        unique: false,
        references: None,
    }
}

/// A text column.
pub fn text(name: &str) -> Column {
    column(name, Type::Text)
}

/// A JSON column (stored as text).
pub fn json(name: &str) -> Column {
    column(name, Type::Json)
}

/// A 32-bit integer column.
pub fn integer(name: &str) -> Column {
    column(name, Type::Integer)
}

/// A 64-bit integer column.
pub fn bigint(name: &str) -> Column {
    column(name, Type::BigInt)
}

/// A point in time as milliseconds since the Unix epoch.
pub fn timestamp(name: &str) -> Column {
    column(name, Type::Timestamp)
}

/// A boolean column (SQLite: an integer 0/1).
pub fn boolean(name: &str) -> Column {
    column(name, Type::Boolean)
}

impl Column {
    pub fn not_null(mut self) -> Column {
        self.not_null = true;
        self
    }

    /// The table's primary key (implies NOT NULL).
    pub fn primary_key(mut self) -> Column {
        self.primary_key = true;
        self.not_null = true;
        self
    }

    pub fn unique(mut self) -> Column {
        self.unique = true;
        self
    }

    pub fn default(mut self, value: impl Into<DefaultValue>) -> Column {
        self.default = Some(value.into());
        self
    }

    pub fn references(mut self, target: Reference) -> Column {
        self.references = Some(target);
        self
    }
}

/// A table-level foreign key (several columns, or declared apart from its column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKeyDef {
    pub columns: Vec<String>,
    pub target: Reference,
}

/// A non-unique index, or a unique index where a unique index is wanted in both dialects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckDef {
    pub name: String,
    /// The condition, written so that both dialects accept it (`"status" in ('a', 'b')`).
    pub expression: String,
}

/// One table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub name: String,
    /// In the order the table has them.
    pub columns: Vec<Column>,
    /// A primary key of several columns (one column: [`Column::primary_key`]).
    pub primary_key: Vec<String>,
    /// Unique constraints of several columns (one column: [`Column::unique`]).
    pub uniques: Vec<Vec<String>>,
    pub indexes: Vec<IndexDef>,
    pub foreign_keys: Vec<ForeignKeyDef>,
    pub checks: Vec<CheckDef>,
}

/// A table with its columns.
pub fn table<I: IntoIterator<Item = Column>>(name: &str, columns: I) -> TableDef {
    TableDef {
        name: name.to_string(),
        columns: columns.into_iter().collect(),
        primary_key: Vec::new(),
        uniques: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        checks: Vec::new(),
    }
}

fn names<I: IntoIterator<Item = S>, S: AsRef<str>>(cols: I) -> Vec<String> {
    cols.into_iter().map(|c| c.as_ref().to_string()).collect()
}

impl TableDef {
    /// A primary key of several columns.
    pub fn primary_key<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, columns: I) -> TableDef {
        self.primary_key = names(columns);
        self
    }

    /// A unique constraint `{table}_{columns}_unique`.
    pub fn unique<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, columns: I) -> TableDef {
        self.uniques.push(names(columns));
        self
    }

    /// An index `{table}_{columns}_idx`.
    pub fn index<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, columns: I) -> TableDef {
        let columns = names(columns);
        let name = format!("{}_{}_idx", self.name, columns.join("_"));
        self.indexes.push(IndexDef { name, columns, unique: false });
        self
    }

    /// A unique index `name` (in both dialects an index, not a constraint).
    pub fn unique_index<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, name: &str, columns: I) -> TableDef {
        self.indexes.push(IndexDef { name: name.to_string(), columns: names(columns), unique: true });
        self
    }

    /// A foreign key of several columns.
    pub fn foreign_key<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, columns: I, target: Reference) -> TableDef {
        self.foreign_keys.push(ForeignKeyDef { columns: names(columns), target });
        self
    }

    /// A check constraint `name`.
    pub fn check(mut self, name: &str, expression: &str) -> TableDef {
        self.checks.push(CheckDef { name: name.to_string(), expression: expression.to_string() });
        self
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns.iter_mut().find(|c| c.name == name)
    }

    /// The column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    fn key_columns(&self) -> Vec<String> {
        if !self.primary_key.is_empty() {
            return self.primary_key.clone();
        }
        self.columns.iter().filter(|c| c.primary_key).map(|c| c.name.clone()).collect()
    }

    fn unique_sets(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> =
            self.columns.iter().filter(|c| c.unique).map(|c| vec![c.name.clone()]).collect();
        out.extend(self.uniques.iter().cloned());
        out
    }

    fn all_foreign_keys(&self) -> Vec<ForeignKeyDef> {
        let mut out: Vec<ForeignKeyDef> = self
            .columns
            .iter()
            .filter_map(|c| c.references.clone().map(|target| ForeignKeyDef { columns: vec![c.name.clone()], target }))
            .collect();
        out.extend(self.foreign_keys.iter().cloned());
        out
    }

    /// This table as the model has it in `dialect`.
    pub fn model(&self, dialect: Dialect) -> model::Table {
        let ns = dialect.default_schema();
        let mut t = model::Table::new(QualifiedName::new(ns, &self.name));
        let key = self.key_columns();
        t.columns = self
            .columns
            .iter()
            .map(|c| {
                let mut m = model::Column::new(&c.name, c.ty.sql(dialect));
                m.not_null = c.not_null || key.contains(&c.name);
                m.default = c.default.as_ref().map(|d| d.sql(dialect));
                m
            })
            .collect();
        if !key.is_empty() {
            let name = match dialect {
                Dialect::Sqlite => None,
                Dialect::Postgres => Some(format!("{}_pkey", self.name)),
            };
            t.primary_key = Some(model::PrimaryKey { name, columns: key });
        }
        for cols in self.unique_sets() {
            let name = format!("{}_{}_unique", self.name, cols.join("_"));
            match dialect {
                // drizzle-kit writes a unique constraint as a unique index on SQLite.
                Dialect::Sqlite => {
                    t.indexes.insert(name.clone(), index(&name, &cols, true));
                }
                Dialect::Postgres => {
                    t.uniques.push(model::Unique { name: Some(name), columns: cols, nulls_not_distinct: false })
                }
            }
        }
        for i in &self.indexes {
            t.indexes.insert(i.name.clone(), index(&i.name, &i.columns, i.unique));
        }
        for f in self.all_foreign_keys() {
            let name = match dialect {
                Dialect::Sqlite => None,
                Dialect::Postgres => Some(format!(
                    "{}_{}_{}_{}_fk",
                    self.name,
                    f.columns.join("_"),
                    f.target.table,
                    f.target.columns.join("_")
                )),
            };
            t.foreign_keys.push(model::ForeignKey {
                name,
                columns: f.columns,
                references: QualifiedName::new(ns, &f.target.table),
                referenced_columns: f.target.columns.clone(),
                on_delete: f.target.on_delete,
                on_update: f.target.on_update,
                deferrable: if f.target.deferred { Deferrable::InitiallyDeferred } else { Deferrable::NotDeferrable },
            });
        }
        t.checks = self
            .checks
            .iter()
            .map(|c| model::Check { name: Some(c.name.clone()), expression: c.expression.clone() })
            .collect();
        t.normalize();
        t
    }
}

fn index(name: &str, columns: &[String], unique: bool) -> model::Index {
    model::Index {
        name: name.to_string(),
        unique,
        keys: columns
            .iter()
            .map(|c| IndexKey {
                target: IndexTarget::Column(c.clone()),
                descending: false,
                collation: None,
                nulls_not_default: false,
                opclass: None,
            })
            .collect(),
        predicate: None,
        method: None,
        include: Vec::new(),
    }
}

/// A whole schema: its tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaDef {
    pub tables: Vec<TableDef>,
}

/// A declaration that cannot be a schema (a column named twice, a key on a column that does not
/// exist, …). Each message names the table and what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the schema declaration is not valid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct DeclarationError(pub Vec<String>);

impl SchemaDef {
    pub fn new<I: IntoIterator<Item = TableDef>>(tables: I) -> SchemaDef {
        SchemaDef { tables: tables.into_iter().collect() }
    }

    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn table_mut(&mut self, name: &str) -> Option<&mut TableDef> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    /// Every problem of the declaration: duplicate tables, columns or object names, keys,
    /// indexes and foreign keys naming columns that do not exist, two primary keys.
    pub fn validate(&self) -> Result<(), DeclarationError> {
        let mut problems = Vec::new();
        let mut tables = BTreeSet::new();
        // Index and constraint names share one namespace per database (SQLite indexes, and
        // PostgreSQL relations).
        let mut object_names = BTreeSet::new();
        for t in &self.tables {
            if !tables.insert(t.name.as_str()) {
                problems.push(format!("table {} is declared twice", t.name));
            }
            let mut cols = BTreeSet::new();
            for c in &t.columns {
                if !cols.insert(c.name.as_str()) {
                    problems.push(format!("{}.{} is declared twice", t.name, c.name));
                }
            }
            if t.columns.is_empty() {
                problems.push(format!("table {} has no columns", t.name));
            }
            let missing = |what: &str, list: &[String], problems: &mut Vec<String>| {
                for c in list {
                    if !cols.contains(c.as_str()) {
                        problems.push(format!(
                            "{what} of table {} names column {c}, which the table does not have",
                            t.name
                        ));
                    }
                }
            };
            let inline_keys = t.columns.iter().filter(|c| c.primary_key).count();
            if inline_keys > 1 || (inline_keys == 1 && !t.primary_key.is_empty()) {
                problems.push(format!(
                    "table {} declares its primary key twice; for a key of several columns use .primary_key([...]) on the table only",
                    t.name
                ));
            }
            missing("the primary key", &t.primary_key, &mut problems);
            for u in &t.uniques {
                missing("a unique constraint", u, &mut problems);
            }
            for i in &t.indexes {
                missing(&format!("index {}", i.name), &i.columns, &mut problems);
                if i.columns.is_empty() {
                    problems.push(format!("index {} of table {} has no columns", i.name, t.name));
                }
            }
            for f in t.all_foreign_keys() {
                missing("a foreign key", &f.columns, &mut problems);
                match self.table(&f.target.table) {
                    None => problems.push(format!(
                        "a foreign key of {}({}) points at table {}, which is not declared",
                        t.name,
                        f.columns.join(", "),
                        f.target.table
                    )),
                    Some(target) => {
                        for c in &f.target.columns {
                            if target.column(c).is_none() {
                                problems.push(format!(
                                    "a foreign key of {}({}) points at {}.{c}, which is not declared",
                                    t.name,
                                    f.columns.join(", "),
                                    f.target.table
                                ));
                            }
                        }
                    }
                }
                if f.columns.len() != f.target.columns.len() {
                    problems.push(format!(
                        "a foreign key of {}({}) has {} columns but points at {}",
                        t.name,
                        f.columns.join(", "),
                        f.columns.len(),
                        f.target.columns.len()
                    ));
                }
            }
            let mut own: Vec<String> = t.indexes.iter().map(|i| i.name.clone()).collect();
            own.extend(t.unique_sets().iter().map(|u| format!("{}_{}_unique", t.name, u.join("_"))));
            own.extend(t.checks.iter().map(|c| c.name.clone()));
            for n in own {
                if !object_names.insert(n.clone()) {
                    problems.push(format!("the name {n} (an index or constraint of table {}) is used twice", t.name));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DeclarationError(problems))
        }
    }

    /// The schema as the model has it in `dialect` (before any database has normalised it:
    /// compare it with introspected schemas only after [`SchemaDef::ddl`] has run).
    pub fn model(&self, dialect: Dialect) -> Schema {
        let mut s = Schema::empty(dialect);
        for t in &self.tables {
            let m = t.model(dialect);
            s.tables.insert(m.name.clone(), m);
        }
        s
    }

    /// The SQL that creates the schema in an empty database of `dialect`, in Drizzle Kit's
    /// text style (statements separated by `--> statement-breakpoint`).
    pub fn ddl(&self, dialect: Dialect) -> String {
        sql::to_migration_text(&sql::create(&self.model(dialect)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SchemaDef {
        SchemaDef::new([
            table("teams", [text("id").primary_key(), text("name").not_null().unique()]),
            table(
                "sites",
                [
                    text("id").primary_key(),
                    text("team_id").not_null().references(fk("teams", "id").on_delete(Action::Cascade)),
                    json("settings").not_null().default("{}"),
                    boolean("live").not_null().default(false),
                    integer("rank").default(0),
                    bigint("bytes"),
                    timestamp("created_at").not_null(),
                ],
            )
            .unique(["team_id", "rank"])
            .index(["created_at"])
            .check("sites_rank_check", "\"rank\" >= 0"),
        ])
    }

    #[test]
    fn types_and_defaults_per_dialect() {
        let s = sample();
        assert_eq!(s.validate(), Ok(()));
        let pg = s.model(Dialect::Postgres);
        let sites = pg.table("sites").unwrap();
        let types: Vec<(&str, &str)> = sites.columns.iter().map(|c| (c.name.as_str(), c.data_type.as_str())).collect();
        assert_eq!(
            types,
            [
                ("id", "text"),
                ("team_id", "text"),
                ("settings", "text"),
                ("live", "boolean"),
                ("rank", "integer"),
                ("bytes", "bigint"),
                ("created_at", "bigint")
            ]
        );
        assert_eq!(sites.column("settings").unwrap().default.as_deref(), Some("'{}'"));
        assert_eq!(sites.column("live").unwrap().default.as_deref(), Some("false"));
        assert!(sites.column("id").unwrap().not_null, "a key column is NOT NULL");
        let lite = s.model(Dialect::Sqlite);
        let sites = lite.table("sites").unwrap();
        assert!(sites
            .columns
            .iter()
            .filter(|c| c.name != "id" && c.name != "team_id")
            .all(|c| { c.data_type == if matches!(c.name.as_str(), "settings") { "text" } else { "integer" } }));
    }

    #[test]
    fn names_follow_drizzle_kit() {
        let s = sample();
        let pg = s.model(Dialect::Postgres);
        let sites = pg.table("sites").unwrap();
        assert_eq!(sites.primary_key.as_ref().unwrap().name.as_deref(), Some("sites_pkey"));
        assert_eq!(sites.foreign_keys[0].name.as_deref(), Some("sites_team_id_teams_id_fk"));
        assert_eq!(sites.foreign_keys[0].on_delete, Action::Cascade);
        assert_eq!(sites.uniques[0].name.as_deref(), Some("sites_team_id_rank_unique"));
        assert!(sites.indexes.contains_key("sites_created_at_idx"));
        assert_eq!(pg.table("teams").unwrap().uniques[0].name.as_deref(), Some("teams_name_unique"));
        // SQLite: unique constraints are unique indexes, foreign keys and keys unnamed.
        let lite = s.model(Dialect::Sqlite);
        let sites = lite.table("sites").unwrap();
        assert!(sites.uniques.is_empty());
        assert!(sites.indexes["sites_team_id_rank_unique"].unique);
        assert_eq!(sites.foreign_keys[0].name, None);
        assert_eq!(sites.primary_key.as_ref().unwrap().name, None);
    }

    #[test]
    fn ddl_is_drizzle_kit_text() {
        let s = sample();
        let lite = s.ddl(Dialect::Sqlite);
        assert!(lite.contains("CREATE TABLE `teams`"), "{lite}");
        assert!(lite.contains("CREATE UNIQUE INDEX `teams_name_unique` ON `teams` (`name`);"), "{lite}");
        assert!(lite.contains("--> statement-breakpoint"), "{lite}");
        let pg = s.ddl(Dialect::Postgres);
        assert!(pg.contains("CONSTRAINT \"sites_rank_check\" CHECK (\"rank\" >= 0)"), "{pg}");
        assert!(pg.contains("\"live\" boolean DEFAULT false NOT NULL"), "{pg}");
    }

    #[test]
    fn invalid_declarations_say_what_is_wrong() {
        let mut s = sample();
        s.tables.push(table("teams", [text("id")]));
        let sites = s.table_mut("sites").unwrap();
        sites.columns.push(text("rank"));
        sites.indexes.push(IndexDef { name: "x".into(), columns: vec!["nope".into()], unique: false });
        sites.foreign_keys.push(ForeignKeyDef { columns: vec!["team_id".into()], target: fk("ghosts", "id") });
        sites.columns[0] = sites.columns[0].clone().primary_key();
        let sites = s.table_mut("sites").unwrap();
        let mut second = text("other").primary_key();
        second.unique = false;
        sites.columns.push(second);
        let err = s.validate().unwrap_err().to_string();
        for expected in [
            "table teams is declared twice",
            "sites.rank is declared twice",
            "index x of table sites names column nope",
            "points at table ghosts, which is not declared",
            "declares its primary key twice",
        ] {
            assert!(err.contains(expected), "{expected:?} in {err}");
        }
    }
}
