//! The lanes of one agency interface (agency × HI2/HI3): several spools, each sent by its
//! own sender over its own connection, so that a hot LIID's backlog delays only its lane.
//! Which lane an LIID's records go to, and why its order is kept, is `placement.rs`.
//!
//! # On disk
//! Lane 0 is the interface's spool directory itself (`SPOOL/AGENCY/hi2`, as before lanes);
//! lane k ≥ 1 is its subdirectory `lane-KK` (`SPOOL/AGENCY/hi2/lane-03`), created when an
//! LIID is first placed there. A spool reads only its own `seg-*` files, so lanes do not see
//! each other's records.
//!
//! # Restart
//! [`Lanes::open`] opens every `lane-KK` directory found (also beyond the configured number
//! of lanes, which then grows), starts its sender, and reads its unconfirmed records to put
//! each LIID back on the lane that holds them: a record spooled after the restart goes
//! behind them, never past them. No lane on disk is left without a sender.
//!
//! The spool size limit applies to each lane's spool.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::placement::{LaneLoad, Placement};
use super::queue::Queue;
use super::spool::{Framing, SpoolError, SpoolOptions};
use crate::handover::sequencer::Channel;
use crate::handover::{liid_of, split_stream};

/// Starts the sender of a lane (called once per lane, when it is opened).
pub type StartSender = Box<dyn Fn(Arc<Queue>) + Send + Sync>;

/// Bytes read per step when a lane's unconfirmed records are scanned at open.
const SCAN_BYTES: usize = 1 << 20;

/// A lane's queue and its record ordinals (see `placement.rs`).
#[derive(Debug)]
struct Lane {
    queue: Arc<Queue>,
    /// Records and bytes spooled to the lane, counting those found unconfirmed at open.
    appended: u64,
    appended_bytes: u64,
}

impl Lane {
    fn load(&self) -> LaneLoad {
        let m = &self.queue.metrics;
        LaneLoad {
            unconfirmed_bytes: self.appended_bytes.saturating_sub(m.confirmed_bytes.load(Ordering::Relaxed)),
            confirmed: m.confirmed_records.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct State {
    placement: Placement,
    lanes: Vec<Option<Lane>>,
}

/// One agency interface's lanes, shared by the pipeline (appends) and the senders.
pub struct Lanes {
    pub agency: String,
    pub channel: Channel,
    dir: PathBuf,
    options: SpoolOptions,
    /// Placement and ordinals; held across an append, so a decision and its record are one step.
    state: Mutex<State>,
    /// The lanes opened so far, for readers that must not wait behind an append held by a
    /// full spool (reports, syncs, `stop_waiting`).
    opened: RwLock<Vec<Arc<Queue>>>,
    start: StartSender,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes").field("agency", &self.agency).field("channel", &self.channel).field("dir", &self.dir).finish()
    }
}

/// The directory of lane `k` of the interface spooled in `dir`.
pub fn lane_dir(dir: &Path, k: usize) -> PathBuf {
    match k {
        0 => dir.to_owned(),
        k => dir.join(format!("lane-{k:02}")),
    }
}

/// Every lane directory of the interface spooled in `dir` that exists, lane 0 first.
pub fn lane_dirs(dir: &Path) -> Result<Vec<(usize, PathBuf)>, SpoolError> {
    let mut found = vec![(0, dir.to_owned())];
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(source) => return Err(SpoolError::Io { path: dir.to_owned(), source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| SpoolError::Io { path: dir.to_owned(), source })?;
        let name = entry.file_name();
        let lane = name.to_str().and_then(|n| n.strip_prefix("lane-")).and_then(|n| n.parse::<usize>().ok());
        if let Some(k) = lane.filter(|&k| k > 0) {
            found.push((k, entry.path()));
        }
    }
    found.sort_unstable();
    Ok(found)
}

impl Lanes {
    /// Opens lane 0 and every lane found on disk, puts the LIIDs of their unconfirmed
    /// records back on their lanes, and starts their senders with `start`. At least `lanes`
    /// lanes are used; the others open when an LIID is first placed on them.
    pub fn open(
        agency: &str,
        channel: Channel,
        dir: &Path,
        options: SpoolOptions,
        lanes: usize,
        start: StartSender,
    ) -> Result<Lanes, SpoolError> {
        let found = lane_dirs(dir)?;
        let count = found.iter().map(|(k, _)| k + 1).max().unwrap_or(1).max(lanes).max(1);
        let mut state = State { placement: Placement::new(count), lanes: (0..count).map(|_| None).collect() };
        for (k, path) in &found {
            let queue = Arc::new(Queue::open_with(agency, channel, path, options)?);
            let lane = scan(&mut state.placement, *k, queue, options.framing)?;
            state.lanes[*k] = Some(lane);
        }
        let opened = state.lanes.iter().flatten().map(|l| l.queue.clone()).collect();
        let lanes = Lanes {
            agency: agency.to_owned(),
            channel,
            dir: dir.to_owned(),
            options,
            state: Mutex::new(state),
            opened: RwLock::new(opened),
            start,
        };
        for queue in lanes.queues() {
            (lanes.start)(queue);
        }
        Ok(lanes)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lane 0's queue, always open. A run that ingests X2/X3 uses this one lane only: its
    /// checkpoints mark one spool per interface (see `run/restart.rs`).
    pub fn lane0(&self) -> Arc<Queue> {
        let opened = self.opened.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        // `open` puts lane 0 first and it is never removed.
        Arc::clone(&opened[0])
    }

    /// The lanes opened so far.
    pub fn queues(&self) -> Vec<Arc<Queue>> {
        self.opened.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Spools one record on its LIID's lane (see `placement.rs`), waiting as
    /// [`Queue::append`] does. Returns the lane and the record's ordinal in it.
    pub fn append(&self, pdu: &[u8]) -> Result<(usize, u64), SpoolError> {
        let liid = match self.options.framing {
            Framing::Ber => liid_of(pdu),
            Framing::Ccc | Framing::X2x3 => None,
        };
        let mut state = self.lock();
        let State { placement, lanes } = &mut *state;
        let k = placement.place(liid, |k| lanes.get(k).and_then(Option::as_ref).map(Lane::load).unwrap_or_default());
        let slot = lanes.get_mut(k).ok_or_else(|| SpoolError::Stopped { path: self.dir.clone() })?;
        let lane = match slot {
            Some(lane) => lane,
            None => {
                let queue = Arc::new(Queue::open_with(&self.agency, self.channel, &lane_dir(&self.dir, k), self.options)?);
                self.opened.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(queue.clone());
                tracing::info!(agency = %self.agency, channel = ?self.channel, lane = k, "delivery lane opened");
                (self.start)(queue.clone());
                slot.insert(Lane { queue, appended: 0, appended_bytes: 0 })
            }
        };
        lane.queue.append(pdu)?;
        lane.appended += 1;
        lane.appended_bytes += pdu.len() as u64;
        let ordinal = lane.appended;
        placement.appended(liid, k, ordinal);
        Ok((k, ordinal))
    }

    /// How many records of lane `k` the agency confirmed (ordinals up to this one).
    pub fn confirmed_ordinal(&self, k: usize) -> u64 {
        self.lock().lanes.get(k).and_then(Option::as_ref).map_or(0, |l| l.load().confirmed)
    }

    /// Syncs every lane (see [`Queue::make_durable`]).
    pub fn make_durable(&self) -> Result<(), SpoolError> {
        self.queues().iter().try_for_each(|q| q.make_durable())
    }

    /// Unconfirmed records over all lanes.
    pub fn unconfirmed_records(&self) -> u64 {
        self.queues().iter().map(|q| q.unconfirmed_records()).sum()
    }

    /// Makes a pipeline waiting for room on any lane give up (the run is stopping).
    pub fn stop_waiting(&self) {
        self.queues().iter().for_each(|q| q.stop_waiting());
    }
}

/// Reads lane `k`'s unconfirmed records: their count and bytes are its first ordinals, and
/// each LIID among them is placed on `k` up to its last one.
fn scan(placement: &mut Placement, k: usize, queue: Arc<Queue>, framing: Framing) -> Result<Lane, SpoolError> {
    placement.grow(k + 1);
    let (mut appended, mut appended_bytes) = (0u64, 0u64);
    let mut at = queue.confirmed();
    loop {
        let chunk = queue.read_synced(at, SCAN_BYTES)?;
        if chunk.records == 0 {
            break;
        }
        appended_bytes += chunk.bytes.len() as u64;
        match framing {
            Framing::Ber => {
                for record in split_stream(&chunk.bytes).flatten() {
                    appended += 1;
                    placement.appended(liid_of(record), k, appended);
                }
            }
            Framing::Ccc | Framing::X2x3 => appended += chunk.records,
        }
        at = chunk.end;
    }
    Ok(Lane { queue, appended, appended_bytes })
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;
