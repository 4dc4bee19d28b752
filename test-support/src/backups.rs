//! What `backup` and `restore` leave in a project's folders, as the tests look at it: the
//! archives, the temp files of killed runs, and `uploads/` file by file; and a writer that keeps
//! committing while a backup runs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::process::{wait_until, DEADLINE};

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

/// A thread that commits numbered rows, 1, 2, 3…, one `insert(n)` each, until it is stopped:
/// the load a backup must not stop, and whose committed prefix a restore must give back whole.
pub struct Writer {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicI64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts writing.
    pub fn start(mut insert: impl FnMut(i64) + Send + 'static) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicI64::new(0));
        let thread = {
            let (stop, committed) = (stop.clone(), committed.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    insert(n);
                    committed.store(n, Ordering::SeqCst);
                }
            })
        };
        Writer { stop, committed, thread: Some(thread) }
    }

    /// The last row committed.
    pub fn committed(&self) -> i64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Waits until `warm_up` rows are committed, runs `during` while the writer goes on, then
    /// stops it: (rows committed before `during`, rows committed when it ended).
    pub fn around(mut self, warm_up: i64, during: impl FnOnce()) -> (i64, i64) {
        wait_until(&format!("the writer has committed {warm_up} rows"), DEADLINE, || self.committed() >= warm_up);
        let before = self.committed();
        during();
        let after = self.committed();
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().expect("the writer's thread").join().unwrap();
        (before, after)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
