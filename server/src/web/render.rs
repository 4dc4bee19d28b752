//! HTML pages. Every value from the database is escaped ([`escape_into`]); richtext goes
//! through [`markdown::to_html`]; link targets through [`safe_href`].

use std::fmt::Write as _;

use serde_json::Value;

use crate::web::content::{Image, NavItem, Page, Post, Section};
use crate::web::dates::{iso_date, long_date};
use crate::web::html::{element, escape, escape_into, safe_href};
use crate::web::markdown;

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d1d1f}\
header.site{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;padding:1rem 2rem;border-bottom:1px solid #ddd}\
header.site ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}header.site li ul{display:none}\
.site-title{font-weight:700;text-decoration:none;color:inherit}main{max-width:64rem;margin:0 auto;padding:1rem 2rem}\
.section{margin:2.5rem 0}.hero{display:grid;gap:1.5rem}.hero img,.gallery img,.post img{max-width:100%;height:auto}\
.hero h1{font-size:2.5rem;margin:0}.subtitle{font-size:1.25rem;color:#555}\
.button{display:inline-block;padding:.5rem 1rem;background:#1d4ed8;color:#fff;border-radius:.25rem;text-decoration:none}\
.features ul{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem;list-style:none;padding:0}\
.gallery .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem}\
blockquote{margin:1rem 0;padding-left:1rem;border-left:4px solid #ddd}.locales a[aria-current]{font-weight:700}\
footer.site{padding:2rem;color:#777;border-top:1px solid #ddd}";

/// What every page shares: the site's title, its navigation and the locale links.
pub struct Chrome<'a> {
    pub site_title: &'a str,
    pub nav: &'a [NavItem],
    /// The page's language (`<html lang>`).
    pub lang: &'a str,
    /// Appended to links to pages as `?locale=…` (None for the default locale).
    pub locale_param: Option<&'a str>,
    /// The active locales, with the path the locale links point to.
    pub locales: &'a [String],
    pub path: &'a str,
}

/// A whole HTML document around `main`.
pub fn document(chrome: &Chrome<'_>, title: &str, main: &str) -> String {
    let mut out = String::with_capacity(main.len() + STYLE.len() + 1024);
    out.push_str("<!doctype html>\n<html lang=\"");
    escape_into(&mut out, chrome.lang);
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    escape_into(&mut out, title);
    if !chrome.site_title.is_empty() && title != chrome.site_title {
        out.push_str(" · ");
        escape_into(&mut out, chrome.site_title);
    }
    out.push_str("</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<header class=\"site\">\n<a class=\"site-title\" href=\"");
    out.push_str(&page_href("home", chrome.locale_param));
    out.push_str("\">");
    escape_into(&mut out, chrome.site_title);
    out.push_str("</a>\n");
    if !chrome.nav.is_empty() {
        out.push_str("<nav aria-label=\"Main\">");
        nav_list(&mut out, chrome.nav, chrome.locale_param);
        out.push_str("</nav>\n");
    }
    if chrome.locales.len() > 1 {
        out.push_str("<nav class=\"locales\" aria-label=\"Languages\">");
        for code in chrome.locales {
            out.push_str("<a hreflang=\"");
            escape_into(&mut out, code);
            out.push_str("\" href=\"");
            escape_into(&mut out, chrome.path);
            out.push_str("?locale=");
            escape_into(&mut out, code);
            out.push('"');
            if code == chrome.lang {
                out.push_str(" aria-current=\"true\"");
            }
            out.push('>');
            escape_into(&mut out, code);
            out.push_str("</a> ");
        }
        out.push_str("</nav>\n");
    }
    out.push_str("</header>\n<main>\n");
    out.push_str(main);
    out.push_str("</main>\n<footer class=\"site\"><a href=\"");
    out.push_str(&with_locale("/posts".to_string(), chrome.locale_param));
    out.push_str("\">Blog</a></footer>\n</body>\n</html>\n");
    out
}

fn page_href(slug: &str, locale_param: Option<&str>) -> String {
    with_locale(format!("/pages/{}", escape(slug)), locale_param)
}

/// `href` (already escaped) with `?locale=…` appended for a locale other than the default.
fn with_locale(mut href: String, locale_param: Option<&str>) -> String {
    if let Some(l) = locale_param {
        href.push_str("?locale=");
        escape_into(&mut href, l);
    }
    href
}

fn nav_list(out: &mut String, items: &[NavItem], locale_param: Option<&str>) {
    out.push_str("<ul>");
    for item in items {
        out.push_str("<li><a href=\"");
        match (item.href.strip_prefix("/pages/"), locale_param) {
            (Some(slug), Some(_)) => out.push_str(&page_href(slug, locale_param)),
            _ => escape_into(out, safe_href(&item.href)),
        }
        out.push_str("\">");
        escape_into(out, &item.label);
        out.push_str("</a>");
        if !item.children.is_empty() {
            nav_list(out, &item.children, locale_param);
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

/// A page's sections. The first hero's title is the page's `<h1>`; a page without a hero gets
/// its name as `<h1>`.
pub fn page(chrome: &Chrome<'_>, page: &Page) -> String {
    let mut main = String::with_capacity(4096);
    let has_hero = page.sections.iter().any(|s| s.template == "hero");
    if !has_hero {
        element(&mut main, "h1", Some("page-title"), Some(&page.name));
        main.push('\n');
    }
    let mut h1_done = !has_hero;
    for s in &page.sections {
        section(&mut main, s, page, &mut h1_done);
    }
    let title = page
        .sections
        .iter()
        .find(|s| s.template == "hero")
        .and_then(|s| str_of(&s.content, "title"))
        .unwrap_or(&page.name);
    document(chrome, title, &main)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn section(out: &mut String, s: &Section, page: &Page, h1_done: &mut bool) {
    let c = &s.content;
    let template: &str = match s.template.as_str() {
        t @ ("hero" | "features" | "text" | "gallery" | "testimonials" | "cta" | "contact") => t,
        _ => "generic",
    };
    out.push_str("<section class=\"section ");
    out.push_str(template);
    out.push_str("\" id=\"section-");
    escape_into(out, &s.id);
    out.push('"');
    if s.fallback {
        // The content is in the default locale: say so to browsers and screen readers.
        out.push_str(" lang=\"");
        escape_into(out, &s.locale);
        out.push('"');
    }
    out.push_str(">\n");
    match template {
        "hero" => {
            let heading = if *h1_done { "h2" } else { "h1" };
            *h1_done = true;
            element(out, heading, None, str_of(c, "title"));
            element(out, "p", Some("subtitle"), str_of(c, "subtitle"));
            link(out, c.get("link"), Some("button"));
            image(out, c.get("image"), page, true);
        }
        "features" => {
            element(out, "h2", None, str_of(c, "title"));
            element(out, "p", Some("intro"), str_of(c, "intro"));
            let items = c.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            if !items.is_empty() {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str("<li");
                    if let Some(icon) = str_of(item, "icon") {
                        out.push_str(" data-icon=\"");
                        escape_into(out, icon);
                        out.push('"');
                    }
                    out.push('>');
                    element(out, "h3", None, str_of(item, "title"));
                    element(out, "p", None, str_of(item, "description"));
                    out.push_str("</li>\n");
                }
                out.push_str("</ul>\n");
            }
        }
        "text" => {
            element(out, "h2", None, str_of(c, "title"));
            if let Some(body) = str_of(c, "body") {
                out.push_str(&markdown::to_html(body));
            }
        }
        "gallery" => {
            element(out, "h2", None, str_of(c, "title"));
            out.push_str("<div class=\"grid\">\n");
            for item in c.get("images").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                out.push_str("<figure>");
                image(out, item.get("image"), page, false);
                element(out, "figcaption", None, str_of(item, "caption"));
                out.push_str("</figure>\n");
            }
            out.push_str("</div>\n");
        }
        "testimonials" => {
            element(out, "h2", None, str_of(c, "title"));
            for q in c.get("quotes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                out.push_str("<blockquote>");
                element(out, "p", None, str_of(q, "quote"));
                if let Some(author) = str_of(q, "author") {
                    out.push_str("<footer><cite>");
                    escape_into(out, author);
                    out.push_str("</cite>");
                    if let Some(role) = str_of(q, "role") {
                        out.push_str(", ");
                        escape_into(out, role);
                    }
                    out.push_str("</footer>");
                }
                out.push_str("</blockquote>\n");
            }
        }
        "cta" => {
            element(out, "h2", None, str_of(c, "title"));
            element(out, "p", None, str_of(c, "text"));
            link(out, c.get("link"), Some("button"));
        }
        "contact" => {
            element(out, "h2", None, str_of(c, "title"));
            if let Some(intro) = str_of(c, "intro") {
                out.push_str(&markdown::to_html(intro));
            }
            out.push_str("<address>\n");
            if let Some(email) = str_of(c, "email") {
                let _ = writeln!(out, "<p><a href=\"mailto:{0}\">{0}</a></p>", escape(email));
            }
            if let Some(phone) = str_of(c, "phone") {
                let tel: String = phone.chars().filter(|ch| ch.is_ascii_digit() || *ch == '+').collect();
                let _ = writeln!(out, "<p><a href=\"tel:{}\">{}</a></p>", escape(&tel), escape(phone));
            }
            if let Some(address) = str_of(c, "address") {
                out.push_str("<p>");
                for (i, line) in address.lines().enumerate() {
                    if i > 0 {
                        out.push_str("<br>");
                    }
                    escape_into(out, line);
                }
                out.push_str("</p>\n");
            }
            out.push_str("</address>\n");
        }
        _ => {
            // A template this server does not know: its title and plain text fields.
            element(out, "h2", None, str_of(c, "title"));
            if let Some(map) = c.as_object() {
                for (key, value) in map {
                    if key != "title" {
                        element(out, "p", None, value.as_str());
                    }
                }
            }
        }
    }
    out.push_str("</section>\n");
}

/// `<a class href>label</a>` from a link slot (`{"label","href"}`).
fn link(out: &mut String, slot: Option<&Value>, class: Option<&str>) {
    let Some(slot) = slot else { return };
    let (Some(label), Some(href)) = (str_of(slot, "label"), str_of(slot, "href")) else { return };
    out.push_str("<p><a");
    if let Some(class) = class {
        let _ = write!(out, " class=\"{class}\"");
    }
    out.push_str(" href=\"");
    escape_into(out, safe_href(href));
    out.push_str("\">");
    escape_into(out, label);
    out.push_str("</a></p>\n");
}

/// `<img>` for an image slot (`{"imageId","alt"}`); the slot's alt text (localized) wins over
/// the image's own. Nothing when the image does not exist.
fn image(out: &mut String, slot: Option<&Value>, page: &Page, eager: bool) {
    let Some(slot) = slot else { return };
    let Some(img) = slot.get("imageId").and_then(Value::as_str).and_then(|id| page.images.get(id)) else { return };
    img_tag(out, img, str_of(slot, "alt"), eager);
}

fn img_tag(out: &mut String, img: &Image, alt: Option<&str>, eager: bool) {
    out.push_str("<img src=\"");
    escape_into(out, safe_href(&img.url));
    out.push_str("\" alt=\"");
    escape_into(out, alt.unwrap_or(&img.alt));
    out.push('"');
    if img.width > 0 && img.height > 0 {
        let _ = write!(out, " width=\"{}\" height=\"{}\"", img.width, img.height);
    }
    out.push_str(if eager { " fetchpriority=\"high\">\n" } else { " loading=\"lazy\">\n" });
}

fn post_date(out: &mut String, post: &Post) {
    if let Some(at) = post.published_at {
        let _ = write!(out, "<p><time datetime=\"{}\">{}</time></p>", iso_date(at), long_date(at));
    }
}

/// The list of published posts.
pub fn posts(chrome: &Chrome<'_>, posts: &[Post]) -> String {
    let mut main = String::from("<h1>Blog</h1>\n");
    if posts.is_empty() {
        main.push_str("<p>No posts yet.</p>\n");
    }
    for p in posts {
        main.push_str("<article class=\"post-summary\">\n<h2><a href=\"");
        main.push_str(&with_locale(format!("/posts/{}", escape(&p.slug)), chrome.locale_param));
        main.push_str("\">");
        escape_into(&mut main, &p.title);
        main.push_str("</a></h2>\n");
        post_date(&mut main, p);
        if let Some(img) = &p.image {
            img_tag(&mut main, img, None, false);
        }
        element(&mut main, "p", None, p.excerpt.as_deref());
        main.push_str("</article>\n");
    }
    document(chrome, "Blog", &main)
}

/// One post.
pub fn post(chrome: &Chrome<'_>, post: &Post) -> String {
    let mut main = String::from("<article class=\"post\">\n");
    element(&mut main, "h1", None, Some(&post.title));
    post_date(&mut main, post);
    if let Some(img) = &post.image {
        img_tag(&mut main, img, None, true);
    }
    main.push_str(&markdown::to_html(&post.body));
    main.push_str("</article>\n<p><a href=\"");
    main.push_str(&with_locale("/posts".to_string(), chrome.locale_param));
    main.push_str("\">All posts</a></p>\n");
    document(chrome, &post.title, &main)
}

/// A 404 (or other error) page: what is wrong, and where to go instead. `locales` (with the
/// path they apply to) are offered when the locale was the problem.
pub fn error_page(chrome: &Chrome<'_>, heading: &str, message: &str, offer_locales: bool) -> String {
    let mut main = String::new();
    element(&mut main, "h1", None, Some(heading));
    element(&mut main, "p", Some("message"), Some(message));
    if offer_locales && !chrome.locales.is_empty() {
        main.push_str("<p>Available languages:</p>\n<ul class=\"available-locales\">\n");
        for code in chrome.locales {
            let _ = writeln!(main, "<li><a href=\"{0}?locale={1}\">{1}</a></li>", escape(chrome.path), escape(code));
        }
        main.push_str("</ul>\n");
    }
    main.push_str("<p><a href=\"/pages/home\">Go to the home page</a></p>\n");
    document(chrome, heading, &main)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn chrome<'a>(locales: &'a [String]) -> Chrome<'a> {
        Chrome { site_title: "S<&>", nav: &[], lang: "en", locale_param: None, locales, path: "/pages/home" }
    }

    fn one_section(template: &str, content: Value, images: HashMap<String, Image>) -> Page {
        Page {
            slug: "x".into(),
            name: "Page <x>".into(),
            locale: "de".into(),
            default_locale: "en".into(),
            sections: vec![Section {
                id: "s1".into(),
                kind: template.into(),
                template: template.into(),
                sort_order: 0,
                locale: "en".into(),
                fallback: true,
                content,
            }],
            images,
        }
    }

    #[test]
    fn hero_renders_title_image_and_link_escaped() {
        let img = Image {
            id: "i1".into(),
            url: "/uploads/images/hero.jpg".into(),
            alt: "stored alt".into(),
            width: 1600,
            height: 900,
            mime: "image/jpeg".into(),
        };
        let p = one_section(
            "hero",
            json!({"title":"<Hi>","subtitle":"a \"b\"","image":{"imageId":"i1","alt":"slot's alt"},
                   "link":{"label":"Go","href":"javascript:alert(1)"}}),
            HashMap::from([("i1".to_string(), img)]),
        );
        let html = page(&chrome(&[]), &p);
        assert!(html.contains("<h1>&lt;Hi&gt;</h1>"), "{html}");
        assert!(html.contains("<p class=\"subtitle\">a &quot;b&quot;</p>"), "{html}");
        assert!(html.contains(
            "<img src=\"/uploads/images/hero.jpg\" alt=\"slot&#39;s alt\" width=\"1600\" height=\"900\" fetchpriority=\"high\">"
        ));
        assert!(html.contains("<a class=\"button\" href=\"#\">Go</a>"), "{html}");
        assert!(html.contains("<section class=\"section hero\" id=\"section-s1\" lang=\"en\">"), "{html}");
        assert!(html.contains("<title>&lt;Hi&gt; · S&lt;&amp;&gt;</title>"), "{html}");
        assert!(!html.contains("<Hi>") && !html.contains("javascript:"));
    }

    #[test]
    fn a_missing_image_renders_no_img_and_a_page_without_hero_gets_its_name_as_h1() {
        let p = one_section("text", json!({"title":"T","body":"**b**"}), HashMap::new());
        let html = page(&chrome(&[]), &p);
        assert!(html.contains("<h1 class=\"page-title\">Page &lt;x&gt;</h1>"), "{html}");
        assert!(html.contains("<h2>T</h2><p><strong>b</strong></p>"), "{html}");
        let p = one_section("hero", json!({"title":"T","image":{"imageId":"nope","alt":"a"}}), HashMap::new());
        assert!(!page(&chrome(&[]), &p).contains("<img"));
    }

    #[test]
    fn every_template_renders_its_fields() {
        let cases = [
            (
                "features",
                json!({"title":"F","items":[{"title":"A","description":"D<","icon":"globe"}]}),
                "<li data-icon=\"globe\"><h3>A</h3><p>D&lt;</p></li>",
            ),
            (
                "testimonials",
                json!({"quotes":[{"quote":"Q","author":"Al","role":"Dev"}]}),
                "<blockquote><p>Q</p><footer><cite>Al</cite>, Dev</footer></blockquote>",
            ),
            (
                "cta",
                json!({"title":"C","text":"t","link":{"label":"L","href":"/contact"}}),
                "<a class=\"button\" href=\"/contact\">L</a>",
            ),
            (
                "contact",
                json!({"title":"C","email":"a@b.c","phone":"+49 30 1","address":"A 1\nB"}),
                "<a href=\"tel:+49301\">+49 30 1</a></p>\n<p>A 1<br>B</p>",
            ),
            (
                "gallery",
                json!({"images":[{"image":{"imageId":"x","alt":"a"},"caption":"Cap"}]}),
                "<figure><figcaption>Cap</figcaption></figure>",
            ),
            ("mystery", json!({"title":"M","note":"<n>"}), "<h2>M</h2><p>&lt;n&gt;</p>"),
        ];
        for (template, content, want) in cases {
            let html = page(&chrome(&[]), &one_section(template, content, HashMap::new()));
            assert!(html.contains(want), "{template}: {html}");
        }
    }

    #[test]
    fn error_page_lists_locales() {
        let locales = ["en".to_string(), "fr".to_string()];
        let html = error_page(&chrome(&locales), "Not found", "no <locale>", true);
        assert!(html.contains("<p class=\"message\">no &lt;locale&gt;</p>"), "{html}");
        assert!(html.contains("<a href=\"/pages/home?locale=fr\">fr</a>"), "{html}");
    }
}
