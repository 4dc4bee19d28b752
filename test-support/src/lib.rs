//! Test helpers shared by the workspace's integration tests:
//!
//! - [`pg`]: a fresh, empty PostgreSQL database per test on a real server
//!   (`TEST_POSTGRES_URL`, or a throwaway cluster started from the machine's binaries);
//! - [`drizzle`]: drizzle-orm's real migrator, run through `tools/drizzle-interop`;
//! - [`fixture`]: Drizzle Kit migration folders written from plain data;
//! - [`browser`]: headless Chromium through `tools/e2e` (end-to-end tests);
//! - [`project`]: a temporary project root with the repository's migrations, and the real
//!   binaries run on it;
//! - [`process`]: waiting by polling, processes paused at the binary's test hook, children
//!   killed on drop, commands with a time limit;
//! - [`server`]: a free port, and waiting until a server listens on it;
//! - [`rows`]: every row of a SQLite or PostgreSQL database as text, to compare;
//! - [`backups`]: archives, temp files and `uploads/` as the backup and restore tests see them;
//! - [`demo`]: the demo seed's image files, as real JPEGs.
//!
//! Whatever a test cannot run for lack of a tool (no PostgreSQL binaries, no node) is skipped
//! loudly, except under `CI=true`, where it fails.

pub mod backups;
pub mod browser;
pub mod demo;
pub mod drizzle;
pub mod fixture;
pub mod pg;
pub mod process;
pub mod project;
pub mod rows;
pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The workspace root (the folder above this crate).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("test-support lives in the workspace").to_path_buf()
}

/// Lowercase hex SHA-256, as drizzle-orm computes a migration's `hash`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// True when running under CI (`CI=true`): missing tools fail instead of skipping.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether `node --version` runs (the drizzle-orm and browser harnesses need Node.js).
pub(crate) fn node_on_path() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Skips loudly (returns `None`), or panics under `CI=true`. The line goes straight to the
/// process's stderr, past the test harness's output capture.
pub(crate) fn skip<T>(what: &str) -> Option<T> {
    if under_ci() {
        panic!("{what} (CI=true, so this is a failure, not a skip)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}");
    None
}
