//! The mediation function's X2/X3 listener (tokio shell around [`Link`]): accepts points of
//! interception and third-party network elements over TLS 1.3 with mutual authentication,
//! answers their keepalives, and pushes every X2/X3 PDU, turned into a frame by
//! [`Ingest`], into the pipeline's [`FrameSource::Channel`](crate::pipeline::FrameSource).
//! A full pipeline makes the connections wait (TCP back-pressure), never drops.
//!
//! # Confirmation contract
//! A Keepalive Ack confirms to the sender every PDU it sent before that keepalive, and a
//! POI deletes them from its spool then. So the ack leaves only when every record those
//! PDUs produced is durable in the agencies' delivery spools: appended and synced by the
//! spool's group commit (`fdatasync`, see `delivery/spool.rs`; with fsync off, appended).
//! The keepalive becomes a barrier that travels through the pipeline behind the PDUs'
//! frames ([`super::confirm`]); the run syncs the spools once the encoding stage has passed
//! it and releases the ack. PDUs refused (malformed, not ingestible, an XID of no warrant in
//! force, a resend) are confirmed with the others: nothing of them is ever delivered.
//! Acks of one connection leave in order. A pipeline or spool slower than TIME_P2 delays
//! acks past it: the POI then drops the connection, reconnects and resends everything
//! unconfirmed, and the resends already taken are dropped by the resend filter
//! (`dedupe.rs`: per certificate identity and XID, by sequence number and timestamp; kept
//! in the barrier book so each barrier's checkpoint holds it exactly as of its marker).
//! Nothing is confirmed early.
//!
//! # Checkpoints
//! Besides the keepalives' barriers the listener sets the mediation function's own every
//! [`ListenerConfig::checkpoint_every`] while frames flow ([`Barriers::tick`]): the run
//! publishes a spool's records to its sender only at a checkpoint (`run/checkpoint.rs`),
//! so these bound how long delivery waits. On a restart the run restores the filter from
//! the checkpoint before the XID gate lets any connection push.
//!
//! # One connection per sender identity
//! The resend filter keys on the certificate's identity, so two senders presenting the same
//! certificate at once would have each other's PDUs dropped as resends (the identity is the
//! certificate's name and fingerprint: different certificates never collide). A connection
//! whose certificate already has a live connection is therefore refused after the
//! handshake (counted as `refused_identity_in_use`, logged at WARN): its sender keeps its
//! PDUs spooled and retries. A sender that reconnects while its old connection lingers gets
//! in once the old one closes (at the latest after the idle limit).
//!
//! # XID rule
//! A PDU is ingested only if its XID is the task XID of a warrant in force at the PDU's
//! time ([`XidGate`]); otherwise it is counted (`unknown_xid`), logged at INFO by XID once
//! per connection, and dropped. Until the run has told the gate its warrants, connections
//! wait.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::confirm::{Ack, Barriers};
use super::dedupe::Numbered;
use super::ingest::Ingest;
use super::xid_gate::{Verdict, XidGate};
use super::link::{Event, Link, LinkConfig, Role};
use super::pdu::{PduRepr, PduType, Xid};
use crate::delivery::tls::{self, TlsError};
use crate::pipeline::PushedFrame;
use crate::Timestamp;

/// Settings of the X2/X3 listener (`tapline run --x2x3-listen`).
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    pub listen: Vec<SocketAddr>,
    /// The mediation function's server certificate and key (PEM).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Only POIs and network elements whose certificate chains to this CA are accepted.
    pub client_ca: PathBuf,
    pub link: LinkConfig,
    /// Frames queued towards the pipeline before connections wait.
    pub queue: usize,
    /// The mediation function's own checkpoints while frames flow (see `confirm.rs`):
    /// records reach the agencies within about this interval after their PDUs.
    pub checkpoint_every: Duration,
}

/// Default interval of the mediation function's own checkpoints.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl ListenerConfig {
    pub fn new(listen: Vec<SocketAddr>, cert: PathBuf, key: PathBuf, client_ca: PathBuf) -> Self {
        ListenerConfig { listen, cert, key, client_ca, link: LinkConfig::default(), queue: 4096, checkpoint_every: CHECKPOINT_EVERY }
    }
}

/// Sets the mediation function's own barrier every `every` while frames flow (a full
/// pipeline skips a tick; the next one tries again).
async fn checkpoints(barriers: Arc<Barriers>, tx: Sender<PushedFrame>, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                barriers.tick(&tx);
            }
            _ = stopped.changed() => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("X2/X3 TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("X2/X3 listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("X2/X3 runtime: {0}")]
    Runtime(std::io::Error),
}

/// Counters of the listener (no identities).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestCounters {
    pub connections: u64,
    /// Clients refused in the TLS handshake (no or an untrusted certificate).
    pub refused_clients: u64,
    pub x2_pdus: u64,
    pub x3_pdus: u64,
    pub keepalives: u64,
    /// Frames handed to the pipeline.
    pub frames: u64,
    /// PDUs framed correctly but malformed (bad attribute), skipped.
    pub malformed_pdus: u64,
    /// PDUs not ingested (unsupported format, RTP without addresses, ...), skipped.
    pub not_ingested: u64,
    /// Connections dropped for a garbled or oversized stream.
    pub refused_streams: u64,
    /// Connections refused because their certificate identity already had a live one.
    pub refused_identity_in_use: u64,
    /// Connections dropped as silent for longer than the idle limit.
    pub idle_drops: u64,
    /// PDUs a sender sent again after a reconnect (see `dedupe.rs`), dropped.
    pub resends_dropped: u64,
    /// PDUs whose XID is the task of no warrant in force at their time, dropped.
    pub unknown_xid: u64,
    /// Keepalives acknowledged (each once the data before it was durable).
    pub acks: u64,
    /// Barrier marker frames pushed into the pipeline (one per keepalive after data; the
    /// pipeline counts them as frames read and skips them as not IP).
    pub barrier_frames: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    refused_clients: AtomicU64,
    x2_pdus: AtomicU64,
    x3_pdus: AtomicU64,
    keepalives: AtomicU64,
    frames: AtomicU64,
    malformed_pdus: AtomicU64,
    not_ingested: AtomicU64,
    refused_streams: AtomicU64,
    refused_identity_in_use: AtomicU64,
    idle_drops: AtomicU64,
    resends_dropped: AtomicU64,
    unknown_xid: AtomicU64,
    acks: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self, barriers: &Barriers) -> IngestCounters {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IngestCounters {
            connections: g(&self.connections),
            refused_clients: g(&self.refused_clients),
            x2_pdus: g(&self.x2_pdus),
            x3_pdus: g(&self.x3_pdus),
            keepalives: g(&self.keepalives),
            frames: g(&self.frames),
            malformed_pdus: g(&self.malformed_pdus),
            not_ingested: g(&self.not_ingested),
            refused_streams: g(&self.refused_streams),
            refused_identity_in_use: g(&self.refused_identity_in_use),
            idle_drops: g(&self.idle_drops),
            resends_dropped: g(&self.resends_dropped),
            unknown_xid: g(&self.unknown_xid),
            acks: g(&self.acks),
            barrier_frames: barriers.markers(),
        }
    }
}

/// What a listener hands the pipeline: its frames, the barriers that hold the keepalive
/// acks until the run says the records before them are durable, and the XID gate the run
/// keeps in step with its warrants. A consumer other than `tapline run` (a test, a bench)
/// must call [`Feed::consumed`] and [`XidGate::hold`] itself, or nothing is acked or taken.
#[derive(Clone, Debug)]
pub struct Feed {
    pub frames: Receiver<PushedFrame>,
    pub barriers: Arc<Barriers>,
    pub xids: Arc<XidGate>,
}

impl Feed {
    /// A consumer that keeps nothing (tests, benches): the frames it took so far, `taken`
    /// of them, are as safe as they will get; releases the acks waiting on them.
    pub fn consumed(&self, taken: u64) {
        self.barriers.durable(taken);
    }

    /// Such a consumer: takes every frame until the listener stops, confirming each as it
    /// is taken; the data frames (barrier markers left out).
    pub fn take_all(self) -> Vec<PushedFrame> {
        let mut taken = 0;
        let mut data = Vec::new();
        for frame in self.frames.iter() {
            taken += 1;
            if frame.link != super::confirm::MARKER_LINK {
                data.push(frame);
            }
            self.consumed(taken);
        }
        data
    }
}

/// A running listener on its own runtime. Dropping (or [`stop`](Self::stop)) closes every
/// connection; the frame channel then ends once the pipeline has read what was queued.
pub struct Listener {
    runtime: Option<tokio::runtime::Runtime>,
    addrs: Vec<SocketAddr>,
    counters: Arc<Counters>,
    barriers: Arc<Barriers>,
    stop: watch::Sender<bool>,
}

impl Listener {
    /// Binds every address and starts accepting; the feed is the pipeline's source.
    pub fn start(config: &ListenerConfig) -> Result<(Listener, Feed), ListenerError> {
        let acceptor = TlsAcceptor::from(tls::server_config(&config.cert, &config.key, &config.client_ca)?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("x2x3-listen")
            .enable_all()
            .build()
            .map_err(ListenerError::Runtime)?;
        let (tx, rx) = crossbeam_channel::bounded(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let barriers = Arc::new(Barriers::default());
        let xids = Arc::new(XidGate::default());
        let live = LiveSenders::default();
        let (stop, stopped) = watch::channel(false);
        let mut addrs = Vec::new();
        for &addr in &config.listen {
            let listener = runtime
                .block_on(TcpListener::bind(addr))
                .map_err(|source| ListenerError::Bind { addr, source })?;
            addrs.push(listener.local_addr().map_err(|source| ListenerError::Bind { addr, source })?);
            let shared = Shared {
                acceptor: acceptor.clone(),
                tx: tx.clone(),
                counters: counters.clone(),
                link: config.link,
                barriers: barriers.clone(),
                xids: xids.clone(),
                live: live.clone(),
            };
            runtime.spawn(accept_loop(listener, shared, stopped.clone()));
        }
        runtime.spawn(checkpoints(barriers.clone(), tx.clone(), config.checkpoint_every, stopped.clone()));
        tracing::info!(addrs = ?addrs, "X2/X3 listener started");
        let feed = Feed { frames: rx, barriers: barriers.clone(), xids };
        Ok((Listener { runtime: Some(runtime), addrs, counters, barriers, stop }, feed))
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn counters(&self) -> IngestCounters {
        self.counters.snapshot(&self.barriers)
    }

    /// Closes the listeners and every connection; returns the final counts.
    pub fn stop(mut self) -> IngestCounters {
        self.shutdown();
        self.counters()
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Clone)]
struct Shared {
    acceptor: TlsAcceptor,
    tx: Sender<PushedFrame>,
    counters: Arc<Counters>,
    link: LinkConfig,
    barriers: Arc<Barriers>,
    xids: Arc<XidGate>,
    live: LiveSenders,
}

/// Certificate identities (see [`sender_identity`]) with a live connection.
type LiveSenders = Arc<std::sync::Mutex<HashSet<String>>>;

/// Who a connection's sender is, for the resend filter and the one-connection rule: its
/// certificate's common name and the SHA-256 of the certificate itself, so two senders
/// whose different certificates share a name (or have none) are told apart.
fn sender_identity(conn: &rustls::CommonState) -> String {
    use sha2::{Digest, Sha256};
    let leaf = conn.peer_certificates().and_then(|c| c.first()).map(|c| Sha256::digest(c.as_ref()));
    let hex: String = leaf.iter().flat_map(|d| d.iter()).map(|b| format!("{b:02x}")).collect();
    format!("{}#{hex}", crate::provision::peer_common_name(conn))
}

/// A live connection's hold on its sender identity, released when the connection ends.
struct IdentityHold {
    live: LiveSenders,
    identity: String,
}

impl IdentityHold {
    /// Takes `identity`, unless a live connection holds it.
    fn take(live: &LiveSenders, identity: &str) -> Option<IdentityHold> {
        let mut held = live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        held.insert(identity.to_owned()).then(|| IdentityHold { live: live.clone(), identity: identity.to_owned() })
    }
}

impl Drop for IdentityHold {
    fn drop(&mut self) {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.identity);
    }
}

async fn accept_loop(listener: TcpListener, shared: Shared, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(connection(tcp, peer, shared.clone(), stopped.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "X2/X3 accept failed"),
            },
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

fn now_ts() -> Timestamp {
    let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Timestamp::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

async fn connection(tcp: TcpStream, peer: SocketAddr, shared: Shared, mut stopped: watch::Receiver<bool>) {
    let _ = tcp.set_nodelay(true);
    let counters = &shared.counters;
    let stream = match tokio::time::timeout(Duration::from_secs(10), shared.acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            bump(&counters.refused_clients);
            tracing::warn!(%peer, error = %e, "X2/X3 client refused in the TLS handshake");
            return;
        }
        Err(_) => {
            bump(&counters.refused_clients);
            tracing::warn!(%peer, "X2/X3 TLS handshake timed out");
            return;
        }
    };
    let sender_id = sender_identity(stream.get_ref().1);
    let Some(_hold) = IdentityHold::take(&shared.live, &sender_id) else {
        bump(&counters.refused_identity_in_use);
        tracing::warn!(%peer, sender = %sender_id,
            "X2/X3 connection refused: its certificate identity already has a live connection (one certificate per sender)");
        return;
    };
    bump(&counters.connections);
    tracing::info!(%peer, "X2/X3 peer connected");
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut link = Link::new(Role::Receiver, shared.link, Instant::now());
    let mut conn = Conn { ingest: Ingest::new(), sender_id, unknown_logged: HashSet::new() };
    // Acks released by the barriers (once the data before their keepalive is durable).
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let mut block = vec![0u8; 64 * 1024];
    let mut seen_keepalives = 0;
    loop {
        let deadline = link.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            read = rd.read(&mut block) => match read {
                Ok(0) | Err(_) => link.handle_close(Instant::now()),
                Ok(n) => link.handle_input(Instant::now(), block.get(..n).unwrap_or_default()),
            },
            _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } }, if deadline.is_some() => {
                link.handle_timeout(Instant::now());
            }
            Some(sequence) = acks.recv() => {
                link.acknowledge(sequence);
                bump(&counters.acks);
            }
            _ = stopped.changed() => link.handle_close(Instant::now()),
        }
        let keepalives = link.stats().keepalives_received;
        counters.keepalives.fetch_add(keepalives - seen_keepalives, Ordering::Relaxed);
        seen_keepalives = keepalives;
        // In order: the data before a keepalive is queued to the pipeline before the
        // keepalive's barrier, which holds its ack until those records are durable.
        let mut closed = None;
        while let Some(event) = link.poll_event() {
            match event {
                Event::Data(bytes) => {
                    if !forward(&bytes, &mut conn, &shared).await {
                        return;
                    }
                }
                Event::Keepalive(sequence) => {
                    if !barrier(&shared, Ack { sequence, to: acks_tx.clone() }).await {
                        return;
                    }
                }
                // Only a sending end's keepalives are acknowledged; this end sends none.
                Event::Acknowledged(_) => {}
                Event::Refused(e) => {
                    bump(&counters.malformed_pdus);
                    tracing::warn!(%peer, error = %e, "malformed X2/X3 PDU skipped");
                }
                Event::Closed(reason) => closed = Some(reason),
            }
        }
        let out = link.poll_transmit();
        // Flushed: TLS may hold the records back otherwise, and an ack must not wait.
        if closed.is_none() && !out.is_empty() && (wr.write_all(&out).await.is_err() || wr.flush().await.is_err()) {
            link.handle_close(Instant::now());
            closed = Some(super::link::CloseReason::Shell);
        }
        if let Some(reason) = closed {
            match reason {
                super::link::CloseReason::Framing(_) => bump(&counters.refused_streams),
                super::link::CloseReason::Idle => bump(&counters.idle_drops),
                _ => {}
            }
            tracing::info!(%peer, %reason, "X2/X3 connection closed");
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// What one connection keeps between PDUs.
struct Conn {
    ingest: Ingest,
    /// The peer's certificate identity (resends are recognised per identity and XID).
    sender_id: String,
    /// XIDs refused on this connection and logged already (logged once each).
    unknown_logged: HashSet<Xid>,
}

/// How long a connection waits before trying a full pipeline again.
const FULL_WAIT: Duration = Duration::from_millis(1);

/// Sets the barrier of a keepalive behind every frame queued so far, waiting while the
/// pipeline is full; false when the pipeline is gone.
async fn barrier(shared: &Shared, mut ack: Ack) -> bool {
    loop {
        match shared.barriers.barrier(&shared.tx, ack) {
            Ok(()) => return true,
            Err((_, true)) => return false,
            Err((back, false)) => {
                ack = back;
                tokio::time::sleep(FULL_WAIT).await;
            }
        }
    }
}

/// Ingests one data PDU and queues its frame, waiting while the pipeline is full (or until
/// the run has told the XID gate its warrants); false when the pipeline is gone.
async fn forward(bytes: &[u8], conn: &mut Conn, shared: &Shared) -> bool {
    let counters = &shared.counters;
    let pdu = match PduRepr::parse_bytes(bytes) {
        Ok(p) => p,
        Err(_) => {
            bump(&counters.malformed_pdus);
            return true;
        }
    };
    match pdu.pdu_type {
        PduType::X2 => bump(&counters.x2_pdus),
        PduType::X3 => bump(&counters.x3_pdus),
        PduType::Keepalive | PduType::KeepaliveAck => {}
    }
    let received = now_ts();
    let verdict = loop {
        match shared.xids.check(&pdu.xid, pdu.timestamp.unwrap_or(received)) {
            // The run is still loading its warrants: this connection waits (the listener's
            // shutdown ends the wait).
            Verdict::NotLoaded => tokio::time::sleep(FULL_WAIT * 10).await,
            v => break v,
        }
    };
    match verdict {
        Verdict::InForce => {}
        Verdict::Unknown | Verdict::NotInForce | Verdict::NotLoaded => {
            bump(&counters.unknown_xid);
            if conn.unknown_logged.insert(pdu.xid) {
                tracing::info!(xid = %pdu.xid, ?verdict, "X2/X3 PDUs of an XID of no warrant in force are not ingested");
            }
            return true;
        }
    }
    // Noted in the filter only when its frame is pushed (see `confirm.rs`, checkpoints).
    let seen = Numbered::of(&conn.sender_id, &pdu);
    if seen.as_ref().is_some_and(|n| shared.barriers.is_resend(n)) {
        bump(&counters.resends_dropped);
        return true;
    }
    let mut data = Vec::with_capacity(bytes.len() + 64);
    let (ts, link) = match conn.ingest.frame(&pdu, received, &mut data) {
        Ok(x) => x,
        Err(e) => {
            bump(&counters.not_ingested);
            tracing::warn!(error = %e, xid = %pdu.xid, "X2/X3 PDU not ingested");
            return true;
        }
    };
    let mut frame = PushedFrame { ts, link, data };
    loop {
        match shared.barriers.push(&shared.tx, frame, seen.clone()) {
            Ok(()) => {
                bump(&counters.frames);
                return true;
            }
            Err(TrySendError::Full(back)) => {
                frame = back;
                tokio::time::sleep(FULL_WAIT).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}
