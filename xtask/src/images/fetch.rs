//! Downloading one image over HTTP: a blocking reqwest client with a connect timeout and a total
//! timeout per request, the body streamed under a size cap, and retries (see [`super::retry`]) on
//! connection errors, timeouts, truncated bodies, 5xx and 429.

use std::io::Read as _;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};

use super::resolve::{LookupError, SystemResolver};
use super::retry::{self, Policy};
use super::verify;

#[derive(Clone, Debug)]
pub struct FetchConfig {
    pub connect_timeout: Duration,
    /// The whole request, body included.
    pub timeout: Duration,
    pub max_bytes: u64,
    pub policy: Policy,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            max_bytes: 20 * 1024 * 1024,
            policy: Policy::default(),
        }
    }
}

/// What a download reports while it runs.
pub enum Event<'a> {
    /// Bytes received so far, and the announced length.
    Progress { received: u64, total: Option<u64> },
    /// Attempt `attempt` failed with `reason`; the next one starts after `delay`.
    Retry { attempt: u32, delay: Duration, reason: &'a str },
}

/// A downloaded body whose content type says image.
pub struct Fetched {
    pub bytes: Vec<u8>,
}

struct AttemptError {
    message: String,
    retry: bool,
    retry_after: Option<Duration>,
}

impl AttemptError {
    fn fatal(message: String) -> Self {
        AttemptError { message, retry: false, retry_after: None }
    }
    fn transient(message: String) -> Self {
        AttemptError { message, retry: true, retry_after: None }
    }
}

pub fn client(cfg: &FetchConfig) -> Result<Client> {
    Client::builder()
        .dns_resolver(std::sync::Arc::new(SystemResolver))
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("cms-xtask-seed-images/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// Downloads `url`, retrying what may succeed later; the error says why the last attempt failed.
pub fn fetch(client: &Client, url: &str, cfg: &FetchConfig, events: &dyn Fn(Event)) -> Result<Fetched, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match attempt_once(client, url, cfg, events) {
            Ok(bytes) => return Ok(Fetched { bytes }),
            Err(e) if e.retry && attempt <= cfg.policy.retries => {
                let delay = cfg.policy.delay(attempt - 1, e.retry_after, fastrand::f64());
                events(Event::Retry { attempt, delay, reason: &e.message });
                std::thread::sleep(delay);
            }
            Err(e) if attempt > 1 => return Err(format!("{} (after {attempt} attempts)", e.message)),
            Err(e) => return Err(e.message),
        }
    }
}

/// Why a request got no response, from the types of its error chain (reqwest's kinds, the
/// resolver's [`LookupError`], the operating system's `io::Error`), never from its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SendFailure {
    /// Too many redirects, a loop, or a Location that is not a usable URL.
    Redirect,
    /// The request cannot be made (a URL the client cannot use).
    Builder,
    /// The host name does not exist (an offline laptop must not wait seconds per image).
    NoSuchHost,
    /// The resolver could not answer now.
    ResolverFailed,
    /// The connection failed at the operating system (refused, reset, unreachable, broken off
    /// during the TLS handshake): another attempt may get through.
    Connection,
    /// The connection was made but its TLS session refused (a certificate or protocol the
    /// client does not accept): no operating-system error beneath it.
    TlsRefused,
    /// The request failed after the connection was made.
    Request,
}

impl SendFailure {
    /// From reqwest's flags and the error's chain of sources.
    fn classify(redirect: bool, builder: bool, connect: bool, chain: &[&(dyn std::error::Error + 'static)]) -> Self {
        if redirect {
            return SendFailure::Redirect;
        }
        if builder {
            return SendFailure::Builder;
        }
        if !connect {
            return SendFailure::Request;
        }
        match chain.iter().find_map(|e| e.downcast_ref::<LookupError>()) {
            Some(LookupError::NoSuchHost { .. }) => SendFailure::NoSuchHost,
            Some(LookupError::Failed { .. }) => SendFailure::ResolverFailed,
            None if chain.iter().any(|e| e.is::<std::io::Error>()) => SendFailure::Connection,
            None => SendFailure::TlsRefused,
        }
    }

    /// Why trying again cannot help (the start of the message), or `None` when it may.
    fn permanent(self) -> Option<&'static str> {
        match self {
            SendFailure::Redirect => Some("the redirects cannot be followed"),
            SendFailure::Builder => Some("the request cannot be made"),
            SendFailure::NoSuchHost => Some("cannot resolve the host"),
            SendFailure::TlsRefused => Some("the TLS connection is refused"),
            SendFailure::ResolverFailed | SendFailure::Connection | SendFailure::Request => None,
        }
    }
}

/// `e` and its sources, outermost first.
fn chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> Vec<&'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source()).collect()
}

fn attempt_once(
    client: &Client,
    url: &str,
    cfg: &FetchConfig,
    events: &dyn Fn(Event),
) -> Result<Vec<u8>, AttemptError> {
    let timeout_message = || format!("timed out after {:.1} s", cfg.timeout.as_secs_f64());
    let mut response = client.get(url).header(ACCEPT, "image/*").send().map_err(|e| {
        if e.is_timeout() {
            AttemptError::transient(timeout_message())
        } else {
            match SendFailure::classify(e.is_redirect(), e.is_builder(), e.is_connect(), &chain(&e)) {
                failure if failure.permanent().is_some() => {
                    AttemptError::fatal(format!("{}: {}", failure.permanent().unwrap_or_default(), root_cause(&e)))
                }
                SendFailure::Request => AttemptError::transient(format!("request failed: {}", root_cause(&e))),
                _ => AttemptError::transient(format!("cannot connect: {}", root_cause(&e))),
            }
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        return Err(AttemptError {
            message: format!("HTTP {status}"),
            retry: retry::retryable_status(status.as_u16()),
            retry_after,
        });
    }
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if !verify::content_type_is_image(&content_type) {
        let shown = if content_type.is_empty() { "none" } else { content_type.as_str() };
        return Err(AttemptError::fatal(format!("the content type is {shown}, not an image")));
    }
    let total = response.content_length();
    if let Some(len) = total.filter(|&len| len > cfg.max_bytes) {
        return Err(AttemptError::fatal(format!("the body is {len} bytes, over the {} byte cap", cfg.max_bytes)));
    }
    let mut bytes = Vec::with_capacity(initial_capacity(total, cfg.max_bytes));
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match response.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(AttemptError::transient(timeout_message())),
            Err(e) => {
                return Err(AttemptError::transient(format!(
                    "the body broke off after {} bytes: {}",
                    bytes.len(),
                    root_cause(&e)
                )))
            }
        };
        if bytes.len() as u64 + n as u64 > cfg.max_bytes {
            return Err(AttemptError::fatal(format!("the body is over the {} byte cap", cfg.max_bytes)));
        }
        bytes.extend_from_slice(&chunk[..n]);
        events(Event::Progress { received: bytes.len() as u64, total });
    }
    if let Some(len) = total.filter(|&len| len != bytes.len() as u64) {
        return Err(AttemptError::transient(format!("the body broke off after {} of {len} bytes", bytes.len())));
    }
    Ok(bytes)
}

/// At most this much is reserved before the body arrives; the buffer grows as data comes.
const MAX_INITIAL_CAPACITY: u64 = 1024 * 1024;

/// The buffer's first size: the announced length (a server may announce any length, and then
/// send less), but never more than the cap nor [`MAX_INITIAL_CAPACITY`].
fn initial_capacity(announced: Option<u64>, max_bytes: u64) -> usize {
    announced.unwrap_or(64 * 1024).min(max_bytes).min(MAX_INITIAL_CAPACITY) as usize
}

/// Whether a body read failed by a timeout: the operating system's `TimedOut`, or reqwest's
/// timeout error inside the `io::Error`.
fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let inner: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|s| s as _);
    std::iter::successors(inner, |s| s.source()).any(|s| {
        s.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout)
            || s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

/// The innermost cause, which is the informative part of reqwest's and hyper's error chains.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::{LookupError, SendFailure};

    fn classify(
        redirect: bool,
        builder: bool,
        connect: bool,
        chain: &[&(dyn std::error::Error + 'static)],
    ) -> Option<&'static str> {
        SendFailure::classify(redirect, builder, connect, chain).permanent()
    }

    /// An error of the TLS library: no operating-system error beneath it.
    #[derive(Debug)]
    struct Tls;
    impl std::fmt::Display for Tls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("certificate verify failed")
        }
    }
    impl std::error::Error for Tls {}

    #[test]
    fn a_name_that_does_not_resolve_is_permanent_a_temporary_dns_failure_is_not() {
        let gone = LookupError::NoSuchHost { host: "x.invalid".into(), reason: "Name or service not known".into() };
        assert_eq!(classify(false, false, true, &[&gone]), Some("cannot resolve the host"));
        let again = LookupError::Failed { host: "x".into(), reason: "Temporary failure in name resolution".into() };
        assert_eq!(classify(false, false, true, &[&again]), None);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(false, false, true, &[&refused]), None);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(classify(false, false, true, &[&Tls, &reset]), None, "a handshake that broke off");
    }

    #[test]
    fn the_first_buffer_is_at_most_a_mebibyte_whatever_is_announced() {
        use super::initial_capacity;
        assert_eq!(initial_capacity(Some(5000), 20 << 20), 5000);
        assert_eq!(initial_capacity(None, 20 << 20), 64 * 1024);
        assert_eq!(initial_capacity(Some(20 << 20), 20 << 20), 1 << 20);
        assert_eq!(initial_capacity(Some(u64::MAX), u64::MAX), 1 << 20);
        assert_eq!(initial_capacity(Some(5000), 1000), 1000);
    }

    #[test]
    fn redirects_builder_and_tls_certificate_errors_are_permanent() {
        assert_eq!(classify(true, false, false, &[]), Some("the redirects cannot be followed"));
        assert!(classify(false, true, false, &[]).is_some());
        assert!(classify(false, false, true, &[&Tls]).unwrap().contains("TLS"));
        // A broken-off body or a plain request error may succeed next time.
        assert_eq!(classify(false, false, false, &[&Tls]), None);
    }

    /// A port nobody listens on: the client's real error chain says "connection" by its types.
    #[test]
    fn a_refused_connection_is_worth_another_attempt() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = super::client(&super::FetchConfig::default()).unwrap();
        let e = client.get(format!("http://127.0.0.1:{port}/x.jpg")).send().unwrap_err();
        assert_eq!(
            SendFailure::classify(e.is_redirect(), e.is_builder(), e.is_connect(), &super::chain(&e)),
            SendFailure::Connection
        );
        let e = client.get(format!("http://localhost:{port}/x.jpg")).send().unwrap_err();
        assert_eq!(
            SendFailure::classify(e.is_redirect(), e.is_builder(), e.is_connect(), &super::chain(&e)),
            SendFailure::Connection,
            "resolved by the system resolver, then refused"
        );
    }
}
