//! The image files cms-db's demo seed refers to, and real JPEGs to put there.

/// The demo's nine image files in `uploads/images`, as the seed names them.
pub const IMAGE_FILES: [&str; 9] = [
    "hero-home.jpg",
    "hero-about.jpg",
    "gallery-1.jpg",
    "gallery-2.jpg",
    "gallery-3.jpg",
    "gallery-4.jpg",
    "post-1.jpg",
    "post-2.jpg",
    "post-3.jpg",
];

/// The demo's nine image files as real JPEGs (no placeholder marker), each its own picture; the
/// same bytes on every call.
pub fn photos() -> Vec<(&'static str, Vec<u8>)> {
    IMAGE_FILES
        .into_iter()
        .enumerate()
        .map(|(i, file)| {
            let (w, h) = (48 + 8 * i as u16, 32);
            let rgb: Vec<u8> =
                (0..u32::from(w) * u32::from(h) * 3).map(|k| (k as u8).wrapping_mul(i as u8 + 3)).collect();
            let mut out = Vec::new();
            jpeg_encoder::Encoder::new(&mut out, 80).encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
            (file, out)
        })
        .collect()
}

/// Writes `photos` into `<root>/uploads/images`.
pub fn put(root: &std::path::Path, photos: &[(&str, Vec<u8>)]) {
    let dir = root.join("uploads/images");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, bytes) in photos {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
}
