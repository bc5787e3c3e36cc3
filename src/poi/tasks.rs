//! The POI's view of its X1 tasks: applies the network element's [`Change`]s and turns
//! the tasks into the one thing the mediator matches, a [`WarrantTable`].
//!
//! Each task becomes a warrant that sees everything of its targets' communications (the
//! `title-iii` column of the policy table: both directions, full signalling, content), so
//! the mediator finds a task's SIP messages and its calls' RTP/RTCP exactly as it finds a
//! warrant's. The POI applies no legal scope of its own beyond the task's delivery type
//! ([`carries`]); the mediation function receiving X2/X3 applies the orders' scope.
//!
//! Target identifiers are keyed by the project's one identity function
//! ([`Target::parse`] → `warrant::identity`), under the carrier's numbering. An identifier
//! tapline cannot interpret (an IMSI, a NAI, ...) matches nothing and is counted.
//!
//! Every activation or modification gets a fresh internal LIID; a record is delivered only
//! while its LIID belongs to a task still held, so a deactivated task stops delivering at
//! the next packet even for calls it matched before (the mediator keeps intercepts of calls
//! in progress across table swaps). A modification that keeps the targets keeps the LIID
//! (calls in progress continue under the new delivery type and destinations); one that
//! changes the targets starts afresh (calls of the old targets in progress stop).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::warrant::{Liid, Numbering, OrderKind, Target, Warrant, WarrantTable};
use crate::x1::{Change, DeliveryType, DestinationDetails, TargetIdentifier, TaskDetails};
use crate::x2x3::{PduType, Xid};
use crate::Timestamp;

/// Whether a task or destination of `delivery` type gets PDUs of `stream` (X2 or X3).
/// The one place the delivery type decides: an X2-only task never yields content.
pub fn carries(delivery: DeliveryType, stream: PduType) -> bool {
    match (delivery, stream) {
        (DeliveryType::X2Only, PduType::X2) => true,
        (DeliveryType::X2Only, PduType::X3) => false,
        (DeliveryType::X3Only, PduType::X2) => false,
        (DeliveryType::X3Only, PduType::X3) => true,
        (DeliveryType::X2AndX3, PduType::X2 | PduType::X3) => true,
        (_, PduType::Keepalive | PduType::KeepaliveAck) => false,
    }
}

#[derive(Clone, Debug)]
struct Held {
    details: TaskDetails,
    liid: Liid,
}

/// Counters of the task table (no target ever appears here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TaskStats {
    pub tasks_activated: u64,
    pub tasks_modified: u64,
    pub tasks_deactivated: u64,
    /// Target identifiers of a kind tapline does not match, or that do not parse.
    pub targets_unusable: u64,
}

/// Tasks and destinations as the network element holds them, with their warrants.
#[derive(Debug, Default)]
pub struct Tasks {
    numbering: Numbering,
    tasks: BTreeMap<Xid, Held>,
    by_liid: HashMap<Liid, Xid>,
    destinations: BTreeMap<Xid, DestinationDetails>,
    next_liid: u64,
    stats: TaskStats,
}

/// The warrant a task stands for (see the module doc): always in force, every column.
fn warrant_of(liid: Liid, targets: Vec<Target>) -> Warrant {
    Warrant {
        liid,
        kind: OrderKind::TitleIii,
        agency: "x2x3".to_owned(),
        targets,
        valid_from: Timestamp::from_nanos(0),
        valid_until: Timestamp::from_nanos(u64::MAX),
        court_order: String::new(),
        issuing_authority: String::new(),
        post_cut_through_digits: false,
        served_by: None,
        provisioned_by: None,
        source: PathBuf::new(),
    }
}

/// The text [`Target::parse`] reads for an X1 identifier; None for kinds not matched.
fn target_text(t: &TargetIdentifier) -> Option<String> {
    match t {
        TargetIdentifier::E164Number(digits) => Some(format!("+{digits}")),
        TargetIdentifier::SipUri(uri) | TargetIdentifier::TelUri(uri) => Some(uri.clone()),
        TargetIdentifier::Other { .. } => None,
    }
}

impl Tasks {
    pub fn new(numbering: Numbering) -> Tasks {
        Tasks { numbering, ..Tasks::default() }
    }

    pub fn stats(&self) -> TaskStats {
        self.stats
    }

    /// Applies one change; true when the warrant table must be rebuilt.
    pub fn apply(&mut self, change: Change) -> bool {
        match change {
            Change::TaskActivated(t) => {
                self.stats.tasks_activated += 1;
                self.hold(t, None);
                true
            }
            Change::TaskModified(t) => {
                self.stats.tasks_modified += 1;
                let keep = self.tasks.get(&t.xid).filter(|h| h.details.targets == t.targets).map(|h| h.liid.clone());
                self.hold(t, keep);
                true
            }
            Change::TaskDeactivated(xid) => {
                self.stats.tasks_deactivated += 1;
                if let Some(h) = self.tasks.remove(&xid) {
                    self.by_liid.remove(&h.liid);
                }
                true
            }
            Change::DestinationCreated(d) | Change::DestinationModified(d) => {
                self.destinations.insert(d.did, d);
                false
            }
            Change::DestinationRemoved(did) => {
                self.destinations.remove(&did);
                false
            }
        }
    }

    fn hold(&mut self, details: TaskDetails, liid: Option<Liid>) {
        if let Some(old) = self.tasks.remove(&details.xid) {
            self.by_liid.remove(&old.liid);
        }
        let liid = liid.unwrap_or_else(|| {
            self.next_liid += 1;
            // "T" and at most 20 digits: always a valid LIID.
            Liid::new(format!("T{}", self.next_liid)).expect("`T` and digits is a valid LIID")
        });
        self.by_liid.insert(liid.clone(), details.xid);
        self.tasks.insert(details.xid, Held { details, liid });
    }

    /// The warrant table of the tasks held now.
    pub fn table(&mut self) -> Arc<WarrantTable> {
        let mut warrants = Vec::with_capacity(self.tasks.len());
        for held in self.tasks.values() {
            let mut targets = Vec::new();
            for t in &held.details.targets {
                match target_text(t).map(|text| Target::parse(&text, &self.numbering)) {
                    Some(Ok(target)) => targets.push(target),
                    Some(Err(why)) => {
                        self.stats.targets_unusable += 1;
                        tracing::warn!(xid = %held.details.xid, kind = t.element(), reason = %why, "task target not usable");
                    }
                    None => {
                        self.stats.targets_unusable += 1;
                        tracing::warn!(xid = %held.details.xid, kind = t.element(), "task target of a kind not matched");
                    }
                }
            }
            warrants.push(warrant_of(held.liid.clone(), targets));
        }
        Arc::new(WarrantTable::with_numbering(warrants, self.numbering.clone()))
    }

    /// The task a record's warrant stands for, if it is still held.
    pub fn task_of(&self, liid: &Liid) -> Option<&TaskDetails> {
        self.by_liid.get(liid).and_then(|xid| self.tasks.get(xid)).map(|h| &h.details)
    }

    pub fn destination(&self, did: &Xid) -> Option<&DestinationDetails> {
        self.destinations.get(did)
    }

    pub fn tasks(&self) -> impl Iterator<Item = &TaskDetails> {
        self.tasks.values().map(|h| &h.details)
    }
}
