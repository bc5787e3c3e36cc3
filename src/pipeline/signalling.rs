//! The decode and signalling stage: decodes every frame, runs SIP through the mediator,
//! and routes media packets to their shard by flow hash, with the tap controls broadcast
//! ahead of them. Its own records and the shards' go to the encoder with one ticket per batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use foldhash::fast::FixedState;
use super::batch::Batch;
use super::media::{shard_of, ShardWork};
use super::records::RecordBuf;
use super::PacketHook;
use crate::mediation::{Mediator, SignallingObserver};
use crate::metrics::{LatencyRecorder, Metrics, Stage};
use crate::wire::{DecodeStats, Decoded, Decoder};

/// What the encoder needs to put one batch's records back in capture order.
pub(super) struct Ticket<U> {
    pub records: RecordBuf,
    /// Updates from the packet hook, with the index of the packet they precede.
    pub updates: Vec<(u64, U)>,
    /// Per shard: how many outputs it sends for this batch.
    pub shard_msgs: Vec<u32>,
    pub batch: Arc<Batch>,
}

/// The work channels to the shards and how far each has got.
pub(super) struct ShardLinks<'a> {
    txs: Vec<Sender<ShardWork>>,
    done: &'a [AtomicU64],
    sent: Vec<u64>,
    hasher: FixedState,
}

impl<'a> ShardLinks<'a> {
    pub(super) fn new(txs: Vec<Sender<ShardWork>>, done: &'a [AtomicU64]) -> Self {
        let sent = vec![0; txs.len()];
        ShardLinks { txs, done, sent, hasher: FixedState::default() }
    }

    /// Sends every non-empty work item, counting it in the ticket.
    fn flush(&mut self, works: &mut [ShardWork], ticket_msgs: &mut [u32], batch: &Arc<Batch>) {
        for (i, work) in works.iter_mut().enumerate() {
            if work.is_empty() {
                continue;
            }
            let full = std::mem::replace(work, ShardWork::new(Arc::clone(batch)));
            let (Some(tx), Some(msgs), Some(sent)) = (self.txs.get(i), ticket_msgs.get_mut(i), self.sent.get_mut(i)) else {
                continue;
            };
            if tx.send(full).is_ok() {
                *msgs += 1;
                *sent += 1;
            }
        }
    }

    /// Waits until every shard has handled all it was sent.
    fn wait(&self) {
        for (done, sent) in self.done.iter().zip(&self.sent) {
            while done.load(Ordering::Acquire) < *sent {
                std::thread::yield_now();
            }
        }
    }
}

/// Runs the stage until the capture channel closes.
pub(super) fn run<O, H>(
    batches: Receiver<Batch>,
    mediator: Mediator,
    mut observer: O,
    mut hook: H,
    mut links: ShardLinks<'_>,
    tickets: Sender<Ticket<H::Update>>,
    metrics: &Metrics,
) -> (Mediator, O, DecodeStats)
where
    O: SignallingObserver,
    H: PacketHook,
{
    let mut mediator = mediator.sharded();
    let mut decoder = Decoder::new();
    let mut controls = Vec::new();
    let mut latency = LatencyRecorder::new(Stage::Signalling);
    let mut published = super::stats::Published::default();
    let n = links.txs.len();
    for batch in &batches {
        metrics.set_queue_depth(Stage::Decode, batches.len() as u64);
        let batch = Arc::new(batch);
        let mut ticket =
            Ticket { records: RecordBuf::default(), updates: Vec::new(), shard_msgs: vec![0; n], batch: Arc::clone(&batch) };
        let mut works: Vec<ShardWork> = (0..n).map(|_| ShardWork::new(Arc::clone(&batch))).collect();
        let view = batch.view();
        for (k, meta) in batch.frames.iter().enumerate() {
            let index = batch.first_index + k as u64;
            if let Some(mut update) = hook.before(&mut mediator, meta.ts) {
                if hook.snapshot_due(&update) {
                    // The calls' last-media times must include every earlier packet.
                    links.flush(&mut works, &mut ticket.shard_msgs, &batch);
                    links.wait();
                    hook.snapshot(&mediator, &mut update);
                }
                ticket.updates.push((index, update));
            }
            if mediator.needs_media_sync(meta.ts) {
                // Idle expiry reads the shards' last-media times: they must be current.
                links.flush(&mut works, &mut ticket.shard_msgs, &batch);
                links.wait();
            }
            view.prefetch_ahead(k);
            let frame = view.frame(meta);
            let Decoded::Datagram(dg) = decoder.decode(&frame) else { continue };
            ticket.records.at(index);
            let media = mediator.handle_routed(&dg, &mut ticket.records, &mut observer);
            mediator.take_controls(&mut controls);
            for c in controls.drain(..) {
                for work in works.iter_mut() {
                    work.control(c.clone());
                }
            }
            if media {
                if let Some(work) = works.get_mut(shard_of(&links.hasher, &dg.flow, n)) {
                    work.packet(index, &dg);
                }
            }
        }
        links.flush(&mut works, &mut ticket.shard_msgs, &batch);
        if let Some(last) = batch.frames.last() {
            observer.on_batch(last.ts);
        }
        latency.record(batch.read_at.elapsed());
        latency.flush_into(metrics);
        published.publish(metrics, &batch, &mediator.stats(), decoder.stats());
        super::stats::publish_calls(metrics, &mediator);
        if let Some(tx) = links.txs.first() {
            metrics.set_queue_depth(Stage::Media, tx.len() as u64);
        }
        metrics.set_queue_depth(Stage::Encode, tickets.len() as u64);
        if tickets.send(ticket).is_err() {
            break;
        }
    }
    (mediator, observer, decoder.stats().clone())
}
