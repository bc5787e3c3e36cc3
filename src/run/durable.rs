//! The run's end of the X2/X3 confirmation barrier (see `x2x3::confirm`): the encoding
//! stage reports each barrier it has passed ([`Passed`]: every record before it appended to
//! the spools, and where each spool ended then); this thread makes the spools durable (the
//! spools' group commit, the same `fdatasync` their senders run), writes the checkpoint
//! (`checkpoint.rs`), publishes the spools up to the barrier's marks and then releases the
//! keepalive acks waiting on it. A sync or checkpoint write that fails publishes and
//! releases nothing: the POIs keep their PDUs and resend them.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::checkpoint::{self, Checkpoint, Mark};
use crate::delivery::{Position, Queues};
use crate::x2x3::dedupe::Dedupe;
use crate::x2x3::Barriers;

/// A barrier the encoding stage has passed.
#[derive(Debug, Default)]
pub struct Passed {
    /// Every frame before this index has its records appended.
    pub upto: u64,
    /// Each queue's spool end then, in [`Queues`] order flattened (HI2, HI3 per agency).
    pub marks: Vec<Position>,
    /// The mediation pipeline's state at the barrier (opaque; see `checkpoint.rs`).
    pub pipeline: Vec<u8>,
    /// The HI1 ledger's length then (see `checkpoint.rs`).
    pub hi1_len: u64,
}

/// The thread and the encoding stage's way to it.
pub struct Durable {
    pub passed: Sender<Passed>,
    pub thread: JoinHandle<CheckpointStats>,
}

/// What the checkpoints cost (no identities), logged at the end of the run.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CheckpointStats {
    pub written: u64,
    pub failed: u64,
    /// Time to write one (temporary file, `fdatasync`, rename, directory `fsync`).
    pub write_us_total: u64,
    pub write_us_max: u64,
    pub last_bytes: u64,
}

/// Everything a checkpoint is written from, shared by the thread and the run's last one.
#[derive(Clone)]
pub struct Checkpointer {
    pub queues: Queues,
    pub spool: PathBuf,
}

impl Checkpointer {
    /// Makes the spools durable, writes the checkpoint of `marks` and `filter`, then
    /// publishes each queue up to its mark. The checkpoint's size in bytes.
    pub fn commit(&self, marks: &[Position], filter: &Dedupe, pipeline: Vec<u8>, hi1_len: u64) -> Result<u64, String> {
        self.queues.iter().flatten().try_for_each(|q| q.make_durable()).map_err(|e| e.to_string())?;
        let queues = crate::delivery::queue::checkpointed(&self.queues);
        if queues.len() != marks.len() {
            return Err(format!("{} marks for {} queues", marks.len(), queues.len()));
        }
        let marks: Vec<Mark> = queues
            .iter()
            .zip(marks)
            .map(|(q, &at)| Mark { agency: q.agency.clone(), channel: q.channel, at })
            .collect();
        let cp = Checkpoint { marks, filter: filter.entries(), pipeline, hi1_len };
        let bytes = checkpoint::encode(&cp).len() as u64;
        checkpoint::write(&self.spool, &cp).map_err(|e| e.to_string())?;
        for (q, m) in queues.iter().zip(&cp.marks) {
            q.publish(m.at);
        }
        Ok(bytes)
    }
}

/// Starts the thread; it ends when every [`Durable::passed`] sender is dropped.
pub fn start(checkpointer: Checkpointer, barriers: Arc<Barriers>) -> std::io::Result<Durable> {
    let (passed, reports) = crossbeam_channel::unbounded::<Passed>();
    let thread = std::thread::Builder::new().name("tl-x2x3-durable".into()).spawn(move || {
        let mut stats = CheckpointStats::default();
        while let Ok(first) = reports.recv() {
            // Reports queued meanwhile are covered by the same sync and checkpoint.
            let last = reports.try_iter().fold(first, |a, b| if b.upto >= a.upto { b } else { a });
            let Some(filter) = barriers.filter_at(last.upto) else { continue };
            let started = Instant::now();
            match checkpointer.commit(&last.marks, &filter, last.pipeline, last.hi1_len) {
                Ok(bytes) => {
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    stats.written += 1;
                    stats.write_us_total += us;
                    stats.write_us_max = stats.write_us_max.max(us);
                    stats.last_bytes = bytes;
                    barriers.durable(last.upto);
                }
                Err(e) => {
                    stats.failed += 1;
                    tracing::error!(error = %e, "X2/X3 checkpoint failed: nothing published, keepalives stay unacknowledged");
                }
            }
        }
        stats
    })?;
    Ok(Durable { passed, thread })
}
