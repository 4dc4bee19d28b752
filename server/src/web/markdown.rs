//! The markdown of `richtext` slots and post bodies, as HTML, with pulldown-cmark (CommonMark,
//! no extensions): paragraphs, headings (from `<h2>` down: the page title is the only `<h1>`),
//! lists, emphasis, code, block quotes and links. HTML in the source is never markup: it shows
//! as text. Link targets (and images, which become links to the image) pass [`safe_href`].

use pulldown_cmark::{html, CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::web::html::safe_href;

/// Stands in for `<` while the source is parsed, so that no HTML block, inline tag or
/// autolink can start (CommonMark has no switch for that); every piece of text gets its `<`
/// back before it is written, escaped. A Unicode noncharacter: meant for a program's own use.
const LT: char = '\u{FDD0}';

/// Renders `md` as HTML.
pub fn to_html(md: &str) -> String {
    let source = md.replace('<', &LT.to_string());
    let events = Parser::new_ext(&source, Options::empty()).map(|event| match event {
        Event::Text(t) => Event::Text(restore(t)),
        Event::Code(t) => Event::Code(restore(t)),
        // Not produced without `<`; as text all the same, should that ever change.
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(restore(t)),
        Event::Start(Tag::Heading { level, id, classes, attrs }) => {
            Event::Start(Tag::Heading { level: below_title(level), id, classes, attrs })
        }
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(below_title(level))),
        Event::Start(Tag::Link { link_type, dest_url, title, id })
        | Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            let dest_url = CowStr::from(safe_href(&restore(dest_url)).to_string());
            Event::Start(Tag::Link { link_type, dest_url, title: restore(title), id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(restore(info))))
        }
        other => other,
    });
    let mut out = String::with_capacity(md.len() * 5 / 4 + 32);
    html::push_html(&mut out, events);
    out
}

/// `# Title` is an `<h2>`: the page has its own `<h1>`.
fn below_title(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        other => other,
    }
}

fn restore(s: CowStr<'_>) -> CowStr<'_> {
    if s.contains(LT) {
        CowStr::from(s.replace(LT, "<"))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_headings_and_lists() {
        let md = "First line\nsecond line.\n\n## What is in here\n\n- one\n- **two**\n\nLast.";
        assert_eq!(
            to_html(md),
            "<p>First line\nsecond line.</p>\n<h2>What is in here</h2>\n<ul>\n<li>one</li>\n<li><strong>two</strong></li>\n</ul>\n<p>Last.</p>\n"
        );
        assert_eq!(to_html("# Top\n### Third"), "<h2>Top</h2>\n<h3>Third</h3>\n");
        assert_eq!(to_html("#hashtag"), "<p>#hashtag</p>\n");
        assert_eq!(to_html(""), "");
    }

    #[test]
    fn inline_markup() {
        assert_eq!(to_html("a **b** *c* `d*e*`"), "<p>a <strong>b</strong> <em>c</em> <code>d*e*</code></p>\n");
        assert_eq!(to_html("2 * 3 * 4"), "<p>2 * 3 * 4</p>\n");
        assert_eq!(to_html("**unclosed"), "<p>**unclosed</p>\n");
        assert_eq!(
            to_html("*This post is a draft, so only the admin shows it.*"),
            "<p><em>This post is a draft, so only the admin shows it.</em></p>\n"
        );
    }

    #[test]
    fn html_in_the_source_is_text() {
        // Apostrophes need no escaping in text: pulldown-cmark leaves them as they are.
        assert_eq!(
            to_html("<script>alert('x')</script> & **<b>**"),
            "<p>&lt;script&gt;alert('x')&lt;/script&gt; &amp; <strong>&lt;b&gt;</strong></p>\n"
        );
        // What CommonMark would take as an HTML block, an inline tag or an autolink.
        assert_eq!(to_html("<div>\n*x*\n</div>"), "<p>&lt;div&gt;\n<em>x</em>\n&lt;/div&gt;</p>\n");
        assert_eq!(
            to_html("a <img src=x onerror=alert(1)> <https://example.com>"),
            "<p>a &lt;img src=x onerror=alert(1)&gt; &lt;https://example.com&gt;</p>\n"
        );
        // `<` inside code stays a character, escaped once.
        assert_eq!(to_html("`a<b`"), "<p><code>a&lt;b</code></p>\n");
        assert_eq!(to_html("```\n<p>\n```"), "<pre><code>&lt;p&gt;\n</code></pre>\n");
    }

    #[test]
    fn links_are_safe() {
        assert_eq!(
            to_html("see [the docs](https://example.com/a?b=1&c=2)"),
            "<p>see <a href=\"https://example.com/a?b=1&amp;c=2\">the docs</a></p>\n"
        );
        // CommonMark balances the parentheses of a link target: `alert(1)` belongs to it.
        assert_eq!(to_html("[x](javascript:alert(1))"), "<p><a href=\"#\">x</a></p>\n");
        assert_eq!(to_html("[x](\"onmouseover=alert(1))"), "<p><a href=\"%22onmouseover=alert(1)\">x</a></p>\n");
        assert_eq!(to_html("[x](<javascript:alert(1)>)"), "<p><a href=\"#\">x</a></p>\n");
        assert_eq!(to_html("[x]: javascript:alert(1)\n\n[y][x]"), "<p><a href=\"#\">y</a></p>\n");
        assert_eq!(to_html("![pic](javascript:alert(1))"), "<p><a href=\"#\">pic</a></p>\n");
        assert_eq!(to_html("![pic](/uploads/images/a.jpg)"), "<p><a href=\"/uploads/images/a.jpg\">pic</a></p>\n");
    }
}
