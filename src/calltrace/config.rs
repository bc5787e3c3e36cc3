//! Call trace configuration: the carrier's served domains and number ranges, the subscriber
//! directory, charges per area, the report threshold and how long calls are remembered.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::directory::Directory;
use super::CallTraceError;
use crate::warrant::{Identity, Numbering};

/// The most a trace may cost: $10.00.
pub const MAX_CHARGE_CENTS: u32 = 1_000;
const HOUR_NS: u64 = 3_600_000_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    number_prefixes: Vec<String>,
    directory: Option<PathBuf>,
    #[serde(default = "default_threshold")]
    threshold: u32,
    #[serde(default = "default_retention_hours")]
    retention_hours: u64,
    default_charge_cents: u32,
    #[serde(default)]
    area: Vec<AreaFile>,
}

fn default_threshold() -> u32 {
    3
}

fn default_retention_hours() -> u64 {
    24
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaFile {
    name: String,
    prefixes: Vec<String>,
    charge_cents: u32,
}

/// A charging area: subscribers whose number starts with one of `prefixes` (digits, as
/// normalised: NANP numbers with their leading `1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub name: String,
    pub prefixes: Vec<String>,
    pub charge_cents: u32,
}

/// The service's configuration (see `calltrace/README.md`).
#[derive(Clone, Debug)]
pub struct Config {
    /// SIP domains whose non-numeric users (`sip:alice@domain`) are subscribers.
    pub domains: Vec<String>,
    /// Number ranges (digit prefixes) whose telephone numbers are subscribers.
    pub number_prefixes: Vec<String>,
    pub directory: Directory,
    /// Successful traces of one caller to one subscriber at which the Center is flagged.
    pub threshold: u32,
    /// How long (packet time) a subscriber's last incoming call stays traceable.
    pub retention_ns: u64,
    pub areas: Vec<Area>,
    /// Charge of a subscriber in no area.
    pub default_charge_cents: u32,
    /// The carrier's number domains (`[appliance] number_domains` of `agencies.toml`): how
    /// party URIs key to identities, as for warrant targets.
    pub numbering: Numbering,
}

impl Config {
    /// Reads a TOML configuration; a relative `directory` path is relative to the file.
    /// Identities (directory entries, parties) key under `numbering`, the warrant store's.
    pub fn load(path: &Path, numbering: &Numbering) -> Result<Config, CallTraceError> {
        let text = fs::read_to_string(path)
            .map_err(|source| CallTraceError::Io { path: path.to_owned(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, path, base, numbering)
    }

    /// Parses configuration text; `path` only names the file in errors.
    pub fn from_toml(text: &str, path: &Path, base: &Path, numbering: &Numbering) -> Result<Config, CallTraceError> {
        let file: ConfigFile = toml::from_str(text)
            .map_err(|e| CallTraceError::Toml { path: path.to_owned(), why: e.message().to_owned() })?;
        let invalid = |key: &str, why: &str| CallTraceError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            why: why.to_owned(),
        };
        if file.domains.is_empty() && file.number_prefixes.is_empty() {
            return Err(invalid("domains", "neither served domains nor number_prefixes given"));
        }
        let number_prefixes = file
            .number_prefixes
            .iter()
            .map(|p| digits_prefix(p).ok_or_else(|| invalid("number_prefixes", "not a digit prefix")))
            .collect::<Result<Vec<_>, _>>()?;
        if file.threshold == 0 {
            return Err(invalid("threshold", "must be at least 1"));
        }
        if file.retention_hours == 0 {
            return Err(invalid("retention_hours", "must be at least 1"));
        }
        if file.default_charge_cents > MAX_CHARGE_CENTS {
            return Err(invalid("default_charge_cents", "more than 1000 cents ($10)"));
        }
        let mut areas = Vec::with_capacity(file.area.len());
        for (i, a) in file.area.into_iter().enumerate() {
            let key = format!("area[{i}]");
            if a.charge_cents > MAX_CHARGE_CENTS {
                return Err(invalid(&key, "charge_cents more than 1000 cents ($10)"));
            }
            let prefixes = a
                .prefixes
                .iter()
                .map(|p| digits_prefix(p).ok_or_else(|| invalid(&key, "prefix is not a digit prefix")))
                .collect::<Result<Vec<_>, _>>()?;
            areas.push(Area { name: a.name, prefixes, charge_cents: a.charge_cents });
        }
        let directory = match file.directory {
            Some(d) => Directory::load(&base.join(d), numbering)?,
            None => Directory::default(),
        };
        Ok(Config {
            domains: file.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            number_prefixes,
            directory,
            threshold: file.threshold,
            retention_ns: file.retention_hours.saturating_mul(HOUR_NS),
            areas,
            default_charge_cents: file.default_charge_cents,
            numbering: numbering.clone(),
        })
    }

    /// True for the carrier's own subscribers: a number in a served range, or a SIP user
    /// of a served domain. (A number is judged by its range, not by the domain in its URI.)
    pub fn is_subscriber(&self, id: &Identity) -> bool {
        match id {
            Identity::Tel(digits) => self.number_prefixes.iter().any(|p| digits.starts_with(p.as_str())),
            Identity::Sip { host, .. } => self.domains.iter().any(|d| d == host),
        }
    }

    /// The charging area of a subscriber (longest matching prefix) and its charge.
    pub fn charge_for(&self, id: &Identity) -> (Option<&str>, u32) {
        let Identity::Tel(digits) = id else {
            return (None, self.default_charge_cents);
        };
        let mut best: Option<(&Area, usize)> = None;
        for a in &self.areas {
            for p in &a.prefixes {
                if digits.starts_with(p.as_str()) && best.is_none_or(|(_, len)| p.len() > len) {
                    best = Some((a, p.len()));
                }
            }
        }
        match best {
            Some((a, _)) => (Some(a.name.as_str()), a.charge_cents),
            None => (None, self.default_charge_cents),
        }
    }
}

/// Digits of a prefix written with an optional leading `+`.
fn digits_prefix(p: &str) -> Option<String> {
    let p = p.trim();
    let p = p.strip_prefix('+').unwrap_or(p);
    (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.to_owned())
}
