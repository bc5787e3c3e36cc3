//! The HTTPS client of X1: one POST per round (an ADMF tasking a network element, or a
//! network element reporting an issue to its ADMF), over TLS 1.3 with the sender's client
//! certificate (the mutual-TLS set-up of delivery, [`crate::delivery::tls::client_config`]),
//! the server checked against its CA and the URL's host.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::delivery::tls::{self, TlsError};

/// Largest X1 response body read.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Longest a round may take, connect to last byte.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a round did not get an answer (never a target: bodies are not quoted).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("the request could not be built from the X1 URL's path")]
    Request,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response body larger than {MAX_BODY} bytes or unreadable")]
    Body,
    #[error("response is not UTF-8")]
    Utf8,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// `https://host:port/path` of an X1 endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X1Url {
    /// Without IPv6 brackets: the TLS server name and the connect address.
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl X1Url {
    pub fn parse(url: &str) -> Option<X1Url> {
        let rest = url.strip_prefix("https://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i)?, rest.get(i..)?),
            None => (rest, "/"),
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                host.parse::<std::net::Ipv6Addr>().ok()?;
                (host, after.strip_prefix(':').unwrap_or("443"))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (authority, "443"),
            },
        };
        let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
        let valid_host = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
        let valid_path = path.bytes().all(|b| b.is_ascii_graphic());
        (valid_host && valid_path).then(|| X1Url { host: host.to_ascii_lowercase(), port, path: path.to_owned() })
    }
}

/// An X1 endpoint as its peer reaches it.
#[derive(Clone)]
pub struct X1Client {
    url: X1Url,
    name: ServerName<'static>,
    connector: TlsConnector,
}

impl X1Client {
    /// The client of the endpoint `url`, whose server certificate chains to `ca`,
    /// presenting `cert`/`key`.
    pub fn new(url: &X1Url, ca: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Result<X1Client, TlsError> {
        let config = tls::client_config(ca, cert, key)?;
        let name = ServerName::try_from(url.host.clone()).map_err(|_| TlsError::ServerName(url.host.clone()))?;
        Ok(X1Client { url: url.clone(), name, connector: TlsConnector::from(config) })
    }

    /// POSTs `body` (an `X1Request`), returns the response body.
    pub async fn post(&self, body: String) -> Result<String, ClientError> {
        match tokio::time::timeout(ROUND_TIMEOUT, self.round(body)).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(ROUND_TIMEOUT)),
        }
    }

    async fn round(&self, body: String) -> Result<String, ClientError> {
        let tcp = tokio::net::TcpStream::connect((self.url.host.as_str(), self.url.port)).await.map_err(ClientError::Connect)?;
        let tls = self.connector.connect(self.name.clone(), tcp).await.map_err(ClientError::Tls)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        let driver = tokio::spawn(connection);
        let host = if self.url.host.contains(':') { format!("[{}]:{}", self.url.host, self.url.port) } else { format!("{}:{}", self.url.host, self.url.port) };
        let request = hyper::Request::post(self.url.path.as_str())
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/xml")
            .body(Full::new(Bytes::from(body)));
        let Ok(request) = request else {
            driver.abort();
            return Err(ClientError::Request);
        };
        let result = async {
            let response = sender.send_request(request).await?;
            if response.status() != hyper::StatusCode::OK {
                return Err(ClientError::Status(response.status().as_u16()));
            }
            let bytes = Limited::new(response.into_body(), MAX_BODY).collect().await.map_err(|_| ClientError::Body)?.to_bytes();
            String::from_utf8(bytes.to_vec()).map_err(|_| ClientError::Utf8)
        }
        .await;
        driver.abort();
        result
    }
}
