//! Introspection: a real database's catalog read into a [`Schema`] in the model's normal form
//! (see [`crate::schema::model`]), so that two databases the same SQL produced are equal
//! values and nothing about how the SQL was spelled reads as a change.
//!
//! - [`sqlite()`]: `pragma table_list`, `table_xinfo`, `index_list`, `index_xinfo`,
//!   `foreign_key_list`, and `sqlite_schema` with a small tokenizer ([`tokenize`]) over the
//!   stored CREATE text for what the pragmas do not expose (constraint names, CHECKs,
//!   defaults, collations, generated expressions, AUTOINCREMENT, DEFERRABLE, index
//!   expressions and predicates).
//! - [`postgres()`]: `pg_catalog` (`format_type`, `pg_get_expr`, `pg_get_constraintdef`,
//!   `pg_get_indexdef`, `pg_get_viewdef`, `pg_get_triggerdef`, `pg_get_functiondef`, enums,
//!   sequences, identity, functions and procedures).
//!
//! Not read (the model has no place for them yet): SQLite `ON CONFLICT` clauses and `MATCH`;
//! PostgreSQL aggregates, domains, exclusion constraints, partitioning, `NOT VALID`/`NO
//! INHERIT` on checks, indexes on materialized views, comments, grants and row-level security
//! policies, and anything an extension owns.
//!
//! [`normalize_sql_expression`] is the one normalisation of SQLite expression text: defaults,
//! checks, generated columns, index expressions and predicates, views, triggers and virtual
//! tables all go through it, and the SQL renderer can use it to predict what introspection
//! will read back.

mod postgres;
mod sqlite;

use std::collections::BTreeSet;

pub use self::postgres::postgres;
pub use self::sqlite::sqlite;

#[cfg(doc)]
use crate::schema::Schema;

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("reading the SQLite catalog ({what}): {source}")]
    Sqlite {
        what: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("reading the PostgreSQL catalog ({what}): {source}")]
    Postgres {
        what: String,
        #[source]
        source: ::postgres::Error,
    },
    /// The stored CREATE text of an object could not be understood.
    #[error("cannot read the definition of {object}: {message}\n  {sql}")]
    Definition { object: String, message: String, sql: String },
}

/// Which PostgreSQL namespaces to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SchemaFilter {
    /// Every user namespace: all but `pg_catalog`, `information_schema`, `pg_toast`,
    /// `pg_temp_*`, and `drizzle` when it holds nothing but the bookkeeping table.
    #[default]
    All,
    /// Only these namespaces.
    Only(BTreeSet<String>),
}

impl SchemaFilter {
    /// Only the given namespaces.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> SchemaFilter {
        SchemaFilter::Only(names.into_iter().map(Into::into).collect())
    }

    pub fn includes(&self, namespace: &str) -> bool {
        match self {
            SchemaFilter::All => true,
            SchemaFilter::Only(set) => set.contains(namespace),
        }
    }
}

// --- tokens ------------------------------------------------------------------------------------

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word: a keyword or an unquoted identifier.
    Word,
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`); the value is the unescaped name.
    Quoted(String),
    /// A string literal (`'it''s'`, PostgreSQL `$$…$$`), as written.
    String,
    /// A blob literal (`x'00ff'`), as written.
    Blob,
    /// A numeric literal, as written.
    Number,
    /// A bound parameter (`?`, `?1`, `:name`, `@name`, `$name`).
    Variable,
    /// Punctuation or an operator: `(`, `)`, `,`, `;`, `.`, `||`, `<>`, `::`, …
    Punct,
}

/// One token and where it is in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    /// The token exactly as written.
    pub text: &'a str,
    /// Byte offset of the token in the text.
    pub start: usize,
}

impl<'a> Token<'a> {
    /// True for the punctuation `p`.
    pub fn is(&self, p: &str) -> bool {
        self.kind == TokenKind::Punct && self.text == p
    }

    /// True for the bare word `kw`, in any case.
    pub fn is_word(&self, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(kw)
    }

    /// The name a token stands for when it is used as an identifier: a bare word as written,
    /// a quoted identifier unquoted, and (as SQLite allows) a string literal's content.
    pub fn ident(&self) -> Option<String> {
        match &self.kind {
            TokenKind::Word => Some(self.text.to_string()),
            TokenKind::Quoted(name) => Some(name.clone()),
            TokenKind::String if self.text.starts_with('\'') => Some(unquote_string(self.text)),
            _ => None,
        }
    }

    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

fn unquote_string(s: &str) -> String {
    s[1..s.len() - 1].replace("''", "'")
}

/// Which lexical rules apply: SQLite's (`[x]` and `` `x` `` identifiers) or PostgreSQL's
/// (`[` is a subscript, `$tag$…$tag$` strings, `::` casts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lexer {
    Sqlite,
    Postgres,
}

/// Splits SQL text into tokens, dropping whitespace and comments (`-- …` and `/* … */`).
/// Quotes (`"x"`, `` `x` ``, `[x]`, `'str'` with doubled quotes inside) and nested
/// parentheses are understood; an unterminated quote or comment runs to the end of the text.
/// Never fails: what it does not know becomes a one-character [`TokenKind::Punct`].
pub fn tokenize(sql: &str, lexer: Lexer) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\x0b' => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = memchr(bytes, i, b'\n').map_or(bytes.len(), |n| n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |n| n + 2);
                continue;
            }
            b'\'' => {
                i = end_of_quoted(bytes, i, b'\'');
                TokenKind::String
            }
            b'"' => {
                i = end_of_quoted(bytes, i, b'"');
                TokenKind::Quoted(unescape(&sql[start..i], b'"'))
            }
            b'`' if lexer == Lexer::Sqlite => {
                i = end_of_quoted(bytes, i, b'`');
                TokenKind::Quoted(unescape(&sql[start..i], b'`'))
            }
            b'[' if lexer == Lexer::Sqlite => {
                i = memchr(bytes, i + 1, b']').map_or(bytes.len(), |n| n + 1);
                let inner = &sql[start + 1..i];
                TokenKind::Quoted(inner.strip_suffix(']').unwrap_or(inner).to_string())
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                i = end_of_quoted(bytes, i + 1, b'\'');
                TokenKind::Blob
            }
            b'0'..=b'9' => {
                i = end_of_number(bytes, i);
                TokenKind::Number
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = end_of_number(bytes, i);
                TokenKind::Number
            }
            b'$' if lexer == Lexer::Postgres && dollar_tag(bytes, i).is_some() => {
                let tag_end = dollar_tag(bytes, i).unwrap_or(i + 1);
                let tag = &bytes[i..tag_end];
                i = find(bytes, tag_end, tag).map_or(bytes.len(), |n| n + tag.len());
                TokenKind::String
            }
            b'?' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                TokenKind::Variable
            }
            b':' | b'@' | b'$' if bytes.get(i + 1).is_some_and(|&b| is_ident_byte(b)) => {
                if c == b':' && lexer == Lexer::Postgres {
                    // `x::text` is a cast, `:name` is not PostgreSQL.
                    i += 1;
                    TokenKind::Punct
                } else {
                    i += 1;
                    while i < bytes.len() && is_ident_byte(bytes[i]) {
                        i += 1;
                    }
                    TokenKind::Variable
                }
            }
            c if is_ident_start(c) => {
                while i < bytes.len() && is_ident_byte(bytes[i]) {
                    i += 1;
                }
                TokenKind::Word
            }
            _ => {
                i += operator_len(&sql[i..]);
                TokenKind::Punct
            }
        };
        // A `::` PostgreSQL cast is one token.
        if kind == TokenKind::Punct && &sql[start..i] == ":" && bytes.get(i) == Some(&b':') {
            i += 1;
        }
        tokens.push(Token { kind, text: &sql[start..i], start });
    }
    tokens
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn memchr(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes.get(from..)?.iter().position(|&b| b == needle).map(|p| p + from)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The index after a quoted token starting at `i` (a doubled quote stays inside).
fn end_of_quoted(bytes: &[u8], i: usize, quote: u8) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        if bytes[j] == quote {
            if bytes.get(j + 1) == Some(&quote) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    bytes.len()
}

fn unescape(token: &str, quote: u8) -> String {
    let q = quote as char;
    let inner = &token[1..];
    let inner = inner.strip_suffix(q).unwrap_or(inner);
    inner.replace(&format!("{q}{q}"), &q.to_string())
}

fn end_of_number(bytes: &[u8], mut i: usize) -> usize {
    if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// `$$` or `$tag$` at `i`: the index after the opening tag.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        if j == i + 1 && bytes[j].is_ascii_digit() {
            return None; // `$1` is a parameter
        }
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1)
}

fn operator_len(rest: &str) -> usize {
    const TWO: [&str; 11] = ["||", "<<", ">>", "<=", ">=", "==", "!=", "<>", "->", "::", "~*"];
    if rest.starts_with("->>") {
        return 3;
    }
    if TWO.iter().any(|op| rest.starts_with(op)) {
        return 2;
    }
    rest.chars().next().map_or(1, char::len_utf8)
}

/// The index of the `)` that closes the `(` at `open`, or `None` when it is never closed.
pub fn matching_paren(tokens: &[Token<'_>], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is("(") {
            depth += 1;
        } else if t.is(")") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Splits at the commas that are not inside parentheses.
pub fn split_top_level<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut from = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.is("(") {
            depth += 1;
        } else if t.is(")") {
            depth -= 1;
        } else if t.is(",") && depth == 0 {
            parts.push(&tokens[from..i]);
            from = i + 1;
        }
    }
    if from < tokens.len() || !parts.is_empty() {
        parts.push(&tokens[from..]);
    }
    parts
}

/// Drops parentheses that wrap the whole token list (`((a > 0))` → `a > 0`).
pub fn strip_wrapping_parens<'t, 'a>(mut tokens: &'t [Token<'a>]) -> &'t [Token<'a>] {
    while tokens.len() >= 2 && tokens[0].is("(") && matching_paren(tokens, 0) == Some(tokens.len() - 1) {
        tokens = &tokens[1..tokens.len() - 1];
    }
    tokens
}

// --- normalisation -----------------------------------------------------------------------------

/// SQLite's keywords (as `sqlite3_keyword_name` lists them), plus `TRUE` and `FALSE`, which
/// read as booleans unless a column has that name.
const KEYWORDS: &[&str] = &[
    "ABORT",
    "ACTION",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "ALWAYS",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ATTACH",
    "AUTOINCREMENT",
    "BEFORE",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONFLICT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DETACH",
    "DISTINCT",
    "DO",
    "DROP",
    "EACH",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXCLUSIVE",
    "EXISTS",
    "EXPLAIN",
    "FAIL",
    "FALSE",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GENERATED",
    "GLOB",
    "GROUP",
    "GROUPS",
    "HAVING",
    "IF",
    "IGNORE",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDEXED",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INSTEAD",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATERIALIZED",
    "NATURAL",
    "NO",
    "NOT",
    "NOTHING",
    "NOTNULL",
    "NULL",
    "NULLS",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OTHERS",
    "OUTER",
    "OVER",
    "PARTITION",
    "PLAN",
    "PRAGMA",
    "PRECEDING",
    "PRIMARY",
    "QUERY",
    "RAISE",
    "RANGE",
    "RECURSIVE",
    "REFERENCES",
    "REGEXP",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROW",
    "ROWS",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIES",
    "TO",
    "TRANSACTION",
    "TRIGGER",
    "TRUE",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VACUUM",
    "VALUES",
    "VIEW",
    "VIRTUAL",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHOUT",
];

/// True when `word` is an SQLite keyword (any case).
pub fn is_keyword(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    KEYWORDS.binary_search(&upper.as_str()).is_ok()
}

/// True when `name` can be written without quotes: a plain ASCII word that is no keyword.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(name)
}

/// `name` as SQL: bare when it can be ([`is_plain_identifier`]), double-quoted otherwise.
pub fn quote_identifier(name: &str) -> String {
    if is_plain_identifier(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The normal form of an SQLite expression or statement text: the same text whatever its
/// quoting style, whitespace, comments or keyword case.
///
/// - comments dropped; tokens re-joined with one space where SQL separates them and none
///   inside `f(a, b)`, `t.c`, `(…)`, before `,` `;` and after a unary `-` `+` `~`;
/// - identifiers unquoted where quotes are not needed (`"status"` → `status`), otherwise
///   double-quoted (`` `order` `` → `"order"`); a name is never case-folded;
/// - keywords upper-cased (`in` → `IN`), function names lower-cased (`LOWER(x)` → `lower(x)`);
/// - parentheses around the whole text dropped (`(a > 0)` → `a > 0`);
/// - string, blob and number literals exactly as written.
///
/// It is idempotent, and its result is valid SQL with the same meaning. A name that is an
/// SQLite keyword but may be written bare (`key`) reads differently bare (`KEY`) and quoted
/// (`"key"`): quote such names consistently.
pub fn normalize_sql_expression(sql: &str) -> String {
    join_tokens(strip_wrapping_parens(&tokenize(sql, Lexer::Sqlite)))
}

/// Re-joins tokens in the normal form of [`normalize_sql_expression`] (without dropping
/// wrapping parentheses).
pub fn join_tokens(tokens: &[Token<'_>]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Token<'_>> = None;
    for (i, t) in tokens.iter().enumerate() {
        let next_is_paren = tokens.get(i + 1).is_some_and(|n| n.is("("));
        let text = match &t.kind {
            TokenKind::Word if is_keyword(t.text) => t.text.to_ascii_uppercase(),
            TokenKind::Word if next_is_paren => t.text.to_ascii_lowercase(),
            // Unquoted, a name is a word like any other (`"Lower"(x)` → `lower(x)`).
            TokenKind::Quoted(name) if next_is_paren && is_plain_identifier(name) => name.to_ascii_lowercase(),
            TokenKind::Quoted(name) => quote_identifier(name),
            _ => t.text.to_string(),
        };
        if let Some(p) = prev {
            if needs_space(tokens, i, p, t) {
                out.push(' ');
            }
        }
        out.push_str(&text);
        prev = Some(t);
    }
    out
}

/// Whether a space goes between `p` and `tokens[i]`.
fn needs_space(tokens: &[Token<'_>], i: usize, p: &Token<'_>, t: &Token<'_>) -> bool {
    if p.is("(") || t.is(")") || t.is(",") || t.is(";") {
        return false;
    }
    // `t.c`, `t.*`: glued between names; a number next to a `.` would swallow it.
    let name = |t: &Token<'_>| matches!(t.kind, TokenKind::Word | TokenKind::Quoted(_));
    if t.is(".") {
        return !name(p);
    }
    if p.is(".") {
        return !(name(t) || t.is("*")) || i < 2 || !name(&tokens[i - 2]);
    }
    if t.is("(") {
        // A call or `t(cols)`: glued to a name; `IN (`, `AS (`, `) (` keep their space.
        return match &p.kind {
            TokenKind::Word => is_keyword(p.text),
            TokenKind::Quoted(_) => false,
            _ => true,
        };
    }
    if (p.is("-") || p.is("+") || p.is("~")) && is_unary(tokens, i - 1) {
        // Glue the operand, unless that would make a comment or another operator (`- -1`).
        return t.kind == TokenKind::Punct;
    }
    true
}

/// Keywords that are values: a `-` after them subtracts.
const VALUE_KEYWORDS: [&str; 7] = ["END", "NULL", "TRUE", "FALSE", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP"];

/// True when the `-`/`+`/`~` at `i` is a prefix operator (nothing, `(`, `,`, an operator or a
/// keyword before it).
fn is_unary(tokens: &[Token<'_>], i: usize) -> bool {
    if tokens[i].is("~") {
        return true;
    }
    match i.checked_sub(1).map(|j| &tokens[j]) {
        None => true,
        Some(p) => match p.kind {
            TokenKind::Punct => !p.is(")"),
            TokenKind::Word => is_keyword(p.text) && !VALUE_KEYWORDS.iter().any(|k| p.is_word(k)),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        tokenize(sql, Lexer::Sqlite).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn keywords_are_sorted_for_binary_search() {
        let mut sorted = KEYWORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, KEYWORDS);
        assert!(is_keyword("select") && is_keyword("Key") && !is_keyword("status"));
    }

    #[test]
    fn tokenizer_understands_every_quote_and_comments() {
        use TokenKind::*;
        assert_eq!(
            kinds("\"a \"\"b\"\"\" `c``d` [e f] 'it''s' -- note\n/* x ( */ x'0A' 1.5e-3 .5 0x1F ?2 :n"),
            vec![
                (Quoted("a \"b\"".into()), "\"a \"\"b\"\"\""),
                (Quoted("c`d".into()), "`c``d`"),
                (Quoted("e f".into()), "[e f]"),
                (String, "'it''s'"),
                (Blob, "x'0A'"),
                (Number, "1.5e-3"),
                (Number, ".5"),
                (Number, "0x1F"),
                (Variable, "?2"),
                (Variable, ":n"),
            ]
        );
        assert_eq!(
            kinds("a->>'$.x'||b<>c!=d"),
            vec![
                (Word, "a"),
                (Punct, "->>"),
                (String, "'$.x'"),
                (Punct, "||"),
                (Word, "b"),
                (Punct, "<>"),
                (Word, "c"),
                (Punct, "!="),
                (Word, "d"),
            ]
        );
    }

    #[test]
    fn unterminated_quotes_and_comments_run_to_the_end() {
        assert_eq!(kinds("a 'open").last().unwrap().1, "'open");
        assert_eq!(kinds("a \"open").last().unwrap().0, TokenKind::Quoted("open".into()));
        assert_eq!(kinds("a /* open"), vec![(TokenKind::Word, "a")]);
        assert_eq!(kinds("a -- open"), vec![(TokenKind::Word, "a")]);
        assert_eq!(kinds("[open").len(), 1);
    }

    #[test]
    fn postgres_lexer_knows_casts_subscripts_and_dollar_quotes() {
        let t: Vec<_> = tokenize("ARRAY['a'::text] || $$x)$$ || $tag$y$tag$ || $1", Lexer::Postgres)
            .into_iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(t, ["ARRAY", "[", "'a'", "::", "text", "]", "||", "$$x)$$", "||", "$tag$y$tag$", "||", "$1"]);
    }

    #[test]
    fn parentheses_match_and_split() {
        let t = tokenize("a, f(b, c), (d)", Lexer::Sqlite);
        let parts: Vec<String> = split_top_level(&t).into_iter().map(join_tokens).collect();
        assert_eq!(parts, ["a", "f(b, c)", "(d)"]);
        let t = tokenize("((a) + (b))", Lexer::Sqlite);
        assert_eq!(matching_paren(&t, 0), Some(t.len() - 1));
        assert_eq!(matching_paren(&t, 1), Some(3));
        assert_eq!(join_tokens(strip_wrapping_parens(&t)), "(a) + (b)");
        let t = tokenize("(a) + (b)", Lexer::Sqlite);
        assert_eq!(strip_wrapping_parens(&t).len(), t.len());
        assert_eq!(matching_paren(&tokenize("(a", Lexer::Sqlite), 0), None);
    }

    #[test]
    fn normal_form_ignores_quoting_whitespace_comments_and_keyword_case() {
        let same = [
            "\"status\" in ('draft', 'published')",
            "`status` IN ('draft','published')",
            "[status]   in\n\t( 'draft' , /* c */ 'published' )",
            "((status in ('draft', 'published')))",
            "status IN ('draft', 'published') -- trailing",
        ];
        for s in same {
            assert_eq!(normalize_sql_expression(s), "status IN ('draft', 'published')", "{s}");
        }
    }

    #[test]
    fn normal_form_keeps_quotes_where_needed_and_literals_as_written() {
        assert_eq!(
            normalize_sql_expression("`order` > 0 AND \"my col\" = 'A  b'"),
            "\"order\" > 0 AND \"my col\" = 'A  b'"
        );
        assert_eq!(normalize_sql_expression("\"x\"\"y\" || x'0a'"), "\"x\"\"y\" || x'0a'");
        assert_eq!(normalize_sql_expression("\"t\".\"c\" + 1.50"), "t.c + 1.50");
        assert_eq!(normalize_sql_expression("\"Mixed\" = mixed"), "Mixed = mixed");
    }

    #[test]
    fn normal_form_of_calls_unary_operators_and_defaults() {
        assert_eq!(normalize_sql_expression("(unixepoch())"), "unixepoch()");
        assert_eq!(normalize_sql_expression("LOWER( \"name\" )"), "lower(name)");
        assert_eq!(normalize_sql_expression("json_extract(data,'$.a')"), "json_extract(data, '$.a')");
        assert_eq!(normalize_sql_expression("-1"), "-1");
        assert_eq!(normalize_sql_expression("- 1"), "-1");
        assert_eq!(normalize_sql_expression("a - 1"), "a - 1");
        assert_eq!(normalize_sql_expression("a*-1"), "a * -1");
        assert_eq!(normalize_sql_expression("- -1"), "- -1");
        assert_eq!(normalize_sql_expression("x in(1,2)"), "x IN (1, 2)");
        assert_eq!(normalize_sql_expression("cast(x as integer)"), "CAST (x AS integer)");
        assert_eq!(normalize_sql_expression("current_timestamp"), "CURRENT_TIMESTAMP");
        assert_eq!(normalize_sql_expression("false"), "FALSE");
    }

    #[test]
    fn normal_form_is_idempotent() {
        let samples = [
            "CREATE TRIGGER \"t_ai\" AFTER INSERT ON `t` BEGIN INSERT INTO t_fts(rowid, body) VALUES (new.id, new.body); END",
            "`order` > 0 AND \"my col\" = 'A  b'",
            "case when a then - 1 else ~b end",
            "a->>'$.x' || - -1",
            "CREATE VIEW v AS select \"a\" from [t] where (b) group by c",
        ];
        for s in samples {
            let once = normalize_sql_expression(s);
            assert_eq!(normalize_sql_expression(&once), once, "{s}");
        }
    }

    #[test]
    fn normalised_statements_still_run() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let ddl = [
            "CREATE TABLE `t` (`id` integer, `order` text, \"my col\" text, CHECK(\"order\" <> '' AND length(`my col`) > -1))",
            "CREATE VIEW \"v\" AS SELECT `order`, \"my col\" FROM t WHERE id in (1,2) -- c",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET \"order\" = lower(new.\"order\") WHERE id = new.id; END",
        ];
        for sql in ddl {
            conn.execute_batch(&normalize_sql_expression(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        conn.execute("INSERT INTO t (id, \"order\", \"my col\") VALUES (1, 'A', 'x')", []).unwrap();
        let order: String = conn.query_row("SELECT \"order\" FROM v", [], |r| r.get(0)).unwrap();
        assert_eq!(order, "a");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        const TOKENS: &[&str] = &[
            "a",
            "B",
            "\"a\"",
            "`b`",
            "[c d]",
            "\"Lower\"",
            "'s'",
            "'it''s'",
            "1",
            "2.5",
            "-",
            "+",
            "~",
            "(",
            ")",
            "(",
            ")",
            ",",
            ".",
            ";",
            "in",
            "IN",
            "\"order\"",
            "`key`",
            "lower",
            "x'0a'",
            "||",
            "<>",
            "*",
            "case",
            "end",
            "null",
            "current_timestamp",
            "?1",
            "->>",
        ];
        const GAPS: &[&str] = &[" ", "  ", "\n\t", " /* c */ ", " -- c\n"];

        fn sql() -> impl Strategy<Value = String> {
            proptest::collection::vec((0..TOKENS.len(), 0..GAPS.len()), 0..24)
                .prop_map(|v| v.into_iter().map(|(t, g)| format!("{}{}", TOKENS[t], GAPS[g])).collect::<String>())
        }

        /// A token as the normal form sees it: names unquoted (calls lower-cased), keywords
        /// upper-cased, everything else as written.
        fn canonical(tokens: &[Token<'_>]) -> Vec<String> {
            tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let call = tokens.get(i + 1).is_some_and(|n| n.is("("));
                    match &t.kind {
                        TokenKind::Word if is_keyword(t.text) => format!("kw {}", t.text.to_ascii_uppercase()),
                        TokenKind::Word if call => format!("name {}", t.text.to_ascii_lowercase()),
                        TokenKind::Quoted(n) if call && is_plain_identifier(n) => {
                            format!("name {}", n.to_ascii_lowercase())
                        }
                        TokenKind::Word => format!("name {}", t.text),
                        TokenKind::Quoted(n) => format!("name {n}"),
                        k => format!("{k:?} {}", t.text),
                    }
                })
                .collect()
        }

        proptest! {
            #[test]
            fn normalising_is_idempotent_and_keeps_every_token(s in sql()) {
                let once = normalize_sql_expression(&s);
                prop_assert_eq!(normalize_sql_expression(&once), once.clone());
                let before = tokenize(&s, Lexer::Sqlite);
                let after = tokenize(&once, Lexer::Sqlite);
                prop_assert_eq!(canonical(&after), canonical(strip_wrapping_parens(&before)));
            }
        }
    }
}
