//! Writing a file into `uploads/images` atomically ([`crate::durable`]: a temporary name in the
//! same folder, write, fsync, rename over the final name, fsync the folder). An interrupted run leaves at most a
//! temporary file (a dot name that no manifest name can take), never a partial file under the
//! final name; on any error the temporary file is removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};

use super::manifest::validate_file_name;
use crate::durable;

/// Temporary files start with this; manifest names cannot start with a dot.
const TEMP_PREFIX: &str = ".seed-images-";

/// The final path of `name` inside `dir`, refusing anything that could leave `dir`.
pub fn final_path(dir: &Path, name: &str) -> Result<PathBuf> {
    if let Err(e) = validate_file_name(name) {
        bail!("refusing the file name {name:?}: {e}");
    }
    Ok(dir.join(name))
}

/// Writes `bytes` as `dir/name` atomically.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    write_atomic_then(dir, name, bytes, |_| Ok(()))
}

/// [`write_atomic`], calling `before_rename` with the temporary file's path once it is written
/// and fsynced, just before the rename (where a test stops the write).
fn write_atomic_then(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    before_rename: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let target = final_path(dir, name)?;
    let tmp = durable::staged(dir, &format!("{TEMP_PREFIX}{}-", std::process::id()), &format!(".{name}.tmp"), bytes)?;
    before_rename(tmp.path())?;
    durable::persist(tmp, &target)?;
    Ok(target)
}

/// Removes temporary files that a killed run left behind (older than `age`, so that another run
/// at work right now keeps its own).
pub fn remove_stale_temp_files(dir: &Path, age: Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or(Duration::ZERO) >= age);
        if name.to_string_lossy().starts_with(TEMP_PREFIX) && stale && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn writes_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.jpg", b"one").unwrap();
        write_atomic(dir.path(), "a.jpg", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.jpg")).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["a.jpg"]);
    }

    #[test]
    fn refuses_hostile_names_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("images");
        fs::create_dir(&inner).unwrap();
        for bad in ["../a.jpg", "x/../../a.jpg", "/etc/a.jpg", ".a.jpg"] {
            assert!(write_atomic(&inner, bad, b"x").is_err(), "{bad}");
        }
        assert_eq!(names(dir.path()), ["images"]);
        assert!(names(&inner).is_empty());
    }

    #[test]
    fn a_write_stopped_before_the_rename_leaves_the_final_name_as_it_was() {
        for previous in [None, Some(&b"the previous image"[..])] {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("a.jpg");
            if let Some(p) = previous {
                fs::write(&target, p).unwrap();
            }
            let new = vec![7u8; 200_000];
            let e = write_atomic_then(dir.path(), "a.jpg", &new, |temp| {
                // The whole body is in the temporary file; the final name is untouched.
                assert_eq!(fs::read(temp).unwrap(), new);
                assert!(temp.file_name().unwrap().to_string_lossy().starts_with(TEMP_PREFIX));
                assert_eq!(fs::read(&target).ok().as_deref(), previous);
                anyhow::bail!("interrupted before the rename")
            })
            .unwrap_err();
            assert!(format!("{e:#}").contains("interrupted"), "{e:#}");
            assert_eq!(fs::read(&target).ok().as_deref(), previous, "the final name is as it was");
            let expected: Vec<&str> = previous.map(|_| "a.jpg").into_iter().collect();
            assert_eq!(names(dir.path()), expected, "no temporary file left");
        }
    }

    #[test]
    fn a_failed_rename_removes_the_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a.jpg")).unwrap();
        fs::write(dir.path().join("a.jpg/keep"), b"k").unwrap();
        assert!(write_atomic(dir.path(), "a.jpg", b"x").is_err());
        assert_eq!(names(dir.path()), ["a.jpg"]);
    }

    #[test]
    fn removes_only_stale_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".seed-images-1-00.a.jpg.tmp"), b"x").unwrap();
        fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        assert_eq!(remove_stale_temp_files(dir.path(), Duration::from_secs(3600)), 0);
        assert_eq!(remove_stale_temp_files(dir.path(), Duration::ZERO), 1);
        assert_eq!(names(dir.path()), ["a.jpg"]);
    }
}
