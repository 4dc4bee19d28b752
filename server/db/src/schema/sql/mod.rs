//! Rendering changes as each dialect's DDL, in Drizzle Kit's text style: backticks on SQLite,
//! double quotes on PostgreSQL, statements separated by `--> statement-breakpoint` lines, and a
//! `-- warning: …` comment before every statement that deletes data.
//!
//! [`render`] is pure: it takes the changes [`diff`](super::diff::diff) made and the two
//! schemas they were made from, and orders the statements so that they work: dependants
//! (triggers, views, foreign keys) are dropped before what they depend on changes and created
//! again after it; enums, schemas and sequences exist before columns use them; PostgreSQL
//! functions exist before the defaults, checks, indexes, views and triggers that call them
//! and are dropped after those; parent tables are created before their children and dropped
//! after them. SQLite changes that `ALTER
//! TABLE` cannot make are table rebuilds (see [`sqlite`]); PostgreSQL never recreates a table
//! (see [`postgres`]).

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{self, Change, Renames};
use super::model::{Dialect, QualifiedName, Schema, Trigger};

pub mod postgres;
pub mod sqlite;

/// The separator Drizzle Kit writes between statements.
pub const BREAKPOINT: &str = "--> statement-breakpoint";

/// One statement of a migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The statement, ending with `;`.
    pub sql: String,
    /// What the statement deletes, when it deletes data (written as a `-- warning:` line).
    pub warning: Option<String>,
    /// The statement cannot run inside the migration's transaction (PostgreSQL `ALTER TYPE …
    /// ADD VALUE`, whose new value cannot be used in the transaction that added it).
    pub outside_transaction: bool,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Statement {
        let mut sql = sql.into();
        if !sql.trim_end().ends_with(';') {
            sql.push(';');
        }
        Statement { sql, warning: None, outside_transaction: false }
    }

    pub fn with_warning(mut self, warning: impl Into<String>) -> Statement {
        self.warning = Some(warning.into());
        self
    }

    pub fn outside_transaction(mut self) -> Statement {
        self.outside_transaction = true;
        self
    }
}

/// A foreign key action as Drizzle Kit writes it (`no action`, `cascade`, …), both dialects.
fn action(a: crate::schema::model::Action) -> &'static str {
    use crate::schema::model::Action;
    match a {
        Action::NoAction => "no action",
        Action::Restrict => "restrict",
        Action::Cascade => "cascade",
        Action::SetNull => "set null",
        Action::SetDefault => "set default",
    }
}

/// The views and triggers the changes themselves drop and create; each renderer then adds the
/// dependants it must take down and put up again around what changes.
struct ViewsAndTriggers<'a> {
    view_drops: BTreeSet<QualifiedName>,
    created_views: BTreeSet<QualifiedName>,
    trigger_drops: Vec<&'a Trigger>,
    created_triggers: BTreeSet<(QualifiedName, String)>,
}

fn views_and_triggers(changes: &[Change]) -> ViewsAndTriggers<'_> {
    let mut out = ViewsAndTriggers {
        view_drops: BTreeSet::new(),
        created_views: BTreeSet::new(),
        trigger_drops: Vec::new(),
        created_triggers: BTreeSet::new(),
    };
    for c in changes {
        match c {
            Change::DropView { view } => {
                out.view_drops.insert(view.name.clone());
            }
            Change::ReplaceView { from, to } => {
                out.view_drops.insert(from.name.clone());
                out.created_views.insert(to.name.clone());
            }
            Change::CreateView { view } => {
                out.created_views.insert(view.name.clone());
            }
            Change::DropTrigger { trigger } => out.trigger_drops.push(trigger),
            Change::ReplaceTrigger { from, to } => {
                out.trigger_drops.push(from);
                out.created_triggers.insert(to.key());
            }
            Change::CreateTrigger { trigger } => {
                out.created_triggers.insert(trigger.key());
            }
            _ => {}
        }
    }
    out
}

/// The statements that turn `from` into `to` given `changes` (from [`diff::diff`]), in an
/// order that works.
pub fn render(dialect: Dialect, changes: &[Change], from: &Schema, to: &Schema) -> Vec<Statement> {
    match dialect {
        Dialect::Sqlite => sqlite::render(changes, from, to),
        Dialect::Postgres => postgres::render(changes, from, to),
    }
}

/// The statements that create `schema` in an empty database.
pub fn create(schema: &Schema) -> Vec<Statement> {
    let empty = Schema::empty(schema.dialect);
    let changes = diff::diff(&empty, schema, &Renames::none_are_renames()).expect("nothing is ambiguous from empty");
    render(schema.dialect, &changes, &empty, schema)
}

/// A migration file's text: the statements separated by `--> statement-breakpoint`, each
/// destructive one preceded by its `-- warning:` line.
///
/// Statements that must run outside a transaction are put between `COMMIT;` and `BEGIN;`:
/// drizzle-orm runs a file inside its own transaction and the project's migrator runs such a
/// file as one that manages its transactions itself, so they run on their own and the rest
/// stays transactional.
pub fn to_migration_text(statements: &[Statement]) -> String {
    let mut wrapped: Vec<Statement> = Vec::with_capacity(statements.len());
    let mut outside = false;
    for st in statements {
        if st.outside_transaction && !outside {
            wrapped.push(Statement::new("COMMIT;"));
        } else if !st.outside_transaction && outside {
            wrapped.push(Statement::new("BEGIN;"));
        }
        outside = st.outside_transaction;
        wrapped.push(st.clone());
    }
    if outside {
        wrapped.push(Statement::new("BEGIN;"));
    }
    let mut out = String::new();
    for (i, st) in wrapped.iter().enumerate() {
        if let Some(w) = &st.warning {
            for line in w.lines() {
                out.push_str("-- warning: ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(st.sql.trim_end());
        if i + 1 < wrapped.len() {
            if st.sql.contains('\n') {
                out.push('\n');
            }
            out.push_str(BREAKPOINT);
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the renderers.

/// `'text'` with quotes doubled.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An identifier token of a statement: its text (without quotes) and whether it was quoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub quoted: bool,
    /// Byte range in the statement.
    pub start: usize,
    pub end: usize,
}

/// The identifier and keyword tokens of a statement, skipping strings, comments, numbers and
/// PostgreSQL dollar-quoted bodies (whose contents are scanned as SQL too: a function body
/// names tables).
pub(crate) fn words(sql: &str) -> Vec<Word> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' | b'`' | b'[' => {
                let close = match c {
                    b'[' => b']',
                    other => other,
                };
                let start = i;
                i += 1;
                let mut text = Vec::new();
                while i < b.len() {
                    if b[i] == close {
                        if close != b']' && b.get(i + 1) == Some(&close) {
                            text.push(close);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    text.push(b[i]);
                    i += 1;
                }
                i += 1;
                out.push(Word {
                    text: String::from_utf8_lossy(&text).into_owned(),
                    quoted: true,
                    start,
                    end: i.min(b.len()),
                });
            }
            b'$' => {
                // A dollar quote's tag: scan its body as SQL (the tag itself is not a word).
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                i = if b.get(j) == Some(&b'$') { j + 1 } else { j };
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                    i += 1;
                }
                out.push(Word { text: sql[start..i].to_string(), quoted: false, start, end: i });
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether `sql` names any of `names` (an identifier token equal to one, case-insensitively:
/// SQLite identifiers are, and a PostgreSQL name differing only in case would be quoted).
pub(crate) fn mentions_any<'a>(sql: &str, names: impl IntoIterator<Item = &'a String>) -> bool {
    let ws = words(sql);
    names.into_iter().any(|n| ws.iter().any(|w| w.text.eq_ignore_ascii_case(n)))
}

/// `sql` with every `table.` qualifier (an identifier equal to `table` followed by a dot)
/// replaced by `replacement.` — for a table's expressions copied into its rebuild.
pub(crate) fn requalify(sql: &str, table: &str, replacement: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    for w in words(sql) {
        if w.text.eq_ignore_ascii_case(table) && sql[w.end..].trim_start().starts_with('.') {
            out.push_str(&sql[last..w.start]);
            out.push_str(replacement);
            last = w.end;
        }
    }
    out.push_str(&sql[last..]);
    out
}

/// Orders `nodes` so that each comes after the ones it depends on (`deps(n)`; unknown names
/// ignored). Returns the order and the dependencies that had to be broken (a cycle), as
/// (node, dependency) pairs. Ties keep the input order, so the output is deterministic.
pub(crate) fn topological<F>(
    nodes: &[QualifiedName],
    deps: F,
) -> (Vec<QualifiedName>, Vec<(QualifiedName, QualifiedName)>)
where
    F: Fn(&QualifiedName) -> Vec<QualifiedName>,
{
    let set: BTreeSet<&QualifiedName> = nodes.iter().collect();
    let mut state: BTreeMap<QualifiedName, u8> = BTreeMap::new(); // 1 visiting, 2 done
    let mut order = Vec::new();
    let mut broken = Vec::new();
    fn visit<F: Fn(&QualifiedName) -> Vec<QualifiedName>>(
        n: &QualifiedName,
        set: &BTreeSet<&QualifiedName>,
        deps: &F,
        state: &mut BTreeMap<QualifiedName, u8>,
        order: &mut Vec<QualifiedName>,
        broken: &mut Vec<(QualifiedName, QualifiedName)>,
    ) {
        state.insert(n.clone(), 1);
        for d in deps(n) {
            if &d == n || !set.contains(&d) {
                continue;
            }
            match state.get(&d) {
                Some(1) => broken.push((n.clone(), d.clone())),
                Some(_) => {}
                None => visit(&d, set, deps, state, order, broken),
            }
        }
        state.insert(n.clone(), 2);
        order.push(n.clone());
    }
    for n in nodes {
        if !state.contains_key(n) {
            visit(n, &set, &deps, &mut state, &mut order, &mut broken);
        }
    }
    (order, broken)
}

/// Renames in an order that works: a rename whose target is another rename's source waits
/// for it; a cycle (a swap) goes through a temporary name. Returns (from, to) steps.
pub(crate) fn order_renames(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut pending: Vec<(String, String)> = pairs.iter().filter(|(a, b)| a != b).cloned().collect();
    let mut out = Vec::new();
    while !pending.is_empty() {
        // A rename whose target no pending rename still holds.
        if let Some(pos) = pending.iter().position(|(_, to)| !pending.iter().any(|(f, _)| f == to)) {
            out.push(pending.remove(pos));
            continue;
        }
        // Only cycles remain: move one aside.
        let (from, to) = pending.remove(0);
        let temp = format!("__rename_{from}");
        out.push((from, temp.clone()));
        pending.push((temp, to));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_skip_strings_comments_and_numbers() {
        let w: Vec<String> = words("SELECT \"a\"\"b\", `c`, [d], 'e''f', 12.5e3 -- g\n/* h */ i.j FROM $$ k $$")
            .into_iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(w, ["SELECT", "a\"b", "c", "d", "i", "j", "FROM", "k"]);
    }

    #[test]
    fn mentions_is_by_token_not_substring() {
        let pages = ["pages".to_string()];
        assert!(mentions_any("CREATE VIEW v AS SELECT * FROM \"Pages\"", &pages));
        assert!(!mentions_any("CREATE VIEW v AS SELECT * FROM pages_archive", &pages));
        assert!(!mentions_any("CREATE VIEW v AS SELECT 'pages' AS x", &pages));
    }

    #[test]
    fn requalify_replaces_only_qualifiers() {
        assert_eq!(requalify("t.a > 0 AND \"t\" . b > t", "t", "`__new_t`"), "`__new_t`.a > 0 AND `__new_t` . b > t");
    }

    #[test]
    fn topological_puts_dependencies_first_and_breaks_cycles() {
        let q = |n: &str| QualifiedName::new("main", n);
        let nodes = vec![q("child"), q("parent"), q("a"), q("b")];
        let (order, broken) = topological(&nodes, |n| match n.name.as_str() {
            "child" => vec![q("parent"), q("elsewhere")],
            "a" => vec![q("b")],
            "b" => vec![q("a")],
            _ => vec![],
        });
        let names: Vec<&str> = order.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["parent", "child", "b", "a"]);
        assert_eq!(broken, vec![(q("b"), q("a"))]);
    }

    #[test]
    fn renames_wait_for_their_target_and_swaps_use_a_temporary_name() {
        let p = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(order_renames(&[p("a", "b"), p("b", "c")]), vec![p("b", "c"), p("a", "b")]);
        assert_eq!(
            order_renames(&[p("a", "b"), p("b", "a")]),
            vec![p("a", "__rename_a"), p("b", "a"), p("__rename_a", "b")]
        );
    }

    #[test]
    fn statements_outside_the_transaction_are_put_between_commit_and_begin() {
        let text = to_migration_text(&[
            Statement::new("ALTER TYPE \"e\" ADD VALUE 'x';").outside_transaction(),
            Statement::new("ALTER TYPE \"e\" ADD VALUE 'y';").outside_transaction(),
            Statement::new("ALTER TABLE \"t\" ADD COLUMN \"c\" e DEFAULT 'x';"),
        ]);
        assert_eq!(
            text,
            "COMMIT;--> statement-breakpoint\n\
             ALTER TYPE \"e\" ADD VALUE 'x';--> statement-breakpoint\n\
             ALTER TYPE \"e\" ADD VALUE 'y';--> statement-breakpoint\n\
             BEGIN;--> statement-breakpoint\n\
             ALTER TABLE \"t\" ADD COLUMN \"c\" e DEFAULT 'x';\n"
        );
    }

    #[test]
    fn migration_text_has_breakpoints_and_warnings() {
        let text = to_migration_text(&[
            Statement::new("CREATE TABLE `a` (\n\t`id` integer\n);"),
            Statement::new("DROP TABLE `b`").with_warning("drops table b and all its rows"),
            Statement::new("CREATE INDEX `i` ON `a` (`id`);"),
        ]);
        assert_eq!(
            text,
            "CREATE TABLE `a` (\n\t`id` integer\n);\n--> statement-breakpoint\n\
             -- warning: drops table b and all its rows\nDROP TABLE `b`;--> statement-breakpoint\n\
             CREATE INDEX `i` ON `a` (`id`);\n"
        );
    }
}
