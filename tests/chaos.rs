//! Chaos: `tapline run` (real binary) replays a capture to two `tapline lemf` processes over
//! loopback mutual TLS while faults are injected at seeded random times — SIGKILL and
//! restart of the appliance, SIGKILL and restart of a LEMF, SIGSTOP stalls of either — and
//! at the end the agencies' de-duplicated records equal a replay of the same capture, hold
//! every record a killed appliance left in its spool, and nothing of another agency.
//!
//! CI runs a short seeded round. Operators run longer ones (see README, "Reliability"):
//! `CHAOS_SEED=N CHAOS_SECS=600 CHAOS_RATE=300 cargo test --release --test chaos -- --nocapture`.

mod delivery_support;
#[path = "chaos/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use harness::*;

/// xorshift64*: the fault schedule is a function of the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn faults_at_random_times_lose_and_misdeliver_nothing() {
    let seed = env_u64("CHAOS_SEED", 0x7a91_1e5e);
    let secs = env_u64("CHAOS_SECS", 25);
    let rate = env_u64("CHAOS_RATE", 700) as u32;
    eprintln!("chaos: seed {seed}, {secs} s of faults, {rate} packets/s");
    let mut rng = Rng(seed.max(1));
    let dir = tempfile::tempdir().unwrap();
    let pcap = rounds_pcap(dir.path());
    let mut w = World::new(dir.path(), pcap, dir.path().join("spool"));
    let log = dir.path().join("run.log");
    let mut app = w.appliance(Some(rate), &log);
    let mut floor = 1;
    let mut left_in_spool: BTreeSet<Key> = BTreeSet::new();
    let mut faults = Vec::new();
    let mut kinds: Vec<u64> = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(rng.millis(300, 2000));
        if let Some(st) = app.try_wait().unwrap() {
            assert!(st.success(), "the appliance failed: {st}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            // The replay is done: start it again, so faults keep hitting a running appliance.
            floor = cin_floor(&w.spool);
            app = w.appliance(Some(rate), &log);
            faults.push("finished; run again".to_string());
            continue;
        }
        let lemf = (rng.next() % w.lemfs.len() as u64) as usize;
        // Every kind of fault once per four, in a seeded order.
        if kinds.is_empty() {
            kinds = vec![0u64, 1, 2, 3];
            for i in (1..kinds.len()).rev() {
                kinds.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
        }
        match kinds.pop().unwrap_or(0) {
            0 => {
                app.kill().unwrap();
                app.wait().unwrap();
                left_in_spool.extend(w.pending());
                floor = cin_floor(&w.spool);
                std::thread::sleep(rng.millis(0, 800));
                app = w.appliance(Some(rate), &log);
                faults.push("SIGKILL appliance, restart".to_string());
            }
            1 => {
                w.lemfs[lemf].kill();
                let down = rng.millis(100, 2500);
                std::thread::sleep(down);
                w.lemfs[lemf].start();
                faults.push(format!("SIGKILL {} for {down:?}", w.lemfs[lemf].agency));
            }
            2 => {
                let stall = rng.millis(200, 2500);
                signal(app.id(), "STOP");
                std::thread::sleep(stall);
                signal(app.id(), "CONT");
                faults.push(format!("SIGSTOP appliance for {stall:?}"));
            }
            _ => {
                let Some(pid) = w.lemfs[lemf].pid() else { continue };
                let stall = rng.millis(200, 2500);
                signal(pid, "STOP");
                std::thread::sleep(stall);
                signal(pid, "CONT");
                faults.push(format!("SIGSTOP {} for {stall:?}", w.lemfs[lemf].agency));
            }
        }
    }
    eprintln!("chaos: {} faults: {faults:#?}", faults.len());
    let finished = wait_until(Duration::from_secs(180), || app.try_wait().unwrap().is_some());
    assert!(finished, "the last run finished");
    let st = app.wait().unwrap();
    assert!(st.success(), "the last run exits 0: {st}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    for l in &mut w.lemfs {
        l.stop();
    }
    let tail = |n: usize| {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    let pending = w.pending();
    assert!(pending.is_empty(), "the spool is fully confirmed; {} records left:\n{}", pending.len(), tail(60));
    let received: BTreeSet<Key> = w.received().into_values().flatten().collect();
    let lost: Vec<_> = left_in_spool.difference(&received).collect();
    assert!(lost.is_empty(), "{} records a killed appliance had spooled never arrived: {:?}", lost.len(), lost.first());
    w.assert_delivered_as_replayed(floor);
}
