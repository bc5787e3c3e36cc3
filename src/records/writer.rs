//! Off the hot path: [`RecordsObserver`] (on mediation's signalling hook, the pipeline's
//! critical path) only copies what the call detail recorder reads of each SIP message into
//! a [`SignalBatch`] and hands the batches over a bounded channel to the [`Writer`] thread,
//! which runs the [`CdrTracker`] on them and inserts the finished records in transactions
//! of up to [`TRANSACTION`] records. A full channel blocks the signalling stage (back-pressure) rather than drop
//! a record. The observer also keeps the [`PurgeSchedule`]: at the first packet and each new
//! UTC day of packet time it asks the writer for the retention purge, which is logged,
//! counted and audited.
//!
//! Durability: call records are business records, not intercepts. The writer commits at
//! least every [`FLUSH_EVERY`] and SQLite runs WAL with `synchronous=NORMAL` (see `db`), so
//! a crash or power cut may lose the calls that ended in the last second or so (and those
//! still in progress, which have no record yet); it never corrupts the database. Intercepts
//! go through the spool, which has its own, stronger contract. After a commit with nothing
//! waiting, the writer checkpoints SQLite's write-ahead log in its idle time, so that the
//! end of a run (closing the database) has little left to copy and sync.
//!
//! Priority: for the same reason the writer thread runs at a lower scheduling priority
//! ([`WRITER_NICE`]) than the interception threads: when the cores are busy, interception
//! runs first and the records wait (bounded by the channel, then back-pressure); on an
//! idle core the writer keeps up as before.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

pub use super::observer::RecordsObserver;

use super::cdr::CdrTracker;
use super::db::{Db, DbError};
use super::purge::Retention;
use super::signals::SignalBatch;
use super::CallRecord;
use crate::audit::{AuditLog, Event, ProvisioningAct};
use crate::calltrace::TraceRecord;
use crate::metrics::{Counter, Metrics};

/// Finished records per transaction, at most. Small enough that the inserts of a busy
/// link go in as its calls end rather than in one large transaction at the end of a
/// replay, where the whole run waits for them (1,024 rows take a few ms).
const TRANSACTION: usize = 1024;
/// Batches in flight before the signalling stage waits (each at most ~1 MiB of messages).
const CHANNEL_BATCHES: usize = 64;
/// Emptied batches the writer hands back to the observer for reuse (their buffers keep
/// their capacity: no page is faulted in on the signalling thread or freed on the writer's
/// for each batch); a batch the observer has no room for is dropped.
const RECYCLED_BATCHES: usize = 4;
/// The writer thread's nice value (Linux: per thread), above the interception threads' 0.
pub const WRITER_NICE: i32 = 10;
/// Longest a finished record waits in the writer before its transaction.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Who the audit trail names for the retention purge.
pub const PURGE_ACTOR: &str = "records-retention";

pub(super) enum Msg {
    /// SIP messages for the recorder, in capture order.
    Signals(SignalBatch),
    /// End of input: the calls still open end at their last message.
    Drain,
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
    /// Emptied batches coming back from the writer thread.
    recycled: Receiver<SignalBatch>,
    handle: JoinHandle<Result<WriterStats, DbError>>,
}

impl Writer {
    /// Opens the database `spec` (errors come back here, before any traffic) and starts
    /// the writer thread on it, with the call detail recorder reading identities under the
    /// carrier's number domains, as mediation does.
    pub fn start(spec: &str, numbering: crate::warrant::Numbering, context: WriterContext) -> Result<Writer, DbError> {
        let db = Db::open(spec)?;
        let (tx, rx) = bounded(CHANNEL_BATCHES);
        let (recycle, recycled) = bounded(RECYCLED_BATCHES);
        let tracker = CdrTracker::with_numbering(numbering);
        let handle = std::thread::Builder::new()
            .name("records-writer".into())
            .spawn(move || {
                lower_priority();
                write_loop(db, rx, recycle, tracker, &context)
            })
            .map_err(|e| DbError::Invalid(format!("cannot start the records writer: {e}")))?;
        Ok(Writer { tx, recycled, handle })
    }

    /// The observer for mediation's signalling hook, feeding this writer's recorder (one
    /// per writer: the recorder follows one stream of messages).
    pub fn observer(&self) -> RecordsObserver {
        RecordsObserver::new(self.tx.clone(), self.recycled.clone())
    }

    /// Waits for everything sent to be stored (drop the observers and tees first). The
    /// first database error of the run, if any.
    pub fn finish(self) -> Result<WriterStats, DbError> {
        drop(self.tx);
        self.handle.join().unwrap_or_else(|_| Err(DbError::Invalid("the records writer panicked".into())))
    }
}

/// Finished records waiting for their transaction, and `*57` traces of calls not stored
/// yet (still in progress when traced).
#[derive(Default)]
struct Pending {
    calls: Vec<CallRecord>,
    traced: HashSet<String>,
    /// When the oldest waiting record finished (wall clock): it is committed by then + [`FLUSH_EVERY`].
    since: Option<Instant>,
}

impl Pending {
    /// Inserts the waiting records in one transaction.
    fn flush(&mut self, db: &mut Db, stats: &mut WriterStats) -> Result<(), DbError> {
        self.since = None;
        if self.calls.is_empty() {
            return Ok(());
        }
        for r in self.calls.iter_mut() {
            if self.traced.remove(&r.call_id) {
                r.traced = true;
            }
        }
        let result = db.insert_calls(&self.calls);
        if result.is_ok() {
            stats.calls_inserted += self.calls.len() as u64;
            stats.transactions += 1;
        }
        self.calls.clear();
        result
    }

    /// Notes that records were added now; true when the transaction is due.
    fn added(&mut self) -> bool {
        if !self.calls.is_empty() {
            self.since.get_or_insert_with(Instant::now);
        }
        self.calls.len() >= TRANSACTION || self.since.is_some_and(|t| t.elapsed() >= FLUSH_EVERY)
    }
}

/// Gives the calling thread [`WRITER_NICE`]; where it cannot, the writer runs at the
/// process's priority (said at INFO: records are still written, only sooner).
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers; on Linux
    // PRIO_PROCESS with a thread id sets that one thread's nice value.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, WRITER_NICE)
    };
    if result != 0 {
        tracing::info!(error = %std::io::Error::last_os_error(), nice = WRITER_NICE,
            "records writer keeps the process's scheduling priority");
    }
}

fn write_loop(
    mut db: Db,
    rx: Receiver<Msg>,
    recycle: Sender<SignalBatch>,
    mut tracker: CdrTracker,
    context: &WriterContext,
) -> Result<WriterStats, DbError> {
    let mut stats = WriterStats::default();
    let mut pending = Pending::default();
    let mut first_error: Option<DbError> = None;
    loop {
        let committed = stats.transactions;
        // Sleep until a message comes or the oldest waiting record is due.
        let msg = match pending.since {
            Some(t) => match rx.recv_deadline(t + FLUSH_EVERY) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        let result = match msg {
            Some(Msg::Signals(mut signals)) => {
                signals.replay(&mut tracker, &mut pending.calls);
                signals.clear();
                // Full: the observer has spares enough; this one is freed.
                let _ = recycle.try_send(signals);
                if pending.added() {
                    pending.flush(&mut db, &mut stats)
                } else {
                    Ok(())
                }
            }
            Some(Msg::Drain) => {
                tracker.drain(&mut pending.calls);
                pending.flush(&mut db, &mut stats)
            }
            Some(Msg::Trace(trace)) => {
                pending.flush(&mut db, &mut stats).and_then(|()| store_trace(&mut db, &trace, &mut pending.traced, &mut stats))
            }
            Some(Msg::Purge(packet_ns)) => {
                pending.flush(&mut db, &mut stats).and_then(|()| purge(&mut db, packet_ns, context, &mut stats))
            }
            None => pending.flush(&mut db, &mut stats),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "records database write failed; records of this batch are not stored");
            first_error.get_or_insert(e);
        } else if stats.transactions > committed && rx.is_empty() {
            if let Err(e) = db.checkpoint() {
                // The records are committed; only their copy into the database file waits.
                tracing::error!(error = %e, "records database checkpoint failed; the records stay in its write-ahead log");
                first_error.get_or_insert(e);
            }
        }
    }
    // Calls still open when the observer went away without its end of input.
    tracker.drain(&mut pending.calls);
    let s = tracker.stats();
    tracing::info!(calls_started = s.calls_started, records = s.records_written, calls_expired = s.calls_expired,
        messages_without_call = s.messages_without_call, invites_unreadable = s.invites_unreadable, "call detail recorder finished");
    if let Err(e) = pending.flush(&mut db, &mut stats) {
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
