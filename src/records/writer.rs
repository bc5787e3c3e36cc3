//! Off the hot path: [`RecordsObserver`] (on mediation's signalling hook) runs the
//! [`CdrTracker`] and hands finished records in batches over a bounded channel to the
//! [`Writer`] thread, which inserts them in one transaction per batch. A full channel
//! blocks the signalling stage (back-pressure) rather than drop a record. The observer also
//! keeps the [`PurgeSchedule`]: at the first packet and each new UTC day of packet time it
//! asks the writer for the retention purge, which is logged, counted and audited.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::cdr::CdrTracker;
use super::db::{Db, DbError};
use super::purge::{PurgeSchedule, Retention};
use super::CallRecord;
use crate::audit::{AuditLog, Event, ProvisioningAct};
use crate::calltrace::TraceRecord;
use crate::mediation::SignallingObserver;
use crate::metrics::{Counter, Metrics};
use crate::sip::Message;
use crate::wire::{Datagram, Transport};

/// Records handed over per channel message.
const BATCH: usize = 512;
/// Batches in flight before the signalling stage waits.
const CHANNEL_BATCHES: usize = 256;
/// Longest a finished record waits in the writer before its transaction.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Who the audit trail names for the retention purge.
pub const PURGE_ACTOR: &str = "records-retention";

pub(super) enum Msg {
    Calls(Vec<CallRecord>),
    Trace(Box<TraceRecord>),
    /// The retention purge, at this packet time (ns).
    Purge(i64),
}

/// What the writer stored and purged. No identity appears here.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    pub calls_inserted: u64,
    pub transactions: u64,
    pub calls_traced: u64,
    /// Traces stored at the Call Identification Center.
    pub traces_stored: u64,
    /// Traces not stored because the line has Call Trace blocked in the database.
    pub traces_blocked: u64,
    pub purges: u64,
    pub calls_purged: u64,
    /// Calls past retention kept by a preservation hold (at the last purge).
    pub calls_held: u64,
    pub traces_purged: u64,
}

/// Where the records side reports besides its database: the run's metrics and audit trail,
/// and the retention its daily purge applies.
#[derive(Clone, Default)]
pub struct WriterContext {
    pub metrics: Arc<Metrics>,
    pub audit: Option<Arc<Mutex<AuditLog>>>,
    pub retention: Retention,
}

impl WriterContext {
    /// Appends a records event to the audit trail, when there is one.
    pub(super) fn audit(&self, action: &str, client: &str, detail: serde_json::Value) -> Result<(), DbError> {
        let Some(audit) = &self.audit else { return Ok(()) };
        let mut log = audit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        log.append(Event::Provisioning(ProvisioningAct {
            who: PURGE_ACTOR.into(),
            action: action.into(),
            liid: None,
            client: client.into(),
            detail: Some(detail.to_string()),
        }))?;
        Ok(())
    }
}

/// The writer thread and its channel.
pub struct Writer {
    pub(super) tx: Sender<Msg>,
    handle: JoinHandle<Result<WriterStats, DbError>>,
}

impl Writer {
    /// Opens the database `spec` (errors come back here, before any traffic) and starts
    /// the writer thread on it.
    pub fn start(spec: &str, context: WriterContext) -> Result<Writer, DbError> {
        let db = Db::open(spec)?;
        let (tx, rx) = bounded(CHANNEL_BATCHES);
        let handle = std::thread::Builder::new()
            .name("records-writer".into())
            .spawn(move || write_loop(db, rx, &context))
            .map_err(|e| DbError::Invalid(format!("cannot start the records writer: {e}")))?;
        Ok(Writer { tx, handle })
    }

    /// An observer for mediation's signalling hook, feeding this writer; it reads identities
    /// under the carrier's number domains, as mediation does.
    pub fn observer(&self, numbering: crate::warrant::Numbering) -> RecordsObserver {
        RecordsObserver {
            tracker: CdrTracker::with_numbering(numbering),
            tx: self.tx.clone(),
            buf: Vec::with_capacity(BATCH),
            expired: Vec::new(),
            schedule: PurgeSchedule::default(),
        }
    }

    /// Waits for everything sent to be stored (drop the observers and tees first). The
    /// first database error of the run, if any.
    pub fn finish(self) -> Result<WriterStats, DbError> {
        drop(self.tx);
        self.handle.join().unwrap_or_else(|_| Err(DbError::Invalid("the records writer panicked".into())))
    }
}

fn write_loop(mut db: Db, rx: Receiver<Msg>, context: &WriterContext) -> Result<WriterStats, DbError> {
    let mut stats = WriterStats::default();
    let mut batch: Vec<CallRecord> = Vec::new();
    // `*57` traces of calls not stored yet (still in progress when traced).
    let mut traced_pending: HashSet<String> = HashSet::new();
    let mut first_error: Option<DbError> = None;
    let mut oldest: Option<Instant> = None;
    let flush = |db: &mut Db, batch: &mut Vec<CallRecord>, pending: &mut HashSet<String>, stats: &mut WriterStats| {
        if batch.is_empty() {
            return Ok(());
        }
        for r in batch.iter_mut() {
            if pending.remove(&r.call_id) {
                r.traced = true;
            }
        }
        db.insert_calls(batch)?;
        stats.calls_inserted += batch.len() as u64;
        stats.transactions += 1;
        batch.clear();
        Ok::<(), DbError>(())
    };
    loop {
        let msg = match rx.recv_timeout(FLUSH_EVERY) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut result = Ok(());
        match msg {
            Some(Msg::Calls(mut calls)) => {
                oldest.get_or_insert_with(Instant::now);
                batch.append(&mut calls);
                if batch.len() >= 8 * BATCH || oldest.is_some_and(|t| t.elapsed() >= FLUSH_EVERY) {
                    result = flush(&mut db, &mut batch, &mut traced_pending, &mut stats);
                    oldest = None;
                }
            }
            Some(Msg::Trace(trace)) => {
                result = flush(&mut db, &mut batch, &mut traced_pending, &mut stats).and_then(|()| {
                    oldest = None;
                    store_trace(&mut db, &trace, &mut traced_pending, &mut stats)
                });
            }
            Some(Msg::Purge(packet_ns)) => {
                result = flush(&mut db, &mut batch, &mut traced_pending, &mut stats).and_then(|()| {
                    oldest = None;
                    purge(&mut db, packet_ns, context, &mut stats)
                });
            }
            None => {
                result = flush(&mut db, &mut batch, &mut traced_pending, &mut stats);
                oldest = None;
            }
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "records database write failed; records of this batch are not stored");
            batch.clear();
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = flush(&mut db, &mut batch, &mut traced_pending, &mut stats) {
        tracing::error!(error = %e, "records database write failed at the end of the run");
        first_error.get_or_insert(e);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

fn store_trace(db: &mut Db, trace: &TraceRecord, pending: &mut HashSet<String>, stats: &mut WriterStats) -> Result<(), DbError> {
    let Some(stored) = db.record_trace(trace)? else {
        stats.traces_blocked += 1;
        tracing::info!(trace_id = %trace.trace_id, "trace not stored: the line has Call Trace blocked");
        return Ok(());
    };
    if let Some(call) = trace.traced_call.as_ref().filter(|_| trace.calling_number.is_some()) {
        if db.mark_traced(&call.call_id)? {
            stats.calls_traced += 1;
        } else {
            pending.insert(call.call_id.clone());
        }
    }
    stats.traces_stored += 1;
    tracing::info!(trace_id = %stored.trace_id, case_id = %stored.case_id, threshold_reached = stored.threshold_reached,
        "trace stored at the Call Identification Center");
    Ok(())
}

/// The retention purge at packet time `packet_ns`, never later than the wall clock (a
/// capture stamped in the future must not purge records early); counted and audited.
fn purge(db: &mut Db, packet_ns: i64, context: &WriterContext, stats: &mut WriterStats) -> Result<(), DbError> {
    let wall_ns = i64::try_from(crate::audit::now().as_nanos()).unwrap_or(i64::MAX);
    let now_ns = packet_ns.min(wall_ns);
    let r = context.retention;
    let report = db.purge_expired(now_ns, &r)?;
    stats.purges += 1;
    stats.calls_purged += report.calls_deleted;
    stats.calls_held = report.calls_held;
    stats.traces_purged += report.traces_deleted;
    let m = &context.metrics;
    m.add(Counter::RecordsPurges, 1);
    m.add(Counter::CallRecordsPurged, report.calls_deleted);
    m.add(Counter::TracesPurged, report.traces_deleted);
    tracing::info!(calls_deleted = report.calls_deleted, calls_held = report.calls_held, traces_deleted = report.traces_deleted,
        retention_days = r.call_days, trace_business_days = r.trace_business_days, "records retention purge");
    let detail = serde_json::json!({
        "as_of": crate::Timestamp::from_nanos(u64::try_from(now_ns).unwrap_or(0)).to_rfc3339(),
        "retention": r,
        "report": report,
    });
    context.audit("records-purged", db.name(), detail)
}

/// Mediation's signalling hook for call detail records.
pub struct RecordsObserver {
    tracker: CdrTracker,
    tx: Sender<Msg>,
    buf: Vec<CallRecord>,
    expired: Vec<CallRecord>,
    schedule: PurgeSchedule,
}

impl RecordsObserver {
    /// Hands the records finished so far to the writer.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            let batch = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH));
            // The writer only goes away when the run is finishing; it reports its own error.
            let _ = self.tx.send(Msg::Calls(batch));
        }
    }

    /// Ends the calls still open (end of input) and hands everything over.
    pub fn finish(mut self) -> super::CdrStats {
        let mut rest = Vec::new();
        self.tracker.drain(&mut rest);
        self.buf.append(&mut rest);
        self.flush();
        self.tracker.stats().clone()
    }
}

impl SignallingObserver for RecordsObserver {
    fn on_sip(&mut self, msg: &Message<'_>, dg: &Datagram<'_>) {
        let now_ns = i64::try_from(dg.ts.as_nanos()).unwrap_or(i64::MAX);
        if self.schedule.due(now_ns) {
            // The records finished before this moment go in before the purge judges them.
            self.flush();
            let _ = self.tx.send(Msg::Purge(now_ns));
        }
        let transport = match dg.transport {
            Transport::Udp => "udp",
            Transport::Tcp { .. } => "tcp",
        };
        if let Some(r) = self.tracker.handle_sip(msg, dg.ts, transport) {
            self.buf.push(r);
        }
        self.tracker.poll_timeout(dg.ts, &mut self.expired);
        self.buf.append(&mut self.expired);
        if self.buf.len() >= BATCH {
            self.flush();
        }
    }
}
