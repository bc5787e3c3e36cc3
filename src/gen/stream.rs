//! Streaming generator for large benchmark captures: N seeded random calls, about M at a time,
//! planned lazily and merged with a heap so memory stays bounded by the concurrency; an exact
//! share of them has a warrant target as a party.

use std::io::{self, Write};
use std::time::Duration;

use super::call::{CallSpec, Outcome, Transport};
use super::flow::plan_call;
use super::pcap_writer::{PcapWriter, Resolution};
use super::rng::Rng;
use super::scenario::ScenarioStats;
use super::source::{write_counted, Merger};
use super::targets::{TargetPlan, TargetedCall, AREA_CODES, SUBSCRIBER_LINES};
use super::tunnel::{Encapsulator, MirrorTunnel};
use crate::Timestamp;

/// Settings of [`generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    pub calls: u64,
    /// Calls in progress at once, on average.
    pub concurrent: u32,
    pub seed: u64,
    /// Mean talk time of answered calls (each call draws 50–150 % of it).
    pub talk: Duration,
    pub start: Timestamp,
    pub resolution: Resolution,
    /// Percent of calls with a warrant target as a party (see [`super::write_warrant_set`]).
    pub target_share: u8,
    /// Deliver every frame inside this mirror tunnel (None: the frames as sent).
    pub tunnel: Option<MirrorTunnel>,
}

impl GenConfig {
    /// 30 s mean talk, starting 2026-11-02T09:00:00Z, microsecond pcap, 10 % of calls targeted.
    pub fn new(calls: u64, concurrent: u32, seed: u64) -> Self {
        GenConfig {
            calls,
            concurrent,
            seed,
            talk: Duration::from_secs(30),
            start: Timestamp::from_secs_micros(1_793_610_000, 0),
            resolution: Resolution::Micro,
            target_share: 10,
            tunnel: None,
        }
    }
}

/// Mean signalling overhead of a call besides talk (setup, ringing), for the arrival rate.
const SETUP_NS: u64 = 5_000_000_000;

/// Writes `cfg.calls` calls with mixed outcomes, transports, families, VLANs and extras.
pub fn generate(cfg: &GenConfig, w: impl Write) -> io::Result<ScenarioStats> {
    generate_with(cfg, w, None)
}

/// [`generate`] for the command line: progress on stderr (see [`crate::progress`]).
pub fn generate_showing_progress(cfg: &GenConfig, w: impl Write) -> io::Result<ScenarioStats> {
    let mut meter = crate::progress::Meter::start("gen");
    let stats = generate_with(cfg, w, Some(&mut meter))?;
    meter.finish(stats.frames);
    Ok(stats)
}

/// Frames written between two ticks of the progress meter.
const TICK_EVERY: u64 = 4096;

fn generate_with(cfg: &GenConfig, w: impl Write, mut meter: Option<&mut crate::progress::Meter>) -> io::Result<ScenarioStats> {
    let mut pcap = PcapWriter::new(w, cfg.resolution)?;
    let mut stats = ScenarioStats {
        calls: cfg.calls,
        ..ScenarioStats::default()
    };
    let mut arrivals = Rng::new(cfg.seed);
    let mean_gap = mean_gap_us(cfg);
    let plan = TargetPlan::new(cfg.calls, cfg.target_share);
    let mut merger = Merger::new();
    let mut next_call = 0u64;
    let mut next_start = cfg.start;
    let mut encapsulator = cfg.tunnel.map(Encapsulator::new);
    let mut wrapped = Vec::new();
    loop {
        while next_call < cfg.calls && merger.peek_ts().is_none_or(|ts| next_start <= ts) {
            let mut rng = Rng::derive(cfg.seed, next_call);
            let (spec, _) = random_call(cfg, &plan, next_call, next_start, &mut rng);
            merger.add(plan_call(&spec, rng));
            next_call += 1;
            let gap_us = arrivals.between(0, mean_gap.saturating_mul(2));
            next_start =
                Timestamp::from_nanos(next_start.as_nanos().saturating_add(gap_us * 1_000));
        }
        match merger.pop() {
            Some(mut frame) => {
                if let Some(encapsulator) = &mut encapsulator {
                    wrapped.clear();
                    encapsulator.wrap(frame.ts, &frame.bytes, &mut wrapped)?;
                    std::mem::swap(&mut frame.bytes, &mut wrapped);
                }
                write_counted(&mut pcap, &frame, &mut stats)?;
                if let Some(m) = meter.as_deref_mut().filter(|_| stats.frames.is_multiple_of(TICK_EVERY)) {
                    let fraction = (next_call as f64 / cfg.calls.max(1) as f64).min(0.999);
                    m.tick(|| crate::progress::Sample { packets: stats.frames, fraction: Some(fraction) });
                }
            }
            None if next_call >= cfg.calls => break,
            None => {}
        }
    }
    pcap.into_inner().flush()?;
    Ok(stats)
}

/// Mean time between call arrivals, microseconds; each gap is drawn in `0..=2 * mean`.
pub(super) fn mean_gap_us(cfg: &GenConfig) -> u64 {
    (talk_ns(cfg).saturating_add(SETUP_NS) / u64::from(cfg.concurrent.max(1))) / 1_000
}

pub(super) fn talk_ns(cfg: &GenConfig) -> u64 {
    u64::try_from(cfg.talk.as_nanos()).unwrap_or(u64::MAX)
}

/// A subscriber never under warrant: `+1AAA555LLLL` with `LLLL` in 1000..=9999.
fn number(rng: &mut Rng) -> String {
    let area = AREA_CODES[rng.between(0, AREA_CODES.len() as u64 - 1) as usize];
    let (low, high) = SUBSCRIBER_LINES;
    format!("+1{area}555{:04}", rng.between(low, high))
}

fn digits(rng: &mut Rng) -> String {
    const KEYS: &[u8] = b"0123456789*#";
    (0..4)
        .map(|_| char::from(KEYS[rng.between(0, KEYS.len() as u64 - 1) as usize]))
        .collect()
}

/// Call `index` of the mix (what it is does not depend on `start`), with its target if the
/// plan puts it under warrant.
pub(super) fn random_call(
    cfg: &GenConfig,
    plan: &TargetPlan,
    index: u64,
    start: Timestamp,
    rng: &mut Rng,
) -> (CallSpec, Option<TargetedCall>) {
    let talk_ms = u64::try_from(cfg.talk.as_millis()).unwrap_or(u64::MAX);
    let talk = Duration::from_millis(talk_ms.saturating_mul(rng.between(50, 150)) / 100);
    let caller = number(rng);
    let callee = number(rng);
    let outcome = match rng.between(0, 99) {
        0..=61 => Outcome::Answered { talk },
        62..=71 => Outcome::RangNoAnswer {
            ring: Duration::from_millis(rng.between(3_000, 20_000)),
        },
        72..=79 => Outcome::Rejected {
            status: [486, 603, 480, 404][rng.between(0, 3) as usize],
        },
        80..=83 => Outcome::ForwardedBy3xx {
            to: number(rng),
            talk,
        },
        84..=87 => Outcome::ForwardedDiversion {
            to: number(rng),
            talk,
        },
        88..=89 => Outcome::NeverEnds { talk },
        _ => Outcome::Answered { talk },
    };
    let mut spec = CallSpec::new(&caller, &callee, outcome, start);
    spec.transport = if rng.chance(20) {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    spec.ipv6 = rng.chance(15);
    spec.vlan = rng.chance(20).then(|| 100 * rng.between(1, 3) as u16);
    spec.caller_private = rng.chance(8);
    spec.caller_anonymous_unavailable = !spec.caller_private && rng.chance(3);
    spec.rfc4733_digits = rng.chance(10).then(|| digits(rng));
    spec.info_digits = rng.chance(5).then(|| digits(rng));
    spec.subject = rng.chance(10).then(|| "call back please".to_string());
    spec.reinvite_hold = rng.chance(5);
    spec.retransmit_invite = rng.chance(5);
    spec.rtcp = rng.chance(50);
    let targeted = plan.apply(index, &mut spec, rng);
    (spec, targeted)
}
