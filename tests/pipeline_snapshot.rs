//! A pipeline restored from its snapshot at a barrier carries calls in progress on exactly:
//! a generated capture (every order kind, `etsi` and `laes` agencies, re-INVITEs, forwarding,
//! RTP, RTCP, digits, idle expiry) run once uninterrupted with snapshots taken at seeded
//! random cut points; then, for each cut, a fresh mediator and sequencer built from the bytes
//! alone, fed the frames from the cut on. Output before the cut plus the restored run's
//! equals the uninterrupted run's byte for byte, single-threaded and threaded. Corrupt,
//! truncated or other-version bytes are refused with the typed error, never a panic.
//!
//! SIP over TCP is left out of the capture: the mediation function receives SIP from X2 as
//! UDP datagrams (`x2x3::ingest`), and followed TCP streams are not part of the snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tapline::gen::{generate, write_warrant_set, GenConfig};
use tapline::handover::sequencer::{AgencyOutput, Channel, Sequencer};
use tapline::mediation::snapshot::{MediatorSnapshot, SnapshotError};
use tapline::mediation::{CinAllocator, Mediator, MediatorConfig, Record};
use tapline::metrics::Metrics;
use tapline::pipeline::{self, snapshot, EncodeStage, FrameSource, NoHook, PacketHook, PipelineConfig};
use tapline::warrant::{Store, WarrantTable};
use tapline::Timestamp;

/// Every PDU of every (agency, channel), length-prefixed, in order.
#[derive(Default)]
struct Mem {
    streams: BTreeMap<(usize, Channel), Vec<u8>>,
}

impl AgencyOutput for Mem {
    fn write_pdu(&mut self, agency: usize, channel: Channel, pdu: &[u8]) {
        let s = self.streams.entry((agency, channel)).or_default();
        s.extend_from_slice(&(pdu.len() as u32).to_le_bytes());
        s.extend_from_slice(pdu);
    }
}

/// A barrier before each frame index in `at`.
struct Cuts {
    at: BTreeSet<u64>,
    seen: u64,
}

struct Cut {
    index: u64,
    mediator: Option<MediatorSnapshot>,
}

impl PacketHook for Cuts {
    type Update = Cut;
    fn before(&mut self, _: &mut Mediator, _: Timestamp) -> Option<Cut> {
        let index = self.seen;
        self.seen += 1;
        self.at.contains(&index).then_some(Cut { index, mediator: None })
    }
    fn snapshot_due(&self, _: &Cut) -> bool {
        true
    }
    fn snapshot(&mut self, mediator: &Mediator, cut: &mut Cut) {
        cut.mediator = Some(mediator.snapshot());
    }
}

/// Bytes of each (agency, channel) stream so far.
type Lengths = BTreeMap<(usize, Channel), usize>;

/// The sequencer, and at each cut its frame index, the snapshot bytes and the stream lengths.
struct Taking {
    sequencer: Sequencer<Mem>,
    taken: Vec<(u64, Vec<u8>, Lengths)>,
}

impl EncodeStage for Taking {
    type Update = Cut;
    fn record(&mut self, record: &Record<'_>) {
        tapline::mediation::RecordSink::record(&mut self.sequencer, record);
    }
    fn update(&mut self, cut: Cut) {
        let mediator = cut.mediator.expect("the pipeline took the mediator's snapshot");
        let bytes = snapshot::encode(&mediator, &self.sequencer);
        let lens = self.sequencer.output().streams.iter().map(|(k, v)| (*k, v.len())).collect();
        self.taken.push((cut.index, bytes, lens));
    }
}

fn config() -> MediatorConfig {
    // Idle calls expire during the run: restored last-media times and sweep times matter.
    // Shorter than the talk: a call stays up only through its media.
    MediatorConfig { idle_timeout_ns: 4_000_000_000, ..MediatorConfig::default() }
}

fn pipeline_config(media_shards: usize) -> PipelineConfig {
    let mut p = PipelineConfig { media_shards, ..PipelineConfig::default() };
    p.batch.frames = 64;
    p
}

/// The pcap's records (header + data each), after the 24-byte global header.
fn records(pcap: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    assert_eq!(&pcap[..4], &0xa1b2c3d4u32.to_le_bytes(), "a little-endian microsecond pcap");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(pcap[at..at + 16 + incl].to_vec());
        at += 16 + incl;
    }
    (pcap[..24].to_vec(), out)
}

/// Whether an Ethernet frame carries TCP (over IPv4 or IPv6, VLAN-tagged or not).
fn is_tcp(frame: &[u8]) -> bool {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
    while ethertype == 0x8100 {
        at += 4;
        ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
    }
    let ip = at + 2;
    match ethertype {
        0x0800 => frame[ip + 9] == 6,
        0x86dd => frame[ip + 6] == 6,
        _ => false,
    }
}

fn write_pcap(path: &Path, header: &[u8], recs: &[Vec<u8>]) {
    let mut bytes = header.to_vec();
    for r in recs {
        bytes.extend_from_slice(r);
    }
    fs::write(path, bytes).unwrap();
}

struct Setup {
    _dir: tempfile::TempDir,
    warrants: std::path::PathBuf,
    header: Vec<u8>,
    frames: Vec<Vec<u8>>,
    full: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("gen.pcap");
    let warrants = dir.path().join("warrants");
    let mut cfg = GenConfig::new(160, 40, 23);
    cfg.target_share = 40;
    cfg.talk = Duration::from_secs(12);
    generate(&cfg, fs::File::create(&capture).unwrap()).unwrap();
    write_warrant_set(&cfg, &warrants).unwrap();
    let (header, all) = records(&fs::read(&capture).unwrap());
    let frames: Vec<Vec<u8>> = all.into_iter().filter(|r| !is_tcp(&r[16..])).collect();
    let full = dir.path().join("udp.pcap");
    write_pcap(&full, &header, &frames);
    Setup { _dir: dir, warrants, header, frames, full }
}

fn store(warrants: &Path) -> (Arc<WarrantTable>, Sequencer<Mem>) {
    let (store, refused) = Store::load_dir(warrants).unwrap();
    assert!(refused.is_empty());
    let table = Arc::new(WarrantTable::with_numbering(store.warrants, store.appliance.numbering.clone()));
    (table, Sequencer::new(store.appliance, store.agencies, Mem::default()))
}

/// Cut points from a small seeded generator (xorshift), spread over the capture.
fn cut_points(frames: usize, k: usize, seed: u64) -> BTreeSet<u64> {
    let mut x = seed;
    let mut out = BTreeSet::new();
    while out.len() < k {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.insert(1 + x % (frames as u64 - 2));
    }
    out
}

fn restored_equals_uninterrupted(media_shards: usize) {
    let s = setup();
    let stop = AtomicBool::new(false);
    let metrics = Metrics::new();
    let (table, sequencer) = store(&s.warrants);
    let mediator = Mediator::with_config(Arc::clone(&table), config(), CinAllocator::new());
    let cuts = Cuts { at: cut_points(s.frames.len(), 6, 0x5eed + media_shards as u64), seen: 0 };
    let source = FrameSource::Pcap { path: s.full.clone(), rate: None };
    let done = pipeline::run(&source, mediator, (), Taking { sequencer, taken: Vec::new() }, cuts, &stop, &pipeline_config(media_shards), &metrics)
        .unwrap();
    assert!(done.mediation.calls_expired_idle > 0, "idle calls expire during the run");
    assert!(done.mediation.cc_records > 1000 && done.mediation.iri_records > 100, "a real workload: {:?}", done.mediation);
    let full = done.encoder.sequencer.output().streams.clone();
    assert_eq!(full.keys().filter(|(_, c)| *c == Channel::Hi3).count(), 2, "content for both agencies (etsi and laes)");
    let taken = done.encoder.taken;
    assert_eq!(taken.len(), 6);
    let mut mid_call = 0;
    for (index, bytes, lens) in taken {
        let (table, mut sequencer) = store(&s.warrants);
        let mediator = snapshot::restore(&bytes, table, config(), CinAllocator::new(), &mut sequencer).unwrap();
        if mediator.active_calls() > 0 {
            mid_call += 1;
        }
        let rest = s._dir.path().join(format!("rest-{index}.pcap"));
        write_pcap(&rest, &s.header, &s.frames[index as usize..]);
        let source = FrameSource::Pcap { path: rest, rate: None };
        let done = pipeline::run(&source, mediator, (), sequencer, NoHook::default(), &stop, &pipeline_config(media_shards), &metrics)
            .unwrap();
        let got = done.encoder.output().streams.clone();
        for (key, whole) in &full {
            let before = lens.get(key).copied().unwrap_or(0);
            let after = got.get(key).map(Vec::as_slice).unwrap_or_default();
            assert!(
                whole[before..] == *after,
                "{media_shards} shards, cut before frame {index}: stream {key:?} differs after restore ({} bytes expected, {} got)",
                whole.len() - before,
                after.len()
            );
        }
        assert!(got.keys().all(|k| full.contains_key(k)), "no stream the uninterrupted run did not have");
    }
    assert!(mid_call >= 5, "the cuts fall inside calls in progress ({mid_call} of 6)");
}

#[test]
fn restored_pipeline_equals_uninterrupted_single_threaded() {
    restored_equals_uninterrupted(0);
}

#[test]
fn restored_pipeline_equals_uninterrupted_threaded() {
    restored_equals_uninterrupted(3);
}

#[test]
fn corrupt_truncated_or_other_version_snapshots_are_refused() {
    let s = setup();
    let stop = AtomicBool::new(false);
    let metrics = Metrics::new();
    let (table, sequencer) = store(&s.warrants);
    let mediator = Mediator::with_config(Arc::clone(&table), config(), CinAllocator::new());
    let cuts = Cuts { at: [s.frames.len() as u64 / 3].into(), seen: 0 };
    let source = FrameSource::Pcap { path: s.full.clone(), rate: None };
    let done = pipeline::run(&source, mediator, (), Taking { sequencer, taken: Vec::new() }, cuts, &stop, &pipeline_config(0), &metrics)
        .unwrap();
    let bytes = done.encoder.taken[0].1.clone();
    let restore = |b: &[u8]| {
        let (table, mut sequencer) = store(&s.warrants);
        snapshot::restore(b, table, config(), CinAllocator::new(), &mut sequencer).map(|m| m.active_calls())
    };
    assert!(restore(&bytes).unwrap() > 0, "the cut is inside calls");

    let mut other = bytes.clone();
    other[4] = 9;
    assert_eq!(restore(&other).err(), Some(SnapshotError::Version { found: 9, supported: snapshot::VERSION }));
    assert_eq!(restore(b"PCAP\x01\x00").err(), Some(SnapshotError::Magic));
    assert_eq!(restore(&[]).err(), Some(SnapshotError::Magic));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(restore(&longer).err(), Some(SnapshotError::Trailing(1)));
    // Every truncation is refused.
    let step = (bytes.len() / 300).max(1);
    for n in (0..bytes.len()).step_by(step) {
        assert!(restore(&bytes[..n]).is_err(), "a snapshot cut to {n} of {} bytes is refused", bytes.len());
    }
    // Bit flips: refused or restored, never a panic (a flipped fingerprint or time decodes).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut refused = 0;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = bytes.clone();
        let at = (x % b.len() as u64) as usize;
        b[at] ^= 1 << (x >> 61);
        if restore(&b).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0, "some flips land on lengths, tags or versions");
}
