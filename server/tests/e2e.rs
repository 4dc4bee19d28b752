//! End to end, as a newcomer would: `cargo xtask reset-complete` in a fresh project, the real
//! server binary, and the home page loaded in headless Chromium, checking that the hero's title
//! and its image render.
//!
//! The image files come from `reset-complete`'s image step (`seed-images`; `CMS_IMAGES_OFFLINE=1`
//! makes it write placeholder JPEGs without the network). This test writes no image itself.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use test_support::process::{output_within, KillOnDrop};
use test_support::project::Project;
use test_support::server::{free_port, wait_until_listening};

/// The seeded home page's hero title (the demo content of cms-db's seed).
const HERO_TITLE: &str = "Build pages from sections";

#[test]
fn reset_complete_then_the_home_page_renders_in_chromium() {
    let Some(browser) = test_support::browser::harness() else { return };
    // A copy of the migrations, the project's SQLite file (no DATABASE_URL).
    let p = Project::copied();

    // 1. A fresh development environment, images included (offline placeholders).
    let mut cmd = p.xtask_command(&["reset-complete", "--yes"]);
    cmd.env("CMS_IMAGES_OFFLINE", "1");
    let out = output_within(cmd, Duration::from_secs(120), "xtask reset-complete");
    assert!(
        out.status.success(),
        "reset-complete failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let hero = p.root().join("uploads/images/hero-home.jpg");
    assert!(
        hero.is_file(),
        "`xtask reset-complete --yes` with CMS_IMAGES_OFFLINE=1 left no {}: its image step (seed-images) must \
         write the seeded images (placeholder JPEGs when offline) to uploads/images.\nreset-complete said:\n{}",
        hero.display(),
        String::from_utf8_lossy(&out.stdout)
    );

    // 2. The real server on a free port.
    let port = free_port();
    let mut server = KillOnDrop(
        p.command(env!("CARGO_BIN_EXE_server"))
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_until_listening(&mut server.0, port);

    // 3. The home page in headless Chromium.
    let url = format!("http://127.0.0.1:{port}/pages/home?locale=en");
    let mut cmd = Command::new(&browser.node);
    cmd.arg(&browser.script).arg(&url).env("CHROMIUM", &browser.chromium);
    let out = output_within(cmd, Duration::from_secs(120), "the Chromium page check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "Chromium could not load {url}:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("check-page.mjs printed no JSON ({e}):\n{stdout}"));
    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(seen["h1"], HERO_TITLE, "{seen}");
    let image = &seen["image"];
    assert_eq!(image["src"], "/uploads/images/hero-home.jpg", "{seen}");
    assert_eq!(image["complete"], true, "{seen}");
    assert!(image["naturalWidth"].as_i64().unwrap_or(0) > 0, "the hero image did not decode: {seen}");
}
