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

/// Whether the file ends where its format says it ends, so that a truncated file is not taken
/// for a whole one: JPEG ends with EOI (`FF D9`, trailing zero padding allowed), PNG with its
/// IEND chunk, GIF with its trailer `3B`, WebP at the length its RIFF header gives.
pub fn complete(bytes: &[u8], mime: &str) -> bool {
    match mime {
        "image/jpeg" => {
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            bytes[..end].ends_with(&[0xFF, 0xD9])
        }
        "image/png" => bytes.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]),
        "image/gif" => bytes.last() == Some(&0x3B),
        "image/webp" => {
            bytes.len() >= 12 && {
                let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
                // The RIFF size excludes the 8-byte header; chunks are padded to an even length.
                riff + 8 == bytes.len() || riff + 9 == bytes.len()
            }
        }
        _ => false,
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
    if !complete(bytes, mime) {
        return Err(format!("the {mime} data is incomplete (it does not end where the format says it ends)"));
    }
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
    fn completeness_of_each_format() {
        assert!(complete(b"\x89PNG\r\n\x1a\n....\0\0\0\0IEND\xAE\x42\x60\x82", "image/png"));
        assert!(!complete(b"\x89PNG\r\n\x1a\n....", "image/png"));
        assert!(complete(b"GIF89a...;", "image/gif"));
        assert!(!complete(b"GIF89a...", "image/gif"));
        assert!(complete(b"RIFF\x04\0\0\0WEBP", "image/webp"));
        assert!(!complete(b"RIFF\x10\0\0\0WEBPVP8 ", "image/webp"));
        assert!(!complete(b"", "image/jpeg"));
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
        assert!(check(&jpeg[..jpeg.len() / 2], None).unwrap_err().contains("incomplete"));
        let mut padded = jpeg.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert!(check(&padded, None).is_ok(), "zero padding after EOI is fine");
    }
}
