//! The on-disk spool of one handover interface (agency × HI2/HI3): an append-only run of
//! segment files of whole records plus the confirmed position. Plain synchronous file code.
//!
//! # Format
//! - `seg-NNNNNNNNNNNNNNNN.ber`: segment files, numbered from 0 in order. Each is a plain
//!   concatenation of whole records exactly as they go on the wire: BER PS-PDUs / CdcPdus
//!   (every record a top-level SEQUENCE, `0x30`), PacketCable CCC frames for a `laes`
//!   HI3, or X2/X3 PDUs for a POI's destination. Records are self-delimiting; there is no
//!   other framing. A segment is closed once it holds [`SEGMENT_BYTES`] (or a quarter of
//!   that when everything in it is confirmed, so confirmed data is freed promptly) and the
//!   next one is started.
//! - `confirmed`: one fixed-width line `SEGMENT OFFSET` (two 20-digit numbers): delivery is
//!   confirmed up to that position. It is overwritten in place (no allocation, so it can be
//!   written on a full disk).
//!
//! # Invariants
//! - Records are appended with one `write` each and never modified; a segment holds whole
//!   records except that a kill or power loss may leave a torn or zero-filled tail, which
//!   [`Spool::open`] cuts at the first octet that does not start a whole record.
//! - Every segment before the tail is whole and durable (synced when it was closed).
//! - `confirmed <= synced <= end`: only durable records are ever handed out for sending,
//!   and only sent records are confirmed. With a publish gate (X2/X3 ingest, see
//!   `spool_commit.rs`) also `confirmed <= published <= end`, and only records before
//!   both `synced` and `published` are handed out.
//! - Segments wholly before `confirmed` are deleted; nothing at or after it is.
//!
//! # Durability (fsync policy, with [`SpoolOptions::fsync`] on, the default)
//! - A record is durable (`fdatasync` of its segment) before it is sent: [`Spool::read`]
//!   returns only records up to the synced position. Syncing is a group commit:
//!   [`Spool::sync_pending`] hands out the tail file and the end at that moment, the caller
//!   (the sender, see `queue.rs`) runs `fdatasync` without holding the queue's lock while
//!   the pipeline keeps appending, and [`Spool::mark_synced`] then covers every record
//!   appended before the sync with one call. The pipeline never waits for a disk flush.
//! - A new segment is created only after the old one is synced, and the directory is
//!   synced so the new file's name is durable too.
//! - The confirmed position is written in place on every confirmation without a sync and
//!   synced before segments are deleted. A confirmed position lost in a power failure only
//!   makes records be sent again (the agency de-duplicates by LIID, CIN, IRI/CC, sequence);
//!   a confirmed position naming a deleted segment is moved to the first segment present.
//!
//! What survives:
//! - a process kill (SIGKILL, panic, OOM): everything appended (the page cache holds it);
//!   at most a torn last record, cut on open. [`Spool::open`] syncs what it finds.
//! - a power loss or kernel crash: every record that was ever sent, and every record
//!   appended before the last sync; records appended after it may be lost (they were never
//!   sent, so no agency confirmed them, and CINs are reserved separately and durably).
//!
//! With `fsync` off (benchmarks, tmpfs), records are readable as soon as appended and
//! only a process kill is survived.
//!
//! # Disk full
//! Before appending, the spool checks (every 64 KiB appended, and on every attempt while
//! low) that the file system keeps its headroom free (see `space.rs`); below it, or on
//! `ENOSPC`/`EDQUOT` from a write (which is then cut back to the last whole record), the
//! append fails with [`SpoolError::DiskFull`] and nothing is written. The caller retries.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::space::{self, Space};
use crate::handover::laes::ccc::split_ccc_stream;
use crate::handover::records::whole_prefix;
use crate::handover::split_stream;

/// How records are delimited in a spool: each record is self-delimiting, by its BER length
/// (PS-PDUs, CdcPdus) or by the IP datagram a PacketCable CCC frame carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    #[default]
    Ber,
    Ccc,
    /// ETSI TS 103 221-2 X2/X3 PDUs (a POI's spool), delimited by their header and
    /// payload lengths; a zero-filled tail has version 0 and is not taken for a PDU.
    X2x3,
}

impl Framing {
    /// Length of the leading whole records of `buf` and how many there are. A BER record
    /// must be a SEQUENCE, so a zero-filled tail (power loss) is not taken for records.
    fn whole_prefix(self, buf: &[u8]) -> (usize, u64) {
        match self {
            Framing::Ber => {
                whole_prefix(split_stream(buf).map(|r| r.ok().filter(|p| p.first() == Some(&0x30)).ok_or(())))
            }
            Framing::Ccc => whole_prefix(split_ccc_stream(buf)),
            Framing::X2x3 => whole_prefix(crate::x2x3::framing::split_pdus(buf)),
        }
    }
}

/// A segment is closed and a new one started once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 4 << 20;

/// Free space is checked again after this many bytes were appended.
const SPACE_CHECK_BYTES: u64 = 64 << 10;

/// How a spool is kept.
#[derive(Clone, Copy, Debug)]
pub struct SpoolOptions {
    /// Size limit of unconfirmed records in bytes (the documented "spool full").
    pub limit: u64,
    pub framing: Framing,
    /// Records are synced to disk before they are sent (group commit). Default on.
    pub fsync: bool,
    /// Close a segment at this size.
    pub segment_bytes: u64,
    /// Keep the file system's headroom free (see `space.rs`). Default on.
    pub headroom: bool,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions { limit: u64::MAX, framing: Framing::Ber, fsync: true, segment_bytes: SEGMENT_BYTES, headroom: true }
    }
}

/// A place in the spool: segment number and byte offset inside it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("spool {path}: confirmed position file is malformed")]
    BadConfirmed { path: PathBuf },
    #[error("spool {path}: stopped while full; the record was not spooled")]
    Stopped { path: PathBuf },
    #[error("spool {path}: full ({unconfirmed} unconfirmed bytes, limit {limit})")]
    Full { path: PathBuf, unconfirmed: u64, limit: u64 },
    #[error("spool {path}: file system full ({available} bytes free, {headroom} kept as headroom)")]
    DiskFull { path: PathBuf, available: u64, headroom: u64 },
    #[error("spool {path}: cannot cut back to segment {segment} offset {offset}: {reason}")]
    Cut { path: PathBuf, segment: u64, offset: u64, reason: &'static str },
}

impl SpoolError {
    /// The file system is full: the record was not written, and may be retried later.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, SpoolError::DiskFull { .. })
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_owned(), source }
}

/// A write error, as `DiskFull` when it says the file system is full.
fn write_err(path: &Path, source: io::Error) -> SpoolError {
    if space::is_no_space(&source) {
        SpoolError::DiskFull { path: path.to_owned(), available: 0, headroom: 0 }
    } else {
        SpoolError::Io { path: path.to_owned(), source }
    }
}

/// Whole PS-PDUs read from the spool, with where they end.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub records: u64,
    pub end: Position,
}

/// One interface's spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Segment numbers present, oldest first, with their lengths; the last one is the tail.
    segments: VecDeque<(u64, u64)>,
    tail: File,
    /// The tail again, for a sync run without the caller's lock.
    tail_sync: Arc<File>,
    confirmed_file: File,
    confirmed: Position,
    /// Everything before this is on disk.
    synced: Position,
    unconfirmed_bytes: u64,
    unconfirmed_records: u64,
    options: SpoolOptions,
    /// Bytes appended since free space was last checked, and whether it was low then.
    unchecked: u64,
    low_space: bool,
    /// X2/X3 ingest: records are handed out only up to this position, the last checkpoint
    /// (see `spool_commit.rs`); None: every synced record is.
    published: Option<Position>,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. A torn record at the end of the tail segment
    /// (the process was killed inside a write) is cut off.
    pub fn open(dir: &Path, limit: u64) -> Result<Spool, SpoolError> {
        Self::open_with(dir, SpoolOptions { limit, ..SpoolOptions::default() })
    }

    /// As [`Spool::open`], for records delimited by `framing`.
    pub fn open_framed(dir: &Path, limit: u64, framing: Framing) -> Result<Spool, SpoolError> {
        Self::open_with(dir, SpoolOptions { limit, framing, ..SpoolOptions::default() })
    }

    /// Opens (or creates) the spool in `dir` kept as `options` say. Everything found is
    /// synced before it is handed out.
    pub fn open_with(dir: &Path, options: SpoolOptions) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut numbers = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(n) = name.strip_prefix("seg-").and_then(|s| s.strip_suffix(".ber")) {
                if let Ok(n) = n.parse::<u64>() {
                    numbers.push(n);
                }
            }
        }
        numbers.sort_unstable();
        let mut confirmed = read_confirmed(dir)?;
        let mut segments = VecDeque::new();
        for n in numbers {
            let path = segment_path(dir, n);
            if n < confirmed.segment {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            segments.push_back((n, whole_records_len(&path, options.framing)?));
        }
        // A confirmed position naming a deleted segment (its update was lost to a power
        // failure after the deletion) means the first segment present; one past the end of
        // its segment means that end.
        // With no segment at all, the next one starts after the confirmed position.
        match segments.front() {
            Some(&(first, _)) if first > confirmed.segment => confirmed = Position { segment: first, offset: 0 },
            Some(&(_, len)) if confirmed.offset > len => confirmed.offset = len,
            Some(_) => {}
            None if confirmed.offset == 0 => segments.push_back((confirmed.segment, 0)),
            None => {
                confirmed = Position { segment: confirmed.segment + 1, offset: 0 };
                segments.push_back((confirmed.segment, 0));
            }
        }
        let &(tail_n, tail_len) = segments.back().unwrap_or(&(0, 0));
        let tail_path = segment_path(dir, tail_n);
        let tail = OpenOptions::new().create(true).append(true).open(&tail_path).map_err(io_err(&tail_path))?;
        let on_disk = tail.metadata().map_err(io_err(&tail_path))?.len();
        if on_disk != tail_len {
            // Cut a torn or zero-filled tail.
            tail.set_len(tail_len).map_err(io_err(&tail_path))?;
        }
        let confirmed_path = dir.join("confirmed");
        let confirmed_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&confirmed_path)
            .map_err(io_err(&confirmed_path))?;
        let tail_sync = Arc::new(tail.try_clone().map_err(io_err(&tail_path))?);
        let mut spool = Spool {
            dir: dir.to_owned(),
            segments,
            tail,
            tail_sync,
            confirmed_file,
            confirmed,
            synced: Position::default(),
            unconfirmed_bytes: 0,
            unconfirmed_records: 0,
            options,
            unchecked: 0,
            low_space: false,
            published: None,
        };
        spool.write_confirmed(confirmed)?;
        spool.confirmed_file.set_len(CONFIRMED_LEN).map_err(io_err(&confirmed_path))?;
        if options.fsync {
            spool.tail.sync_data().map_err(io_err(&tail_path))?;
            spool.confirmed_file.sync_data().map_err(io_err(&confirmed_path))?;
            sync_dir(dir)?;
        }
        spool.synced = spool.end();
        let (bytes, records) = spool.count_from(confirmed)?;
        spool.unconfirmed_bytes = bytes;
        spool.unconfirmed_records = records;
        Ok(spool)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where delivery is confirmed up to.
    pub fn confirmed(&self) -> Position {
        self.confirmed
    }

    /// The end of everything spooled.
    pub fn end(&self) -> Position {
        let &(segment, offset) = self.segments.back().unwrap_or(&(0, 0));
        Position { segment, offset }
    }

    /// The end of everything on disk: what [`Spool::read`] hands out.
    pub fn synced(&self) -> Position {
        self.synced
    }

    pub fn unconfirmed_bytes(&self) -> u64 {
        self.unconfirmed_bytes
    }

    pub fn unconfirmed_records(&self) -> u64 {
        self.unconfirmed_records
    }

    pub fn limit(&self) -> u64 {
        self.options.limit
    }

    pub fn options(&self) -> &SpoolOptions {
        &self.options
    }

    /// Whether `len` more bytes fit under the size limit. An empty spool takes any record.
    /// With a publish gate only published records count (see `spool_commit.rs`).
    pub fn has_room(&self, len: usize) -> bool {
        let held = self.unconfirmed_bytes.saturating_sub(self.unpublished_bytes());
        held == 0 || held.saturating_add(len as u64) <= self.options.limit
    }

    /// Appends one whole record with a single write, so a killed process leaves at most one
    /// torn record at the tail. Refuses with `Full` when over the size limit and with
    /// `DiskFull` when the file system is down to its headroom (nothing is written then).
    pub fn append(&mut self, pdu: &[u8]) -> Result<(), SpoolError> {
        if !self.has_room(pdu.len()) {
            return Err(SpoolError::Full {
                path: self.dir.clone(),
                unconfirmed: self.unconfirmed_bytes,
                limit: self.options.limit,
            });
        }
        self.check_space(pdu.len() as u64)?;
        let end = self.end();
        let idle = self.confirmed >= end && end.offset >= self.options.segment_bytes / 4;
        if end.offset >= self.options.segment_bytes || idle {
            self.rotate()?;
        }
        let path = segment_path(&self.dir, self.end().segment);
        if let Err(e) = self.tail.write_all(pdu) {
            // Cut a partial write back so the segment holds whole records only.
            let _ = self.tail.set_len(self.end().offset);
            return Err(write_err(&path, e));
        }
        if let Some(last) = self.segments.back_mut() {
            last.1 += pdu.len() as u64;
        }
        if !self.options.fsync {
            self.synced = self.end();
        }
        self.unconfirmed_bytes += pdu.len() as u64;
        self.unconfirmed_records += 1;
        Ok(())
    }

    /// `DiskFull` when writing `len` bytes would eat into the headroom. Checked every
    /// [`SPACE_CHECK_BYTES`], and on every call while space is low.
    fn check_space(&mut self, len: u64) -> Result<(), SpoolError> {
        if !self.options.headroom {
            return Ok(());
        }
        self.unchecked += len;
        if self.unchecked < SPACE_CHECK_BYTES && !self.low_space {
            return Ok(());
        }
        let s: Space = space::space_of(&self.dir).map_err(io_err(&self.dir))?;
        self.unchecked = 0;
        self.low_space = !s.allows(len.max(SPACE_CHECK_BYTES));
        if self.low_space {
            return Err(SpoolError::DiskFull { path: self.dir.clone(), available: s.available, headroom: s.headroom() });
        }
        Ok(())
    }

    /// Closes the tail (synced first) and starts the next segment; a closed segment that
    /// is wholly confirmed is deleted at once.
    fn rotate(&mut self) -> Result<(), SpoolError> {
        let old = self.end();
        if self.options.fsync {
            let path = segment_path(&self.dir, old.segment);
            self.tail.sync_data().map_err(io_err(&path))?;
        }
        let next = old.segment + 1;
        let path = segment_path(&self.dir, next);
        let tail = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| write_err(&path, e))?;
        let tail_sync = Arc::new(tail.try_clone().map_err(io_err(&path))?);
        if self.options.fsync {
            sync_dir(&self.dir)?;
        }
        self.tail = tail;
        self.tail_sync = tail_sync;
        self.segments.push_back((next, 0));
        self.synced = Position { segment: next, offset: 0 };
        if self.confirmed >= old {
            self.confirm(Position { segment: next, offset: 0 }, 0, 0)?;
        }
        Ok(())
    }

    /// What a group commit must sync to make everything appended so far durable: the tail
    /// file and the end now. None when everything is synced already (or `fsync` is off).
    /// Sync the file without holding the spool, then call [`Spool::mark_synced`].
    pub fn sync_pending(&self) -> Option<(Arc<File>, Position)> {
        let end = self.end();
        (self.synced < end).then(|| (Arc::clone(&self.tail_sync), end))
    }

    /// Everything before `upto` is on disk (a sync of [`Spool::sync_pending`] returned).
    pub fn mark_synced(&mut self, upto: Position) {
        self.synced = self.synced.max(upto).min(self.end());
    }

    /// Makes everything appended durable now (one `fdatasync`).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if let Some((file, upto)) = self.sync_pending() {
            file.sync_data().map_err(io_err(&segment_path(&self.dir, upto.segment)))?;
            self.mark_synced(upto);
        }
        Ok(())
    }

    /// Reads whole records from `from` on, at most about `max` bytes (more if a single one
    /// is bigger), never past the end of one segment nor past the synced (and, with a
    /// publish gate, the published) position. Empty when `from` is at the end.
    pub fn read(&self, from: Position, max: usize) -> Result<Chunk, SpoolError> {
        self.read_upto(from, max, self.readable())
    }

    /// [`Spool::read`] up to `limit` (at most the end).
    fn read_upto(&self, from: Position, max: usize, limit: Position) -> Result<Chunk, SpoolError> {
        let from = self.normalise(from);
        let Some(&(segment, len)) = self.segments.iter().find(|(n, _)| *n == from.segment) else {
            return Ok(Chunk { end: from, ..Chunk::default() });
        };
        let len = match segment.cmp(&limit.segment) {
            std::cmp::Ordering::Less => len,
            std::cmp::Ordering::Equal => len.min(limit.offset),
            std::cmp::Ordering::Greater => 0,
        };
        let available = len.saturating_sub(from.offset);
        if available == 0 {
            return Ok(Chunk { end: from, ..Chunk::default() });
        }
        let path = segment_path(&self.dir, segment);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        let mut want = available.min(max.max(1) as u64);
        loop {
            let mut bytes = vec![0u8; want as usize];
            file.seek(SeekFrom::Start(from.offset)).map_err(io_err(&path))?;
            file.read_exact(&mut bytes).map_err(io_err(&path))?;
            let (whole, records) = self.options.framing.whole_prefix(&bytes);
            if whole > 0 || want >= available {
                bytes.truncate(whole);
                let end = Position { segment, offset: from.offset + whole as u64 };
                return Ok(Chunk { bytes, records, end });
            }
            want = (want * 2).min(available);
        }
    }

    /// A position at the end of a segment that has a successor means the successor's start;
    /// one in a segment already deleted (wholly confirmed, e.g. closed while idle) means the
    /// first segment's start.
    fn normalise(&self, p: Position) -> Position {
        let mut p = p;
        if let Some(&(first, _)) = self.segments.front() {
            if p.segment < first {
                p = Position { segment: first, offset: 0 };
            }
        }
        for (i, &(n, len)) in self.segments.iter().enumerate() {
            if n == p.segment && p.offset >= len {
                if let Some(&(next, _)) = self.segments.get(i + 1) {
                    p = Position { segment: next, offset: 0 };
                }
            }
        }
        p
    }

    /// Marks everything before `upto` delivered: writes the position in place and deletes
    /// segments wholly before it (the position synced first). Positions not ahead of the
    /// current one are ignored.
    pub fn confirm(&mut self, upto: Position, records: u64, bytes: u64) -> Result<(), SpoolError> {
        let upto = self.normalise(upto);
        if upto <= self.confirmed {
            return Ok(());
        }
        self.write_confirmed(upto)?;
        self.confirmed = upto;
        self.unconfirmed_bytes = self.unconfirmed_bytes.saturating_sub(bytes);
        self.unconfirmed_records = self.unconfirmed_records.saturating_sub(records);
        let deletable = self.segments.len() > 1 && self.segments.front().is_some_and(|&(n, _)| n < upto.segment);
        if deletable && self.options.fsync {
            let path = self.dir.join("confirmed");
            self.confirmed_file.sync_data().map_err(io_err(&path))?;
        }
        while self.segments.len() > 1 && self.segments.front().is_some_and(|&(n, _)| n < upto.segment) {
            if let Some((n, _)) = self.segments.pop_front() {
                let seg = segment_path(&self.dir, n);
                fs::remove_file(&seg).map_err(io_err(&seg))?;
            }
        }
        Ok(())
    }

    fn write_confirmed(&mut self, p: Position) -> Result<(), SpoolError> {
        let line = format!("{:020} {:020}\n", p.segment, p.offset);
        debug_assert_eq!(line.len() as u64, CONFIRMED_LEN);
        self.confirmed_file.write_all_at(line.as_bytes(), 0).map_err(io_err(&self.dir.join("confirmed")))
    }

    /// Bytes and records from `from` to the end.
    fn count_from(&self, from: Position) -> Result<(u64, u64), SpoolError> {
        let (mut bytes, mut records) = (0, 0);
        let mut at = from;
        loop {
            let chunk = self.read_upto(at, 1 << 20, self.end())?;
            if chunk.bytes.is_empty() {
                return Ok((bytes, records));
            }
            bytes += chunk.bytes.len() as u64;
            records += chunk.records;
            at = chunk.end;
        }
    }
}

/// Length of the `confirmed` file: two 20-digit numbers, a space and a newline.
const CONFIRMED_LEN: u64 = 42;

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:016}.ber"))
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

fn whole_records_len(path: &Path, framing: Framing) -> Result<u64, SpoolError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    Ok(framing.whole_prefix(&bytes).0 as u64)
}

fn read_confirmed(dir: &Path) -> Result<Position, SpoolError> {
    let path = dir.join("confirmed");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Position::default()),
        Err(source) => return Err(SpoolError::Io { path, source }),
    };
    if text.trim().is_empty() {
        // Created, but the first position never written (killed inside `open`).
        return Ok(Position::default());
    }
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(segment)), Some(Ok(offset))) => Ok(Position { segment, offset }),
        _ => Err(SpoolError::BadConfirmed { path }),
    }
}

#[path = "spool_commit.rs"]
mod commit;

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
