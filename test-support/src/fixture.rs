//! Drizzle Kit migration folders for tests: written from `(tag, when, sql)` triples, or copied
//! from the project's folders with the journal cut short.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

/// The project's own migrations folder for `dialect` (`"sqlite"` or `"postgresql"`).
pub fn project_migrations(dialect: &str) -> PathBuf {
    crate::project_root().join("migrations").join(dialect)
}

/// Writes a Drizzle Kit migrations folder into `dir`: `meta/_journal.json` (`{version,
/// dialect, entries: [{idx, version, when, tag, breakpoints: true}]}`) and one `<tag>.sql` per
/// entry holding exactly the given text (CRLF stays CRLF). `.sql` files already in `dir` are
/// removed first, so the folder can be rewritten to simulate a merge or an edit.
pub fn write_folder(dir: &Path, dialect: &str, version: &str, entries: &[(&str, i64, &str)]) {
    fs::create_dir_all(dir.join("meta")).expect("create the migrations folder");
    for old in sql_files(dir) {
        fs::remove_file(&old).expect("remove an old migration file");
    }
    let journal = json!({
        "version": version,
        "dialect": dialect,
        "entries": entries
            .iter()
            .enumerate()
            .map(|(idx, (tag, when, _))| json!({
                "idx": idx,
                "version": version,
                "when": when,
                "tag": tag,
                "breakpoints": true,
            }))
            .collect::<Vec<_>>(),
    });
    write_journal(dir, &journal);
    for (tag, _, sql) in entries {
        fs::write(dir.join(format!("{tag}.sql")), sql).expect("write a migration file");
    }
}

/// [`write_folder`] into a new temporary folder.
pub fn folder(dialect: &str, version: &str, entries: &[(&str, i64, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("create a temp dir");
    write_folder(dir.path(), dialect, version, entries);
    dir
}

/// A copy of the migrations folder `src` whose journal keeps only its first `keep` entries
/// (everything else in the journal as it was), with only those entries' files.
pub fn copy_truncated(src: &Path, keep: usize) -> TempDir {
    let dir = tempfile::tempdir().expect("create a temp dir");
    fs::create_dir_all(dir.path().join("meta")).expect("create meta/");
    let mut journal = read_journal(src);
    let entries = journal["entries"].as_array_mut().expect("the journal has entries");
    assert!(entries.len() >= keep, "{} has {} entries, fewer than {keep}", src.display(), entries.len());
    entries.truncate(keep);
    for e in entries.iter() {
        let file = format!("{}.sql", e["tag"].as_str().expect("an entry has a tag"));
        fs::copy(src.join(&file), dir.path().join(&file)).unwrap_or_else(|err| panic!("copy {file}: {err}"));
    }
    write_journal(dir.path(), &journal);
    dir
}

/// The journal's entries as `(tag, when)`, in journal order.
pub fn journal_entries(dir: &Path) -> Vec<(String, i64)> {
    read_journal(dir)["entries"]
        .as_array()
        .expect("the journal has entries")
        .iter()
        .map(|e| (e["tag"].as_str().expect("tag").to_string(), e["when"].as_i64().expect("when")))
        .collect()
}

/// The bookkeeping rows drizzle-orm writes for the folder, in journal order: `(sha256 of the
/// file's bytes, when as a decimal string)`.
pub fn expected_rows(dir: &Path) -> Vec<(String, String)> {
    journal_entries(dir)
        .into_iter()
        .map(|(tag, when)| {
            let bytes = fs::read(dir.join(format!("{tag}.sql"))).unwrap_or_else(|e| panic!("read {tag}.sql: {e}"));
            (crate::sha256_hex(&bytes), when.to_string())
        })
        .collect()
}

fn read_journal(dir: &Path) -> Value {
    let path = dir.join("meta/_journal.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn write_journal(dir: &Path, journal: &Value) {
    let text = serde_json::to_string_pretty(journal).expect("serialize the journal");
    fs::write(dir.join("meta/_journal.json"), text + "\n").expect("write the journal");
}

fn sql_files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "sql")).collect()
        })
        .unwrap_or_default()
}

/// The names of the files in `dir` that do not start with a dot (no temp files, locks or
/// `.gitkeep`), sorted.
pub fn visible_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_truncates() {
        let dir = folder("sqlite", "7", &[("0000_a", 1, "A;"), ("0001_b", 2, "B;\r\n")]);
        assert_eq!(journal_entries(dir.path()), [("0000_a".to_string(), 1), ("0001_b".to_string(), 2)]);
        assert_eq!(fs::read(dir.path().join("0001_b.sql")).unwrap(), b"B;\r\n");
        let cut = copy_truncated(dir.path(), 1);
        assert_eq!(journal_entries(cut.path()).len(), 1);
        assert!(!cut.path().join("0001_b.sql").exists());
        assert_eq!(expected_rows(cut.path()), [(crate::sha256_hex(b"A;"), "1".to_string())]);
        write_folder(dir.path(), "sqlite", "7", &[("0000_z", 5, "Z;")]);
        assert!(!dir.path().join("0000_a.sql").exists());
    }
}
