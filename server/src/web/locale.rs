//! Which locale a request is served in (pure).
//!
//! - No `locale` (or an empty one): the site's default locale, which is the
//!   `site.default_locale` setting when it names an active locale, else the first active locale.
//! - An active locale: that locale. Content a section lacks in it comes from the default locale.
//! - An unknown or inactive locale: an error that lists the active locales (the server answers
//!   404 with that list, as an HTML page or as JSON).

use std::fmt;

/// A row of the `locales` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locale {
    pub code: String,
    pub name: String,
    pub active: bool,
}

/// The locale to serve and the default it falls back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocaleChoice {
    pub locale: String,
    pub default: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocaleError {
    Unknown { requested: String, active: Vec<String> },
    Inactive { requested: String, active: Vec<String> },
    NoneActive,
}

impl LocaleError {
    pub fn active(&self) -> &[String] {
        match self {
            LocaleError::Unknown { active, .. } | LocaleError::Inactive { active, .. } => active,
            LocaleError::NoneActive => &[],
        }
    }

    /// A short machine-readable name for the JSON API.
    pub fn code(&self) -> &'static str {
        match self {
            LocaleError::Unknown { .. } => "unknown_locale",
            LocaleError::Inactive { .. } => "inactive_locale",
            LocaleError::NoneActive => "no_active_locale",
        }
    }
}

impl fmt::Display for LocaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocaleError::Unknown { requested, active } => {
                write!(f, "there is no locale `{requested}`; this site is available in: {}", active.join(", "))
            }
            LocaleError::Inactive { requested, active } => {
                write!(f, "the locale `{requested}` is not active; this site is available in: {}", active.join(", "))
            }
            LocaleError::NoneActive => f.write_str("no locale is active; activate one in the locales table"),
        }
    }
}

/// Picks the locale for a request. `locales` in display order.
pub fn choose(
    requested: Option<&str>,
    locales: &[Locale],
    default_setting: Option<&str>,
) -> Result<LocaleChoice, LocaleError> {
    let active: Vec<&Locale> = locales.iter().filter(|l| l.active).collect();
    let default = default_setting
        .and_then(|d| active.iter().find(|l| l.code == d))
        .or_else(|| active.first())
        .ok_or(LocaleError::NoneActive)?
        .code
        .clone();
    let active_codes = || active.iter().map(|l| l.code.clone()).collect::<Vec<_>>();
    match requested.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(LocaleChoice { locale: default.clone(), default }),
        Some(r) => match locales.iter().find(|l| l.code == r) {
            Some(l) if l.active => Ok(LocaleChoice { locale: l.code.clone(), default }),
            Some(_) => Err(LocaleError::Inactive { requested: r.to_string(), active: active_codes() }),
            None => Err(LocaleError::Unknown { requested: r.to_string(), active: active_codes() }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locales(spec: &[(&str, bool)]) -> Vec<Locale> {
        spec.iter().map(|(c, a)| Locale { code: c.to_string(), name: c.to_uppercase(), active: *a }).collect()
    }

    #[test]
    fn missing_or_empty_means_the_default() {
        let l = locales(&[("en", true), ("de", true)]);
        let want = LocaleChoice { locale: "de".into(), default: "de".into() };
        assert_eq!(choose(None, &l, Some("de")), Ok(want.clone()));
        assert_eq!(choose(Some(" "), &l, Some("de")), Ok(want));
        assert_eq!(choose(None, &l, None).unwrap().locale, "en");
    }

    #[test]
    fn a_default_setting_that_is_inactive_or_unknown_falls_to_the_first_active() {
        let l = locales(&[("de", false), ("fr", true), ("en", true)]);
        assert_eq!(choose(None, &l, Some("de")).unwrap().default, "fr");
        assert_eq!(choose(None, &l, Some("xx")).unwrap().default, "fr");
    }

    #[test]
    fn active_locales_are_served_with_the_default_for_fallback() {
        let l = locales(&[("en", true), ("de", true)]);
        assert_eq!(choose(Some("de"), &l, Some("en")), Ok(LocaleChoice { locale: "de".into(), default: "en".into() }));
    }

    #[test]
    fn unknown_and_inactive_list_the_active_ones() {
        let l = locales(&[("en", true), ("de", false)]);
        let e = choose(Some("de"), &l, Some("en")).unwrap_err();
        assert_eq!(e, LocaleError::Inactive { requested: "de".into(), active: vec!["en".into()] });
        assert!(e.to_string().contains("not active") && e.to_string().contains("en"), "{e}");
        let e = choose(Some("<x>"), &l, Some("en")).unwrap_err();
        assert_eq!(e.code(), "unknown_locale");
        assert_eq!(e.active(), ["en"]);
        // Codes are case-sensitive, as they are stored.
        assert!(choose(Some("EN"), &l, None).is_err());
    }

    #[test]
    fn no_active_locale_is_an_error() {
        let l = locales(&[("en", false)]);
        assert_eq!(choose(None, &l, Some("en")), Err(LocaleError::NoneActive));
        assert_eq!(choose(Some("en"), &[], None), Err(LocaleError::NoneActive));
    }
}
