//! Reading an archive's compressed stream on every core. Our zstd archives are independent
//! frames of at most 1 MiB each (see `archive::ParallelEncoder`), so a reader thread cuts the
//! file at frame boundaries, workers decompress the frames, and [`ChunkReader`] hands their
//! output back in order. A gzip stream (its members cannot be found without inflating them)
//! and a zstd stream whose frames are large or unsized (not written by us) are decompressed
//! by the reader thread alone, which still overlaps the consumer. Damage is reported exactly
//! as the sequential decoders report it: the streaming decoder takes over at the first frame
//! the splitter cannot take whole.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use anyhow::{bail, Context as _, Result};
use crossbeam_channel::{self as channel, Receiver, Sender};

use super::{caught, panicked};

/// What the reader thread reads at a time.
const BLOCK: usize = 8 << 20;
/// The largest frame (compressed, or decompressed) decoded as one job.
const MAX_FRAME: usize = 32 << 20;
/// Output pieces of the streaming decoder.
const PIECE: usize = 1 << 20;

type Done = (u64, io::Result<Vec<u8>>);

struct Job {
    seq: u64,
    block: Arc<Vec<u8>>,
    range: Range<usize>,
    size: usize,
}

/// The decompressed stream, in order. Reading ahead is bounded: at most `credits` chunks are
/// decompressed and not yet read.
pub struct ChunkReader {
    done: Option<Receiver<Done>>,
    credits: Option<Sender<()>>,
    waiting: BTreeMap<u64, io::Result<Vec<u8>>>,
    next: u64,
    cur: Vec<u8>,
    pos: usize,
    failed: Option<(io::ErrorKind, String)>,
    finished: bool,
    /// The reader thread, which runs the workers in its scope.
    reader: Option<JoinHandle<()>>,
}

/// Opens `path` (gzip or zstd, told by its first bytes) for reading with `threads` workers.
pub fn open(path: &Path, threads: usize) -> Result<ChunkReader> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 4];
    let n = read_full(&mut file, &mut head)?;
    let head = head[..n].to_vec();
    let gzip = head.starts_with(b"\x1F\x8B");
    if !gzip && !head.starts_with(b"\x28\xB5\x2F\xFD") {
        bail!("{} is neither gzip nor zstd compressed; it is not one of our backups", path.display());
    }
    let threads = threads.max(1);
    let in_flight = threads * 4 + 4;
    let (credit_tx, credit_rx) = channel::bounded::<()>(in_flight);
    for _ in 0..in_flight {
        credit_tx.send(()).map_err(|_| anyhow::anyhow!("the decompression credits channel closed"))?;
    }
    let (done_tx, done_rx) = channel::unbounded::<Done>();
    let rest = Cursor::new(head).chain(file);
    let reader = thread::spawn(move || {
        if gzip {
            let decoder = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, rest));
            return stream(decoder, 0, &done_tx, &credit_rx);
        }
        let (job_tx, job_rx) = channel::bounded::<Job>(threads * 2);
        thread::scope(|s| {
            for _ in 0..threads {
                let (jobs, done) = (job_rx.clone(), done_tx.clone());
                s.spawn(move || decompress_frames(jobs, &done));
            }
            drop(job_rx);
            split_frames(rest, job_tx, &done_tx, &credit_rx);
        });
    });
    Ok(ChunkReader {
        done: Some(done_rx),
        credits: Some(credit_tx),
        waiting: BTreeMap::new(),
        next: 0,
        cur: Vec::new(),
        pos: 0,
        failed: None,
        finished: false,
        reader: Some(reader),
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A whole frame at the start of `data`: its compressed length and content size, when it is
/// complete, sized and small enough to be one job.
fn whole_frame(data: &[u8]) -> Option<(usize, usize)> {
    let len = zstd::zstd_safe::find_frame_compressed_size(data).ok()?;
    if len == 0 || len > data.len() || len > MAX_FRAME {
        return None;
    }
    match zstd::zstd_safe::get_frame_content_size(&data[..len]) {
        Ok(Some(size)) if size <= MAX_FRAME as u64 => Some((len, size as usize)),
        _ => None,
    }
}

/// The reader thread: frames to the workers while they come whole; from the first one that
/// does not (damage, a truncated tail, a frame too large or unsized), the streaming decoder.
fn split_frames(mut file: impl Read, jobs: Sender<Job>, done: &Sender<Done>, credits: &Receiver<()>) {
    let mut seq = 0u64;
    let mut block = Arc::new(Vec::new());
    let mut pos = 0;
    let mut eof = false;
    loop {
        if let Some((len, size)) = whole_frame(&block[pos..]) {
            if credits.recv().is_err() {
                return;
            }
            let job = Job { seq, block: Arc::clone(&block), range: pos..pos + len, size };
            if jobs.send(job).is_err() {
                return;
            }
            seq += 1;
            pos += len;
            continue;
        }
        let rest = &block[pos..];
        if eof || rest.len() >= MAX_FRAME {
            if rest.is_empty() && eof {
                return;
            }
            // Hand what is left to the streaming decoder: it decodes large frames and
            // reports damage the way `zstd -d` does.
            let rest = Cursor::new(rest.to_vec()).chain(file);
            match zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(1 << 20, rest)) {
                Ok(decoder) => stream(decoder, seq, done, credits),
                Err(e) => {
                    let _ = done.send((seq, Err(e)));
                }
            }
            return;
        }
        let mut next = Vec::with_capacity(rest.len() + BLOCK);
        next.extend_from_slice(rest);
        // read_to_end fills the spare capacity without zeroing it first.
        match (&mut file).take(BLOCK as u64).read_to_end(&mut next) {
            Ok(n) => eof = n < BLOCK,
            Err(e) => {
                let _ = done.send((seq, Err(e)));
                return;
            }
        }
        block = Arc::new(next);
        pos = 0;
    }
}

/// Decodes `decoder` on this thread into pieces numbered from `seq`.
fn stream(mut decoder: impl Read, mut seq: u64, done: &Sender<Done>, credits: &Receiver<()>) {
    loop {
        let mut piece = vec![0u8; PIECE];
        let n = match read_full(&mut decoder, &mut piece) {
            Ok(n) => n,
            Err(e) => {
                let _ = done.send((seq, Err(e)));
                return;
            }
        };
        if n == 0 {
            return;
        }
        piece.truncate(n);
        if credits.recv().is_err() || done.send((seq, Ok(piece))).is_err() {
            return;
        }
        seq += 1;
    }
}

fn decompress_frames(jobs: Receiver<Job>, done: &Sender<Done>) {
    let mut decompressor = match zstd::bulk::Decompressor::new() {
        Ok(d) => d,
        Err(e) => {
            // Take one job so its number is answered with the error.
            if let Ok(job) = jobs.recv() {
                let _ = done.send((job.seq, Err(e)));
            }
            return;
        }
    };
    for job in jobs {
        let out = caught("a decompression worker", || {
            let mut out = Vec::with_capacity(job.size);
            let n = decompressor.decompress_to_buffer(&job.block[job.range.clone()], &mut out)?;
            if n != job.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a zstd frame decompressed to {n} bytes, its header says {}", job.size),
                ));
            }
            Ok(out)
        });
        if done.send((job.seq, out)).is_err() {
            return;
        }
    }
}

impl ChunkReader {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(chunk) = self.waiting.remove(&self.next) {
                self.next += 1;
                if let Some(c) = &self.credits {
                    let _ = c.try_send(());
                }
                return chunk.map(Some);
            }
            let Some(done) = &self.done else { return Ok(None) };
            match done.recv() {
                Ok((seq, chunk)) => {
                    self.waiting.insert(seq, chunk);
                }
                // Every thread has ended: a panic is why, if there was one.
                Err(_) => {
                    if let Some(Err(panic)) = self.reader.take().map(JoinHandle::join) {
                        return Err(panicked("the archive reader thread", panic));
                    }
                    if !self.waiting.is_empty() {
                        return Err(io::Error::other("a decompressed chunk went missing"));
                    }
                    return Ok(None);
                }
            }
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        while self.pos == self.cur.len() {
            if self.finished {
                return Ok(0);
            }
            match self.next_chunk() {
                Ok(Some(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(None) => {
                    self.finished = true;
                    return Ok(0);
                }
                Err(e) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        // Closing both channels unblocks every thread: the reader waits for credits, the
        // workers for jobs (closed once the reader returns) or send into a closed channel.
        self.done = None;
        self.credits = None;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;
    use crate::backups::archive::{Codec, ParallelEncoder};
    use crate::backups::names::Compression;

    fn encoded(compression: Compression, data: &[u8]) -> Vec<u8> {
        let codec = Codec { compression, level: 1, threads: 2 };
        let mut enc = ParallelEncoder::new(Vec::new(), codec);
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn decode(bytes: &[u8], threads: usize) -> io::Result<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, bytes).unwrap();
        let mut out = Vec::new();
        open(&p, threads).unwrap().read_to_end(&mut out)?;
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        let mut v: Vec<u8> = (0..700_000u32).flat_map(|i| format!("row {i};").into_bytes()).collect();
        v.extend((0..3_000_000).map(|_| fastrand::u8(..)));
        v
    }

    #[test]
    fn parallel_frames_come_back_in_order() {
        let data = sample();
        for compression in [Compression::Zstd, Compression::Gzip] {
            let bytes = encoded(compression, &data);
            for threads in [1, 3] {
                assert!(decode(&bytes, threads).unwrap() == data, "{compression:?} {threads}");
            }
        }
    }

    #[test]
    fn one_large_frame_is_streamed() {
        let data = sample();
        let one = zstd::encode_all(data.as_slice(), 1).unwrap();
        assert!(decode(&one, 2).unwrap() == data);
        // Our frames followed by a large one.
        let mut mixed = encoded(Compression::Zstd, &data);
        mixed.extend_from_slice(&one);
        let back = decode(&mixed, 2).unwrap();
        assert!(back.len() == 2 * data.len() && back[..data.len()] == data[..] && back[data.len()..] == data[..]);
    }

    #[test]
    fn a_reader_dropped_half_way_stops_its_threads() {
        // More frames than credits, so the reader thread and workers are waiting when dropped.
        let bytes = encoded(Compression::Zstd, &sample().repeat(6));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, bytes).unwrap();
        let mut r = open(&p, 2).unwrap();
        r.read_exact(&mut [0u8; 100]).unwrap();
        drop(r);
    }

    #[test]
    fn damage_and_truncation_are_errors() {
        let data = sample();
        let bytes = encoded(Compression::Zstd, &data);
        let cut = &bytes[..bytes.len() - 1000];
        assert!(decode(cut, 2).is_err(), "a truncated tail must fail");
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        assert!(decode(&flipped, 2).is_err(), "a flipped byte must fail");
        let mut trailing = bytes;
        trailing.extend_from_slice(b"garbage after the frames");
        assert!(decode(&trailing, 2).is_err(), "trailing garbage must fail");
    }
}
