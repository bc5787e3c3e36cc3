//! An ADMF's side of X1 for tests: one request body POSTed over HTTPS with mutual TLS.

use std::net::SocketAddr;

use rustls::pki_types::ServerName;
use tapline::delivery::pki::DevPki;
use tapline::delivery::tls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// POSTs `body` to the X1 endpoint at `addr` with the client certificate `client` of the
/// development PKI (`CLIENT.pem`/`.key` beside its CA); asserts HTTP 200, returns the body.
pub async fn post(addr: SocketAddr, pki: &DevPki, client: &str, body: &str) -> String {
    let dir = pki.ca.parent().expect("pki dir");
    let (cert, key) = (dir.join(format!("{client}.pem")), dir.join(format!("{client}.key")));
    let config = tls::client_config(&pki.ca, &cert, &key).expect("client TLS");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut s = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS");
    let request = format!(
        "POST /X1/NE HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.expect("write");
    s.flush().await.expect("flush");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).expect("body")
}
