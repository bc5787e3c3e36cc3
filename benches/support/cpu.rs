//! CPU time for the replay bench: this process's and its waited-for children's (getrusage,
//! microseconds), and per-thread CPU of the pipeline's named threads, sampled from
//! `/proc/self/task` while a run goes on (threads end with the run).

use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// User + system CPU seconds of `who` (`libc::RUSAGE_SELF` or `libc::RUSAGE_CHILDREN`).
fn rusage_secs(who: libc::c_int) -> f64 {
    // SAFETY: getrusage writes one `rusage` into the zeroed value it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// CPU seconds (user + system) of this process so far, every thread.
pub fn process_secs() -> f64 {
    rusage_secs(libc::RUSAGE_SELF)
}

/// CPU seconds (user + system) of every child waited for so far.
pub fn children_secs() -> f64 {
    rusage_secs(libc::RUSAGE_CHILDREN)
}

/// Samples the CPU time of this process's threads every 10 ms until stopped; a thread's
/// last sample counts (under 10 ms of its CPU may be missed when it ends between samples).
pub struct ThreadSampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<u32, (String, f64)>>>,
    handle: Option<JoinHandle<()>>,
}

impl ThreadSampler {
    pub fn start() -> ThreadSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (s, m) = (Arc::clone(&stop), Arc::clone(&seen));
        let handle = std::thread::Builder::new()
            .name("bench-sampler".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    sample(&m);
                    std::thread::sleep(Duration::from_millis(10));
                }
                sample(&m);
            })
            .ok();
        ThreadSampler { stop, seen, handle }
    }

    /// CPU seconds per thread name of the threads that started after `start` (by name:
    /// several threads of one name add up), busiest first.
    pub fn stop(mut self, before: &BTreeMap<u32, (String, f64)>) -> Vec<(String, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let seen = self.seen.lock().map(|m| m.clone()).unwrap_or_default();
        let mut by_name: BTreeMap<String, f64> = BTreeMap::new();
        for (tid, (name, secs)) in seen {
            let earlier = before.get(&tid).map_or(0.0, |(_, s)| *s);
            if name != "bench-sampler" {
                *by_name.entry(name).or_default() += secs - earlier;
            }
        }
        let mut out: Vec<_> = by_name.into_iter().filter(|(_, s)| *s > 0.0).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }
}

/// The CPU seconds of every thread alive now, by thread id.
pub fn threads_now() -> BTreeMap<u32, (String, f64)> {
    let m = Mutex::new(BTreeMap::new());
    sample(&m);
    m.into_inner().unwrap_or_default()
}

fn sample(into: &Mutex<BTreeMap<u32, (String, f64)>>) {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else { return };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        let Ok(stat) = fs::read_to_string(task.path().join("stat")) else { continue };
        // `pid (comm) state ...`: utime and stime are fields 14 and 15 (ticks of 1/100 s).
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        // The process's first thread is `main` whatever the binary is called.
        let name = if tid == std::process::id() { "main" } else { head.split_once('(').map_or("?", |(_, n)| n) };
        let name = name.to_string();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let secs = (ticks(11) + ticks(12)) / 100.0;
        if let Ok(mut m) = into.lock() {
            m.insert(tid, (name, secs));
        }
    }
}

/// `name 0.42 s (31 %), ...` for the threads of one run.
pub fn describe(threads: &[(String, f64)]) -> String {
    let total: f64 = threads.iter().map(|(_, s)| s).sum();
    threads
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.2} s ({:.0} %)", secs / total.max(1e-9) * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}
