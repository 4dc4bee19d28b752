//! Changes: a cell, a new row, deleted rows. Each is one transaction; a value is checked
//! against its column's type before anything is sent (a whole number, a number, true/false,
//! valid JSON), and a constraint the database enforces (unique, NOT NULL, check, foreign key)
//! comes back as a sentence, with nothing changed.

use cms_db::connection::Value;
use cms_db::{DbError, Dialect};

use super::catalog::{Catalog, Col, Relation, TypeClass};
use super::db::Db;
use super::error::{database_words, StudioError};
use super::query::{delete_query, insert_query, update_query};

/// What a cell editor sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CellInput {
    pub value: String,
    /// The NULL toggle.
    pub null: bool,
    /// The editor was a JSON editor (the value must be valid JSON).
    pub json: bool,
}

/// The value to write for `col`, or why the input does not fit it.
pub fn parse_input(dialect: Dialect, col: &Col, input: &CellInput) -> Result<Value, StudioError> {
    if input.null {
        return Ok(Value::Null);
    }
    let text = input.value.replace("\r\n", "\n");
    let bad = |what: &str| {
        StudioError::BadRequest(format!("{} takes {what}; {:?} is not one. Nothing was saved.", col.name, input.value))
    };
    if input.json || col.class == TypeClass::Json {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            return Err(StudioError::BadRequest(format!("{} must hold valid JSON: {e}. Nothing was saved.", col.name)));
        }
        return Ok(Value::Text(text));
    }
    Ok(match col.class {
        TypeClass::Integer => Value::Int(text.trim().parse().map_err(|_| bad("a whole number"))?),
        TypeClass::Real => Value::Real(text.trim().parse().map_err(|_| bad("a number"))?),
        TypeClass::Bool => {
            let b = match text.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" => true,
                "false" | "f" | "0" => false,
                _ => return Err(bad("true or false")),
            };
            match dialect {
                Dialect::Sqlite => Value::Int(i64::from(b)),
                Dialect::Postgres => Value::Text(b.to_string()),
            }
        }
        TypeClass::Blob if dialect == Dialect::Postgres => {
            return Err(StudioError::BadRequest(format!(
                "{} holds bytes, which the studio does not edit; use the SQL console",
                col.name
            )))
        }
        _ => Value::Text(text),
    })
}

/// What the database was asked to do when it refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doing {
    Writing,
    Deleting,
}

/// A constraint the database enforced, read from its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    Unique {
        columns: Vec<String>,
        name: Option<String>,
    },
    NotNull {
        column: String,
    },
    Check {
        name: String,
    },
    /// A value that matches no row of the referenced table.
    ForeignKey {
        columns: Vec<String>,
        table: Option<String>,
    },
    /// Rows of another table still reference the row.
    StillReferenced {
        table: Option<String>,
    },
}

/// Reads a constraint violation out of an SQLite or PostgreSQL error message (only to put it
/// in words: the transaction is rolled back whatever the message says).
pub fn violation(message: &str, doing: Doing) -> Option<Violation> {
    let quoted = |s: &str, after: &str| -> Option<String> {
        let rest = &s[s.find(after)? + after.len()..];
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_string())
    };
    let key_columns = |s: &str| -> Vec<String> {
        s.find("Key (")
            .and_then(|i| {
                let rest = &s[i + 5..];
                rest.find(")=").map(|j| rest[..j].split(',').map(|c| c.trim().trim_matches('"').to_string()).collect())
            })
            .unwrap_or_default()
    };
    // SQLite
    if let Some(rest) = message.strip_prefix("UNIQUE constraint failed: ") {
        let columns = rest.split(',').map(|c| c.trim().rsplit('.').next().unwrap_or_default().to_string()).collect();
        return Some(Violation::Unique { columns, name: None });
    }
    if let Some(rest) = message.strip_prefix("NOT NULL constraint failed: ") {
        return Some(Violation::NotNull { column: rest.trim().rsplit('.').next().unwrap_or_default().to_string() });
    }
    if let Some(rest) = message.strip_prefix("CHECK constraint failed: ") {
        return Some(Violation::Check { name: rest.trim().to_string() });
    }
    if message.starts_with("FOREIGN KEY constraint failed") {
        return Some(match doing {
            Doing::Writing => Violation::ForeignKey { columns: Vec::new(), table: None },
            Doing::Deleting => Violation::StillReferenced { table: None },
        });
    }
    // PostgreSQL
    if message.contains("violates unique constraint") {
        return Some(Violation::Unique { columns: key_columns(message), name: quoted(message, "unique constraint ") });
    }
    if message.contains("violates not-null constraint") {
        return Some(Violation::NotNull { column: quoted(message, "in column ").unwrap_or_default() });
    }
    if message.contains("violates check constraint") {
        return Some(Violation::Check { name: quoted(message, "check constraint ").unwrap_or_default() });
    }
    if message.contains("foreign key constraint") {
        if message.contains("update or delete on table") || message.contains("is still referenced") {
            let table = quoted(message, "referenced from table ").or_else(|| {
                let after = message.find("foreign key constraint")?;
                quoted(&message[after..], "on table ")
            });
            return Some(Violation::StillReferenced { table });
        }
        return Some(Violation::ForeignKey {
            columns: key_columns(message),
            table: quoted(message, "is not present in table "),
        });
    }
    None
}

/// A violation as a sentence.
pub fn words(v: &Violation, catalog: &Catalog, rel: &Relation, columns_written: &[String]) -> String {
    let list = |c: &[String]| c.join(", ");
    match v {
        Violation::Unique { columns, name } => {
            let cols = if columns.is_empty() { name.clone().unwrap_or_default() } else { list(columns) };
            let together = if columns.len() > 1 { " together" } else { "" };
            format!("another row of {} already has this {cols}: {cols} must be unique{together}.", rel.display)
        }
        Violation::NotNull { column } => format!("{column} cannot be NULL: the column is NOT NULL."),
        Violation::Check { name } => {
            let expr = catalog
                .schema
                .tables
                .get(&rel.name)
                .and_then(|t| t.checks.iter().find(|c| c.name.as_deref() == Some(name)))
                .map(|c| format!(" ({})", c.expression))
                .unwrap_or_default();
            format!("the value breaks the check {name}{expr}.")
        }
        Violation::ForeignKey { columns, table } => {
            let fk = rel.foreign_keys.iter().find(|fk| {
                (!columns.is_empty() && fk.columns == *columns)
                    || (columns.is_empty() && fk.columns.iter().any(|c| columns_written.contains(c)))
            });
            let cols = fk.map(|f| list(&f.columns)).unwrap_or_else(|| list(columns));
            let target = fk.map(|f| catalog.display_of(&f.references)).or_else(|| table.clone());
            match (cols.is_empty(), target) {
                (false, Some(t)) => {
                    format!("{cols} must name an existing row of {t} (foreign key): no row of {t} has this value.")
                }
                (_, Some(t)) => format!("a value must name an existing row of {t} (foreign key), and none has it."),
                _ => {
                    "a value must name an existing row of the table its foreign key points at, and none has it.".into()
                }
            }
        }
        Violation::StillReferenced { table } => {
            let from = table.clone().or_else(|| {
                catalog
                    .incoming(&rel.display)
                    .into_iter()
                    .find(|i| i.fk.on_delete != cms_db::schema::model::Action::Cascade)
                    .map(|i| i.child)
            });
            match from {
                Some(t) => format!(
                    "rows of {t} still reference this row, and their foreign key does not allow deleting it (RESTRICT / NO ACTION); delete or change them first."
                ),
                None => "other rows still reference this row (foreign key); delete or change them first.".into(),
            }
        }
    }
}

/// A refused statement as the error to show: a constraint in words, or the database's message.
pub fn refused(e: DbError, doing: Doing, catalog: &Catalog, rel: &Relation, columns_written: &[String]) -> StudioError {
    let message = database_words(&e);
    match violation(&message, doing) {
        Some(v) => StudioError::Constraint(format!(
            "Nothing was changed: {} (The database said: {message})",
            words(&v, catalog, rel, columns_written)
        )),
        None => StudioError::from(e),
    }
}

fn relation<'c>(catalog: &'c Catalog, table: &str) -> Result<&'c Relation, StudioError> {
    let rel = catalog.relation(table).ok_or_else(|| StudioError::NotFound(format!("there is no table {table:?}")))?;
    if !rel.editable() {
        return Err(StudioError::BadRequest(format!(
            "{} is a {} without a key: change its rows with the SQL console",
            rel.display,
            rel.kind.label()
        )));
    }
    Ok(rel)
}

/// A deferred constraint (`DEFERRABLE INITIALLY DEFERRED`) is checked at COMMIT, after the
/// statement itself succeeded: its refusal is put in words as well.
fn at_commit<'a>(
    db: &'a Db,
    table: &'a str,
    doing: Doing,
    written: &'a [String],
) -> impl FnOnce(StudioError) -> StudioError + 'a {
    move |e| match e {
        StudioError::Sql(message) => {
            let catalog = db.cached_catalog();
            match (violation(&message, doing), catalog.relation(table)) {
                (Some(v), Some(rel)) => StudioError::Constraint(format!(
                    "Nothing was changed: {} (The database said: {message})",
                    words(&v, &catalog, rel, written)
                )),
                _ => StudioError::Sql(message),
            }
        }
        other => other,
    }
}

/// Sets one cell.
pub fn update_cell(db: &Db, table: &str, key: &[Value], column: &str, input: &CellInput) -> Result<(), StudioError> {
    let written = [column.to_string()];
    db.write(|tx, catalog| {
        let rel = relation(catalog, table)?;
        let col =
            rel.column(column).ok_or_else(|| StudioError::NotFound(format!("{table} has no column {column:?}")))?;
        let value = parse_input(catalog.dialect, col, input)?;
        let q = update_query(catalog.dialect, rel, key, column, value)?;
        let n = tx
            .execute(&q.sql, &q.params)
            .map_err(|e| refused(e, Doing::Writing, catalog, rel, &[column.to_string()]))?;
        if n != 1 {
            return Err(StudioError::NotFound(format!(
                "the row of {table} is gone (deleted meanwhile?); nothing was changed"
            )));
        }
        Ok(())
    })
    .map_err(at_commit(db, table, Doing::Writing, &written))
}

/// One field of the insert form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field {
    pub column: String,
    /// Leave it to the database (its default, or NULL).
    pub default: bool,
    pub input: CellInput,
}

/// Inserts a row; the new row's key.
pub fn insert_row(db: &Db, table: &str, fields: &[Field]) -> Result<Vec<Value>, StudioError> {
    let sent: Vec<String> = fields.iter().filter(|f| !f.default).map(|f| f.column.clone()).collect();
    db.write(|tx, catalog| {
        let rel = relation(catalog, table)?;
        let mut values = Vec::new();
        for f in fields.iter().filter(|f| !f.default) {
            let col = rel
                .column(&f.column)
                .ok_or_else(|| StudioError::NotFound(format!("{table} has no column {:?}", f.column)))?;
            if col.generated {
                continue;
            }
            values.push((f.column.clone(), parse_input(catalog.dialect, col, &f.input)?));
        }
        let written: Vec<String> = values.iter().map(|(c, _)| c.clone()).collect();
        let q = insert_query(catalog.dialect, rel, &values)?;
        let rows = tx.query(&q.sql, &q.params).map_err(|e| refused(e, Doing::Writing, catalog, rel, &written))?;
        rows.into_iter().next().ok_or_else(|| StudioError::Sql("the insert returned no row".into()))
    })
    .map_err(at_commit(db, table, Doing::Writing, &sent))
}

/// Deletes rows by key; how many were deleted.
pub fn delete_rows(db: &Db, table: &str, keys: &[Vec<Value>]) -> Result<u64, StudioError> {
    db.write(|tx, catalog| {
        let rel = relation(catalog, table)?;
        let q = delete_query(catalog.dialect, rel, keys)?;
        let n = tx.execute(&q.sql, &q.params).map_err(|e| refused(e, Doing::Deleting, catalog, rel, &[]))?;
        if n == 0 {
            return Err(StudioError::NotFound(format!(
                "no such row in {table} (deleted meanwhile?); nothing was changed"
            )));
        }
        Ok(n)
    })
    .map_err(at_commit(db, table, Doing::Deleting, &[]))
}

/// Whether a text value is a JSON object or array (a JSON editor is offered for it).
pub fn looks_like_json(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with('{') || t.starts_with('[')) && serde_json::from_str::<serde_json::Value>(text).is_ok()
}

/// Runs one statement as part of a change (used by tests of the words).
#[cfg(test)]
fn run(tx: &mut dyn cms_db::connection::Sql, sql: &str) -> Result<u64, DbError> {
    tx.execute(sql, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::connection::{Connection, Sql as _};

    fn col(class: TypeClass) -> Col {
        Col {
            name: "c".into(),
            data_type: String::new(),
            class,
            not_null: false,
            default: None,
            has_default: false,
            generated: false,
        }
    }

    fn input(v: &str) -> CellInput {
        CellInput { value: v.into(), ..CellInput::default() }
    }

    #[test]
    fn inputs_are_checked_against_the_type() {
        let d = Dialect::Sqlite;
        assert_eq!(parse_input(d, &col(TypeClass::Integer), &input(" 42 ")).unwrap(), Value::Int(42));
        assert!(parse_input(d, &col(TypeClass::Integer), &input("4.2")).is_err());
        assert_eq!(parse_input(d, &col(TypeClass::Real), &input("4.5")).unwrap(), Value::Real(4.5));
        assert_eq!(parse_input(d, &col(TypeClass::Bool), &input("true")).unwrap(), Value::Int(1));
        assert_eq!(
            parse_input(Dialect::Postgres, &col(TypeClass::Bool), &input("f")).unwrap(),
            Value::Text("false".into())
        );
        assert_eq!(parse_input(d, &col(TypeClass::Text), &input("a\r\nb")).unwrap(), Value::Text("a\nb".into()));
        let null = CellInput { null: true, ..input("x") };
        assert_eq!(parse_input(d, &col(TypeClass::Integer), &null).unwrap(), Value::Null);
        let json = CellInput { json: true, ..input("{\"a\": 1") };
        let e = parse_input(d, &col(TypeClass::Text), &json).unwrap_err();
        assert!(e.message().contains("valid JSON") && e.message().contains("line 1"), "{}", e.message());
        assert!(parse_input(d, &col(TypeClass::Json), &input("[1, 2]")).is_ok());
        assert!(looks_like_json(" {\"a\": [1]}") && !looks_like_json("{oops") && !looks_like_json("12"));
    }

    #[test]
    fn reads_sqlite_violations() {
        let c = Connection::Sqlite(cms_db::sqlite::open_in_memory().unwrap());
        let mut c = c;
        c.batch(
            "CREATE TABLE p (id INTEGER PRIMARY KEY);
             CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT, p INTEGER REFERENCES p(id),
                             CONSTRAINT b_short CHECK (length(b) < 3), UNIQUE (a, b));
             INSERT INTO p VALUES (1); INSERT INTO t VALUES (1, 'x', 'y', 1);",
        )
        .unwrap();
        let mut message = |sql: &str| {
            let e = run(&mut c, sql).unwrap_err();
            assert!(e.database_message().is_some(), "the database refused it: {e:?}");
            database_words(&e)
        };
        assert_eq!(
            violation(&message("INSERT INTO t VALUES (2, 'x', 'y', NULL)"), Doing::Writing),
            Some(Violation::Unique { columns: vec!["a".into(), "b".into()], name: None })
        );
        assert_eq!(
            violation(&message("UPDATE t SET a = NULL"), Doing::Writing),
            Some(Violation::NotNull { column: "a".into() })
        );
        assert_eq!(
            violation(&message("UPDATE t SET b = 'long'"), Doing::Writing),
            Some(Violation::Check { name: "b_short".into() })
        );
        assert!(matches!(
            violation(&message("UPDATE t SET p = 9"), Doing::Writing),
            Some(Violation::ForeignKey { .. })
        ));
        assert!(matches!(
            violation(&message("DELETE FROM p"), Doing::Deleting),
            Some(Violation::StillReferenced { .. })
        ));
        assert_eq!(violation("no such table: x", Doing::Writing), None);
    }

    #[test]
    fn reads_postgres_violations() {
        let unique = "ERROR: duplicate key value violates unique constraint \"teams_name_unique\" (detail: Key (name)=(x) already exists.)";
        assert_eq!(
            violation(unique, Doing::Writing),
            Some(Violation::Unique { columns: vec!["name".into()], name: Some("teams_name_unique".into()) })
        );
        let nn = "ERROR: null value in column \"name\" of relation \"pages\" violates not-null constraint (detail: Failing row contains (1, null).)";
        assert_eq!(violation(nn, Doing::Writing), Some(Violation::NotNull { column: "name".into() }));
        let check = "ERROR: new row for relation \"posts\" violates check constraint \"posts_status_check\"";
        assert_eq!(violation(check, Doing::Writing), Some(Violation::Check { name: "posts_status_check".into() }));
        let fk = "ERROR: insert or update on table \"pages\" violates foreign key constraint \"pages_site_id_fk\" (detail: Key (site_id)=(zz) is not present in table \"sites\".)";
        assert_eq!(
            violation(fk, Doing::Writing),
            Some(Violation::ForeignKey { columns: vec!["site_id".into()], table: Some("sites".into()) })
        );
        let restrict = "ERROR: update or delete on table \"defs\" violates RESTRICT setting of foreign key constraint \"s_fk\" on table \"sections\" (detail: Key (id)=(d1) is referenced from table \"sections\".)";
        assert_eq!(
            violation(restrict, Doing::Deleting),
            Some(Violation::StillReferenced { table: Some("sections".into()) })
        );
        let still = "ERROR: update or delete on table \"sites\" violates foreign key constraint \"x\" on table \"pages\" (detail: Key (id)=(1) is still referenced from table \"pages\".)";
        assert_eq!(violation(still, Doing::Deleting), Some(Violation::StillReferenced { table: Some("pages".into()) }));
    }
}
