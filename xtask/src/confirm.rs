//! Confirmation for destructive commands: asks on a terminal (default no); without a terminal
//! `--yes` is required.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};

pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question}: refusing without --yes, because there is no terminal to ask on (pass --yes to confirm)");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => bail!("cancelled: nothing was changed"),
    }
}
