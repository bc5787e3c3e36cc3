//! Frames pushed by another component (X2/X3 ingest) over a channel, read until every
//! sender is gone. Never dropped: a full pipeline makes the pushers wait. On a stop request
//! the frames already queued when it came are still read.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::source::{Behaviour, CaptureSource, Next, SourceStats};
use super::{CaptureError, Frame, LinkType};
use crate::Timestamp;

/// A frame handed to a pushed source, owning its bytes.
#[derive(Clone, Debug)]
pub struct PushedFrame {
    pub ts: Timestamp,
    pub link: LinkType,
    pub data: Vec<u8>,
}

/// The receiving end of pushed frames.
pub struct Pushed {
    rx: Receiver<PushedFrame>,
    /// The frame handed out last (its bytes are copied into the batch).
    current: Option<PushedFrame>,
    /// How long a read waits for a frame when no batch is open.
    wait: Duration,
    /// After a stop request: frames still to read (those queued when it came).
    drain_left: Option<usize>,
    stats: SourceStats,
}

impl Pushed {
    /// Reads `rx`; an idle read waits up to `wait`.
    pub fn new(rx: Receiver<PushedFrame>, wait: Duration) -> Pushed {
        Pushed { rx, current: None, wait, drain_left: None, stats: SourceStats::default() }
    }
}

impl CaptureSource for Pushed {
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Next<'_>, CaptureError> {
        let received = match deadline {
            Some(deadline) => self.rx.recv_deadline(deadline),
            None => self.rx.recv_timeout(self.wait),
        };
        self.current = match received {
            Ok(frame) => Some(frame),
            Err(RecvTimeoutError::Timeout) => return Ok(Next::Idle),
            Err(RecvTimeoutError::Disconnected) => return Ok(Next::End),
        };
        let Some(frame) = &self.current else { return Ok(Next::Idle) };
        self.stats.frames += 1;
        self.stats.bytes += frame.data.len() as u64;
        let orig_len = u32::try_from(frame.data.len()).unwrap_or(u32::MAX);
        Ok(Next::Frame(Frame { ts: frame.ts, link: frame.link, data: &frame.data, orig_len }))
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour { live: false, deadlined: true }
    }

    fn stop_now(&mut self) -> bool {
        let left = self.drain_left.get_or_insert(self.rx.len());
        if *left == 0 {
            return true;
        }
        *left -= 1;
        false
    }

    fn stats(&mut self) -> SourceStats {
        self.stats
    }
}
