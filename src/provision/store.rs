//! The API's operations on the warrant directory: JSON warrants checked exactly as warrant
//! files are, then written through atomically (temp file, fsync, rename, fsync directory);
//! revoked files kept under `revoked/` and listed on request.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::metrics::WarrantState;
use crate::warrant::{changes, check_paths, load_file, names_a_target, Change, Store, Warrant, WarrantError};

/// What a client may do, from the organizational unit of its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Create, amend, revoke; sees targets.
    Provisioning,
    /// Lists and shows warrants without targets.
    Viewer,
}

/// A warrant as the API shows it. `targets` only to a client allowed to see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WarrantView {
    pub liid: String,
    pub kind: String,
    pub agency: String,
    pub valid_from: String,
    pub valid_until: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    pub court_order: String,
    pub issuing_authority: String,
    pub post_cut_through_digits: bool,
    pub served_by: Option<String>,
    pub provisioned_by: Option<String>,
    /// `pending`, `active`, `expired` (by the server's clock) or `revoked`.
    pub state: String,
}

impl WarrantView {
    pub fn of(w: &Warrant, role: Role, state: WarrantState) -> WarrantView {
        WarrantView {
            liid: w.liid.to_string(),
            kind: w.kind.to_string(),
            agency: w.agency.clone(),
            valid_from: w.valid_from.to_rfc3339(),
            valid_until: w.valid_until.to_rfc3339(),
            targets: (role == Role::Provisioning).then(|| w.targets.iter().map(|t| t.raw.clone()).collect()),
            court_order: w.court_order.clone(),
            issuing_authority: w.issuing_authority.clone(),
            post_cut_through_digits: w.post_cut_through_digits,
            served_by: w.served_by.clone(),
            provisioned_by: w.provisioned_by.clone(),
            state: state.name().to_owned(),
        }
    }
}

/// Which warrants a listing holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Those in the store: pending, active and expired.
    InStore,
    /// Those in the store and the revoked ones.
    All,
    /// Those in one state.
    State(WarrantState),
}

/// A validation error as the API returns it (file is the warrant file it would be).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub file: String,
    pub key: Option<String>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no warrant with LIID `{0}`")]
    Unknown(String),
    #[error("a warrant with LIID `{0}` exists")]
    Exists(String),
    #[error("invalid warrant")]
    Invalid(Vec<Refusal>),
    /// A request refused for what it says (never echoing a target).
    #[error("{0}")]
    Refused(String),
    #[error("warrant store: {0}")]
    Store(String),
}

/// The warrant directory the API writes through to.
#[derive(Clone, Debug)]
pub struct WarrantStore {
    dir: PathBuf,
}

impl WarrantStore {
    pub fn new(dir: &Path) -> WarrantStore {
        WarrantStore { dir: dir.to_owned() }
    }

    fn load(&self) -> Result<Store, StoreError> {
        Store::load_dir(&self.dir).map(|(s, _)| s).map_err(|e| StoreError::Store(e.to_string()))
    }

    /// The warrants of `listing`, states by the wall clock: in the store in file-name
    /// order, then the revoked ones in order of revocation.
    pub fn list(&self, role: Role, listing: Listing) -> Result<Vec<WarrantView>, StoreError> {
        let store = self.load()?;
        let now = crate::audit::now();
        let mut views: Vec<WarrantView> = store.warrants.iter().map(|w| WarrantView::of(w, role, w.state_at(now))).collect();
        if matches!(listing, Listing::All | Listing::State(WarrantState::Revoked)) {
            for w in self.revoked(&store)? {
                views.push(WarrantView::of(&w, role, WarrantState::Revoked));
            }
        }
        if let Listing::State(state) = listing {
            views.retain(|v| v.state == state.name());
        }
        Ok(views)
    }

    /// The warrants kept under `revoked/` (`LIID.toml.NANOS`), oldest revocation first.
    /// A file that no longer parses is logged and left out.
    fn revoked(&self, store: &Store) -> Result<Vec<Warrant>, StoreError> {
        let dir = self.dir.join("revoked");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::Store(format!("{}: {e}", dir.display()))),
        };
        let mut kept: Vec<(u64, PathBuf)> = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| StoreError::Store(format!("{}: {e}", dir.display())))?.path();
            let stamp = path.extension().and_then(|e| e.to_str()).and_then(|e| e.parse::<u64>().ok());
            if let Some(stamp) = stamp {
                kept.push((stamp, path));
            }
        }
        kept.sort();
        let mut warrants = Vec::with_capacity(kept.len());
        for (_, path) in kept {
            match load_file(&path, &store.appliance.numbering) {
                Ok(w) => warrants.push(w),
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "revoked warrant file left out of the listing");
                    }
                }
            }
        }
        Ok(warrants)
    }

    pub fn show(&self, liid: &str, role: Role) -> Result<WarrantView, StoreError> {
        let now = crate::audit::now();
        self.find(liid).map(|w| WarrantView::of(&w, role, w.state_at(now)))
    }

    fn find(&self, liid: &str) -> Result<Warrant, StoreError> {
        Self::find_in(self.load()?, liid)
    }

    fn find_in(store: Store, liid: &str) -> Result<Warrant, StoreError> {
        store.warrants.into_iter().find(|w| w.liid.as_str() == liid).ok_or_else(|| StoreError::Unknown(liid.to_owned()))
    }

    /// Validates `doc` and writes it as a new warrant file `LIID.toml`.
    pub fn create(&self, doc: &Map<String, Value>) -> Result<WarrantView, StoreError> {
        let liid = doc.get("liid").and_then(Value::as_str).unwrap_or_default().to_owned();
        if self.find(&liid).is_ok() {
            return Err(StoreError::Exists(liid));
        }
        let path = self.dir.join(file_name(&liid));
        if path.exists() {
            return Err(StoreError::Exists(liid));
        }
        self.write(&path, doc)
    }

    /// Validates `doc` (its LIID is `liid`) and replaces the warrant's file; returns the
    /// keys changed.
    pub fn amend(&self, liid: &str, doc: &Map<String, Value>) -> Result<(WarrantView, Vec<Change>), StoreError> {
        let current = self.find(liid)?;
        let mut doc = doc.clone();
        match doc.get("liid") {
            None => {
                doc.insert("liid".into(), Value::String(liid.to_owned()));
            }
            Some(v) if v.as_str() == Some(liid) => {}
            Some(_) => {
                return Err(StoreError::Invalid(vec![Refusal {
                    file: file_name(liid),
                    key: Some("liid".into()),
                    reason: "an amendment cannot change the LIID".into(),
                }]))
            }
        }
        let view = self.write(&current.source, &doc)?;
        let amended = self.find(liid)?;
        Ok((view, changes(&current, &amended)))
    }

    /// Removes the warrant's file from the store, keeping it under `revoked/`. A `reason`
    /// naming one of its targets is refused (it would go into the audit trail).
    pub fn revoke(&self, liid: &str, reason: Option<&str>) -> Result<WarrantView, StoreError> {
        let store = self.load()?;
        let numbering = store.appliance.numbering.clone();
        let current = Self::find_in(store, liid)?;
        if reason.is_some_and(|r| names_a_target(r, &current.targets, &numbering)) {
            return Err(StoreError::Refused(
                "the reason names a target of this warrant; give it without identities".into(),
            ));
        }
        let revoked = self.dir.join("revoked");
        fs::create_dir_all(&revoked).map_err(|e| StoreError::Store(format!("{}: {e}", revoked.display())))?;
        let stamp = crate::audit::now().as_nanos();
        let kept = revoked.join(format!("{}.{stamp}", file_name(liid)));
        fs::rename(&current.source, &kept).map_err(|e| StoreError::Store(format!("{}: {e}", current.source.display())))?;
        sync_dir(&self.dir)?;
        Ok(WarrantView::of(&current, Role::Viewer, WarrantState::Revoked))
    }

    /// Checks `doc` as the file `path` would be checked, then puts it there atomically.
    fn write(&self, path: &Path, doc: &Map<String, Value>) -> Result<WarrantView, StoreError> {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let text = to_toml(doc).map_err(|reason| StoreError::Invalid(vec![Refusal { file: name.clone(), key: None, reason }]))?;
        let tmp = self.dir.join(format!(".{name}.new"));
        let written = write_synced(&tmp, text.as_bytes());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Store(format!("{}: {e}", tmp.display())));
        }
        let errors = check_paths(std::slice::from_ref(&tmp));
        if !errors.is_empty() {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::Invalid(errors.iter().map(|e| refusal(&name, e)).collect()));
        }
        fs::rename(&tmp, path).map_err(|e| StoreError::Store(format!("{}: {e}", path.display())))?;
        sync_dir(&self.dir)?;
        let liid = doc.get("liid").and_then(Value::as_str).unwrap_or_default();
        self.show(liid, Role::Provisioning)
    }
}

fn refusal(name: &str, e: &WarrantError) -> Refusal {
    Refusal { file: name.to_owned(), key: e.key.clone(), reason: e.reason.clone() }
}

/// `LIID.toml`, with every character other than letters, digits, `-`, `_` and `.` (and a
/// leading `.`) replaced by `_`.
fn file_name(liid: &str) -> String {
    let safe: String = liid
        .chars()
        .enumerate()
        .map(|(i, c)| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || (c == '.' && i > 0) { c } else { '_' })
        .collect();
    format!("{safe}.toml")
}

/// The warrant file text of a JSON warrant: the same keys; `valid_from`/`valid_until` as
/// TOML datetimes.
fn to_toml(doc: &Map<String, Value>) -> Result<String, String> {
    let mut table = toml::Table::new();
    for (key, value) in doc {
        let v = match (key.as_str(), value) {
            (_, Value::Null) => continue,
            ("valid_from" | "valid_until", Value::String(s)) => match s.parse::<toml::value::Datetime>() {
                Ok(dt) => toml::Value::Datetime(dt),
                Err(_) => toml::Value::String(s.clone()),
            },
            (_, v) => json_to_toml(v).ok_or_else(|| format!("key `{key}`: unsupported JSON value"))?,
        };
        table.insert(key.clone(), v);
    }
    toml::to_string(&table).map_err(|e| e.to_string())
}

fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().map(json_to_toml).collect::<Option<_>>()?),
        Value::Null | Value::Object(_) => return None,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::Store(format!("{}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory() {
        assert_eq!(file_name("DEN-2026-0042"), "DEN-2026-0042.toml");
        assert_eq!(file_name("../etc/x"), "_._etc_x.toml");
        assert_eq!(file_name(".hidden"), "_hidden.toml");
    }

    #[test]
    fn json_becomes_a_warrant_file() {
        let doc: Value = serde_json::json!({
            "liid": "A-1", "kind": "pen-register", "targets": ["tel:+13035550142"],
            "valid_from": "2026-01-01T00:00:00Z", "post_cut_through_digits": false, "served_by": null
        });
        let text = to_toml(doc.as_object().unwrap()).unwrap();
        assert!(text.contains("valid_from = 2026-01-01T00:00:00Z"), "{text}");
        assert!(text.contains("targets = [\"tel:+13035550142\"]"), "{text}");
        assert!(!text.contains("served_by"));
    }
}
