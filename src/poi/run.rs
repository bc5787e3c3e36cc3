//! The `tapline poi` process: the X1 endpoint, the capture loop driving the [`Poi`] core,
//! and one durable spool and spooled X2/X3 sender per destination.
//!
//! - X1 changes reach the capture loop over a channel and are applied before the next
//!   packet (the X1 response is written after the change is queued, so once the ADMF has
//!   its answer the next packet sees the change).
//! - Every PDU is appended to its destination's spool (`SPOOL/<dId>/`, framing X2/X3, the
//!   destination's address in `SPOOL/<dId>/destination`) before anything is sent; a full
//!   spool or disk makes the capture wait (never a drop). At start, spools found in
//!   `SPOOL` are sent again to the address they were written for, so a POI killed and
//!   restarted delivers what it had captured.
//! - The sender deletes PDUs only once a keepalive ack confirmed them
//!   ([`crate::x2x3::sender::run_spooled`]).
//! - Faults are reported to the ADMF ([`super::reporting`]): a destination down or back,
//!   a task with no usable destination, a full or unwritable spool, a stop with PDUs
//!   unconfirmed; reporting never holds up the capture.
//! - When a capture file ends, the POI waits until every spool is confirmed, then exits;
//!   with no capture (or a live one) it runs until SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::sync::watch;

use super::core::{Poi, PoiStats};
use super::faults::{NeCondition, Observation, TaskFault};
use super::reporting::{ReportOptions, ReportStats, Reports};
use crate::capture::{CaptureError, CaptureSource, Next};
use crate::delivery::spool::{Spool, SpoolError, SpoolOptions};
use crate::handover::profile::{x2x3::X2X3, HandoverProfile};
use crate::handover::sequencer::Channel;
use crate::delivery::tls::TlsError;
use crate::mediation::MediatorConfig;
use crate::warrant::Numbering;
use crate::wire::{Decoded, Decoder};
use crate::x1::server::{X1ServerConfig, X1ServerError};
use crate::x1::{Change, DeliveryAddress, DestinationDetails, Port};
use crate::x2x3::sender::{run_spooled, SenderConfig, SenderStats, SpooledQueue};
use crate::x2x3::{LinkConfig, Xid};

/// Where a POI reads packets.
pub enum PoiSource {
    /// Serve X1 and deliver what is spooled, capturing nothing.
    None,
    /// A capture source (a file, an interface); a file's end ends the run once delivered.
    Capture(Box<dyn CaptureSource>),
}

/// Everything `tapline poi` needs.
pub struct PoiConfig {
    pub x1: X1ServerConfig,
    pub source: PoiSource,
    /// Start capturing only once this many tasks are held (replaying a file for a test or
    /// a demonstration after tasking).
    pub wait_tasks: usize,
    pub spool: PathBuf,
    pub fsync: bool,
    /// Client TLS towards the destinations (TLS 1.3, this POI's certificate).
    pub tls: Arc<rustls::ClientConfig>,
    /// Name checked in the mediation function's certificate; default its IP address.
    pub server_name: Option<String>,
    pub link: LinkConfig,
    pub numbering: Numbering,
    pub mediator: MediatorConfig,
    /// Where and how faults are reported to the ADMF.
    pub reports: ReportOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum PoiError {
    #[error("{0}")]
    X1(#[from] X1ServerError),
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    #[error("{0}")]
    Spool(#[from] SpoolError),
    #[error("X2/X3 TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a destination address (`IP:PORT`)")]
    BadDestinationFile { path: PathBuf },
    #[error("X2/X3 server name `{0}` is not a DNS name or an IP address")]
    BadServerName(String),
}

/// What a run did (no target appears here).
#[derive(Debug, Default, serde::Serialize)]
pub struct PoiSummary {
    pub frames: u64,
    pub pdus: PoiStats,
    pub tasks: super::tasks::TaskStats,
    pub sip_messages: u64,
    pub calls_intercepted: u64,
    /// Destinations refused (no TCP IP-and-port address).
    pub destinations_unusable: u64,
    /// Times the capture waited for room in a spool.
    pub spool_waits: u64,
    /// PDUs still unconfirmed when the run ended (0 after a normal end).
    pub unconfirmed: u64,
    /// Issue reports to the ADMF, by result.
    pub x1_reports: ReportStats,
}

/// One destination's spool and sender.
struct Outlet {
    queue: Arc<SpooledQueue>,
    addr: watch::Sender<SocketAddr>,
    stats: Arc<SenderStats>,
}

/// The destinations the POI delivers to, on the runtime their senders run on.
struct Outlets<'a> {
    config: &'a PoiConfig,
    runtime: &'a tokio::runtime::Runtime,
    reports: &'a Reports,
    stop: watch::Receiver<bool>,
    by_did: BTreeMap<Xid, Outlet>,
}

fn address_of(d: &DestinationDetails) -> Option<SocketAddr> {
    match d.address {
        DeliveryAddress::IpAndPort { address, port: Port::Tcp(port) } => Some(SocketAddr::new(address, port)),
        DeliveryAddress::IpAndPort { port: Port::Udp(_), .. } | DeliveryAddress::Uri(_) => None,
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> PoiError + '_ {
    move |source| PoiError::Io { path: path.to_owned(), source }
}

impl Outlets<'_> {
    fn spool_dir(&self, did: &Xid) -> PathBuf {
        self.config.spool.join(did.to_string())
    }

    /// Records the address next to the spool (written whole, then renamed).
    fn write_address(&self, did: &Xid, addr: SocketAddr) -> Result<(), PoiError> {
        let dir = self.spool_dir(did);
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let tmp = dir.join("destination.tmp");
        std::fs::write(&tmp, format!("{addr}\n")).map_err(io_at(&tmp))?;
        let path = dir.join("destination");
        std::fs::rename(&tmp, &path).map_err(io_at(&path))
    }

    fn open(&mut self, did: Xid, addr: SocketAddr) -> Result<(), PoiError> {
        if let Some(outlet) = self.by_did.get(&did) {
            self.write_address(&did, addr)?;
            outlet.addr.send_replace(addr);
            return Ok(());
        }
        self.write_address(&did, addr)?;
        let options = SpoolOptions { framing: X2X3.framing(Channel::Hi2), fsync: self.config.fsync, ..SpoolOptions::default() };
        let queue = Arc::new(SpooledQueue::new(Spool::open_with(&self.spool_dir(&did), options)?));
        let name = match &self.config.server_name {
            Some(n) => ServerName::try_from(n.clone()).map_err(|_| PoiError::BadServerName(n.clone()))?,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        let sender = SenderConfig {
            addr,
            server_name: name,
            tls: self.config.tls.clone(),
            link: self.config.link,
            reconnect_after: Duration::from_millis(500),
        };
        let (tx, rx) = watch::channel(addr);
        let stats = Arc::new(SenderStats::default());
        self.runtime.spawn(run_spooled(sender, rx, queue.clone(), stats.clone(), self.stop.clone()));
        self.reports.watch(did, stats.clone());
        tracing::info!(did = %did, %addr, unconfirmed = queue.unconfirmed(), "X2/X3 destination open");
        self.by_did.insert(did, Outlet { queue, addr: tx, stats });
        Ok(())
    }

    /// Spools found from an earlier run, sent again where they were addressed.
    fn reopen_existing(&mut self) -> Result<(), PoiError> {
        let dir = self.config.spool.clone();
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        for entry in std::fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            let Some(did) = entry.file_name().to_str().and_then(|n| n.parse::<Xid>().ok()) else { continue };
            let path = entry.path().join("destination");
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(PoiError::Io { path, source }),
            };
            let addr = text.trim().parse().map_err(|_| PoiError::BadDestinationFile { path: path.clone() })?;
            self.open(did, addr)?;
        }
        Ok(())
    }

    fn unconfirmed(&self) -> u64 {
        self.by_did.values().map(|o| o.queue.unconfirmed()).sum()
    }
}

/// Runs the POI until its capture file is delivered, or `stop` is set.
pub fn run(mut config: PoiConfig, stop: Arc<AtomicBool>) -> Result<PoiSummary, PoiError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("poi-x1x2x3")
        .enable_all()
        .build()
        .map_err(io_at(Path::new("tokio runtime")))?;
    let reports = Reports::start(&runtime, config.reports.clone())?;
    let result = serve(&mut config, &runtime, &reports, &stop);
    match &result {
        Err(PoiError::Spool(SpoolError::Full { .. } | SpoolError::DiskFull { .. })) => {}
        Err(PoiError::Spool(_) | PoiError::Io { .. }) => reports.observe(Observation::Ne { condition: NeCondition::SpoolUnwritable, active: true }),
        Ok(summary) if summary.unconfirmed > 0 => reports.observe(Observation::Ne { condition: NeCondition::UnconfirmedAtStop, active: true }),
        _ => {}
    }
    let stats = reports.finish(&runtime, REPORTS_AT_STOP);
    runtime.shutdown_timeout(Duration::from_secs(2));
    result.map(|summary| PoiSummary { x1_reports: stats, ..summary })
}

/// Longest the stop waits for the ADMF to acknowledge the last reports.
const REPORTS_AT_STOP: Duration = Duration::from_secs(5);

/// The X1 endpoint, the capture and the delivery, until done or stopped.
fn serve(config: &mut PoiConfig, runtime: &tokio::runtime::Runtime, reports: &Reports, stop: &Arc<AtomicBool>) -> Result<PoiSummary, PoiError> {
    let (tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let server = runtime.block_on(crate::x1::server::start(&config.x1, tx))?;
    eprintln!("X1 endpoint on https://{}", server.addr);
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            crate::lemf::wait_for_signal().await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let (stop_senders, stopped) = watch::channel(false);
    let source = std::mem::replace(&mut config.source, PoiSource::None);
    let config = &*config;
    let mut outlets = Outlets { config, runtime, reports, stop: stopped, by_did: BTreeMap::new() };
    outlets.reopen_existing()?;
    let mut poi = Poi::new(config.numbering.clone(), config.mediator);
    let mut summary = PoiSummary::default();
    while poi.tasks().count() < config.wait_tasks && !stop.load(Ordering::SeqCst) {
        match changes.try_recv() {
            Ok(change) => apply(&mut poi, &mut outlets, change, &mut summary)?,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let captured = match source {
        PoiSource::Capture(mut source) => {
            let mut decoder = Decoder::new();
            loop {
                if stop.load(Ordering::SeqCst) {
                    break false;
                }
                while let Ok(change) = changes.try_recv() {
                    apply(&mut poi, &mut outlets, change, &mut summary)?;
                }
                let frame = match source.next_frame(None)? {
                    Next::Frame(f) => f,
                    Next::Idle | Next::Boundary => continue,
                    Next::End => break true,
                };
                summary.frames += 1;
                let Decoded::Datagram(dg) = decoder.decode(&frame) else { continue };
                let mut failed = None;
                poi.handle(&dg, &mut |did, _, pdu| {
                    if failed.is_none() {
                        if let Some(outlet) = outlets.by_did.get(&did) {
                            failed = append(&outlet.queue, pdu, stop, reports, &mut summary.spool_waits).err();
                        }
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
        PoiSource::None => false,
    };
    fill(&mut summary, &poi);
    if captured {
        eprintln!("poi: capture done {}", serde_json::to_string(&summary).unwrap_or_default());
    }
    // Deliver what is spooled: to the end when the capture ended, until a stop otherwise.
    while !stop.load(Ordering::SeqCst) && !(captured && outlets.unconfirmed() == 0) {
        while let Ok(change) = changes.try_recv() {
            apply(&mut poi, &mut outlets, change, &mut summary)?;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    summary.unconfirmed = outlets.unconfirmed();
    fill(&mut summary, &poi);
    let sent: u64 = outlets.by_did.values().map(|o| o.stats.pdus_confirmed.load(Ordering::Relaxed)).sum();
    tracing::info!(confirmed = sent, unconfirmed = summary.unconfirmed, "POI done");
    let _ = stop_senders.send(true);
    server.stop();
    Ok(summary)
}

/// Applies one X1 change: opens or readdresses a destination's outlet, updates the core.
fn apply(poi: &mut Poi, outlets: &mut Outlets<'_>, change: Change, summary: &mut PoiSummary) -> Result<(), PoiError> {
    if let Change::DestinationCreated(d) | Change::DestinationModified(d) = &change {
        match address_of(d) {
            Some(addr) => outlets.open(d.did, addr)?,
            None => {
                summary.destinations_unusable += 1;
                tracing::warn!(did = %d.did, "X2/X3 destination without a TCP address and port: nothing is sent to it");
            }
        }
    }
    tracing::info!(change = change_name(&change), frames = summary.frames, "X1 change applied");
    poi.apply(change);
    outlets.reports.observe(Observation::Tasks(served(poi, outlets)));
    Ok(())
}

/// Every task held, with why it cannot be served: none of its destinations has an outlet.
fn served(poi: &Poi, outlets: &Outlets<'_>) -> Vec<(Xid, Option<TaskFault>)> {
    let usable = |t: &crate::x1::TaskDetails| t.destinations.iter().any(|d| outlets.by_did.contains_key(d));
    poi.tasks().map(|t| (t.xid, (!usable(t)).then_some(TaskFault::NoUsableDestination))).collect()
}

fn fill(summary: &mut PoiSummary, poi: &Poi) {
    summary.pdus = poi.stats();
    summary.tasks = poi.task_stats();
    let m = poi.mediation_stats();
    summary.sip_messages = m.sip_messages;
    summary.calls_intercepted = m.calls_intercepted;
}

/// Appends one PDU, waiting while the spool or the disk is full (the capture waits; a live
/// source's kernel buffer counts what it must drop meanwhile).
fn append(queue: &SpooledQueue, pdu: &[u8], stop: &AtomicBool, reports: &Reports, waits: &mut u64) -> Result<(), PoiError> {
    let mut waited = false;
    loop {
        let result = queue.spool().append(pdu);
        match result {
            Ok(()) => {
                queue.wake();
                if waited {
                    reports.observe(Observation::Ne { condition: NeCondition::SpoolFull, active: false });
                }
                return Ok(());
            }
            Err(e @ (SpoolError::Full { .. } | SpoolError::DiskFull { .. })) => {
                if *waits == 0 {
                    tracing::warn!(error = %e, "X2/X3 spool full: capture waits for delivery");
                }
                if !waited {
                    reports.observe(Observation::Ne { condition: NeCondition::SpoolFull, active: true });
                    waited = true;
                }
                *waits += 1;
                if stop.load(Ordering::SeqCst) {
                    return Err(e.into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn change_name(c: &Change) -> &'static str {
    match c {
        Change::TaskActivated(_) => "task activated",
        Change::TaskModified(_) => "task modified",
        Change::TaskDeactivated(_) => "task deactivated",
        Change::DestinationCreated(_) => "destination created",
        Change::DestinationModified(_) => "destination modified",
        Change::DestinationRemoved(_) => "destination removed",
    }
}
