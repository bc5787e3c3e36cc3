//! The reference LEMF (`tapline lemf`): the agency side of the handover. Accepts only
//! clients certified by its client CA, answers keep-alives, and collects every record of
//! either profile (a connection whose first octet is not a BER SEQUENCE carries CCC frames).
//!
//! A connection holds at most one unfinished record of [`MAX_RECORD_LEN`] octets: a record
//! announcing more, or a stream that cannot be split into records, closes the connection
//! and is counted (`malformed_connections`). A whole record that does not decode is counted
//! as `undecodable` and the stream goes on (it stays in step).

mod call_files;
pub mod calls;
mod collector;
pub mod pcap;
pub mod sip;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

pub use collector::{Collector, CollectorError, Kind, LemfStats, Received};

use crate::delivery::tls::{self, TlsError};
use crate::handover::laes::{split_ccc_stream, CccError};
use crate::handover::{decode_pdu, encode_keepalive_response, split_stream, DecodeError, Header, PduHeader};

/// The largest record (PS-PDU, CDC record or CCC frame) the LEMF accepts: 1 MiB. The
/// appliance's largest records carry one SIP message (at most 256 KiB, the TCP reassembly
/// limit) or one IP datagram (at most 64 KiB), plus a header of a few hundred octets.
pub const MAX_RECORD_LEN: usize = 1 << 20;

/// Why a connection's byte stream was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefused {
    #[error("record of {0} octets announced (at most {MAX_RECORD_LEN} accepted)")]
    Oversized(usize),
    #[error("stream cannot be split into records: {0}")]
    Malformed(String),
}

/// `tapline lemf` settings.
#[derive(Clone, Debug)]
pub struct LemfConfig {
    /// Addresses to listen on (an agency's HI2 and HI3 ports; one LEMF takes both).
    pub listen: Vec<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Only clients whose certificate chains to this CA are accepted.
    pub client_ca: PathBuf,
    pub out: PathBuf,
    /// The agency's copy of the warrants (a warrant directory): tells the call view which
    /// party is the target, so `calls.pcap` puts content at its real addresses.
    pub warrants: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LemfError {
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("{0}")]
    Collector(#[from] CollectorError),
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

struct Shared {
    collector: Mutex<Collector>,
    refused: AtomicU64,
    malformed: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Collector> {
        self.collector.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running LEMF.
pub struct Lemf {
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
}

impl Lemf {
    /// Binds every listen address and starts accepting (on the current tokio runtime).
    pub async fn start(config: &LemfConfig) -> Result<Lemf, LemfError> {
        let acceptor = TlsAcceptor::from(tls::server_config(&config.cert, &config.key, &config.client_ca)?);
        let shared = Arc::new(Shared { collector: Mutex::new(Collector::open_with(&config.out, call_files::view_from_warrants(config.warrants.as_deref())?)?), refused: AtomicU64::new(0), malformed: AtomicU64::new(0) });
        let (stop, stopped) = watch::channel(false);
        let (mut addrs, mut listeners) = (Vec::new(), Vec::new());
        for &addr in &config.listen {
            let listener = TcpListener::bind(addr).await.map_err(|source| LemfError::Bind { addr, source })?;
            addrs.push(listener.local_addr().map_err(|source| LemfError::Bind { addr, source })?);
            listeners.push(tokio::spawn(accept_loop(listener, acceptor.clone(), shared.clone(), stopped.clone())));
        }
        Ok(Lemf { addrs, shared, stop, listeners })
    }

    /// The bound addresses (port 0 resolved), in the order of `listen`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn stats(&self) -> LemfStats {
        let mut s = self.shared.lock().stats();
        s.refused_clients = self.shared.refused.load(Ordering::Relaxed);
        s.malformed_connections = self.shared.malformed.load(Ordering::Relaxed);
        s
    }

    /// Stops at once: listeners close, open connections are cut (unanswered records will
    /// be sent again by the appliance), files are flushed.
    pub async fn stop(mut self) -> Result<LemfStats, LemfError> {
        let _ = self.stop.send(true);
        for l in std::mem::take(&mut self.listeners) {
            let _ = l.await;
        }
        self.shared.lock().finish_calls()?;
        Ok(self.stats())
    }
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    connections.spawn(connection(tcp, peer, acceptor.clone(), shared.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn connection(tcp: TcpStream, peer: SocketAddr, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let mut stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, error = %e, "client refused in the TLS handshake");
            return;
        }
        Err(_) => {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, "TLS handshake timed out");
            return;
        }
    };
    tracing::info!(%peer, "appliance connected");
    let mut buf = Vec::with_capacity(128 * 1024);
    let mut block = vec![0u8; 64 * 1024];
    let mut ccc_connection = None;
    loop {
        let n = match stream.read(&mut block).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "connection failed");
                return;
            }
        };
        buf.extend_from_slice(block.get(..n).unwrap_or_default());
        // PS-PDUs and CDC records are BER SEQUENCEs (0x30); a `laes` HI3 stream of CCC frames
        // starts with a CCCID (CIN << 1, never 0x30.. below CIN 0x1800_0000).
        let ccc = *ccc_connection.get_or_insert(buf.first().is_some_and(|&b| b != 0x30));
        let mut used = 0;
        let mut responses = Vec::new();
        {
            let mut collector = shared.lock();
            loop {
                let (record, is_ccc) = match next_record(buf.get(used..).unwrap_or_default(), ccc) {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        drop(collector);
                        shared.malformed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(%peer, error = %e, "ALARM closing the connection");
                        let _ = shared.lock().flush();
                        return;
                    }
                };
                used += record.len();
                let received = if is_ccc { collector.receive_ccc(record) } else { collector.receive(record) };
                match received {
                    Ok(Received::KeepAlive(header)) => {
                        if let Err(e) = collector.flush() {
                            tracing::error!(error = %e, "cannot store records; not confirming");
                            return;
                        }
                        keepalive_response(&mut responses, &header);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot store records; dropping the connection");
                        return;
                    }
                }
            }
        }
        buf.drain(..used);
        if !responses.is_empty() && stream.write_all(&responses).await.is_err() {
            return;
        }
    }
    let _ = shared.lock().flush();
    let _ = stream.shutdown().await;
    tracing::info!(%peer, "appliance disconnected");
}

/// The whole record at the start of `buf` and whether it is a CCC frame; `None` until it
/// has fully arrived. On a CCC connection a keep-alive PS-PDU may come between frames.
/// Refuses a record over [`MAX_RECORD_LEN`] as soon as its length is known, and a stream
/// that cannot be split.
fn next_record(buf: &[u8], ccc: bool) -> Result<Option<(&[u8], bool)>, StreamRefused> {
    let mut refused = None;
    if !ccc || buf.first() == Some(&0x30) {
        match split_stream(buf).next() {
            None => return Ok(None),
            Some(Ok(r)) if r.len() > MAX_RECORD_LEN => refused = Some(StreamRefused::Oversized(r.len())),
            Some(Ok(r)) if !ccc || decode_pdu(r).is_ok() => return Ok(Some((r, false))),
            Some(Ok(_)) => {}
            Some(Err(DecodeError::Truncated { need, .. })) if need > MAX_RECORD_LEN => {
                refused = Some(StreamRefused::Oversized(need))
            }
            Some(Err(DecodeError::Truncated { .. })) => return Ok(None),
            Some(Err(e)) => refused = Some(StreamRefused::Malformed(e.to_string())),
        }
        if !ccc {
            return Err(refused.unwrap_or_else(|| StreamRefused::Malformed("no record".into())));
        }
    }
    match split_ccc_stream(buf).next() {
        None => Ok(None),
        Some(Ok(f)) => Ok(Some((f, true))),
        Some(Err(CccError::Truncated { need, .. })) if need <= MAX_RECORD_LEN => Ok(None),
        Some(Err(e)) => Err(refused.unwrap_or(StreamRefused::Malformed(e.to_string()))),
    }
}

/// A keep-alive-response echoing the keep-alive's header (same sequence number).
pub fn keepalive_response(out: &mut Vec<u8>, h: &Header) {
    let liid = String::from_utf8_lossy(&h.liid);
    let operator = String::from_utf8_lossy(&h.operator_id);
    let element = h.network_element_id.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
    let header = PduHeader {
        liid: &liid,
        authorization_country: h.authorization_country.as_deref().unwrap_or(""),
        operator_id: &operator,
        network_element_id: &element,
        cin: 0,
        delivery_country: h.delivery_country.as_deref().unwrap_or(""),
        sequence: h.sequence,
        ts: collector::timestamp(h),
    };
    encode_keepalive_response(out, &header);
}

/// `tapline lemf`: runs until SIGINT or SIGTERM, then prints nothing and returns the stats.
pub fn serve_until_signal(config: &LemfConfig) -> Result<LemfStats, LemfError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LemfError::Runtime)?;
    runtime.block_on(async {
        let lemf = Lemf::start(config).await?;
        for a in lemf.local_addrs() {
            tracing::info!(addr = %a, "listening");
        }
        wait_for_signal().await;
        lemf.stop().await
    })
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::encode_keepalive;
    use crate::handover::laes::write_frame;
    use crate::Timestamp;

    #[test]
    fn ccc_connections_carry_frames_and_keepalives() {
        let ip: [u8; 28] = [
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x0f, 0xa0, 0x13, 0x88, 0, 8, 0, 0,
        ];
        let mut stream = Vec::new();
        write_frame(&mut stream, 2, Timestamp::default(), b"CASE\0\0\0\0", &ip);
        let frame_len = stream.len();
        let header = PduHeader {
            liid: "CASE",
            authorization_country: "US",
            operator_id: "OP",
            network_element_id: "NE",
            cin: 0,
            delivery_country: "US",
            sequence: 9,
            ts: Timestamp::default(),
        };
        encode_keepalive(&mut stream, &header);
        let (first, is_ccc) = next_record(&stream, true).unwrap().unwrap();
        assert_eq!((first.len(), is_ccc), (frame_len, true));
        let rest = &stream[frame_len..];
        let (second, is_ccc) = next_record(rest, true).unwrap().unwrap();
        assert_eq!((second.len(), is_ccc), (rest.len(), false));
        assert_eq!(next_record(&stream[..frame_len - 1], true), Ok(None), "a torn frame waits for more");
    }

    #[test]
    fn an_oversized_or_unsplittable_record_is_refused_before_it_arrives() {
        // SEQUENCE announcing 16 MiB: refused from its first 5 octets.
        let head = [0x30, 0x83, 0x00, 0x00, 0x00];
        assert_eq!(next_record(&[0x30, 0x83, 0x01, 0x00, 0x00], false), Ok(None));
        let mut big = head.to_vec();
        big[2] = 0xff;
        assert_eq!(next_record(&big, false), Err(StreamRefused::Oversized(5 + 0xff_0000)));
        assert!(matches!(next_record(&[0x30, 0x80, 0, 0], false), Err(StreamRefused::Malformed(_))));
        // A CCC connection refuses a frame that carries no IP datagram.
        let mut frame = vec![0u8; 24];
        frame[0] = 0x02;
        frame[20] = 0x10;
        assert!(matches!(next_record(&frame, true), Err(StreamRefused::Malformed(_))));
    }
}
