//! End to end, as a newcomer would: `cargo xtask reset-complete` in a fresh project, the real
//! server binary, and the home page loaded in headless Chromium, checking that the hero's title
//! and its image render.
//!
//! The image files come from `reset-complete`'s image step (`seed-images`; `CMS_IMAGES_OFFLINE=1`
//! makes it write placeholder JPEGs without the network). This test writes no image itself.

use std::fs;
use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The seeded home page's hero title (the demo content of cms-db's seed).
const HERO_TITLE: &str = "Build pages from sections";

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The xtask binary `cargo test --workspace` built next to this one.
fn xtask_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_server")).with_file_name("xtask");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p xtask` (or `cargo test --workspace`, which builds it) first",
        path.display()
    );
    path
}

/// Runs a command that must finish within `limit`; its output.
fn run_with_timeout(mut cmd: Command, limit: Duration, what: &str) -> Output {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// The server binary; killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn reset_complete_then_the_home_page_renders_in_chromium() {
    let Some(browser) = test_support::browser::harness() else { return };
    let xtask = xtask_binary();
    let root = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations"), &root.path().join("migrations"));

    // 1. A fresh development environment, images included (offline placeholders).
    let mut cmd = Command::new(&xtask);
    cmd.args(["reset-complete", "--yes"])
        .env("CMS_PROJECT_ROOT", root.path())
        .env("CMS_IMAGES_OFFLINE", "1")
        .env_remove("DATABASE_URL")
        .current_dir("/");
    let out = run_with_timeout(cmd, Duration::from_secs(120), "xtask reset-complete");
    assert!(
        out.status.success(),
        "reset-complete failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let hero = root.path().join("uploads/images/hero-home.jpg");
    assert!(
        hero.is_file(),
        "`xtask reset-complete --yes` with CMS_IMAGES_OFFLINE=1 left no {}: its image step (seed-images) must \
         write the seeded images (placeholder JPEGs when offline) to uploads/images.\nreset-complete said:\n{}",
        hero.display(),
        String::from_utf8_lossy(&out.stdout)
    );

    // 2. The real server on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_server"))
            .env("CMS_PROJECT_ROOT", root.path())
            .env("PORT", port.to_string())
            .env_remove("DATABASE_URL")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut err = String::new();
            server.0.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("the server exited with {status}:\n{err}");
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // 3. The home page in headless Chromium.
    let url = format!("http://127.0.0.1:{port}/pages/home?locale=en");
    let mut cmd = Command::new(&browser.node);
    cmd.arg(&browser.script).arg(&url).env("CHROMIUM", &browser.chromium);
    let out = run_with_timeout(cmd, Duration::from_secs(120), "the Chromium page check");
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
