//! The `tapline_warrants{state}` gauge: the warrants in force counted by their state at
//! packet time (pending, active, expired), and those revoked while running.

use std::collections::HashSet;
use std::sync::Arc;

use super::lifecycle::InForce;
use crate::metrics::Metrics;
use crate::Timestamp;

/// Republish at most once per this much packet time.
const EVERY_NS: u64 = 1_000_000_000;

/// Counts warrant states for the metrics; owned by the packet hook.
pub struct WarrantStates {
    metrics: Arc<Metrics>,
    in_force: Arc<InForce>,
    /// LIIDs removed from the warrant set while running (re-adding one takes it out).
    revoked: HashSet<String>,
    next: Option<Timestamp>,
}

impl WarrantStates {
    pub fn new(metrics: Arc<Metrics>, in_force: Arc<InForce>) -> Self {
        WarrantStates { metrics, in_force, revoked: HashSet::new(), next: None }
    }

    /// A new warrant set was swapped in: LIIDs gone from it count as revoked.
    pub fn replace(&mut self, in_force: Arc<InForce>) {
        for liid in self.in_force.keys() {
            if !in_force.contains_key(liid) {
                self.revoked.insert(liid.clone());
            }
        }
        self.revoked.retain(|liid| !in_force.contains_key(liid));
        self.in_force = in_force;
        self.next = None;
    }

    /// Before a packet at `ts`: republishes when a second of packet time has passed or the
    /// set changed. Costs one comparison otherwise.
    pub fn at(&mut self, ts: Timestamp) {
        if self.next.is_some_and(|n| ts < n) {
            return;
        }
        self.next = Some(Timestamp::from_nanos(ts.as_nanos().saturating_add(EVERY_NS)));
        let mut counts = [0u64; 4];
        for w in self.in_force.values() {
            counts[w.state_at(ts) as usize] += 1;
        }
        counts[3] = self.revoked.len() as u64;
        self.metrics.set_warrant_states(counts);
    }
}
