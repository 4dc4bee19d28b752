//! A server binary in tests: a free port of 127.0.0.1 to give it, and waiting until it listens.

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
pub const STARTUP: Duration = Duration::from_secs(30);

/// A port of 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls until something accepts connections on `port` of 127.0.0.1. Fails the test, with the
/// server's stderr (which must be piped), when `server` exits first, or after [`STARTUP`].
pub fn wait_until_listening(server: &mut Child, port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = server.try_wait().unwrap() {
            let mut err = String::new();
            server.stderr.take().expect("the server's stderr is piped").read_to_string(&mut err).unwrap();
            panic!("the server exited with {status}:\n{err}");
        }
        assert!(started.elapsed() < STARTUP, "the server did not start listening on {port}");
        // The pause between two attempts to connect, not a wait for the server.
        std::thread::sleep(Duration::from_millis(20));
    }
}
