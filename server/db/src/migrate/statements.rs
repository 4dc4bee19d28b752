//! Splitting a migration file into statements, and deciding how it must run.
//!
//! drizzle-orm splits a file on `--> statement-breakpoint` and hands each chunk to the
//! database. We split the same way and then split each chunk into single statements, so a
//! failure can be named by statement number and line, and so that files which manage their
//! own transactions are recognised before anything runs. SQLite chunks are split with
//! SQLite's own `sqlite3_complete` (which knows trigger bodies); PostgreSQL chunks with a
//! lexer that knows quotes, dollar quotes, nested comments and `BEGIN ATOMIC` bodies.

use std::ffi::CString;
use std::ops::Range;

use crate::migrate::journal::Dialect;

/// The separator Drizzle Kit writes between statements.
pub const BREAKPOINT: &str = "--> statement-breakpoint";

/// One statement of a migration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// 1-based position among the file's statements.
    pub number: usize,
    /// 1-based line of the file where the statement starts.
    pub line: usize,
    pub sql: String,
}

/// How a migration must be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// In one transaction together with its bookkeeping row.
    Transaction,
    /// SQLite: in one transaction, with foreign keys switched off *before* it begins (a
    /// `PRAGMA foreign_keys=OFF` inside a transaction is a no-op) and `PRAGMA
    /// foreign_key_check` passing before it commits. The file's own `PRAGMA foreign_keys`
    /// statements are not run.
    TransactionForeignKeysOff,
    /// The file manages transactions itself or has statements that cannot run inside one:
    /// statement by statement, without our per-migration wrapper. When the file's first
    /// transaction statement is a `COMMIT` (it expects to run inside drizzle-orm's
    /// transaction), a transaction is opened first, as drizzle-orm does.
    SelfManaged { reason: String, opens_inside_transaction: bool },
}

/// Splits a migration file the way drizzle-orm does, then into single statements. Empty
/// chunks and chunks holding only comments are dropped.
pub fn split(dialect: Dialect, sql: &str) -> Vec<Statement> {
    let text = sql.strip_prefix('\u{feff}').unwrap_or(sql);
    let mut out = Vec::new();
    let mut chunk_start = 0;
    let mut chunks: Vec<Range<usize>> = Vec::new();
    for (pos, _) in text.match_indices(BREAKPOINT) {
        chunks.push(chunk_start..pos);
        chunk_start = pos + BREAKPOINT.len();
    }
    chunks.push(chunk_start..text.len());
    for chunk in chunks {
        let piece = &text[chunk.clone()];
        let ranges = match dialect {
            Dialect::Sqlite => split_sqlite(piece),
            Dialect::Postgres => split_postgres(piece),
        };
        for r in ranges {
            let stmt = &piece[r.clone()];
            if is_blank(stmt) {
                continue;
            }
            let lead = stmt.len() - stmt.trim_start().len();
            let offset = chunk.start + r.start + lead;
            out.push(Statement {
                number: out.len() + 1,
                line: 1 + text[..offset].matches('\n').count(),
                sql: stmt.trim().to_string(),
            });
        }
    }
    out
}

/// Decides how a migration's statements must run.
pub fn run_mode(dialect: Dialect, statements: &[Statement]) -> RunMode {
    let mut foreign_keys_off = false;
    let opens_inside_transaction = statements
        .iter()
        .map(|st| leading_words(&st.sql, 2))
        .find(|w| {
            matches!(w.first().map(String::as_str), Some("BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"))
        })
        .is_some_and(|w| {
            matches!(w[0].as_str(), "COMMIT" | "END")
                || (w[0] != "BEGIN" && w[0] != "START" && w.get(1).map(String::as_str) != Some("TO"))
        });
    for st in statements {
        let words = leading_words(&st.sql, 4);
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let first = w.first().copied().unwrap_or("");
        let self_managed = match dialect {
            Dialect::Sqlite => match first {
                "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => {
                    Some("it manages its own transactions")
                }
                "VACUUM" | "ATTACH" | "DETACH" => Some("it has a statement that cannot run inside a transaction"),
                _ => None,
            },
            Dialect::Postgres => match first {
                "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Some("it manages its own transactions"),
                "VACUUM" => Some("it has a statement that cannot run inside a transaction"),
                "CREATE" | "DROP" | "REINDEX" if w.contains(&"CONCURRENTLY") => {
                    Some("it has a statement that cannot run inside a transaction (CONCURRENTLY)")
                }
                "CREATE" | "DROP" if matches!(w.get(1), Some(&"DATABASE") | Some(&"TABLESPACE")) => {
                    Some("it has a statement that cannot run inside a transaction")
                }
                "ALTER" if w.get(1) == Some(&"SYSTEM") => {
                    Some("it has a statement that cannot run inside a transaction")
                }
                _ => None,
            },
        };
        if let Some(reason) = self_managed {
            return RunMode::SelfManaged {
                reason: format!("{reason} (statement {}: {})", st.number, first_line(&st.sql)),
                opens_inside_transaction,
            };
        }
        if dialect == Dialect::Sqlite && is_foreign_keys_pragma(&st.sql) {
            foreign_keys_off = true;
        }
    }
    if foreign_keys_off {
        RunMode::TransactionForeignKeysOff
    } else {
        RunMode::Transaction
    }
}

/// Whether a self-managed file ends inside a transaction it opened (its last transaction
/// statement a `BEGIN`), given whether it started inside one.
pub fn leaves_transaction_open(statements: &[Statement], opens_inside_transaction: bool) -> bool {
    statements.iter().fold(opens_inside_transaction, |open, st| {
        let w = leading_words(&st.sql, 2);
        match w.first().map(String::as_str) {
            Some("BEGIN" | "START") => true,
            Some("COMMIT" | "END" | "ABORT") => false,
            Some("ROLLBACK") if w.get(1).map(String::as_str) != Some("TO") => false,
            _ => open,
        }
    })
}

/// How many of the statements before `failed` (1-based) were committed when a self-managed
/// file fails there: those run outside any transaction, and those a `COMMIT` closed. The rest
/// are rolled back with the transaction that was open.
pub fn committed_before(statements: &[Statement], opens_inside_transaction: bool, failed: usize) -> usize {
    let mut open = opens_inside_transaction;
    let (mut committed, mut pending) = (0, 0);
    for st in statements.iter().take(failed.saturating_sub(1)) {
        let w = leading_words(&st.sql, 2);
        match w.first().map(String::as_str) {
            Some("BEGIN" | "START") => open = true,
            Some("COMMIT" | "END") => {
                committed += pending + 1;
                pending = 0;
                open = false;
            }
            Some("ROLLBACK" | "ABORT") if w.get(1).map(String::as_str) != Some("TO") => {
                pending = 0;
                open = false;
            }
            _ if open => pending += 1,
            _ => committed += 1,
        }
    }
    committed
}

/// `PRAGMA foreign_keys = …` (the assignment form, any value).
pub fn is_foreign_keys_pragma(sql: &str) -> bool {
    let words = leading_words(sql, 2);
    words.len() == 2 && words[0] == "PRAGMA" && words[1] == "FOREIGN_KEYS" && sql.contains('=')
}

/// The statement's first line that is not a comment or blank, for messages.
fn first_line(sql: &str) -> String {
    let line = sql.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("--")).unwrap_or("");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(60).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The first `n` words of a statement, upper-cased, skipping whitespace and comments.
pub fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut words = Vec::new();
    while i < b.len() && words.len() < n {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_line_comment(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_uppercase());
            }
            c if c.is_ascii_whitespace() || c == b'=' => i += 1,
            _ => break,
        }
    }
    words
}

/// True when the text holds nothing but whitespace, comments and semicolons.
pub fn is_blank(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_line_comment(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i),
            c if c.is_ascii_whitespace() || c == b';' => i += 1,
            _ => return false,
        }
    }
    true
}

fn skip_line_comment(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| i + p + 1)
}

/// Skips a `/* */` comment, nested as PostgreSQL nests them.
fn skip_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// Splits with SQLite's own notion of a complete statement (`sqlite3_complete`), which knows
/// strings, comments and `CREATE TRIGGER … BEGIN … END` bodies.
fn split_sqlite(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (pos, _) in text.match_indices(';') {
        if pos < start {
            continue;
        }
        let candidate = &text[start..=pos];
        let complete = match CString::new(candidate) {
            // SAFETY: sqlite3_complete reads a NUL-terminated string and keeps no pointer.
            Ok(c) => unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 },
            Err(_) => false,
        };
        if complete {
            out.push(start..pos + 1);
            start = pos + 1;
        }
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// Splits PostgreSQL text on top-level semicolons.
fn split_postgres(text: &str) -> Vec<Range<usize>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    // Words of the current statement (the first few), to recognise routine bodies.
    let mut first_words: Vec<String> = Vec::new();
    let mut prev_word = String::new();
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_line_comment(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i),
            b'\'' => {
                let escapes = i > 0
                    && matches!(b[i - 1], b'E' | b'e')
                    && (i < 2 || !(b[i - 2].is_ascii_alphanumeric() || b[i - 2] == b'_'));
                i = skip_quoted(b, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(b, i, b'"', false),
            b'$' => {
                let preceded_by_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
                match dollar_tag(b, i) {
                    Some(tag_end) if !preceded_by_ident => {
                        let tag = &text[i..tag_end];
                        i = text[tag_end..].find(tag).map_or(b.len(), |p| tag_end + p + tag.len());
                    }
                    _ => i += 1,
                }
            }
            b';' if depth == 0 => {
                out.push(start..i + 1);
                start = i + 1;
                i += 1;
                first_words.clear();
                prev_word.clear();
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                    i += 1;
                }
                let word = text[s..i].to_ascii_uppercase();
                if first_words.len() < 5 {
                    first_words.push(word.clone());
                }
                let in_routine = first_words.first().map(String::as_str) == Some("CREATE")
                    && first_words.iter().any(|w| w == "FUNCTION" || w == "PROCEDURE");
                if in_routine {
                    let opens = (word == "ATOMIC" && prev_word == "BEGIN") || (word == "CASE" && depth > 0);
                    if opens {
                        depth += 1;
                    } else if word == "END" && depth > 0 {
                        depth -= 1;
                    }
                }
                prev_word = word;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        out.push(start..b.len());
    }
    out
}

/// Skips a quoted string or identifier starting at `i`; doubled quotes escape, and in `E''`
/// strings so does a backslash.
fn skip_quoted(b: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> usize {
    i += 1;
    while i < b.len() {
        if backslash_escapes && b[i] == b'\\' {
            i += 2;
        } else if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// If a dollar-quote opener (`$$` or `$tag$`) starts at `i`, returns the index after it.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < b.len() && (b[j].is_ascii_digit()) {
        return None; // $1: a parameter, not a quote
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    (j < b.len() && b[j] == b'$').then_some(j + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(d: Dialect, text: &str) -> Vec<String> {
        split(d, text).into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn breakpoints_and_empty_chunks() {
        let text = "CREATE TABLE a (x int);\n--> statement-breakpoint\n\n--> statement-breakpoint\n-- only a comment\n--> statement-breakpoint\nCREATE INDEX i ON a (x);";
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let st = split(d, text);
            assert_eq!(st.len(), 2);
            assert_eq!(st[0].number, 1);
            assert_eq!(st[1].number, 2);
            assert_eq!(st[1].line, 7);
            assert_eq!(st[1].sql, "CREATE INDEX i ON a (x);");
        }
    }

    #[test]
    fn semicolons_in_strings_and_comments() {
        let text =
            "INSERT INTO t VALUES ('a;b', \"c;d\"); -- x; y\nINSERT INTO t VALUES ('it''s;');\n/* ; */ SELECT 1;";
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            assert_eq!(sqls(d, text).len(), 3, "{d}");
        }
    }

    #[test]
    fn sqlite_triggers_stay_whole() {
        let text = "CREATE TRIGGER tr AFTER INSERT ON a BEGIN\n  UPDATE b SET n = n + 1;\n  INSERT INTO c VALUES (CASE WHEN 1 THEN 'x;' END);\nEND;\nSELECT 1;";
        let st = sqls(Dialect::Sqlite, text);
        assert_eq!(st.len(), 2, "{st:?}");
        assert!(st[0].ends_with("END;"));
    }

    #[test]
    fn postgres_dollar_quotes_and_escapes() {
        let text = "DO $$ BEGIN\n CREATE TYPE s AS ENUM ('a'); EXCEPTION WHEN duplicate_object THEN null; END $$;\n\
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
            SELECT E'it\\'s;', $1;\n\
            /* nested /* ; */ ; */ SELECT 2;\n\
            CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\n\
            SELECT a$b FROM x;";
        let st = sqls(Dialect::Postgres, text);
        assert_eq!(st.len(), 6, "{st:#?}");
        assert!(st[0].starts_with("DO $$") && st[0].ends_with("END $$;"));
        assert!(st[4].starts_with("CREATE FUNCTION g") && st[4].ends_with("END;"));
    }

    #[test]
    fn crlf_and_bom() {
        let text = "\u{feff}CREATE TABLE a (x int);\r\n--> statement-breakpoint\r\nCREATE TABLE b (y int);\r\n";
        let st = split(Dialect::Sqlite, text);
        assert_eq!(st.len(), 2);
        assert_eq!(st[1].line, 3);
    }

    #[test]
    fn run_modes() {
        let plain = split(Dialect::Sqlite, "CREATE TABLE a (x);");
        assert_eq!(run_mode(Dialect::Sqlite, &plain), RunMode::Transaction);
        let rebuild = split(Dialect::Sqlite, "PRAGMA foreign_keys=OFF;--> statement-breakpoint\nDROP TABLE a;--> statement-breakpoint\nPRAGMA foreign_keys=ON;");
        assert_eq!(run_mode(Dialect::Sqlite, &rebuild), RunMode::TransactionForeignKeysOff);
        let own = split(Dialect::Sqlite, "COMMIT;\nPRAGMA foreign_keys=OFF;\nBEGIN;\nDROP TABLE a;\nCOMMIT;");
        assert!(matches!(run_mode(Dialect::Sqlite, &own), RunMode::SelfManaged { .. }));
        let trig = split(Dialect::Sqlite, "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; END;");
        assert_eq!(run_mode(Dialect::Sqlite, &trig), RunMode::Transaction);
        let conc = split(Dialect::Postgres, "CREATE UNIQUE INDEX CONCURRENTLY i ON a (x);");
        assert!(matches!(run_mode(Dialect::Postgres, &conc), RunMode::SelfManaged { .. }));
        let doblock = split(Dialect::Postgres, "DO $$ BEGIN PERFORM 1; COMMIT; END $$;");
        assert_eq!(run_mode(Dialect::Postgres, &doblock), RunMode::Transaction);
        let enum_add = split(Dialect::Postgres, "ALTER TYPE s ADD VALUE 'b';");
        assert_eq!(run_mode(Dialect::Postgres, &enum_add), RunMode::Transaction);
    }

    #[test]
    fn what_a_failing_self_managed_file_committed() {
        let st = split(Dialect::Postgres, "BEGIN; CREATE TABLE a (x int); INSERT INTO a VALUES (1); COMMIT;");
        assert_eq!(committed_before(&st, false, 3), 0);
        let st = split(Dialect::Sqlite, "COMMIT; CREATE TABLE a (x); BEGIN; CREATE TABLE b (x); bad;");
        assert_eq!(committed_before(&st, true, 5), 2);
        let st = split(
            Dialect::Postgres,
            "CREATE INDEX CONCURRENTLY i ON a (x); CREATE INDEX CONCURRENTLY j ON a (y); bad;",
        );
        assert_eq!(committed_before(&st, false, 3), 2);
    }

    #[test]
    fn leading_words_skip_comments() {
        assert_eq!(leading_words("-- hi\n/* x */ pragma  foreign_keys = off", 3), ["PRAGMA", "FOREIGN_KEYS", "OFF"]);
        assert!(is_foreign_keys_pragma("PRAGMA foreign_keys=OFF;"));
        assert!(!is_foreign_keys_pragma("PRAGMA foreign_keys;"));
        assert!(is_blank(" -- x\n /* y */ ;\n"));
    }
}
