//! IPv4 and IPv6 fragment reassembly, keyed by (src, dst, id, proto), bounded in size,
//! count and packet time. Completed datagrams are rebuilt in one reused buffer.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{ipv4, ipv6};
use crate::Timestamp;

/// Fragments of a datagram older than this (in packet time) are discarded.
pub const FRAGMENT_TIMEOUT_NANOS: u64 = 30_000_000_000;
/// Largest IP datagram.
pub const MAX_DATAGRAM_LEN: usize = 65_535;
/// Bytes held across all incomplete datagrams.
pub const MAX_PENDING_BYTES: usize = 16 << 20;
/// Incomplete datagrams held at once.
pub const MAX_PENDING_DATAGRAMS: usize = 4096;

/// Identity of a fragmented datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ident: u32,
    pub proto: u8,
}

/// One received fragment, borrowed from the frame.
#[derive(Clone, Copy, Debug)]
pub struct FragmentPiece<'a> {
    /// The IP header to reuse for the rebuilt datagram (IPv4 header with options, or the
    /// fixed 40-byte IPv6 header); only the offset-0 fragment's header is kept.
    pub header: &'a [u8],
    /// Offset of `data` in the original payload, in bytes.
    pub offset: usize,
    pub more: bool,
    pub data: &'a [u8],
}

/// What became of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insertion {
    /// Held until the rest arrives.
    Pending,
    /// The datagram is whole; read it with `Reassembler::assembled`.
    Complete,
    /// Overlapping fragments disagreed (or the end moved); the whole datagram was dropped.
    OverlapDropped,
    /// The byte or datagram limit was reached; the datagram was dropped.
    LimitDropped,
    /// The fragment would end past the largest IP datagram.
    TooLong,
}

/// An incomplete datagram.
#[derive(Debug)]
struct Pending {
    /// Header of the offset-0 fragment, empty until it arrives.
    header: Vec<u8>,
    /// Payload bytes at their original offsets.
    data: Vec<u8>,
    /// Received byte ranges of `data`: sorted, disjoint, not adjacent.
    received: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment arrives.
    total: Option<usize>,
    first_seen: Timestamp,
}

impl Pending {
    fn is_complete(&self) -> bool {
        !self.header.is_empty()
            && matches!((self.total, self.received.as_slice()), (Some(total), &[(0, end)]) if end == total)
    }

    /// True if the new bytes disagree with bytes already received at the same offsets.
    fn conflicts(&self, offset: usize, data: &[u8]) -> bool {
        let end = offset + data.len();
        self.received.iter().any(|&(start, stop)| {
            let from = start.max(offset);
            let to = stop.min(end);
            from < to && self.data.get(from..to) != data.get(from - offset..to - offset)
        })
    }

    fn mark_received(&mut self, offset: usize, end: usize) {
        let mut start = offset;
        let mut stop = end;
        self.received.retain(|&(s, e)| {
            if e < start || s > stop {
                true
            } else {
                start = start.min(s);
                stop = stop.max(e);
                false
            }
        });
        let at = self.received.partition_point(|&(s, _)| s < start);
        self.received.insert(at, (start, stop));
    }
}

/// Reassembly state for both IP versions.
#[derive(Debug, Default)]
pub struct Reassembler {
    pending: HashMap<FragmentKey, Pending>,
    pending_bytes: usize,
    /// Earliest packet time at which some pending datagram expires.
    next_expiry: Option<Timestamp>,
    assembled: Vec<u8>,
}

impl Reassembler {
    /// The datagram completed by the last `insert` that returned `Complete`.
    pub fn assembled(&self) -> &[u8] {
        &self.assembled
    }

    /// Drops incomplete datagrams first seen more than 30 s before `now`; returns how many.
    pub fn expire(&mut self, now: Timestamp) -> u64 {
        match self.next_expiry {
            Some(deadline) if now >= deadline => {}
            _ => return 0,
        }
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, pending| {
            let keep = now.saturating_sub(pending.first_seen) <= FRAGMENT_TIMEOUT_NANOS;
            if !keep {
                freed += pending.data.len();
            }
            keep
        });
        self.pending_bytes -= freed;
        self.next_expiry = self.earliest_deadline();
        (before - self.pending.len()) as u64
    }

    /// Adds one fragment at packet time `now`.
    pub fn insert(
        &mut self,
        key: FragmentKey,
        piece: FragmentPiece<'_>,
        now: Timestamp,
    ) -> Insertion {
        let header_len = if key.src.is_ipv4() {
            piece.header.len()
        } else {
            0
        };
        let Some(end) = piece.offset.checked_add(piece.data.len()) else {
            return Insertion::TooLong;
        };
        if end + header_len > MAX_DATAGRAM_LEN {
            return Insertion::TooLong;
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING_DATAGRAMS {
                return Insertion::LimitDropped;
            }
            self.pending.insert(
                key,
                Pending {
                    header: Vec::new(),
                    data: Vec::new(),
                    received: Vec::new(),
                    total: None,
                    first_seen: now,
                },
            );
            let deadline = Timestamp(now.0.saturating_add(FRAGMENT_TIMEOUT_NANOS + 1));
            self.next_expiry = Some(self.next_expiry.map_or(deadline, |d| d.min(deadline)));
        }
        let Some(pending) = self.pending.get_mut(&key) else {
            return Insertion::LimitDropped;
        };
        let end_conflict = match pending.total {
            Some(total) => end > total || (!piece.more && end != total),
            None => !piece.more && pending.received.last().is_some_and(|&(_, e)| e > end),
        };
        if end_conflict || pending.conflicts(piece.offset, piece.data) {
            self.remove(&key);
            return Insertion::OverlapDropped;
        }
        let growth = end.saturating_sub(pending.data.len());
        if self.pending_bytes + growth > MAX_PENDING_BYTES {
            self.remove(&key);
            return Insertion::LimitDropped;
        }
        if growth > 0 {
            pending.data.resize(end, 0);
            self.pending_bytes += growth;
        }
        if let Some(target) = pending.data.get_mut(piece.offset..end) {
            target.copy_from_slice(piece.data);
        }
        pending.mark_received(piece.offset, end);
        if !piece.more {
            pending.total = Some(end);
        }
        if piece.offset == 0 && pending.header.is_empty() {
            pending.header.extend_from_slice(piece.header);
        }
        if !pending.is_complete() {
            return Insertion::Pending;
        }
        if let Some(done) = self.remove(&key) {
            self.rebuild(key, &done);
        }
        Insertion::Complete
    }

    fn remove(&mut self, key: &FragmentKey) -> Option<Pending> {
        let removed = self.pending.remove(key)?;
        self.pending_bytes -= removed.data.len();
        if self.pending.is_empty() {
            self.next_expiry = None;
        }
        Some(removed)
    }

    fn earliest_deadline(&self) -> Option<Timestamp> {
        self.pending
            .values()
            .map(|p| Timestamp(p.first_seen.0.saturating_add(FRAGMENT_TIMEOUT_NANOS + 1)))
            .min()
    }

    /// Writes header + payload into `assembled` and marks the header as unfragmented.
    fn rebuild(&mut self, key: FragmentKey, done: &Pending) {
        self.assembled.clear();
        self.assembled.extend_from_slice(&done.header);
        self.assembled.extend_from_slice(&done.data);
        let total = u16::try_from(self.assembled.len()).unwrap_or(u16::MAX);
        if key.src.is_ipv4() {
            let mut packet = ipv4::Packet::new_unchecked(&mut self.assembled[..]);
            packet.set_total_len(total);
            packet.clear_fragmentation();
            packet.fill_checksum();
        } else {
            let payload_len = u16::try_from(done.data.len()).unwrap_or(u16::MAX);
            let mut packet = ipv6::Packet::new_unchecked(&mut self.assembled[..]);
            packet.set_payload_len(payload_len);
            packet.set_next_header(key.proto);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key() -> FragmentKey {
        FragmentKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            ident: 7,
            proto: 17,
        }
    }

    /// IPv4 header of a first fragment: MF set, total length 28, proto UDP.
    const HEADER: [u8; 20] = [
        0x45, 0, 0, 28, 0, 7, 0x20, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    fn piece<'a>(offset: usize, more: bool, data: &'a [u8]) -> FragmentPiece<'a> {
        FragmentPiece {
            header: &HEADER,
            offset,
            more,
            data,
        }
    }

    #[test]
    fn reassembles_out_of_order_with_duplicate() {
        let mut reassembler = Reassembler::default();
        let t = Timestamp(1);
        assert_eq!(
            reassembler.insert(key(), piece(16, false, &[3; 4]), t),
            Insertion::Pending
        );
        assert_eq!(
            reassembler.insert(key(), piece(8, true, &[2; 8]), t),
            Insertion::Pending
        );
        assert_eq!(
            reassembler.insert(key(), piece(8, true, &[2; 8]), t),
            Insertion::Pending
        );
        assert_eq!(
            reassembler.insert(key(), piece(0, true, &[1; 8]), t),
            Insertion::Complete
        );
        let whole = reassembler.assembled();
        let packet = ipv4::Packet::new_checked(whole).expect("valid datagram");
        assert_eq!(packet.total_len(), 40);
        assert!(!packet.is_fragment());
        assert!(packet.verify_checksum());
        assert_eq!(
            &whole[20..],
            &[[1u8; 8], [2; 8]]
                .concat()
                .into_iter()
                .chain([3; 4])
                .collect::<Vec<_>>()[..]
        );
        assert_eq!(reassembler.pending.len(), 0);
        assert_eq!(reassembler.pending_bytes, 0);
    }

    #[test]
    fn conflicting_overlap_drops_the_datagram() {
        let mut reassembler = Reassembler::default();
        let t = Timestamp(1);
        assert_eq!(
            reassembler.insert(key(), piece(0, true, &[1; 16]), t),
            Insertion::Pending
        );
        assert_eq!(
            reassembler.insert(key(), piece(8, true, &[9; 8]), t),
            Insertion::OverlapDropped
        );
        assert_eq!(reassembler.pending.len(), 0);
        assert_eq!(reassembler.pending_bytes, 0);
    }

    #[test]
    fn moved_end_drops_the_datagram() {
        let mut reassembler = Reassembler::default();
        let t = Timestamp(1);
        assert_eq!(
            reassembler.insert(key(), piece(8, false, &[1; 8]), t),
            Insertion::Pending
        );
        assert_eq!(
            reassembler.insert(key(), piece(16, true, &[1; 8]), t),
            Insertion::OverlapDropped
        );
    }

    #[test]
    fn expires_by_packet_time() {
        let mut reassembler = Reassembler::default();
        assert_eq!(
            reassembler.insert(key(), piece(0, true, &[1; 8]), Timestamp(5)),
            Insertion::Pending
        );
        assert_eq!(reassembler.expire(Timestamp(5 + FRAGMENT_TIMEOUT_NANOS)), 0);
        assert_eq!(reassembler.expire(Timestamp(6 + FRAGMENT_TIMEOUT_NANOS)), 1);
        assert_eq!(reassembler.pending.len(), 0);
        assert_eq!(reassembler.pending_bytes, 0);
    }

    #[test]
    fn rejects_fragments_past_the_largest_datagram() {
        let mut reassembler = Reassembler::default();
        let data = [0u8; 16];
        assert_eq!(
            reassembler.insert(key(), piece(65_520, false, &data), Timestamp(1)),
            Insertion::TooLong
        );
    }

    #[test]
    fn limits_pending_datagrams() {
        let mut reassembler = Reassembler::default();
        for ident in 0..MAX_PENDING_DATAGRAMS as u32 {
            let k = FragmentKey { ident, ..key() };
            assert_eq!(
                reassembler.insert(k, piece(0, true, &[0; 8]), Timestamp(1)),
                Insertion::Pending
            );
        }
        let extra = FragmentKey {
            ident: u32::MAX,
            ..key()
        };
        assert_eq!(
            reassembler.insert(extra, piece(0, true, &[0; 8]), Timestamp(1)),
            Insertion::LimitDropped
        );
    }
}
