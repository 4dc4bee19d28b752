//! The markdown of `richtext` slots and post bodies, as HTML: paragraphs, `#` headings (from
//! `<h2>` down: the page title is the only `<h1>`), `-`/`*` lists, `**strong**`, `*em*`,
//! `` `code` `` and `[links](/somewhere)`. The text is escaped before any markup is added, so
//! HTML in the source shows as text; link targets pass [`safe_href`].

use crate::web::html::{escape, safe_href};

/// Renders `md` as HTML.
pub fn to_html(md: &str) -> String {
    let mut out = String::with_capacity(md.len() * 5 / 4 + 32);
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Vec<&str> = Vec::new();
    for line in md.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush_paragraph(&mut out, &mut paragraph);
            flush_list(&mut out, &mut list);
        } else if let Some((level, text)) = heading(trimmed) {
            flush_paragraph(&mut out, &mut paragraph);
            flush_list(&mut out, &mut list);
            out.push_str(&format!("<h{level}>{}</h{level}>\n", inline(&escape(text))));
        } else if let Some(item) = trimmed.strip_prefix("- ").or_else(|| trimmed.strip_prefix("* ")) {
            flush_paragraph(&mut out, &mut paragraph);
            list.push(item.trim());
        } else {
            flush_list(&mut out, &mut list);
            paragraph.push(trimmed);
        }
    }
    flush_paragraph(&mut out, &mut paragraph);
    flush_list(&mut out, &mut list);
    out
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    let text = line[hashes..].strip_prefix(' ')?;
    (1..=6).contains(&hashes).then(|| (hashes.clamp(2, 6), text.trim()))
}

fn flush_paragraph(out: &mut String, lines: &mut Vec<&str>) {
    if lines.is_empty() {
        return;
    }
    out.push_str("<p>");
    out.push_str(&inline(&escape(&lines.join("\n"))));
    out.push_str("</p>\n");
    lines.clear();
}

fn flush_list(out: &mut String, items: &mut Vec<&str>) {
    if items.is_empty() {
        return;
    }
    out.push_str("<ul>\n");
    for item in items.iter() {
        out.push_str("<li>");
        out.push_str(&inline(&escape(item)));
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n");
    items.clear();
}

/// Inline markup on already escaped text.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some((inner, after)) = delimited(rest, "**") {
            out.push_str("<strong>");
            out.push_str(&inline(inner));
            out.push_str("</strong>");
            rest = after;
        } else if let Some((inner, after)) = delimited(rest, "*") {
            out.push_str("<em>");
            out.push_str(&inline(inner));
            out.push_str("</em>");
            rest = after;
        } else if let Some((inner, after)) = delimited(rest, "`") {
            out.push_str("<code>");
            out.push_str(inner);
            out.push_str("</code>");
            rest = after;
        } else if let Some((label, href, after)) = link(rest) {
            out.push_str("<a href=\"");
            out.push_str(safe_href(href));
            out.push_str("\">");
            out.push_str(&inline(label));
            out.push_str("</a>");
            rest = after;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `rest` starts with `mark`, non-space text, and a closing `mark`: `(text, after)`.
fn delimited<'a>(rest: &'a str, mark: &str) -> Option<(&'a str, &'a str)> {
    let body = rest.strip_prefix(mark)?;
    if body.starts_with(mark) || body.starts_with(char::is_whitespace) {
        return None;
    }
    let end = body.find(mark)?;
    let inner = &body[..end];
    (!inner.is_empty() && !inner.ends_with(char::is_whitespace)).then(|| (inner, &body[end + mark.len()..]))
}

/// `[label](href)` at the start of `rest`.
fn link(rest: &str) -> Option<(&str, &str, &str)> {
    let body = rest.strip_prefix('[')?;
    let close = body.find("](")?;
    let label = &body[..close];
    let after_label = &body[close + 2..];
    let end = after_label.find(')')?;
    let href = &after_label[..end];
    (!label.is_empty() && !label.contains('[') && !href.contains(char::is_whitespace))
        .then(|| (label, href, &after_label[end + 1..]))
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
        assert_eq!(
            to_html("<script>alert('x')</script> & **<b>**"),
            "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; <strong>&lt;b&gt;</strong></p>\n"
        );
    }

    #[test]
    fn links_are_safe() {
        assert_eq!(
            to_html("see [the docs](https://example.com/a?b=1&c=2)"),
            "<p>see <a href=\"https://example.com/a?b=1&amp;c=2\">the docs</a></p>\n"
        );
        assert_eq!(to_html("[x](javascript:alert(1))"), "<p><a href=\"#\">x</a>)</p>\n");
        assert_eq!(to_html("[x](\"onmouseover=alert(1))"), "<p><a href=\"&quot;onmouseover=alert(1\">x</a>)</p>\n");
    }
}
