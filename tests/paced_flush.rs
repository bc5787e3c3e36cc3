//! Issue 15: batches flush on a deadline at every stage, not only when full. A paced replay
//! (`Rate::Speed(1.0)`: the capture's own timing) of a tapped call that sets up, talks for
//! a moment and then pauses has every record of the frames before the pause in the
//! agency's files before the pause ends — byte for byte what a replay of those frames
//! alone writes — on the threaded pipeline and on one thread. The only time bound is that
//! generous one: the frames before the pause span 0.13 s of a 3 s pause.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::handbuilt::{agencies, ep, warrant, Call, Capture};
use common::output::{replay_all_loaded, streams};
use tapline::capture::Rate;
use tapline::pipeline::PipelineConfig;
use tapline::replay::ReplayOptions;

/// The pause in the capture, after the call is set up and has talked a little.
const PAUSE_MS: u64 = 3_000;

/// A tapped call: setup and 9 RTP packets (an odd count of records, so that the last
/// frame's records are never written out with a later frame's by the file deadline); with
/// `rest`, then the pause, 5 more each way and the release.
fn capture(rest: bool) -> Capture {
    let mut cap = Capture::default();
    let call = Call::new("paced-1", "sip:1001@pbx.example", "sip:2001@pbx.example");
    let (uac, uas) = (ep(1, 5060), ep(2, 5060));
    let (a, b) = (ep(10, 40_000), ep(11, 40_002));
    let signal = |cap: &mut Capture, messages: Vec<(bool, Vec<u8>)>| {
        for (from_caller, m) in messages {
            if from_caller { cap.udp(uac, uas, &m) } else { cap.udp(uas, uac, &m) }
        }
    };
    signal(&mut cap, call.setup(a, b));
    cap.rtp(a, b, 0x1000, 5);
    cap.rtp(b, a, 0x2000, 4);
    if rest {
        cap.ms += PAUSE_MS;
        cap.rtp(a, b, 0x1001, 5);
        cap.rtp(b, a, 0x2001, 5);
        signal(&mut cap, call.release());
    }
    cap
}

fn warrants(dir: &Path) -> PathBuf {
    let wdir = dir.join("warrants");
    fs::create_dir_all(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), agencies(&[])).unwrap();
    fs::write(wdir.join("T3.toml"), warrant("T3", "title-iii", "a", "sip:2001@pbx.example")).unwrap();
    wdir
}

fn records_are_out_before_the_pause_ends(pipeline: PipelineConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let wdir = warrants(tmp.path());
    let (before, whole) = (tmp.path().join("before.pcap"), tmp.path().join("whole.pcap"));
    capture(false).write(&before);
    capture(true).write(&whole);
    // What the frames before the pause give: replayed alone, unpaced.
    let options = ReplayOptions { pipeline, ..ReplayOptions::default() };
    let reference = replay_all_loaded(&before, &wdir, &tmp.path().join("reference"), &options);
    let expected = streams(&tmp.path().join("reference"));
    assert!(reference.mediation.iri_records == 4 && reference.mediation.cc_records == 9, "{:?}", reference.mediation);
    assert_eq!(expected.len(), 2, "hi2 and hi3 written: {:?}", expected.iter().map(|e| &e.0).collect::<Vec<_>>());

    let out = tmp.path().join("paced");
    let started = Instant::now();
    // The pause ends PAUSE_MS after the last frame before it (0.13 s into the replay),
    // counted from before the replay starts: a stricter bound than the replay's own.
    let pause_ends = started + Duration::from_millis(130 + PAUSE_MS);
    let paced = std::thread::spawn({
        let (whole, wdir, out) = (whole.clone(), wdir.clone(), out.clone());
        let options = ReplayOptions { pipeline, rate: Some(Rate::Speed(1.0)), ..ReplayOptions::default() };
        move || replay_all_loaded(&whole, &wdir, &out, &options)
    });
    let written = |name: &str| fs::read(out.join(name)).unwrap_or_default();
    loop {
        let got: Vec<Vec<u8>> = expected.iter().map(|(name, _)| written(name)).collect();
        if got.iter().zip(&expected).all(|(g, (_, e))| g.len() >= e.len()) {
            for (g, (name, e)) in got.iter().zip(&expected) {
                assert!(g == e, "{name}: the records before the pause differ from a replay of those frames alone");
            }
            break;
        }
        assert!(
            Instant::now() < pause_ends,
            "the pause ended with records of the frames before it still held: {:?} of {:?} bytes",
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            expected.iter().map(|e| e.1.len()).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let summary = paced.join().expect("paced replay");
    assert_eq!(summary.packets_read, 25);
    assert_eq!((summary.mediation.iri_records, summary.mediation.cc_records), (6, 19));
    for (name, e) in &expected {
        assert!(written(name).starts_with(e), "{name}: the paced run's whole output begins with the records before the pause");
    }
}

#[test]
fn threaded_pipeline_writes_records_out_before_a_pause_ends() {
    records_are_out_before_the_pause_ends(PipelineConfig::default());
}

#[test]
fn one_thread_writes_records_out_before_a_pause_ends() {
    records_are_out_before_the_pause_ends(PipelineConfig::single_threaded());
}
