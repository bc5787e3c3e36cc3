//! The run's two ends of the warrant lifecycle in the pipeline: the packet hook on the
//! signalling stage (swaps in reloaded warrant tables, advances the packet-time schedule)
//! and the guard on the encoding stage (withholds records of warrants not in force,
//! reserves CINs durably, spools HI1 notifications at their place in capture order).

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::lifecycle::{InForce, Notice, Timeline, Update};
use super::RunError;
use crate::delivery::{CinReservation, SpoolOutput};
use crate::handover::profile::Addressee;
use crate::handover::sequencer::{AgencyOutput, Channel, Sequencer};
use crate::mediation::snapshot::MediatorSnapshot;
use crate::mediation::{Mediator, Record, RecordSink};
use crate::pipeline::{EncodeStage, PacketHook};
use crate::warrant::Appliance;
use crate::Timestamp;

/// What changed about the warrants before one packet, for the encoding stage.
#[derive(Debug, Default)]
pub struct WarrantChange {
    /// A reloaded snapshot: the warrants whose records may be delivered from now on.
    in_force: Option<Arc<InForce>>,
    /// HI1 notifications and the time each is stamped with (the run's clock when the change
    /// was picked up or fell due).
    notices: Vec<(Notice, Timestamp)>,
    /// X2/X3 ingest: every frame before this index has passed; once its records are
    /// spooled, the keepalive barriers waiting on it may be made durable and released.
    passed: Option<u64>,
    /// X2/X3 ingest: the mediator's snapshot at that barrier (see `pipeline::snapshot`).
    snapshot: Option<MediatorSnapshot>,
}

/// Runs before each packet on the signalling stage: a reloaded warrant table is swapped
/// in (no lock per packet: one channel poll), and activations and lapses fall due by the
/// packet's time.
pub struct WarrantHook {
    updates: Receiver<Update>,
    timeline: Timeline,
    states: Option<super::states::WarrantStates>,
    /// X2/X3 ingest: counts frames towards the keepalive barriers.
    passing: Option<crate::x2x3::confirm::Passing>,
}

impl WarrantHook {
    pub fn new(updates: Receiver<Update>, timeline: Timeline) -> Self {
        WarrantHook { updates, timeline, states: None, passing: None }
    }

    /// Also carries the X2/X3 keepalive barriers to the encoding stage.
    pub fn with_passing(mut self, passing: Option<crate::x2x3::confirm::Passing>) -> Self {
        self.passing = passing;
        self
    }

    /// Also keeps the warrants-by-state gauge up to date.
    pub fn with_states(mut self, states: super::states::WarrantStates) -> Self {
        self.states = Some(states);
        self
    }
}

impl PacketHook for WarrantHook {
    type Update = WarrantChange;

    fn before(&mut self, mediator: &mut Mediator, ts: Timestamp) -> Option<WarrantChange> {
        let mut change: Option<WarrantChange> = None;
        if let Ok(update) = self.updates.try_recv() {
            mediator.set_table(update.snapshot.table);
            if let Some(states) = &mut self.states {
                states.replace(Arc::clone(&update.snapshot.in_force));
            }
            let notices = self.timeline.reseed(&update.snapshot.in_force, update.notices);
            let at = update.at;
            change = Some(WarrantChange {
                in_force: Some(update.snapshot.in_force),
                notices: notices.into_iter().map(|n| (n, at)).collect(),
                passed: None,
                snapshot: None,
            });
        }
        if let Some(states) = &mut self.states {
            states.at(ts);
        }
        let due = self.timeline.advance(ts);
        if !due.is_empty() {
            let at = self.timeline.now();
            change.get_or_insert_with(WarrantChange::default).notices.extend(due.into_iter().map(|n| (n, at)));
        }
        if let Some(passed) = self.passing.as_mut().and_then(|p| p.before_frame()) {
            change.get_or_insert_with(WarrantChange::default).passed = Some(passed);
        }
        change
    }

    /// Every X2/X3 barrier takes a pipeline snapshot.
    fn snapshot_due(&self, change: &WarrantChange) -> bool {
        change.passed.is_some()
    }

    fn snapshot(&mut self, mediator: &Mediator, change: &mut WarrantChange) {
        change.snapshot = Some(mediator.snapshot());
    }
}

/// Passes on only records of warrants in force at the record's time (a revoked or amended
/// warrant stops a call in progress), and reserves every CIN durably before a record
/// carrying it is spooled.
pub struct CinGuard<S> {
    pub inner: S,
    /// Identifies the appliance in HI1 notifications.
    pub appliance: Appliance,
    pub in_force: Arc<InForce>,
    /// Warrant tables swapped in.
    pub reloads: u64,
    pub withheld: u64,
    pub cins: CinReservation,
    pub path: PathBuf,
    /// HI1 notifications spooled, remembered across restarts (None: not remembered).
    pub hi1: Option<super::Hi1Ledger>,
    pub error: Option<RunError>,
    /// X2/X3 ingest: where passed barriers go to be made durable (see `durable.rs`).
    pub durable: Option<crossbeam_channel::Sender<super::durable::Passed>>,
}

impl<S: RecordSink> RecordSink for CinGuard<S> {
    fn record(&mut self, r: &Record<'_>) {
        if self.error.is_some() {
            return;
        }
        if !self.in_force.get(r.warrant.liid.as_str()).is_some_and(|w| w.is_active(r.ts)) {
            self.withheld += 1;
            return;
        }
        match self.cins.cover(r.cin) {
            Ok(()) => self.inner.record(r),
            Err(source) => self.error = Some(RunError::Cins { path: self.path.clone(), source }),
        }
    }
}

pub type Guarded = CinGuard<Sequencer<SpoolOutput>>;

impl EncodeStage for Guarded {
    type Update = WarrantChange;

    fn record(&mut self, record: &Record<'_>) {
        RecordSink::record(self, record);
    }

    fn update(&mut self, change: WarrantChange) {
        if let Some(in_force) = change.in_force {
            self.in_force = in_force;
            self.reloads += 1;
        }
        for (notice, stamp) in &change.notices {
            self.notify(notice, *stamp);
        }
        // Every record before the barrier is spooled by now, unless spooling failed: then
        // nothing is confirmed. Every record of the frames before it went through the
        // sequencer, and none after: its state joins the mediator's of the same barrier.
        if let (Some(upto), Some(durable)) = (change.passed, &self.durable) {
            if !EncodeStage::failed(self) {
                let marks = self.inner.output().ends();
                let pipeline = change.snapshot.as_ref().map(|s| crate::pipeline::snapshot::encode(s, &self.inner));
                let hi1_len = self.hi1.as_ref().map_or(0, super::Hi1Ledger::octets);
                let _ = durable.send(super::durable::Passed { upto, marks, pipeline: pipeline.unwrap_or_default(), hi1_len });
            }
        }
    }

    fn failed(&self) -> bool {
        self.error.is_some() || self.inner.output().error().is_some()
    }

    fn held_until(&self) -> Option<std::time::Instant> {
        EncodeStage::held_until(&self.inner)
    }

    fn flush(&mut self) {
        EncodeStage::flush(&mut self.inner);
    }
}

impl Guarded {
    /// Spools an HI1 notification (activated, modified, deactivated) on its agency's HI2
    /// interface, stamped `now` (the run's clock, see [`crate::time::RunClock`]).
    fn notify(&mut self, n: &Notice, now: Timestamp) {
        let Some(index) = self.inner.agencies().iter().position(|a| a.id == n.agency) else { return };
        let Some(agency) = self.inner.agencies().get(index) else { return };
        let to = Addressee { appliance: &self.appliance, agency, sequence: 0 };
        let mut pdu = Vec::new();
        if !agency.profile.handover().hi1_notification(&mut pdu, &to, &n.liid, n.notification, now) {
            return;
        }
        self.inner.output_mut().write_pdu(index, Channel::Hi2, &pdu);
        if let Some(ledger) = self.hi1.as_mut() {
            let warrant = self.in_force.get(n.liid.as_str()).map(|w| &**w);
            if let Err(source) = ledger.note(n.notification, &n.liid, warrant) {
                self.error = Some(RunError::Hi1Ledger { path: ledger.path().to_owned(), source });
            }
        }
    }
}
