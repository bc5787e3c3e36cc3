//! Minimisation of SIP messages for IRI-only orders (pen register, trap and trace): keep
//! signalling and SDP, remove message content (non-SDP bodies, free-text headers).

use super::message::{header_name_eq, Message};
use super::multipart::find_sdp;
use super::text::mime_type;

/// Headers removed under IRI-only orders because a party writes free text or chooses
/// content into them. Kept short on purpose; everything else is call-identifying or routing:
/// - `Subject` (`s`): a caller-written summary of the call (RFC 3261 20.36), i.e. content;
/// - `Call-Info`: URIs to pages, business cards and images a party chose to share
///   (RFC 3261 20.9), content rather than call identification.
///
/// Organization, User-Agent, Warning and Reason are kept: they identify equipment or the
/// network's handling of the call, and are not written by the parties per call.
pub const FREE_TEXT_HEADERS: [&str; 2] = ["subject", "call-info"];

/// Headers that describe the body; dropped (or replaced) with it.
const BODY_HEADERS: [&str; 4] = [
    "content-type",
    "content-disposition",
    "content-encoding",
    "content-language",
];

enum Body<'a> {
    /// No body, or an SDP body: body and its headers kept as they are.
    Keep(&'a [u8]),
    /// The SDP part of a multipart body becomes the only body.
    SdpPart(&'a [u8]),
    /// A body with no SDP: removed.
    Remove,
}

fn classify_body<'a>(msg: &Message<'a>) -> Body<'a> {
    let body = msg.body();
    if body.is_empty() {
        return Body::Keep(body);
    }
    let Some(content_type) = msg.content_type() else {
        return Body::Remove;
    };
    if mime_type(content_type).eq_ignore_ascii_case("application/sdp") {
        return Body::Keep(body);
    }
    match find_sdp(content_type, body) {
        Some(sdp) => Body::SdpPart(sdp),
        None => Body::Remove,
    }
}

fn is_free_text(name: &str) -> bool {
    FREE_TEXT_HEADERS.iter().any(|h| header_name_eq(name, h))
}

/// The message rewritten for an IRI-only order: free-text headers removed, every non-SDP
/// body removed (with Content-Type and the other body headers), a multipart body replaced
/// by its SDP part as `application/sdp`, and Content-Length set to the new body length
/// (written as the last header). SDP bodies are kept byte for byte; line ends become CRLF.
pub fn iri_only(msg: &Message) -> Vec<u8> {
    let body = classify_body(msg);
    let mut out = Vec::with_capacity(msg.raw().len());
    out.extend_from_slice(msg.start_line_raw());
    out.extend_from_slice(b"\r\n");
    for (name, line) in msg.header_lines() {
        let drop_body_header =
            !matches!(body, Body::Keep(_)) && BODY_HEADERS.iter().any(|h| header_name_eq(name, h));
        if is_free_text(name) || header_name_eq(name, "content-length") || drop_body_header {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    let kept: &[u8] = match body {
        Body::Keep(b) => b,
        Body::SdpPart(sdp) => {
            out.extend_from_slice(b"Content-Type: application/sdp\r\n");
            sdp
        }
        Body::Remove => &[],
    };
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", kept.len()).as_bytes());
    out.extend_from_slice(kept);
    out
}

/// True when `iri_only` would remove something: a free-text header or a non-SDP body
/// (including the non-SDP parts of a multipart body).
pub fn has_content_beyond_iri(msg: &Message) -> bool {
    msg.headers().any(|(name, _)| is_free_text(name))
        || !matches!(classify_body(msg), Body::Keep(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{parse, Method};

    const MESSAGE: &[u8] = b"MESSAGE sip:+13035550142@ims.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776sgdkse\r\n\
Max-Forwards: 70\r\n\
From: \"Target\" <sip:+13035550100@ims.example.net>;tag=49583\r\n\
To: <sip:+13035550142@ims.example.net>\r\n\
Call-ID: asd88asd77a@192.0.2.10\r\n\
CSeq: 1 MESSAGE\r\n\
Subject: meet\r\n  at noon\r\n\
Content-Type: text/plain\r\n\
Content-Length: 18\r\n\
\r\n\
Watson, come here.";

    const MULTIPART_INVITE: &[u8] = b"INVITE sip:+13035550142@ims.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKmp1\r\n\
From: <sip:+13035550100@ims.example.net>;tag=mp1\r\n\
To: <sip:+13035550142@ims.example.net>\r\n\
Call-ID: mp1@192.0.2.20\r\n\
CSeq: 10 INVITE\r\n\
Call-Info: <http://www.example.com/alice/photo.jpg>;purpose=icon\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed;boundary=unique-boundary-1\r\n\
Content-Length: 250\r\n\
\r\n\
--unique-boundary-1\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n\
\r\n\
--unique-boundary-1\r\n\
Content-Type: text/plain\r\n\
\r\n\
the call is about the shipment\r\n\
--unique-boundary-1--\r\n";

    #[test]
    fn text_body_and_subject_removed() {
        let msg = parse(MESSAGE).unwrap();
        assert!(has_content_beyond_iri(&msg));
        let out = iri_only(&msg);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(!text.contains("Watson") && !text.contains("noon") && !text.contains("Subject"));
        assert!(!text.contains("text/plain"));
        let red = parse(&out).unwrap();
        assert_eq!(red.method(), Some(Method::Message));
        assert_eq!(red.content_length(), Some(0));
        assert_eq!(red.body(), b"");
        assert_eq!(red.call_id(), Some("asd88asd77a@192.0.2.10"));
        assert_eq!(red.from().unwrap().uri, "sip:+13035550100@ims.example.net");
        assert!(!has_content_beyond_iri(&red));
    }

    #[test]
    fn multipart_keeps_only_sdp() {
        let msg = parse(MULTIPART_INVITE).unwrap();
        assert_eq!(msg.content_length(), Some(msg.body().len()));
        assert!(!msg.body_truncated());
        assert!(has_content_beyond_iri(&msg));
        let out = iri_only(&msg);
        let red = parse(&out).unwrap();
        assert_eq!(red.content_type(), Some("application/sdp"));
        assert!(red.body().starts_with(b"v=0\r\n") && red.body().ends_with(b"RTP/AVP 0\r\n"));
        assert_eq!(red.content_length(), Some(red.body().len()));
        assert_eq!(red.header("call-info"), None);
        assert_eq!(red.header("MIME-Version"), Some("1.0"));
        assert!(!std::str::from_utf8(&out).unwrap().contains("shipment"));
        assert!(!has_content_beyond_iri(&red));
    }

    #[test]
    fn sdp_message_unchanged_apart_from_framing() {
        let invite = b"INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: s1\r\nl: 13\r\nc: application/sdp\r\n\r\nv=0\r\ns=-\r\nt=0";
        let msg = parse(invite).unwrap();
        assert!(!has_content_beyond_iri(&msg));
        let out = iri_only(&msg);
        assert_eq!(
            out,
            b"INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: s1\r\nc: application/sdp\r\nContent-Length: 13\r\n\r\nv=0\r\ns=-\r\nt=0"
        );
    }

    #[test]
    fn compact_subject_and_bodiless_request() {
        let bye = b"BYE sip:a@b SIP/2.0\r\ns: bye now\r\nCall-ID: z\r\n\r\n";
        let msg = parse(bye).unwrap();
        assert!(has_content_beyond_iri(&msg));
        assert_eq!(
            iri_only(&msg),
            b"BYE sip:a@b SIP/2.0\r\nCall-ID: z\r\nContent-Length: 0\r\n\r\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn output_reparses_with_right_length(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), pick in 0usize..3) {
            let mut input = [MESSAGE, MULTIPART_INVITE, b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n"][pick].to_vec();
            input.extend_from_slice(&bytes);
            if let Ok(msg) = parse(&input) {
                let out = iri_only(&msg);
                let red = parse(&out).unwrap();
                proptest::prop_assert_eq!(red.content_length(), Some(red.body().len()));
                proptest::prop_assert!(!red.body_truncated());
                proptest::prop_assert!(!has_content_beyond_iri(&red));
            }
        }
    }
}
