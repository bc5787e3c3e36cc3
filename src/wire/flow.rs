//! Flow key of a transport packet: addresses, ports and protocol, as seen in one direction.

use std::net::IpAddr;

/// The 5-tuple of one direction of a UDP or TCP flow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (17 UDP, 6 TCP).
    pub proto: u8,
}

impl FlowKey {
    /// The key of the opposite direction.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn reversed_swaps_endpoints() {
        let key = FlowKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 20)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15)),
            src_port: 5060,
            dst_port: 5070,
            proto: 17,
        };
        let back = key.reversed();
        assert_eq!(back.src, key.dst);
        assert_eq!(back.dst, key.src);
        assert_eq!((back.src_port, back.dst_port, back.proto), (5070, 5060, 17));
        assert_eq!(back.reversed(), key);
    }
}
