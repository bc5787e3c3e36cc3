//! The snapshot's binary encoding: little-endian fixed-width integers, length-prefixed
//! strings and sequences, and a reader that refuses short, oversized or invalid input with
//! a typed error naming what it was reading (never a panic, never a target in the message).

use std::collections::HashMap;
use std::net::IpAddr;

/// Why snapshot bytes were refused. No target (number, URI, Call-ID) appears in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a tapline pipeline snapshot (bad magic)")]
    Magic,
    #[error("pipeline snapshot version {found} is not supported (this build reads version {supported})")]
    Version { found: u16, supported: u16 },
    #[error("pipeline snapshot truncated at byte {at} while reading {what}")]
    Truncated { at: usize, what: &'static str },
    #[error("pipeline snapshot has an invalid {what} at byte {at}")]
    Invalid { at: usize, what: &'static str },
    #[error("pipeline snapshot has {0} trailing bytes after its end")]
    Trailing(usize),
}

/// Appends values to a snapshot buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A length or slot number (always 64-bit on the wire).
    pub fn len(&mut self, v: usize) {
        self.u64(v as u64);
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.buf.extend_from_slice(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub fn opt_str(&mut self, v: Option<&str>) {
        self.bool(v.is_some());
        if let Some(s) = v {
            self.str(s);
        }
    }
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                self.u8(4);
                self.buf.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u8(6);
                self.buf.extend_from_slice(&a.octets());
            }
        }
    }
}

/// Reads values back, checking every length against what is left.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    /// An `Invalid` error for `what` at the current position.
    pub fn invalid(&self, what: &'static str) -> SnapshotError {
        SnapshotError::Invalid { at: self.at, what }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SnapshotError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else { return Err(SnapshotError::Truncated { at: self.at, what }) };
        let out = self.data.get(self.at..end).ok_or(SnapshotError::Truncated { at: self.at, what })?;
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], SnapshotError> {
        let bytes = self.take(N, what)?;
        bytes.try_into().map_err(|_| SnapshotError::Truncated { at: self.at, what })
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn bool(&mut self, what: &'static str) -> Result<bool, SnapshotError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid { at: self.at - 1, what }),
        }
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, SnapshotError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items each at least `min_item` bytes long: a count the remaining bytes
    /// cannot hold is refused before anything is allocated for it.
    pub fn count(&mut self, min_item: usize, what: &'static str) -> Result<usize, SnapshotError> {
        let at = self.at;
        let n = self.u64(what)?;
        let left = self.data.len() - self.at;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_item.max(1)) <= left => Ok(n),
            _ => Err(SnapshotError::Truncated { at, what }),
        }
    }

    /// A slot number or other index bounded by `limit`.
    pub fn index(&mut self, limit: usize, what: &'static str) -> Result<usize, SnapshotError> {
        let at = self.at;
        let n = self.u64(what)?;
        usize::try_from(n).ok().filter(|&n| n < limit).ok_or(SnapshotError::Invalid { at, what })
    }

    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], SnapshotError> {
        let n = self.count(1, what)?;
        self.take(n, what)
    }
    pub fn str(&mut self, what: &'static str) -> Result<&'a str, SnapshotError> {
        let at = self.at;
        std::str::from_utf8(self.bytes(what)?).map_err(|_| SnapshotError::Invalid { at, what })
    }
    pub fn string(&mut self, what: &'static str) -> Result<String, SnapshotError> {
        self.str(what).map(str::to_owned)
    }
    pub fn opt_string(&mut self, what: &'static str) -> Result<Option<String>, SnapshotError> {
        if self.bool(what)? {
            self.string(what).map(Some)
        } else {
            Ok(None)
        }
    }
    pub fn ip(&mut self, what: &'static str) -> Result<IpAddr, SnapshotError> {
        match self.u8(what)? {
            4 => Ok(IpAddr::from(self.array::<4>(what)?)),
            6 => Ok(IpAddr::from(self.array::<16>(what)?)),
            _ => Err(SnapshotError::Invalid { at: self.at - 1, what }),
        }
    }

    /// The end: refuses bytes left over.
    pub fn finish(self) -> Result<(), SnapshotError> {
        match self.data.len() - self.at {
            0 => Ok(()),
            n => Err(SnapshotError::Trailing(n)),
        }
    }
}

/// The entries of a per-(LIID, CIN) map that `live` selects, sorted by (LIID, CIN), so that
/// the encoding does not depend on hash order.
pub fn live_entries<'a, T>(
    map: &'a HashMap<String, HashMap<u32, T>>,
    live: &dyn Fn(&str, u32) -> bool,
) -> Vec<(&'a str, u32, &'a T)> {
    let mut all: Vec<(&str, u32, &T)> = map
        .iter()
        .flat_map(|(liid, per)| per.iter().map(move |(cin, v)| (liid.as_str(), *cin, v)))
        .filter(|(liid, cin, _)| live(liid, *cin))
        .collect();
    all.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    all
}
