//! `cargo xtask …` then `cargo run -p server` must reuse one build of cms-db: every crate the two
//! graphs share has to resolve with the same features in both. This compares `cargo tree` for
//! the two packages, so a new dependency or feature that splits them fails here with the crate
//! to add to workspace-hack/Cargo.toml.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// "name version" → enabled features, for every crate (normal and build) in `package`'s graph.
fn resolved_features(package: &str) -> BTreeMap<String, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["tree", "--locked", "--offline", "-p", package])
        .args(["-e", "normal,build", "--prefix", "none", "-f", "{p}|{f}"])
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let line = line.replace(" (*)", "").replace(" (proc-macro)", "");
            let (crate_id, features) = line.split_once('|')?;
            // Workspace members carry their path; only registry crates are compared.
            (!crate_id.contains('(')).then(|| (crate_id.trim().to_string(), features.to_string()))
        })
        .collect()
}

#[test]
fn xtask_and_server_resolve_shared_crates_with_the_same_features() {
    let xtask = resolved_features("xtask");
    let server = resolved_features("server");
    assert!(xtask.keys().any(|k| k.starts_with("rusqlite ")), "{xtask:?}");
    let split: Vec<String> = xtask
        .iter()
        .filter_map(|(crate_id, features)| {
            let other = server.get(crate_id)?;
            (other != features).then(|| format!("{crate_id}: xtask [{features}], server [{other}]"))
        })
        .collect();
    assert!(
        split.is_empty(),
        "these crates resolve differently for xtask and server, so cms-db would be built twice; \
         add the union of their features to workspace-hack/Cargo.toml:\n{}",
        split.join("\n")
    );
}
