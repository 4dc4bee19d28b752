//! Recording images in the images table: one upsert by file name per image (the statement
//! lives in the database layer, next to the seed's image rows), all in one transaction. An
//! existing row keeps its id and created_at (so sections and posts that point at it stay
//! linked); a new row gets the id the seed gives the same file
//! ([`cms_db::seed::ids::image_id`], a function of the file name), so the two agree whichever
//! runs first.

use anyhow::{Context as _, Result};
use cms_db::connection::{transaction, Sql, TxMode};
use cms_db::seed::images;

use super::verify::ImageInfo;

/// One row of the images table.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRow {
    pub file_name: String,
    pub alt: String,
    pub info: ImageInfo,
    pub is_placeholder: bool,
}

impl ImageRow {
    /// The file as the seed records it in its own transaction.
    pub fn seed_file(&self) -> cms_db::seed::ImageFile {
        cms_db::seed::ImageFile {
            file_name: self.file_name.clone(),
            alt: self.alt.clone(),
            mime: self.info.mime.to_string(),
            width: i64::from(self.info.width),
            height: i64::from(self.info.height),
            bytes: self.info.bytes as i64,
            sha256: self.info.sha256.clone(),
            is_placeholder: self.is_placeholder,
        }
    }
}

/// Upserts every row in one transaction (all or nothing), with the statement the database
/// layer keeps for it ([`cms_db::seed::images::register`]).
pub fn upsert(conn: &mut dyn Sql, rows: &[ImageRow], now_ms: i64) -> Result<()> {
    let files: Vec<cms_db::seed::ImageFile> = rows.iter().map(ImageRow::seed_file).collect();
    transaction(conn, TxMode::Write, |tx| images::register(tx, &files, now_ms)).context("recording the images")
}
