//! Mediation: the sans-IO core that turns decoded packets into lawful records.
//!
//! Fed with datagrams (bytes + capture time), it tracks SIP calls, matches the parties of
//! each new call against the warrant table, installs media taps from SDP, and emits for
//! every warrant exactly what its order allows (see [`scope`]). It owns no socket, thread
//! or clock.

mod call;
mod cin;
mod media;
mod record;
mod scope;
mod signalling;

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

pub use call::{Call, CallKind, Intercept, Phase};
pub use cin::CinAllocator;
pub use media::{MediaTable, Side, Tap};
pub use record::{Direction, IriEvent, IriForm, IriType, Record, RecordBody, RecordSink};
pub use scope::{scope, Role, Scope};

/// Sees every parsed SIP message mediation sees (target or not, retransmissions included),
/// for services on the same signalling view such as call trace. `()` observes nothing.
pub trait SignallingObserver {
    fn on_sip(&mut self, msg: &crate::sip::Message<'_>, dg: &Datagram<'_>);
}

impl SignallingObserver for () {
    fn on_sip(&mut self, _msg: &crate::sip::Message<'_>, _dg: &Datagram<'_>) {}
}

/// An optional service: observes when configured, does nothing otherwise.
impl<O: SignallingObserver> SignallingObserver for Option<O> {
    fn on_sip(&mut self, msg: &crate::sip::Message<'_>, dg: &Datagram<'_>) {
        if let Some(o) = self {
            o.on_sip(msg, dg);
        }
    }
}

use crate::rtp::{self, RtpKind};
use crate::warrant::WarrantTable;
use crate::wire::{Datagram, FlowKey, Transport};
use crate::wire::tcp_stream::TcpStream;
use crate::sip::stream::Framer;
use crate::Timestamp;

const SECOND: u64 = 1_000_000_000;

/// Timers, in packet time.
#[derive(Clone, Copy, Debug)]
pub struct MediatorConfig {
    /// How long an ended call is kept to absorb retransmissions (RFC 3261 timer J/H: 32 s).
    pub ended_linger_ns: u64,
    /// A call with no signalling or media for this long is dropped (never-ending calls).
    pub idle_timeout_ns: u64,
    /// A followed SIP-over-TCP connection idle this long is dropped.
    pub tcp_idle_timeout_ns: u64,
}

impl Default for MediatorConfig {
    fn default() -> Self {
        MediatorConfig {
            ended_linger_ns: 32 * SECOND,
            idle_timeout_ns: 3600 * SECOND,
            tcp_idle_timeout_ns: 3600 * SECOND,
        }
    }
}

/// Counters of what mediation saw and did. No target appears here.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MediationStats {
    pub sip_messages: u64,
    pub sip_malformed: u64,
    pub sip_retransmissions: u64,
    pub calls_seen: u64,
    pub calls_intercepted: u64,
    pub transactions_intercepted: u64,
    pub media_packets_tapped: u64,
    pub iri_records: u64,
    pub cc_records: u64,
    pub records_suppressed_inactive_warrant: u64,
    pub calls_expired_idle: u64,
    pub tcp_streams_followed: u64,
    pub tcp_bytes_skipped: u64,
    pub sip_framing_errors: u64,
}

/// A followed SIP-over-TCP direction.
struct TcpFollower {
    stream: TcpStream,
    framer: Framer,
    last_seen: Timestamp,
}

/// The mediation state machine.
pub struct Mediator {
    table: Arc<WarrantTable>,
    config: MediatorConfig,
    /// Intercepted calls in slots; media taps refer to slots.
    calls: Vec<Option<Call>>,
    free_slots: Vec<usize>,
    by_call_id: HashMap<String, usize>,
    /// Every dialog seen (hash of Call-ID → last activity), to count and age calls
    /// without keeping their identities.
    seen_calls: HashMap<u64, Timestamp, RandomState>,
    call_id_hasher: RandomState,
    media: MediaTable,
    cins: CinAllocator,
    tcp: HashMap<FlowKey, TcpFollower, RandomState>,
    tcp_scratch: Vec<u8>,
    last_sweep: Timestamp,
    stats: MediationStats,
}

impl Mediator {
    pub fn new(table: Arc<WarrantTable>) -> Self {
        Self::with_config(table, MediatorConfig::default(), CinAllocator::new())
    }

    pub fn with_config(table: Arc<WarrantTable>, config: MediatorConfig, cins: CinAllocator) -> Self {
        Mediator {
            table,
            config,
            calls: Vec::new(),
            free_slots: Vec::new(),
            by_call_id: HashMap::new(),
            seen_calls: HashMap::default(),
            call_id_hasher: RandomState::default(),
            media: MediaTable::new(),
            cins,
            tcp: HashMap::default(),
            tcp_scratch: Vec::new(),
            last_sweep: Timestamp::default(),
            stats: MediationStats::default(),
        }
    }

    /// Replaces the warrant table (an immutable snapshot). Calls already intercepted keep
    /// their intercepts; each record is still checked against its warrant's validity.
    pub fn set_table(&mut self, table: Arc<WarrantTable>) {
        self.table = table;
    }

    pub fn stats(&self) -> &MediationStats {
        &self.stats
    }

    pub fn cins(&self) -> &CinAllocator {
        &self.cins
    }

    /// Calls currently tracked with at least one intercept.
    pub fn active_calls(&self) -> usize {
        self.by_call_id.len()
    }

    /// Feeds one decoded datagram; records go to `sink`.
    pub fn handle(&mut self, dg: &Datagram<'_>, sink: &mut impl RecordSink) {
        self.handle_observed(dg, sink, &mut ());
    }

    /// [`Mediator::handle`], also showing every parsed SIP message to `observer`.
    pub fn handle_observed(
        &mut self,
        dg: &Datagram<'_>,
        sink: &mut impl RecordSink,
        observer: &mut impl SignallingObserver,
    ) {
        if dg.ts.saturating_sub(self.last_sweep) >= SECOND {
            self.sweep(dg.ts);
        }
        match dg.transport {
            Transport::Udp => {
                if crate::sip::looks_like_sip(dg.payload) {
                    self.on_sip(dg.payload, dg, sink, observer);
                } else if let Some((tap, sent_by_tapped)) = self.media.lookup(
                    (dg.flow.src, dg.flow.src_port),
                    (dg.flow.dst, dg.flow.dst_port),
                ) {
                    self.on_media(tap, sent_by_tapped, dg, sink);
                }
            }
            Transport::Tcp { seq, flags, .. } => self.on_tcp(dg, seq, flags, sink, observer),
        }
    }

    fn on_tcp(
        &mut self,
        dg: &Datagram<'_>,
        seq: u32,
        flags: crate::wire::TcpFlags,
        sink: &mut impl RecordSink,
        observer: &mut impl SignallingObserver,
    ) {
        let follower = match self.tcp.get_mut(&dg.flow) {
            Some(f) => f,
            None => {
                if dg.payload.is_empty() || !crate::sip::looks_like_sip(dg.payload) {
                    return;
                }
                self.stats.tcp_streams_followed += 1;
                self.tcp.entry(dg.flow).or_insert(TcpFollower {
                    stream: TcpStream::new(),
                    framer: Framer::new(),
                    last_seen: dg.ts,
                })
            }
        };
        follower.last_seen = dg.ts;
        self.tcp_scratch.clear();
        let outcome = follower.stream.push(seq, flags, dg.payload, &mut self.tcp_scratch);
        self.stats.tcp_bytes_skipped += outcome.skipped_gap as u64;
        follower.framer.push(&self.tcp_scratch);
        let mut messages = Vec::new();
        while let Some(next) = follower.framer.next_message() {
            match next {
                Ok(m) => messages.push(m.to_vec()),
                Err(_) => self.stats.sip_framing_errors += 1,
            }
        }
        if follower.stream.is_closed() {
            self.tcp.remove(&dg.flow);
        }
        for m in &messages {
            self.on_sip(m, dg, sink, observer);
        }
    }

    fn on_media(&mut self, tap: Tap, sent_by_tapped: bool, dg: &Datagram<'_>, sink: &mut impl RecordSink) {
        let Some(call) = self.calls.get_mut(tap.call).and_then(Option::as_mut) else {
            return;
        };
        call.last_seen = dg.ts;
        self.stats.media_packets_tapped += 1;
        let sender = if sent_by_tapped { tap.side } else { tap.side.other() };
        let kind = rtp::classify(dg.payload);
        for ic in &call.intercepts {
            if !ic.warrant.is_active(dg.ts) {
                self.stats.records_suppressed_inactive_warrant += 1;
                continue;
            }
            let direction = if sender == ic.target_side() {
                Direction::FromTarget
            } else {
                Direction::ToTarget
            };
            let body = if ic.scope.content {
                RecordBody::Cc {
                    direction,
                    src: dg.flow.src,
                    dst: dg.flow.dst,
                    bytes: dg.payload,
                    ip_packet: dg.ip_packet,
                }
            } else if ic.scope.digits_as_iri
                && direction == Direction::FromTarget
                && matches!(kind, RtpKind::Rtp { pt } if call.telephone_event_pts.contains(&pt))
            {
                RecordBody::Iri {
                    iri_type: IriType::Continue,
                    event: IriEvent::DialedDigits,
                    form: IriForm::IriOnlyRtpPacket,
                    src: dg.flow.src,
                    dst: dg.flow.dst,
                    // TS 102 232-5 carries the event packet with its IP and UDP headers.
                    bytes: dg.ip_packet,
                }
            } else {
                continue;
            };
            match body {
                RecordBody::Cc { .. } => self.stats.cc_records += 1,
                RecordBody::Iri { .. } => self.stats.iri_records += 1,
            }
            sink.record(&Record { warrant: &ic.warrant, cin: ic.cin, ts: dg.ts, body });
        }
    }

    /// Drops ended calls after their linger time, idle calls, idle TCP followers.
    fn sweep(&mut self, now: Timestamp) {
        self.last_sweep = now;
        let cfg = self.config;
        for slot in 0..self.calls.len() {
            let expire = match &self.calls[slot] {
                Some(c) => match c.ended_at {
                    Some(end) => now.saturating_sub(end) >= cfg.ended_linger_ns,
                    None => now.saturating_sub(c.last_seen) >= cfg.idle_timeout_ns,
                },
                None => false,
            };
            if expire {
                if let Some(c) = self.calls[slot].as_ref() {
                    if c.ended_at.is_none() {
                        self.stats.calls_expired_idle += 1;
                    }
                }
                self.remove_call(slot);
            }
        }
        let idle = cfg.idle_timeout_ns;
        self.seen_calls.retain(|_, last| now.saturating_sub(*last) < idle);
        let tcp_idle = cfg.tcp_idle_timeout_ns;
        self.tcp.retain(|_, f| now.saturating_sub(f.last_seen) < tcp_idle);
    }

    fn remove_call(&mut self, slot: usize) {
        if let Some(call) = self.calls.get_mut(slot).and_then(Option::take) {
            for (addr, port) in &call.media {
                self.media.remove(*addr, *port, slot);
            }
            self.by_call_id.remove(&call.call_id);
            self.free_slots.push(slot);
        }
    }
}

#[cfg(test)]
mod tests;
