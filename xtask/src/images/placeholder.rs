//! Placeholders for images that cannot be fetched: a JPEG of the intended size (a soft diagonal
//! gradient), tagged with an APP segment so that a placeholder on disk is recognised as one by
//! its bytes alone, whatever the database says.

use anyhow::{Context as _, Result};
use jpeg_encoder::{ColorType, Encoder};

/// The APP15 payload that marks our placeholders.
pub const MARKER: &[u8] = b"cms-seed-images placeholder v1";

/// A placeholder JPEG of `width` x `height` pixels.
pub fn jpeg(width: u32, height: u32) -> Result<Vec<u8>> {
    let (w, h) = (u16::try_from(width)?, u16::try_from(height)?);
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    let span = (width + height).max(1) as f32;
    for y in 0..height {
        for x in 0..width {
            let t = (x + y) as f32 / span;
            rgb.extend_from_slice(&[(90.0 + 110.0 * t) as u8, (120.0 + 60.0 * t) as u8, (190.0 - 70.0 * t) as u8]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 60);
    encoder.add_app_segment(15, MARKER).context("tagging the placeholder")?;
    encoder.encode(&rgb, w, h, ColorType::Rgb).context("encoding the placeholder JPEG")?;
    Ok(out)
}

/// Whether these bytes are one of our placeholders (the marker sits in the first segments).
pub fn is_placeholder(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(512)];
    head.windows(MARKER.len()).any(|w| w == MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_intended_size_and_the_marker() {
        let bytes = jpeg(320, 180).unwrap();
        assert_eq!(imagesize::blob_size(&bytes).unwrap(), imagesize::ImageSize { width: 320, height: 180 });
        assert!(is_placeholder(&bytes));
        assert!(!is_placeholder(b"\xFF\xD8\xFF\xE0 an ordinary photo"));
        assert_eq!(jpeg(320, 180).unwrap(), bytes, "deterministic");
    }
}
