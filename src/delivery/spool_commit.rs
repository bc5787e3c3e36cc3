//! The spool's two operations for a mediation function that ingests X2/X3 and restarts
//! from a checkpoint (see `run/checkpoint.rs`):
//!
//! - **Publish gate.** [`Spool::hold_unpublished`] makes the spool hand records to its
//!   sender only up to the position last given to [`Spool::publish`] (the spool's end at
//!   the last checkpoint), never past the synced position either. Records after it are
//!   appended and may be synced, but they are not yet committed: no agency ever saw them.
//!   The size limit counts only published records: records wait for a checkpoint only
//!   while the pipeline runs on to the next barrier, and a spool full of unpublished ones
//!   would hold the pipeline before it (a deadlock). So the unpublished tail may exceed
//!   the limit by what one checkpoint interval appends.
//! - **Cut back.** [`Spool::cut_back`] removes every record after a position (the
//!   checkpoint's), the tail segment truncated and later segments deleted, all synced.
//!   Refused when the position is before `confirmed` (those records were delivered), past
//!   the end (records the checkpoint counts on are missing), inside a deleted segment
//!   (unless it is the end of the segment just before the confirmed position, the only
//!   place a checkpoint can legitimately name there), or not at a record boundary.

use std::fs::{self, OpenOptions};
use std::sync::Arc;

use super::{segment_path, sync_dir, Position, Spool, SpoolError};

impl Spool {
    /// From now on, records are handed out only up to what [`Spool::publish`] allows;
    /// everything spooled so far is published.
    pub fn hold_unpublished(&mut self) {
        self.published = Some(self.end());
    }

    /// Records before `upto` may be handed out (with a gate; without one this changes
    /// nothing). Positions behind the current one are ignored; never past the end.
    pub fn publish(&mut self, upto: Position) {
        let end = self.end();
        if let Some(p) = self.published.as_mut() {
            *p = (*p).max(upto).min(end);
        }
    }

    /// Where the sender may read up to: synced and, with a gate, published.
    pub fn readable(&self) -> Position {
        match self.published {
            Some(p) => p.min(self.synced),
            None => self.synced,
        }
    }

    /// Bytes appended after the published position (0 without a gate).
    pub fn unpublished_bytes(&self) -> u64 {
        let Some(from) = self.published else { return 0 };
        self.segments
            .iter()
            .map(|&(n, len)| match n.cmp(&from.segment) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => len.saturating_sub(from.offset),
                std::cmp::Ordering::Greater => len,
            })
            .sum()
    }

    /// The published position (None: no gate).
    pub fn published(&self) -> Option<Position> {
        self.published
    }

    /// Removes every record after `to` and makes the cut durable; returns the records cut.
    /// See the module doc for what is refused.
    pub fn cut_back(&mut self, to: Position) -> Result<u64, SpoolError> {
        let refuse = |reason| SpoolError::Cut { path: self.dir.clone(), segment: to.segment, offset: to.offset, reason };
        let first = self.segments.front().map_or(0, |&(n, _)| n);
        let to = if to.segment < first {
            // A segment wholly confirmed is deleted: only its end, which is the confirmed
            // position's segment start, can be named there.
            if to.segment + 1 == first && self.confirmed == (Position { segment: first, offset: 0 }) {
                self.confirmed
            } else {
                return Err(refuse("the position is inside a deleted segment"));
            }
        } else {
            to
        };
        if to < self.confirmed {
            return Err(refuse("the position is before the confirmed position (those records were delivered)"));
        }
        let Some(&(_, len)) = self.segments.iter().find(|&&(n, _)| n == to.segment) else {
            return Err(refuse("the position is past the spool's end"));
        };
        if to.offset > len {
            return Err(refuse("the position is past the spool's end"));
        }
        let (bytes_before, records_before) = (self.unconfirmed_bytes, self.unconfirmed_records);
        let path = segment_path(&self.dir, to.segment);
        let prefix = fs::read(&path).map_err(super::io_err(&path))?;
        let head = prefix.get(..usize::try_from(to.offset).unwrap_or(usize::MAX)).unwrap_or(&prefix);
        if self.options.framing.whole_prefix(head).0 as u64 != to.offset {
            return Err(refuse("the position is not at a record boundary"));
        }
        let later: Vec<u64> = self.segments.iter().map(|&(n, _)| n).filter(|&n| n > to.segment).collect();
        let tail = OpenOptions::new().append(true).open(&path).map_err(super::io_err(&path))?;
        tail.set_len(to.offset).map_err(super::io_err(&path))?;
        if self.options.fsync {
            tail.sync_all().map_err(super::io_err(&path))?;
        }
        for n in later {
            let seg = segment_path(&self.dir, n);
            fs::remove_file(&seg).map_err(super::io_err(&seg))?;
        }
        if self.options.fsync {
            sync_dir(&self.dir)?;
        }
        self.segments.retain(|&(n, _)| n <= to.segment);
        if let Some(last) = self.segments.back_mut() {
            last.1 = to.offset;
        }
        self.tail_sync = Arc::new(tail.try_clone().map_err(super::io_err(&path))?);
        self.tail = tail;
        self.synced = self.end();
        let end = self.end();
        if let Some(p) = self.published.as_mut() {
            *p = (*p).min(end);
        }
        let (bytes, records) = self.count_from(self.confirmed)?;
        self.unconfirmed_bytes = bytes;
        self.unconfirmed_records = records;
        tracing::debug!(bytes = bytes_before - bytes, "spool cut back");
        Ok(records_before.saturating_sub(records))
    }
}

#[cfg(test)]
#[path = "spool_commit_tests.rs"]
mod tests;
