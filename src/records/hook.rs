//! The desk on a run's signalling hook, the same for `tapline run` and `tapline replay`:
//! [`start`] opens the records [`Writer`] and wires Call Trace to it through [`TraceTee`],
//! the Call Trace output that raises the Center's alarm for each new trace (log and
//! `tapline_trace_alarms_total`), audits `*57`s from lines with Call Trace blocked, and
//! tells the writer which call a `*57` traced; [`DeskObserver`] shows each message to the
//! call detail recorder and then to the tracer.

use std::io;

use crossbeam_channel::Sender;

use super::db::{Db, DbError};
use super::writer::{Msg, RecordsObserver, Writer, WriterContext};
use crate::calltrace::{
    CallTracer, ChargeRecord, Config, SubscriberOutcome, TraceOutput, TraceRecord, TraceResult, TraceState, Tracker,
};
use crate::mediation::{SignallingObserver, SipFacts};
use crate::metrics::Counter;
use crate::sip::Message;
use crate::warrant::Numbering;
use crate::wire::Datagram;
use crate::Timestamp;

/// Call Trace with its output teed to the desk.
pub type DeskTracer<O> = CallTracer<TraceTee<O>>;

/// Starts the desk on a run: the records writer when `records_db` is given (Call Trace then
/// takes its directory and blocked lines from that database), and the tracer when
/// `calltrace` is given. Identities key under the appliance's `numbering`.
pub fn start<O: TraceOutput>(
    records_db: Option<&str>,
    calltrace: Option<(Config, TraceState, O)>,
    numbering: &Numbering,
    context: WriterContext,
) -> Result<(Option<Writer>, DeskObserver<DeskTracer<O>>), DbError> {
    let writer = match records_db {
        Some(spec) => Some(Writer::start(spec, numbering.clone(), context.clone())?),
        None => None,
    };
    let tracer = match calltrace {
        Some((mut config, state, output)) => {
            if let Some(spec) = records_db {
                config.directory = Db::open(spec)?.directory()?;
            }
            let tee = TraceTee { inner: output, tx: writer.as_ref().map(|w| w.tx.clone()), context };
            Some(CallTracer::new(Tracker::with_state(config, state), tee))
        }
        None => None,
    };
    let records = writer.as_ref().map(Writer::observer);
    Ok((writer, DeskObserver { records, tracer }))
}

/// A Call Trace output that also raises the alarm of each new trace, audits blocked `*57`s,
/// and sends each trace to the records writer (when there is one).
pub struct TraceTee<O> {
    inner: O,
    tx: Option<Sender<Msg>>,
    context: WriterContext,
}

impl<O: TraceOutput> TraceOutput for TraceTee<O> {
    fn trace(&mut self, record: &TraceRecord) -> io::Result<()> {
        self.inner.trace(record)?;
        // The alarm: the Center must look at a new trace. No number in the log.
        self.context.metrics.add(Counter::TraceAlarms, 1);
        tracing::warn!(trace_id = %record.trace_id, result = ?record.result, threshold_reached = record.threshold_reached,
            "new trace at the Call Identification Center");
        match &self.tx {
            Some(tx) => tx.send(Msg::Trace(Box::new(record.clone()))).map_err(|_| io::Error::other("the records writer stopped")),
            None => Ok(()),
        }
    }
    fn charge(&mut self, record: &ChargeRecord) -> io::Result<()> {
        self.inner.charge(record)
    }
    fn outcome(&mut self, record: &SubscriberOutcome) -> io::Result<()> {
        self.inner.outcome(record)?;
        match record.result {
            TraceResult::Blocked => {
                tracing::info!(trace_id = %record.trace_id, "*57 from a line with Call Trace blocked: nothing traced");
                let detail = serde_json::json!({ "trace_id": record.trace_id, "time": record.time });
                self.context.audit("trace-refused-blocked", "call-trace", detail).map_err(io::Error::other)
            }
            TraceResult::Success | TraceResult::Failure => Ok(()),
        }
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
    fn on_sip(&mut self, msg: &Message<'_>, facts: &SipFacts<'_>, dg: &Datagram<'_>) {
        if let Some(r) = &mut self.records {
            r.on_sip(msg, facts, dg);
            if self.tracer.is_some() && is_trace_request(msg) {
                r.flush();
            }
        }
        if let Some(t) = &mut self.tracer {
            t.on_sip(msg, facts, dg);
        }
    }

    fn on_batch(&mut self, last: Timestamp) {
        self.records.on_batch(last);
        self.tracer.on_batch(last);
    }
}

/// A `*57` INVITE (Call Trace's request).
fn is_trace_request(msg: &Message<'_>) -> bool {
    let invite = matches!(msg.method(), Some(crate::sip::Method::Invite));
    msg.request_uri().filter(|_| invite).is_some_and(crate::calltrace::tracker::is_trace_code)
}
