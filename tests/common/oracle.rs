//! The independent asn1tools PS-PDU decoder (`../shared/etsi-oracle/etsi_oracle.py`) as a
//! test oracle: availability/skip logic, `--check` runs, and field-by-field comparison with
//! tapline's own decoder.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tapline::handover::{decode_pdu, split_stream, CcContentKind, IriContentKind, Payload, Pdu};

/// The oracle script beside the crate (`../shared/etsi-oracle/etsi_oracle.py`), if present.
pub fn oracle_path() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/etsi-oracle/etsi_oracle.py");
    p.is_file().then_some(p)
}

/// True when the script exists and `python3` can import asn1tools.
pub fn oracle_available() -> bool {
    oracle_path().is_some()
        && Command::new("python3")
            .args(["-c", "import asn1tools"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
}

/// Whether an oracle test can run. Prints a skip message and returns false when the oracle
/// is unavailable, except under CI (env `CI` set), where a missing oracle is a failure.
pub fn require_oracle() -> bool {
    if oracle_available() {
        return true;
    }
    let why = match oracle_path() {
        None => "../shared/etsi-oracle/etsi_oracle.py not found beside the crate".to_string(),
        Some(p) => format!(
            "python3 cannot import asn1tools (needed by {})",
            p.display()
        ),
    };
    if std::env::var_os("CI").is_some() {
        panic!("ETSI oracle required under CI but unavailable: {why} (pip install asn1tools)");
    }
    eprintln!("SKIPPED: ETSI oracle unavailable: {why}");
    false
}

/// One oracle run: exit status and the JSON lines it printed.
pub struct OracleRun {
    pub success: bool,
    pub records: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the oracle on `file` (with `--check` when `check`), without judging the result.
pub fn run_oracle(file: &Path, check: bool) -> OracleRun {
    let script = oracle_path().expect("oracle script missing (call require_oracle first)");
    let mut cmd = Command::new("python3");
    cmd.arg(&script);
    if check {
        cmd.arg("--check");
    }
    let out = cmd.arg(file).output().expect("cannot run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let records = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("oracle printed a non-JSON line ({e}): {l}\nstderr:\n{stderr}")
            })
        })
        .collect();
    OracleRun {
        success: out.status.success(),
        records,
        stdout,
        stderr,
    }
}

/// Runs `etsi_oracle.py --check FILE`, asserts exit status 0 (panic shows stdout and stderr),
/// and returns its JSON lines, one per PDU.
pub fn run_oracle_check(file: &Path) -> Vec<Value> {
    let run = run_oracle(file, true);
    assert!(
        run.success,
        "etsi_oracle.py --check {} failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
        file.display(),
        run.stdout,
        run.stderr
    );
    run.records
}

fn get<'a>(v: &'a Value, path: &str, ctx: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match v.get(k) {
        Some(x) => x,
        None => panic!("{ctx}: oracle JSON lacks {path} (at {k}) in {v}"),
    })
}

fn opt<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn oracle_hex<'a>(v: &'a Value, ctx: &str) -> &'a str {
    v.get("hex")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{ctx}: expected {{\"hex\":..}}, got {v}"))
}

fn assert_bytes(ctx: &str, field: &str, ours: &[u8], oracle: &Value) {
    let theirs = oracle_hex(oracle, ctx);
    assert!(
        hex(ours) == theirs,
        "{ctx} {field}: tapline has {} octets, oracle {} octets, contents differ",
        ours.len(),
        theirs.len() / 2
    );
}

/// The single (name, value) of an asn1tools CHOICE rendered as `{alt: value}`.
fn choice<'a>(v: &'a Value, ctx: &str) -> (&'a str, &'a Value) {
    match v.as_object() {
        Some(m) if m.len() == 1 => m.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap(),
        _ => panic!("{ctx}: expected a CHOICE {{alt: value}}, got {v}"),
    }
}

fn enum_number(ctx: &str, field: &str, name: &Value, names: &[(&str, u32)]) -> u32 {
    let s = name
        .as_str()
        .unwrap_or_else(|| panic!("{ctx} {field}: expected an enum name, got {name}"));
    names
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{ctx} {field}: unknown enum name {s}"))
}

const QUALIFIERS: &[(&str, u32)] = &[
    ("unknown", 0),
    ("timeOfInterception", 1),
    ("timeOfMediation", 2),
    ("timeOfAggregation", 3),
];
const IRI_TYPES: &[(&str, u32)] = &[
    ("iRI-Begin", 1),
    ("iRI-End", 2),
    ("iRI-Continue", 3),
    ("iRI-Report", 4),
];
const DIRECTIONS: &[(&str, u32)] = &[
    ("fromTarget", 0),
    ("toTarget", 1),
    ("indeterminate", 2),
    ("combined", 3),
    ("notapplicable", 4),
];
const FRAME_TYPES: &[(&str, u32)] = &[
    ("ipFrame", 0),
    ("udpFrame", 1),
    ("rtpFrame", 2),
    ("audioFrame", 3),
    ("tcpFrame", 4),
    ("artificialRtpFrame", 5),
    ("udptlFrame", 6),
    ("msrpFrame", 7),
];
/// IRIContents alternatives (LI-PS-PDU v43) other than iPMMIRI, by tag number.
const IRI_CONTENTS: &[(&str, u32)] = &[
    ("emailIRI", 1),
    ("iPIRI", 2),
    ("iPIRIOnly", 3),
    ("uMTSIRI", 4),
    ("eTSI671IRI", 5),
    ("l2IRI", 6),
    ("l2IRIOnly", 7),
    ("tARGETACTIVITYMONITOR-1", 8),
    ("tARGETACTIVITYMONITOR-2", 9),
    ("pstnIsdnIRI", 10),
    ("messagingIRI", 14),
    ("ePSIRI", 15),
    ("confIRI", 16),
    ("proseIRI", 17),
    ("gcseIRI", 18),
    ("threeGPP33128DefinedIRI", 19),
    ("iPIRIPacketReport", 20),
];

fn oracle_ip(v: &Value, ctx: &str) -> IpAddr {
    let (alt, value) = choice(get(v, "iP-value", ctx), ctx);
    assert_eq!(alt, "iPBinaryAddress", "{ctx}: iP-value alternative");
    let text = oracle_hex(value, ctx);
    let bytes: Vec<u8> = (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let addr = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap()),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).unwrap()),
        n => panic!("{ctx}: iPBinaryAddress of {n} octets"),
    };
    let ip_type = get(v, "iP-type", ctx).as_str();
    assert_eq!(
        ip_type,
        Some(if addr.is_ipv4() { "iPV4" } else { "iPV6" }),
        "{ctx}: iP-type"
    );
    addr
}

/// Compares every field tapline decodes for one PDU with the oracle's JSON for it.
fn assert_pdu_agrees(i: usize, ours: &Pdu, rec: &Value) {
    let ctx = format!("PDU {i}");
    let ctx = ctx.as_str();
    let pdu = get(rec, "pdu", ctx);
    let h = get(pdu, "pSHeader", ctx);
    let ci = get(h, "communicationIdentifier", ctx);
    let ni = get(ci, "networkIdentifier", ctx);
    let oh = &ours.header;
    assert_eq!(
        get(h, "li-psDomainId", ctx).as_str(),
        Some(oh.domain_id.as_str()),
        "{ctx} domain OID"
    );
    assert_bytes(
        ctx,
        "LIID",
        &oh.liid,
        get(h, "lawfulInterceptionIdentifier", ctx),
    );
    assert_eq!(
        opt(h, "authorizationCountryCode").and_then(Value::as_str),
        oh.authorization_country.as_deref(),
        "{ctx} authorizationCountryCode"
    );
    assert_bytes(
        ctx,
        "operatorIdentifier",
        &oh.operator_id,
        get(ni, "operatorIdentifier", ctx),
    );
    match (&oh.network_element_id, opt(ni, "networkElementIdentifier")) {
        (Some(ne), Some(v)) => assert_bytes(ctx, "networkElementIdentifier", ne, v),
        (None, None) => {}
        (a, b) => panic!("{ctx} networkElementIdentifier presence: tapline {a:?}, oracle {b:?}"),
    }
    assert_eq!(
        opt(ci, "communicationIdentityNumber").and_then(Value::as_u64),
        oh.cin.map(u64::from),
        "{ctx} CIN"
    );
    assert_eq!(
        opt(ci, "deliveryCountryCode").and_then(Value::as_str),
        oh.delivery_country.as_deref(),
        "{ctx} deliveryCountryCode"
    );
    assert_eq!(
        get(h, "sequenceNumber", ctx).as_u64(),
        Some(u64::from(oh.sequence)),
        "{ctx} sequenceNumber"
    );
    let ts = opt(h, "microSecondTimeStamp");
    assert_eq!(
        ts.and_then(|t| t.get("seconds")).and_then(Value::as_u64),
        oh.seconds,
        "{ctx} seconds"
    );
    assert_eq!(
        ts.and_then(|t| t.get("microSeconds"))
            .and_then(Value::as_u64),
        oh.micros.map(u64::from),
        "{ctx} microSeconds"
    );
    assert_eq!(
        opt(h, "timeStampQualifier").map(|q| enum_number(ctx, "timeStampQualifier", q, QUALIFIERS)),
        oh.qualifier,
        "{ctx} timeStampQualifier"
    );

    let (kind, body) = choice(get(pdu, "payload", ctx), ctx);
    match (&ours.payload, kind) {
        (Payload::Iri(records), "iRIPayloadSequence") => {
            let list = body
                .as_array()
                .unwrap_or_else(|| panic!("{ctx}: iRIPayloadSequence not a list"));
            assert_eq!(list.len(), records.len(), "{ctx} IRIPayload count");
            for (j, (r, o)) in records.iter().zip(list).enumerate() {
                let ctx = format!("{ctx} IRIPayload {j}");
                let ctx = ctx.as_str();
                assert_eq!(
                    opt(o, "iRIType").map(|t| enum_number(ctx, "iRIType", t, IRI_TYPES)),
                    r.iri_type,
                    "{ctx} iRIType"
                );
                let (alt, ipmmiri) = choice(get(o, "iRIContents", ctx), ctx);
                if alt != "iPMMIRI" {
                    let n = enum_number(
                        ctx,
                        "iRIContents alternative",
                        &Value::from(alt),
                        IRI_CONTENTS,
                    );
                    assert_eq!(
                        r.kind,
                        IriContentKind::Other(n),
                        "{ctx} iRIContents alternative"
                    );
                    continue;
                }
                assert_eq!(
                    get(ipmmiri, "iPMMIRIObjId_arcs", ctx).as_str(),
                    r.obj_id.as_deref(),
                    "{ctx} iPMMIRIObjId"
                );
                let (alt, v) = choice(get(ipmmiri, "iPMMIRIContents", ctx), ctx);
                assert_eq!(
                    r.kind.asn1_name(),
                    Some(alt),
                    "{ctx} iPMMIRIContents alternative"
                );
                match r.kind {
                    IriContentKind::SipMessage | IriContentKind::IriOnlySipMessage => {
                        assert_eq!(
                            r.src,
                            Some(oracle_ip(get(v, "iPSourceAddress", ctx), ctx)),
                            "{ctx} source"
                        );
                        assert_eq!(
                            r.dst,
                            Some(oracle_ip(get(v, "iPDestinationAddress", ctx), ctx)),
                            "{ctx} dest"
                        );
                        assert_bytes(ctx, "sIPContent", &r.bytes, get(v, "sIPContent", ctx));
                    }
                    _ => assert_bytes(ctx, alt, &r.bytes, v),
                }
            }
        }
        (Payload::Cc(records), "cCPayloadSequence") => {
            let list = body
                .as_array()
                .unwrap_or_else(|| panic!("{ctx}: cCPayloadSequence not a list"));
            assert_eq!(list.len(), records.len(), "{ctx} CCPayload count");
            for (j, (r, o)) in records.iter().zip(list).enumerate() {
                let ctx = format!("{ctx} CCPayload {j}");
                let ctx = ctx.as_str();
                assert_eq!(
                    opt(o, "payloadDirection").map(|d| enum_number(
                        ctx,
                        "payloadDirection",
                        d,
                        DIRECTIONS
                    )),
                    r.direction,
                    "{ctx} payloadDirection"
                );
                let (alt, mm) = choice(get(o, "cCContents", ctx), ctx);
                assert_eq!(alt, "iPMMCC", "{ctx} cCContents alternative");
                assert_eq!(
                    r.kind,
                    CcContentKind::IpMmCc,
                    "{ctx} cCContents alternative"
                );
                assert_eq!(
                    get(mm, "iPMMCCObjId_arcs", ctx).as_str(),
                    r.obj_id.as_deref(),
                    "{ctx} iPMMCCObjId"
                );
                assert_bytes(
                    ctx,
                    "mMCCContents",
                    &r.contents,
                    get(mm, "mMCCContents", ctx),
                );
                assert_eq!(
                    opt(mm, "frameType").map(|f| enum_number(ctx, "frameType", f, FRAME_TYPES)),
                    r.frame_type,
                    "{ctx} frameType"
                );
            }
        }
        (Payload::KeepAlive, "tRIPayload") => {
            assert_eq!(choice(body, ctx).0, "keep-alive", "{ctx} tRIPayload")
        }
        (Payload::KeepAliveResponse, "tRIPayload") => {
            assert_eq!(
                choice(body, ctx).0,
                "keep-aliveResponse",
                "{ctx} tRIPayload"
            )
        }
        (ours, theirs) => panic!("{ctx}: payload kind differs: tapline {ours:?}, oracle {theirs}"),
    }
}

/// Decodes `file` with tapline's decoder and with the oracle and asserts they agree on every
/// field: header (domain OID, LIID, countries, operator/NE ids, CIN, sequence, seconds,
/// micros, qualifier) and payload (kind, IRI type, content alternative, addresses, SIP or
/// packet bytes, CC direction, object ids, contents, frame type).
pub fn assert_decoder_agrees(file: &Path) {
    let run = run_oracle(file, false);
    assert!(
        run.success,
        "oracle failed to decode {}\n{}\n{}",
        file.display(),
        run.stdout,
        run.stderr
    );
    assert_agrees_with(file, &run.records);
}

/// One oracle run over `file`: its `--check` must pass, and tapline's decoder must agree
/// with its decoding on every field (as [`assert_decoder_agrees`]). Half the cost of
/// calling both, which matters on streams of thousands of PDUs.
pub fn assert_passes_check_and_decoder_agrees(file: &Path) {
    let records = run_oracle_check(file);
    assert_agrees_with(file, &records);
}

fn assert_agrees_with(file: &Path, records: &[Value]) {
    let data = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let ours: Vec<Pdu> = split_stream(&data)
        .enumerate()
        .map(|(i, part)| {
            let part = part.unwrap_or_else(|e| panic!("tapline split_stream, PDU {i}: {e}"));
            decode_pdu(part).unwrap_or_else(|e| panic!("tapline decode_pdu, PDU {i}: {e}"))
        })
        .collect();
    assert_eq!(ours.len(), records.len(), "PDU count: tapline vs oracle");
    for (i, (pdu, rec)) in ours.iter().zip(records).enumerate() {
        assert_eq!(rec.get("index").and_then(Value::as_u64), Some(i as u64), "oracle record order");
        assert_pdu_agrees(i, pdu, rec);
    }
}
