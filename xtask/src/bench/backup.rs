//! `cargo xtask bench backup [--db-mib 1024] [--uploads-mib 1024]`: our backup and restore of
//! a large SQLite database plus JPEG-like uploads, against the seed documents' recipe
//! (`sqlite3 db ".backup x"` then `tar czf`; restore `tar xzf`) and against the physical limit
//! (a raw snapshot plus a plain copy of the uploads; for restore both the plain copy, which
//! leaves everything in the page cache like `tar xzf`, and the durable copy, which fsyncs every
//! file like our restore does). The data set is built once and reused. It also measures how
//! fast a writer commits to the database while our backup runs (and alone), a figure that
//! belongs here rather than in a timed test.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::format::{secs, size as human};
use crate::project::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Size of the SQLite database
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    db_mib: u64,
    /// Size of the incompressible JPEG-like uploads
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(0..=65_536))]
    uploads_mib: u64,
    /// Where the data set is kept between runs (default target/bench-backup)
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Also time other compressions and levels (gzip 1, gzip 6, zstd 1, one thread)
    #[arg(long)]
    variants: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let base = args.data.clone().map_or_else(|| ctx.root.join("target/bench-backup"), |d| ctx.root.join(d));
    let source = base.join(format!("source-{}-{}", args.db_mib, args.uploads_mib));
    build_data_set(&source, args.db_mib, args.uploads_mib)?;
    link_migrations(ctx, &source)?;
    let work = base.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let db = source.join("data/sqlite.db");
    let exe = std::env::current_exe()?;
    let xtask = |root: &Path, args: &[&str]| -> Result<Duration> {
        let t = Instant::now();
        let out = duct::cmd(&exe, args)
            .env("CMS_PROJECT_ROOT", root)
            .env("DATABASE_URL", "file:data/sqlite.db")
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()?;
        if !out.status.success() {
            bail!("xtask {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(t.elapsed())
    };
    let timed = |program: &str, args: &[&str]| -> Result<Duration> {
        let t = Instant::now();
        let out = duct::cmd(program, args).stdout_null().stderr_capture().unchecked().run()?;
        if !out.status.success() {
            bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        }
        Ok(t.elapsed())
    };
    let s = |p: &Path| p.display().to_string();
    let mut rows: Vec<(String, Duration, Option<u64>)> = Vec::new();

    // Ours, default settings.
    let ours_dir = work.join("ours");
    let ours_backup = xtask(&source, &["backup", "--quiet", "--dir", &s(&ours_dir)])?;
    let archive = only_file(&ours_dir)?;
    let ours_size = fs::metadata(&archive)?.len();
    let target = work.join("restore-target");
    fs::create_dir_all(&target)?;
    link_migrations(ctx, &target)?;
    settle()?;
    let ours_restore = xtask(&target, &["restore", &s(&archive), "--yes", "--dir", &s(&ours_dir)])?;
    let restored = target.join("data/sqlite.db");
    anyhow::ensure!(fs::metadata(&restored)?.len() > 0, "the restore produced no database");
    fs::remove_dir_all(&target)?;
    let _ = fs::remove_dir_all(&ours_dir);

    // A writer committing one row per transaction, alone and while our backup runs.
    let writer_root = work.join("writer");
    fs::create_dir_all(writer_root.join("data"))?;
    link_migrations(ctx, &writer_root)?;
    fs::copy(&db, writer_root.join("data/sqlite.db"))?;
    let alone = writer_rate(&writer_root.join("data/sqlite.db"), || {
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    })?;
    let during =
        writer_rate(&writer_root.join("data/sqlite.db"), || xtask(&writer_root, &["backup", "--quiet"]).map(|_| ()))?;
    fs::remove_dir_all(&writer_root)?;

    // The recipe: sqlite3 .backup, then tar czf; restore with tar xzf.
    let recipe = work.join("recipe");
    fs::create_dir_all(&recipe)?;
    let snap = recipe.join("sqlite.db");
    let t1 = timed("sqlite3", &[&s(&db), &format!(".backup '{}'", s(&snap))])?;
    let tgz = recipe.join("backup.tar.gz");
    let t2 = timed("tar", &["czf", &s(&tgz), "-C", &s(&recipe), "sqlite.db", "-C", &s(&source), "uploads"])?;
    let recipe_backup = t1 + t2;
    let recipe_size = fs::metadata(&tgz)?.len();
    let out = recipe.join("out");
    fs::create_dir_all(&out)?;
    settle()?;
    let recipe_restore = timed("tar", &["xzf", &s(&tgz), "-C", &s(&out)])?;
    fs::remove_dir_all(&recipe)?;

    // The limit: the fastest raw snapshot plus a plain copy.
    let limit = work.join("limit");
    fs::create_dir_all(&limit)?;
    let vac = limit.join("vacuum.db");
    let t_vacuum = {
        let t = Instant::now();
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute("VACUUM INTO ?1", [s(&vac)])?;
        t.elapsed()
    };
    fs::remove_file(&vac)?;
    let t_api = timed("sqlite3", &[&s(&db), &format!(".backup '{}'", s(&vac))])?;
    let t_copy = timed("cp", &["-r", &s(&source.join("uploads")), &s(&limit.join("uploads"))])?;
    let limit_backup = t_vacuum.min(t_api) + t_copy;
    let back = work.join("limit-back");
    fs::create_dir_all(&back)?;
    let r1 = timed("cp", &[&s(&vac), &s(&back.join("sqlite.db"))])?;
    let r2 = timed("cp", &["-r", &s(&limit.join("uploads")), &s(&back.join("uploads"))])?;
    let limit_restore = r1 + r2;
    fs::remove_dir_all(&back)?;
    // The durable limit: the same copies, then every copied file and folder fsynced (what a
    // restore that survives a power cut costs at least). Earlier writes are flushed first,
    // untimed, so they are not billed here.
    settle()?;
    let durable = work.join("limit-durable");
    fs::create_dir_all(&durable)?;
    let t = Instant::now();
    timed("cp", &[&s(&vac), &s(&durable.join("sqlite.db"))])?;
    timed("cp", &["-r", &s(&limit.join("uploads")), &s(&durable.join("uploads"))])?;
    fsync_tree(&durable)?;
    let limit_durable = t.elapsed();
    fs::remove_dir_all(&limit)?;
    fs::remove_dir_all(&durable)?;

    rows.push(("ours: backup (defaults: zstd 3, parallel, images stored)".into(), ours_backup, Some(ours_size)));
    rows.push(("ours: restore (verify + extract + swap)".into(), ours_restore, None));
    rows.push(("recipe: sqlite3 .backup + tar czf".into(), recipe_backup, Some(recipe_size)));
    rows.push(("recipe: tar xzf".into(), recipe_restore, None));
    rows.push((
        format!("limit: snapshot (VACUUM INTO {} / .backup {}) + cp -r", secs(t_vacuum), secs(t_api)),
        limit_backup,
        None,
    ));
    rows.push(("limit: cp + cp -r (page cache only)".into(), limit_restore, None));
    rows.push(("limit: cp + cp -r + fsync of every file (durable)".into(), limit_durable, None));

    if args.variants {
        for (label, flags) in [
            ("gzip 1", vec!["--compression", "gzip", "--level", "1"]),
            ("gzip 6", vec!["--compression", "gzip", "--level", "6"]),
            ("zstd 1", vec!["--compression", "zstd", "--level", "1"]),
            ("zstd 3, one thread", vec!["--threads", "1"]),
        ] {
            let dir = work.join("variant");
            let mut a = vec!["backup", "--quiet", "--dir"];
            let d = s(&dir);
            a.push(&d);
            a.extend(flags.iter().copied());
            let t = xtask(&source, &a)?;
            let file = only_file(&dir)?;
            let size = fs::metadata(&file)?.len();
            let target = work.join("variant-target");
            fs::create_dir_all(&target)?;
            link_migrations(ctx, &target)?;
            let r = xtask(&target, &["restore", &s(&file), "--yes", "--dir", &d])?;
            rows.push((format!("variant {label}: backup"), t, Some(size)));
            rows.push((format!("variant {label}: restore"), r, None));
            fs::remove_dir_all(&dir)?;
            fs::remove_dir_all(&target)?;
        }
    }

    let profile = if cfg!(debug_assertions) { "dev" } else { "release" };
    out!(
        "data set: {} MiB SQLite + {} MiB JPEG-like uploads, warm page cache, {} cores, {profile} build",
        args.db_mib,
        args.uploads_mib,
        crate::backups::default_threads()
    );
    out!("| step | time | archive |");
    out!("|---|---:|---:|");
    for (name, t, size) in &rows {
        out!("| {name} | {} | {} |", secs(*t), size.map(human).unwrap_or_default());
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    out!(
        "backup:  {:.1}x faster than the recipe (goal >= 3x), {:.2}x the limit (goal <= 2x)",
        ratio(recipe_backup, ours_backup),
        ratio(ours_backup, limit_backup)
    );
    out!(
        "restore: {:.1}x faster than the recipe (goal >= 3x); {:.2}x the plain-copy limit (no fsync, as tar xzf), {:.2}x the durable limit (copy + fsync, as ours) (goal <= 2x)",
        ratio(recipe_restore, ours_restore),
        ratio(ours_restore, limit_restore),
        ratio(ours_restore, limit_durable)
    );
    out!(
        "writer: {:.0} commits/s during our backup ({} commits in {}), {:.0} commits/s alone (goal >= 500/s during the backup)",
        during.per_second(),
        during.commits,
        secs(during.elapsed),
        alone.per_second()
    );
    let _ = fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

/// Commits made by a writer while something ran.
struct WriterRate {
    commits: u64,
    elapsed: Duration,
}

impl WriterRate {
    fn per_second(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs a writer (one 100-byte row per transaction, as the CMS's own small writes) on `db`
/// while `during` runs; the commits it made meanwhile.
fn writer_rate(db: &Path, during: impl FnOnce() -> Result<()>) -> Result<WriterRate> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let conn = cms_db::sqlite::open(db)?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS bench_writes (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)")?;
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, committed) = (Arc::clone(&stop), Arc::clone(&committed));
        std::thread::spawn(move || -> Result<()> {
            let payload = "x".repeat(100);
            while !stop.load(Ordering::Relaxed) {
                conn.execute("INSERT INTO bench_writes (payload) VALUES (?1)", [&payload])?;
                committed.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        })
    };
    let before = committed.load(Ordering::SeqCst);
    let t = Instant::now();
    let ran = during();
    let elapsed = t.elapsed();
    let after = committed.load(Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))??;
    ran?;
    Ok(WriterRate { commits: after - before, elapsed })
}

/// Flushes what earlier steps left dirty, so the next timed step pays only for its own writes.
fn settle() -> Result<()> {
    duct::cmd("sync", std::iter::empty::<&str>()).run().context("running sync")?;
    Ok(())
}

/// fsync of every file and folder under `root` (folders after their entries).
fn fsync_tree(root: &Path) -> Result<()> {
    for e in fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() {
            fsync_tree(&e.path())?;
        } else {
            fs::File::open(e.path())?.sync_all().with_context(|| format!("syncing {}", e.path().display()))?;
        }
    }
    fs::File::open(root)?.sync_all().with_context(|| format!("syncing {}", root.display()))
}

/// The project's migrations, so restore can compare schema versions.
fn link_migrations(ctx: &Context, root: &Path) -> Result<()> {
    let link = root.join("migrations");
    let want = ctx.root.join("migrations");
    // A data set kept from another checkout points at that checkout's migrations: repoint it.
    if fs::read_link(&link).is_ok_and(|to| to != want) {
        fs::remove_file(&link)?;
    }
    if fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(&want, &link)?;
    }
    Ok(())
}

fn only_file(dir: &Path) -> Result<PathBuf> {
    crate::backups::archives(dir)?.into_iter().next().map(|(_, p)| p).context("the backup wrote no archive")
}

/// A project root with data/sqlite.db (text and JSON rows, compressible like real content)
/// and uploads/images/*.jpg (random bytes behind a JPEG header, 200 KB to 2 MB each).
fn build_data_set(root: &Path, db_mib: u64, uploads_mib: u64) -> Result<()> {
    let done = root.join(".complete");
    if done.exists() {
        return Ok(());
    }
    let _ = fs::remove_dir_all(root);
    fs::create_dir_all(root.join("data"))?;
    fs::create_dir_all(root.join("uploads/images"))?;
    eprintln!("building the data set in {} (once)…", root.display());
    let mut rng = fastrand::Rng::with_seed(7);
    let words: Vec<String> = (0..3000).map(|_| (0..rng.usize(3..10)).map(|_| rng.lowercase()).collect()).collect();
    let conn = rusqlite::Connection::open(root.join("data/sqlite.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
         CREATE TABLE documents (id INTEGER PRIMARY KEY, site TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, meta TEXT NOT NULL);",
    )?;
    let target = db_mib << 20;
    let mut written = 0u64;
    let mut id = 0u64;
    while written < target {
        let tx = conn.unchecked_transaction()?;
        {
            let mut st =
                tx.prepare("INSERT INTO documents (id, site, title, body, meta) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for _ in 0..10_000 {
                id += 1;
                let title = sentence(&mut rng, &words, 6);
                let n = rng.usize(60..200);
                let body = sentence(&mut rng, &words, n);
                let meta = format!(
                    "{{\"locale\":\"en\",\"status\":\"published\",\"tags\":[\"{}\",\"{}\"],\"views\":{},\"author\":\"user-{}\"}}",
                    words[rng.usize(..words.len())],
                    words[rng.usize(..words.len())],
                    rng.u32(..100_000),
                    rng.u32(..500)
                );
                written += (title.len() + body.len() + meta.len() + 40) as u64;
                st.execute(rusqlite::params![id, format!("site-{}", id % 97), title, body, meta])?;
            }
        }
        tx.commit()?;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(conn);
    let mut total = 0u64;
    let mut n = 0;
    let mut buf = vec![0u8; 2 << 20];
    while total < uploads_mib << 20 {
        let size = rng.usize(200_000..2_000_000).min(((uploads_mib << 20) - total) as usize).max(4);
        rng.fill(&mut buf[..size]);
        buf[..4].copy_from_slice(b"\xFF\xD8\xFF\xE0");
        let mut f = fs::File::create(root.join(format!("uploads/images/photo-{n:05}.jpg")))?;
        f.write_all(&buf[..size])?;
        total += size as u64;
        n += 1;
    }
    fs::write(&done, "")?;
    Ok(())
}

fn sentence(rng: &mut fastrand::Rng, words: &[String], n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&words[rng.usize(..words.len())]);
    }
    s
}
