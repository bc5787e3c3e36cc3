//! Latency benchmark (issue 15): capture → encoded record at half the maximum replay rate.
//! Generates a capture with `tapline::gen` (by default 1,200 calls, 500 at once, 10 % of
//! calls under warrants of every kind: about 0.7 GB), finds the maximum rate with an
//! unpaced replay, then replays paced at half of it (`Rate::PacketsPerSecond`, what
//! `run --pcap FILE --rate PPS` does: each frame released at its scheduled time) and prints
//! p50/p99/p99.9/max from a batch's first frame being released to each of its records being
//! encoded, for the threaded pipeline and for one thread.
//!
//! `cargo bench --bench latency`. Sizes: `TAPLINE_LATENCY_CALLS` (1200),
//! `TAPLINE_LATENCY_CONCURRENT` (500), `TAPLINE_LATENCY_SHARE` (10 %),
//! `TAPLINE_LATENCY_REPS` (2: unpaced replays per mode, the fastest sets the maximum).
//! Wall-clock figures: on a shared machine they move with its load.

use std::fs;
use std::path::Path;
use std::time::Instant;

use tapline::capture::Rate;
use tapline::gen::{generate, write_warrant_set, GenConfig};
use tapline::metrics::Percentiles;
use tapline::pipeline::PipelineConfig;
use tapline::replay::{replay_with, ReplayOptions, Summary};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) of this process so far, all threads (Linux, 100 ticks/s).
fn cpu_secs() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// One replay: its summary, wall seconds and CPU seconds.
fn replay(capture: &Path, warrants: &Path, out: &Path, pipeline: PipelineConfig, rate: Option<Rate>) -> (Summary, f64, f64) {
    let options = ReplayOptions { pipeline, rate, ..ReplayOptions::default() };
    let (cpu, t) = (cpu_secs(), Instant::now());
    let (summary, refused) = replay_with(capture, warrants, out, &options).expect("replay");
    assert!(refused.is_empty(), "generated warrants refused: {refused:?}");
    (summary, t.elapsed().as_secs_f64(), cpu_secs() - cpu)
}

fn latency_line(p: Option<Percentiles>) -> String {
    let us = |ns: u64| ns as f64 / 1e3;
    match p {
        Some(p) => format!(
            "p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs ({} records)",
            us(p.p50),
            us(p.p99),
            us(p.p999),
            us(p.max),
            p.count
        ),
        None => "no records".into(),
    }
}

/// Finds the maximum rate of `pipeline` (fastest of `reps` unpaced replays), then replays
/// at half of it and prints both runs' latencies.
fn measure(label: &str, capture: &Path, warrants: &Path, dir: &Path, pipeline: PipelineConfig, reps: u64) {
    let mut best: Option<(Summary, f64, f64)> = None;
    for _ in 0..reps.max(1) {
        let run = replay(capture, warrants, &dir.join("unpaced"), pipeline, None);
        if best.as_ref().is_none_or(|b| run.1 < b.1) {
            best = Some(run);
        }
    }
    let Some((unpaced, secs, cpu)) = best else { return };
    let max = unpaced.packets_read as f64 / secs;
    println!(
        "{label}: maximum (unpaced, best of {reps}) {:.3} M packets/s ({} packets in {secs:.2} s, {cpu:.2} CPU-s); \
         latency capture→encoded record {}",
        max / 1e6,
        unpaced.packets_read,
        latency_line(unpaced.latency.encoded)
    );
    let half = (max / 2.0).round().clamp(1.0, f64::from(u32::MAX)) as u32;
    let (paced, secs, cpu) = replay(capture, warrants, &dir.join("paced"), pipeline, Some(Rate::PacketsPerSecond(half)));
    assert_eq!(paced.packets_read, unpaced.packets_read, "the paced replay read the whole capture");
    println!(
        "{label}: paced at half the maximum, --rate {half} ({:.3} M packets/s achieved, {secs:.2} s, {cpu:.2} CPU-s); \
         latency capture→encoded record {}; signalling stage p99 {}",
        paced.packets_read as f64 / secs / 1e6,
        latency_line(paced.latency.encoded),
        paced.latency.signalling.map_or("-".into(), |p| format!("{:.0} µs", p.p99 as f64 / 1e3)),
    );
}

fn main() {
    let calls = env_or("TAPLINE_LATENCY_CALLS", 1_200);
    let concurrent = env_or("TAPLINE_LATENCY_CONCURRENT", 500) as u32;
    let reps = env_or("TAPLINE_LATENCY_REPS", 2);
    let tmp = tempfile::tempdir_in(std::env::var("TAPLINE_BENCH_DIR").unwrap_or_else(|_| "target".into()))
        .expect("tempdir");
    let capture = tmp.path().join("latency.pcap");
    let warrants = tmp.path().join("warrants");
    let mut cfg = GenConfig::new(calls, concurrent, 7);
    cfg.target_share = env_or("TAPLINE_LATENCY_SHARE", 10) as u8;
    let file = std::io::BufWriter::new(fs::File::create(&capture).expect("create capture"));
    let stats = generate(&cfg, file).expect("generate");
    let set = write_warrant_set(&cfg, &warrants).expect("warrant set");
    let size = fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {} calls ({concurrent} at once), {} frames, {:.2} GB; {} warrants put {} calls ({} %) under orders",
        stats.calls,
        stats.frames,
        size as f64 / 1e9,
        set.warrants,
        set.targeted_calls,
        cfg.target_share
    );
    // Warm the page cache so both modes read the same file state.
    if let Ok(mut f) = fs::File::open(&capture) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
    measure("pipeline", &capture, &warrants, tmp.path(), PipelineConfig::default(), reps);
    measure("1 thread", &capture, &warrants, tmp.path(), PipelineConfig::single_threaded(), reps);
}
