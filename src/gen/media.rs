//! RTP media streams produced lazily tick by tick: G.711 PCMU 20 ms audio, RFC 4733
//! telephone-events on the negotiated PT 101, and RTCP sender reports every 5 s on port+1.

use std::collections::VecDeque;
use std::time::Duration;

use super::frame::{Endpoint, FrameBuilder};
use super::rng::Rng;
use super::source::{Frame, FrameKind};
use crate::Timestamp;

/// Packetization interval.
pub const PTIME: Duration = Duration::from_millis(20);
const PTIME_NS: u64 = 20_000_000;
/// RTP clock ticks per packet (8 kHz × 20 ms).
const SAMPLES_PER_PACKET: u32 = 160;
pub const PT_PCMU: u8 = 0;
pub const PT_TELEPHONE_EVENT: u8 = 101;
/// Packets (ticks) per DTMF event: 100 ms; the last one is the end packet, sent 3 times.
pub const EVENT_TICKS: u32 = 5;
/// Copies of the end-of-event packet.
pub const EVENT_END_COPIES: u32 = 3;
/// RTCP sender report every 250 ticks (5 s).
pub const RTCP_EVERY_TICKS: u32 = 250;
/// Seconds from 1900 (NTP era 0) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// One period of a 400 Hz tone (caller side), μ-law encoded, amplitude 8000.
const TONE_400: [u8; 20] = [
    0xff, 0xbb, 0xad, 0xa6, 0xa1, 0xa0, 0xa1, 0xa6, 0xad, 0xbb, 0xff, 0x3b, 0x2d, 0x26, 0x21, 0x20,
    0x21, 0x26, 0x2d, 0x3b,
];
/// One period of a 500 Hz tone (callee side).
const TONE_500: [u8; 16] = [
    0xff, 0xb7, 0xa9, 0xa2, 0xa0, 0xa2, 0xa9, 0xb7, 0xff, 0x37, 0x29, 0x22, 0x20, 0x22, 0x29, 0x37,
];

/// Which test tone fills the PCMU payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Hz400,
    Hz500,
}

impl Tone {
    fn payload(self) -> [u8; 160] {
        let period: &[u8] = match self {
            Tone::Hz400 => &TONE_400,
            Tone::Hz500 => &TONE_500,
        };
        let mut out = [0u8; 160];
        for (i, b) in out.iter_mut().enumerate() {
            *b = period[i % period.len()];
        }
        out
    }
}

/// A mid-call change of a stream, effective for ticks at or after its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaChange {
    /// The sender moved to a new local RTP port (re-INVITE); RTCP moves to port+1.
    MoveTo(u16),
    /// The sender stopped sending (put on hold with a=sendonly from the other side).
    Stop,
}

/// What one direction of media sends.
#[derive(Clone, Debug)]
pub struct MediaPlan {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub vlan: Option<u16>,
    pub start: Timestamp,
    /// Number of 20 ms ticks (talk time / 20 ms).
    pub ticks: u32,
    pub tone: Tone,
    /// Telephone-events: (first tick, RFC 4733 event code), sorted, non-overlapping.
    pub digits: Vec<(u32, u8)>,
    pub change: Option<(Timestamp, MediaChange)>,
    pub rtcp: bool,
}

/// RFC 4733 event code of a DTMF character (0-9, *, #, A-D).
pub fn event_code(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        _ => None,
    }
}

/// Lazily expanded RTP/RTCP stream of one direction.
pub struct MediaStream {
    plan: MediaPlan,
    frames: FrameBuilder,
    payload: [u8; 160],
    ssrc: u32,
    seq: u16,
    ts0: u32,
    tick: u32,
    packets_sent: u32,
    octets_sent: u32,
    pending: VecDeque<Frame>,
}

impl MediaStream {
    pub fn new(plan: MediaPlan, rng: &mut Rng) -> Self {
        let payload = plan.tone.payload();
        MediaStream {
            plan,
            frames: FrameBuilder::new(rng.next_u32() as u16),
            payload,
            ssrc: rng.next_u32(),
            seq: rng.next_u32() as u16,
            ts0: rng.next_u32(),
            tick: 0,
            packets_sent: 0,
            octets_sent: 0,
            pending: VecDeque::new(),
        }
    }

    /// Time of the next frame, expanding the next tick when needed.
    pub fn peek_ts(&mut self) -> Option<Timestamp> {
        if self.pending.is_empty() {
            self.expand_tick();
        }
        self.pending.front().map(|f| f.ts)
    }

    pub fn pop(&mut self) -> Option<Frame> {
        if self.pending.is_empty() {
            self.expand_tick();
        }
        self.pending.pop_front()
    }

    fn expand_tick(&mut self) {
        let i = self.tick;
        if i >= self.plan.ticks {
            return;
        }
        let t = Timestamp::from_nanos(self.plan.start.as_nanos() + u64::from(i) * PTIME_NS);
        let mut src = self.plan.src;
        match self.plan.change {
            Some((at, MediaChange::Stop)) if t >= at => {
                self.tick = self.plan.ticks;
                return;
            }
            Some((at, MediaChange::MoveTo(port))) if t >= at => src.port = port,
            _ => {}
        }
        self.tick += 1;
        let event = self
            .plan
            .digits
            .iter()
            .find(|(first, _)| (*first..first.saturating_add(EVENT_TICKS)).contains(&i))
            .copied();
        match event {
            Some((first, code)) => {
                let j = i - first;
                let end = j + 1 == EVENT_TICKS;
                let mut body = [0u8; 4];
                body[0] = code;
                body[1] = if end { 0x80 } else { 0 } | 10; // E bit, volume -10 dBm0
                let duration = (j + 1) * SAMPLES_PER_PACKET;
                body[2..4].copy_from_slice(&(duration as u16).to_be_bytes());
                let rtp_ts = self.ts0.wrapping_add(first * SAMPLES_PER_PACKET);
                let copies = if end { EVENT_END_COPIES } else { 1 };
                for copy in 0..copies {
                    let at = Timestamp::from_nanos(t.as_nanos() + u64::from(copy) * 5_000_000);
                    self.push_rtp(at, src, PT_TELEPHONE_EVENT, j == 0, rtp_ts, &body);
                }
            }
            None => {
                let rtp_ts = self.ts0.wrapping_add(i * SAMPLES_PER_PACKET);
                let payload = self.payload;
                self.push_rtp(t, src, PT_PCMU, i == 0, rtp_ts, &payload);
            }
        }
        self.seq = self.seq.wrapping_add(1);
        if self.plan.rtcp && i > 0 && i.is_multiple_of(RTCP_EVERY_TICKS) {
            let at = Timestamp::from_nanos(t.as_nanos() + 3_000_000);
            self.push_rtcp(at, src, self.ts0.wrapping_add(i * SAMPLES_PER_PACKET));
        }
    }

    fn push_rtp(
        &mut self,
        at: Timestamp,
        src: Endpoint,
        pt: u8,
        marker: bool,
        rtp_ts: u32,
        payload: &[u8],
    ) {
        let mut rtp = Vec::with_capacity(12 + payload.len());
        rtp.push(0x80);
        rtp.push(if marker { 0x80 } else { 0 } | pt);
        rtp.extend_from_slice(&self.seq.to_be_bytes());
        rtp.extend_from_slice(&rtp_ts.to_be_bytes());
        rtp.extend_from_slice(&self.ssrc.to_be_bytes());
        rtp.extend_from_slice(payload);
        let mut bytes = Vec::with_capacity(100 + rtp.len());
        self.frames
            .udp_frame(&mut bytes, src, self.plan.dst, self.plan.vlan, &rtp);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload.len() as u32);
        self.pending.push_back(Frame {
            ts: at,
            bytes,
            kind: FrameKind::Rtp,
        });
    }

    /// Compound RTCP: sender report (no report blocks) + SDES CNAME.
    fn push_rtcp(&mut self, at: Timestamp, src: Endpoint, rtp_ts: u32) {
        let mut p = Vec::with_capacity(64);
        p.extend_from_slice(&[0x80, 200, 0, 6]);
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        let ntp_secs = (at.secs() + NTP_UNIX_OFFSET) as u32;
        let ntp_frac = ((u64::from(at.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        p.extend_from_slice(&ntp_secs.to_be_bytes());
        p.extend_from_slice(&ntp_frac.to_be_bytes());
        p.extend_from_slice(&rtp_ts.to_be_bytes());
        p.extend_from_slice(&self.packets_sent.to_be_bytes());
        p.extend_from_slice(&self.octets_sent.to_be_bytes());
        let cname = format!("{:08x}@{}", self.ssrc, super::sip_text::DOMAIN);
        let sdes_start = p.len();
        p.extend_from_slice(&[0x81, 202, 0, 0]);
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.push(1);
        p.push(cname.len() as u8);
        p.extend_from_slice(cname.as_bytes());
        p.push(0);
        while (p.len() - sdes_start) % 4 != 0 {
            p.push(0);
        }
        let words = ((p.len() - sdes_start) / 4 - 1) as u16;
        p[sdes_start + 2..sdes_start + 4].copy_from_slice(&words.to_be_bytes());
        let mut bytes = Vec::with_capacity(100 + p.len());
        let src = Endpoint::new(src.ip, src.port.wrapping_add(1));
        let dst = Endpoint::new(self.plan.dst.ip, self.plan.dst.port.wrapping_add(1));
        self.frames
            .udp_frame(&mut bytes, src, dst, self.plan.vlan, &p);
        self.pending.push_back(Frame {
            ts: at,
            bytes,
            kind: FrameKind::Rtcp,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn plan(ticks: u32) -> MediaPlan {
        MediaPlan {
            src: Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 20000),
            dst: Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 30000),
            vlan: None,
            start: Timestamp::from_nanos(1_000_000_000),
            ticks,
            tone: Tone::Hz400,
            digits: Vec::new(),
            change: None,
            rtcp: false,
        }
    }

    fn drain(mut s: MediaStream) -> Vec<Frame> {
        std::iter::from_fn(|| s.pop()).collect()
    }

    #[test]
    fn audio_packets_advance_by_160_and_mark_the_first() {
        let frames = drain(MediaStream::new(plan(3), &mut Rng::new(1)));
        assert_eq!(frames.len(), 3);
        let rtp: Vec<&[u8]> = frames.iter().map(|f| &f.bytes[42..]).collect();
        assert_eq!(rtp[0].len(), 172);
        assert_eq!(rtp[0][1], 0x80);
        assert_eq!(rtp[1][1], 0x00);
        let seq = |r: &[u8]| u16::from_be_bytes([r[2], r[3]]);
        let ts = |r: &[u8]| u32::from_be_bytes([r[4], r[5], r[6], r[7]]);
        assert_eq!(seq(rtp[1]), seq(rtp[0]).wrapping_add(1));
        assert_eq!(ts(rtp[2]), ts(rtp[0]).wrapping_add(320));
        assert_eq!(
            frames[1].ts.as_nanos() - frames[0].ts.as_nanos(),
            20_000_000
        );
        assert_eq!(rtp[0][12..32], TONE_400);
    }

    #[test]
    fn digit_replaces_five_ticks_with_seven_packets() {
        let mut p = plan(10);
        p.digits = vec![(2, 5)];
        let frames = drain(MediaStream::new(p, &mut Rng::new(2)));
        assert_eq!(frames.len(), 10 - EVENT_TICKS as usize + 7);
        let events: Vec<&[u8]> = frames
            .iter()
            .map(|f| &f.bytes[42..])
            .filter(|r| r[1] & 0x7f == 101)
            .collect();
        assert_eq!(events.len(), 7);
        assert_eq!(events[0][1], 0x80 | 101);
        assert_eq!(events[0][12..16], [5, 10, 0, 160]);
        assert_eq!(events[4][12..16], [5, 0x8a, 0x03, 0x20]);
        assert_eq!(events[4][2..8], events[6][2..8]); // same seq and timestamp on the copies
        assert_eq!(events[0][4..8], events[6][4..8]); // one timestamp for the whole event
    }

    #[test]
    fn rtcp_every_five_seconds_and_stop_change() {
        let mut p = plan(600);
        p.rtcp = true;
        let frames = drain(MediaStream::new(p.clone(), &mut Rng::new(3)));
        let rtcp: Vec<&Frame> = frames
            .iter()
            .filter(|f| f.kind == FrameKind::Rtcp)
            .collect();
        assert_eq!(rtcp.len(), 2);
        assert_eq!(rtcp[0].bytes[36..38], 30001u16.to_be_bytes());
        assert_eq!(rtcp[0].bytes[42..44], [0x80, 200]);
        assert_eq!(
            u32::from_be_bytes(rtcp[0].bytes[62..66].try_into().unwrap()),
            251
        );
        p.rtcp = false;
        p.change = Some((Timestamp::from_nanos(3_000_000_000), MediaChange::Stop));
        assert_eq!(drain(MediaStream::new(p, &mut Rng::new(3))).len(), 100);
    }
}
