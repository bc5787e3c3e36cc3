//! Appending to the audit log: one line per entry, fsynced, then the head file (entry
//! count and last hash) replaced atomically so a cut-off tail is detectable.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::entry::{chain_hash, now, Entry, Event, GENESIS};
use super::verify::{read_head, Head};
use crate::Timestamp;

/// The log file inside an audit directory.
pub const LOG_FILE: &str = "audit.log";
/// The head file: `{"entries": N, "last": HASH}` of the log as last written.
pub const HEAD_FILE: &str = "audit.head";

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {why}")]
    Corrupt { path: PathBuf, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io { path: path.to_owned(), source }
}

/// An open audit log, ready to append. Writers (threads holding their own `AuditLog`, or
/// processes) take turns under an exclusive lock of the log file.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    file: File,
    entries: u64,
    last: String,
}

impl AuditLog {
    /// Opens (creating, mode 0700/0600) the log in `dir` and continues its chain from the
    /// head file. A log without a head file, or one whose length disagrees, is refused.
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err(dir))?;
        let log_path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        let len = file.metadata().map_err(io_err(&log_path))?.len();
        let head = read_head(dir)?;
        let (entries, last) = match head {
            Some(Head { entries, last }) => (entries, last),
            None if len == 0 => (0, GENESIS.to_owned()),
            None => {
                return Err(AuditError::Corrupt {
                    path: dir.join(HEAD_FILE),
                    why: "missing while the log has entries".into(),
                })
            }
        };
        Ok(AuditLog { dir: dir.to_owned(), file, entries, last })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Entries in the log.
    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Appends `event` stamped with the wall-clock time, fsyncs it, and updates the head.
    pub fn append(&mut self, event: Event) -> Result<Entry, AuditError> {
        self.append_at(event, now())
    }

    /// [`append`](Self::append) stamped `time` (a run's clock, see [`crate::time::RunClock`]).
    pub fn append_at(&mut self, event: Event, time: Timestamp) -> Result<Entry, AuditError> {
        let log_path = self.dir.join(LOG_FILE);
        self.file.lock().map_err(io_err(&log_path))?;
        let appended = self.append_locked(event, time);
        let unlocked = self.file.unlock().map_err(io_err(&log_path));
        let entry = appended?;
        unlocked?;
        Ok(entry)
    }

    fn append_locked(&mut self, event: Event, time: Timestamp) -> Result<Entry, AuditError> {
        // Another writer may have appended since: continue from the head it left.
        if let Some(head) = read_head(&self.dir)? {
            self.entries = head.entries;
            self.last = head.last;
        }
        let entry = Entry {
            seq: self.entries + 1,
            time: time.to_rfc3339(),
            prev: self.last.clone(),
            event,
        };
        let json = serde_json::to_string(&entry).map_err(|e| AuditError::Corrupt {
            path: self.dir.join(LOG_FILE),
            why: format!("cannot encode entry: {e}"),
        })?;
        let hash = chain_hash(&entry.prev, json.as_bytes());
        let log_path = self.dir.join(LOG_FILE);
        let line = format!("{hash} {json}\n");
        self.file.write_all(line.as_bytes()).map_err(io_err(&log_path))?;
        self.file.sync_data().map_err(io_err(&log_path))?;
        self.entries = entry.seq;
        self.last = hash;
        self.write_head()?;
        Ok(entry)
    }

    fn write_head(&self) -> Result<(), AuditError> {
        let head = Head { entries: self.entries, last: self.last.clone() };
        let path = self.dir.join(HEAD_FILE);
        let tmp = self.dir.join(format!(".{HEAD_FILE}.tmp"));
        let json = serde_json::to_vec(&head).unwrap_or_default();
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(&json).and_then(|()| f.sync_all()).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err(&self.dir))
    }
}
