//! The studio end to end, as a user would use it: `cargo xtask migrate` and `seed` in a fresh
//! project, the real `xtask studio` binary, and headless Chromium (`tools/e2e/studio.mjs`)
//! opening the printed URL, opening `pages`, filtering, editing a cell, following a foreign
//! key, deleting a row after the confirmation and running a query in the console. Then the
//! database is checked, and the screenshot of the pages grid must be a PNG.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cms_db::connect;
use cms_db::connection::{Sql, Value};
use cms_db::DatabaseUrl;
use serde_json::Value as Json;
use test_support::process::{output_within, KillOnDrop};
use test_support::project::Project;

/// What `studio.mjs` types into the name of the page `about` (markup, to be shown as text).
const NEW_NAME: &str = "About us <edited>";

fn count(conn: &mut cms_db::connection::Connection, sql: &str) -> i64 {
    conn.query(sql, &[]).unwrap()[0][0].int().unwrap()
}

fn text(conn: &mut cms_db::connection::Connection, sql: &str) -> String {
    match conn.query(sql, &[]).unwrap().into_iter().next().and_then(|r| r.into_iter().next()) {
        Some(Value::Text(s)) => s,
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn a_user_filters_edits_follows_a_key_deletes_and_queries_in_chromium() {
    let Some(browser) = test_support::browser::harness() else { return };
    let script = test_support::browser::tool_dir().join("studio.mjs");
    assert!(script.is_file(), "{} is missing", script.display());
    // The repository's migrations, the project's SQLite file (no DATABASE_URL), offline images.
    let p = Project::linked().env("CMS_IMAGES_OFFLINE", "1");
    let xtask = |args: &[&str]| p.xtask_command(args);

    // 1. A seeded database.
    for args in [&["migrate", "-q"][..], &["seed", "--seed", "3"]] {
        let out = output_within(xtask(args), Duration::from_secs(120), "xtask");
        assert!(out.status.success(), "xtask {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let db = DatabaseUrl::Sqlite { path: p.sqlite_db() };
    let (contact, sections, contents, nav) = {
        let mut c = connect(&db).unwrap();
        let id = text(&mut c, "SELECT id FROM pages WHERE slug = 'contact'");
        let sections = count(&mut c, &format!("SELECT count(*) FROM page_sections WHERE page_id = '{id}'"));
        let contents = count(
            &mut c,
            &format!(
                "SELECT count(*) FROM page_section_contents WHERE page_section_id IN (SELECT id FROM page_sections WHERE page_id = '{id}')"
            ),
        );
        let nav = count(
            &mut c,
            &format!(
                "WITH RECURSIVE d(id) AS (SELECT id FROM navigation_items WHERE page_id = '{id}'
                   UNION SELECT n.id FROM navigation_items n JOIN d ON n.parent_id = d.id) SELECT count(*) FROM d"
            ),
        );
        (id, sections, contents, nav)
    };
    assert!(sections > 0 && contents > 0, "the seeded contact page has sections");

    // 2. The studio, on a free port.
    let mut child = xtask(&["studio", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let studio = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60)).expect("the studio prints its URL");
    let url = line.strip_prefix("studio: ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_string();

    // 3. Chromium does what a user does.
    let shots = tempfile::tempdir().unwrap();
    let shot = shots.path().join("pages.png");
    let mut cmd = Command::new(&browser.node);
    cmd.arg(&script).arg(&url).arg(&shot).env("CHROMIUM", &browser.chromium);
    let out = output_within(cmd, Duration::from_secs(180), "studio.mjs in Chromium");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "studio.mjs failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let seen: Json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("no JSON ({e}):\n{stdout}"));
    drop(studio);

    assert_eq!(seen["problems"], serde_json::json!([]), "script errors or blocked resources: {seen}");
    assert!(!seen["signedInUrl"].as_str().unwrap().contains("token="), "the token leaves the address bar: {seen}");
    let pages = seen["tables"].as_array().unwrap().iter().find(|t| t["name"] == "pages").cloned();
    assert_eq!(pages.map(|p| p["rows"].clone()), Some(Json::from("3")), "{seen}");
    assert_eq!(seen["pagesRows"], 3, "{seen}");
    assert_eq!(seen["filteredSlugs"], serde_json::json!(["about"]), "{seen}");
    assert_eq!(seen["savedNotice"], "Saved.", "{seen}");
    assert_eq!(seen["savedName"], NEW_NAME, "the edited name, shown as text: {seen}");
    assert!(seen["fkUrl"].as_str().unwrap().contains("/t/sites/row?k="), "{seen}");
    let referencing = seen["fkReferencing"].as_array().unwrap();
    assert!(referencing.iter().any(|r| r["child"] == "pages" && r["count"] == "3"), "{seen}");
    assert_eq!(seen["confirmTitle"], "Delete 1 row of pages?", "{seen}");
    let total = sections + contents + nav;
    assert_eq!(seen["cascadeTotal"], format!("ON DELETE CASCADE also deletes {total} child row(s):"), "{seen}");
    let cascade = seen["cascade"].as_array().unwrap();
    let rows_of = |t: &str| cascade.iter().find(|c| c["table"] == t).map(|c| c["rows"].as_i64().unwrap());
    assert_eq!(rows_of("page_sections"), Some(sections), "{seen}");
    assert_eq!(rows_of("page_section_contents"), Some(contents), "{seen}");
    assert_eq!(rows_of("navigation_items"), (nav > 0).then_some(nav), "{seen}");
    assert_eq!(seen["deletedNotice"], "Deleted 1 row(s).", "{seen}");
    assert!(seen["timing"].as_str().unwrap().contains(" ms · committed"), "{seen}");
    assert_eq!(seen["consoleColumns"], serde_json::json!(["slug", "name"]), "{seen}");

    // 4. The database says the same.
    let mut c = connect(&db).unwrap();
    assert_eq!(text(&mut c, "SELECT name FROM pages WHERE slug = 'about'"), NEW_NAME);
    assert_eq!(count(&mut c, &format!("SELECT count(*) FROM pages WHERE id = '{contact}'")), 0);
    assert_eq!(count(&mut c, &format!("SELECT count(*) FROM page_sections WHERE page_id = '{contact}'")), 0);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pages"), 2);
    let home = text(&mut c, "SELECT name FROM pages WHERE slug = 'home'");
    assert_eq!(seen["consoleRows"], serde_json::json!([["about", NEW_NAME], ["home", home]]), "{seen}");

    // 5. The screenshot of the pages grid is a PNG.
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
    assert!(png.len() > 1000, "a screenshot of {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
}
