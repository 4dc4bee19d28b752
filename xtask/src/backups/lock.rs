//! One backup (or prune, or restore) at a time: an advisory lock on `<backups>/.backup.lock`,
//! released by the kernel when the process ends however it ends. A second run fails at once
//! with [`LOCK_HELD_EXIT`], or waits up to `--wait SECS`.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

/// The exit code when another run holds the lock (documented in the README).
pub const LOCK_HELD_EXIT: u8 = 3;
pub const LOCK_FILE: &str = ".backup.lock";

/// Held while alive.
pub struct BackupLock {
    _file: File,
}

/// Another run holds the lock.
#[derive(Debug)]
pub struct LockHeld {
    pub path: PathBuf,
    pub holder: String,
    pub waited: Duration,
}

impl std::fmt::Display for LockHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another backup or restore is running ({}; lock {}){}; this run did nothing. Try again later, or pass --wait SECS to wait for it",
            self.holder,
            self.path.display(),
            if self.waited.is_zero() { String::new() } else { format!(" after waiting {} s", self.waited.as_secs()) }
        )
    }
}

impl std::error::Error for LockHeld {}

/// Takes the lock in `dir`, polling for up to `wait`.
pub fn acquire(dir: &Path, wait: Duration) -> Result<BackupLock> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder =
                    if holder.trim().is_empty() { "pid unknown".to_string() } else { holder.trim().to_string() };
                return Err(LockHeld { path, holder, waited: started.elapsed() }.into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    // Who holds it, for the next run's message.
    let _ = file.set_len(0);
    let _ = write!(file, "pid {} since {}", std::process::id(), chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ"));
    Ok(BackupLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_then_waits() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), Duration::ZERO).unwrap();
        let err = acquire(dir.path(), Duration::ZERO).err().unwrap();
        let held = err.downcast_ref::<LockHeld>().expect("a LockHeld error");
        assert!(held.holder.contains(&format!("pid {}", std::process::id())), "{}", held.holder);
        assert!(err.to_string().contains("--wait"));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        acquire(dir.path(), Duration::from_secs(10)).expect("waits until the first is released");
        t.join().unwrap();
    }
}
