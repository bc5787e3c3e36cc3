//! Publishing the stages' own counts to the shared [`Metrics`] once per batch, as deltas
//! (the stages keep exact counts; the metrics see them with at most one batch of lag).

use super::batch::Batch;
use crate::mediation::{MediationStats, ShardStats};
use crate::metrics::{Counter, Metrics};
use crate::wire::DecodeStats;

/// What the signalling stage has published so far.
#[derive(Default)]
pub(super) struct Published {
    mediation: MediationStats,
    malformed: u64,
}

impl Published {
    /// Adds the batch's packets and bytes and what mediation and decoding did since last time.
    pub(super) fn publish(&mut self, metrics: &Metrics, batch: &Batch, now: &MediationStats, decode: &DecodeStats) {
        metrics.add(Counter::Packets, batch.frames.len() as u64);
        metrics.add(Counter::Bytes, batch.captured_bytes() as u64);
        metrics.add(Counter::MalformedPackets, decode.malformed.saturating_sub(self.malformed));
        self.malformed = decode.malformed;
        let before = &self.mediation;
        for (counter, now, then) in [
            (Counter::SipMessages, now.sip_messages, before.sip_messages),
            (Counter::CallsSeen, now.calls_seen, before.calls_seen),
            (Counter::CallsIntercepted, now.calls_intercepted, before.calls_intercepted),
            (Counter::TapsInstalled, now.taps_installed, before.taps_installed),
            (Counter::IriRecords, now.iri_records, before.iri_records),
            (Counter::CcRecords, now.cc_records, before.cc_records),
            (Counter::MediaPacketsTapped, now.media_packets_tapped, before.media_packets_tapped),
        ] {
            metrics.add(counter, now.saturating_sub(then));
        }
        self.mediation = now.clone();
    }
}

/// Sets the call gauges: every call tracked, and those intercepted.
pub(super) fn publish_calls(metrics: &Metrics, mediator: &crate::mediation::Mediator) {
    metrics.set_gauge(crate::metrics::Gauge::ActiveCalls, mediator.tracked_calls() as u64);
    metrics.set_gauge(crate::metrics::Gauge::InterceptedCalls, mediator.active_calls() as u64);
}

/// Adds what a media shard did since `published`.
pub(super) fn publish_shard(metrics: &Metrics, published: &mut ShardStats, now: &ShardStats) {
    metrics.add(Counter::MediaPacketsTapped, now.media_packets_tapped.saturating_sub(published.media_packets_tapped));
    metrics.add(Counter::IriRecords, now.iri_records.saturating_sub(published.iri_records));
    metrics.add(Counter::CcRecords, now.cc_records.saturating_sub(published.cc_records));
    *published = now.clone();
}
