//! Live capture end to end, with each backend (libpcap and AF_PACKET; build with
//! `--features live`, run as root). The test creates a network namespace holding one end of
//! a veth pair; tcpreplay plays a capture into it and tapline captures on the other end.
//! - `tapline run --iface` delivers over mutual TLS the same records per LIID as a replay
//!   of the file, and reports no loss;
//! - the batches the capture stage reads hold the file's frames, byte for byte and in order
//!   (VLAN tags the kernel took off put back), with no drops; AF_PACKET batches borrow
//!   them from the ring, libpcap's copy them.
//!
//! Skips with a message when not built with `live`, not root, or tcpreplay or `ip` is
//! missing (under `CI=true` the missing pieces are failures).

#![cfg(feature = "live")]

mod delivery_support;
mod veth;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use delivery_support::*;
use veth::Veth;
use tapline::capture::{CaptureBackend, FileReader, LiveConfig};
use tapline::metrics::Metrics;
use tapline::pipeline::{BatchReader, FrameSource, Halt, PipelineConfig};
use tapline::run::{run, Source};

fn missing(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what} (required under CI=true)");
    eprintln!("SKIPPED live capture test: {what}");
}

/// One live test at a time: each runs a whole pipeline against the clock of live traffic,
/// and on two loaded cores several at once would measure the machine, not the backend.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Why live capture cannot be tested here, if it cannot.
fn unavailable() -> Option<&'static str> {
    if Command::new("tcpreplay").arg("--version").output().is_err() {
        return Some("tcpreplay is not installed");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("iproute2 (`ip`) is not installed");
    }
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        return Some("live capture needs root (CAP_NET_RAW, network namespaces)");
    }
    None
}

/// Plays `capture` into the pair at `pps` packets per second.
fn replay(veth: &Veth, capture: &Path, pps: u32) -> std::process::Child {
    veth.tcpreplay()
        .args(["-q", "--pps", &pps.to_string()])
        .arg(capture)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn live_capture_delivers_what_a_replay_of_the_same_packets_does(backend: CaptureBackend, tag: &str) {
    if let Some(why) = unavailable() {
        return missing(why);
    }
    let _turn = one_at_a_time();
    let veth = Veth::create(tag);
    let Setup { dir, pki, rt, lemfs, warrants, .. } = setup();
    let demo = crate_root().join("fixtures/demo.pcap");
    let (reference, _) = tapline::replay::replay(&demo, &warrants, &dir.path().join("reference")).unwrap();

    let mut options = run_options(&warrants, &dir.path().join("spool"), &pki, demo.clone(), None);
    options.source = Source::Iface(LiveConfig { backend, ..LiveConfig::new(&veth.capture) });
    let stop = Arc::new(AtomicBool::new(false));
    let running = std::thread::spawn({
        let stop = stop.clone();
        move || run(&options, stop)
    });
    std::thread::sleep(Duration::from_secs(2)); // the capture is open
    let played = replay(&veth, &demo, 1000).wait_with_output().unwrap();
    assert!(played.status.success(), "tcpreplay: {}", String::from_utf8_lossy(&played.stderr));
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let summary = running.join().unwrap().unwrap();

    assert_eq!((summary.dropped_pipeline_full, summary.dropped_kernel), (0, 0));
    assert_eq!(summary.packets_read, reference.packets_read, "every packet played, nothing else");
    assert_eq!(summary.calls_intercepted, reference.calls_intercepted);
    for (liid, want) in &reference.liids {
        let got = &summary.liids[liid];
        assert_eq!((got.iri_records, got.cc_records), (want.iri_records, want.cc_records), "{liid}");
    }
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    let received: u64 = lemfs.into_iter().map(|l| rt.block_on(l.stop()).unwrap().records).sum();
    let expected: u64 = reference.liids.values().map(|c| c.iri_records + c.cc_records).sum();
    assert_eq!(received, expected);
}

#[test]
fn libpcap_live_capture_delivers_what_a_replay_does() {
    live_capture_delivers_what_a_replay_of_the_same_packets_does(CaptureBackend::Pcap, "pc");
}

#[test]
fn af_packet_live_capture_delivers_what_a_replay_does() {
    live_capture_delivers_what_a_replay_of_the_same_packets_does(CaptureBackend::AfPacket, "af");
}

/// Every frame of the file, in order.
fn file_frames(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = FileReader::open(path).unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        frames.push(frame.data.to_vec());
    }
    frames
}

/// Captures with `backend`, through the batch stage, while the VLAN-tagged external capture
/// is played, and compares. `borrowed`: every frame lies in its batch's shared memory (a
/// ring block), not in a copy.
fn batches_carry_the_played_frames(backend: CaptureBackend, tag: &str, borrowed: bool) {
    if let Some(why) = unavailable() {
        return missing(why);
    }
    let file = crate_root().join("../shared/fixtures-external/derived-SIP_DTMF2-vlan100.pcap");
    if !file.exists() {
        return missing("../shared/fixtures-external is absent");
    }
    let want = file_frames(&file);
    let _turn = one_at_a_time();
    let veth = Veth::create(tag);
    let config = LiveConfig { backend, ..LiveConfig::new(&veth.capture) };
    let mut reader = BatchReader::open(&FrameSource::Iface(config), PipelineConfig::default().batch).unwrap();
    let (stop, failed) = (AtomicBool::new(false), AtomicBool::new(false));
    let halt = Halt { stop: &stop, failed: &failed };
    let player = replay(&veth, &file, 2000);
    let mut got = Vec::new();
    let played = std::thread::scope(|s| {
        // Stops the reading once tcpreplay has finished and a second has passed.
        let stopper = s.spawn(|| {
            let played = player.wait_with_output().unwrap();
            std::thread::sleep(Duration::from_secs(1));
            stop.store(true, Ordering::Relaxed);
            played
        });
        while let Some(batch) = reader.next_batch(&halt).unwrap() {
            for meta in &batch.frames {
                assert_eq!(meta.is_borrowed(), borrowed, "frame {} borrowed from shared memory", got.len());
                got.push(batch.frame(meta).data.to_vec());
            }
        }
        stopper.join().unwrap()
    });
    assert!(played.status.success(), "tcpreplay: {}", String::from_utf8_lossy(&played.stderr));
    let summary = reader.finish(&Metrics::new());
    assert_eq!((summary.dropped_kernel, summary.dropped_pipeline_full), (0, 0), "drops");
    assert_eq!(got.len(), want.len(), "frames captured");
    assert_eq!(summary.frames, want.len() as u64);
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert!(got == want, "frame {i} differs from the file's ({} and {} bytes)", got.len(), want.len());
    }
}

#[test]
fn libpcap_batches_carry_copies_of_the_played_frames() {
    batches_carry_the_played_frames(CaptureBackend::Pcap, "pv", false);
}

#[test]
fn af_packet_batches_borrow_the_played_frames_from_the_ring() {
    batches_carry_the_played_frames(CaptureBackend::AfPacket, "av", true);
}
