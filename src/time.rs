//! Packet time: the capture timestamp every record and rule is judged by.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_seconds_and_micros() {
        let t = Timestamp::from_secs_micros(1_700_000_000, 123_456);
        assert_eq!(t.secs(), 1_700_000_000);
        assert_eq!(t.subsec_micros(), 123_456);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
    }
}
