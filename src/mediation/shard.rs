//! Media shards: the tapped-endpoint table and the records of intercepted calls' RTP, RTCP
//! and RFC 4733 digits. The mediator runs one inline; the pipeline runs several on threads,
//! each fed by flow hash with media packets and, in-band ahead of them, the tap controls.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::media::{MediaTable, Side, Tap};
use super::record::{Direction, IriEvent, IriForm, IriType, Record, RecordBody, RecordSink};
use super::scope::Scope;
use crate::rtp::{self, RtpKind};
use crate::warrant::Warrant;
use crate::wire::Datagram;
use crate::Timestamp;

/// What a media shard must know of one warrant on an intercepted call.
#[derive(Clone, Debug)]
pub struct MediaIntercept {
    pub warrant: Arc<Warrant>,
    pub cin: u32,
    pub scope: Scope,
    /// The side of the call the target is on.
    pub target_side: Side,
}

/// A shard's view of one intercepted call: its intercepts (in the call's order, so records
/// come out in the same order as the signalling's) and its telephone-event payload types.
#[derive(Debug)]
pub struct CallMedia {
    pub intercepts: Vec<MediaIntercept>,
    pub telephone_event_pts: Vec<u8>,
    /// Packet time (ns) of the call's last tapped media packet; the mediator reads it to
    /// expire idle calls (a call with media is not idle).
    pub last_media: Arc<AtomicU64>,
}

/// A change of the tap table, sent to every shard ahead of the packets it governs.
#[derive(Clone, Debug)]
pub enum TapControl {
    /// Tap an endpoint (address, port) for call slot `tap.call`.
    Install { addr: IpAddr, port: u16, tap: Tap },
    /// Untap an endpoint if it still belongs to call slot `call`.
    Remove { addr: IpAddr, port: u16, call: usize },
    /// The (new) media view of call slot `slot`.
    Call { slot: usize, media: Arc<CallMedia> },
    /// Call slot `slot` is gone.
    Release { slot: usize },
}

/// What a shard did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub media_packets_tapped: u64,
    pub iri_records: u64,
    pub cc_records: u64,
    pub records_suppressed_inactive_warrant: u64,
}

/// One media shard: tapped endpoints and the calls they belong to.
#[derive(Debug, Default)]
pub struct MediaShard {
    table: MediaTable,
    calls: Vec<Option<Arc<CallMedia>>>,
    stats: ShardStats,
}

impl MediaShard {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    pub fn table(&self) -> &MediaTable {
        &self.table
    }

    /// The controls that rebuild this shard's taps and call views in an empty shard, and
    /// its table.
    pub fn into_controls(self) -> (MediaTable, Vec<TapControl>) {
        let mut controls: Vec<TapControl> = self
            .calls
            .into_iter()
            .enumerate()
            .filter_map(|(slot, media)| media.map(|media| TapControl::Call { slot, media }))
            .collect();
        let mut taps: Vec<_> = self.table.iter().collect();
        taps.sort_by_key(|(ep, _)| *ep);
        controls.extend(taps.into_iter().map(|((addr, port), tap)| TapControl::Install { addr, port, tap }));
        (self.table, controls)
    }

    pub fn control(&mut self, control: TapControl) {
        match control {
            TapControl::Install { .. } | TapControl::Remove { .. } => self.table.apply(&control),
            TapControl::Call { slot, media } => {
                if self.calls.len() <= slot {
                    self.calls.resize_with(slot + 1, || None);
                }
                if let Some(entry) = self.calls.get_mut(slot) {
                    *entry = Some(media);
                }
            }
            TapControl::Release { slot } => {
                if let Some(entry) = self.calls.get_mut(slot) {
                    *entry = None;
                }
            }
        }
    }

    /// Looks a UDP media packet up; when tapped, emits what each warrant on its call allows.
    /// Untapped packets cost one or two hash lookups and allocate nothing.
    pub fn handle(&mut self, dg: &Datagram<'_>, sink: &mut impl RecordSink) {
        let Some((tap, sent_by_tapped)) =
            self.table.lookup((dg.flow.src, dg.flow.src_port), (dg.flow.dst, dg.flow.dst_port))
        else {
            return;
        };
        let Some(call) = self.calls.get(tap.call).and_then(Option::as_ref) else {
            return;
        };
        call.last_media.fetch_max(dg.ts.as_nanos(), Ordering::Relaxed);
        self.stats.media_packets_tapped += 1;
        let sender = if sent_by_tapped { tap.side } else { tap.side.other() };
        let kind = rtp::classify(dg.payload);
        for ic in &call.intercepts {
            if !ic.warrant.is_active(dg.ts) {
                self.stats.records_suppressed_inactive_warrant += 1;
                continue;
            }
            let direction = if sender == ic.target_side { Direction::FromTarget } else { Direction::ToTarget };
            let body = if ic.scope.content {
                self.stats.cc_records += 1;
                RecordBody::Cc { direction, src: dg.flow.src, dst: dg.flow.dst, bytes: dg.payload, ip_packet: dg.ip_packet }
            } else if ic.scope.digits_as_iri
                && direction == Direction::FromTarget
                && matches!(kind, RtpKind::Rtp { pt } if call.telephone_event_pts.contains(&pt))
            {
                self.stats.iri_records += 1;
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
            sink.record(&Record { warrant: &ic.warrant, cin: ic.cin, ts: dg.ts, body });
        }
    }
}

/// The packet time of a call's last media, for idle expiry.
pub fn last_media(activity: &AtomicU64) -> Timestamp {
    Timestamp::from_nanos(activity.load(Ordering::Relaxed))
}
