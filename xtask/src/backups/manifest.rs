//! `manifest.json`: what an archive holds, written as its last member. Every other member is
//! listed with its size and SHA-256; restore refuses anything the manifest does not list.
//! `backup.json`, the first member, is the same record without hashes: it lists every member
//! that follows with the most bytes it may have, so a reader checks each member's name and
//! declared size before writing a byte of it.

use serde::{Deserialize, Serialize};

/// Bumped when the archive layout changes incompatibly; readers refuse newer formats.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_PATH: &str = "manifest.json";
/// The first member: the manifest without members, so `backup list` reads one chunk only.
pub const HEADER_PATH: &str = "backup.json";
pub const SQLITE_MEMBER: &str = "database/sqlite.db";
pub const POSTGRES_MEMBER: &str = "database/postgres.dump";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// UTC, RFC 3339 (`2026-05-01T10:00:00.123Z`).
    pub created_at: String,
    /// `xtask <version>`.
    pub tool: String,
    /// `sqlite` or `postgresql`.
    pub dialect: String,
    /// The database URL with any password replaced by `***`.
    pub source: String,
    pub migrations: Migrations,
    pub members: Vec<Member>,
    /// In `backup.json` only: every member that follows it (manifest.json aside), each with
    /// the most bytes it may have (its size when the backup listed it; a file that shrank
    /// before it was archived has fewer, and manifest.json has the exact size). Absent in
    /// archives made before it existed: a reader then reads manifest.json first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<Member>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrations {
    /// How many migrations the snapshot had applied.
    pub applied: usize,
    pub last_tag: Option<String>,
    /// Every applied migration's tag, in the order applied (an unknown one as its recorded
    /// name, or `sha256:<hash>`).
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: MemberKind,
    pub size: u64,
    /// Lowercase hex; absent for directories.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    File,
    Dir,
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("manifest.json is not valid ({e}); the archive is damaged or not ours"))?;
        anyhow::ensure!(
            m.format_version <= FORMAT_VERSION,
            "the archive has format version {} but this tool reads up to {FORMAT_VERSION}; restore it with a newer xtask",
            m.format_version
        );
        Ok(m)
    }

    pub fn member(&self, path: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.path == path)
    }

    /// The most bytes `backup.json` may have: it is read whole into memory.
    pub const HEADER_LIMIT: u64 = 1 << 20;

    /// The most bytes the manifest of these members can take (JSON-escaped paths and the
    /// fixed fields of each entry), so a reader never reads an outsized manifest.json into
    /// memory.
    pub fn size_limit<'a>(paths: impl IntoIterator<Item = &'a str>) -> u64 {
        paths.into_iter().map(|p| 6 * p.len() as u64 + 256).sum::<u64>() + (1 << 20)
    }

    /// Total bytes of the members (uncompressed).
    pub fn total_size(&self) -> u64 {
        self.members.iter().map(|m| m.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_newer_format_refused() {
        let m = Manifest {
            format_version: FORMAT_VERSION,
            created_at: "2026-05-01T10:00:00.000Z".into(),
            tool: "xtask 0.1.0".into(),
            dialect: "sqlite".into(),
            source: "postgres://u:***@h/db".into(),
            migrations: Migrations {
                applied: 1,
                last_tag: Some("0000_initial".into()),
                tags: vec!["0000_initial".into()],
            },
            members: vec![
                Member { path: "uploads".into(), kind: MemberKind::Dir, size: 0, sha256: None },
                Member { path: SQLITE_MEMBER.into(), kind: MemberKind::File, size: 3, sha256: Some("ab".into()) },
            ],
            expected: None,
        };
        let json = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(Manifest::parse(&json).unwrap(), m);
        assert!(String::from_utf8_lossy(&json).contains("\"type\": \"dir\""));
        assert!(!String::from_utf8_lossy(&json).contains("expected"), "absent unless listed");
        let listed = Manifest { expected: Some(m.members.clone()), members: Vec::new(), ..m.clone() };
        assert_eq!(Manifest::parse(&serde_json::to_vec(&listed).unwrap()).unwrap(), listed);
        let mut newer = m.clone();
        newer.format_version = FORMAT_VERSION + 1;
        let err = Manifest::parse(&serde_json::to_vec(&newer).unwrap()).unwrap_err().to_string();
        assert!(err.contains("newer xtask"), "{err}");
        assert!(Manifest::parse(b"{not json").unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn the_manifest_size_limit_covers_a_real_manifest() {
        let members: Vec<Member> = (0..1000)
            .map(|i| Member {
                path: format!("uploads/images/{}\"quoted\u{1}-{i}.jpg", "é".repeat(i % 40)),
                kind: MemberKind::File,
                size: u64::MAX,
                sha256: Some("f".repeat(64)),
            })
            .collect();
        let m = Manifest {
            format_version: FORMAT_VERSION,
            created_at: "2026-05-01T10:00:00.000Z".into(),
            tool: "xtask 0.1.0".into(),
            dialect: "postgresql".into(),
            source: "postgres://someone:***@a-long-host-name.example.com:5432/a_database_name".into(),
            migrations: Migrations {
                applied: 60,
                last_tag: Some("0059_x".into()),
                tags: (0..60).map(|i| format!("{i:04}_a_migration_with_a_long_name")).collect(),
            },
            members: members.clone(),
            expected: None,
        };
        let json = serde_json::to_vec_pretty(&m).unwrap();
        let limit = Manifest::size_limit(members.iter().map(|m| m.path.as_str()));
        assert!((json.len() as u64) < limit, "{} >= {limit}", json.len());
    }
}
