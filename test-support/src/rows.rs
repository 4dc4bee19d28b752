//! Every row of a database as text, read with plain SQL (independent of the code that wrote
//! them), in a stable order: two equal dumps hold the same rows. One line per row,
//! `table: row`, tables by name, rows in the order of their text (PostgreSQL) or of their first
//! column (SQLite).

use std::path::Path;

use postgres::GenericClient;
use rusqlite::{Connection, OpenFlags};

use crate::project::Project;

/// Drizzle's bookkeeping table on SQLite, which `migrate` writes (on PostgreSQL it lives in the
/// `drizzle` schema, which [`postgres`] does not read). Pass it in `except` for the
/// application's rows only.
pub const BOOKKEEPING: &str = "__drizzle_migrations";

/// The rows of every table of the SQLite database `db` but SQLite's own (`sqlite_…`) and
/// `except`, each value shown with its storage class and the values of a row joined by `|`.
/// The file is opened read-only.
pub fn sqlite(db: &Path, except: &[&str]) -> String {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", db.display()));
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = String::new();
    for table in tables.iter().filter(|t| !except.contains(&t.as_str())) {
        let mut st = conn.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1")).unwrap();
        let n = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let cells: Vec<String> = (0..n).map(|i| format!("{:?}", row.get_ref(i).unwrap())).collect();
            out.push_str(&format!("{table}: {}\n", cells.join("|")));
        }
    }
    out
}

/// The rows of every base table of the schema `public` but `except`, as `client` sees them
/// (inside its transaction, when one is open), each row as PostgreSQL writes it as text.
pub fn postgres(client: &mut impl GenericClient, except: &[&str]) -> String {
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
              WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = String::new();
    for table in tables.iter().filter(|t| !except.contains(&t.as_str())) {
        for row in client.query(&format!("SELECT t::text FROM \"{table}\" t ORDER BY 1"), &[]).unwrap() {
            out.push_str(&format!("{table}: {}\n", row.get::<_, String>(0)));
        }
    }
    out
}

/// Every application row of the project's database: its SQLite file but Drizzle's bookkeeping
/// ([`sqlite`]), or the PostgreSQL database its `DATABASE_URL` names ([`postgres`]).
pub fn application(p: &Project) -> String {
    match p.database_url() {
        None => sqlite(&p.sqlite_db(), &[BOOKKEEPING]),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let mut client = ::postgres::Client::connect(url, ::postgres::NoTls)
                .unwrap_or_else(|e| panic!("cannot connect to the project's database: {e}"));
            postgres(&mut client, &[])
        }
        Some(url) if url == format!("file:{}", p.sqlite_db().display()) => sqlite(&p.sqlite_db(), &[BOOKKEEPING]),
        Some(url) => panic!("{url} is neither the project's SQLite file nor a PostgreSQL database"),
    }
}
