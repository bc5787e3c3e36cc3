//! CPU time of this process's threads by name while a run goes: a sampler thread reads
//! `/proc/self/task/*/schedstat` (nanoseconds on a CPU) every 2 ms, so a thread's last
//! sample before it exits is its total to within that. Unlike wall time this does not grow
//! when other work shares the cores (Linux only; empty elsewhere).

use std::collections::HashMap;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const PERIOD: Duration = Duration::from_millis(2);

/// Samples the threads named in `names` (`main`: the process's first thread) until
/// [`ThreadCpu::finish`].
pub struct ThreadCpu {
    stop: Arc<AtomicBool>,
    /// CPU of the threads already running at the start, taken off at the end.
    base: Samples,
    handle: JoinHandle<Samples>,
}

/// Per thread id: name and nanoseconds on a CPU at the last sample.
type Samples = HashMap<u64, (String, u64)>;

impl ThreadCpu {
    pub fn start(names: &'static [&'static str]) -> ThreadCpu {
        let mut seen = Samples::new();
        scan(names, &mut seen);
        let base = seen.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("bench-cpu-sampler".into())
            .spawn(move || {
                loop {
                    let last = flag.load(Ordering::Relaxed);
                    scan(names, &mut seen);
                    if last {
                        return seen;
                    }
                    std::thread::sleep(PERIOD);
                }
            })
            .expect("sampler thread");
        ThreadCpu { stop, base, handle }
    }

    /// CPU seconds per thread name (threads of one name summed) since the start.
    pub fn finish(self) -> HashMap<String, f64> {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.handle.join().unwrap_or_default();
        let mut by_name = HashMap::new();
        for (tid, (name, ns)) in seen {
            let base = self.base.get(&tid).map_or(0, |b| b.1);
            *by_name.entry(name).or_insert(0.0) += ns.saturating_sub(base) as f64 / 1e9;
        }
        by_name
    }
}

/// One pass over the process's threads. A thread not (yet) of a sampled name is looked at
/// again next time: a new thread names itself only after it started.
fn scan(names: &[&str], seen: &mut Samples) {
    let Ok(dir) = fs::read_dir("/proc/self/task") else { return };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else { continue };
        if !seen.contains_key(&tid) {
            let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            let name = if tid == u64::from(std::process::id()) { "main" } else { comm.trim() };
            if !names.contains(&name) {
                continue;
            }
            seen.insert(tid, (name.to_owned(), 0));
        }
        let stat = fs::read_to_string(entry.path().join("schedstat")).unwrap_or_default();
        if let (Some(ns), Some(slot)) = (stat.split_whitespace().next().and_then(|v| v.parse().ok()), seen.get_mut(&tid)) {
            slot.1 = ns;
        }
    }
}
