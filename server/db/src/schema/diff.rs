//! The differ: a pure function from two [`Schema`] values (and the renames the user confirmed)
//! to the list of [`Change`]s that turns one into the other.
//!
//! - Objects are matched by name. A table dropped and another added in the same namespace, a
//!   column dropped and another added in the same table, or an enum value dropped and another
//!   added in the same enum may be a rename: the differ never guesses. Without a [`Renames`]
//!   entry for it (`old=new`, `table.old=new`, `enum.old=new`) the answer is
//!   [`DiffError::Ambiguous`] listing every (dropped, added) pair, unless the caller passed
//!   [`Renames::none_are_renames`] (or [`Renames::and_rest_are_not_renames`]): "drop and add,
//!   I confirmed".
//! - Constraints are matched by name when both sides have one (PostgreSQL always; SQLite only
//!   for `CONSTRAINT n …`), otherwise by content; the same content under another name is a
//!   rename (PostgreSQL), a changed content a drop and an add. An index is matched the same way
//!   and a changed index is a drop and a create.
//! - PostgreSQL functions are matched by name and identity arguments (an overload is another
//!   function): a changed body or attribute is [`Change::ReplaceFunction`] (`CREATE OR
//!   REPLACE`); a changed result type, kind or parameter list is a drop and a create (the
//!   renderer takes what calls it down and up around them). Functions hold no rows: safe.
//! - PostgreSQL extensions are matched by name (their version is not compared; another schema
//!   is `ALTER EXTENSION … SET SCHEMA`); a dropped one is destructive. Row-level security
//!   switches are one change per table; policies are matched by name and a changed policy is
//!   a drop and a create.
//! - Column order is not compared: PostgreSQL cannot reorder columns without recreating the
//!   table, and SQLite follows the same rule so that both dialects behave alike.
//! - Table-level changes name the table by its name in `to` (after any [`Change::RenameTable`]);
//!   a dropped object is described as it was in `from`.
//!
//! Each change knows what it means for the data ([`Change::safety`]): safe, destructive (what
//! it deletes) or data-dependent (what the rows must satisfy for it to succeed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::*;

/// One change from a schema to another. Serialisable (`--json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    CreateSchema {
        name: String,
    },
    DropSchema {
        name: String,
    },
    CreateEnum {
        definition: Enum,
    },
    DropEnum {
        definition: Enum,
    },
    /// `ALTER TYPE … ADD VALUE 'v' BEFORE/AFTER …`.
    AddEnumValue {
        name: QualifiedName,
        value: String,
        position: EnumPosition,
    },
    RenameEnumValue {
        name: QualifiedName,
        from: String,
        to: String,
    },
    /// Values removed or reordered: the type is recreated and its columns converted. `from` is
    /// the value list after any [`Change::RenameEnumValue`].
    RecreateEnum {
        name: QualifiedName,
        from: Vec<String>,
        to: Vec<String>,
    },
    CreateSequence {
        sequence: Sequence,
    },
    DropSequence {
        sequence: Sequence,
    },
    AlterSequence {
        name: QualifiedName,
        from: SequenceOptions,
        to: SequenceOptions,
    },
    /// A new table with its columns, constraints and indexes.
    CreateTable {
        table: Table,
    },
    DropTable {
        table: Table,
    },
    RenameTable {
        from: QualifiedName,
        to: QualifiedName,
    },
    /// SQLite `WITHOUT ROWID` / `STRICT` changed.
    AlterTableOptions {
        table: QualifiedName,
        from: TableOptions,
        to: TableOptions,
    },
    AddColumn {
        table: QualifiedName,
        column: Column,
    },
    DropColumn {
        table: QualifiedName,
        column: Column,
    },
    RenameColumn {
        table: QualifiedName,
        from: String,
        to: String,
    },
    AlterColumn {
        table: QualifiedName,
        column: String,
        change: ColumnChange,
    },
    /// The primary key added, dropped or changed (columns; a name-only change is a
    /// [`Change::RenameConstraint`]).
    SetPrimaryKey {
        table: QualifiedName,
        from: Option<PrimaryKey>,
        to: Option<PrimaryKey>,
    },
    AddUnique {
        table: QualifiedName,
        unique: Unique,
    },
    DropUnique {
        table: QualifiedName,
        unique: Unique,
    },
    AddCheck {
        table: QualifiedName,
        check: Check,
    },
    DropCheck {
        table: QualifiedName,
        check: Check,
    },
    AddForeignKey {
        table: QualifiedName,
        foreign_key: ForeignKey,
    },
    DropForeignKey {
        table: QualifiedName,
        foreign_key: ForeignKey,
    },
    /// The same constraint under another name (PostgreSQL).
    RenameConstraint {
        table: QualifiedName,
        kind: ConstraintKind,
        from: String,
        to: String,
    },
    CreateIndex {
        table: QualifiedName,
        index: Index,
    },
    DropIndex {
        table: QualifiedName,
        index: Index,
    },
    /// The same index under another name.
    RenameIndex {
        table: QualifiedName,
        from: String,
        to: String,
    },
    CreateView {
        view: View,
    },
    DropView {
        view: View,
    },
    ReplaceView {
        from: View,
        to: View,
    },
    CreateTrigger {
        trigger: Trigger,
    },
    DropTrigger {
        trigger: Trigger,
    },
    ReplaceTrigger {
        from: Trigger,
        to: Trigger,
    },
    CreateVirtualTable {
        table: VirtualTable,
    },
    DropVirtualTable {
        table: VirtualTable,
    },
    ReplaceVirtualTable {
        from: VirtualTable,
        to: VirtualTable,
    },
    /// A new PostgreSQL function or procedure (also the second half of one whose signature
    /// changed: see [`Function::replaceable_by`]).
    CreateFunction {
        function: Function,
    },
    DropFunction {
        function: Function,
    },
    /// The same function (name, arguments, result) with another body or other attributes:
    /// `CREATE OR REPLACE`, which keeps what depends on it.
    ReplaceFunction {
        from: Function,
        to: Function,
    },
    /// `CREATE EXTENSION IF NOT EXISTS` (PostgreSQL).
    CreateExtension {
        extension: Extension,
    },
    /// `DROP EXTENSION IF EXISTS`: its types, functions and operators go with it.
    DropExtension {
        extension: Extension,
    },
    /// `ALTER EXTENSION … SET SCHEMA` (`None`: `public`).
    AlterExtensionSchema {
        name: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// Row-level security enabled or disabled, forced or not (PostgreSQL).
    SetRowLevelSecurity {
        table: QualifiedName,
        from: RowLevelSecurity,
        to: RowLevelSecurity,
    },
    /// A new row-level security policy (also the second half of a changed one).
    CreatePolicy {
        table: QualifiedName,
        policy: Policy,
    },
    DropPolicy {
        table: QualifiedName,
        policy: Policy,
    },
}

/// A PostgreSQL table's row-level security switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowLevelSecurity {
    pub enabled: bool,
    pub forced: bool,
}

impl RowLevelSecurity {
    pub fn of(table: &Table) -> RowLevelSecurity {
        RowLevelSecurity { enabled: table.row_level_security, forced: table.force_row_level_security }
    }
}

/// One attribute of a column that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "attribute", rename_all = "snake_case")]
pub enum ColumnChange {
    Type { from: String, to: String },
    Collation { from: Option<String>, to: Option<String> },
    NotNull { from: bool, to: bool },
    Default { from: Option<String>, to: Option<String> },
    Generated { from: Option<Generated>, to: Option<Generated> },
    Identity { from: Option<Identity>, to: Option<Identity> },
    Autoincrement { from: bool, to: bool },
}

/// Where a new enum value goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "position", content = "value", rename_all = "snake_case")]
pub enum EnumPosition {
    Before(String),
    After(String),
    /// At the end (the only choice for an enum that had no values).
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
}

/// SQLite table options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableOptions {
    pub without_rowid: bool,
    pub strict: bool,
}

impl TableOptions {
    pub fn of(table: &Table) -> TableOptions {
        TableOptions { without_rowid: table.without_rowid, strict: table.strict }
    }
}

/// What a change means for the rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "safety", content = "detail", rename_all = "snake_case")]
pub enum Safety {
    /// Nothing is lost and nothing can fail because of the data.
    Safe,
    /// Deletes data.
    Destructive(Loss),
    /// Succeeds only when the rows satisfy something.
    DataDependent(Requirement),
}

/// What a destructive change deletes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "loss", rename_all = "snake_case")]
pub enum Loss {
    /// The table and all its rows.
    Table { table: QualifiedName },
    /// The column and its values.
    Column { table: QualifiedName, column: String },
    /// A stored column becomes generated: its values are replaced by the expression's.
    ColumnValues { table: QualifiedName, column: String },
    /// A virtual table (its module's data, e.g. an FTS5 index's contents).
    VirtualTable { table: QualifiedName },
    /// A sequence and its current value.
    Sequence { sequence: QualifiedName },
    /// An extension with the types, functions and operators it owns.
    Extension { name: String },
}

/// What the data must satisfy for a data-dependent change to succeed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "requirement", rename_all = "snake_case")]
pub enum Requirement {
    /// A NOT NULL column without a default is added: the table must be empty.
    NoRows { table: QualifiedName, column: String },
    /// No NULLs in these columns.
    NoNulls { table: QualifiedName, columns: Vec<String> },
    /// No two rows with the same values in these keys (columns or expressions).
    NoDuplicates { table: QualifiedName, keys: Vec<String>, predicate: Option<String> },
    /// Every row's key has a parent row.
    NoOrphans { table: QualifiedName, foreign_key: ForeignKey },
    /// Every row passes the check.
    RowsPassCheck { table: QualifiedName, expression: String },
    /// Every value of the column converts to the new type.
    ValuesConvert { table: QualifiedName, column: String, from: String, to: String },
    /// No row holds an enum value that is removed.
    EnumValuesUnused { name: QualifiedName, values: Vec<String> },
    /// Every value matches its column's declared type (SQLite `STRICT`).
    StrictTypes { table: QualifiedName },
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::Table { table } => write!(f, "drops table {table} and all its rows"),
            Loss::Column { table, column } => write!(f, "drops column {table}.{column} and its values"),
            Loss::ColumnValues { table, column } => {
                write!(f, "replaces the values of column {table}.{column} by a generated expression")
            }
            Loss::VirtualTable { table } => write!(f, "drops virtual table {table} and its contents"),
            Loss::Sequence { sequence } => write!(f, "drops sequence {sequence} and its current value"),
            Loss::Extension { name } => write!(
                f,
                "drops extension {name} with the types, functions, operators and operator classes it owns \
                 (refused while a column, index or other object still uses them)"
            ),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::NoRows { table, column } => {
                write!(f, "{table} must be empty: new column {column} is NOT NULL without a default")
            }
            Requirement::NoNulls { table, columns } => {
                write!(f, "no NULLs in {table}({})", columns.join(", "))
            }
            Requirement::NoDuplicates { table, keys, predicate } => {
                write!(f, "no duplicate values of {table}({})", keys.join(", "))?;
                if let Some(p) = predicate {
                    write!(f, " where {p}")?;
                }
                Ok(())
            }
            Requirement::NoOrphans { table, foreign_key } => write!(
                f,
                "every {table}({}) has a row in {}({})",
                foreign_key.columns.join(", "),
                foreign_key.references,
                foreign_key.referenced_columns.join(", ")
            ),
            Requirement::RowsPassCheck { table, expression } => write!(f, "every row of {table} passes {expression}"),
            Requirement::ValuesConvert { table, column, from, to } => {
                write!(f, "every value of {table}.{column} converts from {from} to {to}")
            }
            Requirement::EnumValuesUnused { name, values } => {
                write!(f, "no row holds {} of enum {name}", quoted_list(values))
            }
            Requirement::StrictTypes { table } => write!(f, "every value of {table} matches its column's type"),
        }
    }
}

impl fmt::Display for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Safety::Safe => f.write_str("safe"),
            Safety::Destructive(loss) => write!(f, "destructive: {loss}"),
            Safety::DataDependent(req) => write!(f, "needs: {req}"),
        }
    }
}

fn quoted_list(values: &[String]) -> String {
    values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
}

fn key_text(key: &IndexKey) -> String {
    match &key.target {
        IndexTarget::Column(c) => c.clone(),
        IndexTarget::Expression(e) => e.clone(),
    }
}

impl Change {
    /// What the change means for the rows.
    pub fn safety(&self) -> Safety {
        use Change::*;
        match self {
            DropTable { table } => Safety::Destructive(Loss::Table { table: table.name.clone() }),
            DropColumn { table, column } if column.generated.is_none() => {
                Safety::Destructive(Loss::Column { table: table.clone(), column: column.name.clone() })
            }
            DropVirtualTable { table } | ReplaceVirtualTable { from: table, .. } => {
                Safety::Destructive(Loss::VirtualTable { table: table.name.clone() })
            }
            DropSequence { sequence } => Safety::Destructive(Loss::Sequence { sequence: sequence.name.clone() }),
            DropExtension { extension } => Safety::Destructive(Loss::Extension { name: extension.name.clone() }),
            AddColumn { table, column } => {
                if column.not_null
                    && column.default.is_none()
                    && column.generated.is_none()
                    && column.identity.is_none()
                    && !is_serial(&column.data_type)
                {
                    Safety::DataDependent(Requirement::NoRows { table: table.clone(), column: column.name.clone() })
                } else {
                    Safety::Safe
                }
            }
            AlterColumn { table, column, change } => match change {
                ColumnChange::Type { from, to } => Safety::DataDependent(Requirement::ValuesConvert {
                    table: table.clone(),
                    column: column.clone(),
                    from: from.clone(),
                    to: to.clone(),
                }),
                ColumnChange::NotNull { from: false, to: true } => {
                    Safety::DataDependent(Requirement::NoNulls { table: table.clone(), columns: vec![column.clone()] })
                }
                ColumnChange::Generated { from: None, to: Some(_) } => {
                    Safety::Destructive(Loss::ColumnValues { table: table.clone(), column: column.clone() })
                }
                _ => Safety::Safe,
            },
            SetPrimaryKey { table, to: Some(pk), .. } => Safety::DataDependent(Requirement::NoDuplicates {
                table: table.clone(),
                keys: pk.columns.clone(),
                predicate: None,
            }),
            AddUnique { table, unique } => Safety::DataDependent(Requirement::NoDuplicates {
                table: table.clone(),
                keys: unique.columns.clone(),
                predicate: None,
            }),
            CreateIndex { table, index } if index.unique => Safety::DataDependent(Requirement::NoDuplicates {
                table: table.clone(),
                keys: index.keys.iter().map(key_text).collect(),
                predicate: index.predicate.clone(),
            }),
            AddCheck { table, check } => Safety::DataDependent(Requirement::RowsPassCheck {
                table: table.clone(),
                expression: check.expression.clone(),
            }),
            AddForeignKey { table, foreign_key } => {
                Safety::DataDependent(Requirement::NoOrphans { table: table.clone(), foreign_key: foreign_key.clone() })
            }
            RecreateEnum { name, from, to } => {
                let removed: Vec<String> = from.iter().filter(|v| !to.contains(v)).cloned().collect();
                if removed.is_empty() {
                    Safety::Safe
                } else {
                    Safety::DataDependent(Requirement::EnumValuesUnused { name: name.clone(), values: removed })
                }
            }
            AlterTableOptions { table, from, to } if to.strict && !from.strict => {
                Safety::DataDependent(Requirement::StrictTypes { table: table.clone() })
            }
            _ => Safety::Safe,
        }
    }

    /// The table a table-level change is about (its name in `to`; a dropped table's name).
    pub fn table(&self) -> Option<&QualifiedName> {
        use Change::*;
        match self {
            CreateTable { table } | DropTable { table } => Some(&table.name),
            RenameTable { to, .. } => Some(to),
            AlterTableOptions { table, .. }
            | AddColumn { table, .. }
            | DropColumn { table, .. }
            | RenameColumn { table, .. }
            | AlterColumn { table, .. }
            | SetPrimaryKey { table, .. }
            | AddUnique { table, .. }
            | DropUnique { table, .. }
            | AddCheck { table, .. }
            | DropCheck { table, .. }
            | AddForeignKey { table, .. }
            | DropForeignKey { table, .. }
            | RenameConstraint { table, .. }
            | CreateIndex { table, .. }
            | DropIndex { table, .. }
            | RenameIndex { table, .. }
            | SetRowLevelSecurity { table, .. }
            | CreatePolicy { table, .. }
            | DropPolicy { table, .. } => Some(table),
            _ => None,
        }
    }
}

impl fmt::Display for Change {
    /// One line for people: `add column pages.title`, `drop table drafts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Change::*;
        match self {
            CreateSchema { name } => write!(f, "create schema {name}"),
            DropSchema { name } => write!(f, "drop schema {name}"),
            CreateEnum { definition } => {
                write!(f, "create enum {} ({})", definition.name, quoted_list(&definition.values))
            }
            DropEnum { definition } => write!(f, "drop enum {}", definition.name),
            AddEnumValue { name, value, position } => {
                write!(f, "add value '{value}' to enum {name}")?;
                match position {
                    EnumPosition::Before(v) => write!(f, " before '{v}'"),
                    EnumPosition::After(v) => write!(f, " after '{v}'"),
                    EnumPosition::End => Ok(()),
                }
            }
            RenameEnumValue { name, from, to } => write!(f, "rename value '{from}' of enum {name} to '{to}'"),
            RecreateEnum { name, from, to } => {
                write!(f, "recreate enum {name}: ({}) -> ({})", quoted_list(from), quoted_list(to))
            }
            CreateSequence { sequence } => write!(f, "create sequence {}", sequence.name),
            DropSequence { sequence } => write!(f, "drop sequence {}", sequence.name),
            AlterSequence { name, .. } => write!(f, "alter sequence {name}"),
            CreateTable { table } => write!(f, "create table {}", table.name),
            DropTable { table } => write!(f, "drop table {}", table.name),
            RenameTable { from, to } => write!(f, "rename table {from} to {to}"),
            AlterTableOptions { table, from, to } => {
                write!(
                    f,
                    "table {table}: without rowid {} -> {}, strict {} -> {}",
                    from.without_rowid, to.without_rowid, from.strict, to.strict
                )
            }
            AddColumn { table, column } => write!(f, "add column {table}.{}", column.name),
            DropColumn { table, column } => write!(f, "drop column {table}.{}", column.name),
            RenameColumn { table, from, to } => write!(f, "rename column {table}.{from} to {to}"),
            AlterColumn { table, column, change } => {
                write!(f, "alter column {table}.{column}: ")?;
                match change {
                    ColumnChange::Type { from, to } => write!(f, "type {from} -> {to}"),
                    ColumnChange::Collation { from, to } => write!(f, "collation {from:?} -> {to:?}"),
                    ColumnChange::NotNull { to: true, .. } => write!(f, "set not null"),
                    ColumnChange::NotNull { .. } => write!(f, "drop not null"),
                    ColumnChange::Default { from, to } => write!(f, "default {from:?} -> {to:?}"),
                    ColumnChange::Generated { from, to } => write!(
                        f,
                        "generated {:?} -> {:?}",
                        from.as_ref().map(|g| &g.expression),
                        to.as_ref().map(|g| &g.expression)
                    ),
                    ColumnChange::Identity { from, to } => {
                        write!(f, "identity {} -> {}", from.is_some(), to.is_some())
                    }
                    ColumnChange::Autoincrement { from, to } => write!(f, "autoincrement {from} -> {to}"),
                }
            }
            SetPrimaryKey { table, from, to } => write!(
                f,
                "primary key of {table}: {} -> {}",
                from.as_ref().map(|p| format!("({})", p.columns.join(", "))).unwrap_or_else(|| "none".into()),
                to.as_ref().map(|p| format!("({})", p.columns.join(", "))).unwrap_or_else(|| "none".into())
            ),
            AddUnique { table, unique } => write!(f, "add unique {table}({})", unique.columns.join(", ")),
            DropUnique { table, unique } => write!(f, "drop unique {table}({})", unique.columns.join(", ")),
            AddCheck { table, check } => write!(f, "add check on {table}: {}", check.expression),
            DropCheck { table, check } => write!(f, "drop check on {table}: {}", check.expression),
            AddForeignKey { table, foreign_key: fk } => write!(
                f,
                "add foreign key {table}({}) -> {}({})",
                fk.columns.join(", "),
                fk.references,
                fk.referenced_columns.join(", ")
            ),
            DropForeignKey { table, foreign_key: fk } => write!(
                f,
                "drop foreign key {table}({}) -> {}({})",
                fk.columns.join(", "),
                fk.references,
                fk.referenced_columns.join(", ")
            ),
            RenameConstraint { table, from, to, .. } => write!(f, "rename constraint {from} of {table} to {to}"),
            CreateIndex { table, index } => write!(f, "create index {} on {table}", index.name),
            DropIndex { table, index } => write!(f, "drop index {} on {table}", index.name),
            RenameIndex { table, from, to } => write!(f, "rename index {from} on {table} to {to}"),
            CreateView { view } => write!(f, "create view {}", view.name),
            DropView { view } => write!(f, "drop view {}", view.name),
            ReplaceView { to, .. } => write!(f, "replace view {}", to.name),
            CreateTrigger { trigger } => write!(f, "create trigger {}", trigger.name),
            DropTrigger { trigger } => write!(f, "drop trigger {}", trigger.name),
            ReplaceTrigger { to, .. } => write!(f, "replace trigger {}", to.name),
            CreateVirtualTable { table } => write!(f, "create virtual table {}", table.name),
            DropVirtualTable { table } => write!(f, "drop virtual table {}", table.name),
            ReplaceVirtualTable { to, .. } => write!(f, "replace virtual table {}", to.name),
            CreateFunction { function } => write!(f, "create {}", function_label(function)),
            DropFunction { function } => write!(f, "drop {}", function_label(function)),
            ReplaceFunction { to, .. } => write!(f, "replace {}", function_label(to)),
            CreateExtension { extension } => write!(f, "create extension {}", extension.name),
            DropExtension { extension } => write!(f, "drop extension {}", extension.name),
            AlterExtensionSchema { name, from, to } => write!(
                f,
                "move extension {name} from schema {} to {}",
                from.as_deref().unwrap_or("public"),
                to.as_deref().unwrap_or("public")
            ),
            SetRowLevelSecurity { table, from, to } => {
                let mut parts = Vec::new();
                if from.enabled != to.enabled {
                    parts.push(if to.enabled { "enable row level security" } else { "disable row level security" });
                }
                if from.forced != to.forced {
                    parts.push(if to.forced { "force row level security" } else { "no force row level security" });
                }
                write!(f, "{} on {table}", parts.join(", "))
            }
            CreatePolicy { table, policy } => write!(f, "create policy {} on {table}", policy.name),
            DropPolicy { table, policy } => write!(f, "drop policy {} on {table}", policy.name),
        }
    }
}

/// `function f(a integer)`, `procedure p()`.
fn function_label(function: &Function) -> String {
    format!("{} {}({})", function.kind.sql().to_ascii_lowercase(), function.name, function.arguments)
}

/// PostgreSQL's `serial` pseudo-types (the model's normal form for a column owning its
/// sequence).
pub fn is_serial(data_type: &str) -> bool {
    matches!(data_type, "serial" | "bigserial" | "smallserial")
}

// ---------------------------------------------------------------------------------------------
// Renames

/// The renames the user confirmed, as `--rename` spells them: `old=new` (a table), `table.old=new`
/// (a column, or an enum's value: `enum.old=new`), `schema.old=new` (a table outside the default
/// namespace), `schema.table.old=new`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Renames {
    specs: Vec<RenameSpec>,
    rest_are_not_renames: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct RenameSpec {
    /// What it was given as, for messages.
    text: String,
    path: Vec<String>,
    new: String,
}

/// A `--rename` argument that is not `old=new`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--rename {text:?}: {reason} (expected old=new, table.old=new or enum.old=new)")]
pub struct RenamesError {
    pub text: String,
    pub reason: String,
}

impl Renames {
    /// No renames given: a dropped-and-added pair is [`DiffError::Ambiguous`].
    pub fn none() -> Renames {
        Renames::default()
    }

    /// The caller confirmed that no dropped-and-added pair is a rename: drop and add them.
    pub fn none_are_renames() -> Renames {
        Renames { specs: Vec::new(), rest_are_not_renames: true }
    }

    /// Parses `--rename` arguments.
    pub fn parse<I, S>(items: I) -> Result<Renames, RenamesError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Renames::default();
        for item in items {
            let text = item.as_ref().trim();
            let err = |reason: &str| RenamesError { text: text.to_string(), reason: reason.to_string() };
            let (old, new) = text.split_once('=').ok_or_else(|| err("no '='"))?;
            let path: Vec<String> = old.split('.').map(|p| p.trim().to_string()).collect();
            let new = new.trim().to_string();
            if new.is_empty() || path.iter().any(String::is_empty) {
                return Err(err("an empty name"));
            }
            if new.contains('.') {
                return Err(err("the new name is a plain name, without a table or schema"));
            }
            if path.len() > 3 {
                return Err(err("too many dots"));
            }
            out.specs.push(RenameSpec { text: text.to_string(), path, new });
        }
        Ok(out)
    }

    /// Every dropped-and-added pair that these renames do not name is confirmed as a drop and
    /// an add.
    pub fn and_rest_are_not_renames(mut self) -> Renames {
        self.rest_are_not_renames = true;
        self
    }

    /// Adds a rename the user confirmed (e.g. answered yes on a terminal).
    pub fn accept(&mut self, candidate: &RenameCandidate) {
        let parsed = Renames::parse([candidate.rename_arg()]).expect("a candidate's argument parses");
        self.specs.extend(parsed.specs);
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// A dropped object and an added one that may be the same object renamed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RenameCandidate {
    Table {
        dropped: QualifiedName,
        added: QualifiedName,
    },
    /// `table` is the table's name in `to`.
    Column {
        table: QualifiedName,
        dropped: String,
        added: String,
    },
    EnumValue {
        name: QualifiedName,
        dropped: String,
        added: String,
    },
}

impl RenameCandidate {
    /// The `--rename` argument that says "yes, a rename".
    pub fn rename_arg(&self) -> String {
        match self {
            RenameCandidate::Table { dropped, added } => {
                if is_default_namespace(&dropped.schema) {
                    format!("{}={}", dropped.name, added.name)
                } else {
                    format!("{}.{}={}", dropped.schema, dropped.name, added.name)
                }
            }
            RenameCandidate::Column { table, dropped, added } => format!("{table}.{dropped}={added}"),
            RenameCandidate::EnumValue { name, dropped, added } => format!("{name}.{dropped}={added}"),
        }
    }
}

impl fmt::Display for RenameCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenameCandidate::Table { dropped, added } => write!(f, "table {dropped} dropped, table {added} added"),
            RenameCandidate::Column { table, dropped, added } => {
                write!(f, "column {table}.{dropped} dropped, column {table}.{added} added")
            }
            RenameCandidate::EnumValue { name, dropped, added } => {
                write!(f, "value '{dropped}' of enum {name} dropped, value '{added}' added")
            }
        }
    }
}

fn is_default_namespace(schema: &str) -> bool {
    schema == "main" || schema == "public" || schema.is_empty()
}

/// Why no list of changes could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    #[error("cannot compare a {from} schema with a {to} schema: both sides must be one dialect")]
    DialectMismatch { from: Dialect, to: Dialect },
    #[error("{}", ambiguous_message(candidates))]
    Ambiguous { candidates: Vec<RenameCandidate> },
    #[error("--rename {rename}: {reason}")]
    UnknownRename { rename: String, reason: String },
}

fn ambiguous_message(candidates: &[RenameCandidate]) -> String {
    let mut s =
        String::from("objects were dropped and others added; each pair may be a rename, which would keep the data:\n");
    for c in candidates {
        s.push_str(&format!("  {c}   (a rename: --rename {})\n", c.rename_arg()));
    }
    s.push_str("say which are renames with --rename (or answer on a terminal); confirm that none are to drop and add");
    s
}

/// The renames resolved against the schemas.
#[derive(Default)]
struct Resolved {
    tables: BTreeMap<QualifiedName, QualifiedName>,
    /// By the table's name in `from`.
    columns: BTreeMap<QualifiedName, BTreeMap<String, String>>,
    enum_values: BTreeMap<QualifiedName, BTreeMap<String, String>>,
}

fn find_table<'a>(schema: &'a Schema, namespace: Option<&str>, name: &str) -> Option<&'a QualifiedName> {
    match namespace {
        Some(ns) => schema.tables.keys().find(|q| q.schema == ns && q.name == name),
        None => {
            let default = QualifiedName::new(schema.dialect.default_schema(), name);
            if let Some((k, _)) = schema.tables.get_key_value(&default) {
                return Some(k);
            }
            let mut all = schema.tables.keys().filter(|q| q.name == name);
            let first = all.next();
            if all.next().is_some() {
                None
            } else {
                first
            }
        }
    }
}

fn find_enum<'a>(schema: &'a Schema, namespace: Option<&str>, name: &str) -> Option<&'a Enum> {
    let ns = namespace.unwrap_or(schema.dialect.default_schema());
    schema.enums.get(&QualifiedName::new(ns, name))
}

fn resolve(from: &Schema, to: &Schema, renames: &Renames) -> Result<Resolved, DiffError> {
    let mut r = Resolved::default();
    let unknown = |spec: &RenameSpec, reason: String| DiffError::UnknownRename { rename: spec.text.clone(), reason };
    // Tables first, so that `table.old=new` may name the table by its new name.
    let mut column_specs = Vec::new();
    for spec in &renames.specs {
        let p: Vec<&str> = spec.path.iter().map(String::as_str).collect();
        let table = match p.as_slice() {
            [old] => find_table(from, None, old),
            [ns, old] if find_table(from, None, ns).is_none() && find_enum(from, None, ns).is_none() => {
                find_table(from, Some(ns), old)
            }
            _ => None,
        };
        match table {
            Some(old) => {
                let new = QualifiedName::new(old.schema.clone(), spec.new.clone());
                if !to.tables.contains_key(&new) {
                    return Err(unknown(spec, format!("the new schema has no table {new}")));
                }
                if r.tables.values().any(|t| *t == new) || r.tables.contains_key(old) {
                    return Err(unknown(spec, "a table is renamed twice".into()));
                }
                r.tables.insert(old.clone(), new);
            }
            None if p.len() == 1 => return Err(unknown(spec, format!("the old schema has no table {}", p[0]))),
            None => column_specs.push(spec),
        }
    }
    for spec in column_specs {
        let p: Vec<&str> = spec.path.iter().map(String::as_str).collect();
        let (ns, owner, old) = match p.as_slice() {
            [owner, old] => (None, *owner, *old),
            [ns, owner, old] => (Some(*ns), *owner, *old),
            _ => unreachable!("one-part renames are tables"),
        };
        // The table by its old name, or by its new name when it is renamed too.
        let table = find_table(from, ns, owner).cloned().or_else(|| {
            r.tables
                .iter()
                .find(|(_, new)| new.name == owner && ns.is_none_or(|n| new.schema == n))
                .map(|(o, _)| o.clone())
        });
        if let Some(table_name) = table.filter(|t| from.tables[t].column(old).is_some()) {
            let new_table = r.tables.get(&table_name).cloned().unwrap_or_else(|| table_name.clone());
            let Some(t) = to.tables.get(&new_table) else {
                return Err(unknown(spec, format!("the new schema has no table {new_table}")));
            };
            if t.column(&spec.new).is_none() {
                return Err(unknown(spec, format!("the new schema's table {new_table} has no column {}", spec.new)));
            }
            let cols = r.columns.entry(table_name).or_default();
            if cols.contains_key(old) || cols.values().any(|n| *n == spec.new) {
                return Err(unknown(spec, "a column is renamed twice".into()));
            }
            cols.insert(old.to_string(), spec.new.clone());
            continue;
        }
        if let Some(e) = find_enum(from, ns, owner).filter(|e| e.values.iter().any(|v| v == old)) {
            let Some(new_enum) = to.enums.get(&e.name) else {
                return Err(unknown(spec, format!("the new schema has no enum {}", e.name)));
            };
            if !new_enum.values.contains(&spec.new) {
                return Err(unknown(spec, format!("the new enum {} has no value '{}'", e.name, spec.new)));
            }
            let vals = r.enum_values.entry(e.name.clone()).or_default();
            if vals.contains_key(old) || vals.values().any(|n| *n == spec.new) {
                return Err(unknown(spec, "an enum value is renamed twice".into()));
            }
            vals.insert(old.to_string(), spec.new.clone());
            continue;
        }
        return Err(unknown(spec, format!("the old schema has no column, enum value or table {owner}.{old}")));
    }
    Ok(r)
}

/// `from` with the renames among `changes` applied (tables, columns, enum values, with every
/// reference to them: keys, constraints, indexes, foreign keys of other tables, triggers).
/// The renderers use it as the state after the renames.
pub fn renamed(from: &Schema, changes: &[Change]) -> Schema {
    let mut r = Resolved::default();
    for c in changes {
        match c {
            Change::RenameTable { from, to } => {
                r.tables.insert(from.clone(), to.clone());
            }
            Change::RenameColumn { table, from: old, to: new } => {
                // `table` is the new name; key by the old one.
                let old_table = changes
                    .iter()
                    .find_map(|c| match c {
                        Change::RenameTable { from, to } if to == table => Some(from.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| table.clone());
                r.columns.entry(old_table).or_default().insert(old.clone(), new.clone());
            }
            Change::RenameEnumValue { name, from, to } => {
                r.enum_values.entry(name.clone()).or_default().insert(from.clone(), to.clone());
            }
            _ => {}
        }
    }
    apply(from, &r)
}

/// A table that is not renamed but whose name another table is renamed to: it is dropped.
fn displaced_table(r: &Resolved, name: &QualifiedName) -> bool {
    !r.tables.contains_key(name) && r.tables.values().any(|n| n == name)
}

/// The columns of `from`'s table `table` dropped because another column is renamed to their name.
fn displaced_columns<'a>(r: &Resolved, table: &'a Table, old_name: &QualifiedName) -> Vec<&'a Column> {
    let Some(m) = r.columns.get(old_name) else { return Vec::new() };
    table.columns.iter().filter(|c| !m.contains_key(&c.name) && m.values().any(|n| *n == c.name)).collect()
}

fn apply(from: &Schema, r: &Resolved) -> Schema {
    let mut out = from.clone();
    let map_table = |q: &QualifiedName| r.tables.get(q).cloned().unwrap_or_else(|| q.clone());
    let map_col = |table: &QualifiedName, c: &str| -> String {
        r.columns.get(table).and_then(|m| m.get(c)).cloned().unwrap_or_else(|| c.to_string())
    };
    out.tables = BTreeMap::new();
    for (old_name, t) in &from.tables {
        if displaced_table(r, old_name) {
            continue; // dropped: another table is renamed to its name
        }
        let mut t = t.clone();
        if let Some(m) = r.columns.get(old_name) {
            t.columns.retain(|c| m.contains_key(&c.name) || !m.values().any(|n| *n == c.name));
        }
        let cols = |c: &[String]| c.iter().map(|c| map_col(old_name, c)).collect::<Vec<_>>();
        t.name = map_table(old_name);
        for c in &mut t.columns {
            c.name = map_col(old_name, &c.name);
        }
        if let Some(pk) = &mut t.primary_key {
            pk.columns = cols(&pk.columns);
        }
        for u in &mut t.uniques {
            u.columns = cols(&u.columns);
        }
        for idx in t.indexes.values_mut() {
            for k in &mut idx.keys {
                if let IndexTarget::Column(c) = &mut k.target {
                    *c = map_col(old_name, c);
                }
            }
            idx.include = cols(&idx.include);
        }
        for fk in &mut t.foreign_keys {
            fk.columns = cols(&fk.columns);
            fk.referenced_columns =
                fk.referenced_columns.iter().map(|c| map_col(&fk.references, c)).collect::<Vec<_>>();
            fk.references = map_table(&fk.references);
        }
        t.normalize();
        out.tables.insert(t.name.clone(), t);
    }
    out.triggers = from
        .triggers
        .values()
        .map(|tr| {
            let mut tr = tr.clone();
            tr.table = map_table(&tr.table);
            (tr.key(), tr)
        })
        .collect();
    for (name, m) in &r.enum_values {
        if let Some(e) = out.enums.get_mut(name) {
            for v in &mut e.values {
                if let Some(n) = m.get(v) {
                    *v = n.clone();
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The diff

/// The changes that turn `from` into `to`. See the module documentation for how renames,
/// constraints and column order are treated.
pub fn diff(from: &Schema, to: &Schema, renames: &Renames) -> Result<Vec<Change>, DiffError> {
    if from.dialect != to.dialect {
        return Err(DiffError::DialectMismatch { from: from.dialect, to: to.dialect });
    }
    let resolved = resolve(from, to, renames)?;
    let candidates = ambiguities(from, to, &resolved);
    if !candidates.is_empty() && !renames.rest_are_not_renames {
        return Err(DiffError::Ambiguous { candidates });
    }

    let mut out = Vec::new();
    // Objects whose name a rename takes are dropped first.
    for (name, t) in &from.tables {
        if displaced_table(&resolved, name) {
            out.push(Change::DropTable { table: t.clone() });
        } else {
            let new_name = resolved.tables.get(name).unwrap_or(name);
            for c in displaced_columns(&resolved, t, name) {
                out.push(Change::DropColumn { table: new_name.clone(), column: c.clone() });
            }
        }
    }
    for (old, new) in &resolved.tables {
        out.push(Change::RenameTable { from: old.clone(), to: new.clone() });
    }
    for (old_table, cols) in &resolved.columns {
        let table = resolved.tables.get(old_table).cloned().unwrap_or_else(|| old_table.clone());
        for (old, new) in cols {
            out.push(Change::RenameColumn { table: table.clone(), from: old.clone(), to: new.clone() });
        }
    }
    let f = apply(from, &resolved);

    for s in to.schemas.difference(&f.schemas) {
        out.push(Change::CreateSchema { name: s.clone() });
    }
    for (name, e) in &to.extensions {
        match f.extensions.get(name) {
            None => out.push(Change::CreateExtension { extension: e.clone() }),
            Some(old) if old.schema != e.schema => out.push(Change::AlterExtensionSchema {
                name: name.clone(),
                from: old.schema.clone(),
                to: e.schema.clone(),
            }),
            Some(_) => {}
        }
    }
    diff_enums(&f, to, &resolved, &mut out);
    for (name, s) in &to.sequences {
        match f.sequences.get(name) {
            None => out.push(Change::CreateSequence { sequence: s.clone() }),
            Some(old) if old.options != s.options => {
                out.push(Change::AlterSequence { name: name.clone(), from: old.options.clone(), to: s.options.clone() })
            }
            Some(_) => {}
        }
    }
    for (name, t) in &to.tables {
        if !f.tables.contains_key(name) {
            let mut t = t.clone();
            t.normalize();
            out.push(Change::CreateTable { table: t });
        }
    }
    for (name, t) in &f.tables {
        if !to.tables.contains_key(name) {
            // Described as it was in `from` (a dropped table is never renamed).
            out.push(Change::DropTable { table: t.clone() });
        }
    }
    for (name, new) in &to.tables {
        if let Some(old) = f.tables.get(name) {
            diff_table(old, new, &mut out);
        }
    }
    diff_keyed(
        &f.views,
        &to.views,
        &mut out,
        |v| Change::CreateView { view: v.clone() },
        |v| Change::DropView { view: v.clone() },
        |a, b| Change::ReplaceView { from: a.clone(), to: b.clone() },
    );
    diff_keyed(
        &f.triggers,
        &to.triggers,
        &mut out,
        |v| Change::CreateTrigger { trigger: v.clone() },
        |v| Change::DropTrigger { trigger: v.clone() },
        |a, b| Change::ReplaceTrigger { from: a.clone(), to: b.clone() },
    );
    diff_keyed(
        &f.virtual_tables,
        &to.virtual_tables,
        &mut out,
        |v| Change::CreateVirtualTable { table: v.clone() },
        |v| Change::DropVirtualTable { table: v.clone() },
        |a, b| Change::ReplaceVirtualTable { from: a.clone(), to: b.clone() },
    );
    diff_functions(&f, to, &mut out);
    for (name, s) in &f.sequences {
        if !to.sequences.contains_key(name) {
            out.push(Change::DropSequence { sequence: s.clone() });
        }
    }
    for (name, e) in &f.enums {
        if !to.enums.contains_key(name) {
            out.push(Change::DropEnum { definition: e.clone() });
        }
    }
    for (name, e) in &f.extensions {
        if !to.extensions.contains_key(name) {
            out.push(Change::DropExtension { extension: e.clone() });
        }
    }
    for s in f.schemas.difference(&to.schemas) {
        out.push(Change::DropSchema { name: s.clone() });
    }
    Ok(out)
}

/// Every (dropped, added) pair that no rename covers.
fn ambiguities(from: &Schema, to: &Schema, r: &Resolved) -> Vec<RenameCandidate> {
    let mut out = Vec::new();
    let renamed_to: BTreeSet<&QualifiedName> = r.tables.values().collect();
    let dropped: Vec<&QualifiedName> = from
        .tables
        .keys()
        .filter(|q| !r.tables.contains_key(*q) && (!to.tables.contains_key(*q) || displaced_table(r, q)))
        .collect();
    let added: Vec<&QualifiedName> = to
        .tables
        .keys()
        .filter(|q| !renamed_to.contains(q) && (!from.tables.contains_key(*q) || r.tables.contains_key(*q)))
        .collect();
    for d in &dropped {
        for a in &added {
            if d.schema == a.schema {
                out.push(RenameCandidate::Table { dropped: (*d).clone(), added: (*a).clone() });
            }
        }
    }
    for (old_name, old) in &from.tables {
        let new_name = r.tables.get(old_name).unwrap_or(old_name);
        if displaced_table(r, old_name) {
            continue;
        }
        let Some(new) = to.tables.get(new_name) else { continue };
        let cols = r.columns.get(old_name);
        let old_names: BTreeSet<String> = old
            .columns
            .iter()
            .map(|c| cols.and_then(|m| m.get(&c.name)).cloned().unwrap_or_else(|| c.name.clone()))
            .collect();
        let renamed_cols: BTreeSet<&String> = cols.map(|m| m.values().collect()).unwrap_or_default();
        let displaced = displaced_columns(r, old, old_name);
        let dropped: Vec<&str> = old
            .columns
            .iter()
            .filter(|c| {
                cols.is_none_or(|m| !m.contains_key(&c.name))
                    && (new.column(&c.name).is_none() || displaced.iter().any(|d| d.name == c.name))
            })
            .map(|c| c.name.as_str())
            .collect();
        let added: Vec<&str> = new
            .columns
            .iter()
            .filter(|c| !old_names.contains(&c.name) && !renamed_cols.contains(&c.name))
            .map(|c| c.name.as_str())
            .collect();
        for d in &dropped {
            for a in &added {
                out.push(RenameCandidate::Column {
                    table: new_name.clone(),
                    dropped: d.to_string(),
                    added: a.to_string(),
                });
            }
        }
    }
    for (name, old) in &from.enums {
        let Some(new) = to.enums.get(name) else { continue };
        let m = r.enum_values.get(name);
        let renamed_vals: BTreeSet<&String> = m.map(|m| m.values().collect()).unwrap_or_default();
        let old_after: Vec<String> =
            old.values.iter().map(|v| m.and_then(|m| m.get(v)).cloned().unwrap_or_else(|| v.clone())).collect();
        let dropped: Vec<&String> =
            old.values.iter().filter(|v| m.is_none_or(|m| !m.contains_key(*v)) && !new.values.contains(v)).collect();
        let added: Vec<&String> =
            new.values.iter().filter(|v| !old_after.contains(v) && !renamed_vals.contains(v)).collect();
        for d in &dropped {
            for a in &added {
                out.push(RenameCandidate::EnumValue { name: name.clone(), dropped: (*d).clone(), added: (*a).clone() });
            }
        }
    }
    out
}

fn diff_keyed<K: Ord + Clone, V: PartialEq>(
    from: &BTreeMap<K, V>,
    to: &BTreeMap<K, V>,
    out: &mut Vec<Change>,
    create: impl Fn(&V) -> Change,
    drop: impl Fn(&V) -> Change,
    replace: impl Fn(&V, &V) -> Change,
) {
    for (k, v) in from {
        if !to.contains_key(k) {
            out.push(drop(v));
        }
    }
    for (k, v) in to {
        match from.get(k) {
            None => out.push(create(v)),
            Some(old) if old != v => out.push(replace(old, v)),
            Some(_) => {}
        }
    }
}

/// Functions by (name, identity arguments): a changed one is replaced in place when
/// `CREATE OR REPLACE` can do it, else dropped and created.
fn diff_functions(f: &Schema, to: &Schema, out: &mut Vec<Change>) {
    for (key, old) in &f.functions {
        if !to.functions.contains_key(key) {
            out.push(Change::DropFunction { function: old.clone() });
        }
    }
    for (key, new) in &to.functions {
        match f.functions.get(key) {
            None => out.push(Change::CreateFunction { function: new.clone() }),
            Some(old) if old == new => {}
            Some(old) if old.replaceable_by(new) => {
                out.push(Change::ReplaceFunction { from: old.clone(), to: new.clone() })
            }
            Some(old) => {
                out.push(Change::DropFunction { function: old.clone() });
                out.push(Change::CreateFunction { function: new.clone() });
            }
        }
    }
}

fn diff_enums(f: &Schema, to: &Schema, r: &Resolved, out: &mut Vec<Change>) {
    for (name, e) in &to.enums {
        let Some(old) = f.enums.get(name) else {
            out.push(Change::CreateEnum { definition: e.clone() });
            continue;
        };
        if let Some(m) = r.enum_values.get(name) {
            for (o, n) in m {
                out.push(Change::RenameEnumValue { name: name.clone(), from: o.clone(), to: n.clone() });
            }
        }
        if old.values == e.values {
            continue;
        }
        // Only additions, the old values in their order: ALTER TYPE … ADD VALUE.
        let kept: Vec<&String> = e.values.iter().filter(|v| old.values.contains(v)).collect();
        let only_added = kept.len() == old.values.len() && kept.iter().zip(&old.values).all(|(a, b)| *a == b);
        if !only_added {
            out.push(Change::RecreateEnum { name: name.clone(), from: old.values.clone(), to: e.values.clone() });
            continue;
        }
        for (i, v) in e.values.iter().enumerate() {
            if old.values.contains(v) {
                continue;
            }
            let position = if i > 0 {
                EnumPosition::After(e.values[i - 1].clone())
            } else if let Some(next) = e.values.iter().find(|x| old.values.contains(x)) {
                EnumPosition::Before(next.clone())
            } else {
                EnumPosition::End
            };
            out.push(Change::AddEnumValue { name: name.clone(), value: v.clone(), position });
        }
    }
}

fn diff_table(old: &Table, new: &Table, out: &mut Vec<Change>) {
    let table = &new.name;
    if TableOptions::of(old) != TableOptions::of(new) {
        out.push(Change::AlterTableOptions {
            table: table.clone(),
            from: TableOptions::of(old),
            to: TableOptions::of(new),
        });
    }
    for c in &new.columns {
        if old.column(&c.name).is_none() {
            out.push(Change::AddColumn { table: table.clone(), column: c.clone() });
        }
    }
    for c in &old.columns {
        if new.column(&c.name).is_none() {
            out.push(Change::DropColumn { table: table.clone(), column: c.clone() });
        }
    }
    for c in &new.columns {
        let Some(o) = old.column(&c.name) else { continue };
        let mut alter = |change| out.push(Change::AlterColumn { table: table.clone(), column: c.name.clone(), change });
        if o.data_type != c.data_type {
            alter(ColumnChange::Type { from: o.data_type.clone(), to: c.data_type.clone() });
        }
        if o.collation != c.collation {
            alter(ColumnChange::Collation { from: o.collation.clone(), to: c.collation.clone() });
        }
        if o.not_null != c.not_null {
            alter(ColumnChange::NotNull { from: o.not_null, to: c.not_null });
        }
        if o.default != c.default {
            alter(ColumnChange::Default { from: o.default.clone(), to: c.default.clone() });
        }
        if o.generated != c.generated {
            alter(ColumnChange::Generated { from: o.generated.clone(), to: c.generated.clone() });
        }
        if o.identity != c.identity {
            alter(ColumnChange::Identity { from: o.identity.clone(), to: c.identity.clone() });
        }
        if o.autoincrement != c.autoincrement {
            alter(ColumnChange::Autoincrement { from: o.autoincrement, to: c.autoincrement });
        }
    }

    match (&old.primary_key, &new.primary_key) {
        (Some(a), Some(b)) if a.columns == b.columns => {
            if let (Some(x), Some(y)) = (&a.name, &b.name) {
                if x != y {
                    out.push(Change::RenameConstraint {
                        table: table.clone(),
                        kind: ConstraintKind::PrimaryKey,
                        from: x.clone(),
                        to: y.clone(),
                    });
                }
            }
        }
        (a, b) if a != b => {
            out.push(Change::SetPrimaryKey { table: table.clone(), from: a.clone(), to: b.clone() });
        }
        _ => {}
    }

    let m = match_constraints(
        &old.uniques,
        &new.uniques,
        |u| u.name.as_deref(),
        |a, b| a.columns == b.columns && a.nulls_not_distinct == b.nulls_not_distinct,
    );
    m.emit(
        table,
        ConstraintKind::Unique,
        out,
        |t, u| Change::DropUnique { table: t, unique: u },
        |t, u| Change::AddUnique { table: t, unique: u },
    );
    let m = match_constraints(&old.checks, &new.checks, |c| c.name.as_deref(), |a, b| a.expression == b.expression);
    m.emit(
        table,
        ConstraintKind::Check,
        out,
        |t, c| Change::DropCheck { table: t, check: c },
        |t, c| Change::AddCheck { table: t, check: c },
    );
    let m = match_constraints(
        &old.foreign_keys,
        &new.foreign_keys,
        |f| f.name.as_deref(),
        |a, b| ForeignKey { name: None, ..a.clone() } == ForeignKey { name: None, ..b.clone() },
    );
    m.emit(
        table,
        ConstraintKind::ForeignKey,
        out,
        |t, f| Change::DropForeignKey { table: t, foreign_key: f },
        |t, f| Change::AddForeignKey { table: t, foreign_key: f },
    );

    // Indexes: by name; a changed one is dropped and created; the same one under another name
    // is renamed.
    let same_index =
        |a: &Index, b: &Index| Index { name: String::new(), ..a.clone() } == Index { name: String::new(), ..b.clone() };
    let mut dropped: Vec<&Index> = Vec::new();
    let mut added: Vec<&Index> = Vec::new();
    for (name, i) in &old.indexes {
        match new.indexes.get(name) {
            None => dropped.push(i),
            Some(n) if n != i => {
                dropped.push(i);
                added.push(n);
            }
            Some(_) => {}
        }
    }
    for (name, i) in &new.indexes {
        if !old.indexes.contains_key(name) {
            added.push(i);
        }
    }
    let mut renamed_pairs = Vec::new();
    dropped.retain(|d| {
        if new.indexes.contains_key(&d.name) {
            return true;
        }
        if let Some(pos) = added.iter().position(|a| !old.indexes.contains_key(&a.name) && same_index(d, a)) {
            renamed_pairs.push((d.name.clone(), added.remove(pos).name.clone()));
            false
        } else {
            true
        }
    });
    for d in dropped {
        out.push(Change::DropIndex { table: table.clone(), index: d.clone() });
    }
    for (from, to) in renamed_pairs {
        out.push(Change::RenameIndex { table: table.clone(), from, to });
    }
    for a in added {
        out.push(Change::CreateIndex { table: table.clone(), index: a.clone() });
    }

    // Row-level security, then policies by name: a changed policy is dropped and created.
    if RowLevelSecurity::of(old) != RowLevelSecurity::of(new) {
        out.push(Change::SetRowLevelSecurity {
            table: table.clone(),
            from: RowLevelSecurity::of(old),
            to: RowLevelSecurity::of(new),
        });
    }
    for (name, p) in &old.policies {
        if new.policies.get(name) != Some(p) {
            out.push(Change::DropPolicy { table: table.clone(), policy: p.clone() });
        }
    }
    for (name, p) in &new.policies {
        if old.policies.get(name) != Some(p) {
            out.push(Change::CreatePolicy { table: table.clone(), policy: p.clone() });
        }
    }
}

struct Matched<T> {
    renamed: Vec<(String, String)>,
    dropped: Vec<T>,
    added: Vec<T>,
}

impl<T> Matched<T> {
    fn emit(
        self,
        table: &QualifiedName,
        kind: ConstraintKind,
        out: &mut Vec<Change>,
        drop: impl Fn(QualifiedName, T) -> Change,
        add: impl Fn(QualifiedName, T) -> Change,
    ) {
        for d in self.dropped {
            out.push(drop(table.clone(), d));
        }
        for (from, to) in self.renamed {
            out.push(Change::RenameConstraint { table: table.clone(), kind, from, to });
        }
        for a in self.added {
            out.push(add(table.clone(), a));
        }
    }
}

/// Matches constraints by name when both sides have one, then by content. The same content
/// under two different names is a rename; a named and an unnamed one with the same content
/// (SQLite's `CONSTRAINT n` added or removed) are a drop and an add.
fn match_constraints<T: Clone>(
    from: &[T],
    to: &[T],
    name: impl Fn(&T) -> Option<&str>,
    same: impl Fn(&T, &T) -> bool,
) -> Matched<T> {
    let mut used_from = vec![false; from.len()];
    let mut used_to = vec![false; to.len()];
    let mut m = Matched { renamed: Vec::new(), dropped: Vec::new(), added: Vec::new() };
    for (j, b) in to.iter().enumerate() {
        let Some(bn) = name(b) else { continue };
        if let Some(i) = (0..from.len()).find(|&i| !used_from[i] && name(&from[i]) == Some(bn)) {
            used_from[i] = true;
            used_to[j] = true;
            if !same(&from[i], b) {
                m.dropped.push(from[i].clone());
                m.added.push(b.clone());
            }
        }
    }
    for (j, b) in to.iter().enumerate() {
        if used_to[j] {
            continue;
        }
        let bn = name(b);
        // A same-content constraint whose name is not taken by one of `to`'s.
        let pick = (0..from.len())
            .find(|&i| !used_from[i] && same(&from[i], b) && name(&from[i]) == bn)
            .or_else(|| (0..from.len()).find(|&i| !used_from[i] && same(&from[i], b)));
        if let Some(i) = pick {
            used_from[i] = true;
            used_to[j] = true;
            match (name(&from[i]), bn) {
                (a, b2) if a == b2 => {}
                (Some(a), Some(b2)) => m.renamed.push((a.to_string(), b2.to_string())),
                _ => {
                    m.dropped.push(from[i].clone());
                    m.added.push(b.clone());
                }
            }
        }
    }
    for (i, a) in from.iter().enumerate() {
        if !used_from[i] {
            m.dropped.push(a.clone());
        }
    }
    for (j, b) in to.iter().enumerate() {
        if !used_to[j] {
            m.added.push(b.clone());
        }
    }
    m
}

/// Whether two schemas are the same for the differ (no change between them).
pub fn same(a: &Schema, b: &Schema) -> bool {
    matches!(diff(a, b, &Renames::none_are_renames()), Ok(c) if c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> QualifiedName {
        QualifiedName::new("public", name)
    }

    fn table(name: &str, cols: &[&str]) -> Table {
        let mut t = Table::new(q(name));
        t.columns = cols.iter().map(|c| Column::new(*c, "text")).collect();
        t
    }

    fn schema(tables: Vec<Table>) -> Schema {
        let mut s = Schema::empty(Dialect::Postgres);
        for t in tables {
            s.tables.insert(t.name.clone(), t);
        }
        s
    }

    fn fk(name: &str, cols: &[&str], target: &str, refs: &[&str]) -> ForeignKey {
        ForeignKey {
            name: Some(name.to_string()),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            references: q(target),
            referenced_columns: refs.iter().map(|c| c.to_string()).collect(),
            on_delete: Action::NoAction,
            on_update: Action::NoAction,
            deferrable: Deferrable::NotDeferrable,
        }
    }

    fn ok(from: &Schema, to: &Schema, renames: &Renames) -> Vec<String> {
        diff(from, to, renames).unwrap().iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn equal_schemas_have_no_changes_and_column_order_is_not_a_change() {
        let a = schema(vec![table("t", &["a", "b"])]);
        let b = schema(vec![table("t", &["b", "a"])]);
        assert!(diff(&a, &a, &Renames::none()).unwrap().is_empty());
        assert!(diff(&a, &b, &Renames::none()).unwrap().is_empty());
        assert!(same(&a, &b));
    }

    #[test]
    fn dialects_must_match() {
        let a = Schema::empty(Dialect::Sqlite);
        let b = Schema::empty(Dialect::Postgres);
        assert!(matches!(diff(&a, &b, &Renames::none()), Err(DiffError::DialectMismatch { .. })));
    }

    #[test]
    fn a_dropped_and_an_added_table_are_ambiguous_until_said() {
        let from = schema(vec![table("a", &["x"]), table("keep", &["x"])]);
        let to = schema(vec![table("b", &["x"]), table("keep", &["x"])]);
        let err = diff(&from, &to, &Renames::none()).unwrap_err();
        assert_eq!(
            err,
            DiffError::Ambiguous { candidates: vec![RenameCandidate::Table { dropped: q("a"), added: q("b") }] }
        );
        assert!(err.to_string().contains("--rename a=b"), "{err}");
        assert_eq!(ok(&from, &to, &Renames::parse(["a=b"]).unwrap()), ["rename table a to b"]);
        assert_eq!(ok(&from, &to, &Renames::none_are_renames()), ["create table b", "drop table a"]);
        // Only drops, or only adds, are not ambiguous.
        assert_eq!(ok(&from, &schema(vec![table("keep", &["x"])]), &Renames::none()), ["drop table a"]);
    }

    #[test]
    fn columns_dropped_and_added_in_one_table_are_ambiguous() {
        let from = schema(vec![table("t", &["id", "a", "b"]), table("u", &["c"])]);
        let to = schema(vec![table("t", &["id", "x", "y"]), table("u", &["d"])]);
        let DiffError::Ambiguous { candidates } = diff(&from, &to, &Renames::none()).unwrap_err() else { panic!() };
        let args: Vec<String> = candidates.iter().map(RenameCandidate::rename_arg).collect();
        assert_eq!(args, ["t.a=x", "t.a=y", "t.b=x", "t.b=y", "u.c=d"]);
        // Renames for some, the rest confirmed as drop and add.
        let r = Renames::parse(["t.a=x", "u.c=d"]).unwrap();
        assert!(matches!(diff(&from, &to, &r), Err(DiffError::Ambiguous { candidates }) if candidates.len() == 1));
        assert_eq!(
            ok(&from, &to, &r.and_rest_are_not_renames()),
            ["rename column t.a to x", "rename column u.c to d", "add column t.y", "drop column t.b"]
        );
    }

    #[test]
    fn a_renamed_table_keeps_its_column_renames_and_its_children_follow() {
        let parent = table("authors", &["id", "name"]);
        let mut child = table("books", &["id", "author_id"]);
        child.foreign_keys.push(fk("books_fk", &["author_id"], "authors", &["id"]));
        let from = schema(vec![parent, child]);
        let mut writers = table("writers", &["key", "name"]);
        writers.name = q("writers");
        let mut child2 = table("books", &["id", "author_id"]);
        child2.foreign_keys.push(fk("books_fk", &["author_id"], "writers", &["key"]));
        let to = schema(vec![writers, child2]);
        // The column may be named by the table's old or new name.
        for spec in ["authors.id=key", "writers.id=key"] {
            let r = Renames::parse(["authors=writers", spec]).unwrap();
            assert_eq!(ok(&from, &to, &r), ["rename table authors to writers", "rename column writers.id to key"]);
        }
    }

    #[test]
    fn a_rename_onto_a_dropped_name_drops_it_first() {
        let from = schema(vec![table("t", &["old", "new"])]);
        let to = schema(vec![table("t", &["new"])]);
        assert_eq!(
            ok(&from, &to, &Renames::parse(["t.old=new"]).unwrap()),
            ["drop column t.new", "rename column t.old to new"]
        );
    }

    #[test]
    fn renames_that_name_nothing_are_errors() {
        let from = schema(vec![table("t", &["a"])]);
        let to = schema(vec![table("u", &["a"])]);
        let kept = schema(vec![table("t", &["b"])]);
        let err = diff(&from, &kept, &Renames::parse(["t.a=zz"]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("table t has no column zz"), "{err}");
        for (spec, needle) in [
            ("nope=u", "no table nope"),
            ("t=v", "the new schema has no table v"),
            ("t.zz=a", "no column"),
            ("t.a=zz", "the new schema has no table t"),
        ] {
            let r = Renames::parse([spec]).unwrap();
            let err = diff(&from, &to, &r).unwrap_err();
            assert!(matches!(err, DiffError::UnknownRename { .. }), "{spec}: {err:?}");
            assert!(err.to_string().contains(needle), "{spec}: {err}");
        }
        assert!(Renames::parse(["a"]).is_err());
        assert!(Renames::parse(["a=b.c"]).is_err());
        assert!(Renames::parse(["=b"]).is_err());
        assert!(Renames::parse(["a.b.c.d=e"]).is_err());
    }

    #[test]
    fn column_attributes_are_separate_changes() {
        let from = schema(vec![table("t", &["a"])]);
        let mut t = table("t", &["a"]);
        t.columns[0] = Column {
            data_type: "integer".into(),
            not_null: true,
            default: Some("0".into()),
            collation: Some("C".into()),
            ..t.columns[0].clone()
        };
        let to = schema(vec![t]);
        let changes = diff(&from, &to, &Renames::none()).unwrap();
        let attrs: Vec<&str> = changes
            .iter()
            .map(|c| match c {
                Change::AlterColumn { change: ColumnChange::Type { .. }, .. } => "type",
                Change::AlterColumn { change: ColumnChange::Collation { .. }, .. } => "collation",
                Change::AlterColumn { change: ColumnChange::NotNull { .. }, .. } => "not null",
                Change::AlterColumn { change: ColumnChange::Default { .. }, .. } => "default",
                _ => "other",
            })
            .collect();
        assert_eq!(attrs, ["type", "collation", "not null", "default"]);
        let safety: Vec<String> = changes.iter().map(|c| c.safety().to_string()).collect();
        assert_eq!(
            safety,
            ["needs: every value of t.a converts from text to integer", "safe", "needs: no NULLs in t(a)", "safe"]
        );
    }

    #[test]
    fn constraints_match_by_name_then_by_content() {
        let mut a = table("t", &["x", "y"]);
        a.uniques = vec![
            Unique { name: Some("u_x".into()), columns: vec!["x".into()], nulls_not_distinct: false },
            Unique { name: Some("u_y".into()), columns: vec!["y".into()], nulls_not_distinct: false },
        ];
        a.checks = vec![Check { name: None, expression: "x > 0".into() }];
        let mut b = a.clone();
        // Same name, other content: drop and add. Same content, other name: a rename.
        b.uniques = vec![
            Unique { name: Some("u_x".into()), columns: vec!["x".into(), "y".into()], nulls_not_distinct: false },
            Unique { name: Some("t_y_key".into()), columns: vec!["y".into()], nulls_not_distinct: false },
        ];
        // Unnamed: by content.
        b.checks =
            vec![Check { name: None, expression: "x > 0".into() }, Check { name: None, expression: "y <> ''".into() }];
        let changes = ok(&schema(vec![a]), &schema(vec![b]), &Renames::none());
        assert_eq!(
            changes,
            [
                "drop unique t(x)",
                "rename constraint u_y of t to t_y_key",
                "add unique t(x, y)",
                "add check on t: y <> ''",
            ]
        );
    }

    #[test]
    fn foreign_key_actions_changed_are_a_drop_and_an_add() {
        let mut a = table("c", &["p"]);
        a.foreign_keys.push(fk("c_p_fk", &["p"], "p", &["id"]));
        let mut b = a.clone();
        b.foreign_keys[0].on_delete = Action::Cascade;
        let changes = diff(&schema(vec![a.clone()]), &schema(vec![b]), &Renames::none()).unwrap();
        assert!(
            matches!(changes.as_slice(), [Change::DropForeignKey { .. }, Change::AddForeignKey { foreign_key, .. }]
            if foreign_key.on_delete == Action::Cascade)
        );
        assert!(matches!(changes[1].safety(), Safety::DataDependent(Requirement::NoOrphans { .. })));
    }

    #[test]
    fn a_changed_index_is_dropped_and_created_and_a_renamed_one_renamed() {
        let key = |c: &str| IndexKey {
            target: IndexTarget::Column(c.into()),
            descending: false,
            collation: None,
            nulls_not_default: false,
            opclass: None,
        };
        let idx = |name: &str, c: &str, unique: bool| Index {
            name: name.into(),
            unique,
            keys: vec![key(c)],
            predicate: None,
            method: None,
            include: vec![],
        };
        let mut a = table("t", &["x", "y"]);
        a.indexes.insert("i_x".into(), idx("i_x", "x", false));
        a.indexes.insert("i_y".into(), idx("i_y", "y", false));
        let mut b = table("t", &["x", "y"]);
        b.indexes.insert("i_x".into(), idx("i_x", "x", true));
        b.indexes.insert("t_y_idx".into(), idx("t_y_idx", "y", false));
        assert_eq!(
            ok(&schema(vec![a]), &schema(vec![b]), &Renames::none()),
            ["drop index i_x on t", "rename index i_y on t to t_y_idx", "create index i_x on t"]
        );
    }

    fn with_enum(values: &[&str]) -> Schema {
        let mut s = Schema::empty(Dialect::Postgres);
        s.enums.insert(q("mood"), Enum { name: q("mood"), values: values.iter().map(|v| v.to_string()).collect() });
        s
    }

    #[test]
    fn enum_values_added_at_their_place_removed_reordered_or_renamed() {
        assert_eq!(
            ok(&with_enum(&["b", "d"]), &with_enum(&["a", "b", "c", "d", "e"]), &Renames::none()),
            [
                "add value 'a' to enum mood before 'b'",
                "add value 'c' to enum mood after 'b'",
                "add value 'e' to enum mood after 'd'",
            ]
        );
        let removed = diff(&with_enum(&["a", "b"]), &with_enum(&["a"]), &Renames::none()).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].safety().to_string(), "needs: no row holds 'b' of enum mood");
        let reordered = diff(&with_enum(&["a", "b"]), &with_enum(&["b", "a"]), &Renames::none()).unwrap();
        assert!(matches!(reordered.as_slice(), [Change::RecreateEnum { .. }]));
        assert_eq!(reordered[0].safety(), Safety::Safe);
        assert!(matches!(
            diff(&with_enum(&["a", "b"]), &with_enum(&["a", "c"]), &Renames::none()),
            Err(DiffError::Ambiguous { candidates }) if candidates[0].rename_arg() == "mood.b=c"
        ));
        assert_eq!(
            ok(&with_enum(&["a", "b"]), &with_enum(&["a", "c"]), &Renames::parse(["mood.b=c"]).unwrap()),
            ["rename value 'b' of enum mood to 'c'"]
        );
    }

    fn function(name: &str, arguments: &str, returns: &str, body: &str) -> Function {
        Function {
            name: q(name),
            kind: RoutineKind::Function,
            arguments: arguments.into(),
            parameters: arguments.into(),
            returns: Some(returns.into()),
            definition: format!(
                "CREATE OR REPLACE FUNCTION public.{name}({arguments})\n RETURNS {returns}\n LANGUAGE sql\n\
                 AS $function$ {body} $function$"
            ),
        }
    }

    fn with_functions(functions: &[Function]) -> Schema {
        let mut s = Schema::empty(Dialect::Postgres);
        for f in functions {
            s.functions.insert(f.key(), f.clone());
        }
        s
    }

    #[test]
    fn functions_are_matched_by_name_and_arguments_and_replaced_when_they_can_be() {
        let int = function("fmt", "n integer", "text", "SELECT 'n' || n");
        let text = function("fmt", "s text", "text", "SELECT s");
        let from = with_functions(&[int.clone(), text.clone()]);
        // An overload added and one dropped: two functions, no ambiguity.
        let big = function("fmt", "n bigint", "text", "SELECT 'n' || n");
        let to = with_functions(&[big.clone(), text.clone()]);
        assert_eq!(ok(&from, &to, &Renames::none()), ["drop function fmt(n integer)", "create function fmt(n bigint)"]);
        // Another body: replaced in place.
        let text2 = function("fmt", "s text", "text", "SELECT upper(s)");
        let changes = diff(&from, &with_functions(&[int.clone(), text2.clone()]), &Renames::none()).unwrap();
        assert_eq!(changes, [Change::ReplaceFunction { from: text.clone(), to: text2 }]);
        assert_eq!(changes[0].safety(), Safety::Safe);
        // Another result type or a parameter's default: dropped and created.
        let varchar = function("fmt", "s text", "character varying", "SELECT s");
        assert_eq!(
            ok(&from, &with_functions(&[int.clone(), varchar]), &Renames::none()),
            ["drop function fmt(s text)", "create function fmt(s text)"]
        );
        let defaulted = Function { parameters: "s text DEFAULT 'x'::text".into(), ..text.clone() };
        assert!(!text.replaceable_by(&defaulted) && text.replaceable_by(&text));
        let procedure = Function { kind: RoutineKind::Procedure, returns: None, ..text.clone() };
        assert_eq!(
            ok(&from, &with_functions(&[int, procedure]), &Renames::none()),
            ["drop function fmt(s text)", "create procedure fmt(s text)"]
        );
        let dropped = diff(&from, &Schema::empty(Dialect::Postgres), &Renames::none()).unwrap();
        assert!(dropped.iter().all(|c| matches!(c, Change::DropFunction { .. }) && c.safety() == Safety::Safe));
        assert!(!same(&from, &to) && same(&from, &from.clone()));
    }

    #[test]
    fn extensions_and_policies_are_matched_by_name() {
        let mut from = schema(vec![table("notes", &["id", "owner"])]);
        let policy = |name: &str, using: &str| Policy {
            name: name.into(),
            permissive: true,
            command: PolicyCommand::Select,
            roles: vec!["public".into()],
            using: Some(using.into()),
            with_check: None,
        };
        from.extensions.insert("citext".into(), Extension { name: "citext".into(), schema: None });
        from.extensions.insert("pg_trgm".into(), Extension { name: "pg_trgm".into(), schema: None });
        let notes = from.tables.get_mut(&q("notes")).unwrap();
        notes.policies.insert("a".into(), policy("a", "true"));
        notes.policies.insert("b".into(), policy("b", "true"));
        let mut to = from.clone();
        to.extensions.remove("citext");
        to.extensions.insert("pg_trgm".into(), Extension { name: "pg_trgm".into(), schema: Some("ext".into()) });
        to.extensions.insert("pgcrypto".into(), Extension { name: "pgcrypto".into(), schema: None });
        let notes = to.tables.get_mut(&q("notes")).unwrap();
        notes.row_level_security = true;
        notes.policies.remove("b");
        notes.policies.insert("a".into(), policy("a", "(owner = 'x'::text)"));
        notes.policies.insert("c".into(), policy("c", "false"));
        assert_eq!(
            ok(&from, &to, &Renames::none()),
            [
                "move extension pg_trgm from schema public to ext",
                "create extension pgcrypto",
                "enable row level security on notes",
                "drop policy a on notes",
                "drop policy b on notes",
                "create policy a on notes",
                "create policy c on notes",
                "drop extension citext",
            ]
        );
        let changes = diff(&from, &to, &Renames::none()).unwrap();
        let drop = changes.iter().find(|c| matches!(c, Change::DropExtension { .. })).unwrap();
        assert_eq!(drop.safety(), Safety::Destructive(Loss::Extension { name: "citext".into() }));
        assert!(changes
            .iter()
            .filter(|c| !matches!(c, Change::DropExtension { .. }))
            .all(|c| c.safety() == Safety::Safe));
        assert!(same(&to, &to.clone()));
    }

    #[test]
    fn safety_of_drops_and_adds() {
        let from = schema(vec![table("t", &["a", "b"])]);
        let mut t = table("t", &["a"]);
        t.columns.push(Column { not_null: true, ..Column::new("c", "integer") });
        t.columns.push(Column { not_null: true, default: Some("0".into()), ..Column::new("d", "integer") });
        let to = schema(vec![t]);
        let changes = diff(&from, &to, &Renames::none_are_renames()).unwrap();
        let s: Vec<String> = changes.iter().map(|c| format!("{c}: {}", c.safety())).collect();
        assert_eq!(
            s,
            [
                "add column t.c: needs: public.t must be empty: new column c is NOT NULL without a default"
                    .replace("public.t", "t"),
                "add column t.d: safe".to_string(),
                "drop column t.b: destructive: drops column t.b and its values".to_string(),
            ]
        );
        let dropped = diff(&from, &Schema::empty(Dialect::Postgres), &Renames::none()).unwrap();
        assert_eq!(dropped[0].safety().to_string(), "destructive: drops table t and all its rows");
    }

    #[test]
    fn changes_serialise_for_json() {
        let from = schema(vec![table("t", &["a"])]);
        let to = schema(vec![table("t", &["a", "b"])]);
        let changes = diff(&from, &to, &Renames::none()).unwrap();
        let json = serde_json::to_value(&changes).unwrap();
        assert_eq!(json[0]["op"], "add_column");
        assert_eq!(json[0]["table"]["name"], "t");
        assert_eq!(json[0]["column"]["name"], "b");
        let back: Vec<Change> = serde_json::from_value(json).unwrap();
        assert_eq!(back, changes);
        let safety = serde_json::to_value(Change::DropTable { table: table("x", &[]) }.safety()).unwrap();
        assert_eq!(safety["safety"], "destructive");
        assert_eq!(safety["detail"]["loss"], "table");
    }

    #[test]
    fn renamed_applies_renames_everywhere() {
        let mut parent = table("p", &["id"]);
        parent.primary_key = Some(PrimaryKey { name: Some("p_pkey".into()), columns: vec!["id".into()] });
        let mut child = table("c", &["pid"]);
        child.foreign_keys.push(fk("c_fk", &["pid"], "p", &["id"]));
        let from = schema(vec![parent, child]);
        let changes = vec![
            Change::RenameTable { from: q("p"), to: q("parent") },
            Change::RenameColumn { table: q("parent"), from: "id".into(), to: "key".into() },
        ];
        let r = renamed(&from, &changes);
        let p = r.tables.get(&q("parent")).unwrap();
        assert_eq!(p.primary_key.as_ref().unwrap().columns, ["key"]);
        let c = r.tables.get(&q("c")).unwrap();
        assert_eq!(c.foreign_keys[0].references, q("parent"));
        assert_eq!(c.foreign_keys[0].referenced_columns, ["key"]);
    }
}
