//! The `laes` profile end to end: the demo capture replayed for an `etsi` and a `laes` agency
//! with the same orders; both receive the same calls, directions, content and digits, and
//! the `laes` streams are checked by asn1tools (PCESP `CdcPdu`) and by tshark
//! (`HI2Operations` for CDC records, `pcli20` for CCC frames).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tapline::handover::laes::decode::{decode_ccc, decode_cdc, udp_payload, CdcRecord};
use tapline::handover::laes::split_ccc_stream;
use tapline::handover::{decode_pdu, split_stream, CcContentKind, IriContentKind, Payload, Pdu};
use tapline::replay::replay;


const ALICE: &str = "+13035550142";

struct Out {
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Out {
    fn bytes(&self, agency: &str, file: &str) -> Vec<u8> {
        fs::read(self.dir.join(agency).join(file)).unwrap_or_default()
    }

    fn path(&self, agency: &str, file: &str) -> PathBuf {
        self.dir.join(agency).join(file)
    }

    fn etsi(&self, file: &str) -> Vec<Pdu> {
        let b = self.bytes("e", file);
        split_stream(&b).map(|c| decode_pdu(c.expect("framing")).expect("decodes")).collect()
    }

    fn cdc(&self) -> Vec<CdcRecord> {
        let b = self.bytes("l", "hi2.ber");
        split_stream(&b).map(|c| decode_cdc(c.expect("framing")).expect("CdcPdu decodes")).collect()
    }

    /// (CCCID, UDP payload) of every CCC frame.
    fn ccc(&self) -> Vec<(u32, Vec<u8>)> {
        let b = self.bytes("l", "hi3.ccc");
        split_ccc_stream(&b)
            .map(|f| {
                let f = f.expect("CCC framing");
                let rec = decode_ccc(f).expect("CCC frame");
                let id = u32::from_str_radix(&rec.ccc_id, 16).unwrap();
                (id, rec.udp_payload)
            })
            .collect()
    }
}

/// Replays the committed demo capture with warrants `(liid, kind, agency, digits)` on ALICE.
fn run(warrants: &[(&str, &str, &str, bool)]) -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let wdir = tmp.path().join("warrants");
    fs::create_dir(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), common::warrants::agencies_toml(&[("e", "US", "etsi"), ("l", "US", "laes")])).unwrap();
    for (liid, kind, agency, digits) in warrants {
        let text = format!(
            "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"{agency}\"\ntargets = [\"tel:{ALICE}\"]\n\
             valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\n\
             court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\npost_cut_through_digits = {digits}\n"
        );
        fs::write(wdir.join(format!("{liid}.toml")), text).unwrap();
    }
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcap");
    let dir = tmp.path().join("out");
    let (_, refused) = replay(&capture, &wdir, &dir).expect("replay");
    assert!(refused.is_empty(), "{refused:?}");
    Out { dir, _tmp: tmp }
}

/// The CIN of a CDC record: from its callId (`CIN,HASH`), or from a ccclose's CCCID.
fn cin_of(r: &CdcRecord) -> u32 {
    match (&r.call_id, &r.ccc_ids) {
        (Some((seq, _)), _) => seq.split(',').next().unwrap().parse().unwrap(),
        (None, Some((xmit, _))) => u32::from_str_radix(xmit, 16).unwrap() >> 1,
        _ => panic!("{} has neither callId nor cCCId", r.message),
    }
}

#[test]
fn etsi_and_laes_agencies_receive_the_same_calls_directions_and_content() {
    let out = run(&[("E-T3", "title-iii", "e", false), ("L-T3", "title-iii", "l", false)]);
    assert!(!out.path("l", "hi3.ber").exists(), "a laes agency gets hi3.ccc, not hi3.ber");

    // Content: the same RTP packets per call and direction (CIN and direction from the CCCID).
    let mut etsi_cc: BTreeMap<(u32, u32), Vec<Vec<u8>>> = BTreeMap::new();
    for p in out.etsi("hi3.ber") {
        let Payload::Cc(records) = &p.payload else { panic!("hi3 carries CC") };
        for r in records {
            assert_eq!(r.kind, CcContentKind::IpMmCc);
            etsi_cc.entry((p.header.cin.unwrap(), r.direction.unwrap())).or_default().push(r.contents.clone());
        }
    }
    let mut laes_cc: BTreeMap<(u32, u32), Vec<Vec<u8>>> = BTreeMap::new();
    for (id, payload) in out.ccc() {
        laes_cc.entry((id >> 1, id & 1)).or_default().push(payload);
    }
    assert_eq!(etsi_cc.len(), 4, "two answered calls of ALICE, two directions each");
    assert_eq!(laes_cc.keys().collect::<Vec<_>>(), etsi_cc.keys().collect::<Vec<_>>());
    for (k, v) in &etsi_cc {
        assert_eq!(laes_cc[k].len(), v.len(), "packets of CIN/direction {k:?}");
        assert!(laes_cc[k] == *v, "RTP bytes of CIN/direction {k:?} differ");
    }
    // Call 1: ALICE (caller) sends 280 PCMU + 28 telephone-event packets, receives 300.
    assert_eq!(etsi_cc[&(1, 0)].len(), 308);
    assert_eq!(etsi_cc[&(1, 1)].len(), 300);

    // Calls: every communication with call events (not the MESSAGE report) in both.
    let mut etsi_calls = BTreeSet::new();
    for p in out.etsi("hi2.ber") {
        let Payload::Iri(records) = &p.payload else { panic!("hi2 carries IRI") };
        if records.iter().any(|r| r.iri_type != Some(4)) {
            etsi_calls.insert(p.header.cin.unwrap());
        }
    }
    let cdc = out.cdc();
    let laes_calls: BTreeSet<u32> = cdc.iter().map(cin_of).collect();
    assert_eq!(etsi_calls, laes_calls);
    assert_eq!(laes_calls.len(), 3);

    // The CDC events per call, in order.
    let mut events: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for r in &cdc {
        assert_eq!((r.case_id.as_str(), r.accessing_element_id.as_str(), r.protocol_version), ("L-T3", "MED-01", 4));
        events.entry(cin_of(r)).or_default().push(&r.message);
    }
    assert_eq!(events[&1], ["origination", "answer", "ccopen", "release", "ccclose"]);
    assert_eq!(events[&2], ["terminationattempt", "release"]);
    assert_eq!(events[&3], ["terminationattempt", "answer", "ccopen", "release", "ccclose"]);

    let origination = &cdc[0];
    assert_eq!(origination.calling.as_ref().unwrap().value, "13035550142");
    assert_eq!(origination.called.as_ref().unwrap().value, "13035550199");
    assert_eq!(origination.event_time, "20261102140000Z");
    let private = cdc.iter().find(|r| cin_of(r) == 2).unwrap();
    assert_eq!(private.calling.as_ref().unwrap().value, "13035550177", "P-Asserted-Identity, not the anonymous From");
    let forwarded = cdc.iter().find(|r| cin_of(r) == 3).unwrap();
    assert_eq!(forwarded.redirected_from.as_ref().unwrap().value, "13035550188");
    assert_eq!(forwarded.called.as_ref().unwrap().value, "13035550142");
    // ccopen names the CCCIDs the CCC frames carry; callIds are the same through a call.
    let open = cdc.iter().find(|r| r.message == "ccopen" && cin_of(r) == 1).unwrap();
    assert_eq!(open.ccc_ids, Some(("00000002".into(), "00000003".into())));
    assert!(open.subject_sdp.as_deref().unwrap().starts_with("v=0"));
    let ids: BTreeSet<_> = cdc.iter().filter(|r| cin_of(r) == 1 && r.call_id.is_some()).map(|r| r.call_id.clone()).collect();
    assert_eq!(ids.len(), 1);
}

#[test]
fn post_cut_through_digits_reach_both_profiles_only_where_allowed() {
    let out = run(&[("E-PT", "pen-trap", "e", true), ("L-PT", "pen-trap", "l", true), ("L-PR", "pen-register", "l", false)]);
    // etsi: iRIOnlyRTPPacket records; one digit per RFC 4733 event (RTP timestamp).
    let mut etsi_digits = Vec::new();
    let mut last_ts = None;
    for p in out.etsi("hi2.ber") {
        let Payload::Iri(records) = &p.payload else { panic!() };
        for r in records.iter().filter(|r| r.kind == IriContentKind::IriOnlyRtpPacket) {
            let rtp = udp_payload(&r.bytes).expect("IP/UDP datagram");
            let ts = u32::from_be_bytes(rtp[4..8].try_into().unwrap());
            if last_ts != Some(ts) {
                last_ts = Some(ts);
                etsi_digits.push(char::from(b'0' + rtp[12]).to_string());
            }
        }
    }
    let cdc = out.cdc();
    let laes_digits: Vec<String> = cdc
        .iter()
        .filter(|r| r.message == "dialeddigitextraction")
        .inspect(|r| assert_eq!(r.case_id, "L-PT", "the pen register without digits gets none"))
        .map(|r| r.digits.clone().unwrap())
        .collect();
    assert_eq!(etsi_digits, ["1", "2", "3", "4"]);
    assert_eq!(laes_digits, etsi_digits);
    assert!(cdc.iter().all(|r| r.message != "ccopen"), "no content for a pen/trap order");
    assert!(out.bytes("l", "hi3.ccc").is_empty());
    assert!(cdc.iter().any(|r| r.case_id == "L-PR" && r.message == "origination"));
}

#[test]
fn cdc_records_decode_with_the_asn1tools_oracle() {
    if !common::oracle::require_oracle() {
        return;
    }
    let out = run(&[("L-T3", "title-iii", "l", false), ("L-PT", "pen-trap", "l", true)]);
    let ours = out.cdc();
    let script = common::oracle::oracle_path().unwrap();
    let o = Command::new("python3")
        .arg(&script)
        .args(["--type", "CdcPdu"])
        .arg(out.path("l", "hi2.ber"))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "oracle failed: {}\n{stdout}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), ours.len());
    for (v, r) in lines.iter().zip(&ours) {
        let text = v.to_string();
        let pdu = find_key(v, "protocolVersion").unwrap_or_else(|| panic!("no protocolVersion in {text}"));
        assert_eq!(pdu, "v4", "{text}");
        let message = find_key(v, "message").unwrap_or_else(|| panic!("no message in {text}"));
        let (name, body) = message.as_object().and_then(|m| m.iter().next()).unwrap();
        assert_eq!(name, &r.message, "{text}");
        assert_eq!(body["caseId"], r.case_id.as_str());
        assert_eq!(body["accessingElementId"], "MED-01");
        assert!(body["eventTime"].is_string(), "{text}");
        if r.message == "dialeddigitextraction" {
            assert_eq!(body["digits"], r.digits.as_deref().unwrap());
        }
        if r.message == "ccopen" {
            let pair = &body["cCCId"]["sepCCCpair"];
            assert_eq!(pair["sepXmitCCC"], r.ccc_ids.as_ref().unwrap().0.as_str(), "{text}");
        }
    }
}

/// The first value named `key` anywhere in `v`.
fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m.get(key).or_else(|| m.values().find_map(|x| find_key(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

// ---------------------------------------------------------------- tshark

fn tshark(args: &[&str]) -> String {
    let o = Command::new("tshark").args(args).output().expect("tshark");
    assert!(o.status.success(), "tshark {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Classic pcap with the given link type; each record at 2026-11-02T14:00Z + i ms.
fn write_pcap(path: &Path, linktype: u32, records: &[Vec<u8>]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&262_144u32.to_le_bytes());
    f.extend_from_slice(&linktype.to_le_bytes());
    for (i, r) in records.iter().enumerate() {
        f.extend_from_slice(&1_793_628_000u32.to_le_bytes());
        f.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        f.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.extend_from_slice(&(r.len() as u32).to_le_bytes());
        f.extend_from_slice(r);
    }
    fs::write(path, f).unwrap();
}

/// Wireshark exported-PDU record (link type 252) handing `pdu` to the dissector `name`.
fn exported_pdu(name: &str, pdu: &[u8]) -> Vec<u8> {
    let padded = name.len().div_ceil(4) * 4;
    let mut r = Vec::new();
    r.extend_from_slice(&12u16.to_be_bytes()); // EXP_PDU_TAG_DISSECTOR_NAME
    r.extend_from_slice(&(padded as u16).to_be_bytes());
    r.extend_from_slice(name.as_bytes());
    r.resize(4 + padded, 0);
    r.extend_from_slice(&[0, 0, 0, 0]); // end of options
    r.extend_from_slice(pdu);
    r
}

fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = tag.to_vec();
    let n = value.len();
    if n < 128 {
        v.push(n as u8);
    } else if n < 256 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(value);
    v
}

/// A TS 101 671 (version-11 tagging) IRIsContent carrying `cdc` as an IRI-Report record:
/// `A1 { A4 { [1] LIID, [2] communicationIdentifier, [3] timeStamp,
/// [33] TARGETACTIVITYMONITOR-1 { ..., userSignal [7] { cdcPdu [2] } } } }`.
fn hi2_operations_record(liid: &str, cdc: &[u8], n: u8) -> Vec<u8> {
    let contents = &cdc[2 + usize::from(cdc[1] & 0x80 != 0) * usize::from(cdc[1] & 0x7f)..];
    let mut tam = Vec::new();
    tam.extend(tlv(&[0x81], &[1])); // lIInstanceid
    tam.extend(tlv(&[0x82], b"261102140000Z")); // timestamp
    tam.extend(tlv(&[0xa3], &tlv(&[0x81], b"MED-01"))); // targetLocation nameAddress
    tam.extend(tlv(&[0x84], &[2])); // direction unknown
    tam.extend(tlv(&[0x86], &[n])); // iRITransactionNumber
    tam.extend(tlv(&[0xa7], &tlv(&[0xa2], contents))); // userSignal → cdcPdu
    let mut params = tlv(&[0x81], liid.as_bytes());
    let network = tlv(&[0xa1], &tlv(&[0x80], b"EXTEL"));
    params.extend(tlv(&[0xa2], &[tlv(&[0x80], b"1"), network].concat()));
    params.extend(tlv(&[0xa3], &tlv(&[0x81], b"261102140000Z")));
    params.extend(tlv(&[0xbf, 0x21], &tam));
    tlv(&[0xa1], &tlv(&[0xa4], &params))
}

fn ipv4_udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 10, 198, 51, 100, 7];
    let mut sum: u32 = ip.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let ulen = 8 + payload.len();
    ip.extend_from_slice(&src_port.to_be_bytes());
    ip.extend_from_slice(&dst_port.to_be_bytes());
    ip.extend_from_slice(&(ulen as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    let mut eth = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    eth.extend(ip);
    eth
}

#[test]
fn tshark_decodes_cdc_with_hi2operations_and_ccc_with_pcli20() {
    if !common::tshark::available() {
        return;
    }
    let out = run(&[("L-T3", "title-iii", "l", false)]);
    let tmp = tempfile::tempdir().unwrap();

    // CDC: exported-PDU pcap for the HI2Operations dissector.
    let hi2 = out.bytes("l", "hi2.ber");
    let records: Vec<Vec<u8>> = split_stream(&hi2)
        .enumerate()
        .map(|(i, c)| exported_pdu("HI2Operations", &hi2_operations_record("L-T3", c.unwrap(), i as u8)))
        .collect();
    let cdc_pcap = tmp.path().join("cdc.pcap");
    write_pcap(&cdc_pcap, 252, &records);
    let p = cdc_pcap.to_str().unwrap();
    let cases = tshark(&["-r", p, "-T", "fields", "-e", "HI2Operations.caseId"]);
    let cases: Vec<&str> = cases.lines().collect();
    assert_eq!(cases.len(), records.len());
    assert!(cases.iter().all(|c| *c == "L-T3"), "{cases:?}\n{}", tshark(&["-r", p, "-c", "1", "-V", "-x"]));
    let elements = tshark(&["-r", p, "-T", "fields", "-e", "HI2Operations.accessingElementId"]);
    assert!(elements.lines().all(|c| c == "MED-01"), "{elements}");
    let verbose = tshark(&["-r", p, "-V"]);
    for name in ["origination", "terminationattempt", "answer", "ccopen", "release", "ccclose"] {
        assert!(verbose.contains(name), "tshark shows no {name}:\n{verbose}");
    }
    assert!(!verbose.contains("Malformed"), "{verbose}");

    // CCC: each frame re-carried in UDP to port 6201, decoded as pcli20 with IP inside.
    let hi3 = out.bytes("l", "hi3.ccc");
    let frames: Vec<Vec<u8>> = split_ccc_stream(&hi3).map(|f| ipv4_udp(40000, 6201, f.unwrap())).collect();
    assert_eq!(frames.len(), out.ccc().len());
    let ccc_pcap = tmp.path().join("ccc.pcap");
    write_pcap(&ccc_pcap, 1, &frames);
    let p = ccc_pcap.to_str().unwrap();
    let fields = tshark(&[
        "-r", p, "-d", "udp.port==6201,pcli20", "-d", "pcli.payload,ip", "-o", "rtp.heuristic_rtp:TRUE",
        "-T", "fields", "-e", "pcli.cccid", "-e", "rtp.seq", "-e", "rtp.p_type",
    ]);
    let rows: Vec<Vec<&str>> = fields.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), frames.len());
    let ours = out.ccc();
    for (row, (id, payload)) in rows.iter().zip(&ours) {
        assert_eq!(row[0].parse::<u32>().ok(), Some(*id), "{row:?}");
        let seq = u16::from_be_bytes([payload[2], payload[3]]);
        assert_eq!(row[1], seq.to_string(), "{row:?}");
    }
    assert!(rows.iter().filter(|r| r[2] == "0").count() > 500, "PCMU RTP recognised inside pcli20");
}
