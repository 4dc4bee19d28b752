//! PostgreSQL introspection from `pg_catalog`: the server prints every expression and type
//! itself (`format_type`, `pg_get_expr`, `pg_get_constraintdef`, `pg_get_indexdef`,
//! `pg_get_viewdef`, `pg_get_triggerdef`, `pg_get_functiondef`), so its text is already
//! canonical and kept as printed. Objects that belong to an extension are not part of the
//! schema; the extension itself is (`pg_extension`, but `plpgsql`).

use std::collections::BTreeMap;

use postgres::types::Oid;
use postgres::{Client, Row};

use super::{strip_wrapping_parens, tokenize, IntrospectError, Lexer, SchemaFilter, Token};
use crate::schema::model::*;

/// drizzle's bookkeeping schema and table.
const BOOKKEEPING_SCHEMA: &str = "drizzle";
const BOOKKEEPING_TABLE: &str = "__drizzle_migrations";

/// Namespaces that are never user schemas.
const SYSTEM_NAMESPACES: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
     AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

/// A `pg_class` row that an extension owns.
const NOT_FROM_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass \
     AND e.objid = c.oid AND e.deptype = 'e')";

/// Reads the namespaces `filter` selects into a [`Schema`] in the model's normal form. Runs
/// only `SELECT`s; call it inside a read-only transaction for a consistent snapshot.
pub fn postgres(client: &mut Client, filter: SchemaFilter) -> Result<Schema, IntrospectError> {
    let mut r = Reader { client, filter, schema: Schema::empty(Dialect::Postgres), tables: BTreeMap::new() };
    r.namespaces()?;
    r.tables()?;
    r.columns()?;
    r.sequences()?;
    r.constraints()?;
    r.indexes()?;
    r.enums()?;
    r.views()?;
    r.triggers()?;
    r.functions()?;
    r.policies()?;
    r.extensions()?;
    let Reader { mut schema, tables, .. } = r;
    for (_, mut table) in tables.into_values() {
        table.normalize();
        schema.tables.insert(table.name.clone(), table);
    }
    Ok(schema)
}

struct Reader<'c> {
    client: &'c mut Client,
    filter: SchemaFilter,
    schema: Schema,
    /// The tables read so far, by oid.
    tables: BTreeMap<Oid, (QualifiedName, Table)>,
}

impl Reader<'_> {
    fn query(&mut self, what: &str, sql: &str) -> Result<Vec<Row>, IntrospectError> {
        self.client.query(sql, &[]).map_err(|source| IntrospectError::Postgres { what: what.into(), source })
    }

    fn wanted(&self, namespace: &str) -> bool {
        self.filter.includes(namespace)
    }

    fn is_bookkeeping(namespace: &str, name: &str) -> bool {
        namespace == BOOKKEEPING_SCHEMA && name == BOOKKEEPING_TABLE
    }

    /// Namespaces other than `public`; `drizzle` only when it holds more than the bookkeeping
    /// table (with its sequence and indexes).
    fn namespaces(&mut self) -> Result<(), IntrospectError> {
        let sql = format!(
            "SELECT n.nspname::text, \
               n.nspname <> '{BOOKKEEPING_SCHEMA}' OR EXISTS ( \
                 SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname <> '{BOOKKEEPING_TABLE}' \
                   AND NOT EXISTS (SELECT 1 FROM pg_class b WHERE b.relnamespace = n.oid \
                     AND b.relname = '{BOOKKEEPING_TABLE}' AND ( \
                       EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = c.oid AND i.indrelid = b.oid) \
                       OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                         AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.refobjid = b.oid)))) \
               OR EXISTS (SELECT 1 FROM pg_type t WHERE t.typnamespace = n.oid AND t.typrelid = 0 \
                   AND t.typcategory <> 'A') \
               OR EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = n.oid) \
             FROM pg_namespace n \
             WHERE {SYSTEM_NAMESPACES} AND n.nspname <> 'public' \
               AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass \
                 AND e.objid = n.oid AND e.deptype = 'e')"
        );
        for row in self.query("namespaces", &sql)? {
            let name: String = row.get(0);
            let has_user_objects: bool = row.get(1);
            if has_user_objects && self.wanted(&name) {
                self.schema.schemas.insert(name);
            }
        }
        Ok(())
    }

    fn tables(&mut self) -> Result<(), IntrospectError> {
        let sql = format!(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relrowsecurity, c.relforcerowsecurity \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND {SYSTEM_NAMESPACES} AND {NOT_FROM_EXTENSION}"
        );
        for row in self.query("tables", &sql)? {
            let (oid, ns, name): (Oid, String, String) = (row.get(0), row.get(1), row.get(2));
            if !self.wanted(&ns) || Self::is_bookkeeping(&ns, &name) {
                continue;
            }
            let qname = QualifiedName::new(ns, name);
            let mut table = Table::new(qname.clone());
            table.row_level_security = row.get(3);
            table.force_row_level_security = row.get(4);
            self.tables.insert(oid, (qname, table));
        }
        Ok(())
    }

    fn columns(&mut self) -> Result<(), IntrospectError> {
        let sql = "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                     pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated::text, a.attidentity::text, \
                     CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END \
                   FROM pg_attribute a \
                   JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') \
                   JOIN pg_type t ON t.oid = a.atttypid \
                   LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
                   LEFT JOIN pg_collation co ON co.oid = a.attcollation \
                   WHERE a.attnum > 0 AND NOT a.attisdropped \
                   ORDER BY a.attrelid, a.attnum";
        for row in self.query("columns", sql)? {
            let Some((_, table)) = self.tables.get_mut(&row.get::<_, Oid>(0)) else { continue };
            let expression: Option<String> = row.get(4);
            let generated: String = row.get(5);
            let identity: String = row.get(6);
            let (default, generated) = match generated.as_str() {
                "s" => (None, expression.map(|expression| Generated { expression, stored: true })),
                _ => (expression, None),
            };
            table.columns.push(Column {
                name: row.get(1),
                data_type: row.get(2),
                not_null: row.get(3),
                default,
                generated,
                // Filled in by `sequences`, which knows the identity's sequence.
                identity: match identity.as_str() {
                    "a" | "d" => Some(Identity {
                        always: identity == "a",
                        sequence: SequenceOptions {
                            data_type: String::new(),
                            start: 0,
                            increment: 0,
                            min: 0,
                            max: 0,
                            cache: 0,
                            cycle: false,
                        },
                    }),
                    _ => None,
                },
                autoincrement: false,
                collation: row.get(7),
            });
        }
        Ok(())
    }

    /// Every sequence: an identity's options go to its column; a sequence a column owns the
    /// way `serial` makes it turns that column into `serial`; the others are listed.
    fn sequences(&mut self) -> Result<(), IntrospectError> {
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, c.oid::regclass::text, format_type(s.seqtypid, NULL), \
               s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
               d.refobjid, a.attname::text, d.deptype::text \
             FROM pg_sequence s \
             JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid \
               AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i') \
             LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             WHERE {SYSTEM_NAMESPACES} AND {NOT_FROM_EXTENSION}"
        );
        for row in self.query("sequences", &sql)? {
            let (ns, name, regclass): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            let options = SequenceOptions {
                data_type: row.get(3),
                start: row.get(4),
                increment: row.get(5),
                min: row.get(6),
                max: row.get(7),
                cache: row.get(8),
                cycle: row.get(9),
            };
            let owner: Option<(Oid, String, String)> = match (row.get(10), row.get(11), row.get(12)) {
                (Some(t), Some(c), Some(d)) => Some((t, c, d)),
                _ => None,
            };
            if let Some((table_oid, column, deptype)) = &owner {
                // A sequence of a table that is not read (the bookkeeping table's `id SERIAL`,
                // a table outside the filter) goes with its table.
                let Some((_, table)) = self.tables.get_mut(table_oid) else { continue };
                if let Some(col) = table.columns.iter_mut().find(|c| &c.name == column) {
                    if deptype == "i" {
                        if let Some(identity) = &mut col.identity {
                            identity.sequence = options;
                        }
                        continue;
                    }
                    let nextval = format!("nextval('{}'::regclass)", regclass.replace('\'', "''"));
                    if col.default.as_deref() == Some(nextval.as_str()) {
                        if let Some(serial) = serial_type(&col.data_type, &options) {
                            col.data_type = serial.to_string();
                            col.default = None;
                            continue;
                        }
                    }
                }
            }
            if self.wanted(&ns) {
                let qname = QualifiedName::new(ns, name);
                self.schema.sequences.insert(qname.clone(), Sequence { name: qname, options });
            }
        }
        Ok(())
    }

    fn column_list(row: &Row, i: usize) -> Vec<String> {
        row.get::<_, Option<Vec<String>>>(i).unwrap_or_default()
    }

    fn constraints(&mut self) -> Result<(), IntrospectError> {
        let sql = "SELECT con.conrelid, con.conname::text, con.contype::text, pg_get_constraintdef(con.oid, true), \
                     con.condeferrable, con.condeferred, con.confupdtype::text, con.confdeltype::text, \
                     ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) \
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i), \
                     ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) \
                       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i), \
                     fn.nspname::text, fc.relname::text \
                   FROM pg_constraint con \
                   LEFT JOIN pg_class fc ON fc.oid = con.confrelid \
                   LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
                   WHERE con.conrelid <> 0 AND con.contype IN ('p', 'u', 'f', 'c') \
                   ORDER BY con.conrelid, con.conname";
        for row in self.query("constraints", sql)? {
            let Some((_, table)) = self.tables.get_mut(&row.get::<_, Oid>(0)) else { continue };
            let name: String = row.get(1);
            let definition: String = row.get(3);
            let columns = Self::column_list(&row, 8);
            match row.get::<_, String>(2).as_str() {
                "p" => table.primary_key = Some(PrimaryKey { name: Some(name), columns }),
                "u" => table.uniques.push(Unique {
                    name: Some(name),
                    columns,
                    nulls_not_distinct: definition.contains("NULLS NOT DISTINCT"),
                }),
                "f" => table.foreign_keys.push(ForeignKey {
                    name: Some(name),
                    columns,
                    references: QualifiedName::new(
                        row.get::<_, Option<String>>(10).unwrap_or_default(),
                        row.get::<_, Option<String>>(11).unwrap_or_default(),
                    ),
                    referenced_columns: Self::column_list(&row, 9),
                    on_update: fk_action(&row.get::<_, String>(6)),
                    on_delete: fk_action(&row.get::<_, String>(7)),
                    deferrable: match (row.get(4), row.get(5)) {
                        (false, _) => Deferrable::NotDeferrable,
                        (true, false) => Deferrable::InitiallyImmediate,
                        (true, true) => Deferrable::InitiallyDeferred,
                    },
                }),
                _ => table.checks.push(Check { name: Some(name), expression: check_condition(&definition) }),
            }
        }
        Ok(())
    }

    /// Indexes that do not implement a constraint, one row per key (and INCLUDE column).
    fn indexes(&mut self) -> Result<(), IntrospectError> {
        let sql = "SELECT i.indrelid, ic.relname::text, i.indisunique, am.amname::text, \
                     pg_get_expr(i.indpred, i.indrelid, true), k.n, k.n > i.indnkeyatts, \
                     pg_get_indexdef(i.indexrelid, k.n, true), a.attname::text, \
                     COALESCE(i.indoption[k.n - 1], 0)::int4, \
                     CASE WHEN i.indcollation[k.n - 1] <> 0 \
                       AND i.indcollation[k.n - 1] <> COALESCE(a.attcollation, 100) \
                       THEN co.collname::text END, \
                     CASE WHEN NOT opc.opcdefault THEN opc.opcname::text END \
                   FROM pg_index i \
                   JOIN pg_class ic ON ic.oid = i.indexrelid \
                   JOIN pg_am am ON am.oid = ic.relam \
                   CROSS JOIN LATERAL generate_series(1, i.indnatts) k(n) \
                   LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.n - 1] \
                     AND i.indkey[k.n - 1] <> 0 \
                   LEFT JOIN pg_collation co ON co.oid = i.indcollation[k.n - 1] \
                   LEFT JOIN pg_opclass opc ON opc.oid = i.indclass[k.n - 1] \
                   WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid \
                     AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')) \
                   ORDER BY i.indrelid, ic.relname, k.n";
        for row in self.query("indexes", sql)? {
            let Some((_, table)) = self.tables.get_mut(&row.get::<_, Oid>(0)) else { continue };
            let name: String = row.get(1);
            let method: String = row.get(3);
            let index = table.indexes.entry(name.clone()).or_insert_with(|| Index {
                name,
                unique: row.get(2),
                keys: Vec::new(),
                predicate: row.get::<_, Option<String>>(4).map(|p| strip_parens_text(&p)),
                method: (method != "btree").then_some(method),
                include: Vec::new(),
            });
            let printed: String = row.get(7);
            let column: Option<String> = row.get(8);
            if row.get::<_, bool>(6) {
                index.include.push(column.unwrap_or(printed));
                continue;
            }
            let option: i32 = row.get(9);
            let (descending, nulls_first) = (option & 1 != 0, option & 2 != 0);
            index.keys.push(IndexKey {
                target: match column {
                    Some(c) => IndexTarget::Column(c),
                    None => IndexTarget::Expression(strip_parens_text(&printed)),
                },
                descending,
                collation: row.get(10),
                nulls_not_default: descending != nulls_first,
                opclass: row.get(11),
            });
        }
        Ok(())
    }

    fn enums(&mut self) -> Result<(), IntrospectError> {
        let sql = "SELECT n.nspname::text, t.typname::text, e.enumlabel::text FROM pg_type t \
                   JOIN pg_enum e ON e.enumtypid = t.oid \
                   JOIN pg_namespace n ON n.oid = t.typnamespace \
                   WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass \
                     AND d.objid = t.oid AND d.deptype = 'e') \
                   ORDER BY n.nspname, t.typname, e.enumsortorder";
        for row in self.query("enums", sql)? {
            let ns: String = row.get(0);
            if !self.wanted(&ns) {
                continue;
            }
            let qname = QualifiedName::new(ns, row.get::<_, String>(1));
            self.schema
                .enums
                .entry(qname.clone())
                .or_insert_with(|| Enum { name: qname, values: Vec::new() })
                .values
                .push(row.get(2));
        }
        Ok(())
    }

    /// Views and materialized views: the query as PostgreSQL prints it, without the leading
    /// space and the final `;`.
    fn views(&mut self) -> Result<(), IntrospectError> {
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, pg_get_viewdef(c.oid, true), c.relkind = 'm' FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('v', 'm') AND {SYSTEM_NAMESPACES} AND {NOT_FROM_EXTENSION}"
        );
        for row in self.query("views", &sql)? {
            let ns: String = row.get(0);
            if !self.wanted(&ns) {
                continue;
            }
            let qname = QualifiedName::new(ns, row.get::<_, String>(1));
            let definition: String = row.get(2);
            self.schema.views.insert(
                qname.clone(),
                View {
                    name: qname,
                    definition: definition.trim().trim_end_matches(';').trim_end().to_string(),
                    materialized: row.get(3),
                },
            );
        }
        Ok(())
    }

    fn triggers(&mut self) -> Result<(), IntrospectError> {
        let sql = format!(
            "SELECT n.nspname::text, c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid, true) \
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT t.tgisinternal AND {SYSTEM_NAMESPACES} AND {NOT_FROM_EXTENSION}"
        );
        for row in self.query("triggers", &sql)? {
            let ns: String = row.get(0);
            let table: String = row.get(1);
            if !self.wanted(&ns) || Self::is_bookkeeping(&ns, &table) {
                continue;
            }
            let trigger = Trigger {
                name: QualifiedName::new(ns.clone(), row.get::<_, String>(2)),
                table: QualifiedName::new(ns, table),
                definition: row.get(3),
            };
            self.schema.triggers.insert(trigger.key(), trigger);
        }
        Ok(())
    }

    /// Functions and procedures that no extension owns (aggregates and window functions are
    /// not read: `pg_get_functiondef` cannot print an aggregate).
    fn functions(&mut self) -> Result<(), IntrospectError> {
        let sql = format!(
            "SELECT n.nspname::text, p.proname::text, p.prokind::text, \
               pg_get_function_identity_arguments(p.oid), pg_get_function_arguments(p.oid), \
               pg_get_function_result(p.oid), pg_get_functiondef(p.oid) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prokind IN ('f', 'p') AND {SYSTEM_NAMESPACES} \
               AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass \
                 AND e.objid = p.oid AND e.deptype = 'e')"
        );
        for row in self.query("functions", &sql)? {
            let ns: String = row.get(0);
            if !self.wanted(&ns) {
                continue;
            }
            let kind = match row.get::<_, String>(2).as_str() {
                "p" => RoutineKind::Procedure,
                _ => RoutineKind::Function,
            };
            let function = Function {
                name: QualifiedName::new(ns, row.get::<_, String>(1)),
                kind,
                arguments: row.get(3),
                parameters: row.get(4),
                returns: row.get(5),
                definition: function_definition(&row.get::<_, String>(6)),
            };
            self.schema.functions.insert(function.key(), function);
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// Row-level security policies: roles sorted (`public` for PUBLIC), expressions as
    /// `pg_get_expr` prints them.
    fn policies(&mut self) -> Result<(), IntrospectError> {
        let sql = "SELECT p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive, \
                     ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END \
                       FROM unnest(p.polroles) r ORDER BY 1), \
                     pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) \
                   FROM pg_policy p ORDER BY p.polrelid, p.polname";
        for row in self.query("policies", sql)? {
            let Some((_, table)) = self.tables.get_mut(&row.get::<_, Oid>(0)) else { continue };
            let name: String = row.get(1);
            let command = match row.get::<_, String>(2).as_str() {
                "r" => PolicyCommand::Select,
                "a" => PolicyCommand::Insert,
                "w" => PolicyCommand::Update,
                "d" => PolicyCommand::Delete,
                _ => PolicyCommand::All,
            };
            let policy = Policy {
                name: name.clone(),
                permissive: row.get(3),
                command,
                roles: row.get(4),
                using: row.get(5),
                with_check: row.get(6),
            };
            table.policies.insert(name, policy);
        }
        Ok(())
    }

    /// Extensions but `plpgsql`, with their namespace when it is not `public`.
    fn extensions(&mut self) -> Result<(), IntrospectError> {
        let sql = "SELECT e.extname::text, n.nspname::text FROM pg_extension e \
                   JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'";
        for row in self.query("extensions", sql)? {
            let (name, ns): (String, String) = (row.get(0), row.get(1));
            if !self.wanted(&ns) {
                continue;
            }
            let schema = (ns != "public").then_some(ns);
            self.schema.extensions.insert(name.clone(), Extension { name, schema });
        }
        Ok(())
    }
}

/// A function's definition in normal form: `\n` line endings, no trailing whitespace.
fn function_definition(printed: &str) -> String {
    printed.replace("\r\n", "\n").trim_end().to_string()
}

fn fk_action(code: &str) -> Action {
    match code {
        "r" => Action::Restrict,
        "c" => Action::Cascade,
        "n" => Action::SetNull,
        "d" => Action::SetDefault,
        _ => Action::NoAction,
    }
}

/// `serial`, `bigserial` or `smallserial` when a sequence has the options that one gives
/// its column of type `data_type`.
fn serial_type(data_type: &str, o: &SequenceOptions) -> Option<&'static str> {
    let (serial, max) = match data_type {
        "integer" => ("serial", i64::from(i32::MAX)),
        "bigint" => ("bigserial", i64::MAX),
        "smallint" => ("smallserial", i64::from(i16::MAX)),
        _ => return None,
    };
    let plain = o.data_type == data_type
        && o.start == 1
        && o.increment == 1
        && o.min == 1
        && o.max == max
        && o.cache == 1
        && !o.cycle;
    plain.then_some(serial)
}

/// `CHECK ((a > 0)) NOT VALID` → `a > 0`: the condition as PostgreSQL prints it, without the
/// keyword, its parentheses, the extra ones PostgreSQL adds, and trailing options.
fn check_condition(definition: &str) -> String {
    let tokens = tokenize(definition, Lexer::Postgres);
    let inside = match tokens.as_slice() {
        [check, rest @ ..] if check.is_word("CHECK") && rest.first().is_some_and(|t| t.is("(")) => {
            match super::matching_paren(rest, 0) {
                Some(close) => &rest[1..close],
                None => rest,
            }
        }
        all => all,
    };
    slice_text(definition, strip_wrapping_parens(inside))
}

/// An expression as printed, without parentheses around the whole of it.
fn strip_parens_text(text: &str) -> String {
    let tokens = tokenize(text, Lexer::Postgres);
    slice_text(text, strip_wrapping_parens(&tokens))
}

/// The original text that `tokens` cover.
fn slice_text(text: &str, tokens: &[Token<'_>]) -> String {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => text[first.start..last.end()].to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_conditions_lose_their_wrapping() {
        assert_eq!(
            check_condition("CHECK ((status = ANY (ARRAY['draft'::text, 'published'::text])))"),
            "status = ANY (ARRAY['draft'::text, 'published'::text])"
        );
        assert_eq!(check_condition("CHECK (a > 0) NOT VALID"), "a > 0");
        assert_eq!(check_condition("CHECK ((a > 0) AND (b > 0))"), "(a > 0) AND (b > 0)");
        assert_eq!(check_condition("CHECK (((a)::text <> ''::text))"), "(a)::text <> ''::text");
    }

    #[test]
    fn serial_needs_the_options_serial_gives() {
        let o = |data_type: &str, max: i64| SequenceOptions {
            data_type: data_type.into(),
            start: 1,
            increment: 1,
            min: 1,
            max,
            cache: 1,
            cycle: false,
        };
        assert_eq!(serial_type("integer", &o("integer", 2147483647)), Some("serial"));
        assert_eq!(serial_type("bigint", &o("bigint", i64::MAX)), Some("bigserial"));
        assert_eq!(serial_type("smallint", &o("smallint", 32767)), Some("smallserial"));
        assert_eq!(serial_type("integer", &o("bigint", i64::MAX)), None);
        assert_eq!(serial_type("integer", &SequenceOptions { start: 100, ..o("integer", 2147483647) }), None);
        assert_eq!(serial_type("text", &o("integer", 2147483647)), None);
    }
}
