//! The point of interception as a sans-IO core: datagrams in, encoded X2/X3 PDUs out, one
//! per destination.
//!
//! Call order: [`Poi::apply`] every X1 change that arrived, then [`Poi::handle`] the next
//! decoded datagram; a change therefore takes effect before the next packet. The mediator
//! (the same call tracking `tapline replay` runs) matches the tasks' targets and hands
//! back one record per task; this core turns the records of one message or media packet
//! into PDUs:
//!
//! - a SIP message (IRI record) → an X2 PDU, payload format 9; an RTP/RTCP packet (CC
//!   record) → an X3 PDU, payload format 8, only for tasks and destinations whose delivery
//!   type carries X3 ([`carries`]);
//! - attributes: the task's XID, the correlation ID of the call (the call's CIN under the
//!   task), the sequence number (per XID, from 0), the capture timestamp, the source and
//!   destination addresses and ports and the IP protocol of the packet; the direction of
//!   content (to or from the target) for X3, `Unknown` for X2 (the mediation function
//!   derives it from the call);
//! - **one PDU per destination per packet**: when several tasks match the same packet and
//!   share a destination, that destination gets the packet once, under the first such
//!   task's XID (in the order the mediator reports them). The mediation function matches
//!   the targets in the SIP itself, so a second copy would be a duplicate it cannot tell
//!   from a retransmission (content would be delivered twice).

use std::collections::HashMap;

use crate::mediation::{Mediator, MediatorConfig, CinAllocator, Record, RecordBody};
use crate::warrant::Numbering;
use crate::wire::Datagram;
use crate::x1::{Change, TaskDetails};
use crate::x2x3::{Direction, PayloadFormat, PduRepr, PduType, Xid};
use crate::Timestamp;

use super::tasks::{carries, TaskStats, Tasks};

/// Counters of the core (no target ever appears here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoiStats {
    pub x2_pdus: u64,
    pub x3_pdus: u64,
    pub x2_bytes: u64,
    pub x3_bytes: u64,
    /// Records of a task no longer held (a call matched before its deactivation).
    pub records_of_removed_tasks: u64,
    /// Records a task's delivery type does not carry (content of an X2-only task).
    pub records_not_carried: u64,
    /// PDUs for a destination the task names but the element no longer holds.
    pub pdus_without_destination: u64,
}

/// One record of the packet being handled, copied out of the mediator's borrow.
struct Pending {
    liid: crate::warrant::Liid,
    cin: u32,
    stream: PduType,
    direction: Direction,
    ts: Timestamp,
    bytes: Vec<u8>,
}

/// The POI core: the task table and the mediator it drives.
pub struct Poi {
    tasks: Tasks,
    mediator: Mediator,
    sequences: HashMap<Xid, u32>,
    pending: Vec<Pending>,
    scratch: Vec<u8>,
    stats: PoiStats,
}

impl Poi {
    pub fn new(numbering: Numbering, config: MediatorConfig) -> Poi {
        let mut tasks = Tasks::new(numbering);
        let mediator = Mediator::with_config(tasks.table(), config, CinAllocator::new());
        Poi { tasks, mediator, sequences: HashMap::new(), pending: Vec::new(), scratch: Vec::new(), stats: PoiStats::default() }
    }

    /// Applies an X1 change before the next packet.
    pub fn apply(&mut self, change: Change) {
        if self.tasks.apply(change) {
            self.mediator.set_table(self.tasks.table());
        }
    }

    pub fn tasks(&self) -> impl Iterator<Item = &TaskDetails> {
        self.tasks.tasks()
    }

    pub fn destination(&self, did: &Xid) -> Option<&crate::x1::DestinationDetails> {
        self.tasks.destination(did)
    }

    pub fn stats(&self) -> PoiStats {
        self.stats
    }

    pub fn task_stats(&self) -> TaskStats {
        self.tasks.stats()
    }

    pub fn mediation_stats(&self) -> crate::mediation::MediationStats {
        self.mediator.stats()
    }

    /// Feeds one datagram; every PDU it yields goes to `out` with its destination's dId.
    pub fn handle(&mut self, dg: &Datagram<'_>, out: &mut impl FnMut(Xid, PduType, &[u8])) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        let mut sink = |r: &Record<'_>| pending.push(pending_of(r));
        self.mediator.handle(dg, &mut sink);
        let mut start = 0;
        while start < pending.len() {
            // Records of one message or packet come together, one per task.
            let first = &pending[start];
            let end = pending[start..]
                .iter()
                .position(|p| p.stream != first.stream || p.bytes != first.bytes)
                .map_or(pending.len(), |n| start + n);
            self.emit(&pending[start..end], dg, out);
            start = end;
        }
        self.pending = pending;
    }

    /// The PDUs of one message or packet matched by the tasks of `group`.
    fn emit(&mut self, group: &[Pending], dg: &Datagram<'_>, out: &mut impl FnMut(Xid, PduType, &[u8])) {
        let mut served: Vec<Xid> = Vec::new();
        for p in group {
            let Some(task) = self.tasks.task_of(&p.liid) else {
                self.stats.records_of_removed_tasks += 1;
                continue;
            };
            if !carries(task.delivery_type, p.stream) {
                self.stats.records_not_carried += 1;
                continue;
            }
            let xid = task.xid;
            let mut targets = Vec::new();
            for did in &task.destinations {
                match self.tasks.destination(did) {
                    Some(d) if carries(d.delivery_type, p.stream) && !served.contains(did) => targets.push(*did),
                    Some(_) => {}
                    None => self.stats.pdus_without_destination += 1,
                }
            }
            if targets.is_empty() {
                continue;
            }
            let sequence = self.sequences.entry(xid).or_insert(0);
            let mut pdu = PduRepr::new(p.stream, format_of(p.stream), p.direction, xid, &p.bytes);
            pdu.correlation_id = u64::from(p.cin);
            pdu.sequence = Some(*sequence);
            *sequence = sequence.wrapping_add(1);
            pdu.timestamp = Some(p.ts);
            pdu.src_addr = Some(dg.flow.src);
            pdu.dst_addr = Some(dg.flow.dst);
            pdu.src_port = Some(dg.flow.src_port);
            pdu.dst_port = Some(dg.flow.dst_port);
            pdu.ip_protocol = Some(dg.flow.proto);
            self.scratch.clear();
            pdu.emit_to_vec(&mut self.scratch);
            for did in targets {
                let (pdus, bytes) = match p.stream {
                    PduType::X3 => (&mut self.stats.x3_pdus, &mut self.stats.x3_bytes),
                    _ => (&mut self.stats.x2_pdus, &mut self.stats.x2_bytes),
                };
                *pdus += 1;
                *bytes += self.scratch.len() as u64;
                out(did, p.stream, &self.scratch);
                served.push(did);
            }
        }
    }
}

fn format_of(stream: PduType) -> PayloadFormat {
    match stream {
        PduType::X2 => PayloadFormat::Sip,
        PduType::X3 => PayloadFormat::Rtp,
        PduType::Keepalive | PduType::KeepaliveAck => PayloadFormat::None,
    }
}

fn pending_of(r: &Record<'_>) -> Pending {
    let (stream, direction, bytes) = match r.body {
        RecordBody::Iri { bytes, .. } => (PduType::X2, Direction::Unknown, bytes),
        RecordBody::Cc { direction, bytes, .. } => (PduType::X3, x2x3_direction(direction), bytes),
    };
    Pending { liid: r.warrant.liid.clone(), cin: r.cin, stream, direction, ts: r.ts, bytes: bytes.to_vec() }
}

fn x2x3_direction(d: crate::mediation::Direction) -> Direction {
    match d {
        crate::mediation::Direction::FromTarget => Direction::FromTarget,
        crate::mediation::Direction::ToTarget => Direction::ToTarget,
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
