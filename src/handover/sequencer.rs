//! The handover stage: turns mediation records into each agency's byte streams in its
//! profile: `etsi` PS-PDUs numbered gap-free per (LIID, CIN) with separate IRI and CC
//! counters, or `laes` CDC records and CCC frames.

use std::collections::{BTreeMap, HashMap};

use super::etsi::{self, IriContent, PduHeader};
use super::laes::LaesEncoder;
use crate::mediation::{self, IriForm, Record, RecordBody, RecordSink};
use crate::warrant::{Agency, Appliance, Profile};

/// The two handover interfaces of an agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// HI2: call-identifying information (IRI).
    Hi2,
    /// HI3: call content (CC).
    Hi3,
}

/// Where encoded PDUs go: files on disk, a spool, a test buffer.
pub trait AgencyOutput {
    /// One whole PDU for agency number `agency` (index into the encoder's agency list): a
    /// PS-PDU (`etsi`), or a CDC record (HI2) or CCC frame (HI3) (`laes`).
    fn write_pdu(&mut self, agency: usize, channel: Channel, pdu: &[u8]);

    /// When PDUs held in a buffer must be written out (None: nothing is held, as with an
    /// output that writes each PDU at once).
    fn held_until(&self) -> Option<std::time::Instant> {
        None
    }

    /// Writes out every PDU held in a buffer (its deadline came, or the source is idle).
    fn flush(&mut self) {}
}

/// Records delivered for one LIID, for the summary. No target appears here.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LiidCounts {
    pub agency: String,
    pub iri_records: u64,
    pub cc_records: u64,
    pub communications: u64,
}

#[derive(Default)]
struct Counters {
    iri: u32,
    cc: u32,
}

/// Encodes records for every agency in the agency's profile.
pub struct Sequencer<O> {
    appliance: Appliance,
    agencies: Vec<Agency>,
    agency_index: HashMap<String, usize>,
    sequences: HashMap<String, HashMap<u32, Counters>>,
    counts: BTreeMap<String, LiidCounts>,
    unroutable: u64,
    buf: Vec<u8>,
    laes: LaesEncoder,
    output: O,
}

impl<O: AgencyOutput> Sequencer<O> {
    pub fn new(appliance: Appliance, agencies: Vec<Agency>, output: O) -> Self {
        let agency_index = agencies.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        let laes = LaesEncoder::with_numbering(appliance.numbering.clone());
        Sequencer {
            appliance,
            agencies,
            agency_index,
            sequences: HashMap::new(),
            counts: BTreeMap::new(),
            unroutable: 0,
            buf: Vec::with_capacity(2048),
            laes,
            output,
        }
    }

    pub fn agencies(&self) -> &[Agency] {
        &self.agencies
    }

    pub fn output(&self) -> &O {
        &self.output
    }

    pub fn output_mut(&mut self) -> &mut O {
        &mut self.output
    }

    pub fn into_output(self) -> O {
        self.output
    }

    /// Records per LIID so far.
    pub fn counts(&self) -> &BTreeMap<String, LiidCounts> {
        &self.counts
    }

    /// Records per LIID, with a zero entry for every (LIID, agency) of `warrants` that had
    /// none, so a summary lists every warrant in force.
    pub fn counts_of_all(&self, warrants: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, LiidCounts> {
        let mut counts = self.counts.clone();
        for (liid, agency) in warrants {
            counts.entry(liid).or_insert_with(|| LiidCounts { agency, ..LiidCounts::default() });
        }
        counts
    }

    /// Records whose warrant names an agency this encoder does not know (never sent).
    pub fn unroutable(&self) -> u64 {
        self.unroutable
    }

    fn next_sequence(&mut self, liid: &str, cin: u32, cc: bool) -> (u32, bool) {
        let per_cin = match self.sequences.get_mut(liid) {
            Some(m) => m,
            None => self.sequences.entry(liid.to_owned()).or_default(),
        };
        let fresh = !per_cin.contains_key(&cin);
        let c = per_cin.entry(cin).or_default();
        let slot = if cc { &mut c.cc } else { &mut c.iri };
        let seq = *slot;
        *slot = slot.wrapping_add(1);
        (seq, fresh)
    }
}

impl<O: AgencyOutput> RecordSink for Sequencer<O> {
    fn record(&mut self, r: &Record<'_>) {
        let w = r.warrant;
        let Some(&agency) = self.agency_index.get(w.agency.as_str()) else {
            self.unroutable += 1;
            return;
        };
        let liid = w.liid.as_str();
        let (sequence, fresh_cin) = self.next_sequence(liid, r.cin, r.is_cc());
        let counts = match self.counts.get_mut(liid) {
            Some(c) => c,
            None => self.counts.entry(liid.to_owned()).or_insert_with(|| LiidCounts {
                agency: w.agency.clone(),
                ..LiidCounts::default()
            }),
        };
        if fresh_cin {
            counts.communications += 1;
        }
        let Some(agency_def) = self.agencies.get(agency) else { return };
        if agency_def.profile == Profile::Laes {
            let output = &mut self.output;
            let emitted = self.laes.record(r, &self.appliance.network_element_id, &mut |channel, bytes| {
                output.write_pdu(agency, channel, bytes)
            });
            counts.iri_records += emitted.cdc;
            counts.cc_records += emitted.ccc;
            return;
        }
        let header = PduHeader {
            liid,
            authorization_country: &self.appliance.country,
            operator_id: &self.appliance.operator_id,
            network_element_id: &self.appliance.network_element_id,
            cin: r.cin,
            delivery_country: &agency_def.country,
            sequence,
            ts: r.ts,
        };
        self.buf.clear();
        let channel = match r.body {
            RecordBody::Iri { iri_type, form, src, dst, bytes, .. } => {
                let content = match form {
                    IriForm::SipMessage => IriContent::SipMessage { src, dst, sip: bytes },
                    IriForm::IriOnlySipMessage => IriContent::IriOnlySipMessage { src, dst, sip: bytes },
                    IriForm::IriOnlyRtpPacket => IriContent::IriOnlyRtpPacket { ip_packet: bytes },
                };
                etsi::encode_iri(&mut self.buf, &header, iri_type_of(iri_type), &content);
                counts.iri_records += 1;
                Channel::Hi2
            }
            RecordBody::Cc { direction, bytes, .. } => {
                etsi::encode_cc(&mut self.buf, &header, direction_of(direction), bytes);
                counts.cc_records += 1;
                Channel::Hi3
            }
        };
        self.output.write_pdu(agency, channel, &self.buf);
    }
}

fn iri_type_of(t: mediation::IriType) -> etsi::IriType {
    match t {
        mediation::IriType::Begin => etsi::IriType::Begin,
        mediation::IriType::Continue => etsi::IriType::Continue,
        mediation::IriType::End => etsi::IriType::End,
        mediation::IriType::Report => etsi::IriType::Report,
    }
}

fn direction_of(d: mediation::Direction) -> etsi::Direction {
    match d {
        mediation::Direction::FromTarget => etsi::Direction::FromTarget,
        mediation::Direction::ToTarget => etsi::Direction::ToTarget,
    }
}
