//! The sample images: the manifest (`scripts/seed-images.toml`), downloads into
//! `uploads/images/` (verified, retried, with a placeholder of the intended size where an image
//! cannot be fetched) and their rows in the images table. `cargo xtask seed-images` is the
//! command over this library; `seed`, `reset-data` and `reset-complete` use it too.

pub mod fetch;
pub mod manifest;
pub mod placeholder;
pub mod register;
pub mod resolve;
pub mod retry;
pub mod store;
pub mod verify;

use std::fs;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::project::Context;
use fetch::{Event, FetchConfig};
use manifest::ImageSpec;
use register::ImageRow;
use verify::ImageInfo;

/// The manifest's default place, relative to the project root.
pub const DEFAULT_MANIFEST: &str = "scripts/seed-images.toml";
/// Where the images go, relative to the project root.
pub const IMAGES_DIR: &str = "uploads/images";
/// Setting this (to anything but empty, 0, false, no or off) acts as `--offline`.
pub const OFFLINE_ENV: &str = "CMS_IMAGES_OFFLINE";
/// Files already in `uploads/images` are read and checked up to this size, or `--max-bytes` when
/// larger: the download cap is for downloads, not for images already kept. A larger file is
/// not read (a sanity bound) and counts as missing.
pub const PRESENT_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// scripts/seed-images.toml as it was when this binary was built.
const BUILT_IN_MANIFEST: &str = include_str!("../../../scripts/seed-images.toml");

/// What a run does; `Options::default()` is the command without flags.
#[derive(Clone, Debug)]
pub struct Options {
    /// The manifest, relative to the project root (or absolute).
    pub manifest: PathBuf,
    /// Fetch nothing (`CMS_IMAGES_OFFLINE=1` has the same effect).
    pub offline: bool,
    pub concurrency: usize,
    pub fetch: FetchConfig,
    /// No per-image lines or progress bars (warnings still go to stderr).
    pub quiet: bool,
    /// The seed whose time the image rows carry (`reset-complete --seed N`: rows a function
    /// of N); `None`: now.
    pub seed: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            manifest: DEFAULT_MANIFEST.into(),
            offline: false,
            concurrency: 8,
            fetch: FetchConfig::default(),
            quiet: false,
            seed: None,
        }
    }
}

/// How a run ended, image by image.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub downloaded: usize,
    /// Already present and valid: not fetched again.
    pub present: usize,
    pub placeholders: usize,
    pub elapsed: Duration,
}

impl Summary {
    pub fn total(&self) -> usize {
        self.downloaded + self.present + self.placeholders
    }

    /// One line, e.g. `9 images: 8 downloaded, 0 already present, 1 placeholder(s) in 1.2 s`.
    pub fn line(&self) -> String {
        format!(
            "{} images: {} downloaded, {} already present, {} placeholder(s) in {:.1} s",
            self.total(),
            self.downloaded,
            self.present,
            self.placeholders,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Whether `CMS_IMAGES_OFFLINE` asks for offline mode.
pub fn offline_from_env() -> bool {
    std::env::var(OFFLINE_ENV)
        .is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off"))
}

/// Reads the manifest (relative to the project root); errors name the file and every problem.
pub fn load_manifest(ctx: &Context, manifest: &Path) -> Result<Vec<ImageSpec>> {
    let path = ctx.root.join(manifest);
    // A project root without scripts/ (a deployment, a test folder) uses the manifest this
    // binary was built with; a manifest named with --manifest must exist.
    let text = if manifest == Path::new(DEFAULT_MANIFEST) && !path.exists() {
        BUILT_IN_MANIFEST.to_string()
    } else {
        fs::read_to_string(&path)
            .with_context(|| format!("cannot read the image manifest {}; pass --manifest FILE", ctx.show(&path)))?
    };
    manifest::parse(&text).with_context(|| format!("the image manifest {} is invalid; fix it", ctx.show(&path)))
}

/// The whole command: downloads (or generates placeholders for) every image of the manifest into
/// `uploads/images` and upserts its row in the images table of the context's database, which
/// must be fully migrated. Placeholders are warnings, not errors; an invalid manifest, an
/// unmigrated database or a local write failure is an error.
pub fn fetch_and_register(ctx: &Context, options: &Options) -> Result<Summary> {
    let started = Instant::now();
    let specs = load_manifest(ctx, &options.manifest)?;
    let (url, _) = ctx.database_url()?;
    let mut conn = ctx.open_migrated(&url)?;
    let dir = images_dir(ctx)?;
    let offline = options.offline || offline_from_env();
    let results = download_all(&specs, &dir, options, offline)?;
    let mut summary = Summary::default();
    let mut rows = Vec::with_capacity(specs.len());
    let mut failures = Vec::new();
    for (spec, result) in specs.iter().zip(results) {
        match result {
            Ok(Outcome::Downloaded(info)) => {
                summary.downloaded += 1;
                rows.push(row(spec, info, false));
            }
            Ok(Outcome::Present(info)) => {
                summary.present += 1;
                rows.push(row(spec, info, false));
            }
            Ok(Outcome::Placeholder(info)) => {
                summary.placeholders += 1;
                rows.push(row(spec, info, true));
            }
            Err(e) => failures.push(format!("{}: {e:#}", spec.file)),
        }
    }
    register::upsert(&mut conn, &rows, cms_db::seed::ids::base_time(options.seed, cms_db::seed::now_ms()))?;
    if !failures.is_empty() {
        bail!("could not write {} image(s) into {IMAGES_DIR}:\n  {}", failures.len(), failures.join("\n  "));
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Every manifest image already present and valid in `uploads/images` (placeholders as
/// placeholders), read from disk with no network and no database: what seed, `seed --force` and
/// reset-data record in the same transaction as the rows they recreate.
pub fn present(ctx: &Context, manifest: Option<&Path>) -> Result<Vec<ImageRow>> {
    let specs = load_manifest(ctx, manifest.unwrap_or(Path::new(DEFAULT_MANIFEST)))?;
    let dir = ctx.root.join(IMAGES_DIR);
    let mut rows = Vec::new();
    for spec in &specs {
        let path = store::final_path(&dir, &spec.file)?;
        match existing(&path, spec, PRESENT_MAX_BYTES)? {
            OnDisk::Missing => {}
            OnDisk::Placeholder(info) => rows.push(row(spec, info, true)),
            // A real image the manifest's SHA-256 does not describe is still the file there.
            OnDisk::Valid(info) | OnDisk::Mismatch(info) => rows.push(row(spec, info, false)),
        }
    }
    Ok(rows)
}

fn row(spec: &ImageSpec, info: ImageInfo, is_placeholder: bool) -> ImageRow {
    ImageRow { file_name: spec.file.clone(), alt: spec.alt.clone(), info, is_placeholder }
}

/// `uploads/images` under the root, created when missing, with stale temporary files removed.
pub fn images_dir(ctx: &Context) -> Result<PathBuf> {
    let dir = ctx.root.join(IMAGES_DIR);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", ctx.show(&dir)))?;
    store::remove_stale_temp_files(&dir, Duration::from_secs(3600));
    Ok(dir)
}

/// What happened to one image.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Downloaded(ImageInfo),
    Present(ImageInfo),
    Placeholder(ImageInfo),
}

/// What is already under an image's final name.
#[derive(Clone, Debug, PartialEq)]
enum OnDisk {
    /// Nothing to keep: no file, not a whole image, a placeholder of another size, or a file
    /// over the size read for files already present.
    Missing,
    /// One of our placeholders of the intended size: replaced when a download succeeds.
    Placeholder(ImageInfo),
    /// A whole real image (matching the manifest's SHA-256 when given): not fetched again.
    Valid(ImageInfo),
    /// A whole real image that does not match the manifest's SHA-256: fetched again, and kept
    /// when that fails (a real image is never replaced by a placeholder).
    Mismatch(ImageInfo),
}

/// Reads and checks the file under an image's final name; files over `max_bytes` are not read.
fn existing(path: &Path, spec: &ImageSpec, max_bytes: u64) -> Result<OnDisk> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OnDisk::Missing),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if !meta.is_file() || meta.len() > max_bytes {
        return Ok(OnDisk::Missing);
    }
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(info) = verify::check(&bytes, None) else { return Ok(OnDisk::Missing) };
    Ok(if placeholder::is_placeholder(&bytes) {
        if (info.width, info.height) == (spec.width, spec.height) {
            OnDisk::Placeholder(info)
        } else {
            OnDisk::Missing
        }
    } else if spec.sha256.as_deref().is_some_and(|expected| expected != info.sha256) {
        OnDisk::Mismatch(info)
    } else {
        OnDisk::Valid(info)
    })
}

/// Brings every image into `dir` with a bounded pool of worker threads, in manifest order.
/// `Err` only for local failures (a file that cannot be written); download failures become
/// placeholders with a warning.
pub fn download_all(specs: &[ImageSpec], dir: &Path, options: &Options, offline: bool) -> Result<Vec<Result<Outcome>>> {
    let client = if offline { None } else { Some(fetch::client(&options.fetch)?) };
    let report = Reporter::new(specs.len(), options.quiet);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Outcome>>>> = Mutex::new((0..specs.len()).map(|_| None).collect());
    let workers = options.concurrency.clamp(1, 64).min(specs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(spec) = specs.get(i) else { break };
                let result = one(spec, dir, client.as_ref(), &options.fetch, &report);
                results.lock().expect("no worker panics while holding the lock")[i] = Some(result);
            });
        }
    });
    report.finish();
    Ok(results.into_inner().expect("workers done").into_iter().map(|r| r.expect("every image handled")).collect())
}

/// One image: keep it when present and valid, else download, else a placeholder.
fn one(
    spec: &ImageSpec,
    dir: &Path,
    client: Option<&reqwest::blocking::Client>,
    cfg: &FetchConfig,
    report: &Reporter,
) -> Result<Outcome> {
    let path = store::final_path(dir, &spec.file)?;
    let present = existing(&path, spec, cfg.max_bytes.max(PRESENT_MAX_BYTES))?;
    if let OnDisk::Valid(info) = &present {
        report.done(&spec.file, &format!("already present ({})", describe(info)));
        return Ok(Outcome::Present(info.clone()));
    }
    let reason = match client {
        None => "offline (--offline or CMS_IMAGES_OFFLINE)".to_string(),
        Some(client) => {
            let bar = report.file_bar(&spec.file);
            let events = |e: Event| match e {
                Event::Progress { received, total } => {
                    if let Some(t) = total {
                        bar.set_length(t);
                    }
                    bar.set_position(received);
                }
                Event::Retry { attempt, delay, reason } => report.line(&format!(
                    "  retry   {}: attempt {attempt} failed ({reason}); next in {:.1} s",
                    spec.file,
                    delay.as_secs_f64()
                )),
            };
            let fetched = fetch::fetch(client, &spec.url, cfg, &events)
                .and_then(|f| verify::check(&f.bytes, spec.sha256.as_deref()).map(|info| (f, info)));
            bar.finish_and_clear();
            match fetched {
                Ok((f, info)) => {
                    store::write_atomic(dir, &spec.file, &f.bytes)?;
                    report.done(&spec.file, &format!("downloaded ({})", describe(&info)));
                    return Ok(Outcome::Downloaded(info));
                }
                Err(e) => format!("{} from {}", e, spec.url),
            }
        }
    };
    let info = match present {
        OnDisk::Placeholder(info) => info,
        OnDisk::Mismatch(info) | OnDisk::Valid(info) => {
            report.warn(&format!(
                "warning: {}: {reason}; keeping the image already there ({}), which does not match the manifest's SHA-256",
                spec.file,
                describe(&info)
            ));
            report.done(&spec.file, &format!("kept ({})", describe(&info)));
            return Ok(Outcome::Present(info));
        }
        OnDisk::Missing => {
            let bytes = placeholder::jpeg(spec.width, spec.height)?;
            store::write_atomic(dir, &spec.file, &bytes)?;
            verify::check(&bytes, None).map_err(anyhow::Error::msg)?
        }
    };
    report.warn(&format!("warning: {}: {reason}; using a {}x{} placeholder", spec.file, spec.width, spec.height));
    report.done(&spec.file, "placeholder");
    Ok(Outcome::Placeholder(info))
}

fn describe(info: &ImageInfo) -> String {
    format!("{}x{}, {} KiB", info.width, info.height, info.bytes.div_ceil(1024))
}

/// Progress on a terminal (an overall bar and one bar per download), plain lines otherwise.
struct Reporter {
    multi: Option<MultiProgress>,
    overall: ProgressBar,
    quiet: bool,
}

impl Reporter {
    fn new(total: usize, quiet: bool) -> Reporter {
        if !quiet && std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("images {bar:30} {pos}/{len} {elapsed}").expect("valid template"),
            );
            Reporter { multi: Some(multi), overall, quiet }
        } else {
            Reporter { multi: None, overall: ProgressBar::hidden(), quiet }
        }
    }

    fn file_bar(&self, file: &str) -> ProgressBar {
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template("  {msg:20} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
                        .expect("valid template"),
                );
                bar.set_message(file.to_string());
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    /// A line on stdout (above the bars on a terminal).
    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => out!("{text}"),
        }
    }

    /// A line on stderr (above the bars on a terminal).
    fn warn(&self, text: &str) {
        match &self.multi {
            Some(m) => m.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    fn done(&self, file: &str, what: &str) {
        self.overall.inc(1);
        self.line(&format!("  {file:<20} {what}"));
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms_db::connection::{Connection, Sql, Value};
    use cms_db::migrate::migrator::{self, MigrateOptions};
    use cms_db::DatabaseUrl;

    const MANIFEST: &str = r#"
[[image]]
file = "real.jpg"
url = "http://127.0.0.1:9/real.jpg"
alt = "Real"
width = 40
height = 30
licence = "CC0"

[[image]]
file = "stand-in.jpg"
url = "http://127.0.0.1:9/stand-in.jpg"
alt = "Stand-in"
width = 40
height = 30
licence = "CC0"

[[image]]
file = "missing.jpg"
url = "http://127.0.0.1:9/missing.jpg"
alt = "Missing"
width = 40
height = 30
licence = "CC0"
"#;

    /// A real (marker-free) JPEG.
    fn photo() -> Vec<u8> {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 80)
            .encode(&[200u8; 40 * 30 * 3], 40, 30, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    /// A temp project root with the test manifest and an empty uploads/images.
    fn project() -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::at(dir.path().to_path_buf());
        fs::create_dir_all(dir.path().join("scripts")).unwrap();
        fs::write(dir.path().join(DEFAULT_MANIFEST), MANIFEST).unwrap();
        fs::create_dir_all(dir.path().join(IMAGES_DIR)).unwrap();
        (dir, ctx)
    }

    /// A migrated SQLite database in `root`.
    fn migrated_sqlite(root: &Path) -> Connection {
        let url = DatabaseUrl::Sqlite { path: root.join("db.sqlite") };
        let set = cms_db::MigrationSet::load(&test_support::project_root().join("migrations/sqlite")).unwrap();
        migrator::migrate(cms_db::driver(&url, false).unwrap().as_mut(), &set, &MigrateOptions::default(), &mut |_| {})
            .unwrap();
        cms_db::connect(&url).unwrap()
    }

    /// Records every manifest image present in uploads/images, as seed-images does for them.
    fn register_present(ctx: &Context, conn: &mut Connection, manifest: Option<&Path>) -> Result<usize> {
        let rows = present(ctx, manifest)?;
        register::upsert(conn, &rows, cms_db::seed::now_ms())?;
        Ok(rows.len())
    }

    #[test]
    fn register_present_records_files_on_disk_without_network() {
        let (dir, ctx) = project();
        let images = dir.path().join(IMAGES_DIR);
        let real = photo();
        fs::write(images.join("real.jpg"), &real).unwrap();
        fs::write(images.join("stand-in.jpg"), placeholder::jpeg(40, 30).unwrap()).unwrap();

        let mut conn = migrated_sqlite(dir.path());
        assert_eq!(register_present(&ctx, &mut conn, None).unwrap(), 2);
        assert_eq!(register_present(&ctx, &mut conn, None).unwrap(), 2, "idempotent");
        let rows =
            conn.query("SELECT file_name, is_placeholder, bytes, sha256 FROM images ORDER BY file_name", &[]).unwrap();
        assert_eq!(rows.len(), 2);
        let real_row: Vec<Value> =
            vec!["real.jpg".into(), 0.into(), (real.len() as i64).into(), verify::sha256_hex(&real).into()];
        assert_eq!(rows[0], real_row);
        assert_eq!(rows[1][..2], [Value::from("stand-in.jpg"), Value::Int(1)]);
    }

    #[test]
    fn register_present_records_a_real_image_larger_than_the_download_cap() {
        let (dir, ctx) = project();
        let images = dir.path().join(IMAGES_DIR);
        // A whole JPEG followed by padding: a valid image over the default 20 MiB cap.
        let mut big = photo();
        big.resize((FetchConfig::default().max_bytes + 1024) as usize, 0);
        fs::write(images.join("real.jpg"), &big).unwrap();

        let mut conn = migrated_sqlite(dir.path());
        assert_eq!(register_present(&ctx, &mut conn, None).unwrap(), 1);
        let rows = conn
            .query("SELECT is_placeholder, bytes, sha256 FROM images WHERE file_name = $1", &["real.jpg".into()])
            .unwrap();
        let big_row: Vec<Value> = vec![0.into(), (big.len() as i64).into(), verify::sha256_hex(&big).into()];
        assert_eq!(rows, [big_row]);
    }

    #[test]
    fn summary_line() {
        let s = Summary { downloaded: 7, present: 1, placeholders: 1, elapsed: Duration::from_millis(1234) };
        assert_eq!(s.line(), "9 images: 7 downloaded, 1 already present, 1 placeholder(s) in 1.2 s");
    }
}
