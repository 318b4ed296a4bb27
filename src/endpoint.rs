//! [`Endpoint`]: where the B2Core API lives, and the one place requests are built and
//! responses are first read.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::uri::{self, Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, Uri};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Error};
use crate::time::parse_http_date;

/// The default limit on a response body: larger bodies are refused without parsing.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The first allocation of a request body (see `json_body`).
const BODY_CAPACITY: usize = 512;

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Why [`Endpoint::new`] refuses `http://` to a host that is not loopback.
const CLEARTEXT_REFUSED: &str = "http:// sends passwords and tokens in cleartext: it is \
    accepted only for a loopback host (localhost, 127.0.0.0/8, [::1]); use https://, or opt \
    in explicitly with Endpoint::new_insecure_http";

/// The base URI of a B2Core host: `https`, or `http` to a loopback host; a host, an
/// optional path prefix.
///
/// Every request a flow sends carries a secret (a password, a code, a token), so
/// [`Endpoint::new`] takes cleartext `http://` only where it cannot cross a network: a
/// loopback host (see [`Endpoint::new`] for the exact rule). Cleartext to any other host
/// is an explicit choice, [`Endpoint::new_insecure_http`], and the choice is kept when
/// the endpoint is parked with a flow: a parked endpoint that reads back with `http://`
/// to a host that is not loopback, without it, is refused.
///
/// ```
/// use b2core_auth::Endpoint;
///
/// # fn main() -> Result<(), b2core_auth::Error> {
/// let endpoint = Endpoint::new("https://host.name/b2core/")?;
/// assert_eq!(endpoint.to_string(), "https://host.name/b2core");
/// assert!(Endpoint::new("http://127.0.0.1:8080").is_ok());  // cleartext, loopback
/// assert!(Endpoint::new("http://host.name").is_err());      // cleartext, not loopback
/// assert!(Endpoint::new("host.name").is_err());             // not absolute
/// assert!(Endpoint::new("https://host.name/?a=1").is_err()); // a query
/// assert!(Endpoint::new("ftp://host.name").is_err());        // not http(s)
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EndpointRepr", into = "EndpointRepr")]
pub struct Endpoint {
    /// Parsed once, shared by every clone: a flow per sign-in costs no copy of the base.
    base: Arc<Base>,
    body_limit: usize,
    /// Every deviation from the pages is an error (see [`Endpoint::strict`]).
    strict: bool,
    /// The base is `http://` to a host that is not loopback, which only
    /// [`Endpoint::new_insecure_http`] accepts.
    insecure_http: bool,
}

/// The base URI, as text and in the parts every request is built from.
#[derive(PartialEq, Eq)]
struct Base {
    /// `scheme://authority/prefix`, without a trailing slash.
    text: String,
    scheme: Scheme,
    authority: Authority,
    /// The path prefix without a trailing slash (empty for none).
    prefix: String,
}

impl Endpoint {
    /// Checks and stores a base URI.
    ///
    /// Refused: a relative URI, a scheme other than `http`/`https`, user info, a query or
    /// fragment, a `.` or `..` path segment, control characters, and `http://` to a host
    /// that is not loopback.
    ///
    /// Loopback, for `http://`, is exactly (any port, any path prefix):
    /// - the name `localhost`, in any case. Not its subdomains (`app.localhost`): RFC 6761
    ///   lets resolvers send them to loopback but does not make them, and the crate never
    ///   resolves a name, the caller's HTTP client does;
    /// - an IPv4 address in `127.0.0.0/8`, written as dotted quads (`127.0.0.1`,
    ///   `127.255.255.254`); other spellings a resolver might read as one (`127.1`,
    ///   `0x7f.0.0.1`, `127.0.0.1.`) are names, and refused;
    /// - `[::1]`. Not IPv4-mapped addresses (`[::ffff:127.0.0.1]`): whether they reach
    ///   the loopback interface depends on the caller's socket options, and `127.0.0.1`
    ///   says the same thing plainly.
    ///
    /// ```
    /// use b2core_auth::{Endpoint, Error};
    ///
    /// for loopback in ["http://localhost:8080", "http://127.0.0.1/b2core", "http://[::1]:80"] {
    ///     assert!(Endpoint::new(loopback).is_ok(), "{loopback}");
    /// }
    /// for abroad in ["http://host.name", "http://10.0.0.1", "http://127.0.0.1.host.name"] {
    ///     let refused = Endpoint::new(abroad).unwrap_err();
    ///     assert!(matches!(refused, Error::InvalidInput { field: "base URI", .. }));
    ///     assert!(refused.to_string().contains("Endpoint::new_insecure_http"));
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `base URI`) for a base refused as above, naming
    /// [`Endpoint::new_insecure_http`] for `http://` to a host that is not loopback.
    pub fn new(base: &str) -> Result<Self, Error> {
        Self::parse(base, false)
    }

    /// Checks and stores a base URI as [`Endpoint::new`] does, but takes `http://` to any
    /// host: **every password, code and token of every flow on this endpoint then crosses
    /// the network in cleartext**, readable and changeable by anyone on the path. For a
    /// test host on a network you trust, never for a real one.
    ///
    /// The choice is part of the endpoint: [`Endpoint::is_insecure_http`] says so, `Debug`
    /// shows it, and a flow parked with it reads back with it (and without it, an
    /// endpoint parked with such a base is refused). For a base that [`Endpoint::new`]
    /// accepts, this is [`Endpoint::new`].
    ///
    /// ```
    /// use b2core_auth::Endpoint;
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let endpoint = Endpoint::new_insecure_http("http://staging.lan:8080")?;
    /// assert!(endpoint.is_insecure_http());
    /// assert_eq!(format!("{endpoint:?}"), "Endpoint(http://staging.lan:8080, insecure http)");
    ///
    /// // Nothing to opt into: the same endpoint as `Endpoint::new` makes.
    /// let tls = Endpoint::new_insecure_http("https://host.name")?;
    /// assert_eq!(tls, Endpoint::new("https://host.name")?);
    /// assert!(!tls.is_insecure_http());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `base URI`) for a base [`Endpoint::new`] refuses for
    /// any other reason than cleartext.
    pub fn new_insecure_http(base: &str) -> Result<Self, Error> {
        Self::parse(base, true)
    }

    /// True when requests go in cleartext to a host that is not loopback (an endpoint made
    /// by [`Endpoint::new_insecure_http`] with such a base).
    ///
    /// ```
    /// use b2core_auth::Endpoint;
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// assert!(!Endpoint::new("http://localhost:8080")?.is_insecure_http());
    /// assert!(Endpoint::new_insecure_http("http://10.0.0.1")?.is_insecure_http());
    /// # Ok(()) }
    /// ```
    pub fn is_insecure_http(&self) -> bool {
        self.insecure_http
    }

    /// [`Endpoint::new`], and with `insecure_http` [`Endpoint::new_insecure_http`].
    fn parse(base: &str, insecure_http: bool) -> Result<Self, Error> {
        let invalid = |reason| Err(Error::invalid("base URI", reason));
        if base.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return invalid("contains whitespace or control characters");
        }
        if base.contains('#') {
            return invalid("has a fragment");
        }
        let Ok(uri) = base.parse::<Uri>() else {
            return invalid("not a valid URI");
        };
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(_) => return invalid("scheme must be http or https"),
            None => return invalid("not absolute (expected http:// or https://)"),
        }
        let Some(authority) = uri.authority() else {
            return invalid("has no host");
        };
        if authority.as_str().contains('@') {
            return invalid("has user info");
        }
        if authority.host().is_empty() {
            return invalid("has no host");
        }
        if uri.query().is_some() || base.contains('?') {
            return invalid("has a query");
        }
        let prefix = uri.path().trim_end_matches('/');
        if prefix.split('/').any(|s| s == "." || s == "..") {
            return invalid("path prefix has a `.` or `..` segment");
        }
        if prefix.contains("//") {
            return invalid("path prefix has an empty segment");
        }
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTPS);
        let cleartext_abroad = scheme == Scheme::HTTP && !is_loopback(authority.host());
        if cleartext_abroad && !insecure_http {
            return invalid(CLEARTEXT_REFUSED);
        }
        Ok(Self {
            base: Arc::new(Base {
                text: format!("{scheme}://{authority}{prefix}"),
                scheme,
                authority: authority.clone(),
                prefix: prefix.to_owned(),
            }),
            body_limit: DEFAULT_BODY_LIMIT,
            strict: false,
            insecure_http: cleartext_abroad,
        })
    }

    /// Sets the largest response body the flows will read (default 1 MiB).
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Strict mode, for testing a server's conformance to the vendor's pages: every
    /// [`Deviation`](crate::Deviation) a flow would record and tolerate (a `code` that is
    /// not the HTTP status, `done` against the `workflow`, ...) is an
    /// [`Error::Malformed`] instead, as it would be from a host that broke the protocol.
    ///
    /// ```
    /// use b2core_auth::Endpoint;
    ///
    /// # fn main() -> Result<(), b2core_auth::Error> {
    /// let endpoint = Endpoint::new("https://host.name")?;
    /// assert!(!endpoint.is_strict());
    /// assert!(endpoint.strict().is_strict());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// True when deviations are errors (see [`Endpoint::strict`]).
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// The base URI, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base.text
    }

    /// Whether `uri` is on this host: the same scheme and authority (host names compared
    /// without case), or a relative URI, which names no other host.
    pub(crate) fn is_own(&self, uri: &Uri) -> bool {
        match (uri.scheme(), uri.authority()) {
            (None, None) => true,
            (Some(scheme), Some(authority)) => {
                *scheme == self.base.scheme && *authority == self.base.authority
            }
            _ => false,
        }
    }

    /// `scheme://authority/prefix` + `path`, from the parts parsed once in [`Endpoint::new`]:
    /// without a prefix the path is used as it is (no copy, no parse).
    #[inline]
    fn uri(&self, path: &'static str) -> Result<Uri, Error> {
        let path_and_query = if self.base.prefix.is_empty() {
            PathAndQuery::from_static(path)
        } else {
            let mut full = String::with_capacity(self.base.prefix.len() + path.len());
            full.push_str(&self.base.prefix);
            full.push_str(path);
            PathAndQuery::try_from(full)
                .map_err(|_| Error::invalid("request", "cannot be built"))?
        };
        let mut parts = uri::Parts::default();
        parts.scheme = Some(self.base.scheme.clone());
        parts.authority = Some(self.base.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).map_err(|_| Error::invalid("request", "cannot be built"))
    }

    /// Builds a request for an API path (`/api/v2/...`): `Accept` and `Content-Type` set to
    /// `application/json` as the vendor's pages show, a JSON body when given, and a Bearer
    /// header when given.
    // Inlined, like `get`, `post` and `uri`, so a request is built where it is returned
    // rather than moved out through each layer (about 5% of a full client sign-in).
    #[inline]
    pub(crate) fn request(
        &self,
        method: Method,
        path: &'static str,
        body: Option<&impl Serialize>,
        bearer: Option<&HeaderValue>,
    ) -> Result<Request<Vec<u8>>, Error> {
        let body = match body {
            Some(body) => json_body(body)?,
            None => Vec::new(),
        };
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = self.uri(path)?;
        let headers = request.headers_mut();
        headers.reserve(3);
        headers.insert(ACCEPT, APPLICATION_JSON);
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        if let Some(bearer) = bearer {
            headers.insert(AUTHORIZATION, bearer.clone());
        }
        Ok(request)
    }

    /// `GET path` with no body.
    #[inline]
    pub(crate) fn get(&self, path: &'static str) -> Result<Request<Vec<u8>>, Error> {
        self.request(Method::GET, path, None::<&()>, None)
    }

    /// `POST path` with a JSON body.
    #[inline]
    pub(crate) fn post(
        &self,
        path: &'static str,
        body: &impl Serialize,
    ) -> Result<Request<Vec<u8>>, Error> {
        self.request(Method::POST, path, Some(body), None)
    }

    /// Sorts a response into success, refusal or rate limit, before any body is parsed.
    ///
    /// `default_wait` is used for a 429 without a readable `Retry-After`.
    pub(crate) fn classify<'a, B: AsRef<[u8]>>(
        &self,
        step: &'static str,
        response: &'a Response<B>,
        now: SystemTime,
        default_wait: Duration,
    ) -> Result<Reply<'a>, Error> {
        let status = response.status().as_u16();
        if status == 429 {
            // Read before the body limit: a block is a block, however long its page.
            let retry_at = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v.trim(), now))
                .or_else(|| now.checked_add(default_wait))
                .unwrap_or(now);
            return Ok(Reply::RetryAt(retry_at.max(now)));
        }
        let body = response.body().as_ref();
        if body.len() > self.body_limit {
            let reason = format!("larger than the {} byte limit", self.body_limit);
            return Err(Error::malformed(step, "body", reason));
        }
        match status {
            // JSON is UTF-8 (RFC 8259): checked once here, so the decoders read text and
            // do not check every string again.
            200..=299 => match std::str::from_utf8(body) {
                Ok(body) => Ok(Reply::Success { status, body }),
                Err(_) => Err(Error::malformed(step, "body", "is not UTF-8")),
            },
            400..=599 => Ok(Reply::Refused(ApiError::from_body(status, body))),
            // A redirect is refused, never followed: the request it answers carries a
            // password, a code or a token, and following it (a 307/308 sends the body
            // again) would hand them to wherever `Location` points. The caller's client
            // must not follow it either (README, "Threat model").
            300..=399 => Err(Error::malformed(
                step,
                "status",
                format!("HTTP {status} is a redirect, which is never followed"),
            )),
            // 1xx (and what is not a status) never answers these requests.
            _ => Err(Error::malformed(
                step,
                "status",
                format!("HTTP {status} is not an answer"),
            )),
        }
    }
}

/// True when `host` (a URI's host: without the port, an IPv6 address in brackets) is the
/// loopback interface by the rule [`Endpoint::new`] documents. Addresses are read by
/// `std::net`, so `127.0.0.1.host.name` is a name (and not `localhost`).
fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// A JSON body, written in one pass. The buffer starts large enough for every documented
/// body with a usual fingerprint, so it is almost always one allocation.
fn json_body(body: &impl Serialize) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::with_capacity(BODY_CAPACITY);
    serde_json::to_writer(&mut bytes, body)
        .map_err(|_| Error::invalid("request body", "cannot be written as JSON"))?;
    Ok(bytes)
}

/// `Retry-After`: delay-seconds or an HTTP date in any of RFC 9110's three forms (see
/// [`parse_http_date`]); `None` when it is neither.
///
/// Delay-seconds are added to `now` saturating: a number too large for a `u64`, or one
/// that takes the sum past what a [`SystemTime`] can hold, waits until the latest instant
/// a `SystemTime` can hold, not the default wait, which would let the flow send again long
/// before the host allowed. A wait is thus never shorter than the one asked for, save
/// where the type cannot go further.
fn retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value
            .bytes()
            .try_fold(0u64, |secs, b| {
                secs.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })
            .unwrap_or(u64::MAX);
        return Some(crate::time::saturating_add(now, Duration::from_secs(secs)));
    }
    parse_http_date(value, now).ok()
}

/// A response sorted by [`Endpoint::classify`].
#[derive(Debug)]
pub(crate) enum Reply<'a> {
    /// 2xx: the body is for the flow to decode.
    Success { status: u16, body: &'a str },
    /// 4xx/5xx other than 429.
    Refused(ApiError),
    /// 429: wait until then.
    RetryAt(SystemTime),
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strict = if self.strict { ", strict" } else { "" };
        let insecure = if self.insecure_http {
            ", insecure http"
        } else {
            ""
        };
        write!(f, "Endpoint({}{strict}{insecure})", self.base.text)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base.text)
    }
}

/// The parked form: checked again on the way back in.
#[derive(Serialize, Deserialize)]
struct EndpointRepr {
    base: String,
    body_limit: usize,
    /// Absent in flows parked before strict mode existed (and when off).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    strict: bool,
    /// Made by [`Endpoint::new_insecure_http`] for `http://` to a host that is not
    /// loopback: without it such a base is refused, as [`Endpoint::new`] refuses it.
    /// Absent when off (and so in flows parked before the rule existed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    insecure_http: bool,
}

impl TryFrom<EndpointRepr> for Endpoint {
    type Error = Error;
    fn try_from(repr: EndpointRepr) -> Result<Self, Error> {
        let endpoint =
            Self::parse(&repr.base, repr.insecure_http)?.with_body_limit(repr.body_limit);
        Ok(if repr.strict {
            endpoint.strict()
        } else {
            endpoint
        })
    }
}

impl From<Endpoint> for EndpointRepr {
    fn from(e: Endpoint) -> Self {
        Self {
            base: e.base.text.clone(),
            body_limit: e.body_limit,
            strict: e.strict,
            insecure_http: e.insecure_http,
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn accepts_hosts_ports_and_prefixes() {
        for (input, base) in [
            ("https://host.name", "https://host.name"),
            ("https://host.name/", "https://host.name"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://host.name/b2core", "https://host.name/b2core"),
            ("https://host.name/b2core/", "https://host.name/b2core"),
            ("https://[::1]:8443/a/b", "https://[::1]:8443/a/b"),
        ] {
            let endpoint = Endpoint::new(input).unwrap();
            assert_eq!(endpoint.as_str(), base, "{input}");
            assert_eq!(endpoint.to_string(), base, "{input}");
            assert_eq!(
                format!("{endpoint:?}"),
                format!("Endpoint({base})"),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_what_would_corrupt_a_request() {
        for (input, reason) in [
            ("host.name", "not absolute (expected http:// or https://)"),
            ("/api", "not absolute (expected http:// or https://)"),
            ("ftp://host.name", "scheme must be http or https"),
            ("https://host.name/?q=1", "has a query"),
            ("https://host.name/#top", "has a fragment"),
            ("https://user:pw@host.name", "has user info"),
            (
                "https://host.name/a/../b",
                "path prefix has a `.` or `..` segment",
            ),
            (
                "https://host.name\r\nX: y",
                "contains whitespace or control characters",
            ),
            (
                "https://host.name/a\0",
                "contains whitespace or control characters",
            ),
            ("", "not a valid URI"),
        ] {
            assert_eq!(
                Endpoint::new(input),
                Err(Error::InvalidInput {
                    field: "base URI",
                    reason
                }),
                "{input:?}"
            );
        }
    }

    /// What `Endpoint::new` answers for `base`: `Ok(true)` accepted (and the opt-in
    /// accepts it too, unchanged), `Ok(false)` refused as cleartext to a host that is not
    /// loopback (and the opt-in accepts it, flagged).
    fn cleartext_verdict(base: &str) -> Result<bool, Error> {
        let opted = Endpoint::new_insecure_http(base)?;
        match Endpoint::new(base) {
            Ok(endpoint) => {
                assert_eq!(endpoint, opted, "{base}: nothing to opt into");
                assert!(!endpoint.is_insecure_http(), "{base}");
                Ok(true)
            }
            Err(e) => {
                assert_eq!(e, Error::invalid("base URI", CLEARTEXT_REFUSED), "{base}");
                assert!(opted.is_insecure_http(), "{base}");
                Ok(false)
            }
        }
    }

    #[test]
    fn cleartext_is_accepted_for_loopback_hosts_only() {
        for (base, loopback) in [
            // Names: `localhost` in any case, nothing else (not its subdomains).
            ("http://localhost", true),
            ("http://LOCALHOST", true),
            ("http://LocalHost:8080", true),
            ("http://localhost.example.com", false),
            ("http://app.localhost", false),
            ("http://localhost.", false),
            ("http://example.com", false),
            ("http://host.name", false),
            // IPv4: 127.0.0.0/8 as dotted quads, read by std::net.
            ("http://127.0.0.1", true),
            ("http://127.255.255.254", true),
            ("http://127.0.0.0", true),
            ("http://128.0.0.1", false),
            ("http://126.255.255.255", false),
            ("http://10.0.0.1", false),
            ("http://0.0.0.0", false),
            ("http://127.0.0.1.evil.com", false),
            ("http://127.0.0.1.", false),
            ("http://127.1", false),
            ("http://0177.0.0.1", false),
            ("http://0x7f.0.0.1", false),
            ("http://2130706433", false),
            // IPv6: [::1] only.
            ("http://[::1]", true),
            ("http://[0:0:0:0:0:0:0:1]", true),
            ("http://[::2]", false),
            ("http://[::]", false),
            ("http://[::ffff:127.0.0.1]", false),
            ("http://[::127.0.0.1]", false),
            // Any port, any path prefix.
            ("http://localhost:1", true),
            ("http://127.0.0.1:65535", true),
            ("http://[::1]:8080", true),
            ("http://127.0.0.1:8080/b2core/", true),
            ("http://localhost/a/b/c", true),
            ("http://[::1]:8443/b2core", true),
            ("http://host.name:8080", false),
            ("http://10.0.0.1:80/b2core", false),
            ("http://[::2]:8080/b2core", false),
            // The scheme in any case is still cleartext.
            ("HTTP://host.name", false),
            ("HTTP://127.0.0.1", true),
        ] {
            assert_eq!(cleartext_verdict(base), Ok(loopback), "{base}");
        }
    }

    #[test]
    fn tls_is_accepted_for_every_host() {
        for base in [
            "https://host.name",
            "https://example.com:8443/b2core",
            "https://10.0.0.1",
            "https://128.0.0.1",
            "https://[::2]",
            "https://[::ffff:127.0.0.1]",
            "https://localhost.example.com",
            "https://127.0.0.1",
            "https://[::1]:8443/a/b",
        ] {
            assert_eq!(cleartext_verdict(base), Ok(true), "{base}");
        }
    }

    #[test]
    fn the_cleartext_refusal_names_the_opt_in() {
        let e = Endpoint::new("http://host.name").unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("invalid base URI: http:// sends passwords"),
            "{text}"
        );
        assert!(text.contains("Endpoint::new_insecure_http"), "{text}");
        // The opt-in checks everything else as `new` does.
        for (base, reason) in [
            ("host.name", "not absolute (expected http:// or https://)"),
            ("ftp://host.name", "scheme must be http or https"),
            ("http://user:pw@host.name", "has user info"),
            ("http://host.name/?q=1", "has a query"),
        ] {
            assert_eq!(
                Endpoint::new_insecure_http(base),
                Err(Error::invalid("base URI", reason)),
                "{base}"
            );
        }
    }

    #[test]
    fn the_opt_in_shows_in_debug_and_keeps_every_other_setting() {
        let e = Endpoint::new_insecure_http("http://staging.lan/b2core")
            .unwrap()
            .strict()
            .with_body_limit(10);
        assert!(e.is_insecure_http() && e.is_strict());
        assert_eq!(
            format!("{e:?}"),
            "Endpoint(http://staging.lan/b2core, strict, insecure http)"
        );
        assert_eq!(e.to_string(), "http://staging.lan/b2core");
        let r = e.get("/api/v2/my/signin/wizard").unwrap();
        assert_eq!(r.uri(), "http://staging.lan/b2core/api/v2/my/signin/wizard");
    }

    #[test]
    fn a_parked_cleartext_endpoint_to_another_host_needs_the_opt_in() {
        let read = |json: &str| serde_json::from_str::<Endpoint>(json);
        // Parked with the opt-in: the flag is in the parked form, and reads back.
        let e = Endpoint::new_insecure_http("http://staging.lan").unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"base":"http://staging.lan","body_limit":1048576,"insecure_http":true}"#
        );
        assert_eq!(read(&json).unwrap(), e);
        // Without it (a parked form edited, or from before the rule): refused, naming why.
        let refused = read(r#"{"base":"http://staging.lan","body_limit":1048576}"#)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("Endpoint::new_insecure_http"), "{refused}");
        let refused = read(r#"{"base":"http://staging.lan","body_limit":1,"insecure_http":false}"#);
        assert!(refused.is_err());
        // Loopback and TLS endpoints park as before (no member) and read back, with the
        // flag or without it (it changes nothing for them).
        for base in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "https://host.name",
        ] {
            let e = Endpoint::new(base).unwrap();
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!(r#"{{"base":"{base}","body_limit":1048576}}"#));
            assert_eq!(read(&json).unwrap(), e);
            let flagged = json.replace('}', r#","insecure_http":true}"#);
            assert_eq!(read(&flagged).unwrap(), e, "{flagged}");
        }
        // The flag does not turn the other checks off.
        assert!(read(r#"{"base":"ftp://host.name","body_limit":1,"insecure_http":true}"#).is_err());
    }

    #[test]
    fn a_redirect_is_refused_never_followed() {
        let e = Endpoint::new("https://host.name").unwrap();
        for status in [300, 301, 302, 303, 304, 307, 308] {
            let r = Response::builder()
                .status(status)
                .header("location", "https://elsewhere.example/")
                .body(Vec::new())
                .unwrap();
            assert_eq!(
                e.classify("POST /api/v2/my/signin", &r, UNIX_EPOCH, Duration::ZERO)
                    .unwrap_err(),
                Error::malformed(
                    "POST /api/v2/my/signin",
                    "status",
                    format!("HTTP {status} is a redirect, which is never followed")
                ),
            );
        }
        for status in [100, 101, 103] {
            let r = Response::builder().status(status).body(Vec::new()).unwrap();
            assert!(matches!(
                e.classify("t", &r, UNIX_EPOCH, Duration::ZERO),
                Err(Error::Malformed { field: "status", reason, .. }) if reason.ends_with("is not an answer")
            ));
        }
    }

    #[test]
    fn builds_json_requests() {
        let e = Endpoint::new("https://host.name/b2core").unwrap();
        let r = e
            .request(
                Method::POST,
                "/api/v2/signin",
                Some(&serde_json::json!({"a": 1})),
                None,
            )
            .unwrap();
        assert_eq!(r.uri(), "https://host.name/b2core/api/v2/signin");
        assert_eq!(r.headers()[ACCEPT], "application/json");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.body(), br#"{"a":1}"#);
    }

    #[test]
    fn classifies_statuses_and_retry_after() {
        let e = Endpoint::new("https://host.name").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let wait = Duration::from_secs(60);
        let resp = |status: u16, retry: Option<&str>| {
            let mut b = Response::builder().status(status);
            if let Some(r) = retry {
                b = b.header(RETRY_AFTER, r);
            }
            b.body(Vec::new()).unwrap()
        };
        let at = |r: &Response<Vec<u8>>| match e.classify("test", r, now, wait).unwrap() {
            Reply::RetryAt(t) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(&resp(429, None)), now + wait);
        assert_eq!(at(&resp(429, Some("120"))), now + Duration::from_secs(120));
        assert_eq!(
            at(&resp(429, Some("Thu, 01 Jan 1970 00:20:00 GMT"))),
            now + Duration::from_secs(200)
        );
        // RFC 9110's two other forms of HTTP date are read too.
        for date in [
            "Thursday, 01-Jan-70 00:20:00 GMT",
            "Thu Jan  1 00:20:00 1970",
        ] {
            assert_eq!(at(&resp(429, Some(date))), now + Duration::from_secs(200));
        }
        // A date in the past means "now"; garbage means the documented default.
        assert_eq!(at(&resp(429, Some("Thu, 01 Jan 1970 00:00:00 GMT"))), now);
        assert_eq!(at(&resp(429, Some("Thu Jan  1 00:00:00 1970"))), now);
        assert_eq!(at(&resp(429, Some("soon"))), now + wait);
        assert_eq!(at(&resp(429, Some("Thu Jan 1 00:20:00 1970"))), now + wait);
        // Seconds are exact as far as the type goes, leading zeros and all...
        assert_eq!(
            at(&resp(429, Some("000000000000000000000000120"))),
            now + Duration::from_secs(120)
        );
        assert_eq!(
            at(&resp(429, Some("4000000000"))),
            now + Duration::from_secs(4_000_000_000)
        );
        // ...and past it, the latest instant a `SystemTime` can hold: never the default.
        for huge in [
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            let t = at(&resp(429, Some(huge)));
            assert!(t > now + Duration::from_secs(4_000_000_000), "{huge}");
            assert_eq!(t.checked_add(Duration::from_nanos(1)), None, "{huge}");
        }
        assert!(
            matches!(e.classify("t", &resp(500, None), now, wait), Ok(Reply::Refused(a)) if a.status() == 500)
        );
        assert!(matches!(
            e.classify("t", &resp(202, None), now, wait),
            Ok(Reply::Success { status: 202, .. })
        ));
    }

    #[test]
    fn refuses_oversized_bodies_without_parsing() {
        let e = Endpoint::new("https://host.name")
            .unwrap()
            .with_body_limit(8);
        let r = Response::builder().status(200).body(vec![b' '; 9]).unwrap();
        assert!(matches!(
            e.classify("test", &r, UNIX_EPOCH, Duration::ZERO),
            Err(Error::Malformed { field: "body", .. })
        ));
    }

    #[test]
    fn parks_and_is_checked_again_on_resume() {
        let e = Endpoint::new("https://host.name/b2core")
            .unwrap()
            .with_body_limit(10);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"base":"https://host.name/b2core","body_limit":10}"#
        );
        assert_eq!(serde_json::from_str::<Endpoint>(&json).unwrap(), e);
        assert!(serde_json::from_str::<Endpoint>(r#"{"base":"nope","body_limit":1}"#).is_err());
    }
}
