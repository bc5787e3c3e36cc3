//! Operational metrics shared by the pipeline threads: typed relaxed-atomic counters and gauges,
//! per-stage latency histograms, rendered for Prometheus and as JSON; beside them the state
//! of each agency interface, the warrants by lifecycle state and the build. Labels are
//! stages, agency ids, interfaces and states only: never a target identity, never a
//! per-LIID series; nothing locks on the per-packet path.

mod json;
mod latency;
mod prometheus;
mod server;
mod state;

pub use json::snapshot_json;
pub use latency::{LatencyRecorder, Percentiles};
pub use prometheus::{render_prometheus, FAMILIES as PROMETHEUS_FAMILIES, LATENCY_BUCKETS_NS};
pub use server::{serve, MetricsError, MetricsServer};
pub use state::{BuildInfo, InterfaceSample, Readiness, WarrantState, BUILD};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use latency::StageLatency;

/// A stage of the pipeline: where latency is measured and where drops are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reading packets (file or NIC); its drops are kernel/interface loss.
    Capture,
    /// Link to transport decoding; its drops are packets refused by a full capture → decode queue.
    Decode,
    /// SIP parsing and call tracking; its drops are messages refused by a full queue into it.
    Signalling,
    /// RTP lookup and tapping in the media shards; its drops: full decode → media queues.
    Media,
    /// PS-PDU encoding of IRI and CC; its drops: full queues into the encoder.
    Encode,
    /// Spooling and sending to agencies; its drops: records that could not be spooled.
    Delivery,
}

impl Stage {
    pub const COUNT: usize = 6;
    pub const ALL: [Stage; Stage::COUNT] =
        [Stage::Capture, Stage::Decode, Stage::Signalling, Stage::Media, Stage::Encode, Stage::Delivery];

    /// The label value (`stage="decode"`) and JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Capture => "capture",
            Stage::Decode => "decode",
            Stage::Signalling => "signalling",
            Stage::Media => "media",
            Stage::Encode => "encode",
            Stage::Delivery => "delivery",
        }
    }
}

/// A monotonic count of things that happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    Packets,
    Bytes,
    MalformedPackets,
    SipMessages,
    CallsSeen,
    CallsIntercepted,
    TapsInstalled,
    MediaPacketsTapped,
    IriRecords,
    CcRecords,
    RecordsSpooled,
    RecordsConfirmed,
    SpoolDiskFull,
    TraceAlarms,
    CallRecordsPurged,
    TracesPurged,
    RecordsPurges,
}

impl Counter {
    pub const COUNT: usize = 17;
    pub const ALL: [Counter; Counter::COUNT] = [
        Counter::Packets,
        Counter::Bytes,
        Counter::MalformedPackets,
        Counter::SipMessages,
        Counter::CallsSeen,
        Counter::CallsIntercepted,
        Counter::TapsInstalled,
        Counter::MediaPacketsTapped,
        Counter::IriRecords,
        Counter::CcRecords,
        Counter::RecordsSpooled,
        Counter::RecordsConfirmed,
        Counter::SpoolDiskFull,
        Counter::TraceAlarms,
        Counter::CallRecordsPurged,
        Counter::TracesPurged,
        Counter::RecordsPurges,
    ];

    /// The JSON key; the Prometheus name is `tapline_<name>_total`.
    pub fn name(self) -> &'static str {
        match self {
            Counter::Packets => "packets",
            Counter::Bytes => "bytes",
            Counter::MalformedPackets => "malformed_packets",
            Counter::SipMessages => "sip_messages",
            Counter::CallsSeen => "calls_seen",
            Counter::CallsIntercepted => "calls_intercepted",
            Counter::TapsInstalled => "taps_installed",
            Counter::MediaPacketsTapped => "media_packets_tapped",
            Counter::IriRecords => "iri_records",
            Counter::CcRecords => "cc_records",
            Counter::RecordsSpooled => "records_spooled",
            Counter::RecordsConfirmed => "records_confirmed",
            Counter::SpoolDiskFull => "spool_disk_full",
            Counter::TraceAlarms => "trace_alarms",
            Counter::CallRecordsPurged => "call_records_purged",
            Counter::TracesPurged => "traces_purged",
            Counter::RecordsPurges => "records_purges",
        }
    }

    /// The `# HELP` text.
    pub fn help(self) -> &'static str {
        match self {
            Counter::Packets => "Packets read from the capture source.",
            Counter::Bytes => "Bytes of the packets read from the capture source (captured length).",
            Counter::MalformedPackets => "Packets that failed to decode.",
            Counter::SipMessages => "SIP messages parsed.",
            Counter::CallsSeen => "SIP calls tracked.",
            Counter::CallsIntercepted => "Calls that matched an active warrant.",
            Counter::TapsInstalled => "Media taps installed for intercepted calls.",
            Counter::MediaPacketsTapped => "Media packets copied by a tap.",
            Counter::IriRecords => "IRI records encoded.",
            Counter::CcRecords => "CC records encoded.",
            Counter::RecordsSpooled => "Records written to an agency spool.",
            Counter::RecordsConfirmed => "Records whose delivery an agency confirmed.",
            Counter::SpoolDiskFull => "Times a spool's file system reached its headroom and the pipeline was held (alarm).",
            Counter::TraceAlarms => "New *57 traces at the Call Identification Center (alarm: an analyst must look).",
            Counter::CallRecordsPurged => "Call detail records deleted by the retention purge.",
            Counter::TracesPurged => "Call Identification Center traces deleted by the retention purge.",
            Counter::RecordsPurges => "Retention purges of the records database run (daily, by packet time).",
        }
    }
}

/// A level that goes up and down; each has one owner that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gauge {
    /// Every SIP call tracked, intercepted or not.
    ActiveCalls,
    /// Tracked calls with at least one intercept.
    InterceptedCalls,
    /// Bytes held in all agency spools, not yet confirmed.
    SpoolBytes,
}

impl Gauge {
    pub const COUNT: usize = 3;
    pub const ALL: [Gauge; Gauge::COUNT] = [Gauge::ActiveCalls, Gauge::InterceptedCalls, Gauge::SpoolBytes];

    /// The JSON key; the Prometheus name is `tapline_<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Gauge::ActiveCalls => "active_calls",
            Gauge::InterceptedCalls => "intercepted_calls",
            Gauge::SpoolBytes => "spool_bytes",
        }
    }

    /// The `# HELP` text.
    pub fn help(self) -> &'static str {
        match self {
            Gauge::ActiveCalls => "SIP calls currently tracked, intercepted or not.",
            Gauge::InterceptedCalls => "Calls currently tracked that matched an active warrant.",
            Gauge::SpoolBytes => "Bytes spooled for agencies and not yet confirmed.",
        }
    }
}

/// One atomic on a cache line of its own, so threads counting different things do not
/// contend.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Cell(AtomicU64);

/// The metrics of one run, shared by every thread as `Arc<Metrics>`.
pub struct Metrics {
    counters: [Cell; Counter::COUNT],
    drops: [Cell; Stage::COUNT],
    gauges: [Cell; Gauge::COUNT],
    queue_depths: [Cell; Stage::COUNT],
    latency: [Mutex<StageLatency>; Stage::COUNT],
    states: state::States,
    /// X1 counters by POI id and outcome or kind (not on the packet path).
    x1: Mutex<std::collections::BTreeMap<(X1Family, String, &'static str), u64>>,
}

/// The X1 counter families (labels: the POI's id from pois.toml and an outcome or kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum X1Family {
    /// X1 requests the ADMF sent, by POI and outcome (`ok`, `refused`, `unreachable`).
    Requests,
    /// X1 fault reports received from POIs, by POI and report kind.
    Reports,
    /// The same reports by POI and message (`ReportTaskIssue`, `ReportDestinationIssue`,
    /// `ReportNEIssue`).
    ReportMessages,
}

impl X1Family {
    pub const ALL: [X1Family; 3] = [X1Family::Requests, X1Family::Reports, X1Family::ReportMessages];

    pub fn name(self) -> &'static str {
        match self {
            X1Family::Requests => "tapline_x1_requests_total",
            X1Family::Reports => "tapline_x1_reports_total",
            X1Family::ReportMessages => "tapline_x1_report_messages_total",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            X1Family::Requests => "X1 requests sent to points of interception, by POI and outcome.",
            X1Family::Reports => "X1 issue reports received from points of interception, by POI and kind.",
            X1Family::ReportMessages => "X1 issue reports received from points of interception, by POI and message.",
        }
    }

    /// The second label's name.
    pub fn label(self) -> &'static str {
        match self {
            X1Family::Requests => "outcome",
            X1Family::Reports => "kind",
            X1Family::ReportMessages => "message",
        }
    }
}

impl std::fmt::Debug for Metrics {
    /// Counters only: the histograms are too large to print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Metrics");
        for counter in Counter::ALL {
            d.field(counter.name(), &self.get(counter));
        }
        d.finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            counters: Default::default(),
            drops: Default::default(),
            gauges: Default::default(),
            queue_depths: Default::default(),
            latency: std::array::from_fn(|_| Mutex::new(StageLatency::new())),
            states: state::States::default(),
            x1: Mutex::default(),
        }
    }

    /// Counts `n` more of an X1 family for POI `poi` and `value` (outcome or kind).
    pub fn add_x1(&self, family: X1Family, poi: &str, value: &'static str, n: u64) {
        let mut map = self.x1.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((family, poi.to_owned(), value)).or_default() += n;
    }

    /// The samples of an X1 family: (POI, outcome or kind, count).
    pub fn x1(&self, family: X1Family) -> Vec<(String, &'static str, u64)> {
        let map = self.x1.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().filter(|((f, _, _), _)| *f == family).map(|((_, poi, v), n)| (poi.clone(), *v, *n)).collect()
    }

    /// Counts `n` more of `counter`.
    #[inline]
    pub fn add(&self, counter: Counter, n: u64) {
        self.counters[counter as usize].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].0.load(Ordering::Relaxed)
    }

    /// Counts `n` packets or records lost at `stage` (see [`Stage`] for what each means).
    #[inline]
    pub fn add_drops(&self, stage: Stage, n: u64) {
        self.drops[stage as usize].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn drops(&self, stage: Stage) -> u64 {
        self.drops[stage as usize].0.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn set_gauge(&self, gauge: Gauge, value: u64) {
        self.gauges[gauge as usize].0.store(value, Ordering::Relaxed);
    }

    pub fn gauge(&self, gauge: Gauge) -> u64 {
        self.gauges[gauge as usize].0.load(Ordering::Relaxed)
    }

    /// Items waiting in the input queue of `stage`.
    #[inline]
    pub fn set_queue_depth(&self, stage: Stage, depth: u64) {
        self.queue_depths[stage as usize].0.store(depth, Ordering::Relaxed);
    }

    pub fn queue_depth(&self, stage: Stage) -> u64 {
        self.queue_depths[stage as usize].0.load(Ordering::Relaxed)
    }

    /// Latency percentiles of `stage` over the whole run; `None` before anything was flushed.
    pub fn latency(&self, stage: Stage) -> Option<Percentiles> {
        self.stage_latency(stage).percentiles()
    }

    /// How many of `stage`'s samples took at most `le_ns` nanoseconds (a histogram bucket),
    /// and all its samples.
    pub fn latency_at_most(&self, stage: Stage, le_ns: u64) -> (u64, u64) {
        self.stage_latency(stage).at_most(le_ns)
    }

    /// Replaces the agency interfaces' delivery state (the run publishes it every 50 ms).
    pub fn set_interfaces(&self, samples: Vec<InterfaceSample>) {
        self.states.set_interfaces(samples);
    }

    pub fn interfaces(&self) -> Vec<InterfaceSample> {
        self.states.interfaces()
    }

    /// Sets the number of warrants in each state, indexed as [`WarrantState::ALL`].
    pub fn set_warrant_states(&self, counts: [u64; 4]) {
        self.states.set_warrants(counts);
    }

    pub fn warrants(&self, state: WarrantState) -> u64 {
        self.states.warrants(state)
    }

    /// Marks the pipeline as running (true once started, false when it ends).
    pub fn set_running(&self, running: bool) {
        self.states.running.store(running, Ordering::Relaxed);
    }

    /// Ready: the pipeline runs and every agency interface is connected.
    pub fn readiness(&self) -> Readiness {
        if !self.states.running.load(Ordering::Relaxed) {
            return Readiness::NotRunning;
        }
        let down: Vec<String> = self
            .interfaces()
            .iter()
            .filter(|i| !i.connected)
            .map(|i| format!("{}/{}", i.agency, i.interface))
            .collect();
        if down.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotConnected(down)
        }
    }

    /// The shared histogram of `stage`, locked. A poisoned lock still holds valid counts.
    fn stage_latency(&self, stage: Stage) -> std::sync::MutexGuard<'_, StageLatency> {
        self.latency[stage as usize].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_tables_are_in_discriminant_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{c:?}");
        }
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i, "{s:?}");
        }
        for (i, g) in Gauge::ALL.iter().enumerate() {
            assert_eq!(*g as usize, i, "{g:?}");
        }
    }

    #[test]
    fn counters_drops_and_gauges_are_kept_apart() {
        let m = Metrics::new();
        m.add(Counter::Packets, 3);
        m.add(Counter::Packets, 4);
        m.add(Counter::Bytes, 1500);
        m.add_drops(Stage::Decode, 2);
        m.set_gauge(Gauge::ActiveCalls, 9);
        m.set_gauge(Gauge::ActiveCalls, 5);
        m.set_queue_depth(Stage::Media, 17);
        assert_eq!(m.get(Counter::Packets), 7);
        assert_eq!(m.get(Counter::Bytes), 1500);
        assert_eq!(m.get(Counter::MalformedPackets), 0);
        assert_eq!(m.drops(Stage::Decode), 2);
        assert_eq!(m.drops(Stage::Capture), 0);
        assert_eq!(m.gauge(Gauge::ActiveCalls), 5);
        assert_eq!(m.queue_depth(Stage::Media), 17);
        assert_eq!(m.queue_depth(Stage::Decode), 0);
        assert!(m.latency(Stage::Decode).is_none());
        let debug = format!("{m:?}");
        assert!(debug.starts_with("Metrics { packets: 7, bytes: 1500,") && debug.len() < 400, "{debug}");
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let m = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || (0..10_000).for_each(|_| m.add(Counter::MediaPacketsTapped, 1)))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.get(Counter::MediaPacketsTapped), 40_000);
    }
}
