//! Owned records crossing threads: one arena per batch holding every record's bytes, each
//! record tagged with the capture index of the packet it came from (the merge key).

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use crate::mediation::{Direction, IriEvent, IriForm, IriType, Record, RecordBody, RecordSink};
use crate::warrant::Warrant;
use crate::Timestamp;

#[derive(Debug)]
enum Body {
    Iri { iri_type: IriType, event: IriEvent, form: IriForm, src: IpAddr, dst: IpAddr, bytes: Range<usize> },
    Cc { direction: Direction, src: IpAddr, dst: IpAddr, bytes: Range<usize>, ip_packet: Range<usize> },
}

#[derive(Debug)]
struct Owned {
    index: u64,
    warrant: Arc<Warrant>,
    cin: u32,
    ts: Timestamp,
    body: Body,
}

/// Records of one stage for one batch, in the order they were made. Collects as a
/// [`RecordSink`], tagging each with the index set by [`RecordBuf::at`].
#[derive(Debug, Default)]
pub struct RecordBuf {
    index: u64,
    records: Vec<Owned>,
    bytes: Vec<u8>,
}

impl RecordBuf {
    /// Records from now on come from the packet with capture index `index`.
    pub fn at(&mut self, index: u64) {
        self.index = index;
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Capture index of record `i`.
    pub fn index_of(&self, i: usize) -> Option<u64> {
        self.records.get(i).map(|r| r.index)
    }

    /// Hands record `i` to `sink` as mediation made it.
    pub fn replay(&self, i: usize, sink: &mut impl RecordSink) {
        let Some(r) = self.records.get(i) else { return };
        let slice = |range: &Range<usize>| self.bytes.get(range.clone()).unwrap_or_default();
        let body = match &r.body {
            Body::Iri { iri_type, event, form, src, dst, bytes } => RecordBody::Iri {
                iri_type: *iri_type,
                event: *event,
                form: *form,
                src: *src,
                dst: *dst,
                bytes: slice(bytes),
            },
            Body::Cc { direction, src, dst, bytes, ip_packet } => RecordBody::Cc {
                direction: *direction,
                src: *src,
                dst: *dst,
                bytes: slice(bytes),
                ip_packet: slice(ip_packet),
            },
        };
        sink.record(&Record { warrant: &r.warrant, cin: r.cin, ts: r.ts, body });
    }

    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }
}

impl RecordSink for RecordBuf {
    fn record(&mut self, r: &Record<'_>) {
        let body = match r.body {
            RecordBody::Iri { iri_type, event, form, src, dst, bytes } => {
                Body::Iri { iri_type, event, form, src, dst, bytes: self.keep(bytes) }
            }
            RecordBody::Cc { direction, src, dst, bytes, ip_packet } => {
                // The payload lies inside the IP packet: keep the packet once.
                let ip = self.keep(ip_packet);
                let offset = (bytes.as_ptr() as usize).wrapping_sub(ip_packet.as_ptr() as usize);
                let inside = offset.checked_add(bytes.len()).is_some_and(|end| end <= ip_packet.len());
                let bytes = if inside { ip.start + offset..ip.start + offset + bytes.len() } else { self.keep(bytes) };
                Body::Cc { direction, src, dst, bytes, ip_packet: ip }
            }
        };
        self.records.push(Owned { index: self.index, warrant: Arc::clone(r.warrant), cin: r.cin, ts: r.ts, body });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warrant::WarrantTable;

    fn warrant() -> Arc<Warrant> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("warrants");
        let (store, _) = crate::warrant::Store::load_dir(&dir).unwrap();
        let table = WarrantTable::new(store.warrants);
        let first = Arc::clone(table.iter().next().unwrap());
        first
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let w = warrant();
        let ip = [0x45u8, 0, 0, 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0x80, 0, 1, 2, 9, 9, 9, 9];
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut buf = RecordBuf::default();
        buf.at(7);
        buf.record(&Record {
            warrant: &w,
            cin: 3,
            ts: Timestamp::from_nanos(5),
            body: RecordBody::Cc { direction: Direction::ToTarget, src: a, dst: b, bytes: &ip[28..], ip_packet: &ip },
        });
        buf.at(9);
        let sip = b"INVITE sip:x SIP/2.0\r\n\r\n";
        buf.record(&Record {
            warrant: &w,
            cin: 4,
            ts: Timestamp::from_nanos(6),
            body: RecordBody::Iri {
                iri_type: IriType::Begin,
                event: IriEvent::Origination,
                form: IriForm::SipMessage,
                src: a,
                dst: b,
                bytes: sip,
            },
        });
        assert_eq!((buf.len(), buf.index_of(0), buf.index_of(1), buf.index_of(2)), (2, Some(7), Some(9), None));
        // the CC payload shares the packet's bytes
        assert_eq!(buf.bytes.len(), ip.len() + sip.len());
        let mut seen = Vec::new();
        for i in 0..buf.len() {
            buf.replay(i, &mut |r: &Record<'_>| {
                let bytes = match r.body {
                    RecordBody::Cc { bytes, ip_packet, .. } => [bytes, ip_packet].concat(),
                    RecordBody::Iri { bytes, .. } => bytes.to_vec(),
                };
                seen.push((r.cin, r.ts.as_nanos(), bytes));
            });
        }
        assert_eq!(seen[0], (3, 5, [&ip[28..], &ip[..]].concat()));
        assert_eq!(seen[1], (4, 6, sip.to_vec()));
    }
}
