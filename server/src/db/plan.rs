//! Pure planning: given a migrations folder and the bookkeeping rows of a database, what is
//! applied, pending, modified, missing or out of order, and what `migrate` would run.
//!
//! drizzle-orm treats every entry whose `when` is at most max(created_at) as applied. We match
//! rows to entries one by one (by hash first, then by `when`), so nothing is silently skipped.

use std::fmt;

use serde::Serialize;

use crate::db::error::DbError;
use crate::db::journal::{Migration, MigrationSet};

/// A row of `__drizzle_migrations`, whoever wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppliedRow {
    pub hash: String,
    pub created_at: Option<i64>,
    /// Our own extra columns; absent in rows written by drizzle-orm.
    pub name: Option<String>,
    pub applied_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryState {
    Applied {
        applied_at: Option<i64>,
    },
    Pending,
    /// Pending, but a later journal entry is already applied (a migration merged late).
    OutOfOrder {
        later: String,
    },
    /// Applied, but the file's bytes are not what was applied.
    Modified {
        applied_at: Option<i64>,
        line_endings_only: bool,
    },
    /// The journal lists it but its file is gone.
    FileMissing {
        applied: bool,
    },
}

impl EntryState {
    pub fn label(&self) -> &'static str {
        match self {
            EntryState::Applied { .. } => "applied",
            EntryState::Pending => "pending",
            EntryState::OutOfOrder { .. } => "out of order",
            EntryState::Modified { .. } => "modified",
            EntryState::FileMissing { .. } => "file missing",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EntryStatus {
    pub idx: i64,
    pub tag: String,
    pub when: i64,
    #[serde(flatten)]
    pub state: EntryState,
}

/// The whole picture `status` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub entries: Vec<EntryStatus>,
    /// Applied rows that match no journal entry: an applied migration whose file is gone.
    pub orphans: Vec<AppliedRow>,
    pub journal_problems: Vec<String>,
}

/// One thing that is wrong, for `check` and for `migrate`'s refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding(pub String);

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Status {
    pub fn compute(set: &MigrationSet, rows: &[AppliedRow]) -> Status {
        let n = set.migrations.len();
        let mut matched: Vec<Option<usize>> = vec![None; n]; // entry -> row
        let mut row_used = vec![false; rows.len()];

        // 1. By hash, preferring the entry whose `when` equals the row's created_at.
        for (r, row) in rows.iter().enumerate() {
            let candidates = (0..n).filter(|&e| {
                matched[e].is_none() && set.migrations[e].file.as_ref().is_some_and(|f| f.hash == row.hash)
            });
            let mut best = None;
            for e in candidates {
                if Some(set.migrations[e].when) == row.created_at {
                    best = Some(e);
                    break;
                }
                best.get_or_insert(e);
            }
            if let Some(e) = best {
                matched[e] = Some(r);
                row_used[r] = true;
            }
        }
        // 2. By `when`, for rows whose hash matched nothing: an edited or deleted file.
        for (r, row) in rows.iter().enumerate() {
            if row_used[r] {
                continue;
            }
            if let Some(e) = (0..n).find(|&e| matched[e].is_none() && Some(set.migrations[e].when) == row.created_at) {
                matched[e] = Some(r);
                row_used[r] = true;
            }
        }

        let last_applied = (0..n).rev().find(|&e| matched[e].is_some());
        let entries = set
            .migrations
            .iter()
            .enumerate()
            .map(|(e, m)| {
                let state = match (matched[e], &m.file) {
                    (Some(r), Some(file)) if file.hash == rows[r].hash => {
                        EntryState::Applied { applied_at: rows[r].applied_at }
                    }
                    (Some(r), Some(file)) => EntryState::Modified {
                        applied_at: rows[r].applied_at,
                        line_endings_only: file.matches_modulo_line_endings(&rows[r].hash),
                    },
                    (Some(_), None) => EntryState::FileMissing { applied: true },
                    (None, None) => EntryState::FileMissing { applied: false },
                    (None, Some(_)) => match last_applied {
                        Some(l) if l > e => EntryState::OutOfOrder { later: set.migrations[l].tag.clone() },
                        _ => EntryState::Pending,
                    },
                };
                EntryStatus { idx: m.idx, tag: m.tag.clone(), when: m.when, state }
            })
            .collect();
        let orphans = rows.iter().zip(&row_used).filter(|(_, used)| !**used).map(|(r, _)| r.clone()).collect();
        let journal_problems = set.problems.iter().map(ToString::to_string).collect();
        Status { entries, orphans, journal_problems }
    }

    pub fn count(&self, label: &str) -> usize {
        self.entries.iter().filter(|e| e.state.label() == label).count()
    }

    /// Everything that is neither applied nor pending, worded for a person.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.journal_problems.iter().cloned().map(Finding).collect();
        for e in &self.entries {
            let text = match &e.state {
                EntryState::Applied { .. } | EntryState::Pending | EntryState::FileMissing { applied: false } => continue,
                EntryState::Modified { line_endings_only: true, .. } => format!(
                    "migration {} was applied but its file has changed: only its line endings differ (restore LF endings, e.g. `git checkout -- {}.sql` with `*.sql text eol=lf` in .gitattributes)",
                    e.tag, e.tag
                ),
                EntryState::Modified { line_endings_only: false, .. } => format!(
                    "migration {} was applied but its file has changed; revert the edit and put the change in a new migration",
                    e.tag
                ),
                EntryState::FileMissing { applied: true } => format!(
                    "migration {} was applied but its file {}.sql is missing; restore it from version control",
                    e.tag, e.tag
                ),
                EntryState::OutOfOrder { later } => format!(
                    "migration {} is pending but the later migration {later} is already applied (merged late from a branch?); run `migrate --allow-out-of-order` to apply it anyway, or move it after {later}",
                    e.tag
                ),
            };
            out.push(Finding(text));
        }
        for o in &self.orphans {
            let name = o.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            let when = o.created_at.map_or("unknown".to_string(), |w| w.to_string());
            out.push(Finding(format!(
                "the database has an applied migration{name} with hash {}… and created_at {when} that no journal entry matches: its file or journal entry was deleted; restore them",
                &o.hash[..o.hash.len().min(12)]
            )));
        }
        out
    }
}

/// Which migrations `migrate` runs, in journal order; an error listing every finding when the
/// folder and the database disagree.
pub fn plan<'a>(
    set: &'a MigrationSet,
    status: &Status,
    allow_out_of_order: bool,
) -> Result<Vec<&'a Migration>, DbError> {
    let findings: Vec<String> = status
        .findings()
        .into_iter()
        .filter(|f| !(allow_out_of_order && f.0.contains("--allow-out-of-order")))
        .map(|f| f.0)
        .collect();
    let missing: Vec<String> = status
        .entries
        .iter()
        .filter(|e| matches!(e.state, EntryState::FileMissing { applied: false }))
        .filter(|e| !status.journal_problems.iter().any(|p| p.contains(&format!("entry {} has no file", e.tag))))
        .map(|e| format!("journal entry {} has no file", e.tag))
        .collect();
    let all: Vec<String> = findings.into_iter().chain(missing).collect();
    if !all.is_empty() {
        return Err(DbError::Drift(all));
    }
    Ok(set
        .migrations
        .iter()
        .zip(&status.entries)
        .filter(|(_, s)| matches!(s.state, EntryState::Pending | EntryState::OutOfOrder { .. }))
        .map(|(m, _)| m)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::journal::{Dialect, MigrationFile};

    fn set(entries: &[(&str, i64, Option<&str>)]) -> MigrationSet {
        MigrationSet {
            dir: "m".into(),
            dialect: Dialect::Sqlite,
            journal_version: "7".into(),
            migrations: entries
                .iter()
                .enumerate()
                .map(|(i, (tag, when, body))| Migration {
                    idx: i as i64,
                    tag: tag.to_string(),
                    when: *when,
                    breakpoints: true,
                    file: body.map(|b| {
                        MigrationFile::from_bytes(format!("{tag}.sql").into(), b.as_bytes().to_vec()).unwrap()
                    }),
                })
                .collect(),
            problems: vec![],
        }
    }

    fn row(body: &str, when: i64) -> AppliedRow {
        AppliedRow {
            hash: crate::db::journal::sha256_hex(body.as_bytes()),
            created_at: Some(when),
            name: None,
            applied_at: None,
        }
    }

    fn labels(s: &Status) -> Vec<&'static str> {
        s.entries.iter().map(|e| e.state.label()).collect()
    }

    #[test]
    fn fresh_database_has_everything_pending() {
        let s = set(&[("a", 1, Some("A")), ("b", 2, Some("B"))]);
        let st = Status::compute(&s, &[]);
        assert_eq!(labels(&st), ["pending", "pending"]);
        assert_eq!(plan(&s, &st, false).unwrap().len(), 2);
    }

    #[test]
    fn applied_by_hash_even_when_when_differs() {
        let s = set(&[("a", 1, Some("A")), ("b", 2, Some("B"))]);
        let st = Status::compute(&s, &[row("A", 99)]);
        assert_eq!(labels(&st), ["applied", "pending"]);
        assert!(st.findings().is_empty());
    }

    #[test]
    fn late_merge_is_out_of_order_not_skipped() {
        // drizzle-orm would skip `b` (when 2 <= max(created_at) 3) without a word.
        let s = set(&[("a", 1, Some("A")), ("b", 2, Some("B")), ("c", 3, Some("C"))]);
        let st = Status::compute(&s, &[row("A", 1), row("C", 3)]);
        assert_eq!(labels(&st), ["applied", "out of order", "applied"]);
        let err = plan(&s, &st, false).unwrap_err().to_string();
        assert!(err.contains("migration b is pending but the later migration c"), "{err}");
        let planned = plan(&s, &st, true).unwrap();
        assert_eq!(planned.iter().map(|m| m.tag.as_str()).collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn when_going_backwards_follows_journal_order() {
        let s = set(&[("a", 5, Some("A")), ("b", 3, Some("B")), ("c", 4, Some("C"))]);
        let st = Status::compute(&s, &[row("A", 5)]);
        assert_eq!(labels(&st), ["applied", "pending", "pending"]);
        let planned: Vec<_> = plan(&s, &st, false).unwrap().iter().map(|m| m.tag.clone()).collect();
        assert_eq!(planned, ["b", "c"]);
    }

    #[test]
    fn edits_are_told_apart_from_line_endings() {
        let s = set(&[("a", 1, Some("X;\r\nY;\r\n")), ("b", 2, Some("edited"))]);
        let st = Status::compute(&s, &[row("X;\nY;\n", 1), row("original", 2)]);
        assert_eq!(st.entries[0].state, EntryState::Modified { applied_at: None, line_endings_only: true });
        assert_eq!(st.entries[1].state, EntryState::Modified { applied_at: None, line_endings_only: false });
        let f = st.findings();
        assert!(f[0].0.contains("only its line endings differ"));
        assert!(f[1].0.contains("migration b was applied but its file has changed"));
        assert!(plan(&s, &st, true).is_err());
    }

    #[test]
    fn deleted_files_and_entries() {
        let s = set(&[("a", 1, Some("A")), ("b", 2, None)]);
        let st = Status::compute(&s, &[row("A", 1), row("B", 2), row("Z", 9)]);
        assert_eq!(labels(&st), ["applied", "file missing"]);
        assert_eq!(st.orphans.len(), 1);
        let f = st.findings();
        assert!(f.iter().any(|x| x.0.contains("migration b was applied but its file b.sql is missing")));
        assert!(f.iter().any(|x| x.0.contains("no journal entry matches")));
    }

    #[test]
    fn identical_files_match_distinct_rows() {
        let s = set(&[("a", 1, Some("same")), ("b", 2, Some("same"))]);
        let st = Status::compute(&s, &[row("same", 2)]);
        assert_eq!(labels(&st), ["out of order", "applied"]);
        let st = Status::compute(&s, &[row("same", 1), row("same", 2)]);
        assert_eq!(labels(&st), ["applied", "applied"]);
    }
}
