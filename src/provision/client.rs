//! The client of the provisioning API (`tapline warrant add|amend|revoke|list|show`):
//! one HTTPS request over mutual TLS, JSON in and out.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::delivery::tls::{self, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("`{0}` is not HOST:PORT")]
    Address(String),
    #[error("connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("reply is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Status and JSON body of an API reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Where the API is and how to authenticate to it.
#[derive(Clone)]
pub struct ApiClient {
    addr: String,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
}

impl ApiClient {
    /// `addr` is `HOST:PORT`; the server certificate must chain to `server_ca`; `cert` and
    /// `key` are the client's (its OU says what it may do).
    pub fn new(addr: &str, server_ca: &Path, cert: &Path, key: &Path) -> Result<ApiClient, ClientError> {
        ApiClient::with_config(addr, tls::client_config(server_ca, cert, key)?)
    }

    /// With a TLS configuration made elsewhere (tests: one without a client certificate).
    pub fn with_config(addr: &str, tls: Arc<ClientConfig>) -> Result<ApiClient, ClientError> {
        let host = addr.rsplit_once(':').map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'));
        let server_name = host
            .and_then(|h| ServerName::try_from(h.to_owned()).ok())
            .ok_or_else(|| ClientError::Address(addr.to_owned()))?;
        Ok(ApiClient { addr: addr.to_owned(), server_name, tls })
    }

    /// One request: `method` on `path` (e.g. `/warrants/DEN-1`) with an optional JSON body.
    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, ClientError> {
        let (status, bytes) = self.request_bytes(method, path, body).await?;
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? };
        Ok(Reply { status, body })
    }

    /// [`Self::request`] answering the status and the body's bytes (CSV, zip, …).
    pub async fn request_bytes(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Bytes), ClientError> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(|source| ClientError::Connect { addr: self.addr.clone(), source })?;
        let stream = TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|source| ClientError::Connect { addr: self.addr.clone(), source })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(conn);
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(payload)))?;
        let res = sender.send_request(req).await?;
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await?.to_bytes();
        connection.abort();
        Ok((status, bytes))
    }

    /// [`Self::request`] from synchronous code (the command line).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply, ClientError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ClientError::Connect { addr: self.addr.clone(), source })?;
        rt.block_on(self.request(method, path, body))
    }
}
