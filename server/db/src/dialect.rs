//! The two databases the CMS runs on. One type for the migrator, the connections and the
//! schema engine.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    #[serde(rename = "postgresql")]
    Postgres,
}

impl Dialect {
    /// Drizzle Kit spells the dialect `sqlite` (also `turso`) or `postgresql` (older journals:
    /// `pg`).
    pub fn from_journal(s: &str) -> Option<Dialect> {
        match s.to_ascii_lowercase().as_str() {
            "sqlite" | "turso" => Some(Dialect::Sqlite),
            "postgresql" | "postgres" | "pg" => Some(Dialect::Postgres),
            _ => None,
        }
    }

    /// The default migrations folder below the project root.
    pub fn default_folder(self) -> &'static str {
        match self {
            Dialect::Sqlite => "migrations/sqlite",
            Dialect::Postgres => "migrations/postgresql",
        }
    }

    /// The namespace objects live in when none is given.
    pub fn default_schema(self) -> &'static str {
        match self {
            Dialect::Sqlite => "main",
            Dialect::Postgres => "public",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
        })
    }
}
