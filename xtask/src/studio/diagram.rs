//! The schema diagram: one box per table (its columns, key and foreign-key columns marked),
//! one curve per foreign key, drawn as SVG by the binary. Tables are placed in columns by
//! foreign-key depth (a table right of every table it references), so edges run left to
//! right; within a column, tables sit near the tables they reference.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::catalog::{Catalog, Kind, RowKey};
use super::pages::path_segment;

const BOX_WIDTH: i64 = 230;
const GAP_X: i64 = 110;
const GAP_Y: i64 = 28;
const HEADER: i64 = 26;
const ROW: i64 = 18;
const MARGIN: i64 = 16;

/// XML text: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    } else {
        s.to_string()
    }
}

struct Placed {
    x: i64,
    y: i64,
    height: i64,
}

/// Each table's column of the layout: 0 for tables referencing no other table, else one more
/// than the deepest table it references. A cycle of foreign keys (sites ⇄ environments) is
/// cut where a depth-first walk in name order meets it again.
fn levels(catalog: &Catalog, tables: &[String]) -> BTreeMap<String, usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done(usize),
    }
    fn visit(catalog: &Catalog, t: &str, state: &mut BTreeMap<String, State>) -> usize {
        match state.get(t).copied() {
            Some(State::Done(level)) => return level,
            Some(State::Open) | None => return 0,
            Some(State::New) => {}
        }
        state.insert(t.to_string(), State::Open);
        let mut level = 0;
        for fk in &catalog.relations[t].foreign_keys {
            let parent = catalog.display_of(&fk.references);
            if parent != t && state.get(&parent) != Some(&State::Open) && state.contains_key(&parent) {
                level = level.max(visit(catalog, &parent, state) + 1);
            }
        }
        state.insert(t.to_string(), State::Done(level));
        level
    }
    let mut state: BTreeMap<String, State> = tables.iter().map(|t| (t.clone(), State::New)).collect();
    tables.iter().map(|t| (t.clone(), visit(catalog, t, &mut state))).collect()
}

/// The diagram of every table and foreign key.
pub fn svg(catalog: &Catalog) -> String {
    let tables: Vec<String> =
        catalog.relations.values().filter(|r| r.kind == Kind::Table).map(|r| r.display.clone()).collect();
    let level = levels(catalog, &tables);
    let columns = level.values().copied().max().map_or(0, |m| m + 1);
    let mut placed: BTreeMap<String, Placed> = BTreeMap::new();
    let mut height = 0;
    for col in 0..columns {
        let mut here: Vec<&String> = tables.iter().filter(|t| level[*t] == col).collect();
        // Near the tables they reference: by the mean y of their parents placed so far.
        let anchor = |t: &String| -> f64 {
            let ys: Vec<f64> = catalog.relations[t]
                .foreign_keys
                .iter()
                .filter_map(|fk| placed.get(&catalog.display_of(&fk.references)))
                .map(|p| p.y as f64)
                .collect();
            if ys.is_empty() {
                f64::MAX
            } else {
                ys.iter().sum::<f64>() / ys.len() as f64
            }
        };
        let mut keyed: Vec<(f64, &String)> = here.drain(..).map(|t| (anchor(t), t)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut y = MARGIN;
        for (_, t) in keyed {
            let h = HEADER + ROW * catalog.relations[t].columns.len() as i64 + 6;
            placed.insert(t.clone(), Placed { x: MARGIN + col as i64 * (BOX_WIDTH + GAP_X), y, height: h });
            y += h + GAP_Y;
        }
        height = height.max(y);
    }
    let width = MARGIN * 2 + columns as i64 * BOX_WIDTH + (columns as i64 - 1).max(0) * GAP_X;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="tables and foreign keys">"#,
        w = width.max(200),
        h = height.max(60)
    );
    out.push_str(r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>"#);
    // Edges first, under the boxes.
    for t in &tables {
        let rel = &catalog.relations[t];
        let Some(child) = placed.get(t) else { continue };
        for fk in &rel.foreign_keys {
            let parent_name = catalog.display_of(&fk.references);
            let Some(parent) = placed.get(&parent_name) else { continue };
            let row_of =
                |table: &str, col: &str| -> i64 { catalog.relations[table].column_index(col).map_or(0, |i| i as i64) };
            let cy = child.y + HEADER + ROW * row_of(t, fk.columns.first().map_or("", String::as_str)) + ROW / 2 + 2;
            let py = parent.y
                + HEADER
                + ROW * row_of(&parent_name, fk.referenced_columns.first().map_or("", String::as_str))
                + ROW / 2
                + 2;
            let title = format!(
                "{}({}) → {}({}) ON DELETE {}",
                t,
                fk.columns.join(", "),
                parent_name,
                fk.referenced_columns.join(", "),
                fk.on_delete.sql()
            );
            let d = if parent_name == *t {
                let x = child.x + BOX_WIDTH;
                format!("M{x},{cy} C{},{cy} {},{py} {x},{py}", x + 40, x + 40)
            } else if parent.x < child.x {
                let (x1, x2) = (child.x, parent.x + BOX_WIDTH);
                let mid = (x1 + x2) / 2;
                format!("M{x1},{cy} C{mid},{cy} {mid},{py} {x2},{py}")
            } else {
                // Same column or to the right (a cycle): around the left side.
                let (x1, x2) = (child.x, parent.x);
                let out_x = x1.min(x2) - 40;
                format!("M{x1},{cy} C{out_x},{cy} {out_x},{py} {x2},{py}")
            };
            let _ = write!(
                out,
                r#"<path class="edge" d="{d}" marker-end="url(#arrow)"><title>{}</title></path>"#,
                escape(&title)
            );
        }
    }
    for t in &tables {
        let rel = &catalog.relations[t];
        let p = &placed[t];
        let pk: &[String] = match &rel.key {
            RowKey::Primary(k) => k,
            _ => &[],
        };
        let _ = write!(
            out,
            r#"<a href="/t/{}" class="table-box"><rect class="box" x="{}" y="{}" width="{BOX_WIDTH}" height="{}" rx="6"/><rect class="box-head" x="{}" y="{}" width="{BOX_WIDTH}" height="{HEADER}" rx="6"/><text class="box-title" x="{}" y="{}">{}</text>"#,
            escape(&path_segment(t)),
            p.x,
            p.y,
            p.height,
            p.x,
            p.y,
            p.x + 10,
            p.y + 18,
            escape(&clip(t, 28))
        );
        for (i, c) in rel.columns.iter().enumerate() {
            let y = p.y + HEADER + ROW * i as i64 + ROW / 2 + 6;
            let mark = if pk.contains(&c.name) {
                "PK"
            } else if rel.foreign_keys.iter().any(|fk| fk.columns.contains(&c.name)) {
                "FK"
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<text class="col-mark" x="{}" y="{y}">{mark}</text><text class="col-name{}" x="{}" y="{y}">{}</text><text class="col-type" x="{}" y="{y}" text-anchor="end">{}</text>"#,
                p.x + 8,
                if c.not_null { " not-null" } else { "" },
                p.x + 32,
                escape(&clip(&c.name, 18)),
                p.x + BOX_WIDTH - 8,
                escape(&clip(&c.data_type.to_ascii_lowercase(), 14))
            );
        }
        out.push_str("</a>");
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::connection::Connection;

    #[test]
    fn draws_every_table_and_foreign_key_escaped() {
        let raw = cms_db::sqlite::open_in_memory().unwrap();
        raw.execute_batch(
            "CREATE TABLE \"a<b\" (id INTEGER PRIMARY KEY);
             CREATE TABLE c (id INTEGER PRIMARY KEY, ab INTEGER REFERENCES \"a<b\"(id) ON DELETE CASCADE,
                             parent INTEGER REFERENCES c(id));",
        )
        .unwrap();
        let schema = cms_db::schema::introspect::sqlite(&raw).unwrap();
        let catalog = Catalog::build(schema, &mut Connection::Sqlite(raw), String::new()).unwrap();
        let svg = svg(&catalog);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"), "{svg}");
        assert_eq!(svg.matches("class=\"edge\"").count(), 2);
        assert_eq!(svg.matches("class=\"table-box\"").count(), 2);
        assert!(svg.contains("ON DELETE CASCADE"));
        let level = levels(&catalog, &["a<b".to_string(), "c".to_string()]);
        assert_eq!((level["a<b"], level["c"]), (0, 1));
    }

    #[test]
    fn a_cycle_of_foreign_keys_is_cut() {
        let raw = cms_db::sqlite::open_in_memory().unwrap();
        raw.execute_batch(
            "CREATE TABLE teams (id INTEGER PRIMARY KEY);
             CREATE TABLE sites (id INTEGER PRIMARY KEY, team INTEGER REFERENCES teams(id), env INTEGER REFERENCES envs(id));
             CREATE TABLE envs (id INTEGER PRIMARY KEY, site INTEGER REFERENCES sites(id));
             CREATE TABLE pages (id INTEGER PRIMARY KEY, env INTEGER REFERENCES envs(id));",
        )
        .unwrap();
        let schema = cms_db::schema::introspect::sqlite(&raw).unwrap();
        let catalog = Catalog::build(schema, &mut Connection::Sqlite(raw), String::new()).unwrap();
        let tables: Vec<String> = catalog.relations.keys().cloned().collect();
        let level = levels(&catalog, &tables);
        assert_eq!((level["teams"], level["sites"], level["envs"], level["pages"]), (0, 1, 2, 3));
        assert!(svg(&catalog).contains("class=\"edge\""));
    }
}
