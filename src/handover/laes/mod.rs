//! The US `laes` handover profile: mediation records to PCESP `CdcPdu` call-data records
//! (HI2) and PacketCable 2.0 DCI call-content frames (HI3), and tapline's decoder for both.

pub mod ccc;
pub mod cdc;
pub mod decode;
mod events;

use std::collections::HashMap;

pub use ccc::{case_id_field, split_ccc_stream, write_frame, CccError, Frame};
pub use cdc::{encode_cdc, CallId, CccPair, Common, Message, Party, RedirectedFrom};
pub use decode::{decode_cdc, decode_laes_jsonl, CdcRecord, LaesStreamError};

use super::sequencer::Channel;
use crate::mediation::snapshot::{live_entries, Reader, SnapshotError, Writer};
use crate::mediation::{Direction, Record, RecordBody};
use crate::warrant::Numbering;

/// The CCCID of one direction of a communication: `CIN << 1`, plus 1 for content to the
/// target. Unique per case while CINs stay below 2^31 (they rise from 1 per LIID); the CDC
/// `ccopen` names both as its `sepCCCpair` (transmit = from the target).
pub fn ccc_id(cin: u32, direction: Direction) -> u32 {
    let base = cin.wrapping_shl(1);
    match direction {
        Direction::FromTarget => base,
        Direction::ToTarget => base | 1,
    }
}

/// The CCCID pair of a communication.
pub fn ccc_pair(cin: u32) -> CccPair {
    CccPair { xmit: ccc_id(cin, Direction::FromTarget), recv: ccc_id(cin, Direction::ToTarget) }
}

/// What the encoder remembers of one (LIID, CIN).
#[derive(Debug, Default)]
struct CallState {
    /// `CallId.sequencenumber`: `CIN,HASH` (HASH: FNV-1a of the SIP Call-ID, 8 hex digits).
    sequence: String,
    /// The target made the call (origination), so its SDP is the offer.
    target_originates: bool,
    offer_sdp: Option<String>,
    answer_sdp: Option<String>,
    opened: bool,
    released: bool,
    /// RTP timestamp of the last RFC 4733 event reported, to report each digit once.
    last_event: Option<u32>,
}

/// Encodes the `laes` profile for all agencies that use it. Keeps per-communication state
/// (call id, SDP for `ccopen`, open/released flags) keyed by (LIID, CIN).
#[derive(Debug, Default)]
pub struct LaesEncoder {
    calls: HashMap<String, HashMap<u32, CallState>>,
    buf: Vec<u8>,
    /// How party URIs key to identities in records (the appliance's number domains).
    numbering: Numbering,
}

/// What one mediation record produced on the `laes` profile: CDC records (HI2), CCC frames (HI3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Emitted {
    pub cdc: u64,
    pub ccc: u64,
}

impl LaesEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder reporting parties under the carrier's `numbering` (`agencies.toml`).
    pub fn with_numbering(numbering: Numbering) -> Self {
        LaesEncoder { numbering, ..Self::default() }
    }

    /// Encodes one mediation record; every whole CDC record or CCC frame goes to `emit`.
    /// `element_id` is the appliance's network element id (accessingElementId, systemidentity).
    pub fn record(&mut self, r: &Record<'_>, element_id: &str, emit: &mut dyn FnMut(Channel, &[u8])) -> Emitted {
        let liid = r.warrant.liid.as_str();
        let per_liid = match self.calls.get_mut(liid) {
            Some(m) => m,
            None => self.calls.entry(liid.to_owned()).or_default(),
        };
        let state = per_liid.entry(r.cin).or_default();
        let element: &str = element_id.get(..15).unwrap_or(element_id);
        let common = Common { case_id: liid, element_id: element, time: r.ts };
        let mut emitted = Emitted::default();
        let buf = &mut self.buf;
        match r.body {
            RecordBody::Iri { event, bytes, .. } => {
                let plans = events::plan_iri(state, r.cin, event, bytes, r.warrant.kind.entitlement().content, &self.numbering);
                for plan in &plans {
                    let call_id = CallId { sequence: &state.sequence, system: element };
                    let m = plan.message(call_id, state, r.cin);
                    emit_cdc(buf, &common, &m, emit, &mut emitted);
                }
            }
            RecordBody::Cc { direction, ip_packet, .. } => {
                if !state.opened && !state.released {
                    state.opened = true;
                    if state.sequence.is_empty() {
                        state.sequence = events::call_sequence(r.cin, "");
                    }
                    let call_id = CallId { sequence: &state.sequence, system: element };
                    let m = events::Plan::CcOpen.message(call_id, state, r.cin);
                    emit_cdc(buf, &common, &m, emit, &mut emitted);
                }
                buf.clear();
                write_frame(buf, ccc_id(r.cin, direction), r.ts, &case_id_field(liid), ip_packet);
                emit(Channel::Hi3, buf);
                emitted.ccc += 1;
            }
        }
        emitted
    }
}

/// The pipeline snapshot of the per-communication state (see `mediation::snapshot`).
impl LaesEncoder {
    /// Writes the state of every (LIID, CIN) `live` selects, sorted.
    pub fn save_state(&self, live: &dyn Fn(&str, u32) -> bool, w: &mut Writer) {
        let all = live_entries(&self.calls, live);
        w.len(all.len());
        for (liid, cin, st) in all {
            w.str(liid);
            w.u32(cin);
            w.str(&st.sequence);
            w.bool(st.target_originates);
            w.opt_str(st.offer_sdp.as_deref());
            w.opt_str(st.answer_sdp.as_deref());
            w.bool(st.opened);
            w.bool(st.released);
            w.bool(st.last_event.is_some());
            w.u32(st.last_event.unwrap_or(0));
        }
    }

    /// Reads back what [`LaesEncoder::save_state`] wrote.
    pub fn load_state(&mut self, r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let n = r.count(30, "laes call states")?;
        for _ in 0..n {
            let liid = r.string("laes call LIID")?;
            let cin = r.u32("laes call CIN")?;
            let mut st = CallState {
                sequence: r.string("laes call sequence")?,
                target_originates: r.bool("laes call origination")?,
                offer_sdp: r.opt_string("laes offer SDP")?,
                answer_sdp: r.opt_string("laes answer SDP")?,
                opened: r.bool("laes call opened")?,
                released: r.bool("laes call released")?,
                last_event: None,
            };
            let has_event = r.bool("laes last event")?;
            let event = r.u32("laes last event")?;
            st.last_event = has_event.then_some(event);
            self.calls.entry(liid).or_default().insert(cin, st);
        }
        Ok(())
    }
}

fn emit_cdc(buf: &mut Vec<u8>, common: &Common<'_>, m: &Message<'_>, emit: &mut dyn FnMut(Channel, &[u8]), emitted: &mut Emitted) {
    buf.clear();
    encode_cdc(buf, common, m);
    emit(Channel::Hi2, buf);
    emitted.cdc += 1;
}
