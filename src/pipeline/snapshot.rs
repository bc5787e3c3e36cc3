//! The pipeline snapshot: the delivery-relevant state of the whole pipeline at an X2/X3
//! barrier, so that a restarted mediation function carries calls in progress on.
//!
//! It joins the mediator's part (taken on the signalling stage with the media shards caught
//! up, see [`crate::mediation::snapshot`]) and the sequencer's (taken on the encoding stage
//! at the same barrier, after every record of the frames before it and none after): the
//! sequence numbers per (LIID, CIN) and the encoders' per-communication state (`laes`), for
//! the communications still live only. Layout: magic `TLPS`, version (u16 LE), the
//! mediator's bytes, the sequencer's bytes (each u64 LE length-prefixed).
//!
//! A snapshot that does not decode, or has another version, is refused with the reason:
//! the caller must stop rather than start empty and lose the calls.

use std::sync::Arc;

use crate::handover::sequencer::{AgencyOutput, Sequencer};
use crate::mediation::snapshot::{self, MediatorSnapshot, Reader, SnapshotError, Writer};
use crate::mediation::{CinAllocator, Mediator, MediatorConfig};
use crate::warrant::WarrantTable;

const MAGIC: &[u8; 4] = b"TLPS";
/// The snapshot format this build writes and reads.
pub const VERSION: u16 = 1;

/// The snapshot bytes of `mediator` (taken at a barrier) and of `sequencer` at the same
/// barrier.
pub fn encode<O: AgencyOutput>(mediator: &MediatorSnapshot, sequencer: &Sequencer<O>) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(MAGIC);
    w.u16(VERSION);
    w.bytes(&mediator.bytes);
    let mut seq = Writer::default();
    sequencer.save_state(&|liid, cin| mediator.is_live(liid, cin), &mut seq);
    w.bytes(&seq.buf);
    w.buf
}

/// Restores a pipeline from `bytes`: returns the mediator (inline media; the threaded
/// pipeline's [`Mediator::sharded`] sends its taps to the shards first) and loads the
/// sequence counters and encoder state into `sequencer`, which must be new (built from the
/// current agencies). Warrants come from `table` (the current warrant table): a warrant
/// revoked meanwhile is not revived. `cins` is the run's allocator (its durable floor).
pub fn restore<O: AgencyOutput>(
    bytes: &[u8],
    table: Arc<WarrantTable>,
    config: MediatorConfig,
    cins: CinAllocator,
    sequencer: &mut Sequencer<O>,
) -> Result<Mediator, SnapshotError> {
    let mut r = Reader::new(bytes);
    let magic = r.u32("magic").map_err(|_| SnapshotError::Magic)?;
    if magic.to_le_bytes() != *MAGIC {
        return Err(SnapshotError::Magic);
    }
    let version = r.u16("version")?;
    if version != VERSION {
        return Err(SnapshotError::Version { found: version, supported: VERSION });
    }
    let mut part = Reader::new(r.bytes("mediator state")?);
    let mediator = snapshot::restore(&mut part, table, config, cins)?;
    part.finish()?;
    let mut part = Reader::new(r.bytes("sequencer state")?);
    sequencer.load_state(&mut part)?;
    part.finish()?;
    r.finish()?;
    Ok(mediator)
}
