//! The agency's call view: one [`CallLine`] per intercepted call (LIID, CIN) built from the
//! HI2 SIP messages and HI3 content the LEMF received, with the frames of its `calls.pcap`
//! block. Sans I/O: the collector (live) and `tapline decode --calls` (from files) feed it
//! and write what it returns.
//!
//! The parties, times and disposition are those of the call detail recorder
//! ([`CdrTracker`], fed each SIP message with its PSHeader time), so the agency's view and
//! the carrier's records agree. Only INVITE dialogs are calls; SIP outside a dialog
//! (REGISTER, MESSAGE: IRI-Report) gets no line.
//!
//! **When a line is released.** HI2 and HI3 arrive on separate connections, so a call's
//! content can still be in flight when its IRI-End arrives. A call is released once its
//! signalling ended (BYE or a final failure, the IRI-End) *and* HI3 has moved past it: a CC
//! record stamped at least [`CONTENT_GRACE_NS`] after the call's end was received (HI3 is
//! one connection per agency, delivered in capture order). A call of an IRI-only warrant
//! (`iRIOnlySIPMessage`: no content follows) is released at its end. Calls without later
//! content (the last calls) are released by [`CallView::finish`] at LEMF shutdown
//! or at the end of the files, ended or not (`"open": true`: still in progress, ended at its
//! last message).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{json, Value};

use crate::gen::Endpoint;
use crate::handover::{decode_pdu, split_stream, IriContentKind, Payload, Pdu};
use crate::records::{CallRecord, CdrTracker};
use crate::rtp::RtpKind;
use crate::sip;
use crate::warrant::Numbering;
use crate::Timestamp;

/// Content stamped this long after a call's end proves its own content has all arrived
/// (allows for media shards delivering neighbouring calls slightly out of order).
pub const CONTENT_GRACE_NS: u64 = 2_000_000_000;

/// (LIID, CIN): one intercepted communication.
pub type CallKey = (String, u32);

/// Which party of a call the warrant's target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSide {
    Caller,
    Callee,
}

/// One thing captured in a call, kept for its `calls.pcap` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Captured {
    /// A SIP message between its real addresses (from the IRI).
    Sip { src: IpAddr, dst: IpAddr, bytes: Vec<u8> },
    /// One RTP/RTCP packet of the content (`to_target`: payloadDirection toTarget).
    Content { to_target: bool, bytes: Vec<u8> },
}

/// A media endpoint announced in SDP (where that party receives RTP, and RTCP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Media {
    pub addr: IpAddr,
    pub rtp_port: u16,
    pub rtcp_addr: IpAddr,
    pub rtcp_port: u16,
}

/// One finished (or, at shutdown, still open) call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallLine {
    pub liid: String,
    pub cin: u32,
    pub record: CallRecord,
    pub content_packets: u64,
    /// Still in progress when released by [`CallView::finish`].
    pub open: bool,
    /// Known when the LEMF was given the LIID's target identities.
    pub target_side: Option<TargetSide>,
    /// The first audio endpoint each party announced (offer: caller, answer: callee).
    pub caller_media: Option<Media>,
    pub callee_media: Option<Media>,
    /// Everything captured, in arrival order, with its capture time.
    pub captured: Vec<(Timestamp, Captured)>,
}

impl CallLine {
    /// The `calls.jsonl` line (also what `tapline decode --calls` prints).
    pub fn to_json(&self) -> Value {
        let r = &self.record;
        let time = |ns: i64| Timestamp::from_nanos(u64::try_from(ns).unwrap_or(0)).to_rfc3339();
        json!({
            "liid": self.liid,
            "cin": self.cin,
            "caller": r.caller,
            "callee": r.callee,
            "forwarded_from": r.original_called,
            "start": time(r.start_ns),
            "answer": r.answer_ns.map(time),
            "end": time(r.end_ns),
            "duration_s": r.duration_s(),
            "disposition": r.disposition.as_str(),
            "content_packets": self.content_packets,
            "open": self.open,
        })
    }
}

/// The SIP port the `calls.pcap` frames use (the IRI carries addresses, not ports).
pub const SIP_PORT: u16 = 5060;

impl CallLine {
    /// The call's UDP datagrams for `calls.pcap`, in capture-time order: SIP between its real
    /// addresses (port [`SIP_PORT`]); content between the SDP endpoints when the target side
    /// and both endpoints are known (RTCP to the RTCP ports), else on the synthetic per-CIN
    /// pair of `content.pcap`, so content is never attributed to the wrong party.
    pub fn datagrams(&self) -> Vec<(Timestamp, Endpoint, Endpoint, &[u8])> {
        let media = match (self.target_side, self.caller_media, self.callee_media) {
            (Some(TargetSide::Caller), Some(caller), Some(callee)) => Some((caller, callee)),
            (Some(TargetSide::Callee), Some(caller), Some(callee)) => Some((callee, caller)),
            _ => None,
        };
        let mut out: Vec<_> = self
            .captured
            .iter()
            .map(|(ts, c)| match c {
                Captured::Sip { src, dst, bytes } => {
                    (*ts, Endpoint::new(*src, SIP_PORT), Endpoint::new(*dst, SIP_PORT), bytes.as_slice())
                }
                Captured::Content { to_target, bytes } => {
                    let (src, dst) = match media {
                        Some((target, other)) => {
                            let (from, to) = if *to_target { (other, target) } else { (target, other) };
                            match crate::rtp::classify(bytes) {
                                RtpKind::Rtcp => (Endpoint::new(from.rtcp_addr, from.rtcp_port), Endpoint::new(to.rtcp_addr, to.rtcp_port)),
                                _ => (Endpoint::new(from.addr, from.rtp_port), Endpoint::new(to.addr, to.rtp_port)),
                            }
                        }
                        None => super::pcap::synthetic_pair(self.cin, *to_target),
                    };
                    (*ts, src, dst, bytes.as_slice())
                }
            })
            .collect();
        out.sort_by_key(|d| d.0);
        out
    }
}

struct Call {
    cdr: CdrTracker,
    ended: Option<CallRecord>,
    content_packets: u64,
    /// Its SIP came as `iRIOnlySIPMessage`: no content will follow.
    iri_only: bool,
    caller_media: Option<Media>,
    callee_media: Option<Media>,
    captured: Vec<(Timestamp, Captured)>,
}

impl Call {
    fn new(numbering: &Numbering) -> Call {
        Call {
            cdr: CdrTracker::with_numbering(numbering.clone()),
            ended: None,
            content_packets: 0,
            iri_only: false,
            caller_media: None,
            callee_media: None,
            captured: Vec::new(),
        }
    }
}

/// Follows every call of every LIID the LEMF receives.
pub struct CallView {
    numbering: Numbering,
    /// LIID → its targets' identity keys (from `tapline lemf --warrants`); empty: unknown.
    targets: HashMap<String, Vec<String>>,
    calls: HashMap<CallKey, Call>,
    /// Ended calls waiting for HI3 to move past them: (end ns, key).
    ended: BTreeSet<(i64, CallKey)>,
    /// The latest CC capture time received.
    content_mark: Option<Timestamp>,
    /// Calls whose line was written (also before a LEMF restart): never released again.
    written: HashSet<CallKey>,
    /// Content that arrived after its call's line was written (not in its count).
    late_content: u64,
}

impl Default for CallView {
    fn default() -> Self {
        CallView::new(Numbering::default(), HashMap::new())
    }
}

impl CallView {
    /// A view reading identities under `numbering`, with each LIID's target identity keys
    /// when known (they decide which SDP endpoint content "from target" is sent from).
    pub fn new(numbering: Numbering, targets: HashMap<String, Vec<String>>) -> CallView {
        CallView {
            numbering,
            targets,
            calls: HashMap::new(),
            ended: BTreeSet::new(),
            content_mark: None,
            written: HashSet::new(),
            late_content: 0,
        }
    }

    /// Marks a call as already written (its line is in `calls.jsonl` from before a restart).
    pub fn already_written(&mut self, key: CallKey) {
        self.written.insert(key);
    }

    /// One HI2 SIP message of (LIID, CIN) at capture time `ts`; returns the calls it released.
    /// `iri_only`: it came as `iRIOnlySIPMessage`, so the warrant delivers no content and the
    /// call is released as soon as it ends.
    pub fn sip(&mut self, key: CallKey, ts: Timestamp, (src, dst): (IpAddr, IpAddr), bytes: &[u8], iri_only: bool) -> Vec<CallLine> {
        let Ok(msg) = sip::parse(bytes) else { return Vec::new() };
        let exists = self.calls.contains_key(&key);
        if !exists && !matches!(msg.start(), sip::StartLine::Request { method: sip::Method::Invite, .. }) {
            return Vec::new(); // not a call (or one that began before the LEMF saw it)
        }
        if self.written.contains(&key) {
            return Vec::new(); // a retransmission after the call's line was written
        }
        let call = self.calls.entry(key.clone()).or_insert_with(|| Call::new(&self.numbering));
        note_media(call, &msg);
        call.captured.push((ts, Captured::Sip { src, dst, bytes: bytes.to_vec() }));
        call.iri_only |= iri_only;
        if let Some(mut record) = call.cdr.handle_sip(&msg, ts, "udp") {
            // A second dialog on one CIN (a new leg after a 3xx): one line, from the first start.
            if let Some(first) = call.ended.take() {
                self.ended.remove(&(first.end_ns, key.clone()));
                record.start_ns = record.start_ns.min(first.start_ns);
            }
            let release_now = call.iri_only;
            if !release_now {
                self.ended.insert((record.end_ns, key.clone()));
            }
            call.ended = Some(record);
            if release_now {
                let mut lines: Vec<CallLine> = self.release(&key, false).into_iter().collect();
                lines.extend(self.release_passed());
                return lines;
            }
        }
        self.release_passed()
    }

    /// One HI3 content packet of (LIID, CIN) at capture time `ts`; returns the calls released.
    pub fn content(&mut self, key: CallKey, ts: Timestamp, to_target: bool, bytes: &[u8]) -> Vec<CallLine> {
        if self.written.contains(&key) {
            self.late_content += 1;
        } else {
            // Content may arrive before its call's IRI-Begin (HI2 and HI3 are separate connections).
            let call = self.calls.entry(key).or_insert_with(|| Call::new(&self.numbering));
            call.content_packets += 1;
            call.captured.push((ts, Captured::Content { to_target, bytes: bytes.to_vec() }));
        }
        self.content_mark = Some(self.content_mark.map_or(ts, |m| m.max(ts)));
        self.release_passed()
    }

    /// Releases every call still held, ended first then open ones, in order of their end.
    pub fn finish(&mut self) -> Vec<CallLine> {
        let mut lines = Vec::new();
        for (_, key) in std::mem::take(&mut self.ended) {
            lines.extend(self.release(&key, false));
        }
        let mut open: Vec<(CallKey, CallRecord)> = Vec::new();
        for (key, call) in &mut self.calls {
            let mut drained = Vec::new();
            call.cdr.drain(&mut drained);
            open.extend(drained.into_iter().map(|r| (key.clone(), r)));
        }
        open.sort_by(|a, b| (a.1.end_ns, &a.0).cmp(&(b.1.end_ns, &b.0)));
        for (key, record) in open {
            if let Some(call) = self.calls.get_mut(&key) {
                call.ended = Some(record);
            }
            lines.extend(self.release(&key, true));
        }
        self.calls.clear();
        lines
    }

    /// Content packets that came after their call's line was written.
    pub fn late_content(&self) -> u64 {
        self.late_content
    }

    /// Calls still held (ended but not yet released, or in progress).
    pub fn held(&self) -> usize {
        self.calls.len()
    }

    fn release_passed(&mut self) -> Vec<CallLine> {
        let Some(mark) = self.content_mark else { return Vec::new() };
        let mut lines = Vec::new();
        while let Some((end_ns, _)) = self.ended.first() {
            let end = Timestamp::from_nanos(u64::try_from(*end_ns).unwrap_or(0));
            if mark.saturating_sub(end) < CONTENT_GRACE_NS {
                break;
            }
            if let Some((_, key)) = self.ended.pop_first() {
                lines.extend(self.release(&key, false));
            }
        }
        lines
    }

    fn release(&mut self, key: &CallKey, open: bool) -> Option<CallLine> {
        let call = self.calls.remove(key)?;
        let record = call.ended?;
        if !self.written.insert(key.clone()) {
            return None;
        }
        let target_side = self.target_side(&key.0, &record);
        Some(CallLine {
            liid: key.0.clone(),
            cin: key.1,
            record,
            content_packets: call.content_packets,
            open,
            target_side,
            caller_media: call.caller_media,
            callee_media: call.callee_media,
            captured: call.captured,
        })
    }

    /// The party matching one of the LIID's targets; `None` when unknown or both match.
    fn target_side(&self, liid: &str, r: &CallRecord) -> Option<TargetSide> {
        let targets = self.targets.get(liid)?;
        let is_target = |party: &Option<String>| party.as_ref().is_some_and(|p| targets.contains(p));
        match (is_target(&r.caller), is_target(&r.callee)) {
            (true, false) => Some(TargetSide::Caller),
            (false, true) => Some(TargetSide::Callee),
            _ => None,
        }
    }
}

/// The first offer (the INVITE's SDP: the caller's endpoint) and answer (an INVITE
/// response's SDP: the callee's); later offers (re-INVITE, UPDATE) are not followed.
fn note_media(call: &mut Call, msg: &sip::Message<'_>) {
    let is_invite = |m: Option<sip::Method>| matches!(m, Some(sip::Method::Invite));
    let slot = if msg.is_request() {
        if !is_invite(msg.method()) {
            return;
        }
        &mut call.caller_media
    } else {
        if !is_invite(msg.cseq().map(|c| c.1)) {
            return;
        }
        &mut call.callee_media
    };
    if slot.is_some() {
        return;
    }
    let Some(body) = msg.content_type().and_then(|ct| sip::multipart::find_sdp(ct, msg.body())) else { return };
    let Ok(sdp) = sip::sdp::parse(body) else { return };
    *slot = sdp.media_endpoints().into_iter().find(|m| m.kind == "audio").map(|m| Media {
        addr: m.addr,
        rtp_port: m.rtp_port,
        rtcp_addr: m.rtcp_addr,
        rtcp_port: m.rtcp_port,
    });
}

/// Feeds one decoded PS-PDU (IRI SIP messages, CC content) to `view`; returns the calls it
/// released. The one place HI2/HI3 records become call-view input, live and from files.
pub fn feed(view: &mut CallView, pdu: &Pdu) -> Vec<CallLine> {
    let key = (String::from_utf8_lossy(&pdu.header.liid).into_owned(), pdu.header.cin.unwrap_or(0));
    let ts = super::collector::timestamp(&pdu.header);
    let mut lines = Vec::new();
    match &pdu.payload {
        Payload::Iri(iris) => {
            for iri in iris {
                if let (Some(src), Some(dst)) = (iri.src, iri.dst) {
                    let iri_only = iri.kind == IriContentKind::IriOnlySipMessage;
                    lines.extend(view.sip(key.clone(), ts, (src, dst), &iri.bytes, iri_only));
                }
            }
        }
        Payload::Cc(ccs) => {
            for cc in ccs {
                lines.extend(view.content(key.clone(), ts, cc.direction == Some(1), &cc.contents));
            }
        }
        _ => {}
    }
    lines
}

/// Every PS-PDU of a stream file (`hi2.ber`, `hi3.ber`) that decodes, in file order, and
/// the length of its whole records (shorter than the file when the framing broke or the
/// last record is torn).
pub fn pdus_of(stream: &[u8]) -> (Vec<Pdu>, usize) {
    let (mut pdus, mut whole) = (Vec::new(), 0);
    for bytes in split_stream(stream).map_while(Result::ok) {
        whole += bytes.len();
        pdus.extend(decode_pdu(bytes).ok());
    }
    (pdus, whole)
}

/// The calls of an `hi2.ber` (and its `hi3.ber`, for the content counts): every line the
/// LEMF writes for these files, in the order it writes them after a restart on them.
pub fn calls_of_files(view: &mut CallView, hi2: &[Pdu], hi3: &[Pdu]) -> Vec<CallLine> {
    let mut lines: Vec<CallLine> = hi2.iter().chain(hi3).flat_map(|p| feed(view, p)).collect();
    lines.extend(view.finish());
    lines
}

#[cfg(test)]
#[path = "calls_tests.rs"]
mod tests;
