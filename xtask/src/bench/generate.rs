//! `cargo xtask bench generate`: `generate` on the project's schema, whole process, with no
//! change and with one added column.

use std::fs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::format::ms;
use crate::project::Context;

/// `generate` as a user runs it (this binary, a new process each time) on a copy of the
/// project's folders: once with nothing to do, once writing the migration for one added
/// column (the code schema plus `posts.subtitle`, given as `--to sql:FILE`). The folder is
/// put back between runs, untimed.
pub fn run(ctx: &Context, runs: usize, postgres: Option<&str>) -> Result<ExitCode> {
    use cms_db::schema::Dialect;
    let exe = std::env::current_exe().context("finding this binary")?;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    out!("| generate ({profile} build, whole process, median of {runs}) | no change | one added column | goal |");
    out!("|---|---|---|---|");
    let mut dialects = vec![(Dialect::Sqlite, None)];
    if let Some(url) = postgres {
        dialects.push((Dialect::Postgres, Some(url)));
    }
    for (dialect, server) in dialects {
        let tmp = tempfile::tempdir().context("creating a temporary folder")?;
        let folder = tmp.path().join(dialect.default_folder());
        let pristine = tmp.path().join("pristine");
        super::copy_folder(&ctx.root.join(dialect.default_folder()), &pristine)?;
        let mut schema = cms_db::cms_schema::declaration();
        let posts = schema.tables.iter_mut().find(|t| t.name == "posts").context("the schema has posts")?;
        posts.columns.push(cms_db::schema::declare::text("subtitle"));
        let desired = tmp.path().join("desired.sql");
        fs::write(&desired, schema.ddl(dialect))?;
        let to = format!("sql:{}", desired.display());
        let run = |extra: &[&str]| -> Result<(Duration, String)> {
            let mut cmd = std::process::Command::new(&exe);
            cmd.arg("generate").args(["--dialect", &dialect.to_string()]).args(extra);
            if let Some(url) = server {
                cmd.args(["--dev-url", url]);
            }
            cmd.env("CMS_PROJECT_ROOT", tmp.path()).env_remove("DATABASE_URL").env_remove("DEV_DATABASE_URL");
            let started = Instant::now();
            let out = cmd.output().context("running generate")?;
            let took = started.elapsed();
            anyhow::ensure!(out.status.success(), "generate failed: {}", String::from_utf8_lossy(&out.stderr));
            Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
        };
        let mut unchanged = Vec::with_capacity(runs);
        let mut added = Vec::with_capacity(runs);
        for _ in 0..runs {
            let _ = fs::remove_dir_all(&folder);
            super::copy_folder(&pristine, &folder)?;
            let (t, out) = run(&[])?;
            anyhow::ensure!(out.contains("no schema changes"), "expected no change: {out}");
            unchanged.push(t);
            let (t, out) = run(&["--to", &to, "--name", "add_subtitle"])?;
            anyhow::ensure!(out.contains("0006_add_subtitle.sql"), "expected one new migration: {out}");
            added.push(t);
        }
        let goal = if dialect == Dialect::Sqlite { "< 100 ms" } else { "" };
        out!("| {dialect} | {} | {} | {goal} |", ms(super::median(unchanged)), ms(super::median(added)));
    }
    Ok(ExitCode::SUCCESS)
}
