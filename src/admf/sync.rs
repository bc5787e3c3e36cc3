//! Keeping one point of interception in step with the plan, sans I/O.
//!
//! [`PoiSync::next`] says what to send (one X1 container per round), [`PoiSync::answered`]
//! takes the answers, [`PoiSync::unreachable`] a transport failure. What the POI holds is
//! tracked from its own answers: a full reconciliation reads it back (`ListAllDetails`, then
//! `GetTaskDetails` per XID) before anything is changed; after that, every change of the
//! plan is applied as the difference between the plan and what the POI holds:
//! destination first, then deactivations (revoked, expired, stray), modifications and
//! activations, then unused destinations of ours removed.
//!
//! States: `Unknown` (nothing known: start, or a request was refused) → `Reconciling` →
//! `InStep`; any transport failure → `Unreachable`, left by a full reconciliation on the
//! next successful contact.

use std::collections::{BTreeMap, BTreeSet};

use super::plan::Plan;
use crate::metrics::WarrantState;
use crate::warrant::Liid;
use crate::x1::{Request, RequestKind, Response, TaskDetails};
use crate::x2x3::Xid;

/// Where the ADMF stands with one POI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoiState {
    Unknown,
    Reconciling,
    InStep,
    Unreachable,
}

impl PoiState {
    pub fn as_str(self) -> &'static str {
        match self {
            PoiState::Unknown => "unknown",
            PoiState::Reconciling => "reconciling",
            PoiState::InStep => "in-step",
            PoiState::Unreachable => "unreachable",
        }
    }
}

/// Why a task is deactivated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deactivation {
    /// Its warrant is no longer in the store (revoked), or it never was (a stray task).
    NotInStore,
    Expired,
    /// Its warrant was amended to start later.
    NotYetValid,
}

impl Deactivation {
    pub fn as_str(self) -> &'static str {
        match self {
            Deactivation::NotInStore => "revoked-or-stray",
            Deactivation::Expired => "expired",
            Deactivation::NotYetValid => "not-yet-valid",
        }
    }
}

/// What happened, for the shell to audit and log (XIDs and LIIDs only, never targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmfEvent {
    TaskActivated { xid: Xid, liid: Liid },
    TaskModified { xid: Xid, liid: Liid },
    TaskDeactivated { xid: Xid, liid: Option<Liid>, why: Deactivation },
    DestinationCreated { did: Xid },
    DestinationRemoved { did: Xid },
    /// The POI answered a request with an error (or not with the expected response).
    Refused { request: RequestKind, code: Option<u32> },
    State { from: PoiState, to: PoiState },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Ask for the list of tasks and destinations.
    List,
    /// Waiting for the list's answer.
    Listing,
    /// Read these tasks back.
    Details(Vec<Xid>),
    /// Waiting for the tasks read back.
    Reading,
    /// What the POI holds is known: send the difference.
    Known,
    /// Waiting for the changes' answers.
    Changing,
}

/// The ADMF's view of one POI.
#[derive(Debug)]
pub struct PoiSync {
    state: PoiState,
    phase: Phase,
    /// Tasks the POI holds, as it said.
    tasks: BTreeMap<Xid, TaskDetails>,
    /// Destinations the POI holds.
    destinations: BTreeSet<Xid>,
    /// Destinations this ADMF created there (the only ones it removes).
    ours: BTreeSet<Xid>,
}

impl Default for PoiSync {
    fn default() -> Self {
        PoiSync::new()
    }
}

impl PoiSync {
    pub fn new() -> PoiSync {
        PoiSync { state: PoiState::Unknown, phase: Phase::List, tasks: BTreeMap::new(), destinations: BTreeSet::new(), ours: BTreeSet::new() }
    }

    pub fn state(&self) -> PoiState {
        self.state
    }

    /// The tasks the POI holds, as far as its answers tell.
    pub fn held(&self) -> &BTreeMap<Xid, TaskDetails> {
        &self.tasks
    }

    /// Forget what the POI holds: the next round starts a full reconciliation (periodic,
    /// or the POI may have restarted).
    pub fn resync(&mut self) {
        self.phase = Phase::List;
    }

    fn set(&mut self, to: PoiState, events: &mut Vec<AdmfEvent>) {
        if self.state != to {
            events.push(AdmfEvent::State { from: self.state, to });
            self.state = to;
        }
    }

    /// The requests of the next round; empty when the POI is in step with `plan` (the
    /// state is then `InStep`, reported in `events`).
    pub fn next(&mut self, plan: &Plan, events: &mut Vec<AdmfEvent>) -> Vec<Request> {
        match std::mem::replace(&mut self.phase, Phase::Known) {
            Phase::List | Phase::Listing => {
                self.set(PoiState::Reconciling, events);
                self.phase = Phase::Listing;
                vec![Request::ListAllDetails]
            }
            Phase::Details(xids) if !xids.is_empty() => {
                self.phase = Phase::Reading;
                xids.into_iter().map(|xid| Request::GetTaskDetails { xid }).collect()
            }
            Phase::Details(_) | Phase::Reading | Phase::Known | Phase::Changing => {
                let requests = self.difference(plan);
                if requests.is_empty() {
                    self.set(PoiState::InStep, events);
                } else {
                    self.phase = Phase::Changing;
                }
                requests
            }
        }
    }

    /// What brings the POI from what it holds to `plan`.
    fn difference(&self, plan: &Plan) -> Vec<Request> {
        let mut out = Vec::new();
        let Some(dest) = &plan.destination else { return out };
        if !self.destinations.contains(&dest.did) {
            out.push(Request::CreateDestination(dest.clone()));
        }
        for xid in self.tasks.keys() {
            if !plan.tasks.contains_key(xid) {
                out.push(Request::DeactivateTask { xid: *xid });
            }
        }
        for (xid, planned) in &plan.tasks {
            match self.tasks.get(xid) {
                Some(held) if *held == planned.details => {}
                Some(_) => out.push(Request::ModifyTask(planned.details.clone())),
                None => out.push(Request::ActivateTask(planned.details.clone())),
            }
        }
        for did in self.ours.intersection(&self.destinations) {
            if *did != dest.did {
                out.push(Request::RemoveDestination { did: *did });
            }
        }
        out
    }

    /// The answers to the round `sent` (in order). A refusal or a wrong answer makes the
    /// state `Unknown`: the shell waits before the next round, which reconciles in full.
    pub fn answered(&mut self, plan: &Plan, sent: &[Request], answers: &[Response]) -> Vec<AdmfEvent> {
        let mut events = Vec::new();
        if sent.len() != answers.len() {
            events.push(AdmfEvent::Refused { request: sent.first().map_or(RequestKind::Ping, Request::kind), code: None });
            self.failed(&mut events);
            return events;
        }
        let mut refused = false;
        for (request, answer) in sent.iter().zip(answers) {
            if !self.apply(plan, request, answer, &mut events) {
                refused = true;
            }
        }
        if refused {
            self.failed(&mut events);
        }
        events
    }

    fn failed(&mut self, events: &mut Vec<AdmfEvent>) {
        self.phase = Phase::List;
        self.set(PoiState::Unknown, events);
    }

    /// The POI could not be reached (connect, TLS, HTTP or an unparseable answer).
    pub fn unreachable(&mut self) -> Vec<AdmfEvent> {
        let mut events = Vec::new();
        self.phase = Phase::List;
        self.set(PoiState::Unreachable, &mut events);
        events
    }

    /// Applies one answer; false when it was not the success expected.
    fn apply(&mut self, plan: &Plan, request: &Request, answer: &Response, events: &mut Vec<AdmfEvent>) -> bool {
        let done = |kind: RequestKind| matches!(answer, Response::Ok { request, .. } if *request == kind);
        let ok = match (request, answer) {
            (Request::ListAllDetails, Response::ListAllDetails { xids, dids }) => {
                self.tasks.clear();
                self.destinations = dids.iter().copied().collect();
                self.phase = Phase::Details(xids.clone());
                true
            }
            (Request::GetTaskDetails { xid }, Response::GetTaskDetails { task, .. }) if task.xid == *xid => {
                self.tasks.insert(*xid, task.clone());
                true
            }
            // Gone between the list and the read: nothing held.
            (Request::GetTaskDetails { .. }, Response::Error { .. }) => true,
            (Request::CreateDestination(d), _) if done(RequestKind::CreateDestination) => {
                self.destinations.insert(d.did);
                self.ours.insert(d.did);
                events.push(AdmfEvent::DestinationCreated { did: d.did });
                true
            }
            (Request::RemoveDestination { did }, _) if done(RequestKind::RemoveDestination) => {
                self.destinations.remove(did);
                self.ours.remove(did);
                events.push(AdmfEvent::DestinationRemoved { did: *did });
                true
            }
            (Request::ActivateTask(t), _) if done(RequestKind::ActivateTask) => {
                self.tasks.insert(t.xid, t.clone());
                if let Some(liid) = plan.liid(&t.xid) {
                    events.push(AdmfEvent::TaskActivated { xid: t.xid, liid: liid.clone() });
                }
                true
            }
            (Request::ModifyTask(t), _) if done(RequestKind::ModifyTask) => {
                self.tasks.insert(t.xid, t.clone());
                if let Some(liid) = plan.liid(&t.xid) {
                    events.push(AdmfEvent::TaskModified { xid: t.xid, liid: liid.clone() });
                }
                true
            }
            (Request::DeactivateTask { xid }, _) if done(RequestKind::DeactivateTask) => {
                self.tasks.remove(xid);
                let (liid, why) = match plan.inactive.get(xid) {
                    Some((liid, state)) => (Some(liid.clone()), deactivation(*state)),
                    None => (None, Deactivation::NotInStore),
                };
                events.push(AdmfEvent::TaskDeactivated { xid: *xid, liid, why });
                true
            }
            _ => false,
        };
        if !ok {
            let code = match answer {
                Response::Error { error, .. } => Some(error.code),
                _ => None,
            };
            events.push(AdmfEvent::Refused { request: request.kind(), code });
        }
        ok
    }
}

/// Why the task of a warrant of the store in `state` is not held.
fn deactivation(state: WarrantState) -> Deactivation {
    match state {
        WarrantState::Pending => Deactivation::NotYetValid,
        WarrantState::Expired => Deactivation::Expired,
        // Active but nothing to task (no target), or revoked: not a task of the store.
        WarrantState::Active | WarrantState::Revoked => Deactivation::NotInStore,
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
