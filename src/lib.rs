//! tapline: lawful-intercept mediation. Capture → decode → SIP tracking → mediation → handover.

pub mod admf;
pub mod audit;
pub mod calltrace;
pub mod capture;
pub mod delivery;
pub mod desk;
#[doc(hidden)]
pub mod fuzzing;
pub mod gen;
pub mod handover;
pub mod lemf;
pub mod mediation;
pub mod metrics;
pub mod pipeline;
pub mod poi;
pub mod progress;
pub mod provision;
pub mod records;
pub mod rtp;
pub mod sip;
pub mod time;
pub mod warrant;
pub mod wire;
pub mod x1;
pub mod x2x3;

pub use time::Timestamp;
pub mod replay;
pub mod report;
pub mod run;
