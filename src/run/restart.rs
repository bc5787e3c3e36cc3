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
use super::hi1_ledger::{self, Hi1Ledger};
use super::RunError;
use crate::delivery::lanes::lane_dirs;
use crate::delivery::service::queue_dir;
use crate::delivery::queue::checkpointed;
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
    let ledger = spool.join(hi1_ledger::FILE);
    let ledger_error = |source| RunError::Hi1Ledger { path: ledger.clone(), source };
    let (filter, pipeline, hi1_len) = match found {
        Some(cp) => {
            // The HI1 notifications noted after the checkpoint were cut with the records.
            let notices_cut = Hi1Ledger::cut_back(&ledger, cp.hi1_len).map_err(ledger_error)?;
            tracing::info!(records_cut = cut, hi1_octets_cut = notices_cut, senders = cp.filter.len(),
                "X2/X3 restart from the checkpoint: spools and HI1 ledger cut back, resend filter restored");
            (cp.filter, Some(cp.pipeline), cp.hi1_len)
        }
        None => (Vec::new(), None, std::fs::metadata(&ledger).map_or(0, |m| m.len())),
    };
    let start = Checkpoint { marks, filter, pipeline: pipeline.clone().unwrap_or_default(), hi1_len };
    checkpoint::write(spool, &start)?;
    Ok(Restored { filter: Dedupe::from_entries(start.filter), pipeline })
}

/// From now on the queues hand their senders only what a checkpoint published.
pub fn hold(queues: &Queues) {
    checkpointed(queues).iter().for_each(|q| q.hold_unpublished());
}

/// The run's last checkpoint, once its pipeline has ended: when it took every frame the
/// listener pushed (`frames_read` counts markers too) and spooling did not fail, everything
/// spooled is committed and published. Otherwise the tail after the last checkpoint stays
/// unpublished (the POIs still hold its PDUs and resend them to the next run). `pipeline`
/// is the pipeline's state at its end (calls still in progress carry on after a restart).
pub fn last_checkpoint(checkpointer: &Checkpointer, barriers: &Arc<Barriers>, frames_read: u64, failed: bool, pipeline: Vec<u8>, hi1_len: u64) {
    let (pushed, filter) = barriers.filter_now();
    if failed || pushed != frames_read {
        tracing::info!(pushed, frames_read, failed, "X2/X3: no final checkpoint; records after the last one are delivered by the next run");
        return;
    }
    let ends: Vec<_> = checkpointed(&checkpointer.queues).iter().map(|q| q.end()).collect();
    match checkpointer.commit(&ends, &filter, pipeline, hi1_len) {
        Ok(_) => barriers.durable(u64::MAX),
        Err(e) => tracing::error!(error = %e, "X2/X3 final checkpoint failed: records after the last one are delivered by the next run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::etsi::Hi1Notification;

    #[test]
    fn a_restart_cuts_the_hi1_notifications_noted_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(hi1_ledger::FILE);
        let mut ledger = Hi1Ledger::open(&path).unwrap();
        ledger.note(Hi1Notification::Activated, "LIID-A", None).unwrap();
        let at = ledger.octets();
        checkpoint::write(dir.path(), &Checkpoint { hi1_len: at, ..Checkpoint::default() }).unwrap();
        ledger.note(Hi1Notification::Activated, "LIID-B", None).unwrap();
        drop(ledger);
        cut_spools(dir.path(), &[], 1 << 20).unwrap();
        let told = Hi1Ledger::open(&path).unwrap().told_active();
        assert!(told.contains_key("LIID-A") && !told.contains_key("LIID-B"), "LIID-B's activation is to be spooled again");
        assert_eq!(checkpoint::read(dir.path()).unwrap().unwrap().hi1_len, at, "the checkpoint started from keeps the length");
    }
}
