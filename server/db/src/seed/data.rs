//! The demo site's copy as data: `demo.json` next to this file (team, site, locales, section
//! definitions, images, pages with their content per locale, posts, navigation, settings),
//! compiled in with `include_str!`, parsed with serde once and checked before use: every
//! section's content against its definition's structure ([`Structure::check`]), every name
//! that refers to something (a definition, an image, a page, a locale) against what the file
//! defines. A malformed file is an error that says where and what ([`DemoDataError`]).
//!
//! In section content an image slot names its file, `{"imageFile": "hero-home.jpg", "alt": …}`;
//! the rows get `{"imageId": …}`, the id of that file's images row ([`super::ids::image_id`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use thiserror::Error;

use crate::seed::ids::image_id;
use crate::seed::structure::Structure;

/// `demo.json`, as this binary was built with it.
pub const DEMO_JSON: &str = include_str!("demo.json");

/// What is wrong with a demo data file: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("the demo data (server/db/src/seed/demo.json) is invalid: {0}")]
pub struct DemoDataError(pub String);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoData {
    /// The team's name.
    pub team: String,
    pub site: SiteData,
    /// The first is the default locale.
    pub locales: Vec<LocaleData>,
    pub section_definitions: Vec<DefinitionData>,
    /// Rows for files that seed-images fetches (placeholders until it has).
    pub images: Vec<ImageData>,
    /// The first page is the home page.
    pub pages: Vec<PageData>,
    pub posts: Vec<PostData>,
    /// In order; children nest under their item.
    pub navigation: Vec<NavData>,
    pub settings: Vec<SettingData>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteData {
    pub name: String,
    pub domain: String,
    /// The name of its one environment, the site's default.
    pub environment: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocaleData {
    pub code: String,
    pub status: LocaleStatus,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocaleStatus {
    Active,
    Inactive,
}

impl LocaleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LocaleStatus::Active => "active",
            LocaleStatus::Inactive => "inactive",
        }
    }
}

/// A section definition; its key doubles as its template key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionData {
    pub key: String,
    pub name: String,
    /// The `elements_structure`.
    pub structure: Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageData {
    pub file: String,
    pub alt: String,
    pub mime: String,
    /// The intended size.
    pub width: i64,
    pub height: i64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageData {
    pub slug: String,
    pub name: String,
    /// In sort order.
    pub sections: Vec<SectionData>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionData {
    /// The key of a section definition.
    pub definition: String,
    pub status: SectionStatus,
    /// By locale code: one for every locale.
    pub content: BTreeMap<String, Json>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionStatus {
    Published,
    Draft,
}

impl SectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SectionStatus::Published => "published",
            SectionStatus::Draft => "draft",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostData {
    pub slug: String,
    pub title: String,
    pub excerpt: String,
    pub body: String,
    /// The featured image's file.
    pub image: String,
    pub days_ago: PostDays,
}

/// A post's times, in whole days before the seed's base time; without `published` it is a
/// draft.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostDays {
    pub created: i64,
    pub updated: i64,
    pub published: Option<i64>,
}

/// A navigation item links to a page of the demo (by slug) or to a URL, not both.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NavData {
    pub label: String,
    pub page: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub children: Vec<NavData>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingData {
    pub key: String,
    pub value: String,
}

/// The demo data compiled into this binary, parsed and checked once. The file is checked by
/// this crate's tests, so a binary built from a tree whose tests pass never panics here.
pub fn demo_data() -> &'static DemoData {
    static DATA: OnceLock<DemoData> = OnceLock::new();
    DATA.get_or_init(|| parse(DEMO_JSON).unwrap_or_else(|e| panic!("{e}")))
}

/// Parses and checks a demo data file.
pub fn parse(text: &str) -> Result<DemoData, DemoDataError> {
    let data: DemoData = serde_json::from_str(text).map_err(|e| DemoDataError(e.to_string()))?;
    data.check().map_err(DemoDataError)?;
    Ok(data)
}

impl DemoData {
    /// The checks [`parse`] makes after reading the file: `Err` names the place.
    fn check(&self) -> Result<(), String> {
        let codes = unique("locales", self.locales.iter().map(|l| l.code.as_str()))?;
        if codes.is_empty() {
            return Err("locales: there must be at least one (the first is the default)".into());
        }
        unique("section_definitions", self.section_definitions.iter().map(|d| d.key.as_str()))?;
        let mut structures = HashMap::new();
        for (i, d) in self.section_definitions.iter().enumerate() {
            let structure =
                Structure::from_json(&d.structure).map_err(|e| format!("section_definitions[{i}] ({}): {e}", d.key))?;
            structures.insert(d.key.as_str(), structure);
        }
        let images = unique("images", self.images.iter().map(|i| i.file.as_str()))?;
        for (i, image) in self.images.iter().enumerate() {
            if image.width <= 0 || image.height <= 0 {
                return Err(format!("images[{i}] ({}): width and height must be positive", image.file));
            }
        }
        if self.pages.is_empty() {
            return Err("pages: there must be at least one (the first is the home page)".into());
        }
        let slugs = unique("pages", self.pages.iter().map(|p| p.slug.as_str()))?;
        for (p, page) in self.pages.iter().enumerate() {
            for (s, section) in page.sections.iter().enumerate() {
                let at = format!("pages[{p}] ({}).sections[{s}] ({})", page.slug, section.definition);
                let structure = structures
                    .get(section.definition.as_str())
                    .ok_or_else(|| format!("{at}: there is no section definition `{}`", section.definition))?;
                let given: HashSet<&str> = section.content.keys().map(String::as_str).collect();
                if given != codes {
                    let mut missing: Vec<&&str> = codes.difference(&given).collect();
                    let mut unknown: Vec<&&str> = given.difference(&codes).collect();
                    missing.sort();
                    unknown.sort();
                    return Err(format!(
                        "{at}: content must be given in every locale and no other \
                         (missing: {missing:?}, unknown: {unknown:?})"
                    ));
                }
                for locale in &self.locales {
                    let content = resolve_images(&section.content[&locale.code], &images)
                        .map_err(|e| format!("{at}.content.{}: {e}", locale.code))?;
                    structure.check(&content).map_err(|e| format!("{at}.content.{}: {e}", locale.code))?;
                }
            }
        }
        unique("posts", self.posts.iter().map(|p| p.slug.as_str()))?;
        for (i, post) in self.posts.iter().enumerate() {
            if !images.contains(post.image.as_str()) {
                return Err(format!("posts[{i}] ({}): there is no image `{}` in images", post.slug, post.image));
            }
        }
        check_navigation(&self.navigation, "navigation", &slugs)?;
        unique("settings", self.settings.iter().map(|s| s.key.as_str()))?;
        Ok(())
    }

    /// The content of `section` in `locale` as the rows hold it (image files resolved to ids).
    pub fn content(&self, section: &SectionData, locale: &str) -> Json {
        let files: HashSet<&str> = self.images.iter().map(|i| i.file.as_str()).collect();
        resolve_images(&section.content[locale], &files).expect("checked when the data was parsed")
    }
}

/// The names, each once; `Err` names the first repeated one.
fn unique<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> Result<HashSet<&'a str>, String> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("{what}: `{name}` is given twice"));
        }
    }
    Ok(seen)
}

fn check_navigation(items: &[NavData], at: &str, pages: &HashSet<&str>) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}] ({})", item.label);
        match (&item.page, &item.url) {
            (Some(page), None) if !pages.contains(page.as_str()) => {
                return Err(format!("{here}: there is no page `{page}`"));
            }
            (Some(_), None) | (None, Some(_)) => {}
            _ => return Err(format!("{here}: give either `page` or `url`")),
        }
        check_navigation(&item.children, &format!("{here}.children"), pages)?;
    }
    Ok(())
}

/// `content` with every `{"imageFile": f, …}` object turned into `{"imageId": <id of f>, …}`;
/// `Err` when `f` is not one of `files`.
fn resolve_images(content: &Json, files: &HashSet<&str>) -> Result<Json, String> {
    Ok(match content {
        Json::Object(object) => {
            let mut out = Map::new();
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("imageFile", Json::String(file)) if files.contains(file.as_str()) => {
                        out.insert("imageId".into(), Json::String(image_id(file)));
                    }
                    ("imageFile", other) => return Err(format!("`imageFile` {other} is not a file in images")),
                    _ => {
                        out.insert(key.clone(), resolve_images(value, files)?);
                    }
                }
            }
            Json::Object(out)
        }
        Json::Array(items) => Json::Array(items.iter().map(|v| resolve_images(v, files)).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_data_file_is_valid() {
        if let Err(e) = parse(DEMO_JSON) {
            panic!("{e}");
        }
        let data = demo_data();
        assert_eq!(data.locales[0].code, "en");
        assert_eq!(data.pages[0].slug, "home");
    }

    /// The demo file with one edit: `edit` gets the parsed JSON.
    fn edited(edit: impl FnOnce(&mut Json)) -> Result<DemoData, DemoDataError> {
        let mut json: Json = serde_json::from_str(DEMO_JSON).unwrap();
        edit(&mut json);
        parse(&json.to_string())
    }

    fn error(edit: impl FnOnce(&mut Json)) -> String {
        edited(edit).expect_err("the edited file must be refused").to_string()
    }

    #[test]
    fn a_malformed_file_is_refused_with_what_and_where() {
        let e = parse("{\"team\": ").unwrap_err().to_string();
        assert!(
            e.starts_with("the demo data (server/db/src/seed/demo.json) is invalid: ") && e.contains("line 1"),
            "{e}"
        );
        let e = error(|j| j["colour"] = "red".into());
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = error(|j| j["pages"][0]["sections"][0]["status"] = "hidden".into());
        assert!(e.contains("unknown variant `hidden`"), "{e}");
        let e = error(|j| {
            j["pages"][0].as_object_mut().unwrap().remove("name");
        });
        assert!(e.contains("missing field `name`"), "{e}");
    }

    #[test]
    fn content_that_its_structure_refuses_is_named() {
        let e = error(|j| {
            j["pages"][0]["sections"][1]["content"]["de"]["items"][0].as_object_mut().unwrap().remove("title");
        });
        assert!(
            e.contains("pages[0] (home).sections[1] (features).content.de: `items[0].title`: required but missing"),
            "{e}"
        );
        let e = error(|j| j["pages"][1]["sections"][0]["content"]["en"]["colour"] = "red".into());
        assert!(e.contains("pages[1] (about).sections[0] (hero).content.en: `colour`: not a slot"), "{e}");
        let e = error(|j| j["section_definitions"][0]["structure"]["rows"][0]["slots"][0]["type"] = "video".into());
        assert!(e.contains("section_definitions[0] (hero): elements_structure: slot `title` has unknown type"), "{e}");
    }

    #[test]
    fn names_must_refer_to_what_the_file_defines() {
        let e = error(|j| j["pages"][0]["sections"][0]["definition"] = "banner".into());
        assert!(e.contains("there is no section definition `banner`"), "{e}");
        let e = error(|j| j["pages"][0]["sections"][0]["content"]["en"]["image"]["imageFile"] = "nope.jpg".into());
        assert!(e.contains("content.en: `imageFile` \"nope.jpg\" is not a file in images"), "{e}");
        let e = error(|j| {
            j["pages"][0]["sections"][0]["content"].as_object_mut().unwrap().remove("de");
        });
        assert!(e.contains("content must be given in every locale") && e.contains("missing: [\"de\"]"), "{e}");
        let e = error(|j| j["posts"][0]["image"] = "nope.jpg".into());
        assert!(e.contains("posts[0] (welcome): there is no image `nope.jpg`"), "{e}");
        let e = error(|j| j["navigation"][1]["children"][0]["page"] = "team".into());
        assert!(e.contains("navigation[1] (About).children[0] (Team): give either `page` or `url`"), "{e}");
        let e = error(|j| j["navigation"][0]["page"] = "blog".into());
        assert!(e.contains("navigation[0] (Home): there is no page `blog`"), "{e}");
        let e = error(|j| j["settings"][1]["key"] = "site.title".into());
        assert!(e.contains("settings: `site.title` is given twice"), "{e}");
        let e = error(|j| j["images"][0]["width"] = 0.into());
        assert!(e.contains("images[0] (hero-home.jpg): width and height must be positive"), "{e}");
    }

    #[test]
    fn image_files_become_the_ids_of_their_rows() {
        let data = demo_data();
        let hero = data.content(&data.pages[0].sections[0], "en");
        assert_eq!(
            hero["image"],
            serde_json::json!({"imageId": image_id("hero-home.jpg"), "alt": hero["image"]["alt"]})
        );
    }
}
