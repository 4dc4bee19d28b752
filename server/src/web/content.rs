//! What the server reads: the site (by the request's host, else the first site), its default
//! environment and locales; a page's published sections in order with their definition and
//! their content in the requested locale or, where that is missing, the default locale; the
//! images they reference; navigation; published posts. SQL written once for both dialects
//! (`$1` placeholders), run through [`Sql`].

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::web::locale::{self, Locale, LocaleChoice, LocaleError};
use cms_db::connection::{self as db, Row, Sql};
use cms_db::error::DbError;

/// The site a request is for.
#[derive(Clone, Debug)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// The environment pages and posts are served from (the site's default environment).
    pub environment_id: String,
    /// The `site.title` setting, else the site's name.
    pub title: String,
    pub default_locale_setting: Option<String>,
    pub locales: Vec<Locale>,
}

impl Site {
    pub fn choose_locale(&self, requested: Option<&str>) -> Result<LocaleChoice, LocaleError> {
        locale::choose(requested, &self.locales, self.default_locale_setting.as_deref())
    }

    pub fn active_locales(&self) -> Vec<String> {
        self.locales.iter().filter(|l| l.active).map(|l| l.code.clone()).collect()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Image {
    pub id: String,
    pub url: String,
    pub alt: String,
    pub width: i64,
    pub height: i64,
    pub mime: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    pub id: String,
    /// The section definition's key (`hero`, `features`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The definition's template key: what decides how the section renders.
    pub template: String,
    pub sort_order: i64,
    /// The locale the content is in: the requested one, or the default when it had none.
    pub locale: String,
    pub fallback: bool,
    pub content: Value,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub slug: String,
    pub name: String,
    pub locale: String,
    pub default_locale: String,
    pub sections: Vec<Section>,
    /// Every image the sections reference, by id.
    pub images: HashMap<String, Image>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NavItem {
    pub label: String,
    /// `/pages/<slug>` or the item's own URL.
    pub href: String,
    pub children: Vec<NavItem>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub title: String,
    pub slug: String,
    pub excerpt: Option<String>,
    pub body: String,
    pub published_at: Option<i64>,
    pub image: Option<Image>,
}

const SITE_SQL: &str = "SELECT s.id, s.name,
       COALESCE(s.default_environment_id,
                (SELECT e.id FROM environments e WHERE e.site_id = s.id ORDER BY e.created_at, e.id LIMIT 1)),
       (SELECT v.value FROM site_settings v WHERE v.key = 'site.title'),
       (SELECT v.value FROM site_settings v WHERE v.key = 'site.default_locale')
  FROM sites s
 ORDER BY CASE WHEN s.domain = $1 THEN 0 ELSE 1 END, s.created_at, s.id
 LIMIT 1";

const LOCALES_SQL: &str = "SELECT code, name, status FROM locales ORDER BY created_at, code";

/// The site whose domain is `host` (e.g. `localhost:4000`), else the first site created.
/// `None` when there is no site (or it has no environment) at all.
pub fn site(q: &mut dyn Sql, host: &str) -> Result<Option<Site>, DbError> {
    let Some(row) = q.query(SITE_SQL, &[host.into()])?.into_iter().next() else { return Ok(None) };
    let mut row = row.into_iter();
    let mut next = || row.next().unwrap_or(db::Value::Null);
    let (id, name, env, title, default_locale) = (next(), next(), next(), next(), next());
    let (Some(id), Some(name), Some(environment_id)) = (id.into_text(), name.into_text(), env.into_text()) else {
        return Ok(None);
    };
    let locales = q
        .query(LOCALES_SQL, &[])?
        .into_iter()
        .map(|r| Locale {
            code: text(&r, 0),
            name: text(&r, 1),
            active: r.get(2).and_then(db::Value::text) == Some("active"),
        })
        .collect();
    Ok(Some(Site {
        id,
        title: title.into_text().unwrap_or_else(|| name.clone()),
        name,
        environment_id,
        default_locale_setting: default_locale.into_text(),
        locales,
    }))
}

fn text(row: &Row, i: usize) -> String {
    row.get(i).and_then(db::Value::text).unwrap_or_default().to_string()
}

fn int(row: &Row, i: usize) -> i64 {
    row.get(i).and_then(db::Value::int).unwrap_or_default()
}

/// Whether `slug` is a page address as the short form `/{slug}` accepts it: 1 to 100 ASCII
/// letters, digits, `-` and `_` (so `favicon.ico` or `robots.txt` never are).
pub fn valid_slug(slug: &str) -> bool {
    (1..=100).contains(&slug.len()) && slug.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Whether the site's environment has a page `slug`.
pub fn page_exists(q: &mut dyn Sql, site: &Site, slug: &str) -> Result<bool, DbError> {
    let rows = q.query(
        "SELECT 1 FROM pages WHERE environment_id = $1 AND slug = $2",
        &[site.environment_id.as_str().into(), slug.into()],
    )?;
    Ok(!rows.is_empty())
}

// One row per published section and locale found ($3 the requested locale, $4 the default);
// the requested locale's row first. A page without published sections yields one row of NULLs
// after its own columns.
const PAGE_SQL: &str = "SELECT p.name, ps.id, ps.sort_order, d.key, d.template_key, c.locale_code, c.content
  FROM pages p
  LEFT JOIN page_sections ps ON ps.page_id = p.id AND ps.status = 'published'
  LEFT JOIN section_definitions d ON d.id = ps.section_def_id
  LEFT JOIN page_section_contents c ON c.page_section_id = ps.id AND c.locale_code IN ($3, $4)
 WHERE p.environment_id = $1 AND p.slug = $2
 ORDER BY ps.sort_order, ps.id, CASE WHEN c.locale_code = $3 THEN 0 ELSE 1 END";

/// A page with its published sections in `choice.locale` (falling back per section to
/// `choice.default`). `None` when the environment has no page `slug`. A section with content in
/// neither locale is left out.
pub fn page(q: &mut dyn Sql, site: &Site, slug: &str, choice: &LocaleChoice) -> Result<Option<Page>, DbError> {
    let params = [&*site.environment_id, slug, &choice.locale, &choice.default].map(db::Value::from);
    let rows = q.query(PAGE_SQL, &params)?;
    let Some(first) = rows.first() else { return Ok(None) };
    let name = text(first, 0);
    let mut sections: Vec<Section> = Vec::new();
    for r in &rows {
        let (Some(id), Some(locale), Some(content)) =
            (r[1].text(), r.get(5).and_then(db::Value::text), r.get(6).and_then(db::Value::text))
        else {
            continue;
        };
        if sections.last().is_some_and(|s| s.id == id) {
            continue; // the default locale's row of a section already served in the requested one
        }
        let content = match serde_json::from_str(content) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("warning: section {id} ({locale}) has content that is not JSON ({e}); it is left out");
                continue;
            }
        };
        sections.push(Section {
            id: id.to_string(),
            kind: text(r, 3),
            template: text(r, 4),
            sort_order: int(r, 2),
            locale: locale.to_string(),
            fallback: locale != choice.locale,
            content,
        });
    }
    let mut ids: Vec<&str> = Vec::new();
    for s in &sections {
        image_ids(&s.content, &mut ids);
    }
    let images = images(q, &ids)?;
    Ok(Some(Page {
        slug: slug.to_string(),
        name,
        locale: choice.locale.clone(),
        default_locale: choice.default.clone(),
        sections,
        images,
    }))
}

/// Every `imageId` in a content value, once each.
pub fn image_ids<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(id)) = m.get("imageId") {
                if !out.contains(&id.as_str()) {
                    out.push(id);
                }
            }
            for child in m.values() {
                image_ids(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|child| image_ids(child, out)),
        _ => {}
    }
}

const IMAGE_COLUMNS: &str = "id, url, alt, width, height, mime";

fn image(r: &Row) -> Image {
    Image { id: text(r, 0), url: text(r, 1), alt: text(r, 2), width: int(r, 3), height: int(r, 4), mime: text(r, 5) }
}

/// The images with these ids (ids that match nothing are left out).
pub fn images(q: &mut dyn Sql, ids: &[&str]) -> Result<HashMap<String, Image>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id IN ({})", placeholders.join(", "));
    let ids: Vec<db::Value> = ids.iter().copied().map(db::Value::from).collect();
    Ok(q.query(&sql, &ids)?.iter().map(image).map(|i| (i.id.clone(), i)).collect())
}

const NAV_SQL: &str = "SELECT n.id, n.label, n.url, p.slug, n.parent_id
  FROM navigation_items n LEFT JOIN pages p ON p.id = n.page_id
 WHERE n.environment_id = $1
 ORDER BY n.sort_order, n.id";

/// The environment's navigation as a tree (two levels and more), in sort order.
pub fn navigation(q: &mut dyn Sql, site: &Site) -> Result<Vec<NavItem>, DbError> {
    let rows = q.query(NAV_SQL, &[site.environment_id.as_str().into()])?;
    let flat: Vec<(String, Option<String>, NavItem)> = rows
        .iter()
        .map(|r| {
            let href = match (r[3].text(), r[2].text()) {
                (Some(slug), _) => format!("/pages/{slug}"),
                (None, Some(url)) => url.to_string(),
                (None, None) => "#".to_string(),
            };
            (text(r, 0), r[4].text().map(str::to_string), NavItem { label: text(r, 1), href, children: Vec::new() })
        })
        .collect();
    Ok(tree(flat))
}

/// Nests `(id, parent, item)` triples; items whose parent is missing become top-level.
fn tree(flat: Vec<(String, Option<String>, NavItem)>) -> Vec<NavItem> {
    fn build(parent: Option<&str>, flat: &[(String, Option<String>, NavItem)], depth: usize) -> Vec<NavItem> {
        flat.iter()
            .filter(|(_, p, _)| p.as_deref() == parent)
            .map(|(id, _, item)| {
                let mut item = item.clone();
                if depth < 8 {
                    item.children = build(Some(id), flat, depth + 1);
                }
                item
            })
            .collect()
    }
    let ids: Vec<&str> = flat.iter().map(|(id, _, _)| id.as_str()).collect();
    let rooted: Vec<(String, Option<String>, NavItem)> = flat
        .iter()
        .map(|(id, p, item)| {
            let p = p.clone().filter(|p| ids.contains(&p.as_str()) && p != id);
            (id.clone(), p, item.clone())
        })
        .collect();
    build(None, &rooted, 0)
}

// Published and dated no later than $2 (now); the newest first.
const POSTS_SQL: &str = "SELECT p.title, p.slug, p.excerpt, p.body, p.published_at,
       i.id, i.url, i.alt, i.width, i.height, i.mime
  FROM posts p LEFT JOIN images i ON i.id = p.featured_image_id
 WHERE p.environment_id = $1 AND p.status = 'published'
   AND (p.published_at IS NULL OR p.published_at <= $2)";

fn post(r: &Row) -> Post {
    Post {
        title: text(r, 0),
        slug: text(r, 1),
        excerpt: r[2].text().map(str::to_string),
        body: text(r, 3),
        published_at: r[4].int(),
        image: r[5].text().is_some().then(|| image(&r[5..].to_vec())),
    }
}

/// Published posts, newest first. Drafts and posts dated in the future are never listed.
pub fn posts(q: &mut dyn Sql, site: &Site, now_ms: i64) -> Result<Vec<Post>, DbError> {
    let sql = format!("{POSTS_SQL} ORDER BY COALESCE(p.published_at, p.created_at) DESC, p.id");
    Ok(q.query(&sql, &[site.environment_id.as_str().into(), now_ms.into()])?.iter().map(post).collect())
}

/// One published post; `None` for a draft, a future post or an unknown slug.
pub fn post_by_slug(q: &mut dyn Sql, site: &Site, slug: &str, now_ms: i64) -> Result<Option<Post>, DbError> {
    let sql = format!("{POSTS_SQL} AND p.slug = $3");
    Ok(q.query(&sql, &[site.environment_id.as_str().into(), now_ms.into(), slug.into()])?.first().map(post))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nav(id: &str, parent: Option<&str>) -> (String, Option<String>, NavItem) {
        (id.into(), parent.map(Into::into), NavItem { label: id.into(), href: "#".into(), children: Vec::new() })
    }

    #[test]
    fn short_form_slugs() {
        for ok in ["about", "contact-us", "a_b", "Page2"] {
            assert!(valid_slug(ok), "{ok}");
        }
        for bad in ["", "favicon.ico", "robots.txt", "a b", "a/b", "ä", "..", &"x".repeat(101)] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn navigation_nests_children_and_keeps_orphans() {
        let t = tree(vec![
            nav("a", None),
            nav("b", None),
            nav("b1", Some("b")),
            nav("x", Some("gone")),
            nav("s", Some("s")),
        ]);
        let labels: Vec<&str> = t.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(labels, ["a", "b", "x", "s"]);
        assert_eq!(t[1].children.len(), 1);
        assert_eq!(t[1].children[0].label, "b1");
    }

    #[test]
    fn image_ids_are_collected_once() {
        let v: Value = serde_json::from_str(
            r#"{"image":{"imageId":"a","alt":""},"images":[{"image":{"imageId":"b"}},{"image":{"imageId":"a"}}]}"#,
        )
        .unwrap();
        let mut ids = Vec::new();
        image_ids(&v, &mut ids);
        ids.sort();
        assert_eq!(ids, ["a", "b"]);
    }
}
