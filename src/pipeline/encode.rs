//! The encoding stage: takes each batch's ticket from the signalling stage and the shards'
//! outputs for it, merges their records back into capture order (so output is the same as
//! a single-threaded run's), applies updates at their place, and feeds the encoder.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Receiver;
use hdrhistogram::Histogram;

use super::batch::Batch;
use super::media::ShardOut;
use super::signalling::Ticket;
use super::EncodeStage;
use crate::mediation::RecordSink;

/// A histogram of nanoseconds from 1 ns to 10 minutes, 3 significant digits.
pub(super) fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// Per stage, nanoseconds from reading a batch to the stage finishing with it.
#[derive(Clone, Debug)]
pub struct StageLatency {
    /// Decode and signalling done with the batch (one value per batch).
    pub signalling: Histogram<u64>,
    /// A record encoded and handed to the output (one value per record).
    pub encoded: Histogram<u64>,
}

impl Default for StageLatency {
    fn default() -> Self {
        StageLatency { signalling: new_histogram(), encoded: new_histogram() }
    }
}

impl StageLatency {
    /// The single-threaded run: every stage finishes a batch at once.
    pub(super) fn record_batch(&mut self, batch: &Batch, records: u64) {
        let ns = elapsed_ns(batch);
        let _ = self.signalling.record(ns);
        if records > 0 {
            let _ = self.encoded.record_n(ns, records);
        }
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let us = |ns: u64| ns as f64 / 1_000.0;
        Percentiles {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.5)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// Stage latencies as percentiles, for summaries and benchmarks.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LatencySummary {
    /// Batch read → decode and signalling done.
    pub signalling: Percentiles,
    /// Batch read → record encoded (capture to encoded record).
    pub encoded: Percentiles,
}

impl LatencySummary {
    pub fn of(l: &StageLatency) -> LatencySummary {
        LatencySummary { signalling: Percentiles::of(&l.signalling), encoded: Percentiles::of(&l.encoded) }
    }
}

fn elapsed_ns(batch: &Batch) -> u64 {
    u64::try_from(batch.read_at.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// Counts what passes through to the encoder.
struct Counting<'a, E> {
    encoder: &'a mut E,
    records: u64,
}

impl<E: EncodeStage> RecordSink for Counting<'_, E> {
    fn record(&mut self, r: &crate::mediation::Record<'_>) {
        self.records += 1;
        self.encoder.record(r);
    }
}

/// Runs the stage until the ticket channel closes.
pub(super) fn run<E: EncodeStage>(
    tickets: Receiver<Ticket<E::Update>>,
    outs: &[Receiver<ShardOut>],
    mut encoder: E,
    failed: &AtomicBool,
) -> (E, StageLatency) {
    let mut latency = StageLatency::default();
    for ticket in tickets {
        let mut sources = vec![ticket.records];
        for (out, &msgs) in outs.iter().zip(&ticket.shard_msgs) {
            for _ in 0..msgs {
                match out.recv() {
                    Ok(o) => sources.push(o.records),
                    Err(_) => break,
                }
            }
        }
        let mut sink = Counting { encoder: &mut encoder, records: 0 };
        merge(&sources, ticket.updates, &mut sink);
        let records = sink.records;
        if records > 0 {
            let _ = latency.encoded.record_n(elapsed_ns(&ticket.batch), records);
        }
        if encoder.failed() {
            failed.store(true, Ordering::Relaxed);
        }
    }
    (encoder, latency)
}

/// Hands the records of `sources` to `sink` in capture-index order (each source is in
/// order already; ties keep source order), applying each update before the records of
/// the packet it precedes.
fn merge<E: EncodeStage>(sources: &[super::RecordBuf], updates: Vec<(u64, E::Update)>, sink: &mut Counting<'_, E>) {
    let mut next = vec![0usize; sources.len()];
    let mut updates = updates.into_iter().peekable();
    loop {
        let mut best: Option<(u64, usize)> = None;
        for (s, source) in sources.iter().enumerate() {
            let Some(index) = next.get(s).and_then(|&i| source.index_of(i)) else { continue };
            if best.is_none_or(|(b, _)| index < b) {
                best = Some((index, s));
            }
        }
        while let Some((at, _)) = updates.peek() {
            if best.is_some_and(|(b, _)| *at > b) {
                break;
            }
            if let Some((_, u)) = updates.next() {
                sink.encoder.update(u);
            }
        }
        let Some((_, s)) = best else { return };
        let (Some(source), Some(i)) = (sources.get(s), next.get_mut(s)) else { return };
        source.replay(*i, sink);
        *i += 1;
    }
}
