//! Section structures and the content they allow.
//!
//! A section definition's `elements_structure` is a JSON object of rows of slots:
//!
//! ```json
//! {"version":1,"rows":[{"slots":[
//!   {"key":"title","type":"text","dataRules":{"required":true,"maxLength":120}},
//!   {"key":"items","type":"list","dataRules":{"required":true},
//!    "fields":[{"key":"title","type":"text","dataRules":{"required":true}}]}
//! ]}]}
//! ```
//!
//! Slot types are `text` and `richtext` (a string; richtext holds markdown), `image`
//! (`{"imageId","alt"}`, `imageId` being an `images.id`), `link` (`{"label","href"}`) and `list`
//! (an array; when the slot has `fields`, each item is an object checked against those fields
//! like a small section of its own). Page content (`page_section_contents.content`) is a JSON
//! object keyed by slot keys. [`Structure::parse`] reads a structure into types once;
//! [`Structure::check`] checks content against it.

use std::collections::HashSet;

use serde_json::Value;

/// A parsed `elements_structure`: its slots, rows flattened.
#[derive(Clone, Debug, PartialEq)]
pub struct Structure {
    slots: Vec<Slot>,
}

#[derive(Clone, Debug, PartialEq)]
struct Slot {
    key: String,
    kind: SlotKind,
    /// `dataRules.required`.
    required: bool,
    /// `dataRules.maxLength`, in characters (text and richtext).
    max_length: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
enum SlotKind {
    Text,
    RichText,
    Image,
    Link,
    /// Items checked against `fields` when there are any.
    List {
        fields: Option<Vec<Slot>>,
    },
}

impl SlotKind {
    fn name(&self) -> &'static str {
        match self {
            SlotKind::Text => "text",
            SlotKind::RichText => "richtext",
            SlotKind::Image => "image",
            SlotKind::Link => "link",
            SlotKind::List { .. } => "list",
        }
    }
}

impl Structure {
    /// Reads an `elements_structure`; `Err` says what is wrong with it, and where.
    pub fn parse(structure: &str) -> Result<Structure, String> {
        let structure: Value =
            serde_json::from_str(structure).map_err(|e| format!("elements_structure is not valid JSON: {e}"))?;
        Structure::from_json(&structure)
    }

    /// [`Structure::parse`] for a structure already read as JSON.
    pub fn from_json(structure: &Value) -> Result<Structure, String> {
        if let Some(version) = structure.get("version") {
            if version != 1 {
                return Err(format!("elements_structure: unsupported version {version}"));
            }
        }
        let rows =
            structure.get("rows").and_then(Value::as_array).ok_or("elements_structure: `rows` must be an array")?;
        let mut slots = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let row_slots = row
                .get("slots")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("elements_structure: rows[{i}].slots must be an array"))?;
            slots.extend(row_slots);
        }
        Ok(Structure { slots: parse_slots(&slots, "")? })
    }

    /// Checks content (a `page_section_contents.content` value) against this structure: every
    /// slot with `dataRules.required` present and not empty; each value of its slot's type
    /// (text and richtext: a string; image: an object with string `imageId` and `alt`; link:
    /// an object with string `label` and `href`; list: an array, each item checked against the
    /// slot's `fields`); no keys that are not slots; `maxLength` (characters) kept. `Err` names
    /// the key (`items[1].title`) and says why.
    pub fn check(&self, content: &Value) -> Result<(), String> {
        check_object(&self.slots, content, "")
    }
}

/// Checks a `page_section_contents.content` JSON text against an `elements_structure` JSON
/// text (see [`Structure::check`]).
pub fn validate_content(structure: &str, content: &str) -> Result<(), String> {
    let structure = Structure::parse(structure)?;
    let content: Value = serde_json::from_str(content).map_err(|e| format!("content is not valid JSON: {e}"))?;
    structure.check(&content)
}

fn parse_slots(slots: &[&Value], prefix: &str) -> Result<Vec<Slot>, String> {
    let here = if prefix.is_empty() { "content".to_owned() } else { format!("`{prefix}`") };
    let mut keys = HashSet::new();
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        let key = slot.get("key").and_then(Value::as_str).filter(|k| !k.is_empty());
        let key = key.ok_or_else(|| format!("elements_structure: a slot in {here} has no `key`"))?;
        if !keys.insert(key) {
            return Err(format!("elements_structure: slot `{key}` is defined twice"));
        }
        let path = join(prefix, key);
        let kind = match slot.get("type").and_then(Value::as_str).unwrap_or_default() {
            "text" => SlotKind::Text,
            "richtext" => SlotKind::RichText,
            "image" => SlotKind::Image,
            "link" => SlotKind::Link,
            "list" => {
                let fields = match slot.get("fields") {
                    None => None,
                    Some(fields) => {
                        let fields: Vec<&Value> = fields
                            .as_array()
                            .ok_or_else(|| format!("elements_structure: `fields` of slot `{path}` must be an array"))?
                            .iter()
                            .collect();
                        Some(parse_slots(&fields, &path)?)
                    }
                };
                SlotKind::List { fields }
            }
            _ => {
                let ty = slot.get("type").unwrap_or(&Value::Null);
                return Err(format!("elements_structure: slot `{path}` has unknown type {ty}"));
            }
        };
        let rules = slot.get("dataRules");
        out.push(Slot {
            key: key.to_owned(),
            kind,
            required: rules.and_then(|r| r.get("required")).and_then(Value::as_bool).unwrap_or(false),
            max_length: rules.and_then(|r| r.get("maxLength")).and_then(Value::as_u64),
        });
    }
    Ok(out)
}

/// Checks `value` (content, or one list item) against `slots`; `prefix` is where it sits.
fn check_object(slots: &[Slot], value: &Value, prefix: &str) -> Result<(), String> {
    let here = if prefix.is_empty() { "content".to_owned() } else { format!("`{prefix}`") };
    let object = value.as_object().ok_or_else(|| format!("{here}: expected an object, found {}", kind(value)))?;
    if let Some(unknown) = object.keys().find(|k| !slots.iter().any(|s| s.key == **k)) {
        return Err(format!("`{}`: not a slot of this section", join(prefix, unknown)));
    }
    for slot in slots {
        let path = join(prefix, &slot.key);
        let Some(value) = object.get(&slot.key) else {
            if slot.required {
                return Err(format!("`{path}`: required but missing"));
            }
            continue;
        };
        check_value(slot, value, &path)?;
        if slot.required && is_empty(&slot.kind, value) {
            return Err(format!("`{path}`: required but empty"));
        }
        if let (Some(max), Some(s)) = (slot.max_length, value.as_str()) {
            let len = s.chars().count();
            if len as u64 > max {
                return Err(format!("`{path}`: {len} characters, at most {max} allowed"));
            }
        }
    }
    Ok(())
}

fn check_value(slot: &Slot, value: &Value, path: &str) -> Result<(), String> {
    let ty = slot.kind.name();
    let wrong = |expected: &str| Err(format!("`{path}`: a {ty} slot needs {expected}, found {}", kind(value)));
    match &slot.kind {
        SlotKind::Text | SlotKind::RichText if !value.is_string() => wrong("a string"),
        SlotKind::Text | SlotKind::RichText => Ok(()),
        SlotKind::Image => string_fields(value, path, ty, &["imageId", "alt"]),
        SlotKind::Link => string_fields(value, path, ty, &["label", "href"]),
        SlotKind::List { fields } => {
            let Some(items) = value.as_array() else { return wrong("an array") };
            if let Some(fields) = fields {
                for (i, item) in items.iter().enumerate() {
                    check_object(fields, item, &format!("{path}[{i}]"))?;
                }
            }
            Ok(())
        }
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
fn is_empty(slot: &SlotKind, value: &Value) -> bool {
    let blank = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(|s| s.trim().is_empty());
    match slot {
        SlotKind::Image => blank(value.get("imageId")),
        SlotKind::Link => blank(value.get("href")) || blank(value.get("label")),
        SlotKind::List { .. } => value.as_array().is_none_or(Vec::is_empty),
        SlotKind::Text | SlotKind::RichText => blank(Some(value)),
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

    #[test]
    fn a_structure_is_checked_whole_before_any_content() {
        // A nested problem is found without content that reaches it.
        let nested = r#"{"rows":[{"slots":[{"key":"items","type":"list","fields":[{"key":"x","type":"video"}]}]}]}"#;
        let e = Structure::parse(nested).unwrap_err();
        assert!(e.contains("`items.x`") && e.contains("unknown type \"video\""), "{e}");
        let e = Structure::parse(r#"{"rows":[{"slots":[{"key":"l","type":"list","fields":{}}]}]}"#).unwrap_err();
        assert!(e.contains("`fields` of slot `l` must be an array"), "{e}");
    }
}
