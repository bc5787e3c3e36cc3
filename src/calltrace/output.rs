//! Where trace records go: the [`TraceOutput`] trait, its JSON-lines file sink, the state
//! file, and [`CallTracer`], which feeds a [`Tracker`] from mediation's signalling view.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{ChargeRecord, SubscriberOutcome, TraceEvent, TraceRecord};
use super::tracker::{CallTraceStats, TraceState, Tracker};
use super::CallTraceError;
use crate::mediation::{SignallingObserver, SipFacts};
use crate::sip::Message;
use crate::wire::Datagram;

/// The three destinations of a trace. A TLS sink for the Center can implement this too.
pub trait TraceOutput {
    /// The Call Identification Center's record.
    fn trace(&mut self, record: &TraceRecord) -> io::Result<()>;
    /// Billing: one per successful trace.
    fn charge(&mut self, record: &ChargeRecord) -> io::Result<()>;
    /// The subscriber's outcome (no caller identity).
    fn outcome(&mut self, record: &SubscriberOutcome) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// JSON lines under `OUT/`: `cic/traces.jsonl`, `billing/charges.jsonl`,
/// `subscriber/outcomes.jsonl`, each created (truncated) when the sink is made.
pub struct JsonlOutput {
    traces: JsonlFile,
    charges: JsonlFile,
    outcomes: JsonlFile,
}

struct JsonlFile {
    path: PathBuf,
    w: BufWriter<File>,
}

impl JsonlFile {
    fn create(out: &Path, dir: &str, name: &str) -> Result<Self, CallTraceError> {
        let dir = out.join(dir);
        fs::create_dir_all(&dir).map_err(|source| CallTraceError::Io { path: dir.clone(), source })?;
        let path = dir.join(name);
        let f = File::create(&path).map_err(|source| CallTraceError::Io { path: path.clone(), source })?;
        Ok(JsonlFile { path, w: BufWriter::new(f) })
    }

    fn line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, value).map_err(io::Error::other)?;
        self.w.write_all(b"\n")
    }
}

impl JsonlOutput {
    pub fn create(out: &Path) -> Result<Self, CallTraceError> {
        Ok(JsonlOutput {
            traces: JsonlFile::create(out, "cic", "traces.jsonl")?,
            charges: JsonlFile::create(out, "billing", "charges.jsonl")?,
            outcomes: JsonlFile::create(out, "subscriber", "outcomes.jsonl")?,
        })
    }

    /// The files written, in the order traces, charges, outcomes.
    pub fn paths(&self) -> [&Path; 3] {
        [&self.traces.path, &self.charges.path, &self.outcomes.path]
    }
}

impl TraceOutput for JsonlOutput {
    fn trace(&mut self, record: &TraceRecord) -> io::Result<()> {
        self.traces.line(record)
    }

    fn charge(&mut self, record: &ChargeRecord) -> io::Result<()> {
        self.charges.line(record)
    }

    fn outcome(&mut self, record: &SubscriberOutcome) -> io::Result<()> {
        self.outcomes.line(record)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.traces.w.flush()?;
        self.charges.w.flush()?;
        self.outcomes.w.flush()
    }
}

/// Reads a state file; a missing file is a fresh start.
pub fn load_state(path: &Path) -> Result<TraceState, CallTraceError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TraceState::default()),
        Err(source) => return Err(CallTraceError::Io { path: path.to_owned(), source }),
    };
    serde_json::from_slice(&bytes).map_err(|e| CallTraceError::State { path: path.to_owned(), why: e.to_string() })
}

/// Writes a state file atomically (temporary file, then rename).
pub fn save_state(path: &Path, state: &TraceState) -> Result<(), CallTraceError> {
    let io_err = |source| CallTraceError::Io { path: path.to_owned(), source };
    let json = serde_json::to_vec_pretty(state).map_err(|e| io_err(io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, json).map_err(io_err)?;
    fs::rename(&tmp, path).map_err(io_err)
}

/// A [`Tracker`] writing its records to a [`TraceOutput`]; plugs into
/// `Mediator::handle_observed`. The first output error stops output and is kept for
/// [`CallTracer::finish`].
pub struct CallTracer<O: TraceOutput> {
    tracker: Tracker,
    output: O,
    error: Option<io::Error>,
}

impl<O: TraceOutput> CallTracer<O> {
    pub fn new(tracker: Tracker, output: O) -> Self {
        CallTracer { tracker, output, error: None }
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    fn write(&mut self, event: &TraceEvent) -> io::Result<()> {
        if let Some(cic) = &event.cic {
            self.output.trace(cic)?;
        }
        if let Some(charge) = &event.charge {
            self.output.charge(charge)?;
        }
        self.output.outcome(&event.outcome)
    }

    /// Flushes the output; the tracker (for its state) and its counters, or the first
    /// output error.
    pub fn finish(mut self) -> Result<(Tracker, CallTraceStats), io::Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.output.flush()?;
        let stats = self.tracker.stats().clone();
        Ok((self.tracker, stats))
    }
}

impl<O: TraceOutput> SignallingObserver for CallTracer<O> {
    fn on_sip(&mut self, msg: &Message<'_>, _facts: &SipFacts<'_>, dg: &Datagram<'_>) {
        let Some(event) = self.tracker.on_sip(msg, dg.ts) else { return };
        if self.error.is_none() {
            if let Err(e) = self.write(&event) {
                self.error = Some(e);
            }
        }
    }
}
