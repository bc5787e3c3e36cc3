//! Packet capture: pcap/pcapng file replay, frames pushed by X2/X3 ingest and (feature
//! `live`) live capture through libpcap or AF_PACKET. Every source implements
//! [`CaptureSource`] and hands out zero-copy `Frame`s stamped with packet time.

#[cfg(all(feature = "live", target_os = "linux"))]
mod afpacket;
mod file;
mod iface;
#[cfg(feature = "live")]
mod live;
mod paced;
pub mod prefetch;
mod pushed;
mod source;

use std::path::PathBuf;

#[cfg(all(feature = "live", target_os = "linux"))]
pub use afpacket::AfPacket;
pub use file::FileReader;
pub use iface::{open_live, CaptureBackend, LiveConfig};
#[cfg(feature = "live")]
pub use live::{LiveCapture, LiveStats};
pub use paced::{Paced, Rate, RateError};
pub use pushed::{Pushed, PushedFrame};
pub use source::{within, Backing, Behaviour, CaptureSource, Next, SourceStats, Span};

use crate::Timestamp;

/// Link-layer framing of a captured frame, from the pcap LINKTYPE registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113), Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276), Linux cooked capture v2.
    LinuxSll2,
    /// LINKTYPE_RAW (101, and 12 as written by some platforms): bare IPv4 or IPv6.
    RawIp,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in host byte order.
    Null,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, 4-byte address family.
    Loop,
    /// Any other link type number.
    Other(u32),
}

impl LinkType {
    /// Maps a pcap/pcapng link type number.
    pub fn from_linktype(number: u32) -> LinkType {
        match number {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            101 | 12 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            0 => LinkType::Null,
            108 => LinkType::Loop,
            other => LinkType::Other(other),
        }
    }

    /// The pcap link type number (RawIp maps to 101).
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
            LinkType::Other(n) => n,
        }
    }
}

/// One captured frame, borrowed from the capture source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture timestamp (packet time).
    pub ts: Timestamp,
    pub link: LinkType,
    /// Captured bytes (may be shorter than `orig_len` when cut by the snap length).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// Counters of a capture source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CaptureStats {
    /// Frames handed out.
    pub frames: u64,
    /// Captured bytes handed out.
    pub bytes: u64,
    /// Records cut short by the end of the file (a partially written capture).
    pub truncated_records: u64,
}

/// Errors of capture sources. They name the file or interface, never packet contents.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot read capture file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("capture file {path} is malformed at byte offset {offset}: {reason}")]
    Format {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("live capture needs a build with `--features live`")]
    LiveUnavailable,
    #[error("capture backend {backend} on interface {interface} does not support {what}")]
    Unsupported {
        interface: String,
        backend: &'static str,
        what: &'static str,
    },
    #[error("AF_PACKET capture on interface {interface}: cannot {action}: {source}")]
    AfPacket {
        interface: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "live")]
    #[error("live capture on interface {interface} failed: {source}")]
    Live {
        interface: String,
        #[source]
        source: pcap::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_linktype_numbers() {
        assert_eq!(LinkType::from_linktype(1), LinkType::Ethernet);
        assert_eq!(LinkType::from_linktype(113), LinkType::LinuxSll);
        assert_eq!(LinkType::from_linktype(276), LinkType::LinuxSll2);
        assert_eq!(LinkType::from_linktype(101), LinkType::RawIp);
        assert_eq!(LinkType::from_linktype(12), LinkType::RawIp);
        assert_eq!(LinkType::from_linktype(228), LinkType::Ipv4);
        assert_eq!(LinkType::from_linktype(229), LinkType::Ipv6);
        assert_eq!(LinkType::from_linktype(0), LinkType::Null);
        assert_eq!(LinkType::from_linktype(108), LinkType::Loop);
        assert_eq!(LinkType::from_linktype(147), LinkType::Other(147));
        assert_eq!(LinkType::from_linktype(276).linktype(), 276);
    }
}
