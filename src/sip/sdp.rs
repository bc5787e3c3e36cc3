//! SDP (RFC 8866) for target calls: connection addresses, media lines, rtpmap, rtcp,
//! direction and ptime, and the media endpoints a call's RTP/RTCP taps are installed for.

use std::net::IpAddr;

use thiserror::Error;

pub use super::multipart::find_sdp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SdpError {
    #[error("SDP body is not UTF-8")]
    NotUtf8,
    #[error("SDP line {line} is not `<letter>=<value>`")]
    BadLine { line: usize },
    #[error("SDP line {line} (m=): {why}")]
    BadMedia { line: usize, why: &'static str },
    #[error("SDP line {line} (c=): {why}")]
    BadConnection { line: usize, why: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    /// Unicast address as sent (may be a host name).
    pub address: String,
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video`, `image`, ...
    pub kind: String,
    /// 0 = disabled.
    pub port: u16,
    pub proto: String,
    /// Numeric formats (RTP payload types); non-numeric formats (e.g. `t38`) are skipped.
    pub payload_types: Vec<u8>,
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    /// `a=rtcp:<port> [IN IP4 <addr>]`.
    pub rtcp_port: Option<u16>,
    pub rtcp_address: Option<IpAddr>,
    pub rtcp_mux: bool,
    /// Media-level direction attribute, if any.
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
}

/// A parsed SDP body (owned; parsed only for target calls).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdp {
    pub origin: Option<Origin>,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute, if any.
    pub direction: Option<Direction>,
    pub media: Vec<Media>,
}

/// Where one active media stream is received, as the SDP's sender announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEndpoint {
    pub kind: String,
    pub addr: IpAddr,
    pub rtp_port: u16,
    /// `a=rtcp` port, the RTP port with `a=rtcp-mux`, else RTP port + 1.
    pub rtcp_port: u16,
    /// `a=rtcp` address when it names one, else `addr`.
    pub rtcp_addr: IpAddr,
    /// Media-level direction, else session-level, else sendrecv.
    pub direction: Direction,
    pub payload_types: Vec<u8>,
    /// Payload type mapped to `telephone-event` (RFC 4733), if offered.
    pub telephone_event_pt: Option<u8>,
}

impl Media {
    /// The payload type whose rtpmap names `encoding` (case-insensitive).
    pub fn payload_type_of(&self, encoding: &str) -> Option<u8> {
        self.rtpmaps
            .iter()
            .find(|m| m.encoding.eq_ignore_ascii_case(encoding))
            .map(|m| m.payload_type)
    }
}

impl Sdp {
    /// One endpoint per `m=` line with a non-zero port and a connection address (media or
    /// session level). A hold address (`0.0.0.0`) is reported as is.
    pub fn media_endpoints(&self) -> Vec<MediaEndpoint> {
        self.media
            .iter()
            .filter(|m| m.port != 0)
            .filter_map(|m| {
                let addr = m.connection.or(self.connection)?;
                let rtcp_port = match (m.rtcp_port, m.rtcp_mux) {
                    (Some(p), _) => p,
                    (None, true) => m.port,
                    (None, false) => m.port.checked_add(1)?,
                };
                Some(MediaEndpoint {
                    kind: m.kind.clone(),
                    addr,
                    rtp_port: m.port,
                    rtcp_port,
                    rtcp_addr: m.rtcp_address.unwrap_or(addr),
                    direction: m.direction.or(self.direction).unwrap_or_default(),
                    payload_types: m.payload_types.clone(),
                    telephone_event_pt: m.payload_type_of("telephone-event"),
                })
            })
            .collect()
    }
}

/// `IN IP4 <addr>[/ttl[/n]]` (also `IP6`).
fn parse_connection(value: &str, line: usize) -> Result<IpAddr, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let (net, _addrtype, addr) = (it.next(), it.next(), it.next());
    if net != Some("IN") {
        return Err(SdpError::BadConnection {
            line,
            why: "network type is not IN",
        });
    }
    let addr = addr.ok_or(SdpError::BadConnection {
        line,
        why: "no address",
    })?;
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse().map_err(|_| SdpError::BadConnection {
        line,
        why: "address is not an IP",
    })
}

fn parse_media(value: &str, line: usize) -> Result<Media, SdpError> {
    let mut it = value.split_ascii_whitespace();
    let kind = it.next().ok_or(SdpError::BadMedia {
        line,
        why: "no media type",
    })?;
    let port = it.next().ok_or(SdpError::BadMedia {
        line,
        why: "no port",
    })?;
    let port = port.split('/').next().unwrap_or(port);
    let port = port.parse().map_err(|_| SdpError::BadMedia {
        line,
        why: "port is not a number",
    })?;
    let proto = it.next().ok_or(SdpError::BadMedia {
        line,
        why: "no protocol",
    })?;
    Ok(Media {
        kind: kind.to_owned(),
        port,
        proto: proto.to_owned(),
        payload_types: it.filter_map(|f| f.parse().ok()).collect(),
        connection: None,
        rtpmaps: Vec::new(),
        rtcp_port: None,
        rtcp_address: None,
        rtcp_mux: false,
        direction: None,
        ptime: None,
    })
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.trim().split_once(char::is_whitespace)?;
    let mut enc = rest.trim().split('/');
    Some(RtpMap {
        payload_type: pt.parse().ok()?,
        encoding: enc.next()?.to_owned(),
        clock_rate: enc.next()?.trim().parse().ok()?,
        channels: enc.next().and_then(|c| c.trim().parse().ok()),
    })
}

fn parse_origin(value: &str) -> Option<Origin> {
    let f: Vec<&str> = value.split_ascii_whitespace().collect();
    match f.as_slice() {
        [user, id, version, _net, _addrtype, addr, ..] => Some(Origin {
            username: (*user).to_owned(),
            session_id: (*id).to_owned(),
            session_version: (*version).to_owned(),
            address: (*addr).to_owned(),
        }),
        _ => None,
    }
}

/// Parses an SDP body. Unknown lines and attributes are ignored; malformed `m=`/`c=` lines
/// are errors (they decide where media is tapped). Lines are numbered from 1.
pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
    let mut sdp = Sdp::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let raw = raw.trim_end();
        if raw.is_empty() {
            continue;
        }
        let (kind, value) = raw.split_once('=').ok_or(SdpError::BadLine { line })?;
        if kind.len() != 1 {
            return Err(SdpError::BadLine { line });
        }
        let media = sdp.media.last_mut();
        match (kind, media) {
            ("m", _) => sdp.media.push(parse_media(value, line)?),
            ("o", None) => sdp.origin = parse_origin(value),
            ("c", None) => sdp.connection = Some(parse_connection(value, line)?),
            ("c", Some(m)) => m.connection = Some(parse_connection(value, line)?),
            ("a", media) => {
                let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                let name = name.trim();
                match media {
                    None => {
                        if let Some(d) = Direction::from_attribute(name) {
                            sdp.direction = Some(d);
                        }
                    }
                    Some(m) => apply_media_attribute(m, name, arg),
                }
            }
            _ => {}
        }
    }
    Ok(sdp)
}

fn apply_media_attribute(m: &mut Media, name: &str, arg: &str) {
    if let Some(d) = Direction::from_attribute(name) {
        m.direction = Some(d);
        return;
    }
    match name {
        "rtpmap" => m.rtpmaps.extend(parse_rtpmap(arg)),
        "rtcp" => {
            let mut it = arg.split_ascii_whitespace();
            m.rtcp_port = it.next().and_then(|p| p.parse().ok());
            m.rtcp_address = match (it.next(), it.next(), it.next()) {
                (Some("IN"), Some(_), Some(addr)) => addr.parse().ok(),
                _ => None,
            };
        }
        "rtcp-mux" => m.rtcp_mux = true,
        "ptime" => m.ptime = arg.trim().parse().ok(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const OFFER: &[u8] = b"v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 198.51.100.10\r\n\
s=-\r\n\
c=IN IP4 198.51.100.10\r\n\
t=0 0\r\n\
a=sendrecv\r\n\
m=audio 49170 RTP/AVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=rtcp:53020 IN IP4 198.51.100.11\r\n\
m=video 51372 RTP/AVP 99\r\n\
c=IN IP4 198.51.100.12/127\r\n\
a=rtpmap:99 H264/90000\r\n\
a=recvonly\r\n\
m=video 0 RTP/AVP 31\r\n";

    #[test]
    fn parses_offer() {
        let sdp = parse(OFFER).unwrap();
        let o = sdp.origin.as_ref().unwrap();
        assert_eq!(
            (o.username.as_str(), o.session_version.as_str()),
            ("alice", "2890844527")
        );
        assert_eq!(
            sdp.connection,
            Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)))
        );
        assert_eq!(sdp.direction, Some(Direction::SendRecv));
        assert_eq!(sdp.media.len(), 3);
        let audio = &sdp.media[0];
        assert_eq!(
            (audio.kind.as_str(), audio.port, audio.proto.as_str()),
            ("audio", 49170, "RTP/AVP")
        );
        assert_eq!(audio.payload_types, vec![8, 0, 101]);
        assert_eq!(audio.ptime, Some(20));
        assert_eq!(
            audio.rtpmaps[0],
            RtpMap {
                payload_type: 8,
                encoding: "PCMA".into(),
                clock_rate: 8000,
                channels: None
            }
        );
        assert_eq!(sdp.media[2].port, 0);
    }

    #[test]
    fn endpoints() {
        let eps = parse(OFFER).unwrap().media_endpoints();
        assert_eq!(eps.len(), 2, "the port-0 video line is disabled");
        let a = &eps[0];
        assert_eq!(a.addr, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)));
        assert_eq!((a.rtp_port, a.rtcp_port), (49170, 53020));
        assert_eq!(a.rtcp_addr, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11)));
        assert_eq!(a.direction, Direction::SendRecv);
        assert_eq!(a.telephone_event_pt, Some(101));
        let v = &eps[1];
        assert_eq!(v.addr, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 12)));
        assert_eq!((v.rtp_port, v.rtcp_port), (51372, 51373));
        assert_eq!(v.direction, Direction::RecvOnly);
        assert_eq!(v.telephone_event_pt, None);
    }

    #[test]
    fn ipv6_session_direction_and_mux() {
        let body = b"v=0\no=- 1 1 IN IP6 fec0::216:d3ff:fe0d:22c\ns=-\nc=IN IP6 fec0:0:0:0:216:d3ff:fe0d:22c\nt=0 0\na=sendonly\nm=audio 6000 RTP/AVP 96\na=rtpmap:96 telephone-event/8000\na=rtcp-mux\n";
        let eps = parse(body).unwrap().media_endpoints();
        assert_eq!(eps.len(), 1);
        assert_eq!(
            eps[0].addr,
            IpAddr::V6("fec0::216:d3ff:fe0d:22c".parse::<Ipv6Addr>().unwrap())
        );
        assert_eq!(eps[0].direction, Direction::SendOnly);
        assert_eq!(eps[0].rtcp_port, 6000);
        assert_eq!(eps[0].telephone_event_pt, Some(96));
    }

    #[test]
    fn media_without_address_is_skipped() {
        let eps = parse(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n")
            .unwrap()
            .media_endpoints();
        assert!(eps.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(b"v=0\r\nnot a line\r\n"),
            Err(SdpError::BadLine { line: 2 })
        );
        assert!(matches!(
            parse(b"m=audio x RTP/AVP 0"),
            Err(SdpError::BadMedia { line: 1, .. })
        ));
        assert!(matches!(
            parse(b"c=IN IP4 host.example"),
            Err(SdpError::BadConnection { .. })
        ));
        assert_eq!(parse(&[0xff, 0xfe]), Err(SdpError::NotUtf8));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(sdp) = parse(&bytes) {
                let _ = sdp.media_endpoints();
            }
        }
    }
}
