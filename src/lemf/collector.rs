//! What the reference LEMF keeps: every received PDU decoded, duplicates and sequence gaps
//! found per (LIID, CIN, IRI/CC), `records.jsonl`, de-duplicated `hi2.ber`/`hi3.ber` and
//! `content.pcap`; `laes` CDC records and CCC frames into the same files (`hi3.ccc` for CCC).
//! Synchronous; survives a restart on the same directory.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::pcap;
use super::sip::summarise;
use crate::handover::laes::decode::{decode_cdc, looks_like_cdc, udp_payload, CdcRecord};
use crate::handover::laes::{case_id_field, Frame};
use crate::handover::etsi::Hi1Notification;
use crate::handover::{decode_pdu, split_stream, DecodeError, Header, Hi1Operation, Payload, Pdu};
use crate::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Record kind: which interface's counter numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Iri,
    Cc,
}

type StreamKey = (Vec<u8>, u32, Kind);

#[derive(Default, Debug)]
struct StreamState {
    seen: HashSet<u32>,
    max: Option<u32>,
}

/// Counts of everything received. Gaps are sequence numbers missing below the highest
/// one seen, summed over all (LIID, CIN, IRI/CC).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LemfStats {
    pub records: u64,
    pub duplicates: u64,
    pub keepalives: u64,
    pub undecodable: u64,
    pub gaps: u64,
    pub iri_records: u64,
    pub cc_records: u64,
    /// HI1 notifications (hI1-Operation payloads: activated, deactivated, modified).
    pub hi1_notifications: u64,
    /// TLS handshakes refused (set by the server, not the collector).
    pub refused_clients: u64,
    /// Distinct records per LIID.
    pub per_liid: std::collections::BTreeMap<String, u64>,
}

/// What one received PDU was.
#[derive(Debug)]
pub enum Received {
    /// A keep-alive: answer it (after `flush`) with a response echoing this header.
    KeepAlive(Header),
    Record { duplicate: bool },
    Other,
}

/// The LEMF's store of received records in `dir`.
pub struct Collector {
    dir: PathBuf,
    hi2: BufWriter<File>,
    hi3: BufWriter<File>,
    jsonl: BufWriter<File>,
    pcap: BufWriter<File>,
    /// `laes` CCC frames, opened with the first one.
    ccc: Option<BufWriter<File>>,
    /// `laes`: (Case ID field, CIN) → the full caseId, learnt from `ccopen`.
    ccc_cases: HashMap<([u8; 8], u32), String>,
    streams: HashMap<StreamKey, StreamState>,
    stats: LemfStats,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CollectorError + '_ {
    move |source| CollectorError::Io { path: path.to_owned(), source }
}

fn open_append(path: &Path) -> Result<BufWriter<File>, CollectorError> {
    let f = OpenOptions::new().create(true).append(true).open(path).map_err(io_at(path))?;
    Ok(BufWriter::with_capacity(256 * 1024, f))
}

impl Collector {
    /// Opens `dir`, re-reading earlier `hi2.ber`/`hi3.ber` (a torn last PDU is cut) so that
    /// records received before a restart count as seen.
    pub fn open(dir: &Path) -> Result<Collector, CollectorError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let mut streams: HashMap<StreamKey, StreamState> = HashMap::new();
        let mut stats = LemfStats::default();
        for name in ["hi2.ber", "hi3.ber"] {
            let path = dir.join(name);
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(CollectorError::Io { path, source }),
            };
            let mut whole = 0usize;
            for pdu in split_stream(&bytes) {
                let Ok(pdu) = pdu else { break };
                whole += pdu.len();
                if let Ok(p) = decode_pdu(pdu) {
                    if let Some((key, seq)) = stream_key(&p) {
                        note(&mut streams, &mut stats, key, seq);
                    }
                }
            }
            if whole < bytes.len() {
                let f = OpenOptions::new().write(true).open(&path).map_err(io_at(&path))?;
                f.set_len(whole as u64).map_err(io_at(&path))?;
            }
        }
        let pcap_path = dir.join("content.pcap");
        let fresh_pcap = fs::metadata(&pcap_path).map(|m| m.len() == 0).unwrap_or(true);
        let mut pcap = open_append(&pcap_path)?;
        if fresh_pcap {
            pcap.write_all(&pcap::global_header()).map_err(io_at(&pcap_path))?;
        }
        let mut c = Collector {
            dir: dir.to_owned(),
            hi2: open_append(&dir.join("hi2.ber"))?,
            hi3: open_append(&dir.join("hi3.ber"))?,
            jsonl: open_append(&dir.join("records.jsonl"))?,
            pcap,
            ccc: None,
            ccc_cases: HashMap::new(),
            streams,
            stats,
        };
        c.stats.gaps = c.gaps();
        Ok(c)
    }

    pub fn stats(&self) -> LemfStats {
        let mut s = self.stats.clone();
        s.gaps = self.gaps();
        s
    }

    fn gaps(&self) -> u64 {
        self.streams
            .values()
            .map(|s| s.max.map_or(0, |m| u64::from(m) + 1 - s.seen.len() as u64))
            .sum()
    }

    /// Takes one whole PDU from a connection: a PS-PDU, or a `laes` CDC record.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Received, CollectorError> {
        if looks_like_cdc(bytes) {
            return self.receive_cdc(bytes);
        }
        let pdu = match decode_pdu(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.undecodable(&e);
                return Ok(Received::Other);
            }
        };
        match pdu.payload {
            Payload::KeepAlive => {
                self.stats.keepalives += 1;
                return Ok(Received::KeepAlive(pdu.header));
            }
            Payload::Hi1(op) => {
                self.hi1(&pdu.header, &op, bytes.len())?;
                return Ok(Received::Other);
            }
            Payload::Iri(_) | Payload::Cc(_) => {}
            _ => return Ok(Received::Other),
        }
        let Some((key, seq)) = stream_key(&pdu) else { return Ok(Received::Other) };
        let (liid, cin, kind) = (key.0.clone(), key.1, key.2);
        let expected = self.streams.get(&key).and_then(|s| s.max).map_or(0, |m| m.wrapping_add(1));
        let duplicate = !note(&mut self.streams, &mut self.stats, key, seq);
        if duplicate {
            self.stats.duplicates += 1;
        } else {
            if seq > expected {
                tracing::warn!(cin, ?kind, expected, got = seq, "sequence gap");
            }
            let (w, name) = match kind {
                Kind::Iri => (&mut self.hi2, "hi2.ber"),
                Kind::Cc => (&mut self.hi3, "hi3.ber"),
            };
            w.write_all(bytes).map_err(|source| CollectorError::Io { path: self.dir.join(name), source })?;
            self.write_pcap(&pdu, cin)?;
        }
        self.write_line(&pdu, &liid, cin, kind, seq, bytes.len(), duplicate)?;
        Ok(Received::Record { duplicate })
    }

    /// An HI1 notification: counted, and one `records.jsonl` line (kind `hi1`). It belongs
    /// to no record stream, so it is not stored in `hi2.ber`.
    fn hi1(&mut self, header: &Header, op: &Hi1Operation, size: usize) -> Result<(), CollectorError> {
        self.stats.hi1_notifications += 1;
        let notification = match op.notification {
            Some(Hi1Notification::Activated) => "activated".to_owned(),
            Some(Hi1Notification::Deactivated) => "deactivated".to_owned(),
            Some(Hi1Notification::Modified) => "modified".to_owned(),
            None => format!("[{}]", op.alternative),
        };
        let line = json!({
            "liid": String::from_utf8_lossy(op.liid.as_deref().unwrap_or(&header.liid)),
            "kind": "hi1",
            "notification": notification,
            // The PSHeader's (microseconds); the notification's own timeStamp has whole seconds.
            "timestamp": timestamp(header).to_rfc3339(),
            "size": size,
        });
        self.append_line(&line)
    }

    fn undecodable(&mut self, e: &DecodeError) {
        self.stats.undecodable += 1;
        tracing::warn!(error = %e, "undecodable PDU");
    }

    fn write_pcap(&mut self, pdu: &Pdu, cin: u32) -> Result<(), CollectorError> {
        let Payload::Cc(ccs) = &pdu.payload else { return Ok(()) };
        let ts = timestamp(&pdu.header);
        for cc in ccs {
            self.pcap_content(ts, cin, cc.direction == Some(1), &cc.contents)?;
        }
        Ok(())
    }

    /// One RTP/RTCP packet into `content.pcap`, between a per-CIN port pair.
    fn pcap_content(&mut self, ts: Timestamp, cin: u32, to_target: bool, contents: &[u8]) -> Result<(), CollectorError> {
        let port_target = 16_384 + 2 * (cin % 16_000) as u16;
        let target = (pcap::TARGET, port_target);
        let remote = (pcap::REMOTE, port_target + 2);
        let (src, dst) = if to_target { (remote, target) } else { (target, remote) };
        pcap::write_record(&mut self.pcap, ts, src, dst, contents)
            .map_err(|source| CollectorError::Io { path: self.dir.join("content.pcap"), source })
    }

    fn count(&mut self, liid: &str, kind: Kind) {
        self.stats.records += 1;
        match kind {
            Kind::Iri => self.stats.iri_records += 1,
            Kind::Cc => self.stats.cc_records += 1,
        }
        *self.stats.per_liid.entry(liid.to_owned()).or_default() += 1;
    }

    /// A `laes` CDC record: stored in `hi2.ber`, one `records.jsonl` line (kind IRI, the
    /// PCESP message as `event`, no sequence number: `laes` has none, so no duplicate or gap
    /// detection either).
    fn receive_cdc(&mut self, bytes: &[u8]) -> Result<Received, CollectorError> {
        let rec = match decode_cdc(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.stats.undecodable += 1;
                tracing::warn!(error = %e, "undecodable CDC record");
                return Ok(Received::Other);
            }
        };
        let cin = cdc_cin(&rec);
        if let (Some(cin), Some(_)) = (cin, &rec.ccc_ids) {
            self.ccc_cases.insert((case_id_field(&rec.case_id), cin), rec.case_id.clone());
        }
        self.count(&rec.case_id, Kind::Iri);
        self.hi2.write_all(bytes).map_err(|source| CollectorError::Io { path: self.dir.join("hi2.ber"), source })?;
        let line = json!({
            "liid": rec.case_id,
            "cin": cin,
            "kind": "IRI",
            "sequence": null,
            "timestamp": rfc3339_of_generalized(&rec.event_time),
            "size": bytes.len(),
            "duplicate": false,
            "event": rec.message,
            "content": "CdcPdu",
            "caller": rec.calling.as_ref().map(|p| &p.value),
            "callee": rec.called.as_ref().or(rec.answering.as_ref()).map(|p| &p.value),
        });
        self.append_line(&line)?;
        Ok(Received::Record { duplicate: false })
    }

    /// A `laes` CCC frame: stored in `hi3.ccc`, its RTP/RTCP into `content.pcap` (direction
    /// from the CCCID's low bit), one `records.jsonl` line (kind CC).
    pub fn receive_ccc(&mut self, bytes: &[u8]) -> Result<Received, CollectorError> {
        let frame = match Frame::new_checked(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.stats.undecodable += 1;
                tracing::warn!(error = %e, "undecodable CCC frame");
                return Ok(Received::Other);
            }
        };
        let (cin, to_target) = (frame.ccc_id() >> 1, frame.ccc_id() & 1 == 1);
        let liid = match self.ccc_cases.get(&(frame.case_id(), cin)) {
            Some(l) => l.clone(),
            None => frame.case_id_text(),
        };
        self.count(&liid, Kind::Cc);
        let path = self.dir.join("hi3.ccc");
        let w = match &mut self.ccc {
            Some(w) => w,
            None => self.ccc.insert(open_append(&path)?),
        };
        w.write_all(bytes).map_err(|source| CollectorError::Io { path, source })?;
        let contents = udp_payload(frame.ip_packet()).unwrap_or_default();
        let ts = frame.timestamp();
        self.pcap_content(ts, cin, to_target, contents)?;
        let line = json!({
            "liid": liid,
            "cin": cin,
            "kind": "CC",
            "sequence": null,
            "timestamp": ts.to_rfc3339(),
            "size": bytes.len(),
            "duplicate": false,
            "direction": if to_target { "toTarget" } else { "fromTarget" },
            "content_size": contents.len(),
        });
        self.append_line(&line)?;
        Ok(Received::Record { duplicate: false })
    }

    fn append_line(&mut self, line: &serde_json::Value) -> Result<(), CollectorError> {
        let path = || self.dir.join("records.jsonl");
        serde_json::to_writer(&mut self.jsonl, line)
            .map_err(|e| CollectorError::Io { path: path(), source: io::Error::other(e) })?;
        self.jsonl.write_all(b"\n").map_err(|source| CollectorError::Io { path: path(), source })
    }

    #[allow(clippy::too_many_arguments)]
    fn write_line(
        &mut self,
        pdu: &Pdu,
        liid: &[u8],
        cin: u32,
        kind: Kind,
        seq: u32,
        size: usize,
        duplicate: bool,
    ) -> Result<(), CollectorError> {
        let mut line = json!({
            "liid": String::from_utf8_lossy(liid),
            "cin": cin,
            "kind": match kind { Kind::Iri => "IRI", Kind::Cc => "CC" },
            "sequence": seq,
            "timestamp": timestamp(&pdu.header).to_rfc3339(),
            "size": size,
            "duplicate": duplicate,
        });
        match &pdu.payload {
            Payload::Iri(iris) => {
                if let Some(iri) = iris.first() {
                    line["iri_type"] = json!(iri.iri_type.map(iri_type_name));
                    line["content"] = json!(iri.kind.asn1_name());
                    line["content_size"] = json!(iri.bytes.len());
                    if iri.src.is_some() {
                        let s = summarise(&iri.bytes);
                        line["sip"] = json!(s.method_or_status);
                        line["caller"] = json!(s.caller);
                        line["callee"] = json!(s.callee);
                    }
                }
            }
            Payload::Cc(ccs) => {
                if let Some(cc) = ccs.first() {
                    line["direction"] = json!(match cc.direction {
                        Some(0) => "fromTarget",
                        Some(1) => "toTarget",
                        _ => "unknown",
                    });
                    line["content_size"] = json!(cc.contents.len());
                }
            }
            _ => {}
        }
        self.append_line(&line)
    }

    /// Pushes everything received to the files (before a keep-alive is answered).
    pub fn flush(&mut self) -> Result<(), CollectorError> {
        for (w, name) in [
            (&mut self.hi2, "hi2.ber"),
            (&mut self.hi3, "hi3.ber"),
            (&mut self.jsonl, "records.jsonl"),
            (&mut self.pcap, "content.pcap"),
        ] {
            w.flush().map_err(|source| CollectorError::Io { path: self.dir.join(name), source })?;
        }
        if let Some(w) = &mut self.ccc {
            w.flush().map_err(|source| CollectorError::Io { path: self.dir.join("hi3.ccc"), source })?;
        }
        Ok(())
    }
}

/// The CIN of a `laes` CDC record: the `CIN,HASH` of its callId, or a ccclose's CCCID / 2.
fn cdc_cin(rec: &CdcRecord) -> Option<u32> {
    match (&rec.call_id, &rec.ccc_ids) {
        (Some((seq, _)), _) => seq.split(',').next()?.parse().ok(),
        (None, Some((xmit, _))) => u32::from_str_radix(xmit, 16).ok().map(|id| id >> 1),
        _ => None,
    }
}

/// `20261102140000.77Z` → `2026-11-02T14:00:00.770000Z`; other text is returned as it is.
fn rfc3339_of_generalized(t: &str) -> String {
    let (Some(main), Some(frac)) = (t.get(..14), t.strip_suffix('Z').map(|x| x.get(14..).unwrap_or(""))) else {
        return t.to_owned();
    };
    let digits = frac.strip_prefix('.').unwrap_or(frac);
    if !main.bytes().all(|b| b.is_ascii_digit()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
        return t.to_owned();
    }
    let d = |r: std::ops::Range<usize>| main.get(r).unwrap_or("00");
    format!("{}-{}-{}T{}:{}:{}.{:0<6}Z", d(0..4), d(4..6), d(6..8), d(8..10), d(10..12), d(12..14), digits)
}

/// Records `seq` of `key`; false when it was seen before.
fn note(streams: &mut HashMap<StreamKey, StreamState>, stats: &mut LemfStats, key: StreamKey, seq: u32) -> bool {
    let kind = key.2;
    let liid = String::from_utf8_lossy(&key.0).into_owned();
    let s = streams.entry(key).or_default();
    if !s.seen.insert(seq) {
        return false;
    }
    s.max = Some(s.max.map_or(seq, |m| m.max(seq)));
    stats.records += 1;
    match kind {
        Kind::Iri => stats.iri_records += 1,
        Kind::Cc => stats.cc_records += 1,
    }
    *stats.per_liid.entry(liid).or_default() += 1;
    true
}

fn stream_key(p: &Pdu) -> Option<(StreamKey, u32)> {
    let kind = match p.payload {
        Payload::Iri(_) => Kind::Iri,
        Payload::Cc(_) => Kind::Cc,
        _ => return None,
    };
    Some(((p.header.liid.clone(), p.header.cin.unwrap_or(0), kind), p.header.sequence))
}

/// The PDU's timestamp (seconds and microseconds of the PSHeader).
pub fn timestamp(h: &Header) -> Timestamp {
    Timestamp::from_secs_micros(h.seconds.unwrap_or(0), h.micros.unwrap_or(0))
}

fn iri_type_name(t: u32) -> &'static str {
    match t {
        1 => "BEGIN",
        2 => "END",
        3 => "CONTINUE",
        4 => "REPORT",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::laes::{ccc_pair, encode_cdc, write_frame, CallId, Common, Message};
    use crate::handover::{encode_cc, encode_iri, encode_keepalive, Direction, IriContent, IriType, PduHeader};
    use std::net::{IpAddr, Ipv4Addr};

    fn header(cin: u32, sequence: u32) -> PduHeader<'static> {
        PduHeader {
            liid: "LIID-1",
            authorization_country: "US",
            operator_id: "OP",
            network_element_id: "NE",
            cin,
            delivery_country: "US",
            sequence,
            ts: Timestamp::from_secs_micros(1_790_000_000, 7),
        }
    }

    fn iri(cin: u32, seq: u32) -> Vec<u8> {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let sip = b"BYE sip:b@x SIP/2.0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n\r\n";
        let mut out = Vec::new();
        encode_iri(&mut out, &header(cin, seq), IriType::End, &IriContent::SipMessage { src: ip, dst: ip, sip });
        out
    }

    fn cc(cin: u32, seq: u32) -> Vec<u8> {
        let mut out = Vec::new();
        encode_cc(&mut out, &header(cin, seq), Direction::ToTarget, &[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]);
        out
    }

    #[test]
    fn duplicates_are_flagged_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        let (a, b) = (iri(5, 0), cc(5, 0));
        assert!(matches!(c.receive(&a).unwrap(), Received::Record { duplicate: false }));
        assert!(matches!(c.receive(&b).unwrap(), Received::Record { duplicate: false }));
        assert!(matches!(c.receive(&a).unwrap(), Received::Record { duplicate: true }));
        c.flush().unwrap();
        assert_eq!(fs::read(dir.path().join("hi2.ber")).unwrap(), a);
        assert_eq!(fs::read(dir.path().join("hi3.ber")).unwrap(), b);
        let lines = fs::read_to_string(dir.path().join("records.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["sip"], "BYE");
        assert_eq!(first["caller"], "sip:a@x");
        assert_eq!(first["callee"], "sip:b@x");
        assert_eq!(first["iri_type"], "END");
        assert_eq!((first["cin"].as_u64(), first["duplicate"].as_bool()), (Some(5), Some(false)));
        assert_eq!(lines.lines().count(), 3);
        let s = c.stats();
        assert_eq!((s.records, s.duplicates, s.gaps), (2, 1, 0));
        let pcap_len = fs::metadata(dir.path().join("content.pcap")).unwrap().len();
        assert_eq!(pcap_len, 24 + 16 + 42 + 12);
    }

    #[test]
    fn hi1_notifications_get_a_line_and_a_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        let mut pdu = Vec::new();
        crate::handover::etsi::encode_hi1_notification(&mut pdu, &header(0, 0), Hi1Notification::Activated);
        assert!(matches!(c.receive(&pdu).unwrap(), Received::Other));
        pdu.clear();
        crate::handover::etsi::encode_hi1_notification(&mut pdu, &header(0, 0), Hi1Notification::Deactivated);
        c.receive(&pdu).unwrap();
        c.flush().unwrap();
        let lines: Vec<serde_json::Value> = fs::read_to_string(dir.path().join("records.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0]["kind"].as_str(), lines[0]["notification"].as_str()), (Some("hi1"), Some("activated")));
        assert_eq!(lines[1]["notification"], "deactivated");
        assert_eq!(lines[1]["liid"], "LIID-1");
        assert_eq!(lines[1]["timestamp"], Timestamp::from_secs_micros(1_790_000_000, 7).to_rfc3339());
        let s = c.stats();
        assert_eq!((s.hi1_notifications, s.records, s.undecodable), (2, 0, 0));
        assert_eq!(fs::metadata(dir.path().join("hi2.ber")).unwrap().len(), 0, "not a record");
    }

    #[test]
    fn gaps_count_missing_sequence_numbers_until_filled() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        c.receive(&iri(1, 0)).unwrap();
        c.receive(&iri(1, 3)).unwrap();
        assert_eq!(c.stats().gaps, 2);
        c.receive(&iri(1, 1)).unwrap();
        c.receive(&iri(1, 2)).unwrap();
        assert_eq!(c.stats().gaps, 0);
    }

    #[test]
    fn a_reopened_collector_remembers_what_it_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        c.receive(&iri(1, 0)).unwrap();
        c.flush().unwrap();
        drop(c);
        let mut f = OpenOptions::new().append(true).open(dir.path().join("hi2.ber")).unwrap();
        f.write_all(&iri(1, 1)[..10]).unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        assert!(matches!(c.receive(&iri(1, 0)).unwrap(), Received::Record { duplicate: true }));
        assert!(matches!(c.receive(&iri(1, 1)).unwrap(), Received::Record { duplicate: false }));
        c.flush().unwrap();
        assert_eq!(fs::read(dir.path().join("hi2.ber")).unwrap(), [iri(1, 0), iri(1, 1)].concat());
    }

    #[test]
    fn keepalives_are_returned_for_an_answer() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        let mut ka = Vec::new();
        encode_keepalive(&mut ka, &header(0, 42));
        match c.receive(&ka).unwrap() {
            Received::KeepAlive(h) => assert_eq!((h.sequence, h.liid), (42, b"LIID-1".to_vec())),
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.receive(&[0x30, 0x01, 0x00]).unwrap(), Received::Other));
        assert_eq!(c.stats().undecodable, 1);
    }

    #[test]
    fn laes_cdc_and_ccc_become_records_lines_and_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Collector::open(dir.path()).unwrap();
        let liid = "PHX-2026-T3-0007";
        let common = Common { case_id: liid, element_id: "MED-01", time: Timestamp::from_secs_micros(1_790_000_000, 770_000) };
        let call_id = CallId { sequence: "5,811C9DC5", system: "MED-01" };
        let mut cdc = Vec::new();
        encode_cdc(&mut cdc, &common, &Message::CcOpen { call_id, ccc: ccc_pair(5), subject: None, associate: None });
        assert!(matches!(c.receive(&cdc).unwrap(), Received::Record { duplicate: false }));
        let ip: [u8; 32] = [
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x0f, 0xa0, 0x13, 0x88, 0, 12, 0, 0,
            0x80, 0x00, 0x00, 0x01,
        ];
        let mut frame = Vec::new();
        write_frame(&mut frame, ccc_pair(5).recv, common.time, &case_id_field(liid), &ip);
        assert!(matches!(c.receive_ccc(&frame).unwrap(), Received::Record { duplicate: false }));
        c.flush().unwrap();
        let lines: Vec<serde_json::Value> = fs::read_to_string(dir.path().join("records.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["event"], "ccopen");
        assert_eq!((lines[0]["liid"].as_str(), lines[0]["cin"].as_u64()), (Some(liid), Some(5)));
        assert_eq!(lines[0]["timestamp"], "2026-09-21T14:13:20.770000Z");
        assert_eq!((lines[1]["kind"].as_str(), lines[1]["direction"].as_str()), (Some("CC"), Some("toTarget")));
        assert_eq!((lines[1]["liid"].as_str(), lines[1]["cin"].as_u64()), (Some(liid), Some(5)));
        assert_eq!(lines[1]["content_size"], 4);
        assert_eq!(fs::read(dir.path().join("hi3.ccc")).unwrap(), frame);
        // 24-octet pcap header + 16-octet record header + 14 + 20 + 8 + 4 octets of frame.
        assert_eq!(fs::metadata(dir.path().join("content.pcap")).unwrap().len(), 24 + 16 + 46);
        assert_eq!(c.stats().iri_records + c.stats().cc_records, 2);
    }

    #[test]
    fn generalized_time_to_rfc3339() {
        assert_eq!(rfc3339_of_generalized("20261102140000.77Z"), "2026-11-02T14:00:00.770000Z");
        assert_eq!(rfc3339_of_generalized("20261102140000Z"), "2026-11-02T14:00:00.000000Z");
        assert_eq!(rfc3339_of_generalized("garbage"), "garbage");
    }
}
