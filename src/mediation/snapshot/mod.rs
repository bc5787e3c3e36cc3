//! The mediator's part of the pipeline snapshot: everything that decides what later packets
//! produce for **target** calls, taken at an X2/X3 barrier, and a mediator rebuilt from it.
//!
//! Carried: the intercepted calls in their slots (intercepts with CIN, role, scope and IRI
//! count; caller tags, branches and dialogs, phase, session timer, media streams, telephone
//! event types, last media time, the message fingerprints that recognise
//! retransmissions), the free slots, the targets' REGISTER bindings, the CIN counters, the
//! media tap table (the shards' tables are rebuilt from it and the calls' media views), the
//! time of the last sweep and the hash seed of the fingerprints.
//!
//! Not carried, and why that is safe for interception: call trace, CDRs of calls in
//! progress, the `seen_calls` hashes (counts only), followed SIP-over-TCP streams and the
//! counters. None of them decides a record of a target call: an X2 PDU only ever carries a
//! task's (a target's) traffic, a non-target dialog makes no record, and an intercepted call
//! is opened by its dialog-creating request, which restored calls already had.
//!
//! Warrants are carried by LIID and resolved against the warrant table given to
//! [`restore`]: an intercept of a warrant no longer in it is dropped (a revoked warrant is
//! not revived), and a call left with none is not restored.

mod codec;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use codec::{live_entries, Reader, SnapshotError, Writer};

use super::{CinAllocator, MediaPath, MediaShard, Mediator, MediatorConfig, PortFilter, TapControl};
use crate::warrant::WarrantTable;
use crate::Timestamp;

/// A mediator snapshot taken on the signalling stage, on its way to the encoding stage.
#[derive(Debug, Default)]
pub struct MediatorSnapshot {
    pub bytes: Vec<u8>,
    /// (LIID, CIN) of every intercept of a restored call: the only ones later records can
    /// carry, so the only sequence counters the snapshot needs.
    live: BTreeMap<String, BTreeSet<u32>>,
}

impl MediatorSnapshot {
    /// Whether a record of (`liid`, `cin`) may still come after the snapshot.
    pub fn is_live(&self, liid: &str, cin: u32) -> bool {
        self.live.get(liid).is_some_and(|c| c.contains(&cin))
    }
}

impl Mediator {
    /// Takes the snapshot. Sharded, the caller must have let the media shards handle every
    /// earlier packet first (their last-media times are read).
    pub fn snapshot(&self) -> MediatorSnapshot {
        let mut w = Writer::default();
        let mut live: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
        w.u64(self.hash_seed);
        w.u64(self.last_sweep.as_nanos());
        w.len(self.calls.len());
        for call in &self.calls {
            w.bool(call.is_some());
            if let Some(c) = call {
                state::call(&mut w, c);
                for i in &c.intercepts {
                    live.entry(i.warrant.liid.as_str().to_owned()).or_default().insert(i.cin);
                }
            }
        }
        w.len(self.free_slots.len());
        for slot in &self.free_slots {
            w.len(*slot);
        }
        state::bindings(&mut w, &self.bindings);
        state::cins(&mut w, &self.cins);
        state::taps(&mut w, self.media.table());
        MediatorSnapshot { bytes: w.buf, live }
    }
}

/// A mediator (inline media; call [`Mediator::sharded`] for the threaded pipeline, which
/// then sends the restored taps to the shards first) rebuilt from `bytes` of
/// [`Mediator::snapshot`] and the current warrant `table`. `cins` is the run's allocator (its
/// durable floor); the snapshot's counters raise it, never lower it.
pub fn restore(
    r: &mut Reader<'_>,
    table: Arc<WarrantTable>,
    config: MediatorConfig,
    mut cins: CinAllocator,
) -> Result<Mediator, SnapshotError> {
    let warrants: state::WarrantsByLiid = table.iter().map(|w| (w.liid.as_str().to_owned(), Arc::clone(w))).collect();
    let seed = r.u64("hash seed")?;
    let last_sweep = Timestamp::from_nanos(r.u64("last sweep")?);
    let n = r.count(1, "call slots")?;
    let mut calls = Vec::with_capacity(n);
    let mut dropped = Vec::new();
    for slot in 0..n {
        if !r.bool("call slot")? {
            calls.push(None);
            continue;
        }
        let call = state::read_call(r, &warrants)?;
        if call.intercepts.is_empty() {
            dropped.push(slot);
            calls.push(None);
        } else {
            calls.push(Some(call));
        }
    }
    let k = r.count(8, "free slots")?;
    let mut free_slots = Vec::with_capacity(k + dropped.len());
    for _ in 0..k {
        let slot = r.index(n, "free slot")?;
        if calls.get(slot).is_some_and(Option::is_some) || free_slots.contains(&slot) {
            return Err(r.invalid("free slot"));
        }
        free_slots.push(slot);
    }
    free_slots.extend(dropped);
    let bindings = state::read_bindings(r)?;
    state::read_cins(r, &mut cins)?;
    let taps = state::read_taps(r, n)?;

    let mut m = Mediator::seeded(table, config, cins, seed);
    m.last_sweep = last_sweep;
    m.bindings = bindings;
    let mut shard = MediaShard::new();
    let mut ports = PortFilter::default();
    for (slot, call) in calls.iter().enumerate() {
        let Some(call) = call else { continue };
        m.by_call_id.insert(call.call_id.clone(), slot);
        for (_, port) in call.streams.endpoints() {
            ports.hold(port);
        }
        if call.published != (0, 0) {
            shard.control(TapControl::Call { slot, media: Arc::new(call.media_view()) });
        }
    }
    for ((addr, port), tap) in taps {
        if calls.get(tap.call).is_some_and(Option::is_some) {
            shard.control(TapControl::Install { addr, port, tap });
        }
    }
    m.calls = calls;
    m.free_slots = free_slots;
    m.ports = ports;
    m.media = MediaPath::Inline(shard);
    Ok(m)
}

#[cfg(test)]
mod tests;
