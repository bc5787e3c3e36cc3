//! Live capture from a network interface: how to open one (`LiveConfig`), which backend
//! reads it (libpcap or an AF_PACKET TPACKET_V3 ring), and the table that opens the chosen
//! backend as a [`CaptureSource`]. The backends themselves need `--features live`.

use std::time::Duration;

use super::source::CaptureSource;
use super::CaptureError;

/// Which implementation reads the interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CaptureBackend {
    /// libpcap (its own TPACKET_V3 ring; frames copied into batches).
    #[default]
    Pcap,
    /// tapline's AF_PACKET TPACKET_V3 ring: batches borrow ring blocks, no copies.
    AfPacket,
}

impl CaptureBackend {
    /// Every backend, in the order the help text names them.
    pub const ALL: [CaptureBackend; 2] = [CaptureBackend::Pcap, CaptureBackend::AfPacket];

    /// The name used on the command line and in logs.
    pub fn name(self) -> &'static str {
        match self {
            CaptureBackend::Pcap => "pcap",
            CaptureBackend::AfPacket => "af-packet",
        }
    }
}

impl std::str::FromStr for CaptureBackend {
    type Err = String;

    fn from_str(s: &str) -> Result<CaptureBackend, String> {
        CaptureBackend::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<_> = CaptureBackend::ALL.iter().map(|b| b.name()).collect();
            format!("unknown capture backend {s:?} (expected one of: {})", names.join(", "))
        })
    }
}

/// How to open an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// Interface name, e.g. `eth0` or `lo`.
    pub interface: String,
    pub backend: CaptureBackend,
    /// Bytes kept per frame.
    pub snaplen: u32,
    pub promiscuous: bool,
    /// Kernel capture buffer in bytes (AF_PACKET: the ring, in blocks of 256 KiB).
    pub buffer_bytes: u32,
    /// BPF filter expression (tcpdump syntax), if any (libpcap only).
    pub filter: Option<String>,
    /// Longest a read waits for traffic before returning, so the reader can check for a
    /// stop request.
    pub read_timeout: Duration,
    /// AF_PACKET: join this PACKET_FANOUT group (flow hash), so several capture sockets
    /// (processes) on one interface share its traffic, each flow going to one of them.
    pub fanout: Option<u16>,
}

impl LiveConfig {
    /// Defaults: libpcap, full frames (262144), promiscuous, 64 MiB buffer, no filter,
    /// 100 ms reads, no fanout.
    pub fn new(interface: &str) -> LiveConfig {
        LiveConfig {
            interface: interface.to_string(),
            backend: CaptureBackend::Pcap,
            snaplen: 262_144,
            promiscuous: true,
            buffer_bytes: 64 << 20,
            filter: None,
            read_timeout: Duration::from_millis(100),
            fanout: None,
        }
    }
}

/// Opens the configured backend: one line per backend.
#[cfg(feature = "live")]
pub fn open_live(config: &LiveConfig) -> Result<Box<dyn CaptureSource>, CaptureError> {
    Ok(match config.backend {
        CaptureBackend::Pcap => Box::new(super::LiveCapture::open(config)?),
        #[cfg(target_os = "linux")]
        CaptureBackend::AfPacket => Box::new(super::AfPacket::open(config)?),
        #[cfg(not(target_os = "linux"))]
        CaptureBackend::AfPacket => {
            return Err(CaptureError::Unsupported {
                interface: config.interface.clone(),
                backend: "af-packet",
                what: "this operating system (AF_PACKET is Linux only)",
            })
        }
    })
}

/// Without `--features live` no backend is built in.
#[cfg(not(feature = "live"))]
pub fn open_live(_config: &LiveConfig) -> Result<Box<dyn CaptureSource>, CaptureError> {
    Err(CaptureError::LiveUnavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip_and_unknown_ones_are_refused() {
        for backend in CaptureBackend::ALL {
            assert_eq!(backend.name().parse::<CaptureBackend>(), Ok(backend));
        }
        let err = "afpacket".parse::<CaptureBackend>().unwrap_err();
        assert!(err.contains("pcap, af-packet"), "{err}");
    }
}
