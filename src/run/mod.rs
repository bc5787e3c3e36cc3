//! `tapline run`: capture → decode → mediation → sequencer → per-agency spools, delivered
//! over mutual TLS until the capture ends (replay) or SIGTERM (drain, then exit).

mod demo;
mod checkpoint;
mod demo_scaleout;
mod durable;
mod restart;
mod lifecycle;
mod report;
mod schedule;
mod guard;
mod hi1_ledger;
pub use hi1_ledger::Hi1Ledger;
mod states;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use demo::{demo, DemoError, DemoSummary};
pub use demo_scaleout::{demo_scale_out, scale_out_report, PoiCounts, ScaleOutSummary};
pub use lifecycle::{InForce, Lifecycle, Notice, Snapshot, Timeline, Update, STORE_ACTOR};
pub use schedule::{Schedule, Transition};
pub use report::{demo_report, run_report};

use crate::audit::{AuditError, AuditLog};
use crate::calltrace::{self, CallTraceError, CallTraceStats, JsonlOutput};
use crate::capture::CaptureError;
use crate::delivery::{
    report_of, CinReservation, Delivery, DeliveryError, DeliveryOptions, InterfaceReport, SpoolError,
};
use crate::handover::sequencer::{LiidCounts, Sequencer};
use crate::mediation::{CinAllocator, Mediator, MediatorConfig};
use crate::metrics::{Counter, Metrics, MetricsError, MetricsServer, Stage};
use crate::pipeline::{self, EncodeStage, PipelineConfig, PipelineError};
use guard::{CinGuard, WarrantHook};
use crate::provision::{ProvisionConfig, ProvisionError, ProvisionServer};
use crate::time::RunClock;
use crate::warrant::{Store, Warrant, WarrantError};

/// Where packets come from: the pipeline's source.
pub use crate::pipeline::FrameSource as Source;

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
    /// Threads and queue sizes of the packet pipeline.
    pub pipeline: PipelineConfig,
    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP) on this address.
    pub metrics: Option<std::net::SocketAddr>,
    /// Call timers (idle expiry of answered and unanswered calls, linger after the end).
    pub mediator: MediatorConfig,
    /// Call detail records of every call to this database (a SQLite file, e.g.
    /// `SPOOL/records/records.sqlite`, or `postgres://…`); Call Trace then reads its
    /// directory from it (see `records`).
    pub records_db: Option<String>,
    /// How long the records database keeps calls and traces (purged at the first packet and
    /// each new UTC day of packet time, audited).
    pub retention: crate::records::Retention,
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
    /// Task these points of interception over X1 with the warrants in force, following every
    /// change (see [`crate::admf`]).
    pub pois: Option<crate::admf::PoisConfig>,
}

impl Default for LifecycleOptions {
    fn default() -> Self {
        LifecycleOptions { audit: None, poll: Some(Duration::from_secs(1)), reload: Arc::default(), api: None, pois: None }
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
    #[error("HI1 notification ledger {path}: {source}")]
    Hi1Ledger { path: PathBuf, source: io::Error },
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
    #[error("cannot start the X2/X3 durability thread: {0}")]
    DurableThread(io::Error),
    #[error("{0}")]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("X2/X3 checkpoint {path}: refused: it has no position for agency `{agency}` {channel:?}, whose spool holds undelivered records")]
    CheckpointMissing { path: PathBuf, agency: String, channel: crate::handover::sequencer::Channel },
    #[error("X2/X3 ingest: spool {path} holds delivery lane {lane}; a mediation function delivers over one lane per interface, so this spool (left by a run without X2/X3 ingest) cannot be restarted from a checkpoint: deliver or move its lanes first")]
    LanesWithCheckpoint { path: PathBuf, lane: usize },
    #[error("X2/X3 checkpoint {path}: refused: its pipeline state: {source}")]
    PipelineSnapshot { path: PathBuf, source: crate::mediation::snapshot::SnapshotError },
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("metrics endpoint: {0}")]
    Metrics(#[from] MetricsError),
    #[error("records: {0}")]
    Records(#[from] crate::records::DbError),
    #[error("ADMF: {0}")]
    Admf(#[from] crate::admf::AdmfError),
}

/// What a run did. Targets never appear here.
#[derive(Debug, serde::Serialize)]
pub struct RunSummary {
    pub packets_read: u64,
    /// Live capture: frames dropped because the pipeline was full, and by the kernel or NIC.
    pub dropped_pipeline_full: u64,
    pub dropped_kernel: u64,
    /// Capture file errors (a truncated or malformed record); the run read on past them.
    pub capture_errors: Vec<String>,
    /// Frames skipped as not IP (other link types, EtherTypes or address families).
    pub skipped_non_ip: u64,
    pub sip_messages: u64,
    pub calls_seen: u64,
    pub calls_intercepted: u64,
    pub warrants_loaded: usize,
    pub warrants_refused: usize,
    /// Records per LIID handed to the spools by this run.
    pub liids: BTreeMap<String, LiidCounts>,
    /// Wall-clock time from capturing a packet's batch (a paced replay: releasing its
    /// first frame) to its records being encoded and spooled, and the stages between.
    pub latency: pipeline::LatencySummary,
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
    /// Call detail records written, when a records database is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<crate::records::WriterStats>,
    /// X1 issue reports received from POIs (`--pois`): POI id, message, count.
    pub x1_reports: Vec<(String, &'static str, u64)>,
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
    // X2/X3 ingest: spools cut back to the last checkpoint before any sender starts.
    let feed = match &options.source {
        Source::Channel(feed) => Some(feed.clone()),
        _ => None,
    };
    let restored = match &feed {
        Some(_) => Some(restart::cut_spools(spool, &store.agencies, options.delivery.spool_limit)?),
        None => None,
    };
    // With X2/X3 ingest each interface keeps one lane: a checkpoint marks one spool per
    // interface (see `restart.rs`).
    let mut delivery_options = options.delivery.clone();
    if feed.is_some() {
        delivery_options.sender.lanes = 1;
    }
    let delivery = Delivery::start(&store.appliance, &store.agencies, &liids, &delivery_options)?;
    if feed.is_some() {
        restart::hold(delivery.queues());
    }
    let warrants_loaded = store.warrants.len();
    tracing::info!(loaded = warrants_loaded, refused = refused.len(), dir = %options.warrants.display(), "warrants loaded");
    let audit = match &lifecycle.audit {
        Some(dir) => Some(Arc::new(Mutex::new(AuditLog::open(dir)?))),
        None => None,
    };
    let clock = Arc::new(run_clock(&options.source));
    let desk_audit = audit.clone();
    let (admf_clock, admf_audit) = (Arc::clone(&clock), audit.clone());
    let mut warrants = Lifecycle::new(&options.warrants, &store, audit, clock);
    // Dropped (the server stopped) whenever this function returns.
    let _api = start_api(options, lifecycle)?;
    let numbering = store.appliance.numbering.clone();
    let snapshot = Snapshot::new(store.warrants, numbering.clone());
    let hi1_path = spool.join(hi1_ledger::FILE);
    let hi1 = Hi1Ledger::open(&hi1_path).map_err(|source| RunError::Hi1Ledger { path: hi1_path, source })?;
    let timeline = warrants.timeline(&snapshot.in_force).already_told(hi1.told_active());
    // X2/X3 ingest restarted from a checkpoint: the calls in progress at it carry on (their
    // dialogs, CINs, sequence numbers); an empty section is a first start's.
    let restored_pipeline = restored.as_ref().and_then(|r| r.pipeline.as_deref()).filter(|b| !b.is_empty());
    let mut sequencer = Sequencer::new(store.appliance.clone(), store.agencies, delivery.output());
    let cins_from = CinAllocator::with_floor(cin_floor);
    let mediator = match restored_pipeline {
        Some(bytes) => pipeline::snapshot::restore(bytes, Arc::clone(&snapshot.table), options.mediator, cins_from, &mut sequencer)
            .map_err(|source| RunError::PipelineSnapshot { path: checkpoint::path_in(spool), source })?,
        None => Mediator::with_config(Arc::clone(&snapshot.table), options.mediator, cins_from),
    };
    let in_force = Arc::clone(&snapshot.in_force);
    // X2/X3 ingest: the resend filter resumes from the checkpoint before the XID gate lets
    // connections push; keepalive acks wait for durability and a checkpoint.
    let checkpointer = durable::Checkpointer { queues: delivery.queues().clone(), spool: spool.clone() };
    let durable = match (&feed, restored) {
        (Some(feed), Some(restored)) => {
            feed.barriers.restore_filter(restored.filter);
            feed.xids.hold(snapshot.in_force.values().map(|w| &**w));
            Some(durable::start(checkpointer.clone(), Arc::clone(&feed.barriers)).map_err(RunError::DurableThread)?)
        }
        _ => None,
    };
    let sink = CinGuard {
        inner: sequencer,
        appliance: store.appliance,
        in_force: snapshot.in_force,
        reloads: 0,
        withheld: 0,
        cins,
        path: spool.join("cin-reserved"),
        hi1: Some(hi1),
        error: None,
        durable: durable.as_ref().map(|d| d.passed.clone()),
    };
    let (updates_tx, updates) = crossbeam_channel::unbounded::<Update>();
    // On a stop request, a pipeline blocked on a full spool gives up waiting. Meanwhile the
    // delivery metrics go to SPOOL/metrics.json every few seconds.
    let done = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::new());
    let admf = match &lifecycle.pois {
        Some(pois) => {
            let context = crate::admf::AdmfContext { clock: admf_clock, audit: admf_audit, metrics: Arc::clone(&metrics) };
            let now = warrants.snapshot().in_force.values().map(|w| Warrant::clone(w)).collect();
            Some(Arc::new(crate::admf::Admf::start(pois, now, context)?))
        }
        None => None,
    };
    let states = states::WarrantStates::new(Arc::clone(&metrics), in_force);
    // Stopped (and its port freed) whenever this function returns.
    let _metrics_server: Option<MetricsServer> = match options.metrics {
        Some(addr) => Some(crate::metrics::serve(addr, Arc::clone(&metrics))?),
        None => None,
    };
    let watcher = std::thread::spawn({
        let (stop, done, queues) = (stop.clone(), done.clone(), delivery.queues().clone());
        let shared = Arc::clone(&metrics);
        let metrics = spool.join("metrics.json");
        let (poll, reload) = (lifecycle.poll, lifecycle.reload.clone());
        let admf = admf.clone();
        let xids = feed.as_ref().map(|f| Arc::clone(&f.xids));
        move || {
            let mut written = Instant::now();
            let mut polled = Instant::now();
            let mut delivered = DeliveryTotals::default();
            while !done.load(Ordering::Relaxed) {
                delivered.publish(&shared, queues.iter().flatten().map(|q| report_of(q)));
                let forced = reload.swap(false, Ordering::Relaxed);
                if forced || poll.is_some_and(|p| polled.elapsed() >= p) {
                    polled = Instant::now();
                    if let Some(update) = warrants.poll(forced) {
                        if let Some(xids) = &xids {
                            xids.hold(update.snapshot.in_force.values().map(|w| &**w));
                        }
                        if let Some(admf) = &admf {
                            admf.follow(update.snapshot.in_force.values());
                        }
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
    let calltrace_dir = spool.join("calltrace");
    let calltrace = match &options.calltrace {
        Some(config) => {
            let state = calltrace::load_state(&calltrace_dir.join("state.json"))?;
            let config = calltrace::Config::load(config, &numbering)?;
            Some((config, state, JsonlOutput::create(&calltrace_dir)?))
        }
        None => None,
    };
    let context = crate::records::WriterContext { metrics: Arc::clone(&metrics), audit: desk_audit, retention: options.retention };
    let (writer, tracer) = crate::records::hook::start(options.records_db.as_deref(), calltrace, &numbering, context)?;
    let passing = feed.as_ref().map(|f| crate::x2x3::confirm::Passing::new(Arc::clone(&f.barriers)));
    let hook = WarrantHook::new(updates, timeline).with_states(states).with_passing(passing);
    metrics.set_running(true);
    let finished = pipeline::run(&options.source, mediator, tracer, sink, hook, &stop, &options.pipeline, &metrics);
    metrics.set_running(false);
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let finished = match finished {
        Ok(f) => f,
        Err(e) => {
            delivery.finish(options.drain);
            return Err(e.into());
        }
    };
    let (mut sink, tracer) = (finished.encoder, finished.observer);
    sink.durable = None;
    if let Some(d) = durable {
        drop(d.passed);
        if let Ok(stats) = d.thread.join() {
            tracing::info!(?stats, "X2/X3 checkpoints");
        }
    }
    if let Some(feed) = &feed {
        let state = pipeline::snapshot::encode(&finished.mediator.snapshot(), &sink.inner);
        let hi1_len = sink.hi1.as_ref().map_or(0, Hi1Ledger::octets);
        restart::last_checkpoint(&checkpointer, &feed.barriers, finished.capture.frames, EncodeStage::failed(&sink), state, hi1_len);
    }
    let packets_read = finished.capture.frames;
    let (dropped_pipeline_full, dropped_kernel) =
        (finished.capture.dropped_pipeline_full, finished.capture.dropped_kernel);
    let reloads = sink.reloads;
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
    let crate::records::DeskObserver { records, tracer } = tracer;
    if let Some(r) = records {
        r.finish();
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
    let records = match writer {
        Some(w) => Some(w.finish()?),
        None => None,
    };
    let m = finished.mediation;
    let (capture_errors, skipped_non_ip) = (finished.capture.errors, finished.decode.skipped_non_ip);
    let liid_counts = sink.inner.counts_of_all(liids);
    Ok(RunSummary {
        packets_read,
        dropped_pipeline_full,
        dropped_kernel,
        capture_errors,
        skipped_non_ip,
        sip_messages: m.sip_messages,
        calls_seen: m.calls_seen,
        calls_intercepted: m.calls_intercepted,
        warrants_loaded,
        warrants_refused: refused.len(),
        liids: liid_counts,
        latency: pipeline::LatencySummary::of(&metrics),
        interfaces,
        interrupted,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        cin_floor,
        warrant_reloads: reloads,
        records_withheld: sink.withheld,
        calltrace,
        records,
        x1_reports: metrics.x1(crate::metrics::X1Family::ReportMessages),
    })
}

/// The run's clock for `source` (see [`crate::time`]): packet time for a capture file,
/// starting at its first packet (a file that is not regular, e.g. a pipe, is not read ahead:
/// it starts at the wall-clock time, as does an empty or unreadable one, whose error the
/// pipeline reports); the wall clock for live sources.
fn run_clock(source: &Source) -> RunClock {
    match source {
        Source::Pcap { path, .. } => {
            let first = std::fs::metadata(path)
                .is_ok_and(|m| m.is_file())
                .then(|| crate::capture::FileReader::open(path).ok())
                .flatten()
                .and_then(|mut r| r.next_frame().ok().flatten().map(|f| f.ts));
            RunClock::packet(first.unwrap_or_else(crate::Timestamp::wall_now))
        }
        Source::Iface(_) | Source::Channel(_) => RunClock::wall(),
    }
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

/// Delivery totals already added to the shared metrics.
#[derive(Default)]
struct DeliveryTotals {
    spooled: u64,
    confirmed: u64,
    disk_full: u64,
}

impl DeliveryTotals {
    /// Adds what the spools took and the agencies confirmed since last time; sets the
    /// records still waiting as the spool gauge.
    fn publish(&mut self, metrics: &Metrics, reports: impl Iterator<Item = InterfaceReport>) {
        let (mut spooled, mut confirmed, mut waiting, mut disk_full) = (0, 0, 0, 0);
        let mut samples = Vec::new();
        for r in reports {
            spooled += r.spooled;
            confirmed += r.confirmed;
            waiting += r.unconfirmed;
            disk_full += r.disk_full_alarms;
            samples.push(crate::metrics::InterfaceSample {
                agency: r.agency,
                interface: r.interface,
                spooled: r.spooled,
                confirmed: r.confirmed,
                unconfirmed: r.unconfirmed,
                connected: r.connected,
                connects: r.connects,
                connect_failures: r.connect_failures,
                spool_full: r.spool_full_alarms,
            });
        }
        metrics.set_interfaces(samples);
        metrics.add(Counter::SpoolDiskFull, disk_full.saturating_sub(self.disk_full));
        self.disk_full = disk_full.max(self.disk_full);
        metrics.add(Counter::RecordsSpooled, spooled.saturating_sub(self.spooled));
        metrics.add(Counter::RecordsConfirmed, confirmed.saturating_sub(self.confirmed));
        metrics.set_queue_depth(Stage::Delivery, waiting);
        (self.spooled, self.confirmed) = (spooled.max(self.spooled), confirmed.max(self.confirmed));
    }
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
