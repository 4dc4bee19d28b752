//! `seed --scale N`: N more sites under the demo team, each with environments, pages,
//! sections, localized contents and posts, generated in batches so memory stays flat.

use crate::connection::Value;
use crate::seed::ids::IdSource;
use crate::seed::table::{Layout, Table};

/// Per site: 2 environments, each with PAGES pages of SECTIONS sections in 2 locales, and
/// POSTS posts.
pub const PAGES: usize = 5;
pub const SECTIONS: usize = 4;
pub const POSTS: usize = 5;

/// The tables generated sites write to.
pub const TABLES: &[&str] = &["sites", "environments", "pages", "page_sections", "page_section_contents", "posts"];

/// Rows one generated site adds.
pub const ROWS_PER_SITE: usize = 1 + 2 * (1 + PAGES * (1 + SECTIONS * 3) + POSTS);

/// What generated sites hang off: the team, a section definition whose structure is
/// `{title, body}` (the demo's `text` section) and the locales.
pub struct Anchors {
    pub team_id: String,
    pub text_section_id: String,
    pub locales: Vec<String>,
}

/// Ids in insertion order: row `k` of site `n` gets the stamp `now + n * ROWS_PER_SITE + k`, so
/// ids are unique across batches and runs (site numbers continue after the existing sites).
struct Ids<'a> {
    source: &'a mut IdSource,
    next_stamp: u64,
}

impl Ids<'_> {
    fn next(&mut self) -> String {
        self.next_stamp += 1;
        self.source.ordered_uuid(self.next_stamp)
    }
}

/// The order in which the generator gives each table's values (checked against the schema
/// once per batch: a column added there needs a value here).
struct Layouts {
    sites: Layout,
    environments: Layout,
    pages: Layout,
    sections: Layout,
    contents: Layout,
    posts: Layout,
}

impl Layouts {
    fn new() -> Layouts {
        let timestamps = ["created_at", "updated_at"];
        let with_times = |name: &'static str, columns: &[&str]| Layout::new(name, &[columns, &timestamps[..]].concat());
        Layouts {
            sites: with_times("sites", &["id", "team_id", "name", "domain", "default_environment_id"]),
            environments: with_times("environments", &["id", "site_id", "name"]),
            pages: with_times("pages", &["id", "site_id", "environment_id", "slug", "name"]),
            sections: with_times("page_sections", &["id", "page_id", "section_def_id", "sort_order", "status"]),
            contents: with_times("page_section_contents", &["id", "page_section_id", "locale_code", "content"]),
            posts: Layout::new(
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
        }
    }
}

/// Generates sites `first..first + count` (numbering keeps names unique across batches).
pub fn sites(source: &mut IdSource, anchors: &Anchors, first: usize, count: usize, now: i64) -> Vec<Table> {
    let layouts = Layouts::new();
    let mut sites = layouts.sites.table(count);
    let mut envs = layouts.environments.table(count * 2);
    let mut pages = layouts.pages.table(count * 2 * PAGES);
    let mut sections = layouts.sections.table(count * 2 * PAGES * SECTIONS);
    let mut contents = layouts.contents.table(count * 2 * PAGES * SECTIONS * anchors.locales.len());
    let mut posts = layouts.posts.table(count * 2 * POSTS);
    let t = |s: &str| Value::Text(s.to_string());
    for n in first..first + count {
        let mut ids = Ids { source: &mut *source, next_stamp: now as u64 + (n * ROWS_PER_SITE) as u64 };
        let site = ids.next();
        let env_ids = [ids.next(), ids.next()];
        let ts = Value::Int(now + n as i64);
        sites.rows.push(layouts.sites.row([
            t(&site),
            t(&anchors.team_id),
            Value::Text(format!("site-{n:06}")),
            Value::Text(format!("site-{n:06}.example.test")),
            t(&env_ids[0]),
            ts.clone(),
            ts.clone(),
        ]));
        for (e, env) in env_ids.iter().enumerate() {
            envs.rows.push(layouts.environments.row([
                t(env),
                t(&site),
                t(["main", "staging"][e]),
                ts.clone(),
                ts.clone(),
            ]));
            for p in 0..PAGES {
                let page = ids.next();
                pages.rows.push(layouts.pages.row([
                    t(&page),
                    t(&site),
                    t(env),
                    Value::Text(format!("page-{p}")),
                    Value::Text(format!("Page {p} of site {n}")),
                    ts.clone(),
                    ts.clone(),
                ]));
                for s in 0..SECTIONS {
                    let section = ids.next();
                    sections.rows.push(layouts.sections.row([
                        t(&section),
                        t(&page),
                        t(&anchors.text_section_id),
                        Value::Int(s as i64),
                        t("published"),
                        ts.clone(),
                        ts.clone(),
                    ]));
                    for locale in &anchors.locales {
                        // Every part is digits or a locale code: valid JSON without escaping.
                        let body = format!(
                            r#"{{"title":"Section {s} of page {p} ({locale})","body":"Generated text {} for site {n}, page {p}, section {s}."}}"#,
                            ids.source.next_u64() % 100_000
                        );
                        contents.rows.push(layouts.contents.row([
                            Value::Text(ids.next()),
                            t(&section),
                            t(locale),
                            Value::Text(body),
                            ts.clone(),
                            ts.clone(),
                        ]));
                    }
                }
            }
            for k in 0..POSTS {
                let published = k % 2 == 0;
                posts.rows.push(layouts.posts.row([
                    Value::Text(ids.next()),
                    t(&site),
                    t(env),
                    Value::Text(format!("Post {k} of site {n}")),
                    Value::Text(format!("post-{k}")),
                    Value::Text(format!("Excerpt of post {k}.")),
                    Value::Text(format!("# Post {k}\n\nBody of post {k} on site {n}.")),
                    t(if published { "published" } else { "draft" }),
                    if published { Value::Int(now - (k as i64) * 86_400_000) } else { Value::Null },
                    ts.clone(),
                    ts.clone(),
                    Value::Null, // featured_image_id
                ]));
            }
        }
    }
    vec![sites, envs, pages, sections, contents, posts]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_count_per_site_is_as_advertised() {
        let anchors =
            Anchors { team_id: "t".into(), text_section_id: "d".into(), locales: vec!["en".into(), "de".into()] };
        let tables = sites(&mut IdSource::new(Some(1)), &anchors, 0, 3, 0);
        let rows: usize = tables.iter().map(|t| t.rows.len()).sum();
        assert_eq!(rows, 3 * ROWS_PER_SITE);
        for t in &tables {
            assert!(t.rows.iter().all(|r| r.len() == t.columns.len()), "{}", t.name);
        }
        let contents = tables.iter().find(|t| t.name == "page_section_contents").unwrap();
        for row in &contents.rows {
            let Value::Text(body) = &row[contents.position("content").unwrap()] else { panic!("content is text") };
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(json["title"].is_string() && json["body"].is_string(), "{body}");
        }
        // Ids are unique, also across batches, and in insertion order within a table.
        let next = sites(&mut IdSource::new(Some(1)), &anchors, 3, 2, 0);
        let mut all = std::collections::HashSet::new();
        for t in tables.iter().chain(&next) {
            let ids: Vec<&Value> = t.rows.iter().map(|r| &r[t.position("id").unwrap()]).collect();
            let mut sorted = ids.clone();
            sorted.sort_by_key(|v| format!("{v:?}"));
            assert_eq!(ids, sorted, "{}", t.name);
            for id in ids {
                assert!(all.insert(format!("{id:?}")), "duplicate id in {}", t.name);
            }
        }
    }
}
