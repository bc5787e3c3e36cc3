//! SIP start lines: request methods, `Request-Line` / `Status-Line` parsing, and the fast
//! content check `looks_like_sip` used to recognise SIP on any port.

use super::text::find_byte;
use super::SipError;

/// A SIP request method (RFC 3261 and extensions). Method names are case-sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Message,
    Update,
    Prack,
    Refer,
    Notify,
    Subscribe,
    Publish,
    Other(&'a str),
}

const KNOWN: [(&str, Method<'static>); 14] = [
    ("INVITE", Method::Invite),
    ("ACK", Method::Ack),
    ("BYE", Method::Bye),
    ("CANCEL", Method::Cancel),
    ("REGISTER", Method::Register),
    ("OPTIONS", Method::Options),
    ("INFO", Method::Info),
    ("MESSAGE", Method::Message),
    ("UPDATE", Method::Update),
    ("PRACK", Method::Prack),
    ("REFER", Method::Refer),
    ("NOTIFY", Method::Notify),
    ("SUBSCRIBE", Method::Subscribe),
    ("PUBLISH", Method::Publish),
];

impl<'a> Method<'a> {
    /// Maps a method token; unknown tokens become `Other`.
    pub fn from_token(token: &'a str) -> Method<'a> {
        KNOWN
            .iter()
            .find(|(name, _)| *name == token)
            .map(|(_, m)| *m)
            .unwrap_or(Method::Other(token))
    }

    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Other(s) => s,
            known => KNOWN
                .iter()
                .find(|(_, m)| m == known)
                .map(|(name, _)| *name)
                .unwrap_or(""),
        }
    }
}

/// The first line of a SIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: Method<'a>, uri: &'a str },
    Response { status: u16, reason: &'a str },
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Parses a start line (without its line ending).
pub(crate) fn parse_start_line(line: &str) -> Result<StartLine<'_>, SipError> {
    if let Some(rest) = strip_prefix_ignore_case(line, "SIP/2.0 ") {
        let rest = rest.trim_start();
        let code = rest.get(..3).ok_or(SipError::BadStartLine {
            why: "short status code",
        })?;
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SipError::BadStartLine {
                why: "status code is not 3 digits",
            });
        }
        let status: u16 = code.parse().map_err(|_| SipError::BadStartLine {
            why: "status code is not 3 digits",
        })?;
        let after = rest.get(3..).unwrap_or("");
        if !after.is_empty() && !after.starts_with([' ', '\t']) {
            return Err(SipError::BadStartLine {
                why: "status code longer than 3 digits",
            });
        }
        if !(100..=699).contains(&status) {
            return Err(SipError::BadStartLine {
                why: "status code outside 100..=699",
            });
        }
        return Ok(StartLine::Response {
            status,
            reason: after.trim(),
        });
    }
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let method = parts
        .next()
        .ok_or(SipError::BadStartLine { why: "no method" })?;
    if !method.bytes().all(is_token_byte) {
        return Err(SipError::BadStartLine {
            why: "method is not a token",
        });
    }
    let uri = parts.next().ok_or(SipError::BadStartLine {
        why: "no Request-URI",
    })?;
    let version = parts.next().ok_or(SipError::BadStartLine {
        why: "no SIP version",
    })?;
    if !version.eq_ignore_ascii_case("SIP/2.0") || parts.next().is_some() {
        return Err(SipError::BadStartLine { why: "not SIP/2.0" });
    }
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri,
    })
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn starts_with_ignore_case(hay: &[u8], prefix: &[u8]) -> bool {
    hay.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// How far into a payload `looks_like_sip` searches for the end of the request line.
const REQUEST_LINE_SCAN: usize = 1024;

/// Fast, allocation-free check that a payload starts like a SIP message: a known method, SP,
/// a `sip:`/`sips:`/`tel:` URI and ` SIP/2.0` on the first line, or `SIP/2.0 ` + 3 digits.
pub fn looks_like_sip(payload: &[u8]) -> bool {
    // Every method in `KNOWN` starts with an upper-case letter and `SIP/2.0` with `S` or `s`:
    // one compare rejects RTP (first byte 0x80) and most other traffic.
    if !payload
        .first()
        .is_some_and(|&b| b.is_ascii_uppercase() || b == b's')
    {
        return false;
    }
    start_line_matches(payload)
}

/// The full start-line check behind [`looks_like_sip`]'s first-byte reject (which must
/// never change its answer: a property test holds them equal).
fn start_line_matches(payload: &[u8]) -> bool {
    if starts_with_ignore_case(payload, b"SIP/2.0 ") {
        return payload
            .get(8..11)
            .is_some_and(|code| code.iter().all(u8::is_ascii_digit));
    }
    let Some(after_method) = KNOWN.iter().find_map(|(name, _)| {
        let name = name.as_bytes();
        (payload.starts_with(name) && payload.get(name.len()) == Some(&b' '))
            .then(|| payload.get(name.len() + 1..))
            .flatten()
    }) else {
        return false;
    };
    if ![&b"sip:"[..], b"sips:", b"tel:"]
        .iter()
        .any(|scheme| starts_with_ignore_case(after_method, scheme))
    {
        return false;
    }
    let window = after_method
        .get(..REQUEST_LINE_SCAN)
        .unwrap_or(after_method);
    let line_end = find_byte(window, b'\n').unwrap_or(window.len());
    let line = window.get(..line_end).unwrap_or(window);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.len() >= 8
        && line
            .get(line.len() - 8..)
            .is_some_and(|v| v.eq_ignore_ascii_case(b" SIP/2.0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_lines() {
        assert_eq!(
            parse_start_line("INVITE sip:bob@biloxi.example.com SIP/2.0"),
            Ok(StartLine::Request {
                method: Method::Invite,
                uri: "sip:bob@biloxi.example.com"
            })
        );
        assert_eq!(
            parse_start_line("SIP/2.0 180 Ringing"),
            Ok(StartLine::Response {
                status: 180,
                reason: "Ringing"
            })
        );
        assert_eq!(
            parse_start_line("SIP/2.0 200"),
            Ok(StartLine::Response {
                status: 200,
                reason: ""
            })
        );
        assert_eq!(
            parse_start_line("FOO sip:x SIP/2.0"),
            Ok(StartLine::Request {
                method: Method::Other("FOO"),
                uri: "sip:x"
            })
        );
        assert!(parse_start_line("SIP/2.0 2000 OK").is_err());
        assert!(parse_start_line("SIP/2.0 099 Low").is_err());
        assert!(parse_start_line("GET / HTTP/1.1").is_err());
        assert!(parse_start_line("INVITE sip:x").is_err());
        assert!(parse_start_line("IN(VITE sip:x SIP/2.0").is_err());
    }

    #[test]
    fn method_names_round_trip() {
        for (name, m) in KNOWN {
            assert_eq!(Method::from_token(name), m);
            assert_eq!(m.as_str(), name);
        }
        assert_eq!(Method::from_token("invite"), Method::Other("invite"));
    }

    #[test]
    fn content_recognition() {
        assert!(looks_like_sip(
            b"INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n"
        ));
        assert!(looks_like_sip(b"OPTIONS sips:a@b:5061 SIP/2.0\r\n"));
        assert!(looks_like_sip(b"MESSAGE tel:+13035550142 SIP/2.0\n"));
        assert!(looks_like_sip(b"SIP/2.0 200 OK\r\n"));
        assert!(!looks_like_sip(b"SIP/2.0 OK\r\n"));
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_sip(b"INVITE http://x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"INVITE sip:x HTTP/1.1\r\n"));
        assert!(!looks_like_sip(b"INVITE sip:bob@example.com"));
        assert!(!looks_like_sip(b""));
        assert!(!looks_like_sip(&[0x80, 0x08, 0, 1]));
        assert!(looks_like_sip(b"sip/2.0 486 Busy Here\r\n"));
        assert!(!looks_like_sip(b"invite sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b" INVITE sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"\r\nINVITE sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"S"));
    }

    /// The first-byte reject in `looks_like_sip` relies on this.
    #[test]
    fn every_known_method_starts_with_an_upper_case_letter() {
        for (name, _) in KNOWN {
            assert!(name.as_bytes()[0].is_ascii_uppercase(), "{name}");
        }
    }

    /// The reference `looks_like_sip` must equal: the full check without the first-byte reject.
    fn looks_like_sip_reference(payload: &[u8]) -> bool {
        start_line_matches(payload)
    }

    /// Every UDP and TCP payload of the committed demo capture and of the external captures
    /// (when `../shared/fixtures-external` is present) is judged as the reference judges it.
    #[test]
    fn real_captures_are_recognised_like_the_reference() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = vec![root.join("fixtures/demo.pcap")];
        let external = root.join("../shared/fixtures-external");
        match std::fs::read_dir(&external) {
            Ok(entries) => paths.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "pcap")),
            ),
            Err(_) => eprintln!(
                "skipping external captures: {} is absent",
                external.display()
            ),
        }
        let mut sip = 0;
        for path in &paths {
            let mut reader = crate::capture::FileReader::open(path).expect("capture opens");
            let mut decoder = crate::wire::Decoder::new();
            while let Some(frame) = reader.next_frame().expect("capture reads") {
                if let crate::wire::Decoded::Datagram(d) = decoder.decode(&frame) {
                    let expected = looks_like_sip_reference(d.payload);
                    assert_eq!(looks_like_sip(d.payload), expected, "{}", path.display());
                    sip += usize::from(expected);
                }
            }
        }
        // demo.pcap alone has 29 SIP-bearing frames.
        assert!(sip >= 29, "{sip} SIP payloads");
    }

    proptest::proptest! {
        #[test]
        fn equals_the_reference_on_arbitrary_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)
        ) {
            proptest::prop_assert_eq!(looks_like_sip(&bytes), looks_like_sip_reference(&bytes));
        }

        #[test]
        fn equals_the_reference_on_sip_like_bytes(
            head in proptest::sample::select(vec![
                &b"SIP/2.0 "[..], b"sip/2.0 ", b"INVITE ", b"ACK ", b"BYE ", b"OPTIONS ",
                b"NOTIFY ", b"PUBLISH ", b"invite ", b"",
            ]),
            scheme in proptest::sample::select(vec![&b"sip:"[..], b"SIPS:", b"tel:", b"200", b""]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            version in proptest::sample::select(vec![&b" SIP/2.0\r\n"[..], b" sip/2.0\n", b""]),
        ) {
            let bytes = [head, scheme, &tail, version].concat();
            proptest::prop_assert_eq!(looks_like_sip(&bytes), looks_like_sip_reference(&bytes));
        }
    }
}
