//! Ids for seeded rows: fresh random UUIDs, or with `--seed N` a sequence that is a function
//! of N alone, so two databases seeded with the same N hold identical rows. Image rows are the
//! exception: their id is a function of the file name alone ([`image_id`]), whoever writes them.

/// Where ids come from.
pub enum IdSource {
    Random,
    /// splitmix64 state.
    Seeded(u64),
}

impl IdSource {
    pub fn new(seed: Option<u64>) -> IdSource {
        match seed {
            // Mix the seed so that N and N+1 start far apart.
            Some(n) => IdSource::Seeded(n ^ 0x5DEE_CE66_D1CE_4E5B),
            None => IdSource::Random,
        }
    }

    /// The next 64 pseudo-random bits (seeded) or random bits.
    pub fn next_u64(&mut self) -> u64 {
        match self {
            IdSource::Seeded(state) => {
                *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            }
            IdSource::Random => u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().expect("8 bytes")),
        }
    }

    /// A version-4-shaped UUID string.
    pub fn uuid(&mut self) -> String {
        match self {
            IdSource::Random => uuid::Uuid::new_v4().to_string(),
            IdSource::Seeded(_) => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
                bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
                uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
            }
        }
    }
}

impl IdSource {
    /// A version-7 UUID whose timestamp field is `stamp_ms` and whose other bits come from this
    /// source. Giving each row of a bulk load its own increasing stamp makes the ids sort in
    /// insertion order, so every primary-key and foreign-key index grows at its right edge
    /// instead of splitting pages all over the tree.
    pub fn ordered_uuid(&mut self, stamp_ms: u64) -> String {
        let mut tail = [0u8; 10];
        tail[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        tail[8..].copy_from_slice(&self.next_u64().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(stamp_ms, &tail).into_uuid().to_string()
    }
}

/// The id of the images row for `file_name` in `uploads/images`: a name-based UUID (version 8,
/// from SHA-256 as RFC 9562 B.2 shows), the same for the seed (with or without `--seed N`),
/// `seed --force`, `reset-data` and `seed-images`. The file name is the row's natural key (it is
/// unique), so every writer agrees on the id whichever runs first, and a database seeded with
/// `--seed N` holds the same image ids as any other seeded with N, with the same files on disk.
pub fn image_id(file_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(b"cms images.file_name\0").chain_update(file_name.as_bytes()).finalize();
    let bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// The base time of seeded rows: with a seed, 2025-01-01T00:00:00Z plus N seconds (a function
/// of N); without, now.
pub fn base_time(seed: Option<u64>, now_ms: i64) -> i64 {
    match seed {
        Some(n) => 1_735_689_600_000 + (n % 1_000_000_000) as i64 * 1000,
        None => now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_are_a_function_of_the_seed() {
        let a: Vec<String> = (0..5)
            .map({
                let mut s = IdSource::new(Some(7));
                move |_| s.uuid()
            })
            .collect();
        let b: Vec<String> = (0..5)
            .map({
                let mut s = IdSource::new(Some(7));
                move |_| s.uuid()
            })
            .collect();
        let c = IdSource::new(Some(8)).uuid();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
        assert_eq!(a.iter().collect::<std::collections::HashSet<_>>().len(), 5);
        assert_eq!(uuid::Uuid::parse_str(&a[0]).unwrap().get_version_num(), 4);
        assert_ne!(IdSource::Random.uuid(), IdSource::Random.uuid());
        assert_eq!(base_time(Some(1), 5), 1_735_689_601_000);
        assert_eq!(base_time(None, 5), 5);
    }

    /// `image_id("hero-home.jpg")`, computed independently (Python's hashlib and uuid).
    const PINNED_HERO_ID: &str = "b0472ec3-c2b7-80a9-904e-b5bfd88b6d47";

    #[test]
    fn image_ids_are_a_function_of_the_file_name() {
        let a = image_id("hero-home.jpg");
        assert_eq!(a, image_id("hero-home.jpg"));
        assert_ne!(a, image_id("hero-about.jpg"));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        // Pinned: a changed derivation would re-key every image row already registered.
        assert_eq!(a, PINNED_HERO_ID);
    }

    #[test]
    fn ordered_ids_sort_by_their_stamp_and_follow_the_seed() {
        let mut s = IdSource::new(Some(3));
        let ids: Vec<String> = (0..300).map(|i| s.ordered_uuid(1_735_689_600_000 + i)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(uuid::Uuid::parse_str(&ids[0]).unwrap().get_version_num(), 7);
        assert_eq!(IdSource::new(Some(3)).ordered_uuid(1_735_689_600_000), ids[0]);
        assert_ne!(IdSource::new(Some(4)).ordered_uuid(1_735_689_600_000), ids[0]);
    }
}
