//! Reading one page of a grid: the keyset query of [`query::grid_query`], after SQLite's probe
//! for filters that match too many rows to be read through their index
//! ([`query::probe_query`]).

use cms_db::connection::{Row, Sql, Value};

use super::catalog::{Catalog, Relation};
use super::error::StudioError;
use super::query::{self, Grid, PROBE_CAP};

/// The rows of one page (at most `grid.limit + 1`, in query order; see [`Grid::reversed`]).
pub fn page(tx: &mut dyn Sql, catalog: &Catalog, rel: &Relation, grid: &mut Grid) -> Result<Vec<Row>, StudioError> {
    if let Some(probe) = query::probe_query(catalog.dialect, rel, grid)? {
        let matching = tx.query(&probe.sql, &probe.params)?.first().and_then(|r| r.first()).and_then(Value::int);
        grid.key_order = matching.is_some_and(|n| n as u64 >= PROBE_CAP);
    }
    let q = query::grid_query(catalog.dialect, rel, grid)?;
    Ok(tx.query(&q.sql, &q.params)?)
}
