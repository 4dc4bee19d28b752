//! Image rows: what an image file in `uploads/images` becomes in the images table, for the seed
//! (which writes the rows of its own transaction) and for seed-images (which records the files
//! it fetched with [`register`], one upsert by file name, the one statement for it).

use std::sync::OnceLock;

use crate::connection::{Row, Sql, Value};
use crate::error::DbError;
use crate::seed::ids::image_id;
use crate::seed::table::Table;

/// An image file in `uploads/images`, with what was read from it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFile {
    pub file_name: String,
    pub alt: String,
    pub mime: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub sha256: String,
    pub is_placeholder: bool,
}

/// The image format of a file from its first bytes (what a browser would trust), not its name,
/// as a MIME type: JPEG, PNG, GIF, WebP or AVIF; anything else (HTML, SVG, …) is `None`. The one
/// test of "is this an image" for seed-images (before it records a file) and the server
/// (before it serves one).
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => Some("image/jpeg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some("image/png"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some("image/webp"),
        [_, _, _, _, b'f', b't', b'y', b'p', b'a', b'v', b'i', b'f' | b's', ..] => Some("image/avif"),
        _ => None,
    }
}

/// The path the server serves `file_name` at.
pub fn url(file_name: &str) -> String {
    format!("/uploads/images/{file_name}")
}

impl ImageFile {
    /// Its images row, written at `now_ms`: the id is a function of the file name
    /// ([`image_id`]), whoever writes it.
    pub fn row(&self, now_ms: i64) -> Row {
        let mut images = Table::new("images");
        images.push(vec![
            ("id", image_id(&self.file_name).into()),
            ("file_name", self.file_name.as_str().into()),
            ("url", url(&self.file_name).into()),
            ("alt", self.alt.as_str().into()),
            ("created_at", now_ms.into()),
            ("updated_at", now_ms.into()),
            ("mime", self.mime.as_str().into()),
            ("width", self.width.into()),
            ("height", self.height.into()),
            ("bytes", self.bytes.into()),
            ("sha256", self.sha256.as_str().into()),
            ("is_placeholder", i64::from(self.is_placeholder).into()),
        ]);
        images.rows.pop().expect("one row")
    }
}

/// Columns an upsert leaves as they were: a row already there keeps its id and created_at, so
/// sections and posts that point at it stay linked.
const KEPT: [&str; 3] = ["id", "file_name", "created_at"];

/// `INSERT … ON CONFLICT (file_name) DO UPDATE` of every other column, from the schema's
/// column list.
fn upsert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns = Table::new("images").columns;
        let names: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let updates: Vec<String> =
            columns.iter().filter(|c| !KEPT.contains(c)).map(|c| format!("\"{c}\" = excluded.\"{c}\"")).collect();
        format!(
            "INSERT INTO \"images\" ({}) VALUES ({}) ON CONFLICT (\"file_name\") DO UPDATE SET {}",
            names.join(", "),
            placeholders.join(", "),
            updates.join(", ")
        )
    })
}

/// Records `files` in the images table inside the caller's transaction: a new file gets the
/// seed's row for it; a file already there is updated but keeps its id and created_at.
pub fn register(tx: &mut dyn Sql, files: &[ImageFile], now_ms: i64) -> Result<(), DbError> {
    for f in files {
        tx.execute(upsert_sql(), &f.row(now_ms))
            .map_err(|e| e.in_context(format!("recording {} in the images table", f.file_name)))?;
    }
    Ok(())
}

/// The file names of the image rows in `tables`.
pub fn file_names(tables: &[Table]) -> Vec<String> {
    let Some(images) = tables.iter().find(|t| t.name == "images") else { return Vec::new() };
    let Some(col) = images.position("file_name") else { return Vec::new() };
    images.rows.iter().filter_map(|r| r[col].text().map(str::to_string)).collect()
}

/// Removes the image rows of `files` (inside the caller's transaction), so rows written next
/// are the seed's whatever registered them before.
pub fn forget(tx: &mut dyn Sql, files: &[String]) -> Result<(), DbError> {
    for f in files {
        tx.execute("DELETE FROM \"images\" WHERE \"file_name\" = $1", &[Value::from(f.as_str())])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_image_formats_and_nothing_else() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"GIF87a.."), Some("image/gif"));
        assert_eq!(sniff(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif\0\0\0\0"), Some("image/avif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(sniff(b"\0\0\0\x1cftypmp42"), None);
        assert_eq!(sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn one_upsert_statement_keeps_id_and_created_at() {
        let sql = upsert_sql();
        assert!(sql.starts_with("INSERT INTO \"images\" (\"id\", \"file_name\", \"url\""), "{sql}");
        assert!(sql.contains("ON CONFLICT (\"file_name\") DO UPDATE SET \"url\" = excluded.\"url\""), "{sql}");
        assert!(!sql.contains("\"id\" = excluded") && !sql.contains("\"created_at\" = excluded"), "{sql}");
        assert!(sql.contains("\"is_placeholder\" = excluded.\"is_placeholder\""), "{sql}");
    }
}
