//! `cargo xtask bench seed-images [--count 24] [--latency-ms 200]`: the gain of parallel
//! downloads. A local HTTP server adds a fixed latency to every request; the same images are
//! fetched at the default concurrency and one after another, and the times compared.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::images::{self, manifest::ImageSpec, Options, Outcome};

pub fn run(count: usize, latency_ms: u64, concurrency: usize) -> Result<ExitCode> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let body = Arc::new(images::placeholder::jpeg(640, 400)?);
    let kib = body.len().div_ceil(1024);
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let latency = Duration::from_millis(latency_ms);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || serve(stream, &body, latency));
        }
    });
    let specs: Vec<ImageSpec> = (0..count)
        .map(|i| ImageSpec {
            file: format!("bench-{i}.jpg"),
            url: format!("http://{addr}/bench-{i}.jpg"),
            sha256: None,
            alt: format!("bench image {i}"),
            width: 640,
            height: 400,
            licence: "generated".into(),
        })
        .collect();
    out!("{count} images of {kib} KiB from 127.0.0.1, {latency_ms} ms latency per request");
    let parallel = time(&specs, concurrency)?;
    let serial = time(&specs, 1)?;
    out!("  concurrency {concurrency:>2}   {:>8.3} s", parallel.as_secs_f64());
    out!("  concurrency  1   {:>8.3} s", serial.as_secs_f64());
    out!("  speed-up         {:>8.1}x", serial.as_secs_f64() / parallel.as_secs_f64().max(1e-9));
    Ok(ExitCode::SUCCESS)
}

/// Downloads every image into a fresh folder; every one must succeed.
fn time(specs: &[ImageSpec], concurrency: usize) -> Result<Duration> {
    let dir = tempfile::tempdir()?;
    let options = Options { concurrency, quiet: true, ..Options::default() };
    let started = Instant::now();
    let results = images::download_all(specs, dir.path(), &options, false)?;
    let elapsed = started.elapsed();
    let downloaded = results.iter().filter(|r| matches!(r, Ok(Outcome::Downloaded(_)))).count();
    if downloaded != specs.len() {
        bail!("only {downloaded} of {} images were downloaded", specs.len());
    }
    Ok(elapsed)
}

fn serve(mut stream: TcpStream, body: &[u8], latency: Duration) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    std::thread::sleep(latency);
    let header = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).and_then(|()| stream.write_all(body));
}
