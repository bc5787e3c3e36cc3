//! Time in tapline. Packet time: the capture timestamp every record and rule is judged
//! by. The run's clock ([`RunClock`]): the one clock every warrant lifecycle event of a
//! run is stamped with (activation, modification, deactivation, expiry, the HI1
//! notifications to the agency and their audit entries): packet time when replaying a
//! capture file, wall-clock time live (an interface, X2/X3 ingest). Provisioning acts of a
//! person (the API, `tapline warrant`) are audited at wall-clock time, when they were done.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds since the Unix epoch, taken from the capture (never the wall clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const fn from_nanos(ns: u64) -> Self {
        Timestamp(ns)
    }
    pub const fn from_secs_micros(secs: u64, micros: u32) -> Self {
        Timestamp(secs * 1_000_000_000 + micros as u64 * 1_000)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    /// Microseconds within the second (0..1_000_000).
    pub const fn subsec_micros(self) -> u32 {
        ((self.0 % 1_000_000_000) / 1_000) as u32
    }
    /// Nanoseconds within the second.
    pub const fn subsec_nanos(self) -> u32 {
        (self.0 % 1_000_000_000) as u32
    }
    /// Wall-clock time now.
    pub fn wall_now() -> Self {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Timestamp(ns)
    }
    pub const fn saturating_sub(self, other: Timestamp) -> u64 {
        self.0.saturating_sub(other.0)
    }
    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-01T10:00:00.250000Z`.
    pub fn to_rfc3339(self) -> String {
        match time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128) {
            Ok(t) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            ),
            Err(_) => format!("{}ns", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// What the run's clock reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockBasis {
    /// Replaying a capture file: the latest packet time the packet path reached (before the
    /// first packet, the capture's first timestamp).
    Packet,
    /// Live: the wall clock.
    Wall,
}

/// The run's clock, shared by the packet path (which tells it each packet's time) and the
/// warrant watcher (which stamps reloads with it). See the module doc.
#[derive(Debug)]
pub struct RunClock {
    basis: ClockBasis,
    packet: AtomicU64,
}

impl RunClock {
    /// Packet time, reading `start` (the capture's first timestamp) until a packet is seen.
    pub fn packet(start: Timestamp) -> RunClock {
        RunClock { basis: ClockBasis::Packet, packet: AtomicU64::new(start.0) }
    }

    /// The wall clock.
    pub fn wall() -> RunClock {
        RunClock { basis: ClockBasis::Wall, packet: AtomicU64::new(0) }
    }

    pub fn basis(&self) -> ClockBasis {
        self.basis
    }

    /// The packet path reached packet time `ts` (one relaxed atomic per packet).
    pub fn observe(&self, ts: Timestamp) {
        if self.basis == ClockBasis::Packet {
            self.packet.fetch_max(ts.0, Ordering::Relaxed);
        }
    }

    /// The time now on this clock.
    pub fn now(&self) -> Timestamp {
        match self.basis {
            ClockBasis::Packet => Timestamp(self.packet.load(Ordering::Relaxed)),
            ClockBasis::Wall => Timestamp::wall_now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_clock_reads_the_latest_packet_and_wall_clock_ignores_packets() {
        let start = Timestamp::from_secs_micros(1_700_000_000, 0);
        let c = RunClock::packet(start);
        assert_eq!(c.now(), start);
        c.observe(Timestamp::from_secs_micros(1_700_000_005, 0));
        c.observe(Timestamp::from_secs_micros(1_700_000_003, 0));
        assert_eq!(c.now(), Timestamp::from_secs_micros(1_700_000_005, 0), "never goes back");
        let w = RunClock::wall();
        w.observe(start);
        assert!(w.now() > Timestamp::from_secs_micros(1_790_000_000, 0), "today, not the packet");
    }

    #[test]
    fn splits_seconds_and_micros() {
        let t = Timestamp::from_secs_micros(1_700_000_000, 123_456);
        assert_eq!(t.secs(), 1_700_000_000);
        assert_eq!(t.subsec_micros(), 123_456);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
    }
}
