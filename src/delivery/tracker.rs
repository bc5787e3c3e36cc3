//! Sans-IO delivery bookkeeping of one connection: what was sent, which keep-alives are
//! outstanding, what a keep-alive-response confirms, when to probe, and reconnect back-off.
//!
//! A keep-aliveResponse (TS 102 232-1 TRIPayload `[4]`) is a NULL: only its PSHeader can tie
//! it to the keep-alive it answers. A response confirms only when it echoes that keep-alive's
//! [`Echo`] (sequence number, which starts at a random value per connection, and the
//! microsecond timestamp) and arrived after the keep-alive was handed to the connection.
//! Anything else is a [`TrackerError`]: the caller drops the connection and nothing is
//! confirmed. Call order: `may_send`/`send_from`/`sent` per chunk, `probe_due` then
//! `probe_sent` per keep-alive, `on_response` per response, `timed_out` on every tick.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::spool::Position;

/// A point in the spool stream with the cumulative records and bytes before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub pos: Position,
    pub records: u64,
    pub bytes: u64,
}

/// Timing and window settings.
#[derive(Clone, Copy, Debug)]
pub struct TrackerConfig {
    /// Probe after this many records sent since the last probe.
    pub batch_records: u64,
    /// Probe an idle connection this often.
    pub idle: Duration,
    /// A keep-alive not answered within this time means the connection is dead.
    pub response_timeout: Duration,
    /// Stop sending while this many bytes are sent but unconfirmed.
    pub window_bytes: u64,
    /// At most this many keep-alives outstanding.
    pub max_outstanding: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            batch_records: 512,
            idle: Duration::from_secs(10),
            response_timeout: Duration::from_secs(15),
            window_bytes: 8 << 20,
            max_outstanding: 16,
        }
    }
}

/// What a keep-alive-response must echo of its keep-alive's PSHeader (besides the LIID and
/// network identifiers, which are the same on every keep-alive of a connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    pub sequence: u32,
    /// microSecondTimeStamp seconds and microSeconds.
    pub seconds: u64,
    pub micros: u32,
}

/// A keep-alive-response that does not answer the oldest outstanding keep-alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("keep-alive-response {got} without an outstanding keep-alive")]
    Unsolicited { got: u32 },
    #[error("keep-alive-response {got}, expected {expected}")]
    OutOfOrder { got: u32, expected: u32 },
    #[error("keep-alive-response {sequence} does not echo its keep-alive's timestamp")]
    WrongTimestamp { sequence: u32 },
    #[error("keep-alive-response {sequence} arrived before its keep-alive was written")]
    Early { sequence: u32 },
}

/// What a keep-alive-response confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirmed {
    /// The new confirmed mark.
    pub upto: Mark,
    /// Records and bytes newly confirmed by this response.
    pub records: u64,
    pub bytes: u64,
    /// Time from sending the keep-alive to its response.
    pub round_trip: Duration,
}

#[derive(Debug)]
struct Probe {
    echo: Echo,
    mark: Mark,
    sent_at: Instant,
}

/// Per-connection state: records go out from the confirmed mark; each keep-alive carries
/// the mark of everything sent before it; its response (TCP keeps order) confirms that.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    confirmed: Mark,
    sent: Mark,
    probed: Mark,
    outstanding: VecDeque<Probe>,
    next_sequence: u32,
    last_probe: Instant,
}

impl Tracker {
    /// A fresh connection: sending resumes at `confirmed`; keep-alives are numbered from 0.
    pub fn new(config: TrackerConfig, confirmed: Position, now: Instant) -> Tracker {
        Tracker::with_first_sequence(config, confirmed, now, 0)
    }

    /// As [`Tracker::new`], numbering keep-alives from `first` (a random value per
    /// connection, so that a peer cannot answer a keep-alive it did not read).
    pub fn with_first_sequence(config: TrackerConfig, confirmed: Position, now: Instant, first: u32) -> Tracker {
        let mark = Mark { pos: confirmed, records: 0, bytes: 0 };
        Tracker {
            config,
            confirmed: mark,
            sent: mark,
            probed: mark,
            outstanding: VecDeque::new(),
            next_sequence: first,
            last_probe: now,
        }
    }

    /// Where the next records to send start.
    pub fn send_from(&self) -> Position {
        self.sent.pos
    }

    pub fn confirmed(&self) -> Mark {
        self.confirmed
    }

    /// Whether more records may go out now (the unconfirmed window is not full).
    pub fn may_send(&self) -> bool {
        self.sent.bytes - self.confirmed.bytes < self.config.window_bytes
    }

    /// Records up to `end` were written to the connection.
    pub fn sent(&mut self, end: Position, records: u64, bytes: u64) {
        self.sent = Mark { pos: end, records: self.sent.records + records, bytes: self.sent.bytes + bytes };
    }

    /// Whether to send a keep-alive now; `drained` says nothing more is waiting to be sent.
    /// Returns its sequence number; the caller sends it and calls [`Tracker::probe_sent`].
    pub fn probe_due(&self, now: Instant, drained: bool) -> Option<u32> {
        if self.outstanding.len() >= self.config.max_outstanding {
            return None;
        }
        let unprobed = self.sent.records - self.probed.records;
        let due = unprobed >= self.config.batch_records
            || (drained && unprobed > 0)
            || (!self.may_send() && unprobed > 0)
            || (self.outstanding.is_empty() && now.duration_since(self.last_probe) >= self.config.idle);
        due.then_some(self.next_sequence)
    }

    /// The keep-alive returned by [`Tracker::probe_due`], stamped `seconds`/`micros`, is
    /// being written; `now` is taken before the write starts.
    pub fn probe_sent(&mut self, now: Instant, seconds: u64, micros: u32) {
        let echo = Echo { sequence: self.next_sequence, seconds, micros };
        self.outstanding.push_back(Probe { echo, mark: self.sent, sent_at: now });
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.probed = self.sent;
        self.last_probe = now;
    }

    /// A keep-alive-response echoing `got` was read at `arrived`. Confirms only when it
    /// answers the oldest outstanding keep-alive; an error confirms nothing (drop the
    /// connection).
    pub fn on_response(&mut self, got: Echo, arrived: Instant) -> Result<Confirmed, TrackerError> {
        let sequence = got.sequence;
        let Some(front) = self.outstanding.front() else {
            return Err(TrackerError::Unsolicited { got: sequence });
        };
        if front.echo.sequence != sequence {
            return Err(TrackerError::OutOfOrder { got: sequence, expected: front.echo.sequence });
        }
        if front.echo != got {
            return Err(TrackerError::WrongTimestamp { sequence });
        }
        if arrived < front.sent_at {
            return Err(TrackerError::Early { sequence });
        }
        let probe = self.outstanding.pop_front().ok_or(TrackerError::Unsolicited { got: sequence })?;
        let before = self.confirmed;
        self.confirmed = probe.mark;
        Ok(Confirmed {
            upto: probe.mark,
            records: probe.mark.records - before.records,
            bytes: probe.mark.bytes - before.bytes,
            round_trip: arrived.duration_since(probe.sent_at),
        })
    }

    /// Whether the oldest keep-alive went unanswered for too long.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.outstanding
            .front()
            .is_some_and(|p| now.duration_since(p.sent_at) >= self.config.response_timeout)
    }

    /// Everything sent is confirmed and no keep-alive is outstanding.
    pub fn settled(&self) -> bool {
        self.outstanding.is_empty() && self.sent == self.confirmed
    }
}

/// Capped exponential reconnect back-off.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, next: min }
    }

    /// The wait before the next attempt; doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// A connection succeeded: start again from the minimum.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> Position {
        Position { segment: 0, offset }
    }

    fn echo(sequence: u32) -> Echo {
        Echo { sequence, seconds: 7, micros: 0 }
    }

    fn config() -> TrackerConfig {
        TrackerConfig { batch_records: 3, window_bytes: 1000, ..TrackerConfig::default() }
    }

    #[test]
    fn response_confirms_what_was_sent_before_its_keepalive() {
        let t0 = Instant::now();
        let mut t = Tracker::new(config(), pos(0), t0);
        t.sent(pos(100), 2, 100);
        assert_eq!(t.probe_due(t0, false), None);
        assert_eq!(t.probe_due(t0, true), Some(0));
        t.probe_sent(t0, 7, 0);
        t.sent(pos(150), 1, 50);
        let c = t.on_response(echo(0), t0 + Duration::from_millis(3)).unwrap();
        assert_eq!((c.upto.pos, c.records, c.bytes), (pos(100), 2, 100));
        assert_eq!(c.round_trip, Duration::from_millis(3));
        assert!(!t.settled());
        assert_eq!(t.probe_due(t0, true), Some(1));
        t.probe_sent(t0, 7, 0);
        let c = t.on_response(echo(1), t0).unwrap();
        assert_eq!((c.upto.pos, c.records), (pos(150), 1));
        assert!(t.settled());
    }

    #[test]
    fn batch_and_window_trigger_probes() {
        let t0 = Instant::now();
        let mut t = Tracker::new(config(), pos(0), t0);
        t.sent(pos(30), 3, 30);
        assert_eq!(t.probe_due(t0, false), Some(0));
        t.probe_sent(t0, 7, 0);
        t.sent(pos(1030), 1, 1000);
        assert!(!t.may_send());
        assert_eq!(t.probe_due(t0, false), Some(1));
    }

    #[test]
    fn idle_connection_is_probed_and_times_out_without_answer() {
        let t0 = Instant::now();
        let mut t = Tracker::new(config(), pos(0), t0);
        assert_eq!(t.probe_due(t0 + Duration::from_secs(1), true), None);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(t.probe_due(later, true), Some(0));
        t.probe_sent(later, 7, 0);
        assert!(!t.timed_out(later + Duration::from_secs(14)));
        assert!(t.timed_out(later + Duration::from_secs(15)));
    }

    #[test]
    fn wrong_response_sequence_is_an_error() {
        let t0 = Instant::now();
        let mut t = Tracker::new(config(), pos(0), t0);
        assert_eq!(t.on_response(echo(0), t0), Err(TrackerError::Unsolicited { got: 0 }));
        t.sent(pos(10), 1, 10);
        t.probe_sent(t0, 7, 0);
        assert_eq!(t.on_response(echo(5), t0), Err(TrackerError::OutOfOrder { got: 5, expected: 0 }));
    }

    #[test]
    fn a_response_must_echo_the_timestamp_and_come_after_its_keepalive() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_millis(5);
        let mut t = Tracker::with_first_sequence(config(), pos(0), later, 0xfffe_ffff);
        t.sent(pos(10), 1, 10);
        assert_eq!(t.probe_due(later, true), Some(0xfffe_ffff));
        t.probe_sent(later, 1_700_000_000, 250);
        let forged = Echo { sequence: 0xfffe_ffff, seconds: 1_700_000_000, micros: 251 };
        assert_eq!(t.on_response(forged, later), Err(TrackerError::WrongTimestamp { sequence: 0xfffe_ffff }));
        let genuine = Echo { micros: 250, ..forged };
        assert_eq!(t.on_response(genuine, t0), Err(TrackerError::Early { sequence: 0xfffe_ffff }));
        assert_eq!(t.confirmed(), Mark { pos: pos(0), records: 0, bytes: 0 }, "nothing confirmed");
        let c = t.on_response(genuine, later).unwrap();
        assert_eq!((c.upto.pos, c.records), (pos(10), 1));
    }

    #[test]
    fn a_new_connection_resends_from_the_confirmed_position() {
        let t0 = Instant::now();
        let mut t = Tracker::new(config(), pos(0), t0);
        t.sent(pos(100), 2, 100);
        t.probe_sent(t0, 7, 0);
        t.sent(pos(200), 2, 100);
        t.on_response(echo(0), t0).unwrap();
        let again = Tracker::new(config(), t.confirmed().pos, t0);
        assert_eq!(again.send_from(), pos(100));
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let seen: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(seen, [100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
