//! Who may talk to the studio, decided per request before any handler runs:
//!
//! 1. the `Host` header must name the address the studio serves (`127.0.0.1:PORT`, or
//!    `localhost:PORT` on loopback): a page on `evil.example` whose name was re-pointed at
//!    127.0.0.1 (DNS rebinding) sends `Host: evil.example` and is refused (403);
//! 2. the launch token (≥ 128 random bits, printed once) must come as the HttpOnly,
//!    SameSite=Strict cookie it becomes on `/?token=…`; without it every request is a 401;
//! 3. every request that is not a plain read (POST: writes, the SQL console, query exports)
//!    must come from the studio's own pages: `Origin` equal to `http://<Host>`, or, without
//!    `Origin`, `Sec-Fetch-Site: same-origin` (403 otherwise), and carry the per-launch CSRF
//!    token in its form ([`check_csrf`], used by the form extractor).
//!
//! The decisions are pure functions of the request's headers ([`decide`]), unit-tested below;
//! [`middleware`] only applies them. No response carries CORS headers, and every response
//! forbids framing, sniffing, caching and referrers to other sites (the token is in the first URL).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Random bytes of the launch token and of the CSRF token (256 bits each).
const TOKEN_BYTES: usize = 32;

/// The secrets of one launch and the address it serves.
#[derive(Clone, Debug)]
pub struct Guard {
    token: String,
    csrf: String,
    /// The cookie's name: one per port, so two studios on one machine keep their own.
    pub cookie_name: String,
    addr: SocketAddr,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `Host` is missing or names another address (DNS rebinding): 403.
    ForeignHost(String),
    /// No token (cookie or `?token=` on `/`): 401.
    NoToken,
    /// A token that is not this launch's: 401.
    WrongToken,
    /// A write or console request from another origin (or without proof of its origin): 403.
    CrossSite(String),
    /// A form without this launch's CSRF token: 403.
    Csrf,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NoToken | Refusal::WrongToken => StatusCode::UNAUTHORIZED,
            Refusal::ForeignHost(_) | Refusal::CrossSite(_) | Refusal::Csrf => StatusCode::FORBIDDEN,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::ForeignHost(host) => format!(
                "studio: refused: the Host header {host:?} is not the address this studio serves (open the URL it printed)"
            ),
            Refusal::NoToken => {
                "studio: not signed in: open the URL `cargo xtask studio` printed (http://…/?token=…)".to_string()
            }
            Refusal::WrongToken => {
                "studio: wrong token: open the URL this launch of `cargo xtask studio` printed".to_string()
            }
            Refusal::CrossSite(why) => format!("studio: refused a request from another site ({why})"),
            Refusal::Csrf => "studio: refused: the form is missing this launch's CSRF token (reload the page)".into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status(), [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.message()).into_response()
    }
}

/// What to do with a request that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Signed in by the cookie.
    Cookie,
    /// `/?token=…`: set the cookie and send the browser on without the token in the URL.
    SignIn,
}

/// The request facts the decision needs.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query_token: Option<&'a str>,
    pub host: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
}

impl Guard {
    /// Fresh random tokens for a studio serving `addr`.
    pub fn new(addr: SocketAddr) -> std::io::Result<Guard> {
        Ok(Guard {
            token: random_token()?,
            csrf: random_token()?,
            cookie_name: format!("studio_{}", addr.port()),
            addr,
        })
    }

    /// Fixed tokens (tests).
    #[cfg(test)]
    pub fn with_tokens(addr: SocketAddr, token: &str, csrf: &str) -> Guard {
        Guard { token: token.into(), csrf: csrf.into(), cookie_name: format!("studio_{}", addr.port()), addr }
    }

    #[cfg(test)]
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The URL to print: `http://127.0.0.1:PORT/?token=TOKEN` (on every interface: its
    /// loopback address, which a browser on this machine reaches).
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        format!("http://{}/?token={}", host_port(addr), self.token)
    }

    /// `Set-Cookie` for a signed-in browser.
    pub fn cookie(&self) -> String {
        format!("{}={}; HttpOnly; SameSite=Strict; Path=/", self.cookie_name, self.token)
    }

    /// Whether `host` (a `Host` header) names the address served.
    pub fn host_allowed(&self, host: &str) -> bool {
        let port = self.addr.port();
        let Some((name, p)) = split_host_port(host) else { return false };
        if p != port {
            return false;
        }
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let ip = self.addr.ip();
        if let Ok(asked) = name.parse::<IpAddr>() {
            // Bound to every interface: any address of this machine, but only as an address
            // (DNS rebinding needs a name).
            return asked == ip || ip.is_unspecified();
        }
        name.eq_ignore_ascii_case("localhost") && (ip.is_loopback() || ip.is_unspecified())
    }

    /// The whole decision for one request.
    pub fn decide(&self, f: &Facts<'_>) -> Result<Pass, Refusal> {
        let host = f.host.unwrap_or_default();
        if !self.host_allowed(host) {
            return Err(Refusal::ForeignHost(host.to_string()));
        }
        let pass = match (f.method, f.path, f.query_token) {
            ("GET" | "HEAD", "/", Some(t)) => {
                if constant_time_eq(t, &self.token) {
                    Pass::SignIn
                } else {
                    return Err(Refusal::WrongToken);
                }
            }
            _ => match cookie_value(f.cookie.unwrap_or_default(), &self.cookie_name) {
                None => return Err(Refusal::NoToken),
                Some(t) if constant_time_eq(t, &self.token) => Pass::Cookie,
                Some(_) => return Err(Refusal::WrongToken),
            },
        };
        if !matches!(f.method, "GET" | "HEAD") {
            same_origin(host, f.origin, f.sec_fetch_site)?;
        }
        Ok(pass)
    }

    /// A form's CSRF token.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), Refusal> {
        match submitted {
            Some(t) if constant_time_eq(t, &self.csrf) => Ok(()),
            _ => Err(Refusal::Csrf),
        }
    }
}

/// `Origin` must be this very origin; without `Origin`, `Sec-Fetch-Site` must say
/// `same-origin`. A `Sec-Fetch-Site` of `cross-site` or `same-site` (another port on the same
/// host) is refused whatever `Origin` says.
pub fn same_origin(host: &str, origin: Option<&str>, sec_fetch_site: Option<&str>) -> Result<(), Refusal> {
    if let Some(site) = sec_fetch_site {
        if !site.eq_ignore_ascii_case("same-origin") {
            return Err(Refusal::CrossSite(format!("Sec-Fetch-Site: {site}")));
        }
    }
    match origin {
        Some(o) if o == format!("http://{host}") => Ok(()),
        Some(o) => Err(Refusal::CrossSite(format!("Origin: {o}"))),
        None if sec_fetch_site.is_some() => Ok(()),
        None => Err(Refusal::CrossSite("neither Origin nor Sec-Fetch-Site says it comes from the studio".into())),
    }
}

/// `name=value` out of a `Cookie` header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// `host:port` out of a `Host` header (`[::1]:4983` keeps its brackets).
fn split_host_port(host: &str) -> Option<(&str, u16)> {
    let (name, port) = host.rsplit_once(':')?;
    if name.is_empty() || (name.contains(':') && !name.starts_with('[')) {
        return None;
    }
    Some((name, port.parse().ok()?))
}

fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// Equality that takes the same time wherever the strings differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 256 bits from the operating system's generator, as 64 hex digits (URL-safe).
pub fn random_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The security headers of every response: a content security policy that allows only the
/// studio's own scripts, styles and images, no framing, no sniffing, no caching, no referrer
/// to other sites.
pub fn harden(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Not `no-referrer`: with it browsers send `Origin: null` on the studio's own form posts.
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin");
    set(headers, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
}

/// Applies [`Guard::decide`] to every request.
pub async fn middleware(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let text = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok());
    let query_token = req
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
    let method = req.method().clone();
    let facts = Facts {
        method: method.as_str(),
        path: req.uri().path(),
        query_token: query_token.as_deref(),
        host: text(header::HOST),
        cookie: text(header::COOKIE),
        origin: text(header::ORIGIN),
        sec_fetch_site: h.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
    };
    let decision = guard.decide(&facts);
    let mut response = match decision {
        Err(refusal) => refusal.into_response(),
        Ok(Pass::SignIn) => sign_in(&guard, method == Method::HEAD),
        Ok(Pass::Cookie) => next.run(req).await,
    };
    harden(response.headers_mut());
    response
}

/// The answer to `/?token=…`: the cookie, and a page that moves on to `/` by itself. A page
/// (not a redirect) because a navigation that started on another site would not carry a
/// SameSite=Strict cookie through a redirect; the page's own navigation does.
fn sign_in(guard: &Guard, head: bool) -> Response {
    let body = if head {
        String::new()
    } else {
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0;url=/\">\
         <link rel=icon href=\"data:,\"><title>studio</title><p>Signed in. <a href=\"/\">Open the studio</a>.</p>"
            .to_string()
    };
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&guard.cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::with_tokens("127.0.0.1:4983".parse().unwrap(), "tok", "csrf")
    }

    fn facts<'a>(method: &'a str, path: &'a str, host: &'a str, cookie: &'a str) -> Facts<'a> {
        Facts { method, path, host: Some(host), cookie: Some(cookie), ..Facts::default() }
    }

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64, "256 bits as hex");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        let g = Guard::new("127.0.0.1:4983".parse().unwrap()).unwrap();
        assert!(g.url().starts_with("http://127.0.0.1:4983/?token="));
        assert_ne!(g.token(), g.csrf());
        assert!(g.cookie().contains("HttpOnly") && g.cookie().contains("SameSite=Strict"));
    }

    #[test]
    fn the_host_must_be_the_served_address() {
        let g = guard();
        assert!(g.host_allowed("127.0.0.1:4983"));
        assert!(g.host_allowed("localhost:4983"));
        assert!(!g.host_allowed("127.0.0.1:4984"));
        assert!(!g.host_allowed("evil.example:4983"));
        assert!(!g.host_allowed("127.0.0.1"));
        assert!(!g.host_allowed(""));
        assert!(!g.host_allowed("10.0.0.5:4983"));
        let any = Guard::with_tokens("0.0.0.0:80".parse().unwrap(), "t", "c");
        assert!(any.host_allowed("10.0.0.5:80"));
        assert_eq!(any.url(), "http://127.0.0.1:80/?token=t");
        assert!(!any.host_allowed("rebound.example:80"));
        let v6 = Guard::with_tokens("[::1]:4983".parse().unwrap(), "t", "c");
        assert!(v6.host_allowed("[::1]:4983") && v6.host_allowed("localhost:4983"));
        assert_eq!(v6.url(), "http://[::1]:4983/?token=t");
        let d = g.decide(&facts("GET", "/", "evil.example:4983", "studio_4983=tok"));
        assert_eq!(d, Err(Refusal::ForeignHost("evil.example:4983".into())));
        assert_eq!(Refusal::ForeignHost(String::new()).status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_token_signs_in_and_the_cookie_keeps_you_in() {
        let g = guard();
        let mut f = facts("GET", "/", "127.0.0.1:4983", "");
        assert_eq!(g.decide(&f), Err(Refusal::NoToken));
        f.query_token = Some("tok");
        assert_eq!(g.decide(&f), Ok(Pass::SignIn));
        f.query_token = Some("tox");
        assert_eq!(g.decide(&f), Err(Refusal::WrongToken));
        assert_eq!(g.decide(&facts("GET", "/t/pages", "127.0.0.1:4983", "a=b; studio_4983=tok")), Ok(Pass::Cookie));
        assert_eq!(g.decide(&facts("GET", "/t/pages", "127.0.0.1:4983", "studio_4983=nope")), Err(Refusal::WrongToken));
        assert_eq!(g.decide(&facts("GET", "/t/pages", "127.0.0.1:4983", "studio_4984=tok")), Err(Refusal::NoToken));
        // A token in the query of another page is no sign-in.
        let mut f = facts("GET", "/t/pages", "127.0.0.1:4983", "");
        f.query_token = Some("tok");
        assert_eq!(g.decide(&f), Err(Refusal::NoToken));
        assert_eq!(Refusal::NoToken.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn writes_need_the_same_origin() {
        let g = guard();
        let post = |origin: Option<&'static str>, site: Option<&'static str>| {
            let mut f = facts("POST", "/console", "127.0.0.1:4983", "studio_4983=tok");
            f.origin = origin;
            f.sec_fetch_site = site;
            g.decide(&f)
        };
        assert_eq!(post(Some("http://127.0.0.1:4983"), None), Ok(Pass::Cookie));
        assert_eq!(post(Some("http://127.0.0.1:4983"), Some("same-origin")), Ok(Pass::Cookie));
        assert_eq!(post(None, Some("same-origin")), Ok(Pass::Cookie));
        assert!(matches!(post(Some("http://evil.example"), None), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(Some("http://127.0.0.1:8080"), Some("same-site")), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(Some("http://127.0.0.1:4983"), Some("cross-site")), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(Some("null"), None), Err(Refusal::CrossSite(_))));
        assert!(matches!(post(None, None), Err(Refusal::CrossSite(_))));
        // Reads need no origin.
        assert_eq!(g.decide(&facts("GET", "/console", "127.0.0.1:4983", "studio_4983=tok")), Ok(Pass::Cookie));
    }

    #[test]
    fn forms_need_the_csrf_token() {
        let g = guard();
        assert_eq!(g.check_csrf(Some("csrf")), Ok(()));
        assert_eq!(g.check_csrf(Some("csrg")), Err(Refusal::Csrf));
        assert_eq!(g.check_csrf(None), Err(Refusal::Csrf));
        assert!(!constant_time_eq("abc", "abcd") && constant_time_eq("abc", "abc"));
        assert_eq!(cookie_value(" x=1 ;studio_1=ab", "studio_1"), Some("ab"));
    }
}
