//! `reset-complete --seed N` builds the same database wherever it runs: every row, image rows
//! included (their images come from the seed-images step), is a function of N.

use test_support::project::Project;
use test_support::rows;

/// `reset-complete --seed SEED` (offline) in a project with copies of the repository's
/// migrations and scripts, on its SQLite file (no `DATABASE_URL`); the project and every row.
fn reset_complete(seed: &str) -> (Project, String) {
    let p = Project::copied().with_copy_of("scripts");
    p.xtask(&["reset-complete", "--yes", "--offline", "--seed", seed]).assert().success();
    assert!(p.root().join("uploads/images/hero-home.jpg").is_file(), "the image step ran");
    let text = rows::sqlite(&p.sqlite_db(), &[rows::BOOKKEEPING]);
    (p, text)
}

#[test]
fn the_same_seed_gives_the_same_rows_images_included() {
    let (_a, first) = reset_complete("7");
    let (_b, second) = reset_complete("7");
    assert!(first.contains("images: "), "image rows were written");
    assert_eq!(first, second);
    let (_c, other) = reset_complete("8");
    assert_ne!(first, other);
}
