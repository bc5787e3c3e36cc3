//! Drops the PDUs a sending end sends twice. A POI spools its PDUs and deletes them only
//! once a keepalive ack confirmed them (data PDUs are never acknowledged), so after a
//! dropped connection it resends everything after the last confirmation, some of which the
//! mediation function has already taken. Ingesting those again would deliver the same SIP
//! message or RTP packet twice.
//!
//! The rule, per sending peer (its certificate's identity) and XID: a PDU carrying a
//! sequence number and a timestamp is a resend when both are at or before the last one
//! accepted (sequence numbers compared with wrap-around, as RFC 1982 serial numbers). A
//! POI numbers the PDUs of each XID from 0 in capture order, so a resend repeats both; a
//! restarted POI numbers from 0 again but its packets are later, so they pass. PDUs
//! without a sequence number or timestamp (many third-party elements) are never dropped.
//!
//! The filter lives in the barrier book (`confirm.rs`): a PDU is noted only when its frame
//! is pushed into the pipeline, under the lock that numbers frames, so the filter a
//! barrier snapshots holds exactly the PDUs whose frames come before its marker. That
//! snapshot goes into the checkpoint (`run/checkpoint.rs`) and is restored on a restart.

use std::collections::HashMap;

use super::pdu::{PduRepr, Xid};
use crate::Timestamp;

/// What was last accepted from one peer under one XID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Last {
    pub sequence: u32,
    pub ts: Timestamp,
}

/// The resend filter of one listener (shared by its connections).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dedupe {
    last: HashMap<(String, Xid), Last>,
}

/// A PDU's place in its sender's numbering: what the filter compares and notes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub peer: String,
    pub xid: Xid,
    pub last: Last,
}

impl Numbered {
    /// None for a PDU without a sequence number or timestamp (never a resend).
    pub fn of(peer: &str, pdu: &PduRepr<'_>) -> Option<Numbered> {
        let (Some(sequence), Some(ts)) = (pdu.sequence, pdu.timestamp) else { return None };
        Some(Numbered { peer: peer.to_owned(), xid: pdu.xid, last: Last { sequence, ts } })
    }
}

/// `a` is at or after `b`, modulo 2^32.
fn serial_at_or_after(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) < 1 << 31
}

impl Dedupe {
    /// Whether `pdu` from `peer` is new (to ingest) rather than a resend (to drop); notes it.
    pub fn accept(&mut self, peer: &str, pdu: &PduRepr<'_>) -> bool {
        let Some(n) = Numbered::of(peer, pdu) else { return true };
        let new = self.is_new(&n);
        if new {
            self.note(n);
        }
        new
    }

    /// Whether `n` comes after the last PDU noted for its peer and XID.
    pub fn is_new(&self, n: &Numbered) -> bool {
        let Some(last) = self.last.get(&(n.peer.clone(), n.xid)) else { return true };
        let Last { sequence, ts } = n.last;
        (sequence != last.sequence && serial_at_or_after(sequence, last.sequence)) || ts > last.ts
    }

    /// `n` was taken (its frame pushed into the pipeline): later resends of it are dropped.
    pub fn note(&mut self, n: Numbered) {
        self.last.insert((n.peer, n.xid), n.last);
    }

    /// Every (peer, XID) and what was last taken from it, for a checkpoint, sorted.
    pub fn entries(&self) -> Vec<Numbered> {
        let mut all: Vec<Numbered> =
            self.last.iter().map(|((peer, xid), last)| Numbered { peer: peer.clone(), xid: *xid, last: *last }).collect();
        all.sort_by(|a, b| (&a.peer, a.xid.0).cmp(&(&b.peer, b.xid.0)));
        all
    }

    /// The filter a checkpoint's entries describe.
    pub fn from_entries(entries: impl IntoIterator<Item = Numbered>) -> Dedupe {
        let mut d = Dedupe::default();
        for n in entries {
            d.note(n);
        }
        d
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x2x3::{Direction, PayloadFormat, PduType};

    fn pdu(xid: u8, sequence: u32, secs: u64) -> PduRepr<'static> {
        let mut p = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, Xid([xid; 16]), b"\x80\0\0\x01");
        p.sequence = Some(sequence);
        p.timestamp = Some(Timestamp::from_secs_micros(secs, 0));
        p
    }

    #[test]
    fn a_resend_after_reconnect_is_dropped_once() {
        let mut d = Dedupe::default();
        let sent: Vec<_> = (0..10).map(|i| pdu(1, i, 100 + u64::from(i / 3))).collect();
        assert!(sent.iter().all(|p| d.accept("poi-1", p)), "first time: all new");
        // The connection dropped after 10; the last confirmation covered 6.
        assert!(sent[6..].iter().all(|p| !d.accept("poi-1", p)), "resent: all dropped");
        assert!(d.accept("poi-1", &pdu(1, 10, 103)), "and what follows is new");
    }

    #[test]
    fn peers_xids_restarts_and_unnumbered_pdus_pass() {
        let mut d = Dedupe::default();
        assert!(d.accept("poi-1", &pdu(1, 5, 100)));
        assert!(d.accept("poi-2", &pdu(1, 5, 100)), "another POI with the same XID");
        assert!(d.accept("poi-1", &pdu(2, 5, 100)), "another XID");
        assert!(d.accept("poi-1", &pdu(1, 0, 200)), "a restarted POI numbers from 0, later packets");
        assert!(!d.accept("poi-1", &pdu(1, 0, 200)));
        let mut bare = pdu(1, 0, 200);
        bare.sequence = None;
        assert!(d.accept("poi-1", &bare) && d.accept("poi-1", &bare), "no sequence number: never dropped");
        assert!(d.accept("poi-1", &pdu(3, u32::MAX, 1)) && d.accept("poi-1", &pdu(3, 0, 1)), "wrap-around");
    }
}
