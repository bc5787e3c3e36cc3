//! The hand-off between the synchronous pipeline and the async senders: one shared spool per
//! (agency, interface) and `SpoolOutput`, the sequencer's output that spools every PDU.
//!
//! The pipeline appends; it never waits for the disk to flush. The sender reads, and a read
//! first makes everything appended so far durable with one `fdatasync` run outside the lock
//! (group commit, see `spool.rs`); the async sender runs that sync on a blocking thread
//! ([`Queue::make_durable`]) and then reads only what is durable ([`Queue::read_synced`]). A full spool (size limit) or a full file system (down to
//! its headroom) holds the pipeline with an alarm until there is room again: replay waits,
//! and live capture drops and counts at the capture edge while the pipeline is held.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::spool::{Chunk, Framing, Position, Spool, SpoolError, SpoolOptions};
use crate::handover::sequencer::{AgencyOutput, Channel};

/// Counters of one queue, readable at any time (the metrics of `tapline run`).
#[derive(Debug, Default)]
pub struct QueueMetrics {
    pub spooled_records: AtomicU64,
    pub confirmed_records: AtomicU64,
    pub confirmed_bytes: AtomicU64,
    /// Times the spool reached its size limit (each time the pipeline had to wait).
    pub spool_full: AtomicU64,
    /// Times the file system reached the spool's headroom (each time the pipeline waited).
    pub disk_full: AtomicU64,
    /// The pipeline is waiting for disk space right now.
    pub disk_full_now: AtomicBool,
    /// Group commits: `fdatasync` calls that made appended records durable.
    pub syncs: AtomicU64,
    pub connects: AtomicU64,
    /// A connection to the agency is up.
    pub connected: std::sync::atomic::AtomicBool,
    pub connect_failures: AtomicU64,
    /// Keep-alive round trips (sent → response), microseconds.
    pub round_trip_us_sum: AtomicU64,
    pub round_trip_us_max: AtomicU64,
    pub confirms: AtomicU64,
    /// Spool → confirmed latency of sampled records (every 16th), microseconds.
    pub latency_us_sum: AtomicU64,
    pub latency_us_max: AtomicU64,
    pub latency_samples: AtomicU64,
    /// What the agency's side did wrong (refused responses, malformed PDUs, wrong identity).
    pub peer: super::sender::PeerMetrics,
}

/// How often a pipeline held by a full disk looks for free space again.
const DISK_FULL_RETRY: Duration = Duration::from_millis(200);

/// Every this many records, one is timed from spooling to confirmation.
const LATENCY_SAMPLE_EVERY: u64 = 16;

#[derive(Debug)]
struct Inner {
    spool: Spool,
    /// End position and spooling time of sampled records, oldest first.
    samples: VecDeque<(Position, Instant)>,
    appended: u64,
}

/// One agency interface's spool shared by the pipeline (appends) and its sender (reads,
/// confirms).
#[derive(Debug)]
pub struct Queue {
    pub agency: String,
    pub channel: Channel,
    inner: Mutex<Inner>,
    room: Condvar,
    /// Set when the run stops: a pipeline waiting for room gives up instead of waiting.
    stopping: AtomicBool,
    /// Wakes the sender when records were appended.
    pub data: tokio::sync::Notify,
    pub metrics: QueueMetrics,
}

impl Queue {
    pub fn open(agency: &str, channel: Channel, dir: &Path, limit: u64) -> Result<Queue, SpoolError> {
        Self::open_framed(agency, channel, dir, limit, Framing::Ber)
    }

    /// As [`Queue::open`], for records delimited by `framing` (CCC frames on a `laes` HI3).
    pub fn open_framed(
        agency: &str,
        channel: Channel,
        dir: &Path,
        limit: u64,
        framing: Framing,
    ) -> Result<Queue, SpoolError> {
        Self::open_with(agency, channel, dir, SpoolOptions { limit, framing, ..SpoolOptions::default() })
    }

    /// As [`Queue::open`], with the spool kept as `options` say.
    pub fn open_with(agency: &str, channel: Channel, dir: &Path, options: SpoolOptions) -> Result<Queue, SpoolError> {
        let spool = Spool::open_with(dir, options)?;
        Ok(Queue {
            agency: agency.to_owned(),
            channel,
            inner: Mutex::new(Inner { spool, samples: VecDeque::new(), appended: 0 }),
            room: Condvar::new(),
            stopping: AtomicBool::new(false),
            data: tokio::sync::Notify::new(),
            metrics: QueueMetrics::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one PDU, waiting while the spool is full or its file system is down to its
    /// headroom (back-pressure; the first wait of an episode is logged and counted as an
    /// alarm). Never drops the record; gives up only when the run stops.
    pub fn append(&self, pdu: &[u8]) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        let mut disk_full: Option<Instant> = None;
        loop {
            if !inner.spool.has_room(pdu.len()) {
                inner = self.wait_for_room(inner, pdu.len())?;
            }
            match inner.spool.append(pdu) {
                Ok(()) => break,
                Err(e) if e.is_disk_full() => {
                    if disk_full.is_none() {
                        disk_full = Some(Instant::now());
                        self.metrics.disk_full.fetch_add(1, Ordering::Relaxed);
                        self.metrics.disk_full_now.store(true, Ordering::Relaxed);
                        tracing::error!(
                            agency = %self.agency,
                            channel = ?self.channel,
                            error = %e,
                            "ALARM spool disk full: pipeline holds until space returns"
                        );
                    }
                    if self.stopping.load(Ordering::Relaxed) {
                        self.metrics.disk_full_now.store(false, Ordering::Relaxed);
                        return Err(SpoolError::Stopped { path: inner.spool.dir().to_owned() });
                    }
                    let (guard, _) =
                        self.room.wait_timeout(inner, DISK_FULL_RETRY).unwrap_or_else(|poisoned| poisoned.into_inner());
                    inner = guard;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(since) = disk_full {
            self.metrics.disk_full_now.store(false, Ordering::Relaxed);
            // At the alarm's level, so the default log shows the episode's end too.
            tracing::error!(
                agency = %self.agency,
                channel = ?self.channel,
                held_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "ALARM cleared: spool disk has space again, pipeline resumes"
            );
        }
        inner.appended += 1;
        if inner.appended % LATENCY_SAMPLE_EVERY == 1 {
            let end = inner.spool.end();
            inner.samples.push_back((end, Instant::now()));
        }
        drop(inner);
        self.metrics.spooled_records.fetch_add(1, Ordering::Relaxed);
        self.data.notify_one();
        Ok(())
    }

    /// Waits until `len` bytes fit under the size limit (an alarm per episode).
    fn wait_for_room<'a>(&'a self, mut inner: MutexGuard<'a, Inner>, len: usize) -> Result<MutexGuard<'a, Inner>, SpoolError> {
        self.metrics.spool_full.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            agency = %self.agency,
            channel = ?self.channel,
            unconfirmed = inner.spool.unconfirmed_bytes(),
            limit = inner.spool.limit(),
            "ALARM spool full: pipeline waits for deliveries"
        );
        while !inner.spool.has_room(len) {
            if self.stopping.load(Ordering::Relaxed) {
                return Err(SpoolError::Stopped { path: inner.spool.dir().to_owned() });
            }
            let (guard, _) = self
                .room
                .wait_timeout(inner, Duration::from_millis(500))
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            inner = guard;
        }
        tracing::info!(agency = %self.agency, channel = ?self.channel, "spool has room again");
        Ok(inner)
    }

    /// Makes a pipeline waiting for room give up (the run is stopping).
    pub fn stop_waiting(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.room.notify_all();
    }

    /// Whole records from `from` on (see [`Spool::read`]), after making everything
    /// appended so far durable: a group commit, one `fdatasync` outside the lock covering
    /// every record appended since the last one, while the pipeline goes on appending.
    pub fn read(&self, from: Position, max: usize) -> Result<Chunk, SpoolError> {
        self.make_durable()?;
        self.lock().spool.read(from, max)
    }

    /// Whole records from `from` on that are already durable, without syncing (the caller
    /// ran [`Queue::make_durable`] first, e.g. off the async workers).
    pub fn read_synced(&self, from: Position, max: usize) -> Result<Chunk, SpoolError> {
        self.lock().spool.read(from, max)
    }

    /// Whether records were appended since the last sync (a group commit is due).
    pub fn sync_due(&self) -> bool {
        self.lock().spool.sync_pending().is_some()
    }

    /// Syncs everything appended so far (nothing to do when it is already on disk).
    pub fn make_durable(&self) -> Result<(), SpoolError> {
        let pending = self.lock().spool.sync_pending();
        if let Some((file, upto)) = pending {
            file.sync_data().map_err(|source| SpoolError::Io { path: self.lock().spool.dir().to_owned(), source })?;
            self.lock().spool.mark_synced(upto);
            self.metrics.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn confirmed(&self) -> Position {
        self.lock().spool.confirmed()
    }

    /// The spool's directory.
    pub fn dir(&self) -> std::path::PathBuf {
        self.lock().spool.dir().to_owned()
    }

    pub fn end(&self) -> Position {
        self.lock().spool.end()
    }

    pub fn unconfirmed_records(&self) -> u64 {
        self.lock().spool.unconfirmed_records()
    }

    /// X2/X3 ingest: from now on hand the sender only records published by a checkpoint
    /// (see `spool_commit.rs`); what is spooled now is published.
    pub fn hold_unpublished(&self) {
        self.lock().spool.hold_unpublished();
    }

    /// A checkpoint covers everything before `upto`: the sender may have it.
    pub fn publish(&self, upto: Position) {
        self.lock().spool.publish(upto);
        self.data.notify_one();
    }

    /// Removes the records after `to` (a restart from a checkpoint); the records cut.
    pub fn cut_back(&self, to: Position) -> Result<u64, SpoolError> {
        self.lock().spool.cut_back(to)
    }

    /// Delivery confirmed up to `upto`: persist and free the space.
    pub fn confirm(&self, upto: Position, records: u64, bytes: u64) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        inner.spool.confirm(upto, records, bytes)?;
        let now = Instant::now();
        while inner.samples.front().is_some_and(|(end, _)| *end <= upto) {
            if let Some((_, at)) = inner.samples.pop_front() {
                let us = u64::try_from(now.duration_since(at).as_micros()).unwrap_or(u64::MAX);
                self.metrics.latency_us_sum.fetch_add(us, Ordering::Relaxed);
                self.metrics.latency_us_max.fetch_max(us, Ordering::Relaxed);
                self.metrics.latency_samples.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(inner);
        self.metrics.confirmed_records.fetch_add(records, Ordering::Relaxed);
        self.metrics.confirmed_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.room.notify_all();
        Ok(())
    }
}

/// All interfaces of a run, indexed like the sequencer's agency list: `queues[agency][0]`
/// is HI2, `[1]` HI3; each interface's spool is split into lanes (`lanes.rs`).
pub type Queues = Vec<[Arc<super::lanes::Lanes>; 2]>;

/// The queue of each interface that an X2/X3 checkpoint marks, in [`Queues`] order
/// flattened (HI2, HI3 per agency): with X2/X3 ingest an interface has one lane, lane 0.
pub fn checkpointed(queues: &Queues) -> Vec<Arc<Queue>> {
    queues.iter().flatten().map(|lanes| lanes.lane0()).collect()
}

pub fn channel_index(channel: Channel) -> usize {
    match channel {
        Channel::Hi2 => 0,
        Channel::Hi3 => 1,
    }
}

/// The sequencer's output for `tapline run`: every PDU goes to its agency's spool before
/// anything is sent. The first spool error stops further spooling and is kept.
pub struct SpoolOutput {
    queues: Queues,
    error: Option<SpoolError>,
}

impl SpoolOutput {
    pub fn new(queues: Queues) -> SpoolOutput {
        SpoolOutput { queues, error: None }
    }

    /// The first error, if spooling failed.
    pub fn error(&self) -> Option<&SpoolError> {
        self.error.as_ref()
    }

    pub fn take_error(&mut self) -> Option<SpoolError> {
        self.error.take()
    }

    /// The end of every queue's spool, in [`Queues`] order flattened (HI2, HI3 per agency).
    pub fn ends(&self) -> Vec<Position> {
        checkpointed(&self.queues).iter().map(|q| q.end()).collect()
    }
}

impl AgencyOutput for SpoolOutput {
    fn write_pdu(&mut self, agency: usize, channel: Channel, pdu: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let Some(queue) = self.queues.get(agency).and_then(|q| q.get(channel_index(channel))) else {
            return;
        };
        if let Err(e) = queue.append(pdu) {
            tracing::error!(agency = %queue.agency, error = %e, "spooling failed; stopping the pipeline");
            self.error = Some(e);
        }
    }
}
