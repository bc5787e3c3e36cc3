//! Tests of the spool: byte-level behaviour and a model-based test against a simple model.

use super::*;
use crate::handover::{encode_keepalive, PduHeader};
use crate::Timestamp;

fn pdu(seq: u32) -> Vec<u8> {
    let h = PduHeader {
        liid: "LIID-1",
        authorization_country: "US",
        operator_id: "OP",
        network_element_id: "NE",
        cin: 1,
        delivery_country: "US",
        sequence: seq,
        ts: Timestamp::from_secs_micros(1_700_000_000, 5),
    };
    let mut out = Vec::new();
    encode_keepalive(&mut out, &h);
    out
}

#[test]
fn appended_records_read_back_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    let (a, b) = (pdu(0), pdu(1));
    s.append(&a).unwrap();
    s.append(&b).unwrap();
    s.sync().unwrap();
    let chunk = s.read(Position::default(), 1 << 16).unwrap();
    assert_eq!(chunk.records, 2);
    assert_eq!(chunk.bytes, [a.clone(), b.clone()].concat());
    drop(s);
    let s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(s.unconfirmed_records(), 2);
    assert_eq!(s.unconfirmed_bytes(), (a.len() + b.len()) as u64);
}

#[test]
fn confirmed_records_are_not_read_again_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    let (a, b) = (pdu(0), pdu(1));
    s.append(&a).unwrap();
    s.append(&b).unwrap();
    s.sync().unwrap();
    let first = s.read(Position::default(), a.len()).unwrap();
    assert_eq!(first.records, 1);
    s.confirm(first.end, 1, a.len() as u64).unwrap();
    drop(s);
    let s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(s.confirmed(), first.end);
    let rest = s.read(s.confirmed(), 1 << 16).unwrap();
    assert_eq!(rest.bytes, b);
    assert_eq!(s.unconfirmed_records(), 1);
}

#[test]
fn torn_tail_record_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    let a = pdu(0);
    s.append(&a).unwrap();
    drop(s);
    let seg = segment_path(dir.path(), 0);
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&pdu(1)[..7]).unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), a.len() as u64);
    s.append(&pdu(2)).unwrap();
    s.sync().unwrap();
    let all = s.read(Position::default(), 1 << 16).unwrap();
    assert_eq!(all.bytes, [a, pdu(2)].concat());
}

#[test]
fn full_spool_refuses_until_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let a = pdu(0);
    let mut s = Spool::open(dir.path(), a.len() as u64 + 1).unwrap();
    s.append(&a).unwrap();
    assert!(matches!(s.append(&a), Err(SpoolError::Full { .. })));
    s.sync().unwrap();
    let c = s.read(Position::default(), 1 << 16).unwrap();
    s.confirm(c.end, c.records, c.bytes.len() as u64).unwrap();
    s.append(&a).unwrap();
    assert_eq!(s.unconfirmed_records(), 1);
}

#[test]
fn confirmed_segments_are_deleted_and_reads_cross_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), u64::MAX).unwrap();
    let a = pdu(0);
    s.append(&a).unwrap();
    s.rotate().unwrap();
    s.append(&a).unwrap();
    s.sync().unwrap();
    let first = s.read(Position::default(), 1 << 16).unwrap();
    assert_eq!((first.records, first.end), (1, Position { segment: 0, offset: a.len() as u64 }));
    let second = s.read(first.end, 1 << 16).unwrap();
    assert_eq!((second.records, second.end), (1, Position { segment: 1, offset: a.len() as u64 }));
    s.confirm(second.end, 2, 2 * a.len() as u64).unwrap();
    assert!(!segment_path(dir.path(), 0).exists());
    assert_eq!(s.unconfirmed_records(), 0);
}

proptest::proptest! {
    #[test]
    fn arbitrary_segment_bytes_open_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(segment_path(dir.path(), 0), &bytes).unwrap();
        let s = Spool::open(dir.path(), u64::MAX).unwrap();
        let chunk = s.read(Position::default(), 1 << 16).unwrap();
        proptest::prop_assert_eq!(chunk.bytes.len() as u64, s.unconfirmed_bytes());
    }
}

/// A BER record (a SEQUENCE) of `len` payload octets of `fill`.
fn record(len: u8, fill: u8) -> Vec<u8> {
    let len = len % 120;
    let mut r = vec![0x30, len];
    r.extend(std::iter::repeat_n(fill, usize::from(len)));
    r
}

#[derive(Clone, Debug)]
enum Op {
    Append(u8, u8),
    Sync,
    /// Read from the confirmed position, at most this many bytes, and confirm it.
    Deliver(u16),
    Reopen,
    /// Power loss: the unsynced part of the tail keeps this share (of 255) and gets this
    /// many zero octets after it.
    Crash(u8, u8),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (any::<u8>(), any::<u8>()).prop_map(|(l, f)| Op::Append(l, f)),
        2 => Just(Op::Sync),
        3 => (1u16..600).prop_map(Op::Deliver),
        1 => Just(Op::Reopen),
        1 => (any::<u8>(), 0u8..40).prop_map(|(k, z)| Op::Crash(k, z)),
    ]
}

/// The model: every record ever accepted in order, how many are confirmed, and how many
/// are certainly durable.
#[derive(Default)]
struct Model {
    records: Vec<Vec<u8>>,
    confirmed: usize,
    durable: usize,
}

impl Model {
    fn unconfirmed_bytes(&self) -> u64 {
        self.records[self.confirmed..].iter().map(|r| r.len() as u64).sum()
    }
}

const MODEL_LIMIT: u64 = 1500;

fn model_options() -> SpoolOptions {
    SpoolOptions { limit: MODEL_LIMIT, segment_bytes: 300, headroom: false, ..SpoolOptions::default() }
}

/// Every record readable from the confirmed position without syncing.
fn readable(s: &Spool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = s.confirmed();
    loop {
        let c = s.read(at, 97).unwrap();
        if c.records == 0 {
            return out;
        }
        out.extend_from_slice(&c.bytes);
        at = c.end;
    }
}

fn tail_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seg-")))
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Random append/sync/deliver/reopen/power-loss sequences against the model: nothing
    /// confirmed is handed out again, nothing unconfirmed is lost once durable, only whole
    /// records in order are ever read, a lost tail is always a suffix of unsynced records,
    /// and the size limit holds.
    #[test]
    fn spool_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        use proptest::prop_assert;
        use proptest::prop_assert_eq;
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open_with(dir.path(), model_options()).unwrap();
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Append(len, fill) => {
                    let r = record(len, fill);
                    let room = m.unconfirmed_bytes() == 0 || m.unconfirmed_bytes() + r.len() as u64 <= MODEL_LIMIT;
                    match s.append(&r) {
                        Ok(()) => { prop_assert!(room); m.records.push(r); }
                        Err(SpoolError::Full { .. }) => prop_assert!(!room),
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Sync => {
                    s.sync().unwrap();
                    m.durable = m.records.len();
                }
                Op::Deliver(max) => {
                    let c = s.read(s.confirmed(), usize::from(max)).unwrap();
                    let n = c.records as usize;
                    prop_assert_eq!(&c.bytes, &m.records[m.confirmed..m.confirmed + n].concat());
                    s.confirm(c.end, c.records, c.bytes.len() as u64).unwrap();
                    m.confirmed += n;
                    m.durable = m.durable.max(m.confirmed);
                }
                Op::Reopen => {
                    drop(s);
                    s = Spool::open_with(dir.path(), model_options()).unwrap();
                    m.durable = m.records.len();
                }
                Op::Crash(keep, zeros) => {
                    let (synced, confirmed) = (s.synced(), s.confirmed());
                    prop_assert!(confirmed <= synced, "only durable records are sent and confirmed");
                    drop(s);
                    let tail = tail_segment(dir.path());
                    let len = fs::metadata(&tail).unwrap().len();
                    let tail_n: u64 = tail.file_name().unwrap().to_str().unwrap()[4..20].parse().unwrap();
                    let floor = if synced.segment == tail_n { synced.offset.min(len) } else { 0 };
                    let cut = floor + (len - floor) * u64::from(keep) / 255;
                    let f = OpenOptions::new().write(true).open(&tail).unwrap();
                    f.set_len(cut + u64::from(zeros)).unwrap();
                    drop(f);
                    s = Spool::open_with(dir.path(), model_options()).unwrap();
                    prop_assert_eq!(s.confirmed(), confirmed, "everything sent survived");
                    // What survived is the records up to some point at or after the durable ones.
                    let survivors = m.confirmed + s.unconfirmed_records() as usize;
                    prop_assert!(survivors >= m.durable && survivors <= m.records.len(),
                        "{} survive, {} durable, {} appended", survivors, m.durable, m.records.len());
                    m.records.truncate(survivors);
                    m.durable = survivors;
                }
            }
            prop_assert_eq!(s.unconfirmed_records() as usize, m.records.len() - m.confirmed);
            prop_assert_eq!(s.unconfirmed_bytes(), m.unconfirmed_bytes());
            let got = readable(&s);
            let want = m.records[m.confirmed..].concat();
            prop_assert!(want.starts_with(&got), "readable records are a prefix of the unconfirmed ones");
            let segments = fs::read_dir(dir.path()).unwrap().count();
            prop_assert!(segments <= 2 + (m.unconfirmed_bytes() / 300 + 2) as usize, "confirmed segments are deleted");
        }
        s.sync().unwrap();
        prop_assert_eq!(readable(&s), m.records[m.confirmed..].concat());
    }
}

#[test]
fn a_reader_at_the_end_of_a_segment_closed_while_idle_goes_on_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let options = SpoolOptions { segment_bytes: 4 * pdu(0).len() as u64, headroom: false, ..SpoolOptions::default() };
    let mut s = Spool::open_with(dir.path(), options).unwrap();
    s.append(&pdu(0)).unwrap();
    s.sync().unwrap();
    let c = s.read(Position::default(), 1 << 16).unwrap();
    s.confirm(c.end, c.records, c.bytes.len() as u64).unwrap();
    // Everything is confirmed and the tail is a quarter full: the next append closes and
    // deletes it, while a sender still stands at its end.
    s.append(&pdu(1)).unwrap();
    assert!(!segment_path(dir.path(), 0).exists());
    s.sync().unwrap();
    let next = s.read(c.end, 1 << 16).unwrap();
    assert_eq!((next.records, next.bytes), (1, pdu(1)));
}
