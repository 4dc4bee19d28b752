//! The database part of a backup. SQLite: `VACUUM INTO` a temp file, one read transaction,
//! so the copy is consistent while other processes write; never a copy of the live file.
//! PostgreSQL: `pg_dump -Fc` through duct, the password in the child's environment, its exit
//! status and its output both checked.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use cms_db::migrate::plan::AppliedRow;
use cms_db::MigrationSet;

use super::child;
use super::manifest::Migrations;

/// `VACUUM INTO dest` from a read-only connection: a consistent, compact copy.
pub fn sqlite(db: &Path, dest: &Path) -> Result<()> {
    let conn = cms_db::sqlite::open_read_only(db)?
        .with_context(|| format!("{} does not exist; nothing to back up (check DATABASE_URL)", db.display()))?;
    // The snapshot is a temp file, read once into the archive, which is fsynced itself: VACUUM
    // INTO need not fsync it (its output follows this connection's synchronous setting). Reading
    // the source through mmap saves a read() call per page.
    conn.execute_batch("PRAGMA synchronous = OFF")?;
    let _: i64 = conn.query_row("PRAGMA mmap_size = 2147418112", [], |r| r.get(0))?;
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()])
        .map_err(|e| disk_full_hint(anyhow::Error::from(e), dest))
        .with_context(|| format!("snapshot of {} (VACUUM INTO)", db.display()))?;
    Ok(())
}

/// `PRAGMA integrity_check` on a snapshot.
pub fn sqlite_integrity(path: &Path) -> Result<()> {
    let conn = cms_db::sqlite::open_read_only(path)?.context("the snapshot is missing")?;
    // Memory-mapped reads: the check visits every page, several times; through read()
    // system calls it is ~8x slower (measured on 1 GiB: 4.5 s against 0.6 s).
    let _: i64 = conn.query_row("PRAGMA mmap_size = 2147418112", [], |r| r.get(0))?;
    let mut st = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    if lines != ["ok"] {
        bail!("the database snapshot fails PRAGMA integrity_check: {}", lines.join("; "));
    }
    Ok(())
}

/// Pure: each bookkeeping row's tag (by hash, then by our `name` column, else the hash).
pub fn name_rows(rows: &[AppliedRow], set: &MigrationSet) -> Migrations {
    let tags: Vec<String> = rows
        .iter()
        .map(|row| {
            set.migrations
                .iter()
                .find(|m| {
                    m.file.as_ref().is_some_and(|f| f.hash == row.hash || f.matches_modulo_line_endings(&row.hash))
                })
                .map(|m| m.tag.clone())
                .or_else(|| row.name.clone())
                .unwrap_or_else(|| format!("sha256:{}", row.hash))
        })
        .collect();
    Migrations { applied: tags.len(), last_tag: tags.last().cloned(), tags }
}

/// A PostgreSQL major.minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for PgVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Parses `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` or `16.2`.
pub fn parse_client_version(s: &str) -> Option<PgVersion> {
    let word = s.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = word.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some(PgVersion { major, minor })
}

/// `server_version_num` (150018) as a version.
pub fn parse_server_version_num(n: u32) -> PgVersion {
    if n >= 100_000 {
        PgVersion { major: n / 10_000, minor: n % 10_000 }
    } else {
        PgVersion { major: n / 10_000, minor: (n / 100) % 100 }
    }
}

/// pg_dump and pg_restore read servers of their own major version and older only.
pub fn version_mismatch(tool: &str, client: PgVersion, server: PgVersion) -> Option<String> {
    (server.major > client.major).then(|| {
        format!(
            "{tool} is version {client} but the server runs PostgreSQL {server}: {tool} cannot handle a newer server. \
             Install the matching client (Debian/Ubuntu: apt-get install postgresql-client-{major}) and put it first on PATH \
             (e.g. /usr/lib/postgresql/{major}/bin)",
            major = server.major
        )
    })
}

/// Refuses early, with a clear message, when `tool` is older than the server.
pub fn check_pg_versions(tool: &str, url: &str) -> Result<()> {
    let out =
        child::cmd(tool, ["--version"]).stdout_capture().stderr_capture().unchecked().run().with_context(|| {
            format!("cannot run {tool}; install the PostgreSQL client (apt-get install postgresql-client)")
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let client =
        parse_client_version(&text).with_context(|| format!("cannot read {tool}'s version from `{}`", text.trim()))?;
    let mut conn = cms_db::postgres::connect(url)?;
    let num: String = conn.query_one("SHOW server_version_num", &[])?.get(0);
    let server = parse_server_version_num(num.trim().parse().context("server_version_num")?);
    if let Some(msg) = version_mismatch(tool, client, server) {
        bail!(msg);
    }
    Ok(())
}

/// `pg_dump --format=custom` of `url` into `dest`.
pub fn postgres(url: &str, dest: &Path) -> Result<()> {
    check_pg_versions("pg_dump", url)?;
    // The URL without its password goes on the command line; the password, decoded as our own
    // connection decodes it, in the child's environment only.
    let (dbname, password) = cms_db::postgres::split_password(url);
    let args = [
        "--format=custom".to_string(),
        "--no-owner".to_string(),
        format!("--file={}", dest.display()),
        format!("--dbname={dbname}"),
    ];
    let mut cmd = child::cmd("pg_dump", &args).stdout_capture().stderr_capture().stdin_null().unchecked();
    if let Some(pw) = password {
        cmd = cmd.env("PGPASSWORD", pw);
    }
    let out = cmd.run().context("cannot run pg_dump; install the PostgreSQL client")?;
    let stderr = cms_db::url::scrub(String::from_utf8_lossy(&out.stderr).trim(), url);
    if !out.status.success() {
        bail!("pg_dump failed ({}): {stderr}", out.status);
    }
    let len = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 5];
    let ok = std::fs::File::open(dest).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok();
    if !ok || &head != b"PGDMP" || len == 0 {
        bail!("pg_dump exited successfully but wrote no custom-format dump ({len} bytes): {stderr}");
    }
    Ok(())
}

/// Reads a custom-format dump in full: its table of contents (`pg_restore -l`) and every
/// data block (`pg_restore -f /dev/null`). Both must succeed.
pub fn read_pg_dump(dump: &Path) -> Result<usize> {
    let list = child::cmd("pg_restore", ["--list".as_ref(), dump.as_os_str()])
        .stdout_capture()
        .stderr_capture()
        .stdin_null()
        .unchecked()
        .run()
        .context("cannot run pg_restore; install the PostgreSQL client")?;
    if !list.status.success() {
        bail!("pg_restore --list cannot read the dump: {}", String::from_utf8_lossy(&list.stderr).trim());
    }
    let entries =
        String::from_utf8_lossy(&list.stdout).lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()).count();
    let full = child::cmd("pg_restore", ["--file=/dev/null".as_ref(), dump.as_os_str()])
        .stdout_null()
        .stderr_capture()
        .stdin_null()
        .unchecked()
        .run()?;
    if !full.status.success() {
        bail!("pg_restore cannot read the dump in full: {}", String::from_utf8_lossy(&full.stderr).trim());
    }
    Ok(entries)
}

/// Adds "the disk is full" advice to an error caused by ENOSPC / SQLITE_FULL.
pub fn disk_full_hint(e: anyhow::Error, dest: &Path) -> anyhow::Error {
    let text = format!("{e:#}").to_ascii_lowercase();
    let full = text.contains("no space left")
        || text.contains("database or disk is full")
        || e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error() == Some(28)));
    if full {
        let dir = dest.parent().unwrap_or(dest);
        e.context(format!(
            "the disk holding {} is full; free some space (or prune old backups) and try again",
            dir.display()
        ))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_client_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(PgVersion { major: 15, minor: 18 })
        );
        assert_eq!(parse_client_version("pg_restore (PostgreSQL) 17beta1"), Some(PgVersion { major: 17, minor: 0 }));
        assert_eq!(parse_client_version("nonsense"), None);
        assert_eq!(parse_server_version_num(150018), PgVersion { major: 15, minor: 18 });
        assert_eq!(parse_server_version_num(90624), PgVersion { major: 9, minor: 6 });
    }

    #[test]
    fn a_newer_server_is_a_clear_mismatch() {
        let v15 = PgVersion { major: 15, minor: 18 };
        let v16 = PgVersion { major: 16, minor: 2 };
        let msg = version_mismatch("pg_dump", v15, v16).unwrap();
        assert!(msg.contains("pg_dump is version 15.18 but the server runs PostgreSQL 16.2"), "{msg}");
        assert!(msg.contains("postgresql-client-16"), "{msg}");
        assert_eq!(version_mismatch("pg_dump", v16, v15), None);
        assert_eq!(version_mismatch("pg_dump", v15, PgVersion { major: 15, minor: 2 }), None);
    }
}
