//! The HTTPS-with-mutual-TLS server plumbing the project's JSON APIs share (the
//! provisioning API, the desk's API): bind, TLS 1.3 handshake requiring a client certificate
//! from the configured CA, the client's certificate subject handed to the routes, HTTP/1.1
//! by hyper; and JSON replies, bounded bodies and path-segment decoding.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::cert::{subject_of, Subject};
use crate::delivery::tls::{self, fingerprint_hex, TlsError};

/// Where an API listens and its certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsListen {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA of the client certificates; a client without one from it fails the handshake.
    pub client_ca: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// The authenticated client of one connection.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Subject of its certificate (empty when it cannot be read).
    pub subject: Subject,
    /// SHA-256 of its certificate, hex.
    pub fingerprint: String,
    pub addr: SocketAddr,
}

impl Peer {
    /// Who acts: the certificate's common name.
    pub fn who(&self) -> String {
        self.subject.common_name.clone().unwrap_or_else(|| "(no common name)".into())
    }
}

/// A JSON API reply.
pub type Reply = Response<Full<Bytes>>;

/// A running HTTPS server.
pub struct HttpsServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpsServer {
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Binds `config.listen` and serves `handle` on the current tokio runtime until stopped;
/// `name` names the API in logs.
pub async fn serve<H, F>(config: &TlsListen, name: &'static str, handle: H) -> Result<HttpsServer, HttpsError>
where
    H: Fn(Peer, Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls::server_config(&config.cert, &config.key, &config.client_ca)?);
    let listener = TcpListener::bind(config.listen).await.map_err(|source| HttpsError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| HttpsError::Listen { addr: config.listen, source })?;
    let handle = Arc::new(handle);
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, addr)) = listener.accept().await else { continue };
            let (acceptor, handle) = (acceptor.clone(), handle.clone());
            tokio::spawn(async move {
                let stream = match acceptor.accept(tcp).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(peer = %addr, error = %e, api = name, "client refused at TLS");
                        return;
                    }
                };
                let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first());
                let peer = Peer {
                    subject: cert.and_then(|c| subject_of(c.as_ref())).unwrap_or_default(),
                    fingerprint: cert.map(|c| fingerprint_hex(c.as_ref())).unwrap_or_default(),
                    addr,
                };
                let service = service_fn(move |req| {
                    let reply = handle(peer.clone(), req);
                    async move { Ok::<_, Infallible>(reply.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    tracing::info!(%addr, api = name, "HTTPS API listening");
    Ok(HttpsServer { addr, task })
}

/// `body` as JSON with `status`.
pub fn reply(status: StatusCode, body: Value) -> Reply {
    bytes_reply(status, "application/json", body.to_string().into_bytes())
}

/// Raw bytes of `content_type` with `status`.
pub fn bytes_reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    r
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Reply {
    reply(status, json!({ "error": message }))
}

/// The request body, at most `max` bytes; a 413 reply when larger.
pub async fn read_body(req: Request<Incoming>, max: usize) -> Result<Bytes, Reply> {
    match Limited::new(req.into_body(), max).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")),
    }
}

/// `%XX` escapes of a path segment decoded (LIIDs, numbers and SIP URIs may hold any
/// visible ASCII).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b.get(i), hex) {
            (Some(b'%'), Some(v)) => {
                out.push(v);
                i += 3;
            }
            (Some(c), _) => {
                out.push(*c);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A path segment with anything but letters, digits, `-`, `_`, `.` as `%XX` (the inverse
/// of [`percent_decode`], for clients).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_is_identity() {
        for s in ["DEN-1", "+13035550142", "sip:alice@example.com;user=phone", "a b%c"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_encode("+1"), "%2B1");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
