//! The warrant store on disk: a directory holding `agencies.toml` and one `*.toml` per
//! warrant; loading it, and checking files for `tapline warrant check`.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::WarrantError;
use super::identity::Numbering;
use super::model::{Agency, Appliance, Warrant};
use super::validate::{parse_agencies, parse_warrant, LiidOwners};

/// The file naming the appliance and the agencies, beside the warrant files.
pub const AGENCIES_FILE: &str = "agencies.toml";

/// Everything provisioned in one warrant directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub appliance: Appliance,
    pub agencies: Vec<Agency>,
    /// The valid warrants, in file-name order.
    pub warrants: Vec<Warrant>,
}

impl Store {
    /// Loads DIR/agencies.toml and every other DIR/*.toml. Returns the store of valid warrants
    /// and every error; a bad warrant file never stops the others. A bad/missing agencies.toml
    /// is a fatal Err (nothing can be delivered without it); its first error is returned.
    pub fn load_dir(dir: &Path) -> Result<(Store, Vec<WarrantError>), WarrantError> {
        let agencies_path = dir.join(AGENCIES_FILE);
        let (appliance, agencies) = load_agencies(&agencies_path).map_err(|errors| {
            errors
                .into_iter()
                .next()
                .unwrap_or_else(|| WarrantError::new(&agencies_path, None, "invalid"))
        })?;
        let files = warrant_files(dir)?;
        let mut owners = LiidOwners::new();
        let mut warrants = Vec::with_capacity(files.len());
        let mut errors = Vec::new();
        for file in files {
            match load_warrant(&file, Some(&agencies), &appliance.numbering, &mut owners) {
                Ok(w) => warrants.push(w),
                Err(e) => errors.extend(e),
            }
        }
        Ok((
            Store {
                appliance,
                agencies,
                warrants,
            },
            errors,
        ))
    }

    pub fn agency(&self, id: &str) -> Option<&Agency> {
        self.agencies.iter().find(|a| a.id == id)
    }
}

/// What `tapline warrant check` found: the valid warrants and every error.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    pub warrants: Vec<Warrant>,
    pub errors: Vec<WarrantError>,
}

/// [`check`] with the agencies.toml beside each file: all errors.
pub fn check_paths(paths: &[PathBuf]) -> Vec<WarrantError> {
    check(paths, None).errors
}

/// `tapline warrant check PATH...`: PATH may be files or directories; the agencies are
/// `agencies` when given, else the agencies.toml beside each warrant file (or in the
/// directory). LIIDs must be unique among the files checked from one directory.
pub fn check(paths: &[PathBuf], agencies: Option<&Path>) -> Checked {
    // Warrant files grouped by the directory whose agencies.toml governs them.
    let mut groups: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    let mut errors = Vec::new();
    let mut warrants = Vec::new();
    for path in paths {
        let (dir, files) = if path.is_dir() {
            match warrant_files(path) {
                Ok(files) => (path.clone(), files),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        } else if path.is_file() {
            let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
            let is_agencies = path.file_name().is_some_and(|n| n == AGENCIES_FILE);
            (
                dir,
                if is_agencies {
                    Vec::new()
                } else {
                    vec![path.clone()]
                },
            )
        } else {
            errors.push(WarrantError::new(path, None, "no such file or directory"));
            continue;
        };
        match groups.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, group)) => {
                for file in files {
                    if !group.contains(&file) {
                        group.push(file);
                    }
                }
            }
            None => groups.push((dir, files)),
        }
    }
    for (dir, files) in groups {
        let agencies_file = agencies.map_or_else(|| dir.join(AGENCIES_FILE), Path::to_path_buf);
        let (agencies, numbering) = match load_agencies(&agencies_file) {
            Ok((appliance, agencies)) => (Some(agencies), appliance.numbering),
            Err(e) => {
                // One --agencies file governs every group: its errors once.
                for e in e {
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
                (None, Numbering::default())
            }
        };
        let mut owners = LiidOwners::new();
        for file in files {
            match load_warrant(&file, agencies.as_deref(), &numbering, &mut owners) {
                Ok(w) => warrants.push(w),
                Err(e) => errors.extend(e),
            }
        }
    }
    Checked { warrants, errors }
}

/// One warrant file on its own, targets keyed under `numbering`, without the agency check
/// or LIID uniqueness (a revoked warrant kept under `revoked/`).
pub fn load_file(file: &Path, numbering: &Numbering) -> Result<Warrant, Vec<WarrantError>> {
    load_warrant(file, None, numbering, &mut LiidOwners::new())
}

fn read(file: &Path) -> Result<String, WarrantError> {
    fs::read_to_string(file).map_err(|e| WarrantError::new(file, None, format!("cannot read: {e}")))
}

fn load_agencies(file: &Path) -> Result<(Appliance, Vec<Agency>), Vec<WarrantError>> {
    let text = read(file).map_err(|e| vec![e])?;
    parse_agencies(file, &text)
}

fn load_warrant(
    file: &Path,
    agencies: Option<&[Agency]>,
    numbering: &Numbering,
    owners: &mut LiidOwners,
) -> Result<Warrant, Vec<WarrantError>> {
    let text = read(file).map_err(|e| vec![e])?;
    parse_warrant(file, &text, agencies, numbering, owners)
}

/// The warrant files of `dir`: every `*.toml` except agencies.toml and hidden files, sorted
/// by name so duplicate-LIID reports are stable.
fn warrant_files(dir: &Path) -> Result<Vec<PathBuf>, WarrantError> {
    let unreadable = |e: std::io::Error| WarrantError::new(dir, None, format!("cannot list: {e}"));
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".toml")
            && name != AGENCIES_FILE
            && !name.starts_with('.')
            && path.is_file()
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
