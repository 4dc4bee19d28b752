//! cms-db's demo seed in tests: the image files it refers to, real JPEGs to put there, and the
//! rows it writes with a given `--seed`, pinned.

use std::path::Path;

use crate::project::Project;
use crate::rows;

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
pub fn put(root: &Path, photos: &[(&str, Vec<u8>)]) {
    let dir = root.join("uploads/images");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, bytes) in photos {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
}

/// The SHA-256 of every application row ([`rows::application`]) that the demo seed writes with
/// `--seed 7`, taken once: a change to the seed's data or code that changes a single row shows.
pub struct PinnedSeed7 {
    /// After `seed --seed 7`, no image file on disk.
    pub plain: &'static str,
    /// After `seed --seed 7` with the demo's [`photos`] in uploads/images.
    pub with_photos: &'static str,
    /// After `seed --seed 7 --scale 3` (the bulk path).
    pub scale_3: &'static str,
}

/// Asserts that `seed --seed 7` writes exactly the `pinned` rows in three migrated projects from
/// `new` (plain, with the photos, scaled), on the database each is on. Returns without a word
/// when `new` gives no project (no PostgreSQL server: it has said so).
pub fn assert_seed_7_writes(new: impl Fn() -> Option<Project>, pinned: &PinnedSeed7) {
    let (Some(plain), Some(photos), Some(scaled)) = (new(), new(), new()) else { return };
    put(photos.root(), &self::photos());
    for p in [&plain, &photos] {
        p.xtask(&["migrate", "-q"]).assert().success();
        p.xtask(&["seed", "--seed", "7"]).assert().success();
    }
    scaled.xtask(&["migrate", "-q"]).assert().success();
    scaled.xtask(&["seed", "--seed", "7", "--scale", "3"]).assert().success();
    let dump = rows::application(&plain);
    assert!(dump.contains("teams: ") && dump.contains("page_section_contents: "), "{dump}");
    assert_eq!(crate::sha256_hex(dump.as_bytes()), pinned.plain, "seed --seed 7 wrote other rows than before:\n{dump}");
    let dump = rows::application(&photos);
    assert_eq!(
        crate::sha256_hex(dump.as_bytes()),
        pinned.with_photos,
        "seed --seed 7 with the demo photos on disk wrote other rows than before:\n{dump}"
    );
    let dump = rows::application(&scaled);
    assert_eq!(
        crate::sha256_hex(dump.as_bytes()),
        pinned.scale_3,
        "seed --seed 7 --scale 3 wrote other rows than before:\n{dump}"
    );
}
