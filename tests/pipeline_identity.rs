//! The threaded pipeline's output equals the single-threaded reference byte for byte, on a
//! generated capture with a third of its calls under warrants of every kind, with
//! idle calls expiring during the run (which makes the signalling stage wait for the shards).

use std::fs;
use std::path::Path;
use std::time::Duration;

use tapline::gen::{generate, write_warrant_set, GenConfig};
use tapline::mediation::MediatorConfig;
use tapline::pipeline::PipelineConfig;
mod common;

use common::output::{replay_all_loaded, streams};
use tapline::replay::{ReplayOptions, Summary};

fn replay(capture: &Path, warrants: &Path, out: &Path, media_shards: usize, batch_frames: usize) -> Summary {
    let mut pipeline = PipelineConfig { media_shards, ..PipelineConfig::default() };
    pipeline.batch.frames = batch_frames;
    let mediator = MediatorConfig { idle_timeout_ns: 20_000_000_000, ..MediatorConfig::default() };
    let options = ReplayOptions { pipeline, mediator, ..ReplayOptions::default() };
    replay_all_loaded(capture, warrants, out, &options)
}

#[test]
fn parallel_output_equals_single_threaded_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("gen.pcap");
    let warrants = dir.path().join("warrants");
    let mut cfg = GenConfig::new(400, 80, 11);
    cfg.target_share = 30;
    cfg.talk = Duration::from_secs(25);
    generate(&cfg, fs::File::create(&capture).unwrap()).unwrap();
    let set = write_warrant_set(&cfg, &warrants).unwrap();

    let reference = replay(&capture, &warrants, &dir.path().join("single"), 0, 512);
    let expected = streams(&dir.path().join("single"));
    let records: u64 = reference.liids.values().map(|c| c.iri_records + c.cc_records).sum();
    let cc: u64 = reference.liids.values().map(|c| c.cc_records).sum();
    assert_eq!(reference.calls_intercepted, set.targeted_dialogs());
    assert!(cc > 10_000 && records > cc, "a real workload: {records} records, {cc} CC");
    assert!(reference.mediation.calls_expired_idle > 0, "idle calls expire during the run");
    assert!(expected.iter().any(|(n, _)| n.ends_with("hi3.ccc")) && expected.iter().any(|(n, _)| n.ends_with("hi3.ber")));

    // Several shard counts and batch sizes (small batches put taps and media in different batches).
    for (shards, batch) in [(1, 512), (3, 64), (2, 7)] {
        let out = dir.path().join(format!("par-{shards}-{batch}"));
        let parallel = replay(&capture, &warrants, &out, shards, batch);
        let got = streams(&out);
        assert_eq!(got.len(), expected.len());
        for ((name, bytes), (ename, ebytes)) in got.iter().zip(&expected) {
            assert_eq!(name, ename);
            assert!(bytes == ebytes, "{shards} shards, batches of {batch}: {name} differs from the single-threaded run");
        }
        assert_eq!(parallel.mediation.cc_records, reference.mediation.cc_records);
        assert_eq!(parallel.mediation.iri_records, reference.mediation.iri_records);
        assert_eq!(parallel.mediation.media_packets_tapped, reference.mediation.media_packets_tapped);
        assert_eq!(parallel.mediation.calls_expired_idle, reference.mediation.calls_expired_idle);
        assert_eq!(parallel.packets_read, reference.packets_read);
    }
}
