//! The captured SIP signalling path between a UAC and a UAS endpoint, over UDP (IPv4 fragments
//! above the MTU) or one TCP connection (handshake, seq/ack, split and coalesced segments).

use super::frame::{Endpoint, FrameBuilder, ACK, PSH, SYN};
use super::rng::Rng;
use super::sip_text::SipMessage;
use super::source::{Frame, FrameKind};
use crate::Timestamp;

/// Ethernet MTU: IPv4 UDP datagrams above it are fragmented.
pub const MTU: usize = 1500;
/// TCP maximum segment size used for SIP over TCP.
pub const MSS: usize = 1460;
/// Delay of the peer's pure ACK after a data segment.
const ACK_DELAY_NS: u64 = 200_000;
/// Gap between back-to-back frames of one transmission.
const BURST_GAP_NS: u64 = 100_000;

/// SIP transport of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

#[derive(Debug)]
struct TcpState {
    uac_seq: u32,
    uas_seq: u32,
}

/// Builds the SIP frames of one signalling path; frames are collected for the call source.
pub struct SipChannel {
    uac: Endpoint,
    uas: Endpoint,
    vlan: Option<u16>,
    frames: FrameBuilder,
    tcp: Option<TcpState>,
    out: Vec<Frame>,
}

impl SipChannel {
    pub fn new(
        uac: Endpoint,
        uas: Endpoint,
        vlan: Option<u16>,
        transport: Transport,
        rng: &mut Rng,
    ) -> Self {
        let tcp = (transport == Transport::Tcp).then(|| TcpState {
            uac_seq: rng.next_u32(),
            uas_seq: rng.next_u32(),
        });
        SipChannel {
            uac,
            uas,
            vlan,
            frames: FrameBuilder::new(rng.next_u32() as u16),
            tcp,
            out: Vec::new(),
        }
    }

    pub fn uac(&self) -> Endpoint {
        self.uac
    }

    pub fn uas(&self) -> Endpoint {
        self.uas
    }

    /// Opens the TCP connection at `t` (SYN, SYN/ACK after `rtt`, ACK); returns the time the
    /// first message may be sent. For UDP returns `t`.
    pub fn open(&mut self, t: Timestamp, rtt_ns: u64) -> Timestamp {
        let Some(state) = self.tcp.as_mut() else {
            return t;
        };
        let (client_isn, server_isn) = (state.uac_seq, state.uas_seq);
        state.uac_seq = client_isn.wrapping_add(1);
        state.uas_seq = server_isn.wrapping_add(1);
        let steps = [
            (0, true, client_isn, 0, SYN),
            (
                rtt_ns,
                false,
                server_isn,
                client_isn.wrapping_add(1),
                SYN | ACK,
            ),
            (
                rtt_ns + BURST_GAP_NS,
                true,
                client_isn.wrapping_add(1),
                server_isn.wrapping_add(1),
                ACK,
            ),
        ];
        for (offset, from_uac, seq, ack, flags) in steps {
            self.push_tcp(
                at(t, offset),
                from_uac,
                seq,
                ack,
                flags,
                &[],
                FrameKind::TcpControl,
            );
        }
        at(t, rtt_ns + 2 * BURST_GAP_NS)
    }

    /// Sends messages at `t`: one datagram each over UDP, one segment holding all over TCP.
    pub fn send(&mut self, t: Timestamp, from_uac: bool, messages: &[&SipMessage]) {
        let texts: Vec<String> = messages.iter().map(|m| m.render()).collect();
        if self.tcp.is_some() {
            let stream: Vec<u8> = texts.concat().into_bytes();
            self.send_tcp(t, from_uac, &stream, None, texts.len() as u32);
        } else {
            for (k, text) in texts.iter().enumerate() {
                self.send_udp(at(t, k as u64 * BURST_GAP_NS), from_uac, text.as_bytes());
            }
        }
    }

    /// Sends one message; over TCP it is cut into two segments after `split_at` bytes.
    pub fn send_split(
        &mut self,
        t: Timestamp,
        from_uac: bool,
        message: &SipMessage,
        split_at: usize,
    ) {
        let text = message.render();
        if self.tcp.is_some() {
            self.send_tcp(t, from_uac, text.as_bytes(), Some(split_at), 1);
        } else {
            self.send_udp(t, from_uac, text.as_bytes());
        }
    }

    pub fn into_frames(self) -> Vec<Frame> {
        self.out
    }

    fn ends(&self, from_uac: bool) -> (Endpoint, Endpoint) {
        if from_uac {
            (self.uac, self.uas)
        } else {
            (self.uas, self.uac)
        }
    }

    fn send_udp(&mut self, t: Timestamp, from_uac: bool, payload: &[u8]) {
        let (src, dst) = self.ends(from_uac);
        let fragments = self
            .frames
            .ipv4_udp_fragments(src, dst, self.vlan, payload, MTU);
        let last = fragments.len().saturating_sub(1);
        for (k, bytes) in fragments.into_iter().enumerate() {
            let kind = FrameKind::Sip(u32::from(k == last));
            self.out.push(Frame {
                ts: at(t, k as u64 * BURST_GAP_NS),
                bytes,
                kind,
            });
        }
    }

    fn send_tcp(
        &mut self,
        t: Timestamp,
        from_uac: bool,
        stream: &[u8],
        split_at: Option<usize>,
        messages: u32,
    ) {
        let Some(state) = self.tcp.as_ref() else {
            return;
        };
        let (mut seq, ack) = if from_uac {
            (state.uac_seq, state.uas_seq)
        } else {
            (state.uas_seq, state.uac_seq)
        };
        let mut cuts = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            let mut end = (pos + MSS).min(stream.len());
            if let Some(split) = split_at.filter(|&s| s > pos && s < end) {
                end = split;
            }
            cuts.push((pos, end));
            pos = end;
        }
        let mut when = t;
        let last = cuts.len().saturating_sub(1);
        for (k, (start, end)) in cuts.into_iter().enumerate() {
            when = at(t, k as u64 * BURST_GAP_NS);
            let kind = FrameKind::Sip(if k == last { messages } else { 0 });
            let chunk = stream.get(start..end).unwrap_or_default();
            self.push_tcp(when, from_uac, seq, ack, PSH | ACK, chunk, kind);
            seq = seq.wrapping_add(chunk.len() as u32);
        }
        if let Some(state) = self.tcp.as_mut() {
            if from_uac {
                state.uac_seq = seq;
            } else {
                state.uas_seq = seq;
            }
        }
        self.push_tcp(
            at(when, ACK_DELAY_NS),
            !from_uac,
            ack,
            seq,
            ACK,
            &[],
            FrameKind::TcpControl,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn push_tcp(
        &mut self,
        t: Timestamp,
        from_uac: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        kind: FrameKind,
    ) {
        let (src, dst) = self.ends(from_uac);
        let mut bytes = Vec::with_capacity(80 + payload.len());
        self.frames
            .tcp_frame(&mut bytes, src, dst, self.vlan, seq, ack, flags, payload);
        self.out.push(Frame { ts: t, bytes, kind });
    }
}

/// `t` plus `offset_ns`.
pub fn at(t: Timestamp, offset_ns: u64) -> Timestamp {
    Timestamp::from_nanos(t.as_nanos().saturating_add(offset_ns))
}
