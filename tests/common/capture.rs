//! Hand-built captures for end-to-end tests: SIP dialogs and RTP written through the
//! project's frame builder into a real pcap file, with packet time under the test's control.

use std::net::IpAddr;
use std::path::Path;

use tapline::gen::{Endpoint, FrameBuilder, PcapWriter, Resolution};
use tapline::Timestamp;

/// A capture being written: frames in packet-time order.
pub struct Capture {
    frames: Vec<(Timestamp, Vec<u8>)>,
    builder: FrameBuilder,
    /// Packet time of the next frame, in ns.
    pub now_ns: u64,
}

/// An address and port, e.g. `("10.1.0.1", 5060)`.
pub type Ep = (&'static str, u16);

fn endpoint(ep: Ep) -> Endpoint {
    let ip: IpAddr = ep.0.parse().expect("test address");
    Endpoint::new(ip, ep.1)
}

impl Capture {
    pub fn new(start: Timestamp) -> Self {
        Capture { frames: Vec::new(), builder: FrameBuilder::new(1), now_ns: start.as_nanos() }
    }

    /// Lets `secs` of packet time pass (no traffic).
    pub fn wait(&mut self, secs: u64) {
        self.now_ns += secs * 1_000_000_000;
    }

    /// One UDP datagram, 10 ms after the previous frame.
    pub fn udp(&mut self, src: Ep, dst: Ep, payload: &[u8]) {
        self.now_ns += 10_000_000;
        let mut frame = Vec::new();
        self.builder.udp_frame(&mut frame, endpoint(src), endpoint(dst), None, payload);
        self.frames.push((Timestamp::from_nanos(self.now_ns), frame));
    }

    /// `n` PCMU RTP packets from `src` to `dst`, 20 ms apart, sequence numbers from `seq`.
    pub fn rtp(&mut self, src: Ep, dst: Ep, n: u16, seq: u16) {
        for i in 0..n {
            self.now_ns += 10_000_000;
            let s = seq.wrapping_add(i);
            let mut p = vec![0x80, 0, (s >> 8) as u8, s as u8, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
            p.extend_from_slice(&[0xd5; 160]);
            let mut frame = Vec::new();
            self.builder.udp_frame(&mut frame, endpoint(src), endpoint(dst), None, &p);
            self.frames.push((Timestamp::from_nanos(self.now_ns), frame));
        }
    }

    /// RTP both ways: `n` packets each, interleaved.
    pub fn talk(&mut self, a: Ep, b: Ep, n: u16, seq: u16) {
        for i in 0..n {
            self.rtp(a, b, 1, seq.wrapping_add(i));
            self.rtp(b, a, 1, seq.wrapping_add(i).wrapping_add(1000));
        }
    }

    pub fn write(&self, path: &Path) {
        let file = std::fs::File::create(path).expect("create capture");
        let mut w = PcapWriter::new(std::io::BufWriter::new(file), Resolution::Micro).expect("pcap header");
        for (ts, frame) in &self.frames {
            w.write_frame(*ts, frame).expect("pcap frame");
        }
        use std::io::Write;
        w.into_inner().flush().expect("flush capture");
    }
}

/// An SDP body with one audio stream per (address, port); port 0 declines a stream.
pub fn sdp(streams: &[(&str, u16)]) -> String {
    let origin = streams.first().map(|s| s.0).unwrap_or("0.0.0.0");
    let mut s = format!("v=0\r\no=- 1 1 IN IP4 {origin}\r\ns=-\r\nt=0 0\r\n");
    for (addr, port) in streams {
        s += &format!("m=audio {port} RTP/AVP 0\r\nc=IN IP4 {addr}\r\na=rtpmap:0 PCMU/8000\r\n");
    }
    s
}

/// One SIP message: start line, headers, optional SDP body (Content-Length computed).
pub fn sip(start: &str, headers: &[String], body: Option<&str>) -> Vec<u8> {
    let mut s = format!("{start}\r\n");
    for h in headers {
        s += h;
        s += "\r\n";
    }
    match body {
        Some(b) => s += &format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}", b.len()),
        None => s += "Content-Length: 0\r\n\r\n",
    }
    s.into_bytes()
}

/// The fixed parts of one dialog: Call-ID, the caller's From (with tag), the To URI.
pub struct Dialog {
    pub call_id: String,
    pub from: String,
    pub to: String,
}

impl Dialog {
    pub fn new(call_id: &str, from_uri: &str, to_uri: &str) -> Self {
        Dialog { call_id: call_id.into(), from: format!("<{from_uri}>;tag=caller1"), to: format!("<{to_uri}>") }
    }

    fn to_with(&self, tag: Option<&str>) -> String {
        match tag {
            Some(t) => format!("{};tag={t}", self.to),
            None => self.to.clone(),
        }
    }

    /// A request from the caller: Vias top first, To-tag for in-dialog requests.
    #[allow(clippy::too_many_arguments)]
    pub fn request(&self, method: &str, ruri: &str, vias: &[&str], to_tag: Option<&str>, cseq: u32, extra: &[&str], body: Option<&str>) -> Vec<u8> {
        let mut h: Vec<String> = vias.iter().map(|v| format!("Via: SIP/2.0/UDP {v}")).collect();
        h.push("Max-Forwards: 70".into());
        h.push(format!("From: {}", self.from));
        h.push(format!("To: {}", self.to_with(to_tag)));
        h.push(format!("Call-ID: {}", self.call_id));
        h.push(format!("CSeq: {cseq} {method}"));
        h.extend(extra.iter().map(|s| s.to_string()));
        sip(&format!("{method} {ruri} SIP/2.0"), &h, body)
    }

    /// A response to a request of the caller.
    #[allow(clippy::too_many_arguments)]
    pub fn response(&self, status: &str, vias: &[&str], to_tag: Option<&str>, cseq: u32, method: &str, extra: &[&str], body: Option<&str>) -> Vec<u8> {
        let mut h: Vec<String> = vias.iter().map(|v| format!("Via: SIP/2.0/UDP {v}")).collect();
        h.push(format!("From: {}", self.from));
        h.push(format!("To: {}", self.to_with(to_tag)));
        h.push(format!("Call-ID: {}", self.call_id));
        h.push(format!("CSeq: {cseq} {method}"));
        h.extend(extra.iter().map(|s| s.to_string()));
        sip(&format!("SIP/2.0 {status}"), &h, body)
    }
}
