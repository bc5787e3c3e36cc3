//! The X1 HTTPS endpoint of a network element (`tapline poi`): hyper over tokio-rustls with
//! client certificates required. Every POST carries an `X1Request` and is answered with an
//! `X1Response` (or, when the body is not a request at all, an `X1TopLevelErrorResponse`).
//! The ADMF identity of each message must be the common name of the client certificate.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::message::{TaskDetails, X1Response, VERSION};
use super::ne::{Change, NeConfig, NetworkElement};
use super::parse::parse_request;
use super::write::write_response;
use crate::delivery::tls::{self, TlsError};
use crate::provision::peer_common_name;
use crate::Timestamp;

/// Largest X1 request body accepted.
const MAX_BODY: usize = 256 * 1024;

/// Where the endpoint listens, its certificates and who it is.
#[derive(Clone, Debug)]
pub struct X1ServerConfig {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA of the ADMF's client certificate.
    pub client_ca: PathBuf,
    pub ne: NeConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum X1ServerError {
    #[error("X1 TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("X1 listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// A running endpoint (on the runtime it was started on).
pub struct X1Server {
    pub addr: SocketAddr,
    ne: Arc<Mutex<NetworkElement>>,
    task: JoinHandle<()>,
}

fn lock(ne: &Mutex<NetworkElement>) -> MutexGuard<'_, NetworkElement> {
    ne.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl X1Server {
    /// The tasks held now.
    pub fn tasks(&self) -> Vec<TaskDetails> {
        lock(&self.ne).tasks().cloned().collect()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

fn now() -> Timestamp {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Timestamp::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Binds and serves until stopped; every change a request makes is sent on `changes`.
pub async fn start(config: &X1ServerConfig, changes: UnboundedSender<Change>) -> Result<X1Server, X1ServerError> {
    let acceptor = TlsAcceptor::from(tls::server_config(&config.cert, &config.key, &config.client_ca)?);
    let listener =
        TcpListener::bind(config.listen).await.map_err(|source| X1ServerError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| X1ServerError::Listen { addr: config.listen, source })?;
    let ne = Arc::new(Mutex::new(NetworkElement::new(config.ne.clone())));
    let ne_id = config.ne.ne_identifier.clone();
    let shared = ne.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else { continue };
            let (acceptor, ne, changes, ne_id) = (acceptor.clone(), shared.clone(), changes.clone(), ne_id.clone());
            tokio::spawn(async move {
                let stream = match acceptor.accept(tcp).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "X1 client refused at TLS");
                        return;
                    }
                };
                let admf = peer_common_name(stream.get_ref().1);
                let service = service_fn(move |req| {
                    let (ne, changes, admf, ne_id) = (ne.clone(), changes.clone(), admf.clone(), ne_id.clone());
                    async move { Ok::<_, Infallible>(handle(&ne, &admf, &ne_id, req, &changes).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    tracing::info!(%addr, "X1 endpoint listening");
    Ok(X1Server { addr, ne, task })
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/xml"));
    r
}

async fn handle(
    ne: &Mutex<NetworkElement>,
    admf: &str,
    ne_id: &str,
    req: Request<Incoming>,
    changes: &UnboundedSender<Change>,
) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, String::new());
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, String::new()),
    };
    let ts = now();
    let parsed = std::str::from_utf8(&body).map_err(|_| "not UTF-8".to_owned()).and_then(|t| parse_request(t).map_err(|e| e.to_string()));
    let response = match parsed {
        Ok(request) => {
            let (response, made) = lock(ne).handle_request(admf, &request, ts);
            for change in made {
                let _ = changes.send(change);
            }
            response
        }
        Err(why) => {
            tracing::warn!(reason = %why, "X1 request not parseable; top-level error");
            X1Response::TopLevelError {
                admf_identifier: if admf.is_empty() { "unknown".to_owned() } else { admf.to_owned() },
                ne_identifier: ne_id.to_owned(),
                timestamp: ts.to_rfc3339(),
                version: VERSION.to_owned(),
            }
        }
    };
    reply(StatusCode::OK, write_response(&response))
}
