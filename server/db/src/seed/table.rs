//! Rows for one table, in the column order of the CMS schema: the column lists come from
//! [`crate::cms_schema::columns`] and nowhere else.

use crate::cms_schema;
use crate::connection::{Row, Value};

/// Rows for one table; every row has a value for each of `columns`, in that order.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub rows: Vec<Row>,
}

impl Table {
    /// No rows yet; the columns are the schema's.
    pub fn new(name: &'static str) -> Table {
        Table { name, columns: cms_schema::columns(name), rows: Vec::new() }
    }

    /// Where `column` is in a row.
    pub fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| *c == column)
    }

    /// Adds a row given by column name. A column not given gets its default, or NULL when it is
    /// nullable ([`cms_schema::implicit_value`]); one that must be given, a column given twice or
    /// one the schema lacks is a bug in the caller, so it panics naming the table and the column.
    pub fn push(&mut self, values: Vec<(&str, Value)>) {
        let name = self.name;
        let mut row = vec![None; self.columns.len()];
        for (column, value) in values {
            let i = self.position(column).unwrap_or_else(|| panic!("{name}: there is no column `{column}`"));
            assert!(row[i].replace(value).is_none(), "{name}: column `{column}` given twice");
        }
        let row = row
            .into_iter()
            .zip(self.columns)
            .map(|(v, column)| {
                v.or_else(|| cms_schema::implicit_value(name, column))
                    .unwrap_or_else(|| panic!("{name}: column `{column}` missing"))
            })
            .collect();
        self.rows.push(row);
    }
}

/// For generators of many rows: the values of a row are given in an order the generator
/// chose once (no lookup by name per row) and stored in the schema's order.
#[derive(Clone, Debug)]
pub struct Layout {
    name: &'static str,
    columns: &'static [&'static str],
    /// The schema position of each given value.
    positions: Vec<usize>,
    /// Every column's value before the given ones are put in: defaults and NULLs.
    implicit: Row,
}

impl Layout {
    /// `given` must name every column of the table exactly once (it panics otherwise, naming
    /// what is missing or unknown: a column added to the schema needs a value here).
    pub fn new(name: &'static str, given: &[&str]) -> Layout {
        let columns = cms_schema::columns(name);
        let positions: Vec<usize> = given
            .iter()
            .map(|g| columns.iter().position(|c| c == g).unwrap_or_else(|| panic!("{name}: there is no column `{g}`")))
            .collect();
        let mut implicit = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let times = positions.iter().filter(|p| **p == i).count();
            let fill = cms_schema::implicit_value(name, column);
            assert!(
                times == 1 || times == 0 && fill.is_some(),
                "{name}: column `{column}` given {times} times, not once"
            );
            implicit.push(fill.unwrap_or(Value::Null));
        }
        Layout { name, columns, positions, implicit }
    }

    /// A table without rows, room for `capacity`.
    pub fn table(&self, capacity: usize) -> Table {
        Table { name: self.name, columns: self.columns, rows: Vec::with_capacity(capacity) }
    }

    /// The row of `values`, given in the layout's order.
    pub fn row<const N: usize>(&self, values: [Value; N]) -> Row {
        assert_eq!(N, self.positions.len(), "{}: {N} values for {} columns", self.name, self.positions.len());
        let mut row = self.implicit.clone();
        for (value, &at) in values.into_iter().zip(&self.positions) {
            row[at] = value;
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_schema_s_column_order() {
        let mut t = Table::new("locales");
        assert_eq!(t.columns, cms_schema::columns("locales"));
        t.push(vec![
            ("status", "active".into()),
            ("code", "en".into()),
            ("created_at", 5.into()),
            ("name", "E".into()),
        ]);
        let layout = Layout::new("locales", &["name", "code", "created_at", "status"]);
        let row = layout.row(["E".into(), "en".into(), 5.into(), "active".into()]);
        assert_eq!(t.rows, std::slice::from_ref(&row));
        assert_eq!(row[t.position("code").unwrap()], Value::from("en"));
    }

    #[test]
    #[should_panic(expected = "locales: column `name` missing")]
    fn a_missing_column_that_must_be_given_is_a_bug() {
        Table::new("locales").push(vec![("code", "en".into()), ("status", "active".into()), ("created_at", 5.into())]);
    }

    #[test]
    #[should_panic(expected = "locales: column `name` given 0 times")]
    fn a_layout_names_every_column_that_must_be_given() {
        Layout::new("locales", &["status", "code", "created_at"]);
    }

    #[test]
    fn columns_not_given_get_their_default_or_null() {
        // locales.status defaults to 'active'; posts.excerpt is nullable.
        let mut t = Table::new("locales");
        t.push(vec![("code", "en".into()), ("name", "E".into()), ("created_at", 5.into())]);
        assert_eq!(t.rows[0][t.position("status").unwrap()], Value::from("active"));
        let layout = Layout::new("locales", &["name", "code", "created_at"]);
        assert_eq!(layout.row(["E".into(), "en".into(), 5.into()]), t.rows[0]);
        assert_eq!(cms_schema::implicit_value("posts", "excerpt"), Some(Value::Null));
        assert_eq!(cms_schema::implicit_value("posts", "title"), None);
    }
}
