//! Packet-time schedule of the warrants in force: says when packet time reaches a
//! warrant's `valid_from` (activated) or its `valid_until` (deactivated), exactly once each.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::lifecycle::{InForce, Notice};
use crate::audit::InterceptionRecord;
use crate::handover::etsi::Hi1Notification;
use crate::warrant::Warrant;
use crate::Timestamp;

/// A warrant starting or ending at packet time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub warrant: Arc<Warrant>,
    /// `Activated` or `Deactivated`.
    pub notification: Hi1Notification,
    /// Packet time the interception started: the first packet at or after `valid_from`.
    pub since: Timestamp,
    /// For a deactivation, the packet-time end (`valid_until`, or the packet an amendment
    /// ended it at).
    pub until: Option<Timestamp>,
}

impl Transition {
    /// What the agency is told.
    pub fn notice(&self) -> Notice {
        Notice { agency: self.warrant.agency.clone(), liid: self.warrant.liid.to_string(), notification: self.notification }
    }

    /// The audit record of the interception with its packet-time start (and end).
    pub fn record(&self) -> InterceptionRecord {
        InterceptionRecord::of(&self.warrant, self.since, self.until)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not yet active at any packet time.
    Pending,
    Active { since: Timestamp },
    /// Lapsed, or never active at a packet time before its end.
    Ended,
}

#[derive(Debug)]
struct Scheduled {
    warrant: Arc<Warrant>,
    state: State,
}

/// The warrants in force and where each stands in packet time. Sans-IO: fed packet times.
#[derive(Debug)]
pub struct Schedule {
    by_liid: BTreeMap<String, Scheduled>,
    /// Earliest packet time something may be due; None when nothing will be.
    next_due: Option<Timestamp>,
}

impl Schedule {
    /// Every warrant of `in_force` waits for packet time; the first [`advance`](Self::advance)
    /// activates those active at that time (and silently ends those already lapsed).
    pub fn new(in_force: &InForce) -> Schedule {
        let by_liid = in_force
            .iter()
            .map(|(liid, w)| (liid.clone(), Scheduled { warrant: Arc::clone(w), state: State::Pending }))
            .collect();
        Schedule { by_liid, next_due: Some(Timestamp::default()) }
    }

    /// Swaps in a reloaded set of warrants. An unchanged warrant keeps its state; a new one
    /// waits for packet time (its activation comes from the next `advance`); an amended one
    /// keeps being active, or waits again; one no longer in force is dropped (its revocation
    /// is told by the reload).
    pub fn reseed(&mut self, in_force: &InForce) {
        let mut previous = std::mem::take(&mut self.by_liid);
        for (liid, w) in in_force {
            let state = match previous.remove(liid) {
                Some(old) if *old.warrant == **w => old.state,
                Some(Scheduled { state: State::Active { since }, .. }) => State::Active { since },
                _ => State::Pending,
            };
            self.by_liid.insert(liid.clone(), Scheduled { warrant: Arc::clone(w), state });
        }
        self.next_due = Some(Timestamp::default());
    }

    /// The transitions packet time `now` reaches, in LIID order. Cheap when nothing is due.
    pub fn advance(&mut self, now: Timestamp) -> Vec<Transition> {
        if self.next_due.is_none_or(|due| now < due) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut next_due: Option<Timestamp> = None;
        for s in self.by_liid.values_mut() {
            let w = &s.warrant;
            match s.state {
                State::Pending if now >= w.valid_until => s.state = State::Ended,
                State::Pending if now >= w.valid_from => {
                    s.state = State::Active { since: now };
                    out.push(Transition {
                        warrant: Arc::clone(w),
                        notification: Hi1Notification::Activated,
                        since: now,
                        until: None,
                    });
                }
                State::Active { since } if !w.is_active(now) => {
                    s.state = State::Ended;
                    out.push(Transition {
                        warrant: Arc::clone(w),
                        notification: Hi1Notification::Deactivated,
                        since,
                        until: Some(w.valid_until.min(now)),
                    });
                }
                State::Pending | State::Active { .. } | State::Ended => {}
            }
            let due = match s.state {
                State::Pending => Some(w.valid_from),
                State::Active { .. } => Some(w.valid_until),
                State::Ended => None,
            };
            next_due = match (next_due, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        self.next_due = next_due;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::warrant::{Liid, OrderKind, Target};

    fn warrant(liid: &str, from: u64, until: u64) -> Arc<Warrant> {
        Arc::new(Warrant {
            liid: Liid::new(liid).unwrap(),
            kind: OrderKind::PenRegister,
            agency: "fbi-denver".into(),
            targets: vec![Target::parse("tel:+13035550142", &Default::default()).unwrap()],
            valid_from: Timestamp::from_nanos(from),
            valid_until: Timestamp::from_nanos(until),
            court_order: "1:26-mj-1".into(),
            issuing_authority: "Hon. Jane Doe".into(),
            post_cut_through_digits: false,
            served_by: None,
            provisioned_by: None,
            source: PathBuf::from(format!("{liid}.toml")),
        })
    }

    fn in_force(ws: &[Arc<Warrant>]) -> InForce {
        ws.iter().map(|w| (w.liid.to_string(), Arc::clone(w))).collect()
    }

    /// (LIID, notification, since, until) of each transition.
    fn at(s: &mut Schedule, now: u64) -> Vec<(String, Hi1Notification, u64, Option<u64>)> {
        s.advance(Timestamp::from_nanos(now))
            .into_iter()
            .map(|t| (t.warrant.liid.to_string(), t.notification, t.since.as_nanos(), t.until.map(Timestamp::as_nanos)))
            .collect()
    }

    use Hi1Notification::{Activated, Deactivated};

    #[test]
    fn first_packet_activates_only_warrants_active_then() {
        let mut s = Schedule::new(&in_force(&[warrant("NOW", 0, 1000), warrant("LATER", 500, 1000), warrant("OLD", 0, 50)]));
        assert_eq!(at(&mut s, 100), [("NOW".into(), Activated, 100, None)]);
        assert_eq!(at(&mut s, 499), []);
        assert_eq!(at(&mut s, 520), [("LATER".into(), Activated, 520, None)]);
        assert_eq!(at(&mut s, 600), []);
    }

    #[test]
    fn lapse_at_valid_until_is_told_once_with_the_packet_time_end() {
        let mut s = Schedule::new(&in_force(&[warrant("A", 0, 1000)]));
        assert_eq!(at(&mut s, 10), [("A".into(), Activated, 10, None)]);
        assert_eq!(at(&mut s, 999), []);
        assert_eq!(at(&mut s, 1000), [("A".into(), Deactivated, 10, Some(1000))]);
        assert_eq!(at(&mut s, 1001), []);
        assert_eq!(at(&mut s, 5000), []);
        assert_eq!(s.next_due, None, "nothing left to do");
    }

    #[test]
    fn a_window_between_two_packets_is_never_activated() {
        let mut s = Schedule::new(&in_force(&[warrant("A", 0, 1000), warrant("GAP", 200, 300)]));
        assert_eq!(at(&mut s, 100).len(), 1);
        assert_eq!(at(&mut s, 400), []);
        assert_eq!(at(&mut s, 2000), [("A".into(), Deactivated, 100, Some(1000))]);
    }

    #[test]
    fn reseed_keeps_unchanged_warrants_and_waits_for_new_ones() {
        let a = warrant("A", 0, 1000);
        let mut s = Schedule::new(&in_force(&[Arc::clone(&a)]));
        assert_eq!(at(&mut s, 100).len(), 1);
        // The same order again (a new allocation, as a reload makes) plus a new one active now
        // and one active later.
        let a_again = Arc::new((*a).clone());
        s.reseed(&in_force(&[a_again, warrant("B", 0, 1000), warrant("C", 700, 900)]));
        assert_eq!(at(&mut s, 150), [("B".into(), Activated, 150, None)], "A is not activated twice");
        assert_eq!(at(&mut s, 700), [("C".into(), Activated, 700, None)]);
        // C amended to end earlier: still active, ends at its new end; B revoked: dropped.
        s.reseed(&in_force(&[Arc::clone(&a), warrant("C", 700, 800)]));
        assert_eq!(at(&mut s, 750), []);
        assert_eq!(at(&mut s, 800), [("C".into(), Deactivated, 700, Some(800))]);
        assert_eq!(at(&mut s, 1000), [("A".into(), Deactivated, 100, Some(1000))]);
    }

    #[test]
    fn amendment_ending_an_active_warrant_in_the_past_deactivates_at_the_next_packet() {
        let mut s = Schedule::new(&in_force(&[warrant("A", 0, 1000)]));
        assert_eq!(at(&mut s, 100).len(), 1);
        s.reseed(&in_force(&[warrant("A", 0, 200)]));
        assert_eq!(at(&mut s, 300), [("A".into(), Deactivated, 100, Some(200))]);
        // Extended again: a new activation.
        s.reseed(&in_force(&[warrant("A", 0, 2000)]));
        assert_eq!(at(&mut s, 400), [("A".into(), Activated, 400, None)]);
    }
}
