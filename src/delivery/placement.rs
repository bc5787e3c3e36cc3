//! Which lane of an interface an LIID's records go to (sans I/O; the shell is `lanes.rs`).
//!
//! # Placement rule
//! - An LIID that still has a record in its lane that the agency has not confirmed stays on
//!   that lane. This is what keeps order: a lane is one spool sent over one connection in
//!   spool order, so every record of the LIID is delivered after the ones before it.
//! - An LIID with nothing unconfirmed (or seen for the first time) goes to the least loaded
//!   lane, load being the lane's unconfirmed bytes (ties: the lowest lane number). An LIID
//!   already placed stays where it is unless its lane carries more than [`MOVE_MARGIN`]
//!   bytes above the least loaded one, so light LIIDs do not hop on every record.
//! - A record without an LIID (CCC frames, X2/X3 PDUs, anything `liid_of` cannot read)
//!   always goes to lane 0, in spool order with every other such record.
//!
//! So a hot LIID fills its own lane's spool and connection while the others' records go
//! out on lanes that are not behind it. A light LIID that shares the lane of an LIID that
//! becomes hot later stays behind it until it has nothing unconfirmed there: placement
//! never reorders an LIID's records to rescue it.
//!
//! Records are counted per lane by ordinal: the n-th record appended to a lane has
//! ordinal n (records found unconfirmed on disk count first), and a lane's confirmed
//! ordinal is how many of its records the agency confirmed; an LIID has nothing
//! unconfirmed once its last record's ordinal is confirmed.

use std::collections::HashMap;

/// A placed LIID moves only when its lane's load exceeds the least loaded one by this much.
pub const MOVE_MARGIN: u64 = 64 << 10;

/// What placement needs to know of a lane at the moment of a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneLoad {
    /// Bytes spooled to the lane and not yet confirmed.
    pub unconfirmed_bytes: u64,
    /// Ordinal of the lane's last confirmed record (0: none).
    pub confirmed: u64,
}

#[derive(Clone, Copy, Debug)]
struct Placed {
    lane: usize,
    /// Ordinal of the LIID's last record in `lane`.
    last: u64,
}

/// The LIID → lane table of one interface.
#[derive(Debug)]
pub struct Placement {
    lanes: usize,
    liids: HashMap<Vec<u8>, Placed>,
}

impl Placement {
    /// A table over `lanes` lanes (at least one).
    pub fn new(lanes: usize) -> Placement {
        Placement { lanes: lanes.max(1), liids: HashMap::new() }
    }

    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// The lane for the next record of `liid` (see the module doc), given each lane's load.
    /// Call [`Placement::appended`] once the record is in that lane.
    pub fn place(&self, liid: Option<&[u8]>, load: impl Fn(usize) -> LaneLoad) -> usize {
        let Some(liid) = liid else { return 0 };
        let placed = self.liids.get(liid);
        if let Some(p) = placed {
            if load(p.lane).confirmed < p.last {
                return p.lane;
            }
        }
        let (least, least_load) = (0..self.lanes)
            .map(|k| (k, load(k).unconfirmed_bytes))
            .min_by_key(|&(k, bytes)| (bytes, k))
            .unwrap_or((0, 0));
        match placed {
            Some(p) if load(p.lane).unconfirmed_bytes <= least_load.saturating_add(MOVE_MARGIN) => p.lane,
            _ => least,
        }
    }

    /// A record of `liid` was appended to `lane` with ordinal `ordinal`.
    pub fn appended(&mut self, liid: Option<&[u8]>, lane: usize, ordinal: u64) {
        let Some(liid) = liid else { return };
        let placed = Placed { lane, last: ordinal };
        match self.liids.get_mut(liid) {
            Some(p) => *p = placed,
            None => {
                self.liids.insert(liid.to_vec(), placed);
            }
        }
    }

    /// Lanes grow to `lanes` (more found on disk than configured).
    pub fn grow(&mut self, lanes: usize) {
        self.lanes = self.lanes.max(lanes);
    }
}

#[cfg(test)]
#[path = "placement_tests.rs"]
mod tests;
