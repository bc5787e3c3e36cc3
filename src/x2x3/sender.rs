//! The sending end's tokio shell around [`Link`] (a POI delivering to a mediation function):
//! connects over TLS 1.3 with mutual authentication, writes the PDUs it is given, keeps the
//! keep-alive discipline, and when the link drops (no ack within TIME_P2, peer gone)
//! reconnects after a pause.
//!
//! Two ways to feed it:
//! - [`run`] from an in-memory queue: X2/X3 data PDUs are never acknowledged, so a PDU
//!   written to a connection that then drops may be lost; what is not yet taken from the
//!   queue waits for the next connection.
//! - [`run_spooled`] from a durable spool (a POI's destination): a PDU is deleted only once
//!   a keepalive written after it was acknowledged on the same connection, and everything
//!   unconfirmed is sent again on the next connection, so nothing is lost to a drop, a
//!   kill or a restart; the receiving end drops the resends (`dedupe.rs`).

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
use crate::delivery::spool::{Chunk, Position, Spool, SpoolError};
use crate::handover::profile::{x2x3::X2X3, HandoverProfile};

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
    /// Spooled sending: PDUs a keepalive ack confirmed (deleted from the spool in time).
    pub pdus_confirmed: AtomicU64,
}

/// Sends the PDUs from `queue` until it closes or `stop` turns true.
pub async fn run(config: SenderConfig, mut queue: mpsc::Receiver<Vec<u8>>, stats: Arc<SenderStats>, mut stop: watch::Receiver<bool>) {
    let connector = TlsConnector::from(config.tls.clone());
    loop {
        if *stop.borrow() {
            return;
        }
        let connected = connect(&connector, &config, config.addr).await;
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

type Connected = Result<Result<tokio_rustls::client::TlsStream<TcpStream>, std::io::Error>, tokio::time::error::Elapsed>;

/// TCP (no Nagle) and the TLS handshake to `to`, within 5 s.
async fn connect(connector: &TlsConnector, config: &SenderConfig, to: SocketAddr) -> Connected {
    tokio::time::timeout(Duration::from_secs(5), async {
        let tcp = TcpStream::connect(to).await?;
        let _ = tcp.set_nodelay(true);
        connector.connect(config.server_name.clone(), tcp).await
    })
    .await
}

/// Writes what `link` has to send (flushed: TLS may hold the records back otherwise, and an
/// ack must not wait) and adds the link's new keepalive counts to `stats`.
async fn transmit<W: tokio::io::AsyncWrite + Unpin>(link: &mut Link, wr: &mut W, stats: &SenderStats, seen: &mut (u64, u64)) {
    let out = link.poll_transmit();
    if !out.is_empty() && (wr.write_all(&out).await.is_err() || wr.flush().await.is_err()) {
        link.handle_close(Instant::now());
    }
    let s = link.stats();
    stats.keepalives_sent.fetch_add(s.keepalives_sent - seen.0, Ordering::Relaxed);
    stats.acks_received.fetch_add(s.acks_received - seen.1, Ordering::Relaxed);
    *seen = (s.keepalives_sent, s.acks_received);
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
    let mut seen = (0, 0);
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
        transmit(&mut link, &mut wr, stats, &mut seen).await;
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

/// A POI destination's durable queue: the spool the capture side appends to and the sender
/// reads and confirms, with the wake-up for new PDUs.
#[derive(Debug)]
pub struct SpooledQueue {
    spool: std::sync::Mutex<Spool>,
    more: tokio::sync::Notify,
}

impl SpooledQueue {
    pub fn new(spool: Spool) -> SpooledQueue {
        SpooledQueue { spool: std::sync::Mutex::new(spool), more: tokio::sync::Notify::new() }
    }

    /// The spool (append under this lock, then [`SpooledQueue::wake`]).
    pub fn spool(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the sender there is more to send.
    pub fn wake(&self) {
        self.more.notify_one();
    }

    /// PDUs not yet confirmed by the receiving end.
    pub fn unconfirmed(&self) -> u64 {
        self.spool().unconfirmed_records()
    }
}

/// Most bytes read from the spool and written in one go.
const SPOOL_CHUNK: usize = 256 << 10;

/// The PDUs written since the last confirmation point, up to `end`.
#[derive(Clone, Copy, Debug, Default)]
struct Unconfirmed {
    end: Position,
    records: u64,
    bytes: u64,
}

/// Sends what `queue` holds to the address `addr` says (a change reconnects there) until
/// `stop` turns true, and confirms in the spool what the receiving end acknowledged:
/// after writing PDUs the sender writes a keepalive behind them; its ack means the peer
/// has read them all, and only then are they confirmed (deleted in time). A connection
/// that drops leaves them unconfirmed: the next one starts at the confirmed position and
/// sends them again (the listener drops the resends, see `dedupe.rs`).
pub async fn run_spooled(
    config: SenderConfig,
    mut addr: watch::Receiver<SocketAddr>,
    queue: Arc<SpooledQueue>,
    stats: Arc<SenderStats>,
    mut stop: watch::Receiver<bool>,
) {
    let connector = TlsConnector::from(config.tls.clone());
    loop {
        if *stop.borrow() {
            return;
        }
        let to = *addr.borrow_and_update();
        let connected = connect(&connector, &config, to).await;
        let stream = match connected {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::warn!(addr = %to, error = %e, "X2/X3 connect failed");
                None
            }
            Err(_) => {
                tracing::warn!(addr = %to, "X2/X3 connect timed out");
                None
            }
        };
        if let Some(stream) = stream {
            stats.connects.fetch_add(1, Ordering::Relaxed);
            match spooled_session(stream, &config, &mut addr, &queue, &stats, &mut stop).await {
                Some(CloseReason::NoAck { sequence }) => {
                    stats.ack_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(addr = %to, sequence, "X2/X3 keepalive not acknowledged; reconnecting");
                }
                Some(reason) => tracing::info!(addr = %to, %reason, "X2/X3 connection closed; reconnecting"),
                None => return,
            }
        } else {
            stats.failed_connects.fetch_add(1, Ordering::Relaxed);
        }
        tokio::select! {
            _ = tokio::time::sleep(config.reconnect_after) => {}
            _ = stop.changed() => {}
            _ = addr.changed() => {}
        }
    }
}

/// Syncs what was appended (group commit, without holding the lock during the sync) and
/// reads the next chunk from `from`.
fn next_chunk(queue: &SpooledQueue, from: Position) -> Result<Chunk, SpoolError> {
    let pending = queue.spool().sync_pending();
    if let Some((file, upto)) = pending {
        file.sync_data().map_err(|source| SpoolError::Io { path: queue.spool().dir().to_owned(), source })?;
        queue.spool().mark_synced(upto);
    }
    queue.spool().read(from, SPOOL_CHUNK)
}

/// One connection of [`run_spooled`]; None when stop was requested.
async fn spooled_session(
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    config: &SenderConfig,
    addr: &mut watch::Receiver<SocketAddr>,
    queue: &SpooledQueue,
    stats: &SenderStats,
    stop: &mut watch::Receiver<bool>,
) -> Option<CloseReason> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut link = Link::new(Role::Sender, config.link, Instant::now());
    let mut block = vec![0u8; 16 * 1024];
    let mut sent_to = queue.spool().confirmed();
    let resend = queue.unconfirmed();
    if resend > 0 {
        tracing::info!(pdus = resend, "X2/X3 sending the unconfirmed PDUs of the spool");
    }
    // The keepalive whose ack confirms `marked`, and what was written after it.
    let mut marked: Option<(u32, Unconfirmed)> = None;
    let mut unmarked = Unconfirmed::default();
    let mut seen = (0, 0);
    loop {
        let more = queue.spool().end() > sent_to;
        let deadline = link.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            biased;
            read = rd.read(&mut block) => match read {
                Ok(0) | Err(_) => link.handle_close(Instant::now()),
                Ok(n) => link.handle_input(Instant::now(), block.get(..n).unwrap_or_default()),
            },
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } }, if deadline.is_some() => {
                link.handle_timeout(Instant::now());
            }
            _ = stop.changed() => {
                let _ = wr.shutdown().await;
                return None;
            }
            _ = addr.changed() => return Some(CloseReason::Shell),
            _ = std::future::ready(()), if more => match next_chunk(queue, sent_to) {
                Ok(chunk) if !chunk.bytes.is_empty() => {
                    link.send_encoded(&chunk.bytes);
                    stats.pdus_written.fetch_add(chunk.records, Ordering::Relaxed);
                    sent_to = chunk.end;
                    unmarked = Unconfirmed { end: chunk.end, records: unmarked.records + chunk.records, bytes: unmarked.bytes + chunk.bytes.len() as u64 };
                }
                // Only a segment boundary lay between: move past it (no busy loop otherwise).
                Ok(chunk) if chunk.end != sent_to => sent_to = chunk.end,
                Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) => {
                    tracing::error!(error = %e, "X2/X3 spool read failed");
                    tokio::time::sleep(config.reconnect_after).await;
                }
            },
            _ = queue.more.notified(), if !more => {}
        }
        if marked.is_none() && unmarked.records > 0 {
            if let Some(sequence) = link.keepalive(Instant::now()) {
                marked = Some((sequence, std::mem::take(&mut unmarked)));
            }
        }
        transmit(&mut link, &mut wr, stats, &mut seen).await;
        while let Some(event) = link.poll_event() {
            match event {
                Event::Acknowledged(sequence) => {
                    // The profile's rule: acks come in order, one at or after the marked keepalive settles it.
                    if let Some((_, done)) = marked.filter(|(m, _)| X2X3.confirmation().settles(*m, sequence)) {
                        if let Err(e) = queue.spool().confirm(done.end, done.records, done.bytes) {
                            tracing::error!(error = %e, "X2/X3 spool confirmation not written");
                        }
                        stats.pdus_confirmed.fetch_add(done.records, Ordering::Relaxed);
                        marked = None;
                    }
                }
                Event::Closed(reason) => return Some(reason),
                Event::Data(_) | Event::Refused(_) | Event::Keepalive(_) => {}
            }
        }
    }
}
