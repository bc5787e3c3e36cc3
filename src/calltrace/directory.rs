//! The subscriber directory: the carrier's own subscribers' names and addresses, looked up
//! by normalised number (or SIP address) when one of them is the traced caller, and the
//! lines that have Call Trace blocked.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::CallTraceError;
use crate::warrant::{parse_target, Identity, IdentityError, Numbering};

/// One listed subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub name: String,
    pub address: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    subscriber: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    number: String,
    name: String,
    address: String,
    /// Call Trace is blocked on this line: its `*57` traces nothing.
    #[serde(default)]
    trace_blocked: bool,
}

/// Number (or SIP address) → name and address.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    entries: HashMap<String, Listing>,
    /// Keys ([`identity_key`]) of lines with Call Trace blocked.
    blocked: HashSet<String>,
}

impl Directory {
    /// Reads a TOML directory: `[[subscriber]]` tables with `number`, `name`, `address`.
    /// `number` is a telephone number or a `tel:`/`sip:` URI, normalised like warrant targets.
    pub fn load(path: &Path, numbering: &Numbering) -> Result<Directory, CallTraceError> {
        let text = fs::read_to_string(path)
            .map_err(|source| CallTraceError::Io { path: path.to_owned(), source })?;
        Self::from_toml(&text, path, numbering)
    }

    /// Parses directory text; `path` only names the file in errors.
    pub fn from_toml(text: &str, path: &Path, numbering: &Numbering) -> Result<Directory, CallTraceError> {
        let file: DirectoryFile = toml::from_str(text)
            .map_err(|e| CallTraceError::Toml { path: path.to_owned(), why: e.message().to_owned() })?;
        let mut entries = HashMap::with_capacity(file.subscriber.len());
        let mut blocked = HashSet::new();
        for (i, e) in file.subscriber.into_iter().enumerate() {
            let invalid = |why: &str| CallTraceError::Invalid {
                path: path.to_owned(),
                key: format!("subscriber[{i}].number"),
                why: why.to_owned(),
            };
            let key = number_key(&e.number, numbering).map_err(|_| invalid("not a telephone number or SIP URI"))?;
            if e.trace_blocked {
                blocked.insert(key.clone());
            }
            let listing = Listing { name: e.name, address: e.address };
            if entries.insert(key, listing).is_some() {
                return Err(invalid("listed twice"));
            }
        }
        Ok(Directory { entries, blocked })
    }

    pub fn lookup(&self, id: &Identity) -> Option<&Listing> {
        self.entries.get(&identity_key(id))
    }

    /// True when the line keyed `key` ([`identity_key`]) has Call Trace blocked.
    pub fn trace_blocked(&self, key: &str) -> bool {
        self.blocked.contains(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The key of a number or URI written by people (a directory entry, a demand, the command
/// line): [`parse_target`] under the carrier's `numbering`, as warrant targets, then
/// [`identity_key`].
pub fn number_key(raw: &str, numbering: &Numbering) -> Result<String, IdentityError> {
    parse_target(raw, numbering).map(|id| identity_key(&id))
}

/// The text form of an identity in records and keys: the digits of a number (E.164 without
/// `+` when known), or `sip:user@host`.
pub fn identity_key(id: &Identity) -> String {
    match id {
        Identity::Tel(digits) => digits.clone(),
        Identity::Sip { user, host } => format!("sip:{user}@{host}"),
    }
}

impl Directory {
    /// A directory of listings and blocked lines already keyed by [`identity_key`] (the
    /// records database's subscriber and trace-block tables, `records::Db::directory`).
    pub fn from_entries(
        entries: impl IntoIterator<Item = (String, Listing)>,
        blocked: impl IntoIterator<Item = String>,
    ) -> Directory {
        Directory { entries: entries.into_iter().collect(), blocked: blocked.into_iter().collect() }
    }
}
