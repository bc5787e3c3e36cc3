//! Why a frame yielded no datagram: skipped (not for us) or malformed (broken on the wire).

/// A frame that is well-formed but carries nothing the decoder hands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("link type not supported")]
    UnsupportedLinkType,
    #[error("EtherType {0:#06x} is not IP")]
    NonIpEtherType(u16),
    #[error("loopback address family {0} is not IP")]
    NonIpFamily(u32),
    #[error("PPP protocol {0:#06x} is not IP")]
    NonIpPppProtocol(u16),
    #[error("IP protocol {0} is neither UDP nor TCP")]
    OtherTransport(u8),
    #[error("IP fragment held for reassembly")]
    FragmentPending,
    #[error("IP fragment dropped (overlap conflict or reassembly limit)")]
    FragmentDropped,
    #[error("GRE version {0} is not unwrapped")]
    UnsupportedGreVersion(u8),
    #[error("ERSPAN frame type {0} is neither Ethernet nor IP")]
    UnsupportedErspanFrameType(u8),
}

/// A frame whose headers contradict themselves or the captured length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedReason {
    #[error("Ethernet header truncated")]
    TruncatedEthernet,
    #[error("VLAN tag truncated")]
    TruncatedVlan,
    #[error("more than 4 stacked VLAN tags")]
    TooManyVlanTags,
    #[error("Linux cooked header truncated")]
    TruncatedSll,
    #[error("PPPoE header truncated")]
    TruncatedPppoe,
    #[error("PPPoE version, code or length invalid")]
    BadPppoeHeader,
    #[error("loopback header truncated")]
    TruncatedNull,
    #[error("IP version nibble is neither 4 nor 6")]
    BadIpVersion,
    #[error("IPv4 header truncated")]
    TruncatedIpv4Header,
    #[error("IPv4 header length field invalid")]
    BadIpv4HeaderLength,
    #[error("IPv4 total length smaller than its header")]
    BadIpv4TotalLength,
    #[error("IP length exceeds the captured frame")]
    TotalLengthExceedsFrame,
    #[error("IPv6 header truncated")]
    TruncatedIpv6Header,
    #[error("IPv6 extension header truncated")]
    TruncatedIpv6Extension,
    #[error("too many IPv6 extension headers")]
    TooManyIpv6Extensions,
    #[error("IP fragment length or offset invalid")]
    BadFragment,
    #[error("UDP header truncated")]
    TruncatedUdp,
    #[error("UDP length field invalid")]
    BadUdpLength,
    #[error("TCP header truncated")]
    TruncatedTcp,
    #[error("TCP data offset invalid")]
    BadTcpDataOffset,
    #[error("GRE header truncated")]
    TruncatedGre,
    #[error("GRE reserved bits set or version invalid")]
    BadGreHeader,
    #[error("ERSPAN header truncated")]
    TruncatedErspan,
    #[error("ERSPAN version does not match the GRE protocol type")]
    BadErspanVersion,
    #[error("VXLAN header truncated")]
    TruncatedVxlan,
    #[error("VXLAN header without the VNI flag")]
    BadVxlanHeader,
    #[error("mirror tunnels nested too deep")]
    TunnelTooDeep,
}
