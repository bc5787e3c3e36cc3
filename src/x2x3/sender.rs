//! The sending end's tokio shell around [`Link`] (a POI delivering to a mediation function):
//! connects over TLS 1.3 with mutual authentication, writes the PDUs it is given, keeps the
//! keep-alive discipline, and when the link drops (no ack within TIME_P2, peer gone)
//! reconnects after a pause.
//!
//! X2/X3 data PDUs are never acknowledged, so a PDU written to a connection that then drops
//! may be lost; what is not yet taken from the queue waits for the next connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

use super::link::{CloseReason, Event, Link, LinkConfig, Role};

/// Where and how a sender connects.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    pub addr: SocketAddr,
    /// Name checked against the mediation function's certificate.
    pub server_name: ServerName<'static>,
    pub tls: Arc<ClientConfig>,
    pub link: LinkConfig,
    /// Pause before reconnecting after a drop or a failed attempt.
    pub reconnect_after: Duration,
}

/// Counters of a sender.
#[derive(Debug, Default)]
pub struct SenderStats {
    pub connects: AtomicU64,
    pub failed_connects: AtomicU64,
    /// Connections dropped because a keepalive went TIME_P2 without its ack.
    pub ack_timeouts: AtomicU64,
    pub pdus_written: AtomicU64,
    pub keepalives_sent: AtomicU64,
    pub acks_received: AtomicU64,
}

/// Sends the PDUs from `queue` until it closes or `stop` turns true.
pub async fn run(config: SenderConfig, mut queue: mpsc::Receiver<Vec<u8>>, stats: Arc<SenderStats>, mut stop: watch::Receiver<bool>) {
    let connector = TlsConnector::from(config.tls.clone());
    loop {
        if *stop.borrow() {
            return;
        }
        let connected = tokio::time::timeout(Duration::from_secs(5), async {
            let tcp = TcpStream::connect(config.addr).await?;
            let _ = tcp.set_nodelay(true);
            connector.connect(config.server_name.clone(), tcp).await
        })
        .await;
        let stream = match connected {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                stats.failed_connects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(addr = %config.addr, error = %e, "X2/X3 connect failed");
                tokio::time::sleep(config.reconnect_after).await;
                continue;
            }
            Err(_) => {
                stats.failed_connects.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(config.reconnect_after).await;
                continue;
            }
        };
        stats.connects.fetch_add(1, Ordering::Relaxed);
        match session(stream, &config, &mut queue, &stats, &mut stop).await {
            Some(CloseReason::NoAck { sequence }) => {
                stats.ack_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(addr = %config.addr, sequence, "X2/X3 keepalive not acknowledged; reconnecting");
            }
            Some(reason) => tracing::info!(addr = %config.addr, %reason, "X2/X3 connection closed; reconnecting"),
            None => return,
        }
        tokio::time::sleep(config.reconnect_after).await;
    }
}

/// One connection; None when the queue closed or stop was requested (the sender ends).
async fn session(
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    config: &SenderConfig,
    queue: &mut mpsc::Receiver<Vec<u8>>,
    stats: &SenderStats,
    stop: &mut watch::Receiver<bool>,
) -> Option<CloseReason> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut link = Link::new(Role::Sender, config.link, Instant::now());
    let mut block = vec![0u8; 16 * 1024];
    let mut ended = false;
    let (mut keepalives, mut acks) = (0, 0);
    loop {
        let deadline = link.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            pdu = queue.recv(), if !ended => match pdu {
                Some(pdu) => {
                    link.send_encoded(&pdu);
                    stats.pdus_written.fetch_add(1, Ordering::Relaxed);
                }
                None => ended = true,
            },
            read = rd.read(&mut block) => match read {
                Ok(0) | Err(_) => link.handle_close(Instant::now()),
                Ok(n) => link.handle_input(Instant::now(), block.get(..n).unwrap_or_default()),
            },
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } }, if deadline.is_some() => {
                link.handle_timeout(Instant::now());
            }
            _ = stop.changed() => ended = true,
        }
        let out = link.poll_transmit();
        // Flushed: TLS may hold the records back otherwise, and an ack must not wait.
        if !out.is_empty() && (wr.write_all(&out).await.is_err() || wr.flush().await.is_err()) {
            link.handle_close(Instant::now());
        }
        let s = link.stats();
        stats.keepalives_sent.fetch_add(s.keepalives_sent - keepalives, Ordering::Relaxed);
        stats.acks_received.fetch_add(s.acks_received - acks, Ordering::Relaxed);
        (keepalives, acks) = (s.keepalives_sent, s.acks_received);
        while let Some(event) = link.poll_event() {
            if let Event::Closed(reason) = event {
                return Some(reason);
            }
        }
        if ended {
            let _ = wr.flush().await;
            let _ = wr.shutdown().await;
            return None;
        }
    }
}
