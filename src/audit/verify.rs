//! Reading the audit log back: `tapline audit verify` walks the chain and names the first
//! entry altered, removed or reordered; `tapline audit show` picks one LIID's entries.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::entry::{chain_hash, Entry, Event, InterceptionRecord, InterceptionStatus, GENESIS};
use super::log::{AuditError, HEAD_FILE, LOG_FILE};

/// The head file's content.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Head {
    pub entries: u64,
    pub last: String,
}

pub(super) fn read_head(dir: &Path) -> Result<Option<Head>, AuditError> {
    let path = dir.join(HEAD_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AuditError::Corrupt { path, why: format!("unreadable: {e}") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuditError::Io { path, source }),
    }
}

/// An intact log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    /// Hash of the last entry (`GENESIS` when empty).
    pub last: String,
}

/// The first break in the chain. `entry` counts from 1; lines are the log's lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    #[error("entry {entry}: altered ({why})")]
    Altered { entry: u64, why: String },
    #[error("entry {entry}: out of place: line {entry} holds entry {found} (an entry was removed or reordered)")]
    Misplaced { entry: u64, found: u64 },
    #[error("entry {entry}: does not follow entry {before} (entry {before} was rewritten, or entries between were removed or reordered)")]
    Unchained { entry: u64, before: u64 },
    #[error("the log ends after entry {found} but {expected} were written: entries removed from the end")]
    Truncated { found: u64, expected: u64 },
    #[error("entry {entry}: altered (last hash disagrees with the head file)")]
    HeadMismatch { entry: u64 },
    #[error("{0}")]
    Head(String),
}

/// Walks the log in `dir`: every entry's hash, position and link to the one before, and
/// the head file. `Ok(Err(..))` names the first break; `Err` is an unreadable directory.
pub fn verify_dir(dir: &Path) -> Result<Result<Verified, Tamper>, AuditError> {
    let path = dir.join(LOG_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    let head = match read_head(dir) {
        Ok(h) => h,
        Err(e) => return Ok(Err(Tamper::Head(e.to_string()))),
    };
    Ok(verify_bytes(&bytes, head.as_ref()))
}

fn verify_bytes(bytes: &[u8], head: Option<&Head>) -> Result<Verified, Tamper> {
    let mut last = GENESIS.to_owned();
    let mut count = 0u64;
    let body = match bytes.strip_suffix(b"\n") {
        Some(b) => b,
        None if bytes.is_empty() => bytes,
        None => {
            let entry = bytes.split(|b| *b == b'\n').count() as u64;
            return Err(Tamper::Altered { entry, why: "last line not terminated".into() });
        }
    };
    if !bytes.is_empty() {
        for line in body.split(|b| *b == b'\n') {
            let position = count + 1;
            let (hash, entry) = parse_line(line).map_err(|why| Tamper::Altered { entry: position, why })?;
            if entry.seq != position {
                return Err(Tamper::Misplaced { entry: position, found: entry.seq });
            }
            if entry.prev != last {
                return Err(Tamper::Unchained { entry: position, before: count });
            }
            last = hash;
            count = position;
        }
    }
    match head {
        None if count == 0 => Ok(Verified { entries: 0, last }),
        None => Err(Tamper::Head(format!("{HEAD_FILE} missing"))),
        Some(h) if h.entries > count => Err(Tamper::Truncated { found: count, expected: h.entries }),
        Some(h) if h.entries < count => {
            Err(Tamper::Head(format!("{HEAD_FILE} counts {} entries, the log holds {count}", h.entries)))
        }
        Some(h) if h.last != last => Err(Tamper::HeadMismatch { entry: count }),
        Some(_) => Ok(Verified { entries: count, last }),
    }
}

/// Splits `HASH JSON`, parses the entry and checks HASH against `prev` and the JSON bytes.
fn parse_line(line: &[u8]) -> Result<(String, Entry), String> {
    let space = line.iter().position(|b| *b == b' ').ok_or("no hash")?;
    let (hash, json) = (line.get(..space).unwrap_or_default(), line.get(space + 1..).unwrap_or_default());
    let hash = std::str::from_utf8(hash).map_err(|_| "hash is not text")?;
    let entry: Entry = serde_json::from_slice(json).map_err(|e| format!("unreadable: {e}"))?;
    if chain_hash(&entry.prev, json) != hash {
        return Err("its content does not match its hash".into());
    }
    Ok((hash.to_owned(), entry))
}

/// Every entry about `liid`, in order (the log is read as is; run `verify_dir` to trust it).
pub fn entries_of_liid(dir: &Path, liid: &str) -> Result<Vec<Entry>, AuditError> {
    let path = dir.join(LOG_FILE);
    let text = fs::read_to_string(&path).map_err(|source| AuditError::Io { path: path.clone(), source })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let entry = parse_line(line.as_bytes())
            .map_err(|why| AuditError::Corrupt { path: path.clone(), why: format!("line {}: {why}", n + 1) })?
            .1;
        if entry.event.liid() == Some(liid) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The last interception entry (status and record) of every LIID the log in `dir` has
/// seen; empty when there is no log yet.
pub fn last_interceptions(dir: &Path) -> Result<HashMap<String, (InterceptionStatus, InterceptionRecord)>, AuditError> {
    let path = dir.join(LOG_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(source) => return Err(AuditError::Io { path, source }),
    };
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let entry = parse_line(line.as_bytes())
            .map_err(|why| AuditError::Corrupt { path: path.clone(), why: format!("line {}: {why}", n + 1) })?
            .1;
        if let Event::Interception { status, record } = entry.event {
            out.insert(record.liid.clone(), (status, record));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditLog, Event, InterceptionRecord, InterceptionStatus, ProvisioningAct};
    use crate::warrant::{Liid, OrderKind, Target, Warrant};
    use crate::Timestamp;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000_000;

    fn warrant() -> Warrant {
        Warrant {
            liid: Liid::new("DEN-1").unwrap(),
            kind: OrderKind::PenRegister,
            agency: "fbi-denver".into(),
            targets: vec![Target::parse("tel:+13035550142", &Default::default()).unwrap()],
            valid_from: Timestamp::from_nanos(100 * SEC),
            valid_until: Timestamp::from_nanos(200 * SEC),
            court_order: "1:26-mj-00042".into(),
            issuing_authority: "Hon. Jane Doe".into(),
            post_cut_through_digits: true,
            served_by: Some("SA R. Alvarez".into()),
            provisioned_by: Some("K. Osei".into()),
            source: "DEN-1.toml".into(),
        }
    }

    fn act(action: &str, liid: &str) -> Event {
        Event::Provisioning(ProvisioningAct {
            who: "CN=prov".into(),
            action: action.into(),
            liid: Some(liid.into()),
            client: "127.0.0.1:4000".into(),
            detail: None,
        })
    }

    /// A log of five entries in a fresh directory.
    fn sample() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path()).unwrap();
        let w = warrant();
        log.append(act("create", "DEN-1")).unwrap();
        log.append(Event::Interception {
            status: InterceptionStatus::Activated,
            record: InterceptionRecord::of(&w, Timestamp::from_nanos(150 * SEC), None),
        })
        .unwrap();
        log.append(act("create", "PHX-1")).unwrap();
        log.append(act("revoke", "DEN-1")).unwrap();
        log.append(Event::Interception {
            status: InterceptionStatus::Deactivated,
            record: InterceptionRecord::of(&w, Timestamp::from_nanos(150 * SEC), Some(Timestamp::from_nanos(170 * SEC))),
        })
        .unwrap();
        dir
    }

    fn verify(dir: &Path) -> Result<Verified, Tamper> {
        verify_dir(dir).unwrap()
    }

    fn log_bytes(dir: &Path) -> Vec<u8> {
        fs::read(dir.join(LOG_FILE)).unwrap()
    }

    #[test]
    fn intact_log_verifies_and_reopens() {
        let dir = sample();
        let v = verify(dir.path()).unwrap();
        assert_eq!(v.entries, 5);
        let mut log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.len(), 5);
        let e = log.append(act("amend", "PHX-1")).unwrap();
        assert_eq!(e.seq, 6);
        assert_eq!(e.prev, v.last);
        assert_eq!(verify(dir.path()).unwrap().entries, 6);
    }

    #[test]
    fn last_interception_per_liid() {
        let dir = sample();
        let last = last_interceptions(dir.path()).unwrap();
        assert_eq!(last.len(), 1, "PHX-1 has only a provisioning act");
        let (status, record) = &last["DEN-1"];
        assert_eq!(*status, InterceptionStatus::Deactivated);
        assert_eq!(record.end, Timestamp::from_nanos(170 * SEC).to_rfc3339());
        assert!(last_interceptions(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = sample();
        for f in [LOG_FILE, HEAD_FILE] {
            let mode = fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }

    #[test]
    fn interception_record_holds_the_1_20004_fields() {
        let dir = sample();
        let entries = entries_of_liid(dir.path(), "DEN-1").unwrap();
        assert_eq!(entries.len(), 4);
        let Event::Interception { status, record } = &entries[3].event else { panic!("not an interception") };
        assert_eq!(*status, InterceptionStatus::Deactivated);
        assert_eq!(record.targets, ["tel:+13035550142"]);
        assert_eq!(record.start, "1970-01-01T00:02:30.000000Z");
        assert_eq!(record.end, "1970-01-01T00:02:50.000000Z");
        assert_eq!(record.served_by.as_deref(), Some("SA R. Alvarez"));
        assert_eq!(record.issuing_authority, "Hon. Jane Doe");
        assert_eq!(record.interception_type, "pen register");
        assert_eq!(record.provisioned_by.as_deref(), Some("K. Osei"));
        assert_eq!(record.court_order, "1:26-mj-00042");
        assert!(record.post_cut_through_digits_authorised);
    }

    #[test]
    fn removed_line_is_named() {
        let dir = sample();
        let text = String::from_utf8(log_bytes(dir.path())).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let without: String = lines.iter().enumerate().filter(|(i, _)| *i != 2).map(|(_, l)| format!("{l}\n")).collect();
        fs::write(dir.path().join(LOG_FILE), without).unwrap();
        assert_eq!(verify(dir.path()), Err(Tamper::Misplaced { entry: 3, found: 4 }));
    }

    #[test]
    fn removed_tail_is_named() {
        let dir = sample();
        let text = String::from_utf8(log_bytes(dir.path())).unwrap();
        let kept: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
        fs::write(dir.path().join(LOG_FILE), kept).unwrap();
        assert_eq!(verify(dir.path()), Err(Tamper::Truncated { found: 4, expected: 5 }));
    }

    #[test]
    fn rewritten_entry_is_named() {
        let dir = sample();
        let text = String::from_utf8(log_bytes(dir.path())).unwrap();
        let edited = text.replacen("PHX-1", "PHX-2", 1);
        fs::write(dir.path().join(LOG_FILE), edited).unwrap();
        assert!(matches!(verify(dir.path()), Err(Tamper::Altered { entry: 3, .. })));
    }

    #[test]
    fn missing_head_is_refused() {
        let dir = sample();
        fs::remove_file(dir.path().join(HEAD_FILE)).unwrap();
        assert!(matches!(verify(dir.path()), Err(Tamper::Head(_))));
        assert!(AuditLog::open(dir.path()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_byte_edit_is_detected(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let dir = sample();
            let mut bytes = log_bytes(dir.path());
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
            prop_assert!(verify(dir.path()).is_err());
        }

        #[test]
        fn any_byte_removal_is_detected(pos in any::<prop::sample::Index>()) {
            let dir = sample();
            let mut bytes = log_bytes(dir.path());
            bytes.remove(pos.index(bytes.len()));
            fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
            prop_assert!(verify(dir.path()).is_err());
        }

        #[test]
        fn any_line_swap_is_detected(a in 0usize..5, b in 0usize..5) {
            prop_assume!(a != b);
            let dir = sample();
            let text = String::from_utf8(log_bytes(dir.path())).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.swap(a, b);
            let swapped: String = lines.iter().map(|l| format!("{l}\n")).collect();
            fs::write(dir.path().join(LOG_FILE), swapped).unwrap();
            let first = a.min(b) as u64 + 1;
            prop_assert_eq!(verify(dir.path()), Err(Tamper::Misplaced { entry: first, found: a.max(b) as u64 + 1 }));
        }
    }
}
