//! DTMF sent in SIP INFO bodies: `application/dtmf-relay` (`Signal=5`) and `application/dtmf`.

use super::message::{Message, Method};
use super::text::mime_type;

/// The digit carried by a SIP INFO request, if its body is a DTMF body:
/// `application/dtmf-relay` with a `Signal=` line (or, as some phones send, a bare digit),
/// or `application/dtmf` with a bare digit. Event codes 10..=15 map to `*`, `#`, `A`..`D`.
pub fn info_digits(msg: &Message) -> Option<String> {
    if msg.method() != Some(Method::Info) {
        return None;
    }
    let mime = mime_type(msg.content_type()?);
    let body = std::str::from_utf8(msg.body()).ok()?;
    if mime.eq_ignore_ascii_case("application/dtmf-relay") {
        let signal = body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            key.trim().eq_ignore_ascii_case("signal").then_some(value)
        });
        digit(signal.unwrap_or(body)).map(String::from)
    } else if mime.eq_ignore_ascii_case("application/dtmf") {
        digit(body).map(String::from)
    } else {
        None
    }
}

fn digit(value: &str) -> Option<char> {
    let value = value.trim();
    let mut chars = value.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        return matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c);
    }
    match value.parse::<u8>().ok()? {
        10 => Some('*'),
        11 => Some('#'),
        n @ 12..=15 => Some(char::from(b'A' + (n - 12))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn info(content_type: &str, body: &str) -> Vec<u8> {
        format!(
            "INFO sip:echo@iptel.org SIP/2.0\r\nVia: SIP/2.0/UDP 178.45.73.241:5060;branch=z9hG4bK1\r\n\
From: <sip:admind@178.45.73.241>;tag=1\r\nTo: <sip:echo@iptel.org>;tag=2\r\nCall-ID: d1@178.45.73.241\r\n\
CSeq: 3 INFO\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn dtmf_relay_signal() {
        let m = info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
        assert_eq!(info_digits(&parse(&m).unwrap()).as_deref(), Some("5"));
        let star = info("application/dtmf-relay", "Signal= *\r\nDuration=250\r\n");
        assert_eq!(info_digits(&parse(&star).unwrap()).as_deref(), Some("*"));
        let eleven = info("Application/DTMF-Relay", "Signal=11\r\nDuration=250\r\n");
        assert_eq!(info_digits(&parse(&eleven).unwrap()).as_deref(), Some("#"));
    }

    #[test]
    fn bare_digit_bodies() {
        // DTMFsipinfo.pcap sends application/dtmf-relay with the body `1`.
        let m = info("application/dtmf-relay", "1");
        assert_eq!(info_digits(&parse(&m).unwrap()).as_deref(), Some("1"));
        let d = info("application/dtmf", "9\r\n");
        assert_eq!(info_digits(&parse(&d).unwrap()).as_deref(), Some("9"));
    }

    #[test]
    fn not_dtmf() {
        assert_eq!(info_digits(&parse(&info("text/plain", "5")).unwrap()), None);
        assert_eq!(
            info_digits(&parse(&info("application/dtmf-relay", "Signal=X\r\n")).unwrap()),
            None
        );
        assert_eq!(
            info_digits(&parse(&info("application/dtmf", "16")).unwrap()),
            None
        );
        let not_info = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Type: application/dtmf\r\nContent-Length: 1\r\n\r\n5";
        assert_eq!(info_digits(&parse(not_info).unwrap()), None);
    }
}
