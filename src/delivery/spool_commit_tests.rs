//! Tests of the publish gate and of cutting a spool back to a checkpoint: a model-based
//! test (checkpoints, deliveries, kills with torn tails, restarts cut back to the last
//! checkpoint) and the refusals.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::super::{segment_path, Position, Spool, SpoolError, SpoolOptions};

/// A BER record (a SEQUENCE) of `len` payload octets of `fill`.
fn record(len: u8, fill: u8) -> Vec<u8> {
    let len = len % 120;
    let mut r = vec![0x30, len];
    r.extend(std::iter::repeat_n(fill, usize::from(len)));
    r
}

fn options() -> SpoolOptions {
    SpoolOptions { segment_bytes: 300, headroom: false, ..SpoolOptions::default() }
}

/// Every record the sender may have now, from the confirmed position.
fn sendable(s: &Spool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = s.confirmed();
    loop {
        let c = s.read(at, 97).expect("read");
        if c.records == 0 {
            return out;
        }
        out.extend_from_slice(&c.bytes);
        at = c.end;
    }
}

/// A kill inside a write: half a record at the end of the tail segment.
fn tear_tail(dir: &Path) {
    let mut segs: Vec<_> = fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seg-")))
        .collect();
    segs.sort();
    let tail = segs.pop().expect("a segment");
    let mut f = OpenOptions::new().append(true).open(tail).expect("tail");
    f.write_all(&[0x30, 50, 1, 2, 3]).expect("torn record");
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8, u8),
    /// Sync, then publish everything: the checkpoint's marks are the end now.
    Checkpoint,
    /// The sender reads at most this many bytes of what is published and confirms them.
    Deliver(u16),
    /// SIGKILL (with a torn tail or not), reopen, cut back to the last checkpoint, gate.
    Restart(bool),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (any::<u8>(), any::<u8>()).prop_map(|(l, f)| Op::Append(l, f)),
        2 => Just(Op::Checkpoint),
        3 => (1u16..600).prop_map(Op::Deliver),
        1 => any::<bool>().prop_map(Op::Restart),
    ]
}

/// Every record appended and not cut, how many are confirmed and published, and the last
/// checkpoint: the spool's end then and the records before it.
struct Model {
    records: Vec<Vec<u8>>,
    confirmed: usize,
    published: usize,
    mark: (Position, usize),
}

fn open_gated(dir: &Path, mark: Position) -> Spool {
    let mut s = Spool::open_with(dir, options()).expect("open");
    s.cut_back(mark).expect("cut back to the checkpoint");
    s.hold_unpublished();
    s
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// The sender only ever has the records of the last checkpoint not yet confirmed, in
    /// order and whole; a restart cuts exactly the records after the last checkpoint (torn
    /// tail or not), never one before it, and keeps the confirmed position.
    #[test]
    fn publish_and_cut_back_behave_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        use proptest::prop_assert_eq;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = open_gated(dir.path(), Position::default());
        let mut m = Model { records: Vec::new(), confirmed: 0, published: 0, mark: (Position::default(), 0) };
        for op in ops {
            match op {
                Op::Append(len, fill) => {
                    let r = record(len, fill);
                    s.append(&r).expect("append");
                    m.records.push(r);
                }
                Op::Checkpoint => {
                    s.sync().expect("sync");
                    let end = s.end();
                    s.publish(end);
                    m.published = m.records.len();
                    m.mark = (end, m.records.len());
                }
                Op::Deliver(max) => {
                    let c = s.read(s.confirmed(), usize::from(max)).expect("read");
                    let n = c.records as usize;
                    prop_assert_eq!(&c.bytes, &m.records[m.confirmed..m.confirmed + n].concat());
                    s.confirm(c.end, c.records, c.bytes.len() as u64).expect("confirm");
                    m.confirmed += n;
                }
                Op::Restart(torn) => {
                    let confirmed = s.confirmed();
                    drop(s);
                    if torn {
                        tear_tail(dir.path());
                    }
                    s = open_gated(dir.path(), m.mark.0);
                    prop_assert_eq!(s.confirmed(), confirmed);
                    m.records.truncate(m.mark.1);
                    m.published = m.records.len();
                }
            }
            proptest::prop_assert!(m.confirmed <= m.published);
            prop_assert_eq!(s.unconfirmed_records() as usize, m.records.len() - m.confirmed);
            prop_assert_eq!(sendable(&s), m.records[m.confirmed..m.published].concat());
        }
    }
}

fn spool_of(dir: &Path, n: u8) -> Spool {
    let mut s = Spool::open_with(dir, options()).expect("open");
    for i in 0..n {
        s.append(&record(40, i)).expect("append");
    }
    s.sync().expect("sync");
    s
}

#[test]
fn a_gate_holds_synced_records_until_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = spool_of(dir.path(), 1);
    s.hold_unpublished();
    s.append(&record(40, 9)).expect("append");
    s.sync().expect("sync");
    assert_eq!(sendable(&s), record(40, 0), "synced but not published: held");
    s.publish(s.end());
    assert_eq!(sendable(&s), [record(40, 0), record(40, 9)].concat());
}

#[test]
fn cutting_before_the_confirmed_position_past_the_end_or_inside_a_record_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = spool_of(dir.path(), 3);
    let one = s.read(Position::default(), 42).expect("read");
    assert_eq!(one.records, 1);
    s.confirm(one.end, 1, 42).expect("confirm");
    let reason = |r: Result<u64, SpoolError>| match r {
        Err(SpoolError::Cut { reason, path, .. }) => {
            assert_eq!(path, dir.path());
            reason
        }
        other => panic!("refused: {other:?}"),
    };
    assert!(reason(s.cut_back(Position::default())).contains("before the confirmed"));
    assert!(reason(s.cut_back(Position { segment: 0, offset: 500 })).contains("past the spool's end"));
    assert!(reason(s.cut_back(Position { segment: 3, offset: 0 })).contains("past the spool's end"));
    assert!(reason(s.cut_back(Position { segment: 0, offset: 50 })).contains("record boundary"));
    assert_eq!(s.unconfirmed_records(), 2, "nothing cut by a refusal");
    assert_eq!(s.cut_back(one.end).expect("cut at the confirmed position"), 2);
    assert_eq!(s.unconfirmed_records(), 0);
}

/// Segment 0 filled (8 records of 42 octets, past the 300-octet segment size), the
/// checkpoint at its end, everything confirmed, then 2 records in segment 1 (the first
/// append closed segment 0 and deleted it). `confirm_more`: the first of them confirmed too.
fn past_a_deleted_segment(dir: &Path, confirm_more: bool) -> (Spool, Position) {
    let mut s = spool_of(dir, 8);
    let mark = s.end();
    assert_eq!(mark, Position { segment: 0, offset: 8 * 42 });
    let all = s.read(Position::default(), 1 << 16).expect("read");
    s.confirm(all.end, all.records, all.bytes.len() as u64).expect("confirm");
    s.append(&record(40, 8)).expect("append: starts segment 1");
    s.append(&record(40, 9)).expect("append");
    s.sync().expect("sync");
    if confirm_more {
        let c = s.read(Position { segment: 1, offset: 0 }, 42).expect("read");
        s.confirm(c.end, c.records, c.bytes.len() as u64).expect("confirm");
    }
    assert!(!segment_path(dir, 0).exists(), "segment 0 is wholly confirmed and deleted");
    drop(s);
    (Spool::open_with(dir, options()).expect("reopen"), mark)
}

#[test]
fn a_checkpoint_at_the_end_of_a_segment_deleted_since_is_the_confirmed_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut s, mark) = past_a_deleted_segment(dir.path(), false);
    assert_eq!(s.cut_back(mark).expect("the deleted segment's end"), 2);
    assert_eq!((s.unconfirmed_records(), s.end()), (0, Position { segment: 1, offset: 0 }));
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut s, mark) = past_a_deleted_segment(dir.path(), true);
    match s.cut_back(mark) {
        Err(SpoolError::Cut { reason, .. }) => assert!(reason.contains("deleted segment"), "{reason}"),
        other => panic!("records after the mark were confirmed: refused, not {other:?}"),
    }
    assert_eq!(s.unconfirmed_records(), 1);
}

#[test]
fn the_size_limit_counts_published_records_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SpoolOptions { limit: 100, ..options() };
    let mut s = Spool::open_with(dir.path(), options).expect("open");
    s.hold_unpublished();
    for i in 0..5 {
        assert!(s.has_room(42), "unpublished records never fill the spool");
        s.append(&record(40, i)).expect("append");
    }
    assert_eq!(s.unpublished_bytes(), 5 * 42);
    s.sync().expect("sync");
    s.publish(s.end());
    assert_eq!(s.unpublished_bytes(), 0);
    assert!(!s.has_room(42), "published and undelivered: full");
    assert!(matches!(s.append(&record(40, 9)), Err(SpoolError::Full { .. })));
    let c = s.read(s.confirmed(), 1 << 16).expect("read");
    s.confirm(c.end, c.records, c.bytes.len() as u64).expect("confirm");
    assert!(s.has_room(42));
}
