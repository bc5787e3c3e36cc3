//! The async sender of one agency interface: connects over mutual TLS with capped back-off,
//! sends the spool from the confirmed position, probes with keep-alives, and confirms.

use std::sync::atomic::Ordering;
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
use super::tracker::{Backoff, Tracker, TrackerConfig};
use crate::handover::{decode_pdu, encode_keepalive, split_stream, Payload, PduHeader};
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

/// Connection settings of a sender.
#[derive(Clone, Copy, Debug)]
pub struct SenderConfig {
    pub tracker: TrackerConfig,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Bytes read from the spool per write.
    pub chunk_bytes: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            tracker: TrackerConfig::default(),
            connect_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            chunk_bytes: 64 * 1024,
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
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("server name `{0}` is not valid")]
    Name(String),
    #[error("write: {0}")]
    Write(std::io::Error),
    #[error("connection: {0}")]
    Closed(String),
    #[error("keep-alive: {0}")]
    Protocol(#[from] super::tracker::TrackerError),
    #[error("no keep-alive-response in time")]
    Dead,
    #[error("{0}")]
    Spool(#[from] super::spool::SpoolError),
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
                    Err(e) => tracing::warn!(agency = %q.agency, channel = ?q.channel, error = %e, "connection lost"),
                }
            }
            Err(e) => {
                q.metrics.connect_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(agency = %q.agency, channel = ?q.channel, error = %e, "cannot deliver");
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
        .map_err(ConnError::Handshake)
}

/// Reads keep-alive-responses and hands their sequence numbers over; ends at EOF or error.
async fn read_responses(mut rd: ReadHalf<TlsStream<TcpStream>>, tx: mpsc::UnboundedSender<Result<u32, String>>) {
    let mut buf = Vec::new();
    let mut block = vec![0u8; 16 * 1024];
    loop {
        let n = match rd.read(&mut block).await {
            Ok(0) => {
                let _ = tx.send(Err("closed by the agency".into()));
                return;
            }
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        buf.extend_from_slice(block.get(..n).unwrap_or_default());
        let mut used = 0;
        for pdu in split_stream(&buf) {
            let Ok(pdu) = pdu else { break };
            used += pdu.len();
            match decode_pdu(pdu) {
                Ok(p) if p.payload == Payload::KeepAliveResponse => {
                    let _ = tx.send(Ok(p.header.sequence));
                }
                Ok(_) => tracing::debug!("ignoring a PDU from the agency that is not a keep-alive-response"),
                Err(e) => {
                    let _ = tx.send(Err(format!("undecodable PDU from the agency: {e}")));
                    return;
                }
            }
        }
        buf.drain(..used);
    }
}

fn keepalive(identity: &KeepaliveIdentity, sequence: u32) -> Vec<u8> {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let header = PduHeader {
        liid: &identity.liid,
        authorization_country: &identity.authorization_country,
        operator_id: &identity.operator_id,
        network_element_id: &identity.network_element_id,
        cin: 0,
        delivery_country: &identity.delivery_country,
        sequence,
        ts: Timestamp::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)),
    };
    let mut out = Vec::with_capacity(64);
    encode_keepalive(&mut out, &header);
    out
}

async fn serve(s: &Sender, stream: TlsStream<TcpStream>, phase: &mut watch::Receiver<Phase>) -> Result<(), ConnError> {
    let q = &s.queue;
    let (rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_responses(rd, tx));
    let mut tracker = Tracker::new(s.config.tracker, q.confirmed(), Instant::now());
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let write_limit = s.config.tracker.response_timeout;
    let result = loop {
        let mut drained = true;
        while tracker.may_send() {
            let chunk = q.read(tracker.send_from(), s.config.chunk_bytes)?;
            if chunk.records == 0 {
                break;
            }
            drained = false;
            write(&mut wr, &chunk.bytes, write_limit).await?;
            tracker.sent(chunk.end, chunk.records, chunk.bytes.len() as u64);
            if tracker.probe_due(Instant::now(), false).is_some() {
                break;
            }
        }
        if drained && q.read(tracker.send_from(), 1)?.records > 0 {
            drained = false;
        }
        let now = Instant::now();
        if let Some(sequence) = tracker.probe_due(now, drained) {
            write(&mut wr, &keepalive(&s.identity, sequence), write_limit).await?;
            tracker.probe_sent(now);
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
                Some(Ok(sequence)) => {
                    let c = tracker.on_response(sequence, Instant::now())?;
                    q.confirm(c.upto.pos, c.records, c.bytes)?;
                    let us = u64::try_from(c.round_trip.as_micros()).unwrap_or(u64::MAX);
                    q.metrics.round_trip_us_sum.fetch_add(us, Ordering::Relaxed);
                    q.metrics.round_trip_us_max.fetch_max(us, Ordering::Relaxed);
                    q.metrics.confirms.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(e)) => break Err(ConnError::Closed(e)),
                None => break Err(ConnError::Closed("reader ended".into())),
            },
            _ = q.data.notified() => {}
            _ = tick.tick() => {}
            _ = phase.changed() => {}
        }
    };
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

async fn write<W: AsyncWriteExt + Unpin>(wr: &mut W, bytes: &[u8], limit: Duration) -> Result<(), ConnError> {
    tokio::time::timeout(limit, wr.write_all(bytes))
        .await
        .map_err(|_| ConnError::Timeout("writing"))?
        .map_err(ConnError::Write)
}
