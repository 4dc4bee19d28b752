//! The benchmarks behind `cargo xtask bench …`, one module per suite. Each prints a Markdown
//! table of figures (medians of several runs); none is pass/fail.

pub mod backup;
pub mod check;
pub mod diff;
pub mod generate;
pub mod images;
pub mod migrate;
pub mod preflight;
pub mod studio;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};

/// The middle of `times` (the upper one of an even count).
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A copy of a migrations folder (its files and `meta/`) at `to`, which must not exist yet.
pub fn copy_folder(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let options = fs_extra::dir::CopyOptions::new().content_only(true);
    fs_extra::dir::copy(from, to, &options)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}
