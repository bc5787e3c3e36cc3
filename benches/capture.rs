//! Capture read benchmark: reads one file through the memory-mapped reader, the chunked
//! reader (the default) and the buffered reader and prints frames/s, GB/s and CPU of each.
//!
//! `TAPLINE_BENCH_PCAP=/path/to/capture.pcap cargo bench --bench capture`; without the
//! variable a capture of about 300k packets is generated into a temporary directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "support/mod.rs"]
mod bench_support;
#[path = "support/cpu.rs"]
mod cpu;

use tapline::capture::{CaptureError, FileReader};
use tapline::gen::GenConfig;

/// Rounds per reader; the best wall and CPU are printed (the first also warms the page cache).
const ROUNDS: usize = 5;

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let capture = match std::env::var_os("TAPLINE_BENCH_PCAP") {
        Some(path) => PathBuf::from(path),
        None => generated(tmp.path()),
    };
    let size = fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    println!("{}: {:.1} MB", capture.display(), size as f64 / 1e6);
    let readers: [(&str, fn(&Path) -> Result<FileReader, CaptureError>); 3] = [
        ("mapped", FileReader::open_mapped),
        ("chunked", FileReader::open),
        ("buffered", FileReader::open_buffered),
    ];
    for (name, open) in readers {
        for touch in [Touch::Ends, Touch::Every] {
            let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
            let mut frames = 0;
            for _ in 0..ROUNDS {
                let cpu = cpu::process_secs();
                let t = Instant::now();
                let mut reader = open(&capture).expect("capture opens");
                let mut check = 0u64;
                while let Some(frame) = reader.next_frame().expect("capture reads") {
                    check = check.wrapping_add(touch.read(frame.data));
                }
                best = best.min(t.elapsed().as_secs_f64());
                best_cpu = best_cpu.min(cpu::process_secs() - cpu);
                frames = reader.stats().frames;
                std::hint::black_box(check);
            }
            println!(
                "{name:>8}, {:<16} {frames} frames in {best:.3} s = {:.2} M frames/s, {:.2} GB/s of file; \
                 CPU {best_cpu:.3} s = {:.0} ns per frame",
                touch.label(),
                frames as f64 / best / 1e6,
                size as f64 / best / 1e9,
                best_cpu * 1e9 / frames.max(1) as f64,
            );
        }
    }
}

/// How much of each frame the benchmark reads, so the reading cannot be skipped.
#[derive(Clone, Copy)]
enum Touch {
    /// The first and last byte: the reader's own cost.
    Ends,
    /// Every byte, as a decoder does: shows what the copy into a buffer costs later.
    Every,
}

impl Touch {
    fn read(self, data: &[u8]) -> u64 {
        match self {
            Touch::Ends => {
                u64::from(data.first().copied().unwrap_or(0))
                    + u64::from(data.last().copied().unwrap_or(0))
            }
            Touch::Every => data
                .iter()
                .fold(0u64, |sum, &b| sum.wrapping_add(u64::from(b))),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Touch::Ends => "first/last byte:",
            Touch::Every => "every byte:",
        }
    }
}

/// Writes a synthetic capture of about 300k packets (120 calls of 30 s mean talk).
fn generated(dir: &Path) -> PathBuf {
    bench_support::generated(dir, &GenConfig::new(120, 40, 7))
}
