//! Live capture benchmark (`--features live`, root): the highest rate each capture backend
//! (libpcap, AF_PACKET) takes with zero loss. A network namespace holds one end of a veth
//! pair; tcpreplay plays a synthetic capture into it (preloaded), first `--topspeed`, then at rates
//! halving the gap between the best lossless and the worst lossy rate; the capture stage
//! (batch reader, batches dropped once counted) reads the other end. Prints, per backend,
//! each trial (packets sent, captured, kernel drops) and the highest zero-loss rate.
//!
//! `cargo bench --features live --bench live_capture`; TAPLINE_BENCH_PCAP replaces the
//! generated capture. Prints a message and exits 0 when not root or tcpreplay is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[path = "../tests/veth/mod.rs"]
mod veth;
#[path = "support/mod.rs"]
mod bench_support;

use veth::Veth;
use tapline::capture::{CaptureBackend, FileReader, LiveConfig};
use tapline::gen::GenConfig;
use tapline::metrics::Metrics;
use tapline::pipeline::{BatchReader, FrameSource, Halt, PipelineConfig};

/// Rate trials per backend after the top-speed one.
const TRIALS: usize = 5;

fn main() {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root || Command::new("tcpreplay").arg("--version").output().is_err() {
        println!("live_capture bench skipped: needs root and tcpreplay");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let capture = match std::env::var_os("TAPLINE_BENCH_PCAP") {
        Some(path) => PathBuf::from(path),
        None => generated(tmp.path()),
    };
    let packets = count(&capture);
    println!("{}: {packets} packets", capture.display());
    let veth = Veth::create("bn");
    for backend in CaptureBackend::ALL {
        let top = trial(&veth, backend, &capture, packets, None);
        if top.lost == 0 {
            println!("{:>9}: zero loss at top speed, {:.0} packets/s (the sender's limit)", backend.name(), top.rate);
            continue;
        }
        // Lossless rates below `good`, loss at `high`: bisect.
        let (mut good, mut high) = (0.0, top.rate);
        for _ in 0..TRIALS {
            let rate = (good + high) / 2.0;
            if trial(&veth, backend, &capture, packets, Some(rate as u64)).lost == 0 {
                good = rate;
            } else {
                high = rate;
            }
        }
        println!("{:>9}: highest zero-loss rate {good:.0} packets/s (loss at {high:.0})", backend.name());
    }
}

struct Trial {
    /// Packets per second tcpreplay reached.
    rate: f64,
    lost: u64,
}

/// Plays the capture once at `pps` (None: top speed) while the backend reads.
fn trial(veth: &Veth, backend: CaptureBackend, capture: &Path, packets: u64, pps: Option<u64>) -> Trial {
    let config = LiveConfig { backend, ..LiveConfig::new(&veth.capture) };
    let mut reader = BatchReader::open(&FrameSource::Iface(config), PipelineConfig::default().batch).expect("capture opens");
    let (stop, failed) = (AtomicBool::new(false), AtomicBool::new(false));
    let halt = Halt { stop: &stop, failed: &failed };
    let mut captured = 0u64;
    let output = std::thread::scope(|s| {
        let player = s.spawn(|| {
            let speed = match pps {
                Some(pps) => format!("--pps={pps}"),
                None => "--topspeed".to_string(),
            };
            let output = veth
                .tcpreplay()
                .args(["-K", &speed])
                .arg(capture)
                .output()
                .expect("tcpreplay runs");
            std::thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::Relaxed);
            output
        });
        while let Some(batch) = reader.next_batch(&halt).expect("capture reads") {
            captured += batch.frames.len() as u64;
        }
        player.join().expect("player")
    });
    let summary = reader.finish(&Metrics::new());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rate = reached_rate(&stdout).unwrap_or(0.0);
    let lost = packets.saturating_sub(captured);
    println!(
        "{:>9} at {:>12}: {rate:>9.0} packets/s sent, {captured} of {packets} captured, {} kernel drops",
        backend.name(),
        pps.map_or("top speed".to_string(), |p| format!("{p} pps")),
        summary.dropped_kernel,
    );
    Trial { rate, lost: lost.max(summary.dropped_kernel) }
}

/// The rate in tcpreplay's "Rated: … Bps, … Mbps, N pps" line.
fn reached_rate(stdout: &str) -> Option<f64> {
    let line = stdout.lines().find(|l| l.trim_start().starts_with("Rated:"))?;
    let before = line.split("pps").next()?;
    before.rsplit(',').next()?.trim().parse().ok()
}

fn count(capture: &Path) -> u64 {
    let mut reader = FileReader::open(capture).expect("capture opens");
    while reader.next_frame().expect("capture reads").is_some() {}
    reader.stats().frames
}

/// Writes a synthetic capture of about 100k packets.
fn generated(dir: &Path) -> PathBuf {
    bench_support::generated(dir, &GenConfig::new(40, 40, 7))
}
