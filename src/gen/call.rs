//! Call specifications: how calls and out-of-dialog MESSAGEs look on the captured leg, and the
//! addresses of the proxy and the subscribers' UAs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub use super::channel::Transport;
use crate::Timestamp;

/// The carrier's proxy, the SIP peer of every UA on the captured leg.
pub const PROXY_IPV4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
pub const PROXY_IPV6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
pub const SIP_PORT: u16 = 5060;
/// RFC 3261 T1: the UDP INVITE retransmission interval.
pub const RETRANSMIT_AFTER: Duration = Duration::from_millis(500);
/// RFC 4733 digits: first event 1 s after media starts, one every 300 ms (100 ms on, 200 ms off).
pub const FIRST_DIGIT_TICK: u32 = 50;
pub const DIGIT_SPACING_TICKS: u32 = 15;
/// SIP INFO digits: first 1 s after media starts, one every 400 ms.
pub const INFO_FIRST: Duration = Duration::from_secs(1);
pub const INFO_SPACING: Duration = Duration::from_millis(400);

/// How the call ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// INVITE, 100, 180, 200 (SDP), ACK, RTP both ways for `talk`, BYE, 200.
    Answered { talk: Duration },
    /// INVITE, 100, 180, then after `ring` CANCEL, 200 (CANCEL), 487, ACK; no RTP.
    RangNoAnswer { ring: Duration },
    /// INVITE, 100, `status` (e.g. 486, 603), ACK.
    Rejected { status: u16 },
    /// INVITE, 100, 302 with Contact `to`, ACK; then a new INVITE (new Call-ID) to `to`,
    /// answered with `talk`.
    ForwardedBy3xx { to: String, talk: Duration },
    /// The proxy's INVITE to the forwarded-to party `to`, carrying Diversion and History-Info
    /// naming the original callee; answered with `talk`.
    ForwardedDiversion { to: String, talk: Duration },
    /// Answered, RTP for `talk`, no BYE in the capture.
    NeverEnds { talk: Duration },
}

/// One call to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpec {
    /// Caller user part, E.164 with `+`, e.g. "+13035550142".
    pub caller: String,
    pub callee: String,
    /// From anonymous, `Privacy: id`, `P-Asserted-Identity` with the real caller.
    pub caller_private: bool,
    /// From anonymous and no P-Asserted-Identity.
    pub caller_anonymous_unavailable: bool,
    pub transport: Transport,
    pub ipv6: bool,
    pub vlan: Option<u16>,
    pub outcome: Outcome,
    /// RFC 4733 telephone-events from the caller after answer.
    pub rfc4733_digits: Option<String>,
    /// SIP INFO application/dtmf-relay from the caller after answer.
    pub info_digits: Option<String>,
    pub subject: Option<String>,
    /// Caller re-INVITE with a=sendonly and a new media port at half the talk time.
    pub reinvite_hold: bool,
    /// The INVITE sent twice with the same branch (UDP only; TCP is reliable).
    pub retransmit_invite: bool,
    /// RTCP sender reports every 5 s each way.
    pub rtcp: bool,
    pub start: Timestamp,
}

impl CallSpec {
    /// A plain UDP/IPv4 call without extras.
    pub fn new(caller: &str, callee: &str, outcome: Outcome, start: Timestamp) -> Self {
        CallSpec {
            caller: caller.to_string(),
            callee: callee.to_string(),
            caller_private: false,
            caller_anonymous_unavailable: false,
            transport: Transport::Udp,
            ipv6: false,
            vlan: None,
            outcome,
            rfc4733_digits: None,
            info_digits: None,
            subject: None,
            reinvite_hold: false,
            retransmit_invite: false,
            rtcp: false,
            start,
        }
    }
}

/// A MESSAGE (text/plain) outside any dialog from `from`'s UA to the proxy, answered 200.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSpec {
    pub from: String,
    pub to: String,
    pub text: String,
    pub transport: Transport,
    pub ipv6: bool,
    pub vlan: Option<u16>,
    pub at: Timestamp,
}

impl MessageSpec {
    /// UDP/IPv4 without VLAN.
    pub fn new(from: &str, to: &str, text: &str, at: Timestamp) -> Self {
        MessageSpec {
            from: from.to_string(),
            to: to.to_string(),
            text: text.to_string(),
            transport: Transport::Udp,
            ipv6: false,
            vlan: None,
            at,
        }
    }
}

pub fn proxy_ip(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(PROXY_IPV6)
    } else {
        IpAddr::V4(PROXY_IPV4)
    }
}

/// The UA address of a subscriber: stable per number, in 10.0.0.0/8 or 2001:db8:1::/64.
pub fn ua_ip(number: &str, ipv6: bool) -> IpAddr {
    let mut h: u32 = 0x811C_9DC5;
    for b in number.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let [a, b, c, d] = h.to_be_bytes();
    let last = 1 + (d ^ a) % 254;
    if ipv6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            1,
            0,
            0,
            0,
            u16::from_be_bytes([a, b]),
            u16::from_be_bytes([c, last]),
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, b, c, last))
    }
}
