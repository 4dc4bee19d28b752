//! What `backup` and `restore` leave in a project's folders, as the tests look at it: the
//! archives, the temp files of killed runs, and `uploads/` file by file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The archives in `dir` (`*.tar.gz`, `*.tar.zst`, not hidden), oldest first (their names
/// start with the time they were taken). Empty when `dir` does not exist.
pub fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| is_archive(p)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn is_archive(p: &Path) -> bool {
    let n = p.file_name().unwrap().to_string_lossy();
    !n.starts_with('.') && (n.ends_with(".tar.gz") || n.ends_with(".tar.zst"))
}

/// The names in `dir` that are temp files of a run (`.NAME.tmp-PID-…`), sorted. Empty when
/// `dir` does not exist.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".tmp-"))
        .collect();
    v.sort();
    v
}

/// Every file and folder under `<root>/uploads` by its path there: a file with the SHA-256 of
/// its bytes, a folder (`name/`) with `dir`. Empty when there is no `uploads/`.
pub fn uploads(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{name}/"), "dir".into());
                walk(&e.path(), &format!("{name}/"), out);
            } else {
                out.insert(name, crate::sha256_hex(&fs::read(e.path()).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root.join("uploads"), "", &mut out);
    out
}
