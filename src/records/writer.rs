//! Off the hot path: [`RecordsObserver`] (on mediation's signalling hook) runs the
//! [`CdrTracker`] and hands finished records in batches over a bounded channel to the
//! [`Writer`] thread, which inserts them in one transaction per batch. A full channel
//! blocks the signalling stage (back-pressure) rather than drop a record. [`TraceTee`] is
//! the Call Trace output that also tells the writer which call a `*57` traced, so the
//! record is flagged and the Call Identification Center gets its case.

use std::collections::HashSet;
use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::cdr::CdrTracker;
use super::db::{Db, DbError};
use super::CallRecord;
use crate::calltrace::{ChargeRecord, SubscriberOutcome, TraceOutput, TraceRecord};
use crate::mediation::SignallingObserver;
use crate::sip::Message;
use crate::wire::{Datagram, Transport};

/// Records handed over per channel message.
const BATCH: usize = 512;
/// Batches in flight before the signalling stage waits.
const CHANNEL_BATCHES: usize = 256;
/// Longest a finished record waits in the writer before its transaction.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

enum Msg {
    Calls(Vec<CallRecord>),
    Trace(Box<TraceRecord>),
}

/// What the writer stored. No identity appears here.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    pub calls_inserted: u64,
    pub transactions: u64,
    pub calls_traced: u64,
    /// New traces at the Call Identification Center (each raised an alarm).
    pub trace_alarms: u64,
}

/// The writer thread and its channel.
pub struct Writer {
    tx: Sender<Msg>,
    handle: JoinHandle<Result<WriterStats, DbError>>,
}

impl Writer {
    /// Opens the database `spec` (errors come back here, before any traffic) and starts
    /// the writer thread on it.
    pub fn start(spec: &str) -> Result<Writer, DbError> {
        let db = Db::open(spec)?;
        let (tx, rx) = bounded(CHANNEL_BATCHES);
        let handle = std::thread::Builder::new()
            .name("records-writer".into())
            .spawn(move || write_loop(db, rx))
            .map_err(|e| DbError::Invalid(format!("cannot start the records writer: {e}")))?;
        Ok(Writer { tx, handle })
    }

    /// An observer for mediation's signalling hook, feeding this writer; it reads identities
    /// under the carrier's number domains, as mediation does.
    pub fn observer(&self, numbering: crate::warrant::Numbering) -> RecordsObserver {
        RecordsObserver { tracker: CdrTracker::with_numbering(numbering), tx: self.tx.clone(), buf: Vec::with_capacity(BATCH), expired: Vec::new() }
    }


    /// Waits for everything sent to be stored (drop the observers and tees first). The
    /// first database error of the run, if any.
    pub fn finish(self) -> Result<WriterStats, DbError> {
        drop(self.tx);
        self.handle.join().unwrap_or_else(|_| Err(DbError::Invalid("the records writer panicked".into())))
    }
}

fn write_loop(mut db: Db, rx: Receiver<Msg>) -> Result<WriterStats, DbError> {
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
    if let Some(call) = trace.traced_call.as_ref().filter(|_| trace.calling_number.is_some()) {
        if db.mark_traced(&call.call_id)? {
            stats.calls_traced += 1;
        } else {
            pending.insert(call.call_id.clone());
        }
    }
    let stored = db.record_trace(trace)?;
    stats.trace_alarms += 1;
    // The alarm: the Center must look at a new trace. No number in the log.
    tracing::warn!(trace_id = %stored.trace_id, case_id = %stored.case_id, threshold_reached = stored.threshold_reached,
        "new trace at the Call Identification Center");
    Ok(())
}

/// Mediation's signalling hook for call detail records.
pub struct RecordsObserver {
    tracker: CdrTracker,
    tx: Sender<Msg>,
    buf: Vec<CallRecord>,
    expired: Vec<CallRecord>,
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

/// A Call Trace output that also sends each trace to the records writer (when there is one).
pub struct TraceTee<O> {
    inner: O,
    tx: Option<Sender<Msg>>,
}

impl<O: TraceOutput> TraceTee<O> {
    /// Forwards to `inner`, and tells `writer` of each trace.
    pub fn new(writer: Option<&Writer>, inner: O) -> Self {
        TraceTee { inner, tx: writer.map(|w| w.tx.clone()) }
    }
}

impl<O: TraceOutput> TraceOutput for TraceTee<O> {
    fn trace(&mut self, record: &TraceRecord) -> io::Result<()> {
        self.inner.trace(record)?;
        match &self.tx {
            Some(tx) => tx.send(Msg::Trace(Box::new(record.clone()))).map_err(|_| io::Error::other("the records writer stopped")),
            None => Ok(()),
        }
    }
    fn charge(&mut self, record: &ChargeRecord) -> io::Result<()> {
        self.inner.charge(record)
    }
    fn outcome(&mut self, record: &SubscriberOutcome) -> io::Result<()> {
        self.inner.outcome(record)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Call detail records and Call Trace on one signalling hook: a message is shown to the
/// recorder first, and before a `*57` reaches the tracer the records finished so far are
/// handed over, so the writer has the traced call before the trace.
pub struct DeskObserver<T> {
    pub records: Option<RecordsObserver>,
    pub tracer: Option<T>,
}

impl<T: SignallingObserver> SignallingObserver for DeskObserver<T> {
    fn on_sip(&mut self, msg: &Message<'_>, dg: &Datagram<'_>) {
        if let Some(r) = &mut self.records {
            r.on_sip(msg, dg);
            if let Some(uri) = msg.request_uri().filter(|_| matches!(msg.method(), Some(crate::sip::Method::Invite))) {
                if crate::calltrace::tracker::is_trace_code(uri) {
                    r.flush();
                }
            }
        }
        if let Some(t) = &mut self.tracer {
            t.on_sip(msg, dg);
        }
    }
}
