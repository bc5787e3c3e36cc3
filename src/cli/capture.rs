//! `tapline run --iface` options choosing and tuning the live capture backend.

use tapline::capture::{CaptureBackend, LiveConfig};

/// Live capture backend options of `tapline run --iface`.
#[derive(clap::Args, Clone, Debug)]
pub struct CaptureArgs {
    /// Live capture backend: `pcap` (libpcap) or `af-packet` (tapline's own AF_PACKET
    /// TPACKET_V3 ring, Linux: batches borrow ring blocks instead of copying frames).
    #[arg(long, value_name = "BACKEND", default_value = "pcap", conflicts_with = "pcap")]
    pub capture_backend: CaptureBackend,
    /// af-packet: join this PACKET_FANOUT group (flow hash), so several tapline processes
    /// capturing one interface share its traffic, each flow going to one of them.
    #[arg(long, value_name = "GROUP", conflicts_with = "pcap")]
    pub capture_fanout: Option<u16>,
}

impl CaptureArgs {
    /// How to open `interface` with these options.
    pub fn config(&self, interface: &str) -> LiveConfig {
        LiveConfig { backend: self.capture_backend, fanout: self.capture_fanout, ..LiveConfig::new(interface) }
    }
}
