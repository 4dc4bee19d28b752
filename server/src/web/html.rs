//! Safe link targets. Escaping is the templates' (maud escapes every value it is given);
//! what it cannot know is which link targets may run script or leave the site unnoticed.

/// A link target that cannot run script or leave the site unnoticed: relative URLs and
/// `http:`, `https:`, `mailto:` and `tel:` pass; anything else (`javascript:`, `data:`,
/// protocol-relative `//host`) becomes `#`. Browsers read `\` as `/` and drop tabs and newlines
/// inside a URL, so `\` counts as `/` for these checks (`/\host` and `\\host` are
/// protocol-relative) and a link with any control character is refused. Leading and trailing
/// whitespace is trimmed. The result is still escaped where it is written.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
