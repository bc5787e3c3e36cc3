//! The US `laes` profile: PCESP `CdcPdu` call-data records on HI2 (BER) and PacketCable
//! CCC frames on HI3 (encoded by `handover::laes`); keep-alives are PS-PDUs as for `etsi`,
//! and no HI1 notifications go on the streams.

use std::io::Write;
use std::path::Path;

use super::{Addressee, AgencyProfile, Confirmation, DecodeFailure, Emitted, HandoverProfile, RecordEncoder};
use crate::delivery::spool::Framing;
use crate::handover::etsi::Hi1Notification;
use crate::handover::laes::{decode::looks_like_cdc, decode_laes_jsonl, LaesEncoder};
use crate::handover::sequencer::Channel;
use crate::mediation::snapshot::{Reader, SnapshotError, Writer};
use crate::mediation::Record;
use crate::warrant::Appliance;
use crate::Timestamp;

/// The `laes` profile.
pub struct Laes;

impl HandoverProfile for Laes {
    fn name(&self) -> &'static str {
        "laes"
    }

    fn framing(&self, channel: Channel) -> Framing {
        match channel {
            Channel::Hi2 => Framing::Ber,
            Channel::Hi3 => Framing::Ccc,
        }
    }

    fn confirmation(&self) -> Confirmation {
        Confirmation::EchoedKeepalive
    }

    /// A `.ccc` file (CCC frames), or CDC records (a BER SEQUENCE opening with a `[0]`).
    fn recognises(&self, path: &Path, bytes: &[u8]) -> bool {
        path.extension().is_some_and(|e| e == "ccc") || looks_like_cdc(bytes)
    }

    fn decode_jsonl(&self, stream: &[u8], mut out: &mut dyn Write) -> Result<usize, DecodeFailure> {
        Ok(decode_laes_jsonl(stream, &mut out)?)
    }
}

impl AgencyProfile for Laes {
    fn record_encoder(&self, appliance: &Appliance) -> Box<dyn RecordEncoder> {
        Box::new(LaesRecords { encoder: LaesEncoder::with_numbering(appliance.numbering.clone()) })
    }

    /// HI1 notifications are PS-PDUs: a `laes` stream carries none.
    fn hi1_notification(&self, _: &mut Vec<u8>, _: &Addressee<'_>, _: &str, _: Hi1Notification, _: Timestamp) -> bool {
        false
    }

    fn stream_file_name(&self, channel: Channel) -> &'static str {
        match channel {
            Channel::Hi2 => "hi2.ber",
            Channel::Hi3 => "hi3.ccc",
        }
    }
}

/// The `laes` encoder, shared by every `laes` agency (it keeps per-(LIID, CIN) call state).
struct LaesRecords {
    encoder: LaesEncoder,
}

impl RecordEncoder for LaesRecords {
    fn encode(&mut self, r: &Record<'_>, to: &Addressee<'_>, emit: &mut dyn FnMut(Channel, &[u8])) -> Emitted {
        let e = self.encoder.record(r, &to.appliance.network_element_id, emit);
        Emitted { iri: e.cdc, cc: e.ccc }
    }

    fn save_state(&self, live: &dyn Fn(&str, u32) -> bool, w: &mut Writer) {
        self.encoder.save_state(live, w);
    }

    fn load_state(&mut self, r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        self.encoder.load_state(r)
    }
}
