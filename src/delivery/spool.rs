//! The on-disk spool of one handover interface (agency × HI2/HI3): an append-only run of
//! segment files of whole records (BER PDUs, or CCC frames for a `laes` HI3) plus the
//! confirmed position. Plain synchronous file code.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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
}

impl Framing {
    /// Length of the leading whole records of `buf` and how many there are.
    fn whole_prefix(self, buf: &[u8]) -> (usize, u64) {
        match self {
            Framing::Ber => whole_prefix(split_stream(buf)),
            Framing::Ccc => whole_prefix(split_ccc_stream(buf)),
        }
    }
}

/// A segment is closed and a new one started once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 4 << 20;

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
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_owned(), source }
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
    confirmed: Position,
    unconfirmed_bytes: u64,
    unconfirmed_records: u64,
    limit: u64,
    framing: Framing,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. A torn record at the end of the tail segment
    /// (the process was killed inside a write) is cut off.
    pub fn open(dir: &Path, limit: u64) -> Result<Spool, SpoolError> {
        Self::open_framed(dir, limit, Framing::Ber)
    }

    /// As [`Spool::open`], for records delimited by `framing`.
    pub fn open_framed(dir: &Path, limit: u64, framing: Framing) -> Result<Spool, SpoolError> {
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
        let confirmed = read_confirmed(dir)?;
        let mut segments = VecDeque::new();
        for n in numbers {
            let path = segment_path(dir, n);
            if n < confirmed.segment {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            segments.push_back((n, whole_records_len(&path, framing)?));
        }
        if segments.is_empty() {
            segments.push_back((confirmed.segment, 0));
        }
        let &(tail_n, tail_len) = segments.back().unwrap_or(&(0, 0));
        let tail_path = segment_path(dir, tail_n);
        let tail = OpenOptions::new().create(true).append(true).open(&tail_path).map_err(io_err(&tail_path))?;
        tail.set_len(tail_len).map_err(io_err(&tail_path))?;
        let mut spool = Spool {
            dir: dir.to_owned(),
            segments,
            tail,
            confirmed,
            unconfirmed_bytes: 0,
            unconfirmed_records: 0,
            limit,
            framing,
        };
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

    pub fn unconfirmed_bytes(&self) -> u64 {
        self.unconfirmed_bytes
    }

    pub fn unconfirmed_records(&self) -> u64 {
        self.unconfirmed_records
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether `len` more bytes fit under the size limit. An empty spool takes any record.
    pub fn has_room(&self, len: usize) -> bool {
        self.unconfirmed_bytes == 0 || self.unconfirmed_bytes.saturating_add(len as u64) <= self.limit
    }

    /// Appends one whole PS-PDU with a single write, so a killed process leaves at most
    /// one torn record at the tail. Refuses with `Full` when over the size limit.
    pub fn append(&mut self, pdu: &[u8]) -> Result<(), SpoolError> {
        if !self.has_room(pdu.len()) {
            return Err(SpoolError::Full {
                path: self.dir.clone(),
                unconfirmed: self.unconfirmed_bytes,
                limit: self.limit,
            });
        }
        if self.end().offset >= SEGMENT_BYTES {
            self.rotate()?;
        }
        let path = segment_path(&self.dir, self.end().segment);
        self.tail.write_all(pdu).map_err(io_err(&path))?;
        if let Some(last) = self.segments.back_mut() {
            last.1 += pdu.len() as u64;
        }
        self.unconfirmed_bytes += pdu.len() as u64;
        self.unconfirmed_records += 1;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), SpoolError> {
        let next = self.end().segment + 1;
        let path = segment_path(&self.dir, next);
        self.tail = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        self.segments.push_back((next, 0));
        Ok(())
    }

    /// Reads whole PDUs from `from` on, at most about `max` bytes (more if a single PDU is
    /// bigger), never past the end of one segment. Empty when `from` is at the end.
    pub fn read(&self, from: Position, max: usize) -> Result<Chunk, SpoolError> {
        let from = self.normalise(from);
        let Some(&(segment, len)) = self.segments.iter().find(|(n, _)| *n == from.segment) else {
            return Ok(Chunk { end: from, ..Chunk::default() });
        };
        let available = len.saturating_sub(from.offset);
        if available == 0 {
            return Ok(Chunk { end: from, ..Chunk::default() });
        }
        let path = segment_path(&self.dir, segment);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        file.seek(SeekFrom::Start(from.offset)).map_err(io_err(&path))?;
        let mut want = available.min(max.max(1) as u64);
        loop {
            let mut bytes = vec![0u8; want as usize];
            file.seek(SeekFrom::Start(from.offset)).map_err(io_err(&path))?;
            file.read_exact(&mut bytes).map_err(io_err(&path))?;
            let (whole, records) = self.framing.whole_prefix(&bytes);
            if whole > 0 || want >= available {
                bytes.truncate(whole);
                let end = Position { segment, offset: from.offset + whole as u64 };
                return Ok(Chunk { bytes, records, end });
            }
            want = (want * 2).min(available);
        }
    }

    /// A position at the end of a segment that has a successor means the successor's start.
    fn normalise(&self, p: Position) -> Position {
        let mut p = p;
        for (i, &(n, len)) in self.segments.iter().enumerate() {
            if n == p.segment && p.offset >= len {
                if let Some(&(next, _)) = self.segments.get(i + 1) {
                    p = Position { segment: next, offset: 0 };
                }
            }
        }
        p
    }

    /// Marks everything before `upto` delivered: persists the position (write + rename)
    /// and deletes segments wholly before it. Positions not ahead of the current one are
    /// ignored.
    pub fn confirm(&mut self, upto: Position, records: u64, bytes: u64) -> Result<(), SpoolError> {
        let upto = self.normalise(upto);
        if upto <= self.confirmed {
            return Ok(());
        }
        let path = self.dir.join("confirmed");
        let tmp = self.dir.join("confirmed.tmp");
        fs::write(&tmp, format!("{} {}\n", upto.segment, upto.offset)).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        self.confirmed = upto;
        self.unconfirmed_bytes = self.unconfirmed_bytes.saturating_sub(bytes);
        self.unconfirmed_records = self.unconfirmed_records.saturating_sub(records);
        while self.segments.len() > 1 && self.segments.front().is_some_and(|&(n, _)| n < upto.segment) {
            if let Some((n, _)) = self.segments.pop_front() {
                let seg = segment_path(&self.dir, n);
                fs::remove_file(&seg).map_err(io_err(&seg))?;
            }
        }
        Ok(())
    }

    /// Bytes and records from `from` to the end.
    fn count_from(&self, from: Position) -> Result<(u64, u64), SpoolError> {
        let (mut bytes, mut records) = (0, 0);
        let mut at = from;
        loop {
            let chunk = self.read(at, 1 << 20)?;
            if chunk.bytes.is_empty() {
                return Ok((bytes, records));
            }
            bytes += chunk.bytes.len() as u64;
            records += chunk.records;
            at = chunk.end;
        }
    }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:016}.ber"))
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
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(segment)), Some(Ok(offset))) => Ok(Position { segment, offset }),
        _ => Err(SpoolError::BadConfirmed { path }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::{encode_keepalive, PduHeader};
    use crate::Timestamp;

    fn pdu(seq: u32) -> Vec<u8> {
        let h = PduHeader {
            liid: "LIID-1",
            authorization_country: "US",
            operator_id: "OP",
            network_element_id: "NE",
            cin: 1,
            delivery_country: "US",
            sequence: seq,
            ts: Timestamp::from_secs_micros(1_700_000_000, 5),
        };
        let mut out = Vec::new();
        encode_keepalive(&mut out, &h);
        out
    }

    #[test]
    fn appended_records_read_back_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        let (a, b) = (pdu(0), pdu(1));
        s.append(&a).unwrap();
        s.append(&b).unwrap();
        let chunk = s.read(Position::default(), 1 << 16).unwrap();
        assert_eq!(chunk.records, 2);
        assert_eq!(chunk.bytes, [a.clone(), b.clone()].concat());
        drop(s);
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.unconfirmed_records(), 2);
        assert_eq!(s.unconfirmed_bytes(), (a.len() + b.len()) as u64);
    }

    #[test]
    fn confirmed_records_are_not_read_again_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        let (a, b) = (pdu(0), pdu(1));
        s.append(&a).unwrap();
        s.append(&b).unwrap();
        let first = s.read(Position::default(), a.len()).unwrap();
        assert_eq!(first.records, 1);
        s.confirm(first.end, 1, a.len() as u64).unwrap();
        drop(s);
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.confirmed(), first.end);
        let rest = s.read(s.confirmed(), 1 << 16).unwrap();
        assert_eq!(rest.bytes, b);
        assert_eq!(s.unconfirmed_records(), 1);
    }

    #[test]
    fn torn_tail_record_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        let a = pdu(0);
        s.append(&a).unwrap();
        drop(s);
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&pdu(1)[..7]).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(fs::metadata(&seg).unwrap().len(), a.len() as u64);
        s.append(&pdu(2)).unwrap();
        let all = s.read(Position::default(), 1 << 16).unwrap();
        assert_eq!(all.bytes, [a, pdu(2)].concat());
    }

    #[test]
    fn full_spool_refuses_until_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let a = pdu(0);
        let mut s = Spool::open(dir.path(), a.len() as u64 + 1).unwrap();
        s.append(&a).unwrap();
        assert!(matches!(s.append(&a), Err(SpoolError::Full { .. })));
        let c = s.read(Position::default(), 1 << 16).unwrap();
        s.confirm(c.end, c.records, c.bytes.len() as u64).unwrap();
        s.append(&a).unwrap();
        assert_eq!(s.unconfirmed_records(), 1);
    }

    #[test]
    fn confirmed_segments_are_deleted_and_reads_cross_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), u64::MAX).unwrap();
        let a = pdu(0);
        s.append(&a).unwrap();
        s.rotate().unwrap();
        s.append(&a).unwrap();
        let first = s.read(Position::default(), 1 << 16).unwrap();
        assert_eq!((first.records, first.end), (1, Position { segment: 0, offset: a.len() as u64 }));
        let second = s.read(first.end, 1 << 16).unwrap();
        assert_eq!((second.records, second.end), (1, Position { segment: 1, offset: a.len() as u64 }));
        s.confirm(second.end, 2, 2 * a.len() as u64).unwrap();
        assert!(!segment_path(dir.path(), 0).exists());
        assert_eq!(s.unconfirmed_records(), 0);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_segment_bytes_open_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let dir = tempfile::tempdir().unwrap();
            fs::write(segment_path(dir.path(), 0), &bytes).unwrap();
            let s = Spool::open(dir.path(), u64::MAX).unwrap();
            let chunk = s.read(Position::default(), 1 << 16).unwrap();
            proptest::prop_assert_eq!(chunk.bytes.len() as u64, s.unconfirmed_bytes());
        }
    }
}
