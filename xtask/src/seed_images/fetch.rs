//! Downloading one image over HTTP: a blocking reqwest client with a connect timeout and a total
//! timeout per request, the body streamed under a size cap, and retries (see [`super::retry`]) on
//! connection errors, timeouts, truncated bodies, 5xx and 429.

use std::io::Read as _;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};

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

/// Why a request that got no response cannot succeed by trying again, from what reqwest says
/// about the error (`is_redirect`, `is_builder`, `is_connect`) and its error chain's text: the
/// start of the message, or `None` when another attempt may succeed (a refused or reset
/// connection, a temporary DNS failure, a handshake that broke off).
fn permanent_send_failure(redirect: bool, builder: bool, connect: bool, chain: &str) -> Option<&'static str> {
    let lower = chain.to_ascii_lowercase();
    if redirect {
        // Too many redirects, a loop, or a Location that is not a usable URL.
        return Some("the redirects cannot be followed");
    }
    if builder {
        return Some("the request cannot be made");
    }
    if !connect {
        return None;
    }
    // getaddrinfo's EAI_NONAME / EAI_NODATA: the name does not resolve (an offline laptop must
    // not wait seconds per image). EAI_AGAIN ("Temporary failure in name resolution") is left
    // to the retries.
    if lower.contains("name or service not known")
        || lower.contains("no address associated with hostname")
        || lower.contains("nodename nor servname provided")
    {
        return Some("cannot resolve the host");
    }
    let tls = lower.contains("tls") || lower.contains("ssl");
    if lower.contains("certificate")
        || (tls
            && ["handshake failure", "handshake failed", "wrong version number", "unsupported protocol"]
                .iter()
                .any(|m| lower.contains(m)))
    {
        return Some("the TLS connection is refused");
    }
    None
}

/// Every message of an error chain, outermost first, joined with `: `.
fn chain_text(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
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
        } else if let Some(why) =
            permanent_send_failure(e.is_redirect(), e.is_builder(), e.is_connect(), &chain_text(&e))
        {
            AttemptError::fatal(format!("{why}: {}", root_cause(&e)))
        } else if e.is_connect() {
            AttemptError::transient(format!("cannot connect: {}", root_cause(&e)))
        } else {
            AttemptError::transient(format!("request failed: {}", root_cause(&e)))
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

fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|s| s as _);
    while let Some(s) = source {
        if s.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout) {
            return true;
        }
        if s.to_string().contains("timed out") {
            return true;
        }
        source = s.source();
    }
    false
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
    use super::permanent_send_failure as permanent;

    #[test]
    fn a_name_that_does_not_resolve_is_permanent_a_temporary_dns_failure_is_not() {
        let lookup = "error sending request: client error (Connect): dns error: failed to lookup address information";
        assert_eq!(
            permanent(false, false, true, &format!("{lookup}: Name or service not known")),
            Some("cannot resolve the host")
        );
        assert!(permanent(false, false, true, &format!("{lookup}: No address associated with hostname")).is_some());
        assert_eq!(permanent(false, false, true, &format!("{lookup}: Temporary failure in name resolution")), None);
        assert_eq!(permanent(false, false, true, "client error (Connect): Connection refused (os error 111)"), None);
        assert_eq!(permanent(false, false, true, "connection reset by peer"), None);
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
        assert_eq!(
            permanent(true, false, false, "error following redirect: too many redirects"),
            Some("the redirects cannot be followed")
        );
        assert!(permanent(false, true, false, "builder error: relative URL without a base").is_some());
        let cert = "client error (Connect): error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed";
        assert!(permanent(false, false, true, cert).unwrap().contains("TLS"));
        assert!(permanent(false, false, true, "ssl routines: sslv3 alert handshake failure").is_some());
        assert!(permanent(false, false, true, "the TLS handshake failed").is_some());
        // A handshake the server broke off may go through next time.
        assert_eq!(permanent(false, false, true, "client error (Connect): tls handshake eof"), None);
        // A broken-off body or a plain request error may succeed next time.
        assert_eq!(permanent(false, false, false, "error decoding response body"), None);
    }
}
