//! `cargo xtask seed-images` through the real binary, against a scripted HTTP/1.1 server on
//! 127.0.0.1 started by each test. Every case ends with the same invariant: no partial or
//! temporary file in uploads/images, and every file matches its row (sha256, bytes, placeholder).

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

// ------------------------------------------------------------------------------------------------
// A scripted HTTP server
// ------------------------------------------------------------------------------------------------

/// One scripted response.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send `Content-Length` (the body's length unless `declared` says otherwise).
    content_length: bool,
    declared: Option<usize>,
    /// Send this many body bytes, then hold the connection open without sending more.
    stall_after: Option<usize>,
}

impl Reply {
    fn image(body: &[u8]) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "image/jpeg".into())],
            body: body.to_vec(),
            content_length: true,
            declared: None,
            stall_after: None,
        }
    }
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: format!("status {status}").into_bytes(),
            ..Reply::image(b"")
        }
    }
    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Script {
    /// Per path: the replies in order; the last one repeats.
    routes: HashMap<String, Vec<Reply>>,
    /// Per path: when each request arrived.
    hits: HashMap<String, Vec<Instant>>,
    /// Per path: how many stalled replies have sent their part of the body.
    stalled: HashMap<String, usize>,
}

struct Server {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = shared.clone();
                std::thread::spawn(move || serve(stream, &script));
            }
        });
        Server { addr, script }
    }

    fn route(&self, path: &str, replies: Vec<Reply>) -> String {
        self.script.lock().unwrap().routes.insert(path.into(), replies);
        self.url(path)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> Vec<Instant> {
        self.script.lock().unwrap().hits.get(path).cloned().unwrap_or_default()
    }

    fn stalled(&self, path: &str) -> usize {
        self.script.lock().unwrap().stalled.get(path).copied().unwrap_or(0)
    }

    fn total_hits(&self) -> usize {
        self.script.lock().unwrap().hits.values().map(Vec::len).sum()
    }
}

fn serve(mut stream: TcpStream, script: &Mutex<Script>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = {
        let mut s = script.lock().unwrap();
        let hits = s.hits.entry(path.clone()).or_default();
        hits.push(Instant::now());
        let n = hits.len();
        s.routes.get(&path).map(|r| r[(n - 1).min(r.len() - 1)].clone())
    };
    let reply = reply.unwrap_or_else(|| Reply::status(404));
    let mut out = format!("HTTP/1.1 {} Scripted\r\nConnection: close\r\n", reply.status);
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if reply.content_length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.declared.unwrap_or(reply.body.len())));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    match reply.stall_after {
        Some(n) => {
            let _ = stream.write_all(&reply.body[..n.min(reply.body.len())]);
            let _ = stream.flush();
            *script.lock().unwrap().stalled.entry(path).or_default() += 1;
            // The stall under test: the connection stays open with nothing more sent until the
            // client gives up and closes it (read returns), at most a minute.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
            let _ = stream.read(&mut [0u8; 1]);
        }
        None => {
            let _ = stream.write_all(&reply.body);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// A project folder, a manifest and the invariant
// ------------------------------------------------------------------------------------------------

/// A real JPEG (no placeholder marker) of the given size, its pixels varied by `seed`.
fn photo(width: u16, height: u16, seed: u8) -> Vec<u8> {
    let mut rgb = Vec::new();
    for y in 0..height {
        for x in 0..width {
            rgb.extend_from_slice(&[(x as u8).wrapping_mul(seed), (y as u8).wrapping_add(seed), seed]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80).encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn sha(bytes: &[u8]) -> String {
    test_support::sha256_hex(bytes)
}

struct Entry<'a> {
    file: &'a str,
    url: String,
    width: u32,
    height: u32,
    sha256: Option<String>,
}

fn entry(file: &str, url: String) -> Entry<'_> {
    Entry { file, url, width: 120, height: 80, sha256: None }
}

/// test-support's project (the repository's migrations), with a `scripts/` folder for the
/// manifest; seed-images may use the network (`CMS_IMAGES_OFFLINE` removed).
struct Project {
    project: test_support::project::Project,
}

impl Project {
    /// On the project's SQLite file (no `DATABASE_URL`).
    fn new() -> Project {
        Project::on(test_support::project::Project::linked())
    }

    fn on(project: test_support::project::Project) -> Project {
        fs::create_dir(project.root().join("scripts")).unwrap();
        Project { project: project.env_remove("CMS_IMAGES_OFFLINE") }
    }

    /// A migrated project.
    fn migrated() -> Project {
        let p = Project::new();
        p.xtask(&["migrate", "-q"]).assert().success();
        p
    }

    fn root(&self) -> &Path {
        self.project.root()
    }

    fn images(&self) -> PathBuf {
        self.root().join("uploads/images")
    }

    fn manifest(&self, entries: &[Entry]) {
        let mut text = String::new();
        for e in entries {
            text.push_str(&format!(
                "[[image]]\nfile = {:?}\nurl = {:?}\nalt = \"Alt of {}\"\nwidth = {}\nheight = {}\nlicence = \"CC0\"\n",
                e.file, e.url, e.file, e.width, e.height
            ));
            if let Some(s) = &e.sha256 {
                text.push_str(&format!("sha256 = {s:?}\n"));
            }
            text.push('\n');
        }
        fs::write(self.root().join("scripts/seed-images.toml"), text).unwrap();
    }

    fn xtask(&self, args: &[&str]) -> Command {
        self.project.xtask(args)
    }

    /// seed-images with short timeouts and backoff, so failure cases take milliseconds.
    fn seed_images(&self, extra: &[&str]) -> Command {
        let mut args = vec!["seed-images"];
        for (flag, value) in
            [("--timeout", "0.5"), ("--connect-timeout", "0.5"), ("--retries", "2"), ("--backoff-ms", "10")]
        {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(extra);
        self.xtask(&args)
    }

    fn sqlite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.project.sqlite_db()).unwrap()
    }

    fn rows(&self) -> HashMap<String, Row> {
        let conn = self.sqlite();
        let mut st = conn
            .prepare("SELECT file_name, id, url, alt, mime, width, height, bytes, sha256, is_placeholder FROM images")
            .unwrap();
        st.query_map([], |r| {
            Ok(Row {
                file: r.get(0)?,
                id: r.get(1)?,
                url: r.get(2)?,
                alt: r.get(3)?,
                mime: r.get(4)?,
                width: r.get(5)?,
                height: r.get(6)?,
                bytes: r.get(7)?,
                sha256: r.get(8)?,
                placeholder: r.get::<_, i64>(9)? != 0,
            })
        })
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.file.clone(), r)
        })
        .collect()
    }

    fn files(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.images()) else { return Vec::new() };
        let mut v: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    fn read(&self, file: &str) -> Vec<u8> {
        fs::read(self.images().join(file)).unwrap()
    }

    /// No temporary or partial file; every file has a row that describes it exactly; every row
    /// has its file.
    fn assert_consistent(&self) {
        let rows = self.rows();
        let files = self.files();
        for f in &files {
            assert!(!f.starts_with('.'), "a temporary file was left behind: {f}");
            let bytes = self.read(f);
            let row = rows.get(f).unwrap_or_else(|| panic!("{f} has no row"));
            assert_eq!(row.sha256, sha(&bytes), "{f}: row sha256");
            assert_eq!(row.bytes, bytes.len() as i64, "{f}: row bytes");
            assert_eq!(row.url, format!("/uploads/images/{f}"));
            assert_eq!(row.mime, "image/jpeg");
            let size = imagesize::blob_size(&bytes).unwrap_or_else(|e| panic!("{f} is not a whole image: {e}"));
            assert_eq!((row.width, row.height), (size.width as i64, size.height as i64), "{f}: dimensions");
            assert_eq!(row.placeholder, is_placeholder(&bytes), "{f}: placeholder flag");
        }
        for f in rows.keys() {
            assert!(files.contains(f), "row for {f} without a file");
        }
    }
}

#[derive(Debug)]
#[allow(dead_code)]
struct Row {
    file: String,
    id: String,
    url: String,
    alt: String,
    mime: String,
    width: i64,
    height: i64,
    bytes: i64,
    sha256: String,
    placeholder: bool,
}

fn is_placeholder(bytes: &[u8]) -> bool {
    let marker = b"cms-seed-images placeholder";
    bytes[..bytes.len().min(512)].windows(marker.len()).any(|w| w == marker)
}

/// Runs one failing case: the image ends as a placeholder of the intended size with a warning
/// naming `reason`, the command succeeds, and everything is consistent.
fn assert_placeholder_after(p: &Project, extra: &[&str], reason: &str) -> Row {
    p.seed_images(extra)
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: a.jpg:").and(predicate::str::contains(reason)))
        .stdout(predicate::str::contains("1 placeholder(s)"));
    p.assert_consistent();
    let row = p.rows().remove("a.jpg").unwrap();
    assert!(row.placeholder);
    assert_eq!((row.width, row.height), (120, 80), "the intended size");
    assert_eq!(p.files(), ["a.jpg"]);
    row
}

// ------------------------------------------------------------------------------------------------
// Downloads
// ------------------------------------------------------------------------------------------------

#[test]
fn downloads_verifies_registers_and_a_second_run_makes_no_request() {
    let server = Server::start();
    let p = Project::migrated();
    let (a, b) = (photo(160, 90, 3), photo(64, 48, 7));
    p.manifest(&[
        entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)])),
        Entry { sha256: Some(sha(&b)), ..entry("b.jpg", server.route("/b.jpg", vec![Reply::image(&b)])) },
    ]);
    p.seed_images(&[])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 images: 2 downloaded, 0 already present, 0 placeholder(s)"))
        .stderr(predicate::str::contains("warning").not());
    assert_eq!(p.read("a.jpg"), a);
    assert_eq!(p.read("b.jpg"), b);
    p.assert_consistent();
    let rows = p.rows();
    assert_eq!((rows["a.jpg"].width, rows["a.jpg"].height), (160, 90), "real dimensions, not the manifest's");
    assert_eq!(rows["a.jpg"].alt, "Alt of a.jpg");
    assert!(!rows["b.jpg"].placeholder);
    assert_eq!(server.total_hits(), 2);

    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("0 downloaded, 2 already present"));
    assert_eq!(server.total_hits(), 2, "a second run must make no request");
    let again = p.rows();
    assert_eq!(again["a.jpg"].id, rows["a.jpg"].id, "upsert keeps the id");
    assert_eq!(again.len(), 2);
}

#[test]
fn not_found_is_not_retried_and_becomes_a_placeholder() {
    let server = Server::start();
    let p = Project::migrated();
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::status(404)]))]);
    assert_placeholder_after(&p, &[], "HTTP 404");
    assert_eq!(server.hits("/a.jpg").len(), 1, "no retry on a 4xx");
}

#[test]
fn a_redirect_loop_is_not_retried_and_becomes_a_placeholder() {
    let server = Server::start();
    let p = Project::migrated();
    let url = server.route("/loop.jpg", vec![Reply::status(302).header("Location", "/loop.jpg")]);
    p.manifest(&[entry("a.jpg", url)]);
    assert_placeholder_after(&p, &[], "the redirects cannot be followed: too many redirects");
    // One attempt: the first request and at most 5 redirects; --retries 2 would triple that.
    let hits = server.hits("/loop.jpg").len();
    assert!((2..=6).contains(&hits), "{hits} requests for a redirect loop");
}

#[test]
fn server_error_is_retried() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 5);
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::status(500), Reply::image(&a)]))]);
    p.seed_images(&[])
        .assert()
        .success()
        .stdout(predicate::str::contains("1 downloaded").and(predicate::str::contains("HTTP 500")));
    assert_eq!(server.hits("/a.jpg").len(), 2);
    assert_eq!(p.read("a.jpg"), a);
    p.assert_consistent();
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 9);
    p.manifest(&[entry(
        "a.jpg",
        server.route("/a.jpg", vec![Reply::status(429).header("Retry-After", "1"), Reply::image(&a)]),
    )]);
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("1 downloaded"));
    let hits = server.hits("/a.jpg");
    assert_eq!(hits.len(), 2);
    // The backoff alone is 10 ms; only Retry-After explains a wait of a second.
    assert!(hits[1] - hits[0] >= Duration::from_millis(950), "Retry-After ignored: {:?}", hits[1] - hits[0]);
    assert_eq!(p.read("a.jpg"), a);
    p.assert_consistent();
}

#[test]
fn persistent_server_errors_give_up_after_the_retries() {
    let server = Server::start();
    let p = Project::migrated();
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::status(503)]))]);
    assert_placeholder_after(&p, &[], "after 3 attempts");
    assert_eq!(server.hits("/a.jpg").len(), 3, "one attempt and --retries 2");
}

#[test]
fn a_stalled_response_times_out() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 11);
    let stalled = Reply { stall_after: Some(100), ..Reply::image(&a) };
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![stalled]))]);
    assert_placeholder_after(&p, &["--retries", "1"], "timed out");
    assert_eq!(server.hits("/a.jpg").len(), 2, "a timeout is retried");
}

#[test]
fn a_run_killed_mid_download_leaves_no_file_under_the_final_name() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 12);
    let stalled = Reply { stall_after: Some(a.len() / 2), ..Reply::image(&a) };
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![stalled]))]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("xtask"))
        .args(["seed-images", "--timeout", "30"])
        .env("CMS_PROJECT_ROOT", p.root())
        .env_remove("DATABASE_URL")
        .env_remove("CMS_IMAGES_OFFLINE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the server has sent half the body and stalls: mid-download.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.stalled("/a.jpg") == 0 {
        assert!(Instant::now() < deadline, "the download never started");
        assert!(child.try_wait().unwrap().is_none(), "seed-images ended before the download stalled");
        // The pause between two checks of the condition, not a wait for it.
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(server.hits("/a.jpg").len(), 1);
    // The body is held in memory until it is complete and checked, so a run killed mid-body
    // has written nothing: no partial file under the final name, and no temporary file.
    assert!(p.images().is_dir(), "the run got as far as preparing uploads/images");
    assert_eq!(p.files(), Vec::<String>::new(), "nothing written by a run killed mid-download");
    assert!(p.rows().is_empty());
    // The next run (offline here) completes the job.
    p.seed_images(&["--offline"]).assert().success();
    p.assert_consistent();
}

#[test]
fn a_truncated_body_is_retried_then_refused() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 13);
    let truncated = Reply { declared: Some(a.len()), body: a[..a.len() / 2].to_vec(), ..Reply::image(&a) };
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![truncated]))]);
    assert_placeholder_after(&p, &["--retries", "1"], "broke off");
    assert_eq!(server.hits("/a.jpg").len(), 2);
}

#[test]
fn a_truncated_body_then_a_whole_one_succeeds() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 15);
    let truncated = Reply { declared: Some(a.len()), body: a[..100].to_vec(), ..Reply::image(&a) };
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![truncated, Reply::image(&a)]))]);
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("1 downloaded"));
    assert_eq!(p.read("a.jpg"), a);
    p.assert_consistent();
}

#[test]
fn a_wrong_content_type_is_refused() {
    let server = Server::start();
    let p = Project::migrated();
    let html = Reply::image(&photo(120, 80, 17)).header("Content-Type", "text/html; charset=utf-8");
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![html]))]);
    assert_placeholder_after(&p, &[], "content type is text/html");
    assert_eq!(server.hits("/a.jpg").len(), 1);
}

#[test]
fn an_image_content_type_with_other_bytes_is_refused() {
    let server = Server::start();
    let p = Project::migrated();
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::image(b"<html>login page</html>")]))]);
    assert_placeholder_after(&p, &[], "not a JPEG, PNG, GIF, WebP or AVIF");
}

#[test]
fn a_body_over_the_size_cap_is_refused_with_or_without_content_length() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 19);
    assert!(a.len() > 1000);
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)]))]);
    assert_placeholder_after(&p, &["--max-bytes", "1000"], "over the 1000 byte cap");
    fs::remove_file(p.images().join("a.jpg")).unwrap();
    p.manifest(&[entry("a.jpg", server.route("/b.jpg", vec![Reply { content_length: false, ..Reply::image(&a) }]))]);
    assert_placeholder_after(&p, &["--max-bytes", "1000"], "over the 1000 byte cap");
    assert_eq!(server.hits("/b.jpg").len(), 1, "a size cap is not retried");
}

#[test]
fn an_announced_length_is_not_allocated_up_front() {
    // 512 GiB announced under the largest cap (1 TiB), then 100 bytes and the connection
    // closes: reserving what was announced would abort the process (no such memory).
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 20);
    let liar = Reply { declared: Some(1 << 39), body: a[..100].to_vec(), ..Reply::image(&a) };
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![liar]))]);
    assert_placeholder_after(&p, &["--retries", "0", "--max-bytes", &(1u64 << 40).to_string()], "broke off");
    // Beyond the largest cap: a usage error naming the flag, exit 2.
    let out = p.xtask(&["seed-images", "--max-bytes", &(1u64 << 51).to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-bytes"));
}

#[test]
fn a_wrong_sha256_is_refused() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 21);
    p.manifest(&[Entry {
        sha256: Some("ab".repeat(32)),
        ..entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)]))
    }]);
    assert_placeholder_after(&p, &[], "SHA-256 mismatch");
    assert_eq!(server.hits("/a.jpg").len(), 1);
}

#[test]
fn a_hostile_file_name_is_refused_before_anything_happens() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 23);
    for hostile in ["../evil.jpg", "../../evil.jpg", "sub/evil.jpg", "/tmp/evil.jpg", ".evil.jpg", "evil..jpg"] {
        p.manifest(&[
            entry("good.jpg", server.route("/good.jpg", vec![Reply::image(&a)])),
            entry(hostile, server.route("/evil.jpg", vec![Reply::image(&a)])),
        ]);
        p.seed_images(&[]).assert().failure().code(1).stderr(
            predicate::str::contains("image manifest scripts/seed-images.toml is invalid")
                .and(predicate::str::contains(format!("image #2 ({hostile:?})"))),
        );
    }
    assert_eq!(server.total_hits(), 0);
    assert!(!p.root().join("uploads").exists(), "nothing written");
    assert!(!p.root().join("evil.jpg").exists() && !p.root().join("uploads/evil.jpg").exists());
    assert!(p.rows().is_empty());
}

#[test]
fn a_malformed_manifest_says_what_is_wrong() {
    let p = Project::migrated();
    fs::write(p.root().join("scripts/seed-images.toml"), "[[image]]\nfile = \"a.jpg\"\ncolour = \"red\"\n").unwrap();
    p.seed_images(&[]).assert().failure().code(1).stderr(predicate::str::contains("colour"));
    p.seed_images(&["--manifest", "scripts/missing.toml"])
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("cannot read the image manifest scripts/missing.toml"));
    p.seed_images(&["--concurrency", "0"]).assert().failure().code(2);
    p.seed_images(&["--concurrency", "65"]).assert().failure().code(2);
    p.seed_images(&["--timeout", "-1"]).assert().failure().code(2);
    p.seed_images(&["--max-bytes", "0"]).assert().failure().code(2);
    p.seed_images(&["--retries", "21"]).assert().failure().code(2);
    assert!(!p.root().join("uploads").exists());
}

#[test]
fn an_unmigrated_database_is_refused_and_nothing_is_written() {
    let server = Server::start();
    let p = Project::new();
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&photo(120, 80, 1))]))]);
    p.seed_images(&[]).assert().failure().code(1).stderr(predicate::str::contains("cargo xtask migrate"));
    assert_eq!(server.total_hits(), 0);
    assert!(!p.root().join("uploads").exists());
}

#[test]
fn a_broken_file_on_disk_is_downloaded_again() {
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 25);
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)]))]);
    fs::create_dir_all(p.images()).unwrap();
    fs::write(p.images().join("a.jpg"), &a[..a.len() / 3]).unwrap();
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("1 downloaded"));
    assert_eq!(p.read("a.jpg"), a);
    p.assert_consistent();
}

// ------------------------------------------------------------------------------------------------
// Offline and placeholders
// ------------------------------------------------------------------------------------------------

#[test]
fn offline_writes_placeholders_then_an_online_run_replaces_them() {
    let server = Server::start();
    let p = Project::migrated();
    let (a, b) = (photo(120, 80, 27), photo(200, 100, 29));
    p.manifest(&[
        entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)])),
        Entry { width: 200, height: 100, ..entry("b.jpg", server.route("/b.jpg", vec![Reply::image(&b)])) },
    ]);
    let out = p.seed_images(&[]).env("CMS_IMAGES_OFFLINE", "1").assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(stderr.lines().filter(|l| l.starts_with("warning: ") && l.contains("offline")).count(), 2, "{stderr}");
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("2 placeholder(s)"));
    assert_eq!(server.total_hits(), 0, "offline makes no request");
    p.assert_consistent();
    let offline = p.rows();
    assert!(offline.values().all(|r| r.placeholder));
    assert_eq!((offline["b.jpg"].width, offline["b.jpg"].height), (200, 100));

    // --offline again keeps the placeholders (no request); CMS_IMAGES_OFFLINE=0 means online.
    p.seed_images(&["--offline"]).assert().success().stdout(predicate::str::contains("2 placeholder(s)"));
    assert_eq!(server.total_hits(), 0);
    p.seed_images(&[])
        .env("CMS_IMAGES_OFFLINE", "0")
        .assert()
        .success()
        .stdout(predicate::str::contains("2 downloaded"));
    assert_eq!(server.total_hits(), 2);
    assert_eq!(p.read("a.jpg"), a);
    assert_eq!(p.read("b.jpg"), b);
    p.assert_consistent();
    let online = p.rows();
    assert!(online.values().all(|r| !r.placeholder));
    assert_eq!(online["a.jpg"].id, offline["a.jpg"].id, "the row is updated in place");
}

#[test]
fn a_failed_download_keeps_a_real_file_already_present() {
    // A real image stays when a later run could not fetch (it is not fetched at all).
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 31);
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)]))]);
    p.seed_images(&[]).assert().success();
    server.route("/a.jpg", vec![Reply::status(500)]);
    p.seed_images(&["--offline"]).assert().success().stdout(predicate::str::contains("1 already present"));
    assert_eq!(p.read("a.jpg"), a);
    assert!(!p.rows()["a.jpg"].placeholder);
    assert_eq!(server.total_hits(), 1);
}

#[test]
fn a_real_file_larger_than_max_bytes_is_kept_without_a_request() {
    // --max-bytes caps downloads; it does not make an image already there count as missing.
    let server = Server::start();
    let p = Project::migrated();
    let a = photo(120, 80, 33);
    assert!(a.len() > 1000);
    p.manifest(&[entry("a.jpg", server.route("/a.jpg", vec![Reply::image(&a)]))]);
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("1 downloaded"));
    server.route("/a.jpg", vec![Reply::status(500)]);
    p.seed_images(&["--max-bytes", "1000"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 downloaded, 1 already present, 0 placeholder(s)"))
        .stderr(predicate::str::contains("warning").not());
    assert_eq!(server.total_hits(), 1, "no request for an image already present");
    assert_eq!(p.read("a.jpg"), a);
    assert!(!p.rows()["a.jpg"].placeholder);
    p.assert_consistent();
}

#[test]
fn a_real_file_is_never_replaced_by_a_placeholder_when_the_fetch_fails() {
    // The manifest's SHA-256 no longer describes the image on disk: it is fetched again, and
    // when that fails the real image stays, with its real metadata and a warning.
    let server = Server::start();
    let p = Project::migrated();
    let (old, new) = (photo(160, 90, 35), photo(120, 80, 37));
    fs::create_dir_all(p.images()).unwrap();
    fs::write(p.images().join("a.jpg"), &old).unwrap();
    p.manifest(&[Entry {
        sha256: Some(sha(&new)),
        ..entry("a.jpg", server.route("/a.jpg", vec![Reply::status(404)]))
    }]);
    p.seed_images(&[])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 downloaded, 1 already present, 0 placeholder(s)"))
        .stderr(
            predicate::str::contains("warning: a.jpg: HTTP 404")
                .and(predicate::str::contains("keeping the image already there (160x90")),
        );
    assert_eq!(server.hits("/a.jpg").len(), 1);
    assert_eq!(p.read("a.jpg"), old, "the real image is kept");
    let row = p.rows().remove("a.jpg").unwrap();
    assert!(!row.placeholder);
    assert_eq!((row.width, row.height, row.sha256.as_str()), (160, 90, sha(&old).as_str()));
    p.assert_consistent();
    // Once the server has the new image, it replaces the old one.
    server.route("/a.jpg", vec![Reply::image(&new)]);
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("1 downloaded"));
    assert_eq!(p.read("a.jpg"), new);
    p.assert_consistent();
}

// ------------------------------------------------------------------------------------------------
// The seed and the images table
// ------------------------------------------------------------------------------------------------

/// The seed's image files.
const SEED_FILES: [&str; 9] = test_support::demo::IMAGE_FILES;

fn seed_manifest(p: &Project, server: &Server) {
    let entries: Vec<Entry> = SEED_FILES
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let path = format!("/{f}");
            entry(f, server.route(&path, vec![Reply::image(&photo(96, 64, i as u8 + 40))]))
        })
        .collect();
    p.manifest(&entries);
}

/// Every image id that sections and posts refer to, with how often.
fn references(p: &Project) -> Vec<String> {
    let conn = p.sqlite();
    let mut ids: Vec<String> = conn
        .prepare("SELECT featured_image_id FROM posts WHERE featured_image_id IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let contents: Vec<String> = conn
        .prepare("SELECT content FROM page_section_contents")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::String(id)) = m.get("imageId") {
                    out.push(id.clone());
                }
                m.values().for_each(|v| walk(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for c in contents {
        walk(&serde_json::from_str(&c).unwrap(), &mut ids);
    }
    ids
}

fn assert_references_resolve(p: &Project) {
    let rows = p.rows();
    assert_eq!(rows.len(), 9, "one row per image, no duplicates");
    let ids: HashMap<&str, &Row> = rows.values().map(|r| (r.id.as_str(), r)).collect();
    let refs = references(p);
    assert_eq!(refs.len(), 3 + 12, "3 posts, 2 heroes and 4 gallery images in 2 locales");
    for id in &refs {
        let row = ids.get(id.as_str()).unwrap_or_else(|| panic!("reference {id} points at no image"));
        assert!(!row.placeholder && row.bytes > 0, "{} should be the downloaded image", row.file);
    }
}

#[test]
fn seed_then_seed_images_updates_the_seeded_rows_in_place() {
    let server = Server::start();
    let p = Project::migrated();
    seed_manifest(&p, &server);
    p.xtask(&["seed"]).assert().success();
    let seeded = p.rows();
    assert!(seeded.values().all(|r| r.placeholder && r.bytes == 0));
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("9 downloaded"));
    let after = p.rows();
    for f in SEED_FILES {
        assert_eq!(after[f].id, seeded[f].id, "{f}: id kept");
    }
    assert_references_resolve(&p);
    p.assert_consistent();
}

#[test]
fn seed_images_then_seed_links_the_seed_to_the_existing_rows() {
    let server = Server::start();
    let p = Project::migrated();
    seed_manifest(&p, &server);
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("9 downloaded"));
    let before = p.rows();
    p.xtask(&["seed"]).assert().success();
    let after = p.rows();
    for f in SEED_FILES {
        assert_eq!(after[f].id, before[f].id, "{f}: id kept");
        assert_eq!(after[f].sha256, before[f].sha256, "{f}: metadata kept");
    }
    assert_references_resolve(&p);
    p.assert_consistent();
}

#[test]
fn seed_force_registers_the_files_on_disk_again_without_a_request() {
    let server = Server::start();
    let p = Project::migrated();
    seed_manifest(&p, &server);
    p.seed_images(&[]).assert().success();
    assert_eq!(server.total_hits(), 9);
    let before = p.rows();
    p.xtask(&["seed", "--force", "--yes"]).assert().success().stdout(predicate::str::contains("9 file(s)"));
    let after = p.rows();
    for f in SEED_FILES {
        assert!(!after[f].placeholder && after[f].bytes > 0, "{f}: seed --force registers the files on disk again");
        assert_eq!(after[f].sha256, before[f].sha256, "{f}");
    }
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("0 downloaded, 9 already present"));
    assert_eq!(server.total_hits(), 9, "the files on disk are real: no request");
    assert_references_resolve(&p);
    p.assert_consistent();
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL
// ------------------------------------------------------------------------------------------------

#[test]
fn postgres_upserts_by_file_name_and_keeps_ids() {
    let Some(db) = test_support::pg::database() else { return };
    let server = Server::start();
    let p = Project::on(test_support::project::Project::linked().with_database_url(db.url()));
    p.xtask(&["migrate", "-q"]).assert().success();
    seed_manifest(&p, &server);
    p.xtask(&["seed"]).assert().success();
    let ids = |client: &mut postgres::Client| -> HashMap<String, (String, bool, i64, String)> {
        client
            .query("SELECT file_name, id, is_placeholder, bytes, sha256 FROM images", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
            .collect()
    };
    let mut client = db.client();
    let seeded = ids(&mut client);
    p.seed_images(&["--offline"]).assert().success().stdout(predicate::str::contains("9 placeholder(s)"));
    let offline = ids(&mut client);
    p.seed_images(&[]).assert().success().stdout(predicate::str::contains("9 downloaded"));
    let online = ids(&mut client);
    assert_eq!(online.len(), 9);
    for f in SEED_FILES {
        assert_eq!(online[f].0, seeded[f].0, "{f}: id kept");
        assert!(offline[f].1 && offline[f].2 > 0, "{f}: a registered placeholder");
        let bytes = p.read(f);
        assert_eq!((online[f].1, online[f].2, online[f].3.as_str()), (false, bytes.len() as i64, sha(&bytes).as_str()));
    }
    let refs: i64 = client
        .query_one(
            "SELECT count(*) FROM posts p JOIN images i ON i.id = p.featured_image_id WHERE NOT i.is_placeholder",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(refs, 3);
}
