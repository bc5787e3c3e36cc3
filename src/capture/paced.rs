//! Replay at a packet rate: wraps a source and hands out at most `rate` frames per second
//! from its start, so a partial batch is handed on at its deadline instead of waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::{Backing, Behaviour, CaptureSource, Next, SourceStats};
use super::CaptureError;

/// A source paced to `rate` frames per second.
pub struct Paced<S> {
    inner: S,
    rate: u32,
    started: Instant,
    /// Frames handed out so far.
    handed: u64,
}

impl<S: CaptureSource> Paced<S> {
    /// Paces `inner` to `rate` (> 0) frames per second from now.
    pub fn new(inner: S, rate: u32) -> Paced<S> {
        Paced { inner, rate: rate.max(1), started: Instant::now(), handed: 0 }
    }

    /// When the next frame is due.
    fn due(&self) -> Instant {
        self.started + Duration::from_secs_f64((self.handed + 1) as f64 / f64::from(self.rate))
    }
}

impl<S: CaptureSource> CaptureSource for Paced<S> {
    /// Waits until the next frame is due; when that is after `deadline`, waits until the
    /// deadline instead and returns [`Next::Idle`] (the partial batch is handed on).
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Next<'_>, CaptureError> {
        let due = self.due();
        if let Some(deadline) = deadline.filter(|deadline| due > *deadline) {
            sleep_until(deadline);
            return Ok(Next::Idle);
        }
        let next = self.inner.next_frame(None)?;
        if let Next::Frame(_) = next {
            sleep_until(due);
            self.handed += 1;
        }
        Ok(next)
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

fn sleep_until(when: Instant) {
    if let Some(wait) = when.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}
