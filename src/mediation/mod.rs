//! Mediation: the sans-IO core that turns decoded packets into lawful records.
//!
//! Fed with datagrams (bytes + capture time), it tracks SIP calls, matches the parties of
//! each new call against the warrant table, installs media taps from SDP, and emits for
//! every warrant exactly what its order allows (see [`scope`]). It owns no socket, thread
//! or clock.

mod bindings;
mod call;
mod cin;
mod dialog;
mod media;
mod record;
mod scope;
mod shard;
mod signalling;
pub mod snapshot;
mod streams;

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::{FixedState, RandomState};

pub use call::{Call, CallKind, Intercept, Phase, SessionTimer};
pub use cin::CinAllocator;
pub use media::{MediaTable, PortFilter, Side, Tap};
pub use record::{Direction, IriEvent, IriForm, IriType, Record, RecordBody, RecordSink};
pub use scope::{scope, Role, Scope};
pub use shard::{CallMedia, MediaIntercept, MediaShard, ShardStats, TapControl};

/// What mediation reads of every SIP message before anything else, read once and shown to
/// its observers with the message (they need not read the headers again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipFacts<'a> {
    pub call_id: &'a str,
    /// A request without a To tag, other than ACK, CANCEL and BYE: it may create a call (an
    /// INVITE) or a transaction.
    pub creates: bool,
}

impl<'a> SipFacts<'a> {
    /// `None` without a Call-ID (mediation counts the message as malformed).
    pub fn of(msg: &crate::sip::Message<'a>) -> Option<SipFacts<'a>> {
        let call_id = msg.call_id()?;
        let creates = msg.is_request()
            && msg.to().and_then(|t| t.tag).is_none()
            && !matches!(msg.method(), Some(crate::sip::Method::Ack | crate::sip::Method::Cancel | crate::sip::Method::Bye));
        Some(SipFacts { call_id, creates })
    }
}

/// Sees every parsed SIP message mediation sees (target or not, retransmissions included),
/// with what mediation read of it, for services on the same signalling view such as call
/// trace. `()` observes nothing.
pub trait SignallingObserver {
    fn on_sip(&mut self, msg: &crate::sip::Message<'_>, facts: &SipFacts<'_>, dg: &Datagram<'_>);
    /// The pipeline finished a batch whose last packet has time `last` (SIP or not): an
    /// observer that buffers may hand its buffer on here.
    fn on_batch(&mut self, _last: Timestamp) {}
}

impl SignallingObserver for () {
    fn on_sip(&mut self, _msg: &crate::sip::Message<'_>, _facts: &SipFacts<'_>, _dg: &Datagram<'_>) {}
}

/// An optional service: observes when configured, does nothing otherwise.
impl<O: SignallingObserver> SignallingObserver for Option<O> {
    fn on_sip(&mut self, msg: &crate::sip::Message<'_>, facts: &SipFacts<'_>, dg: &Datagram<'_>) {
        if let Some(o) = self {
            o.on_sip(msg, facts, dg);
        }
    }
    fn on_batch(&mut self, last: Timestamp) {
        if let Some(o) = self {
            o.on_batch(last);
        }
    }
}

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
    /// An answered (confirmed) call with no signalling or media for this long is dropped.
    /// Long: an established dialog lives until BYE (a silent hold may last hours); a call
    /// that negotiated a session timer (RFC 4028) expires by that timer instead, earlier.
    pub idle_timeout_ns: u64,
    /// A call not answered yet (ringing, early media) with no signalling or media for this
    /// long is dropped (INVITE transactions end within minutes, RFC 3261 timer C).
    pub unanswered_timeout_ns: u64,
    /// A followed SIP-over-TCP connection idle this long is dropped.
    pub tcp_idle_timeout_ns: u64,
}

impl Default for MediatorConfig {
    fn default() -> Self {
        MediatorConfig {
            ended_linger_ns: 32 * SECOND,
            idle_timeout_ns: 24 * 3600 * SECOND,
            unanswered_timeout_ns: 15 * 60 * SECOND,
            tcp_idle_timeout_ns: 3600 * SECOND,
        }
    }
}

impl MediatorConfig {
    /// How long a call in `phase` may stay idle.
    fn idle_limit(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Answered => self.idle_timeout_ns,
            Phase::Setup | Phase::Ending | Phase::Ended { .. } => self.unanswered_timeout_ns,
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
    /// Media endpoints tapped from SDP (a re-announced endpoint counts again).
    pub taps_installed: u64,
    pub media_packets_tapped: u64,
    pub iri_records: u64,
    pub cc_records: u64,
    pub records_suppressed_inactive_warrant: u64,
    /// Calls dropped for inactivity (answered or not) before they ended.
    pub calls_expired_idle: u64,
    /// Of those, calls never answered (idle for the unanswered timeout).
    pub calls_expired_unanswered: u64,
    /// Answered calls whose negotiated session timer (RFC 4028) ran out unrefreshed.
    pub calls_expired_session_timer: u64,
    /// Target registrations (REGISTER bindings) that expired unrefreshed.
    pub bindings_expired: u64,
    pub tcp_streams_followed: u64,
    pub tcp_bytes_skipped: u64,
    pub sip_framing_errors: u64,
    /// Times a followed SIP-over-TCP stream found a message boundary again after skipping
    /// bytes (capture joined mid-message, garbage, a gap), and the bytes so skipped.
    pub sip_stream_resyncs: u64,
    pub sip_stream_bytes_skipped: u64,
}

impl MediationStats {
    /// Adds what a media shard did.
    pub fn add_shard(&mut self, s: &ShardStats) {
        self.media_packets_tapped += s.media_packets_tapped;
        self.iri_records += s.iri_records;
        self.cc_records += s.cc_records;
        self.records_suppressed_inactive_warrant += s.records_suppressed_inactive_warrant;
    }
}

/// Where tap controls and media packets go: one shard inline, or out to the pipeline's
/// shards (the caller routes media packets and broadcasts the controls).
/// Sharded, the signalling keeps a copy of the shards' tap table (every shard applies every
/// control), for the pipeline snapshot.
enum MediaPath {
    Inline(MediaShard),
    Sharded { controls: Vec<TapControl>, table: MediaTable },
}

impl MediaPath {
    fn control(&mut self, c: TapControl) {
        match self {
            MediaPath::Inline(shard) => shard.control(c),
            MediaPath::Sharded { controls, table } => {
                table.apply(&c);
                controls.push(c);
            }
        }
    }

    /// The tap table every shard holds.
    fn table(&self) -> &MediaTable {
        match self {
            MediaPath::Inline(shard) => shard.table(),
            MediaPath::Sharded { table, .. } => table,
        }
    }
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
    /// Hashes Call-IDs and message fingerprints; seeded at random per mediator, the seed
    /// kept in the pipeline snapshot so a restored mediator recognises retransmissions.
    call_id_hasher: FixedState,
    hash_seed: u64,
    media: MediaPath,
    /// Ports of the media endpoints held by tracked calls.
    ports: PortFilter,
    cins: CinAllocator,
    /// Targets' REGISTER bindings (contact → AOR).
    bindings: bindings::Bindings,
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
        let hash_seed = std::hash::BuildHasher::hash_one(&RandomState::default(), 0u64);
        Self::seeded(table, config, cins, hash_seed)
    }

    fn seeded(table: Arc<WarrantTable>, config: MediatorConfig, cins: CinAllocator, hash_seed: u64) -> Self {
        Mediator {
            table,
            config,
            calls: Vec::new(),
            free_slots: Vec::new(),
            by_call_id: HashMap::new(),
            seen_calls: HashMap::default(),
            call_id_hasher: FixedState::with_seed(hash_seed),
            hash_seed,
            media: MediaPath::Inline(MediaShard::new()),
            ports: PortFilter::default(),
            cins,
            bindings: bindings::Bindings::default(),
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

    /// Hands media to the caller: [`Mediator::handle_routed`] returns the packets to route
    /// to a [`MediaShard`] by flow hash, and [`Mediator::take_controls`] the tap controls
    /// every shard must apply before the next packet.
    /// A restored mediator's taps go out as the first controls.
    pub fn sharded(mut self) -> Self {
        if let MediaPath::Inline(shard) = std::mem::replace(&mut self.media, MediaPath::Inline(MediaShard::new())) {
            let (table, controls) = shard.into_controls();
            self.media = MediaPath::Sharded { controls, table };
        }
        self
    }

    /// What mediation did, with the inline media shard's counts (sharded: the signalling's
    /// only; add each shard's with [`MediationStats::add_shard`]).
    pub fn stats(&self) -> MediationStats {
        let mut stats = self.stats.clone();
        if let MediaPath::Inline(shard) = &self.media {
            stats.add_shard(shard.stats());
        }
        stats
    }

    /// Sharded: the tap controls emitted since the last call, in order.
    pub fn take_controls(&mut self, into: &mut Vec<TapControl>) {
        if let MediaPath::Sharded { controls, .. } = &mut self.media {
            into.append(controls);
        }
    }

    /// Sharded: whether handling a packet at `ts` would expire an intercepted call that is
    /// idle by its signalling. Its last media must then be up to date: the caller waits
    /// until the shards have handled every earlier packet.
    pub fn needs_media_sync(&self, ts: Timestamp) -> bool {
        matches!(self.media, MediaPath::Sharded { .. })
            && ts.saturating_sub(self.last_sweep) >= SECOND
            && self.calls.iter().flatten().any(|c| {
                !c.is_ended() && ts.saturating_sub(c.last_seen) >= self.config.idle_limit(c.phase)
            })
    }

    pub fn cins(&self) -> &CinAllocator {
        &self.cins
    }

    /// Every call (dialog) currently tracked, intercepted or not.
    pub fn tracked_calls(&self) -> usize {
        self.seen_calls.len()
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
        if self.handle_routed(dg, sink, observer) {
            if let MediaPath::Inline(shard) = &mut self.media {
                shard.handle(dg, sink);
            }
        }
    }

    /// Handles signalling; true when `dg` is a UDP packet that may be tapped media (a call
    /// holds an endpoint on one of its ports), for a media shard to look up.
    pub fn handle_routed(
        &mut self,
        dg: &Datagram<'_>,
        sink: &mut impl RecordSink,
        observer: &mut impl SignallingObserver,
    ) -> bool {
        if dg.ts.saturating_sub(self.last_sweep) >= SECOND {
            self.sweep(dg.ts);
        }
        match dg.transport {
            Transport::Udp => {
                if crate::sip::looks_like_sip(dg.payload) {
                    self.on_sip(dg.payload, dg, sink, observer);
                    false
                } else {
                    self.ports.may_match(dg.flow.src_port, dg.flow.dst_port)
                }
            }
            Transport::Tcp { seq, flags, .. } => {
                self.on_tcp(dg, seq, flags, sink, observer);
                false
            }
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
                if dg.payload.is_empty() || !crate::sip::stream::may_carry_sip(dg.payload) {
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
        let before = (follower.framer.resyncs(), follower.framer.skipped_bytes());
        if outcome.skipped_gap > 0 {
            follower.framer.resync();
        }
        follower.framer.push(&self.tcp_scratch);
        let mut messages = Vec::new();
        while let Some(next) = follower.framer.next_message() {
            match next {
                Ok(m) => messages.push(m.to_vec()),
                Err(_) => self.stats.sip_framing_errors += 1,
            }
        }
        self.stats.sip_stream_resyncs += follower.framer.resyncs() - before.0;
        self.stats.sip_stream_bytes_skipped += follower.framer.skipped_bytes() - before.1;
        if follower.stream.is_closed() {
            self.tcp.remove(&dg.flow);
        }
        for m in &messages {
            self.on_sip(m, dg, sink, observer);
        }
    }

    /// Drops ended calls after their linger time, idle calls, calls whose session timer
    /// ran out, expired bindings and idle TCP followers.
    fn sweep(&mut self, now: Timestamp) {
        self.last_sweep = now;
        let cfg = self.config;
        for slot in 0..self.calls.len() {
            let Some(c) = self.calls[slot].as_ref() else { continue };
            let expire = match c.ended_at() {
                Some(end) => now.saturating_sub(end) >= cfg.ended_linger_ns,
                None if c.phase == Phase::Answered
                    && c.session_timer.is_some_and(|t| now.saturating_sub(t.refreshed) >= t.interval_ns) =>
                {
                    self.stats.calls_expired_session_timer += 1;
                    true
                }
                None if now.saturating_sub(c.last_activity()) >= cfg.idle_limit(c.phase) => {
                    self.stats.calls_expired_idle += 1;
                    if c.phase != Phase::Answered {
                        self.stats.calls_expired_unanswered += 1;
                    }
                    true
                }
                None => false,
            };
            if expire {
                self.remove_call(slot);
            }
        }
        // Call-IDs seen are only needed to count a forked or retried INVITE once.
        let seen_for = cfg.unanswered_timeout_ns;
        self.seen_calls.retain(|_, last| now.saturating_sub(*last) < seen_for);
        self.stats.bindings_expired += self.bindings.expire(now) as u64;
        let tcp_idle = cfg.tcp_idle_timeout_ns;
        self.tcp.retain(|_, f| now.saturating_sub(f.last_seen) < tcp_idle);
    }

    fn remove_call(&mut self, slot: usize) {
        if let Some(call) = self.calls.get_mut(slot).and_then(Option::take) {
            for (addr, port) in call.streams.endpoints() {
                self.media.control(TapControl::Remove { addr, port, call: slot });
                self.ports.release(port);
            }
            if call.published != (0, 0) {
                self.media.control(TapControl::Release { slot });
            }
            self.by_call_id.remove(&call.call_id);
            self.free_slots.push(slot);
        }
    }
}

#[cfg(test)]
mod tests;
