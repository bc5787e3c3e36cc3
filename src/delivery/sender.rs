//! The async sender of one agency interface: connects over mutual TLS with capped back-off,
//! sends the spool from the confirmed position, probes with keep-alives, and confirms.
//!
//! Records go out in batches: up to [`SenderConfig::chunk_bytes`] (64 KiB) of whole durable
//! records per TLS write, with the keep-alive that confirms the batch appended to the same
//! write. Batches are pipelined: the sender goes on writing while earlier keep-alives are
//! unanswered, up to [`TrackerConfig::max_outstanding`] keep-alives and
//! [`TrackerConfig::window_bytes`] unconfirmed, and waits only when the window is full or
//! the spool is drained. A response confirms exactly the records written before its
//! keep-alive, so a record leaves the spool only after the agency stored it.
//!
//! Nothing the agency sends can confirm a record it did not receive: a keep-alive-response
//! must echo its keep-alive's PSHeader (LIID, network identifiers, sequence number from a
//! random start, microsecond timestamp) and arrive after the keep-alive was written (see
//! [`super::tracker`]); the agency's server must present that agency's certificate
//! ([`super::tls::AgencyIdentity`]); and what it sends is read into a buffer of at most
//! [`MAX_RESPONSE_PDU`] octets. Any violation drops the connection with an `ALARM` log line
//! and a [`PeerMetrics`] count, confirms nothing, and the records stay spooled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::queue::Queue;
use super::tls;
use super::tracker::{Backoff, Echo, Tracker, TrackerConfig};
use crate::handover::{decode_pdu, encode_keepalive, split_stream, DecodeError, Header, Payload, PduHeader};
use crate::warrant::Endpoint;
use crate::Timestamp;

/// What the senders should do: keep delivering, deliver what is spooled then stop, or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Running,
    Drain,
    Stop,
}

/// The PSHeader identity used on keep-alives of a connection.
#[derive(Clone, Debug)]
pub struct KeepaliveIdentity {
    /// One of the agency's LIIDs (TS 102 232-1 requires one in every PSHeader).
    pub liid: String,
    pub authorization_country: String,
    pub operator_id: String,
    pub network_element_id: String,
    pub delivery_country: String,
}

/// The largest PDU accepted from an agency. A keep-alive-response is under 120 octets (a
/// 25-octet LIID, 16-octet identifiers); an agency sends nothing else the appliance reads.
pub const MAX_RESPONSE_PDU: usize = 512;

/// Counts of what the agency's side did wrong (each also logged as an `ALARM`).
#[derive(Debug, Default)]
pub struct PeerMetrics {
    /// Keep-alive-responses that did not answer an outstanding keep-alive (forged, early,
    /// out of order, wrong LIID/identifiers/timestamp): each dropped the connection.
    pub refused_responses: AtomicU64,
    /// PDUs from the agency over [`MAX_RESPONSE_PDU`] or undecodable: each dropped the connection.
    pub malformed_pdus: AtomicU64,
    /// TLS handshakes refused because the server's certificate is not the agency's.
    pub identity_refused: AtomicU64,
}

/// Connection settings of a sender.
#[derive(Clone, Copy, Debug)]
pub struct SenderConfig {
    pub tracker: TrackerConfig,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Bytes read from the spool per write.
    pub chunk_bytes: usize,
    /// Lanes per interface: spools, each with its own sender and connection, that the
    /// interface's LIIDs are placed on (see `lanes.rs`, `placement.rs`).
    pub lanes: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            tracker: TrackerConfig::default(),
            connect_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            chunk_bytes: 64 * 1024,
            lanes: 16,
        }
    }
}

/// One agency interface to deliver.
pub struct Sender {
    pub queue: Arc<Queue>,
    pub endpoint: Endpoint,
    pub tls: Arc<ClientConfig>,
    pub identity: KeepaliveIdentity,
    pub config: SenderConfig,
}

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS handshake refused or failed: {0}")]
    Handshake(std::io::Error),
    #[error("ALARM server refused: {0}; records stay spooled")]
    Identity(std::io::Error),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("server name `{0}` is not valid")]
    Name(String),
    #[error("write: {0}")]
    Write(std::io::Error),
    #[error("connection: {0}")]
    Closed(String),
    #[error("ALARM keep-alive-response refused, nothing confirmed: {0}")]
    Protocol(#[from] super::tracker::TrackerError),
    #[error("ALARM keep-alive-response refused, nothing confirmed: {0}")]
    Forged(&'static str),
    #[error("ALARM {0}; connection dropped")]
    Malformed(String),
    #[error("no keep-alive-response in time")]
    Dead,
    #[error("{0}")]
    Spool(#[from] super::spool::SpoolError),
    #[error("spool sync task failed: {0}")]
    SyncTask(String),
}

/// Delivers until `phase` says stop, or says drain and everything spooled is confirmed.
pub async fn run_sender(sender: Sender, mut phase: watch::Receiver<Phase>) {
    let q = &sender.queue;
    let mut backoff = Backoff::new(sender.config.backoff_min, sender.config.backoff_max);
    loop {
        let now_phase = *phase.borrow();
        if now_phase == Phase::Stop || (now_phase == Phase::Drain && q.unconfirmed_records() == 0) {
            break;
        }
        match connect(&sender).await {
            Ok(stream) => {
                backoff.reset();
                q.metrics.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(agency = %q.agency, channel = ?q.channel, "connected");
                q.metrics.connected.store(true, Ordering::Relaxed);
                let served = serve(&sender, stream, &mut phase).await;
                q.metrics.connected.store(false, Ordering::Relaxed);
                match served {
                    Ok(()) => {
                        tracing::info!(agency = %q.agency, channel = ?q.channel, "disconnected");
                        break;
                    }
                    Err(e @ (ConnError::Protocol(_) | ConnError::Forged(_))) => {
                        q.metrics.peer.refused_responses.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(agency = %q.agency, channel = ?q.channel, error = %e, "connection dropped");
                    }
                    Err(e @ ConnError::Malformed(_)) => {
                        q.metrics.peer.malformed_pdus.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(agency = %q.agency, channel = ?q.channel, error = %e, "connection dropped");
                    }
                    Err(e) => tracing::warn!(agency = %q.agency, channel = ?q.channel, error = %e, "connection lost"),
                }
            }
            Err(e) => {
                q.metrics.connect_failures.fetch_add(1, Ordering::Relaxed);
                if let ConnError::Identity(_) = e {
                    q.metrics.peer.identity_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(agency = %q.agency, channel = ?q.channel, error = %e, "cannot deliver");
                } else {
                    tracing::warn!(agency = %q.agency, channel = ?q.channel, error = %e, "cannot deliver");
                }
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wait_for(&mut phase, Phase::Stop) => break,
        }
    }
}

async fn wait_for(phase: &mut watch::Receiver<Phase>, want: Phase) {
    while *phase.borrow_and_update() != want {
        if phase.changed().await.is_err() {
            return;
        }
    }
}

async fn connect(s: &Sender) -> Result<TlsStream<TcpStream>, ConnError> {
    let limit = s.config.connect_timeout;
    let addr = (s.endpoint.host.as_str(), s.endpoint.port);
    let tcp = tokio::time::timeout(limit, TcpStream::connect(addr))
        .await
        .map_err(|_| ConnError::Timeout("connecting"))?
        .map_err(ConnError::Connect)?;
    tcp.set_nodelay(true).map_err(ConnError::Connect)?;
    let name = ServerName::try_from(s.endpoint.host.clone()).map_err(|_| ConnError::Name(s.endpoint.host.clone()))?;
    tokio::time::timeout(limit, TlsConnector::from(s.tls.clone()).connect(name, tcp))
        .await
        .map_err(|_| ConnError::Timeout("in the TLS handshake"))?
        .map_err(|e| if tls::identity_mismatch(&e).is_some() { ConnError::Identity(e) } else { ConnError::Handshake(e) })
}

/// What the reader hands over: a keep-alive-response's header and when it was read.
type Response = Result<(Header, Instant), ConnError>;

/// Reads keep-alive-responses and hands them over with their arrival time; ends at EOF or
/// error. Holds at most [`MAX_RESPONSE_PDU`] octets of an unfinished PDU.
async fn read_responses(mut rd: ReadHalf<TlsStream<TcpStream>>, tx: mpsc::UnboundedSender<Response>) {
    let mut buf = Vec::with_capacity(2 * MAX_RESPONSE_PDU);
    let mut block = vec![0u8; MAX_RESPONSE_PDU];
    loop {
        let n = match rd.read(&mut block).await {
            Ok(0) => {
                let _ = tx.send(Err(ConnError::Closed("closed by the agency".into())));
                return;
            }
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(ConnError::Closed(e.to_string())));
                return;
            }
        };
        let arrived = Instant::now();
        buf.extend_from_slice(block.get(..n).unwrap_or_default());
        let mut used = 0;
        for pdu in split_stream(&buf) {
            let pdu = match pdu {
                Ok(pdu) if pdu.len() > MAX_RESPONSE_PDU => Err(too_large(pdu.len())),
                Ok(pdu) => Ok(pdu),
                Err(DecodeError::Truncated { need, .. }) if need > MAX_RESPONSE_PDU => Err(too_large(need)),
                Err(DecodeError::Truncated { .. }) => break,
                Err(e) => Err(ConnError::Malformed(format!("undecodable PDU from the agency: {e}"))),
            };
            let pdu = match pdu {
                Ok(pdu) => pdu,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            used += pdu.len();
            match decode_pdu(pdu) {
                Ok(p) if p.payload == Payload::KeepAliveResponse => {
                    let _ = tx.send(Ok((p.header, arrived)));
                }
                Ok(_) => tracing::debug!("ignoring a PDU from the agency that is not a keep-alive-response"),
                Err(e) => {
                    let _ = tx.send(Err(ConnError::Malformed(format!("undecodable PDU from the agency: {e}"))));
                    return;
                }
            }
        }
        buf.drain(..used);
        if buf.len() > MAX_RESPONSE_PDU {
            let _ = tx.send(Err(too_large(buf.len())));
            return;
        }
    }
}

fn too_large(len: usize) -> ConnError {
    ConnError::Malformed(format!("PDU of {len} octets from the agency (at most {MAX_RESPONSE_PDU} accepted)"))
}

/// The echo a response claims, if its PSHeader repeats this connection's identity.
fn echo_of(identity: &KeepaliveIdentity, h: &Header) -> Result<Echo, ConnError> {
    if h.liid != identity.liid.as_bytes() {
        return Err(ConnError::Forged("LIID differs from the keep-alive's"));
    }
    if h.operator_id != identity.operator_id.as_bytes()
        || h.network_element_id.as_deref() != Some(identity.network_element_id.as_bytes())
    {
        return Err(ConnError::Forged("network identifiers differ from the keep-alive's"));
    }
    match (h.seconds, h.micros) {
        (Some(seconds), Some(micros)) => Ok(Echo { sequence: h.sequence, seconds, micros }),
        _ => Err(ConnError::Forged("no microSecondTimeStamp")),
    }
}

/// A keep-alive PDU and its timestamp.
fn keepalive(identity: &KeepaliveIdentity, sequence: u32) -> (Vec<u8>, Timestamp) {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ts = Timestamp::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX));
    let header = PduHeader {
        liid: &identity.liid,
        authorization_country: &identity.authorization_country,
        operator_id: &identity.operator_id,
        network_element_id: &identity.network_element_id,
        cin: 0,
        delivery_country: &identity.delivery_country,
        sequence,
        ts,
    };
    let mut out = Vec::with_capacity(128);
    encode_keepalive(&mut out, &header);
    (out, ts)
}

async fn serve(s: &Sender, stream: TlsStream<TcpStream>, phase: &mut watch::Receiver<Phase>) -> Result<(), ConnError> {
    let q = &s.queue;
    let (rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_responses(rd, tx));
    let mut tracker = Tracker::with_first_sequence(s.config.tracker, q.confirmed(), Instant::now(), tls::random_u32());
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let write_limit = s.config.tracker.response_timeout;
    // Every way out of the exchange (`?` included) goes through the clean-up below.
    let result = async { loop {
        let drained = send_batches(s, &mut wr, &mut tracker).await?;
        let now = Instant::now();
        if let Some(sequence) = tracker.probe_due(now, drained) {
            let (pdu, ts) = keepalive(&s.identity, sequence);
            tracker.probe_sent(Instant::now(), ts.secs(), ts.subsec_micros());
            write(&mut wr, &pdu, write_limit).await?;
        }
        tokio::time::timeout(write_limit, wr.flush())
            .await
            .map_err(|_| ConnError::Timeout("flushing"))?
            .map_err(ConnError::Write)?;
        let current = *phase.borrow();
        if current == Phase::Stop {
            break Ok(());
        }
        if current == Phase::Drain && drained && tracker.settled() && q.unconfirmed_records() == 0 {
            break Ok(());
        }
        if tracker.timed_out(now) {
            break Err(ConnError::Dead);
        }
        tokio::select! {
            response = rx.recv() => match response {
                Some(Ok((header, arrived))) => {
                    let answered = echo_of(&s.identity, &header)
                        .and_then(|echo| tracker.on_response(echo, arrived).map_err(ConnError::Protocol));
                    let c = match answered {
                        Ok(c) => c,
                        Err(e) => break Err(e),
                    };
                    if let Err(e) = q.confirm(c.upto.pos, c.records, c.bytes) {
                        break Err(e.into());
                    }
                    let us = u64::try_from(c.round_trip.as_micros()).unwrap_or(u64::MAX);
                    q.metrics.round_trip_us_sum.fetch_add(us, Ordering::Relaxed);
                    q.metrics.round_trip_us_max.fetch_max(us, Ordering::Relaxed);
                    q.metrics.confirms.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(e)) => break Err(e),
                None => break Err(ConnError::Closed("reader ended".into())),
            },
            _ = q.data.notified() => {}
            _ = tick.tick() => {}
            _ = phase.changed() => {}
        }
    } }
    .await;
    if matches!(result, Err(ConnError::Protocol(_) | ConnError::Forged(_) | ConnError::Malformed(_))) {
        // A hostile or broken peer: nothing it still sends counts; cut the connection.
        reader.abort();
        return result;
    }
    // Close cleanly and drain what the agency still sends, so that no RST discards data.
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
    if tokio::time::timeout(Duration::from_secs(2), async {
        while rx.recv().await.is_some() {}
    })
    .await
    .is_err()
    {
        reader.abort();
    }
    result
}

/// Writes batches while the window allows: each batch is up to [`SenderConfig::chunk_bytes`]
/// of whole records read from the spool with, when one may be outstanding, the keep-alive
/// that confirms them appended, all in one TLS write. Returns whether the spool is drained
/// (everything durable was written). Does not wait for responses: several batches are in
/// flight before their confirmations arrive (pipelining, bounded by the window).
async fn send_batches<W: AsyncWriteExt + Unpin>(s: &Sender, wr: &mut W, tracker: &mut Tracker) -> Result<bool, ConnError> {
    let limit = s.config.tracker.response_timeout;
    while tracker.may_send() {
        let mut chunk = s.queue.read_synced(tracker.send_from(), s.config.chunk_bytes)?;
        if chunk.records == 0 && s.queue.sync_due() {
            // Group commit only once everything already durable is written: one fdatasync
            // then covers all that was appended meanwhile. It runs off the async workers,
            // so that other senders (and, in one process, a LEMF) go on while the disk
            // flushes.
            let queue = s.queue.clone();
            tokio::task::spawn_blocking(move || queue.make_durable())
                .await
                .map_err(|e| ConnError::SyncTask(e.to_string()))??;
            chunk = s.queue.read_synced(tracker.send_from(), s.config.chunk_bytes)?;
        }
        if chunk.records == 0 {
            return Ok(true);
        }
        let mut batch = chunk.bytes;
        tracker.sent(chunk.end, chunk.records, batch.len() as u64);
        let now = Instant::now();
        if let Some(sequence) = tracker.probe_due(now, true) {
            let (pdu, ts) = keepalive(&s.identity, sequence);
            batch.extend_from_slice(&pdu);
            tracker.probe_sent(now, ts.secs(), ts.subsec_micros());
        }
        write(wr, &batch, limit).await?;
    }
    Ok(false)
}

async fn write<W: AsyncWriteExt + Unpin>(wr: &mut W, bytes: &[u8], limit: Duration) -> Result<(), ConnError> {
    tokio::time::timeout(limit, wr.write_all(bytes))
        .await
        .map_err(|_| ConnError::Timeout("writing"))?
        .map_err(ConnError::Write)
}
