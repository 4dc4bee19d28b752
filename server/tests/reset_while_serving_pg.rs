//! Serving on PostgreSQL while `cargo xtask reset-data` and `cargo xtask seed --force` rewrite
//! every row: the real server binary on 127.0.0.1, several threads requesting pages, posts and
//! the JSON API, and the real xtask binary resetting the data again and again. Every answer must
//! be the whole site (the old one or the new one): never a 404 "no site", a missing section or
//! navigation, or a 500 such as "deadlock detected".
//!
//! The xtask binary is the one `cargo test --workspace` builds next to the server binary; with
//! `cargo test -p server`, run `cargo build -p xtask` first.

use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cms_db::connection::{transaction, TxMode};
use cms_db::DatabaseUrl;
use cms_db::DbError;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use server::web::pool::Db;
use test_support::process::KillOnDrop;
use test_support::project::Project;
use test_support::server::{free_port, wait_until_listening};

/// Requests answered while no reset runs or across one: at least this many in all…
const MIN_REQUESTS: usize = 6_000;
/// …and at least this many that started and ended while one and the same reset was running.
const MIN_OVERLAPPING: usize = 1_500;
const MIN_RESETS: u64 = 8;
const MAX_RESETS: u64 = 400;
const READERS: usize = 4;

/// A project root (the repository's migrations, offline images) on a test database of its own.
fn project() -> Option<Project> {
    Project::linked().env("CMS_IMAGES_OFFLINE", "1").on_postgres()
}

/// Runs `cargo xtask ARGS`: what went wrong when it fails.
fn try_xtask(p: &Project, args: &[&str]) -> Result<Output, String> {
    let out = p.xtask_command(args).stdin(Stdio::null()).output().unwrap();
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "xtask {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Runs `cargo xtask ARGS`, which must succeed.
fn xtask(p: &Project, args: &[&str]) -> Output {
    try_xtask(p, args).unwrap_or_else(|e| panic!("{e}"))
}

fn serve(p: &Project) -> (KillOnDrop, u16) {
    let port = free_port();
    let mut cmd = p.command(env!("CARGO_BIN_EXE_server"));
    cmd.env("PORT", port.to_string())
        .args(["--pool-size", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    wait_until_listening(&mut child.0, port);
    // Its log is not read from here on: drain it so the server never blocks on a full pipe.
    let mut log = child.0.stderr.take().unwrap();
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    (child, port)
}

/// What a whole answer for `path` holds; `None` when it is whole, else what is wrong.
fn incomplete(path: &str, status: StatusCode, body: &str) -> Option<String> {
    if status != StatusCode::OK {
        return Some(format!("HTTP {status}"));
    }
    let (needles, sections): (&[&str], Option<usize>) = match path {
        "/pages/home" => (
            &[
                "<title>Build pages from sections · Local Site</title>",
                "<a href=\"/pages/about\">About</a>",
                "<a href=\"/pages/contact\">Contact</a>",
                "<h1>Build pages from sections</h1>",
                "<img src=\"/uploads/images/hero-home.jpg\" alt=\"A laptop on a desk showing the page editor\" width=\"1600\" height=\"900\"",
                "<h3>Reusable sections</h3>",
                "<cite>Alex Example</cite>",
                "<h2>Ready to try it?</h2>",
                "</html>",
            ],
            Some(4),
        ),
        "/pages/about" => (
            &[
                "<h1>About us</h1>",
                "<img src=\"/uploads/images/hero-about.jpg\"",
                "<img src=\"/uploads/images/gallery-4.jpg\"",
                "<figcaption>Release day</figcaption>",
                "</html>",
            ],
            Some(3),
        ),
        "/posts" => (
            &[
                "<h1>Blog</h1>",
                "<a href=\"/posts/working-with-sections\">Working with sections</a>",
                "<img src=\"/uploads/images/post-2.jpg\"",
                "<a href=\"/posts/welcome\">Welcome to the demo site</a>",
                "</html>",
            ],
            None,
        ),
        "/api/pages/home" => {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
                return Some("not JSON".into());
            };
            let sections = v["sections"].as_array().map_or(0, Vec::len);
            let hero = v["sections"][0]["content"]["image"]["imageId"].as_str().unwrap_or_default();
            let url = &v["images"][hero]["url"];
            return (sections != 4 || url != "/uploads/images/hero-home.jpg")
                .then(|| format!("{sections} sections, hero image {url}"));
        }
        other => panic!("no expectations for {other}"),
    };
    if let Some(missing) = needles.iter().find(|n| !body.contains(**n)) {
        return Some(format!("`{missing}` missing"));
    }
    match sections {
        Some(n) if body.matches("<section ").count() != n => {
            Some(format!("{} sections instead of {n}", body.matches("<section ").count()))
        }
        _ => None,
    }
}

const PATHS: [&str; 4] = ["/pages/home", "/api/pages/home", "/pages/about", "/posts"];

#[test]
fn every_request_sees_the_whole_old_or_new_site_while_the_data_is_reset() {
    let Some(p) = project() else { return };
    xtask(&p, &["migrate", "-q"]);
    xtask(&p, &["seed", "--seed", "1"]);
    // Image files on disk (offline placeholders): every reset registers them again.
    xtask(&p, &["seed-images", "--offline"]);
    let (_server, port) = serve(&p);

    // 0 while no reset runs, else the number of the reset in progress.
    let resetting = Arc::new(AtomicU64::new(0));
    let (requests, overlapping) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let (resetting, requests, overlapping, failures, done) =
                (resetting.clone(), requests.clone(), overlapping.clone(), failures.clone(), done.clone());
            std::thread::spawn(move || {
                let client = Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
                let mut n = i;
                while !done.load(SeqCst) {
                    let path = PATHS[n % PATHS.len()];
                    n += 1;
                    let before = resetting.load(SeqCst);
                    let answer = client
                        .get(format!("http://127.0.0.1:{port}{path}"))
                        .send()
                        .and_then(|r| Ok((r.status(), r.text()?)));
                    if before != 0 && resetting.load(SeqCst) == before {
                        overlapping.fetch_add(1, SeqCst);
                    }
                    requests.fetch_add(1, SeqCst);
                    let problem = match &answer {
                        Ok((status, body)) => incomplete(path, *status, body).map(|p| {
                            let excerpt: String = body.chars().take(300).collect();
                            format!("{path}: {p} (during reset {before}): {excerpt}")
                        }),
                        Err(e) => Some(format!("{path}: {e}")),
                    };
                    if let Some(problem) = problem {
                        failures.lock().unwrap().push(problem);
                    }
                }
            })
        })
        .collect();

    // Both ways of starting over, each with and without --seed, until enough requests have run
    // inside a reset (and at least MIN_RESETS times).
    let mut n = 0;
    while n < MIN_RESETS
        || ((requests.load(SeqCst) < MIN_REQUESTS || overlapping.load(SeqCst) < MIN_OVERLAPPING) && n < MAX_RESETS)
    {
        let seed = (n % 5).to_string();
        let args: Vec<&str> = match n % 4 {
            0 => vec!["reset-data", "--yes", "--seed", &seed],
            1 => vec!["seed", "--force", "--yes", "--seed", &seed],
            2 => vec!["reset-data", "--yes"],
            _ => vec!["seed", "--force", "--yes"],
        };
        resetting.store(n + 1, SeqCst);
        // A reset that fails (a deadlock with a reader, say) is a failure too; go on.
        let result = try_xtask(&p, &args);
        resetting.store(0, SeqCst);
        if let Err(e) = result {
            failures.lock().unwrap().push(format!("reset {}: {e}", n + 1));
        }
        n += 1;
    }
    done.store(true, SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let (requests, overlapping) = (requests.load(SeqCst), overlapping.load(SeqCst));
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures in {requests} requests during {n} resets (every answer must be the whole site, \
         every reset must succeed); the first ones:\n{}",
        failures.len(),
        failures.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        requests >= MIN_REQUESTS && overlapping >= MIN_OVERLAPPING,
        "only {overlapping} of {requests} requests ran entirely during one of {n} resets \
         (want {MIN_OVERLAPPING} of {MIN_REQUESTS})"
    );
    eprintln!("{requests} requests, {overlapping} of them entirely inside one of {n} resets");
}

#[test]
fn each_request_reads_one_repeatable_read_read_only_snapshot() {
    let Some(p) = project() else { return };
    let url = DatabaseUrl::parse(&p.url()).unwrap();
    let db = Db::open(&url, 1).unwrap();
    let mut conn = db.get().unwrap();
    let settings = transaction(&mut conn, TxMode::ReadSnapshot, |c| {
        c.query("SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')", &[])
    })
    .unwrap();
    assert_eq!(settings[0][0].text(), Some("repeatable read"));
    assert_eq!(settings[0][1].text(), Some("on"));
    // One snapshot: a row committed by another session after the first read is not seen.
    let mut other = p.pg().unwrap().client();
    other.batch_execute("CREATE TABLE t (x int)").unwrap();
    let (first, second) = transaction(&mut conn, TxMode::ReadSnapshot, |c| {
        let first = c.query("SELECT count(*) FROM t", &[])?;
        other.batch_execute("INSERT INTO t VALUES (1)").unwrap();
        let second = c.query("SELECT count(*) FROM t", &[])?;
        Ok::<_, DbError>((first[0][0].int(), second[0][0].int()))
    })
    .unwrap();
    assert_eq!((first, second), (Some(0), Some(0)));
    // Writes are refused inside it, and the connection is usable afterwards.
    let err = transaction(&mut conn, TxMode::ReadSnapshot, |c| c.query("INSERT INTO t VALUES (2) RETURNING x", &[]))
        .unwrap_err();
    let text = cms_db::error::with_causes(&err);
    assert!(text.contains("read-only"), "{text}");
    assert_eq!(err.sql_state(), Some(&cms_db::error::SqlState::READ_ONLY_SQL_TRANSACTION), "{text}");
    let after = transaction(&mut conn, TxMode::ReadSnapshot, |c| c.query("SELECT count(*) FROM t", &[])).unwrap();
    assert_eq!(after[0][0].int(), Some(1));
}
