//! One exercise per parser that takes bytes from outside, shared by the coverage-guided
//! targets in `fuzz/` (nightly, libFuzzer) and the stable property tests in
//! `tests/fuzz_props.rs`. Each runs the parser and every accessor of what it returns and
//! asserts only self-consistency (what is returned lies within the input; loops end), so a
//! broken invariant panics in either harness. Not used by the appliance itself.

use std::path::{Path, PathBuf};

use crate::capture::{FileReader, Frame, LinkType};
use crate::Timestamp;

/// The link types the L2–L4 exercise picks from.
pub const LINKS: [LinkType; 9] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Other(147),
];

/// A pcap or pcapng file at `path` whose size is `len`: every frame read lies within the
/// file, and the read ends.
pub fn capture_file(path: &Path, len: usize) {
    if let Ok(mut reader) = FileReader::open(path) {
        let mut n = 0usize;
        while let Ok(Some(frame)) = reader.next_frame() {
            assert!(frame.data.len() <= len, "a frame longer than its file");
            n += 1;
            assert!(n <= len, "more frames than octets");
        }
        let _ = reader.stats();
    }
}

/// `frames` through one L2–L4 decoder (so fragment reassembly is reached); every frame is
/// counted.
pub fn l2_l4<'a>(link: LinkType, frames: impl IntoIterator<Item = &'a [u8]>) {
    let mut decoder = crate::wire::Decoder::new();
    let mut n = 0u64;
    for data in frames {
        let frame = Frame { ts: Timestamp::from_secs_micros(1_790_000_000 + n, 0), link, data, orig_len: data.len() as u32 };
        let _ = format!("{:?}", decoder.decode(&frame));
        n += 1;
    }
    assert_eq!(decoder.stats().frames, n, "a frame not counted");
}

/// A SIP message (every accessor) and the TCP stream framer over `data` in `chunk`-octet
/// pieces.
pub fn sip_message(data: &[u8], chunk: usize) {
    if let Ok(m) = crate::sip::parse(data) {
        let _ = (m.method(), m.request_uri(), m.status(), m.call_id(), m.cseq(), m.from(), m.to(), m.contact(), m.via_branch());
        let _ = (m.p_asserted_identities().count(), m.privacy_id(), m.diversion().count(), m.history_info().count());
        let _ = (m.content_length(), m.body_truncated(), m.headers().count());
        assert!(m.body().len() <= data.len(), "a body longer than its message");
        if let Some(ct) = m.content_type() {
            let _ = crate::sip::multipart::find_sdp(ct, m.body());
        }
    }
    let mut framer = crate::sip::stream::Framer::with_limit(4096);
    for piece in data.chunks(chunk.max(1)) {
        framer.push(piece);
        let mut n = 0usize;
        while let Some(m) = framer.next_message() {
            if let Ok(m) = m {
                let _ = crate::sip::parse(m);
            }
            n += 1;
            assert!(n <= data.len() + 1, "the framer does not end");
        }
    }
}

/// An SDP body.
pub fn sdp(data: &[u8]) {
    if let Ok(sdp) = crate::sip::sdp::parse(data) {
        let _ = sdp.media_endpoints();
        for m in &sdp.media {
            let _ = m.payload_type_of("telephone-event");
        }
    }
}

/// RTP and RTCP views.
pub fn rtp(data: &[u8]) {
    if let Ok(p) = crate::rtp::RtpPacket::new_checked(data) {
        let _ = (p.version(), p.padding(), p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc(), p.csrcs().count());
        assert!(p.header_len() + p.payload().len() <= data.len(), "an RTP payload outside its packet");
    }
    if let Ok(p) = crate::rtp::RtcpPacket::new_checked(data) {
        let _ = (p.version(), p.count(), p.packet_type(), p.length(), p.ssrc());
    }
}

/// ETSI TS 102 232 PS-PDU streams: split, decode, JSON (what `tapline decode` and the
/// sender's keep-alive-response reader take from outside).
pub fn etsi_pdus(data: &[u8]) {
    let mut taken = 0usize;
    for pdu in crate::handover::split_stream(data) {
        let Ok(pdu) = pdu else { break };
        taken += pdu.len();
        let _ = crate::handover::decode_pdu(pdu);
    }
    assert!(taken <= data.len(), "split PDUs longer than their stream");
    let _ = crate::handover::decode_pdu(data);
    let _ = crate::handover::decode_stream_jsonl(data, &mut std::io::sink());
}

/// laes records: J-STD-025-style CdcPdus, PacketCable CCC frames, whole streams.
pub fn laes(data: &[u8]) {
    use crate::handover::laes::decode::{decode_ccc, decode_cdc, decode_laes_jsonl, looks_like_cdc, udp_payload};
    let _ = (looks_like_cdc(data), decode_cdc(data), decode_ccc(data), udp_payload(data));
    let _ = decode_laes_jsonl(data, &mut std::io::sink());
    let _ = crate::handover::laes::ccc::split_ccc_stream(data).take(64).count();
}

/// The X.509 role reader of the provisioning API (client certificates, DER).
pub fn x509_role(der: &[u8]) {
    let _ = crate::provision::subject_of(der);
}

/// `agencies` and one warrant file `warrant`, written into `dir`, loaded as a warrant
/// directory and checked as `tapline warrant check` does: refused with a reason, or loaded.
pub fn warrant_dir(dir: &Path, agencies: &[u8], warrant: &[u8]) -> std::io::Result<()> {
    std::fs::write(dir.join("agencies.toml"), agencies)?;
    std::fs::write(dir.join("W-1.toml"), warrant)?;
    match crate::warrant::Store::load_dir(dir) {
        Ok((store, errors)) => assert!(store.warrants.len() + errors.len() >= 1, "a warrant file neither loaded nor refused"),
        Err(e) => assert!(!e.to_string().is_empty(), "a refusal without a reason"),
    }
    let errors = crate::warrant::check_paths(&[PathBuf::from(dir)]);
    assert!(errors.iter().all(|e| !e.to_string().is_empty()), "a check error without a reason");
    Ok(())
}
