//! An async HTTP client for the flows on tokio: hyper's HTTP/1.1 client over a tokio
//! `TcpStream`, with rustls for `https`. The `http::Request` a flow returns goes to hyper
//! as it is (hyper speaks the same `http` types), and the answer comes back as the
//! `http::Response<Vec<u8>>` the flow reads. Every status is an answer; only a failure to
//! reach the host or to read its answer is an `Err`.
//!
//! Redirects are never followed: hyper's connection-level client sends exactly the one
//! request it is given, so a 3xx comes back as the answer, for the flow to refuse (every
//! request of a flow carries a password, a code or a token). Keep it so if you put a
//! higher-level client (reqwest, a tower `FollowRedirect` layer) in its place.
//!
//! One connection per request: the flows send a handful of requests, one at a time, so a
//! pool would add code and nothing else.
//!
//! Used by `examples/async_tokio.rs` and `tests/sockets.rs` (`#[path = ...] mod async_http;`).

#![allow(dead_code)] // each example and test uses the part it needs

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};

/// The most of a response body read (one byte past the flows' own limit, so they see it).
const BODY_READ_LIMIT: usize = b2core_auth::DEFAULT_BODY_LIMIT + 1;
/// The longest a whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The error of a failed exchange: which host, and why. It holds no part of the request.
pub type SendError = String;

/// The TLS configuration (built once, cloned cheaply).
#[derive(Clone)]
pub struct Client {
    tls: tokio_rustls::TlsConnector,
}

impl Client {
    /// Plain HTTP and HTTPS (rustls with ring, the Mozilla roots of `webpki-roots`).
    pub fn new() -> Result<Self, SendError> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends one request and reads the whole answer (at most 30 s).
    pub async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, SendError> {
        let host = request
            .uri()
            .authority()
            .map_or_else(String::new, |a| a.to_string());
        match tokio::time::timeout(TIMEOUT, self.exchange(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(format!("cannot reach {host}: {e}")),
            Err(_) => Err(format!("cannot reach {host}: no answer within {TIMEOUT:?}")),
        }
    }

    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        let uri = request.uri().clone();
        let host = uri.host().ok_or("the URI has no host")?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the scheme is neither http nor https".into()),
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // `[::1]` in a URI, `::1` for the resolver.
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare_host, port)).await?;

        // HTTP/1.1 wants the path in the request line and the authority in `Host`.
        let (mut parts, body) = request.into_parts();
        if let Some(authority) = uri.authority() {
            parts
                .headers
                .insert(http::header::HOST, authority.as_str().parse()?);
        }
        parts.uri = uri.path_and_query().map_or("/", |p| p.as_str()).parse()?;
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));

        if https {
            let name = ServerName::try_from(bare_host.to_owned())?;
            let tls = self.tls.connect(name, tcp).await?;
            exchange_over(TokioIo::new(tls), request).await
        } else {
            exchange_over(TokioIo::new(tcp), request).await
        }
    }
}

/// One request and its answer over an open connection.
async fn exchange_over<IO>(
    io: IO,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    // The connection is driven by its own task while this one waits for the answer; it
    // ends when the answer has been read and `sender` is dropped.
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let bytes = Limited::new(body, BODY_READ_LIMIT)
        .collect()
        .await?
        .to_bytes();
    Ok(http::Response::from_parts(parts, bytes.to_vec()))
}
