//! The one interface every capture source implements (file replay, libpcap, AF_PACKET,
//! frames pushed by X2/X3 ingest), as smoltcp's `phy::Device` is for its NICs. The batch
//! stage reads any source through it; a source whose frames lie in memory it can share
//! (a mapped file, a block of a capture ring) says so with [`CaptureSource::backing`], and
//! batches then borrow that memory instead of copying the frames.

use std::sync::Arc;
use std::time::Instant;

use super::{CaptureError, Frame};

/// Memory that frames of batches borrow. A batch keeps it alive while any stage holds the
/// batch; dropping the last holder gives it back (a ring block goes back to the kernel).
pub trait Backing: Send + Sync {
    /// The bytes frames lie in.
    fn bytes(&self) -> &[u8];
}

impl std::fmt::Debug for dyn Backing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backing({} bytes)", self.bytes().len())
    }
}

impl Backing for memmap2::Mmap {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// The range `inner` occupies in `outer`, if it lies there (a frame in a source's backing).
#[inline]
pub fn within(outer: &[u8], inner: &[u8]) -> Option<std::ops::Range<usize>> {
    Span::of(outer).locate(inner)
}

/// The address range of a buffer, kept to place many slices in it by address (a batch
/// looks its backing up once, not once per frame).
#[derive(Clone, Copy, Debug)]
pub struct Span {
    start: usize,
    len: usize,
}

impl Span {
    #[inline]
    pub fn of(bytes: &[u8]) -> Span {
        Span { start: bytes.as_ptr() as usize, len: bytes.len() }
    }

    /// The range `inner` occupies in the span, if it lies there.
    #[inline]
    pub fn locate(self, inner: &[u8]) -> Option<std::ops::Range<usize>> {
        let start = (inner.as_ptr() as usize).checked_sub(self.start)?;
        let end = start.checked_add(inner.len())?;
        (end <= self.len).then_some(start..end)
    }
}

/// What a source has next.
#[derive(Debug)]
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// No frame came before the deadline (or the source's own read timeout): the caller
    /// checks for a stop request and hands on a partial batch, then calls again.
    Idle,
    /// The next frames lie in a new [`CaptureSource::backing`]: a batch borrowing the old
    /// one ends here.
    Boundary,
    /// The source has no more frames (end of a file, every pusher gone).
    End,
}

/// How the batch stage treats a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// Live traffic: a read error ends the run, and a batch waiting for room in a full
    /// pipeline is dropped (counted) at a stop request. Otherwise a read error is recorded
    /// in the summary while reading goes on. Every source waits for room when the pipeline
    /// is full: live traffic is held meanwhile in the kernel's buffer, which counts what it
    /// must drop.
    pub live: bool,
    /// A partial batch is handed on after the linger time instead of waiting to fill.
    pub deadlined: bool,
}

/// Counters of a source, for the capture summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Frames handed out.
    pub frames: u64,
    /// Captured bytes handed out.
    pub bytes: u64,
    /// Frames the kernel or the interface dropped before the source saw them.
    pub dropped_kernel: u64,
}

/// A source of captured frames.
pub trait CaptureSource: Send {
    /// The next frame or event. A live source waits at most until `deadline` (when given)
    /// or its own read timeout, whichever is sooner, then returns [`Next::Idle`].
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Next<'_>, CaptureError>;

    /// The memory the next frames lie in, when batches may share it (None: frames are
    /// copied into the batch, as they live only until the next call).
    fn backing(&self) -> Option<Arc<dyn Backing>> {
        None
    }

    /// How the batch stage treats the source.
    fn behaviour(&self) -> Behaviour;

    /// On a stop request: whether reading stops now (true) or this source still has frames
    /// to hand out first (a pushed source reads those queued when the request came).
    fn stop_now(&mut self) -> bool {
        true
    }

    /// Frames and bytes handed out, and the kernel's drops.
    fn stats(&mut self) -> SourceStats;
}
