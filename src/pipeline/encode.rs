//! The encoding stage: takes each batch's ticket from the signalling stage and the shards'
//! outputs for it, merges their records back into capture order (so output is the same as
//! a single-threaded run's), applies updates at their place, and feeds the encoder.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::media::ShardOut;
use super::signalling::Ticket;
use super::EncodeStage;
use crate::mediation::RecordSink;
use crate::metrics::{LatencyRecorder, Metrics, Stage};

/// Counts what passes through to the encoder.
pub(super) struct Counting<'a, E> {
    pub encoder: &'a mut E,
    pub records: u64,
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
    metrics: &Metrics,
) -> E {
    let mut latency = LatencyRecorder::new(Stage::Encode);
    while let Some(ticket) = next_ticket(&tickets, &mut encoder) {
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
        if sink.records > 0 {
            // Every record of the batch is encoded now: capture to encoded record.
            latency.record_n(ticket.batch.read_at.elapsed(), sink.records);
            latency.flush_into(metrics);
        }
        flush_due(&mut encoder);
        if encoder.failed() {
            failed.store(true, Ordering::Relaxed);
        }
    }
    encoder
}

/// The next ticket, None when the channel is closed. While output is held in the
/// encoder's buffers, waits only until it is due and writes it out then: a record is not
/// held back because no further batch comes (a paced replay's pause, quiet live traffic).
fn next_ticket<E: EncodeStage>(tickets: &Receiver<Ticket<E::Update>>, encoder: &mut E) -> Option<Ticket<E::Update>> {
    loop {
        let Some(due) = encoder.held_until() else { return tickets.recv().ok() };
        match tickets.recv_deadline(due) {
            Ok(ticket) => return Some(ticket),
            Err(RecvTimeoutError::Timeout) => encoder.flush(),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Writes out the encoder's held output when its deadline has passed.
pub(super) fn flush_due<E: EncodeStage>(encoder: &mut E) {
    if encoder.held_until().is_some_and(|due| due <= Instant::now()) {
        encoder.flush();
    }
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
