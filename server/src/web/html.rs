//! HTML escaping and safe link targets. Every value that comes from the database goes through
//! [`escape`] (text and attribute values alike, so quotes are escaped too).

use std::fmt::Write as _;

/// Appends `s` with `&`, `<`, `>`, `"` and `'` replaced by entities.
pub fn escape_into(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(entity);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// `s`, escaped for text and for attribute values in double quotes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// A link target that cannot run script or leave the site unnoticed: relative URLs and
/// `http:`, `https:`, `mailto:` and `tel:` pass; anything else (`javascript:`, `data:`,
/// protocol-relative `//host`) becomes `#`. Browsers read `\` as `/` and drop tabs and newlines
/// inside a URL, so `\` counts as `/` for these checks (`/\host` and `\\host` are
/// protocol-relative) and a link with any control character is refused. Leading and trailing
/// whitespace is trimmed. The result still needs [`escape`].
pub fn safe_href(href: &str) -> &str {
    let h = href.trim();
    if h.chars().any(char::is_control) {
        return "#";
    }
    // What a browser's URL parser sees: `\` is `/` in http(s) URLs and relative references.
    let seen = h.replace('\\', "/");
    let lower: String = seen.chars().take(8).flat_map(char::to_lowercase).collect();
    let scheme_ok = ["http://", "https://", "mailto:", "tel:"].iter().any(|p| lower.starts_with(p));
    let off_site = seen.starts_with("//");
    let relative = !off_site
        && (seen.starts_with('/')
            || seen.starts_with('#')
            || seen.starts_with('?')
            || (!seen.is_empty() && !seen.contains(':')));
    if scheme_ok || relative {
        h
    } else {
        "#"
    }
}

/// Appends `<tag attr="value"…>text</tag>` with the text escaped; nothing when `text` is empty.
pub fn element(out: &mut String, tag: &str, class: Option<&str>, text: Option<&str>) {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return };
    match class {
        Some(c) => {
            let _ = write!(out, "<{tag} class=\"{c}\">");
        }
        None => {
            let _ = write!(out, "<{tag}>");
        }
    }
    escape_into(out, text);
    let _ = write!(out, "</{tag}>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain äöü text"), "plain äöü text");
        assert_eq!(escape(""), "");
        assert_eq!(escape("<<>>"), "&lt;&lt;&gt;&gt;");
    }

    #[test]
    fn hrefs_that_could_run_script_become_hash() {
        for ok in
            ["/about", "#team", "?locale=de", "https://example.com/docs", "HTTP://x", "mailto:a@b.c", "tel:+49", "page"]
        {
            assert_eq!(safe_href(ok), ok, "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "java\tscript:x",
            "data:text/html,x",
            "//evil.example",
            "vbscript:x",
        ] {
            assert_eq!(safe_href(bad), "#", "{bad}");
        }
    }

    #[test]
    fn backslashes_count_as_slashes() {
        // Browsers read `\` as `/`: each of these is `//evil.example`, another site.
        for bad in ["/\\evil.example", "\\\\evil.example", "\\/evil.example", " /\\evil.example", "\\\\evil.example/x"]
        {
            assert_eq!(safe_href(bad), "#", "{bad:?}");
        }
        // A backslash further in stays on the site.
        assert_eq!(safe_href("/a\\b"), "/a\\b");
        // `https:\\\\host` is `https://host` to a browser: an http(s) link, allowed like any other.
        assert_eq!(safe_href("https:\\\\example.com"), "https:\\\\example.com");
    }

    #[test]
    fn control_characters_and_padding_are_no_way_around_the_checks() {
        for bad in [
            "java\nscript:alert(1)",
            "java\rscript:alert(1)",
            "jav\tascript:alert(1)",
            "\u{0}javascript:alert(1)",
            "\u{1}/about",
            "/about\u{7f}",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "  javascript:alert(1)",
            "\u{a0}javascript:alert(1)",
            "  //evil.example",
        ] {
            assert_eq!(safe_href(bad), "#", "{bad:?}");
        }
        // Surrounding spaces are trimmed from links that are fine.
        assert_eq!(safe_href("  /about  "), "/about");
        assert_eq!(safe_href("\u{a0}https://example.com"), "https://example.com");
    }

    #[test]
    fn elements_escape_and_skip_empty_text() {
        let mut out = String::new();
        element(&mut out, "h1", Some("title"), Some("A <b>"));
        element(&mut out, "p", None, Some("  "));
        element(&mut out, "p", None, None);
        assert_eq!(out, "<h1 class=\"title\">A &lt;b&gt;</h1>");
    }
}
