//! Before serving: where the project is, and whether the database's migrations match the
//! migrations folder. The server refuses to start on pending or modified migrations, with a
//! message that says to run `cargo xtask migrate`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use cms_db::error::DbError;
use cms_db::migrate::migrator;
use cms_db::migrate::plan::{EntryState, Status};
use cms_db::url::DatabaseUrl;
use cms_db::MigrationSet;

/// The migrations folder of `url`'s dialect under `root` (`migrations/sqlite`, …).
pub fn migrations_dir(root: &Path, url: &DatabaseUrl) -> PathBuf {
    root.join(url.dialect().default_folder())
}

/// Whether the database matches the migrations folder; `/health` shows it as `ok`, `pending`
/// or `drift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Every migration is applied and nothing has drifted.
    Ok,
    /// Migrations to apply, nothing else wrong.
    Pending,
    /// Modified, missing, out of order or unknown migrations: `migrate` alone will not do.
    Drift,
}

/// The migration state as `/health` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    pub applied: usize,
    pub pending: usize,
    pub state: Readiness,
    /// Pending migrations by tag, then every problem in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl MigrationState {
    /// Summarises a status (pure).
    pub fn from_status(st: &Status) -> MigrationState {
        let applied = st.entries.iter().filter(|e| matches!(e.state, EntryState::Applied { .. })).count();
        let pending_tags: Vec<&str> =
            st.entries.iter().filter(|e| e.state == EntryState::Pending).map(|e| e.tag.as_str()).collect();
        // Files the journal does not list never run (drizzle-orm ignores them too): not drift.
        let findings: Vec<String> =
            st.findings().iter().filter(|f| f.blocks_migrate(false)).map(ToString::to_string).collect();
        let state = if !findings.is_empty() {
            Readiness::Drift
        } else if !pending_tags.is_empty() {
            Readiness::Pending
        } else {
            Readiness::Ok
        };
        let mut problems = Vec::new();
        if !pending_tags.is_empty() {
            problems.push(format!("{} pending migration(s): {}", pending_tags.len(), pending_tags.join(", ")));
        }
        problems.extend(findings);
        MigrationState { applied, pending: pending_tags.len(), state, problems }
    }
}

/// Why the server will not start.
#[derive(Debug)]
pub enum StartupError {
    Database(DbError),
    NotReady { url: String, state: MigrationState },
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Database(e) => write!(f, "{e}"),
            StartupError::NotReady { url, state } => {
                writeln!(f, "the database {url} does not match the migrations folder, so the server will not start:")?;
                for p in &state.problems {
                    writeln!(f, "  - {p}")?;
                }
                if state.state == Readiness::Drift {
                    write!(
                        f,
                        "fix the problems above (see `cargo xtask status`), then run `cargo xtask migrate` and start the server again"
                    )
                } else {
                    write!(
                        f,
                        "run `cargo xtask migrate` (or `cargo xtask reset-complete` for a fresh dev database), then start the server again"
                    )
                }
            }
        }
    }
}

/// A database error reads as itself: its text here, its causes after it.
impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartupError::Database(e) => std::error::Error::source(e),
            StartupError::NotReady { .. } => None,
        }
    }
}

/// Reads the migration state without changing anything (an SQLite file that does not exist
/// reads as nothing applied).
pub fn migration_state(url: &DatabaseUrl, dir: &Path) -> Result<MigrationState, DbError> {
    let set = MigrationSet::load(dir)?;
    set.expect_dialect(url.dialect())?;
    let mut driver = cms_db::driver(url, true)?;
    let status = migrator::status(driver.as_mut(), &set)?;
    Ok(MigrationState::from_status(&status))
}

/// Ok when every migration in `dir` is applied and nothing has drifted.
pub fn check(url: &DatabaseUrl, dir: &Path) -> Result<MigrationState, StartupError> {
    let state = migration_state(url, dir).map_err(StartupError::Database)?;
    if state.state == Readiness::Ok {
        Ok(state)
    } else {
        Err(StartupError::NotReady { url: url.redacted(), state })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::migrate::plan::EntryStatus;

    fn status(states: Vec<EntryState>) -> Status {
        let entries = states
            .into_iter()
            .enumerate()
            .map(|(i, state)| EntryStatus { idx: i as i64, tag: format!("000{i}_m"), when: i as i64, state })
            .collect();
        Status { entries, orphans: Vec::new(), journal_problems: Vec::new() }
    }

    #[test]
    fn states() {
        let ok = MigrationState::from_status(&status(vec![EntryState::Applied { applied_at: None }; 2]));
        assert_eq!((ok.applied, ok.pending, ok.state), (2, 0, Readiness::Ok));
        assert!(ok.problems.is_empty());

        let pending =
            MigrationState::from_status(&status(vec![EntryState::Applied { applied_at: None }, EntryState::Pending]));
        assert_eq!((pending.applied, pending.pending, pending.state), (1, 1, Readiness::Pending));
        assert_eq!(pending.problems, ["1 pending migration(s): 0001_m"]);
        let msg = StartupError::NotReady { url: "file:x".into(), state: pending }.to_string();
        assert!(msg.contains("cargo xtask migrate") && msg.contains("0001_m"), "{msg}");

        let drift = MigrationState::from_status(&status(vec![
            EntryState::Modified { applied_at: None, line_endings_only: false },
            EntryState::Pending,
        ]));
        assert_eq!(drift.state, Readiness::Drift);
        assert!(drift.problems.iter().any(|p| p.contains("0000_m was applied but its file has changed")));
        let msg = StartupError::NotReady { url: "file:x".into(), state: drift }.to_string();
        assert!(msg.contains("cargo xtask migrate") && msg.contains("cargo xtask status"), "{msg}");
    }

    #[test]
    fn readiness_is_serialised_as_the_words_health_has_always_shown() {
        for (r, word) in [(Readiness::Ok, "ok"), (Readiness::Pending, "pending"), (Readiness::Drift, "drift")] {
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(word));
        }
        let ok = MigrationState { applied: 6, pending: 0, state: Readiness::Ok, problems: Vec::new() };
        assert_eq!(serde_json::to_value(ok).unwrap(), serde_json::json!({"applied":6,"pending":0,"state":"ok"}));
    }
}
