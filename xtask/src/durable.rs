//! Writes that survive a crash, in one place: a file's new bytes go to a temp file in the same
//! folder (tempfile), are fsynced, and are renamed over the target (`persist`), then the folder
//! is fsynced. A run killed half-way leaves the old file and at most a temp file, never a
//! partial file under the real name. Used by generate (journal and `.sql`), restore's record,
//! backups and seed-images.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use tempfile::NamedTempFile;

/// fsync of a folder: the renames and removals in it are on disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing the folder {}", dir.display()))
}

/// A temp file in `dir` whose name starts with `prefix` (and ends with `suffix`), holding
/// `bytes`, fsynced: ready to `persist` (or `persist_noclobber`) over the real name. Dropped
/// without that, it is removed.
pub fn staged(dir: &Path, prefix: &str, suffix: &str, bytes: &[u8]) -> Result<NamedTempFile> {
    let mut tmp = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {} (is it writable?)", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.as_file().sync_all().with_context(|| format!("syncing {}", tmp.path().display()))?;
    Ok(tmp)
}

/// Puts a [`staged`] file in place of `path` (replacing what is there), then syncs the folder.
pub fn persist(tmp: NamedTempFile, path: &Path) -> Result<()> {
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(folder_of(path))
}

/// `path` now holds `bytes`, or (on any error) what it held before. The temp file's name
/// starts with `prefix`, so a killed run's is recognised.
pub fn replace(path: &Path, prefix: &str, bytes: &[u8]) -> Result<()> {
    persist(staged(folder_of(path), prefix, ".tmp", bytes)?, path)
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn replace_writes_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        replace(&path, ".a-", b"one").unwrap();
        replace(&path, ".a-", b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.json"]);
    }

    #[test]
    fn a_failed_replace_keeps_the_old_file_and_removes_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), b"k").unwrap();
        assert!(replace(&path, ".a-", b"x").is_err());
        assert_eq!(names(dir.path()), ["a"]);
        assert_eq!(std::fs::read(path.join("keep")).unwrap(), b"k");
    }

    #[test]
    fn a_staged_file_dropped_unpersisted_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = staged(dir.path(), ".p-", ".tmp", b"abc").unwrap();
        let name = tmp.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".p-") && name.ends_with(".tmp"), "{name}");
        assert_eq!(std::fs::read(tmp.path()).unwrap(), b"abc");
        drop(tmp);
        assert!(names(dir.path()).is_empty());
    }
}
