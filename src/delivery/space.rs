//! Free space of the file system a spool lives on, and the headroom a spool leaves free so
//! that the audit log, CIN reservations and confirmed positions can still be written when
//! the spools have filled the disk.

use std::io;
use std::path::Path;

/// Smallest headroom kept free, whatever the file system's size.
pub const HEADROOM_MIN: u64 = 1 << 20;
/// Largest headroom kept free.
pub const HEADROOM_MAX: u64 = 64 << 20;

/// Space of a file system: bytes an unprivileged writer may still use, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    pub available: u64,
    pub total: u64,
}

impl Space {
    /// Headroom for a file system of this size: 2 % of it, at least [`HEADROOM_MIN`] and at
    /// most [`HEADROOM_MAX`] (a file system smaller than twice the minimum keeps a quarter).
    pub fn headroom(&self) -> u64 {
        let share = (self.total / 50).clamp(HEADROOM_MIN, HEADROOM_MAX);
        share.min(self.total / 4)
    }

    /// Whether `len` more bytes may be written without eating into the headroom.
    pub fn allows(&self, len: u64) -> bool {
        self.available >= self.headroom().saturating_add(len)
    }
}

/// `statvfs(2)` of the file system holding `path`.
pub fn space_of(path: &Path) -> io::Result<Space> {
    let s = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    let frag = if s.f_frsize > 0 { s.f_frsize } else { s.f_bsize };
    Ok(Space { available: s.f_bavail.saturating_mul(frag), total: s.f_blocks.saturating_mul(frag) })
}

/// Whether an I/O error means the file system (or the user's quota) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_two_percent_within_bounds() {
        let gib = 1u64 << 30;
        assert_eq!(Space { available: 0, total: 2 * gib }.headroom(), 2 * gib / 50);
        assert_eq!(Space { available: 0, total: 100 * gib }.headroom(), HEADROOM_MAX);
        assert_eq!(Space { available: 0, total: 16 << 20 }.headroom(), HEADROOM_MIN);
        assert_eq!(Space { available: 0, total: 2 << 20 }.headroom(), 512 << 10);
        let s = Space { available: 3 << 20, total: 16 << 20 };
        assert!(s.allows(2 << 20) && !s.allows((2 << 20) + 1));
    }

    #[test]
    fn a_real_directory_has_space() {
        let dir = tempfile::tempdir().unwrap();
        let s = space_of(dir.path()).unwrap();
        assert!(s.total > 0 && s.available <= s.total);
        assert!(is_no_space(&io::Error::from_raw_os_error(28)));
        assert!(!is_no_space(&io::Error::from(io::ErrorKind::NotFound)));
    }
}
