//! `cargo xtask diff --from SRC --to SRC`: the SQL that turns one schema into another,
//! verified on a scratch database before it is printed.

use std::process::ExitCode;

use anyhow::Result;
use cms_db::schema::sql::{self, to_migration_text};
use cms_db::schema::verify;

use crate::project::Context;
use crate::schema_plan;

#[derive(clap::Args)]
pub struct Args {
    /// Where to start: file:PATH, postgres://…, migrations:DIR, sql:FILE or empty
    #[arg(long, value_name = "SRC")]
    from: String,
    /// Where to go (same spellings as --from)
    #[arg(long, value_name = "SRC")]
    to: String,
    /// A rename, not a drop and an add: old=new (table) or table.old=new (column); repeatable
    #[arg(long, value_name = "OLD=NEW")]
    rename: Vec<String>,
    /// PostgreSQL server (and a role with CREATEDB) for scratch databases
    #[arg(long, value_name = "URL")]
    dev_url: Option<String>,
    /// Exit 0 when there is no difference, 2 when there is one (1 is an error)
    #[arg(long)]
    exit_code: bool,
    /// Print the changes as JSON instead of SQL
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitCode> {
    let pair = schema_plan::load(ctx, &args.from, &args.to, args.dev_url.as_deref())?;
    let (changes, _) = schema_plan::changes(&pair.from, &pair.to, &args.rename)?;
    let statements = sql::render(pair.from.dialect, &changes, &pair.from, &pair.to);
    // An empty plan needs no scratch run: the diff found the two schemas equal.
    if !statements.is_empty() {
        verify::verify(&pair.scratch, &pair.from, &pair.to, &statements)?;
    }
    if args.json {
        let out = serde_json::json!({
            "dialect": pair.from.dialect,
            "changes": changes.iter().map(|c| serde_json::json!({
                "change": c,
                "description": c.to_string(),
                "safety": c.safety().to_string(),
            })).collect::<Vec<_>>(),
            "sql": statements.iter().map(|s| &s.sql).collect::<Vec<_>>(),
        });
        out!("{}", serde_json::to_string_pretty(&out)?);
    } else if changes.is_empty() {
        eprintln!("no difference: --from {} and --to {} are the same schema", pair.from_source, pair.to_source);
    } else {
        out!("{}", to_migration_text(&statements).trim_end());
    }
    Ok(match (args.exit_code, changes.is_empty()) {
        (true, false) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}
