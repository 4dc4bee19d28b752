//! `cargo xtask studio` over real HTTP on 127.0.0.1, on a seeded SQLite file and a seeded
//! PostgreSQL database: every route, signing in (no token, wrong token), a foreign `Host`, a
//! cross-site POST, writes under `--read-only`, SQL that fails, constraint violations, a
//! cascade delete's confirmation count, `<script>` in a value, keyset pages, filters,
//! exports, the time limit, the row cap and a port in use.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cms_db::connect;
use cms_db::connection::{Connection, Sql, Value};
use cms_db::DatabaseUrl;

const STARTUP: Duration = Duration::from_secs(60);

/// A temporary project root with the repository's migrations, migrated and seeded, on SQLite
/// (`data/sqlite.db`, spelled out as `DATABASE_URL`) or on a fresh PostgreSQL database; images
/// without the network.
struct Project {
    project: test_support::project::Project,
}

impl Project {
    fn sqlite() -> Project {
        Project::setup(test_support::project::Project::linked().with_sqlite_url())
    }

    fn postgres() -> Option<Project> {
        Some(Project::setup(test_support::project::Project::linked().on_postgres()?))
    }

    fn setup(project: test_support::project::Project) -> Project {
        let p = Project { project: project.env("CMS_IMAGES_OFFLINE", "1") };
        for args in [&["migrate", "-q"][..], &["seed", "--seed", "7"]] {
            let out = p.xtask(args).output().unwrap();
            assert!(
                out.status.success(),
                "xtask {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        p
    }

    fn database_url(&self) -> String {
        self.project.url()
    }

    fn xtask(&self, args: &[&str]) -> Command {
        self.project.xtask_command(args)
    }

    fn conn(&self) -> Connection {
        connect(&DatabaseUrl::parse(&self.database_url()).unwrap().resolve(self.project.root())).unwrap()
    }

    fn one(&self, sql: &str) -> Value {
        self.conn()
            .query(sql, &[])
            .unwrap()
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .unwrap_or(Value::Null)
    }

    fn text(&self, sql: &str) -> String {
        match self.one(sql) {
            Value::Text(s) => s,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn count(&self, sql: &str) -> i64 {
        self.one(sql).int().unwrap()
    }

    fn is_pg(&self) -> bool {
        self.project.pg().is_some()
    }

    /// A snapshot of rows that must not change when a request is refused.
    fn fingerprint(&self) -> String {
        let mut c = self.conn();
        let rows = c.query("SELECT id, slug, name, site_id FROM pages ORDER BY id", &[]).unwrap();
        let n = c.query("SELECT count(*) FROM page_section_contents", &[]).unwrap();
        format!("{rows:?} {n:?}")
    }
}

/// A response, read whole.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The studio binary, killed on drop.
struct Studio {
    child: Child,
    port: u16,
    token: String,
    printed: String,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Studio {
    fn start(p: &Project, extra: &[&str]) -> Studio {
        let mut args = vec!["studio", "--port", "0"];
        args.extend_from_slice(extra);
        let mut child =
            p.xtask(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (etx, erx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let printed = match rx.recv_timeout(STARTUP) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let said: Vec<String> = erx.try_iter().collect();
                panic!("the studio printed no URL within {} s; stderr:\n{}", STARTUP.as_secs(), said.join("\n"));
            }
        };
        let url = printed.strip_prefix("studio: ").unwrap_or_else(|| panic!("unexpected first line {printed:?}"));
        let (base, token) = url.split_once("/?token=").unwrap();
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        Studio { child, port, token: token.to_string(), printed: printed.clone(), stderr: erx }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn cookie(&self) -> String {
        format!("studio_{}={}", self.port, self.token)
    }

    /// One request over a fresh connection, with exactly the headers given (plus Host unless
    /// one is given, and Content-Length).
    fn raw(&self, method: &str, path: &str, headers: &[(&str, String)], body: &str) -> Reply {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {}\r\n", self.host()));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        parse_reply(&raw)
    }

    fn get(&self, path: &str) -> Reply {
        self.raw("GET", path, &[("Cookie", self.cookie())], "")
    }

    /// A POST as the studio's own pages send it: the cookie, the Origin and the CSRF token.
    fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let mut pairs = form.to_vec();
        let csrf = self.csrf();
        pairs.push(("csrf", &csrf));
        self.post_raw(path, &pairs, &[("Cookie", self.cookie()), ("Origin", format!("http://{}", self.host()))])
    }

    fn post_raw(&self, path: &str, form: &[(&str, &str)], headers: &[(&str, String)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.raw("POST", path, headers, &body)
    }

    /// The CSRF token the console form carries.
    fn csrf(&self) -> String {
        let page = self.get("/console").body;
        let at = page.find("name=\"csrf\" value=\"").expect("the console has a CSRF field") + 19;
        page[at..at + page[at..].find('"').unwrap()].to_string()
    }

    fn stderr(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    if headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..nl]).trim(), 16).unwrap();
            rest = &rest[nl + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// `[\"id\"]` as the studio's `k` parameter.
fn key(id: &str) -> String {
    serde_json::json!([id]).to_string()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// How many rows a grid page shows.
fn grid_rows(body: &str) -> usize {
    body.matches("title=\"open the row\"").count()
}

macro_rules! both_dialects {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::Project::sqlite()); })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some(p) = super::Project::postgres() { super::$name(&p); } })*
        }
    };
}

both_dialects!(
    signs_in_with_the_printed_token_only,
    refuses_a_foreign_host,
    refuses_cross_site_writes,
    every_route_answers,
    read_only_refuses_every_write,
    failing_sql_changes_nothing,
    constraint_violations_are_put_in_words,
    cascade_delete_confirmation_counts_the_children,
    script_in_a_value_is_shown_as_text,
    keyset_pages_walk_every_row_once,
    filters_combine_with_and,
    inserts_take_database_defaults,
    json_is_validated_before_saving,
    the_console_stops_at_the_time_limit,
    the_console_caps_results_with_a_note,
    exports_tables_and_queries,
    views_and_tables_without_a_primary_key,
);

fn signs_in_with_the_printed_token_only(p: &Project) {
    let s = Studio::start(p, &[]);
    let token = &s.token;
    assert!(
        s.printed.starts_with(&format!("studio: http://127.0.0.1:{}/?token=", s.port)),
        "the printed line: {}",
        s.printed
    );
    assert!(token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)), "{token}");
    // No token: 401, on every route.
    for path in ["/", "/t/pages", "/console", "/schema", "/assets/studio.css", "/nope"] {
        let r = s.raw("GET", path, &[], "");
        assert_eq!(r.status, 401, "{path} without a token: {}", r.body);
    }
    // A wrong token, in the URL or as the cookie: 401.
    assert_eq!(s.raw("GET", "/?token=0000", &[], "").status, 401);
    let wrong = format!("studio_{}={}", s.port, "f".repeat(token.len()));
    assert_eq!(s.raw("GET", "/", &[("Cookie", wrong)], "").status, 401);
    // The printed URL signs in: an HttpOnly, SameSite=Strict cookie.
    let r = s.raw("GET", &format!("/?token={token}"), &[], "");
    assert_eq!(r.status, 200);
    let cookie = r.header("set-cookie").expect("a cookie");
    assert!(cookie.starts_with(&s.cookie()), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    // With the cookie: the table list, with counts.
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(">pages</a>") && r.body.contains(">page_section_contents</a>"), "{}", r.body);
    let pages_row = &r.body[r.body.find(">pages</a>").unwrap()..];
    assert!(pages_row.contains("<td class=\"num\">3</td>"), "pages has 3 rows: {pages_row}");
    // No CORS, ever; the page may not be framed.
    for r in [
        s.get("/"),
        s.raw("OPTIONS", "/console", &[("Cookie", s.cookie()), ("Origin", "http://evil.example".into())], ""),
    ] {
        assert!(
            r.headers.iter().all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
            "{:?}",
            r.headers
        );
    }
    assert_eq!(s.get("/").header("x-frame-options"), Some("DENY"));
}

fn refuses_a_foreign_host(p: &Project) {
    let s = Studio::start(p, &[]);
    for host in ["evil.example", &format!("evil.example:{}", s.port), &format!("127.0.0.1:{}", s.port + 1), "127.0.0.1"]
    {
        let r = s.raw("GET", "/", &[("Host", host.to_string()), ("Cookie", s.cookie())], "");
        assert_eq!(r.status, 403, "Host {host}: {}", r.body);
        assert!(r.body.contains("Host"), "{}", r.body);
        let r = s.raw("GET", &format!("/?token={}", s.token), &[("Host", host.to_string())], "");
        assert_eq!(r.status, 403, "sign-in with Host {host}");
        assert!(r.header("set-cookie").is_none());
    }
    let r = s.raw("GET", "/", &[("Host", format!("localhost:{}", s.port)), ("Cookie", s.cookie())], "");
    assert_eq!(r.status, 200, "localhost is the same address");
}

fn refuses_cross_site_writes(p: &Project) {
    let s = Studio::start(p, &[]);
    let before = p.fingerprint();
    let id = p.text("SELECT id FROM pages WHERE slug = 'about'");
    let csrf = s.csrf();
    let form = [("k", key(&id)), ("c", "name".to_string()), ("value", "pwned".to_string()), ("csrf", csrf.clone())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cookie = ("Cookie", s.cookie());
    let attempts: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("a foreign Origin", vec![cookie.clone(), ("Origin", "http://evil.example".into())]),
        (
            "another port of this host",
            vec![
                cookie.clone(),
                ("Origin", format!("http://127.0.0.1:{}", s.port + 1)),
                ("Sec-Fetch-Site", "same-site".into()),
            ],
        ),
        ("Sec-Fetch-Site: cross-site", vec![cookie.clone(), ("Sec-Fetch-Site", "cross-site".into())]),
        ("Origin: null", vec![cookie.clone(), ("Origin", "null".into())]),
        ("neither Origin nor Sec-Fetch-Site", vec![cookie.clone()]),
    ];
    for (what, headers) in attempts {
        let r = s.post_raw("/t/pages/edit", &form, &headers);
        assert_eq!(r.status, 403, "{what}: {}", r.body);
        let r = s.post_raw("/console", &[("sql", "DELETE FROM page_section_contents"), ("csrf", &csrf)], &headers);
        assert_eq!(r.status, 403, "console, {what}: {}", r.body);
    }
    // The right origin without the CSRF token, or with another one.
    let origin = ("Origin", format!("http://{}", s.host()));
    let no_csrf: Vec<(&str, &str)> = form.iter().filter(|(k, _)| *k != "csrf").copied().collect();
    let r = s.post_raw("/t/pages/edit", &no_csrf, &[cookie.clone(), origin.clone()]);
    assert_eq!(r.status, 403, "without CSRF: {}", r.body);
    let mut forged = no_csrf.clone();
    forged.push(("csrf", "0123"));
    assert_eq!(s.post_raw("/t/pages/edit", &forged, &[cookie.clone(), origin.clone()]).status, 403);
    // And without the cookie.
    assert_eq!(s.post_raw("/t/pages/edit", &form, std::slice::from_ref(&origin)).status, 401);
    assert_eq!(p.fingerprint(), before, "a refused request changed data");
    // Sec-Fetch-Site: same-origin without Origin is the studio's own page.
    let r = s.post_raw("/t/pages/edit", &form, &[cookie, ("Sec-Fetch-Site", "same-origin".into())]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(p.text(&format!("SELECT name FROM pages WHERE id = '{id}'")), "pwned");
}

fn every_route_answers(p: &Project) {
    let s = Studio::start(p, &[]);
    let id = p.text("SELECT id FROM pages WHERE slug = 'home'");
    let k = enc(&key(&id));
    let ok = [
        "/".to_string(),
        "/t/pages".into(),
        "/t/pages?sort=slug&dir=desc".into(),
        "/t/pages?fc=slug&fo=eq&fv=home".into(),
        "/t/pages?last=1".into(),
        format!("/t/pages/row?k={k}"),
        format!("/t/pages/edit?k={k}&c=name"),
        "/t/pages/new".into(),
        format!("/t/pages/delete?k={k}"),
        "/t/pages/export?format=csv".into(),
        "/t/pages/export?format=json".into(),
        "/schema".into(),
        "/schema.svg".into(),
        "/console".into(),
        "/assets/studio.css".into(),
        "/assets/studio.js".into(),
    ];
    for path in &ok {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.header("content-security-policy").is_some_and(|c| c.contains("script-src 'self'")), "{path}");
    }
    // After the table list counted, the grid shows the count.
    assert!(s.get("/").status == 200 && s.get("/t/pages").body.contains(" · 3 rows"), "{}", s.get("/t/pages").body);
    assert!(s.get("/schema.svg").body.starts_with("<svg"));
    assert_eq!(s.get("/schema.svg").header("content-type"), Some("image/svg+xml"));
    let schema = s.get("/schema").body;
    assert!(
        schema.contains("<svg") && schema.contains("class=\"edge\"") && schema.contains("foreign key (page_id)"),
        "schema page"
    );
    let r = s.post("/console", &[("sql", "SELECT count(*) AS n FROM pages")]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<th>n</th>") && r.body.contains(">3<"), "{}", r.body);
    let r = s.post("/console/export?format=csv", &[("sql", "SELECT slug FROM pages ORDER BY slug")]);
    assert_eq!((r.status, r.body.as_str()), (200, "slug\r\nabout\r\ncontact\r\nhome\r\n"));
    for bad in ["/nope", "/t/nope", "/t/pages/row?k=%5B%22nope%22%5D", "/t/pages/edit?k=%5B%22x%22%5D&c=nope"] {
        assert_eq!(s.get(bad).status, 404, "{bad}");
    }
    assert_eq!(s.get("/t/pages?fc=nope&fo=eq&fv=1").status, 400);
    assert_eq!(s.get("/t/pages?after=notjson").status, 400);
    // Writes answer with a redirect to what changed.
    let r = s.post("/t/pages/edit", &[("k", &key(&id)), ("c", "name"), ("value", "Home again")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.header("location").unwrap().contains("/t/pages/row?k="));
}

fn read_only_refuses_every_write(p: &Project) {
    let s = Studio::start(p, &["--read-only"]);
    let before = p.fingerprint();
    let id = p.text("SELECT id FROM pages WHERE slug = 'about'");
    let grid = s.get("/t/pages").body;
    assert!(grid.contains("read-only"));
    assert!(
        !grid.contains("Insert row") && !grid.contains("name=\"k\"") && !grid.contains("Delete selected"),
        "{grid}"
    );
    let row = s.get(&format!("/t/pages/row?k={}", enc(&key(&id)))).body;
    assert!(!row.contains(">edit</a>") && !row.contains("Delete this row"), "{row}");
    let k = key(&id);
    for (path, form) in [
        ("/t/pages/edit", vec![("k", k.as_str()), ("c", "name"), ("value", "changed")]),
        ("/t/pages/new", vec![("v:slug", "new"), ("v:name", "New")]),
        ("/t/pages/delete", vec![("k", k.as_str())]),
    ] {
        let r = s.post(path, &form);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("read-only"), "{}", r.body);
    }
    for path in
        [format!("/t/pages/edit?k={}&c=name", enc(&k)), "/t/pages/new".into(), format!("/t/pages/delete?k={}", enc(&k))]
    {
        assert_eq!(s.get(&path).status, 403, "{path}");
    }
    // The console reads, and cannot write, even when asked to commit.
    let r = s.post("/console", &[("sql", "DELETE FROM page_section_contents")]);
    assert!(r.status == 400 || r.body.contains("rolled back"), "{}: {}", r.status, r.body);
    for sql in ["COMMIT; DELETE FROM pages", "SET TRANSACTION READ WRITE", "SET default_transaction_read_only = off"] {
        let r = s.post("/console", &[("sql", sql)]);
        assert_eq!(r.status, 400, "{sql}: {}", r.body);
    }
    let r = s.post("/console", &[("sql", "SELECT slug FROM pages ORDER BY slug")]);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("rolled back (read-only)") && r.body.contains(">about<"), "{}", r.body);
    assert_eq!(p.fingerprint(), before);
}

fn failing_sql_changes_nothing(p: &Project) {
    let s = Studio::start(p, &[]);
    let before = p.fingerprint();
    let r = s.post("/console", &[("sql", "DELETE FROM page_section_contents; SELECT nope FROM pages")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("statement 2") && r.body.contains("nope"), "{}", r.body);
    assert!(r.body.contains("nothing was changed"), "{}", r.body);
    let r = s.post("/console", &[("sql", "SELEC 1")]);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("syntax error"), "{}", r.body);
    assert_eq!(p.fingerprint(), before);
    // An export of failing SQL is an error page, not a file.
    let r = s.post("/console/export?format=json", &[("sql", "SELECT nope FROM pages")]);
    assert_eq!(r.status, 400);
    assert!(r.header("content-disposition").is_none());
}

fn constraint_violations_are_put_in_words(p: &Project) {
    let s = Studio::start(p, &[]);
    let before = p.fingerprint();
    let id = p.text("SELECT id FROM pages WHERE slug = 'about'");
    let k = key(&id);
    // Unique (environment_id, slug).
    let r = s.post("/t/pages/edit", &[("k", &k), ("c", "slug"), ("value", "home")]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("Nothing was changed") && r.body.contains("must be unique"), "{}", r.body);
    assert!(r.body.contains("value=\"home\""), "the editor keeps what was typed");
    // Foreign key.
    let r = s.post("/t/pages/edit", &[("k", &k), ("c", "site_id"), ("value", "no-such-site")]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("foreign key") && r.body.contains("sites"), "{}", r.body);
    // NOT NULL.
    let r = s.post("/t/pages/edit", &[("k", &k), ("c", "name"), ("value", ""), ("null", "1")]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("name cannot be NULL"), "{}", r.body);
    // Check constraint.
    let post = p.text("SELECT id FROM posts ORDER BY id LIMIT 1");
    let r = s.post("/t/posts/edit", &[("k", &key(&post)), ("c", "status"), ("value", "archived")]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("posts_status_check"), "{}", r.body);
    // A type the column cannot take.
    let r = s.post("/t/pages/edit", &[("k", &k), ("c", "created_at"), ("value", "soon")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("whole number"), "{}", r.body);
    // A delete that RESTRICT refuses: a section definition in use.
    let def = p.text("SELECT section_def_id FROM page_sections LIMIT 1");
    let confirm = s.get(&format!("/t/section_definitions/delete?k={}", enc(&key(&def)))).body;
    assert!(confirm.contains("class=\"blocks\"") && confirm.contains("refuse"), "{confirm}");
    let r = s.post("/t/section_definitions/delete", &[("k", &key(&def))]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("still reference"), "{}", r.body);
    assert_eq!(p.count(&format!("SELECT count(*) FROM section_definitions WHERE id = '{def}'")), 1);
    // A deferred foreign key (sites.default_environment_id) is checked at COMMIT.
    let site = p.text("SELECT id FROM sites LIMIT 1");
    let env = p.text(&format!("SELECT default_environment_id FROM sites WHERE id = '{site}'"));
    let r = s.post("/t/sites/edit", &[("k", &key(&site)), ("c", "default_environment_id"), ("value", "no-such-env")]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("Nothing was changed") && r.body.contains("environments"), "{}", r.body);
    assert_eq!(p.text(&format!("SELECT default_environment_id FROM sites WHERE id = '{site}'")), env);
    // The connection is usable afterwards (the refused commit left no transaction open).
    let r = s.post("/t/pages/edit", &[("k", &k), ("c", "name"), ("value", "About")]);
    assert_eq!(r.status, 303, "{}", r.body);
    p.conn().execute("UPDATE pages SET name = 'About us' WHERE slug = 'about'", &[]).unwrap();
    assert_eq!(p.fingerprint(), before);
}

fn cascade_delete_confirmation_counts_the_children(p: &Project) {
    let s = Studio::start(p, &[]);
    let id = p.text("SELECT id FROM pages WHERE slug = 'home'");
    let sections = p.count(&format!("SELECT count(*) FROM page_sections WHERE page_id = '{id}'"));
    let contents = p.count(&format!(
        "SELECT count(*) FROM page_section_contents WHERE page_section_id IN (SELECT id FROM page_sections WHERE page_id = '{id}')"
    ));
    let nav = p.count(&format!(
        "WITH RECURSIVE d(id) AS (SELECT id FROM navigation_items WHERE page_id = '{id}'
           UNION SELECT n.id FROM navigation_items n JOIN d ON n.parent_id = d.id) SELECT count(*) FROM d"
    ));
    assert!(sections > 0 && contents > 0, "the seed gives the home page sections");
    let r = s.get(&format!("/t/pages/delete?k={}", enc(&key(&id))));
    assert_eq!(r.status, 200);
    let shown = |table: &str| -> Option<i64> {
        let marker = format!("data-table=\"{table}\" data-rows=\"");
        let at = r.body.find(&marker)? + marker.len();
        r.body[at..at + r.body[at..].find('"')?].parse().ok()
    };
    assert_eq!(shown("page_sections"), Some(sections), "{}", r.body);
    assert_eq!(shown("page_section_contents"), Some(contents), "{}", r.body);
    assert_eq!(shown("navigation_items"), (nav > 0).then_some(nav), "{}", r.body);
    let total = sections + contents + nav;
    assert!(r.body.contains(&format!("also deletes <strong class=\"cascade-count\">{total}</strong>")), "{}", r.body);
    // Nothing is deleted by looking.
    assert_eq!(p.count(&format!("SELECT count(*) FROM pages WHERE id = '{id}'")), 1);
    let r = s.post("/t/pages/delete", &[("k", &key(&id))]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(p.count(&format!("SELECT count(*) FROM pages WHERE id = '{id}'")), 0);
    assert_eq!(p.count(&format!("SELECT count(*) FROM page_sections WHERE page_id = '{id}'")), 0);
    assert!(s.get(r.header("location").unwrap()).body.contains("Deleted 1 row(s)."));
}

fn script_in_a_value_is_shown_as_text(p: &Project) {
    let s = Studio::start(p, &[]);
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let id = p.text("SELECT id FROM pages WHERE slug = 'about'");
    let r = s.post("/t/pages/edit", &[("k", &key(&id)), ("c", "name"), ("value", evil)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(p.text(&format!("SELECT name FROM pages WHERE id = '{id}'")), evil);
    let console = s.post("/console", &[("sql", "SELECT name FROM pages")]).body;
    for (what, body) in [
        ("grid", s.get("/t/pages").body),
        ("row", s.get(&format!("/t/pages/row?k={}", enc(&key(&id)))).body),
        ("editor", s.get(&format!("/t/pages/edit?k={}&c=name", enc(&key(&id)))).body),
        ("filtered", s.get(&format!("/t/pages?fc=name&fo=eq&fv={}", enc(evil))).body),
        ("console", console),
    ] {
        assert!(!body.contains("<script>alert") && !body.contains("<img src=x"), "{what} shows markup: {body}");
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{what} shows the text: {body}");
    }
    assert_eq!(grid_rows(&s.get(&format!("/t/pages?fc=name&fo=eq&fv={}", enc(evil))).body), 1);
}

fn keyset_pages_walk_every_row_once(p: &Project) {
    let s = Studio::start(p, &[]);
    // 130 more settings: three pages of 50.
    let mut c = p.conn();
    for i in 0..130 {
        c.execute(
            "INSERT INTO site_settings (id, key, value, created_at, updated_at) VALUES ($1, $2, $3, 1, 1)",
            &[format!("k{i:03}").into(), format!("test.setting.{i}").into(), Value::Text((i % 9).to_string())],
        )
        .unwrap();
    }
    drop(c);
    let total = p.count("SELECT count(*) FROM site_settings") as usize;
    let ids = |body: &str| -> Vec<String> {
        body.match_indices("<td data-column=\"id\">")
            .map(|(i, m)| {
                let rest = &body[i + m.len()..];
                rest[..rest.find('<').unwrap()].to_string()
            })
            .collect()
    };
    for (sort, want_sorted_by) in [("", "id"), ("&sort=value&dir=desc", "value")] {
        let mut seen = Vec::new();
        let mut path = format!("/t/site_settings?{}", sort.trim_start_matches('&'));
        let mut pages = 0;
        loop {
            let body = s.get(&path).body;
            seen.extend(ids(&body));
            pages += 1;
            let Some(at) = body.find("rel=\"next\"") else { break };
            let start = body[..at].rfind("href=\"").unwrap() + 6;
            path = body[start..start + body[start..].find('"').unwrap()].replace("&amp;", "&");
            assert!(pages < 10, "pages never end");
        }
        assert_eq!(seen.len(), total, "every row once sorted by {want_sorted_by}: {seen:?}");
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), total);
        assert_eq!(pages, total.div_ceil(50));
    }
    // The last page: the last 50 rows, and a way back.
    let last = s.get("/t/site_settings?last=1").body;
    let last_ids = ids(&last);
    assert_eq!(last_ids.len(), 50);
    assert!(last.contains("rel=\"prev\"") && !last.contains("rel=\"next\""));
    assert_eq!(last_ids.last().unwrap(), &p.text("SELECT id FROM site_settings ORDER BY id DESC LIMIT 1"));
    let at = last.find("rel=\"prev\"").unwrap();
    let start = last[..at].rfind("href=\"").unwrap() + 6;
    let prev = s.get(&last[start..start + last[start..].find('"').unwrap()].replace("&amp;", "&")).body;
    let prev_ids = ids(&prev);
    assert_eq!(prev_ids.len(), 50);
    assert!(prev_ids.last().unwrap() < last_ids.first().unwrap(), "the page before comes before");
}

fn filters_combine_with_and(p: &Project) {
    let s = Studio::start(p, &[]);
    let rows = |q: &str| grid_rows(&s.get(&format!("/t/posts?{q}")).body) as i64;
    let cases = [
        ("fc=status&fo=eq&fv=published", "status = 'published'"),
        ("fc=status&fo=ne&fv=published", "status <> 'published'"),
        ("fc=published_at&fo=null&fv=", "published_at IS NULL"),
        ("fc=published_at&fo=notnull&fv=", "published_at IS NOT NULL"),
        ("fc=title&fo=contains&fv=e", if p.is_pg() { "title ILIKE '%e%'" } else { "title LIKE '%e%'" }),
        ("fc=slug&fo=in&fv=welcome,%20nope", "slug IN ('welcome', 'nope')"),
        ("fc=created_at&fo=gt&fv=0&fc=status&fo=eq&fv=draft", "created_at > 0 AND status = 'draft'"),
        ("fc=created_at&fo=lt&fv=0", "created_at < 0"),
        ("fc=title&fo=contains&fv=50%25_", "false"),
    ];
    for (q, condition) in cases {
        let want = p.count(&format!("SELECT count(*) FROM posts WHERE {condition}"));
        assert_eq!(rows(q), want, "{q} means {condition}");
    }
    assert!(rows("fc=status&fo=eq&fv=published") > 0 && rows("fc=status&fo=eq&fv=draft") > 0);
    let r = s.get("/t/posts?fc=slug&fo=in&fv=");
    assert_eq!(r.status, 400);
}

fn inserts_take_database_defaults(p: &Project) {
    let s = Studio::start(p, &[]);
    let form = s.get("/t/locales/new").body;
    assert!(form.contains("name=\"d:status\"") && form.contains("= 'active'"), "{form}");
    let r = s.post(
        "/t/locales/new",
        &[("v:code", "fr"), ("v:name", "Français"), ("d:status", "1"), ("v:status", ""), ("v:created_at", "5")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let row = s.get(r.header("location").unwrap()).body;
    assert!(row.contains("Inserted.") && row.contains("Français"), "{row}");
    assert_eq!(p.text("SELECT status FROM locales WHERE code = 'fr'"), "active");
    // A NOT NULL column left to a default it does not have: refused in words, nothing inserted.
    let r =
        s.post("/t/locales/new", &[("v:code", "it"), ("v:name", "Italiano"), ("d:status", "1"), ("d:created_at", "1")]);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("created_at cannot be NULL"), "{}", r.body);
    assert_eq!(p.count("SELECT count(*) FROM locales WHERE code = 'it'"), 0);
}

fn json_is_validated_before_saving(p: &Project) {
    let s = Studio::start(p, &[]);
    let id = p.text("SELECT id FROM page_section_contents ORDER BY id LIMIT 1");
    let before = p.text(&format!("SELECT content FROM page_section_contents WHERE id = '{id}'"));
    let editor = s.get(&format!("/t/page_section_contents/edit?k={}&c=content", enc(&key(&id)))).body;
    assert!(
        editor.contains("data-json=\"1\"") && editor.contains("name=\"json\" value=\"1\""),
        "a JSON editor: {editor}"
    );
    let r = s.post(
        "/t/page_section_contents/edit",
        &[("k", &key(&id)), ("c", "content"), ("json", "1"), ("value", "{\"title\": ")],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("valid JSON"), "{}", r.body);
    assert_eq!(p.text(&format!("SELECT content FROM page_section_contents WHERE id = '{id}'")), before);
    let good = "{\"title\": \"Edited\", \"body\": \"x\"}";
    let r =
        s.post("/t/page_section_contents/edit", &[("k", &key(&id)), ("c", "content"), ("json", "1"), ("value", good)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(p.text(&format!("SELECT content FROM page_section_contents WHERE id = '{id}'")), good);
    // The grid cuts long JSON and links to the whole value.
    let grid = s.get("/t/page_section_contents").body;
    assert!(grid.contains("class=\"full\""), "long values are cut with a link: {grid}");
}

fn the_console_stops_at_the_time_limit(p: &Project) {
    let s = Studio::start(p, &["--statement-timeout", "1"]);
    let slow = if p.is_pg() {
        "SELECT pg_sleep(20)"
    } else {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    };
    let started = Instant::now();
    let r = s.post("/console", &[("sql", slow)]);
    let took = started.elapsed();
    assert_eq!(r.status, 408, "{}", r.body);
    assert!(r.body.contains("stopped after 1 s"), "{}", r.body);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // The connection is fine afterwards.
    let r = s.post("/console", &[("sql", "SELECT 1 AS one")]);
    assert_eq!(r.status, 200, "{}", r.body);
}

fn the_console_caps_results_with_a_note(p: &Project) {
    let s = Studio::start(p, &[]);
    let many = if p.is_pg() {
        "SELECT g AS n FROM generate_series(1, 1500) AS g"
    } else {
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1500) SELECT n FROM c"
    };
    let r = s.post("/console", &[("sql", many)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("only the first 1,000 rows are shown"), "{}", r.body);
    let shown = r.body.matches("<tr><td").count();
    assert_eq!(shown, 1000);
    assert!(r.body.contains(" ms · committed"), "the time taken: {}", r.body);
    // The export takes them all.
    let r = s.post("/console/export?format=csv", &[("sql", many)]);
    assert_eq!(r.body.lines().count(), 1501);
}

fn exports_tables_and_queries(p: &Project) {
    let s = Studio::start(p, &[]);
    let csv = s.get("/t/posts/export?format=csv");
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(csv.header("content-disposition").unwrap().contains("posts.csv"));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("id,site_id,environment_id,title,slug,excerpt,body"), "{}", lines[0]);
    assert_eq!(lines.len() as i64, 1 + p.count("SELECT count(*) FROM posts"));
    let json = s.get("/t/posts/export?format=json&fc=status&fo=eq&fv=published");
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len() as i64, p.count("SELECT count(*) FROM posts WHERE status = 'published'"));
    assert!(rows.iter().all(|r| r["status"] == "published" && r["created_at"].is_i64()));
    assert!(rows.iter().any(|r| r["excerpt"].is_string()));
    let q = s.post("/console/export?format=json", &[("sql", "SELECT code, name FROM locales ORDER BY code")]);
    let v: serde_json::Value = serde_json::from_str(&q.body).unwrap();
    assert_eq!(v, serde_json::json!([{"code": "de", "name": "German"}, {"code": "en", "name": "English"}]));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let p = Project::sqlite();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = p.xtask(&["studio", "--port", &port]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("port {port} is already in use")), "{err}");
    assert!(out.stdout.is_empty(), "no URL is printed");
}

#[test]
fn another_host_is_served_with_a_warning() {
    let p = Project::sqlite();
    let s = Studio::start(&p, &["--host", "0.0.0.0"]);
    let deadline = Instant::now() + STARTUP;
    let mut said = String::new();
    while !said.contains("warning") && Instant::now() < deadline {
        said.push_str(&s.stderr());
        if let Ok(line) = s.stderr.recv_timeout(Duration::from_millis(200)) {
            said.push_str(&line);
        }
    }
    assert!(said.contains("warning: studio listens on 0.0.0.0"), "{said}");
    assert!(s.printed.starts_with("studio: http://127.0.0.1:"), "a URL a browser opens: {}", s.printed);
    // Reached by address, never by a name.
    let r = s.raw("GET", "/", &[("Cookie", s.cookie())], "");
    assert_eq!(r.status, 200);
    let r = s.raw("GET", "/", &[("Host", format!("rebound.example:{}", s.port)), ("Cookie", s.cookie())], "");
    assert_eq!(r.status, 403);
}

#[test]
fn postgres_counts_above_100000_rows_are_marked_estimates() {
    let Some(p) = Project::postgres() else { return };
    let mut c = p.conn();
    c.batch("CREATE TABLE big (id bigint PRIMARY KEY, v text); INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 150000) g; ANALYZE big")
        .unwrap();
    let s = Studio::start(&p, &[]);
    let body = s.get("/").body;
    let row = &body[body.find(">big</a>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("class=\"estimate\"") && row.contains("≈ 150,000"), "{row}");
    let small = &body[body.find(">pages</a>").unwrap()..];
    assert!(small[..small.find("</tr>").unwrap()].contains("<td class=\"num\">3</td>"), "small tables are exact");
    // Deep keyset pages of a large table.
    let deep = s.get(&format!("/t/big?after={}", enc("[140000]"))).body;
    assert_eq!(grid_rows(&deep), 50);
    assert!(deep.contains("<td class=\"num\" data-column=\"id\">140001</td>"), "{deep}");
}

fn views_and_tables_without_a_primary_key(p: &Project) {
    p.conn()
        .batch(
            "CREATE VIEW published_posts AS SELECT id, title FROM posts WHERE status = 'published';
             CREATE TABLE notes (body text, n integer);
             INSERT INTO notes VALUES ('first', 1), ('second', 2), (NULL, 3);",
        )
        .unwrap();
    let s = Studio::start(p, &[]);
    let list = s.get("/").body;
    let view = &list[list.find(">published_posts</a>").expect("the view is listed")..];
    let view = &view[..view.find("</tr>").unwrap()];
    let published = p.count("SELECT count(*) FROM published_posts");
    assert!(view.contains(">view<") && view.contains(&format!("<td class=\"num\">{published}</td>")), "{view}");
    // A view: a grid by offset, no row links, no write controls.
    let grid = s.get("/t/published_posts").body;
    assert_eq!(grid.matches("<td data-column=\"title\">").count() as i64, published, "{grid}");
    assert!(
        !grid.contains("title=\"open the row\"") && !grid.contains("Insert row") && grid.contains("pages go by offset")
    );
    assert_eq!(
        s.get("/t/published_posts?offset=1").body.matches("<td data-column=\"title\">").count() as i64,
        published - 1
    );
    let csv = s.get("/t/published_posts/export?format=csv").body;
    assert_eq!(csv.lines().count() as i64, published + 1, "{csv}");
    assert_eq!(s.post("/t/published_posts/delete", &[("k", "[1]")]).status, 400);
    // A table without a primary key: SQLite finds its rows by rowid; PostgreSQL cannot.
    let notes = s.get("/t/notes").body;
    if p.is_pg() {
        assert!(!notes.contains("title=\"open the row\"") && notes.contains("no primary key"), "{notes}");
        let r = s.post("/t/notes/edit", &[("k", "[1]"), ("c", "body"), ("value", "changed")]);
        assert_eq!(r.status, 400, "{}", r.body);
    } else {
        assert_eq!(grid_rows(&notes), 3, "{notes}");
        let r = s.post("/t/notes/edit", &[("k", "[2]"), ("c", "body"), ("value", "changed")]);
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(p.text("SELECT body FROM notes WHERE n = 2"), "changed");
        let r = s.post("/t/notes/new", &[("v:body", "fourth"), ("v:n", "4")]);
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(r.header("location").unwrap().contains("k=%5B4%5D"), "the new rowid: {:?}", r.header("location"));
        assert_eq!(s.post("/t/notes/delete", &[("k", "[1]")]).status, 303);
        assert_eq!(p.count("SELECT count(*) FROM notes"), 3);
    }
    assert!(notes.contains("<span class=\"null\">NULL</span>"), "NULL is marked: {notes}");
}

#[test]
fn postgres_types_are_browsed_filtered_and_edited() {
    let Some(p) = Project::postgres() else { return };
    p.conn()
        .batch(
            "CREATE TYPE mood AS ENUM ('calm', 'busy');
             CREATE TABLE events (id uuid PRIMARY KEY, at timestamptz NOT NULL, data jsonb, done boolean NOT NULL DEFAULT false,
                                  amount numeric(10, 2), tags text[], feeling mood);
             INSERT INTO events VALUES
               ('00000000-0000-4000-8000-000000000001', '2024-01-01 10:00+00', '{\"a\": 1}', true, 1.50, '{x,y}', 'calm'),
               ('00000000-0000-4000-8000-000000000002', '2025-06-01 10:00+00', NULL, false, NULL, NULL, 'busy'),
               ('00000000-0000-4000-8000-000000000003', '2026-01-01 10:00+00', '[]', false, 3, '{}', NULL);",
        )
        .unwrap();
    let s = Studio::start(&p, &[]);
    let grid = s.get("/t/events").body;
    assert_eq!(grid_rows(&grid), 3, "{grid}");
    assert!(
        grid.contains(">true<") && grid.contains(">1.50<") && grid.contains(">{x,y}<") && grid.contains(">calm<"),
        "{grid}"
    );
    let rows = |q: &str| grid_rows(&s.get(&format!("/t/events?{q}")).body);
    assert_eq!(rows("fc=done&fo=eq&fv=true"), 1);
    assert_eq!(rows("fc=at&fo=gt&fv=2025-01-01"), 2);
    assert_eq!(rows("fc=amount&fo=lt&fv=2"), 1);
    assert_eq!(rows("fc=feeling&fo=in&fv=calm,busy"), 2);
    assert_eq!(rows("fc=data&fo=contains&fv=%22a%22"), 1);
    assert_eq!(rows("sort=at&dir=desc&after=%5B%222026-01-01+10%3A00%3A00%2B00%22%2C%2200000000-0000-4000-8000-000000000003%22%5D"), 2);
    assert_eq!(rows("after=%5B%2200000000-0000-4000-8000-000000000001%22%5D"), 2);
    let k = "[\"00000000-0000-4000-8000-000000000002\"]";
    let r = s.post("/t/events/edit", &[("k", k), ("c", "data"), ("json", "1"), ("value", "{\"b\": [1, 2]}")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = s.post("/t/events/edit", &[("k", k), ("c", "done"), ("value", "true")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let r = s.post("/t/events/edit", &[("k", k), ("c", "feeling"), ("value", "angry")]);
    assert_eq!(r.status, 400, "not a value of the enum: {}", r.body);
    assert_eq!(p.count("SELECT count(*) FROM events WHERE done AND data = '{\"b\": [1, 2]}'::jsonb"), 1);
    let row = s.get(&format!("/t/events/row?k={}", enc(k))).body;
    assert!(row.contains("&quot;b&quot;") && row.contains("busy"), "{row}");
    let r = s.post(
        "/t/events/new",
        &[("v:id", "00000000-0000-4000-8000-000000000009"), ("v:at", "2020-02-02"), ("d:done", "1")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(p.count("SELECT count(*) FROM events WHERE NOT done AND at < '2021-01-01'"), 1);
}
