use super::*;

const HOLD: Duration = Duration::from_secs(30);
const DID: Xid = Xid([0xd0; 16]);

fn down(did: Xid, fault: LinkFault) -> Observation {
    Observation::Destination { did, fault: Some(fault) }
}

fn up(did: Xid) -> Observation {
    Observation::Destination { did, fault: None }
}

fn drain(f: &mut Faults) -> Vec<IssueReport> {
    std::iter::from_fn(|| f.poll_report()).collect()
}

fn kinds(reports: &[IssueReport]) -> Vec<&'static str> {
    reports.iter().map(|r| r.type_str()).collect()
}

#[test]
fn a_destination_down_then_up_is_reported_once_each() {
    let t0 = Instant::now();
    let mut f = Faults::new(HOLD);
    f.observe(t0, up(DID));
    assert!(drain(&mut f).is_empty(), "a link that works from the start is not news");
    f.observe(t0, down(DID, LinkFault::ConnectFailed));
    let r = drain(&mut f);
    assert_eq!(r.len(), 1);
    assert!(matches!(r[0], IssueReport::Destination { did: DID, kind: ReportType::NonTerminatingFault, code: Some(code::CONNECT_FAILED), .. }));
    // The MDF stays down: reconnect attempts every half second are not reported again.
    for s in 1..100 {
        f.observe(t0 + Duration::from_millis(500 * s), down(DID, LinkFault::ConnectFailed));
    }
    assert!(drain(&mut f).is_empty(), "no storm while the MDF is down");
    assert_eq!(f.poll_timeout(), None);
    let later = t0 + Duration::from_secs(60);
    f.observe(later, up(DID));
    let r = drain(&mut f);
    assert!(matches!(r.as_slice(), [IssueReport::Destination { did: DID, kind: ReportType::AllClear, .. }]), "{r:?}");
}

#[test]
fn flapping_is_held_down_and_the_last_state_still_reported() {
    let t0 = Instant::now();
    let mut f = Faults::new(HOLD);
    f.observe(t0, down(DID, LinkFault::NoAck));
    assert_eq!(kinds(&drain(&mut f)), ["NonTerminatingFault"]);
    // Up and down again and up within the hold-down: nothing yet, one report when it ends.
    for s in 1..=9 {
        let o = if s % 2 == 1 { up(DID) } else { down(DID, LinkFault::NoAck) };
        f.observe(t0 + Duration::from_secs(s), o);
    }
    assert!(drain(&mut f).is_empty());
    assert_eq!(f.poll_timeout(), Some(t0 + HOLD));
    f.handle_timeout(t0 + HOLD - Duration::from_millis(1));
    assert!(drain(&mut f).is_empty(), "not before the hold-down ends");
    f.handle_timeout(t0 + HOLD);
    assert_eq!(kinds(&drain(&mut f)), ["AllClear"]);
    // Down and back up within a hold-down: the ADMF's last word (all clear) is still true.
    f.observe(t0 + HOLD + Duration::from_secs(1), down(DID, LinkFault::ConnectFailed));
    f.observe(t0 + HOLD + Duration::from_secs(2), up(DID));
    f.handle_timeout(t0 + HOLD * 3);
    assert!(drain(&mut f).is_empty());
}

#[test]
fn tasks_without_a_usable_destination_and_ne_conditions() {
    let t0 = Instant::now();
    let mut f = Faults::new(HOLD);
    let (a, b) = (Xid([1; 16]), Xid([2; 16]));
    f.observe(t0, Observation::Tasks(vec![(a, None), (b, Some(TaskFault::NoUsableDestination))]));
    let r = drain(&mut f);
    assert!(matches!(r.as_slice(), [IssueReport::Task { xid, kind: ReportType::NonTerminatingFault, .. }] if *xid == b), "{r:?}");
    // Deactivated: forgotten, no all-clear; activated again unserved, reported again.
    f.observe(t0, Observation::Tasks(vec![(a, None)]));
    assert!(drain(&mut f).is_empty());
    f.observe(t0, Observation::Tasks(vec![(a, None), (b, Some(TaskFault::NoUsableDestination))]));
    assert_eq!(kinds(&drain(&mut f)), ["NonTerminatingFault"]);
    f.observe(t0 + HOLD, Observation::Tasks(vec![(a, None), (b, None)]));
    assert_eq!(kinds(&drain(&mut f)), ["AllClear"]);

    f.observe(t0, Observation::Ne { condition: NeCondition::SpoolFull, active: true });
    f.observe(t0, Observation::Ne { condition: NeCondition::SpoolUnwritable, active: true });
    let r = drain(&mut f);
    assert!(matches!(
        r.as_slice(),
        [IssueReport::Ne { kind: NeIssueType::Warning, code: Some(code::SPOOL_FULL), .. }, IssueReport::Ne { kind: NeIssueType::FaultReport, .. }]
    ), "{r:?}");
    f.observe(t0 + HOLD, Observation::Ne { condition: NeCondition::SpoolFull, active: false });
    assert_eq!(kinds(&drain(&mut f)), ["FaultCleared"]);
}

#[test]
fn report_texts_are_fixed_phrases() {
    let t0 = Instant::now();
    let mut f = Faults::new(Duration::ZERO);
    let mut all = Vec::new();
    for (i, fault) in [Some(LinkFault::ConnectFailed), Some(LinkFault::NoAck), None].into_iter().enumerate() {
        f.observe(t0 + Duration::from_secs(i as u64), Observation::Destination { did: DID, fault });
    }
    all.extend(drain(&mut f));
    assert_eq!(all.len(), 3);
    for r in &all {
        let text = match r {
            IssueReport::Task { details, .. } | IssueReport::Destination { details, .. } => details.clone().unwrap_or_default(),
            IssueReport::Ne { description, .. } => description.clone(),
        };
        assert!(!text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || " ;:'_/-".contains(c)), "{text}");
    }
}
