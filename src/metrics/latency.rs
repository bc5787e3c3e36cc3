//! Per-stage latency: a thread-owned `LatencyRecorder` collects samples without locking and
//! merges them now and then into the stage's shared HDR histogram (1 ns .. 60 s, 3 digits).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{Metrics, Stage};

/// Smallest latency told apart, nanoseconds.
const LOWEST_NS: u64 = 1;
/// Largest latency kept; longer ones count as this.
const HIGHEST_NS: u64 = 60_000_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;
/// Samples a recorder holds before it folds them into a local histogram. A flush per batch
/// (~256 packets) stays below it and costs one short lock and no histogram-wide work.
const SAMPLES: usize = 1024;

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail (checked by a unit test).
    Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS).expect("constant histogram bounds are valid")
}

/// Adds `from` to `into`. Both come from `new_histogram` and records saturate, so `add` cannot
/// find a value out of range; should it ever, the values are folded in one by one instead.
fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Latency of one stage over the run, in nanoseconds. All fields are nanoseconds except
/// `count`. Serialized (summary.json, the metrics snapshot) in microseconds with the unit in
/// each key: `{"p50_us", "p99_us", "p999_us", "max_us", "count", "sum_us"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Samples recorded.
    pub count: u64,
    /// Sum of the samples as recorded (exact, before histogram rounding; saturates).
    pub sum: u64,
}

impl serde::Serialize for Percentiles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Micros {
            p50_us: f64,
            p99_us: f64,
            p999_us: f64,
            max_us: f64,
            count: u64,
            sum_us: f64,
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        let p = self;
        Micros { p50_us: us(p.p50), p99_us: us(p.p99), p999_us: us(p.p999), max_us: us(p.max), count: p.count, sum_us: us(p.sum) }
            .serialize(serializer)
    }
}

/// The shared side of one stage, behind its `Mutex` in `Metrics`.
pub(super) struct StageLatency {
    histogram: Histogram<u64>,
    sum_ns: u64,
}

impl StageLatency {
    pub(super) fn new() -> StageLatency {
        StageLatency { histogram: new_histogram(), sum_ns: 0 }
    }

    /// Samples at most `le_ns` (to the histogram's precision), and all samples.
    pub(super) fn at_most(&self, le_ns: u64) -> (u64, u64) {
        let h = &self.histogram;
        if h.is_empty() {
            return (0, 0);
        }
        let below = h.count_between(0, le_ns.min(h.max()));
        (below.min(h.len()), h.len())
    }

    pub(super) fn percentiles(&self) -> Option<Percentiles> {
        let h = &self.histogram;
        if h.is_empty() {
            return None;
        }
        Some(Percentiles {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            count: h.len(),
            sum: self.sum_ns,
        })
    }
}

/// The latency samples of one stage thread, owned by it: recording takes no lock and
/// allocates nothing (the buffer is reserved up front).
pub struct LatencyRecorder {
    stage: Stage,
    samples: Vec<u64>,
    /// Samples folded here when the buffer filled before a flush; made on first need.
    overflow: Option<Histogram<u64>>,
    sum_ns: u64,
}

impl std::fmt::Debug for LatencyRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyRecorder").field("stage", &self.stage).field("pending", &self.pending()).finish()
    }
}

impl LatencyRecorder {
    pub fn new(stage: Stage) -> LatencyRecorder {
        LatencyRecorder { stage, samples: Vec::with_capacity(SAMPLES), overflow: None, sum_ns: 0 }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Records one latency (longer than 60 s counts as 60 s).
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        self.record_nanos(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records the same latency `n` times (every record of a batch encoded at once).
    pub fn record_n(&mut self, latency: Duration, n: u64) {
        for _ in 0..n {
            self.record(latency);
        }
    }

    /// Records one latency in nanoseconds.
    #[inline]
    pub fn record_nanos(&mut self, nanos: u64) {
        if self.samples.len() >= SAMPLES {
            let h = self.overflow.get_or_insert_with(new_histogram);
            for s in self.samples.drain(..) {
                h.saturating_record(s);
            }
        }
        self.samples.push(nanos);
        self.sum_ns = self.sum_ns.saturating_add(nanos);
    }

    /// Samples recorded since the last flush.
    pub fn pending(&self) -> u64 {
        let folded = self.overflow.as_ref().map_or(0, Histogram::len);
        folded + self.samples.len() as u64
    }

    /// Merges the samples into the stage's shared histogram in `metrics` and starts afresh.
    /// Takes the stage's lock briefly; call it once per batch or so, not per packet.
    pub fn flush_into(&mut self, metrics: &Metrics) {
        if self.pending() == 0 {
            return;
        }
        let mut shared = metrics.stage_latency(self.stage);
        if let Some(h) = self.overflow.as_mut().filter(|h| !h.is_empty()) {
            merge(&mut shared.histogram, h);
            h.reset();
        }
        for s in self.samples.drain(..) {
            shared.histogram.saturating_record(s);
        }
        shared.sum_ns = shared.sum_ns.saturating_add(self.sum_ns);
        self.sum_ns = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bounds_are_valid() {
        let h = new_histogram();
        assert_eq!(h.high(), HIGHEST_NS);
        assert_eq!(h.sigfig(), SIGNIFICANT_DIGITS);
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_nanoseconds() {
        let m = Metrics::new();
        let mut r = LatencyRecorder::new(Stage::Decode);
        for ns in 1..=1000 {
            r.record_nanos(ns);
        }
        assert_eq!(r.pending(), 1000);
        assert!(m.latency(Stage::Decode).is_none(), "nothing is shared before a flush");
        r.flush_into(&m);
        assert_eq!(r.pending(), 0);
        let p = m.latency(Stage::Decode).unwrap();
        // Below 2048 ns the histogram is exact.
        assert_eq!(p, Percentiles { p50: 500, p99: 990, p999: 999, max: 1000, count: 1000, sum: 500_500 });
        assert!(m.latency(Stage::Media).is_none());
    }

    #[test]
    fn one_latency_recorded_n_times() {
        let m = Metrics::new();
        let mut r = LatencyRecorder::new(Stage::Encode);
        r.record_n(Duration::from_nanos(700), 3);
        r.record_n(Duration::from_nanos(900), 0);
        r.flush_into(&m);
        assert_eq!(m.latency(Stage::Encode), Some(Percentiles { p50: 700, p99: 700, p999: 700, max: 700, count: 3, sum: 2_100 }));
    }

    #[test]
    fn flushes_from_several_recorders_merge() {
        let m = Metrics::new();
        let mut a = LatencyRecorder::new(Stage::Media);
        let mut b = LatencyRecorder::new(Stage::Media);
        a.record(Duration::from_micros(1));
        a.record(Duration::from_micros(1));
        b.record(Duration::from_micros(1));
        b.record(Duration::from_millis(2));
        a.flush_into(&m);
        b.flush_into(&m);
        a.flush_into(&m); // nothing pending: no change
        let p = m.latency(Stage::Media).unwrap();
        assert_eq!(p.count, 4);
        assert_eq!(p.p50, 1000);
        assert_eq!(p.sum, 3 * 1000 + 2_000_000);
        // 2 ms lies in a bucket of width 1024 ns (3 significant digits).
        assert!((2_000_000..2_002_048).contains(&p.max), "max {}", p.max);
    }

    #[test]
    fn a_recorder_not_flushed_for_long_keeps_every_sample() {
        let m = Metrics::new();
        let mut r = LatencyRecorder::new(Stage::Encode);
        let n = (SAMPLES * 3 + 5) as u64;
        for i in 0..n {
            r.record_nanos(100 + i % 7);
        }
        assert_eq!(r.pending(), n);
        r.flush_into(&m);
        assert_eq!(r.pending(), 0);
        r.record_nanos(100);
        r.flush_into(&m);
        let p = m.latency(Stage::Encode).unwrap();
        assert_eq!(p.count, n + 1);
        assert_eq!(p.max, 106);
        assert_eq!(p.sum, (0..n).map(|i| 100 + i % 7).sum::<u64>() + 100);
    }

    #[test]
    fn latencies_beyond_sixty_seconds_saturate() {
        let m = Metrics::new();
        let mut r = LatencyRecorder::new(Stage::Delivery);
        r.record(Duration::from_secs(3600));
        r.flush_into(&m);
        let p = m.latency(Stage::Delivery).unwrap();
        assert_eq!(p.count, 1);
        assert!(p.max >= HIGHEST_NS && p.max < HIGHEST_NS + HIGHEST_NS / 1000, "max {}", p.max);
        assert_eq!(p.sum, 3_600_000_000_000);
    }
}
