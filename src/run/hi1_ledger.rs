//! Which HI1 notifications were spooled, so that a restart does not tell an agency again
//! that a warrant it already knows active was activated (`SPOOL/hi1-notified`).
//!
//! Format: one line per notification spooled, `KIND<TAB>LIID<TAB>ORDER\n`, KIND one of
//! `activated`, `modified`, `deactivated`; ORDER is the SHA-256 (hex) of the order's audit
//! record (LIID, agency, targets, validity, type, court order…), `-` for a deactivation,
//! so no target is written in clear. Invariant: the last line of a LIID says what the
//! agency was last told about it. A line is appended after its notification was spooled
//! and `fdatasync`ed before the next record goes on (as the audit log and the CIN
//! reservations); a torn last line (no newline, after a crash) is cut on open. What
//! survives: every notification whose line was synced; a kill between spooling and
//! syncing the line sends that one notification again (at least once, never lost).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::audit::InterceptionRecord;
use crate::handover::etsi::Hi1Notification;
use crate::warrant::Warrant;

/// The ledger's file name under the spool directory.
pub const FILE: &str = "hi1-notified";

/// The ledger file, open for appending, with the last entry of each LIID.
#[derive(Debug)]
pub struct Hi1Ledger {
    path: PathBuf,
    file: File,
    /// The file's length: every whole line so far.
    len: u64,
    last: HashMap<String, (Hi1Notification, String)>,
}

fn kind_name(n: Hi1Notification) -> &'static str {
    match n {
        Hi1Notification::Activated => "activated",
        Hi1Notification::Modified => "modified",
        Hi1Notification::Deactivated => "deactivated",
    }
}

fn kind_of(name: &str) -> Option<Hi1Notification> {
    match name {
        "activated" => Some(Hi1Notification::Activated),
        "modified" => Some(Hi1Notification::Modified),
        "deactivated" => Some(Hi1Notification::Deactivated),
        _ => None,
    }
}

/// The fingerprint of a warrant's order: equal exactly when the order is unchanged.
pub fn order_digest(w: &Warrant) -> String {
    let record = InterceptionRecord::of(w, w.valid_from, None);
    let bytes = serde_json::to_vec(&record).unwrap_or_default();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Hi1Ledger {
    /// Opens (or creates) the ledger at `path`, cutting a torn last line.
    pub fn open(path: &Path) -> io::Result<Hi1Ledger> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            file.set_len(whole as u64)?;
            file.sync_data()?;
        }
        let mut last = HashMap::new();
        for line in text.get(..whole).unwrap_or_default().lines() {
            let mut fields = line.split('\t');
            if let (Some(kind), Some(liid), Some(order)) = (fields.next().and_then(kind_of), fields.next(), fields.next()) {
                last.insert(liid.to_owned(), (kind, order.to_owned()));
            }
        }
        if let Some(dir) = path.parent() {
            // The file's directory entry must survive too.
            File::open(dir).and_then(|d| d.sync_all())?;
        }
        Ok(Hi1Ledger { path: path.to_owned(), file, len: whole as u64, last })
    }

    /// Cuts the ledger at `path` back to its first `len` octets (an X2/X3 restart from a
    /// checkpoint, see `restart.rs`: the notifications noted after it were cut from the
    /// spools with the records after it, so they are to be spooled again). Nothing to do
    /// when the file is not longer; synced.
    pub fn cut_back(path: &Path, len: u64) -> io::Result<u64> {
        let file = match OpenOptions::new().write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = file.metadata()?.len();
        if now <= len {
            return Ok(0);
        }
        file.set_len(len)?;
        file.sync_data()?;
        Ok(now - len)
    }

    /// The ledger's length in octets (whole lines), for a checkpoint to cut back to.
    pub fn octets(&self) -> u64 {
        self.len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Warrants whose activation under their current order the agency was already told:
    /// LIID → order digest, for the packet-time schedule to leave out.
    pub fn told_active(&self) -> HashMap<String, String> {
        self.last
            .iter()
            .filter(|(_, (kind, _))| *kind != Hi1Notification::Deactivated)
            .map(|(liid, (_, order))| (liid.clone(), order.clone()))
            .collect()
    }

    /// Records that `n` about `liid` (whose order is `w`, absent for a deactivation) was
    /// spooled; synced before returning.
    pub fn note(&mut self, n: Hi1Notification, liid: &str, w: Option<&Warrant>) -> io::Result<()> {
        let order = match (n, w) {
            (Hi1Notification::Deactivated, _) | (_, None) => "-".to_owned(),
            (_, Some(w)) => order_digest(w),
        };
        let line = format!("{}\t{liid}\t{order}\n", kind_name(n));
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.len += line.len() as u64;
        self.last.insert(liid.to_owned(), (n, order));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_per_liid_wins_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hi1-notified");
        {
            let mut l = Hi1Ledger::open(&path).unwrap();
            l.note(Hi1Notification::Activated, "A", None).unwrap();
            l.note(Hi1Notification::Deactivated, "A", None).unwrap();
            l.note(Hi1Notification::Modified, "B", None).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"activated\tA\tabc").unwrap();
        let l = Hi1Ledger::open(&path).unwrap();
        assert_eq!(l.told_active(), HashMap::from([("B".to_owned(), "-".to_owned())]));
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("modified\tB\t-\n"));
    }

    #[test]
    fn a_cut_back_forgets_the_notifications_after_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hi1-notified");
        let at = {
            let mut l = Hi1Ledger::open(&path).unwrap();
            l.note(Hi1Notification::Activated, "A", None).unwrap();
            let at = l.octets();
            l.note(Hi1Notification::Modified, "B", None).unwrap();
            assert_eq!(l.octets(), std::fs::metadata(&path).unwrap().len());
            at
        };
        assert_eq!(Hi1Ledger::cut_back(&path, at).unwrap(), "modified\tB\t-\n".len() as u64);
        assert_eq!(Hi1Ledger::cut_back(&path, at).unwrap(), 0, "nothing more to cut");
        let l = Hi1Ledger::open(&path).unwrap();
        assert_eq!(l.told_active(), HashMap::from([("A".to_owned(), "-".to_owned())]), "B is to be told again");
        assert_eq!(l.octets(), at);
    }
}
