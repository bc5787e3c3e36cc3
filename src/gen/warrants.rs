//! The warrant set of a generated capture: `agencies.toml` (an `etsi` and a `laes` agency) and
//! one warrant file per target number, in force over the whole capture.

use std::fs;
use std::io;
use std::path::Path;

use super::rng::Rng;
use super::stream::{mean_gap_us, random_call, talk_ns, GenConfig};
use super::targets::{TargetPlan, TargetSlot, TargetedCall};
use super::CallSpec;
use crate::warrant::{OrderKind, Profile, AGENCIES_FILE};
use crate::Timestamp;

/// The agency collecting ETSI TS 102 232 PS-PDUs.
pub const ETSI_AGENCY: &str = "fbi-denver";
/// The agency collecting J-STD-025-style records.
pub const LAES_AGENCY: &str = "dea-phoenix";
/// Prefix of every generated LIID and warrant file name.
const LIID_PREFIX: &str = "GEN-";
const DAY_SECS: u64 = 86_400;
/// Margin of the warrants' validity before the capture starts and after it can end.
const MARGIN_DAYS: u64 = 30;

/// Counts of one order kind in a generated set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindStats {
    pub kind: OrderKind,
    pub warrants: u64,
    /// Calls with a target of this kind as a party.
    pub calls: u64,
    /// Dialogs (Call-IDs) of those calls that name the target in a role the order covers;
    /// a 3xx-redirected call from a target caller has two.
    pub dialogs: u64,
}

/// What [`write_warrant_set`] wrote and how many generated calls it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarrantSetStats {
    pub calls: u64,
    pub targeted_calls: u64,
    pub warrants: u64,
    /// In [`OrderKind::ALL`] order.
    pub kinds: [KindStats; 4],
}

impl WarrantSetStats {
    pub fn of_kind(&self, kind: OrderKind) -> KindStats {
        let i = OrderKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.kinds[i]
    }

    /// Dialogs of targeted calls over all kinds: what a replay intercepts.
    pub fn targeted_dialogs(&self) -> u64 {
        self.kinds.iter().map(|k| k.dialogs).sum()
    }
}

/// The targeted calls of `cfg` in call order: index, specification and target. The same
/// draws as [`super::generate`] (start times aside), without building any frame.
pub(super) fn targeted_calls(
    cfg: &GenConfig,
) -> impl Iterator<Item = (u64, CallSpec, TargetedCall)> + '_ {
    let plan = TargetPlan::new(cfg.calls, cfg.target_share);
    (0..cfg.calls)
        .filter(move |&i| plan.slot_of(i).is_some())
        .filter_map(move |i| {
            let mut rng = Rng::derive(cfg.seed, i);
            let (spec, targeted) = random_call(cfg, &plan, i, cfg.start, &mut rng);
            targeted.map(|t| (i, spec, t))
        })
}

/// Writes `DIR/agencies.toml` and `DIR/GEN-<kind>-<n>.toml` for each target number of the
/// capture [`super::generate`] writes for `cfg`, creating DIR. Earlier `GEN-*.toml` files in
/// DIR are removed first, so the set is exactly this run's.
pub fn write_warrant_set(cfg: &GenConfig, dir: &Path) -> io::Result<WarrantSetStats> {
    let plan = TargetPlan::new(cfg.calls, cfg.target_share);
    fs::create_dir_all(dir)?;
    remove_generated(dir)?;
    fs::write(dir.join(AGENCIES_FILE), agencies_toml())?;
    let mut kinds = OrderKind::ALL.map(|kind| KindStats {
        kind,
        warrants: 0,
        calls: 0,
        dialogs: 0,
    });
    let mut calls_per_slot = vec![0u64; plan.slots().count()];
    for (_, _, t) in targeted_calls(cfg) {
        if let Some(n) = calls_per_slot.get_mut(t.slot.index as usize) {
            *n += 1;
        }
        let k = kind_index(t.slot.kind());
        kinds[k].calls += 1;
        kinds[k].dialogs += t.dialogs;
    }
    let (valid_from, valid_until) = validity(cfg);
    for (slot, calls) in plan.slots().zip(calls_per_slot) {
        kinds[kind_index(slot.kind())].warrants += 1;
        let text = warrant_toml(slot, calls, &valid_from, &valid_until);
        fs::write(dir.join(format!("{}.toml", slot.liid())), text)?;
    }
    Ok(WarrantSetStats {
        calls: cfg.calls,
        targeted_calls: plan.targeted_calls(),
        warrants: kinds.iter().map(|k| k.warrants).sum(),
        kinds,
    })
}

fn kind_index(kind: OrderKind) -> usize {
    OrderKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Removes the `GEN-*.toml` files a previous run left in `dir`.
fn remove_generated(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(LIID_PREFIX) && n.ends_with(".toml"));
        if ours && path.is_file() {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn agencies_toml() -> String {
    format!(
        "# Agencies of a warrant set written by `tapline gen`: placeholder endpoints on this host.\n\
         \n\
         [appliance]\n\
         operator_id = \"EXAMPLE-TEL\"\n\
         network_element_id = \"MED-01\"\n\
         country = \"US\"\n\
         \n\
         [[agency]]\n\
         id = \"{ETSI_AGENCY}\"\n\
         country = \"US\"\n\
         profile = \"etsi\"\n\
         hi2 = \"tls://127.0.0.1:6100\"\n\
         hi3 = \"tls://127.0.0.1:6101\"\n\
         \n\
         [[agency]]\n\
         id = \"{LAES_AGENCY}\"\n\
         country = \"US\"\n\
         profile = \"laes\"\n\
         hi2 = \"tls://127.0.0.1:6200\"\n\
         hi3 = \"tls://127.0.0.1:6201\"\n"
    )
}

fn warrant_toml(slot: TargetSlot, calls: u64, valid_from: &str, valid_until: &str) -> String {
    let (agency, authority, served_by) = match slot.profile() {
        Profile::Etsi => (
            ETSI_AGENCY,
            "Hon. Jane Doe, U.S. Magistrate Judge, D. Colo.",
            "SA R. Alvarez, FBI Denver",
        ),
        Profile::Laes => (
            LAES_AGENCY,
            "Hon. John Roe, U.S. District Judge, D. Ariz.",
            "SA M. Chen, DEA Phoenix",
        ),
    };
    let docket = match slot.kind() {
        OrderKind::TitleIii => "wt",
        _ => "mj",
    };
    format!(
        "# Written by `tapline gen`: a {kind} order on the target of {calls} generated call(s).\n\
         liid = \"{liid}\"\n\
         kind = \"{kind}\"\n\
         agency = \"{agency}\"\n\
         targets = [\"{target}\"]\n\
         valid_from = {valid_from}\n\
         valid_until = {valid_until}\n\
         court_order = \"1:26-{docket}-{index:05}\"\n\
         issuing_authority = \"{authority}\"\n\
         post_cut_through_digits = {digits}\n\
         served_by = \"{served_by}\"\n\
         provisioned_by = \"EXAMPLE-TEL Subpoena Compliance, tapline gen\"\n",
        kind = slot.kind(),
        liid = slot.liid(),
        target = slot.uri(),
        index = slot.index,
        digits = slot.post_cut_through_digits(),
    )
}

/// Midnight UTC `MARGIN_DAYS` before the capture's start, and `MARGIN_DAYS` after the latest
/// time it can end (every arrival gap at its maximum, then the longest call).
fn validity(cfg: &GenConfig) -> (String, String) {
    let start = cfg.start.secs();
    let last_arrival_us = cfg.calls.saturating_mul(mean_gap_us(cfg).saturating_mul(2));
    // Talk is at most 150 % of the mean; ringing, setup and a redirect stay under 2 minutes.
    let longest_call_s = (talk_ns(cfg) / 1_000_000_000).saturating_mul(2) + 120;
    let end = start
        .saturating_add(last_arrival_us / 1_000_000)
        .saturating_add(longest_call_s);
    let from_day = (start / DAY_SECS).saturating_sub(MARGIN_DAYS);
    let until_day = (end / DAY_SECS).saturating_add(1 + MARGIN_DAYS);
    (midnight(from_day), midnight(until_day))
}

/// `YYYY-MM-DDT00:00:00Z` of day `day` since the Unix epoch.
fn midnight(day: u64) -> String {
    let ts = Timestamp::from_nanos(day.saturating_mul(DAY_SECS).saturating_mul(1_000_000_000));
    let rfc = ts.to_rfc3339();
    match rfc.get(..10) {
        Some(date) => format!("{date}T00:00:00Z"),
        None => rfc,
    }
}
