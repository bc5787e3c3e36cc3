//! What every point of interception must hold: one task per warrant in force, derived from
//! the warrant alone (so the same on every POI and across restarts), and the destination
//! its X2/X3 goes to.
//!
//! - XID: a name-based UUID (RFC 9562 version 8, SHA-256) of the LIID; DID likewise of the
//!   destination address.
//! - Targets: each warrant target's identity ([`crate::x1::target::of_identity`]).
//! - Delivery type: [`delivery_type`], one table over the order kinds.
//! - Validity: the X1 task has no validity field (TS 103 221-1 carries start and end only in
//!   `mediationDetails`, for an element that mediates itself), so the ADMF enforces it: a
//!   warrant is tasked from `valid_from` and deactivated at `valid_until` ([`next_boundary`]
//!   says when to look again).
//! - `reportPostDialledDigits` lives in the same `mediationDetails` and is not sent: the POI
//!   delivers every SIP message of the task and the mediation function applies the order's
//!   post-cut-through rule ([`Warrant::delivers_post_cut_through_digits`]) as a single box.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::metrics::WarrantState;
use crate::warrant::{Liid, OrderKind, Warrant};
use crate::x1::target::of_identity;
use crate::x1::{DeliveryAddress, DeliveryType, DestinationDetails, TaskDetails};
use crate::x2x3::Xid;
use crate::Timestamp;

/// A name-based UUID (version 8, RFC 9562 appendix B.2 style: SHA-256 of a namespace and
/// the name, first 16 octets, version and variant bits set).
pub(crate) fn name_uuid(namespace: &str, name: &str) -> Xid {
    let mut h = Sha256::new();
    h.update(namespace.as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    Xid(b)
}

/// The XID of the task of the warrant `liid`, on every POI and in every run.
pub fn xid_of(liid: &Liid) -> Xid {
    name_uuid("tapline/admf/task", liid.as_str())
}

/// The DID of the mediation function's X2/X3 endpoint at `address`.
pub fn did_of(address: &DeliveryAddress) -> Xid {
    let name = match address {
        DeliveryAddress::IpAndPort { address, port } => format!("{address}/{port:?}"),
        DeliveryAddress::Uri(uri) => uri.clone(),
    };
    name_uuid("tapline/admf/destination", &name)
}

/// Which X2/X3 streams the POIs send for an order of this kind: signalling (IRI) for every
/// order, content only for Title III.
pub fn delivery_type(kind: OrderKind) -> DeliveryType {
    match kind {
        OrderKind::PenRegister => DeliveryType::X2Only,
        OrderKind::TrapAndTrace => DeliveryType::X2Only,
        OrderKind::PenTrap => DeliveryType::X2Only,
        OrderKind::TitleIii => DeliveryType::X2AndX3,
    }
}

/// The destination every task of a POI names.
pub fn destination(address: &DeliveryAddress) -> DestinationDetails {
    DestinationDetails {
        did: did_of(address),
        friendly_name: Some("tapline mediation function".into()),
        delivery_type: DeliveryType::X2AndX3,
        address: address.clone(),
    }
}

/// The task of `w` delivering to `did`; None when it has no target (nothing to task).
pub fn task_of(w: &Warrant, did: Xid) -> Option<TaskDetails> {
    let mut targets = Vec::with_capacity(w.targets.len());
    for t in &w.targets {
        let id = of_identity(&t.identity);
        if !targets.contains(&id) {
            targets.push(id);
        }
    }
    if targets.is_empty() {
        return None;
    }
    Some(TaskDetails {
        xid: xid_of(&w.liid),
        targets,
        delivery_type: delivery_type(w.kind),
        destinations: vec![did],
        correlation_id: None,
        // The POI must not end a task by itself: only the ADMF deactivates.
        implicit_deactivation_allowed: Some(false),
    })
}

/// A task a POI must hold and the warrant it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub liid: Liid,
    pub details: TaskDetails,
}

/// The tasks of the warrants in force at one instant, and the XIDs of the other warrants of
/// the store (pending or expired), which must not be tasked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub destination: Option<DestinationDetails>,
    pub tasks: BTreeMap<Xid, Planned>,
    pub inactive: BTreeMap<Xid, (Liid, WarrantState)>,
}

impl Plan {
    /// The plan for a POI delivering to `address`: every warrant of `warrants` active at
    /// `now` tasked, the others listed as inactive.
    pub fn new<'w>(warrants: impl IntoIterator<Item = &'w Warrant>, now: Timestamp, address: &DeliveryAddress) -> Plan {
        let destination = destination(address);
        let mut plan = Plan { destination: None, tasks: BTreeMap::new(), inactive: BTreeMap::new() };
        for w in warrants {
            let xid = xid_of(&w.liid);
            match (w.state_at(now), task_of(w, destination.did)) {
                (WarrantState::Active, Some(details)) => {
                    plan.tasks.insert(xid, Planned { liid: w.liid.clone(), details });
                }
                (state, _) => {
                    plan.inactive.insert(xid, (w.liid.clone(), state));
                }
            }
        }
        plan.destination = Some(destination);
        plan
    }

    /// The LIID of `xid` when it is a warrant of the store.
    pub fn liid(&self, xid: &Xid) -> Option<&Liid> {
        self.tasks.get(xid).map(|p| &p.liid).or_else(|| self.inactive.get(xid).map(|(l, _)| l))
    }
}

/// The first instant after `now` at which a warrant of `warrants` starts or ends: the plan
/// changes then.
pub fn next_boundary<'w>(warrants: impl IntoIterator<Item = &'w Warrant>, now: Timestamp) -> Option<Timestamp> {
    warrants.into_iter().flat_map(|w| [w.valid_from, w.valid_until]).filter(|t| *t > now).min()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::warrant::{Numbering, Target};
    use crate::x1::TargetIdentifier;
    use std::path::PathBuf;

    pub(crate) fn warrant(liid: &str, kind: OrderKind, targets: &[&str], from: u64, until: u64) -> Warrant {
        Warrant {
            liid: Liid::new(liid).expect("liid"),
            kind,
            agency: "a".into(),
            targets: targets.iter().map(|t| Target::parse(t, &Numbering::default()).expect("target")).collect(),
            valid_from: Timestamp::from_nanos(from),
            valid_until: Timestamp::from_nanos(until),
            court_order: "c".into(),
            issuing_authority: "i".into(),
            post_cut_through_digits: false,
            served_by: None,
            provisioned_by: None,
            source: PathBuf::from("w.toml"),
        }
    }

    fn mf() -> DeliveryAddress {
        DeliveryAddress::IpAndPort { address: "192.0.2.10".parse().expect("ip"), port: crate::x1::Port::Tcp(24_000) }
    }

    #[test]
    fn delivery_type_per_kind() {
        let got: Vec<_> = OrderKind::ALL.iter().map(|k| delivery_type(*k)).collect();
        assert_eq!(got, [DeliveryType::X2Only, DeliveryType::X2Only, DeliveryType::X2Only, DeliveryType::X2AndX3]);
        for k in OrderKind::ALL {
            assert_eq!(delivery_type(k).content(), k.content(), "X3 exactly when the order allows content: {k}");
        }
    }

    #[test]
    fn xids_are_stable_uuids_per_liid() {
        let a = xid_of(&Liid::new("DEN-1").expect("liid"));
        assert_eq!(a, xid_of(&Liid::new("DEN-1").expect("liid")));
        assert_ne!(a, xid_of(&Liid::new("DEN-2").expect("liid")));
        assert_eq!(a.0[6] >> 4, 8, "version 8");
        assert_eq!(a.0[8] >> 6, 0b10, "RFC 9562 variant");
        // Fixed: a POI tasked by an earlier run holds this XID.
        assert_eq!(a.to_string(), xid_of(&Liid::new("DEN-1").expect("liid")).to_string());
        assert_ne!(did_of(&mf()), a);
    }

    #[test]
    fn the_plan_tasks_active_warrants_only() {
        let ws = [
            warrant("L-ACTIVE", OrderKind::TitleIii, &["tel:+13035550142", "sip:3035550142@x.example;user=phone", "sip:bob@x.example"], 10, 100),
            warrant("L-PENDING", OrderKind::PenRegister, &["tel:+13035550143"], 50, 100),
            warrant("L-EXPIRED", OrderKind::PenRegister, &["tel:+13035550144"], 1, 20),
        ];
        let plan = Plan::new(&ws, Timestamp::from_nanos(30), &mf());
        assert_eq!(plan.tasks.len(), 1);
        let t = &plan.tasks[&xid_of(&ws[0].liid)].details;
        assert_eq!(
            t.targets,
            [TargetIdentifier::E164Number("13035550142".into()), TargetIdentifier::SipUri("sip:bob@x.example".into())],
            "the same identity once"
        );
        assert_eq!(t.delivery_type, DeliveryType::X2AndX3);
        assert_eq!(t.destinations, [did_of(&mf())]);
        assert_eq!(t.implicit_deactivation_allowed, Some(false));
        assert_eq!(plan.inactive[&xid_of(&ws[1].liid)].1, WarrantState::Pending);
        assert_eq!(plan.inactive[&xid_of(&ws[2].liid)].1, WarrantState::Expired);
        assert_eq!(next_boundary(&ws, Timestamp::from_nanos(30)), Some(Timestamp::from_nanos(50)));
        assert_eq!(next_boundary(&ws, Timestamp::from_nanos(100)), None);
    }
}
