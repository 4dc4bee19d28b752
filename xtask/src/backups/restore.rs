//! Restoring a backup: verify everything, take a safety backup, then swap the database and
//! uploads/ into place atomically (`cargo xtask restore`, `rollback --from-backup`). Nothing live is touched
//! until the archive has passed every check. The swaps run under an intent record (see
//! [`intent`]), so a restore killed between them is finished or undone by the next restore,
//! backup or reset-complete.

mod intent;

use std::fs::{self, File};
use std::io::IsTerminal;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use cms_db::connection::Connection;
use cms_db::DatabaseUrl;

use crate::backups::leftovers::{self, RestoreTemps};
use crate::backups::manifest::{MemberKind, POSTGRES_MEMBER, SQLITE_MEMBER};
use crate::backups::{self as backup, archive, lock, pause, pg_objects, snapshot, CreateOptions};
use crate::confirm::confirm;
use crate::durable;
use crate::files::{open_by_others, postgres_sessions, remove_file_if_present, suffixed};
use crate::project::Context;

/// What `restore` restores, and how.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    /// The archive (path, or file name in the backups folder), or `latest`.
    pub target: String,
    /// Backups folder (relative paths resolve against the project root).
    pub dir: PathBuf,
    /// Replace without asking (required without a terminal).
    pub yes: bool,
    /// Restore a backup made by a newer schema than this code knows.
    pub force: bool,
    /// Seconds to wait for a running backup to finish before giving up (exit code 3).
    pub wait: u64,
}

/// How the backup's schema compares with the migrations this code knows.
#[derive(Debug, PartialEq, Eq)]
pub enum SchemaCheck {
    Same,
    /// The backup lacks `missing` migrations the code has: run `migrate` after restoring.
    Older {
        missing: usize,
    },
    /// The backup has migrations the code does not know.
    Newer {
        unknown: Vec<String>,
    },
}

/// Pure: compares the backup's applied tags with the code's journal tags.
pub fn schema_check(backup_tags: &[String], known_tags: &[String]) -> SchemaCheck {
    let unknown: Vec<String> = backup_tags.iter().filter(|t| !known_tags.contains(t)).cloned().collect();
    if !unknown.is_empty() {
        return SchemaCheck::Newer { unknown };
    }
    let missing = known_tags.iter().filter(|t| !backup_tags.contains(t)).count();
    if missing == 0 {
        SchemaCheck::Same
    } else {
        SchemaCheck::Older { missing }
    }
}

/// For `backup` and `reset-complete`: finishes or undoes a restore that was interrupted (its
/// process killed) half-way, saying which and why; nothing when there is none or when a
/// restore is running now.
pub fn recover_interrupted(ctx: &Context, wait: Duration) -> Result<()> {
    intent::recover(ctx, wait)
}

/// For `backup` and `backup prune`, which hold the lock of the backups folder `dir` (unless
/// `dry_run`): removes the temps of killed runs (see [`leftovers`]) in `dir`, in the project's
/// backups/, next to the SQLite database and in the temp folder, and says in one line how much
/// was freed (unless `quiet`); with `dry_run` only says what it would remove. Restore's temps
/// are included only when no restore runs (its lock is free) and none was left interrupted.
pub fn clean_leftovers(ctx: &Context, dir: &Path, quiet: bool, dry_run: bool) -> Result<()> {
    let (restore, _guard) =
        if dry_run { (intent::restore_temps_peek(&ctx.root), None) } else { intent::restore_temps_locked(&ctx.root)? };
    sweep(ctx, dir, !dry_run, restore, quiet, dry_run)
}

/// For `backup list`: says which temps of killed runs the next backup, restore or prune
/// removes, and whether an interrupted restore waits to be finished or undone. Takes no lock.
pub fn report_leftovers(ctx: &Context, dir: &Path) -> Result<()> {
    let record = intent::record_path(&ctx.root);
    if record.exists() {
        out!(
            "an interrupted restore's record is in {}: the next backup, prune, restore or reset-complete finishes or undoes that restore",
            ctx.show(&record)
        );
    }
    let found = leftovers::find(&leftover_scope(ctx, dir, false, intent::restore_temps_peek(&ctx.root)));
    if !found.is_empty() {
        let bytes = found.iter().map(|l| l.bytes).sum();
        out!(
            "found {}, {}; the next backup, restore or prune removes them:",
            leftovers::summary(&found),
            indicatif::HumanBytes(bytes)
        );
        for l in &found {
            out!("  {}  {}", ctx.show(&l.path), indicatif::HumanBytes(l.bytes));
        }
    }
    Ok(())
}

fn leftover_scope(ctx: &Context, dir: &Path, dir_locked: bool, restore: RestoreTemps) -> leftovers::Scope {
    let database = ctx.database_url().ok().and_then(|(url, _)| url.sqlite_path().map(Path::to_path_buf));
    leftovers::Scope {
        root: ctx.root.clone(),
        backup_dirs: vec![(dir.to_path_buf(), dir_locked)],
        restore_home: ctx.root.join("backups"),
        database,
        restore,
        temp_dir: Some(std::env::temp_dir()),
    }
}

/// Finds and (unless `dry_run`) removes leftovers; one line about them unless `quiet`.
fn sweep(ctx: &Context, dir: &Path, dir_locked: bool, restore: RestoreTemps, quiet: bool, dry_run: bool) -> Result<()> {
    let found = leftovers::find(&leftover_scope(ctx, dir, dir_locked, restore));
    if found.is_empty() {
        return Ok(());
    }
    if dry_run {
        let bytes = found.iter().map(|l| l.bytes).sum();
        if !quiet {
            out!("would remove {}, {} (dry run)", leftovers::summary(&found), indicatif::HumanBytes(bytes));
        }
        return Ok(());
    }
    let (removed, freed) = leftovers::remove(found);
    if !quiet && !removed.is_empty() {
        out!("removed {}: freed {}", leftovers::summary(&removed), indicatif::HumanBytes(freed));
    }
    Ok(())
}

/// Verifies everything, takes a safety backup, then swaps the database and uploads/ into place
/// (see the module's description). A held lock is an error of type [`lock::LockHeld`]
/// ([`crate::backups::with_lock_exit_code`] turns it into exit code 3).
pub fn restore(ctx: &Context, args: &RestoreOptions) -> Result<ExitCode> {
    let started = Instant::now();
    let (url, _) = ctx.database_url()?;
    let dir = ctx.root.join(&args.dir);
    if !args.yes && !std::io::stdin().is_terminal() {
        bail!("restore replaces {url} and uploads/: refusing without --yes, because there is no terminal to ask on");
    }
    let path = backup::resolve_target(ctx, &dir, &args.target)?;
    // One restore at a time; one that was interrupted is finished or undone first.
    let guard = intent::Guard::acquire(&ctx.root, Duration::from_secs(args.wait))?;
    intent::recover_locked(ctx, &guard, Duration::from_secs(args.wait))?;
    // Whoever uses the database now would lose their writes: refused before anything is
    // staged or backed up.
    match &url {
        DatabaseUrl::Sqlite { .. } => {
            if let Some(db) = url.sqlite_path() {
                refuse_if_open(db)?;
            }
        }
        DatabaseUrl::Postgres { url: raw } => refuse_if_pg_in_use(raw)?,
    }
    backup::prepare_dir(&dir)?;
    let _lock = lock::acquire(&dir, Duration::from_secs(args.wait))?;
    sweep(ctx, &dir, true, intent::restore_temps_held(&ctx.root, &guard), false, false)?;
    out!("restore {} into {url}", ctx.show(&path));

    // 1. Verify while extracting to temp paths on the target filesystems. The staging folder's
    //    name carries our pid, so a killed restore's is found and removed (see leftovers).
    let aside = intent::aside_dir(&ctx.root)?;
    let staging = tempfile::Builder::new()
        .prefix(&format!("{}{}-", leftovers::STAGING_PREFIX, std::process::id()))
        .tempdir_in(&aside)
        .with_context(|| format!("creating a staging folder in {}", aside.display()))?;
    let staged_uploads = staging.path().join("uploads");
    let mut temps = backup::TempPaths::new();
    let staged_db = match &url {
        DatabaseUrl::Sqlite { .. } => {
            let db = url.sqlite_path().context("cannot restore into an in-memory database")?;
            let parent = db.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(parent)?;
            let name = db.file_name().context("the database path has no file name")?.to_string_lossy();
            let staged = temps.add(parent.join(format!(".{name}.restore-{}", std::process::id())));
            // The integrity check may leave these next to it (a WAL-mode snapshot).
            for suffix in ["-wal", "-shm"] {
                temps.add(suffixed(&staged, suffix));
            }
            staged
        }
        DatabaseUrl::Postgres { .. } => staging.path().join("postgres.dump"),
    };
    let _ = fs::remove_file(&staged_db);
    let wanted = match url {
        DatabaseUrl::Sqlite { .. } => SQLITE_MEMBER,
        DatabaseUrl::Postgres { .. } => POSTGRES_MEMBER,
    };
    let t = Instant::now();
    // Staged files are fsynced on threads of their own, overlapping extraction, and the
    // database is checked on another.
    let (read, synced, checked) = std::thread::scope(|s| {
        let (sync_tx, sync_rx) = crossbeam_channel::unbounded::<(PathBuf, File)>();
        let syncers: Vec<_> = (0..SYNC_THREADS)
            .map(|_| {
                let files = sync_rx.clone();
                s.spawn(move || sync_files(files))
            })
            .collect();
        // Only the syncers hold it now: once they all stop, sending fails and closes the file.
        drop(sync_rx);
        let mut db_check = None;
        let read = archive::read(&path, |entry, r| {
            let dest = if entry.path.starts_with("uploads/") {
                staging.path().join(entry.path)
            } else if entry.path == wanted {
                staged_db.clone()
            } else if entry.path == SQLITE_MEMBER || entry.path == POSTGRES_MEMBER {
                bail!("{} is a {} backup; DATABASE_URL points at {url}", path.display(), dialect_of(entry.path));
            } else if entry.path == crate::backups::manifest::HEADER_PATH {
                return Ok(());
            } else {
                bail!("refusing {}: unexpected member `{}`", path.display(), entry.path);
            };
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut f = File::create(&dest).with_context(|| format!("staging {}", dest.display()))?;
            r.copy_to(&mut f).map_err(|e| snapshot::disk_full_hint(e.into(), &dest))?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(entry.mode & 0o777 | 0o600))?;
            let _ = sync_tx.send((dest, f));
            if entry.path == wanted {
                // The database is the first large member: check it while uploads/ is extracted.
                // Its verdict counts only once every checksum has passed too.
                let db = staged_db.clone();
                let is_sqlite = matches!(url, DatabaseUrl::Sqlite { .. });
                db_check = Some(s.spawn(move || -> Result<()> {
                    if is_sqlite {
                        snapshot::sqlite_integrity(&db)
                    } else {
                        snapshot::read_pg_dump(&db).map(|_| ())
                    }
                }));
            }
            Ok(())
        });
        drop(sync_tx);
        let synced = syncers.into_iter().try_fold(Ok(()), |first: Result<()>, t| {
            let r = t.join().map_err(|panic| archive::panicked("a sync thread", panic))?;
            anyhow::Ok(first.and(r))
        });
        let checked = db_check.map(|t| t.join().map_err(|panic| archive::panicked("the database check thread", panic)));
        (read, synced, checked)
    });
    let synced = synced?;
    let manifest = read.with_context(|| "nothing was changed".to_string())?;
    synced.context("nothing was changed")?;
    backup::check_header(&path, &manifest).context("nothing was changed")?;
    if manifest.member(wanted).is_none() {
        bail!("{} holds no {} snapshot; nothing was changed", path.display(), url.dialect());
    }
    for m in manifest.members.iter().filter(|m| m.kind == MemberKind::Dir && m.path.starts_with("uploads")) {
        fs::create_dir_all(staging.path().join(&m.path))?;
    }
    // The restored files' names are durable too, not only their bytes.
    if staged_uploads.is_dir() {
        sync_dirs(&staged_uploads).context("nothing was changed")?;
    }
    checked.context("the database snapshot was never checked; nothing was changed")??.context("nothing was changed")?;
    out!(
        "  verified {} member(s), {} in {:.2} s",
        manifest.members.len(),
        crate::format::size(manifest.total_size()),
        t.elapsed().as_secs_f64()
    );
    pause::pause_point("restore:verified");

    // 2. The schema the backup was made with against the migrations this code knows.
    let set = ctx.migrations(None, &url)?;
    let known: Vec<String> = set.migrations.iter().map(|m| m.tag.clone()).collect();
    let check = schema_check(&manifest.migrations.tags, &known);
    if let SchemaCheck::Newer { unknown } = &check {
        if !args.force {
            bail!(
                "{} was made by a newer schema: it has migration(s) this code does not know ({}). Update the code first, or pass --force to restore it anyway; nothing was changed",
                path.display(),
                unknown.join(", ")
            );
        }
        eprintln!("warning: restoring a backup with unknown migration(s) ({}) because of --force", unknown.join(", "));
    }

    confirm(
        &format!(
            "replace {url} and uploads/ with the backup from {} ({} migration(s))?",
            manifest.created_at, manifest.migrations.applied
        ),
        args.yes,
    )?;

    // 3. A safety backup of what is about to be replaced. Without a database there is no
    //    archive to make: the old uploads/ (if any) are moved aside instead of deleted.
    let mut safety_backup = None;
    let mut keep_old_uploads = None;
    if database_exists(&url) {
        let options = CreateOptions { dir: args.dir.clone(), label: Some("pre-restore".into()), ..Default::default() };
        let made = backup::create_locked(ctx, &options).context("the safety backup failed; nothing was changed")?;
        out!("  safety backup {}", ctx.show(&made.path));
        safety_backup = Some(made.path);
    } else if fs::read_dir(ctx.root.join("uploads")).is_ok_and(|mut d| d.next().is_some()) {
        let kept = aside.join(format!("uploads.pre-restore-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")));
        out!("  no database to back up; the current uploads/ will be kept as {}", ctx.show(&kept));
        keep_old_uploads = Some(kept);
    }

    // 4. Swap, under an intent record written before the first change to live data.
    let target = match &url {
        DatabaseUrl::Sqlite { .. } => {
            let db = url.sqlite_path().context("in-memory database")?.to_path_buf();
            let name = db.file_name().context("the database path has no file name")?.to_string_lossy();
            let old = db.with_file_name(format!(".{name}.replaced-{}", std::process::id()));
            intent::Target::Sqlite { had_database: db.exists(), database: db, staged: staged_db.clone(), old }
        }
        DatabaseUrl::Postgres { .. } => intent::Target::Postgresql {
            dump: staged_db.clone(),
            dump_sha256: manifest.member(POSTGRES_MEMBER).and_then(|m| m.sha256.clone()).unwrap_or_default(),
        },
    };
    let live_uploads = ctx.root.join("uploads");
    let mut record = intent::Intent {
        version: 1,
        pid: std::process::id(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        archive: path.clone(),
        database: url.redacted(),
        target,
        staging: staging.path().to_path_buf(),
        had_uploads: fs::symlink_metadata(&live_uploads).is_ok(),
        uploads: live_uploads,
        staged_uploads: staged_uploads.clone(),
        staged_uploads_digest: intent::uploads_digest(&manifest),
        old_uploads: keep_old_uploads.unwrap_or_else(|| staging.path().join(".old-uploads")),
        safety_backup,
        steps: intent::Steps::default(),
    };
    if !staged_uploads.exists() {
        fs::create_dir_all(&staged_uploads)?;
        durable::sync_dir(staging.path())?;
    }
    record.save(&ctx.root)?;
    // From here the record owns the staging folder: an interrupted run leaves it for the next
    // command, and this run removes it at the end (or when it undoes itself).
    let _staging = staging.keep();
    intent::pause_point("restore:after-intent");
    if let Err(e) = swap(ctx, &url, &mut record) {
        let raw = match &url {
            DatabaseUrl::Postgres { url } => Some(url.as_str()),
            DatabaseUrl::Sqlite { .. } => None,
        };
        return Err(match intent::undo(&ctx.root, &record, raw) {
            Ok(()) => e.context("the restore stopped part-way and was undone: the database and uploads/ are as they were"),
            Err(u) => e.context(format!(
                "the restore stopped part-way and undoing it failed too ({u:#}); the next restore, backup or reset-complete finishes or undoes it"
            )),
        });
    }
    drop(temps);
    intent::finish(&ctx.root, &record, None)?;
    out!("  restored {} and uploads/ in {:.2} s", url, started.elapsed().as_secs_f64());
    if let SchemaCheck::Older { missing } = check {
        out!("  the backup is {missing} migration(s) behind the code: run `cargo xtask migrate`");
    }
    Ok(ExitCode::SUCCESS)
}

/// The two swaps, each step recorded: the database (SQLite: the old file kept as a hard link,
/// its -wal/-shm moved beside it, the verified file renamed into place; PostgreSQL: pg_restore
/// in one transaction), then uploads/ (old aside, restored into place).
fn swap(ctx: &Context, url: &DatabaseUrl, record: &mut intent::Intent) -> Result<()> {
    let root = &ctx.root;
    match (url, record.target.clone()) {
        (DatabaseUrl::Sqlite { .. }, intent::Target::Sqlite { database, staged, old, .. }) => {
            refuse_if_open(&database)?;
            record.step(root, |s| s.database_started = true)?;
            let parent = database.parent().unwrap_or(Path::new("."));
            keep_mode(&database, &staged)?;
            if database.exists() {
                keep_old_database(&database, &old)?;
                for suffix in ["-wal", "-shm"] {
                    let live = suffixed(&database, suffix);
                    if live.exists() {
                        fs::rename(&live, suffixed(&old, suffix))
                            .with_context(|| format!("moving {} aside", live.display()))?;
                    }
                }
                durable::sync_dir(parent)?;
            }
            fs::rename(&staged, &database)
                .with_context(|| format!("moving the restored database to {}", database.display()))?;
            durable::sync_dir(parent)?;
            record.step(root, |s| s.database_swapped = true)?;
        }
        (DatabaseUrl::Postgres { url: raw }, intent::Target::Postgresql { dump, .. }) => {
            refuse_if_pg_in_use(raw)?;
            intent::pause_point("restore:before-pg-restore");
            record.step(root, |s| s.database_started = true)?;
            match pg_objects::restore(raw, &dump) {
                Ok(dropped) if !dropped.is_empty() => out!(
                    "  dropped {} object(s) made after the backup (their rows are in the pre-restore backup): {}",
                    dropped.len(),
                    dropped.join(", ")
                ),
                Ok(_) => {}
                Err(e) => {
                    // The restore ran in one transaction and failed: nothing of it was committed.
                    let _ = record.step(root, |s| s.database_started = false);
                    return Err(e);
                }
            }
            record.step(root, |s| s.database_swapped = true)?;
        }
        _ => bail!("the restore record does not match {url}"),
    }
    intent::pause_point("restore:after-database-swap");
    if fs::symlink_metadata(&record.uploads).is_ok() {
        fs::rename(&record.uploads, &record.old_uploads).context("moving the old uploads/ aside")?;
        record.step(root, |s| s.old_uploads_aside = true)?;
    }
    intent::pause_point("restore:after-old-uploads-aside");
    fs::rename(&record.staged_uploads, &record.uploads).context("moving the restored uploads/ into place")?;
    durable::sync_dir(root)?;
    record.step(root, |s| s.uploads_swapped = true)?;
    Ok(())
}

/// Gives the restored database `staged` the mode (and, where we may, the owner) of the file it
/// replaces, so the server that could open the old one opens it too; a database that replaces
/// nothing is private (0600), like the archive it came from.
fn keep_mode(database: &Path, staged: &Path) -> Result<()> {
    let old = match fs::metadata(database) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading the mode of {}", database.display())),
    };
    let mode = old.as_ref().map_or(0o600, |m| m.permissions().mode() & 0o7777);
    fs::set_permissions(staged, fs::Permissions::from_mode(mode))
        .with_context(|| format!("giving {} the mode {mode:04o}", staged.display()))?;
    if let Some(old) = old {
        let new = fs::metadata(staged)?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            if let Err(e) = std::os::unix::fs::chown(staged, Some(old.uid()), Some(old.gid())) {
                eprintln!(
                    "warning: the restored {} belongs to uid {} gid {}, the replaced one to uid {} gid {} ({e}); fix it with chown if the server runs as that user",
                    database.display(),
                    new.uid(),
                    new.gid(),
                    old.uid(),
                    old.gid()
                );
            }
        }
    }
    Ok(())
}

/// Keeps the database about to be replaced at `old`: a hard link (no copy), or where the
/// filesystem has no hard links a copy, made under another name and renamed, so that `old`
/// only ever exists whole.
fn keep_old_database(database: &Path, old: &Path) -> Result<()> {
    remove_file_if_present(old)?;
    if fs::hard_link(database, old).is_err() {
        let partial = suffixed(old, ".partial");
        fs::copy(database, &partial)
            .with_context(|| format!("keeping a copy of {} at {}", database.display(), old.display()))?;
        File::open(&partial)?.sync_all()?;
        fs::rename(&partial, old)?;
    }
    Ok(())
}

/// fsyncs waiting at once: the disk and the filesystem's journal take them together (one
/// journal commit for many small files), and the threads only wait.
const SYNC_THREADS: usize = 8;

/// fsyncs the staged files sent to it until the channel closes; its first error.
fn sync_files(files: crossbeam_channel::Receiver<(PathBuf, File)>) -> Result<()> {
    for (p, f) in files {
        f.sync_all().with_context(|| format!("syncing {}", p.display()))?;
    }
    Ok(())
}

/// fsync of `dir` and every folder under it.
fn sync_dirs(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            sync_dirs(&e.path())?;
        }
    }
    durable::sync_dir(dir)
}

fn dialect_of(member: &str) -> &'static str {
    if member == SQLITE_MEMBER {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

fn refuse_if_open(db: &Path) -> Result<()> {
    let users = open_by_others(db)?;
    if !users.is_empty() {
        bail!(
            "{} is in use by another process ({}); stop it first (replacing an open database loses its writes); nothing was changed",
            db.display(),
            users.join(", ")
        );
    }
    Ok(())
}

fn refuse_if_pg_in_use(url: &str) -> Result<()> {
    let mut conn = Connection::Postgres(cms_db::postgres::connect(url)?);
    let who = postgres_sessions(&mut conn)?;
    if !who.is_empty() {
        bail!(
            "the database is in use by {} other session(s) ({}): restoring would replace it under them. Stop them (the CMS server, psql, other tools) and run the restore again; nothing was changed",
            who.len(),
            who.join(", ")
        );
    }
    Ok(())
}

fn database_exists(url: &DatabaseUrl) -> bool {
    match url {
        DatabaseUrl::Sqlite { .. } => url.sqlite_path().is_some_and(Path::exists),
        DatabaseUrl::Postgres { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn schema_versions() {
        let code = tags(&["0000_a", "0001_b", "0002_c"]);
        assert_eq!(schema_check(&tags(&["0000_a", "0001_b", "0002_c"]), &code), SchemaCheck::Same);
        assert_eq!(schema_check(&tags(&["0000_a"]), &code), SchemaCheck::Older { missing: 2 });
        assert_eq!(
            schema_check(&tags(&["0000_a", "0001_b", "0002_c", "0003_new"]), &code),
            SchemaCheck::Newer { unknown: tags(&["0003_new"]) }
        );
        assert_eq!(schema_check(&[], &code), SchemaCheck::Older { missing: 3 });
    }
}
