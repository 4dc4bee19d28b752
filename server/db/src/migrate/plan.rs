//! Pure planning: given a migrations folder and the bookkeeping rows of a database, what is
//! applied, pending, modified, missing or out of order, and what `migrate` would run.
//!
//! drizzle-orm treats every entry whose `when` is at most max(created_at) as applied. We match
//! rows to entries one by one (by hash first, then by `when`), so nothing is silently skipped.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use serde::Serialize;

use crate::error::DbError;
use crate::migrate::journal::{printable, JournalProblem, Migration, MigrationSet};

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
    /// Serialised in words, as `status --json` has always shown them.
    #[serde(serialize_with = "as_words")]
    pub journal_problems: Vec<JournalProblem>,
}

fn as_words<S: serde::Serializer>(problems: &[JournalProblem], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(problems.iter().map(ToString::to_string))
}

/// One thing that is wrong, for `check` and for `migrate`'s refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The folder itself is malformed (or carries files the journal does not list).
    Journal(JournalProblem),
    /// An applied migration whose file was edited since.
    Modified { tag: String, line_endings_only: bool },
    /// An applied migration whose file is gone.
    AppliedFileMissing { tag: String },
    /// A pending migration sitting before an applied one.
    OutOfOrder { tag: String, later: String },
    /// An applied row that no journal entry matches.
    Orphan(AppliedRow),
}

impl Finding {
    /// Whether `migrate` must refuse to run because of it. Files the journal does not list
    /// never run (drizzle-orm ignores them too), so they only warn; `check` still fails.
    pub fn blocks_migrate(&self, allow_out_of_order: bool) -> bool {
        match self {
            Finding::Journal(JournalProblem::UnlistedFile { .. }) => false,
            Finding::OutOfOrder { .. } => !allow_out_of_order,
            _ => true,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Journal(p) => write!(f, "{p}"),
            Finding::Modified { tag, line_endings_only: true } => write!(
                f,
                "migration {tag} was applied but its file has changed: only its line endings differ (restore LF endings, e.g. `git checkout -- {tag}.sql` with `*.sql text eol=lf` in .gitattributes)"
            ),
            Finding::Modified { tag, line_endings_only: false } => write!(
                f,
                "migration {tag} was applied but its file has changed; revert the edit and put the change in a new migration"
            ),
            Finding::AppliedFileMissing { tag } => write!(
                f,
                "migration {tag} was applied but its file {tag}.sql is missing; restore it from version control"
            ),
            Finding::OutOfOrder { tag, later } => write!(
                f,
                "migration {tag} is pending but the later migration {later} is already applied (merged late from a branch?); run `migrate --allow-out-of-order` to apply it anyway, or move it after {later}"
            ),
            Finding::Orphan(o) => {
                let name = o.name.as_deref().map(|n| format!(" ({})", printable(n))).unwrap_or_default();
                let when = o.created_at.map_or("unknown".to_string(), |w| w.to_string());
                write!(
                    f,
                    "the database has an applied migration{name} with hash {}… and created_at {when} that no journal entry matches: its file or journal entry was deleted; restore them",
                    printable(&o.hash[..o.hash.len().min(12)])
                )
            }
        }
    }
}

impl Status {
    /// Matches rows to entries one by one, in time linear in entries plus rows.
    pub fn compute(set: &MigrationSet, rows: &[AppliedRow]) -> Status {
        let n = set.migrations.len();
        let mut matched: Vec<Option<usize>> = vec![None; n]; // entry -> row
        let mut row_used = vec![false; rows.len()];

        // Entries by (hash, when) and by hash (in journal order), and by `when`.
        let mut by_hash_when: HashMap<(&str, i64), Vec<usize>> = HashMap::new();
        let mut by_hash: HashMap<&str, VecDeque<usize>> = HashMap::new();
        let mut by_when: HashMap<i64, VecDeque<usize>> = HashMap::new();
        for (e, m) in set.migrations.iter().enumerate() {
            if let Some(f) = &m.file {
                by_hash_when.entry((f.hash.as_str(), m.when)).or_default().push(e);
                by_hash.entry(f.hash.as_str()).or_default().push_back(e);
            }
            by_when.entry(m.when).or_default().push_back(e);
        }

        // 1. By hash, preferring the entry whose `when` equals the row's created_at.
        for (r, row) in rows.iter().enumerate() {
            let exact = row.created_at.and_then(|w| {
                let list = by_hash_when.get_mut(&(row.hash.as_str(), w))?;
                while let Some(&e) = list.last() {
                    if matched[e].is_none() {
                        return Some(e);
                    }
                    list.pop();
                }
                None
            });
            let best = exact.or_else(|| {
                let queue = by_hash.get_mut(row.hash.as_str())?;
                while let Some(&e) = queue.front() {
                    if matched[e].is_none() {
                        return Some(e);
                    }
                    queue.pop_front();
                }
                None
            });
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
            let Some(queue) = row.created_at.and_then(|w| by_when.get_mut(&w)) else {
                continue;
            };
            while let Some(&e) = queue.front() {
                if matched[e].is_none() {
                    matched[e] = Some(r);
                    row_used[r] = true;
                    break;
                }
                queue.pop_front();
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
        Status { entries, orphans, journal_problems: set.problems.clone() }
    }

    pub fn count(&self, label: &str) -> usize {
        self.entries.iter().filter(|e| e.state.label() == label).count()
    }

    /// Everything that is neither applied nor pending. An entry without a file that was never
    /// applied is a journal problem (its file is missing or its tag is not a file name).
    pub fn findings(&self) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.journal_problems.iter().cloned().map(Finding::Journal).collect();
        for e in &self.entries {
            out.push(match &e.state {
                EntryState::Applied { .. } | EntryState::Pending | EntryState::FileMissing { applied: false } => {
                    continue
                }
                EntryState::Modified { line_endings_only, .. } => {
                    Finding::Modified { tag: e.tag.clone(), line_endings_only: *line_endings_only }
                }
                EntryState::FileMissing { applied: true } => Finding::AppliedFileMissing { tag: e.tag.clone() },
                EntryState::OutOfOrder { later } => Finding::OutOfOrder { tag: e.tag.clone(), later: later.clone() },
            });
        }
        out.extend(self.orphans.iter().cloned().map(Finding::Orphan));
        out
    }
}

/// Which migrations `migrate` runs, in journal order; an error listing every finding that
/// blocks it when the folder and the database disagree.
pub fn plan<'a>(
    set: &'a MigrationSet,
    status: &Status,
    allow_out_of_order: bool,
) -> Result<Vec<&'a Migration>, DbError> {
    let blocking: Vec<String> =
        status.findings().into_iter().filter(|f| f.blocks_migrate(allow_out_of_order)).map(|f| f.to_string()).collect();
    if !blocking.is_empty() {
        return Err(DbError::Drift(blocking));
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
    use crate::migrate::journal::{Dialect, MigrationFile};

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
            hash: crate::migrate::journal::sha256_hex(body.as_bytes()),
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
        assert!(f[0].to_string().contains("only its line endings differ"));
        assert!(f[1].to_string().contains("migration b was applied but its file has changed"));
        assert!(plan(&s, &st, true).is_err());
    }

    #[test]
    fn deleted_files_and_entries() {
        let s = set(&[("a", 1, Some("A")), ("b", 2, None)]);
        let st = Status::compute(&s, &[row("A", 1), row("B", 2), row("Z", 9)]);
        assert_eq!(labels(&st), ["applied", "file missing"]);
        assert_eq!(st.orphans.len(), 1);
        let f = st.findings();
        assert!(f.iter().any(|x| x.to_string().contains("migration b was applied but its file b.sql is missing")));
        assert!(f.iter().any(|x| x.to_string().contains("no journal entry matches")));
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
