//! Zero-copy L2–L4 views (smoltcp style), mirror tunnel headers (GRE, ERSPAN, VXLAN) with
//! their `Repr`s, flow keys, the per-packet decoder with IP fragment reassembly and tunnel
//! unwrapping, and TCP byte-stream reassembly.

pub mod decode;
pub mod erspan;
pub mod ethernet;
pub mod flow;
mod fragment;
pub mod gre;
pub mod ipv4;
pub mod ipv6;
pub mod null;
pub mod pppoe;
mod reason;
pub mod sll;
pub mod tcp;
pub mod tcp_stream;
pub mod tunnel;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use decode::{Datagram, DecodeStats, Decoded, Decoder, Transport};
pub use flow::FlowKey;
pub use reason::{MalformedReason, SkipReason};
pub use tcp::TcpFlags;
pub use tcp_stream::{PushOutcome, TcpStream};
pub use tunnel::{TunnelKind, TunnelStats};

/// A byte range of a header field.
type Field = core::ops::Range<usize>;

/// Big-endian u16 at `at`; 0 if the buffer is too short (views validate lengths first).
fn read_u16(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

/// Big-endian u32 at `at`; 0 if the buffer is too short (views validate lengths first).
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Byte at `at`; 0 if the buffer is too short (views validate lengths first).
fn read_u8(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or(0)
}

/// Fixed-size array copied from `field`; zeros if the buffer is too short.
fn read_array<const N: usize>(bytes: &[u8], field: Field) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(field) {
        if src.len() == N {
            out.copy_from_slice(src);
        }
    }
    out
}

/// Writes a big-endian u16 at `at` if the buffer is long enough.
fn write_u16(bytes: &mut [u8], at: usize, value: u16) {
    if let Some(dst) = bytes.get_mut(at..at.saturating_add(2)) {
        dst.copy_from_slice(&value.to_be_bytes());
    }
}

/// Writes a big-endian u32 at `at` if the buffer is long enough.
fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(dst) = bytes.get_mut(at..at.saturating_add(4)) {
        dst.copy_from_slice(&value.to_be_bytes());
    }
}
