//! What the schema commands (diff, and the ones built on it) share: turning `--from`/`--to`
//! into schemas of one dialect, where scratch databases are made, and resolving renames
//! (flags, a question on a terminal, or an error listing the choices).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context as _, Result};
use cms_db::schema::diff::{self, Change, DiffError, Renames};
use cms_db::schema::source::{ScratchServer, Source};
use cms_db::schema::{Dialect, Schema};

use crate::project::Context;

/// Two sources read as schemas of one dialect.
pub struct Pair {
    pub from: Schema,
    pub to: Schema,
    pub scratch: ScratchServer,
    /// The sources as they may be printed (passwords as `***`).
    pub from_source: Source,
    pub to_source: Source,
}

/// Parses and resolves a source as the user spelled it (relative paths against the root).
pub fn source(ctx: &Context, spelled: &str) -> Result<Source> {
    Ok(Source::parse(spelled)?.resolve(&ctx.root))
}

/// The dialect both sides share: what either source determines, else the configured
/// database's. Two different ones are an error.
pub fn dialect(ctx: &Context, from: &Source, to: &Source) -> Result<Dialect> {
    let a = from.dialect().with_context(|| format!("reading --from {from}"))?;
    let b = to.dialect().with_context(|| format!("reading --to {to}"))?;
    match (a, b) {
        (Some(a), Some(b)) if a != b => {
            bail!("--from {from} is {a} but --to {to} is {b}: both sides of a diff must be one dialect")
        }
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => {
            let (url, _) = ctx.database_url()?;
            Ok(url.dialect())
        }
    }
}

/// Where PostgreSQL scratch databases are made: `--dev-url`, else a live PostgreSQL source,
/// else the configured database when it is PostgreSQL.
pub fn scratch_server(ctx: &Context, dev_url: Option<&str>, sources: &[&Source]) -> ScratchServer {
    let template = std::env::var(SCRATCH_TEMPLATE_ENV).ok().filter(|t| !t.trim().is_empty());
    let server = if let Some(url) = dev_url {
        ScratchServer::postgres(url)
    } else if let Some(url) = sources.iter().find_map(|s| s.postgres_url()) {
        ScratchServer::postgres(url)
    } else {
        match ctx.database_url() {
            Ok((cms_db::DatabaseUrl::Postgres { url }, _)) => ScratchServer::postgres(url),
            _ => ScratchServer::default(),
        }
    };
    server.with_template(template)
}

/// The database PostgreSQL scratch databases are copies of (default: an empty `template0`).
pub const SCRATCH_TEMPLATE_ENV: &str = "CMS_SCRATCH_TEMPLATE";

/// Reads both sources.
pub fn load(ctx: &Context, from: &str, to: &str, dev_url: Option<&str>) -> Result<Pair> {
    let from = source(ctx, from).context("--from")?;
    let to = source(ctx, to).context("--to")?;
    let dialect = dialect(ctx, &from, &to)?;
    let scratch = scratch_server(ctx, dev_url, &[&from, &to]);
    let from_schema = from.load(dialect, &scratch).with_context(|| format!("reading --from {from}"))?;
    let to_schema = to.load(dialect, &scratch).with_context(|| format!("reading --to {to}"))?;
    Ok(Pair { from: from_schema, to: to_schema, scratch, from_source: from, to_source: to })
}

/// The changes from `from` to `to` with every rename settled: the `--rename` flags, then on a
/// terminal a question per remaining candidate (default no: drop and add); without a terminal
/// an ambiguity is an error that lists the candidates and the flags that settle them.
pub fn changes(from: &Schema, to: &Schema, rename_flags: &[String]) -> Result<(Vec<Change>, Renames)> {
    let mut renames = Renames::parse(rename_flags)?;
    loop {
        match diff::diff(from, to, &renames) {
            Ok(changes) => return Ok((changes, renames)),
            Err(DiffError::Ambiguous { candidates }) if std::io::stdin().is_terminal() => {
                for c in &candidates {
                    if ask(&format!("{c}: is it a rename (keeping the data)?"))? {
                        renames.accept(c);
                    }
                }
                renames = renames.and_rest_are_not_renames();
            }
            Err(e @ DiffError::Ambiguous { .. }) => {
                bail!("{e}; there is no terminal to ask on, so nothing was done")
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asks a yes/no question on the terminal (default no).
pub fn ask(question: &str) -> Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Runs `a` and `b` at once (two scratch databases are made in the time of one) and returns
/// both results.
pub fn in_parallel<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    std::thread::scope(|s| {
        let first = s.spawn(a);
        let second = b();
        (first.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), second)
    })
}
