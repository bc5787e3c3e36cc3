//! Hand-built captures for end-to-end tests: SIP text and RTP written by the test, framed by
//! `tapline::gen::FrameBuilder` and stored with `tapline::gen::PcapWriter`, then replayed
//! with the `tapline replay` binary; the agencies' HI2/HI3 streams are read back through
//! the independent ETSI oracle.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tapline::gen::{Endpoint, FrameBuilder, PcapWriter, Resolution};
use tapline::Timestamp;

/// 2026-11-02T14:00:00Z.
pub const START_S: u64 = 1_793_628_000;

pub fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port)
}

/// Frames in capture order, each with its time.
pub struct Capture {
    builder: FrameBuilder,
    frames: Vec<(Timestamp, Vec<u8>)>,
    /// Milliseconds after [`START_S`] of the next frame.
    pub ms: u64,
}

impl Default for Capture {
    fn default() -> Self {
        Capture { builder: FrameBuilder::new(1), frames: Vec::new(), ms: 0 }
    }
}

impl Capture {
    fn ts(&mut self) -> Timestamp {
        self.ms += 10;
        Timestamp::from_nanos((START_S * 1000 + self.ms) * 1_000_000)
    }

    pub fn udp(&mut self, src: Endpoint, dst: Endpoint, payload: &[u8]) {
        let ts = self.ts();
        let mut buf = Vec::new();
        self.builder.udp_frame(&mut buf, src, dst, None, payload);
        self.frames.push((ts, buf));
    }

    pub fn tcp(&mut self, src: Endpoint, dst: Endpoint, seq: u32, flags: u8, payload: &[u8]) {
        let ts = self.ts();
        let mut buf = Vec::new();
        self.builder.tcp_frame(&mut buf, src, dst, None, seq, 1, flags, payload);
        self.frames.push((ts, buf));
    }

    /// `count` RTP packets (PCMU, 160 bytes) from `src` to `dst`.
    pub fn rtp(&mut self, src: Endpoint, dst: Endpoint, ssrc: u32, count: u16) {
        for i in 0..count {
            let mut p = vec![0x80, 0x00];
            p.extend_from_slice(&i.to_be_bytes());
            p.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&[0xff; 160]);
            self.udp(src, dst, &p);
        }
    }

    pub fn write(&self, path: &Path) {
        let mut w = PcapWriter::new(fs::File::create(path).unwrap(), Resolution::Micro).unwrap();
        for (ts, f) in &self.frames {
            w.write_frame(*ts, f).unwrap();
        }
    }
}

/// SDP offering PCMU audio at `media`.
pub fn sdp(media: Endpoint) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = media.ip,
        port = media.port
    )
}

/// One SIP message: start line, headers (without Content-Length) and body.
pub fn sip(start: &str, headers: &[String], body: &str) -> Vec<u8> {
    let mut m = format!("{start}\r\n");
    for h in headers {
        m += h;
        m += "\r\n";
    }
    if !body.is_empty() {
        m += "Content-Type: application/sdp\r\n";
    }
    m += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    m.into_bytes()
}

/// The SIP messages of one answered call from `from` to `to` (URIs; the Request-URI is `to`
/// with its parameters): [`Call::setup`] gives INVITE, 180, 200, ACK with media at the given
/// endpoints, [`Call::release`] BYE and its 200. `true` marks a message from the caller.
pub struct Call {
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub transport: &'static str,
}

impl Call {
    pub fn new(call_id: &str, from: &str, to: &str) -> Call {
        Call { call_id: call_id.into(), from: from.into(), to: to.into(), transport: "UDP" }
    }

    fn common(&self, to_tag: bool, cseq: &str) -> Vec<String> {
        vec![
            format!("Via: SIP/2.0/{} 192.0.2.1:5060;branch=z9hG4bK-{}-{}", self.transport, self.call_id, cseq.replace(' ', "")),
            format!("From: <{}>;tag=caller", self.from),
            format!("To: <{}>{}", self.to, if to_tag { ";tag=callee" } else { "" }),
            format!("Call-ID: {}", self.call_id),
            format!("CSeq: {cseq}"),
        ]
    }

    pub fn setup(&self, caller_media: Endpoint, callee_media: Endpoint) -> Vec<(bool, Vec<u8>)> {
        let mut invite = self.common(false, "1 INVITE");
        invite.push("Contact: <sip:caller@192.0.2.1:5060>".into());
        let mut ok = self.common(true, "1 INVITE");
        ok.push("Contact: <sip:callee@192.0.2.2:5060>".into());
        vec![
            (true, sip(&format!("INVITE {} SIP/2.0", self.to), &invite, &sdp(caller_media))),
            (false, sip("SIP/2.0 180 Ringing", &self.common(true, "1 INVITE"), "")),
            (false, sip("SIP/2.0 200 OK", &ok, &sdp(callee_media))),
            (true, sip("ACK sip:callee@192.0.2.2:5060 SIP/2.0", &self.common(true, "1 ACK"), "")),
        ]
    }

    pub fn release(&self) -> Vec<(bool, Vec<u8>)> {
        vec![
            (true, sip("BYE sip:callee@192.0.2.2:5060 SIP/2.0", &self.common(true, "2 BYE"), "")),
            (false, sip("SIP/2.0 200 OK", &self.common(true, "2 BYE"), "")),
        ]
    }
}

/// A warrant file on one target.
pub fn warrant(liid: &str, kind: &str, agency: &str, target: &str) -> String {
    format!(
        "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"{agency}\"\ntargets = [\"{target}\"]\n\
         valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\n\
         court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\n"
    )
}

/// The result of one `tapline replay` run.
pub struct Replayed {
    pub out: PathBuf,
    pub summary: Value,
    _tmp: tempfile::TempDir,
}

/// Writes `capture`, `agencies_toml` and the warrant files into a temporary directory and
/// runs `tapline replay CAPTURE --warrants DIR --out OUT`, which must succeed.
pub fn replay(capture: &Capture, agencies_toml: &str, warrants: &[(&str, String)]) -> Replayed {
    let tmp = tempfile::tempdir().unwrap();
    let pcap = tmp.path().join("capture.pcap");
    capture.write(&pcap);
    let wdir = tmp.path().join("warrants");
    fs::create_dir(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), agencies_toml).unwrap();
    for (name, text) in warrants {
        fs::write(wdir.join(format!("{name}.toml")), text).unwrap();
    }
    let out = tmp.path().join("out");
    let run = Command::new(env!("CARGO_BIN_EXE_tapline"))
        .arg("replay")
        .arg(&pcap)
        .arg("--warrants")
        .arg(&wdir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "tapline replay failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let summary = serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap();
    Replayed { out, summary, _tmp: tmp }
}

/// What the independent oracle decoded from one stream file.
#[derive(Debug, Default)]
pub struct OracleView {
    /// (LIID, CIN, SIP message text) of every IRI record.
    pub iri: Vec<(String, u64, String)>,
    /// (LIID, CIN) of every CC record.
    pub cc: Vec<(String, u64)>,
}

impl Replayed {
    /// The oracle's reading of `AGENCY/FILE` after its `--check` passed and tapline's
    /// decoder agreed with it on every field; empty when the file does not exist.
    pub fn oracle(&self, agency: &str, file: &str) -> OracleView {
        let path = self.out.join(agency).join(file);
        let mut view = OracleView::default();
        if !path.exists() {
            return view;
        }
        let records = super::oracle::run_oracle_check(&path);
        super::oracle::assert_decoder_agrees(&path);
        for rec in records {
            let header = &rec["pdu"]["pSHeader"];
            let liid = unhex(header["lawfulInterceptionIdentifier"]["hex"].as_str().unwrap_or(""));
            let liid = String::from_utf8_lossy(&liid).into_owned();
            let cin = header["communicationIdentifier"]["communicationIdentityNumber"].as_u64().unwrap_or(u64::MAX);
            let mut sip = Vec::new();
            collect_hex(&rec["pdu"]["payload"], "sIPContent", &mut sip);
            let text = rec["pdu"]["payload"].to_string();
            if text.contains("iRIPayloadSequence") {
                for s in sip {
                    view.iri.push((liid.clone(), cin, String::from_utf8_lossy(&s).into_owned()));
                }
            } else if text.contains("cCPayloadSequence") {
                let n = text.matches("\"mMCCContents\":").count();
                for _ in 0..n {
                    view.cc.push((liid.clone(), cin));
                }
            }
        }
        view
    }
}

fn collect_hex(v: &Value, key: &str, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    if let Some(h) = x.get("hex").and_then(Value::as_str) {
                        out.push(unhex(h));
                    }
                } else {
                    collect_hex(x, key, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_hex(x, key, out)),
        _ => {}
    }
}

fn unhex(h: &str) -> Vec<u8> {
    (0..h.len() / 2).filter_map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// `agencies.toml` with one etsi agency `a` and, when given, the carrier's number domains.
pub fn agencies(number_domains: &[&str]) -> String {
    let mut t = String::from(
        "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n",
    );
    if !number_domains.is_empty() {
        let list: Vec<String> = number_domains.iter().map(|d| format!("\"{d}\"")).collect();
        t += &format!("number_domains = [{}]\n", list.join(", "));
    }
    t += "\n[[agency]]\nid = \"a\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n";
    t
}
