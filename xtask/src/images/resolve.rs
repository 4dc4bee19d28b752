//! Host names resolved by the system's resolver (`getaddrinfo`, as the standard library does),
//! with its answer kept as a type: a name that does not exist ([`LookupError::NoSuchHost`]) is
//! told apart from a resolver that cannot answer now, without reading any message. Plugged
//! into the HTTP client with [`SystemResolver`].

use std::ffi::{CStr, CString};
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Why a name did not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// `EAI_NONAME` (or `EAI_NODATA`): the name has no address. Asking again will not help.
    NoSuchHost { host: String, reason: String },
    /// Anything else (`EAI_AGAIN`, `EAI_FAIL`, a system error): another attempt may succeed.
    Failed { host: String, reason: String },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NoSuchHost { host, reason } => write!(f, "{host} does not resolve: {reason}"),
            LookupError::Failed { host, reason } => write!(f, "cannot resolve {host} now: {reason}"),
        }
    }
}

impl std::error::Error for LookupError {}

/// The codes that mean "no such name".
fn no_such_host(code: libc::c_int) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if code == libc::EAI_NODATA {
        return true;
    }
    code == libc::EAI_NONAME
}

/// The addresses of `host` (port 0).
pub fn lookup(host: &str) -> Result<Vec<SocketAddr>, LookupError> {
    let failed = |reason: String| LookupError::Failed { host: host.to_owned(), reason };
    let c_host = CString::new(host).map_err(|_| LookupError::NoSuchHost {
        host: host.escape_debug().to_string(),
        reason: "the name holds a NUL byte".into(),
    })?;
    // SAFETY: all-zero is a valid `addrinfo` (null pointers, no flags).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c_host` is NUL-terminated, `hints` and `list` are valid for the call; on success
    // `list` is freed below with `freeaddrinfo`, once.
    let code = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if code != 0 {
        let reason = if code == libc::EAI_SYSTEM {
            std::io::Error::last_os_error().to_string()
        } else {
            // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
            unsafe { CStr::from_ptr(libc::gai_strerror(code)) }.to_string_lossy().into_owned()
        };
        return Err(if no_such_host(code) {
            LookupError::NoSuchHost { host: host.to_owned(), reason }
        } else {
            failed(reason)
        });
    }
    let mut addrs = Vec::new();
    let mut next = list;
    while !next.is_null() {
        // SAFETY: a node of the list getaddrinfo returned; its `ai_addr` points at a sockaddr of
        // the family `ai_family` says.
        let info = unsafe { &*next };
        match info.ai_family {
            libc::AF_INET => {
                let sa = unsafe { &*(info.ai_addr as *const libc::sockaddr_in) };
                addrs.push(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)), 0)));
            }
            libc::AF_INET6 => {
                let sa = unsafe { &*(info.ai_addr as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sa.sin6_addr.s6_addr);
                addrs.push(SocketAddr::V6(SocketAddrV6::new(ip, 0, sa.sin6_flowinfo, sa.sin6_scope_id)));
            }
            _ => {}
        }
        next = info.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    if addrs.is_empty() {
        return Err(LookupError::NoSuchHost { host: host.to_owned(), reason: "no IPv4 or IPv6 address".into() });
    }
    Ok(addrs)
}

/// The HTTP client's resolver: [`lookup`] on a thread of its own per name (the call blocks),
/// its error handed on as a [`LookupError`].
pub struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let slot = Arc::new(Mutex::new(Slot::default()));
        let filled = Arc::clone(&slot);
        std::thread::spawn(move || {
            let answer = lookup(&host);
            let mut slot = filled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            slot.answer = Some(answer);
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        });
        Box::pin(Answer(slot))
    }
}

#[derive(Default)]
struct Slot {
    answer: Option<Result<Vec<SocketAddr>, LookupError>>,
    waker: Option<Waker>,
}

/// The answer of one lookup, once its thread has it.
struct Answer(Arc<Mutex<Slot>>);

impl Future for Answer {
    type Output = Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match slot.answer.take() {
            Some(Ok(addrs)) => Poll::Ready(Ok(Box::new(addrs.into_iter()))),
            Some(Err(e)) => Poll::Ready(Err(Box::new(e))),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_to_a_loopback_address() {
        let addrs = lookup("localhost").unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 0), "{addrs:?}");
        assert_eq!(lookup("127.0.0.1").unwrap(), [SocketAddr::from(([127, 0, 0, 1], 0))]);
    }

    #[test]
    fn a_name_with_a_nul_byte_does_not_exist() {
        assert!(matches!(lookup("a\0b"), Err(LookupError::NoSuchHost { .. })));
    }
}
