//! The CMS server over real HTTP on 127.0.0.1: every route against a migrated and seeded
//! temporary database (SQLite, and one PostgreSQL run through the r2d2_postgres pool), plus the
//! server binary's refusal to start on pending or modified migrations.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cms_db::connect;
use cms_db::migrate::migrator::{self, MigrateOptions};
use cms_db::seed::{seed, SeedOptions};
use cms_db::{DatabaseUrl, MigrationSet};
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::Value;
use server::web::app::{self, AppState, Running};
use server::web::pool::Db;
use test_support::process::KillOnDrop;
use test_support::project::Project;
use test_support::server::{free_port, wait_until_listening};

/// A minimal JPEG header: what the server sniffs.
const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0xFF, 0xD9];
const SECRET: &str = "top-secret-do-not-serve";

/// The secret behind a JPEG header: served if a request ever reached it.
fn secret_jpeg() -> Vec<u8> {
    [JPEG, SECRET.as_bytes()].concat()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn migrate_and_seed(url: &DatabaseUrl) {
    let set = MigrationSet::load(&repo().join(url.dialect().default_folder())).unwrap();
    let mut driver = cms_db::driver(url, false).unwrap();
    migrator::migrate(driver.as_mut(), &set, &MigrateOptions::default(), &mut |_| {}).unwrap();
    let mut conn = connect(url).unwrap();
    seed(&mut conn, &SeedOptions { seed: Some(1), ..Default::default() }).unwrap();
}

/// A temporary project: a seeded SQLite database, an uploads folder with one image, a secret
/// file next to it, and the server running in-process.
struct Site {
    dir: tempfile::TempDir,
    server: Running,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite { path: dir.path().join("data/sqlite.db") };
        migrate_and_seed(&url);
        let images = dir.path().join("uploads/images");
        fs::create_dir_all(&images).unwrap();
        fs::write(images.join("hero-home.jpg"), JPEG).unwrap();
        fs::write(images.join("notes.txt"), "just text").unwrap();
        fs::write(images.join(".hidden.jpg"), JPEG).unwrap();
        // Secrets that sniff as JPEG: only the path checks keep them out.
        fs::write(dir.path().join("secret.txt"), secret_jpeg()).unwrap();
        fs::write(dir.path().join("uploads/secret.jpg"), secret_jpeg()).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), images.join("link.jpg")).unwrap();
        let server = start(url, dir.path().join("uploads"));
        Site { dir, server }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("data/sqlite.db")
    }

    fn sql(&self, sql: &str) {
        let conn = cms_db::sqlite::open(&self.db()).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn get(&self, path: &str) -> Response {
        client().get(self.server.url(path)).send().unwrap()
    }
}

fn start(url: DatabaseUrl, uploads: PathBuf) -> Running {
    let migrations = repo().join(url.dialect().default_folder());
    let db = Db::open(&url, 4).unwrap();
    app::spawn("127.0.0.1:0".parse().unwrap(), AppState::new(db, url, uploads, migrations)).unwrap()
}

fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn html(r: Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status, "{}", r.url());
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ct, "text/html; charset=utf-8");
    r.text().unwrap()
}

fn json(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status, "{}", r.url());
    assert_eq!(r.headers()["content-type"], "application/json");
    serde_json::from_str(&r.text().unwrap()).unwrap()
}

fn language(r: &Response) -> Option<String> {
    r.headers().get("content-language").map(|v| v.to_str().unwrap().to_string())
}

/// `needles` appear in `haystack` in this order.
fn in_order(haystack: &str, needles: &[&str]) {
    let mut from = 0;
    for n in needles {
        let at = haystack[from..].find(n).unwrap_or_else(|| panic!("`{n}` missing or out of order in:\n{haystack}"));
        from += at + n.len();
    }
}

/// A request exactly as written (clients would normalise `..`): status line and body.
fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn home_page_renders_published_sections_in_order() {
    let site = Site::new();
    let r = site.get("/pages/home");
    assert_eq!(language(&r).as_deref(), Some("en"));
    let page = html(r, StatusCode::OK);
    in_order(
        &page,
        &[
            "<html lang=\"en\">",
            "<title>Build pages from sections · Local Site</title>",
            "<a href=\"/pages/about\">About</a>",
            "<section class=\"section hero\"",
            "<h1>Build pages from sections</h1>",
            "<p class=\"subtitle\">A small CMS running on your machine",
            "<a class=\"button\" href=\"/about\">Learn more</a>",
            "<img src=\"/uploads/images/hero-home.jpg\" alt=\"A laptop on a desk showing the page editor\" width=\"1600\" height=\"900\"",
            "<section class=\"section features\"",
            "<h3>Reusable sections</h3>",
            "<section class=\"section testimonials\"",
            "<cite>Alex Example</cite>, Developer",
            "<section class=\"section cta\"",
            "<h2>Ready to try it?</h2>",
        ],
    );
    assert_eq!(page.matches("<section ").count(), 4);
    // An explicit default locale is the same page.
    assert_eq!(html(site.get("/pages/home?locale=en"), StatusCode::OK), page);
}

#[test]
fn about_and_contact_pages_render_their_sections_and_hide_drafts() {
    let site = Site::new();
    let about = html(site.get("/pages/about"), StatusCode::OK);
    in_order(
        &about,
        &[
            "<h1>About us</h1>",
            "<img src=\"/uploads/images/hero-about.jpg\"",
            "<h2>Our story</h2>",
            "made of <strong>sections</strong>",
            "<section class=\"section gallery\"",
            "<img src=\"/uploads/images/gallery-1.jpg\" alt=\"Pencil sketches of page layouts on paper\" width=\"1200\" height=\"800\" loading=\"lazy\">",
            "<figcaption>Sketching the first page layouts</figcaption>",
            "<figcaption>Release day</figcaption>",
        ],
    );
    assert!(!about.contains("Join the team"), "the draft section is not public");
    assert_eq!(about.matches("<section ").count(), 3);

    let contact = html(site.get("/pages/contact"), StatusCode::OK);
    in_order(
        &contact,
        &[
            "<h1 class=\"page-title\">Contact</h1>",
            "<h2>Get in touch</h2>",
            "<h2>Contact details</h2>",
            "<a href=\"mailto:hello@example.com\">hello@example.com</a>",
            "<a href=\"tel:+49301234567\">+49 30 1234567</a>",
            "Example Street 1<br>10115 Berlin<br>Germany",
        ],
    );
}

#[test]
fn values_from_the_database_are_escaped() {
    let site = Site::new();
    site.sql(
        "UPDATE page_section_contents SET content = json_set(content, '$.title', '<script>alert(1)</script>',
                '$.link.href', 'javascript:alert(2)')
          WHERE locale_code = 'en' AND json_extract(content, '$.title') = 'Build pages from sections';",
    );
    let page = html(site.get("/pages/home"), StatusCode::OK);
    assert!(page.contains("<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>"), "{page}");
    assert!(!page.contains("<script>") && !page.contains("javascript:"), "{page}");
}

#[test]
fn unknown_pages_and_routes_are_404_pages() {
    let site = Site::new();
    let page = html(site.get("/pages/nope"), StatusCode::NOT_FOUND);
    assert!(page.contains("<h1>Page not found</h1>") && page.contains("There is no page “nope”."), "{page}");
    assert!(page.contains("<a href=\"/pages/contact\">Contact</a>"), "the 404 page keeps the site's navigation");
    let page = html(site.get("/pages/%3Cb%3E"), StatusCode::NOT_FOUND);
    assert!(page.contains("“&lt;b&gt;”") && !page.contains("<b>"), "{page}");
    for path in ["/pages/", "/nothing/here", "/uploads/images/", "/posts/a/b"] {
        let page = html(site.get(path), StatusCode::NOT_FOUND);
        assert!(page.contains("Not found") || page.contains("not found"), "{path}: {page}");
    }
}

#[test]
fn paths_that_are_not_utf8_are_404_answers() {
    let site = Site::new();
    let addr = site.server.addr();
    for target in ["/pages/%FF", "/posts/%FF", "/uploads/images/%FF", "/%FF", "/pages/a%C3"] {
        let (status, text) = raw_get(addr, target);
        assert_eq!(status, 404, "{target}: {text}");
        assert!(text.contains("content-type: text/html; charset=utf-8"), "{target}: {text}");
        assert!(text.contains("<h1>Not found</h1>"), "{target}: {text}");
    }
    let (status, text) = raw_get(addr, "/api/pages/%FF");
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("content-type: application/json"), "{text}");
    assert!(text.contains(r#""error":"not_found""#), "{text}");
}

#[test]
fn short_addresses_and_the_root_redirect_to_pages() {
    let site = Site::new();
    for (from, to) in
        [("/", "/pages/home"), ("/about", "/pages/about"), ("/contact?locale=en", "/pages/contact?locale=en")]
    {
        let r = site.get(from);
        assert!(r.status().is_redirection(), "{from}: {}", r.status());
        assert_eq!(r.headers()["location"], to, "{from}");
    }
    // Only pages that exist under exactly that slug: anything else is the 404 page.
    for path in ["/favicon.ico", "/robots.txt", "/nope", "/About", "/ab%20out"] {
        let page = html(site.get(path), StatusCode::NOT_FOUND);
        assert!(page.contains("<h1>Page not found</h1>"), "{path}: {page}");
        assert!(page.contains("<a href=\"/pages/contact\">Contact</a>"), "{path}: the site's navigation");
    }
}

#[test]
fn inactive_and_unknown_locales_get_a_404_listing_the_active_ones() {
    let site = Site::new();
    let page = html(site.get("/pages/home?locale=de"), StatusCode::NOT_FOUND);
    assert!(page.contains("the locale `de` is not active"), "{page}");
    assert!(page.contains("<a href=\"/pages/home?locale=en\">en</a>"), "{page}");
    let page = html(site.get("/pages/home?locale=%3Cscript%3E"), StatusCode::NOT_FOUND);
    assert!(page.contains("there is no locale `&lt;script&gt;`"), "{page}");
    assert!(!page.contains("<script>"));

    let body = json(site.get("/api/pages/home?locale=de"), StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "inactive_locale");
    assert_eq!(body["activeLocales"], serde_json::json!(["en"]));
    let body = json(site.get("/api/pages/home?locale=fr"), StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "unknown_locale");
}

#[test]
fn posts_follow_the_same_locale_rules_as_pages() {
    let site = Site::new();
    // `de` is inactive, `fr` unknown: the same 404 as for pages, listing the active locales.
    for (path, says) in [
        ("/posts?locale=de", "the locale `de` is not active"),
        ("/posts/welcome?locale=de", "the locale `de` is not active"),
        ("/posts/welcome?locale=fr", "there is no locale `fr`"),
    ] {
        let page = html(site.get(path), StatusCode::NOT_FOUND);
        assert!(page.contains(says), "{path}: {page}");
        assert!(page.contains("?locale=en\">en</a>"), "{path}: {page}");
    }
    let r = site.get("/posts?locale=en");
    assert_eq!(language(&r).as_deref(), Some("en"));
    assert!(html(r, StatusCode::OK).contains("<a href=\"/posts/welcome\">Welcome to the demo site</a>"));

    // An active locale is kept in every link.
    site.sql("UPDATE locales SET status = 'active' WHERE code = 'de';");
    let r = site.get("/posts?locale=de");
    assert_eq!(language(&r).as_deref(), Some("de"));
    let list = html(r, StatusCode::OK);
    in_order(
        &list,
        &[
            "<html lang=\"de\">",
            "<a href=\"/pages/about?locale=de\">About</a>",
            "<a href=\"/posts/welcome?locale=de\">Welcome to the demo site</a>",
            "<a href=\"/posts?locale=de\">Blog</a>",
        ],
    );
    let r = site.get("/posts/welcome?locale=de");
    assert_eq!(language(&r).as_deref(), Some("de"));
    let post = html(r, StatusCode::OK);
    in_order(
        &post,
        &[
            "<a href=\"/pages/about?locale=de\">About</a>",
            "<h1>Welcome to the demo site</h1>",
            "<a href=\"/posts?locale=de\">All posts</a>",
        ],
    );
}

#[test]
fn missing_content_falls_back_to_the_default_locale_per_section() {
    let site = Site::new();
    site.sql(
        "UPDATE locales SET status = 'active' WHERE code = 'de';
         DELETE FROM page_section_contents WHERE locale_code = 'de'
            AND json_extract(content, '$.title') = 'Seiten aus Abschnitten bauen';",
    );
    let r = site.get("/pages/home?locale=de");
    assert_eq!(language(&r).as_deref(), Some("de"));
    let page = html(r, StatusCode::OK);
    in_order(
        &page,
        &[
            "<html lang=\"de\">",
            "<a href=\"/pages/about?locale=de\">About</a>",
            // The hero has no German content: English, marked as such.
            "<section class=\"section hero\" id=\"section-",
            "\" lang=\"en\">",
            "<h1>Build pages from sections</h1>",
            "<h2>Was Sie bekommen</h2>",
            "<h2>Was andere sagen</h2>",
            "<h2>Bereit zum Ausprobieren?</h2>",
        ],
    );
    assert_eq!(page.matches(" lang=\"en\">").count(), 1, "only the hero falls back");

    let body = json(site.get("/api/pages/home?locale=de"), StatusCode::OK);
    assert_eq!((body["locale"].as_str(), body["defaultLocale"].as_str()), (Some("de"), Some("en")));
    let sections = body["sections"].as_array().unwrap();
    assert_eq!(sections[0]["type"], "hero");
    assert_eq!((sections[0]["locale"].as_str(), sections[0]["fallback"].as_bool()), (Some("en"), Some(true)));
    assert_eq!(sections[0]["content"]["title"], "Build pages from sections");
    assert_eq!((sections[1]["locale"].as_str(), sections[1]["fallback"].as_bool()), (Some("de"), Some(false)));
    assert_eq!(sections[1]["content"]["title"], "Was Sie bekommen");
}

#[test]
fn api_returns_the_page_as_json() {
    let site = Site::new();
    let r = site.get("/api/pages/home");
    assert_eq!(language(&r).as_deref(), Some("en"));
    let body = json(r, StatusCode::OK);
    assert_eq!(body["slug"], "home");
    assert_eq!(body["name"], "Homepage");
    assert_eq!(body["locale"], "en");
    let kinds: Vec<&str> = body["sections"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["hero", "features", "testimonials", "cta"]);
    let orders: Vec<i64> =
        body["sections"].as_array().unwrap().iter().map(|s| s["sortOrder"].as_i64().unwrap()).collect();
    assert_eq!(orders, [0, 1, 2, 3]);
    let hero = &body["sections"][0]["content"];
    assert_eq!(hero["title"], "Build pages from sections");
    let image = &body["images"][hero["image"]["imageId"].as_str().unwrap()];
    assert_eq!(image["url"], "/uploads/images/hero-home.jpg");
    assert_eq!((image["width"].as_i64(), image["height"].as_i64()), (Some(1600), Some(900)));

    let about = json(site.get("/api/pages/about"), StatusCode::OK);
    assert_eq!(about["sections"].as_array().unwrap().len(), 3, "no draft in the API either");
    assert_eq!(about["images"].as_object().unwrap().len(), 5, "hero and four gallery images");

    let body = json(site.get("/api/pages/nope"), StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let body = json(site.get("/api/nothing"), StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[test]
fn posts_are_published_only_newest_first() {
    let site = Site::new();
    let list = html(site.get("/posts"), StatusCode::OK);
    in_order(
        &list,
        &[
            "<h1>Blog</h1>",
            "<a href=\"/posts/working-with-sections\">Working with sections</a>",
            "<time datetime=\"",
            "<img src=\"/uploads/images/post-2.jpg\"",
            "Pages are lists of sections. Here is how they fit together.",
            "<a href=\"/posts/welcome\">Welcome to the demo site</a>",
        ],
    );
    assert!(!list.contains("Translating your content"), "the draft is not listed");

    let post = html(site.get("/posts/welcome"), StatusCode::OK);
    in_order(
        &post,
        &[
            "<h1>Welcome to the demo site</h1>",
            "<img src=\"/uploads/images/post-1.jpg\"",
            "<h2>What is in here</h2>",
            "<li>three pages: Home, About and Contact</li>",
        ],
    );
    let draft = html(site.get("/posts/translating-your-content"), StatusCode::NOT_FOUND);
    assert!(!draft.contains("Each section keeps its content per locale"));
    html(site.get("/posts/nope"), StatusCode::NOT_FOUND);

    // A post scheduled in the future is not public yet; the other order flips with dates.
    site.sql(
        "UPDATE posts SET published_at = 99999999999999 WHERE slug = 'working-with-sections';
         UPDATE posts SET status = 'published', published_at = 1000 WHERE slug = 'translating-your-content';",
    );
    let list = html(site.get("/posts"), StatusCode::OK);
    assert!(!list.contains("Working with sections"));
    in_order(&list, &["Welcome to the demo site", "Translating your content"]);
    html(site.get("/posts/working-with-sections"), StatusCode::NOT_FOUND);
    html(site.get("/posts/translating-your-content"), StatusCode::OK);
}

#[test]
fn uploads_serves_images_and_nothing_outside_the_folder() {
    let site = Site::new();
    let r = site.get("/uploads/images/hero-home.jpg");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().unwrap().as_ref(), JPEG);

    // The secrets' content is served as an image once it is inside the folder…
    fs::write(site.dir.path().join("uploads/images/copy.jpg"), secret_jpeg()).unwrap();
    let r = site.get("/uploads/images/copy.jpg");
    assert_eq!((r.status(), r.headers()["content-type"].to_str().unwrap()), (StatusCode::OK, "image/jpeg"));
    assert_eq!(r.bytes().unwrap().as_ref(), secret_jpeg().as_slice());

    // …so what keeps these out is the name and path checks of the image route.
    for path in [
        "/uploads/images/missing.jpg",
        "/uploads/images/notes.txt",
        "/uploads/images/.hidden.jpg",
        "/uploads/images/link.jpg",
    ] {
        let page = html(site.get(path), StatusCode::NOT_FOUND);
        assert!(page.contains("<h1>Image not found</h1>"), "{path}: {page}");
    }
    let addr = site.server.addr();
    // One path segment once decoded: each reaches the image route with `/`, `\`, `..` or NUL
    // in its name.
    for target in [
        "/uploads/images/..%2f..%2fsecret.txt",
        "/uploads/images/..%2fsecret.jpg",
        "/uploads/images/%2e%2e%2fsecret.jpg",
        "/uploads/images/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/uploads/images/..%2f..%2fCargo.toml",
        "/uploads/images/..%5csecret.jpg",
        "/uploads/images/%2fetc%2fpasswd",
        "/uploads/images/..",
        "/uploads/images/%2e%2e",
        "/uploads/images/%00hero-home.jpg",
        "/uploads/images/hero-home.jpg%00.txt",
    ] {
        let (status, text) = raw_get(addr, target);
        assert_eq!(status, 404, "{target}: {text}");
        assert!(text.contains("<h1>Image not found</h1>"), "{target}: the image route answers: {text}");
        assert!(!text.contains(SECRET) && !text.contains("root:"), "{target}: {text}");
    }
    // Literal `..` segments are more than one segment: no route matches them at all.
    for target in ["/uploads/images/../../secret.txt", "/uploads/images/../secret.jpg"] {
        let (status, text) = raw_get(addr, target);
        assert_eq!(status, 404, "{target}: {text}");
        assert!(text.contains("<h1>Not found</h1>") && !text.contains(SECRET), "{target}: {text}");
    }
}

#[test]
fn health_reports_migrations_then_an_unreachable_database() {
    let site = Site::new();
    let body = json(site.get("/health"), StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"database":"ok","dialect":"sqlite","migrations":{"applied":6,"pending":0,"state":"ok"}})
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", site.db().display()));
    }
    let body = json(site.get("/health"), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["database"], "unreachable");
    assert!(body["error"].as_str().unwrap().contains("missing"), "{body}");
}

#[test]
fn a_database_without_a_site_says_how_to_seed() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite { path: dir.path().join("empty.db") };
    let set = MigrationSet::load(&repo().join("migrations/sqlite")).unwrap();
    let mut driver = cms_db::driver(&url, false).unwrap();
    migrator::migrate(driver.as_mut(), &set, &MigrateOptions::default(), &mut |_| {}).unwrap();
    let server = start(url, dir.path().join("uploads"));
    let page = html(client().get(server.url("/pages/home")).send().unwrap(), StatusCode::NOT_FOUND);
    assert!(page.contains("cargo xtask seed"), "{page}");
    let body = json(client().get(server.url("/api/pages/home")).send().unwrap(), StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no_site");
}

// ---------------------------------------------------------------------------------------------
// The binary: startup checks
// ---------------------------------------------------------------------------------------------

/// A project root with its own copy of the migrations and a migrated, seeded SQLite database.
fn project() -> Project {
    let p = Project::copied();
    migrate_and_seed(&DatabaseUrl::Sqlite { path: p.sqlite_db() });
    p
}

/// The server binary on `p` (its SQLite file: no `DATABASE_URL`), on `port`.
fn server_cmd(p: &Project, port: u16) -> Command {
    let mut cmd = p.command(env!("CARGO_BIN_EXE_server"));
    cmd.env("PORT", port.to_string()).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs the binary, which must exit by itself: (exit code, stderr).
fn run_to_exit(mut cmd: Command) -> (i32, String) {
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not exit: it started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_binary_serves_a_migrated_database() {
    let p = project();
    let port = free_port();
    let mut child = KillOnDrop(server_cmd(&p, port).spawn().unwrap());
    wait_until_listening(&mut child.0, port);
    let r = client().get(format!("http://127.0.0.1:{port}/pages/home")).send().unwrap();
    assert!(html(r, StatusCode::OK).contains("<h1>Build pages from sections</h1>"));
    let body = json(client().get(format!("http://127.0.0.1:{port}/health")).send().unwrap(), StatusCode::OK);
    assert_eq!(body["migrations"]["state"], "ok");
}

/// A project (as [`project`]) whose folder has one migration more than its database.
fn project_with_extra_migration() -> Project {
    let p = project();
    let journal_path = p.root().join("migrations/sqlite/meta/_journal.json");
    let mut journal: Value = serde_json::from_str(&fs::read_to_string(&journal_path).unwrap()).unwrap();
    let entries = journal["entries"].as_array_mut().unwrap();
    let last = entries.last().unwrap().clone();
    let mut next = last.clone();
    next["idx"] = (last["idx"].as_i64().unwrap() + 1).into();
    next["when"] = (last["when"].as_i64().unwrap() + 1000).into();
    next["tag"] = "0006_extra_table".into();
    entries.push(next);
    fs::write(&journal_path, serde_json::to_string_pretty(&journal).unwrap()).unwrap();
    fs::write(p.root().join("migrations/sqlite/0006_extra_table.sql"), "CREATE TABLE `extra` (`id` text);\n").unwrap();
    p
}

#[test]
fn the_binary_refuses_pending_migrations() {
    let p = project_with_extra_migration();
    let (code, err) = run_to_exit(server_cmd(&p, free_port()));
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("cargo xtask migrate") && err.contains("0006_extra_table") && err.contains("pending"),
        "{err}"
    );
}

#[test]
fn the_binary_refuses_a_modified_applied_migration() {
    let p = project();
    let file = p.root().join("migrations/sqlite/0003_site_settings.sql");
    let mut sql = fs::read_to_string(&file).unwrap();
    sql.push_str("\n-- an edit after the fact\n");
    fs::write(&file, sql).unwrap();

    let (code, err) = run_to_exit(server_cmd(&p, free_port()));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("0003_site_settings was applied but its file has changed"), "{err}");
    assert!(err.contains("cargo xtask migrate"), "{err}");
}

#[test]
fn the_binary_refuses_a_missing_database_and_bad_flags() {
    let p = project();
    fs::remove_dir_all(p.root().join("data")).unwrap();
    let (code, err) = run_to_exit(server_cmd(&p, free_port()));
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("6 pending migration(s)") && err.contains("cargo xtask migrate"), "{err}");
    assert!(!p.root().join("data/sqlite.db").exists(), "looking never creates the database");

    let mut cmd = server_cmd(&p, 4000);
    cmd.env("PORT", "not-a-port");
    let (code, err) = run_to_exit(cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not-a-port"), "{err}");

    let mut cmd = server_cmd(&p, 4000);
    cmd.args(["--database-url", "mysql://root:hunter2@db/app"]);
    let (code, err) = run_to_exit(cmd);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("mysql") && !err.contains("hunter2"), "{err}");
}

#[test]
fn the_binary_says_when_the_port_is_taken() {
    let p = project();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, err) = run_to_exit(server_cmd(&p, port));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("--port"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

#[test]
fn postgres_pool_serves_the_main_routes() {
    let Some(pg) = test_support::pg::database() else { return };
    let url = DatabaseUrl::parse(pg.url()).unwrap();
    migrate_and_seed(&url);
    let dir = tempfile::tempdir().unwrap();
    let server = start(url, dir.path().join("uploads"));
    let get = |path: &str| client().get(server.url(path)).send().unwrap();

    let page = html(get("/pages/home"), StatusCode::OK);
    in_order(
        &page,
        &[
            "<h1>Build pages from sections</h1>",
            "<img src=\"/uploads/images/hero-home.jpg\"",
            "width=\"1600\" height=\"900\"",
            "<h2>Ready to try it?</h2>",
        ],
    );
    assert!(!html(get("/pages/about"), StatusCode::OK).contains("Join the team"));
    html(get("/pages/nope"), StatusCode::NOT_FOUND);
    html(get("/pages/home?locale=de"), StatusCode::NOT_FOUND);

    let list = html(get("/posts"), StatusCode::OK);
    in_order(&list, &["Working with sections", "Welcome to the demo site"]);
    assert!(!list.contains("Translating your content"));
    html(get("/posts/welcome"), StatusCode::OK);
    html(get("/posts/translating-your-content"), StatusCode::NOT_FOUND);

    let mut client_pg = pg.client();
    client_pg
        .batch_execute(
            "UPDATE locales SET status = 'active' WHERE code = 'de';
             DELETE FROM page_section_contents WHERE locale_code = 'de'
                AND content::json->>'title' = 'Seiten aus Abschnitten bauen';",
        )
        .unwrap();
    let body = json(get("/api/pages/home?locale=de"), StatusCode::OK);
    assert_eq!(body["sections"][0]["content"]["title"], "Build pages from sections");
    assert_eq!(body["sections"][0]["fallback"], true);
    assert_eq!(body["sections"][1]["content"]["title"], "Was Sie bekommen");

    let body = json(get("/health"), StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({"database":"ok","dialect":"postgresql","migrations":{"applied":6,"pending":0,"state":"ok"}})
    );
}

#[test]
fn the_site_is_chosen_by_host_else_the_first_site() {
    let site = Site::new();
    let host = site.server.addr().to_string();
    site.sql(&format!(
        "BEGIN;
         INSERT INTO sites (id, team_id, name, domain, default_environment_id, created_at, updated_at)
              SELECT 'site-2', team_id, 'second', '{host}', 'env-2', created_at + 1, updated_at FROM sites;
         INSERT INTO environments (id, site_id, name, created_at, updated_at) VALUES ('env-2', 'site-2', 'main', 1, 1);
         INSERT INTO pages (id, site_id, environment_id, slug, name, created_at, updated_at)
              VALUES ('page-2', 'site-2', 'env-2', 'home', 'Second home', 1, 1);
         COMMIT;"
    ));
    // Requests name 127.0.0.1:<port> as their host: the second site's own home page.
    let page = html(site.get("/pages/home"), StatusCode::OK);
    assert!(page.contains("<h1 class=\"page-title\">Second home</h1>"), "{page}");
    html(site.get("/pages/about"), StatusCode::NOT_FOUND);
    assert!(!html(site.get("/posts"), StatusCode::OK).contains("Welcome to the demo site"));
    // Any other host: the first site created, the demo site.
    let r = client().get(site.server.url("/pages/home")).header("host", "elsewhere.example").send().unwrap();
    assert!(html(r, StatusCode::OK).contains("<h1>Build pages from sections</h1>"));
}

#[test]
fn pages_keep_being_served_while_the_data_is_rewritten() {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Reads that must have started and ended inside one and the same re-seed.
    const MIN_OVERLAPPING: usize = 20;
    const MIN_SEEDS: u64 = 5;
    const MAX_SEEDS: u64 = 60;

    let site = Site::new();
    let url = site.server.url("/pages/home");
    // 0 while no re-seed runs, else the number of the re-seed in progress.
    let seeding = Arc::new(AtomicU64::new(0));
    let overlapping = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (read_once, first_read) = std::sync::mpsc::channel();
    let reader = {
        let (seeding, overlapping, done) = (seeding.clone(), overlapping.clone(), done.clone());
        std::thread::spawn(move || {
            let c = client();
            let (mut reads, mut failures) = (0usize, Vec::new());
            while !done.load(SeqCst) {
                let before = seeding.load(SeqCst);
                let status = c.get(&url).send().unwrap().status();
                if before != 0 && seeding.load(SeqCst) == before {
                    overlapping.fetch_add(1, SeqCst);
                }
                if status != StatusCode::OK {
                    failures.push(status);
                }
                reads += 1;
                if reads == 1 {
                    read_once.send(()).unwrap();
                }
            }
            (reads, failures)
        })
    };
    first_read.recv().unwrap();
    // What `cargo xtask reset-data` does, while the server reads (WAL: readers see the last
    // committed data and never wait for the writer): at least five times, and until enough
    // reads have run entirely inside a re-seed.
    let mut conn = connect(&DatabaseUrl::Sqlite { path: site.db() }).unwrap();
    let mut n = 0;
    while n < MIN_SEEDS || (overlapping.load(SeqCst) < MIN_OVERLAPPING && n < MAX_SEEDS) {
        seeding.store(n + 1, SeqCst);
        seed(&mut conn, &SeedOptions { seed: Some(n), force: true }).unwrap();
        seeding.store(0, SeqCst);
        n += 1;
    }
    done.store(true, SeqCst);
    let (reads, failures) = reader.join().unwrap();
    let overlapping = overlapping.load(SeqCst);
    assert!(failures.is_empty(), "every request during the rewrites succeeded: {failures:?}");
    assert!(
        overlapping >= MIN_OVERLAPPING,
        "only {overlapping} of {reads} reads ran entirely during one of {n} re-seeds (want {MIN_OVERLAPPING})"
    );
    eprintln!("{reads} reads, {overlapping} of them entirely inside one of {n} re-seeds");
}

#[test]
fn health_reports_pending_migrations_of_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite { path: dir.path().join("data/sqlite.db") };
    migrate_and_seed(&url);
    let p = project_with_extra_migration();
    let db = Db::open(&url, 2).unwrap();
    let state = AppState::new(db, url, dir.path().join("uploads"), p.root().join("migrations/sqlite"));
    let server = app::spawn("127.0.0.1:0".parse().unwrap(), state).unwrap();
    let body = json(client().get(server.url("/health")).send().unwrap(), StatusCode::OK);
    assert_eq!(body["database"], "ok");
    assert_eq!(body["migrations"]["state"], "pending");
    assert_eq!((body["migrations"]["applied"].as_i64(), body["migrations"]["pending"].as_i64()), (Some(6), Some(1)));
}

#[test]
fn health_reports_an_unreadable_migrations_folder_as_a_migration_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite { path: dir.path().join("data/sqlite.db") };
    migrate_and_seed(&url);
    for (folder, says) in [
        (dir.path().join("no-such-folder"), "no-such-folder".to_string()),
        (repo().join("migrations/postgresql"), "postgres".to_string()),
    ] {
        let db = Db::open(&url, 2).unwrap();
        let state = AppState::new(db, url.clone(), dir.path().join("uploads"), folder.clone());
        let server = app::spawn("127.0.0.1:0".parse().unwrap(), state).unwrap();
        let body = json(client().get(server.url("/health")).send().unwrap(), StatusCode::OK);
        assert_eq!(body["database"], "ok", "{folder:?}: the database answers: {body}");
        assert_eq!(body["migrations"]["state"], "error", "{body}");
        let error = body["migrations"]["error"].as_str().unwrap();
        assert!(error.to_lowercase().contains(&says), "{folder:?}: {error}");
    }
}
