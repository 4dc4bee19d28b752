//! What the studio knows about the database: every table, view and virtual table with its
//! columns, how a row is identified, and the foreign keys between them. Built from the schema
//! engine's introspection ([`cms_db::schema::introspect`]) plus the columns of views, which the
//! schema model does not list. Every identifier that reaches SQL comes from here: a name in a
//! request is looked up in the catalog, never written into SQL as it was sent.

use std::collections::{BTreeMap, BTreeSet};

use cms_db::connection::{Sql, Value};
use cms_db::schema::model::{ForeignKey, IndexTarget, QualifiedName, Schema};
use cms_db::{DbError, Dialect};

/// What kind of relation a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Table,
    View,
    MaterializedView,
    /// SQLite virtual table (FTS5, …): browsed by rowid, not edited here.
    Virtual,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::View => "view",
            Kind::MaterializedView => "materialized view",
            Kind::Virtual => "virtual table",
        }
    }
}

/// How one row is found again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowKey {
    /// The primary key's columns, in key order.
    Primary(Vec<String>),
    /// SQLite's `rowid` (a table without a primary key, or a virtual table).
    Rowid,
    /// Nothing identifies a row (views, PostgreSQL tables without a primary key): pages go by
    /// offset and rows cannot be opened or edited.
    None,
}

/// What a column holds, for editors, alignment and JSON export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeClass {
    Integer,
    Real,
    Bool,
    Json,
    Text,
    Blob,
    /// Anything else (timestamps, uuid, numeric, enums, arrays …): edited as text, which the
    /// database converts.
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Col {
    pub name: String,
    /// As the catalog spells it (`text`, `integer`, `character varying(255)`, `serial`).
    pub data_type: String,
    pub class: TypeClass,
    pub not_null: bool,
    /// The default expression, when there is one.
    pub default: Option<String>,
    /// The database fills it in when an insert leaves it out (a default, identity, serial,
    /// an SQLite rowid alias).
    pub has_default: bool,
    /// A generated column: never written.
    pub generated: bool,
}

#[derive(Clone, Debug)]
pub struct Relation {
    pub name: QualifiedName,
    /// How the studio names it in URLs and pages: `pages`, or `schema.name` outside the
    /// default namespace.
    pub display: String,
    pub kind: Kind,
    pub columns: Vec<Col>,
    pub key: RowKey,
    /// Its foreign keys (empty for views).
    pub foreign_keys: Vec<ForeignKey>,
    /// Columns that lead an index (primary key, unique constraints, indexes).
    pub indexed: BTreeSet<String>,
    /// SQLite: the index that implements the primary key (`None` for rowid and WITHOUT ROWID
    /// tables, whose key is the table's own order).
    pub key_index: Option<String>,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Col> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Rows can be edited, inserted and deleted here: a table with a key.
    pub fn editable(&self) -> bool {
        self.kind == Kind::Table && self.key != RowKey::None
    }

    /// The key columns, when the key is a primary key.
    pub fn key_columns(&self) -> Option<&[String]> {
        match &self.key {
            RowKey::Primary(cols) => Some(cols),
            _ => None,
        }
    }

    /// The foreign key whose only column is `column`, if any (a value of it links to one row).
    pub fn foreign_keys_of<'a>(&'a self, column: &'a str) -> impl Iterator<Item = &'a ForeignKey> + 'a {
        self.foreign_keys.iter().filter(move |fk| fk.columns.iter().any(|c| c == column))
    }
}

/// A foreign key seen from the table it points at.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The table that holds the foreign key.
    pub child: String,
    pub fk: ForeignKey,
}

/// The studio's catalog.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub dialect: Dialect,
    pub schema: Schema,
    /// By display name, sorted.
    pub relations: BTreeMap<String, Relation>,
    /// What [`crate::studio::db`] compares to notice a schema change.
    pub version: String,
}

impl Catalog {
    pub fn relation(&self, display: &str) -> Option<&Relation> {
        self.relations.get(display)
    }

    /// The display name of a qualified name.
    pub fn display_of(&self, name: &QualifiedName) -> String {
        name.to_string()
    }

    /// Every foreign key that points at `table` (display name), with the table that holds it.
    pub fn incoming(&self, table: &str) -> Vec<Incoming> {
        let mut out = Vec::new();
        for rel in self.relations.values() {
            for fk in &rel.foreign_keys {
                if self.display_of(&fk.references) == table {
                    out.push(Incoming { child: rel.display.clone(), fk: fk.clone() });
                }
            }
        }
        out
    }

    /// Builds the catalog from an introspected schema; view and virtual-table columns are read
    /// through `conn`.
    pub fn build(schema: Schema, conn: &mut dyn Sql, version: String) -> Result<Catalog, DbError> {
        let dialect = schema.dialect;
        let mut relations = BTreeMap::new();
        for table in schema.tables.values() {
            let pk: Vec<String> = table.primary_key.as_ref().map(|p| p.columns.clone()).unwrap_or_default();
            let columns = table
                .columns
                .iter()
                .map(|c| {
                    let rowid_alias = dialect == Dialect::Sqlite
                        && pk.len() == 1
                        && pk[0] == c.name
                        && c.data_type.eq_ignore_ascii_case("INTEGER")
                        && !table.without_rowid;
                    let serial = matches!(c.data_type.as_str(), "serial" | "bigserial" | "smallserial");
                    Col {
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                        class: classify(dialect, &c.data_type),
                        not_null: c.not_null || pk.contains(&c.name) && dialect == Dialect::Postgres,
                        default: c.default.clone(),
                        has_default: c.default.is_some()
                            || c.identity.is_some()
                            || c.autoincrement
                            || rowid_alias
                            || serial
                            || c.generated.is_some(),
                        generated: c.generated.is_some(),
                    }
                })
                .collect();
            let key = if !pk.is_empty() {
                RowKey::Primary(pk.clone())
            } else if dialect == Dialect::Sqlite && !table.without_rowid {
                RowKey::Rowid
            } else {
                RowKey::None
            };
            let mut indexed: BTreeSet<String> = pk.first().cloned().into_iter().collect();
            indexed.extend(table.uniques.iter().filter_map(|u| u.columns.first().cloned()));
            indexed.extend(table.indexes.values().filter_map(|ix| match &ix.keys.first()?.target {
                IndexTarget::Column(c) => Some(c.clone()),
                IndexTarget::Expression(_) => None,
            }));
            let key_index = match (dialect, &key) {
                (Dialect::Sqlite, RowKey::Primary(_)) if !table.without_rowid => conn
                    .query(
                        "SELECT name FROM pragma_index_list($1) WHERE origin = 'pk'",
                        &[Value::from(table.name.name.as_str())],
                    )?
                    .into_iter()
                    .next()
                    .and_then(|r| r.into_iter().next())
                    .and_then(Value::into_text),
                _ => None,
            };
            let display = table.name.to_string();
            relations.insert(
                display.clone(),
                Relation {
                    name: table.name.clone(),
                    display,
                    kind: Kind::Table,
                    columns,
                    key,
                    foreign_keys: table.foreign_keys.clone(),
                    indexed,
                    key_index,
                },
            );
        }
        let mut others: Vec<(QualifiedName, Kind)> = schema
            .views
            .values()
            .map(|v| (v.name.clone(), if v.materialized { Kind::MaterializedView } else { Kind::View }))
            .collect();
        others.extend(schema.virtual_tables.values().map(|v| (v.name.clone(), Kind::Virtual)));
        for (name, kind) in others {
            let columns = relation_columns(conn, dialect, &name)?
                .into_iter()
                .map(|(name, data_type)| Col {
                    class: classify(dialect, &data_type),
                    name,
                    data_type,
                    not_null: false,
                    default: None,
                    has_default: false,
                    generated: false,
                })
                .collect();
            let key = if kind == Kind::Virtual { RowKey::Rowid } else { RowKey::None };
            let display = name.to_string();
            relations.insert(
                display.clone(),
                Relation {
                    name,
                    display,
                    kind,
                    columns,
                    key,
                    foreign_keys: Vec::new(),
                    indexed: BTreeSet::new(),
                    key_index: None,
                },
            );
        }
        Ok(Catalog { dialect, schema, relations, version })
    }
}

/// The columns of a view or virtual table: (name, declared type).
fn relation_columns(
    conn: &mut dyn Sql,
    dialect: Dialect,
    name: &QualifiedName,
) -> Result<Vec<(String, String)>, DbError> {
    let rows = match dialect {
        Dialect::Sqlite => conn.query(
            "SELECT name, type FROM pragma_table_xinfo($1) WHERE hidden IN (0, 2, 3) ORDER BY cid",
            &[Value::from(name.name.as_str())],
        )?,
        Dialect::Postgres => conn.query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[Value::from(name.schema.as_str()), Value::from(name.name.as_str())],
        )?,
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter();
            let name = it.next().and_then(Value::into_text).unwrap_or_default();
            let ty = it.next().and_then(Value::into_text).unwrap_or_default();
            (name, ty)
        })
        .collect())
}

/// The class of a declared type: SQLite's affinity rules (plus `BOOL` and `JSON` names),
/// PostgreSQL's type names.
pub fn classify(dialect: Dialect, data_type: &str) -> TypeClass {
    let t = data_type.to_ascii_lowercase();
    match dialect {
        Dialect::Sqlite => {
            if t.contains("json") {
                TypeClass::Json
            } else if t.starts_with("bool") {
                TypeClass::Bool
            } else if t.contains("int") {
                TypeClass::Integer
            } else if t.contains("char") || t.contains("clob") || t.contains("text") {
                TypeClass::Text
            } else if t.contains("blob") || t.is_empty() {
                TypeClass::Blob
            } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
                TypeClass::Real
            } else {
                TypeClass::Other
            }
        }
        Dialect::Postgres => {
            let base = t.split('(').next().unwrap_or_default().trim();
            if t.ends_with("[]") {
                return TypeClass::Other;
            }
            match base {
                "smallint" | "integer" | "bigint" | "serial" | "bigserial" | "smallserial" | "oid" => {
                    TypeClass::Integer
                }
                "real" | "double precision" => TypeClass::Real,
                "boolean" => TypeClass::Bool,
                "json" | "jsonb" => TypeClass::Json,
                "text" | "character varying" | "character" | "name" | "citext" | "\"char\"" => TypeClass::Text,
                "bytea" => TypeClass::Blob,
                _ => TypeClass::Other,
            }
        }
    }
}

/// PostgreSQL types the database layer reads as plain values; every other column is read as
/// `CAST(col AS text)`.
pub fn pg_reads_natively(data_type: &str) -> bool {
    matches!(
        classify(Dialect::Postgres, data_type),
        TypeClass::Integer | TypeClass::Real | TypeClass::Bool | TypeClass::Json | TypeClass::Text | TypeClass::Blob
    ) && !data_type.eq_ignore_ascii_case("\"char\"")
}

/// The type to cast a text parameter to for a PostgreSQL column (`serial` is not a type in a
/// cast).
pub fn pg_cast_type(data_type: &str) -> &str {
    match data_type {
        "serial" => "integer",
        "bigserial" => "bigint",
        "smallserial" => "smallint",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_types_per_dialect() {
        assert_eq!(classify(Dialect::Sqlite, "INTEGER"), TypeClass::Integer);
        assert_eq!(classify(Dialect::Sqlite, "text"), TypeClass::Text);
        assert_eq!(classify(Dialect::Sqlite, "VARCHAR(20)"), TypeClass::Text);
        assert_eq!(classify(Dialect::Sqlite, ""), TypeClass::Blob);
        assert_eq!(classify(Dialect::Sqlite, "DOUBLE"), TypeClass::Real);
        assert_eq!(classify(Dialect::Sqlite, "JSON"), TypeClass::Json);
        assert_eq!(classify(Dialect::Sqlite, "NUMERIC"), TypeClass::Other);
        assert_eq!(classify(Dialect::Postgres, "bigint"), TypeClass::Integer);
        assert_eq!(classify(Dialect::Postgres, "character varying(255)"), TypeClass::Text);
        assert_eq!(classify(Dialect::Postgres, "jsonb"), TypeClass::Json);
        assert_eq!(classify(Dialect::Postgres, "timestamp with time zone"), TypeClass::Other);
        assert_eq!(classify(Dialect::Postgres, "integer[]"), TypeClass::Other);
        assert!(pg_reads_natively("text") && pg_reads_natively("bigserial") && !pg_reads_natively("uuid"));
        assert_eq!(pg_cast_type("bigserial"), "bigint");
    }
}
