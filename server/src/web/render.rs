//! HTML pages, written with maud: every value is escaped unless it is marked as markup, and
//! the only markup that does not come from a template is richtext through
//! [`markdown::to_html`]. Link targets pass [`safe_href`].

use maud::{html, Markup, PreEscaped};
use serde_json::Value;

use crate::web::content::{Image, NavItem, Page, Post, Section};
use crate::web::dates::{iso_date, long_date};
use crate::web::html::safe_href;
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
pub fn document(chrome: &Chrome<'_>, title: &str, main: Markup) -> String {
    let full_title = if !chrome.site_title.is_empty() && title != chrome.site_title {
        format!("{title} · {}", chrome.site_title)
    } else {
        title.to_string()
    };
    html! {
        (PreEscaped("<!doctype html>\n"))
        html lang=(chrome.lang) {
            "\n"
            head {
                "\n"
                meta charset="utf-8";
                "\n"
                meta name="viewport" content="width=device-width, initial-scale=1";
                "\n"
                title { (full_title) }
                "\n"
                style { (PreEscaped(STYLE)) }
                "\n"
            }
            "\n"
            body {
                "\n"
                header class="site" {
                    "\n"
                    a class="site-title" href=(page_href("home", chrome.locale_param)) { (chrome.site_title) }
                    "\n"
                    @if !chrome.nav.is_empty() {
                        nav aria-label="Main" { (nav_list(chrome.nav, chrome.locale_param)) }
                        "\n"
                    }
                    @if chrome.locales.len() > 1 {
                        nav class="locales" aria-label="Languages" {
                            @for code in chrome.locales {
                                a hreflang=(code) href={ (chrome.path) "?locale=" (code) }
                                    aria-current=[(code == chrome.lang).then_some("true")] { (code) }
                                " "
                            }
                        }
                        "\n"
                    }
                }
                "\n"
                main {
                    "\n"
                    (main)
                }
                "\n"
                footer class="site" { a href=(with_locale("/posts".to_string(), chrome.locale_param)) { "Blog" } }
                "\n"
            }
            "\n"
        }
        "\n"
    }
    .into_string()
}

fn page_href(slug: &str, locale_param: Option<&str>) -> String {
    with_locale(format!("/pages/{slug}"), locale_param)
}

/// `href` with `?locale=…` appended for a locale other than the default.
fn with_locale(mut href: String, locale_param: Option<&str>) -> String {
    if let Some(l) = locale_param {
        href.push_str("?locale=");
        href.push_str(l);
    }
    href
}

fn nav_list(items: &[NavItem], locale_param: Option<&str>) -> Markup {
    html! {
        ul {
            @for item in items {
                li {
                    @match (item.href.strip_prefix("/pages/"), locale_param) {
                        (Some(slug), Some(_)) => { a href=(page_href(slug, locale_param)) { (item.label) } }
                        _ => { a href=(safe_href(&item.href)) { (item.label) } }
                    }
                    @if !item.children.is_empty() {
                        (nav_list(&item.children, locale_param))
                    }
                }
            }
        }
    }
}

/// `text` unless it is missing or blank (an element with nothing in it is left out).
fn shown(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// A page's sections. The first hero's title is the page's `<h1>`; a page without a hero gets
/// its name as `<h1>`.
pub fn page(chrome: &Chrome<'_>, page: &Page) -> String {
    let first_hero = page.sections.iter().position(|s| s.template == "hero");
    let main = html! {
        @if first_hero.is_none() {
            @if let Some(name) = shown(Some(&page.name)) { h1 class="page-title" { (name) } }
            "\n"
        }
        @for (i, s) in page.sections.iter().enumerate() {
            (section(s, page, first_hero == Some(i)))
        }
    };
    let title = first_hero.and_then(|i| str_of(&page.sections[i].content, "title")).unwrap_or(&page.name);
    document(chrome, title, main)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    shown(v.get(key).and_then(Value::as_str))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// The templates this server knows; any other renders as `generic`.
const TEMPLATES: [&str; 7] = ["hero", "features", "text", "gallery", "testimonials", "cta", "contact"];

/// One section; `page_title` when its hero title is the page's `<h1>`.
fn section(s: &Section, page: &Page, page_title: bool) -> Markup {
    let c = &s.content;
    let template = TEMPLATES.into_iter().find(|t| *t == s.template).unwrap_or("generic");
    // Content in the default locale says so to browsers and screen readers.
    let lang = s.fallback.then_some(&s.locale);
    html! {
        section class={ "section " (template) } id={ "section-" (s.id) } lang=[lang] {
            "\n"
            @match template {
                "hero" => {
                    @if let Some(title) = str_of(c, "title") {
                        @if page_title { h1 { (title) } } @else { h2 { (title) } }
                    }
                    @if let Some(t) = str_of(c, "subtitle") { p class="subtitle" { (t) } }
                    (link(c.get("link"), "button"))
                    (image(c.get("image"), page, true))
                }
                "features" => {
                    (h2(c))
                    @if let Some(t) = str_of(c, "intro") { p class="intro" { (t) } }
                    @let items = list(c, "items");
                    @if !items.is_empty() {
                        ul {
                            "\n"
                            @for item in items {
                                li data-icon=[str_of(item, "icon")] {
                                    @if let Some(t) = str_of(item, "title") { h3 { (t) } }
                                    @if let Some(t) = str_of(item, "description") { p { (t) } }
                                }
                                "\n"
                            }
                        }
                        "\n"
                    }
                }
                "text" => {
                    (h2(c))
                    @if let Some(body) = str_of(c, "body") { (PreEscaped(markdown::to_html(body))) }
                }
                "gallery" => {
                    (h2(c))
                    div class="grid" {
                        "\n"
                        @for item in list(c, "images") {
                            figure {
                                (image(item.get("image"), page, false))
                                @if let Some(t) = str_of(item, "caption") { figcaption { (t) } }
                            }
                            "\n"
                        }
                    }
                    "\n"
                }
                "testimonials" => {
                    (h2(c))
                    @for q in list(c, "quotes") {
                        blockquote {
                            @if let Some(t) = str_of(q, "quote") { p { (t) } }
                            @if let Some(author) = str_of(q, "author") {
                                footer {
                                    cite { (author) }
                                    @if let Some(role) = str_of(q, "role") { ", " (role) }
                                }
                            }
                        }
                        "\n"
                    }
                }
                "cta" => {
                    (h2(c))
                    @if let Some(t) = str_of(c, "text") { p { (t) } }
                    (link(c.get("link"), "button"))
                }
                "contact" => {
                    (h2(c))
                    @if let Some(intro) = str_of(c, "intro") { (PreEscaped(markdown::to_html(intro))) }
                    address {
                        "\n"
                        @if let Some(email) = str_of(c, "email") {
                            p { a href={ "mailto:" (email) } { (email) } }
                            "\n"
                        }
                        @if let Some(phone) = str_of(c, "phone") {
                            @let tel: String = phone.chars().filter(|ch| ch.is_ascii_digit() || *ch == '+').collect();
                            p { a href={ "tel:" (tel) } { (phone) } }
                            "\n"
                        }
                        @if let Some(address) = str_of(c, "address") {
                            p {
                                @for (i, line) in address.lines().enumerate() {
                                    @if i > 0 { br; }
                                    (line)
                                }
                            }
                            "\n"
                        }
                    }
                    "\n"
                }
                _ => {
                    // A template this server does not know: its title and plain text fields.
                    (h2(c))
                    @if let Some(map) = c.as_object() {
                        @for (key, value) in map {
                            @if key != "title" {
                                @if let Some(t) = shown(value.as_str()) { p { (t) } }
                            }
                        }
                    }
                }
            }
        }
        "\n"
    }
}

/// The section's title as its `<h2>`.
fn h2(c: &Value) -> Markup {
    html! { @if let Some(t) = str_of(c, "title") { h2 { (t) } } }
}

/// `<p><a class href>label</a></p>` from a link slot (`{"label","href"}`).
fn link(slot: Option<&Value>, class: &str) -> Markup {
    let Some((label, href)) = slot.and_then(|s| Some((str_of(s, "label")?, str_of(s, "href")?))) else {
        return html! {};
    };
    html! {
        p { a class=(class) href=(safe_href(href)) { (label) } }
        "\n"
    }
}

/// `<img>` for an image slot (`{"imageId","alt"}`); the slot's alt text (localized) wins over
/// the image's own. Nothing when the image does not exist.
fn image(slot: Option<&Value>, page: &Page, eager: bool) -> Markup {
    let Some(slot) = slot else { return html! {} };
    let Some(img) = slot.get("imageId").and_then(Value::as_str).and_then(|id| page.images.get(id)) else {
        return html! {};
    };
    img_tag(img, str_of(slot, "alt"), eager)
}

fn img_tag(img: &Image, alt: Option<&str>, eager: bool) -> Markup {
    let size = (img.width > 0 && img.height > 0).then_some((img.width, img.height));
    html! {
        img src=(safe_href(&img.url)) alt=(alt.unwrap_or(&img.alt))
            width=[size.map(|s| s.0)] height=[size.map(|s| s.1)]
            fetchpriority=[eager.then_some("high")] loading=[(!eager).then_some("lazy")];
        "\n"
    }
}

fn post_date(post: &Post) -> Markup {
    let Some((iso, long)) = post.published_at.and_then(|at| Some((iso_date(at)?, long_date(at)?))) else {
        return html! {};
    };
    html! { p { time datetime=(iso) { (long) } } }
}

/// The list of published posts.
pub fn posts(chrome: &Chrome<'_>, posts: &[Post]) -> String {
    let main = html! {
        h1 { "Blog" }
        "\n"
        @if posts.is_empty() {
            p { "No posts yet." }
            "\n"
        }
        @for p in posts {
            article class="post-summary" {
                "\n"
                h2 { a href=(with_locale(format!("/posts/{}", p.slug), chrome.locale_param)) { (p.title) } }
                "\n"
                (post_date(p))
                @if let Some(img) = &p.image { (img_tag(img, None, false)) }
                @if let Some(t) = shown(p.excerpt.as_deref()) { p { (t) } }
            }
            "\n"
        }
    };
    document(chrome, "Blog", main)
}

/// One post.
pub fn post(chrome: &Chrome<'_>, post: &Post) -> String {
    let main = html! {
        article class="post" {
            "\n"
            @if let Some(t) = shown(Some(&post.title)) { h1 { (t) } }
            (post_date(post))
            @if let Some(img) = &post.image { (img_tag(img, None, true)) }
            (PreEscaped(markdown::to_html(&post.body)))
        }
        "\n"
        p { a href=(with_locale("/posts".to_string(), chrome.locale_param)) { "All posts" } }
        "\n"
    };
    document(chrome, &post.title, main)
}

/// A 404 (or other error) page: what is wrong, and where to go instead. `locales` (with the
/// path they apply to) are offered when the locale was the problem.
pub fn error_page(chrome: &Chrome<'_>, heading: &str, message: &str, offer_locales: bool) -> String {
    let main = html! {
        @if let Some(t) = shown(Some(heading)) { h1 { (t) } }
        @if let Some(t) = shown(Some(message)) { p class="message" { (t) } }
        @if offer_locales && !chrome.locales.is_empty() {
            p { "Available languages:" }
            "\n"
            ul class="available-locales" {
                "\n"
                @for code in chrome.locales {
                    li { a href={ (chrome.path) "?locale=" (code) } { (code) } }
                    "\n"
                }
            }
            "\n"
        }
        p { a href="/pages/home" { "Go to the home page" } }
        "\n"
    };
    document(chrome, heading, main)
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
            "<img src=\"/uploads/images/hero.jpg\" alt=\"slot's alt\" width=\"1600\" height=\"900\" fetchpriority=\"high\">"
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
    fn every_value_is_escaped_in_text_and_in_attributes() {
        let nasty = r#"<a href="x" title='y'>&amp;</a>"#;
        let escaped = "&lt;a href=&quot;x&quot; title='y'&gt;&amp;amp;&lt;/a&gt;";
        let locales = [nasty.to_string(), "en".to_string()];
        let nav = [NavItem { label: nasty.into(), href: nasty.into(), children: Vec::new() }];
        let chrome =
            Chrome { site_title: nasty, nav: &nav, lang: nasty, locale_param: None, locales: &locales, path: nasty };
        let html = error_page(&chrome, nasty, nasty, true);
        assert!(html.contains(&format!("<html lang=\"{escaped}\">")), "{html}");
        assert!(html.contains(&format!("<title>{escaped}</title>")), "{html}");
        assert!(html.contains(&format!("<a class=\"site-title\" href=\"/pages/home\">{escaped}</a>")), "{html}");
        assert!(html.contains(&format!("<a href=\"{escaped}\">{escaped}</a>")), "nav: {html}");
        assert!(html.contains(&format!("<a hreflang=\"{escaped}\" href=\"{escaped}?locale={escaped}\"")), "{html}");
        assert!(html.contains(&format!("<h1>{escaped}</h1><p class=\"message\">{escaped}</p>")), "{html}");
        assert!(!html.contains(nasty), "{html}");
    }

    #[test]
    fn blank_text_leaves_its_element_out() {
        let p = one_section("cta", json!({"title":"  ","text":"","link":{"label":" ","href":"/x"}}), HashMap::new());
        let html = page(&chrome(&[]), &p);
        assert!(html.contains("<section class=\"section cta\" id=\"section-s1\" lang=\"en\">\n</section>\n"), "{html}");
        let html = error_page(&chrome(&[]), "Gone", " ", false);
        assert!(html.contains("<h1>Gone</h1><p><a href=\"/pages/home\">"), "{html}");
    }

    #[test]
    fn error_page_lists_locales() {
        let locales = ["en".to_string(), "fr".to_string()];
        let html = error_page(&chrome(&locales), "Not found", "no <locale>", true);
        assert!(html.contains("<p class=\"message\">no &lt;locale&gt;</p>"), "{html}");
        assert!(html.contains("<a href=\"/pages/home?locale=fr\">fr</a>"), "{html}");
    }
}
