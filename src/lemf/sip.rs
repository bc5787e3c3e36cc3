//! What the reference LEMF shows of a SIP message: method or status, caller and callee
//! URIs (P-Asserted-Identity or From, and To). A lenient text scan of the intercepted bytes.

/// The start line and parties of one SIP message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipSummary {
    /// Request method, or the status code of a response as text.
    pub method_or_status: Option<String>,
    pub caller: Option<String>,
    pub callee: Option<String>,
}

/// Scans the start line and headers of `sip`; anything unreadable is left `None`.
pub fn summarise(sip: &[u8]) -> SipSummary {
    let head_end = find(sip, b"\r\n\r\n").unwrap_or(sip.len());
    let head = String::from_utf8_lossy(sip.get(..head_end).unwrap_or_default());
    let mut lines = head.split("\r\n");
    let mut s = SipSummary::default();
    if let Some(start) = lines.next() {
        s.method_or_status = match start.strip_prefix("SIP/2.0 ") {
            Some(rest) => rest.split(' ').next().map(str::to_owned),
            None => start.split(' ').next().filter(|m| !m.is_empty()).map(str::to_owned),
        };
    }
    let (mut from, mut pai) = (None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim().to_ascii_lowercase();
        let uri = || uri_of(value.trim());
        match name.as_str() {
            "from" | "f" => from = from.or_else(uri),
            "to" | "t" => s.callee = s.callee.take().or_else(uri),
            "p-asserted-identity" => pai = pai.or_else(uri),
            _ => {}
        }
    }
    s.caller = pai.or(from);
    s
}

/// The URI of a name-addr (`"Bob" <sip:bob@x>;tag=1`) or addr-spec (`sip:bob@x;tag=1`).
fn uri_of(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => value.get(open + 1..close)?,
        _ => value.split(';').next()?.trim(),
    };
    (!uri.is_empty()).then(|| uri.to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_with_asserted_identity() {
        let msg = b"INVITE sip:bob@b.example SIP/2.0\r\nFrom: \"Al\" <sip:al@a.example>;tag=1\r\n\
            t: sip:bob@b.example\r\nP-Asserted-Identity: <tel:+13035550100>\r\n\r\nv=0\r\n";
        let s = summarise(msg);
        assert_eq!(s.method_or_status.as_deref(), Some("INVITE"));
        assert_eq!(s.caller.as_deref(), Some("tel:+13035550100"));
        assert_eq!(s.callee.as_deref(), Some("sip:bob@b.example"));
    }

    #[test]
    fn response_status_and_from() {
        let s = summarise(b"SIP/2.0 180 Ringing\r\nf: <sip:al@a>;tag=9\r\nTo: <sip:bob@b>\r\n\r\n");
        assert_eq!(s.method_or_status.as_deref(), Some("180"));
        assert_eq!(s.caller.as_deref(), Some("sip:al@a"));
        assert_eq!(s.callee.as_deref(), Some("sip:bob@b"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = summarise(&bytes);
        }
    }
}
