//! Lanes on real spools: placement by LIID, and lanes found again on disk after a restart.

use std::sync::{Arc, Mutex};

use super::*;
use crate::handover::{encode_cc, Direction, PduHeader};
use crate::Timestamp;

fn record(liid: &str, sequence: u32, payload: usize) -> Vec<u8> {
    let header = PduHeader {
        liid,
        authorization_country: "US",
        operator_id: "EXAMPLE-TEL",
        network_element_id: "MED-01",
        cin: 1,
        delivery_country: "US",
        sequence,
        ts: Timestamp::from_secs_micros(1_790_000_000, sequence),
    };
    let mut out = Vec::new();
    encode_cc(&mut out, &header, Direction::FromTarget, &vec![0x80; payload]);
    out
}

/// Lanes in `dir` whose "senders" only note which lane directories were started.
fn open(dir: &Path, lanes: usize) -> (Lanes, Arc<Mutex<Vec<PathBuf>>>) {
    let started: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let noted = started.clone();
    let start: StartSender = Box::new(move |q: Arc<Queue>| noted.lock().unwrap().push(q_dir(&q)));
    let options = SpoolOptions { fsync: false, ..SpoolOptions::default() };
    (Lanes::open("agency", Channel::Hi3, dir, options, lanes, start).unwrap(), started)
}

fn q_dir(q: &Queue) -> PathBuf {
    q.dir()
}

#[test]
fn liids_spread_over_lanes_and_a_hot_one_keeps_its_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let (lanes, started) = open(tmp.path(), 4);
    assert_eq!(lanes.append(&record("HOT", 0, 1200)).unwrap(), (0, 1));
    assert_eq!(lanes.append(&record("HOT", 1, 1200)).unwrap(), (0, 2), "unconfirmed: stays");
    assert_eq!(lanes.append(&record("LIGHT-1", 0, 10)).unwrap(), (1, 1));
    assert_eq!(lanes.append(&record("LIGHT-2", 0, 10)).unwrap(), (2, 1));
    assert_eq!(started.lock().unwrap().clone(), [0, 1, 2].map(|k| lane_dir(tmp.path(), k)));
    assert_eq!(lanes.unconfirmed_records(), 4);
}

#[test]
fn after_a_restart_every_lane_on_disk_is_sent_and_its_liids_stay_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let (lanes, _) = open(tmp.path(), 4);
        lanes.append(&record("SMALL", 0, 10)).unwrap();
        // BIG goes to lane 1 and loads it far beyond the margin.
        for i in 0..4 {
            assert_eq!(lanes.append(&record("BIG", i, 60_000)).unwrap().0, 1);
        }
        assert_eq!(lanes.append(&record("THIRD", 0, 10)).unwrap().0, 2);
    }
    // Reopened with fewer lanes configured than found: all three are opened and started.
    let (lanes, started) = open(tmp.path(), 1);
    assert_eq!(started.lock().unwrap().clone(), [0, 1, 2].map(|k| lane_dir(tmp.path(), k)));
    assert_eq!(lanes.unconfirmed_records(), 6);
    // BIG still has unconfirmed records on lane 1: its next record goes behind them, although
    // lane 2 is far less loaded.
    assert_eq!(lanes.append(&record("BIG", 4, 10)).unwrap(), (1, 5));
    assert_eq!(lanes.append(&record("NEW", 0, 10)).unwrap().0, 0);
}
