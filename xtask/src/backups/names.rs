//! Our archive file names: `<UTC YYYYMMDDTHHMMSSZ>[_N][-label].tar.<gz|zst>`. `_N` (N ≥ 2)
//! only appears when two backups start in the same second. Pure: parsing and formatting, so
//! retention and `list` can tell our archives apart from temp files and anything else.

use chrono::{DateTime, NaiveDateTime, Utc};

/// How an archive's stream is compressed; the file extension says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `.tar.gz` (the default): parallel gzip, readable by `tar xzf`
    Gzip,
    /// `.tar.zst`: zstd, readable by `tar --zstd -xf`
    Zstd,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "tar.gz",
            Compression::Zstd => "tar.zst",
        }
    }
}

/// A parsed archive name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveName {
    pub time: DateTime<Utc>,
    /// 1 for the first archive of a second, 2, 3 … for later ones in the same second.
    pub seq: u32,
    pub label: Option<String>,
    pub compression: Compression,
}

const STAMP: &str = "%Y%m%dT%H%M%SZ";

impl ArchiveName {
    pub fn file_name(&self) -> String {
        let mut s = self.time.format(STAMP).to_string();
        if self.seq > 1 {
            s.push_str(&format!("_{}", self.seq));
        }
        if let Some(label) = &self.label {
            s.push('-');
            s.push_str(label);
        }
        s.push('.');
        s.push_str(self.compression.extension());
        s
    }

    /// Parses one of our names; `None` for anything else (temp files start with `.`, and
    /// other people's files do not match the pattern).
    pub fn parse(name: &str) -> Option<ArchiveName> {
        let (stem, compression) = if let Some(s) = name.strip_suffix(".tar.gz") {
            (s, Compression::Gzip)
        } else if let Some(s) = name.strip_suffix(".tar.zst") {
            (s, Compression::Zstd)
        } else {
            return None;
        };
        let stamp = stem.get(..16)?;
        let time = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?.and_utc();
        // chrono accepts some sloppy forms; only the exact canonical spelling is ours.
        if time.format(STAMP).to_string() != stamp {
            return None;
        }
        let mut rest = &stem[16..];
        let mut seq = 1;
        if let Some(r) = rest.strip_prefix('_') {
            let end = r.find('-').unwrap_or(r.len());
            let n: u32 = r[..end].parse().ok()?;
            if n < 2 || r[..end].starts_with('0') {
                return None;
            }
            seq = n;
            rest = &r[end..];
        }
        let label = match rest {
            "" => None,
            r => {
                let label = r.strip_prefix('-')?;
                validate_label(label).ok()?;
                Some(label.to_string())
            }
        };
        Some(ArchiveName { time, seq, label, compression })
    }

    /// Sort key: time, then sequence within the second.
    pub fn key(&self) -> (DateTime<Utc>, u32) {
        (self.time, self.seq)
    }
}

/// Labels are short lowercase words: `[a-z0-9][a-z0-9-]*`, at most 40 characters.
pub fn validate_label(label: &str) -> Result<(), String> {
    let ok = !label.is_empty()
        && label.len() <= 40
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label `{label}`: use 1 to 40 lowercase letters, digits and dashes, starting with a letter or digit (e.g. pre-deploy)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn round_trips() {
        for (seq, label, c) in [
            (1, None, Compression::Gzip),
            (2, None, Compression::Zstd),
            (1, Some("pre-restore"), Compression::Gzip),
            (12, Some("nightly-2"), Compression::Zstd),
        ] {
            let n =
                ArchiveName { time: at(2026, 3, 29, 1, 30, 5), seq, label: label.map(String::from), compression: c };
            assert_eq!(ArchiveName::parse(&n.file_name()), Some(n.clone()), "{}", n.file_name());
        }
        assert_eq!(
            ArchiveName {
                time: at(2026, 3, 29, 1, 30, 5),
                seq: 2,
                label: Some("x".into()),
                compression: Compression::Gzip
            }
            .file_name(),
            "20260329T013005Z_2-x.tar.gz"
        );
    }

    #[test]
    fn other_files_are_not_ours() {
        for name in [
            ".20260329T013005Z.tar.gz.tmp-12-ab",
            "20260329T013005Z.tar.gz.tmp",
            "pre-reset-20260329T013005Z.db",
            "20260329T013005Z.tar",
            "20260329T013005.tar.gz",
            "20261329T013005Z.tar.gz",
            "20260329T013005Z_1.tar.gz",
            "20260329T013005Z_02.tar.gz",
            "20260329T013005Z-.tar.gz",
            "20260329T013005Z-Bad.tar.gz",
            "20260329T013005Zx.tar.gz",
            ".backup.lock",
            "notes.txt",
        ] {
            assert_eq!(ArchiveName::parse(name), None, "{name}");
        }
    }

    #[test]
    fn labels() {
        assert!(validate_label("pre-restore").is_ok());
        assert!(validate_label("").is_err());
        assert!(validate_label("-x").is_err());
        assert!(validate_label("a/b").is_err());
        assert!(validate_label(&"a".repeat(41)).is_err());
    }
}
