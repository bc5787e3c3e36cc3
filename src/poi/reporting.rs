//! The shell of [`super::faults`] inside `tapline poi`: it watches every destination's
//! sender, takes the capture loop's observations over a channel (never blocking it), and
//! sends the reports [`Faults`] returns to the ADMF's report endpoint
//! ([`crate::x1::report::Reporter`], HTTPS with mutual TLS).
//!
//! - A destination is down when its sender counted a failed connect or a keepalive without
//!   its ack since the last look (every [`WATCH_EVERY`]), up again when it counted an ack.
//! - Reports wait in a bounded queue ([`QUEUE_LIMIT`]; when full the oldest is dropped,
//!   logged and counted). A report the ADMF does not acknowledge is logged at INFO, counted
//!   and sent again after a back-off (1 s doubling to 60 s); later reports wait behind it,
//!   so the ADMF gets them in order. Without a report endpoint, faults are only logged and
//!   counted (`unconfigured`).
//! - Counters ([`ReportStats`], `result` = `sent`, `failed`, `dropped`, `unconfigured`)
//!   are in the POI's summary; nothing here names a target.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::faults::{Faults, LinkFault, Observation};
use crate::delivery::tls::TlsError;
use crate::x1::client::X1Url;
use crate::x1::report::Reporter;
use crate::x1::IssueReport;
use crate::x2x3::sender::SenderStats;
use crate::x2x3::Xid;
use crate::Timestamp;

/// How often the destinations' senders are looked at.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);
/// Most reports waiting to be sent.
pub const QUEUE_LIMIT: usize = 1024;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

/// The ADMF's report endpoint and the client certificate the POI presents there (its
/// common name must be the POI's neIdentifier).
#[derive(Clone, Debug)]
pub struct ReportTo {
    pub url: X1Url,
    /// CA of the endpoint's server certificate.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub admf_identifier: String,
}

/// How a POI reports.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// None: faults are logged and counted only.
    pub to: Option<ReportTo>,
    pub ne_identifier: String,
    /// Each issue is reported at most once per this interval.
    pub holddown: Duration,
}

/// What reporting did (`tapline_x1_reports_total{result}` of the POI's summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportStats {
    /// Reports the faults called for.
    pub raised: u64,
    /// Acknowledged by the ADMF.
    pub sent: u64,
    /// Attempts the ADMF did not acknowledge (each retried).
    pub failed: u64,
    /// Dropped from a full queue.
    pub dropped: u64,
    /// Not sent: no report endpoint configured.
    pub unconfigured: u64,
    /// Still queued when the POI stopped.
    pub unsent: u64,
}

#[derive(Debug, Default)]
struct Counters {
    raised: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    unconfigured: AtomicU64,
}

/// A sender watched for its link's health: its counters and what was seen last.
struct Watched {
    did: Xid,
    stats: Arc<SenderStats>,
    failures: (u64, u64),
    acks: u64,
}

/// The reports waiting, shared by the core task and the sending task.
#[derive(Default)]
struct Queue {
    items: Mutex<VecDeque<IssueReport>>,
    more: Notify,
}

/// The running reporting of one POI.
pub struct Reports {
    tx: Option<mpsc::UnboundedSender<Observation>>,
    watched: Arc<Mutex<Vec<Watched>>>,
    counters: Arc<Counters>,
    queue: Arc<Queue>,
    sending: Option<tokio::task::JoinHandle<()>>,
}

impl Reports {
    /// Starts reporting on `runtime` (the endpoint's TLS is loaded now: a bad file fails
    /// the start).
    pub fn start(runtime: &tokio::runtime::Runtime, options: ReportOptions) -> Result<Reports, TlsError> {
        let reporter = match &options.to {
            Some(to) => Some(Reporter::new(&to.url, &to.ca, &to.cert, &to.key, &to.admf_identifier, &options.ne_identifier)?),
            None => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let watched = Arc::new(Mutex::new(Vec::new()));
        let counters = Arc::new(Counters::default());
        let queue = Arc::new(Queue::default());
        let (closed_tx, closed_rx) = tokio::sync::watch::channel(false);
        runtime.spawn(core_task(Faults::new(options.holddown), rx, watched.clone(), queue.clone(), counters.clone(), closed_tx));
        let sending = runtime.spawn(send_task(reporter, queue.clone(), counters.clone(), closed_rx));
        Ok(Reports { tx: Some(tx), watched, counters, queue, sending: Some(sending) })
    }

    /// Passes one observation to the core (never blocks).
    pub fn observe(&self, observation: Observation) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(observation);
        }
    }

    /// Watches the sender of destination `did`.
    pub fn watch(&self, did: Xid, stats: Arc<SenderStats>) {
        let mut w = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|x| x.did != did);
        w.push(Watched { did, stats, failures: (0, 0), acks: 0 });
    }

    /// Stops taking observations, reports what is still held down, and waits up to
    /// `within` for the queue to be sent; the counters.
    pub fn finish(mut self, runtime: &tokio::runtime::Runtime, within: Duration) -> ReportStats {
        drop(self.tx.take());
        if let Some(sending) = self.sending.take() {
            let abort = sending.abort_handle();
            if runtime.block_on(async { tokio::time::timeout(within, sending).await }).is_err() {
                abort.abort();
            }
        }
        let unsent = self.queue.items.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
        if unsent > 0 {
            tracing::info!(unsent, "X1 reports not acknowledged by the ADMF before the POI stopped");
        }
        let c = &self.counters;
        ReportStats {
            raised: c.raised.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            unconfigured: c.unconfigured.load(Ordering::Relaxed),
            unsent,
        }
    }
}

/// The links' observations since the last look.
fn look(watched: &Mutex<Vec<Watched>>) -> Vec<Observation> {
    let mut out = Vec::new();
    for w in watched.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
        let failures = (w.stats.failed_connects.load(Ordering::Relaxed), w.stats.ack_timeouts.load(Ordering::Relaxed));
        let acks = w.stats.acks_received.load(Ordering::Relaxed);
        let fault = if failures.1 > w.failures.1 {
            Some(Some(LinkFault::NoAck))
        } else if failures.0 > w.failures.0 {
            Some(Some(LinkFault::ConnectFailed))
        } else if acks > w.acks {
            Some(None)
        } else {
            None
        };
        if let Some(fault) = fault {
            out.push(Observation::Destination { did: w.did, fault });
        }
        (w.failures, w.acks) = (failures, acks);
    }
    out
}

/// Drives [`Faults`]: observations and timers in, reports queued.
async fn core_task(
    mut faults: Faults,
    mut rx: mpsc::UnboundedReceiver<Observation>,
    watched: Arc<Mutex<Vec<Watched>>>,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    closed: tokio::sync::watch::Sender<bool>,
) {
    let mut open = true;
    while open {
        tokio::select! {
            o = rx.recv() => match o {
                Some(o) => faults.observe(Instant::now(), o),
                None => open = false,
            },
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let now = Instant::now();
        for o in look(&watched) {
            faults.observe(now, o);
        }
        // At the stop, what waits for its hold-down is reported now.
        faults.handle_timeout(if open { now } else { now + Duration::from_secs(86_400) });
        while let Some(report) = faults.poll_report() {
            counters.raised.fetch_add(1, Ordering::Relaxed);
            let (about, id, code) = report.about();
            tracing::info!(about, id = id.map(|x| x.to_string()), kind = report.type_str(), code, "X1 issue to report to the ADMF");
            let mut items = queue.items.lock().unwrap_or_else(|p| p.into_inner());
            if items.len() >= QUEUE_LIMIT {
                items.pop_front();
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(limit = QUEUE_LIMIT, "X1 report queue full: the oldest report dropped");
            }
            items.push_back(report);
            queue.more.notify_one();
        }
    }
    let _ = closed.send(true);
}

/// Sends the queue in order, retrying each report with back-off until acknowledged; ends
/// once the core closed and the queue is empty.
async fn send_task(reporter: Option<Reporter>, queue: Arc<Queue>, counters: Arc<Counters>, mut closed: tokio::sync::watch::Receiver<bool>) {
    let mut retry = FIRST_RETRY;
    loop {
        let next = queue.items.lock().unwrap_or_else(|p| p.into_inner()).front().cloned();
        let Some(report) = next else {
            if *closed.borrow() {
                return;
            }
            tokio::select! {
                _ = queue.more.notified() => {}
                _ = closed.changed() => {}
                _ = tokio::time::sleep(WATCH_EVERY) => {}
            }
            continue;
        };
        let Some(reporter) = &reporter else {
            counters.unconfigured.fetch_add(1, Ordering::Relaxed);
            tracing::info!(kind = report.type_str(), "X1 issue not reported: no ADMF report endpoint (--admf-report)");
            pop(&queue, &report);
            continue;
        };
        match reporter.send(report.clone(), Timestamp::wall_now()).await {
            Ok(()) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                tracing::info!(request = report.kind().as_str(), kind = report.type_str(), "X1 issue report acknowledged by the ADMF");
                pop(&queue, &report);
                retry = FIRST_RETRY;
            }
            Err(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(error = %e, retry_in = ?retry, "X1 issue report not acknowledged by the ADMF; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
    }
}

/// Removes `report` from the front of the queue (unless the queue dropped it meanwhile).
fn pop(queue: &Queue, report: &IssueReport) {
    let mut items = queue.items.lock().unwrap_or_else(|p| p.into_inner());
    if items.front() == Some(report) {
        items.pop_front();
    }
}
