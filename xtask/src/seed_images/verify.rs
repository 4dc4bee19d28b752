//! What makes bytes an acceptable image (pure): the content type says image, the magic bytes
//! say JPEG, PNG, GIF or WebP, the header gives the real dimensions, and the SHA-256 matches the
//! manifest when it has one.

use sha2::{Digest, Sha256};

/// A checked image: what goes into the images table.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageInfo {
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub sha256: String,
}

/// The image format from the first bytes of a file, as a MIME type.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Whether a `Content-Type` header names an image type (parameters and case ignored).
pub fn content_type_is_image(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.strip_prefix("image/").is_some_and(|sub| !sub.is_empty())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks the bytes of a file and reads its dimensions; the error says what is wrong.
pub fn check(bytes: &[u8], expected_sha256: Option<&str>) -> Result<ImageInfo, String> {
    let mime = sniff(bytes).ok_or_else(|| {
        let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("the content is not a JPEG, PNG, GIF or WebP image (starts with {head:?})")
    })?;
    let size = imagesize::blob_size(bytes).map_err(|e| format!("cannot read the image's dimensions: {e}"))?;
    let sha256 = sha256_hex(bytes);
    if let Some(expected) = expected_sha256 {
        if expected != sha256 {
            return Err(format!("SHA-256 mismatch: expected {expected}, got {sha256}"));
        }
    }
    let dim = |v: usize| u32::try_from(v).map_err(|_| format!("dimension {v} is too large"));
    Ok(ImageInfo { mime, width: dim(size.width)?, height: dim(size.height)?, bytes: bytes.len() as u64, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_four_formats() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn content_types() {
        assert!(content_type_is_image("image/jpeg"));
        assert!(content_type_is_image("Image/PNG; charset=binary"));
        assert!(!content_type_is_image("text/html; charset=utf-8"));
        assert!(!content_type_is_image("image/"));
        assert!(!content_type_is_image("application/octet-stream"));
        assert!(!content_type_is_image(""));
    }

    #[test]
    fn checks_a_real_jpeg() {
        let jpeg = crate::seed_images::placeholder::jpeg(64, 48).unwrap();
        let info = check(&jpeg, None).unwrap();
        assert_eq!((info.mime, info.width, info.height), ("image/jpeg", 64, 48));
        assert_eq!(info.bytes, jpeg.len() as u64);
        assert!(check(&jpeg, Some(&info.sha256)).is_ok());
        let e = check(&jpeg, Some(&"0".repeat(64))).unwrap_err();
        assert!(e.contains("SHA-256 mismatch"), "{e}");
        assert!(check(b"<html>not an image</html>", None).unwrap_err().contains("not a JPEG"));
        assert!(check(&jpeg[..4], None).unwrap_err().contains("dimensions"));
    }
}
