//! The ADMF's flags of `tapline run` (`--pois FILE`): which points of interception to task
//! over X1 (see `tapline::admf` and README "Scale-out").

use std::path::PathBuf;

/// X1 tasking of points of interception (ETSI TS 103 221-1) inside `tapline run`.
#[derive(clap::Args)]
pub struct PoisArgs {
    /// Task the points of interception of this pois.toml over X1 with the warrants in force
    /// (see README, "Scale-out").
    #[arg(long, value_name = "FILE")]
    pub pois: Option<PathBuf>,
}

impl PoisArgs {
    /// The checked configuration, when given.
    pub fn load(&self) -> Result<Option<tapline::admf::PoisConfig>, tapline::warrant::WarrantError> {
        self.pois.as_deref().map(tapline::admf::PoisConfig::load).transpose()
    }
}
