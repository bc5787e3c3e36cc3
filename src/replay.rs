//! The replay job: a capture file through decoding and mediation to each agency's
//! `hi2.ber`/`hi3.ber` files (`laes` agencies: `hi2.ber`/`hi3.ccc`) and a `summary.json`;
//! optionally call trace (`*57`) records.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::calltrace::{self, CallTraceError, CallTraceStats, JsonlOutput};
use std::sync::atomic::AtomicBool;

use crate::capture::CaptureError;
use crate::metrics::Metrics;
use crate::pipeline::{self, FrameSource, NoHook, PipelineConfig, PipelineError};
pub use crate::pipeline::LatencySummary;
use crate::handover::sequencer::{AgencyOutput, Channel, LiidCounts, Sequencer};
use crate::mediation::{CinAllocator, MediationStats, Mediator, MediatorConfig};
use crate::warrant::{Profile, Store, WarrantError, WarrantTable};
use crate::wire::DecodeStats;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("warrants: {0}")]
    Warrants(#[from] WarrantError),
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("call trace: {0}")]
    CallTrace(#[from] CallTraceError),
    #[error("{0}")]
    Pipeline(#[from] PipelineError),
    #[error("records: {0}")]
    Records(#[from] crate::records::DbError),
}

/// Optional services of a replay.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Call Trace (`*57`) configuration: records go to `OUT/cic`, `OUT/billing` and
    /// `OUT/subscriber`.
    pub calltrace: Option<PathBuf>,
    /// Call trace state (running counts, trace ids) read before and saved after the run.
    pub calltrace_state: Option<PathBuf>,
    /// Threads: the default runs capture, signalling, one media shard and encoding each on
    /// its own thread; `PipelineConfig::single_threaded()` runs all on the caller's.
    pub pipeline: PipelineConfig,
    /// Call timers (idle expiry, linger after the end).
    pub mediator: MediatorConfig,
    /// Call detail records of every call to this database (a SQLite file, or
    /// `postgres://…`); Call Trace then reads its directory from it (see `records`).
    pub records_db: Option<String>,
    /// How long the records database keeps calls and traces (purged at the first packet and
    /// each new UTC day of packet time).
    pub retention: crate::records::Retention,
    /// Count into these metrics (e.g. served on an endpoint) rather than the replay's own.
    pub metrics: Option<Arc<Metrics>>,
    /// Release the capture's frames paced at this rate, each at its scheduled time (see
    /// [`crate::capture::Rate`]); None reads as fast as the pipeline takes them.
    pub rate: Option<crate::capture::Rate>,
}

/// Bytes written per agency.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AgencyBytes {
    /// The content stream's file name: `hi3.ber` (etsi) or `hi3.ccc` (laes).
    pub hi3_file: &'static str,
    pub hi2_bytes: u64,
    pub hi3_bytes: u64,
}

/// What a replay read, saw and wrote. Targets never appear here.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub capture: PathBuf,
    pub packets_read: u64,
    pub bytes_read: u64,
    /// Packets the decoder could not parse (counted and skipped).
    pub malformed: u64,
    pub capture_errors: Vec<String>,
    pub sip_messages: u64,
    pub calls_seen: u64,
    pub calls_intercepted: u64,
    pub warrants_loaded: usize,
    pub warrants_refused: usize,
    /// Per LIID: agency, IRI and CC records, communications (CINs).
    pub liids: BTreeMap<String, LiidCounts>,
    pub agencies: BTreeMap<String, AgencyBytes>,
    pub first_packet: Option<String>,
    pub last_packet: Option<String>,
    pub decode: DecodeStats,
    pub mediation: MediationStats,
    /// Call trace counters (no identities), when call trace is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calltrace: Option<CallTraceStats>,
    /// Wall-clock time from reading a packet's batch to its records being encoded.
    pub latency: LatencySummary,
    /// Wall-clock seconds of the packet pipeline itself: from its start to the last record
    /// encoded, before the agency files are flushed and the records writer drains.
    pub pipeline_secs: f64,
    /// Call detail records written, when a records database is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<crate::records::WriterStats>,
}

/// Writes each agency's PDUs to `OUT/AGENCY/hi2.ber` and `hi3.ber` (`hi3.ccc` for a `laes`
/// agency), creating a file only when its first PDU arrives (an agency with no records gets
/// no bytes).
pub struct FileOutput {
    dir: PathBuf,
    agency_ids: Vec<String>,
    profiles: Vec<Profile>,
    files: HashMap<(usize, Channel), BufWriter<File>>,
    bytes: Vec<AgencyBytes>,
    /// When the oldest PDU not yet written out to its file went into a buffer.
    held_since: Option<Instant>,
    error: Option<ReplayError>,
}

/// How long a PDU may wait in a file's buffer before it is written out.
const FILE_FLUSH_AFTER: Duration = Duration::from_millis(1);

impl FileOutput {
    /// `profiles[i]` is the profile of agency `agency_ids[i]` (missing: `etsi`).
    pub fn new(dir: &Path, agency_ids: Vec<String>, profiles: Vec<Profile>) -> Self {
        let bytes = (0..agency_ids.len())
            .map(|i| {
                let profile = profiles.get(i).copied().unwrap_or(Profile::Etsi);
                AgencyBytes { hi3_file: stream_file_name(profile, Channel::Hi3), ..AgencyBytes::default() }
            })
            .collect();
        FileOutput { dir: dir.to_owned(), agency_ids, profiles, files: HashMap::new(), bytes, held_since: None, error: None }
    }

    fn path(&self, agency: usize, channel: Channel) -> PathBuf {
        let id = self.agency_ids.get(agency).map(String::as_str).unwrap_or("unknown");
        let profile = self.profiles.get(agency).copied().unwrap_or(Profile::Etsi);
        self.dir.join(id).join(stream_file_name(profile, channel))
    }

    fn open(&self, agency: usize, channel: Channel) -> Result<BufWriter<File>, ReplayError> {
        let path = self.path(agency, channel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| ReplayError::Io { path: parent.to_owned(), source })?;
        }
        let f = File::create(&path).map_err(|source| ReplayError::Io { path, source })?;
        Ok(BufWriter::with_capacity(256 * 1024, f))
    }

    /// Flushes every file; the first I/O error of the run, if any.
    pub fn finish(mut self) -> Result<BTreeMap<String, AgencyBytes>, ReplayError> {
        for ((agency, channel), mut w) in std::mem::take(&mut self.files) {
            if let Err(source) = w.flush() {
                let path = self.path(agency, channel);
                self.error.get_or_insert(ReplayError::Io { path, source });
            }
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(self.agency_ids.into_iter().zip(self.bytes).collect())
    }
}

impl AgencyOutput for FileOutput {
    fn write_pdu(&mut self, agency: usize, channel: Channel, pdu: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if !self.files.contains_key(&(agency, channel)) {
            match self.open(agency, channel) {
                Ok(w) => {
                    self.files.insert((agency, channel), w);
                }
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
        let Some(w) = self.files.get_mut(&(agency, channel)) else { return };
        if let Err(source) = w.write_all(pdu) {
            self.error = Some(ReplayError::Io { path: self.path(agency, channel), source });
            return;
        }
        self.held_since.get_or_insert_with(Instant::now);
        if let Some(b) = self.bytes.get_mut(agency) {
            match channel {
                Channel::Hi2 => b.hi2_bytes += pdu.len() as u64,
                Channel::Hi3 => b.hi3_bytes += pdu.len() as u64,
            }
        }
    }

    fn held_until(&self) -> Option<Instant> {
        self.held_since.map(|since| since + FILE_FLUSH_AFTER)
    }

    /// Writes every file's buffer out; the first error stops further output (as in
    /// `write_pdu`) and is returned by [`FileOutput::finish`].
    fn flush(&mut self) {
        if self.held_since.take().is_none() || self.error.is_some() {
            return;
        }
        let mut failed = None;
        for (&(agency, channel), w) in &mut self.files {
            if let Err(source) = w.flush() {
                failed.get_or_insert((agency, channel, source));
            }
        }
        if let Some((agency, channel, source)) = failed {
            self.error = Some(ReplayError::Io { path: self.path(agency, channel), source });
        }
    }
}

/// The file an agency's stream is written to (its profile's name for it): `hi2.ber`, and
/// `hi3.ber` (`etsi` PS-PDUs) or `hi3.ccc` (`laes` CCC frames, which are not BER).
pub fn stream_file_name(profile: Profile, channel: Channel) -> &'static str {
    profile.handover().stream_file_name(channel)
}

/// Replays `capture` against the warrants in `warrants_dir`, writing into `out`.
/// Invalid warrant files are refused (returned beside the summary) and do not stop the run.
pub fn replay(capture: &Path, warrants_dir: &Path, out: &Path) -> Result<(Summary, Vec<WarrantError>), ReplayError> {
    replay_with(capture, warrants_dir, out, &ReplayOptions::default())
}

/// [`replay`] with optional services (call trace).
pub fn replay_with(
    capture: &Path,
    warrants_dir: &Path,
    out: &Path,
    options: &ReplayOptions,
) -> Result<(Summary, Vec<WarrantError>), ReplayError> {
    let (store, refused) = Store::load_dir(warrants_dir)?;
    fs::create_dir_all(out).map_err(|source| ReplayError::Io { path: out.to_owned(), source })?;
    let warrants_loaded = store.warrants.len();
    let liids: Vec<(String, String)> =
        store.warrants.iter().map(|w| (w.liid.as_str().to_owned(), w.agency.clone())).collect();
    let numbering = store.appliance.numbering.clone();
    let table = Arc::new(WarrantTable::with_numbering(store.warrants, numbering.clone()));
    let agency_ids: Vec<String> = store.agencies.iter().map(|a| a.id.clone()).collect();
    // Streams of an earlier run in the same directory must not pass for this run's.
    for id in &agency_ids {
        let names = Profile::ALL.into_iter().flat_map(|p| [Channel::Hi2, Channel::Hi3].map(|c| stream_file_name(p, c)));
        for name in names {
            let stale = out.join(id).join(name);
            if stale.exists() {
                fs::remove_file(&stale).map_err(|source| ReplayError::Io { path: stale, source })?;
            }
        }
    }
    let profiles = store.agencies.iter().map(|a| a.profile).collect();
    let output = FileOutput::new(out, agency_ids, profiles);
    let sequencer = Sequencer::new(store.appliance, store.agencies, output);
    let mediator = Mediator::with_config(table, options.mediator, CinAllocator::new());
    let calltrace = match &options.calltrace {
        Some(path) => {
            let config = calltrace::Config::load(path, &numbering)?;
            let state = match &options.calltrace_state {
                Some(p) => calltrace::load_state(p)?,
                None => calltrace::TraceState::default(),
            };
            Some((config, state, JsonlOutput::create(out)?))
        }
        None => None,
    };
    let metrics = options.metrics.clone().unwrap_or_default();
    let context = crate::records::WriterContext { metrics: Arc::clone(&metrics), audit: None, retention: options.retention };
    let (writer, observer) = crate::records::hook::start(options.records_db.as_deref(), calltrace, &numbering, context)?;
    let source = FrameSource::Pcap { path: capture.to_owned(), rate: options.rate };
    let stop = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let done = pipeline::run(&source, mediator, observer, sequencer, NoHook::default(), &stop, &options.pipeline, &metrics)?;
    let pipeline_secs = started.elapsed().as_secs_f64();
    let sequencer = done.encoder;
    let liid_counts = sequencer.counts_of_all(liids);
    let agencies = sequencer.into_output().finish()?;
    let crate::records::DeskObserver { records, tracer } = done.observer;
    if let Some(r) = records {
        r.finish();
    }
    let calltrace = match tracer {
        Some(t) => {
            let (tracker, stats) = t.finish().map_err(|source| ReplayError::Io { path: out.to_owned(), source })?;
            if let Some(p) = &options.calltrace_state {
                calltrace::save_state(p, &tracker.state())?;
            }
            Some(stats)
        }
        None => None,
    };
    let records = match writer {
        Some(w) => Some(w.finish()?),
        None => None,
    };
    let (m, capture_stats, decode) = (done.mediation, done.capture, done.decode);
    let summary = Summary {
        capture: capture.to_owned(),
        packets_read: capture_stats.frames,
        bytes_read: capture_stats.bytes,
        malformed: decode.malformed,
        capture_errors: capture_stats.errors,
        sip_messages: m.sip_messages,
        calls_seen: m.calls_seen,
        calls_intercepted: m.calls_intercepted,
        warrants_loaded,
        warrants_refused: refused.len(),
        liids: liid_counts,
        agencies,
        first_packet: capture_stats.first.map(|t| t.to_rfc3339()),
        last_packet: capture_stats.last.map(|t| t.to_rfc3339()),
        decode,
        mediation: m,
        calltrace,
        latency: LatencySummary::of(&metrics),
        pipeline_secs,
        records,
    };
    let path = out.join("summary.json");
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| ReplayError::Io {
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    fs::write(&path, json).map_err(|source| ReplayError::Io { path, source })?;
    Ok((summary, refused))
}
