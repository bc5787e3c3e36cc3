//! CIN reservations in the spool directory: blocks of CINs are reserved durably before any
//! is used, so a restarted appliance (even after SIGKILL) never reuses a CIN.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// CINs reserved per durable write.
pub const BLOCK: u32 = 1024;

/// Everything below `reserved` may be in use; a restart starts at `reserved`.
#[derive(Debug)]
pub struct CinReservation {
    path: PathBuf,
    start: u32,
    reserved: u32,
}

impl CinReservation {
    /// Reads `DIR/cin-reserved` (absent: CINs start at 1) and reserves the first block.
    pub fn open(dir: &Path) -> io::Result<CinReservation> {
        let path = dir.join("cin-reserved");
        let start = match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u32>().map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 1,
            Err(e) => return Err(e),
        };
        let mut r = CinReservation { path, start: start.max(1), reserved: start.max(1) };
        r.reserve(r.start.saturating_add(BLOCK))?;
        Ok(r)
    }

    /// The first CIN this run may use: the floor for `mediation::CinAllocator::with_floor`.
    pub fn floor(&self) -> u32 {
        self.start
    }

    /// Makes sure `cin` is reserved, writing a new block durably first when it is not.
    pub fn cover(&mut self, cin: u32) -> io::Result<()> {
        if cin < self.reserved {
            return Ok(());
        }
        self.reserve(cin.saturating_add(BLOCK))
    }

    fn reserve(&mut self, upto: u32) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(format!("{upto}\n").as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.reserved = upto;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_starts_above_everything_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = CinReservation::open(dir.path()).unwrap();
        assert_eq!(r.floor(), 1);
        r.cover(5).unwrap();
        r.cover(BLOCK + 3).unwrap();
        drop(r);
        let again = CinReservation::open(dir.path()).unwrap();
        assert_eq!(again.floor(), 2 * BLOCK + 3);
    }
}
