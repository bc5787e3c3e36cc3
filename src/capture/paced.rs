//! Paced replay (`run --pcap FILE --rate R`): wraps a source and releases each frame at
//! its scheduled time, so a replayed capture arrives as live traffic would. The schedule is
//! either a fixed packet rate (frame `i` at `i / R` seconds from the start) or a multiple of
//! the capture's own timing (frame at `(ts - first ts) / N`). A frame's release is its
//! capture moment: the batch stage stamps it then, and stage latencies start there. One
//! wake-up releases every frame due within [`SLACK`] of it (frames go out at most that much
//! early, as a NIC's interrupt coalescing would hand them over), so the capture thread
//! neither sleeps nor reads the clock once per frame at high rates.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::{within, Backing, Behaviour, CaptureSource, Next, SourceStats};
use super::{CaptureError, Frame, LinkType};
use crate::Timestamp;

/// How fast a paced replay releases frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// A fixed rate, frames per second (`--rate 50000`), evenly spaced.
    PacketsPerSecond(u32),
    /// A multiple of the capture's own timing (`--rate 2x`: twice as fast as recorded,
    /// `--rate 0.5x`: half as fast), keeping its bursts and pauses.
    Speed(f64),
}

/// A `--rate` value that is neither a positive packet rate nor a positive multiple.
#[derive(Debug, thiserror::Error)]
#[error("replay rate `{value}`: {reason} (packets per second, e.g. 50000, or a multiple of the capture's own rate, e.g. 2x)")]
pub struct RateError {
    value: String,
    reason: &'static str,
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Rate, RateError> {
        let error = |reason| RateError { value: s.to_owned(), reason };
        let value = s.trim();
        match value.strip_suffix(['x', 'X']) {
            Some(multiple) => match multiple.trim().parse::<f64>() {
                Ok(m) if m.is_finite() && m > 0.0 => Ok(Rate::Speed(m)),
                Ok(_) => Err(error("the multiple must be above 0")),
                Err(_) => Err(error("not a number before `x`")),
            },
            None => match value.parse::<u32>() {
                Ok(0) => Err(error("the rate must be above 0")),
                Ok(pps) => Ok(Rate::PacketsPerSecond(pps)),
                Err(_) => Err(error("not a whole number of packets per second")),
            },
        }
    }
}

/// The longest a read waits for a frame due later, without a batch deadline: the batch
/// stage then checks for a stop request (a capture's pause must not hold up a stop).
const MAX_WAIT: Duration = Duration::from_millis(50);

/// How early a frame may be released with the wake-up before its own (the default timer
/// slack of a Linux thread: a shorter sleep would overshoot by about this much anyway).
const SLACK: Duration = Duration::from_micros(50);

/// The release clock, read again only when the next frame is not known to be due yet.
struct Clock {
    now: Instant,
}

impl Clock {
    /// Returns once `due` is at most [`SLACK`] ahead, sleeping if it is further.
    fn wait_until(&mut self, due: Instant) {
        if due <= self.now + SLACK {
            return;
        }
        self.now = Instant::now();
        if let Some(wait) = due.checked_duration_since(self.now + SLACK) {
            std::thread::sleep(wait + SLACK);
            self.now = Instant::now();
        }
    }

    /// Sleeps until `when` exactly (a batch deadline: the batch stage closes the batch then).
    fn sleep_until(&mut self, when: Instant) {
        if let Some(wait) = when.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        self.now = Instant::now();
    }
}

/// A frame read from the inner source before it was due, kept until it is.
struct Held {
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
    bytes: HeldBytes,
    due: Instant,
}

/// Where a held frame's bytes are: still in the source's shared memory (batches then
/// borrow it as they would have), or copied (the source reuses its buffer).
enum HeldBytes {
    Shared(Arc<dyn Backing>, std::ops::Range<usize>),
    Copied(Vec<u8>),
}

impl Held {
    fn frame(&self) -> Frame<'_> {
        let data = match &self.bytes {
            HeldBytes::Shared(backing, range) => backing.bytes().get(range.clone()).unwrap_or_default(),
            HeldBytes::Copied(data) => data,
        };
        Frame { ts: self.ts, link: self.link, data, orig_len: self.orig_len }
    }
}

/// A source released on a schedule.
pub struct Paced<S> {
    inner: S,
    rate: Rate,
    started: Instant,
    /// The first frame's packet time (the origin of a [`Rate::Speed`] schedule).
    first: Option<Timestamp>,
    /// Frames released so far.
    released: u64,
    /// The next frame, read but not yet due.
    held: Option<Held>,
    /// The held frame released last (the frame handed out borrows it).
    out: Option<Held>,
    clock: Clock,
    /// The inner source's shared memory as of its last [`Next::Boundary`] (a frame held
    /// stays there, not copied, when it lies in it).
    backing: Option<Arc<dyn Backing>>,
    /// The inner source passed a boundary: `backing` is to be read again.
    rebased: bool,
}

impl<S: CaptureSource> Paced<S> {
    /// Paces `inner` at `rate` from now.
    pub fn new(inner: S, rate: Rate) -> Paced<S> {
        let (started, backing) = (Instant::now(), inner.backing());
        Paced {
            inner,
            rate,
            started,
            first: None,
            released: 0,
            held: None,
            out: None,
            clock: Clock { now: started },
            backing,
            rebased: false,
        }
    }
}

/// When the next frame (packet time `ts`, `released` frames before it) is due on the
/// schedule of `rate` started at `started`; `first` is the schedule's first packet time.
fn due(rate: Rate, started: Instant, first: &mut Option<Timestamp>, released: u64, ts: Timestamp) -> Instant {
    let offset = match rate {
        Rate::PacketsPerSecond(pps) => Duration::from_secs_f64(released as f64 / f64::from(pps.max(1))),
        Rate::Speed(multiple) => {
            let first = *first.get_or_insert(ts);
            // Packet time going backwards (merged interfaces) releases at once.
            let recorded = ts.as_nanos().saturating_sub(first.as_nanos());
            Duration::from_secs_f64(recorded as f64 / 1e9 / multiple)
        }
    };
    started + offset
}

impl<S: CaptureSource> CaptureSource for Paced<S> {
    /// Waits until the next frame is due and releases it. When it is due after `deadline`
    /// (or more than [`MAX_WAIT`] from now without one), waits until then instead and
    /// returns [`Next::Idle`]: the partial batch is handed on, the frame released later.
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Next<'_>, CaptureError> {
        let limit = deadline.unwrap_or_else(|| Instant::now() + MAX_WAIT);
        if let Some(due) = self.held.as_ref().map(|held| held.due) {
            if due > limit {
                self.clock.sleep_until(limit);
                return Ok(Next::Idle);
            }
            self.clock.wait_until(due);
            self.released += 1;
            self.out = self.held.take();
            return Ok(self.out.as_ref().map_or(Next::Idle, |held| Next::Frame(held.frame())));
        }
        if std::mem::take(&mut self.rebased) {
            self.backing = self.inner.backing();
        }
        let frame = match self.inner.next_frame(None)? {
            Next::Frame(frame) => frame,
            Next::Boundary => {
                self.rebased = true;
                return Ok(Next::Boundary);
            }
            other => return Ok(other),
        };
        let due = due(self.rate, self.started, &mut self.first, self.released, frame.ts);
        if due > limit {
            let shared = self.backing.as_ref().and_then(|b| within(b.bytes(), frame.data).map(|range| (Arc::clone(b), range)));
            let bytes = match (shared, self.out.take()) {
                (Some((backing, range)), _) => HeldBytes::Shared(backing, range),
                (None, Some(Held { bytes: HeldBytes::Copied(mut data), .. })) => {
                    data.clear();
                    data.extend_from_slice(frame.data);
                    HeldBytes::Copied(data)
                }
                (None, _) => HeldBytes::Copied(frame.data.to_vec()),
            };
            self.held = Some(Held { ts: frame.ts, link: frame.link, orig_len: frame.orig_len, bytes, due });
            self.clock.sleep_until(limit);
            return Ok(Next::Idle);
        }
        self.clock.wait_until(due);
        self.released += 1;
        Ok(Next::Frame(frame))
    }

    fn backing(&self) -> Option<Arc<dyn Backing>> {
        self.inner.backing()
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour { deadlined: true, ..self.inner.behaviour() }
    }

    fn stop_now(&mut self) -> bool {
        self.inner.stop_now()
    }

    fn stats(&mut self) -> SourceStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FileReader;

    fn demo() -> FileReader {
        FileReader::open(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcap")).expect("demo capture")
    }

    #[test]
    fn rates_parse_as_packets_per_second_or_a_multiple() {
        assert_eq!("50000".parse::<Rate>().ok(), Some(Rate::PacketsPerSecond(50_000)));
        assert_eq!("2x".parse::<Rate>().ok(), Some(Rate::Speed(2.0)));
        assert_eq!(" 0.5X".parse::<Rate>().ok(), Some(Rate::Speed(0.5)));
        for bad in ["0", "0x", "-2x", "x", "fast", "1.5", "-10", "infx", "NaNx"] {
            let e = bad.parse::<Rate>().expect_err(bad).to_string();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("e.g. 2x"), "{e}");
        }
    }

    #[test]
    fn the_schedule_spaces_frames_evenly_or_follows_packet_time() {
        let start = Instant::now();
        let mut first = None;
        let at = |d: Instant| d.duration_since(start);
        let pps = Rate::PacketsPerSecond(1_000);
        assert_eq!(at(due(pps, start, &mut first, 0, Timestamp::from_nanos(5))), Duration::ZERO);
        assert_eq!(at(due(pps, start, &mut first, 250, Timestamp::from_nanos(5))), Duration::from_millis(250));
        let twice = Rate::Speed(2.0);
        let t0 = 1_000_000_000_000;
        assert_eq!(at(due(twice, start, &mut first, 0, Timestamp::from_nanos(t0))), Duration::ZERO);
        let later = due(twice, start, &mut first, 1, Timestamp::from_nanos(t0 + 3_000_000_000));
        assert!(at(later).abs_diff(Duration::from_millis(1_500)) < Duration::from_micros(1), "{:?}", at(later));
        // Packet time going backwards is due at once, not in the past's future.
        assert_eq!(at(due(twice, start, &mut first, 2, Timestamp::from_nanos(t0 - 1))), Duration::ZERO);
    }

    #[test]
    fn a_frame_due_after_the_deadline_is_held_and_released_later() {
        let mut expected = demo();
        let mut ts = Vec::new();
        while let Ok(Some(frame)) = expected.next_frame() {
            ts.push((frame.ts, frame.data.to_vec()));
        }
        // 20 frames/s: the second frame is due 50 ms after the first.
        let mut paced = Paced::new(demo(), Rate::PacketsPerSecond(20));
        let Next::Frame(f) = paced.next_frame(None).expect("read") else { panic!("first frame due at once") };
        assert_eq!((f.ts, f.data), (ts[0].0, &ts[0].1[..]));
        let deadline = Instant::now() + Duration::from_millis(1);
        assert!(matches!(paced.next_frame(Some(deadline)).expect("read"), Next::Idle));
        assert!(Instant::now() >= deadline, "waited until the deadline");
        let backing = paced.backing().expect("a mapped file shares its memory");
        for (t, data) in &ts[1..4] {
            let Next::Frame(f) = paced.next_frame(None).expect("read") else { panic!("frame released") };
            assert_eq!((f.ts, f.data), (*t, &data[..]), "the held frame comes next, then the rest in order");
            assert!(within(backing.bytes(), f.data).is_some(), "a held frame is not copied out of the map");
        }
        assert_eq!(paced.stats().frames, 4, "the held frame was read once");
    }
}
