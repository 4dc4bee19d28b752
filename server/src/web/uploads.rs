//! Serving uploaded images: only plain file names (`[A-Za-z0-9._-]+`, no leading dot, no `..`),
//! only regular files whose canonical path stays inside the uploads folder (a symlink pointing
//! out is refused), and only files whose first bytes are an image format we know. Everything
//! else is "not found".

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use cms_db::seed::images::sniff;

/// Largest file served (images are small; anything bigger is not what this route is for).
pub const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Whether `name` may name a file in the uploads folder.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The file's path if it exists, is a regular file, and (after resolving links) lies inside
/// `dir`.
pub fn resolve(dir: &Path, name: &str) -> Option<PathBuf> {
    if !valid_name(name) {
        return None;
    }
    let root = dir.canonicalize().ok()?;
    let path = root.join(name).canonicalize().ok()?;
    (path.starts_with(&root) && path != root && path.is_file()).then_some(path)
}

/// An image to send.
#[derive(Debug)]
pub struct Served {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Reads `name` from `dir` when every rule above holds; `None` means 404.
pub fn read(dir: &Path, name: &str) -> Option<Served> {
    let path = resolve(dir, name)?;
    let file = fs::File::open(&path).ok()?;
    let len = file.metadata().ok()?.len();
    if len > MAX_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
    let content_type = sniff(&bytes)?;
    Some(Served { content_type, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];

    #[test]
    fn names() {
        for ok in ["hero-home.jpg", "a_b.PNG", "x", "v1.2.webp"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "../x", "a/b", "a\\b", "a..b", "%2e%2e", "a b", "ä.jpg", "x\0"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn reads_only_images_inside_the_folder() {
        let root = tempfile::tempdir().unwrap();
        let images = root.path().join("images");
        fs::create_dir(&images).unwrap();
        fs::write(images.join("a.jpg"), JPEG).unwrap();
        fs::write(images.join("page.html"), "<script>x</script>").unwrap();
        fs::write(root.path().join("secret.jpg"), JPEG).unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.jpg"), images.join("link.jpg")).unwrap();
        fs::create_dir(images.join("sub.jpg")).unwrap();

        let served = read(&images, "a.jpg").unwrap();
        assert_eq!((served.content_type, served.bytes.as_slice()), ("image/jpeg", JPEG));
        assert!(read(&images, "page.html").is_none(), "not an image");
        assert!(read(&images, "link.jpg").is_none(), "a link out of the folder");
        assert!(read(&images, "sub.jpg").is_none(), "a directory");
        assert!(read(&images, "missing.jpg").is_none());
        assert!(read(&images, "../secret.jpg").is_none());
        assert!(read(&root.path().join("nope"), "a.jpg").is_none());
    }
}
