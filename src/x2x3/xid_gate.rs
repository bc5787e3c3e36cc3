//! XID → warrant at the mediation function: a PDU is ingested only when its XID is the XID
//! of a task of a warrant the MF holds in force ([`crate::admf::plan::xid_of`]) at the PDU's
//! time. A POI late to deactivate a revoked or expired warrant's task, or a network element
//! tasked by someone else, gets nothing delivered: fail closed. The mediator still matches
//! targets in the SIP itself, so one PDU may serve several warrants the MF holds.
//!
//! The run replaces the warrants held at start and on every reload; until the first
//! [`XidGate::hold`] nothing is decided ([`Verdict::NotLoaded`]: the listener waits).

use std::collections::HashMap;
use std::sync::RwLock;

use super::pdu::Xid;
use crate::warrant::Warrant;
use crate::Timestamp;

/// What the gate says about one PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The XID of a warrant in force at the PDU's time: ingest.
    InForce,
    /// No warrant held has this XID (never had, or revoked): not ingested.
    Unknown,
    /// A warrant held, but not in force at the PDU's time (pending or expired).
    NotInForce,
    /// The run has not told the gate its warrants yet: wait.
    NotLoaded,
}

/// Validity of one task's warrant: from (inclusive) until (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Validity {
    from: Timestamp,
    until: Timestamp,
}

/// The XIDs of the warrants the mediation function holds (shared by the listener's
/// connections, replaced by the run).
#[derive(Debug, Default)]
pub struct XidGate {
    held: RwLock<Option<HashMap<Xid, Validity>>>,
}

impl XidGate {
    /// From now on, exactly the tasks of `warrants` are held.
    pub fn hold<'a>(&self, warrants: impl IntoIterator<Item = &'a Warrant>) {
        self.hold_tasks(warrants.into_iter().map(|w| (crate::admf::plan::xid_of(&w.liid), w.valid_from, w.valid_until)));
    }

    /// From now on, exactly these tasks are held: XID, in force from (inclusive) until
    /// (exclusive). For consumers without warrants (tests, benches); the run uses [`hold`](Self::hold).
    pub fn hold_tasks(&self, tasks: impl IntoIterator<Item = (Xid, Timestamp, Timestamp)>) {
        let map = tasks.into_iter().map(|(xid, from, until)| (xid, Validity { from, until })).collect();
        *self.held.write().unwrap_or_else(|p| p.into_inner()) = Some(map);
    }

    /// The verdict on a PDU of `xid` at time `ts`.
    pub fn check(&self, xid: &Xid, ts: Timestamp) -> Verdict {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        let Some(map) = held.as_ref() else { return Verdict::NotLoaded };
        match map.get(xid) {
            None => Verdict::Unknown,
            Some(v) if v.from <= ts && ts < v.until => Verdict::InForce,
            Some(_) => Verdict::NotInForce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warrant::Store;

    #[test]
    fn only_the_xids_of_warrants_held_in_force_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("warrants");
        let (store, _) = Store::load_dir(&dir).expect("bundled warrants");
        let w = store.warrants.first().expect("a warrant");
        let gate = XidGate::default();
        let xid = crate::admf::plan::xid_of(&w.liid);
        assert_eq!(gate.check(&xid, w.valid_from), Verdict::NotLoaded);
        gate.hold(&store.warrants);
        assert_eq!(gate.check(&xid, w.valid_from), Verdict::InForce);
        assert_eq!(gate.check(&xid, w.valid_until), Verdict::NotInForce, "expired");
        assert_eq!(gate.check(&Xid([0x10; 16]), w.valid_from), Verdict::Unknown);
        gate.hold(store.warrants.iter().filter(|o| o.liid != w.liid));
        assert_eq!(gate.check(&xid, w.valid_from), Verdict::Unknown, "revoked");
    }
}
