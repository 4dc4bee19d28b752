//! Drizzle Kit migration folders: `meta/_journal.json` plus one `<tag>.sql` per entry.
//!
//! Loading never fails on a journal that parses: problems (duplicate idx or tag, idx not
//! increasing, an entry without a file, `.sql` files the journal does not list) are collected
//! so that `status` can show all of them at once and `migrate` can refuse with the full list.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::DbError;
use crate::regular_file::{read_regular, ReadError};

/// The largest journal we read: 64 MiB holds about half a million entries.
pub const JOURNAL_LIMIT: u64 = 64 << 20;
/// The largest migration file we read (data migrations can be big; nothing real is near this).
pub const MIGRATION_LIMIT: u64 = 1 << 30;

pub use crate::dialect::Dialect;

#[derive(Deserialize)]
struct RawJournal {
    version: serde_json::Value,
    dialect: String,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    idx: i64,
    when: i64,
    tag: String,
    #[serde(default)]
    breakpoints: Option<bool>,
}

/// One journal entry and, when present, its file.
#[derive(Clone, Debug)]
pub struct Migration {
    pub idx: i64,
    pub tag: String,
    /// Drizzle's `folderMillis`: what drizzle-orm stores as `created_at`.
    pub when: i64,
    pub breakpoints: bool,
    pub file: Option<MigrationFile>,
}

/// A migration file's text and hashes.
#[derive(Clone, Debug)]
pub struct MigrationFile {
    pub path: PathBuf,
    pub sql: String,
    /// Lowercase hex SHA-256 of the file's bytes: drizzle-orm's `hash`.
    pub hash: String,
    /// Hashes of the same text with LF and with CRLF line endings, to tell a line-ending-only
    /// change from a real edit.
    pub hash_lf: String,
    pub hash_crlf: String,
}

impl MigrationFile {
    pub fn from_bytes(path: PathBuf, bytes: Vec<u8>) -> Result<MigrationFile, DbError> {
        let hash = sha256_hex(&bytes);
        let sql = String::from_utf8(bytes).map_err(|e| DbError::Migrations {
            path: path.clone(),
            message: format!("is not valid UTF-8 ({e}); save it as UTF-8"),
        })?;
        let lf = sql.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        Ok(MigrationFile {
            path,
            hash_lf: sha256_hex(lf.as_bytes()),
            hash_crlf: sha256_hex(crlf.as_bytes()),
            hash,
            sql,
        })
    }

    /// True when `hash` is this file's text with other line endings.
    pub fn matches_modulo_line_endings(&self, hash: &str) -> bool {
        hash == self.hash_lf || hash == self.hash_crlf
    }
}

/// What is wrong with a journal (beyond not parsing at all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JournalProblem {
    DuplicateIdx {
        idx: i64,
    },
    DuplicateTag {
        tag: String,
    },
    IdxNotIncreasing {
        tag: String,
        idx: i64,
        previous: i64,
    },
    FileMissing {
        tag: String,
        file: String,
    },
    UnlistedFile {
        file: String,
    },
    BadTag {
        tag: String,
    },
    /// SQLite's C API stops at a NUL byte: the rest of the statement would silently not run.
    NulByte {
        file: String,
        offset: usize,
    },
}

impl fmt::Display for JournalProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalProblem::DuplicateIdx { idx } => {
                write!(f, "journal lists idx {idx} more than once")
            }
            JournalProblem::DuplicateTag { tag } => {
                write!(f, "journal lists tag {} more than once", printable(tag))
            }
            JournalProblem::IdxNotIncreasing { tag, idx, previous } => {
                write!(
                    f,
                    "journal entry {} has idx {idx}, not greater than the previous entry's {previous}",
                    printable(tag)
                )
            }
            JournalProblem::FileMissing { tag, file } => {
                write!(f, "journal entry {tag} has no file: {file} does not exist (restore it from version control)")
            }
            JournalProblem::UnlistedFile { file } => {
                write!(f, "{file} is not listed in meta/_journal.json and will never run (add it to the journal or delete it)")
            }
            JournalProblem::BadTag { tag } => {
                write!(f, "journal tag {tag:?} is not a plain file name")
            }
            JournalProblem::NulByte { file, offset } => write!(
                f,
                "{file} contains a NUL byte at byte offset {offset}; the database would silently ignore everything after it; remove the byte (an editor or a bad merge left it) and run again"
            ),
        }
    }
}

/// A loaded migrations folder.
#[derive(Clone, Debug)]
pub struct MigrationSet {
    pub dir: PathBuf,
    pub dialect: Dialect,
    pub journal_version: String,
    pub migrations: Vec<Migration>,
    pub problems: Vec<JournalProblem>,
}

impl MigrationSet {
    /// Reads `dir/meta/_journal.json` and every file it lists.
    pub fn load(dir: &Path) -> Result<MigrationSet, DbError> {
        if !dir.is_dir() {
            return Err(DbError::Migrations {
                path: dir.to_path_buf(),
                message: "does not exist or is not a directory; pass --migrations DIR pointing at a Drizzle migrations folder".into(),
            });
        }
        let journal_path = dir.join("meta").join("_journal.json");
        let bytes = read_regular(&journal_path, JOURNAL_LIMIT, "journal").map_err(|e| DbError::Migrations {
            path: journal_path.clone(),
            message: format!("cannot be read ({e}); a Drizzle migrations folder has meta/_journal.json"),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| DbError::Migrations {
            path: journal_path.clone(),
            message: format!("is not valid UTF-8 ({e}); a Drizzle journal is JSON"),
        })?;
        let raw: RawJournal = serde_json::from_str(&text).map_err(|e| DbError::Migrations {
            path: journal_path.clone(),
            message: format!("is not a valid Drizzle journal: {e}"),
        })?;
        let dialect = Dialect::from_journal(&raw.dialect).ok_or_else(|| DbError::Migrations {
            path: journal_path.clone(),
            message: format!("has dialect {:?}; only sqlite and postgresql (pg) are supported", raw.dialect),
        })?;
        let journal_version = match &raw.version {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };

        let mut problems = Vec::new();
        let mut seen_idx = HashSet::new();
        let mut seen_tag = HashSet::new();
        let mut previous: Option<i64> = None;
        let mut migrations = Vec::with_capacity(raw.entries.len());
        for entry in raw.entries {
            if !seen_idx.insert(entry.idx) {
                problems.push(JournalProblem::DuplicateIdx { idx: entry.idx });
            }
            if !seen_tag.insert(entry.tag.clone()) {
                problems.push(JournalProblem::DuplicateTag { tag: entry.tag.clone() });
            }
            if let Some(prev) = previous {
                if entry.idx <= prev {
                    problems.push(JournalProblem::IdxNotIncreasing {
                        tag: entry.tag.clone(),
                        idx: entry.idx,
                        previous: prev,
                    });
                }
            }
            previous = Some(entry.idx);
            let file = if is_plain_file_name(&entry.tag) {
                let path = dir.join(format!("{}.sql", entry.tag));
                match read_regular(&path, MIGRATION_LIMIT, "migration") {
                    Ok(bytes) => {
                        if let Some(offset) = bytes.iter().position(|&b| b == 0) {
                            problems.push(JournalProblem::NulByte { file: format!("{}.sql", entry.tag), offset });
                        }
                        Some(MigrationFile::from_bytes(path, bytes)?)
                    }
                    Err(ReadError::NotFound(_)) => {
                        problems.push(JournalProblem::FileMissing {
                            tag: entry.tag.clone(),
                            file: format!("{}.sql", entry.tag),
                        });
                        None
                    }
                    Err(e) => {
                        return Err(DbError::Migrations { path, message: format!("cannot be read: {e}") });
                    }
                }
            } else {
                problems.push(JournalProblem::BadTag { tag: entry.tag.clone() });
                None
            };
            migrations.push(Migration {
                idx: entry.idx,
                tag: entry.tag,
                when: entry.when,
                breakpoints: entry.breakpoints.unwrap_or(true),
                file,
            });
        }

        let mut unlisted = Vec::new();
        let listing = fs::read_dir(dir)
            .map_err(|e| DbError::Migrations { path: dir.to_path_buf(), message: format!("cannot be listed: {e}") })?;
        for item in listing {
            let item = item.map_err(|e| DbError::Migrations {
                path: dir.to_path_buf(),
                message: format!("cannot be listed: {e}"),
            })?;
            let name = item.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".sql") {
                // `<tag>.down.sql` belongs to migration <tag> (what `rollback` runs to undo
                // it); drizzle-orm reads only the files the journal lists, so it ignores it.
                let down_of_listed = stem.strip_suffix(".down").is_some_and(|tag| seen_tag.contains(tag));
                if !seen_tag.contains(stem) && !down_of_listed {
                    unlisted.push(name);
                }
            }
        }
        unlisted.sort();
        problems.extend(unlisted.into_iter().map(|file| JournalProblem::UnlistedFile { file }));

        Ok(MigrationSet { dir: dir.to_path_buf(), dialect, journal_version, migrations, problems })
    }

    /// `.sql` files in the folder that the journal does not list: they never run.
    pub fn unlisted_files(&self) -> impl Iterator<Item = &str> {
        self.problems.iter().filter_map(|p| match p {
            JournalProblem::UnlistedFile { file } => Some(file.as_str()),
            _ => None,
        })
    }

    /// Errors when the folder is for another dialect than the database.
    pub fn expect_dialect(&self, dialect: Dialect) -> Result<(), DbError> {
        if self.dialect == dialect {
            return Ok(());
        }
        Err(DbError::Migrations {
            path: self.dir.join("meta/_journal.json"),
            message: format!(
                "is a {} journal but DATABASE_URL is a {} database; point --migrations at {} or change DATABASE_URL",
                self.dialect,
                dialect,
                dialect.default_folder()
            ),
        })
    }
}

fn is_plain_file_name(tag: &str) -> bool {
    !tag.is_empty() && tag != "." && tag != ".." && !tag.contains(['/', '\\']) && !tag.chars().any(char::is_control)
}

/// Text from a file or a database, safe to print: control characters escaped (a NUL or an
/// escape sequence in a journal tag must not reach the terminal raw).
pub fn printable(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.escape_default().to_string()
    } else {
        s.to_string()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(journal: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("meta")).unwrap();
        fs::write(dir.path().join("meta/_journal.json"), journal).unwrap();
        for (name, body) in files {
            fs::write(dir.path().join(name), body).unwrap();
        }
        dir
    }

    #[test]
    fn reads_versions_and_dialect_spellings() {
        for (version, dialect, expected) in
            [("5", "pg", Dialect::Postgres), ("6", "sqlite", Dialect::Sqlite), ("7", "postgresql", Dialect::Postgres)]
        {
            let j = format!(
                r#"{{"version":"{version}","dialect":"{dialect}","entries":[{{"idx":0,"version":"{version}","when":1,"tag":"0000_a","breakpoints":true}}]}}"#
            );
            let dir = folder(&j, &[("0000_a.sql", "select 1;")]);
            let set = MigrationSet::load(dir.path()).unwrap();
            assert_eq!(set.dialect, expected);
            assert_eq!(set.journal_version, version);
            assert!(set.problems.is_empty(), "{:?}", set.problems);
        }
    }

    #[test]
    fn collects_problems() {
        let j = r#"{"version":"7","dialect":"sqlite","entries":[
            {"idx":0,"when":1,"tag":"0000_a","breakpoints":true},
            {"idx":0,"when":2,"tag":"0001_b","breakpoints":true},
            {"idx":2,"when":3,"tag":"0001_b","breakpoints":true},
            {"idx":3,"when":4,"tag":"0003_gone","breakpoints":true}]}"#;
        let dir = folder(j, &[("0000_a.sql", "x"), ("0001_b.sql", "y"), ("0009_stray.sql", "z")]);
        let set = MigrationSet::load(dir.path()).unwrap();
        assert!(set.problems.contains(&JournalProblem::DuplicateIdx { idx: 0 }));
        assert!(set.problems.contains(&JournalProblem::DuplicateTag { tag: "0001_b".into() }));
        assert!(set.problems.contains(&JournalProblem::IdxNotIncreasing { tag: "0001_b".into(), idx: 0, previous: 0 }));
        assert!(set
            .problems
            .contains(&JournalProblem::FileMissing { tag: "0003_gone".into(), file: "0003_gone.sql".into() }));
        assert!(set.problems.contains(&JournalProblem::UnlistedFile { file: "0009_stray.sql".into() }));
    }

    #[test]
    fn a_down_file_belongs_to_its_migration() {
        let j =
            r#"{"version":"7","dialect":"sqlite","entries":[{"idx":0,"when":1,"tag":"0000_a","breakpoints":true}]}"#;
        let dir = folder(j, &[("0000_a.sql", "x"), ("0000_a.down.sql", "y"), ("0001_gone.down.sql", "z")]);
        let set = MigrationSet::load(dir.path()).unwrap();
        // Only the down file of a migration the journal does not list is a stray file.
        assert_eq!(set.problems, vec![JournalProblem::UnlistedFile { file: "0001_gone.down.sql".into() }]);
    }

    #[test]
    fn malformed_and_missing_journals_are_errors() {
        let dir = folder("{not json", &[]);
        let err = MigrationSet::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("_journal.json") && err.contains("not a valid Drizzle journal"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = MigrationSet::load(empty.path()).unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
        let err = MigrationSet::load(&empty.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        let dir = folder(r#"{"version":"7","dialect":"mysql","entries":[]}"#, &[]);
        assert!(MigrationSet::load(dir.path()).unwrap_err().to_string().contains("mysql"));
    }

    #[test]
    fn nul_bytes_are_a_problem_with_their_offset() {
        let j =
            r#"{"version":"7","dialect":"sqlite","entries":[{"idx":0,"when":1,"tag":"0000_a","breakpoints":true}]}"#;
        let dir = folder(j, &[("0000_a.sql", "CREATE TABLE a (x);\0DROP TABLE a;")]);
        let set = MigrationSet::load(dir.path()).unwrap();
        assert_eq!(set.problems, vec![JournalProblem::NulByte { file: "0000_a.sql".into(), offset: 19 }]);
        let text = set.problems[0].to_string();
        assert!(text.contains("0000_a.sql") && text.contains("offset 19"), "{text}");
    }

    #[test]
    fn hostile_tags_are_not_read() {
        let dir = folder(
            r#"{"version":"7","dialect":"sqlite","entries":[{"idx":0,"when":1,"tag":"../x","breakpoints":true}]}"#,
            &[],
        );
        let set = MigrationSet::load(dir.path()).unwrap();
        assert_eq!(set.problems, vec![JournalProblem::BadTag { tag: "../x".into() }]);
    }

    #[test]
    fn line_ending_hashes() {
        let a = MigrationFile::from_bytes("a".into(), b"x;\ny;\n".to_vec()).unwrap();
        let b = MigrationFile::from_bytes("b".into(), b"x;\r\ny;\r\n".to_vec()).unwrap();
        assert_ne!(a.hash, b.hash);
        assert!(a.matches_modulo_line_endings(&b.hash));
        assert!(b.matches_modulo_line_endings(&a.hash));
        let c = MigrationFile::from_bytes("c".into(), b"x;\ny;\nz;\n".to_vec()).unwrap();
        assert!(!c.matches_modulo_line_endings(&a.hash));
        assert_eq!(a.hash, sha256_hex(b"x;\ny;\n"));
    }
}
