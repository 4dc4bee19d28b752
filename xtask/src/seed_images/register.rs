//! Recording images in the images table: one upsert by file name per image, all in one
//! transaction. An existing row keeps its id and created_at (so sections and posts that point at
//! it stay linked); a new row gets the id the seed gives the same file
//! ([`cms_db::seed::ids::image_id`], a function of the file name), so the two agree whichever
//! runs first.

use anyhow::{Context as _, Result};
use cms_db::connection::Connection;

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
    /// The path the server serves the file at (the seed writes the same).
    pub fn url(&self) -> String {
        format!("/uploads/images/{}", self.file_name)
    }

    /// The row's id: the seed's for the same file name.
    pub fn id(&self) -> String {
        cms_db::seed::ids::image_id(&self.file_name)
    }

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

const SQLITE_UPSERT: &str = "INSERT INTO images \
    (id, file_name, url, alt, created_at, updated_at, mime, width, height, bytes, sha256, is_placeholder) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
    ON CONFLICT (file_name) DO UPDATE SET url = excluded.url, alt = excluded.alt, \
    updated_at = excluded.updated_at, mime = excluded.mime, width = excluded.width, height = excluded.height, \
    bytes = excluded.bytes, sha256 = excluded.sha256, is_placeholder = excluded.is_placeholder";

const POSTGRES_UPSERT: &str = "INSERT INTO images \
    (id, file_name, url, alt, created_at, updated_at, mime, width, height, bytes, sha256, is_placeholder) \
    VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (file_name) DO UPDATE SET url = excluded.url, alt = excluded.alt, \
    updated_at = excluded.updated_at, mime = excluded.mime, width = excluded.width, height = excluded.height, \
    bytes = excluded.bytes, sha256 = excluded.sha256, is_placeholder = excluded.is_placeholder";

/// Upserts every row in one transaction (all or nothing).
pub fn upsert(conn: &mut Connection, rows: &[ImageRow], now_ms: i64) -> Result<()> {
    match conn {
        Connection::Sqlite(c) => {
            let tx = c.transaction().context("starting the images transaction")?;
            {
                let mut st = tx.prepare(SQLITE_UPSERT).context("preparing the images upsert")?;
                for r in rows {
                    st.execute(rusqlite::params![
                        r.id(),
                        r.file_name,
                        r.url(),
                        r.alt,
                        now_ms,
                        r.info.mime,
                        i64::from(r.info.width),
                        i64::from(r.info.height),
                        r.info.bytes as i64,
                        r.info.sha256,
                        i64::from(r.is_placeholder),
                    ])
                    .with_context(|| format!("recording {} in the images table", r.file_name))?;
                }
            }
            tx.commit().context("committing the images")?;
        }
        Connection::Postgres(c) => {
            let mut tx = c.transaction().context("starting the images transaction")?;
            let st = tx.prepare(POSTGRES_UPSERT).context("preparing the images upsert")?;
            for r in rows {
                let (width, height) = (i32::try_from(r.info.width)?, i32::try_from(r.info.height)?);
                tx.execute(
                    &st,
                    &[
                        &r.id(),
                        &r.file_name,
                        &r.url(),
                        &r.alt,
                        &now_ms,
                        &r.info.mime,
                        &width,
                        &height,
                        &(r.info.bytes as i64),
                        &r.info.sha256,
                        &r.is_placeholder,
                    ],
                )
                .with_context(|| format!("recording {} in the images table", r.file_name))?;
            }
            tx.commit().context("committing the images")?;
        }
    }
    Ok(())
}
