//! Pre-flight: what migrations will do to the data before they run. Pure: from the schemas a
//! replay of the folder gives around each migration (and the migration's text), it works out
//! what each one changes ([`changes_for`]), the queries that measure its data-dependent and
//! destructive changes on the live database ([`Probe`], one counting or indexed query each,
//! plus a `LIMIT 5` sample query only when the count is not zero), and what it means when they
//! have run ([`report`]). `migrate` refuses a run with an error; `lint` prints the same report.
//!
//! The live database is in the state *before* every pending migration, while a check belongs
//! to the state *after* its migration. Each table and column of the schema after a migration
//! is traced back to the live database ([`Lineage`]): a renamed one to its live name, a column
//! added by a pending migration to its default (every existing row gets it), a table created
//! by one to nothing (it starts empty). A table a pending migration writes rows into itself
//! (`UPDATE`, `INSERT`, `DELETE`) cannot be predicted: its checks are notes, and the
//! migration's own transaction stays the guard.
//!
//! Renames: the differ cannot tell a dropped-and-added column from a renamed one; the
//! migration's own statements can (`ALTER TABLE … RENAME COLUMN a TO b`), so a candidate is a
//! rename exactly when the migration says so ([`changes_for`]).
//!
//! Rules have stable names (`-- lint: allow <rule>` in a migration acknowledges a warning of
//! that rule in that file; errors cannot be allowed: the migration would fail).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::diff::{self, Change, ColumnChange, DiffError, RenameCandidate, Renames, Safety};
use super::introspect::{tokenize, Lexer, Token, TokenKind};
use super::model::*;
use crate::migrate::statements::split;

/// A table with more rows than this is large: building an index on it without
/// `CONCURRENTLY` blocks writes for long.
pub const LARGE_TABLE_ROWS: u64 = 10_000;

/// How many sample keys a finding shows.
pub const SAMPLE_LIMIT: usize = 5;

// ---------------------------------------------------------------------------------------------
// Rules, findings and the report

/// A lint rule. Its name (`Rule::name`) is stable: it appears in `-- lint: allow <rule>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// NULLs in a column that becomes NOT NULL.
    NullsUnderNotNull,
    /// A NOT NULL column without a default added to a table that has rows.
    NotNullColumnOnRows,
    /// Duplicates under a new UNIQUE constraint, unique index or primary key.
    DuplicatesUnderUnique,
    /// Rows without a parent under a new foreign key.
    OrphansUnderForeignKey,
    /// Rows a new CHECK rejects.
    RowsFailingCheck,
    /// Values a type change cannot convert.
    UnconvertibleValues,
    /// Rows holding an enum value that is removed.
    EnumValueInUse,
    /// A dropped table or column that holds data.
    DataLoss,
    /// A renamed table or column: code still running uses the old name.
    Rename,
    /// PostgreSQL: an index built without `CONCURRENTLY` on a large table.
    IndexNotConcurrent,
    /// PostgreSQL: a type change that rewrites the table under an exclusive lock.
    TypeChangeRewrite,
    /// PostgreSQL: `SET NOT NULL` scans the whole table under an exclusive lock.
    SetNotNullScan,
    /// PostgreSQL: a column added with a volatile default rewrites the table.
    VolatileDefaultRewrite,
    /// The live schema is not what the applied migrations give.
    Drift,
    /// A check that could not be measured (said why).
    NotMeasured,
    /// A `-- lint: allow` line naming no rule.
    UnknownRule,
}

impl Rule {
    pub const ALL: [Rule; 16] = [
        Rule::NullsUnderNotNull,
        Rule::NotNullColumnOnRows,
        Rule::DuplicatesUnderUnique,
        Rule::OrphansUnderForeignKey,
        Rule::RowsFailingCheck,
        Rule::UnconvertibleValues,
        Rule::EnumValueInUse,
        Rule::DataLoss,
        Rule::Rename,
        Rule::IndexNotConcurrent,
        Rule::TypeChangeRewrite,
        Rule::SetNotNullScan,
        Rule::VolatileDefaultRewrite,
        Rule::Drift,
        Rule::NotMeasured,
        Rule::UnknownRule,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NullsUnderNotNull => "nulls-under-not-null",
            Rule::NotNullColumnOnRows => "not-null-column-on-rows",
            Rule::DuplicatesUnderUnique => "duplicates-under-unique",
            Rule::OrphansUnderForeignKey => "orphans-under-foreign-key",
            Rule::RowsFailingCheck => "rows-failing-check",
            Rule::UnconvertibleValues => "unconvertible-values",
            Rule::EnumValueInUse => "enum-value-in-use",
            Rule::DataLoss => "data-loss",
            Rule::Rename => "rename",
            Rule::IndexNotConcurrent => "index-not-concurrent",
            Rule::TypeChangeRewrite => "type-change-rewrite",
            Rule::SetNotNullScan => "set-not-null-scan",
            Rule::VolatileDefaultRewrite => "volatile-default-rewrite",
            Rule::Drift => "drift",
            Rule::NotMeasured => "not-measured",
            Rule::UnknownRule => "unknown-lint-rule",
        }
    }

    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Rules whose findings are predicted failures (they cannot be allowed).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Rule::NullsUnderNotNull
                | Rule::NotNullColumnOnRows
                | Rule::DuplicatesUnderUnique
                | Rule::OrphansUnderForeignKey
                | Rule::RowsFailingCheck
                | Rule::UnconvertibleValues
                | Rule::EnumValueInUse
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A predicted failure: `migrate` refuses, `lint` exits 1.
    Error,
    /// Something to know before deploying (fails `lint --deny-warnings`).
    Warning,
    /// Information: what was not measured, and why.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One thing the report says about one migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub migration: String,
    pub rule: Rule,
    pub severity: Severity,
    pub table: Option<String>,
    pub column: Option<String>,
    /// Rows concerned (counted on the live database), when measured.
    pub count: Option<u64>,
    /// Up to [`SAMPLE_LIMIT`] sample keys of those rows.
    pub samples: Vec<String>,
    /// What the samples are (`id`, `(environment_id, slug)`).
    pub sample_key: Option<String>,
    pub message: String,
    /// How to fix it.
    pub advice: String,
    /// Acknowledged by a `-- lint: allow <rule>` line in the migration.
    pub allowed: bool,
}

impl Finding {
    fn new(migration: &str, rule: Rule, severity: Severity, message: String, advice: String) -> Finding {
        Finding {
            migration: migration.to_string(),
            rule,
            severity,
            table: None,
            column: None,
            count: None,
            samples: Vec::new(),
            sample_key: None,
            message,
            advice,
            allowed: false,
        }
    }

    fn on(mut self, table: &QualifiedName, column: Option<&str>) -> Finding {
        self.table = Some(table.to_string());
        self.column = column.map(str::to_string);
        self
    }
}

impl fmt::Display for Finding {
    /// `0006_x: error nulls-under-not-null: … ; sample keys (id): a, b` (advice on the next line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}: {}", self.migration, self.severity, self.rule, self.message)?;
        if !self.samples.is_empty() {
            write!(
                f,
                "; sample {}: {}",
                self.sample_key.as_deref().map_or("keys".to_string(), |k| format!("keys {k}")),
                self.samples.join(", ")
            )?;
        }
        if self.allowed {
            write!(f, " (allowed by `-- lint: allow {}`)", self.rule)?;
        }
        if !self.advice.is_empty() {
            write!(f, "\n    fix: {}", self.advice)?;
        }
        Ok(())
    }
}

/// What one migration (or rollback step) changes and what the report says about it.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub migration: String,
    /// The engine's changes, in words.
    pub changes: Vec<String>,
    pub findings: Vec<Finding>,
}

/// The whole report, in migration order.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub dialect: Dialect,
    pub migrations: Vec<StepReport>,
}

impl Report {
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.migrations.iter().flat_map(|m| &m.findings)
    }

    /// Predicted failures.
    pub fn errors(&self) -> Vec<&Finding> {
        self.findings().filter(|f| f.severity == Severity::Error).collect()
    }

    /// Warnings no `-- lint: allow` line acknowledges.
    pub fn warnings(&self) -> Vec<&Finding> {
        self.findings().filter(|f| f.severity == Severity::Warning && !f.allowed).collect()
    }

    /// Destructive changes that delete rows (a measured count above zero).
    pub fn data_loss(&self) -> Vec<&Finding> {
        self.findings().filter(|f| f.rule == Rule::DataLoss && f.count.is_some_and(|n| n > 0)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Renames from the migration's text

/// A rename a statement makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextRename {
    Table { old: String, new: String },
    Column { table: String, old: String, new: String },
    EnumValue { name: String, old: String, new: String },
}

fn lexer(d: Dialect) -> Lexer {
    match d {
        Dialect::Sqlite => Lexer::Sqlite,
        Dialect::Postgres => Lexer::Postgres,
    }
}

/// The name a token stands for: a quoted identifier as written, a bare one folded as the
/// database folds it (PostgreSQL: lower case).
fn name_of(d: Dialect, t: Option<&Token<'_>>) -> Option<String> {
    let t = t?;
    match &t.kind {
        TokenKind::Word => Some(match d {
            Dialect::Postgres => t.text.to_ascii_lowercase(),
            Dialect::Sqlite => t.text.to_string(),
        }),
        TokenKind::Quoted(n) => Some(n.clone()),
        _ => None,
    }
}

/// Whether two names are the same identifier (SQLite compares names case-insensitively).
fn same_name(d: Dialect, a: &str, b: &str) -> bool {
    match d {
        Dialect::Sqlite => a.eq_ignore_ascii_case(b),
        Dialect::Postgres => a == b,
    }
}

fn word(toks: &[Token<'_>], i: usize, kw: &str) -> bool {
    toks.get(i).is_some_and(|t| t.is_word(kw))
}

/// A possibly schema-qualified name at `i`: its last part and the index after it.
fn qualified(d: Dialect, toks: &[Token<'_>], mut i: usize) -> Option<(String, usize)> {
    let mut name = name_of(d, toks.get(i))?;
    i += 1;
    while toks.get(i).is_some_and(|t| t.is(".")) {
        name = name_of(d, toks.get(i + 1))?;
        i += 2;
    }
    Some((name, i))
}

/// The statements of a migration's text, split as the migrator splits it.
fn statements(d: Dialect, sql: &str) -> Vec<String> {
    split(d, sql).into_iter().map(|s| s.sql).collect()
}

/// The renames a migration's statements make: `ALTER TABLE t RENAME [COLUMN] a TO b`,
/// `ALTER TABLE a RENAME TO b`, `ALTER TYPE e RENAME VALUE 'a' TO 'b'`.
pub fn text_renames(d: Dialect, sql: &str) -> Vec<TextRename> {
    let mut out = Vec::new();
    for st in statements(d, sql) {
        let toks = tokenize(&st, lexer(d));
        if !word(&toks, 0, "ALTER") {
            continue;
        }
        if word(&toks, 1, "TABLE") {
            let mut i = 2;
            if word(&toks, i, "IF") && word(&toks, i + 1, "EXISTS") {
                i += 2;
            }
            if word(&toks, i, "ONLY") {
                i += 1;
            }
            let Some((table, mut i)) = qualified(d, &toks, i) else { continue };
            if !word(&toks, i, "RENAME") {
                continue;
            }
            i += 1;
            if word(&toks, i, "TO") {
                if let Some(new) = name_of(d, toks.get(i + 1)) {
                    out.push(TextRename::Table { old: table, new });
                }
                continue;
            }
            if word(&toks, i, "CONSTRAINT") {
                continue;
            }
            if word(&toks, i, "COLUMN") {
                i += 1;
            }
            if let (Some(old), true, Some(new)) =
                (name_of(d, toks.get(i)), word(&toks, i + 1, "TO"), name_of(d, toks.get(i + 2)))
            {
                out.push(TextRename::Column { table, old, new });
            }
        } else if word(&toks, 1, "TYPE") {
            let Some((name, i)) = qualified(d, &toks, 2) else { continue };
            if word(&toks, i, "RENAME") && word(&toks, i + 1, "VALUE") && word(&toks, i + 3, "TO") {
                if let (Some(old), Some(new)) =
                    (toks.get(i + 2).and_then(Token::ident), toks.get(i + 4).and_then(Token::ident))
                {
                    out.push(TextRename::EnumValue { name, old, new });
                }
            }
        }
    }
    out
}

/// Whether the text's renames make `candidate` a rename (`reverse`: the text is the migration
/// being undone, so its renames run backwards).
fn is_text_rename(d: Dialect, renames: &[TextRename], candidate: &RenameCandidate, reverse: bool) -> bool {
    let (from_to, eq) = (
        |old: &str, new: &str| {
            if reverse {
                (new.to_string(), old.to_string())
            } else {
                (old.to_string(), new.to_string())
            }
        },
        |a: &str, b: &str| same_name(d, a, b),
    );
    renames.iter().any(|r| match (r, candidate) {
        (TextRename::Table { old, new }, RenameCandidate::Table { dropped, added }) => {
            let (o, n) = from_to(old, new);
            eq(&o, &dropped.name) && eq(&n, &added.name)
        }
        (TextRename::Column { table, old, new }, RenameCandidate::Column { table: t, dropped, added }) => {
            let (o, n) = from_to(old, new);
            // The statement names the table by the name it has at that point.
            let linked = eq(table, &t.name)
                || renames.iter().any(|r| {
                    matches!(r, TextRename::Table { old, new } if (eq(old, table) && eq(new, &t.name)) || (eq(new, table) && eq(old, &t.name)))
                });
            linked && eq(&o, dropped) && eq(&n, added)
        }
        (TextRename::EnumValue { name, old, new }, RenameCandidate::EnumValue { name: e, dropped, added }) => {
            let (o, n) = from_to(old, new);
            eq(name, &e.name) && o == *dropped && n == *added
        }
        _ => false,
    })
}

/// The changes from `before` to `after` that a migration makes: a dropped-and-added pair is a
/// rename exactly when `rename_text` renames it (`reverse`: undoing that text), else a drop
/// and an add.
pub fn changes_for(
    before: &Schema,
    after: &Schema,
    rename_text: &str,
    reverse: bool,
) -> Result<Vec<Change>, DiffError> {
    match diff::diff(before, after, &Renames::none()) {
        Err(DiffError::Ambiguous { candidates }) => {
            let renames = text_renames(before.dialect, rename_text);
            let mut confirmed = Renames::none();
            for c in candidates.iter().filter(|c| is_text_rename(before.dialect, &renames, c, reverse)) {
                confirmed.accept(c);
            }
            diff::diff(before, after, &confirmed.and_rest_are_not_renames())
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// What the text says: rows written, indexes built, conversions, allowances

/// The tables a migration's statements write rows into (`UPDATE`, `INSERT`, `REPLACE`,
/// `DELETE`, `TRUNCATE`, `MERGE`), by name. A drizzle-kit rebuild's copy (`INSERT INTO
/// __new_t(…) SELECT a, b FROM t`, plain columns only) is not a write; one that computes
/// values (`SELECT coalesce(a, '')`) writes `t`.
pub fn written_tables(d: Dialect, sql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for st in statements(d, sql) {
        let toks = tokenize(&st, lexer(d));
        let skip_or = |i: usize| if word(&toks, i, "OR") { i + 2 } else { i };
        let skip_only = |i: usize| if word(&toks, i, "ONLY") { i + 1 } else { i };
        let target = if word(&toks, 0, "UPDATE") {
            qualified(d, &toks, skip_only(skip_or(1)))
        } else if word(&toks, 0, "INSERT") || word(&toks, 0, "REPLACE") {
            let i = skip_or(1);
            if word(&toks, i, "INTO") {
                qualified(d, &toks, i + 1)
            } else {
                None
            }
        } else if word(&toks, 0, "DELETE") && word(&toks, 1, "FROM") {
            qualified(d, &toks, skip_only(2))
        } else if word(&toks, 0, "MERGE") && word(&toks, 1, "INTO") {
            qualified(d, &toks, 2)
        } else if word(&toks, 0, "TRUNCATE") {
            let mut i = if word(&toks, 1, "TABLE") { 2 } else { 1 };
            while let Some((name, next)) = qualified(d, &toks, skip_only(i)) {
                out.insert(name);
                if !toks.get(next).is_some_and(|t| t.is(",")) {
                    break;
                }
                i = next + 1;
            }
            None
        } else {
            None
        };
        let Some((name, _)) = target else { continue };
        match name.strip_prefix("__new_") {
            Some(original) if is_plain_copy(&toks) => {
                let _ = original;
            }
            Some(original) => {
                out.insert(original.to_string());
            }
            None => {
                out.insert(name);
            }
        }
    }
    out
}

/// `… SELECT a, "b", `c` FROM …`: a select list of plain column names only.
fn is_plain_copy(toks: &[Token<'_>]) -> bool {
    let Some(select) = toks.iter().position(|t| t.is_word("SELECT")) else { return false };
    let Some(from) = toks[select..].iter().position(|t| t.is_word("FROM")) else { return false };
    let list = &toks[select + 1..select + from];
    !list.is_empty()
        && list.iter().enumerate().all(|(i, t)| {
            if i % 2 == 1 {
                t.is(",")
            } else {
                matches!(t.kind, TokenKind::Word | TokenKind::Quoted(_)) && !t.is_word("DISTINCT")
            }
        })
}

/// An index a `CREATE INDEX` statement of the text builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexStatement {
    pub name: String,
    pub concurrently: bool,
}

/// Every `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name` of the text.
pub fn created_indexes(d: Dialect, sql: &str) -> Vec<IndexStatement> {
    let mut out = Vec::new();
    for st in statements(d, sql) {
        let toks = tokenize(&st, lexer(d));
        if !word(&toks, 0, "CREATE") {
            continue;
        }
        let mut i = 1;
        if word(&toks, i, "UNIQUE") {
            i += 1;
        }
        if !word(&toks, i, "INDEX") {
            continue;
        }
        i += 1;
        let concurrently = word(&toks, i, "CONCURRENTLY");
        if concurrently {
            i += 1;
        }
        if word(&toks, i, "IF") && word(&toks, i + 1, "NOT") && word(&toks, i + 2, "EXISTS") {
            i += 3;
        }
        if let Some((name, _)) = qualified(d, &toks, i) {
            out.push(IndexStatement { name, concurrently });
        }
    }
    out
}

/// Whether the text attaches constraint `name` to an existing index (`ADD CONSTRAINT name …
/// USING INDEX`), which builds nothing.
fn uses_existing_index(d: Dialect, sql: &str, name: &str) -> bool {
    statements(d, sql).iter().any(|st| {
        let toks = tokenize(st, lexer(d));
        toks.windows(2)
            .any(|w| w[0].is_word("CONSTRAINT") && name_of(d, Some(&w[1])).is_some_and(|n| same_name(d, &n, name)))
            && toks.windows(2).any(|w| w[0].is_word("USING") && w[1].is_word("INDEX"))
    })
}

/// How a type change of a column is written in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// No `ALTER COLUMN … TYPE` for it (SQLite rebuilds, or another spelling).
    NotFound,
    /// `TYPE t` without `USING`: the assignment cast.
    Plain,
    /// `USING col::t` or `USING CAST(col AS t)`: the explicit cast.
    Cast,
    /// `USING <expression>`, as written.
    Using(String),
}

/// How the text converts `column`'s values (`ALTER TABLE … ALTER [COLUMN] c [SET DATA] TYPE …
/// [USING …]`).
pub fn conversion(d: Dialect, sql: &str, column: &str) -> Conversion {
    for st in statements(d, sql) {
        let toks = tokenize(&st, lexer(d));
        if !(word(&toks, 0, "ALTER") && word(&toks, 1, "TABLE")) {
            continue;
        }
        for j in 2..toks.len() {
            if !toks[j].is_word("ALTER") {
                continue;
            }
            let mut i = j + 1;
            if word(&toks, i, "COLUMN") {
                i += 1;
            }
            if !name_of(d, toks.get(i)).is_some_and(|n| same_name(d, &n, column)) {
                continue;
            }
            i += 1;
            if word(&toks, i, "SET") && word(&toks, i + 1, "DATA") {
                i += 2;
            }
            if !word(&toks, i, "TYPE") {
                continue;
            }
            // The clause ends at a top-level comma or the statement's end.
            let mut depth = 0i32;
            let mut using = None;
            let mut end = st.len();
            for t in &toks[i + 1..] {
                if t.is("(") {
                    depth += 1;
                } else if t.is(")") {
                    depth -= 1;
                } else if depth == 0 && (t.is(",") || t.is(";")) {
                    end = t.start;
                    break;
                } else if depth == 0 && using.is_none() && t.is_word("USING") {
                    using = Some(t.end());
                }
            }
            let Some(start) = using else { return Conversion::Plain };
            let expr = st[start..end].trim().to_string();
            let et = tokenize(&expr, lexer(d));
            let is_col = |t: Option<&Token<'_>>| name_of(d, t).is_some_and(|n| same_name(d, &n, column));
            let simple = (et.len() >= 3 && is_col(et.first()) && et[1].is("::"))
                || (et.len() >= 5
                    && et[0].is_word("CAST")
                    && et[1].is("(")
                    && is_col(et.get(2))
                    && et[3].is_word("AS"));
            return if simple { Conversion::Cast } else { Conversion::Using(expr) };
        }
    }
    Conversion::NotFound
}

/// The rules a migration acknowledges with `-- lint: allow <rule>` lines (several rules may be
/// listed, separated by spaces or commas), and the names that are no rule.
pub fn allowances(sql: &str) -> (BTreeSet<Rule>, Vec<String>) {
    let mut rules = BTreeSet::new();
    let mut unknown = Vec::new();
    for line in sql.lines() {
        let Some(rest) = line.trim().strip_prefix("--") else { continue };
        let Some(rest) = rest.trim_start().strip_prefix("lint:") else { continue };
        let Some(rest) = rest.trim_start().strip_prefix("allow") else { continue };
        for name in rest.split([' ', '\t', ',']).filter(|s| !s.is_empty()) {
            match Rule::parse(name) {
                Some(r) => {
                    rules.insert(r);
                }
                None => unknown.push(name.to_string()),
            }
        }
    }
    (rules, unknown)
}

// ---------------------------------------------------------------------------------------------
// Lineage: where each table and column of a later state comes from in the live database

/// Where a column's values come from in the live database.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Col {
    /// This live column.
    Live(String),
    /// Added by a pending migration: every existing row gets this expression (its default,
    /// or `NULL`).
    Value(String),
    /// Computed by the migration (generated, identity, a sequence): not predicted.
    Unknown,
}

#[derive(Clone, Debug)]
struct LiveTable {
    /// Its name in the live database.
    name: QualifiedName,
    /// The live primary key's columns (samples are shown by them).
    keys: Vec<String>,
    without_rowid: bool,
    /// The live column sets no two rows share (primary key, UNIQUE constraints, unique
    /// indexes without a predicate): the rows satisfy them now.
    unique_keys: Vec<BTreeSet<String>>,
    /// By the column's name in the current state.
    columns: BTreeMap<String, Col>,
    /// A pending migration writes rows into it itself.
    written: bool,
}

#[derive(Clone, Debug)]
enum Origin {
    Live(LiveTable),
    /// Created by a pending migration: empty, unless a migration writes rows into it.
    New {
        written: bool,
    },
}

impl Origin {
    fn written(&self) -> bool {
        match self {
            Origin::Live(t) => t.written,
            Origin::New { written } => *written,
        }
    }
}

/// The state after some pending migrations, traced back to the live database.
#[derive(Clone, Debug)]
struct Lineage {
    dialect: Dialect,
    tables: BTreeMap<QualifiedName, Origin>,
}

/// Functions whose value differs per call: a default using one is computed per row (and
/// PostgreSQL rewrites the table to store it).
const VOLATILE_FUNCTIONS: &[&str] = &[
    "random",
    "random_normal",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setseed",
    "randomblob",
];

fn is_volatile(d: Dialect, expr: &str) -> bool {
    let toks = tokenize(expr, lexer(d));
    toks.windows(2).any(|w| {
        w[1].is("(")
            && matches!(w[0].kind, TokenKind::Word)
            && VOLATILE_FUNCTIONS.iter().any(|f| w[0].text.eq_ignore_ascii_case(f))
    })
}

impl Lineage {
    fn new(live: &Schema) -> Lineage {
        let tables = live
            .tables
            .iter()
            .map(|(name, t)| {
                let columns = t.columns.iter().map(|c| (c.name.clone(), Col::Live(c.name.clone()))).collect();
                let keys = t.primary_key.as_ref().map(|p| p.columns.clone()).unwrap_or_default();
                let mut unique_keys: Vec<BTreeSet<String>> = Vec::new();
                if !keys.is_empty() {
                    unique_keys.push(keys.iter().cloned().collect());
                }
                unique_keys.extend(t.uniques.iter().map(|u| u.columns.iter().cloned().collect()));
                unique_keys.extend(t.indexes.values().filter(|i| i.unique && i.predicate.is_none()).filter_map(|i| {
                    i.keys
                        .iter()
                        .map(|k| match &k.target {
                            IndexTarget::Column(c) if k.collation.is_none() => Some(c.clone()),
                            _ => None,
                        })
                        .collect::<Option<BTreeSet<String>>>()
                }));
                (
                    name.clone(),
                    Origin::Live(LiveTable {
                        name: name.clone(),
                        keys,
                        without_rowid: t.without_rowid,
                        unique_keys,
                        columns,
                        written: false,
                    }),
                )
            })
            .collect();
        Lineage { dialect: live.dialect, tables }
    }

    /// The table `name` names while `changes` are applied: its own entry, or the one a
    /// `RenameTable` among `changes` gives that name.
    fn key(&self, name: &QualifiedName, changes: &[Change]) -> Option<QualifiedName> {
        if self.tables.contains_key(name) {
            return Some(name.clone());
        }
        changes.iter().find_map(|c| match c {
            Change::RenameTable { from, to } if to == name && self.tables.contains_key(from) => Some(from.clone()),
            _ => None,
        })
    }

    fn get(&self, name: &QualifiedName, changes: &[Change]) -> Option<&Origin> {
        self.key(name, changes).and_then(|k| self.tables.get(&k))
    }

    fn live_mut(&mut self, name: &QualifiedName, changes: &[Change]) -> Option<&mut LiveTable> {
        let k = self.key(name, changes)?;
        match self.tables.get_mut(&k) {
            Some(Origin::Live(t)) => Some(t),
            _ => None,
        }
    }

    fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::RenameTable { from, to } => {
                    if let Some(o) = self.tables.remove(from) {
                        self.tables.insert(to.clone(), o);
                    }
                }
                Change::RenameColumn { table, from, to } => {
                    if let Some(t) = self.live_mut(table, changes) {
                        if let Some(col) = t.columns.remove(from) {
                            t.columns.insert(to.clone(), col);
                        }
                    }
                }
                Change::CreateTable { table } => {
                    self.tables.insert(table.name.clone(), Origin::New { written: false });
                }
                Change::DropTable { table } => {
                    if let Some(k) = self.key(&table.name, &[]) {
                        self.tables.remove(&k);
                    }
                }
                Change::AddColumn { table, column } => {
                    let d = self.dialect;
                    if let Some(t) = self.live_mut(table, changes) {
                        let value = if column.generated.is_some()
                            || column.identity.is_some()
                            || column.autoincrement
                            || diff::is_serial(&column.data_type)
                        {
                            Col::Unknown
                        } else {
                            match &column.default {
                                // nextval() writes (refused in a read-only transaction); a
                                // volatile value is the migration's, not predictable.
                                Some(v) if is_volatile(d, v) => Col::Unknown,
                                Some(v) => Col::Value(v.clone()),
                                None => Col::Value("NULL".into()),
                            }
                        };
                        t.columns.insert(column.name.clone(), value);
                    }
                }
                Change::DropColumn { table, column } => {
                    if let Some(t) = self.live_mut(table, changes) {
                        t.columns.remove(&column.name);
                    }
                }
                Change::AlterColumn { table, column, change: ColumnChange::Generated { to: Some(_), .. } } => {
                    if let Some(t) = self.live_mut(table, changes) {
                        t.columns.insert(column.clone(), Col::Unknown);
                    }
                }
                _ => {}
            }
        }
    }

    /// Marks the tables `names` (as a statement names them, in the state before or after the
    /// step) as written by a pending migration.
    fn mark_written(&mut self, names: &BTreeSet<String>, before: &Lineage) {
        let d = self.dialect;
        let hit = |q: &QualifiedName| names.iter().any(|n| same_name(d, n, &q.name));
        let live_hits: BTreeSet<QualifiedName> = before
            .tables
            .iter()
            .filter(|(k, _)| hit(k))
            .filter_map(|(_, o)| match o {
                Origin::Live(t) => Some(t.name.clone()),
                Origin::New { .. } => None,
            })
            .collect();
        let new_before: BTreeSet<&QualifiedName> =
            before.tables.iter().filter(|(k, o)| hit(k) && matches!(o, Origin::New { .. })).map(|(k, _)| k).collect();
        for (k, o) in self.tables.iter_mut() {
            match o {
                Origin::Live(t) if hit(k) || live_hits.contains(&t.name) => t.written = true,
                Origin::New { written } if hit(k) || new_before.contains(k) => *written = true,
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQL for the probes

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn table_ref(d: Dialect, q: &QualifiedName) -> String {
    if d == Dialect::Sqlite && (q.schema == "main" || q.schema.is_empty()) {
        ident(&q.name)
    } else {
        format!("{}.{}", ident(&q.schema), ident(&q.name))
    }
}

fn qualify(alias: Option<&str>, column: &str) -> String {
    match alias {
        Some(a) => format!("{a}.{}", ident(column)),
        None => ident(column),
    }
}

impl LiveTable {
    /// The column `name` as the current state names it.
    fn column(&self, d: Dialect, name: &str) -> Option<(&String, &Col)> {
        self.columns.get_key_value(name).or_else(|| self.columns.iter().find(|(k, _)| same_name(d, k, name)))
    }

    /// A column of the current state as an expression over the live table.
    fn column_expr(&self, d: Dialect, name: &str, alias: Option<&str>) -> Result<String, String> {
        match self.column(d, name) {
            Some((_, Col::Live(c))) => Ok(qualify(alias, c)),
            Some((_, Col::Value(v))) => Ok(format!("({v})")),
            Some((k, Col::Unknown)) => Err(format!("the values of {k} are computed by the migration")),
            None => Err(format!("column {name} is not in the live table {}", self.name)),
        }
    }

    /// An expression of the current state (a check, an index key or predicate) rewritten over
    /// the live table: its column names replaced by the live columns or the values new
    /// columns get.
    fn expr(&self, d: Dialect, expr: &str, alias: Option<&str>) -> Result<String, String> {
        let toks = tokenize(expr, lexer(d));
        let mut out = String::new();
        let mut last = 0;
        for (k, t) in toks.iter().enumerate() {
            let name = match &t.kind {
                TokenKind::Word => t.text,
                TokenKind::Quoted(n) => n.as_str(),
                _ => continue,
            };
            let next_is = |p: &str| toks.get(k + 1).is_some_and(|n| n.is(p));
            let prev_is = |p: &str| k > 0 && toks[k - 1].is(p);
            if (t.kind == TokenKind::Word && next_is("(")) || next_is(".") || prev_is("::") || prev_is(".") {
                continue; // a function, a qualifier, a type name, a qualified name's part
            }
            let lookup = match (&t.kind, d) {
                (TokenKind::Word, Dialect::Postgres) => name.to_ascii_lowercase(),
                _ => name.to_string(),
            };
            if self.column(d, &lookup).is_none() {
                continue;
            }
            let replacement = self.column_expr(d, &lookup, alias)?;
            out.push_str(&expr[last..t.start]);
            out.push_str(&replacement);
            last = t.end();
        }
        out.push_str(&expr[last..]);
        Ok(out)
    }

    /// The live key columns as text expressions (samples), and how to name them.
    fn sample_keys(&self, d: Dialect, alias: Option<&str>) -> (Vec<String>, String) {
        if !self.keys.is_empty() {
            let exprs = self.keys.iter().map(|k| format!("CAST({} AS text)", qualify(alias, k))).collect();
            let label = if self.keys.len() == 1 { self.keys[0].clone() } else { format!("({})", self.keys.join(", ")) };
            return (exprs, label);
        }
        let (sys, label) = match d {
            Dialect::Sqlite if !self.without_rowid => ("rowid", "rowid"),
            Dialect::Sqlite => ("rowid", "rowid"),
            Dialect::Postgres => ("ctid", "ctid"),
        };
        let e = match alias {
            Some(a) => format!("CAST({a}.{sys} AS text)"),
            None => format!("CAST({sys} AS text)"),
        };
        (vec![e], label.to_string())
    }

    fn from(&self, d: Dialect) -> String {
        table_ref(d, &self.name)
    }
}

// ---------------------------------------------------------------------------------------------
// Probes

/// How a probe's count is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// A predicted failure when the count is above zero.
    MustBeZero,
    /// Rows a destructive change deletes.
    Loss,
    /// The table's (estimated) rows: a warning above the threshold.
    TableSize { threshold: u64 },
    /// The query itself tries the conversion: an error from it is the failure.
    CastAttempt,
}

/// One query on the live database, and what its answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Index of the step (migration) it belongs to.
    pub step: usize,
    pub rule: Rule,
    pub kind: ProbeKind,
    /// The table as the migration names it.
    pub table: QualifiedName,
    pub column: Option<String>,
    /// One row: the count first (a second cell, when there is one, is a detail such as the
    /// number of duplicated values).
    pub count_sql: String,
    /// Run only when the count is above zero: up to [`SAMPLE_LIMIT`] rows of text cells.
    pub sample_sql: Option<String>,
    pub sample_key: String,
    /// How many leading cells of a sample row are the key (the rest: the duplicated value's
    /// count, the missing parent key, the value that does not convert); 0: all of them.
    pub key_cells: usize,
    /// What is wrong when the count is above zero (the count is put in front).
    pub what: String,
    pub advice: String,
}

impl Probe {
    /// One sample row (text cells, `None` for NULL) as the report shows it: the key, and for
    /// duplicates how often the value occurs, for orphans the missing parent key, for a
    /// conversion the value.
    pub fn sample(&self, cells: &[Option<String>]) -> String {
        let show = |c: &[Option<String>]| {
            let v: Vec<String> = c.iter().map(|x| x.clone().unwrap_or_else(|| "NULL".into())).collect();
            if v.len() == 1 {
                v[0].clone()
            } else {
                format!("({})", v.join(", "))
            }
        };
        let k = if self.key_cells == 0 || self.key_cells > cells.len() { cells.len() } else { self.key_cells };
        let (key, rest) = cells.split_at(k);
        match (self.rule, rest) {
            (_, []) => show(key),
            (Rule::DuplicatesUnderUnique, [n, ..]) => format!("{} x{}", show(key), n.as_deref().unwrap_or("?")),
            (Rule::UnconvertibleValues, [v, ..]) => format!("{}: '{}'", show(key), v.as_deref().unwrap_or("NULL")),
            _ => format!("{} -> {}", show(key), show(rest)),
        }
    }
}

/// What running a probe gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Counted {
        count: u64,
        detail: Option<u64>,
        samples: Vec<String>,
    },
    /// The query failed with this message.
    Failed(String),
}

/// Whether a plan has a live database to measure on.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// The live database's schema (the state before the first step).
    Live(&'a Schema),
    /// No data: every migration against the replayed schemas only (`lint --all`).
    SchemaOnly,
}

/// One migration (or rollback step) to analyse.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    pub name: &'a str,
    pub before: &'a Schema,
    pub after: &'a Schema,
    /// The text that will run.
    pub sql: &'a str,
    /// Where its renames are said: the text itself, or (`reverse`) the migration it undoes.
    pub rename_text: &'a str,
    pub reverse: bool,
}

/// Why a step could not be analysed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct PlanError {
    pub step: String,
    #[source]
    pub source: DiffError,
}

/// The analysis before anything is measured.
#[derive(Clone, Debug)]
pub struct Plan {
    pub dialect: Dialect,
    pub steps: Vec<StepPlan>,
    pub probes: Vec<Probe>,
}

#[derive(Clone, Debug)]
pub struct StepPlan {
    pub name: String,
    pub changes: Vec<Change>,
    /// Findings known without measuring (renames, lock hazards, what cannot be measured).
    pub findings: Vec<Finding>,
    pub allowed: BTreeSet<Rule>,
}

/// Analyses each step in order (each starts where the previous one ends).
pub fn plan(dialect: Dialect, mode: Mode<'_>, steps: &[Step<'_>]) -> Result<Plan, PlanError> {
    let empty = Schema::empty(dialect);
    let start = match mode {
        Mode::Live(live) => live,
        Mode::SchemaOnly => steps.first().map_or(&empty, |s| s.before),
    };
    let mut lineage = Lineage::new(start);
    lineage.dialect = dialect;
    let mut out = Plan { dialect, steps: Vec::new(), probes: Vec::new() };
    for (i, step) in steps.iter().enumerate() {
        let changes = changes_for(step.before, step.after, step.rename_text, step.reverse)
            .map_err(|source| PlanError { step: step.name.to_string(), source })?;
        let (allowed, unknown) = allowances(step.sql);
        let mut sp = StepPlan { name: step.name.to_string(), changes, findings: Vec::new(), allowed };
        for name in unknown {
            sp.findings.push(Finding::new(
                step.name,
                Rule::UnknownRule,
                Severity::Warning,
                format!("`-- lint: allow {name}` names no rule"),
                format!("use one of: {}", Rule::ALL.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")),
            ));
        }
        let before = lineage.clone();
        let mut after = lineage.clone();
        after.apply(&sp.changes);
        after.mark_written(&written_tables(dialect, step.sql), &before);
        let ctx = StepCtx {
            dialect,
            index: i,
            step,
            changes: &sp.changes,
            before: &before,
            after: &after,
            live: matches!(mode, Mode::Live(_)),
        };
        for change in &sp.changes {
            ctx.analyse(change, &mut sp.findings, &mut out.probes);
        }
        out.steps.push(sp);
        lineage = after;
    }
    Ok(out)
}

struct StepCtx<'a> {
    dialect: Dialect,
    index: usize,
    step: &'a Step<'a>,
    changes: &'a [Change],
    before: &'a Lineage,
    after: &'a Lineage,
    live: bool,
}

/// What a table of a step is in the live database, for a check.
enum Target<'a> {
    /// Measure on this live table.
    Live(&'a LiveTable),
    /// Nothing to measure: created empty by this deploy.
    Empty,
    /// Not predictable (said why).
    Unknown(String),
}

impl StepCtx<'_> {
    fn finding(&self, rule: Rule, severity: Severity, message: String, advice: String) -> Finding {
        Finding::new(self.step.name, rule, severity, message, advice)
    }

    fn not_measured(&self, table: &QualifiedName, column: Option<&str>, what: &str, why: &str) -> Finding {
        self.finding(
            Rule::NotMeasured,
            Severity::Note,
            format!("{what}: not measured ({why})"),
            "the migration's own transaction is the check: if the data does not allow it, it fails and is rolled back"
                .into(),
        )
        .on(table, column)
    }

    fn target<'l>(&self, lineage: &'l Lineage, table: &QualifiedName) -> Target<'l> {
        match lineage.get(table, self.changes) {
            Some(o) if o.written() => Target::Unknown(format!(
                "a pending migration writes rows of {table} itself, so its data after that is not known in advance"
            )),
            Some(Origin::Live(t)) => Target::Live(t),
            Some(Origin::New { .. }) => Target::Empty,
            None => Target::Unknown(format!("{table} is not in the live database")),
        }
    }

    /// The table is one that existed before this deploy (not created by a pending migration).
    fn existed(&self, table: &QualifiedName) -> Option<&LiveTable> {
        match self.before.get(table, self.changes) {
            Some(Origin::Live(t)) => Some(t),
            _ => None,
        }
    }

    fn probe(&self, rule: Rule, kind: ProbeKind, table: &QualifiedName, column: Option<&str>) -> Probe {
        Probe {
            step: self.index,
            rule,
            kind,
            table: table.clone(),
            column: column.map(str::to_string),
            count_sql: String::new(),
            sample_sql: None,
            sample_key: String::new(),
            key_cells: 0,
            what: String::new(),
            advice: String::new(),
        }
    }

    fn analyse(&self, change: &Change, findings: &mut Vec<Finding>, probes: &mut Vec<Probe>) {
        let d = self.dialect;
        // Destructive: measured before the step (what is there to lose).
        if let Safety::Destructive(_) = change.safety() {
            self.loss(change, findings, probes);
        }
        match change {
            Change::RenameTable { from, to } if self.existed(to).is_some() => findings.push(
                self.finding(
                    Rule::Rename,
                    Severity::Warning,
                    format!("renames table {from} to {to}: code still running reads and writes {from} and fails from the moment this migration commits"),
                    format!("expand/contract: create {to} (or a view named {from} over it), have the code write both, backfill, switch the reads, and drop {from} in a later release"),
                )
                .on(to, None),
            ),
            Change::RenameColumn { table, from, to } if self.existed(table).is_some() => findings.push(
                self.finding(
                    Rule::Rename,
                    Severity::Warning,
                    format!("renames column {table}.{from} to {to}: code still running reads and writes {from} and fails from the moment this migration commits"),
                    format!("expand/contract: add {to}, have the code write both, backfill {to} from {from}, switch the reads to {to}, and drop {from} in a later release"),
                )
                .on(table, Some(to)),
            ),
            _ => {}
        }
        if d == Dialect::Postgres {
            self.hazards(change, findings, probes);
        }
        if let Safety::DataDependent(_) = change.safety() {
            if !self.live {
                return; // nothing to measure without data
            }
            self.requirement(change, findings, probes);
        }
    }

    /// Rows a destructive change deletes.
    fn loss(&self, change: &Change, findings: &mut Vec<Finding>, probes: &mut Vec<Probe>) {
        let d = self.dialect;
        let (table, column): (&QualifiedName, Option<&str>) = match change {
            Change::DropTable { table } => (&table.name, None),
            Change::DropColumn { table, column } => (table, Some(column.name.as_str())),
            Change::AlterColumn { table, column, .. } => (table, Some(column.as_str())),
            Change::DropVirtualTable { table } | Change::ReplaceVirtualTable { from: table, .. } => {
                let what = format!("drops virtual table {} and its contents", table.name);
                findings.push(
                    self.finding(
                        Rule::DataLoss,
                        Severity::Warning,
                        what,
                        "rebuild its contents after the migration".into(),
                    )
                    .on(&table.name, None),
                );
                return;
            }
            Change::DropSequence { sequence } => {
                findings.push(
                    self.finding(
                        Rule::DataLoss,
                        Severity::Warning,
                        format!("drops sequence {} and its current value", sequence.name),
                        String::new(),
                    )
                    .on(&sequence.name, None),
                );
                return;
            }
            _ => return,
        };
        let what = match (change, column) {
            (Change::AlterColumn { .. }, Some(c)) => {
                format!("replaces the values of {table}.{c} by a generated expression")
            }
            (_, Some(c)) => format!("drops column {table}.{c}"),
            _ => format!("drops table {table}"),
        };
        let advice = "if the data is still needed, copy it elsewhere first; `lint` and migrate's pre-migrate backup keep it recoverable".to_string();
        if !self.live {
            findings.push(
                self.finding(Rule::DataLoss, Severity::Warning, format!("{what} and its data"), advice)
                    .on(table, column),
            );
            return;
        }
        let t = match self.before.get(table, &[]).or_else(|| self.before.get(table, self.changes)) {
            Some(Origin::Live(t)) => t,
            // Created by this deploy: nothing of the live data is lost.
            Some(Origin::New { .. }) | None => return,
        };
        let mut p = self.probe(Rule::DataLoss, ProbeKind::Loss, table, column);
        let (keys, label) = t.sample_keys(d, None);
        let filter = match column {
            Some(c) => match t.column(d, c) {
                Some((_, Col::Live(live))) => format!(" WHERE {} IS NOT NULL", ident(live)),
                // Added by this deploy: no live data in it.
                _ => return,
            },
            None => String::new(),
        };
        p.count_sql = format!("SELECT count(*) FROM {}{filter}", t.from(d));
        p.sample_sql = Some(format!("SELECT {} FROM {}{filter} LIMIT {SAMPLE_LIMIT}", keys.join(", "), t.from(d)));
        p.sample_key = label;
        p.key_cells = keys.len();
        p.what = match column {
            Some(_) => format!("{what}: {{n}} row(s) hold a value"),
            None => format!("{what} and its {{n}} row(s)"),
        };
        p.advice = advice;
        probes.push(p);
    }

    /// PostgreSQL lock hazards on tables that exist before this deploy.
    fn hazards(&self, change: &Change, findings: &mut Vec<Finding>, probes: &mut Vec<Probe>) {
        let d = self.dialect;
        match change {
            Change::CreateIndex { table, index } => {
                let Some(t) = self.existed(table) else { return };
                let built = created_indexes(d, self.step.sql);
                if built.iter().any(|s| s.concurrently && same_name(d, &s.name, &index.name)) {
                    return;
                }
                let what = format!(
                    "builds index {} on {table} without CONCURRENTLY: writes to {table} wait until it is built",
                    index.name
                );
                let advice = format!(
                    "CREATE {}INDEX CONCURRENTLY in a migration of its own (it cannot run in a transaction; the migrator runs such a file without one)",
                    if index.unique { "UNIQUE " } else { "" }
                );
                self.size_probe(t, table, what, advice, findings, probes);
            }
            Change::AddUnique { table, unique } => {
                let Some(t) = self.existed(table) else { return };
                if unique.name.as_deref().is_some_and(|n| uses_existing_index(d, self.step.sql, n)) {
                    return;
                }
                let what = format!("adds a UNIQUE constraint on {table}({}), building its index while holding a lock that blocks reads and writes", unique.columns.join(", "));
                let advice = "CREATE UNIQUE INDEX CONCURRENTLY first (a migration of its own), then ADD CONSTRAINT … UNIQUE USING INDEX".to_string();
                self.size_probe(t, table, what, advice, findings, probes);
            }
            Change::AlterColumn { table, column, change: ColumnChange::Type { from, to } } => {
                if self.existed(table).is_none() || binary_coercible(from, to) {
                    return;
                }
                findings.push(
                    self.finding(
                        Rule::TypeChangeRewrite,
                        Severity::Warning,
                        format!("changes {table}.{column} from {from} to {to}: PostgreSQL rewrites the whole table and its indexes while holding a lock that blocks reads and writes"),
                        format!("on a large table: add a new column of type {to}, backfill it in batches, switch the code over, then drop {column}"),
                    )
                    .on(table, Some(column)),
                );
            }
            Change::AlterColumn { table, column, change: ColumnChange::NotNull { from: false, to: true } } => {
                let Some(t) = self.existed(table) else { return };
                // A column added by this deploy is scanned on an empty or default-filled table.
                if !matches!(t.column(d, column), Some((_, Col::Live(_)))) {
                    return;
                }
                findings.push(
                    self.finding(
                        Rule::SetNotNullScan,
                        Severity::Warning,
                        format!("SET NOT NULL on {table}.{column} scans the whole table while holding a lock that blocks reads and writes"),
                        format!("add CHECK ({column} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it (no blocking lock), then SET NOT NULL (PostgreSQL 12+ skips the scan) and drop the check"),
                    )
                    .on(table, Some(column)),
                );
            }
            Change::AddColumn { table, column } => {
                if self.existed(table).is_none() {
                    return;
                }
                let rewrites = column.identity.is_some()
                    || diff::is_serial(&column.data_type)
                    || column.generated.as_ref().is_some_and(|g| g.stored)
                    || column.default.as_deref().is_some_and(|v| is_volatile(d, v));
                if rewrites {
                    findings.push(
                        self.finding(
                            Rule::VolatileDefaultRewrite,
                            Severity::Warning,
                            format!("adds {table}.{} with a value computed per row ({}): PostgreSQL rewrites the whole table while holding a lock that blocks reads and writes",
                                column.name,
                                column.default.clone().unwrap_or_else(|| column.data_type.clone())),
                            "add the column without a default (or with a constant one), then fill it in batches and set the default afterwards".into(),
                        )
                        .on(table, Some(&column.name)),
                    );
                }
            }
            _ => {}
        }
    }

    fn size_probe(
        &self,
        t: &LiveTable,
        table: &QualifiedName,
        what: String,
        advice: String,
        findings: &mut Vec<Finding>,
        probes: &mut Vec<Probe>,
    ) {
        if !self.live {
            findings.push(self.not_measured(
                table,
                None,
                &what,
                "the table's size needs a database: run lint against it",
            ));
            return;
        }
        let d = self.dialect;
        let mut p =
            self.probe(Rule::IndexNotConcurrent, ProbeKind::TableSize { threshold: LARGE_TABLE_ROWS }, table, None);
        let from = t.from(d);
        // The planner's estimate; a table never analysed is counted up to the threshold.
        p.count_sql = format!(
            "SELECT CASE WHEN c.reltuples >= 0 THEN CAST(c.reltuples AS bigint) ELSE (SELECT count(*) FROM (SELECT 1 FROM {from} LIMIT {}) s) END FROM pg_catalog.pg_class c WHERE c.oid = to_regclass({})",
            LARGE_TABLE_ROWS + 1,
            literal(&from)
        );
        p.what = what;
        p.advice = advice;
        probes.push(p);
    }

    /// Data-dependent changes: one probe each, on the state after the step traced to the live
    /// tables.
    fn requirement(&self, change: &Change, findings: &mut Vec<Finding>, probes: &mut Vec<Probe>) {
        let d = self.dialect;
        let table = match change.table() {
            Some(t) => t.clone(),
            None => {
                if let Change::RecreateEnum { name, from, to } = change {
                    self.enum_values(name, from, to, findings, probes);
                }
                return;
            }
        };
        let t = match self.target(self.after, &table) {
            Target::Live(t) => t,
            Target::Empty => return,
            Target::Unknown(why) => {
                findings.push(self.not_measured(&table, None, &change.to_string(), &why));
                return;
            }
        };
        let from = t.from(d);
        let (keys, label) = t.sample_keys(d, None);
        let mut p = self.probe(Rule::NotMeasured, ProbeKind::MustBeZero, &table, None);
        p.sample_key = label;
        p.key_cells = keys.len();
        let unmeasured =
            |why: String, column: Option<&str>| self.not_measured(&table, column, &change.to_string(), &why);
        match change {
            Change::AddColumn { column, .. } => {
                p.rule = Rule::NotNullColumnOnRows;
                p.column = Some(column.name.clone());
                p.count_sql = format!("SELECT count(*) FROM {from}");
                p.sample_sql = Some(format!("SELECT {} FROM {from} LIMIT {SAMPLE_LIMIT}", keys.join(", ")));
                p.what = format!(
                    "{{n}} row(s) in {table}, and the new column {} is NOT NULL without a default",
                    column.name
                );
                p.advice = format!("give {} a DEFAULT, or add it nullable, fill it (UPDATE {table} SET {} = …), then make it NOT NULL in a later migration", column.name, column.name);
            }
            Change::AlterColumn { column, change: ColumnChange::NotNull { .. }, .. } => {
                let e = match t.column_expr(d, column, None) {
                    Ok(e) => e,
                    Err(why) => return findings.push(unmeasured(why, Some(column))),
                };
                p.rule = Rule::NullsUnderNotNull;
                p.column = Some(column.clone());
                p.count_sql = format!("SELECT count(*) FROM {from} WHERE {e} IS NULL");
                p.sample_sql =
                    Some(format!("SELECT {} FROM {from} WHERE {e} IS NULL LIMIT {SAMPLE_LIMIT}", keys.join(", ")));
                p.what = format!("{{n}} row(s) of {table} have NULL in {column}, which this migration makes NOT NULL");
                p.advice = format!("give them a value first (UPDATE {table} SET {column} = … WHERE {column} IS NULL) in an earlier migration or at the top of this one, or give the column a DEFAULT");
            }
            Change::AlterColumn { column, change: ColumnChange::Type { from: ft, to: tt }, .. } => {
                self.conversion(t, &table, column, ft, tt, p, findings, probes);
                return;
            }
            Change::SetPrimaryKey { to: Some(pk), .. } => {
                let cols: Vec<&str> = pk.columns.iter().map(String::as_str).collect();
                return self.duplicates(
                    t,
                    &table,
                    &cols.iter().map(|c| Key::Column(c)).collect::<Vec<_>>(),
                    None,
                    true,
                    "primary key",
                    p,
                    findings,
                    probes,
                );
            }
            Change::AddUnique { unique, .. } => {
                let keys: Vec<Key<'_>> = unique.columns.iter().map(|c| Key::Column(c)).collect();
                let name = unique
                    .name
                    .as_deref()
                    .map_or("UNIQUE constraint".to_string(), |n| format!("UNIQUE constraint {n}"));
                return self.duplicates(t, &table, &keys, None, unique.nulls_not_distinct, &name, p, findings, probes);
            }
            Change::CreateIndex { index, .. } => {
                let keys: Vec<Key<'_>> = index
                    .keys
                    .iter()
                    .map(|k| match &k.target {
                        IndexTarget::Column(c) => Key::Column(c),
                        IndexTarget::Expression(e) => Key::Expr(e),
                    })
                    .collect();
                let name = format!("unique index {}", index.name);
                return self.duplicates(
                    t,
                    &table,
                    &keys,
                    index.predicate.as_deref(),
                    false,
                    &name,
                    p,
                    findings,
                    probes,
                );
            }
            Change::AddCheck { check, .. } => {
                let e = match t.expr(d, &check.expression, None) {
                    Ok(e) => e,
                    Err(why) => return findings.push(unmeasured(why, None)),
                };
                p.rule = Rule::RowsFailingCheck;
                p.count_sql = format!("SELECT count(*) FROM {from} WHERE NOT ({e})");
                p.sample_sql =
                    Some(format!("SELECT {} FROM {from} WHERE NOT ({e}) LIMIT {SAMPLE_LIMIT}", keys.join(", ")));
                let name = check.name.as_deref().map_or(String::new(), |n| format!(" {n}"));
                p.what = format!("{{n}} row(s) of {table} fail the new check{name} ({})", check.expression);
                p.advice = format!("fix those rows first (SELECT * FROM {table} WHERE NOT ({}))", check.expression);
            }
            Change::AddForeignKey { foreign_key: fk, .. } => {
                return self.orphans(t, &table, fk, p, findings, probes);
            }
            Change::AlterTableOptions { .. } => {
                findings.push(unmeasured("SQLite STRICT type checks are not predicted".into(), None));
                return;
            }
            _ => return,
        }
        probes.push(p);
    }

    #[allow(clippy::too_many_arguments)]
    fn duplicates(
        &self,
        t: &LiveTable,
        table: &QualifiedName,
        keys: &[Key<'_>],
        predicate: Option<&str>,
        nulls_equal: bool,
        what: &str,
        mut p: Probe,
        findings: &mut Vec<Finding>,
        probes: &mut Vec<Probe>,
    ) {
        let d = self.dialect;
        // A key that a pending migration adds holds the same value in every row: it does not
        // tell rows apart (and a constant cannot be grouped by: `GROUP BY 1` names a column),
        // so only the others are grouped by; a NULL one makes every row distinct.
        let mut exprs = Vec::new();
        let mut constants = Vec::new();
        for k in keys {
            let e = match k {
                Key::Column(c) => match t.column(d, c) {
                    Some((_, Col::Value(v))) if v.trim().eq_ignore_ascii_case("NULL") && !nulls_equal => return,
                    Some((_, Col::Value(v))) => {
                        constants.push(format!("({v})"));
                        continue;
                    }
                    _ => t.column_expr(d, c, None),
                },
                Key::Expr(e) => t.expr(d, e, None).map(|e| format!("({e})")),
            };
            match e {
                Ok(e) => exprs.push(e),
                Err(why) => {
                    return findings.push(self.not_measured(table, None, &format!("new {what} on {table}"), &why));
                }
            }
        }
        // The new key contains a key the live rows already satisfy: no duplicates, no query.
        let live_columns: Option<BTreeSet<String>> = keys
            .iter()
            .filter_map(|k| match k {
                Key::Column(c) => match t.column(d, c) {
                    Some((_, Col::Value(_))) => None,
                    Some((_, Col::Live(live))) => Some(Some(live.clone())),
                    _ => Some(None),
                },
                Key::Expr(_) => Some(None),
            })
            .collect();
        if let Some(cols) = live_columns {
            if !nulls_equal && t.unique_keys.iter().any(|u| !u.is_empty() && u.is_subset(&cols)) {
                return;
            }
        }
        let mut filters: Vec<String> =
            if nulls_equal { Vec::new() } else { exprs.iter().map(|e| format!("{e} IS NOT NULL")).collect() };
        if let Some(pred) = predicate {
            match t.expr(d, pred, None) {
                Ok(e) => filters.push(format!("({e})")),
                Err(why) => {
                    return findings.push(self.not_measured(table, None, &format!("new {what} on {table}"), &why))
                }
            }
        }
        filters.extend(constants.iter().filter(|_| !nulls_equal).map(|e| format!("{e} IS NOT NULL")));
        let filter = if filters.is_empty() { String::new() } else { format!(" WHERE {}", filters.join(" AND ")) };
        let from = t.from(d);
        let shown: Vec<String> = exprs.iter().chain(&constants).map(|e| format!("CAST({e} AS text)")).collect();
        let names: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        p.rule = Rule::DuplicatesUnderUnique;
        p.column = (keys.len() == 1).then(|| names[0].clone());
        if exprs.is_empty() {
            // Every row has the same key: two rows are already a duplicate.
            p.count_sql = format!(
                "SELECT CASE WHEN n > 1 THEN n ELSE 0 END, CASE WHEN n > 1 THEN 1 ELSE 0 END FROM (SELECT count(*) AS n FROM {from}{filter}) d"
            );
            p.sample_sql = Some(format!(
                "SELECT {}, n FROM (SELECT count(*) AS n FROM {from}{filter}) d WHERE n > 1",
                shown.join(", ")
            ));
        } else {
            let group = exprs.join(", ");
            p.count_sql = format!(
                "SELECT CAST(coalesce(sum(n), 0) AS bigint), count(*) FROM (SELECT count(*) AS n FROM {from}{filter} GROUP BY {group} HAVING count(*) > 1) d"
            );
            p.sample_sql = Some(format!(
                "SELECT {}, count(*) FROM {from}{filter} GROUP BY {group} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT {SAMPLE_LIMIT}",
                shown.join(", ")
            ));
        }
        p.sample_key = if names.len() == 1 { names[0].clone() } else { format!("({})", names.join(", ")) };
        p.key_cells = shown.len();
        p.what =
            format!("{{n}} row(s) of {table} share a value of ({}), which the new {what} forbids", names.join(", "));
        p.advice = format!(
            "remove or merge the duplicates first (find them: SELECT {0}, count(*) FROM {table} GROUP BY {0} HAVING count(*) > 1)",
            names.join(", ")
        );
        probes.push(p);
    }

    fn orphans(
        &self,
        t: &LiveTable,
        table: &QualifiedName,
        fk: &ForeignKey,
        mut p: Probe,
        findings: &mut Vec<Finding>,
        probes: &mut Vec<Probe>,
    ) {
        let d = self.dialect;
        let what = format!(
            "new foreign key {table}({}) -> {}({})",
            fk.columns.join(", "),
            fk.references,
            fk.referenced_columns.join(", ")
        );
        let mut child = Vec::new();
        for c in &fk.columns {
            match t.column_expr(d, c, Some("c")) {
                Ok(e) => child.push(e),
                Err(why) => return findings.push(self.not_measured(table, Some(c), &what, &why)),
            }
        }
        let present: Vec<String> = child.iter().map(|e| format!("{e} IS NOT NULL")).collect();
        let mut filter = present.join(" AND ");
        match self.target(self.after, &fk.references) {
            Target::Live(parent) => {
                let mut on = Vec::new();
                for (c, r) in child.iter().zip(&fk.referenced_columns) {
                    match parent.column_expr(d, r, Some("p")) {
                        Ok(e) => on.push(format!("{e} = {c}")),
                        Err(why) => return findings.push(self.not_measured(table, None, &what, &why)),
                    }
                }
                filter.push_str(&format!(
                    " AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                    parent.from(d),
                    on.join(" AND ")
                ));
            }
            // A parent created empty by this deploy: every child row with a key is an orphan.
            Target::Empty => {}
            Target::Unknown(why) => return findings.push(self.not_measured(table, None, &what, &why)),
        }
        let (keys, label) = t.sample_keys(d, Some("c"));
        let from = t.from(d);
        p.rule = Rule::OrphansUnderForeignKey;
        p.column = (fk.columns.len() == 1).then(|| fk.columns[0].clone());
        p.count_sql = format!("SELECT count(*) FROM {from} c WHERE {filter}");
        let shown: Vec<String> = child.iter().map(|e| format!("CAST({e} AS text)")).collect();
        p.sample_sql = Some(format!(
            "SELECT {}, {} FROM {from} c WHERE {filter} LIMIT {SAMPLE_LIMIT}",
            keys.join(", "),
            shown.join(", ")
        ));
        p.sample_key = format!("{label} -> {}", fk.columns.join(", "));
        p.key_cells = keys.len();
        p.what = format!(
            "{{n}} row(s) of {table} have a {} with no row in {}({}), which the new foreign key forbids",
            fk.columns.join(", "),
            fk.references,
            fk.referenced_columns.join(", ")
        );
        p.advice = format!(
            "delete those rows, set {} to NULL, or add the missing rows to {} first",
            fk.columns.join(", "),
            fk.references
        );
        probes.push(p);
    }

    #[allow(clippy::too_many_arguments)]
    fn conversion(
        &self,
        t: &LiveTable,
        table: &QualifiedName,
        column: &str,
        from: &str,
        to: &str,
        mut p: Probe,
        findings: &mut Vec<Finding>,
        probes: &mut Vec<Probe>,
    ) {
        let d = self.dialect;
        if d == Dialect::Sqlite {
            findings.push(
                self.finding(
                    Rule::UnconvertibleValues,
                    Severity::Note,
                    format!("changes {table}.{column} from {from} to {to}: SQLite converts by type affinity and keeps a value that does not convert as it is, so this cannot fail (STRICT tables aside)"),
                    String::new(),
                )
                .on(table, Some(column)),
            );
            return;
        }
        let e = match t.column_expr(d, column, None) {
            Ok(e) => e,
            Err(why) => {
                return findings.push(self.not_measured(
                    table,
                    Some(column),
                    &format!("type change of {table}.{column}"),
                    &why,
                ))
            }
        };
        let (keys, label) = t.sample_keys(d, None);
        let src = t.from(d);
        p.rule = Rule::UnconvertibleValues;
        p.column = Some(column.to_string());
        p.sample_key = label;
        p.key_cells = keys.len();
        p.advice = format!("fix or clear those values first, or convert them with an explicit USING expression (ALTER TABLE {table} ALTER COLUMN {column} TYPE {to} USING …)");
        let how = conversion(d, self.step.sql, column);
        let text = format!("CAST({e} AS text)");
        let invalid = match &how {
            Conversion::Plain | Conversion::Cast | Conversion::NotFound if is_textual(from) => {
                invalid_text(&text, to, &how)
            }
            _ => None,
        };
        match (invalid, how) {
            (Some(bad), _) => {
                let filter = format!("{e} IS NOT NULL AND {bad}");
                p.count_sql = format!("SELECT count(*) FROM {src} WHERE {filter}");
                p.sample_sql =
                    Some(format!("SELECT {}, {text} FROM {src} WHERE {filter} LIMIT {SAMPLE_LIMIT}", keys.join(", ")));
                p.what = format!("{{n}} value(s) of {table}.{column} do not convert from {from} to {to}");
            }
            (None, Conversion::Using(expr)) => match t.expr(d, &expr, None) {
                Ok(u) => {
                    p.kind = ProbeKind::CastAttempt;
                    p.count_sql = format!("SELECT count(CAST(({u}) AS {to})) FROM {src}");
                    p.what =
                        format!("the values of {table}.{column} do not convert from {from} to {to} with USING {expr}");
                }
                Err(why) => {
                    return findings.push(self.not_measured(
                        table,
                        Some(column),
                        &format!("type change of {table}.{column}"),
                        &why,
                    ))
                }
            },
            (None, _) => {
                p.kind = ProbeKind::CastAttempt;
                p.count_sql = format!("SELECT count(CAST({e} AS {to})) FROM {src}");
                p.what = format!("the values of {table}.{column} do not convert from {from} to {to}");
            }
        }
        probes.push(p);
    }

    fn enum_values(
        &self,
        name: &QualifiedName,
        from: &[String],
        to: &[String],
        findings: &mut Vec<Finding>,
        probes: &mut Vec<Probe>,
    ) {
        let d = self.dialect;
        let removed: Vec<&String> = from.iter().filter(|v| !to.contains(v)).collect();
        if removed.is_empty() {
            return;
        }
        let spelled = [
            name.name.clone(),
            name.to_string(),
            format!("{}.{}", name.schema, name.name),
            format!("\"{}\"", name.name),
        ];
        let values = removed.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ");
        for (tname, table) in &self.step.before.tables {
            for col in &table.columns {
                let base = col.data_type.trim_end_matches("[]");
                if !spelled.iter().any(|s| s == base) {
                    continue;
                }
                let current = self.changes.iter().find_map(|c| match c {
                    Change::RenameTable { from, to } if from == tname => Some(to.clone()),
                    _ => None,
                });
                let current = current.unwrap_or_else(|| tname.clone());
                let t = match self.target(self.before, tname) {
                    Target::Live(t) => t,
                    Target::Empty => continue,
                    Target::Unknown(why) => {
                        findings.push(self.not_measured(
                            &current,
                            Some(&col.name),
                            &format!("values removed from enum {name}"),
                            &why,
                        ));
                        continue;
                    }
                };
                let e = match t.column_expr(d, &col.name, None) {
                    Ok(e) => e,
                    Err(why) => {
                        findings.push(self.not_measured(
                            &current,
                            Some(&col.name),
                            &format!("values removed from enum {name}"),
                            &why,
                        ));
                        continue;
                    }
                };
                let cond = if col.data_type.ends_with("[]") {
                    format!("CAST({e} AS text[]) && ARRAY[{values}]")
                } else {
                    format!("CAST({e} AS text) IN ({values})")
                };
                let (keys, label) = t.sample_keys(d, None);
                let mut p = self.probe(Rule::EnumValueInUse, ProbeKind::MustBeZero, &current, Some(&col.name));
                p.count_sql = format!("SELECT count(*) FROM {} WHERE {cond}", t.from(d));
                p.sample_sql =
                    Some(format!("SELECT {} FROM {} WHERE {cond} LIMIT {SAMPLE_LIMIT}", keys.join(", "), t.from(d)));
                p.sample_key = label;
                p.key_cells = keys.len();
                p.what = format!(
                    "{{n}} row(s) of {current}.{} hold {} of enum {name}, which this migration removes",
                    col.name,
                    removed.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ")
                );
                p.advice = format!(
                    "update those rows to another value first (UPDATE {current} SET {} = … WHERE {} IN ({values}))",
                    col.name, col.name
                );
                probes.push(p);
            }
        }
    }
}

/// A unique key: a column of the current state or an expression over them.
enum Key<'a> {
    Column(&'a str),
    Expr(&'a str),
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Column(c) | Key::Expr(c) => f.write_str(c),
        }
    }
}

fn is_textual(ty: &str) -> bool {
    let t = ty.to_ascii_lowercase();
    t == "text"
        || t.starts_with("character varying")
        || t.starts_with("varchar")
        || t.starts_with("character")
        || t == "citext"
}

/// A condition true for text values (`text`, already not NULL) that cannot become `to`,
/// where a pattern says it exactly enough; `None` when the cast itself must be tried.
fn invalid_text(text: &str, to: &str, how: &Conversion) -> Option<String> {
    let t = to.to_ascii_lowercase();
    let int_range = |min: &str, max: &str| {
        Some(format!(
            "NOT (CASE WHEN {text} ~ '^\\s*[+-]?[0-9]+\\s*$' THEN CAST({text} AS numeric) BETWEEN {min} AND {max} ELSE false END)"
        ))
    };
    match t.as_str() {
        "smallint" | "int2" => int_range("-32768", "32767"),
        "integer" | "int" | "int4" => int_range("-2147483648", "2147483647"),
        "bigint" | "int8" => int_range("-9223372036854775808", "9223372036854775807"),
        "real" | "double precision" | "float4" | "float8" | "numeric" => Some(format!(
            "{text} !~* '^\\s*([+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(e[+-]?[0-9]+)?|[+-]?(infinity|inf)|nan)\\s*$'"
        )),
        "boolean" | "bool" => {
            Some(format!("{text} !~* '^\\s*(t|tr|tru|true|y|ye|yes|on|1|f|fa|fal|fals|false|n|no|of|off|0)\\s*$'"))
        }
        "uuid" => Some(format!("{text} !~* '^\\s*\\{{?[0-9a-f]{{4}}(-?[0-9a-f]{{4}}){{7}}\\}}?\\s*$'")),
        _ => {
            // varchar(n) refuses longer values in an assignment; an explicit cast truncates.
            let n = t
                .strip_prefix("character varying(")
                .or_else(|| t.strip_prefix("varchar("))
                .and_then(|r| r.strip_suffix(')'))?;
            let n: u64 = n.parse().ok()?;
            match how {
                Conversion::Cast => None,
                _ => Some(format!("char_length({text}) > {n}")),
            }
        }
    }
}

/// Type changes PostgreSQL makes without rewriting the table.
fn binary_coercible(from: &str, to: &str) -> bool {
    let (f, t) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
    let varchar_len = |s: &str| -> Option<Option<u64>> {
        if s == "character varying" || s == "varchar" {
            return Some(None);
        }
        s.strip_prefix("character varying(")
            .or_else(|| s.strip_prefix("varchar("))
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|n| n.parse().ok())
            .map(Some)
    };
    let numeric = |s: &str| -> Option<Option<(u64, u64)>> {
        if s == "numeric" {
            return Some(None);
        }
        let inner = s.strip_prefix("numeric(")?.strip_suffix(')')?;
        let (p, sc) = inner.split_once(',').map_or((inner, "0"), |(p, s)| (p, s));
        Some(Some((p.trim().parse().ok()?, sc.trim().parse().ok()?)))
    };
    if t == "text" && (f == "text" || varchar_len(&f).is_some()) {
        return true;
    }
    if let (Some(a), Some(b)) = (varchar_len(&f).or_else(|| (f == "text").then_some(None)), varchar_len(&t)) {
        return match (a, b) {
            (_, None) => true,
            (Some(a), Some(b)) => b >= a,
            (None, Some(_)) => false,
        };
    }
    if let (Some(a), Some(b)) = (numeric(&f), numeric(&t)) {
        return match (a, b) {
            (_, None) => true,
            (Some((p1, s1)), Some((p2, s2))) => s1 == s2 && p2 >= p1,
            (None, Some(_)) => false,
        };
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Judging what the probes measured

/// The report: each step's static findings and what its probes measured (`outcomes` in the
/// order of `plan.probes`), with `-- lint: allow` applied.
pub fn report(plan: &Plan, outcomes: &[Outcome]) -> Report {
    let mut steps: Vec<StepReport> = plan
        .steps
        .iter()
        .map(|s| StepReport {
            migration: s.name.clone(),
            changes: s.changes.iter().map(|c| format!("{c} ({})", c.safety())).collect(),
            findings: s.findings.clone(),
        })
        .collect();
    for (probe, outcome) in plan.probes.iter().zip(outcomes) {
        if let Some(f) = judge(&plan.steps[probe.step].name, probe, outcome) {
            steps[probe.step].findings.push(f);
        }
    }
    for (s, sp) in steps.iter_mut().zip(&plan.steps) {
        for f in &mut s.findings {
            f.allowed = f.severity != Severity::Error && sp.allowed.contains(&f.rule);
        }
        s.findings.sort_by_key(|f| f.severity);
    }
    Report { dialect: plan.dialect, migrations: steps }
}

/// What one measured probe means (nothing when all is well).
pub fn judge(migration: &str, probe: &Probe, outcome: &Outcome) -> Option<Finding> {
    let base = |rule: Rule, severity: Severity, message: String| {
        Finding::new(migration, rule, severity, message, probe.advice.clone()).on(&probe.table, probe.column.as_deref())
    };
    match (outcome, &probe.kind) {
        (Outcome::Failed(message), ProbeKind::CastAttempt) => {
            let mut f = base(probe.rule, Severity::Error, format!("{}: {message}", probe.what));
            f.count = None;
            Some(f)
        }
        (Outcome::Failed(message), _) => Some(
            Finding::new(
                migration,
                Rule::NotMeasured,
                Severity::Note,
                format!("could not measure ({}): {message}", probe.what.replace("{n} ", "")),
                "the migration's own transaction is the check".into(),
            )
            .on(&probe.table, probe.column.as_deref()),
        ),
        (Outcome::Counted { .. }, ProbeKind::CastAttempt) => None,
        (Outcome::Counted { count, detail, samples }, ProbeKind::MustBeZero) => {
            if *count == 0 {
                return None;
            }
            let detail = match (probe.rule, detail) {
                (Rule::DuplicatesUnderUnique, Some(groups)) => format!(" ({groups} duplicated value(s))"),
                _ => String::new(),
            };
            let mut f =
                base(probe.rule, Severity::Error, format!("{}{detail}", probe.what.replace("{n}", &count.to_string())));
            f.count = Some(*count);
            f.samples = samples.clone();
            f.sample_key = Some(probe.sample_key.clone());
            Some(f)
        }
        (Outcome::Counted { count, samples, .. }, ProbeKind::Loss) => {
            let severity = if *count == 0 { Severity::Note } else { Severity::Warning };
            let mut f = base(Rule::DataLoss, severity, probe.what.replace("{n}", &count.to_string()));
            f.count = Some(*count);
            f.samples = samples.clone();
            f.sample_key = (!samples.is_empty()).then(|| probe.sample_key.clone());
            Some(f)
        }
        (Outcome::Counted { count, .. }, ProbeKind::TableSize { threshold }) => {
            if count <= threshold {
                return None;
            }
            let mut f = base(probe.rule, Severity::Warning, format!("{} (about {count} rows)", probe.what));
            f.count = Some(*count);
            Some(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(d: Dialect, name: &str) -> QualifiedName {
        QualifiedName::new(d.default_schema(), name)
    }

    fn table(d: Dialect, name: &str, cols: &[(&str, bool)]) -> Table {
        let mut t = Table::new(q(d, name));
        t.columns = cols.iter().map(|(c, nn)| Column { not_null: *nn, ..Column::new(*c, "text") }).collect();
        t.primary_key = Some(PrimaryKey { name: None, columns: vec!["id".into()] });
        t
    }

    fn schema(d: Dialect, tables: Vec<Table>) -> Schema {
        let mut s = Schema::empty(d);
        for t in tables {
            s.tables.insert(t.name.clone(), t);
        }
        s
    }

    fn step<'a>(name: &'a str, before: &'a Schema, after: &'a Schema, sql: &'a str) -> Step<'a> {
        Step { name, before, after, sql, rename_text: sql, reverse: false }
    }

    #[test]
    fn rule_names_are_stable_and_parse_back() {
        for r in Rule::ALL {
            assert_eq!(Rule::parse(r.name()), Some(r));
        }
        assert_eq!(Rule::DataLoss.name(), "data-loss");
        assert_eq!(Rule::IndexNotConcurrent.name(), "index-not-concurrent");
        assert_eq!(serde_json::to_value(Rule::Rename).unwrap(), "rename");
        assert!(Rule::NullsUnderNotNull.is_failure() && !Rule::DataLoss.is_failure());
    }

    #[test]
    fn renames_are_read_from_the_statements() {
        let sql = "ALTER TABLE \"posts\" RENAME COLUMN \"title\" TO \"headline\";--> statement-breakpoint\nALTER TABLE Drafts RENAME TO \"Old\";\nALTER TABLE \"t\" RENAME a TO b;\nALTER TYPE mood RENAME VALUE 'sad' TO 'blue';\nALTER TABLE x RENAME CONSTRAINT a TO b;";
        assert_eq!(
            text_renames(Dialect::Postgres, sql),
            [
                TextRename::Column { table: "posts".into(), old: "title".into(), new: "headline".into() },
                TextRename::Table { old: "drafts".into(), new: "Old".into() },
                TextRename::Column { table: "t".into(), old: "a".into(), new: "b".into() },
                TextRename::EnumValue { name: "mood".into(), old: "sad".into(), new: "blue".into() },
            ]
        );
        assert_eq!(
            text_renames(Dialect::Sqlite, "ALTER TABLE `T` RENAME `A` TO `b`;"),
            [TextRename::Column { table: "T".into(), old: "A".into(), new: "b".into() }]
        );
    }

    #[test]
    fn a_dropped_and_added_column_is_a_rename_only_when_the_text_says_so() {
        let d = Dialect::Sqlite;
        let before = schema(d, vec![table(d, "posts", &[("id", true), ("title", false)])]);
        let after = schema(d, vec![table(d, "posts", &[("id", true), ("headline", false)])]);
        let renamed =
            changes_for(&before, &after, "ALTER TABLE `posts` RENAME COLUMN `title` TO `headline`;", false).unwrap();
        assert_eq!(
            renamed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["rename column posts.title to headline"]
        );
        let dropped = changes_for(&before, &after, "ALTER TABLE `posts` DROP COLUMN `title`;", false).unwrap();
        assert_eq!(
            dropped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["add column posts.headline", "drop column posts.title"]
        );
        // Undoing the rename: the same text, backwards.
        let back =
            changes_for(&after, &before, "ALTER TABLE `posts` RENAME COLUMN `title` TO `headline`;", true).unwrap();
        assert_eq!(back.iter().map(ToString::to_string).collect::<Vec<_>>(), ["rename column posts.headline to title"]);
    }

    #[test]
    fn written_tables_skip_a_plain_rebuild_copy() {
        let d = Dialect::Sqlite;
        let sql = "INSERT INTO `__new_a`(\"id\", \"x\") SELECT \"id\", \"x\" FROM `a`;--> statement-breakpoint\nINSERT INTO `__new_b`(\"id\", \"x\") SELECT \"id\", coalesce(\"x\", '') FROM `b`;\nUPDATE OR IGNORE c SET x = 1;\nDELETE FROM \"d\" WHERE 1;\nCREATE TABLE e (x);";
        assert_eq!(written_tables(d, sql), ["b", "c", "d"].iter().map(|s| s.to_string()).collect());
        assert_eq!(
            written_tables(Dialect::Postgres, "TRUNCATE TABLE ONLY a, \"B\"; UPDATE Posts SET x = 1;"),
            ["B", "a", "posts"].iter().map(|s| s.to_string()).collect()
        );
    }

    #[test]
    fn index_statements_and_conversions() {
        let d = Dialect::Postgres;
        assert_eq!(
            created_indexes(
                d,
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"a_idx\" ON t (x); CREATE INDEX b ON t (y);"
            ),
            [
                IndexStatement { name: "a_idx".into(), concurrently: true },
                IndexStatement { name: "b".into(), concurrently: false }
            ]
        );
        assert_eq!(conversion(d, "ALTER TABLE t ALTER COLUMN n SET DATA TYPE integer;", "n"), Conversion::Plain);
        assert_eq!(
            conversion(
                d,
                "ALTER TABLE t ALTER COLUMN \"n\" TYPE integer USING \"n\"::integer, ADD COLUMN z text;",
                "n"
            ),
            Conversion::Cast
        );
        assert_eq!(
            conversion(
                d,
                "ALTER TABLE t ALTER n TYPE integer USING (CASE WHEN n = '' THEN NULL ELSE n END)::integer;",
                "n"
            ),
            Conversion::Using("(CASE WHEN n = '' THEN NULL ELSE n END)::integer".into())
        );
        assert_eq!(conversion(d, "ALTER TABLE t ALTER COLUMN m TYPE integer;", "n"), Conversion::NotFound);
    }

    #[test]
    fn allow_lines() {
        let (rules, unknown) = allowances("-- lint: allow data-loss\n--lint:allow rename, index-not-concurrent\nSELECT 1; -- lint: allow nope\n-- lint: allow bogus-rule");
        assert_eq!(rules, [Rule::DataLoss, Rule::Rename, Rule::IndexNotConcurrent].into_iter().collect());
        assert_eq!(unknown, ["bogus-rule"]);
    }

    #[test]
    fn binary_coercible_type_changes() {
        assert!(binary_coercible("character varying(20)", "text"));
        assert!(binary_coercible("character varying(20)", "character varying(40)"));
        assert!(!binary_coercible("character varying(40)", "character varying(20)"));
        assert!(binary_coercible("numeric(10,2)", "numeric(12,2)"));
        assert!(binary_coercible("numeric(10,2)", "numeric"));
        assert!(!binary_coercible("text", "integer"));
        assert!(!binary_coercible("integer", "bigint"));
    }

    #[test]
    fn expressions_are_traced_to_the_live_columns() {
        let d = Dialect::Postgres;
        let live = schema(d, vec![table(d, "posts", &[("id", true), ("title", false)])]);
        let mut l = Lineage::new(&live);
        let changes = vec![
            Change::RenameColumn { table: q(d, "posts"), from: "title".into(), to: "headline".into() },
            Change::AddColumn {
                table: q(d, "posts"),
                column: Column { default: Some("'x'::text".into()), ..Column::new("slug", "text") },
            },
            Change::AddColumn { table: q(d, "posts"), column: Column::new("note", "text") },
        ];
        l.apply(&changes);
        let Some(Origin::Live(t)) = l.tables.get(&q(d, "posts")) else { panic!() };
        assert_eq!(
            t.expr(d, "(lower(headline) <> slug) AND (\"note\" IS NULL) AND x.headline = 'headline'::text", None)
                .unwrap(),
            "(lower(\"title\") <> ('x'::text)) AND ((NULL) IS NULL) AND x.headline = 'headline'::text"
        );
        assert_eq!(t.column_expr(d, "headline", Some("c")).unwrap(), "c.\"title\"");
    }

    #[test]
    fn probes_measure_the_state_after_each_step_on_the_live_tables() {
        let d = Dialect::Sqlite;
        let live = schema(d, vec![table(d, "posts", &[("id", true), ("title", false)])]);
        // 1: add a column with a default; 2: make title NOT NULL and the new column unique.
        let mut s1 = live.clone();
        s1.tables
            .get_mut(&q(d, "posts"))
            .unwrap()
            .columns
            .push(Column { default: Some("'a'".into()), ..Column::new("slug", "text") });
        let mut s2 = s1.clone();
        let t2 = s2.tables.get_mut(&q(d, "posts")).unwrap();
        t2.columns[1].not_null = true;
        t2.indexes.insert(
            "posts_slug".into(),
            Index {
                name: "posts_slug".into(),
                unique: true,
                keys: vec![IndexKey {
                    target: IndexTarget::Column("slug".into()),
                    descending: false,
                    collation: None,
                    nulls_not_default: false,
                    opclass: None,
                }],
                predicate: None,
                method: None,
                include: vec![],
            },
        );
        let steps = [
            step("0001_a", &live, &s1, "ALTER TABLE posts ADD slug text DEFAULT 'a';"),
            step("0002_b", &s1, &s2, "-- rebuild\n"),
        ];
        let p = plan(d, Mode::Live(&live), &steps).unwrap();
        let sqls: Vec<(usize, Rule, &str)> = p.probes.iter().map(|p| (p.step, p.rule, p.count_sql.as_str())).collect();
        assert_eq!(
            sqls,
            [
                (1, Rule::NullsUnderNotNull, "SELECT count(*) FROM \"posts\" WHERE \"title\" IS NULL"),
                (1, Rule::DuplicatesUnderUnique, "SELECT CASE WHEN n > 1 THEN n ELSE 0 END, CASE WHEN n > 1 THEN 1 ELSE 0 END FROM (SELECT count(*) AS n FROM \"posts\" WHERE ('a') IS NOT NULL) d"),
            ]
        );
        // Without data, nothing is measured.
        assert!(plan(d, Mode::SchemaOnly, &steps).unwrap().probes.is_empty());
    }

    #[test]
    fn a_unique_key_containing_one_the_rows_satisfy_needs_no_query() {
        let d = Dialect::Postgres;
        let mut posts = table(d, "posts", &[("id", true), ("title", false), ("slug", false)]);
        posts.uniques.push(Unique {
            name: Some("posts_title_key".into()),
            columns: vec!["title".into()],
            nulls_not_distinct: false,
        });
        let live = schema(d, vec![posts]);
        let unique = |name: &str, cols: &[&str]| Change::AddUnique {
            table: q(d, "posts"),
            unique: Unique {
                name: Some(name.into()),
                columns: cols.iter().map(|c| c.to_string()).collect(),
                nulls_not_distinct: false,
            },
        };
        let mut after = live.clone();
        for (name, cols) in [("a", &["title", "slug"][..]), ("b", &["slug", "id"][..]), ("c", &["slug"][..])] {
            after.tables.get_mut(&q(d, "posts")).unwrap().uniques.push(Unique {
                name: Some(name.into()),
                columns: cols.iter().map(|c| c.to_string()).collect(),
                nulls_not_distinct: false,
            });
        }
        after.tables.get_mut(&q(d, "posts")).unwrap().normalize();
        let p = plan(d, Mode::Live(&live), &[step("0001", &live, &after, "")]).unwrap();
        assert!(p.steps[0].changes.contains(&unique("c", &["slug"])));
        let dup: Vec<&Probe> = p.probes.iter().filter(|p| p.rule == Rule::DuplicatesUnderUnique).collect();
        assert_eq!(dup.len(), 1, "(title, slug) and (slug, id) contain a live key: {dup:?}");
        assert!(dup[0].count_sql.contains("GROUP BY \"slug\""), "{}", dup[0].count_sql);
    }

    #[test]
    fn tables_created_or_written_by_the_deploy_are_not_measured() {
        let d = Dialect::Postgres;
        let live = schema(d, vec![table(d, "posts", &[("id", true), ("title", false)])]);
        let mut s1 = live.clone();
        s1.tables.insert(q(d, "tags"), table(d, "tags", &[("id", true), ("name", false)]));
        let mut s2 = s1.clone();
        s2.tables.get_mut(&q(d, "tags")).unwrap().columns[1].not_null = true;
        s2.tables.get_mut(&q(d, "posts")).unwrap().columns[1].not_null = true;
        let steps = [
            step("0001", &live, &s1, "CREATE TABLE tags (id text PRIMARY KEY, name text);"),
            step("0002", &s1, &s2, "UPDATE posts SET title = '' WHERE title IS NULL;\nALTER TABLE posts ALTER COLUMN title SET NOT NULL;\nALTER TABLE tags ALTER COLUMN name SET NOT NULL;"),
        ];
        let p = plan(d, Mode::Live(&live), &steps).unwrap();
        assert!(p.probes.is_empty(), "{:?}", p.probes);
        let notes: Vec<&Finding> = p.steps[1].findings.iter().filter(|f| f.rule == Rule::NotMeasured).collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].message.contains("writes rows of posts itself"), "{}", notes[0].message);
        // The SET NOT NULL scan on an existing table is a lock hazard.
        assert!(p.steps[1]
            .findings
            .iter()
            .any(|f| f.rule == Rule::SetNotNullScan && f.table.as_deref() == Some("posts")));
    }

    #[test]
    fn judging_counts_and_allowances() {
        let d = Dialect::Sqlite;
        let mut live = schema(d, vec![table(d, "posts", &[("id", true), ("title", false), ("body", false)])]);
        live.tables.get_mut(&q(d, "posts")).unwrap().columns[1].not_null = false;
        let mut after = live.clone();
        after.tables.get_mut(&q(d, "posts")).unwrap().columns.retain(|c| c.name != "body");
        after.tables.get_mut(&q(d, "posts")).unwrap().columns[1].not_null = true;
        let sql = "-- lint: allow data-loss\n-- lint: allow nulls-under-not-null\nALTER TABLE posts DROP COLUMN body;";
        let steps = [step("0001_x", &live, &after, sql)];
        let p = plan(d, Mode::Live(&live), &steps).unwrap();
        assert_eq!(p.probes.len(), 2);
        assert_eq!(p.probes[0].rule, Rule::DataLoss);
        assert_eq!(p.probes[0].count_sql, "SELECT count(*) FROM \"posts\" WHERE \"body\" IS NOT NULL");
        let outcomes = [
            Outcome::Counted { count: 3, detail: None, samples: vec!["a".into(), "b".into(), "c".into()] },
            Outcome::Counted { count: 2, detail: None, samples: vec!["a".into(), "b".into()] },
        ];
        let r = report(&p, &outcomes);
        let errors = r.errors();
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].allowed, "errors cannot be allowed");
        let text = errors[0].to_string();
        assert!(
            text.contains("0001_x: error nulls-under-not-null: 2 row(s) of posts have NULL in title")
                && text.contains("sample keys id: a, b"),
            "{text}"
        );
        assert!(r.warnings().is_empty(), "the data loss is allowed");
        assert_eq!(r.data_loss().len(), 1);
        assert!(r.data_loss()[0].allowed);
        let failed = judge("m", &p.probes[1], &Outcome::Failed("no such column".into())).unwrap();
        assert_eq!((failed.rule, failed.severity), (Rule::NotMeasured, Severity::Note));
    }
}
