//! The seed-images manifest (`scripts/seed-images.toml`): parsing and validation. Pure: a manifest
//! that names a file outside `uploads/images`, or is otherwise malformed, is refused here, before
//! anything is fetched or written.

use std::collections::HashSet;

use anyhow::{bail, Result};
use serde::Deserialize;

/// The largest intended width or height a manifest may ask for.
pub const MAX_DIMENSION: u32 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    #[serde(default)]
    image: Vec<ImageSpec>,
}

/// One `[[image]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The file name under `uploads/images` (no folders).
    pub file: String,
    /// Where to download it from (http or https).
    pub url: String,
    /// Lowercase hex SHA-256 of the file, when known.
    #[serde(default)]
    pub sha256: Option<String>,
    pub alt: String,
    /// Intended dimensions: the size of the placeholder when the download fails.
    pub width: u32,
    pub height: u32,
    /// The image's licence (e.g. "Unsplash License").
    pub licence: String,
}

/// Parses and validates a manifest; the error lists every problem found.
pub fn parse(text: &str) -> Result<Vec<ImageSpec>> {
    let file: ManifestFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
    let mut problems = Vec::new();
    if file.image.is_empty() {
        problems.push("no [[image]] entries".to_string());
    }
    let mut seen = HashSet::new();
    for (i, img) in file.image.iter().enumerate() {
        let at = format!("image #{} ({:?})", i + 1, img.file);
        if let Err(e) = validate_file_name(&img.file) {
            problems.push(format!("{at}: {e}"));
        } else if !seen.insert(img.file.to_ascii_lowercase()) {
            problems.push(format!("{at}: the file name appears more than once"));
        }
        if let Err(e) = validate_url(&img.url) {
            problems.push(format!("{at}: {e}"));
        }
        if let Some(sha) = &img.sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                problems.push(format!("{at}: sha256 must be 64 lowercase hex digits, got {sha:?}"));
            }
        }
        for (what, v) in [("width", img.width), ("height", img.height)] {
            if v == 0 || v > MAX_DIMENSION {
                problems.push(format!("{at}: {what} must be between 1 and {MAX_DIMENSION}, got {v}"));
            }
        }
        if img.alt.trim().is_empty() {
            problems.push(format!("{at}: alt text is empty"));
        }
        if img.licence.trim().is_empty() {
            problems.push(format!("{at}: licence is empty"));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("\n  "));
    }
    Ok(file.image)
}

/// A file name that can only mean a file directly inside `uploads/images`: letters, digits,
/// `-`, `_` and `.`, not starting with a dot (temporary files start with one), no `..`, no
/// separators, and an image extension.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the file name is empty".into());
    }
    if name.len() > 100 {
        return Err("the file name is longer than 100 characters".into());
    }
    if name.contains('/') || name.contains('\\') {
        return Err("the file name contains a path separator; give a bare name inside uploads/images".into());
    }
    if name.contains("..") {
        return Err("the file name contains `..`".into());
    }
    if name.starts_with('.') {
        return Err("the file name starts with a dot".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("the file name contains {c:?}; use only letters, digits, `-`, `_` and `.`"));
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    if !matches!(ext.as_str(), "jpg" | "jpeg" | "png" | "gif" | "webp") {
        return Err("the file name must end in .jpg, .jpeg, .png, .gif or .webp".into());
    }
    Ok(())
}

fn validate_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url {url:?} is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("url {url:?} must be an http:// or https:// URL with a host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
[[image]]
file = "hero-home.jpg"
url = "https://picsum.photos/id/1/1600/900.jpg"
alt = "A laptop"
width = 1600
height = 900
licence = "Unsplash License"
"#;

    #[test]
    fn parses_an_entry() {
        let v = parse(ONE).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].file, "hero-home.jpg");
        assert_eq!((v[0].width, v[0].height), (1600, 900));
        assert_eq!(v[0].sha256, None);
    }

    #[test]
    fn rejects_unknown_fields() {
        let e = parse(&ONE.replace("alt =", "colour = \"red\"\nalt =")).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn rejects_hostile_and_bad_names() {
        for bad in
            ["../evil.jpg", "a/b.jpg", "a\\b.jpg", "..", ".hidden.jpg", "", "x.exe", "a b.jpg", "é.jpg", "a..jpg"]
        {
            assert!(validate_file_name(bad).is_err(), "{bad:?} accepted");
            let e = parse(&ONE.replace("hero-home.jpg", bad)).unwrap_err().to_string();
            assert!(e.contains("image #1"), "{e}");
        }
        for good in ["hero-home.jpg", "gallery_1.PNG", "x.webp", "a.b.gif"] {
            assert_eq!(validate_file_name(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn lists_every_problem() {
        let text = format!(
            "{ONE}\n{}",
            ONE.replace("https://picsum.photos/id/1/1600/900.jpg", "ftp://x/y")
                .replace("width = 1600", "width = 0")
                .replace("alt = \"A laptop\"", "alt = \"A laptop\"\nsha256 = \"abc\"")
        );
        let e = parse(&text).unwrap_err().to_string();
        for needle in ["more than once", "ftp://x/y", "width must be", "sha256 must be"] {
            assert!(e.contains(needle), "{needle} missing from {e}");
        }
    }

    #[test]
    fn rejects_an_empty_manifest() {
        assert!(parse("").unwrap_err().to_string().contains("no [[image]]"));
    }
}
