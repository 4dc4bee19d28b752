//! The schema model: plain data, the same for both dialects. Every schema the engine compares
//! is a real database introspected into this shape (see `introspect`), so two databases that
//! the same SQL produced are equal values, and the differ never parses SQL.
//!
//! Normal form (what introspection must produce, so that `==` means "the same schema"):
//! - maps are keyed by name (`BTreeMap`, so iteration order is stable and `==` ignores the
//!   order objects were created in); columns keep their declared order (it is visible);
//!   a table's `uniques`, `foreign_keys` and `checks` are sorted (by their derived order:
//!   name first, then content), so the order constraints were declared in is not a change;
//! - SQLite: `schema` is always `"main"`; PostgreSQL: the namespace (`"public"` by default);
//! - identifiers (table, column, constraint, index names) unquoted, as the catalog has them;
//! - types as the catalog spells them (SQLite: the declared type, upper-cased, its tokens
//!   re-joined by [`normalize_sql_expression`](crate::schema::introspect::normalize_sql_expression):
//!   `VARCHAR(255)`, `DOUBLE PRECISION`, `""` when none was declared; PostgreSQL:
//!   `format_type`, except that a column owning its sequence the way `serial` makes it is
//!   `serial` / `bigserial` / `smallserial` with no default, see below);
//! - expressions (defaults, checks, generated columns, index expressions and predicates):
//!   SQLite: the text of the CREATE statement through `normalize_sql_expression` (tokens
//!   re-joined with single spaces where a space is needed, comments dropped, identifier quotes
//!   dropped where not needed, keywords upper-cased, parentheses around the whole expression
//!   dropped), so quoting style, whitespace, keyword case and a drizzle-kit rebuild never
//!   read as a change; PostgreSQL: as the catalog prints them (`pg_get_expr`,
//!   `pg_get_constraintdef` without `CHECK (…)` and its extra parentheses), which is already
//!   canonical;
//! - SQLite views, triggers and virtual tables: the whole stored CREATE statement through
//!   `normalize_sql_expression`; PostgreSQL views: `pg_get_viewdef`, triggers:
//!   `pg_get_triggerdef`;
//! - constraint names: PostgreSQL always has them (its own or the given one); SQLite has a
//!   name only when the CREATE TABLE text gives one (`CONSTRAINT n CHECK …`), else `None`;
//!   the differ matches unnamed constraints by content;
//! - a column's single-column PRIMARY KEY is in `Table::primary_key`, never in the column;
//!   a column-level CHECK, UNIQUE or REFERENCES is a table-level one of that column;
//! - SQLite index key collations are the ones written in the CREATE INDEX statement
//!   (upper-cased); PostgreSQL ones those that differ from the column's;
//! - PostgreSQL `serial`: a column whose default is `nextval` of a sequence it owns (`OWNED
//!   BY`, not identity) with the options `serial` gives (start 1, increment 1, min 1, the
//!   type's max, cache 1, no cycle) is `serial` / `bigserial` / `smallserial` with
//!   `default: None`, whatever the sequence is called (a renamed table keeps its old
//!   sequence name); the sequence is not listed in `Schema::sequences`. Any other
//!   sequence-backed default keeps its text (`nextval('s'::regclass)`) and its sequence is
//!   listed;
//! - PostgreSQL functions and procedures: keyed by name and identity arguments
//!   (`pg_get_function_identity_arguments`, so overloads are distinct); the definition is
//!   `pg_get_functiondef` (the whole `CREATE OR REPLACE FUNCTION …`, the name always
//!   qualified) with line endings made `\n` and trailing whitespace dropped; functions an
//!   extension owns, aggregates and window functions are not read;
//! - PostgreSQL extensions: keyed by name, with the namespace they are installed in when it is
//!   not `public` (`None` in `public`); their version is not part of the schema, and
//!   `plpgsql` (always there) is never listed;
//! - PostgreSQL row-level security: `Table::row_level_security` / `force_row_level_security`
//!   from `pg_class`; policies keyed by name (`pg_policy`), their roles sorted (`public` for
//!   PUBLIC), their USING and WITH CHECK expressions as `pg_get_expr` prints them;
//! - drizzle's bookkeeping table (`__drizzle_migrations`, schema `drizzle`), SQLite's own
//!   tables (`sqlite_%`) and an FTS5 table's shadow tables are never part of a schema.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::dialect::Dialect;

/// A name in a namespace: `public.pages`, `main.pages`, `auth.users`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> QualifiedName {
        QualifiedName { schema: schema.into(), name: name.into() }
    }
}

impl fmt::Display for QualifiedName {
    /// `name` in the default namespaces (`main`, `public`), `schema.name` elsewhere.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.schema == "main" || self.schema == "public" || self.schema.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

/// A whole database schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub dialect: Dialect,
    /// PostgreSQL namespaces other than `public` that exist (empty on SQLite).
    pub schemas: BTreeSet<String>,
    pub tables: BTreeMap<QualifiedName, Table>,
    pub views: BTreeMap<QualifiedName, View>,
    /// PostgreSQL enum types.
    pub enums: BTreeMap<QualifiedName, Enum>,
    /// PostgreSQL sequences that no identity or serial column owns.
    pub sequences: BTreeMap<QualifiedName, Sequence>,
    /// Triggers, keyed by their table and their name ([`Trigger::key`]): PostgreSQL trigger
    /// names are unique per table only (`set_updated_at` on every table is common).
    pub triggers: BTreeMap<(QualifiedName, String), Trigger>,
    /// SQLite virtual tables (FTS5 …): one object each, their shadow tables included.
    pub virtual_tables: BTreeMap<QualifiedName, VirtualTable>,
    /// PostgreSQL functions and procedures (not an extension's), keyed by name and identity
    /// arguments ([`Function::key`]): overloads are distinct objects. Empty on SQLite.
    pub functions: BTreeMap<(QualifiedName, String), Function>,
    /// PostgreSQL extensions (`CREATE EXTENSION`), by name; `plpgsql` is never listed. Empty
    /// on SQLite.
    #[serde(default)]
    pub extensions: BTreeMap<String, Extension>,
}

impl Schema {
    pub fn empty(dialect: Dialect) -> Schema {
        Schema {
            dialect,
            schemas: BTreeSet::new(),
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            enums: BTreeMap::new(),
            sequences: BTreeMap::new(),
            triggers: BTreeMap::new(),
            virtual_tables: BTreeMap::new(),
            functions: BTreeMap::new(),
            extensions: BTreeMap::new(),
        }
    }

    /// The table called `name` in the dialect's default namespace.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(&QualifiedName::new(self.dialect.default_schema(), name))
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
            && self.tables.is_empty()
            && self.views.is_empty()
            && self.enums.is_empty()
            && self.sequences.is_empty()
            && self.triggers.is_empty()
            && self.virtual_tables.is_empty()
            && self.functions.is_empty()
            && self.extensions.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: QualifiedName,
    /// In declared order.
    pub columns: Vec<Column>,
    pub primary_key: Option<PrimaryKey>,
    /// UNIQUE constraints (PostgreSQL constraints; SQLite inline/table UNIQUE clauses). A
    /// `CREATE UNIQUE INDEX` is an [`Index`] with `unique: true`, not one of these.
    pub uniques: Vec<Unique>,
    /// Indexes that are not the implementation of a constraint, by name.
    pub indexes: BTreeMap<String, Index>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<Check>,
    /// SQLite `WITHOUT ROWID`.
    pub without_rowid: bool,
    /// SQLite `STRICT`.
    pub strict: bool,
    /// PostgreSQL `ENABLE ROW LEVEL SECURITY`.
    #[serde(default)]
    pub row_level_security: bool,
    /// PostgreSQL `FORCE ROW LEVEL SECURITY` (the owner is subject to the policies too).
    #[serde(default)]
    pub force_row_level_security: bool,
    /// PostgreSQL row-level security policies, by name.
    #[serde(default)]
    pub policies: BTreeMap<String, Policy>,
}

impl Table {
    pub fn new(name: QualifiedName) -> Table {
        Table {
            name,
            columns: Vec::new(),
            primary_key: None,
            uniques: Vec::new(),
            indexes: BTreeMap::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            without_rowid: false,
            strict: false,
            row_level_security: false,
            force_row_level_security: false,
            policies: BTreeMap::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Puts the constraint lists in their normal-form order (sorted), so that a table built
    /// by hand compares equal to an introspected one whatever order it was written in.
    pub fn normalize(&mut self) {
        self.uniques.sort();
        self.foreign_keys.sort();
        self.checks.sort();
    }
}

/// A PostgreSQL row-level security policy (`CREATE POLICY`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// `AS PERMISSIVE` (true) or `AS RESTRICTIVE` (false).
    pub permissive: bool,
    pub command: PolicyCommand,
    /// The roles it applies to, sorted; `public` for PUBLIC.
    pub roles: Vec<String>,
    /// `USING (…)`, as `pg_get_expr` prints it.
    pub using: Option<String>,
    /// `WITH CHECK (…)`, as `pg_get_expr` prints it.
    pub with_check: Option<String>,
}

/// The command a policy applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl PolicyCommand {
    /// As DDL spells it: `ALL`, `SELECT`, …
    pub fn sql(self) -> &'static str {
        match self {
            PolicyCommand::All => "ALL",
            PolicyCommand::Select => "SELECT",
            PolicyCommand::Insert => "INSERT",
            PolicyCommand::Update => "UPDATE",
            PolicyCommand::Delete => "DELETE",
        }
    }
}

/// A PostgreSQL extension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    /// The namespace its objects are in, when not `public`.
    pub schema: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// The type as the catalog spells it (see the module's normal form).
    pub data_type: String,
    pub not_null: bool,
    /// The default expression as the catalog prints it (`'draft'`, `0`, `now()`).
    pub default: Option<String>,
    pub generated: Option<Generated>,
    /// PostgreSQL `GENERATED … AS IDENTITY`.
    pub identity: Option<Identity>,
    /// SQLite `INTEGER PRIMARY KEY AUTOINCREMENT`.
    pub autoincrement: bool,
    /// A collation other than the default.
    pub collation: Option<String>,
}

impl Column {
    /// A nullable column of `data_type` with nothing else set.
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            not_null: false,
            default: None,
            generated: None,
            identity: None,
            autoincrement: false,
            collation: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    pub expression: String,
    /// STORED (true) or VIRTUAL (false; SQLite only).
    pub stored: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `ALWAYS` (true) or `BY DEFAULT` (false).
    pub always: bool,
    pub sequence: SequenceOptions,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryKey {
    /// PostgreSQL's constraint name; `None` on SQLite.
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unique {
    pub name: Option<String>,
    pub columns: Vec<String>,
    /// PostgreSQL 15 `NULLS NOT DISTINCT`.
    pub nulls_not_distinct: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub keys: Vec<IndexKey>,
    /// A partial index's predicate.
    pub predicate: Option<String>,
    /// PostgreSQL access method when not `btree`.
    pub method: Option<String>,
    /// PostgreSQL `INCLUDE (…)` columns, in order.
    pub include: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub target: IndexTarget,
    pub descending: bool,
    pub collation: Option<String>,
    /// PostgreSQL `NULLS FIRST` on an ascending key / `NULLS LAST` on a descending one.
    pub nulls_not_default: bool,
    /// PostgreSQL operator class when not the type's default (`jsonb_path_ops`).
    pub opclass: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexTarget {
    Column(String),
    Expression(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl Action {
    /// As DDL spells it: `NO ACTION`, `CASCADE`, …
    pub fn sql(self) -> &'static str {
        match self {
            Action::NoAction => "NO ACTION",
            Action::Restrict => "RESTRICT",
            Action::Cascade => "CASCADE",
            Action::SetNull => "SET NULL",
            Action::SetDefault => "SET DEFAULT",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deferrable {
    NotDeferrable,
    InitiallyImmediate,
    InitiallyDeferred,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub references: QualifiedName,
    pub referenced_columns: Vec<String>,
    pub on_delete: Action,
    pub on_update: Action,
    pub deferrable: Deferrable,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Check {
    pub name: Option<String>,
    /// The condition, without `CHECK (…)` around it.
    pub expression: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub name: QualifiedName,
    /// SQLite: the whole `CREATE VIEW` statement as stored; PostgreSQL: `pg_get_viewdef`.
    pub definition: String,
    /// PostgreSQL materialized view.
    pub materialized: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// The trigger's name, in its table's namespace.
    pub name: QualifiedName,
    pub table: QualifiedName,
    /// The whole `CREATE TRIGGER` statement as the catalog stores or prints it.
    pub definition: String,
}

impl Trigger {
    /// Its key in [`Schema::triggers`]: (table, trigger name).
    pub fn key(&self) -> (QualifiedName, String) {
        (self.table.clone(), self.name.name.clone())
    }
}

/// A PostgreSQL function or procedure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub name: QualifiedName,
    pub kind: RoutineKind,
    /// The identity arguments (`pg_get_function_identity_arguments`: `a integer, b text`, names
    /// and modes, no defaults): with the name, what tells one overload from another.
    pub arguments: String,
    /// The parameters as declared (`pg_get_function_arguments`: defaults included).
    pub parameters: String,
    /// The result (`pg_get_function_result`: `trigger`, `SETOF pages`, `TABLE(…)`); `None`
    /// for a procedure.
    pub returns: Option<String>,
    /// The whole `CREATE OR REPLACE FUNCTION …` statement (`pg_get_functiondef`).
    pub definition: String,
}

impl Function {
    /// Its key in [`Schema::functions`]: (name, identity arguments).
    pub fn key(&self) -> (QualifiedName, String) {
        (self.name.clone(), self.arguments.clone())
    }

    /// Whether `CREATE OR REPLACE` can turn `self` into `other` (same key): PostgreSQL refuses
    /// to change a routine's kind, its result type, or its parameters' names and defaults that
    /// way, so any of those changed is a drop and a create.
    pub fn replaceable_by(&self, other: &Function) -> bool {
        self.kind == other.kind && self.returns == other.returns && self.parameters == other.parameters
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutineKind {
    Function,
    Procedure,
}

impl RoutineKind {
    /// As DDL spells it: `FUNCTION`, `PROCEDURE`.
    pub fn sql(self) -> &'static str {
        match self {
            RoutineKind::Function => "FUNCTION",
            RoutineKind::Procedure => "PROCEDURE",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualTable {
    pub name: QualifiedName,
    /// `fts5`, `rtree`, …
    pub module: String,
    /// The whole `CREATE VIRTUAL TABLE` statement as stored.
    pub definition: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enum {
    pub name: QualifiedName,
    /// In their sort order.
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub name: QualifiedName,
    pub options: SequenceOptions,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceOptions {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cache: i64,
    pub cycle: bool,
}
