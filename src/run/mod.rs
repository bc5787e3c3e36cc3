//! `tapline run`: capture → decode → mediation → sequencer → per-agency spools, delivered
//! over mutual TLS until the capture ends (replay) or SIGTERM (drain, then exit).

mod demo;
mod lifecycle;
mod report;
mod schedule;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use demo::{demo, DemoError, DemoSummary};
pub use lifecycle::{InForce, Lifecycle, Notice, Snapshot, Timeline, Update, STORE_ACTOR};
pub use schedule::{Schedule, Transition};
pub use report::{demo_report, run_report};

use crossbeam_channel::Receiver;

use crate::audit::{AuditError, AuditLog};
use crate::calltrace::{self, CallTraceError, CallTraceStats, CallTracer, JsonlOutput, Tracker};
use crate::capture::{CaptureError, FileReader};
use crate::delivery::{
    report_of, CinReservation, Delivery, DeliveryError, DeliveryOptions, InterfaceReport, SpoolError, SpoolOutput,
};
use crate::handover::etsi::{self, PduHeader};
use crate::handover::sequencer::{AgencyOutput, Channel, LiidCounts, Sequencer};
use crate::mediation::{CinAllocator, Mediator, MediatorConfig, Record, RecordSink};
use crate::provision::{ProvisionConfig, ProvisionError, ProvisionServer};
use crate::warrant::{Appliance, Profile, Store, WarrantError};
use crate::wire::{Decoded, Decoder};

/// Where packets come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Replay a pcap/pcapng file, at most `rate` packets per second when given.
    Pcap { path: PathBuf, rate: Option<u32> },
    /// Live capture from an interface (build with `--features live`).
    Iface(String),
}

/// Settings of `tapline run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub warrants: PathBuf,
    pub source: Source,
    pub delivery: DeliveryOptions,
    /// After the capture ends or SIGTERM: how long to wait for deliveries to be confirmed.
    pub drain: Duration,
    /// Agency id → CA file, replacing `ca` from agencies.toml (the demo's temporary PKI).
    pub ca_override: BTreeMap<String, PathBuf>,
    /// Call Trace (`*57`) configuration; its records go to `SPOOL/calltrace/{cic,billing,subscriber}`
    /// and its running counts to `SPOOL/calltrace/state.json`.
    pub calltrace: Option<PathBuf>,
}

/// How a running appliance follows changes of its warrants.
#[derive(Clone, Debug)]
pub struct LifecycleOptions {
    /// The audit trail's directory; None keeps no audit trail.
    pub audit: Option<PathBuf>,
    /// Poll the warrant directory's modification times this often; None: only on `reload`.
    pub poll: Option<Duration>,
    /// Set (by SIGHUP, or a test) to reload the warrant directory now; cleared when done.
    pub reload: Arc<AtomicBool>,
    /// Also serve the provisioning API while running, writing through to the run's warrant
    /// directory (picked up by the next poll) and audit trail: the config's `warrants` and
    /// `audit` are replaced by the run's. Stopped when the run ends.
    pub api: Option<ProvisionConfig>,
}

impl Default for LifecycleOptions {
    fn default() -> Self {
        LifecycleOptions { audit: None, poll: Some(Duration::from_secs(1)), reload: Arc::default(), api: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("warrants: {0}")]
    Warrants(#[from] WarrantError),
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    #[error("{0}")]
    Delivery(#[from] DeliveryError),
    #[error("{0}")]
    Spool(#[from] SpoolError),
    #[error("CIN reservation in {path}: {source}")]
    Cins { path: PathBuf, source: io::Error },
    #[error("audit trail: {0}")]
    Audit(#[from] AuditError),
    #[error("call trace: {0}")]
    CallTrace(#[from] CallTraceError),
    #[error("call trace output {path}: {source}")]
    CallTraceOutput { path: PathBuf, source: io::Error },
    #[error("provisioning API: {0}")]
    Provision(#[from] ProvisionError),
    #[error("provisioning API runtime: {0}")]
    ApiRuntime(io::Error),
    #[error("live capture needs a build with `--features live`")]
    LiveUnavailable,
}

/// What a run did. Targets never appear here.
#[derive(Debug, serde::Serialize)]
pub struct RunSummary {
    pub packets_read: u64,
    pub sip_messages: u64,
    pub calls_seen: u64,
    pub calls_intercepted: u64,
    pub warrants_loaded: usize,
    pub warrants_refused: usize,
    /// Records per LIID handed to the spools by this run.
    pub liids: BTreeMap<String, LiidCounts>,
    /// Per agency interface: spooled, confirmed, left in the spool, latency.
    pub interfaces: Vec<InterfaceReport>,
    /// The run ended on SIGTERM/SIGINT rather than at the end of the capture.
    pub interrupted: bool,
    pub elapsed_ms: u64,
    /// The first CIN this run could use (all earlier ones may have been used before).
    pub cin_floor: u32,
    /// Warrant tables swapped in while running (added, amended, revoked warrants).
    pub warrant_reloads: u64,
    /// Records of calls in progress withheld because their warrant was revoked or ended.
    pub records_withheld: u64,
    /// Call Trace counters, when configured (no identities).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calltrace: Option<CallTraceStats>,
}

/// Passes on only records of warrants in force at the record's time (a revoked or amended
/// warrant stops a call in progress), and reserves every CIN durably before a record
/// carrying it is spooled.
struct CinGuard<S> {
    inner: S,
    /// Identifies the appliance in HI1 notifications.
    appliance: Appliance,
    in_force: Arc<InForce>,
    /// Activations and lapses by packet time.
    timeline: Timeline,
    withheld: u64,
    cins: CinReservation,
    path: PathBuf,
    error: Option<RunError>,
}

impl<S: RecordSink> RecordSink for CinGuard<S> {
    fn record(&mut self, r: &Record<'_>) {
        if self.error.is_some() {
            return;
        }
        if !self.in_force.get(r.warrant.liid.as_str()).is_some_and(|w| w.is_active(r.ts)) {
            self.withheld += 1;
            return;
        }
        match self.cins.cover(r.cin) {
            Ok(()) => self.inner.record(r),
            Err(source) => self.error = Some(RunError::Cins { path: self.path.clone(), source }),
        }
    }
}

/// Runs the pipeline until the capture ends or `stop` is set (then drains). Records left
/// unconfirmed stay in the spool and go first in the next run on the same spool.
pub fn run(options: &RunOptions, stop: Arc<AtomicBool>) -> Result<RunSummary, RunError> {
    run_with(options, stop, &LifecycleOptions::default())
}

/// [`run`], following changes of the warrant directory as `lifecycle` says and writing the
/// audit trail.
pub fn run_with(options: &RunOptions, stop: Arc<AtomicBool>, lifecycle: &LifecycleOptions) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let (mut store, refused) = Store::load_dir(&options.warrants)?;
    for e in &refused {
        tracing::warn!(error = %e, "warrant refused");
    }
    for agency in &mut store.agencies {
        if let Some(ca) = options.ca_override.get(&agency.id) {
            agency.ca = Some(ca.clone());
        }
    }
    let spool = &options.delivery.spool;
    std::fs::create_dir_all(spool).map_err(|source| RunError::Cins { path: spool.clone(), source })?;
    let cins = CinReservation::open(spool).map_err(|source| RunError::Cins { path: spool.clone(), source })?;
    let cin_floor = cins.floor();
    let liids: Vec<(String, String)> =
        store.warrants.iter().map(|w| (w.liid.as_str().to_owned(), w.agency.clone())).collect();
    let delivery = Delivery::start(&store.appliance, &store.agencies, &liids, &options.delivery)?;
    let warrants_loaded = store.warrants.len();
    let audit = match &lifecycle.audit {
        Some(dir) => Some(Arc::new(Mutex::new(AuditLog::open(dir)?))),
        None => None,
    };
    let mut warrants = Lifecycle::new(&options.warrants, &store, audit);
    // Dropped (the server stopped) whenever this function returns.
    let _api = start_api(options, lifecycle)?;
    let snapshot = Snapshot::new(store.warrants);
    let timeline = warrants.timeline(&snapshot.in_force);
    let mediator =
        Mediator::with_config(snapshot.table, MediatorConfig::default(), CinAllocator::with_floor(cin_floor));
    let sequencer = Sequencer::new(store.appliance.clone(), store.agencies, delivery.output());
    let mut sink = CinGuard {
        inner: sequencer,
        appliance: store.appliance,
        in_force: snapshot.in_force,
        timeline,
        withheld: 0,
        cins,
        path: spool.join("cin-reserved"),
        error: None,
    };
    let (updates_tx, updates) = crossbeam_channel::unbounded::<Update>();
    // On a stop request, a pipeline blocked on a full spool gives up waiting. Meanwhile the
    // delivery metrics go to SPOOL/metrics.json every few seconds.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = std::thread::spawn({
        let (stop, done, queues) = (stop.clone(), done.clone(), delivery.queues().clone());
        let metrics = spool.join("metrics.json");
        let (poll, reload) = (lifecycle.poll, lifecycle.reload.clone());
        move || {
            let mut written = Instant::now();
            let mut polled = Instant::now();
            while !done.load(Ordering::Relaxed) {
                let forced = reload.swap(false, Ordering::Relaxed);
                if forced || poll.is_some_and(|p| polled.elapsed() >= p) {
                    polled = Instant::now();
                    if let Some(update) = warrants.poll(forced) {
                        let _ = updates_tx.send(update);
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    queues.iter().flatten().for_each(|q| q.stop_waiting());
                    return;
                }
                if written.elapsed() >= METRICS_EVERY {
                    let reports: Vec<_> = queues.iter().flatten().map(|q| report_of(q)).collect();
                    write_metrics(&metrics, &reports);
                    written = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let mut reloads = 0u64;
    let calltrace_dir = spool.join("calltrace");
    let mut tracer = match &options.calltrace {
        Some(config) => {
            let state = calltrace::load_state(&calltrace_dir.join("state.json"))?;
            let tracker = Tracker::with_state(calltrace::Config::load(config)?, state);
            let output = JsonlOutput::create(&calltrace_dir)?;
            Some(CallTracer::new(tracker, output))
        }
        None => None,
    };
    let pipeline = pump(&options.source, mediator, &mut sink, &stop, &updates, &mut reloads, &mut tracer);
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let (packets_read, mediator) = match pipeline {
        Ok(p) => p,
        Err(e) => {
            delivery.finish(options.drain);
            return Err(e);
        }
    };
    let failure = sink.error.take().or_else(|| sink.inner.output_mut().take_error().map(RunError::Spool));
    let interrupted = stop.load(Ordering::Relaxed);
    if !interrupted {
        tracing::info!(unconfirmed = delivery.unconfirmed(), "capture done; draining the spools");
    }
    let interfaces = delivery.finish(options.drain);
    write_metrics(&spool.join("metrics.json"), &interfaces);
    if let Some(e) = failure {
        return Err(e);
    }
    let calltrace = match tracer {
        Some(t) => {
            let (tracker, stats) =
                t.finish().map_err(|source| RunError::CallTraceOutput { path: calltrace_dir.clone(), source })?;
            calltrace::save_state(&calltrace_dir.join("state.json"), &tracker.state())?;
            Some(stats)
        }
        None => None,
    };
    let m = mediator.stats();
    let liid_counts = sink.inner.counts_of_all(liids);
    Ok(RunSummary {
        packets_read,
        sip_messages: m.sip_messages,
        calls_seen: m.calls_seen,
        calls_intercepted: m.calls_intercepted,
        warrants_loaded,
        warrants_refused: refused.len(),
        liids: liid_counts,
        interfaces,
        interrupted,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cin_floor,
        warrant_reloads: reloads,
        records_withheld: sink.withheld,
        calltrace,
    })
}

/// Starts the provisioning API on its own runtime over the run's warrant directory.
fn start_api(
    options: &RunOptions,
    lifecycle: &LifecycleOptions,
) -> Result<Option<(tokio::runtime::Runtime, ProvisionServer)>, RunError> {
    let Some(api) = &lifecycle.api else { return Ok(None) };
    let config = ProvisionConfig { warrants: options.warrants.clone(), audit: lifecycle.audit.clone(), ..api.clone() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("provision-api")
        .enable_all()
        .build()
        .map_err(RunError::ApiRuntime)?;
    let server = runtime.block_on(crate::provision::start(&config))?;
    Ok(Some((runtime, server)))
}

/// Swaps in a new warrant snapshot between two packets and tells the agencies what changed.
fn apply(update: Update, mediator: &mut Mediator, sink: &mut Guarded) {
    mediator.set_table(update.snapshot.table);
    let notices = sink.timeline.reseed(&update.snapshot.in_force, update.notices);
    sink.in_force = update.snapshot.in_force;
    sink.notify(&notices, crate::audit::now());
}

/// Feeds every packet of `source` through decoding and mediation into `sink` until the
/// source ends, `stop` is set, or spooling fails.
fn pump(
    source: &Source,
    mut mediator: Mediator,
    sink: &mut Guarded,
    stop: &AtomicBool,
    updates: &Receiver<Update>,
    reloads: &mut u64,
    tracer: &mut Option<Tracer>,
) -> Result<(u64, Mediator), RunError> {
    let mut decoder = Decoder::new();
    let mut packets = 0u64;
    match source {
        Source::Pcap { path, rate } => {
            let mut reader = FileReader::open(path)?;
            let started = Instant::now();
            loop {
                if stop.load(Ordering::Relaxed) || sink.failed() {
                    break;
                }
                let frame = match reader.next_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "capture error; skipping");
                        continue;
                    }
                };
                packets += 1;
                if let Ok(update) = updates.try_recv() {
                    *reloads += 1;
                    apply(update, &mut mediator, sink);
                }
                sink.advance(frame.ts);
                if let Decoded::Datagram(dg) = decoder.decode(&frame) {
                    mediator.handle_observed(&dg, sink, tracer);
                }
                if let Some(rate) = rate.filter(|r| *r > 0) {
                    let due = started + Duration::from_secs_f64(packets as f64 / f64::from(rate));
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            }
        }
        Source::Iface(name) => {
            packets = live(name, &mut mediator, &mut decoder, sink, stop, updates, reloads, tracer)?
        }
    }
    Ok((packets, mediator))
}

/// How often a running appliance rewrites `SPOOL/metrics.json`.
const METRICS_EVERY: Duration = Duration::from_secs(5);

/// Writes the interface reports (spooled, confirmed, spool-full alarms, latency) as JSON,
/// replacing the file atomically. Failures are logged, never fatal.
fn write_metrics(path: &std::path::Path, reports: &[InterfaceReport]) {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec_pretty(reports).unwrap_or_default();
    if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write metrics");
    }
}

type Guarded = CinGuard<Sequencer<SpoolOutput>>;

impl Guarded {
    /// Spooling or CIN reservation failed: the pipeline must stop.
    fn failed(&self) -> bool {
        self.error.is_some() || self.inner.output().error().is_some()
    }

    /// Tells (and audits) the warrants activated or lapsed by packet time `ts`.
    fn advance(&mut self, ts: crate::Timestamp) {
        let due = self.timeline.advance(ts);
        if !due.is_empty() {
            self.notify(&due, ts);
        }
    }

    /// Spools an HI1 notification (activated, modified, deactivated) for each notice on
    /// its agency's HI2 interface, stamped `now` (wall clock for reloads, packet time for
    /// the schedule).
    fn notify(&mut self, notices: &[Notice], now: crate::Timestamp) {
        let mut pdu = Vec::new();
        for n in notices {
            let Some(index) = self.inner.agencies().iter().position(|a| a.id == n.agency) else { continue };
            let Some(agency) = self.inner.agencies().get(index) else { continue };
            // HI1 notifications are PS-PDUs: only `etsi` agencies' streams carry them.
            if agency.profile != Profile::Etsi {
                continue;
            }
            let appliance = &self.appliance;
            let header = PduHeader {
                liid: &n.liid,
                authorization_country: &appliance.country,
                operator_id: &appliance.operator_id,
                network_element_id: &appliance.network_element_id,
                cin: 0,
                delivery_country: &agency.country,
                sequence: 0,
                ts: now,
            };
            pdu.clear();
            etsi::encode_hi1_notification(&mut pdu, &header, n.notification);
            self.inner.output_mut().write_pdu(index, Channel::Hi2, &pdu);
        }
    }
}

#[cfg(feature = "live")]
fn live(
    name: &str,
    mediator: &mut Mediator,
    decoder: &mut Decoder,
    sink: &mut Guarded,
    stop: &AtomicBool,
    updates: &Receiver<Update>,
    reloads: &mut u64,
    tracer: &mut Option<Tracer>,
) -> Result<u64, RunError> {
    use crate::capture::{LiveCapture, LiveConfig};
    let mut capture = LiveCapture::open(&LiveConfig::new(name))?;
    let mut packets = 0u64;
    while !stop.load(Ordering::Relaxed) && !sink.failed() {
        match capture.next_frame() {
            Ok(Some(frame)) => {
                packets += 1;
                if let Ok(update) = updates.try_recv() {
                    *reloads += 1;
                    apply(update, mediator, sink);
                }
                sink.advance(frame.ts);
                if let Decoded::Datagram(dg) = decoder.decode(&frame) {
                    mediator.handle_observed(&dg, sink, tracer);
                }
            }
            Ok(None) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(packets)
}

#[cfg(not(feature = "live"))]
fn live(
    _name: &str,
    _mediator: &mut Mediator,
    _decoder: &mut Decoder,
    _sink: &mut Guarded,
    _stop: &AtomicBool,
    _updates: &Receiver<Update>,
    _reloads: &mut u64,
    _tracer: &mut Option<Tracer>,
) -> Result<u64, RunError> {
    Err(RunError::LiveUnavailable)
}

/// The Call Trace service riding on the signalling view.
type Tracer = CallTracer<JsonlOutput>;

/// `tapline run` from the command line: SIGTERM or SIGINT stops the capture, the spools
/// are drained (up to `options.drain`), and the run returns.
pub fn run_until_signal(options: &RunOptions) -> Result<RunSummary, RunError> {
    run_until_signal_with(options, &LifecycleOptions::default())
}

/// [`run_until_signal`] following warrant changes as `lifecycle` says; SIGHUP reloads the
/// warrant directory.
pub fn run_until_signal_with(options: &RunOptions, lifecycle: &LifecycleOptions) -> Result<RunSummary, RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Delivery(DeliveryError::Runtime(e)))?;
    let flag = stop.clone();
    let signals = runtime.spawn(async move {
        crate::lemf::wait_for_signal().await;
        tracing::info!("stop requested: draining");
        flag.store(true, Ordering::Relaxed);
    });
    let reload = lifecycle.reload.clone();
    let hangups = runtime.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the warrants");
            reload.store(true, Ordering::Relaxed);
        }
    });
    let handle = std::thread::spawn(move || {
        runtime.block_on(async {
            let _ = signals.await;
            hangups.abort();
        })
    });
    let result = run_with(options, stop.clone(), lifecycle);
    drop(handle);
    result
}
