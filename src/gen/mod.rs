//! Deterministic synthetic VoIP captures: pcap writer, frame builders, SIP call flows with
//! RTP/RTCP/DTMF, scenarios with exact counts, and a streaming generator for benchmarks with
//! the warrant set that targets a chosen share of its calls; optionally inside a mirror tunnel.

pub mod call;
mod channel;
mod dialog;
mod flow;
pub mod frame;
mod media;
pub mod pcap_writer;
mod rng;
mod scenario;
mod sip_text;
mod source;
mod stream;
mod targets;
pub mod tunnel;
mod warrants;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod warrants_tests;

pub use call::{
    proxy_ip, ua_ip, CallSpec, MessageSpec, Outcome, Transport, PROXY_IPV4, PROXY_IPV6,
};
pub use frame::{Endpoint, FrameBuilder};
pub use pcap_writer::{PcapWriter, Resolution};
pub use scenario::{demo_scenario, Scenario, ScenarioStats, DEMO_SEED, DEMO_START};
pub use stream::{generate, generate_showing_progress, GenConfig};
pub use tunnel::{encapsulate_pcap, Encapsulator, MirrorTunnel};
pub use warrants::{write_warrant_set, KindStats, WarrantSetStats, ETSI_AGENCY, LAES_AGENCY};
