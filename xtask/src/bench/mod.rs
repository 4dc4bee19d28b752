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

use std::time::Duration;

/// The middle of `times` (the upper one of an even count).
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}
