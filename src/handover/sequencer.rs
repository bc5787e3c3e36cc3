//! The handover stage: turns mediation records into each agency's byte streams with its
//! profile's encoder (see `handover::profile`), numbering records gap-free per (LIID, CIN)
//! with separate IRI and CC counters (`etsi` PS-PDUs carry the number).

use std::collections::{BTreeMap, HashMap};

use super::profile::{Addressee, RecordEncoder};
use crate::mediation::snapshot::{live_entries, Reader, SnapshotError, Writer};
use crate::mediation::{Record, RecordSink};
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
    /// One encoder per profile in use (shared by that profile's agencies), and the slot of
    /// each agency's.
    encoders: Vec<(Profile, Box<dyn RecordEncoder>)>,
    agency_encoder: Vec<usize>,
    output: O,
}

impl<O: AgencyOutput> Sequencer<O> {
    pub fn new(appliance: Appliance, agencies: Vec<Agency>, output: O) -> Self {
        let agency_index = agencies.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        let mut encoders: Vec<(Profile, Box<dyn RecordEncoder>)> = Vec::new();
        let mut agency_encoder = Vec::with_capacity(agencies.len());
        for agency in &agencies {
            let slot = match encoders.iter().position(|(p, _)| *p == agency.profile) {
                Some(slot) => slot,
                None => {
                    encoders.push((agency.profile, agency.profile.handover().record_encoder(&appliance)));
                    encoders.len() - 1
                }
            };
            agency_encoder.push(slot);
        }
        Sequencer {
            appliance,
            agencies,
            agency_index,
            sequences: HashMap::new(),
            counts: BTreeMap::new(),
            unroutable: 0,
            encoders,
            agency_encoder,
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

    /// For the pipeline snapshot: writes the sequence counters and the encoders' state of
    /// the (LIID, CIN)s `live` selects (the communications later records can still carry;
    /// a CIN is never reused, so an ended one needs none).
    pub fn save_state(&self, live: &dyn Fn(&str, u32) -> bool, w: &mut Writer) {
        let all = live_entries(&self.sequences, live);
        w.len(all.len());
        for (liid, cin, c) in all {
            w.str(liid);
            w.u32(cin);
            w.u32(c.iri);
            w.u32(c.cc);
        }
        w.len(self.encoders.len());
        for (profile, encoder) in &self.encoders {
            w.str(profile.as_str());
            let mut state = Writer::default();
            encoder.save_state(live, &mut state);
            w.bytes(&state.buf);
        }
    }

    /// Reads back what [`Sequencer::save_state`] wrote into a sequencer of the same
    /// appliance (state of a profile no agency uses any more is skipped).
    pub fn load_state(&mut self, r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let n = r.count(24, "sequence counters")?;
        for _ in 0..n {
            let liid = r.string("sequence LIID")?;
            let cin = r.u32("sequence CIN")?;
            let counters = Counters { iri: r.u32("IRI sequence")?, cc: r.u32("CC sequence")? };
            self.sequences.entry(liid).or_default().insert(cin, counters);
        }
        let n = r.count(16, "encoder states")?;
        for _ in 0..n {
            let name = r.str("encoder profile")?;
            let profile = Profile::from_name(name).ok_or_else(|| r.invalid("encoder profile"))?;
            let bytes = r.bytes("encoder state")?;
            if let Some((_, encoder)) = self.encoders.iter_mut().find(|(p, _)| *p == profile) {
                let mut state = Reader::new(bytes);
                encoder.load_state(&mut state)?;
                state.finish()?;
            }
        }
        Ok(())
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
        let (Some(agency_def), Some((_, encoder))) =
            (self.agencies.get(agency), self.agency_encoder.get(agency).and_then(|&e| self.encoders.get_mut(e)))
        else {
            return;
        };
        let to = Addressee { appliance: &self.appliance, agency: agency_def, sequence };
        let output = &mut self.output;
        let emitted = encoder.encode(r, &to, &mut |channel, bytes| output.write_pdu(agency, channel, bytes));
        counts.iri_records += emitted.iri;
        counts.cc_records += emitted.cc;
    }
}
