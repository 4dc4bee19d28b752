//! drizzle-orm's real migrator, through `tools/drizzle-interop/migrate.mjs` (sql.js for
//! SQLite, node-postgres for PostgreSQL).
//!
//! Only feed it folders where every `--> statement-breakpoint` chunk is exactly one
//! statement: drizzle-orm's SQLite path (sql.js) runs only the first statement of a chunk and
//! fails on empty or comment-only chunks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long one run of the harness may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The interop harness, ready to run.
pub struct Drizzle {
    node: PathBuf,
    script: PathBuf,
}

/// `tools/drizzle-interop/` in the workspace.
pub fn tool_dir() -> PathBuf {
    crate::project_root().join("tools").join("drizzle-interop")
}

/// The harness, or `None` after a loud `SKIPPED:` line when `node` or the harness's
/// `node_modules` is missing (a panic under `CI=true`).
///
/// ```text
/// let Some(drizzle) = test_support::drizzle::harness() else { return };
/// ```
pub fn harness() -> Option<Drizzle> {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    static SAID: OnceLock<()> = OnceLock::new();
    let dir = tool_dir();
    match CHECKED.get_or_init(|| check(&dir)) {
        Ok(()) => Some(Drizzle { node: PathBuf::from("node"), script: dir.join("migrate.mjs") }),
        // Loud once per test process, not once per test.
        Err(what) if crate::under_ci() || SAID.set(()).is_ok() => crate::skip(what),
        Err(_) => None,
    }
}

fn check(dir: &Path) -> Result<(), String> {
    if !crate::node_on_path() {
        return Err("drizzle-orm interop: `node` is not on PATH (install Node.js >= 18, then run \
                    `npm ci --prefix tools/drizzle-interop`)"
            .into());
    }
    if !dir.join("node_modules").join("drizzle-orm").is_dir() || !dir.join("migrate.mjs").is_file() {
        return Err(format!(
            "drizzle-orm interop: {} has no node_modules; run `npm ci --prefix tools/drizzle-interop`",
            dir.display()
        ));
    }
    Ok(())
}

/// drizzle-orm's bookkeeping rows as the harness prints them: `(hash, created_at)` ordered by
/// `created_at, id`, `created_at` as a decimal string of the stored value.
pub type Rows = Vec<(String, String)>;

impl Drizzle {
    /// `migrate.mjs sqlite <folder> <db_file>`.
    pub fn migrate_sqlite(&self, folder: &Path, db_file: &Path) -> Result<Rows, String> {
        self.migrate("sqlite", folder, db_file.as_os_str().to_str().expect("UTF-8 path"))
    }

    /// `migrate.mjs pg <folder> <url>`.
    pub fn migrate_pg(&self, folder: &Path, url: &str) -> Result<Rows, String> {
        self.migrate("pg", folder, url)
    }

    /// Runs the harness; its rows, or its stderr (and exit status) as the error.
    pub fn migrate(&self, mode: &str, folder: &Path, target: &str) -> Result<Rows, String> {
        let out_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let stdout_path = out_dir.path().join("stdout");
        let stderr_path = out_dir.path().join("stderr");
        let stdout = fs::File::create(&stdout_path).map_err(|e| e.to_string())?;
        let stderr = fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.node)
            .arg(&self.script)
            .arg(mode)
            .arg(folder)
            .arg(target)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if started.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "migrate.mjs {mode} did not finish within {} s; stderr:\n{}",
                    TIMEOUT.as_secs(),
                    fs::read_to_string(&stderr_path).unwrap_or_default()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        };
        let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        if !status.success() {
            return Err(format!("migrate.mjs {mode} failed ({status}):\n{stderr}"));
        }
        parse_rows(&stdout).map_err(|e| format!("migrate.mjs {mode}: {e}\nstdout:\n{stdout}\nstderr:\n{stderr}"))
    }
}

/// Parses the harness's JSON line `{"rows":[{"hash":…,"created_at":…}]}` (`null` created_at
/// reads as `"null"`).
pub fn parse_rows(stdout: &str) -> Result<Rows, String> {
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or("no JSON line on stdout")?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("bad JSON line: {e}"))?;
    v["rows"]
        .as_array()
        .ok_or("the JSON line has no rows array")?
        .iter()
        .map(|r| {
            let hash = r["hash"].as_str().ok_or("a row without hash")?.to_string();
            let created_at = match &r["created_at"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "null".to_string(),
                other => other.to_string(),
            };
            Ok((hash, created_at))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_harness_line() {
        let rows = parse_rows(
            "noise\n{\"rows\":[{\"hash\":\"ab\",\"created_at\":\"17\"},{\"hash\":\"cd\",\"created_at\":null}]}\n",
        )
        .unwrap();
        assert_eq!(rows, [("ab".to_string(), "17".to_string()), ("cd".to_string(), "null".to_string())]);
        assert!(parse_rows("").is_err());
    }
}
