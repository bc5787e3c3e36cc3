//! What a POI reports to its ADMF (TS 103 221-1 clause 6.5), as a sans-IO state machine:
//! the shell feeds what it observes ([`Observation`]: a destination's link up or down, which
//! tasks can be served, the spool's condition) and takes the issue reports to send
//! ([`Faults::poll_report`]).
//!
//! - One issue per destination, per task and per network-element condition. An issue is
//!   reported when it starts (a fault) and when it ends (`AllClear`, `FaultCleared`); what
//!   does not change is not reported again.
//! - Rate limit: an issue is reported at most once per hold-down interval. A change within
//!   the interval waits until it ends and is then reported only if the issue's state still
//!   differs from the last one reported, so a flapping MDF yields at most one report per
//!   interval and the last state always reaches the ADMF.
//! - Report texts are fixed phrases: no target, no address, nothing from the capture.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::x1::{IssueReport, NeIssueType, ReportType};
use crate::x2x3::Xid;

/// Why a destination's link is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkFault {
    /// TCP or the TLS handshake failed.
    ConnectFailed,
    /// A keepalive went TIME_P2 without its ack.
    NoAck,
}

/// Why a task cannot be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskFault {
    /// None of its destinations has a usable (TCP) address: nothing it matches can be sent.
    NoUsableDestination,
}

/// A condition of the network element itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NeCondition {
    /// A spool is full (or its disk is): the capture waits for delivery.
    SpoolFull,
    /// A spool cannot be written: the POI stops.
    SpoolUnwritable,
    /// The POI stops with PDUs its destinations have not confirmed (they stay spooled).
    UnconfirmedAtStop,
}

/// What the shell saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A destination's link: `None` once an ack came (delivery works), else why it failed.
    Destination { did: Xid, fault: Option<LinkFault> },
    /// Every task held now, with why it cannot be served (`None`: it can). Tasks left out
    /// are no longer held: forgotten without a report.
    Tasks(Vec<(Xid, Option<TaskFault>)>),
    /// A network-element condition began (`true`) or ended.
    Ne { condition: NeCondition, active: bool },
}

/// What an issue is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    Destination(Xid),
    Task(Xid),
    Ne(NeCondition),
}

/// The fault of an issue (None: all clear).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Link(LinkFault),
    Task(TaskFault),
    Ne,
}

#[derive(Clone, Copy, Debug, Default)]
struct Issue {
    current: Option<Fault>,
    /// What the ADMF was last told (None: all clear or never reported).
    reported: Option<Fault>,
    last_report: Option<Instant>,
}

/// The faults of one POI and the reports they call for (no I/O).
#[derive(Debug)]
pub struct Faults {
    holddown: Duration,
    issues: BTreeMap<Subject, Issue>,
    out: VecDeque<IssueReport>,
}

impl Faults {
    /// Reports each issue at most once per `holddown`.
    pub fn new(holddown: Duration) -> Faults {
        Faults { holddown, issues: BTreeMap::new(), out: VecDeque::new() }
    }

    /// Takes one observation made at `now`.
    pub fn observe(&mut self, now: Instant, observation: Observation) {
        match observation {
            Observation::Destination { did, fault } => self.set(now, Subject::Destination(did), fault.map(Fault::Link)),
            Observation::Tasks(tasks) => {
                let held: BTreeSet<Xid> = tasks.iter().map(|(x, _)| *x).collect();
                self.issues.retain(|s, _| !matches!(s, Subject::Task(x) if !held.contains(x)));
                for (xid, fault) in tasks {
                    self.set(now, Subject::Task(xid), fault.map(Fault::Task));
                }
            }
            Observation::Ne { condition, active } => self.set(now, Subject::Ne(condition), active.then_some(Fault::Ne)),
        }
    }

    fn set(&mut self, now: Instant, subject: Subject, fault: Option<Fault>) {
        let issue = self.issues.entry(subject).or_default();
        issue.current = fault;
        self.settle(now, subject);
    }

    /// Reports `subject` if its state differs from the last reported and the hold-down is over.
    fn settle(&mut self, now: Instant, subject: Subject) {
        let Some(issue) = self.issues.get_mut(&subject) else { return };
        if issue.current == issue.reported || issue.last_report.is_some_and(|t| now < t + self.holddown) {
            return;
        }
        self.out.push_back(report(subject, issue.current));
        issue.reported = issue.current;
        issue.last_report = Some(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run (a change waiting for
    /// its hold-down to end); None when nothing waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let waiting = self.issues.values().filter(|i| i.current != i.reported);
        waiting.filter_map(|i| i.last_report.map(|t| t + self.holddown)).min()
    }

    /// Reports the changes whose hold-down has ended by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let subjects: Vec<Subject> = self.issues.keys().copied().collect();
        for s in subjects {
            self.settle(now, s);
        }
    }

    /// The next report to send, oldest first.
    pub fn poll_report(&mut self) -> Option<IssueReport> {
        self.out.pop_front()
    }
}

/// The report for `subject` in the state `fault`: the policy table.
fn report(subject: Subject, fault: Option<Fault>) -> IssueReport {
    let text = |s: &str| Some(s.to_owned());
    match (subject, fault) {
        (Subject::Destination(did), Some(Fault::Link(LinkFault::ConnectFailed))) => IssueReport::Destination {
            did,
            kind: ReportType::NonTerminatingFault,
            code: Some(code::CONNECT_FAILED),
            details: text("X2/X3 connection to the destination failed; PDUs are kept in the spool"),
        },
        (Subject::Destination(did), Some(Fault::Link(LinkFault::NoAck))) => IssueReport::Destination {
            did,
            kind: ReportType::NonTerminatingFault,
            code: Some(code::NO_ACK),
            details: text("X2/X3 keepalive not acknowledged within TIME_P2; PDUs are kept in the spool"),
        },
        (Subject::Destination(did), _) => IssueReport::Destination {
            did,
            kind: ReportType::AllClear,
            code: None,
            details: text("X2/X3 delivery to the destination acknowledged again"),
        },
        (Subject::Task(xid), Some(Fault::Task(TaskFault::NoUsableDestination))) => IssueReport::Task {
            xid,
            kind: ReportType::NonTerminatingFault,
            code: Some(code::NO_USABLE_DESTINATION),
            details: text("none of the task's destinations has a usable TCP address: nothing is delivered for it"),
        },
        (Subject::Task(xid), _) => IssueReport::Task { xid, kind: ReportType::AllClear, code: None, details: text("the task is served again") },
        (Subject::Ne(condition), Some(_)) => {
            let (kind, code, description) = match condition {
                NeCondition::SpoolFull => (NeIssueType::Warning, code::SPOOL_FULL, "X2/X3 spool full: the capture waits for delivery"),
                NeCondition::SpoolUnwritable => (NeIssueType::FaultReport, code::SPOOL_UNWRITABLE, "X2/X3 spool cannot be written: the POI stops"),
                NeCondition::UnconfirmedAtStop => {
                    (NeIssueType::Warning, code::UNCONFIRMED_AT_STOP, "the POI stops with unconfirmed X2/X3 PDUs; they stay in the spool")
                }
            };
            IssueReport::Ne { kind, description: description.to_owned(), code: Some(code) }
        }
        (Subject::Ne(condition), None) => {
            let description = match condition {
                NeCondition::SpoolFull => "X2/X3 spool has room again",
                NeCondition::SpoolUnwritable => "X2/X3 spool writable again",
                NeCondition::UnconfirmedAtStop => "every X2/X3 PDU confirmed",
            };
            IssueReport::Ne { kind: NeIssueType::FaultCleared, description: description.to_owned(), code: None }
        }
    }
}

/// The issue codes tapline's POI writes (`issueCode`/`errorCode` of the report).
pub mod code {
    pub const CONNECT_FAILED: u32 = 1;
    pub const NO_ACK: u32 = 2;
    pub const NO_USABLE_DESTINATION: u32 = 3;
    pub const SPOOL_FULL: u32 = 10;
    pub const SPOOL_UNWRITABLE: u32 = 11;
    pub const UNCONFIRMED_AT_STOP: u32 = 12;
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
