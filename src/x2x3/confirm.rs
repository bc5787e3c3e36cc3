//! Durable confirmation: the barrier that lets the mediation function acknowledge a POI's
//! keepalive only once every record of the PDUs before it is durable in the delivery spool.
//!
//! A POI deletes the PDUs before a keepalive from its spool when the ack comes, so the ack
//! is a promise that nothing of them can be lost any more. The barrier travels with the
//! frames, in the one channel the listener's connections share with the pipeline:
//!
//! 1. [`Barriers::push`] puts each ingested frame into the channel and counts it, under one
//!    lock, so the count is the frame's index in the pipeline (which never drops a pushed
//!    frame and numbers them in channel order).
//! 2. At a keepalive, [`Barriers::barrier`] notes "frames before index N" with the ack to
//!    release, and pushes a marker frame (index N, empty, of a link type the decoder skips)
//!    so that the pipeline reaches N even if no further data comes.
//! 3. The pipeline's packet hook ([`Passing`]) counts frames; before frame N it reports N as
//!    passed. That report rides the pipeline's in-band updates to the encoding stage, which
//!    applies it after every record of frames before N was appended to the spools.
//! 4. The run then makes the spools durable (the spool's group commit, `fdatasync`) and
//!    calls [`Barriers::durable`], which releases every ack of a barrier at or before N.
//!
//! An ack is therefore never released before the records of the PDUs before its keepalive
//! are appended and synced; when the encoding stage has failed (a spool error) nothing is
//! released at all and the POIs keep their PDUs.
//!
//! # Checkpoints
//! Every barrier is also a checkpoint (`run/checkpoint.rs`, written in step 4 before the
//! acks are released). Besides the keepalives' barriers, the mediation function sets its
//! own ([`Barriers::tick`], a marker without an ack, every `checkpoint_every` while frames
//! flow) so that checkpoints, and the delivery they publish, follow within that interval.
//! The resend filter ([`Dedupe`]) lives in the book: a PDU is noted when its frame is
//! pushed, under the lock that numbers frames, and a barrier snapshots the filter under the
//! same lock, so the snapshot holds exactly the PDUs of the frames before its marker (a
//! PDU checked before the marker but pushed after it is not in it: restored after a
//! restart, the filter takes its resend again, which regenerates its records).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::mpsc::UnboundedSender;

use super::dedupe::{Dedupe, Numbered};
use crate::capture::{LinkType, PushedFrame};
use crate::Timestamp;

/// The link type of marker frames: LINKTYPE_USER15, which the decoder skips as not IP.
pub const MARKER_LINK: LinkType = LinkType::Other(162);

/// Where a released ack goes: the connection's task, which writes the Keepalive Ack.
#[derive(Debug)]
pub struct Ack {
    pub sequence: u32,
    pub to: UnboundedSender<u32>,
}

impl Ack {
    fn release(self) {
        // A connection already closed has nobody to tell; its POI resends after reconnecting.
        let _ = self.to.send(self.sequence);
    }
}

#[derive(Debug)]
struct Waiting {
    /// Frames before this index must be durable.
    upto: u64,
    /// None: a checkpoint of the mediation function's own ([`Barriers::tick`]).
    ack: Option<Ack>,
    /// The pipeline has reached `upto` (the report is on its way to the encoding stage).
    passed: bool,
    /// The resend filter with exactly the PDUs of the frames before `upto`.
    filter: Dedupe,
}

#[derive(Debug, Default)]
struct Book {
    /// Frames put into the channel (data and markers): the next frame's index.
    pushed: u64,
    /// Time of the last frame pushed: a marker takes it, so it moves no clock.
    last_ts: Option<Timestamp>,
    /// Barriers not yet durable, by `upto` (registered in push order).
    waiting: VecDeque<Waiting>,
    markers: u64,
    /// Data frames were pushed since the last marker.
    data_since_marker: bool,
    /// The resend filter: every numbered PDU whose frame was pushed.
    filter: Dedupe,
}

/// The barrier book shared by the listener's connections and the run's pipeline.
#[derive(Debug)]
pub struct Barriers {
    book: Mutex<Book>,
    /// Lowest `upto` the pipeline has not reported passed yet (u64::MAX: none), read
    /// lock-free before every frame.
    next_due: AtomicU64,
}

impl Default for Barriers {
    fn default() -> Self {
        Barriers { book: Mutex::default(), next_due: AtomicU64::new(u64::MAX) }
    }
}

impl Barriers {
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a data frame into the channel and counts it, noting its PDU's number `seen` in
    /// the resend filter; the frame back when the channel is full (the caller waits and
    /// tries again) or gone (nothing noted then).
    pub fn push(
        &self,
        tx: &Sender<PushedFrame>,
        frame: PushedFrame,
        seen: Option<Numbered>,
    ) -> Result<(), TrySendError<PushedFrame>> {
        let mut book = self.lock();
        let ts = frame.ts;
        tx.try_send(frame)?;
        book.pushed += 1;
        book.last_ts = Some(ts);
        book.data_since_marker = true;
        if let Some(n) = seen {
            book.filter.note(n);
        }
        Ok(())
    }

    /// Whether a PDU numbered `n` was taken already (a resend, to drop).
    pub fn is_resend(&self, n: &Numbered) -> bool {
        !self.lock().filter.is_new(n)
    }

    /// A restart from a checkpoint: the resend filter as it was at the checkpoint's barrier.
    /// Call before any frame is pushed.
    pub fn restore_filter(&self, filter: Dedupe) {
        self.lock().filter = filter;
    }

    /// The filter and the frame count now (the pipeline has taken every frame pushed when
    /// the count equals the frames it read: a final checkpoint may then use it).
    pub fn filter_now(&self) -> (u64, Dedupe) {
        let book = self.lock();
        (book.pushed, book.filter.clone())
    }

    /// Registers `ack` to be released once every frame pushed so far is durable, pushing the
    /// marker frame that carries the barrier through the pipeline. With nothing pushed yet
    /// the ack is released at once. `Err(ack)` when the channel is full (try again) or gone.
    pub fn barrier(&self, tx: &Sender<PushedFrame>, ack: Ack) -> Result<(), (Ack, bool)> {
        let mut book = self.lock();
        if book.last_ts.is_none() {
            ack.release();
            return Ok(());
        }
        match self.set_barrier(&mut book, tx, Some(ack)) {
            Ok(()) => Ok(()),
            Err((ack, gone)) => match ack {
                Some(ack) => Err((ack, gone)),
                None => Ok(()),
            },
        }
    }

    /// The mediation function's own checkpoint: a barrier without an ack, set only when
    /// data frames came since the last marker. False when the channel is full or gone
    /// (the next tick tries again).
    pub fn tick(&self, tx: &Sender<PushedFrame>) -> bool {
        let mut book = self.lock();
        if !book.data_since_marker {
            return true;
        }
        self.set_barrier(&mut book, tx, None).is_ok()
    }

    /// Pushes a marker behind every frame pushed so far, waiting with `ack` and the
    /// filter's snapshot; `ack` back (and whether the channel is gone) when it cannot.
    fn set_barrier(
        &self,
        book: &mut Book,
        tx: &Sender<PushedFrame>,
        ack: Option<Ack>,
    ) -> Result<(), (Option<Ack>, bool)> {
        let Some(ts) = book.last_ts else { return Err((ack, false)) };
        let upto = book.pushed;
        // Published before the marker is: the pipeline may read it at once.
        let first = book.waiting.iter().all(|w| w.passed);
        if first {
            self.next_due.store(upto, Ordering::SeqCst);
        }
        let marker = PushedFrame { ts, link: MARKER_LINK, data: Vec::new() };
        match tx.try_send(marker) {
            Ok(()) => {
                book.pushed += 1;
                book.markers += 1;
                book.data_since_marker = false;
                let filter = book.filter.clone();
                book.waiting.push_back(Waiting { upto, ack, passed: false, filter });
                Ok(())
            }
            Err(e) => {
                if first {
                    self.next_due.store(u64::MAX, Ordering::SeqCst);
                }
                Err((ack, matches!(e, TrySendError::Disconnected(_))))
            }
        }
    }

    /// Marker frames pushed so far.
    pub fn markers(&self) -> u64 {
        self.lock().markers
    }

    /// Pipeline side: whether reaching frame `index` passes a barrier (one atomic load).
    fn due(&self, index: u64) -> bool {
        index >= self.next_due.load(Ordering::SeqCst)
    }

    /// Pipeline side: every barrier at or before `index` is passed.
    fn pass(&self, index: u64) {
        let mut book = self.lock();
        for w in book.waiting.iter_mut().filter(|w| w.upto <= index) {
            w.passed = true;
        }
        let next = book.waiting.iter().find(|w| !w.passed).map_or(u64::MAX, |w| w.upto);
        self.next_due.store(next, Ordering::SeqCst);
    }

    /// The resend filter at the last barrier at or before `index` (for its checkpoint).
    pub fn filter_at(&self, index: u64) -> Option<Dedupe> {
        self.lock().waiting.iter().take_while(|w| w.upto <= index).last().map(|w| w.filter.clone())
    }

    /// Every record of the frames before `index` is durable: releases the acks of the
    /// barriers at or before it, oldest first.
    pub fn durable(&self, index: u64) {
        let mut book = self.lock();
        while book.waiting.front().is_some_and(|w| w.upto <= index) {
            if let Some(Waiting { ack: Some(ack), .. }) = book.waiting.pop_front() {
                ack.release();
            }
        }
    }

    /// Barriers whose acks are still held.
    pub fn held(&self) -> usize {
        self.lock().waiting.len()
    }
}

/// The pipeline's side of the barrier: counts the frames the packet hook sees (one call
/// before each frame, in channel order) and reports the index a barrier was passed at.
#[derive(Debug)]
pub struct Passing {
    barriers: Arc<Barriers>,
    seen: u64,
}

impl Passing {
    pub fn new(barriers: Arc<Barriers>) -> Passing {
        Passing { barriers, seen: 0 }
    }

    /// Called before each frame: Some(N) when every frame before N has passed the
    /// signalling stage and a barrier waits on it; hand N to the encoding stage in band.
    pub fn before_frame(&mut self) -> Option<u64> {
        let index = self.seen;
        self.seen += 1;
        if !self.barriers.due(index) {
            return None;
        }
        self.barriers.pass(index);
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ts: u64) -> PushedFrame {
        PushedFrame { ts: Timestamp::from_nanos(ts), link: LinkType::Ethernet, data: vec![1] }
    }

    fn ack(sequence: u32) -> (Ack, tokio::sync::mpsc::UnboundedReceiver<u32>) {
        let (to, rx) = tokio::sync::mpsc::unbounded_channel();
        (Ack { sequence, to }, rx)
    }

    #[test]
    fn an_ack_waits_until_the_pipeline_passed_its_marker_and_the_spool_is_durable() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let b = Arc::new(Barriers::default());
        let mut pipeline = Passing::new(Arc::clone(&b));
        b.push(&tx, frame(1), None).expect("push");
        b.push(&tx, frame(2), None).expect("push");
        let (a, mut acks) = ack(7);
        b.barrier(&tx, a).expect("barrier");
        b.push(&tx, frame(3), None).expect("push");
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(got.len(), 4);
        assert_eq!((got[2].link, got[2].data.len(), got[2].ts), (MARKER_LINK, 0, Timestamp::from_nanos(2)), "the marker keeps the clock");
        // Frames 0 and 1: nothing due; before the marker (index 2): the barrier is passed.
        assert_eq!(pipeline.before_frame(), None);
        assert_eq!(pipeline.before_frame(), None);
        assert_eq!(pipeline.before_frame(), Some(2));
        assert_eq!(pipeline.before_frame(), None, "reported once");
        assert!(acks.try_recv().is_err(), "passed is not durable: no ack yet");
        b.durable(1);
        assert!(acks.try_recv().is_err(), "durable up to frame 1 does not cover frame 1");
        b.durable(2);
        assert_eq!(acks.try_recv().ok(), Some(7));
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn barriers_queued_behind_each_other_are_each_reported_and_released_in_order() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let b = Arc::new(Barriers::default());
        let mut pipeline = Passing::new(Arc::clone(&b));
        let (none, mut first) = ack(0);
        b.barrier(&tx, none).expect("nothing pushed");
        assert_eq!(first.try_recv().ok(), Some(0), "nothing to confirm: acked at once");
        b.push(&tx, frame(1), None).expect("push");
        let (a1, mut r1) = ack(1);
        b.barrier(&tx, a1).expect("barrier");
        let (a2, mut r2) = ack(2);
        b.barrier(&tx, a2).expect("barrier");
        assert_eq!(rx.len(), 3, "data, marker, marker");
        let reports: Vec<_> = (0..3).filter_map(|_| pipeline.before_frame()).collect();
        assert_eq!(reports, vec![1, 2], "the second barrier is reported at its own marker");
        b.durable(1);
        assert_eq!((r1.try_recv().ok(), r2.try_recv().ok()), (Some(1), None));
        b.durable(2);
        assert_eq!(r2.try_recv().ok(), Some(2));
    }

    #[test]
    fn a_full_channel_registers_nothing() {
        let (tx, _rx) = crossbeam_channel::bounded(1);
        let b = Barriers::default();
        b.push(&tx, frame(1), None).expect("push");
        let (a, _acks) = ack(3);
        let Err((back, gone)) = b.barrier(&tx, a) else { panic!("the channel is full") };
        assert_eq!((back.sequence, gone), (3, false));
        assert_eq!(b.held(), 0);
        assert!(!b.due(1), "no barrier due");
        assert!(b.push(&tx, frame(2), None).is_err());
    }

    fn numbered(sequence: u32) -> Numbered {
        let last = super::super::dedupe::Last { sequence, ts: Timestamp::from_nanos(u64::from(sequence) + 1) };
        Numbered { peer: "poi-1".into(), xid: crate::x2x3::Xid([1; 16]), last }
    }

    /// A PDU checked as new before another connection's barrier but pushed after its marker
    /// is not in that barrier's filter: restored from the barrier's checkpoint, the filter
    /// takes its resend (its records are not before the checkpoint), and drops the resend
    /// of the PDU pushed before the marker (its records are).
    #[test]
    fn a_barriers_filter_holds_exactly_the_pdus_pushed_before_its_marker() {
        let (tx, _rx) = crossbeam_channel::bounded(16);
        let b = Arc::new(Barriers::default());
        let (before, after) = (numbered(0), numbered(1));
        assert!(!b.is_resend(&before));
        b.push(&tx, frame(1), Some(before.clone())).expect("push");
        assert!(!b.is_resend(&after), "checked: new");
        let (a, _acks) = ack(7);
        b.barrier(&tx, a).expect("another connection's keepalive");
        b.push(&tx, frame(2), Some(after.clone())).expect("pushed after the marker");
        assert!(b.is_resend(&after), "the live filter has it");
        let at_barrier = b.filter_at(1).expect("the barrier's filter");
        let restarted = Barriers::default();
        restarted.restore_filter(at_barrier);
        assert!(restarted.is_resend(&before), "its records are before the checkpoint: dropped");
        assert!(!restarted.is_resend(&after), "its records are not: taken again");
    }

    #[test]
    fn a_tick_sets_a_barrier_without_an_ack_only_after_data() {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let b = Arc::new(Barriers::default());
        let mut pipeline = Passing::new(Arc::clone(&b));
        assert!(b.tick(&tx) && rx.is_empty(), "nothing pushed: no marker");
        b.push(&tx, frame(1), None).expect("push");
        assert!(b.tick(&tx));
        assert!(b.tick(&tx));
        assert_eq!(rx.len(), 2, "one marker for the data, none for no new data");
        let reports: Vec<_> = (0..2).filter_map(|_| pipeline.before_frame()).collect();
        assert_eq!(reports, vec![1]);
        assert!(b.filter_at(1).is_some());
        b.durable(1);
        assert_eq!(b.held(), 0);
    }
}
