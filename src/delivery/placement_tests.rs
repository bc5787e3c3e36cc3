//! Model-based tests of placement: lanes modelled as FIFOs of (LIID, sequence, bytes) that
//! the agency confirms from the front, in any interleaving of lanes.

use std::collections::{HashMap, VecDeque};

use proptest::prelude::*;

use super::*;

#[derive(Clone, Debug)]
enum Op {
    /// A record of LIID `liid` of `bytes` octets is spooled.
    Append { liid: u8, bytes: u64 },
    /// The agency confirms the oldest `n` records of lane `lane`.
    Confirm { lane: usize, n: usize },
}

fn op(lanes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, prop_oneof![Just(270u64), Just(1312u64), Just(200_000u64)])
            .prop_map(|(liid, bytes)| Op::Append { liid, bytes }),
        2 => (0..lanes, 1usize..8).prop_map(|(lane, n)| Op::Confirm { lane, n }),
    ]
}

/// One lane of the model: its records in spool order and how many were confirmed.
#[derive(Default)]
struct Lane {
    unconfirmed: VecDeque<(u8, u64, u64)>,
    appended: u64,
    confirmed: u64,
}

impl Lane {
    fn load(&self) -> LaneLoad {
        LaneLoad { unconfirmed_bytes: self.unconfirmed.iter().map(|r| r.2).sum(), confirmed: self.confirmed }
    }
}

proptest! {
    #[test]
    fn records_of_one_liid_are_delivered_in_spool_order(lanes in 1usize..5, ops in prop::collection::vec(op(4), 1..300)) {
        let mut placement = Placement::new(lanes);
        let mut model: Vec<Lane> = (0..lanes).map(|_| Lane::default()).collect();
        let mut next_sequence: HashMap<u8, u64> = HashMap::new();
        let mut delivered: HashMap<u8, Vec<u64>> = HashMap::new();
        for op in ops {
            match op {
                Op::Append { liid, bytes } => {
                    let key = [liid];
                    let lane = placement.place(Some(&key), |k| model[k].load());
                    prop_assert!(lane < lanes);
                    // Moved only with nothing unconfirmed in any other lane.
                    for (k, other) in model.iter().enumerate() {
                        if k != lane {
                            prop_assert!(other.unconfirmed.iter().all(|r| r.0 != liid), "LIID {liid} moved to lane {lane} with records unconfirmed in lane {k}");
                        }
                    }
                    let sequence = next_sequence.entry(liid).or_default();
                    let l = &mut model[lane];
                    l.appended += 1;
                    l.unconfirmed.push_back((liid, *sequence, bytes));
                    *sequence += 1;
                    placement.appended(Some(&key), lane, l.appended);
                }
                Op::Confirm { lane, n } => {
                    let Some(l) = model.get_mut(lane) else { continue };
                    for _ in 0..n {
                        let Some((liid, sequence, _)) = l.unconfirmed.pop_front() else { break };
                        l.confirmed += 1;
                        delivered.entry(liid).or_default().push(sequence);
                    }
                }
            }
        }
        for (liid, seqs) in delivered {
            prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]), "LIID {liid} delivered out of order: {seqs:?}");
        }
    }

    #[test]
    fn an_liid_with_nothing_unconfirmed_goes_to_a_least_loaded_lane_within_the_margin(
        loads in prop::collection::vec(0u64..1_000_000, 1..8),
        current in 0usize..8,
    ) {
        let lanes = loads.len();
        let mut placement = Placement::new(lanes);
        let current = current % lanes;
        placement.appended(Some(b"L"), current, 1);
        let load = |k: usize| LaneLoad { unconfirmed_bytes: loads[k], confirmed: 1 };
        let lane = placement.place(Some(b"L"), load);
        let least = *loads.iter().min().unwrap_or(&0);
        prop_assert!(loads[lane] <= least + MOVE_MARGIN);
        if lane != current {
            prop_assert_eq!(loads[lane], least);
            prop_assert!(loads[current] > least + MOVE_MARGIN);
        }
    }
}

#[test]
fn a_light_liid_avoids_the_lane_of_a_hot_one() {
    let mut p = Placement::new(3);
    let mut loads = [LaneLoad::default(); 3];
    // The hot LIID takes lane 0 and builds a backlog.
    for n in 1..=1000 {
        let lane = p.place(Some(b"HOT"), |k| loads[k]);
        assert_eq!(lane, 0);
        loads[0].unconfirmed_bytes += 1312;
        p.appended(Some(b"HOT"), 0, n);
    }
    let light = p.place(Some(b"LIGHT"), |k| loads[k]);
    assert_eq!(light, 1, "first lane not behind the hot one");
    assert_eq!(p.place(None, |k| loads[k]), 0, "records without an LIID stay on lane 0");
}

#[test]
fn an_liid_with_unconfirmed_records_stays_even_behind_a_backlog() {
    let mut p = Placement::new(2);
    let mut loads = [LaneLoad::default(); 2];
    p.appended(Some(b"A"), 0, 5);
    loads[0] = LaneLoad { unconfirmed_bytes: 10 << 20, confirmed: 4 };
    assert_eq!(p.place(Some(b"A"), |k| loads[k]), 0, "record 5 not confirmed: A stays");
    loads[0].confirmed = 5;
    assert_eq!(p.place(Some(b"A"), |k| loads[k]), 1, "drained: A moves off the loaded lane");
}
