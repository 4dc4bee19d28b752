//! Headless Chromium for end-to-end tests: Debian's `chromium` (or `$CHROMIUM`) driven by
//! `tools/e2e/check-page.mjs` through playwright-core.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Everything an end-to-end test needs to load a page in a browser.
pub struct Browser {
    pub node: PathBuf,
    pub chromium: PathBuf,
    /// `tools/e2e/check-page.mjs`.
    pub script: PathBuf,
}

/// `tools/e2e/` in the workspace.
pub fn tool_dir() -> PathBuf {
    crate::project_root().join("tools").join("e2e")
}

/// The browser harness, or `None` after a loud `SKIPPED:` line when Chromium, `node` or
/// `tools/e2e/node_modules` is missing (a panic under `CI=true`).
pub fn harness() -> Option<Browser> {
    static CHECKED: OnceLock<Result<Browser, String>> = OnceLock::new();
    static SAID: OnceLock<()> = OnceLock::new();
    match CHECKED.get_or_init(check) {
        Ok(b) => Some(Browser { node: b.node.clone(), chromium: b.chromium.clone(), script: b.script.clone() }),
        Err(what) if crate::under_ci() || SAID.set(()).is_ok() => crate::skip(what),
        Err(_) => None,
    }
}

fn check() -> Result<Browser, String> {
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.is_file() {
        return Err(format!(
            "end-to-end: no Chromium at {} (apt-get install chromium, or set CHROMIUM=/path/to/chromium)",
            chromium.display()
        ));
    }
    if !crate::node_on_path() {
        return Err(
            "end-to-end: `node` is not on PATH (install Node.js >= 18, then run `npm ci --prefix tools/e2e`)".into()
        );
    }
    let dir = tool_dir();
    if !has_playwright(&dir) {
        return Err(format!("end-to-end: {} has no node_modules; run `npm ci --prefix tools/e2e`", dir.display()));
    }
    Ok(Browser { node: PathBuf::from("node"), chromium, script: dir.join("check-page.mjs") })
}

fn has_playwright(dir: &Path) -> bool {
    dir.join("node_modules").join("playwright-core").is_dir() && dir.join("check-page.mjs").is_file()
}
