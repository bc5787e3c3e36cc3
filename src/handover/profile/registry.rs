//! The registry of handover profiles. Adding a profile is one module (next to this one)
//! plus one line here: a `Profile` variant for a profile agencies collect in, with its arm
//! in [`Profile::handover`] (the compiler asks for it), or an entry in [`all`] for one they
//! do not (like `x2x3`, spoken between a POI and the mediation function).

use std::path::Path;

use super::{etsi, laes, x2x3, AgencyProfile, HandoverProfile};

/// Handover profile an agency collects in (`agencies.toml` `profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// ETSI TS 102 232 PS-PDUs.
    Etsi,
    /// J-STD-025-style (US LAES) records.
    Laes,
}

impl Profile {
    /// Every agency profile.
    pub const ALL: [Profile; 2] = [Profile::Etsi, Profile::Laes];

    /// What the profile is.
    pub fn handover(self) -> &'static dyn AgencyProfile {
        match self {
            Profile::Etsi => &etsi::Etsi,
            Profile::Laes => &laes::Laes,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.handover().name()
    }

    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The names of every agency profile, for error messages: "`etsi` or `laes`".
    pub fn names() -> String {
        quoted_names(Profile::ALL.iter().map(|p| p.as_str()))
    }
}

/// Every handover profile: the agency profiles, then the ones agencies do not collect in.
pub fn all() -> impl Iterator<Item = &'static dyn HandoverProfile> {
    let agency = Profile::ALL.into_iter().map(|p| -> &'static dyn HandoverProfile { p.handover() });
    agency.chain([&x2x3::X2x3 as &'static dyn HandoverProfile])
}

/// The profile called `name`, agency-facing or not.
pub fn by_name(name: &str) -> Option<&'static dyn HandoverProfile> {
    all().find(|p| p.name() == name)
}

/// Every profile's name, for error messages.
pub fn all_names() -> String {
    quoted_names(all().map(|p| p.name()))
}

/// The profile of a stream file read without `--profile`: the first other than `etsi` that
/// recognises it, else `etsi` (PS-PDU streams are the default handover).
pub fn detect(path: &Path, bytes: &[u8]) -> &'static dyn HandoverProfile {
    let default: &'static dyn HandoverProfile = Profile::Etsi.handover();
    all().filter(|p| p.name() != default.name()).find(|p| p.recognises(path, bytes)).unwrap_or(default)
}

fn quoted_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
