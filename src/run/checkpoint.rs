//! The X2/X3 checkpoint: what a mediation function that ingests X2/X3 restarts from, so that
//! a kill delivers nothing twice (issue #13).
//!
//! # Contract
//! At every barrier (a POI's keepalive or the mediation function's own, see
//! `x2x3/confirm.rs`) the durable thread, after the spools' group commit and before the
//! barrier's acks are released, writes `SPOOL/x2x3-checkpoint` holding
//! - per delivery queue (agency × HI2/HI3) the spool's end when the encoding stage applied
//!   the barrier: every record of the frames before it appended, none after;
//! - the resend filter at the barrier: per sender identity and XID the last sequence number
//!   and timestamp of the PDUs before it;
//! - `pipeline`: the mediation pipeline's state at the barrier (`pipeline/snapshot.rs`;
//!   empty: a first start's);
//! - the HI1 ledger's length at the barrier (its notifications after it are cut with the
//!   spools' records and spooled again).
//!
//! Only then are the queues published up to the marks (a spool hands its sender nothing
//! past the last checkpoint) and the acks released. So every record an agency may have
//! seen is before the marks, and every PDU after the filter's state is still spooled at
//! its POI (unacknowledged). On a restart each spool is cut back to its mark, the filter
//! restored, and the POIs' resends regenerate exactly what was cut.
//!
//! # File
//! `TLCKPT`, version (u16, big-endian), body length (u64), body, SHA-256 of all before it.
//! Written atomically: a temporary file, `fdatasync`, rename, directory `fsync`. A file
//! that is torn, corrupt or of another version is refused with its path and the reason:
//! the run must not start (it would deliver again what the file protects).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::delivery::Position;
use crate::handover::sequencer::Channel;
use crate::x2x3::dedupe::{Last, Numbered};
use crate::x2x3::Xid;
use crate::Timestamp;

/// The checkpoint's file name under the spool directory.
pub const FILE: &str = "x2x3-checkpoint";
const MAGIC: &[u8; 6] = b"TLCKPT";
const VERSION: u16 = 1;
const HEAD: usize = 6 + 2 + 8;
const SUM: usize = 32;

/// One queue's spool position at the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub agency: String,
    pub channel: Channel,
    pub at: Position,
}

/// What a restart resumes from (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub marks: Vec<Mark>,
    pub filter: Vec<Numbered>,
    pub pipeline: Vec<u8>,
    /// The HI1 ledger's length at the barrier (`hi1_ledger.rs`): the notifications noted
    /// after it were spooled after the marks, so a restart cuts them with the records.
    pub hi1_len: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("X2/X3 checkpoint {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("X2/X3 checkpoint {path}: refused: {reason} (the run would deliver again what it protects; restore the file or remove the spool)")]
    Corrupt { path: PathBuf, reason: &'static str },
    #[error("X2/X3 checkpoint {path}: refused: version {found}, this tapline reads version {VERSION}")]
    Version { path: PathBuf, found: u16 },
}

pub fn path_in(spool: &Path) -> PathBuf {
    spool.join(FILE)
}

/// The checkpoint in `spool`; None when there is none (a first start).
pub fn read(spool: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let path = path_in(spool);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CheckpointError::Io { path, source }),
    };
    decode(&bytes).map(Some).map_err(|e| match e {
        Refusal::Corrupt(reason) => CheckpointError::Corrupt { path, reason },
        Refusal::Version(found) => CheckpointError::Version { path, found },
    })
}

/// Replaces the checkpoint in `spool` atomically and durably.
pub fn write(spool: &Path, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    let path = path_in(spool);
    let tmp = spool.join(format!("{FILE}.tmp"));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| CheckpointError::Io { path, source }
    };
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).open(&tmp).map_err(io(&tmp))?;
    f.write_all(&encode(checkpoint)).map_err(io(&tmp))?;
    f.sync_data().map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(spool).and_then(|d| d.sync_all()).map_err(io(spool))
}

fn channel_code(c: Channel) -> u8 {
    match c {
        Channel::Hi2 => 2,
        Channel::Hi3 => 3,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
}

fn count(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes()
}

/// The file's bytes.
pub fn encode(c: &Checkpoint) -> Vec<u8> {
    let mut body = Vec::with_capacity(64 + c.pipeline.len());
    body.extend_from_slice(&count(c.marks.len()));
    for m in &c.marks {
        put_str(&mut body, &m.agency);
        body.push(channel_code(m.channel));
        body.extend_from_slice(&m.at.segment.to_be_bytes());
        body.extend_from_slice(&m.at.offset.to_be_bytes());
    }
    body.extend_from_slice(&count(c.filter.len()));
    for n in &c.filter {
        put_str(&mut body, &n.peer);
        body.extend_from_slice(&n.xid.0);
        body.extend_from_slice(&n.last.sequence.to_be_bytes());
        body.extend_from_slice(&n.last.ts.0.to_be_bytes());
    }
    body.extend_from_slice(&(c.pipeline.len() as u64).to_be_bytes());
    body.extend_from_slice(&c.pipeline);
    body.extend_from_slice(&c.hi1_len.to_be_bytes());
    let mut out = Vec::with_capacity(HEAD + body.len() + SUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(&body);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

enum Refusal {
    Corrupt(&'static str),
    Version(u16),
}

/// Reads fields off the body; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Refusal> {
        if self.0.len() < n {
            return Err(Refusal::Corrupt("a field runs past the end of the body"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Refusal> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, Refusal> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, Refusal> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, Refusal> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn str(&mut self) -> Result<String, Refusal> {
        let n = usize::from(self.u16()?);
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Refusal::Corrupt("a name is not UTF-8"))
    }
}

fn decode(bytes: &[u8]) -> Result<Checkpoint, Refusal> {
    if bytes.len() < HEAD + SUM {
        return Err(Refusal::Corrupt("the file is shorter than its header (torn)"));
    }
    let mut head = Reader(bytes);
    if head.take(MAGIC.len())? != MAGIC {
        return Err(Refusal::Corrupt("not a tapline checkpoint (bad magic)"));
    }
    let version = head.u16()?;
    if version != VERSION {
        return Err(Refusal::Version(version));
    }
    let len = usize::try_from(head.u64()?).unwrap_or(usize::MAX);
    if bytes.len() != HEAD.saturating_add(len).saturating_add(SUM) {
        return Err(Refusal::Corrupt("the file's length does not match its header (torn)"));
    }
    let (signed, sum) = bytes.split_at(HEAD + len);
    if Sha256::digest(signed).as_slice() != sum {
        return Err(Refusal::Corrupt("checksum mismatch"));
    }
    let mut r = Reader(signed.get(HEAD..).unwrap_or_default());
    let mut c = Checkpoint::default();
    for _ in 0..r.u32()? {
        let agency = r.str()?;
        let channel = match r.take(1)? {
            [2] => Channel::Hi2,
            [3] => Channel::Hi3,
            _ => return Err(Refusal::Corrupt("unknown interface code")),
        };
        let at = Position { segment: r.u64()?, offset: r.u64()? };
        c.marks.push(Mark { agency, channel, at });
    }
    for _ in 0..r.u32()? {
        let peer = r.str()?;
        let xid = Xid(r.array()?);
        let last = Last { sequence: r.u32()?, ts: Timestamp(r.u64()?) };
        c.filter.push(Numbered { peer, xid, last });
    }
    let n = usize::try_from(r.u64()?).unwrap_or(usize::MAX);
    c.pipeline = r.take(n)?.to_vec();
    c.hi1_len = r.u64()?;
    if !r.0.is_empty() {
        return Err(Refusal::Corrupt("trailing bytes after the body"));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let n = |peer: &str, x: u8, sequence: u32| Numbered {
            peer: peer.into(),
            xid: Xid([x; 16]),
            last: Last { sequence, ts: Timestamp::from_secs_micros(1_700_000_000, u32::from(x)) },
        };
        Checkpoint {
            marks: vec![
                Mark { agency: "fbi-nyfo".into(), channel: Channel::Hi2, at: Position { segment: 0, offset: 4242 } },
                Mark { agency: "fbi-nyfo".into(), channel: Channel::Hi3, at: Position { segment: 3, offset: 7 } },
            ],
            filter: vec![n("poi-1#ab", 1, 9), n("poi-2#cd", 2, u32::MAX)],
            pipeline: vec![1, 2, 3, 0, 255],
            hi1_len: 123,
        }
    }

    #[test]
    fn a_checkpoint_round_trips_through_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("no file"), None, "first start: no checkpoint");
        write(dir.path(), &sample()).expect("write");
        assert_eq!(read(dir.path()).expect("read"), Some(sample()));
        let empty = Checkpoint::default();
        write(dir.path(), &empty).expect("replace");
        assert_eq!(read(dir.path()).expect("read"), Some(empty));
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists(), "the temporary file is renamed");
    }

    fn refusal(dir: &Path, bytes: &[u8]) -> String {
        fs::write(path_in(dir), bytes).expect("write");
        match read(dir) {
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains(&path_in(dir).display().to_string()), "names the file: {text}");
                text
            }
            Ok(c) => panic!("refused, not read as {c:?}"),
        }
    }

    #[test]
    fn torn_corrupt_or_foreign_files_are_refused_with_path_and_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = encode(&sample());
        for cut in [0, 5, HEAD + 3, good.len() - 1] {
            assert!(refusal(dir.path(), &good[..cut]).contains("torn"), "cut at {cut}");
        }
        let mut flipped = good.clone();
        flipped[HEAD + 10] ^= 1;
        assert!(refusal(dir.path(), &flipped).contains("checksum mismatch"));
        let mut v2 = good.clone();
        v2[7] = 2;
        assert!(refusal(dir.path(), &v2).contains("version 2"));
        let mut other = good;
        other[0] = b'X';
        assert!(refusal(dir.path(), &other).contains("bad magic"));
    }
}
