//! THE CMS schema, written once in Rust: the source of truth (what `schema.ts` is in a Drizzle
//! project). `cargo xtask generate` compares it with the migrations folders and writes the
//! migration that brings them to it (both dialects); `check` fails when they disagree; `push`
//! makes a development database match it; `diff --to schema` shows it as SQL.
//!
//! Adding a column is one line here, then `cargo xtask generate --name …` and `cargo xtask
//! migrate`. Column lists other code needs (the seed, queries) come from here
//! ([`columns`]), never kept by hand.
//!
//! The declaration uses [`crate::schema::declare`]: neutral types (text, 32- and 64-bit
//! integers, epoch-millisecond timestamps, JSON as text, booleans), Drizzle Kit's names for
//! keys, uniques, indexes and foreign keys. Columns are listed in the order the tables have
//! them (columns added later come last, as `ALTER TABLE … ADD` put them).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::schema::declare::*;
use crate::schema::{Action, Dialect, Schema};

use Action::{Cascade, Restrict, SetNull};

/// The CMS schema (a new value each call: tests change copies of it).
pub fn declaration() -> SchemaDef {
    SchemaDef::new([
        table(
            "teams",
            [
                text("id").primary_key(),
                text("name").not_null().unique(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        ),
        table(
            "sites",
            [
                text("id").primary_key(),
                text("team_id").not_null().references(fk("teams", "id").on_delete(Cascade)),
                text("name").not_null(),
                text("domain").not_null(),
                // A site and its default environment point at each other: checked at commit.
                text("default_environment_id").references(fk("environments", "id").on_delete(SetNull).deferred()),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        )
        .unique(["team_id", "name"])
        .index(["default_environment_id"]),
        table(
            "environments",
            [
                text("id").primary_key(),
                text("site_id").not_null().references(fk("sites", "id").on_delete(Cascade)),
                text("name").not_null(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        )
        .unique(["site_id", "name"]),
        table(
            "locales",
            [
                text("code").primary_key(),
                text("name").not_null(),
                text("status").not_null().default("active"),
                timestamp("created_at").not_null(),
            ],
        )
        .check("locales_status_check", "\"status\" in ('active', 'inactive')"),
        table(
            "section_definitions",
            [
                text("id").primary_key(),
                text("key").not_null().unique(),
                text("name").not_null(),
                json("elements_structure").not_null(),
                text("template_key").not_null(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        ),
        table(
            "pages",
            [
                text("id").primary_key(),
                text("site_id").not_null().references(fk("sites", "id").on_delete(Cascade)),
                text("environment_id").not_null().references(fk("environments", "id").on_delete(Cascade)),
                text("slug").not_null(),
                text("name").not_null(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        )
        .unique(["environment_id", "slug"])
        .index(["site_id"]),
        table(
            "page_sections",
            [
                text("id").primary_key(),
                text("page_id").not_null().references(fk("pages", "id").on_delete(Cascade)),
                text("section_def_id").not_null().references(fk("section_definitions", "id").on_delete(Restrict)),
                integer("sort_order").not_null(),
                text("status").not_null().default("draft"),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        )
        .index(["page_id", "sort_order"])
        .index(["section_def_id"])
        .check("page_sections_status_check", "\"status\" in ('draft', 'published')"),
        table(
            "page_section_contents",
            [
                text("id").primary_key(),
                text("page_section_id").not_null().references(fk("page_sections", "id").on_delete(Cascade)),
                text("locale_code").not_null().references(fk("locales", "code").on_delete(Restrict).on_update(Cascade)),
                json("content").not_null(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        )
        .unique(["page_section_id", "locale_code"])
        .index(["locale_code"]),
        table(
            "images",
            [
                text("id").primary_key(),
                text("file_name").not_null().unique(),
                text("url").not_null(),
                text("alt").not_null(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
                text("mime").not_null().default("application/octet-stream"),
                integer("width").not_null().default(0),
                integer("height").not_null().default(0),
                bigint("bytes").not_null().default(0),
                text("sha256").not_null().default(""),
                boolean("is_placeholder").not_null().default(false),
            ],
        ),
        table(
            "posts",
            [
                text("id").primary_key(),
                text("site_id").not_null().references(fk("sites", "id").on_delete(Cascade)),
                text("environment_id").not_null().references(fk("environments", "id").on_delete(Cascade)),
                text("title").not_null(),
                text("slug").not_null(),
                text("excerpt"),
                text("body").not_null(),
                text("status").not_null().default("draft"),
                timestamp("published_at"),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
                text("featured_image_id").references(fk("images", "id").on_delete(SetNull)),
            ],
        )
        .unique(["environment_id", "slug"])
        .index(["site_id"])
        .index(["environment_id", "status", "published_at"])
        .index(["featured_image_id"])
        .check("posts_status_check", "\"status\" in ('draft', 'published')"),
        table(
            "site_settings",
            [
                text("id").primary_key(),
                text("key").not_null().unique(),
                text("value").not_null(),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        ),
        table(
            "navigation_items",
            [
                text("id").primary_key(),
                text("environment_id").not_null().references(fk("environments", "id").on_delete(Cascade)),
                text("label").not_null(),
                text("page_id").references(fk("pages", "id").on_delete(Cascade)),
                text("url"),
                integer("sort_order").not_null(),
                text("parent_id").references(fk("navigation_items", "id").on_delete(Cascade)),
                timestamp("created_at").not_null(),
                timestamp("updated_at").not_null(),
            ],
        )
        .index(["environment_id", "sort_order"])
        .index(["page_id"])
        .index(["parent_id"]),
    ])
}

/// The CMS schema, built once.
pub fn definition() -> &'static SchemaDef {
    static DEFINITION: OnceLock<SchemaDef> = OnceLock::new();
    DEFINITION.get_or_init(declaration)
}

/// The columns of `table`, in order (what an `INSERT` of a whole row lists).
///
/// Panics when the schema has no such table: a table name in code that the schema lacks is
/// a bug, found by the first test that touches it.
pub fn columns(table: &str) -> &'static [&'static str] {
    static COLUMNS: OnceLock<BTreeMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    let all = COLUMNS.get_or_init(|| {
        definition()
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.columns.iter().map(|c| c.name.as_str()).collect()))
            .collect()
    });
    all.get(table).unwrap_or_else(|| panic!("the CMS schema (cms_schema.rs) has no table `{table}`"))
}

/// What a row of `table` holds in `column` when the code writing it does not say: the column's
/// default, NULL when it is nullable, `None` when it must be given (NOT NULL without a default).
/// So a column added to the schema needs no change to the seed unless it must be given.
pub fn implicit_value(table: &str, column: &str) -> Option<crate::connection::Value> {
    use crate::connection::Value;
    use crate::schema::declare::DefaultValue;
    let t = definition().tables.iter().find(|t| t.name == table)?;
    let c = t.columns.iter().find(|c| c.name == column)?;
    match &c.default {
        Some(DefaultValue::Text(s)) => Some(Value::Text(s.clone())),
        Some(DefaultValue::Integer(i)) => Some(Value::Int(*i)),
        Some(DefaultValue::Boolean(b)) => Some(Value::Int((*b).into())),
        None if !c.not_null && !c.primary_key => Some(Value::Null),
        None => None,
    }
}

/// The table names, in declaration order.
pub fn tables() -> Vec<&'static str> {
    definition().tables.iter().map(|t| t.name.as_str()).collect()
}

/// The schema in `dialect`, as written (not yet normalised by a database).
pub fn model(dialect: Dialect) -> Schema {
    definition().model(dialect)
}

/// The SQL that creates the CMS schema in an empty database.
pub fn ddl(dialect: Dialect) -> String {
    definition().ddl(dialect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declaration_is_valid() {
        assert_eq!(definition().validate(), Ok(()));
    }

    #[test]
    fn column_lists_come_from_the_declaration() {
        assert_eq!(columns("teams"), ["id", "name", "created_at", "updated_at"]);
        assert_eq!(columns("images").last(), Some(&"is_placeholder"));
        assert_eq!(tables().len(), 12);
    }

    #[test]
    #[should_panic(expected = "has no table `nope`")]
    fn an_unknown_table_is_a_bug() {
        columns("nope");
    }
}
