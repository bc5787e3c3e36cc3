//! SIP message and SDP text builders: byte-exact Content-Length, CRLF line endings.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::frame::Endpoint;

/// The carrier's SIP domain used in every request URI and identity.
pub const DOMAIN: &str = "carrier.example";

/// A SIP message under construction: start line, ordered headers, optional typed body.
#[derive(Clone, Debug)]
pub struct SipMessage {
    start_line: String,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, String)>,
}

impl SipMessage {
    pub fn request(method: &str, uri: &str) -> Self {
        Self::with_start_line(format!("{method} {uri} SIP/2.0"))
    }

    pub fn response(status: u16, reason: &str) -> Self {
        Self::with_start_line(format!("SIP/2.0 {status} {reason}"))
    }

    fn with_start_line(start_line: String) -> Self {
        SipMessage {
            start_line,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(&mut self, content_type: &'static str, body: String) -> &mut Self {
        self.body = Some((content_type, body));
        self
    }

    /// Wire text; Content-Type and Content-Length are added last from the body.
    pub fn render(&self) -> String {
        let body_len = self.body.as_ref().map_or(0, |(_, b)| b.len());
        let mut out = String::with_capacity(512 + body_len);
        out.push_str(&self.start_line);
        out.push_str("\r\n");
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if let Some((content_type, _)) = &self.body {
            let _ = write!(out, "Content-Type: {content_type}\r\n");
        }
        let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
        if let Some((_, body)) = &self.body {
            out.push_str(body);
        }
        out
    }
}

/// Host text of an address as it appears in a SIP URI or Via (IPv6 in brackets).
pub fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// `host:port` of an endpoint.
pub fn host_port(ep: Endpoint) -> String {
    format!("{}:{}", host(ep.ip), ep.port)
}

/// `sip:+1303...@carrier.example;user=phone`.
pub fn phone_uri(user: &str) -> String {
    format!("sip:{user}@{DOMAIN};user=phone")
}

/// SDP media direction attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
}

/// PCMU + telephone-event (PT 101) audio offer/answer for one media endpoint.
pub fn sdp(session_id: u64, version: u32, media: Endpoint, direction: Direction) -> String {
    let family = match media.ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let ip = media.ip;
    let direction = match direction {
        Direction::SendRecv => "sendrecv",
        Direction::SendOnly => "sendonly",
        Direction::RecvOnly => "recvonly",
    };
    format!(
        "v=0\r\no=- {session_id} {version} IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\na=ptime:20\r\na={direction}\r\n",
        port = media.port
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn render_counts_body_bytes() {
        let mut m = SipMessage::request("MESSAGE", "sip:+13035550199@carrier.example;user=phone");
        m.header("CSeq", "1 MESSAGE")
            .body("text/plain", "héllo".to_string());
        assert_eq!(
            m.render(),
            "MESSAGE sip:+13035550199@carrier.example;user=phone SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\
             Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nhéllo"
        );
        assert_eq!(
            SipMessage::response(100, "Trying").render(),
            "SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn sdp_ipv6_offer() {
        let ep = Endpoint::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 5)),
            20000,
        );
        let s = sdp(42, 1, ep, Direction::SendOnly);
        assert!(s.starts_with(
            "v=0\r\no=- 42 1 IN IP6 2001:db8:1::5\r\ns=-\r\nc=IN IP6 2001:db8:1::5\r\n"
        ));
        assert!(s.contains("\r\nm=audio 20000 RTP/AVP 0 101\r\n"));
        assert!(s.ends_with("a=ptime:20\r\na=sendonly\r\n"));
        assert_eq!(host(ep.ip), "[2001:db8:1::5]");
    }
}
