//! The demo content of the seed command, as plain rows: one team, one site with its `main` environment,
//! two locales, the section definitions, three pages built from sections (content in English and German),
//! sample images, blog posts, navigation and site settings.
//!
//! Nothing here touches a database, a clock or a random source: [`demo`] is a pure function of the ids it is
//! handed and of the base time. The caller inserts the tables in the order given, within one transaction
//! (`sites.default_environment_id` refers to an environment inserted after the site; that foreign key is
//! deferred).
//!
//! Section content is a JSON object keyed by the slot keys of the section's `elements_structure`:
//!
//! ```json
//! {"version":1,"rows":[{"slots":[
//!   {"key":"title","type":"text","dataRules":{"required":true,"maxLength":120}},
//!   {"key":"items","type":"list","dataRules":{"required":true},
//!    "fields":[{"key":"title","type":"text","dataRules":{"required":true}}]}
//! ]}]}
//! ```
//!
//! Slot types are `text` and `richtext` (a string; richtext holds markdown), `image` (`{"imageId","alt"}`,
//! `imageId` being an `images.id`), `link` (`{"label","href"}`) and `list` (an array; when the slot has
//! `fields`, each item is an object checked against those fields like a small section of its own).
//! [`validate_content`] checks content against a structure.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::seed::ids::image_id;

/// A value of a column.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Text(String),
    Int(i64),
    Null,
}

/// Rows for one table, columns in a fixed order.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Vec<V>>,
}

/// Ids of what the summary prints.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoIds {
    pub team: String,
    pub site: String,
    pub environment: String,
    pub home_page: String,
}

// Column lists, in the order of the final schema (migrations 0000 to 0005 applied).
const TEAMS: &[&str] = &["id", "name", "created_at", "updated_at"];
pub(crate) const SITES: &[&str] =
    &["id", "team_id", "name", "domain", "default_environment_id", "created_at", "updated_at"];
pub(crate) const ENVIRONMENTS: &[&str] = &["id", "site_id", "name", "created_at", "updated_at"];
const LOCALES: &[&str] = &["code", "name", "status", "created_at"];
const SECTION_DEFINITIONS: &[&str] =
    &["id", "key", "name", "elements_structure", "template_key", "created_at", "updated_at"];
const IMAGES: &[&str] = &[
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
];
pub(crate) const PAGES: &[&str] = &["id", "site_id", "environment_id", "slug", "name", "created_at", "updated_at"];
pub(crate) const PAGE_SECTIONS: &[&str] =
    &["id", "page_id", "section_def_id", "sort_order", "status", "created_at", "updated_at"];
pub(crate) const PAGE_SECTION_CONTENTS: &[&str] =
    &["id", "page_section_id", "locale_code", "content", "created_at", "updated_at"];
pub(crate) const POSTS: &[&str] = &[
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
];
const NAVIGATION_ITEMS: &[&str] =
    &["id", "environment_id", "label", "page_id", "url", "sort_order", "parent_id", "created_at", "updated_at"];
const SITE_SETTINGS: &[&str] = &["id", "key", "value", "created_at", "updated_at"];

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The locales the content is written in; the first is the default.
const LOCALE_CODES: [&str; 2] = ["en", "de"];

fn t(s: &str) -> V {
    V::Text(s.to_owned())
}

fn id(s: &str) -> V {
    V::Text(s.to_owned())
}

/// Collects the rows of one table; values are given by column name so that a row cannot be misaligned.
struct Builder {
    table: Table,
}

impl Builder {
    fn new(name: &'static str, columns: &'static [&'static str]) -> Self {
        Builder { table: Table { name, columns, rows: Vec::new() } }
    }

    /// Adds a row. Every column must be given exactly once; anything else is a bug in this file.
    fn push(&mut self, values: Vec<(&'static str, V)>) {
        let Table { name, columns, .. } = self.table;
        for (i, (key, _)) in values.iter().enumerate() {
            assert!(columns.contains(key), "{name}: there is no column `{key}`");
            assert!(!values[..i].iter().any(|(k, _)| k == key), "{name}: column `{key}` given twice");
        }
        let mut values: HashMap<&str, V> = values.into_iter().collect();
        let row = columns
            .iter()
            .map(|column| values.remove(column).unwrap_or_else(|| panic!("{name}: column `{column}` missing")))
            .collect();
        self.table.rows.push(row);
    }

    fn done(self) -> Table {
        self.table
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Section definitions
// ---------------------------------------------------------------------------------------------------------------

fn slot(key: &str, ty: &str, required: bool, max_length: Option<u32>) -> Value {
    let mut rules = Map::new();
    if required {
        rules.insert("required".into(), Value::Bool(true));
    }
    if let Some(max) = max_length {
        rules.insert("maxLength".into(), max.into());
    }
    let mut slot = Map::new();
    slot.insert("key".into(), key.into());
    slot.insert("type".into(), ty.into());
    if !rules.is_empty() {
        slot.insert("dataRules".into(), Value::Object(rules));
    }
    Value::Object(slot)
}

fn text(key: &str, required: bool, max_length: u32) -> Value {
    slot(key, "text", required, Some(max_length))
}

fn list(key: &str, required: bool, fields: Vec<Value>) -> Value {
    let mut slot = slot(key, "list", required, None);
    slot["fields"] = Value::Array(fields);
    slot
}

fn structure(rows: Vec<Vec<Value>>) -> String {
    let rows: Vec<Value> = rows.into_iter().map(|slots| json!({ "slots": slots })).collect();
    json!({ "version": 1, "rows": rows }).to_string()
}

/// `(key, name, elements_structure)`; the key doubles as the template key.
fn section_definitions() -> Vec<(&'static str, &'static str, String)> {
    vec![
        (
            "hero",
            "Hero Section",
            structure(vec![
                vec![text("title", true, 120), text("subtitle", false, 240)],
                vec![slot("image", "image", false, None), slot("link", "link", false, None)],
            ]),
        ),
        (
            "features",
            "Features Section",
            structure(vec![
                vec![text("title", true, 120), text("intro", false, 280)],
                vec![list(
                    "items",
                    true,
                    vec![text("title", true, 80), text("description", true, 280), text("icon", false, 40)],
                )],
            ]),
        ),
        (
            "text",
            "Text Section",
            structure(vec![vec![text("title", false, 120)], vec![slot("body", "richtext", true, None)]]),
        ),
        (
            "gallery",
            "Gallery Section",
            structure(vec![
                vec![text("title", false, 120)],
                vec![list("images", true, vec![slot("image", "image", true, None), text("caption", false, 160)])],
            ]),
        ),
        (
            "testimonials",
            "Testimonials Section",
            structure(vec![
                vec![text("title", false, 120)],
                vec![list(
                    "quotes",
                    true,
                    vec![text("quote", true, 400), text("author", true, 80), text("role", false, 80)],
                )],
            ]),
        ),
        (
            "cta",
            "Call to Action Section",
            structure(vec![
                vec![text("title", true, 120), text("text", false, 280)],
                vec![slot("link", "link", true, None)],
            ]),
        ),
        (
            "contact",
            "Contact Section",
            structure(vec![
                vec![text("title", true, 120), slot("intro", "richtext", false, None)],
                vec![text("email", true, 254), text("phone", false, 40)],
                vec![text("address", false, 240)],
            ]),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// Images and page content
// ---------------------------------------------------------------------------------------------------------------

/// `(file name, alt text, intended width, intended height)`. The files do not exist yet: the rows are
/// placeholders that the seed-images command completes (bytes, sha256, is_placeholder).
const IMAGE_FILES: &[(&str, &str, i64, i64)] = &[
    ("hero-home.jpg", "A laptop on a desk showing the page editor", 1600, 900),
    ("hero-about.jpg", "The team gathered around a whiteboard", 1600, 900),
    ("gallery-1.jpg", "Pencil sketches of page layouts on paper", 1200, 800),
    ("gallery-2.jpg", "Two people reviewing code on a laptop", 1200, 800),
    ("gallery-3.jpg", "A phone showing the demo site", 1200, 800),
    ("gallery-4.jpg", "The team celebrating a release", 1200, 800),
    ("post-1.jpg", "An open door with a welcome sign", 1200, 800),
    ("post-2.jpg", "Building blocks stacked into the shape of a page", 1200, 800),
    ("post-3.jpg", "Two dictionaries, English and German, side by side", 1200, 800),
];

/// Image ids by file name.
struct Images(HashMap<&'static str, String>);

impl Images {
    fn id(&self, file: &str) -> &str {
        self.0.get(file).unwrap_or_else(|| panic!("no image `{file}` in IMAGE_FILES"))
    }

    /// The value of an `image` slot.
    fn slot(&self, file: &str, alt: &str) -> Value {
        json!({ "imageId": self.id(file), "alt": alt })
    }
}

fn link(label: &str, href: &str) -> Value {
    json!({ "label": label, "href": href })
}

/// One section of a page: its definition key, status, and content in `en` and `de`.
struct SectionSpec {
    def: &'static str,
    status: &'static str,
    en: Value,
    de: Value,
}

fn published(def: &'static str, en: Value, de: Value) -> SectionSpec {
    SectionSpec { def, status: "published", en, de }
}

/// `(slug, name, sections in sort order)`; the first page is the home page.
fn pages(img: &Images) -> Vec<(&'static str, &'static str, Vec<SectionSpec>)> {
    let home = vec![
        published(
            "hero",
            json!({
                "title": "Build pages from sections",
                "subtitle": "A small CMS running on your machine: pages, posts and navigation, all editable.",
                "image": img.slot("hero-home.jpg", "A laptop on a desk showing the page editor"),
                "link": link("Learn more", "/about"),
            }),
            json!({
                "title": "Seiten aus Abschnitten bauen",
                "subtitle": "Ein kleines CMS auf Ihrem Rechner: Seiten, Beiträge und Navigation, alles bearbeitbar.",
                "image": img.slot("hero-home.jpg", "Ein Laptop auf einem Schreibtisch mit dem Seiteneditor"),
                "link": link("Mehr erfahren", "/about"),
            }),
        ),
        published(
            "features",
            json!({
                "title": "What you get",
                "intro": "Everything the demo needs, and nothing more.",
                "items": [
                    {
                        "title": "Reusable sections",
                        "description": "Define a section once and place it on any page, as often as you like.",
                        "icon": "layers",
                    },
                    {
                        "title": "Two languages",
                        "description": "Every section keeps its content per locale, English and German to start with.",
                        "icon": "globe",
                    },
                    {
                        "title": "Drafts",
                        "description": "Work on a section as a draft and publish it when it is ready.",
                        "icon": "pencil",
                    },
                ],
            }),
            json!({
                "title": "Was Sie bekommen",
                "intro": "Alles, was die Demo braucht, und nicht mehr.",
                "items": [
                    {
                        "title": "Wiederverwendbare Abschnitte",
                        "description": "Einmal definieren und auf jeder Seite einsetzen, so oft Sie möchten.",
                        "icon": "layers",
                    },
                    {
                        "title": "Zwei Sprachen",
                        "description": "Jeder Abschnitt speichert seine Inhalte pro Sprache: Englisch und Deutsch.",
                        "icon": "globe",
                    },
                    {
                        "title": "Entwürfe",
                        "description": "Bearbeiten Sie einen Abschnitt als Entwurf und veröffentlichen Sie ihn, \
                                        wenn er fertig ist.",
                        "icon": "pencil",
                    },
                ],
            }),
        ),
        published(
            "testimonials",
            json!({
                "title": "What people say",
                "quotes": [
                    {
                        "quote": "Setting up a local site took minutes, not days.",
                        "author": "Alex Example",
                        "role": "Developer",
                    },
                    {
                        "quote": "The section editor is exactly as simple as it should be.",
                        "author": "Sam Sample",
                        "role": "Editor",
                    },
                ],
            }),
            json!({
                "title": "Was andere sagen",
                "quotes": [
                    {
                        "quote": "Eine lokale Site aufzusetzen hat Minuten gedauert, nicht Tage.",
                        "author": "Alex Example",
                        "role": "Entwickler",
                    },
                    {
                        "quote": "Der Abschnittseditor ist genau so einfach, wie er sein sollte.",
                        "author": "Sam Sample",
                        "role": "Redakteurin",
                    },
                ],
            }),
        ),
        published(
            "cta",
            json!({
                "title": "Ready to try it?",
                "text": "Get in touch and we will show you around.",
                "link": link("Contact us", "/contact"),
            }),
            json!({
                "title": "Bereit zum Ausprobieren?",
                "text": "Melden Sie sich, wir zeigen Ihnen alles.",
                "link": link("Kontakt aufnehmen", "/contact"),
            }),
        ),
    ];

    let gallery = |captions: [&str; 4], alts: [&str; 4]| -> Value {
        let items: Vec<Value> = (0..4)
            .map(|i| {
                let file = format!("gallery-{}.jpg", i + 1);
                json!({ "image": img.slot(&file, alts[i]), "caption": captions[i] })
            })
            .collect();
        Value::Array(items)
    };
    let about = vec![
        published(
            "hero",
            json!({
                "title": "About us",
                "subtitle": "A small team building a small CMS.",
                "image": img.slot("hero-about.jpg", "The team gathered around a whiteboard"),
            }),
            json!({
                "title": "Über uns",
                "subtitle": "Ein kleines Team baut ein kleines CMS.",
                "image": img.slot("hero-about.jpg", "Das Team versammelt an einem Whiteboard"),
            }),
        ),
        published(
            "text",
            json!({
                "title": "Our story",
                "body": "This site is the demo environment of our CMS. The seed command creates it so that every \
                         developer starts from the same content.\n\n\
                         Pages are made of **sections**: a hero, a list of features, a gallery and so on. Each \
                         section has a definition that says which fields it has, and its content is stored once \
                         per language.\n\n\
                         Change anything you like: it is only demo content.",
            }),
            json!({
                "title": "Unsere Geschichte",
                "body": "Diese Site ist die Demo-Umgebung unseres CMS. Der Seed-Befehl legt sie an, damit alle \
                         Entwickler mit denselben Inhalten beginnen.\n\n\
                         Seiten bestehen aus **Abschnitten**: ein Hero, eine Liste von Funktionen, eine Galerie \
                         und so weiter. Jeder Abschnitt hat eine Definition, die seine Felder festlegt, und seine \
                         Inhalte werden pro Sprache gespeichert.\n\n\
                         Ändern Sie, was Sie möchten: Es sind nur Demo-Inhalte.",
            }),
        ),
        published(
            "gallery",
            json!({
                "title": "Behind the scenes",
                "images": gallery(
                    [
                        "Sketching the first page layouts",
                        "Code review over coffee",
                        "Testing on a phone",
                        "Release day",
                    ],
                    [
                        "Pencil sketches of page layouts on paper",
                        "Two people reviewing code on a laptop",
                        "A phone showing the demo site",
                        "The team celebrating a release",
                    ],
                ),
            }),
            json!({
                "title": "Hinter den Kulissen",
                "images": gallery(
                    [
                        "Skizzen der ersten Seitenlayouts",
                        "Code-Review beim Kaffee",
                        "Test auf dem Smartphone",
                        "Der Tag des Releases",
                    ],
                    [
                        "Bleistiftskizzen von Seitenlayouts auf Papier",
                        "Zwei Personen prüfen Code an einem Laptop",
                        "Ein Smartphone mit der Demo-Site",
                        "Das Team feiert ein Release",
                    ],
                ),
            }),
        ),
        // The one draft section: not on the public site until someone publishes it.
        SectionSpec {
            def: "cta",
            status: "draft",
            en: json!({
                "title": "Join the team",
                "text": "We are not hiring yet, but we are always happy to hear from you.",
                "link": link("Write to us", "/contact"),
            }),
            de: json!({
                "title": "Werden Sie Teil des Teams",
                "text": "Wir stellen noch nicht ein, freuen uns aber immer über Ihre Nachricht.",
                "link": link("Schreiben Sie uns", "/contact"),
            }),
        },
    ];

    let contact = vec![
        published(
            "text",
            json!({
                "title": "Get in touch",
                "body": "We read every message and usually answer within two working days.\n\n\
                         If you are reporting a bug, please tell us the steps that lead to it.",
            }),
            json!({
                "title": "Kontakt",
                "body": "Wir lesen jede Nachricht und antworten meist innerhalb von zwei Werktagen.\n\n\
                         Wenn Sie einen Fehler melden, beschreiben Sie bitte die Schritte, die dazu führen.",
            }),
        ),
        published(
            "contact",
            json!({
                "title": "Contact details",
                "intro": "Write to us, call us, or drop by.",
                "email": "hello@example.com",
                "phone": "+49 30 1234567",
                "address": "Example Street 1\n10115 Berlin\nGermany",
            }),
            json!({
                "title": "Kontaktdaten",
                "intro": "Schreiben Sie uns, rufen Sie an oder kommen Sie vorbei.",
                "email": "hello@example.com",
                "phone": "+49 30 1234567",
                "address": "Beispielstraße 1\n10115 Berlin\nDeutschland",
            }),
        ),
    ];

    vec![("home", "Homepage", home), ("about", "About us", about), ("contact", "Contact", contact)]
}

// ---------------------------------------------------------------------------------------------------------------
// Posts
// ---------------------------------------------------------------------------------------------------------------

struct PostSpec {
    title: &'static str,
    slug: &'static str,
    excerpt: &'static str,
    body: &'static str,
    image: &'static str,
    /// Offset from now_ms of `published_at`; `None` for a draft.
    published: Option<i64>,
    created: i64,
    updated: i64,
}

const POST_SPECS: [PostSpec; 3] = [
    PostSpec {
        title: "Welcome to the demo site",
        slug: "welcome",
        excerpt: "What the seed command created for you, and where to find it.",
        body: "Welcome to the demo site of our CMS. Everything you see here was created by the seed command, so \
               feel free to edit, break and delete it.\n\n\
               ## What is in here\n\n\
               - three pages: Home, About and Contact\n\
               - a handful of sections, each in English and German\n\
               - this blog, with two published posts and one draft\n\n\
               Have a look around the admin and change something. It is only demo content.",
        image: "post-1.jpg",
        published: Some(-9 * DAY_MS),
        created: -10 * DAY_MS,
        updated: -9 * DAY_MS,
    },
    PostSpec {
        title: "Working with sections",
        slug: "working-with-sections",
        excerpt: "Pages are lists of sections. Here is how they fit together.",
        body: "Every page on this site is a list of sections. A section has a **definition**, such as *Hero* or \
               *Gallery*, that describes its fields: a title, an image, a list of items.\n\n\
               When you edit a page you add sections, put them in order and fill in their content. The content \
               has to match the definition; a hero needs a title, for example.\n\n\
               ## Drafts\n\n\
               A section can be a draft. Drafts stay off the public site until you publish them. The About page \
               has one, so you can try it out.",
        image: "post-2.jpg",
        published: Some(-2 * DAY_MS),
        created: -3 * DAY_MS,
        updated: -2 * DAY_MS,
    },
    PostSpec {
        title: "Translating your content",
        slug: "translating-your-content",
        excerpt: "Sections keep their content per locale. German is ready, just not switched on.",
        body: "Each section keeps its content per locale. The demo comes with English and German; German is set \
               up but still inactive.\n\n\
               To try it, activate the German locale and open the home page in German. Every section already \
               has a German version.\n\n\
               *This post is a draft, so only the admin shows it.*",
        image: "post-3.jpg",
        published: None,
        created: -DAY_MS,
        updated: 0,
    },
];

// ---------------------------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------------------------

/// The demo environment, tables in insertion order (parents before children).
/// `new_id` yields a fresh UUID string each call (the caller makes it random or a function of --seed N);
/// `now_ms` is the base time: every timestamp is now_ms or now_ms plus/minus a fixed offset.
/// Everything must be a pure function of the sequence of ids and now_ms (no clocks, no randomness).
pub fn demo(new_id: &mut dyn FnMut() -> String, now_ms: i64) -> (Vec<Table>, DemoIds) {
    let now = V::Int(now_ms);
    let at = |offset: i64| V::Int(now_ms + offset);

    // Team, site and its environment. The site names its default environment, which is inserted after it.
    let team_id = new_id();
    let site_id = new_id();
    let env_id = new_id();

    let mut teams = Builder::new("teams", TEAMS);
    teams.push(vec![
        ("id", id(&team_id)),
        ("name", t("dev-team")),
        ("created_at", now.clone()),
        ("updated_at", now.clone()),
    ]);

    let mut sites = Builder::new("sites", SITES);
    sites.push(vec![
        ("id", id(&site_id)),
        ("team_id", id(&team_id)),
        ("name", t("local-site")),
        ("domain", t("localhost:4000")),
        ("default_environment_id", id(&env_id)),
        ("created_at", now.clone()),
        ("updated_at", now.clone()),
    ]);

    let mut environments = Builder::new("environments", ENVIRONMENTS);
    environments.push(vec![
        ("id", id(&env_id)),
        ("site_id", id(&site_id)),
        ("name", t("main")),
        ("created_at", now.clone()),
        ("updated_at", now.clone()),
    ]);

    let mut locales = Builder::new("locales", LOCALES);
    for (code, name, status) in [("en", "English", "active"), ("de", "German", "inactive")] {
        locales.push(vec![("code", t(code)), ("name", t(name)), ("status", t(status)), ("created_at", now.clone())]);
    }

    let mut definitions = Builder::new("section_definitions", SECTION_DEFINITIONS);
    let mut def_ids: HashMap<&str, String> = HashMap::new();
    for (key, name, structure) in section_definitions() {
        let def_id = new_id();
        definitions.push(vec![
            ("id", id(&def_id)),
            ("key", t(key)),
            ("name", t(name)),
            ("elements_structure", V::Text(structure)),
            ("template_key", t(key)),
            ("created_at", now.clone()),
            ("updated_at", now.clone()),
        ]);
        def_ids.insert(key, def_id);
    }

    let mut images = Builder::new("images", IMAGES);
    let mut image_ids = HashMap::new();
    for &(file, alt, width, height) in IMAGE_FILES {
        // A function of the file name alone, as seed-images registers it: see ids::image_id.
        let image_id = image_id(file);
        images.push(vec![
            ("id", id(&image_id)),
            ("file_name", t(file)),
            ("url", V::Text(format!("/uploads/images/{file}"))),
            ("alt", t(alt)),
            ("created_at", now.clone()),
            ("updated_at", now.clone()),
            ("mime", t("image/jpeg")),
            ("width", V::Int(width)),
            ("height", V::Int(height)),
            ("bytes", V::Int(0)),
            ("sha256", t("")),
            ("is_placeholder", V::Int(1)),
        ]);
        image_ids.insert(file, image_id);
    }
    let img = Images(image_ids);

    // Pages, then their sections, then the sections' content in every locale.
    let mut pages_table = Builder::new("pages", PAGES);
    let mut sections = Builder::new("page_sections", PAGE_SECTIONS);
    let mut contents = Builder::new("page_section_contents", PAGE_SECTION_CONTENTS);
    let mut page_ids: HashMap<&str, String> = HashMap::new();
    let page_specs = pages(&img);
    for (slug, name, _) in &page_specs {
        let page_id = new_id();
        pages_table.push(vec![
            ("id", id(&page_id)),
            ("site_id", id(&site_id)),
            ("environment_id", id(&env_id)),
            ("slug", t(slug)),
            ("name", t(name)),
            ("created_at", now.clone()),
            ("updated_at", now.clone()),
        ]);
        page_ids.insert(slug, page_id);
    }
    for (slug, _, specs) in page_specs {
        for (sort_order, spec) in (0_i64..).zip(specs) {
            let section_id = new_id();
            let def_id = def_ids.get(spec.def).unwrap_or_else(|| panic!("no section definition `{}`", spec.def));
            sections.push(vec![
                ("id", id(&section_id)),
                ("page_id", id(&page_ids[slug])),
                ("section_def_id", id(def_id)),
                ("sort_order", V::Int(sort_order)),
                ("status", t(spec.status)),
                ("created_at", now.clone()),
                ("updated_at", now.clone()),
            ]);
            for (locale, content) in LOCALE_CODES.into_iter().zip([spec.en, spec.de]) {
                contents.push(vec![
                    ("id", V::Text(new_id())),
                    ("page_section_id", id(&section_id)),
                    ("locale_code", t(locale)),
                    ("content", V::Text(content.to_string())),
                    ("created_at", now.clone()),
                    ("updated_at", now.clone()),
                ]);
            }
        }
    }

    let mut posts = Builder::new("posts", POSTS);
    for post in &POST_SPECS {
        let (status, published_at) = match post.published {
            Some(offset) => ("published", at(offset)),
            None => ("draft", V::Null),
        };
        posts.push(vec![
            ("id", V::Text(new_id())),
            ("site_id", id(&site_id)),
            ("environment_id", id(&env_id)),
            ("title", t(post.title)),
            ("slug", t(post.slug)),
            ("excerpt", t(post.excerpt)),
            ("body", t(post.body)),
            ("status", t(status)),
            ("published_at", published_at),
            ("created_at", at(post.created)),
            ("updated_at", at(post.updated)),
            ("featured_image_id", id(img.id(post.image))),
        ]);
    }

    // Top-level items link to the pages, plus one external link; "Team" nests under "About".
    let mut navigation = Builder::new("navigation_items", NAVIGATION_ITEMS);
    let mut nav = |label: &str, page: Option<&str>, url: Option<&str>, sort_order: i64, parent: Option<&str>| {
        let nav_id = new_id();
        navigation.push(vec![
            ("id", id(&nav_id)),
            ("environment_id", id(&env_id)),
            ("label", t(label)),
            ("page_id", page.map_or(V::Null, |slug| id(&page_ids[slug]))),
            ("url", url.map_or(V::Null, t)),
            ("sort_order", V::Int(sort_order)),
            ("parent_id", parent.map_or(V::Null, id)),
            ("created_at", now.clone()),
            ("updated_at", now.clone()),
        ]);
        nav_id
    };
    nav("Home", Some("home"), None, 0, None);
    let about_nav = nav("About", Some("about"), None, 1, None);
    nav("Team", None, Some("/about#team"), 0, Some(&about_nav));
    nav("Contact", Some("contact"), None, 2, None);
    nav("Documentation", None, Some("https://example.com/docs"), 3, None);

    let mut settings = Builder::new("site_settings", SITE_SETTINGS);
    for (key, value) in [
        ("site.title", "Local Site"),
        ("site.tagline", "A demo site for local development"),
        ("site.default_locale", LOCALE_CODES[0]),
        ("contact.email", "hello@example.com"),
    ] {
        settings.push(vec![
            ("id", V::Text(new_id())),
            ("key", t(key)),
            ("value", t(value)),
            ("created_at", now.clone()),
            ("updated_at", now.clone()),
        ]);
    }

    let ids = DemoIds { team: team_id, site: site_id, environment: env_id, home_page: page_ids["home"].clone() };
    let tables = vec![
        teams.done(),
        sites.done(),
        environments.done(),
        locales.done(),
        definitions.done(),
        images.done(),
        pages_table.done(),
        sections.done(),
        contents.done(),
        posts.done(),
        navigation.done(),
        settings.done(),
    ];
    (tables, ids)
}

/// An image file found in `uploads/images`, with what was read from it: the seed records it
/// as it is on disk instead of as the placeholder row the demo starts with.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFile {
    pub file_name: String,
    pub alt: String,
    pub mime: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub sha256: String,
    pub is_placeholder: bool,
}

/// The images table of `tables` describing `files` (pure): a demo row for a file takes the
/// file's alt text and metadata, and a file the demo does not know gets a row of its own. Ids
/// stay [`image_id`] of the file name and times stay `now_ms`, so the rows are a function of
/// the seed and of the files.
pub fn with_image_files(tables: &mut [Table], files: &[ImageFile], now_ms: i64) {
    let Some(images) = tables.iter_mut().find(|t| t.name == "images") else { return };
    let column = |name: &str| images.columns.iter().position(|c| *c == name).expect("an images column");
    let file_col = column("file_name");
    for f in files {
        let values = vec![
            ("id", id(&image_id(&f.file_name))),
            ("file_name", t(&f.file_name)),
            ("url", V::Text(format!("/uploads/images/{}", f.file_name))),
            ("alt", t(&f.alt)),
            ("created_at", V::Int(now_ms)),
            ("updated_at", V::Int(now_ms)),
            ("mime", t(&f.mime)),
            ("width", V::Int(f.width)),
            ("height", V::Int(f.height)),
            ("bytes", V::Int(f.bytes)),
            ("sha256", t(&f.sha256)),
            ("is_placeholder", V::Int(i64::from(f.is_placeholder))),
        ];
        let mut row = Builder::new(images.name, images.columns);
        row.push(values);
        let row = row.done().rows.pop().expect("one row");
        match images.rows.iter_mut().find(|r| r[file_col] == V::Text(f.file_name.clone())) {
            Some(existing) => *existing = row,
            None => images.rows.push(row),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------------

/// Checks a page_section_contents.content JSON against a section_definitions.elements_structure JSON:
/// every slot with dataRules.required=true present and non-empty; each value's type matches the slot type
/// ("text"/"richtext" → string, "image" → object with "imageId" (string) and "alt" (string), "list" → array,
/// "link" → object with "label" and "href" strings); no keys that are not slots. Err says which key and why.
///
/// Also enforced: `dataRules.maxLength` (in characters) on text and richtext slots, and, for a list slot
/// that has `fields`, every item is an object checked against those fields (keys are reported as
/// `items[1].title`).
pub fn validate_content(structure: &str, content: &str) -> Result<(), String> {
    let structure: Value =
        serde_json::from_str(structure).map_err(|e| format!("elements_structure is not valid JSON: {e}"))?;
    let content: Value = serde_json::from_str(content).map_err(|e| format!("content is not valid JSON: {e}"))?;
    if let Some(version) = structure.get("version") {
        if version != 1 {
            return Err(format!("elements_structure: unsupported version {version}"));
        }
    }
    let rows = structure.get("rows").and_then(Value::as_array).ok_or("elements_structure: `rows` must be an array")?;
    let mut slots = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let row_slots = row
            .get("slots")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("elements_structure: rows[{i}].slots must be an array"))?;
        slots.extend(row_slots);
    }
    validate_object(&slots, &content, "")
}

const SLOT_TYPES: [&str; 5] = ["text", "richtext", "image", "list", "link"];

/// Checks `value` (content, or one list item) against `slots`; `prefix` is where it sits, for messages.
fn validate_object(slots: &[&Value], value: &Value, prefix: &str) -> Result<(), String> {
    let here = if prefix.is_empty() { "content".to_owned() } else { format!("`{prefix}`") };
    let object = value.as_object().ok_or_else(|| format!("{here}: expected an object, found {}", kind(value)))?;

    let mut keys = HashSet::new();
    for slot in slots {
        let key = slot.get("key").and_then(Value::as_str).filter(|k| !k.is_empty());
        let key = key.ok_or_else(|| format!("elements_structure: a slot in {here} has no `key`"))?;
        if !keys.insert(key) {
            return Err(format!("elements_structure: slot `{key}` is defined twice"));
        }
    }
    if let Some(unknown) = object.keys().find(|k| !keys.contains(k.as_str())) {
        return Err(format!("`{}`: not a slot of this section", join(prefix, unknown)));
    }

    for slot in slots {
        let key = slot["key"].as_str().unwrap_or_default();
        let path = join(prefix, key);
        let ty = slot.get("type").and_then(Value::as_str).unwrap_or_default();
        if !SLOT_TYPES.contains(&ty) {
            return Err(format!("elements_structure: slot `{path}` has unknown type {}", slot["type"]));
        }
        let rules = slot.get("dataRules");
        let required = rules.and_then(|r| r.get("required")).and_then(Value::as_bool).unwrap_or(false);
        let Some(value) = object.get(key) else {
            if required {
                return Err(format!("`{path}`: required but missing"));
            }
            continue;
        };
        validate_value(slot, ty, value, &path)?;
        if required && is_empty(ty, value) {
            return Err(format!("`{path}`: required but empty"));
        }
        if let Some(max) = rules.and_then(|r| r.get("maxLength")).and_then(Value::as_u64) {
            if let Some(s) = value.as_str() {
                let len = s.chars().count();
                if len as u64 > max {
                    return Err(format!("`{path}`: {len} characters, at most {max} allowed"));
                }
            }
        }
    }
    Ok(())
}

fn validate_value(slot: &Value, ty: &str, value: &Value, path: &str) -> Result<(), String> {
    let wrong = |expected: &str| Err(format!("`{path}`: a {ty} slot needs {expected}, found {}", kind(value)));
    match ty {
        "text" | "richtext" if !value.is_string() => wrong("a string"),
        "image" => string_fields(value, path, ty, &["imageId", "alt"]),
        "link" => string_fields(value, path, ty, &["label", "href"]),
        "list" => {
            let Some(items) = value.as_array() else { return wrong("an array") };
            let Some(fields) = slot.get("fields") else { return Ok(()) };
            let fields: Vec<&Value> = fields
                .as_array()
                .ok_or_else(|| format!("elements_structure: `fields` of slot `{path}` must be an array"))?
                .iter()
                .collect();
            for (i, item) in items.iter().enumerate() {
                validate_object(&fields, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `value` must be an object whose `fields` are all strings.
fn string_fields(value: &Value, path: &str, ty: &str, fields: &[&str]) -> Result<(), String> {
    let object = value.as_object().ok_or_else(|| {
        let wanted: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
        format!("`{path}`: a {ty} slot needs an object with {}, found {}", wanted.join(" and "), kind(value))
    })?;
    for field in fields {
        match object.get(*field) {
            Some(Value::String(_)) => {}
            Some(other) => return Err(format!("`{path}.{field}`: expected a string, found {}", kind(other))),
            None => return Err(format!("`{path}.{field}`: missing")),
        }
    }
    Ok(())
}

/// Whether a well-typed value counts as empty for a required slot.
fn is_empty(ty: &str, value: &Value) -> bool {
    let blank = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(|s| s.trim().is_empty());
    match ty {
        "image" => blank(value.get("imageId")),
        "link" => blank(value.get("href")) || blank(value.get("label")),
        "list" => value.as_array().is_none_or(Vec::is_empty),
        _ => blank(Some(value)),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(images.rows.len(), IMAGE_FILES.len() + 1);
        let row = |f: &str| images.rows.iter().find(|r| r[1] == V::Text(f.into())).unwrap().clone();
        let hero = row("hero-home.jpg");
        assert_eq!(
            hero,
            vec![
                V::Text(image_id("hero-home.jpg")),
                V::Text("hero-home.jpg".into()),
                V::Text("/uploads/images/hero-home.jpg".into()),
                V::Text("Alt of hero-home.jpg".into()),
                V::Int(1_700_000_000_000),
                V::Int(1_700_000_000_000),
                V::Text("image/png".into()),
                V::Int(96),
                V::Int(64),
                V::Int(1234),
                V::Text("ab".repeat(32)),
                V::Int(0),
            ]
        );
        assert_eq!(row("extra.png")[0], V::Text(image_id("extra.png")));
        assert_eq!(row("extra.png")[11], V::Int(1));
        let old = before.iter().find(|t| t.name == "images").unwrap();
        assert_eq!(row("post-1.jpg"), *old.rows.iter().find(|r| r[1] == V::Text("post-1.jpg".into())).unwrap());
        // Nothing else changes: references keep pointing at the same (file-derived) ids.
        for (a, b) in tables.iter().zip(&before).filter(|(a, _)| a.name != "images") {
            assert_eq!(a, b);
        }
    }

    /// The columns of each table as the migrations define them (0000_initial … 0005_section_status_check,
    /// with the columns added by ALTER TABLE in 0002 at the end). Kept apart from the constants above on purpose.
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

    fn get<'a>(table: &Table, row: &'a [V], column: &str) -> &'a V {
        &row[col(table, column)]
    }

    fn text_of<'a>(table: &Table, row: &'a [V], column: &str) -> &'a str {
        match get(table, row, column) {
            V::Text(s) => s,
            other => panic!("{}.{column} is {other:?}, not text", table.name),
        }
    }

    fn values<'a>(table: &'a Table, column: &str) -> Vec<&'a V> {
        let i = col(table, column);
        table.rows.iter().map(|r| &r[i]).collect()
    }

    fn row_where<'a>(table: &'a Table, column: &str, value: &str) -> &'a [V] {
        let i = col(table, column);
        table.rows.iter().find(|r| r[i] == V::Text(value.to_owned())).unwrap_or_else(|| panic!("no {value}"))
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
                        (V::Int(x), V::Int(y)) if column.ends_with("_at") => {
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
            assert_eq!(get(images, r, "id"), &V::Text(image_id(text_of(images, r, "file_name"))));
        }
        let all_ids: Vec<&V> = tables
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
        assert_eq!(values(table(&tables, "teams"), "id"), [&V::Text(ids.team.clone())]);
        assert_eq!(values(table(&tables, "sites"), "id"), [&V::Text(ids.site.clone())]);
        assert_eq!(values(table(&tables, "environments"), "id"), [&V::Text(ids.environment.clone())]);
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
                    if *value == V::Null {
                        assert!(NULLABLE.contains(&(t.name, *column)), "{}.{column} is NOT NULL", t.name);
                    }
                    if column.ends_with("_at") || ["sort_order", "width", "height", "bytes"].contains(column) {
                        assert!(matches!(value, V::Int(_) | V::Null), "{}.{column} is an integer", t.name);
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
            let mut rows: Vec<&Vec<V>> =
                sections.rows.iter().filter(|r| text_of(sections, r, "page_id") == page_id).collect();
            rows.sort_by_key(|r| match get(sections, r, "sort_order") {
                V::Int(n) => *n,
                _ => panic!(),
            });
            let orders: Vec<&V> = rows.iter().map(|r| get(sections, r, "sort_order")).collect();
            let want: Vec<V> = (0..expected.len() as i64).map(V::Int).collect();
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
            for locale in LOCALE_CODES {
                assert!(pairs.contains(&(text_of(sections, s, "id"), locale)));
            }
        }

        // Posts: two published at different times, one draft without published_at.
        let posts = table(&tables, "posts");
        let mut published = Vec::new();
        for r in &posts.rows {
            match (text_of(posts, r, "status"), get(posts, r, "published_at")) {
                ("published", V::Int(at)) => published.push(*at),
                ("draft", V::Null) => {}
                other => panic!("post status and published_at disagree: {other:?}"),
            }
            assert!(!text_of(posts, r, "body").is_empty());
            assert!(text_of(posts, r, "body").contains("\n\n"), "a few paragraphs");
            assert!(matches!(get(posts, r, "featured_image_id"), V::Text(_)));
        }
        assert_eq!(published.len(), 2);
        assert_ne!(published[0], published[1]);
        assert!(published.iter().all(|at| *at < NOW));

        // Navigation: the three pages, one external link, one nested item.
        let nav = table(&tables, "navigation_items");
        for r in &nav.rows {
            let page = get(nav, r, "page_id");
            let url = get(nav, r, "url");
            assert!((*page == V::Null) != (*url == V::Null), "exactly one of page_id and url");
        }
        let to_pages: HashSet<&str> = nav
            .rows
            .iter()
            .filter_map(|r| match get(nav, r, "page_id") {
                V::Text(p) => Some(p.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            to_pages,
            values(pages, "id")
                .iter()
                .map(|v| match v {
                    V::Text(s) => s.as_str(),
                    _ => panic!(),
                })
                .collect()
        );
        let external = nav.rows.iter().filter(|r| {
            matches!(get(nav, r, "url"), V::Text(u) if u.starts_with("https://")) && get(nav, r, "page_id") == &V::Null
        });
        assert_eq!(external.count(), 1);
        let top: Vec<&V> = nav
            .rows
            .iter()
            .filter(|r| get(nav, r, "parent_id") == &V::Null)
            .map(|r| get(nav, r, "sort_order"))
            .collect();
        assert_eq!(top, [&V::Int(0), &V::Int(1), &V::Int(2), &V::Int(3)]);
        assert_eq!(nav.rows.iter().filter(|r| get(nav, r, "parent_id") != &V::Null).count(), 1);

        let settings = table(&tables, "site_settings");
        assert_eq!(text_of(settings, row_where(settings, "key", "site.default_locale"), "value"), "en");
        for key in ["site.title", "site.tagline", "contact.email"] {
            row_where(settings, "key", key);
        }

        let images = table(&tables, "images");
        for r in &images.rows {
            let file = text_of(images, r, "file_name");
            assert_eq!(text_of(images, r, "url"), format!("/uploads/images/{file}"));
            assert_eq!(get(images, r, "is_placeholder"), &V::Int(1));
            assert_eq!(get(images, r, "bytes"), &V::Int(0));
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
                        V::Null => {}
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
            let content: Value = serde_json::from_str(text_of(contents, r, "content")).unwrap();
            let mut stack = vec![&content];
            while let Some(v) = stack.pop() {
                match v {
                    Value::Object(m) => {
                        if let Some(Value::String(image_id)) = m.get("imageId") {
                            row_where(images, "id", image_id);
                            referenced += 1;
                        }
                        stack.extend(m.values());
                    }
                    Value::Array(a) => stack.extend(a),
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
            // V is only PartialEq, so compare the debug form.
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

    const HERO: &str = r#"{"version":1,"rows":[{"slots":[
        {"key":"title","type":"text","dataRules":{"required":true,"maxLength":20}},
        {"key":"subtitle","type":"text"},
        {"key":"image","type":"image"},
        {"key":"link","type":"link"},
        {"key":"items","type":"list","fields":[{"key":"name","type":"text","dataRules":{"required":true}}]}
    ]}]}"#;

    fn check(content: &str) -> Result<(), String> {
        validate_content(HERO, content)
    }

    #[test]
    fn validate_accepts_good_content() {
        check(r#"{"title":"Hi"}"#).unwrap();
        check(
            r#"{"title":"Hi","subtitle":"","image":{"imageId":"i1","alt":"A"},"link":{"label":"L","href":"/"},
                "items":[{"name":"a"},{"name":"b"}]}"#,
        )
        .unwrap();
    }

    #[test]
    fn validate_rejects_missing_or_empty_required() {
        let e = check(r#"{"subtitle":"x"}"#).unwrap_err();
        assert!(e.contains("`title`") && e.contains("missing"), "{e}");
        let e = check(r#"{"title":"  "}"#).unwrap_err();
        assert!(e.contains("`title`") && e.contains("empty"), "{e}");
        let e = check(r#"{"title":"Hi","items":[{"name":"a"},{}]}"#).unwrap_err();
        assert!(e.contains("`items[1].name`") && e.contains("missing"), "{e}");
    }

    #[test]
    fn validate_rejects_wrong_types() {
        let e = check(r#"{"title":5}"#).unwrap_err();
        assert!(e.contains("`title`") && e.contains("string"), "{e}");
        let e = check(r#"{"title":"Hi","image":"hero.jpg"}"#).unwrap_err();
        assert!(e.contains("`image`") && e.contains("imageId"), "{e}");
        let e = check(r#"{"title":"Hi","image":{"imageId":7,"alt":"a"}}"#).unwrap_err();
        assert!(e.contains("`image.imageId`"), "{e}");
        let e = check(r#"{"title":"Hi","image":{"imageId":"i"}}"#).unwrap_err();
        assert!(e.contains("`image.alt`") && e.contains("missing"), "{e}");
        let e = check(r#"{"title":"Hi","link":{"label":"x"}}"#).unwrap_err();
        assert!(e.contains("`link.href`"), "{e}");
        let e = check(r#"{"title":"Hi","items":{}}"#).unwrap_err();
        assert!(e.contains("`items`") && e.contains("array"), "{e}");
        let e = check(r#"{"title":"Hi","items":["a"]}"#).unwrap_err();
        assert!(e.contains("`items[0]`") && e.contains("object"), "{e}");
        let e = check(r#"["title"]"#).unwrap_err();
        assert!(e.contains("object"), "{e}");
    }

    #[test]
    fn validate_rejects_unknown_keys_and_long_texts() {
        let e = check(r#"{"title":"Hi","colour":"red"}"#).unwrap_err();
        assert!(e.contains("`colour`") && e.contains("not a slot"), "{e}");
        let e = check(r#"{"title":"Hi","items":[{"name":"a","x":1}]}"#).unwrap_err();
        assert!(e.contains("`items[0].x`"), "{e}");
        let e = check(r#"{"title":"This title is far too long"}"#).unwrap_err();
        assert!(e.contains("`title`") && e.contains("at most 20"), "{e}");
        check(r#"{"title":"Überschrift äöü"}"#).unwrap();
    }

    #[test]
    fn validate_rejects_bad_input() {
        assert!(check("{").unwrap_err().contains("content is not valid JSON"));
        assert!(validate_content("{}", "{}").unwrap_err().contains("rows"));
        assert!(validate_content(r#"{"version":2,"rows":[]}"#, "{}").unwrap_err().contains("version"));
        let odd = r#"{"rows":[{"slots":[{"key":"a","type":"video"}]}]}"#;
        assert!(validate_content(odd, "{}").unwrap_err().contains("unknown type"));
        let twice = r#"{"rows":[{"slots":[{"key":"a","type":"text"}]},{"slots":[{"key":"a","type":"text"}]}]}"#;
        assert!(validate_content(twice, "{}").unwrap_err().contains("twice"));
    }
}
