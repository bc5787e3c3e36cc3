//! The restart of a mediation function that ingests X2/X3 (see `checkpoint.rs`): before the
//! senders start, each agency interface's spool is cut back to the last checkpoint's mark
//! (records after it were never published, so no agency has them; the POIs resend their
//! PDUs) and a checkpoint of the state started from is written at once, so a kill before
//! the run's first barrier restarts from the same place. Without a checkpoint (a first
//! start) nothing is cut and everything spooled is published, as before.
//!
//! Such a run delivers each interface over one lane (lane 0, the interface's directory):
//! a checkpoint marks one spool per interface. A spool directory that holds other lanes
//! (left by a single-box run) is refused rather than cut inexactly.

use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{self, Checkpoint, Mark};
use super::durable::Checkpointer;
use super::RunError;
use crate::delivery::lanes::lane_dirs;
use crate::delivery::service::queue_dir;
use crate::delivery::{Queues, Spool};
use crate::handover::sequencer::Channel;
use crate::warrant::Agency;
use crate::x2x3::dedupe::Dedupe;
use crate::x2x3::Barriers;

/// What the pipeline and the listener resume from.
#[derive(Debug, Default)]
pub struct Restored {
    pub filter: Dedupe,
    /// The mediation pipeline's state at the checkpoint (None: a first start).
    pub pipeline: Option<Vec<u8>>,
}

/// Cuts every spool of `agencies` under `spool` back to the checkpoint and writes the
/// checkpoint started from. Refuses (the run must not start) when the checkpoint cannot be
/// read or a spool cannot be cut to its mark, or holds records the checkpoint has no mark for.
pub fn cut_spools(spool: &Path, agencies: &[Agency], limit: u64) -> Result<Restored, RunError> {
    let found = checkpoint::read(spool)?;
    let mut marks = Vec::new();
    let mut cut = 0;
    for agency in agencies {
        for channel in [Channel::Hi2, Channel::Hi3] {
            let dir = queue_dir(spool, &agency.id, channel);
            if let Some((lane, _)) = lane_dirs(&dir)?.into_iter().find(|(k, _)| *k > 0) {
                return Err(RunError::LanesWithCheckpoint { path: dir, lane });
            }
            let mut s = Spool::open_framed(&dir, limit, agency.profile.handover().framing(channel))?;
            if let Some(cp) = &found {
                match cp.marks.iter().find(|m| m.agency == agency.id && m.channel == channel) {
                    Some(m) => cut += s.cut_back(m.at)?,
                    None if s.unconfirmed_records() == 0 => {}
                    None => {
                        return Err(RunError::CheckpointMissing {
                            path: checkpoint::path_in(spool),
                            agency: agency.id.clone(),
                            channel,
                        })
                    }
                }
            }
            marks.push(Mark { agency: agency.id.clone(), channel, at: s.end() });
        }
    }
    let (filter, pipeline) = match found {
        Some(cp) => {
            tracing::info!(records_cut = cut, senders = cp.filter.len(), "X2/X3 restart from the checkpoint: spools cut back, resend filter restored");
            (cp.filter, Some(cp.pipeline))
        }
        None => (Vec::new(), None),
    };
    let start = Checkpoint { marks, filter, pipeline: pipeline.clone().unwrap_or_default() };
    checkpoint::write(spool, &start)?;
    Ok(Restored { filter: Dedupe::from_entries(start.filter), pipeline })
}

/// From now on the queues hand their senders only what a checkpoint published.
pub fn hold(queues: &Queues) {
    queues.iter().flatten().for_each(|l| l.lane0().hold_unpublished());
}

/// The run's last checkpoint, once its pipeline has ended: when it took every frame the
/// listener pushed (`frames_read` counts markers too) and spooling did not fail, everything
/// spooled is committed and published. Otherwise the tail after the last checkpoint stays
/// unpublished (the POIs still hold its PDUs and resend them to the next run). `pipeline`
/// is the pipeline's state at its end (calls still in progress carry on after a restart).
pub fn last_checkpoint(checkpointer: &Checkpointer, barriers: &Arc<Barriers>, frames_read: u64, failed: bool, pipeline: Vec<u8>) {
    let (pushed, filter) = barriers.filter_now();
    if failed || pushed != frames_read {
        tracing::info!(pushed, frames_read, failed, "X2/X3: no final checkpoint; records after the last one are delivered by the next run");
        return;
    }
    let ends: Vec<_> = checkpointer.queues.iter().flatten().map(|l| l.lane0().end()).collect();
    match checkpointer.commit(&ends, &filter, pipeline) {
        Ok(_) => barriers.durable(u64::MAX),
        Err(e) => tracing::error!(error = %e, "X2/X3 final checkpoint failed: records after the last one are delivered by the next run"),
    }
}
