//! `GET /api/pages/{slug}?locale=xx`: the page as JSON, with the same locale decision as the
//! HTML page (404 with `activeLocales` for an unknown or inactive locale).

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::web::content;
use cms_db::connection::Sql;
use cms_db::error::DbError;

/// Status, JSON body and (on success) the served locale.
pub fn page(
    q: &mut dyn Sql,
    host: &str,
    slug: &str,
    locale: Option<&str>,
) -> Result<(StatusCode, Value, Option<String>), DbError> {
    let Some(site) = content::site(q, host)? else {
        return Ok((
            StatusCode::NOT_FOUND,
            error("no_site", "the database has no site; run `cargo xtask seed`", &[]),
            None,
        ));
    };
    let choice = match site.choose_locale(locale) {
        Ok(c) => c,
        Err(e) => return Ok((StatusCode::NOT_FOUND, error(e.code(), &e.to_string(), e.active()), None)),
    };
    match content::page(q, &site, slug, &choice)? {
        None => Ok((
            StatusCode::NOT_FOUND,
            error("not_found", &format!("there is no page `{slug}`"), &site.active_locales()),
            None,
        )),
        Some(page) => {
            let body = serde_json::to_value(&page).map_err(|e| DbError::database("encoding the page", e))?;
            Ok((StatusCode::OK, body, Some(choice.locale)))
        }
    }
}

/// `{"error": code, "message": …, "activeLocales": […]}`.
pub fn error(code: &str, message: &str, active: &[String]) -> Value {
    json!({ "error": code, "message": message, "activeLocales": active })
}
