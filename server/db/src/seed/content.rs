//! The demo environment as plain rows: one team, one site with its environment, the locales,
//! the section definitions, pages built from sections (content in every locale), sample
//! images, blog posts, navigation and site settings. The copy comes from the demo data file
//! ([`super::data`]); this module only turns it into rows.
//!
//! Nothing here touches a database, a clock or a random source: [`demo`] is a pure function of
//! the ids it is handed and of the base time. The caller inserts the tables in the order given,
//! within one transaction (`sites.default_environment_id` refers to an environment inserted
//! after the site; that foreign key is deferred).

use std::collections::HashMap;

use crate::connection::Value;
use crate::seed::data::{demo_data, DemoData, NavData};
use crate::seed::ids::image_id;
use crate::seed::images::ImageFile;
use crate::seed::table::Table;

/// Ids of what the summary prints.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoIds {
    pub team: String,
    pub site: String,
    pub environment: String,
    pub home_page: String,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The demo environment, tables in insertion order (parents before children).
/// `new_id` yields a fresh UUID string each call (the caller makes it random or a function of
/// --seed N); `now_ms` is the base time: every timestamp is now_ms or now_ms minus whole days.
/// Everything is a pure function of the sequence of ids and now_ms (no clocks, no randomness).
pub fn demo(new_id: &mut dyn FnMut() -> String, now_ms: i64) -> (Vec<Table>, DemoIds) {
    demo_from(demo_data(), new_id, now_ms)
}

/// [`demo`] for any (checked) demo data.
pub fn demo_from(data: &DemoData, new_id: &mut dyn FnMut() -> String, now_ms: i64) -> (Vec<Table>, DemoIds) {
    let now = || Value::Int(now_ms);
    let days_ago = |days: i64| Value::Int(now_ms - days * DAY_MS);
    let text = |s: &str| Value::from(s);

    // Team, site and its environment. The site names its default environment, which is
    // inserted after it.
    let team_id = new_id();
    let site_id = new_id();
    let env_id = new_id();

    let mut teams = Table::new("teams");
    teams.push(vec![("id", text(&team_id)), ("name", text(&data.team)), ("created_at", now()), ("updated_at", now())]);

    let mut sites = Table::new("sites");
    sites.push(vec![
        ("id", text(&site_id)),
        ("team_id", text(&team_id)),
        ("name", text(&data.site.name)),
        ("domain", text(&data.site.domain)),
        ("default_environment_id", text(&env_id)),
        ("created_at", now()),
        ("updated_at", now()),
    ]);

    let mut environments = Table::new("environments");
    environments.push(vec![
        ("id", text(&env_id)),
        ("site_id", text(&site_id)),
        ("name", text(&data.site.environment)),
        ("created_at", now()),
        ("updated_at", now()),
    ]);

    let mut locales = Table::new("locales");
    for l in &data.locales {
        locales.push(vec![
            ("code", text(&l.code)),
            ("name", text(&l.name)),
            ("status", text(l.status.as_str())),
            ("created_at", now()),
        ]);
    }

    let mut definitions = Table::new("section_definitions");
    let mut def_ids: HashMap<&str, String> = HashMap::new();
    for d in &data.section_definitions {
        let def_id = new_id();
        definitions.push(vec![
            ("id", text(&def_id)),
            ("key", text(&d.key)),
            ("name", text(&d.name)),
            ("elements_structure", d.structure.to_string().into()),
            ("template_key", text(&d.key)),
            ("created_at", now()),
            ("updated_at", now()),
        ]);
        def_ids.insert(&d.key, def_id);
    }

    // Placeholders until seed-images (or files already on disk) complete them: bytes, sha256,
    // is_placeholder. Their ids are a function of the file name alone, as seed-images
    // registers them (see ids::image_id).
    let mut images_table = Table::new("images");
    for i in &data.images {
        let file = ImageFile {
            file_name: i.file.clone(),
            alt: i.alt.clone(),
            mime: i.mime.clone(),
            width: i.width,
            height: i.height,
            bytes: 0,
            sha256: String::new(),
            is_placeholder: true,
        };
        images_table.rows.push(file.row(now_ms));
    }

    // Pages, then their sections, then the sections' content in every locale.
    let mut pages = Table::new("pages");
    let mut page_ids: HashMap<&str, String> = HashMap::new();
    for p in &data.pages {
        let page_id = new_id();
        pages.push(vec![
            ("id", text(&page_id)),
            ("site_id", text(&site_id)),
            ("environment_id", text(&env_id)),
            ("slug", text(&p.slug)),
            ("name", text(&p.name)),
            ("created_at", now()),
            ("updated_at", now()),
        ]);
        page_ids.insert(&p.slug, page_id);
    }
    let mut sections = Table::new("page_sections");
    let mut contents = Table::new("page_section_contents");
    for p in &data.pages {
        for (sort_order, s) in (0_i64..).zip(&p.sections) {
            let section_id = new_id();
            sections.push(vec![
                ("id", text(&section_id)),
                ("page_id", text(&page_ids[p.slug.as_str()])),
                ("section_def_id", text(&def_ids[s.definition.as_str()])),
                ("sort_order", Value::Int(sort_order)),
                ("status", text(s.status.as_str())),
                ("created_at", now()),
                ("updated_at", now()),
            ]);
            for l in &data.locales {
                contents.push(vec![
                    ("id", new_id().into()),
                    ("page_section_id", text(&section_id)),
                    ("locale_code", text(&l.code)),
                    ("content", data.content(s, &l.code).to_string().into()),
                    ("created_at", now()),
                    ("updated_at", now()),
                ]);
            }
        }
    }

    let mut posts = Table::new("posts");
    for p in &data.posts {
        let (status, published_at) = match p.days_ago.published {
            Some(days) => ("published", days_ago(days)),
            None => ("draft", Value::Null),
        };
        posts.push(vec![
            ("id", new_id().into()),
            ("site_id", text(&site_id)),
            ("environment_id", text(&env_id)),
            ("title", text(&p.title)),
            ("slug", text(&p.slug)),
            ("excerpt", text(&p.excerpt)),
            ("body", text(&p.body)),
            ("status", text(status)),
            ("published_at", published_at),
            ("created_at", days_ago(p.days_ago.created)),
            ("updated_at", days_ago(p.days_ago.updated)),
            ("featured_image_id", image_id(&p.image).into()),
        ]);
    }

    // Items in order, each followed by its children (depth first); sort_order counts siblings.
    let mut navigation = Table::new("navigation_items");
    let mut nav = Nav { table: &mut navigation, new_id, env_id: &env_id, page_ids: &page_ids, now_ms };
    nav.items(&data.navigation, None);

    let mut settings = Table::new("site_settings");
    for s in &data.settings {
        settings.push(vec![
            ("id", new_id().into()),
            ("key", text(&s.key)),
            ("value", text(&s.value)),
            ("created_at", now()),
            ("updated_at", now()),
        ]);
    }

    let home_page = page_ids[data.pages[0].slug.as_str()].clone();
    let ids = DemoIds { team: team_id, site: site_id, environment: env_id, home_page };
    let tables = vec![
        teams,
        sites,
        environments,
        locales,
        definitions,
        images_table,
        pages,
        sections,
        contents,
        posts,
        navigation,
        settings,
    ];
    (tables, ids)
}

/// Writes navigation items.
struct Nav<'a, 'b> {
    table: &'a mut Table,
    new_id: &'a mut dyn FnMut() -> String,
    env_id: &'a str,
    page_ids: &'a HashMap<&'b str, String>,
    now_ms: i64,
}

impl Nav<'_, '_> {
    fn items(&mut self, items: &[NavData], parent: Option<&str>) {
        for (sort_order, item) in (0_i64..).zip(items) {
            let id = (self.new_id)();
            self.table.push(vec![
                ("id", id.as_str().into()),
                ("environment_id", self.env_id.into()),
                ("label", item.label.as_str().into()),
                ("page_id", item.page.as_ref().map(|slug| self.page_ids[slug.as_str()].clone()).into()),
                ("url", item.url.clone().into()),
                ("sort_order", Value::Int(sort_order)),
                ("parent_id", parent.into()),
                ("created_at", Value::Int(self.now_ms)),
                ("updated_at", Value::Int(self.now_ms)),
            ]);
            self.items(&item.children, Some(&id));
        }
    }
}

/// The images table of `tables` describing `files` (pure): a demo row for a file becomes the
/// file's row as it is on disk, and a file the demo does not know gets a row of its own. Ids
/// stay [`image_id`] of the file name and times stay `now_ms`, so the rows are a function of
/// the seed and of the files.
pub fn with_image_files(tables: &mut [Table], files: &[ImageFile], now_ms: i64) {
    let Some(images) = tables.iter_mut().find(|t| t.name == "images") else { return };
    let file_col = images.position("file_name").expect("images.file_name");
    for f in files {
        let row = f.row(now_ms);
        match images.rows.iter_mut().find(|r| r[file_col].text() == Some(f.file_name.as_str())) {
            Some(existing) => *existing = row,
            None => images.rows.push(row),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value as Json;

    use super::*;
    use crate::seed::structure::validate_content;

    #[test]
    fn image_files_replace_the_placeholder_rows_and_add_the_others() {
        let (mut tables, _) = demo(&mut || "x".to_string(), 1_700_000_000_000);
        let before = tables.clone();
        let file = |name: &str, placeholder: bool| ImageFile {
            file_name: name.into(),
            alt: format!("Alt of {name}"),
            mime: "image/png".into(),
            width: 96,
            height: 64,
            bytes: 1234,
            sha256: "ab".repeat(32),
            is_placeholder: placeholder,
        };
        with_image_files(&mut tables, &[file("hero-home.jpg", false), file("extra.png", true)], 1_700_000_000_000);
        let images = tables.iter().find(|t| t.name == "images").unwrap();
        assert_eq!(images.rows.len(), demo_data().images.len() + 1);
        let row = |f: &str| images.rows.iter().find(|r| r[1] == Value::Text(f.into())).unwrap().clone();
        let hero = row("hero-home.jpg");
        assert_eq!(
            hero,
            vec![
                Value::Text(image_id("hero-home.jpg")),
                Value::Text("hero-home.jpg".into()),
                Value::Text("/uploads/images/hero-home.jpg".into()),
                Value::Text("Alt of hero-home.jpg".into()),
                Value::Int(1_700_000_000_000),
                Value::Int(1_700_000_000_000),
                Value::Text("image/png".into()),
                Value::Int(96),
                Value::Int(64),
                Value::Int(1234),
                Value::Text("ab".repeat(32)),
                Value::Int(0),
            ]
        );
        assert_eq!(row("extra.png")[0], Value::Text(image_id("extra.png")));
        assert_eq!(row("extra.png")[11], Value::Int(1));
        let old = before.iter().find(|t| t.name == "images").unwrap();
        assert_eq!(row("post-1.jpg"), *old.rows.iter().find(|r| r[1] == Value::Text("post-1.jpg".into())).unwrap());
        // Nothing else changes: references keep pointing at the same (file-derived) ids.
        for (a, b) in tables.iter().zip(&before).filter(|(a, _)| a.name != "images") {
            assert_eq!(a, b);
        }
    }

    /// The columns of each table as the migrations define them (0000_initial …
    /// 0005_section_status_check, with the columns added by ALTER TABLE in 0002 at the end).
    /// Kept apart from the schema (cms_schema.rs) on purpose.
    const MIGRATION_COLUMNS: &[(&str, &[&str])] = &[
        ("teams", &["id", "name", "created_at", "updated_at"]),
        ("sites", &["id", "team_id", "name", "domain", "default_environment_id", "created_at", "updated_at"]),
        ("environments", &["id", "site_id", "name", "created_at", "updated_at"]),
        ("locales", &["code", "name", "status", "created_at"]),
        (
            "section_definitions",
            &["id", "key", "name", "elements_structure", "template_key", "created_at", "updated_at"],
        ),
        ("pages", &["id", "site_id", "environment_id", "slug", "name", "created_at", "updated_at"]),
        ("page_sections", &["id", "page_id", "section_def_id", "sort_order", "status", "created_at", "updated_at"]),
        ("page_section_contents", &["id", "page_section_id", "locale_code", "content", "created_at", "updated_at"]),
        (
            "images",
            &[
                "id",
                "file_name",
                "url",
                "alt",
                "created_at",
                "updated_at",
                "mime",
                "width",
                "height",
                "bytes",
                "sha256",
                "is_placeholder",
            ],
        ),
        (
            "posts",
            &[
                "id",
                "site_id",
                "environment_id",
                "title",
                "slug",
                "excerpt",
                "body",
                "status",
                "published_at",
                "created_at",
                "updated_at",
                "featured_image_id",
            ],
        ),
        (
            "navigation_items",
            &["id", "environment_id", "label", "page_id", "url", "sort_order", "parent_id", "created_at", "updated_at"],
        ),
        ("site_settings", &["id", "key", "value", "created_at", "updated_at"]),
    ];

    /// Columns that must hold a value (NOT NULL without a default the seed could rely on).
    const NULLABLE: &[(&str, &str)] = &[
        ("sites", "default_environment_id"),
        ("posts", "excerpt"),
        ("posts", "published_at"),
        ("posts", "featured_image_id"),
        ("navigation_items", "page_id"),
        ("navigation_items", "url"),
        ("navigation_items", "parent_id"),
    ];

    /// Foreign-key-like columns: (column, parent table, parent column). `parent_id` refers to its own table.
    const REFERENCES: &[(&str, &str, &str)] = &[
        ("team_id", "teams", "id"),
        ("site_id", "sites", "id"),
        ("environment_id", "environments", "id"),
        ("default_environment_id", "environments", "id"),
        ("page_id", "pages", "id"),
        ("section_def_id", "section_definitions", "id"),
        ("page_section_id", "page_sections", "id"),
        ("locale_code", "locales", "code"),
        ("featured_image_id", "images", "id"),
    ];

    const NOW: i64 = 1_750_000_000_000;

    fn counter() -> impl FnMut() -> String {
        let mut n = 0_u64;
        move || {
            n += 1;
            format!("00000000-0000-4000-8000-{n:012x}")
        }
    }

    fn run(now_ms: i64) -> (Vec<Table>, DemoIds) {
        demo(&mut counter(), now_ms)
    }

    fn table<'a>(tables: &'a [Table], name: &str) -> &'a Table {
        tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no table {name}"))
    }

    fn col(table: &Table, column: &str) -> usize {
        table.columns.iter().position(|c| *c == column).unwrap_or_else(|| panic!("{}.{column}", table.name))
    }

    fn get<'a>(table: &Table, row: &'a [Value], column: &str) -> &'a Value {
        &row[col(table, column)]
    }

    fn text_of<'a>(table: &Table, row: &'a [Value], column: &str) -> &'a str {
        match get(table, row, column) {
            Value::Text(s) => s,
            other => panic!("{}.{column} is {other:?}, not text", table.name),
        }
    }

    fn values<'a>(table: &'a Table, column: &str) -> Vec<&'a Value> {
        let i = col(table, column);
        table.rows.iter().map(|r| &r[i]).collect()
    }

    fn row_where<'a>(table: &'a Table, column: &str, value: &str) -> &'a [Value] {
        let i = col(table, column);
        table.rows.iter().find(|r| r[i] == Value::Text(value.to_owned())).unwrap_or_else(|| panic!("no {value}"))
    }

    #[test]
    fn deterministic() {
        assert_eq!(run(NOW), run(NOW));
        let (a, ids_a) = run(NOW);
        let (b, ids_b) = run(NOW + 12_345);
        assert_eq!(ids_a, ids_b, "ids depend only on the id sequence");
        let mut timestamps = 0;
        for (ta, tb) in a.iter().zip(&b) {
            assert_eq!(ta.name, tb.name);
            for (ra, rb) in ta.rows.iter().zip(&tb.rows) {
                for ((column, va), vb) in ta.columns.iter().zip(ra).zip(rb) {
                    match (va, vb) {
                        (Value::Int(x), Value::Int(y)) if column.ends_with("_at") => {
                            assert_eq!(y - x, 12_345, "{}.{column} is not now_ms plus an offset", ta.name);
                            timestamps += 1;
                        }
                        _ => assert_eq!(va, vb, "{}.{column} depends on now_ms", ta.name),
                    }
                }
            }
        }
        assert!(timestamps > 50);
    }

    #[test]
    fn ids_come_from_new_id() {
        let mut calls = 0;
        let mut gen = counter();
        let (tables, ids) = demo(
            &mut || {
                calls += 1;
                gen()
            },
            NOW,
        );
        // Image ids are a function of the file name (as seed-images registers them); every
        // other id comes from new_id.
        let images = table(&tables, "images");
        for r in &images.rows {
            assert_eq!(get(images, r, "id"), &Value::Text(image_id(text_of(images, r, "file_name"))));
        }
        let all_ids: Vec<&Value> = tables
            .iter()
            .filter(|t| t.columns[0] == "id" && t.name != "images")
            .flat_map(|t| values(t, "id"))
            .collect();
        let unique: HashSet<_> = all_ids.iter().map(|v| format!("{v:?}")).collect();
        assert_eq!(all_ids.len(), calls, "every other id comes from new_id, and every call is used");
        assert_eq!(unique.len(), calls);
        assert_eq!(
            text_of(table(&tables, "pages"), row_where(table(&tables, "pages"), "slug", "home"), "id"),
            ids.home_page
        );
        assert_eq!(values(table(&tables, "teams"), "id"), [&Value::Text(ids.team.clone())]);
        assert_eq!(values(table(&tables, "sites"), "id"), [&Value::Text(ids.site.clone())]);
        assert_eq!(values(table(&tables, "environments"), "id"), [&Value::Text(ids.environment.clone())]);
    }

    #[test]
    fn columns_match_the_migrations() {
        let (tables, _) = run(NOW);
        let names: Vec<&str> = tables.iter().map(|t| t.name).collect();
        let mut expected: Vec<&str> = MIGRATION_COLUMNS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sorted, expected, "one table each, every table of the schema");
        for t in &tables {
            let (_, columns) = MIGRATION_COLUMNS.iter().find(|(n, _)| *n == t.name).unwrap();
            assert_eq!(t.columns, *columns, "{}", t.name);
            for row in &t.rows {
                assert_eq!(row.len(), t.columns.len(), "{}", t.name);
                for (column, value) in t.columns.iter().zip(row) {
                    if *value == Value::Null {
                        assert!(NULLABLE.contains(&(t.name, *column)), "{}.{column} is NOT NULL", t.name);
                    }
                    if column.ends_with("_at") || ["sort_order", "width", "height", "bytes"].contains(column) {
                        assert!(matches!(value, Value::Int(_) | Value::Null), "{}.{column} is an integer", t.name);
                    }
                }
            }
        }
    }

    #[test]
    fn counts() {
        let (tables, _) = run(NOW);
        let count = |name: &str| table(&tables, name).rows.len();
        assert_eq!(count("teams"), 1);
        assert_eq!(count("sites"), 1);
        assert_eq!(count("environments"), 1);
        assert_eq!(count("locales"), 2);
        assert!(count("section_definitions") >= 7);
        assert_eq!(count("pages"), 3);
        assert_eq!(count("page_sections"), 10);
        assert_eq!(count("page_section_contents"), 2 * count("page_sections"));
        assert_eq!(count("images"), 9);
        assert_eq!(count("posts"), 3);
        assert_eq!(count("navigation_items"), 5);
        assert!(count("site_settings") >= 4);
    }

    #[test]
    fn content_facts() {
        let (tables, _) = run(NOW);
        let sites = table(&tables, "sites");
        let site = &sites.rows[0];
        assert_eq!(text_of(sites, site, "name"), "local-site");
        assert_eq!(text_of(sites, site, "domain"), "localhost:4000");
        let envs = table(&tables, "environments");
        assert_eq!(text_of(envs, &envs.rows[0], "name"), "main");
        assert_eq!(get(sites, site, "default_environment_id"), get(envs, &envs.rows[0], "id"));
        let teams = table(&tables, "teams");
        assert_eq!(text_of(teams, &teams.rows[0], "name"), "dev-team");

        let locales = table(&tables, "locales");
        assert_eq!(text_of(locales, row_where(locales, "code", "en"), "status"), "active");
        assert_eq!(text_of(locales, row_where(locales, "code", "de"), "status"), "inactive");

        let defs = table(&tables, "section_definitions");
        let keys: Vec<&str> = defs.rows.iter().map(|r| text_of(defs, r, "key")).collect();
        for key in ["hero", "features", "text", "gallery", "testimonials", "cta", "contact"] {
            assert!(keys.contains(&key), "{key}");
        }
        for r in &defs.rows {
            assert_eq!(text_of(defs, r, "template_key"), text_of(defs, r, "key"));
        }

        // Sections per page, in sort order; exactly one draft, on the about page.
        let pages = table(&tables, "pages");
        let sections = table(&tables, "page_sections");
        let def_key = |def_id: &str| text_of(defs, row_where(defs, "id", def_id), "key");
        let mut drafts = Vec::new();
        for (slug, expected) in [
            ("home", &["hero", "features", "testimonials", "cta"][..]),
            ("about", &["hero", "text", "gallery", "cta"][..]),
            ("contact", &["text", "contact"][..]),
        ] {
            let page_id = text_of(pages, row_where(pages, "slug", slug), "id");
            let mut rows: Vec<&Vec<Value>> =
                sections.rows.iter().filter(|r| text_of(sections, r, "page_id") == page_id).collect();
            rows.sort_by_key(|r| match get(sections, r, "sort_order") {
                Value::Int(n) => *n,
                _ => panic!(),
            });
            let orders: Vec<&Value> = rows.iter().map(|r| get(sections, r, "sort_order")).collect();
            let want: Vec<Value> = (0..expected.len() as i64).map(Value::Int).collect();
            assert_eq!(orders, want.iter().collect::<Vec<_>>(), "{slug}: sort_order 0..");
            let kinds: Vec<&str> = rows.iter().map(|r| def_key(text_of(sections, r, "section_def_id"))).collect();
            assert_eq!(kinds, expected, "{slug}");
            for r in rows {
                let status = text_of(sections, r, "status");
                assert!(["draft", "published"].contains(&status));
                if status == "draft" {
                    drafts.push(slug);
                }
            }
        }
        assert_eq!(drafts, ["about"]);
        assert_eq!(text_of(pages, row_where(pages, "slug", "home"), "name"), "Homepage");

        // One content row per section and locale.
        let contents = table(&tables, "page_section_contents");
        let pairs: HashSet<(&str, &str)> = contents
            .rows
            .iter()
            .map(|r| (text_of(contents, r, "page_section_id"), text_of(contents, r, "locale_code")))
            .collect();
        assert_eq!(pairs.len(), contents.rows.len());
        for s in &sections.rows {
            for locale in ["en", "de"] {
                assert!(pairs.contains(&(text_of(sections, s, "id"), locale)));
            }
        }

        // Posts: two published at different times, one draft without published_at.
        let posts = table(&tables, "posts");
        let mut published = Vec::new();
        for r in &posts.rows {
            match (text_of(posts, r, "status"), get(posts, r, "published_at")) {
                ("published", Value::Int(at)) => published.push(*at),
                ("draft", Value::Null) => {}
                other => panic!("post status and published_at disagree: {other:?}"),
            }
            assert!(!text_of(posts, r, "body").is_empty());
            assert!(text_of(posts, r, "body").contains("\n\n"), "a few paragraphs");
            assert!(matches!(get(posts, r, "featured_image_id"), Value::Text(_)));
        }
        assert_eq!(published.len(), 2);
        assert_ne!(published[0], published[1]);
        assert!(published.iter().all(|at| *at < NOW));

        // Navigation: the three pages, one external link, one nested item.
        let nav = table(&tables, "navigation_items");
        for r in &nav.rows {
            let page = get(nav, r, "page_id");
            let url = get(nav, r, "url");
            assert!((*page == Value::Null) != (*url == Value::Null), "exactly one of page_id and url");
        }
        let to_pages: HashSet<&str> = nav
            .rows
            .iter()
            .filter_map(|r| match get(nav, r, "page_id") {
                Value::Text(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            to_pages,
            values(pages, "id")
                .iter()
                .map(|v| match v {
                    Value::Text(s) => s.as_str(),
                    _ => panic!(),
                })
                .collect()
        );
        let external = nav.rows.iter().filter(|r| {
            matches!(get(nav, r, "url"), Value::Text(u) if u.starts_with("https://"))
                && get(nav, r, "page_id") == &Value::Null
        });
        assert_eq!(external.count(), 1);
        let top: Vec<&Value> = nav
            .rows
            .iter()
            .filter(|r| get(nav, r, "parent_id") == &Value::Null)
            .map(|r| get(nav, r, "sort_order"))
            .collect();
        assert_eq!(top, [&Value::Int(0), &Value::Int(1), &Value::Int(2), &Value::Int(3)]);
        assert_eq!(nav.rows.iter().filter(|r| get(nav, r, "parent_id") != &Value::Null).count(), 1);

        let settings = table(&tables, "site_settings");
        assert_eq!(text_of(settings, row_where(settings, "key", "site.default_locale"), "value"), "en");
        for key in ["site.title", "site.tagline", "contact.email"] {
            row_where(settings, "key", key);
        }

        let images = table(&tables, "images");
        for r in &images.rows {
            let file = text_of(images, r, "file_name");
            assert_eq!(text_of(images, r, "url"), format!("/uploads/images/{file}"));
            assert_eq!(get(images, r, "is_placeholder"), &Value::Int(1));
            assert_eq!(get(images, r, "bytes"), &Value::Int(0));
            assert_eq!(text_of(images, r, "sha256"), "");
            assert_eq!(text_of(images, r, "mime"), "image/jpeg");
        }
    }

    #[test]
    fn references_resolve() {
        let (tables, _) = run(NOW);
        for (position, child) in tables.iter().enumerate() {
            for column in child.columns {
                let (parent_name, parent_column) = match REFERENCES.iter().find(|(c, _, _)| c == column) {
                    Some((_, p, pc)) => (*p, *pc),
                    None if *column == "parent_id" => (child.name, "id"),
                    None => continue,
                };
                let parent_position = tables.iter().position(|t| t.name == parent_name).unwrap();
                // The one deferred foreign key may point forward; every other parent comes first.
                if *column != "default_environment_id" && parent_name != child.name {
                    assert!(parent_position < position, "{}.{column}: {parent_name} comes later", child.name);
                }
                let parent = &tables[parent_position];
                for (i, row) in child.rows.iter().enumerate() {
                    match get(child, row, column) {
                        Value::Null => {}
                        v => {
                            let found = parent.rows.iter().position(|r| get(parent, r, parent_column) == v);
                            let found = found.unwrap_or_else(|| panic!("{}.{column} = {v:?} dangles", child.name));
                            if parent_name == child.name {
                                assert!(found < i, "{}: a parent row comes before its child", child.name);
                            }
                        }
                    }
                }
            }
        }
        // Images referenced from section content exist.
        let images = table(&tables, "images");
        let contents = table(&tables, "page_section_contents");
        let mut referenced = 0;
        for r in &contents.rows {
            let content: Json = serde_json::from_str(text_of(contents, r, "content")).unwrap();
            let mut stack = vec![&content];
            while let Some(v) = stack.pop() {
                match v {
                    Json::Object(m) => {
                        if let Some(Json::String(image_id)) = m.get("imageId") {
                            row_where(images, "id", image_id);
                            referenced += 1;
                        }
                        stack.extend(m.values());
                    }
                    Json::Array(a) => stack.extend(a),
                    _ => {}
                }
            }
        }
        assert_eq!(referenced, 2 * (2 + 4), "two heroes and four gallery images, in two locales");
    }

    #[test]
    fn unique_indexes_hold() {
        let (tables, _) = run(NOW);
        let unique: &[(&str, &[&str])] = &[
            ("teams", &["name"]),
            ("sites", &["team_id", "name"]),
            ("environments", &["site_id", "name"]),
            ("locales", &["code"]),
            ("section_definitions", &["key"]),
            ("pages", &["environment_id", "slug"]),
            ("page_section_contents", &["page_section_id", "locale_code"]),
            ("images", &["file_name"]),
            ("posts", &["environment_id", "slug"]),
            ("site_settings", &["key"]),
        ];
        for (name, columns) in unique {
            let t = table(&tables, name);
            // Value is only PartialEq, so compare the debug form.
            let keys: HashSet<String> = t
                .rows
                .iter()
                .map(|r| format!("{:?}", columns.iter().map(|c| get(t, r, c)).collect::<Vec<_>>()))
                .collect();
            assert_eq!(keys.len(), t.rows.len(), "{name} {columns:?}");
        }
    }

    #[test]
    fn every_content_row_validates() {
        let (tables, _) = run(NOW);
        let defs = table(&tables, "section_definitions");
        let sections = table(&tables, "page_sections");
        let contents = table(&tables, "page_section_contents");
        for r in &contents.rows {
            let section = row_where(sections, "id", text_of(contents, r, "page_section_id"));
            let def = row_where(defs, "id", text_of(sections, section, "section_def_id"));
            let structure = text_of(defs, def, "elements_structure");
            let content = text_of(contents, r, "content");
            if let Err(e) = validate_content(structure, content) {
                panic!("{} ({}): {e}\n{content}", text_of(defs, def, "key"), text_of(contents, r, "locale_code"));
            }
        }
        // The German content really is German, not a copy.
        let by_locale = |locale: &str| -> Vec<&str> {
            contents
                .rows
                .iter()
                .filter(|r| text_of(contents, r, "locale_code") == locale)
                .map(|r| text_of(contents, r, "content"))
                .collect()
        };
        for (en, de) in by_locale("en").iter().zip(by_locale("de")) {
            assert_ne!(*en, de);
        }
    }
}
