//! The media shard stage: each shard thread owns a [`MediaShard`] and receives, per batch,
//! the tap controls (broadcast to every shard, in order) and the media packets hashed to it,
//! as byte ranges of the shared batch (no copy, unless the decoder reassembled them).

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use foldhash::fast::FixedState;

use super::batch::{within, Batch};
use super::records::RecordBuf;
use crate::mediation::{MediaShard, ShardStats, TapControl};
use crate::metrics::{LatencyRecorder, Metrics, Stage};
use crate::wire::{Datagram, FlowKey, Transport};
use crate::Timestamp;

/// A media packet for a shard: where its bytes are.
#[derive(Debug)]
struct MediaRef {
    index: u64,
    ts: Timestamp,
    flow: FlowKey,
    vlan: Option<u16>,
    /// In the batch's data, or in the work's own bytes when `copied`.
    payload: Range<usize>,
    ip_packet: Range<usize>,
    copied: bool,
}

#[derive(Debug)]
enum Item {
    Control(TapControl),
    Packet(MediaRef),
}

/// What one shard is to do for (part of) one batch.
#[derive(Debug)]
pub(super) struct ShardWork {
    batch: Arc<Batch>,
    items: Vec<Item>,
    /// Bytes of reassembled datagrams, which do not lie in the batch.
    copied: Vec<u8>,
    packets: usize,
}

impl ShardWork {
    pub(super) fn new(batch: Arc<Batch>) -> ShardWork {
        ShardWork { batch, items: Vec::new(), copied: Vec::new(), packets: 0 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn control(&mut self, c: TapControl) {
        self.items.push(Item::Control(c));
    }

    pub(super) fn packet(&mut self, index: u64, dg: &Datagram<'_>) {
        let data = self.batch.bytes();
        let (payload, ip_packet, copied) = match (within(data, dg.payload), within(data, dg.ip_packet)) {
            (Some(p), Some(ip)) => (p, ip, false),
            _ => {
                let ip_start = self.copied.len();
                self.copied.extend_from_slice(dg.ip_packet);
                let p_start = self.copied.len();
                self.copied.extend_from_slice(dg.payload);
                (p_start..self.copied.len(), ip_start..p_start, true)
            }
        };
        self.packets += 1;
        self.items.push(Item::Packet(MediaRef { index, ts: dg.ts, flow: dg.flow, vlan: dg.vlan, payload, ip_packet, copied }));
    }
}


/// The shard of a media packet: both directions of a flow go to the same one (the two
/// endpoints' hashes are combined symmetrically). One shard needs no hashing.
#[inline]
pub(super) fn shard_of(hasher: &FixedState, flow: &FlowKey, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let a = hasher.hash_one((flow.src, flow.src_port));
    let b = hasher.hash_one((flow.dst, flow.dst_port));
    ((a ^ b) % shards as u64) as usize
}

/// Records one shard made for one work item.
#[derive(Debug)]
pub(super) struct ShardOut {
    pub records: RecordBuf,
}

/// Runs one shard until its work channel closes. `done` counts the work items handled
/// (the signalling stage waits on it before expiring idle calls).
pub(super) fn run_shard(rx: Receiver<ShardWork>, tx: Sender<ShardOut>, done: &AtomicU64, metrics: &Metrics) -> ShardStats {
    let mut shard = MediaShard::new();
    let mut published = ShardStats::default();
    let mut latency = LatencyRecorder::new(Stage::Media);
    for work in rx {
        let mut records = RecordBuf::default();
        for item in work.items {
            match item {
                Item::Control(c) => shard.control(c),
                Item::Packet(p) => {
                    let bytes = if p.copied { work.copied.as_slice() } else { work.batch.bytes() };
                    let dg = Datagram {
                        ts: p.ts,
                        flow: p.flow,
                        transport: Transport::Udp,
                        payload: bytes.get(p.payload).unwrap_or_default(),
                        ip_packet: bytes.get(p.ip_packet).unwrap_or_default(),
                        vlan: p.vlan,
                    };
                    records.at(p.index);
                    shard.handle(&dg, &mut records);
                }
            }
        }
        done.fetch_add(1, Ordering::Release);
        if work.packets > 0 {
            latency.record(work.batch.read_at.elapsed());
            latency.flush_into(metrics);
        }
        super::stats::publish_shard(metrics, &mut published, shard.stats());
        if tx.send(ShardOut { records }).is_err() {
            break;
        }
    }
    shard.stats().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_finds_subslices_only() {
        let outer = [1u8, 2, 3, 4, 5];
        assert_eq!(within(&outer, &outer[1..4]), Some(1..4));
        assert_eq!(within(&outer, &outer[5..]), Some(5..5));
        let other = [1u8, 2];
        assert_eq!(within(&outer, &other), None);
    }

    #[test]
    fn both_directions_share_a_shard() {
        let h = FixedState::default();
        let f = FlowKey {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            src_port: 4000,
            dst_port: 5000,
            proto: 17,
        };
        for n in 1..8 {
            assert_eq!(shard_of(&h, &f, n), shard_of(&h, &f.reversed(), n));
            assert!(shard_of(&h, &f, n) < n);
        }
    }
}
