//! Replay benchmark: generates a capture of realistic VoIP with `tapline::gen` (by default
//! over 3 GB, 2,500 calls at once, 10 % of calls under warrants of every kind), replays it
//! to files single-threaded and on the threaded pipeline, compares with `tcpdump`, measures
//! memory per tracked call, and delivers the same capture over mutual TLS to reference
//! LEMFs on loopback; and the call detail recorder's cost: the same replay with the records
//! database off and on.
//!
//! `cargo bench --bench replay`. Sizes: `TAPLINE_BENCH_CALLS` (default 5600),
//! `TAPLINE_BENCH_CONCURRENT` (2500), `TAPLINE_BENCH_SHARE` (10 %), `TAPLINE_BENCH_SHARDS`
//! (1); `TAPLINE_BENCH_TLS=0` skips the TLS mode; `TAPLINE_BENCH_CDR_REPS` (3; 15 with
//! `TAPLINE_BENCH_CDR_ONLY=1`, which runs only that) replays per side of the recorder
//! comparison;
//! `TAPLINE_BENCH_REPS` (3) alternating runs of the pipeline and tcpdump, best of each;
//! `TAPLINE_BENCH_REPLAY_ONLY=1` stops after that comparison (quick iteration).
//! CPU per packet is user + system time (getrusage: tapline's own, tcpdump's as the
//! waited-for child's), with the pipeline's per-thread split sampled from `/proc`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tapline::capture::FileReader;
use tapline::gen::{generate, write_warrant_set, GenConfig};
use tapline::mediation::{Mediator, Record};
use tapline::pipeline::{LatencySummary, PipelineConfig};
use tapline::replay::{replay_with, ReplayOptions, Summary};
use tapline::warrant::{Store, WarrantTable};
use tapline::wire::{Decoded, Decoder};

#[path = "support/cpu.rs"]
mod cpu;

/// Counts heap bytes in use, for memory per tracked call.
struct Counting;
static HEAP: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP.fetch_add(new_size, Ordering::Relaxed);
        HEAP.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resets the peak resident set size (Linux `clear_refs` 5) so each run reports its own.
fn reset_peak_rss() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn us(p: Option<tapline::metrics::Percentiles>, f: fn(&tapline::metrics::Percentiles) -> u64) -> String {
    p.map_or("-".into(), |p| format!("{:.0}", f(&p) as f64 / 1e3))
}

/// One replay's wall time, CPU time (all threads) and per-thread CPU split.
struct Timed {
    secs: f64,
    cpu: f64,
    threads: Vec<(String, f64)>,
}

fn print_run(label: &str, s: &Summary, t: &Timed) -> f64 {
    let records: u64 = s.liids.values().map(|c| c.iri_records + c.cc_records).sum();
    let secs = t.secs;
    let pps = s.packets_read as f64 / secs;
    println!(
        "{label}: {} packets in {secs:.2} s = {:.2} M packets/s, {:.2} Gbit/s, {records} records = {:.0} records/s, \
         peak RSS {:.0} MB, {} calls seen, {} intercepted; CPU {:.2} s = {:.0} ns per packet ({})",
        s.packets_read,
        pps / 1e6,
        s.bytes_read as f64 * 8.0 / secs / 1e9,
        records as f64 / secs,
        peak_rss_mb(),
        s.calls_seen,
        s.calls_intercepted,
        t.cpu,
        ns_per_packet(t.cpu, s.packets_read),
        cpu::describe(&t.threads),
    );
    let l: &LatencySummary = &s.latency;
    println!(
        "{label}: latency capture→encoded record p50 {} µs, p99 {} µs, p99.9 {} µs (signalling stage p50 {} µs, p99 {} µs)",
        us(l.encoded, |p| p.p50),
        us(l.encoded, |p| p.p99),
        us(l.encoded, |p| p.p999),
        us(l.signalling, |p| p.p50),
        us(l.signalling, |p| p.p99),
    );
    pps
}

fn ns_per_packet(cpu_secs: f64, packets: u64) -> f64 {
    cpu_secs * 1e9 / packets.max(1) as f64
}

fn replay(capture: &Path, warrants: &Path, out: &Path, options: ReplayOptions) -> (Summary, Timed) {
    reset_peak_rss();
    let before = cpu::threads_now();
    let sampler = cpu::ThreadSampler::start();
    let cpu = cpu::process_secs();
    let t = Instant::now();
    let (summary, refused) = replay_with(capture, warrants, out, &options).expect("replay");
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu::process_secs() - cpu;
    let threads = sampler.stop(&before);
    assert!(refused.is_empty(), "generated warrants refused: {refused:?}");
    (summary, Timed { secs, cpu, threads })
}

/// Threads whose CPU the recorder comparison reports (`main`: single-threaded, all stages).
const THREADS: [&str; 6] = ["main", "tl-capture", "tl-signalling", "tl-media-0", "tl-encode", "records-writer"];

/// Best (lowest) of each measure over the replays of one side of the comparison.
#[derive(Clone, Copy)]
struct Best {
    wall: f64,
    cpu: f64,
    /// CPU seconds per thread of [`THREADS`].
    threads: [f64; THREADS.len()],
}

impl Best {
    const NONE: Best = Best { wall: f64::MAX, cpu: f64::MAX, threads: [f64::MAX; THREADS.len()] };
    fn min(mut self, o: Best) -> Best {
        self.wall = self.wall.min(o.wall);
        self.cpu = self.cpu.min(o.cpu);
        for (a, b) in self.threads.iter_mut().zip(o.threads) {
            *a = a.min(b);
        }
        self
    }
    fn thread(&self, name: &str) -> f64 {
        THREADS.iter().position(|t| *t == name).and_then(|i| self.threads.get(i)).copied().unwrap_or(0.0)
    }
}

fn pct(on: f64, off: f64) -> f64 {
    (on / off - 1.0) * 100.0
}

/// The call detail recorder's cost: the same replay with the records database off and on
/// (a fresh SQLite file each time, the writer's tail included), interleaved off-on, on-off,
/// … so drift in the machine's load falls on both sides; best of each measure per side:
/// wall time, CPU of all threads, and CPU per thread: the one the observer runs on (what
/// bounds the pipeline's throughput; it does not grow with other load the way wall time
/// does) and the records writer's, among the others.
fn cdr_overhead(capture: &Path, warrants: &Path, dir: &Path, label: &str, pipeline: PipelineConfig, reps: u64) {
    let critical = if pipeline.media_shards == 0 { "main" } else { "tl-signalling" };
    let (mut off, mut on, mut inserted) = (Best::NONE, Best::NONE, 0);
    let load_before = load_average();
    // Per back-to-back pair: on/off wall and on/off CPU of the critical thread (a drift in
    // the machine's load hits both sides).
    let (mut pairs, mut critical_pairs) = (Vec::with_capacity(reps as usize), Vec::with_capacity(reps as usize));
    // The packet pipeline's own time (without the records writer's drain after it).
    let (mut pipeline_pairs, mut pipeline_best) = (Vec::with_capacity(reps as usize), [f64::MAX; 2]);
    for r in 0..reps {
        let (mut walls, mut crit, mut own) = ([0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
        for records in if r % 2 == 0 { [false, true] } else { [true, false] } {
            let records_db = records.then(|| dir.join(format!("cdr-{label}-{r}.sqlite")).display().to_string());
            // The database exists before the run, as on an appliance: creating it (schema,
            // WAL set-up, their syncs) is a one-time set-up, not a cost of the pipeline.
            if let Some(spec) = &records_db {
                drop(tapline::records::Db::open(spec).expect("records database created"));
            }
            let options = ReplayOptions { pipeline, records_db, ..ReplayOptions::default() };
            let out = dir.join(if records { "cdr-on" } else { "cdr-off" });
            let (summary, t) = replay(capture, warrants, &out, options);
            let of = |name: &str| t.threads.iter().find(|(n, _)| n == name).map_or(0.0, |(_, s)| *s);
            let run = Best { wall: t.secs, cpu: t.cpu, threads: THREADS.map(of) };
            walls[usize::from(records)] = t.secs;
            own[usize::from(records)] = summary.pipeline_secs;
            pipeline_best[usize::from(records)] = pipeline_best[usize::from(records)].min(summary.pipeline_secs);
            crit[usize::from(records)] = run.thread(critical);
            if records {
                on = on.min(run);
                inserted = summary.records.map_or(0, |s| s.calls_inserted);
            } else {
                off = off.min(run);
            }
        }
        pairs.push(walls[1] / walls[0]);
        pipeline_pairs.push(own[1] / own[0].max(f64::MIN_POSITIVE));
        critical_pairs.push(crit[1] / crit[0].max(f64::MIN_POSITIVE));
    }
    let (wall_q, critical_q) = (Quartiles::of(pairs), Quartiles::of(critical_pairs));
    let (c_off, c_on) = (off.thread(critical), on.thread(critical));
    println!(
        "call detail records, {label}: observer off {:.2} s, on {:.2} s ({inserted} calls into SQLite), best of {reps} interleaved: \
         wall {:+.1} %; CPU all threads off {:.2} s, on {:.2} s: {:+.1} %; {critical} thread CPU off {c_off:.3} s, on {c_on:.3} s: \
         {:+.1} %",
        off.wall,
        on.wall,
        pct(on.wall, off.wall),
        off.cpu,
        on.cpu,
        pct(on.cpu, off.cpu),
        pct(c_on, c_off),
    );
    println!(
        "call detail records, {label}: the {reps} back-to-back pairs' on/off: wall median {} (quartiles {} … {}), \
         {critical} thread CPU median {} (quartiles {} … {}); load average {load_before} before, {} after",
        wall_q.median(),
        wall_q.low(),
        wall_q.high(),
        critical_q.median(),
        critical_q.low(),
        critical_q.high(),
        load_average(),
    );
    let own_q = Quartiles::of(pipeline_pairs);
    println!(
        "call detail records, {label}: the pipeline alone (start to last record encoded, without the records writer's drain): \
         best off {:.3} s, on {:.3} s: {:+.1} %; pairs' median {} (quartiles {} … {})",
        pipeline_best[0],
        pipeline_best[1],
        pct(pipeline_best[1], pipeline_best[0]),
        own_q.median(),
        own_q.low(),
        own_q.high(),
    );
    let per_thread: Vec<String> = THREADS
        .iter()
        .filter(|t| off.thread(t) + on.thread(t) > 0.0)
        .map(|t| format!("{t} {:.3}/{:.3}", off.thread(t), on.thread(t)))
        .collect();
    println!("call detail records, {label}: CPU s per thread off/on: {}", per_thread.join(", "));
}

/// Median and quartiles of on/off ratios, shown as percent changes.
struct Quartiles(Vec<f64>);

impl Quartiles {
    fn of(mut ratios: Vec<f64>) -> Quartiles {
        ratios.sort_by(f64::total_cmp);
        Quartiles(ratios)
    }
    /// The ratio at quantile `q` (nearest rank), as a change in percent.
    fn at(&self, q: f64) -> String {
        let i = ((self.0.len().saturating_sub(1)) as f64 * q).round() as usize;
        self.0.get(i).map_or("-".into(), |r| format!("{:+.1} %", (r - 1.0) * 100.0))
    }
    fn median(&self) -> String {
        self.at(0.5)
    }
    fn low(&self) -> String {
        self.at(0.25)
    }
    fn high(&self) -> String {
        self.at(0.75)
    }
}

/// The 1-minute load average (`/proc/loadavg`), as printed there.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_owned)).unwrap_or("-".into())
}

/// tcpdump reading the same file, filtering SIP, writing nothing: wall and CPU seconds (the
/// child's user + system time), if installed.
fn tcpdump(capture: &Path) -> Option<(f64, f64)> {
    let cpu = cpu::children_secs();
    let t = Instant::now();
    let status = Command::new("tcpdump")
        .args(["-r"])
        .arg(capture)
        .args(["-w", "/dev/null", "udp port 5060"])
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    status.success().then(|| (secs, cpu::children_secs() - cpu))
}

/// Heap bytes per intercepted call and per call merely seen, fed straight to the mediator.
fn memory_per_call(dir: &Path) {
    for (share, what) in [(100u8, "intercepted call"), (0, "call seen (not a target)")] {
        // 3,000 calls arriving within about a second and talking ~4 s: all tracked at once.
        let mut cfg = GenConfig::new(3_000, 20_000, 5);
        cfg.talk = Duration::from_secs(4);
        cfg.target_share = share;
        let capture = dir.join(format!("memory-{share}.pcap"));
        let warrants = dir.join(format!("memory-warrants-{share}"));
        generate(&cfg, std::io::BufWriter::new(fs::File::create(&capture).expect("create"))).expect("generate");
        write_warrant_set(&cfg, &warrants).expect("warrants");
        let (store, _) = Store::load_dir(&warrants).expect("load warrants");
        let mut mediator = Mediator::new(std::sync::Arc::new(WarrantTable::new(store.warrants)));
        let mut reader = FileReader::open(&capture).expect("open");
        let mut decoder = Decoder::new();
        let base = HEAP.load(Ordering::Relaxed);
        let (mut peak_heap, mut peak_calls) = (0usize, 0usize);
        let mut sink = |_: &Record<'_>| {};
        let mut n = 0u64;
        while let Ok(Some(frame)) = reader.next_frame() {
            if let Decoded::Datagram(dg) = decoder.decode(&frame) {
                mediator.handle(&dg, &mut sink);
            }
            n += 1;
            if n % 50_000 == 0 {
                let heap = HEAP.load(Ordering::Relaxed).saturating_sub(base);
                let calls = if share > 0 { mediator.active_calls() } else { mediator.stats().calls_seen as usize };
                if heap > peak_heap {
                    (peak_heap, peak_calls) = (heap, calls);
                }
            }
        }
        println!(
            "memory: {:.0} bytes per {what} ({:.1} MB heap for {peak_calls} calls tracked at once)",
            peak_heap as f64 / peak_calls.max(1) as f64,
            peak_heap as f64 / 1e6
        );
    }
}

fn main() {
    let calls = env_or("TAPLINE_BENCH_CALLS", 5_600);
    let concurrent = env_or("TAPLINE_BENCH_CONCURRENT", 2_500) as u32;
    let shards = env_or("TAPLINE_BENCH_SHARDS", 1) as usize;
    let tmp = tempfile::tempdir_in(std::env::var("TAPLINE_BENCH_DIR").unwrap_or_else(|_| "target".into()))
        .expect("tempdir");
    let capture = tmp.path().join("bench.pcap");
    let warrants = tmp.path().join("warrants");
    let mut cfg = GenConfig::new(calls, concurrent, 7);
    cfg.target_share = env_or("TAPLINE_BENCH_SHARE", 10) as u8;
    let t = Instant::now();
    let file = std::io::BufWriter::new(fs::File::create(&capture).expect("create capture"));
    let stats = generate(&cfg, file).expect("generate");
    let set = write_warrant_set(&cfg, &warrants).expect("warrant set");
    let size = fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {} calls ({} at once), {} frames, {:.2} GB in {:.1} s; {} warrants put {} calls ({} %) under orders of every kind",
        stats.calls,
        concurrent,
        stats.frames,
        size as f64 / 1e9,
        t.elapsed().as_secs_f64(),
        set.warrants,
        set.targeted_calls,
        cfg.target_share
    );
    // Warm the page cache so every reader sees the same file state.
    let _ = tcpdump(&capture);

    let pipeline = PipelineConfig { media_shards: shards, ..PipelineConfig::default() };
    if env_or("TAPLINE_BENCH_CDR_ONLY", 0) != 0 {
        // Only this comparison: more pairs by default, for a median that holds on a busy VM.
        let reps = env_or("TAPLINE_BENCH_CDR_REPS", 15).max(1);
        cdr_overhead(&capture, &warrants, tmp.path(), "1 thread", PipelineConfig::single_threaded(), reps);
        cdr_overhead(&capture, &warrants, tmp.path(), "pipeline", pipeline, reps);
        return;
    }
    let single_options = ReplayOptions { pipeline: PipelineConfig::single_threaded(), ..ReplayOptions::default() };
    let (single, single_t) = replay(&capture, &warrants, &tmp.path().join("out-single"), single_options);
    print_run("replay, 1 thread ", &single, &single_t);
    // The pipeline and tcpdump alternate (the same load for both); best wall and CPU of each.
    let reps = env_or("TAPLINE_BENCH_REPS", 3).max(1);
    let (mut best, mut tcpdump_best): (Option<(Summary, Timed)>, Option<(f64, f64)>) = (None, None);
    for _ in 0..reps {
        let options = ReplayOptions { pipeline, ..ReplayOptions::default() };
        let (parallel, t) = replay(&capture, &warrants, &tmp.path().join("out-parallel"), options);
        let cpu = best.as_ref().map_or(t.cpu, |(_, b)| b.cpu.min(t.cpu));
        if best.as_ref().is_none_or(|(_, b)| t.secs < b.secs) {
            best = Some((parallel, t));
        }
        if let Some((_, b)) = &mut best {
            b.cpu = cpu;
        }
        if let Some((secs, cpu)) = tcpdump(&capture) {
            tcpdump_best = Some(tcpdump_best.map_or((secs, cpu), |(s, c)| (s.min(secs), c.min(cpu))));
        }
    }
    let Some((parallel, parallel_t)) = best else { return };
    let pps = print_run(&format!("replay, pipeline (best of {reps})"), &parallel, &parallel_t);
    let packets = stats.frames;
    match tcpdump_best {
        Some((secs, cpu)) => {
            let (t, per) = (packets as f64 / secs, ns_per_packet(cpu, packets));
            println!(
                "tcpdump -r FILE -w /dev/null 'udp port 5060' (best of {reps}): {:.2} M packets/s, CPU {cpu:.2} s = {per:.0} ns per packet",
                t / 1e6
            );
            println!(
                "tapline / tcpdump: pipeline packets/s {:.2}; CPU per packet pipeline {:.2}, 1 thread {:.2}",
                pps / t,
                ns_per_packet(parallel_t.cpu, parallel.packets_read) / per,
                ns_per_packet(single_t.cpu, single.packets_read) / per
            );
        }
        None => println!("tcpdump not installed: no comparison"),
    }
    if env_or("TAPLINE_BENCH_REPLAY_ONLY", 0) != 0 {
        return;
    }
    memory_per_call(tmp.path());
    let reps = env_or("TAPLINE_BENCH_CDR_REPS", 3).max(1);
    cdr_overhead(&capture, &warrants, tmp.path(), "1 thread", PipelineConfig::single_threaded(), reps);
    cdr_overhead(&capture, &warrants, tmp.path(), "pipeline", pipeline, reps);

    if env_or("TAPLINE_BENCH_TLS", 1) != 0 {
        let t = Instant::now();
        let demo = tapline::run::demo(&capture, &warrants, &tmp.path().join("tls")).expect("TLS delivery");
        let secs = t.elapsed().as_secs_f64();
        let confirmed: u64 = demo.run.interfaces.iter().map(|i| i.confirmed).sum();
        let spooled: u64 = demo.run.interfaces.iter().map(|i| i.spooled).sum();
        let received: u64 = demo.lemfs.values().map(|s| s.records).sum();
        let worst = demo.run.interfaces.iter().filter_map(|i| i.latency_max_ms).fold(0.0, f64::max);
        println!(
            "TLS to {} reference LEMFs on loopback: {} packets in {secs:.2} s = {:.2} M packets/s, {spooled} records spooled, \
             {confirmed} confirmed ({:.0} records/s), {received} received, spool→confirmed latency max {worst:.0} ms",
            demo.lemfs.len(),
            demo.run.packets_read,
            demo.run.packets_read as f64 / secs / 1e6,
            confirmed as f64 / secs
        );
    }
}
