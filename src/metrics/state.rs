//! What the appliance is in, beside the counters: each agency interface's delivery state,
//! the warrants by lifecycle state, whether the run is up (for `/ready`), and what was built.
//! Set by their owners now and then (not on the packet path); read by the renderers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// One agency interface's delivery, as last published by the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceSample {
    pub agency: String,
    /// `hi2` or `hi3`.
    pub interface: &'static str,
    pub spooled: u64,
    pub confirmed: u64,
    pub unconfirmed: u64,
    pub connected: bool,
    pub connects: u64,
    pub connect_failures: u64,
    pub spool_full: u64,
}

/// A warrant's lifecycle state at the current packet time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarrantState {
    /// Loaded, its validity not begun.
    Pending,
    /// In force.
    Active,
    /// Its validity has ended.
    Expired,
    /// Removed (revoked) while the appliance ran.
    Revoked,
}

impl WarrantState {
    pub const ALL: [WarrantState; 4] =
        [WarrantState::Pending, WarrantState::Active, WarrantState::Expired, WarrantState::Revoked];

    /// The label value (`state="active"`).
    pub fn name(self) -> &'static str {
        match self {
            WarrantState::Pending => "pending",
            WarrantState::Active => "active",
            WarrantState::Expired => "expired",
            WarrantState::Revoked => "revoked",
        }
    }
}

/// The state side of [`super::Metrics`].
#[derive(Debug, Default)]
pub(super) struct States {
    pub(super) interfaces: Mutex<Vec<InterfaceSample>>,
    pub(super) warrants: [AtomicU64; 4],
    pub(super) running: AtomicBool,
}

impl States {
    pub(super) fn interfaces(&self) -> Vec<InterfaceSample> {
        self.interfaces.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(super) fn set_interfaces(&self, samples: Vec<InterfaceSample>) {
        *self.interfaces.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = samples;
    }

    pub(super) fn warrants(&self, state: WarrantState) -> u64 {
        self.warrants[state as usize].load(Ordering::Relaxed)
    }

    pub(super) fn set_warrants(&self, counts: [u64; 4]) {
        for (cell, n) in self.warrants.iter().zip(counts) {
            cell.store(n, Ordering::Relaxed);
        }
    }
}

/// Whether `/ready` answers 200, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The pipeline is not (yet, or no longer) running.
    NotRunning,
    /// Agency interfaces without a connection (agency/interface).
    NotConnected(Vec<String>),
}

/// What this binary is: version, git commit, enabled cargo features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The commit the build was made from (`TAPLINE_GIT_COMMIT` from build.rs), or `unknown`.
    pub commit: &'static str,
    /// Enabled optional features, comma separated (empty: none).
    pub features: &'static str,
}

/// This build.
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: match option_env!("TAPLINE_GIT_COMMIT") {
        Some(c) => c,
        None => "unknown",
    },
    features: if cfg!(feature = "live") { "live" } else { "" },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warrant_states_are_in_discriminant_order() {
        for (i, s) in WarrantState::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
