//! Seeding as the commands do it: a database checked to be fully migrated first, the demo
//! content written with the image files already on disk, and the summary printed. Used by
//! `seed`, `reset-data` and `reset-complete`.

use std::time::Instant;

use anyhow::Result;
use cms_db::connection::Sql;
use cms_db::seed::{self, SeedOptions, SeedOutcome};

use crate::format::ms;
use crate::project::Context;

/// Seeds and prints the summary (counts, ids, home page URL).
pub fn seed_and_report(conn: &mut dyn Sql, options: &SeedOptions) -> Result<()> {
    seed_with_images_and_report(conn, options, &[])
}

/// Seeds with the image files on disk recorded in the same transaction (see [`present_images`])
/// and prints the summary.
pub fn seed_with_images_and_report(
    conn: &mut dyn Sql,
    options: &SeedOptions,
    images: &[cms_db::seed::ImageFile],
) -> Result<()> {
    let started = Instant::now();
    match seed::seed_with_images(conn, options, images)? {
        SeedOutcome::AlreadySeeded { teams } => {
            out!(
                "already seeded ({teams} team(s)); nothing changed. Use `seed --force` or `reset-data` to start over."
            );
        }
        SeedOutcome::Seeded { ids, counts } => {
            out!(
                "seeded in {}{}",
                ms(started.elapsed()),
                options.seed.map(|n| format!(" (--seed {n})")).unwrap_or_default()
            );
            for (table, n) in counts {
                out!("  {table:<24} {n:>8}");
            }
            out!("  team id         {}", ids.team);
            out!("  site id         {}", ids.site);
            out!("  environment id  {}", ids.environment);
            if !images.is_empty() {
                out!("  images          {} file(s) in {} registered", images.len(), crate::images::IMAGES_DIR);
            }
            out!("  home page       http://localhost:4000/pages/home?locale=en");
        }
    }
    Ok(())
}

/// The manifest's image files already in uploads/images (from an earlier seed-images), read
/// from disk: the seed records them as they are, in its own transaction, so the pages keep
/// pointing at real files and the rows are a function of `--seed N` and the files. Only a
/// warning when they cannot be read: the rows stay placeholders and `cargo xtask seed-images`
/// fixes them.
pub fn present_images(ctx: &Context) -> Vec<cms_db::seed::ImageFile> {
    let dir = ctx.root.join(crate::images::IMAGES_DIR);
    let has_files = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().any(|e| !e.file_name().to_string_lossy().starts_with('.')))
        .unwrap_or(false);
    if !has_files {
        return Vec::new();
    }
    match crate::images::present(ctx, None) {
        Ok(rows) => rows.iter().map(|r| r.seed_file()).collect(),
        Err(e) => {
            eprintln!("warning: could not read the files in {}: {e:#}; run `cargo xtask seed-images`", ctx.show(&dir));
            Vec::new()
        }
    }
}
