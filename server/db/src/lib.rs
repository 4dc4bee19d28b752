//! `cms-db`: everything that talks to a database, no web code. The schema engine lives in
//! [`schema`]: every schema is introspected from a real database into a plain [`schema::Schema`]
//! value, compared by pure functions and rendered as each dialect's DDL.

pub mod schema;
