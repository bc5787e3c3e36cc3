//! What the reference LEMF keeps: every received PDU decoded, duplicates and sequence gaps
//! found per (LIID, CIN, IRI/CC), `records.jsonl`, de-duplicated `hi2.ber`/`hi3.ber` and
//! `content.pcap`; `laes` CDC records and CCC frames into the same files (`hi3.ccc` for CCC).
//! Synchronous; survives a restart on the same directory.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::call_files::CallFiles;
use super::calls::{pdus_of, CallView};
use super::pcap::{self, PcapFile};
use super::sip::summarise;
use crate::handover::laes::decode::{decode_cdc, looks_like_cdc, udp_payload, CdcRecord};
use crate::handover::laes::{case_id_field, Frame};
use crate::handover::etsi::Hi1Notification;
use crate::handover::{decode_pdu, DecodeError, Header, Hi1Operation, Payload, Pdu};
use crate::handover::sequencer::Channel;
use crate::warrant::Profile;
use crate::Timestamp;

/// A stream file as the profiles name it: PS-PDUs (and `laes` CDC records, under the same
/// name) in `hi2.ber`/`hi3.ber`.
fn ber_file(channel: Channel) -> &'static str {
    Profile::Etsi.handover().stream_file_name(channel)
}

/// The `laes` profile's file of CCC frames, `hi3.ccc`.
fn ccc_file() -> &'static str {
    Profile::Laes.handover().stream_file_name(Channel::Hi3)
}

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("warrants for the call view: {0}")]
    Warrants(String),
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
    seen: SeenSequences,
    max: Option<u32>,
}

/// Sequence numbers seen on one stream, in memory bounded by how far ahead of the first
/// missing one records arrived (not by how many were received).
#[derive(Default, Debug)]
struct SeenSequences {
    /// Every number below this was seen.
    below: u64,
    /// Numbers seen at or above `below` (out of order, or after a gap).
    ahead: std::collections::BTreeSet<u32>,
}

impl SeenSequences {
    /// False when `seq` was seen before.
    fn insert(&mut self, seq: u32) -> bool {
        if u64::from(seq) < self.below || !self.ahead.insert(seq) {
            return false;
        }
        while self.ahead.first().is_some_and(|&s| u64::from(s) == self.below) {
            self.ahead.pop_first();
            self.below += 1;
        }
        true
    }

    fn len(&self) -> u64 {
        self.below + self.ahead.len() as u64
    }
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
    /// Connections closed for an oversized record or an unsplittable stream (set by the
    /// server, not the collector).
    pub malformed_connections: u64,
    /// Lines written to `calls.jsonl` by this run of the LEMF.
    pub calls: u64,
    /// Datagrams left out of `calls.pcap` (too big for one UDP datagram, mixed families).
    pub calls_pcap_skipped: u64,
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
    pcap: PcapFile,
    calls: CallFiles,
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
    /// Opens `dir` with a call view that knows no targets ([`Collector::open_with`]).
    pub fn open(dir: &Path) -> Result<Collector, CollectorError> {
        Collector::open_with(dir, CallView::default())
    }

    /// Opens `dir`, re-reading earlier `hi2.ber`/`hi3.ber` (a torn last PDU is cut) so that
    /// records received before a restart count as seen and calls in progress go on.
    pub fn open_with(dir: &Path, view: CallView) -> Result<Collector, CollectorError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let mut streams: HashMap<StreamKey, StreamState> = HashMap::new();
        let mut stats = LemfStats::default();
        let mut calls = CallFiles::open(dir, view)?;
        for name in [ber_file(Channel::Hi2), ber_file(Channel::Hi3)] {
            let path = dir.join(name);
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(CollectorError::Io { path, source }),
            };
            let (pdus, whole) = pdus_of(&bytes);
            for p in &pdus {
                if let Some((key, seq)) = stream_key(p) {
                    note(&mut streams, &mut stats, &key, seq);
                }
                calls.pdu(p)?;
            }
            if whole < bytes.len() {
                let f = OpenOptions::new().write(true).open(&path).map_err(io_at(&path))?;
                f.set_len(whole as u64).map_err(io_at(&path))?;
            }
        }
        let pcap_path = dir.join("content.pcap");
        let pcap = PcapFile::open(&pcap_path).map_err(io_at(&pcap_path))?;
        let mut c = Collector {
            dir: dir.to_owned(),
            hi2: open_append(&dir.join(ber_file(Channel::Hi2)))?,
            hi3: open_append(&dir.join(ber_file(Channel::Hi3)))?,
            jsonl: open_append(&dir.join("records.jsonl"))?,
            pcap,
            calls,
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
        (s.calls, s.calls_pcap_skipped) = self.calls.counts();
        s
    }

    /// Writes the call lines of every call still held (LEMF shutdown), then flushes.
    pub fn finish_calls(&mut self) -> Result<(), CollectorError> {
        self.calls.finish()?;
        self.flush()
    }

    fn gaps(&self) -> u64 {
        self.streams
            .values()
            .map(|s| s.max.map_or(0, |m| (u64::from(m) + 1).saturating_sub(s.seen.len())))
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
        let (cin, kind) = (key.1, key.2);
        let expected = self.streams.get(&key).and_then(|s| s.max).map_or(0, |m| m.wrapping_add(1));
        let duplicate = !note(&mut self.streams, &mut self.stats, &key, seq);
        if duplicate {
            self.stats.duplicates += 1;
        } else {
            if seq > expected {
                tracing::warn!(cin, ?kind, expected, got = seq, "sequence gap");
            }
            let (w, name) = match kind {
                Kind::Iri => (&mut self.hi2, ber_file(Channel::Hi2)),
                Kind::Cc => (&mut self.hi3, ber_file(Channel::Hi3)),
            };
            w.write_all(bytes).map_err(|source| CollectorError::Io { path: self.dir.join(name), source })?;
            self.write_pcap(&pdu, cin)?;
            self.calls.pdu(&pdu)?;
        }
        self.write_line(&pdu, &key.0, cin, kind, seq, bytes.len(), duplicate)?;
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

    /// One RTP/RTCP packet into `content.pcap`, between a per-CIN port pair. Contents too
    /// big for one UDP datagram are cut to fit.
    fn pcap_content(&mut self, ts: Timestamp, cin: u32, to_target: bool, contents: &[u8]) -> Result<(), CollectorError> {
        let (src, dst) = pcap::synthetic_pair(cin, to_target);
        let contents = contents.get(..contents.len().min(pcap::MAX_UDP_PAYLOAD)).unwrap_or_default();
        self.pcap
            .write_udp(ts, src, dst, contents)
            .map_err(|source| CollectorError::Io { path: self.dir.join("content.pcap"), source })
    }

    fn count(&mut self, liid: &str, kind: Kind) {
        count_record(&mut self.stats, liid, kind);
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
        self.hi2.write_all(bytes).map_err(|source| CollectorError::Io { path: self.dir.join(ber_file(Channel::Hi2)), source })?;
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
        let path = self.dir.join(ccc_file());
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
        let mut line = RecordLine {
            liid: String::from_utf8_lossy(liid),
            cin,
            kind: match kind {
                Kind::Iri => "IRI",
                Kind::Cc => "CC",
            },
            sequence: seq,
            timestamp: timestamp(&pdu.header).to_rfc3339(),
            size,
            duplicate,
            ..RecordLine::default()
        };
        match &pdu.payload {
            Payload::Iri(iris) => {
                if let Some(iri) = iris.first() {
                    line.iri_type = Some(iri.iri_type.map(iri_type_name));
                    line.content = Some(iri.kind.asn1_name());
                    line.content_size = Some(iri.bytes.len());
                    if iri.src.is_some() {
                        let s = summarise(&iri.bytes);
                        (line.sip, line.caller, line.callee) = (Some(s.method_or_status), Some(s.caller), Some(s.callee));
                    }
                }
            }
            Payload::Cc(ccs) => {
                if let Some(cc) = ccs.first() {
                    line.direction = Some(match cc.direction {
                        Some(0) => "fromTarget",
                        Some(1) => "toTarget",
                        _ => "unknown",
                    });
                    line.content_size = Some(cc.contents.len());
                }
            }
            _ => {}
        }
        let path = || self.dir.join("records.jsonl");
        serde_json::to_writer(&mut self.jsonl, &line)
            .map_err(|e| CollectorError::Io { path: path(), source: io::Error::other(e) })?;
        self.jsonl.write_all(b"\n").map_err(|source| CollectorError::Io { path: path(), source })
    }

    /// Pushes everything received to the files (before a keep-alive is answered).
    pub fn flush(&mut self) -> Result<(), CollectorError> {
        for (w, name) in [(&mut self.hi2, ber_file(Channel::Hi2)), (&mut self.hi3, ber_file(Channel::Hi3)), (&mut self.jsonl, "records.jsonl")] {
            w.flush().map_err(|source| CollectorError::Io { path: self.dir.join(name), source })?;
        }
        self.pcap.flush().map_err(|source| CollectorError::Io { path: self.dir.join("content.pcap"), source })?;
        self.calls.flush()?;
        if let Some(w) = &mut self.ccc {
            w.flush().map_err(|source| CollectorError::Io { path: self.dir.join(ccc_file()), source })?;
        }
        Ok(())
    }
}

/// One `records.jsonl` line of a PS-PDU record, serialised without building a JSON tree
/// (the hot path of the LEMF). Fields are in the order a `serde_json` map writes them
/// (sorted), so the line is the same as the map's; `None` leaves a field out, `Some(None)`
/// writes `null`.
#[derive(Default, serde::Serialize)]
struct RecordLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    callee: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<Option<String>>,
    cin: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    iri_type: Option<Option<&'static str>>,
    kind: &'static str,
    liid: std::borrow::Cow<'a, str>,
    sequence: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    sip: Option<Option<String>>,
    size: usize,
    timestamp: String,
}

/// The CIN of a `laes` CDC record: the `CIN,HASH` of its callId, or a ccclose's CCCID / 2.
fn cdc_cin(rec: &CdcRecord) -> Option<u32> {
    match (&rec.call_id, &rec.ccc_ids) {
        (Some((seq, _)), _) => seq.split(',').next()?.parse().ok(),
        (None, Some((xmit, _))) => u32::from_str_radix(xmit, 16).ok().map(|id| id >> 1),
        _ => None,
    }
}

use crate::handover::decode::rfc3339_of_generalized;

/// Records `seq` of `key`; false when it was seen before.
fn note(streams: &mut HashMap<StreamKey, StreamState>, stats: &mut LemfStats, key: &StreamKey, seq: u32) -> bool {
    let kind = key.2;
    if !streams.contains_key(key) {
        streams.insert(key.clone(), StreamState::default());
    }
    let Some(s) = streams.get_mut(key) else { return false };
    if !s.seen.insert(seq) {
        return false;
    }
    s.max = Some(s.max.map_or(seq, |m| m.max(seq)));
    count_record(stats, &String::from_utf8_lossy(&key.0), kind);
    true
}

/// One more distinct record of `liid` and `kind`.
fn count_record(stats: &mut LemfStats, liid: &str, kind: Kind) {
    stats.records += 1;
    match kind {
        Kind::Iri => stats.iri_records += 1,
        Kind::Cc => stats.cc_records += 1,
    }
    match stats.per_liid.get_mut(liid) {
        Some(n) => *n += 1,
        None => {
            stats.per_liid.insert(liid.to_owned(), 1);
        }
    }
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
#[path = "collector_tests.rs"]
mod tests;
