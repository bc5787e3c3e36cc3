//! Tests of the generated warrant set: determinism, a clean load, the exact share of targeted
//! calls, and a replay of a generated capture intercepting exactly the targeted dialogs.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use super::rng::Rng;
use super::stream::random_call;
use super::targets::{Party, TargetPlan};
use super::warrants::targeted_calls;
use super::*;
use crate::warrant::{OrderKind, Profile, Store};
use crate::Timestamp;

fn config(calls: u64, seed: u64, share: u8) -> GenConfig {
    let mut cfg = GenConfig::new(calls, 20, seed);
    cfg.talk = Duration::from_secs(2);
    cfg.target_share = share;
    cfg
}

/// Every file of `dir` by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

fn generate_into(cfg: &GenConfig, dir: &Path) -> (Vec<u8>, ScenarioStats, WarrantSetStats) {
    let mut pcap = Vec::new();
    let stats = generate(cfg, &mut pcap).unwrap();
    let set = write_warrant_set(cfg, dir).unwrap();
    (pcap, stats, set)
}

/// Line number (the last four digits) of an E.164 number the generator wrote.
fn line(number: &str) -> u64 {
    number[number.len() - 4..].parse().unwrap()
}

#[test]
fn same_seed_same_capture_and_same_warrant_files() {
    let cfg = config(120, 4, 10);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pcap_a, stats_a, set_a) = generate_into(&cfg, a.path());
    let (pcap_b, stats_b, set_b) = generate_into(&cfg, b.path());
    assert_eq!(pcap_a, pcap_b);
    assert_eq!((stats_a, set_a), (stats_b, set_b));
    assert_eq!(files(a.path()), files(b.path()));
    assert_eq!(files(a.path()).len() as u64, 1 + set_a.warrants);
    let mut other = cfg.clone();
    other.seed = 5;
    let mut pcap_c = Vec::new();
    generate(&other, &mut pcap_c).unwrap();
    assert_ne!(pcap_a, pcap_c);
}

#[test]
fn set_loads_without_refusals_with_every_kind_under_both_profiles() {
    let cfg = config(1_000, 11, 10);
    let dir = tempfile::tempdir().unwrap();
    let set = write_warrant_set(&cfg, dir.path()).unwrap();
    let (store, refused) = Store::load_dir(dir.path()).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(set.targeted_calls, 100);
    assert_eq!(set.warrants, 34);
    assert_eq!(store.warrants.len(), 34);
    let warrants: Vec<u64> = set.kinds.iter().map(|k| k.warrants).collect();
    assert_eq!(warrants, [9, 9, 8, 8]);
    let calls: Vec<u64> = set.kinds.iter().map(|k| k.calls).collect();
    assert_eq!(calls, [26, 26, 24, 24]);
    let pairs: HashSet<(OrderKind, Profile)> = store
        .warrants
        .iter()
        .map(|w| (w.kind, store.agency(&w.agency).unwrap().profile))
        .collect();
    assert_eq!(pairs.len(), 8);
    let identities: HashSet<_> = store
        .warrants
        .iter()
        .map(|w| w.targets[0].identity.clone())
        .collect();
    assert_eq!(identities.len(), 34);
    assert!(store
        .warrants
        .iter()
        .any(|w| w.targets[0].raw.starts_with("sip:")));
    assert!(store.warrants.iter().any(|w| w.post_cut_through_digits));
    for w in &store.warrants {
        assert!(w.is_active(cfg.start));
        assert!(w.is_active(Timestamp::from_secs_micros(cfg.start.secs() + 86_400, 0)));
    }
}

#[test]
fn only_targeted_calls_have_a_target_party_and_in_a_covered_role() {
    let cfg = config(500, 21, 12);
    let plan = TargetPlan::new(cfg.calls, cfg.target_share);
    let mut targeted = 0;
    let mut roles = HashSet::new();
    for i in 0..cfg.calls {
        let (spec, target) = random_call(&cfg, &plan, i, cfg.start, &mut Rng::derive(cfg.seed, i));
        let to = match &spec.outcome {
            Outcome::ForwardedBy3xx { to, .. } | Outcome::ForwardedDiversion { to, .. } => Some(to),
            _ => None,
        };
        let parties = [Some(&spec.caller), Some(&spec.callee), to];
        let in_pool: Vec<&String> = parties
            .into_iter()
            .flatten()
            .filter(|n| line(n) < 1_000)
            .collect();
        match target {
            None => assert!(in_pool.is_empty(), "call {i}"),
            Some(t) => {
                targeted += 1;
                roles.insert(t.party);
                assert_eq!(in_pool, [&t.slot.number()], "call {i}");
                let kind = t.slot.kind();
                match t.party {
                    Party::Caller => {
                        assert!(kind.outgoing_cii());
                        assert!(!spec.caller_anonymous_unavailable);
                    }
                    Party::Callee | Party::ForwardedTo => assert!(kind.incoming_cii()),
                }
            }
        }
    }
    assert_eq!(targeted, 60);
    assert_eq!(roles.len(), 3, "{roles:?}");
}

#[test]
fn replay_intercepts_exactly_the_targeted_dialogs() {
    let cfg = config(300, 7, 10);
    let work = tempfile::tempdir().unwrap();
    let (capture, warrants, out) = (
        work.path().join("gen.pcap"),
        work.path().join("warrants"),
        work.path().join("out"),
    );
    let (pcap, _, set) = generate_into(&cfg, &warrants);
    std::fs::write(&capture, pcap).unwrap();
    let (summary, refused) = crate::replay::replay(&capture, &warrants, &out).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(set.targeted_calls, 30);
    let redirected = (0..cfg.calls)
        .filter(|&i| {
            let plan = TargetPlan::new(cfg.calls, cfg.target_share);
            let (spec, _) = random_call(&cfg, &plan, i, cfg.start, &mut Rng::derive(cfg.seed, i));
            matches!(spec.outcome, Outcome::ForwardedBy3xx { .. })
        })
        .count() as u64;
    assert_eq!(summary.calls_seen, cfg.calls + redirected);
    assert_eq!((summary.calls_seen, summary.calls_intercepted), (320, 32));
    // Every targeted dialog and nothing else: untargeted calls never use a target number.
    let caller_redirects = targeted_calls(&cfg)
        .filter(|(_, _, t)| t.dialogs == 2)
        .count() as u64;
    assert_eq!(summary.calls_intercepted, set.targeted_dialogs());
    assert_eq!(
        set.targeted_dialogs(),
        set.targeted_calls + caller_redirects
    );
    println!(
        "calls {} seen {} intercepted {} (targeted {}, caller redirects {}), kinds {:?}",
        cfg.calls,
        summary.calls_seen,
        summary.calls_intercepted,
        set.targeted_calls,
        caller_redirects,
        set.kinds
    );
    assert_eq!(summary.liids.len() as u64, set.warrants);
    for k in set.kinds {
        let of_kind: Vec<_> = summary
            .liids
            .iter()
            .filter(|(liid, _)| liid.starts_with(&format!("GEN-{}-", kind_code(k.kind))))
            .map(|(_, c)| c)
            .collect();
        assert_eq!(of_kind.len() as u64, k.warrants, "{:?}", k.kind);
        let communications: u64 = of_kind.iter().map(|c| c.communications).sum();
        assert_eq!(communications, k.dialogs, "{:?}", k.kind);
        let cc: u64 = of_kind.iter().map(|c| c.cc_records).sum();
        if k.kind == OrderKind::TitleIii {
            assert!(cc > 1_000, "title-iii CC records {cc}");
        } else {
            assert_eq!(cc, 0, "{:?}", k.kind);
        }
        assert!(of_kind.iter().all(|c| c.iri_records >= c.communications));
    }
    for (liid, c) in &summary.liids {
        let expected = if (liid[7..].parse::<u64>().unwrap() / 4) % 2 == 0 {
            ETSI_AGENCY
        } else {
            LAES_AGENCY
        };
        assert_eq!(c.agency, expected, "{liid}");
    }
}

fn kind_code(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::PenRegister => "PR",
        OrderKind::TrapAndTrace => "TT",
        OrderKind::PenTrap => "PT",
        OrderKind::TitleIii => "T3",
    }
}

#[test]
fn zero_share_writes_agencies_only_and_stale_files_go() {
    let dir = tempfile::tempdir().unwrap();
    write_warrant_set(&config(100, 1, 50), dir.path()).unwrap();
    assert_eq!(files(dir.path()).len(), 1 + 17);
    std::fs::write(dir.path().join("KEEP.toml"), "# not generated\n").unwrap();
    let set = write_warrant_set(&config(100, 1, 0), dir.path()).unwrap();
    assert_eq!(
        (set.targeted_calls, set.warrants, set.targeted_dialogs()),
        (0, 0, 0)
    );
    let names: Vec<String> = files(dir.path()).into_keys().collect();
    assert_eq!(names, ["KEEP.toml", "agencies.toml"]);
}
