//! What makes bytes an acceptable image (pure): the content type says image, the magic bytes
//! say JPEG, PNG, GIF, WebP or AVIF ([`sniff`], the server's test too), the file is whole, the
//! header gives the real dimensions, and the SHA-256 matches the manifest when it has one.

use cms_db::seed::images::sniff;
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

/// Whether the file holds a whole image, so that a truncated file is not taken for one: JPEG
/// reaches its EOI marker (`FF D9`) walking the segments, PNG its IEND chunk walking the chunks,
/// WebP the length its RIFF header gives, GIF ends with its trailer `3B`. Bytes after a whole
/// JPEG, PNG or WebP (padding, or data some cameras and CDNs append) are accepted.
pub fn complete(bytes: &[u8], mime: &str) -> bool {
    match mime {
        "image/jpeg" => jpeg_reaches_eoi(bytes),
        "image/png" => png_reaches_iend(bytes),
        "image/gif" => bytes.last() == Some(&0x3B),
        "image/webp" => {
            bytes.len() >= 12 && {
                let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
                // The RIFF size excludes the 8-byte header.
                riff.checked_add(8).is_some_and(|end| end <= bytes.len())
            }
        }
        "image/avif" => bmff_boxes_complete(bytes),
        _ => false,
    }
}

/// AVIF (ISO base media file format): the top-level boxes, each `size` bytes from its start
/// (`1`: a 64-bit size follows the type; `0`: to the end of the file), fit the file exactly or
/// leave only trailing bytes after the last whole box, and one of them is the media data.
fn bmff_boxes_complete(b: &[u8]) -> bool {
    let mut at = 0usize;
    let mut saw_media = false;
    while at + 8 <= b.len() {
        let size = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as u64;
        let kind = &b[at + 4..at + 8];
        let size = match size {
            0 => (b.len() - at) as u64,
            1 if at + 16 <= b.len() => u64::from_be_bytes(b[at + 8..at + 16].try_into().expect("8 bytes")),
            1 => return false,
            n => n,
        };
        if size < 8 {
            return false;
        }
        let Some(end) = usize::try_from(size).ok().and_then(|s| at.checked_add(s)) else { return false };
        if end > b.len() {
            return false;
        }
        saw_media |= kind == b"mdat";
        at = end;
    }
    saw_media
}

/// Walks a JPEG's segments (skipping each by its length, so that an embedded thumbnail's EOI
/// does not count) and the entropy-coded data after each SOS, up to EOI.
fn jpeg_reaches_eoi(b: &[u8]) -> bool {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    loop {
        if b.get(i) != Some(&0xFF) {
            return false;
        }
        while b.get(i) == Some(&0xFF) {
            i += 1; // fill bytes
        }
        let Some(&marker) = b.get(i) else { return false };
        i += 1;
        match marker {
            0xD9 => return true,
            0x01 | 0xD0..=0xD8 => continue,
            _ => {
                let Some(len) = b.get(i..i + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                i += len;
                if marker == 0xDA {
                    // Entropy-coded data: FF 00 is a data byte, FF D0-D7 a restart marker; any
                    // other marker ends the scan.
                    loop {
                        let Some(at) = b.get(i..).and_then(|rest| rest.iter().position(|&x| x == 0xFF)) else {
                            return false;
                        };
                        i += at;
                        match b.get(i + 1) {
                            None => return false,
                            Some(0x00 | 0xD0..=0xD7) => i += 2,
                            Some(0xFF) => i += 1,
                            Some(_) => break,
                        }
                    }
                }
            }
        }
    }
}

/// Walks a PNG's chunks (length, type, data, CRC) up to IEND.
fn png_reaches_iend(b: &[u8]) -> bool {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return false;
    }
    let mut i = 8;
    while let Some(head) = b.get(i..i + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(end) = i.checked_add(12).and_then(|e| e.checked_add(len)) else { return false };
        if end > b.len() {
            return false;
        }
        if &head[4..8] == b"IEND" {
            return true;
        }
        i = end;
    }
    false
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
        format!("the content is not a JPEG, PNG, GIF, WebP or AVIF image (starts with {head:?})")
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
    fn avif_is_complete_when_its_boxes_reach_the_media_data() {
        let mut avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf".to_vec();
        avif.extend_from_slice(b"\0\0\0\x0cmdat\x01\x02\x03\x04");
        assert_eq!(sniff(&avif), Some("image/avif"));
        assert!(complete(&avif, "image/avif"));
        assert!(!complete(&avif[..avif.len() - 1], "image/avif"), "cut inside the media data");
        assert!(!complete(&avif[..28], "image/avif"), "no media data");
    }

    #[test]
    fn completeness_of_each_format() {
        assert!(complete(b"\x89PNG\r\n\x1a\n\0\0\0\x02abcdxy....\0\0\0\0IEND\xAE\x42\x60\x82", "image/png"));
        assert!(!complete(b"\x89PNG\r\n\x1a\n\0\0\0\x02abcdxy...", "image/png"));
        assert!(!complete(b"\x89PNG\r\n\x1a\n\0\0\0\xffabcdxy....\0\0\0\0IEND\xAE\x42\x60\x82", "image/png"));
        assert!(complete(b"GIF89a...;", "image/gif"));
        assert!(!complete(b"GIF89a...", "image/gif"));
        assert!(complete(b"RIFF\x04\0\0\0WEBP", "image/webp"));
        assert!(!complete(b"RIFF\x10\0\0\0WEBPVP8 ", "image/webp"));
        assert!(complete(b"RIFF\x04\0\0\0WEBPtrailer", "image/webp"));
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
        let jpeg = crate::images::placeholder::jpeg(64, 48).unwrap();
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

    /// A real PNG: signature, IHDR, one IDAT of a 1x1 grey pixel, IEND.
    fn png() -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            out.extend_from_slice(&[0, 0, 0, 0]); // CRC: not checked here
        };
        chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        chunk(b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]);
        chunk(b"IEND", &[]);
        out
    }

    #[test]
    fn bytes_after_a_whole_image_are_accepted_a_truncated_image_is_not() {
        let trailer = b"\xFF\xD8 appended by a CDN: not part of the image \xFF\xD9 trailing";
        let jpeg = crate::images::placeholder::jpeg(64, 48).unwrap();
        let png = png();
        for (image, mime) in [(&jpeg, "image/jpeg"), (&png, "image/png")] {
            let mut with_trailer = image.clone();
            with_trailer.extend_from_slice(trailer);
            let info = check(&with_trailer, None).unwrap_or_else(|e| panic!("{mime} with a trailer: {e}"));
            assert_eq!((info.mime, info.bytes), (mime, with_trailer.len() as u64));
            for cut in [image.len() - 1, image.len() - 2, image.len() / 2, 20] {
                assert!(!complete(&image[..cut], mime), "{mime} cut at {cut} of {}", image.len());
            }
            // A truncated image followed by unrelated bytes is still truncated.
            let mut cut_then_data = image[..image.len() / 2].to_vec();
            cut_then_data.extend_from_slice(b"\x00\x01 not the rest of the image");
            assert!(!complete(&cut_then_data, mime), "{mime}: cut then other bytes");
        }
    }
}
