//! The sync core against the real network-element core ([`crate::x1::NetworkElement`]),
//! both sans I/O: every case ends with the POI holding exactly the plan.

use super::*;
use crate::admf::envelope::{answers, container, Parties};
use crate::admf::plan::{xid_of, Plan};
use crate::warrant::{Numbering, OrderKind, Target, Warrant};
use crate::x1::{DeliveryAddress, DeliveryType, NeConfig, NetworkElement, Port, X1Response};
use crate::Timestamp;

fn warrant(liid: &str, kind: OrderKind, target: &str, from: u64, until: u64) -> Warrant {
    crate::admf::plan::tests::warrant(liid, kind, &[target], from, until)
}

fn mf() -> DeliveryAddress {
    DeliveryAddress::IpAndPort { address: "127.0.0.1".parse().expect("ip"), port: Port::Tcp(24_000) }
}

fn parties() -> Parties {
    Parties { admf: "mf".into(), ne: "poi-1".into() }
}

fn poi() -> NetworkElement {
    NetworkElement::new(NeConfig { ne_identifier: "poi-1".into(), admf_identifier: "mf".into() })
}

/// Rounds until in step (at most 8); every event.
fn drive(sync: &mut PoiSync, plan: &Plan, ne: &mut NetworkElement) -> Vec<AdmfEvent> {
    let mut events = Vec::new();
    for round in 0..8u64 {
        let requests = sync.next(plan, &mut events);
        if requests.is_empty() {
            return events;
        }
        let x1 = container(&parties(), &requests, Timestamp::from_nanos(round));
        let (response, _) = ne.handle_request("mf", &x1, Timestamp::from_nanos(round));
        let got = answers(&parties(), &x1, response).expect("answers");
        events.extend(sync.answered(plan, &requests, &got));
    }
    panic!("not in step after 8 rounds: {events:?}");
}

/// The POI holds exactly the plan's tasks.
fn assert_in_step(sync: &PoiSync, plan: &Plan, ne: &NetworkElement) {
    assert_eq!(sync.state(), PoiState::InStep);
    let held: Vec<_> = ne.tasks().cloned().collect();
    let planned: Vec<_> = plan.tasks.values().map(|p| p.details.clone()).collect();
    assert_eq!(held, planned);
    assert!(ne.destination(&plan.destination.as_ref().expect("destination").did).is_some());
}

fn activated(events: &[AdmfEvent]) -> Vec<&str> {
    events.iter().filter_map(|e| match e { AdmfEvent::TaskActivated { liid, .. } => Some(liid.as_str()), _ => None }).collect()
}

fn deactivated(events: &[AdmfEvent]) -> Vec<(Option<&str>, Deactivation)> {
    events
        .iter()
        .filter_map(|e| match e {
            AdmfEvent::TaskDeactivated { liid, why, .. } => Some((liid.as_ref().map(|l| l.as_str()), *why)),
            _ => None,
        })
        .collect()
}

const NOW: u64 = 1_000;

#[test]
fn add_tasks_every_active_warrant_after_the_destination() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 5_000), warrant("L3", OrderKind::TitleIii, "sip:bob@x.example", 0, 5_000)];
    let plan = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    let events = drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
    assert_eq!(activated(&events), ["L3", "L1"], "in XID order");
    assert!(matches!(events.iter().position(|e| matches!(e, AdmfEvent::DestinationCreated { .. })), Some(_)));
    assert_eq!(ne.task(&xid_of(&ws[0].liid)).map(|t| t.delivery_type), Some(DeliveryType::X2Only));
    assert_eq!(ne.task(&xid_of(&ws[1].liid)).map(|t| t.delivery_type), Some(DeliveryType::X2AndX3));
    // A new warrant later: only it is sent (no second reconciliation).
    let mut more = ws.clone();
    more.push(warrant("L4", OrderKind::TrapAndTrace, "tel:+13035550199", 0, 5_000));
    let plan = Plan::new(&more, Timestamp::from_nanos(NOW), &mf());
    let mut events = Vec::new();
    let requests = sync.next(&plan, &mut events);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(matches!(&requests[0], crate::x1::Request::ActivateTask(t) if t.xid == xid_of(&more[2].liid)));
}

#[test]
fn amend_modifies_the_task_in_place() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let mut ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 5_000)];
    drive(&mut sync, &Plan::new(&ws, Timestamp::from_nanos(NOW), &mf()), &mut ne);
    ws[0].kind = OrderKind::TitleIii;
    ws[0].targets.push(Target::parse("sip:carol@x.example", &Numbering::default()).expect("target"));
    let plan = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    let events = drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
    assert!(events.iter().any(|e| matches!(e, AdmfEvent::TaskModified { liid, .. } if liid.as_str() == "L1")), "{events:?}");
    assert!(activated(&events).is_empty() && deactivated(&events).is_empty());
    assert_eq!(ne.task(&xid_of(&ws[0].liid)).map(|t| (t.delivery_type, t.targets.len())), Some((DeliveryType::X2AndX3, 2)));
}

#[test]
fn revoke_deactivates() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 5_000), warrant("L2", OrderKind::PenTrap, "tel:+13035550143", 0, 5_000)];
    drive(&mut sync, &Plan::new(&ws, Timestamp::from_nanos(NOW), &mf()), &mut ne);
    let plan = Plan::new(&ws[1..], Timestamp::from_nanos(NOW), &mf());
    let events = drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
    assert_eq!(deactivated(&events), [(None, Deactivation::NotInStore)]);
    assert!(ne.task(&xid_of(&ws[0].liid)).is_none());
}

#[test]
fn expiry_and_a_later_start_deactivate_then_activate_at_the_boundary() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 2_000), warrant("L2", OrderKind::TitleIii, "tel:+13035550143", 3_000, 9_000)];
    let plan = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    assert_eq!(activated(&drive(&mut sync, &plan, &mut ne)), ["L1"], "pending L2 not tasked");
    let at = crate::admf::plan::next_boundary(&ws, Timestamp::from_nanos(NOW)).expect("boundary");
    assert_eq!(at, Timestamp::from_nanos(2_000));
    let plan = Plan::new(&ws, at, &mf());
    let events = drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
    assert_eq!(deactivated(&events), [(Some("L1"), Deactivation::Expired)]);
    assert_eq!(ne.tasks().count(), 0);
    let plan = Plan::new(&ws, Timestamp::from_nanos(3_000), &mf());
    assert_eq!(activated(&drive(&mut sync, &plan, &mut ne)), ["L2"]);
    assert_in_step(&sync, &plan, &ne);
}

#[test]
fn a_poi_restarted_empty_is_re_tasked_on_the_next_reconciliation() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 5_000)];
    let plan = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    drive(&mut sync, &plan, &mut ne);
    let mut ne = poi(); // restarted: nothing held
    assert!(sync.unreachable().contains(&AdmfEvent::State { from: PoiState::InStep, to: PoiState::Unreachable }));
    let events = drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
    assert_eq!(activated(&events), ["L1"]);
    assert!(events.iter().any(|e| matches!(e, AdmfEvent::DestinationCreated { .. })));
    // Restarted without the ADMF noticing: the periodic reconciliation finds it empty.
    let mut ne = poi();
    sync.resync();
    assert_eq!(activated(&drive(&mut sync, &plan, &mut ne)), ["L1"]);
    assert_in_step(&sync, &plan, &ne);
}

#[test]
fn a_stray_task_is_deactivated_and_a_changed_one_modified() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 5_000)];
    let plan = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    // Someone (an earlier configuration) left a task under another XID and changed ours.
    let stray_plan = Plan::new(&[warrant("OLD", OrderKind::TitleIii, "tel:+13035550100", 0, 5_000)], Timestamp::from_nanos(NOW), &mf());
    drive(&mut PoiSync::new(), &stray_plan, &mut ne);
    let mut changed = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    changed.tasks.values_mut().for_each(|p| p.details.delivery_type = DeliveryType::X2AndX3);
    drive(&mut PoiSync::new(), &changed, &mut ne);
    assert_eq!(ne.tasks().count(), 1, "the second ADMF run does not know OLD: it deactivated it");
    let stray = Plan::new(&[warrant("OLD", OrderKind::TitleIii, "tel:+13035550100", 0, 5_000)], Timestamp::from_nanos(NOW), &mf());
    let mut union = stray.clone();
    union.tasks.extend(changed.tasks.clone());
    drive(&mut PoiSync::new(), &union, &mut ne);
    assert_eq!(ne.tasks().count(), 2);

    let events = drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
    assert_eq!(deactivated(&events), [(None, Deactivation::NotInStore)]);
    assert!(events.iter().any(|e| matches!(e, AdmfEvent::TaskModified { liid, .. } if liid.as_str() == "L1")));
    assert_eq!(ne.task(&xid_of(&ws[0].liid)).map(|t| t.delivery_type), Some(DeliveryType::X2Only), "X3 withdrawn");
}

#[test]
fn a_refusal_leaves_the_state_unknown_and_the_next_round_reconciles() {
    let (mut sync, mut ne) = (PoiSync::new(), poi());
    let ws = vec![warrant("L1", OrderKind::PenRegister, "tel:+13035550142", 0, 5_000)];
    let plan = Plan::new(&ws, Timestamp::from_nanos(NOW), &mf());
    let mut events = Vec::new();
    let list = sync.next(&plan, &mut events);
    let x1 = container(&parties(), &list, Timestamp::from_nanos(1));
    let answered = answers(&parties(), &x1, ne.handle_request("mf", &x1, Timestamp::from_nanos(1)).0).expect("answers");
    sync.answered(&plan, &list, &answered);
    let changes = sync.next(&plan, &mut events);
    // The POI is tasked behind the ADMF's back: its ActivateTask is refused (XID taken).
    drive(&mut PoiSync::new(), &plan, &mut ne);
    let x1 = container(&parties(), &changes, Timestamp::from_nanos(2));
    let answered = answers(&parties(), &x1, ne.handle_request("mf", &x1, Timestamp::from_nanos(2)).0).expect("answers");
    let events = sync.answered(&plan, &changes, &answered);
    assert!(events.iter().any(|e| matches!(e, AdmfEvent::Refused { request: RequestKind::ActivateTask, code: Some(1000) })), "{events:?}");
    assert_eq!(sync.state(), PoiState::Unknown);
    drive(&mut sync, &plan, &mut ne);
    assert_in_step(&sync, &plan, &ne);
}

#[test]
fn answers_from_another_element_are_not_taken() {
    let mut ne = NetworkElement::new(NeConfig { ne_identifier: "poi-2".into(), admf_identifier: "mf".into() });
    let x1 = container(&parties(), &[crate::x1::Request::Ping], Timestamp::from_nanos(1));
    let (response, _) = ne.handle_request("mf", &x1, Timestamp::from_nanos(1));
    assert!(matches!(answers(&parties(), &x1, response), Err(crate::admf::envelope::EnvelopeError::Parties(0))));
    let top = X1Response::TopLevelError { admf_identifier: "mf".into(), ne_identifier: "poi-1".into(), timestamp: String::new(), version: String::new() };
    assert!(answers(&parties(), &x1, top).is_err());
}
