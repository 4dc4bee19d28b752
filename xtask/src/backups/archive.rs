//! The archive stream: a tar of `database/…`, `uploads/…` and, last, `manifest.json`,
//! compressed in independent 1 MiB chunks on every core (each chunk a gzip member or a zstd
//! frame, so `tar xzf` and `tar --zstd -xf` read it as usual). Already-compressed members
//! (JPEG, PNG, GIF, WebP, AVIF, gzip, zstd, zip, pg_dump's custom format) are stored, not
//! compressed again. Reading checks every member's path, type, size and SHA-256 against the
//! manifest.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Component, Path, PathBuf};
use std::thread::{self, JoinHandle, ScopedJoinHandle};

use anyhow::{bail, Context as _, Result};
use crossbeam_channel::{self as channel, Receiver, Sender};
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, Member, MemberKind, HEADER_PATH, MANIFEST_PATH};
use super::names::Compression;

pub mod decode;

const CHUNK: usize = 1 << 20;

/// An archive that cannot be read to its end: cut short (a copy that did not finish, a disk
/// that filled up while it was written) or damaged. Says which file, what failed and what to do.
#[derive(Debug)]
pub struct Unreadable {
    pub archive: String,
    /// The member being read when it failed.
    pub member: Option<String>,
    pub cause: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is damaged: it is truncated or corrupt (", self.archive)?;
        if let Some(m) = &self.member {
            write!(f, "reading member `{m}`: ")?;
        }
        write!(
            f,
            "{}), so it cannot be restored. Use another backup (`cargo xtask backup list`; `cargo xtask backup verify FILE` checks one without changing anything) or make a new one with `cargo xtask backup`",
            self.cause
        )
    }
}

impl std::error::Error for Unreadable {}

/// An [`Unreadable`] error for `archive` (a display name).
pub fn unreadable(archive: &str, member: Option<&str>, cause: impl std::fmt::Display) -> anyhow::Error {
    Unreadable { archive: archive.to_string(), member: member.map(String::from), cause: cause.to_string() }.into()
}

/// Compression settings of the writer.
#[derive(Clone, Copy, Debug)]
pub struct Codec {
    pub compression: Compression,
    pub level: u32,
    pub threads: usize,
}

impl Codec {
    pub fn default_level(c: Compression) -> u32 {
        match c {
            Compression::Gzip => 1,
            Compression::Zstd => 3,
        }
    }
}

struct Job {
    seq: u64,
    data: Vec<u8>,
    store: bool,
}

/// A `Write` that cuts its input into chunks, compresses them on worker threads and writes
/// them to `W` in order on a writer thread. `finish` returns `W` or the first error (a full
/// disk, a worker's panic).
pub struct ParallelEncoder<W: Write + Send + 'static> {
    buf: Vec<u8>,
    store: bool,
    seq: u64,
    jobs: Option<Sender<Job>>,
    /// The writer, which runs the workers in its scope.
    writer: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ParallelEncoder<W> {
    pub fn new(out: W, codec: Codec) -> ParallelEncoder<W> {
        let threads = codec.threads.max(1);
        let (job_tx, job_rx) = channel::bounded::<Job>(threads * 2);
        let writer = thread::spawn(move || {
            let (done_tx, done_rx) = channel::bounded(threads * 2);
            thread::scope(|s| {
                for _ in 0..threads {
                    let (jobs, done) = (job_rx.clone(), done_tx.clone());
                    s.spawn(move || {
                        for job in jobs {
                            let out = caught("a compression worker", || compress_chunk(&job.data, codec, job.store));
                            if done.send((job.seq, out)).is_err() {
                                return;
                            }
                        }
                    });
                }
                // Only the workers hold these now: when the writer stops, they stop, and then
                // the next `dispatch` fails instead of waiting.
                drop((job_rx, done_tx));
                write_in_order(out, done_rx)
            })
        });
        ParallelEncoder {
            buf: Vec::with_capacity(CHUNK),
            store: false,
            seq: 0,
            jobs: Some(job_tx),
            writer: Some(writer),
        }
    }

    /// Store (do not compress) what is written from now on, or compress it again.
    pub fn set_store(&mut self, store: bool) -> io::Result<()> {
        if store != self.store {
            self.dispatch()?;
            self.store = store;
        }
        Ok(())
    }

    fn dispatch(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let job = Job { seq: self.seq, data, store: self.store };
        self.seq += 1;
        let sent = self.jobs.as_ref().map(|tx| tx.send(job));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped on an error (a full disk, say): report that error.
            _ => Err(self.stop().err().unwrap_or_else(|| io::Error::other("the archive writer stopped"))),
        }
    }

    /// Ends the threads; the writer's result.
    fn stop(&mut self) -> io::Result<W> {
        self.jobs = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(panic)) => Err(panicked("the archive writer", panic)),
            None => Err(io::Error::other("the archive writer already stopped")),
        }
    }

    /// Flushes the last chunk, waits for the threads and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.dispatch()?;
        self.stop()
    }
}

impl<W: Write + Send + 'static> Write for ParallelEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for ParallelEncoder<W> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `f`'s result, or its panic as an error that says `who` panicked and why.
pub fn caught<T>(who: &str, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panicked(who, panic)))
}

/// A thread's panic as an error carrying its message.
pub fn panicked(who: &str, panic: Box<dyn std::any::Any + Send>) -> io::Error {
    let why = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    io::Error::other(format!("{who} panicked: {}", why.unwrap_or("no message")))
}

fn write_in_order<W: Write>(mut out: W, done: Receiver<(u64, io::Result<Vec<u8>>)>) -> io::Result<W> {
    let mut next = 0u64;
    let mut waiting = BTreeMap::new();
    for (seq, chunk) in done {
        waiting.insert(seq, chunk?);
        while let Some(chunk) = waiting.remove(&next) {
            out.write_all(&chunk)?;
            next += 1;
        }
    }
    if !waiting.is_empty() {
        return Err(io::Error::other("a compressed chunk went missing"));
    }
    out.flush()?;
    Ok(out)
}

fn compress_chunk(data: &[u8], codec: Codec, store: bool) -> io::Result<Vec<u8>> {
    match codec.compression {
        Compression::Gzip => {
            let level = if store { 0 } else { codec.level.min(9) };
            let mut enc =
                flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2 + 64), flate2::Compression::new(level));
            enc.write_all(data)?;
            enc.finish()
        }
        Compression::Zstd => {
            // zstd passes incompressible blocks through raw; level 1 keeps that cheap.
            let level = if store { 1 } else { codec.level.clamp(1, 19) as i32 };
            let mut c = zstd::bulk::Compressor::new(level)?;
            c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
            c.compress(data)
        }
    }
}

/// True when the first bytes say the content is already compressed.
pub fn already_compressed(head: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"\xFF\xD8\xFF",      // JPEG
        b"\x89PNG\r\n\x1a\n", // PNG
        b"GIF87a",            // GIF
        b"GIF89a",            // GIF
        b"\x1F\x8B",          // gzip
        b"\x28\xB5\x2F\xFD",  // zstd
        b"PK\x03\x04",        // zip, docx, …
        b"PGDMP",             // pg_dump custom format (compressed by default)
    ];
    if MAGIC.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    let riff_webp = head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP";
    let iso_image = head.len() >= 12 && &head[4..8] == b"ftyp" && matches!(&head[8..12], b"avif" | b"heic" | b"mif1");
    riff_webp || iso_image
}

/// Reads through and hashes what it passes on.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing { inner, hasher: Sha256::new(), count: 0 }
    }

    pub fn finish(self) -> (u64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Writes the tar stream: members, then the manifest.
pub struct ArchiveWriter<W: Write + Send + 'static> {
    tar: tar::Builder<ParallelEncoder<W>>,
    pub members: Vec<Member>,
}

impl<W: Write + Send + 'static> ArchiveWriter<W> {
    pub fn new(out: W, codec: Codec) -> ArchiveWriter<W> {
        let mut tar = tar::Builder::new(ParallelEncoder::new(out, codec));
        tar.mode(tar::HeaderMode::Deterministic);
        ArchiveWriter { tar, members: Vec::new() }
    }

    pub fn add_dir(&mut self, name: &str) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        self.tar.append_data(&mut h, name, io::empty()).with_context(|| format!("writing {name} to the archive"))?;
        self.members.push(Member { path: name.to_string(), kind: MemberKind::Dir, size: 0, sha256: None });
        Ok(())
    }

    /// Adds a file's bytes under `name`, hashing them on the way; refuses a file whose size
    /// changed while it was read, or that has grown past `limit` (the size the archive's
    /// header lists it with).
    pub fn add_file(&mut self, name: &str, path: &Path, mode: u32, limit: u64) -> Result<()> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata()?.len();
        if size > limit {
            bail!(
                "{} grew from {limit} to {size} bytes while the backup was running; run the backup again",
                path.display()
            );
        }
        let mut reader = BufReader::with_capacity(256 << 10, file);
        let head = io::BufRead::fill_buf(&mut reader)?;
        let store = already_compressed(head);
        self.tar.get_mut().set_store(store)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(mode & 0o777);
        let mut hashing = Hashing::new(reader.take(size));
        self.tar.append_data(&mut h, name, &mut hashing).with_context(|| format!("writing {name} to the archive"))?;
        let (count, sha256) = hashing.finish();
        if count != size {
            bail!(
                "{} shrank from {size} to {count} bytes while it was being archived; run the backup again",
                path.display()
            );
        }
        self.members.push(Member { path: name.to_string(), kind: MemberKind::File, size, sha256: Some(sha256) });
        Ok(())
    }

    /// Adds small in-memory bytes (the header) as a listed member.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        self.tar.append_data(&mut h, name, bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        self.members.push(Member {
            path: name.into(),
            kind: MemberKind::File,
            size: bytes.len() as u64,
            sha256: Some(sha256),
        });
        Ok(())
    }

    /// Appends the manifest and ends the stream; returns the output.
    pub fn finish(mut self, manifest: &Manifest) -> Result<W> {
        let json = serde_json::to_vec_pretty(manifest)?;
        self.tar.get_mut().set_store(false)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(json.len() as u64);
        h.set_mode(0o600);
        self.tar.append_data(&mut h, MANIFEST_PATH, json.as_slice())?;
        let encoder = self.tar.into_inner().context("ending the tar stream")?;
        Ok(encoder.finish()?)
    }
}

/// Opens an archive for reading, whichever compression it uses (told by its first bytes).
pub fn open(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let head = io::BufRead::fill_buf(&mut reader)?.to_vec();
    if head.starts_with(b"\x1F\x8B") {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(b"\x28\xB5\x2F\xFD") {
        Ok(Box::new(zstd::Decoder::with_buffer(reader)?))
    } else {
        bail!("{} is neither gzip nor zstd compressed; it is not one of our backups", path.display())
    }
}

/// The header (`backup.json`, the first member): the manifest without hashes, read by
/// `backup list` from the first chunk only. `None` when the archive does not start with one.
pub fn read_header(path: &Path) -> Result<Option<Manifest>> {
    let name = path.display().to_string();
    let mut archive = tar::Archive::new(open(path)?);
    let mut members = Members::new(&mut archive, &name)?;
    let Some(mut first) = members.next()? else { return Ok(None) };
    if first.path != HEADER_PATH || first.size > Manifest::HEADER_LIMIT {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    first.entry.read_to_end(&mut bytes).map_err(|e| unreadable(&name, Some(HEADER_PATH), e))?;
    Ok(Some(Manifest::parse(&bytes).with_context(|| format!("{name}: {HEADER_PATH} cannot be read"))?))
}

/// The longest path a GNU long-name record may give (PATH_MAX).
const LONG_NAME_LIMIT: u64 = 4096;

/// A member as the tar stream declares it: checked path, type, declared size and mode, and
/// the entry its bytes are read from.
struct RawMember<'a, R: Read> {
    path: String,
    kind: MemberKind,
    size: u64,
    mode: u32,
    entry: tar::Entry<'a, R>,
}

/// The members of a tar stream, read raw so that nothing is read into memory unchecked (the
/// tar crate reads a long-name or pax record whole, whatever size it declares): a GNU
/// long-name record (how paths over 100 bytes are written) is taken up to
/// [`LONG_NAME_LIMIT`] bytes; long link names and pax records are refused (our archives have
/// none). Every member's path and type are checked before it is returned.
struct Members<'a, R: Read> {
    entries: tar::Entries<'a, R>,
    name: &'a str,
}

impl<'a, R: Read> Members<'a, R> {
    fn new(archive: &'a mut tar::Archive<R>, name: &'a str) -> Result<Members<'a, R>> {
        let entries = archive.entries().map_err(|e| unreadable(name, None, e))?.raw(true);
        Ok(Members { entries, name })
    }

    fn next(&mut self) -> Result<Option<RawMember<'a, R>>> {
        let name = self.name;
        let damaged = |e: io::Error| unreadable(name, None, e);
        let mut long_name: Option<Vec<u8>> = None;
        loop {
            let Some(entry) = self.entries.next() else {
                if long_name.is_some() {
                    return Err(unreadable(name, None, "it ends with a long-name record that names no member"));
                }
                return Ok(None);
            };
            let mut entry = entry.map_err(damaged)?;
            let entry_type = entry.header().entry_type();
            if entry_type.is_gnu_longname() {
                let size = entry.size();
                if long_name.is_some() || size > LONG_NAME_LIMIT {
                    bail!(
                        "refusing {name}: a long-name record of {size} bytes (a member name has at most {LONG_NAME_LIMIT})"
                    );
                }
                let mut bytes = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut bytes).map_err(damaged)?;
                while bytes.last() == Some(&0) {
                    bytes.pop();
                }
                long_name = Some(bytes);
                continue;
            }
            let raw = match long_name.take() {
                Some(bytes) => PathBuf::from(std::ffi::OsString::from_vec(bytes)),
                None => entry.path().map_err(damaged)?.into_owned(),
            };
            let path = check_member_path(&raw).map_err(|why| anyhow::anyhow!("refusing {name}: {why}"))?;
            let kind = match entry_type {
                tar::EntryType::Regular => MemberKind::File,
                tar::EntryType::Directory => MemberKind::Dir,
                tar::EntryType::Symlink | tar::EntryType::Link | tar::EntryType::GNULongLink => {
                    bail!("refusing {name}: member `{path}` is a link (links are never restored)")
                }
                other => bail!("refusing {name}: member `{path}` has an unsupported type ({other:?})"),
            };
            let size = entry.size();
            let mode = entry.header().mode().unwrap_or(0o644);
            return Ok(Some(RawMember { path, kind, size, mode, entry }));
        }
    }
}

/// What each member may be, known before any member's bytes are read: type and most bytes.
struct Expected {
    members: HashMap<String, (MemberKind, u64)>,
    /// Where the list came from, for messages.
    source: &'static str,
}

impl Expected {
    /// `backup.json`'s list (it cannot list itself: it is at most [`Manifest::HEADER_LIMIT`]).
    fn listed(listed: Vec<Member>) -> Expected {
        let mut members: HashMap<String, (MemberKind, u64)> =
            listed.into_iter().map(|m| (m.path, (m.kind, m.size))).collect();
        members.insert(HEADER_PATH.to_string(), (MemberKind::File, Manifest::HEADER_LIMIT));
        Expected { members, source: "backup.json" }
    }

    fn from_manifest(manifest: &Manifest) -> Expected {
        let members = manifest.members.iter().map(|m| (m.path.clone(), (m.kind, m.size))).collect();
        Expected { members, source: "manifest.json" }
    }

    /// Refuses a member before a byte of it is read: unlisted, of another type, or declaring
    /// more bytes than listed. The bytes it may have.
    fn check(&self, name: &str, m: &RawMember<'_, impl Read>) -> Result<u64> {
        let Some(&(kind, size)) = self.members.get(&m.path) else {
            bail!("refusing {name}: member `{}` is not listed in the manifest", m.path);
        };
        if kind != m.kind {
            bail!("refusing {name}: member `{}` is a {:?} but {} lists a {kind:?}", m.path, m.kind, self.source);
        }
        if m.size > size {
            bail!(
                "refusing {name}: member `{}` declares {} bytes ({}) but {} lists {size} bytes ({}); not a byte of it was written",
                m.path,
                m.size,
                crate::format::size(m.size),
                self.source,
                crate::format::size(size)
            );
        }
        Ok(size)
    }
}

/// For archives whose `backup.json` has no member list (made before it had one): reads the
/// whole stream without writing anything (every member's path and type checked, its bytes
/// skipped) to get manifest.json, the last member.
fn scan_for_manifest(path: &Path, name: &str) -> Result<Manifest> {
    let stream = decode::open(path, super::default_threads())?;
    let mut archive = tar::Archive::new(stream);
    let mut members = Members::new(&mut archive, name)?;
    let mut seen: Vec<String> = Vec::new();
    while let Some(mut m) = members.next()? {
        if m.path == MANIFEST_PATH {
            let limit = Manifest::size_limit(seen.iter().map(String::as_str));
            return read_manifest(name, &mut m, limit);
        }
        seen.push(m.path);
    }
    Err(unreadable(
        name,
        None,
        "the stream ends before manifest.json, its last member; or it is not one of our backups",
    ))
}

/// manifest.json, read into memory once its declared size is within `limit`.
fn read_manifest(name: &str, m: &mut RawMember<'_, impl Read>, limit: u64) -> Result<Manifest> {
    if m.kind != MemberKind::File || m.size > limit {
        bail!(
            "refusing {name}: manifest.json declares {} bytes, more than a manifest of its members can take ({limit})",
            m.size
        );
    }
    let mut bytes = Vec::with_capacity(m.size as usize);
    m.entry.read_to_end(&mut bytes).map_err(|e| unreadable(name, Some(MANIFEST_PATH), e))?;
    Manifest::parse(&bytes)
}

/// A member about to be read: its validated relative path and type.
pub struct Entry<'a> {
    pub path: &'a str,
    pub mode: u32,
}

/// Checks a member name: relative, no `..`, `.` or empty parts, UTF-8, and under
/// `database/` or `uploads` (or the manifest).
pub fn check_member_path(raw: &Path) -> Result<String, String> {
    let s = raw.to_str().ok_or_else(|| format!("member {} is not valid UTF-8", raw.display()))?;
    let trimmed = s.trim_end_matches('/');
    if raw.is_absolute() || s.starts_with('/') {
        return Err(format!("member `{s}` has an absolute path"));
    }
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return Err(format!("member `{s}` contains `..`")),
            _ => return Err(format!("member `{s}` is not a plain relative path")),
        }
    }
    let top = trimmed.split('/').next().unwrap_or_default();
    if !(trimmed == MANIFEST_PATH || trimmed == HEADER_PATH || top == "database" || top == "uploads") {
        return Err(format!("member `{s}` is outside database/ and uploads/"));
    }
    Ok(trimmed.to_string())
}

/// Bytes hashed and written at a time.
const MEMBER_BUF: usize = 1 << 20;

enum HashMsg {
    Data(Vec<u8>),
    End(String),
}

/// SHA-256 on threads of their own (lanes), so extraction never waits for hashing: each
/// member goes whole to one lane, buffers come back for reuse. The threads end when the pool
/// is dropped; their scope joins them.
struct HashPool<'scope> {
    lanes: Vec<Sender<HashMsg>>,
    recycled: Receiver<Vec<u8>>,
    threads: Vec<ScopedJoinHandle<'scope, Vec<(String, String)>>>,
}

impl<'scope> HashPool<'scope> {
    fn new(scope: &'scope thread::Scope<'scope, '_>, lanes: usize) -> HashPool<'scope> {
        let (recycle_tx, recycled) = channel::unbounded::<Vec<u8>>();
        let (senders, threads) = (0..lanes.max(1))
            .map(|_| {
                let (tx, rx) = channel::bounded::<HashMsg>(4);
                let recycle = recycle_tx.clone();
                let t = scope.spawn(move || {
                    let mut hasher = Sha256::new();
                    let mut out = Vec::new();
                    for msg in rx {
                        match msg {
                            HashMsg::Data(buf) => {
                                hasher.update(&buf);
                                let _ = recycle.send(buf);
                            }
                            HashMsg::End(path) => out.push((path, hex::encode(hasher.finalize_reset()))),
                        }
                    }
                    out
                });
                (tx, t)
            })
            .unzip();
        HashPool { lanes: senders, recycled, threads }
    }

    fn buffer(&self) -> Vec<u8> {
        let mut b = self.recycled.try_recv().unwrap_or_default();
        b.resize(MEMBER_BUF, 0);
        b
    }

    fn send(&self, lane: usize, msg: HashMsg) -> io::Result<()> {
        self.lanes[lane % self.lanes.len()].send(msg).map_err(|_| io::Error::other("a hashing thread stopped"))
    }

    /// Every member's SHA-256 (hex), once all are hashed.
    fn finish(self) -> Result<HashMap<String, String>> {
        drop(self.lanes);
        let mut all = HashMap::new();
        for t in self.threads {
            all.extend(t.join().map_err(|panic| panicked("a hashing thread", panic))?);
        }
        Ok(all)
    }
}

/// A member's bytes, hashed on the way (on another thread). `copy_to` writes them straight
/// from its buffers; `Read` serves them too.
pub struct MemberReader<'a> {
    inner: &'a mut dyn Read,
    pool: &'a HashPool<'a>,
    lane: usize,
    buf: Vec<u8>,
    pos: usize,
    count: u64,
    eof: bool,
    member: &'a str,
    /// The most bytes the member may have; one more is an error, and is never handed on.
    limit: u64,
    /// Why reading the archive failed (a truncated or corrupt stream), when it did: whatever
    /// the consumer makes of the error, the archive is what is wrong.
    failed: Option<String>,
}

impl<'a> MemberReader<'a> {
    /// Passes the consumed buffer to the hasher and reads the next one; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        if !self.buf.is_empty() {
            self.pool.send(self.lane, HashMsg::Data(std::mem::take(&mut self.buf)))?;
        }
        self.pos = 0;
        if self.eof {
            return Ok(false);
        }
        let mut b = self.pool.buffer();
        // Up to one byte past the limit: enough to tell that the member outgrows it.
        let room = (self.limit - self.count).saturating_add(1);
        if (b.len() as u64) > room {
            b.truncate(room as usize);
        }
        let mut n = 0;
        while n < b.len() {
            match self.inner.read(&mut b[n..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = Some(e.to_string());
                    return Err(e);
                }
            }
        }
        b.truncate(n);
        if self.count + n as u64 > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("member `{}` has more than the {} bytes it is listed with", self.member, self.limit),
            ));
        }
        self.count += n as u64;
        self.buf = b;
        Ok(n > 0)
    }

    /// Writes the rest of the member to `w`; the bytes written.
    pub fn copy_to(&mut self, w: &mut impl Write) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            if self.pos < self.buf.len() {
                w.write_all(&self.buf[self.pos..])?;
                total += (self.buf.len() - self.pos) as u64;
                self.pos = self.buf.len();
            }
            if !self.refill()? {
                return Ok(total);
            }
        }
    }

    /// Reads (and hashes) what the consumer left; the member's size as read.
    fn finish(mut self) -> io::Result<u64> {
        while self.refill()? {}
        self.pool.send(self.lane, HashMsg::End(self.member.to_string()))?;
        Ok(self.count)
    }
}

impl Read for MemberReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() && !self.refill()? {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads the whole archive. Before a byte of a member is handed to `on_file`, its path, type
/// and declared size are checked against the member list known up front (backup.json's, or
/// manifest.json's found by a first pass that writes nothing), and its bytes are counted as
/// they stream: one more than listed stops the read. Hashes and exact sizes are compared with
/// manifest.json at the end. Nothing `on_file` does should be trusted before this returns Ok.
/// Decompression runs on every core and hashing on threads of its own.
pub fn read(path: &Path, on_file: impl FnMut(&Entry<'_>, &mut MemberReader<'_>) -> Result<()>) -> Result<Manifest> {
    thread::scope(|hashing| read_in(hashing, path, on_file))
}

fn read_in<'s>(
    hashing: &'s thread::Scope<'s, '_>,
    path: &Path,
    mut on_file: impl FnMut(&Entry<'_>, &mut MemberReader<'_>) -> Result<()>,
) -> Result<Manifest> {
    let name = path.display().to_string();
    let expected = match read_header(path)?.and_then(|h| h.expected) {
        Some(listed) => Expected::listed(listed),
        None => Expected::from_manifest(&scan_for_manifest(path, &name)?),
    };
    let threads = super::default_threads();
    let stream = decode::open(path, threads)?;
    let mut archive = tar::Archive::new(stream);
    let pool = HashPool::new(hashing, threads / 2);
    let mut seen: HashMap<String, Member> = HashMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut files = 0usize;
    let mut members = Members::new(&mut archive, &name)?;
    while let Some(mut m) = members.next()? {
        let member = m.path.clone();
        if manifest.is_some() {
            bail!("refusing {name}: member `{member}` follows manifest.json (the manifest must be last)");
        }
        if seen.contains_key(&member) {
            bail!("refusing {name}: member `{member}` appears twice");
        }
        if member == MANIFEST_PATH {
            let limit = Manifest::size_limit(seen.keys().map(String::as_str));
            manifest = Some(read_manifest(&name, &mut m, limit)?);
            continue;
        }
        let limit = expected.check(&name, &m)?;
        let (kind, size) = (m.kind, m.size);
        let count = if kind == MemberKind::File {
            let mut reader = MemberReader {
                inner: &mut m.entry,
                pool: &pool,
                lane: files,
                buf: Vec::new(),
                pos: 0,
                count: 0,
                eof: false,
                member: &member,
                limit: size.min(limit),
                failed: None,
            };
            files += 1;
            if let Err(e) = on_file(&Entry { path: &member, mode: m.mode }, &mut reader) {
                return Err(match reader.failed.take() {
                    Some(cause) => unreadable(&name, Some(&member), cause),
                    None => e,
                });
            }
            reader.finish().map_err(|e| unreadable(&name, Some(&member), e))?
        } else {
            io::copy(&mut m.entry, &mut io::sink()).map_err(|e| unreadable(&name, Some(&member), e))?
        };
        if count != size {
            return Err(unreadable(&name, Some(&member), "the member is cut short"));
        }
        seen.insert(member.clone(), Member { path: member, kind, size, sha256: None });
    }
    // The rest of the stream too: a damaged tail must not pass.
    let mut stream = archive.into_inner();
    io::copy(&mut stream, &mut io::sink()).map_err(|e| unreadable(&name, None, e))?;
    let mut hashes = pool.finish()?;
    for m in seen.values_mut().filter(|m| m.kind == MemberKind::File) {
        m.sha256 = Some(hashes.remove(&m.path).with_context(|| format!("`{}` was not hashed", m.path))?);
    }
    let Some(manifest) = manifest else {
        return Err(unreadable(
            &name,
            None,
            "the stream ends before manifest.json, its last member; or it is not one of our backups",
        ));
    };
    let mut problems = Vec::new();
    for m in &manifest.members {
        match seen.remove(&m.path) {
            None => problems.push(format!("`{}` is listed in the manifest but missing", m.path)),
            Some(got) if got.kind != m.kind => problems.push(format!("`{}` has the wrong type", m.path)),
            Some(got) if got.size != m.size => {
                problems.push(format!("`{}` has {} bytes, the manifest says {}", m.path, got.size, m.size))
            }
            Some(got) if got.sha256 != m.sha256 => problems.push(format!("`{}` fails its SHA-256 check", m.path)),
            Some(_) => {}
        }
    }
    let mut unlisted: Vec<_> = seen.into_keys().collect();
    unlisted.sort();
    for p in unlisted {
        problems.push(format!("`{p}` is not listed in the manifest"));
    }
    if !problems.is_empty() {
        bail!("{name} failed verification: {}", problems.join("; "));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths() {
        assert_eq!(check_member_path(Path::new("uploads/images/a.jpg")).unwrap(), "uploads/images/a.jpg");
        assert_eq!(check_member_path(Path::new("uploads/")).unwrap(), "uploads");
        assert!(check_member_path(Path::new("/etc/passwd")).unwrap_err().contains("absolute"));
        assert!(check_member_path(Path::new("uploads/../../x")).unwrap_err().contains(".."));
        assert!(check_member_path(Path::new("etc/x")).unwrap_err().contains("outside"));
        assert!(check_member_path(Path::new("./uploads/x")).is_err());
    }

    #[test]
    fn magic_bytes() {
        assert!(already_compressed(b"\xFF\xD8\xFF\xE0\0\x10JFIF"));
        assert!(already_compressed(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(already_compressed(b"\0\0\0\x1cftypavif"));
        assert!(already_compressed(b"PGDMP\x01\x0e"));
        assert!(!already_compressed(b"SQLite format 3\0"));
        assert!(!already_compressed(b""));
    }

    #[test]
    fn chunks_round_trip_in_order_for_both_codecs() {
        let text: Vec<u8> = (0..3_000_000u32).flat_map(|i| format!("row {i};").into_bytes()).collect();
        let noise: Vec<u8> = (0..2_500_000).map(|_| fastrand::u8(..)).collect();
        for compression in [Compression::Gzip, Compression::Zstd] {
            let codec = Codec { compression, level: Codec::default_level(compression), threads: 3 };
            let mut enc = ParallelEncoder::new(Vec::new(), codec);
            enc.write_all(&text).unwrap();
            enc.set_store(true).unwrap();
            enc.write_all(&noise).unwrap();
            enc.set_store(false).unwrap();
            enc.write_all(b"tail").unwrap();
            let out = enc.finish().unwrap();
            assert!(out.len() < text.len() / 2 + noise.len() + 100_000, "{compression:?}: {}", out.len());
            let mut back = Vec::new();
            match compression {
                Compression::Gzip => flate2::read::MultiGzDecoder::new(out.as_slice()).read_to_end(&mut back).unwrap(),
                Compression::Zstd => zstd::Decoder::new(out.as_slice()).unwrap().read_to_end(&mut back).unwrap(),
            };
            assert_eq!(back.len(), text.len() + noise.len() + 4);
            assert!(back[..text.len()] == text[..] && back[text.len()..text.len() + noise.len()] == noise[..]);
        }
    }

    #[test]
    fn a_failing_output_is_reported_by_finish() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut enc = ParallelEncoder::new(Full, Codec { compression: Compression::Gzip, level: 1, threads: 2 });
        // The error surfaces either from a write (once the writer stopped) or from finish.
        let err = (0..64)
            .find_map(|_| enc.write_all(&[7u8; 1 << 20]).err())
            .unwrap_or_else(|| enc.finish().err().expect("finish reports the error"));
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
    }

    #[test]
    fn an_encoder_dropped_unfinished_stops_its_threads() {
        let mut enc = ParallelEncoder::new(Vec::new(), Codec { compression: Compression::Zstd, level: 1, threads: 2 });
        enc.write_all(&[7u8; 5 << 20]).unwrap();
        drop(enc);
    }

    #[test]
    fn a_panicking_output_is_reported_with_its_message() {
        struct Panics;
        impl Write for Panics {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                panic!("the output broke");
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut enc = ParallelEncoder::new(Panics, Codec { compression: Compression::Zstd, level: 1, threads: 2 });
        let err = (0..64)
            .find_map(|_| enc.write_all(&[7u8; 1 << 20]).err())
            .unwrap_or_else(|| enc.finish().err().expect("finish reports the panic"));
        assert!(err.to_string().contains("the archive writer panicked: the output broke"), "{err}");
    }
}
