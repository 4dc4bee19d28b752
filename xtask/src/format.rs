//! How the commands print durations and sizes: one spelling everywhere.

use std::time::Duration;

/// `12.3 ms`
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `1.25 s`
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `512 B`, `3.00 MiB` (binary units, indicatif's spelling).
pub fn size(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(ms(Duration::from_micros(12_345)), "12.3 ms");
        assert_eq!(secs(Duration::from_millis(1250)), "1.25 s");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 20), "3.00 MiB");
    }
}
