//! Byte-vector tests of the SIP message parser with full, realistic messages.

use super::message::*;
use super::sdp;
use super::uri::parse_uri;
use super::SipError;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds ;rport\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKnashds8, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>, <sip:alice@192.0.2.4>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 149\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const RINGING: &[u8] = b"SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
Contact: <sip:bob@192.0.2.4>\r\n\
CSeq: 314159 INVITE\r\n\
Content-Length: 0\r\n\r\n";

const OK_SDP: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 10.0.2.20:5060;branch=z9hG4bK-1-0\r\n\
From: sipp <sip:sipp@10.0.2.20:5060>;tag=1\r\n\
To: <sip:test@10.0.2.15:5060>;tag=9Dp6Z3tF3y9yp\r\n\
Call-ID: 1-4139@10.0.2.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:test@10.0.2.15:5060;transport=udp>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 170\r\n\
Remote-Party-ID: \"test\" <sip:test@10.0.2.15>;party=calling;privacy=off;screen=no\r\n\
\r\n\
v=0\r\n\
o=FreeSWITCH 1478139588 1478139589 IN IP4 10.0.2.15\r\n\
s=FreeSWITCH\r\n\
c=IN IP4 10.0.2.15\r\n\
t=0 0\r\n\
m=audio 24374 RTP/AVP 8\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=recvonly\r\n\
a=ptime:20\r\n";

const BYE: &[u8] = b"BYE sip:alice@pc33.atlanta.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds10\r\n\
Max-Forwards: 70\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
To: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 231 BYE\r\n\
Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n\
Content-Length: 0\r\n\r\n";

const CANCEL: &[u8] = b"CANCEL sip:echo@iptel.org SIP/2.0\n\
Via: SIP/2.0/UDP 178.45.73.241:5060;branch=z9hG4bK-d87543-1\n\
From: \"admind\"<sip:admind@178.45.73.241>;tag=ab12\n\
To: <sip:echo@iptel.org>\n\
Call-ID: cancel-1@178.45.73.241\n\
CSeq: 2 CANCEL\n\
Content-Length: 0\n\n";

const COMPACT_FOLDED: &[u8] = b"\r\nINVITE sip:9876@[2001:db8::9]:5070 SIP/2.0\r\n\
v: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKcomp\r\n\
f: <sip:4321@[2001:db8::1]>;tag=c1\r\n\
t: <sip:9876@[2001:db8::9]>\r\n\
i: compact-1@2001:db8::1\r\n\
m: <sip:4321@[2001:db8::1]:5060>\r\n\
Subject: I know you're there,\r\n\tpick up the phone\r\n   and talk to me!\r\n\
CSeq:\r\n 7 INVITE\r\n\
k: replaces, 100rel\r\n\
c: application/sdp\r\n\
l: 4\r\n\r\nv=0\r\nEXTRA";

const PRIVATE_FORWARDED: &[u8] = b"INVITE sip:+13035550142@ims.example.net;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKpai\r\n\
From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=pai1\r\n\
To: <sip:+13035550100@ims.example.net;user=phone>\r\n\
Call-ID: pai-1@203.0.113.5\r\n\
CSeq: 1 INVITE\r\n\
P-Asserted-Identity: \"John Doe\" <sip:+13035550199@ims.example.net;user=phone>\r\n\
P-Asserted-Identity: <tel:+13035550199>\r\n\
Privacy: id;header\r\n\
Diversion: <sip:+13035550100@ims.example.net>;reason=unconditional;counter=1, <sip:+13035550111@ims.example.net>;reason=no-answer\r\n\
History-Info: <sip:+13035550100@ims.example.net?Reason=SIP%3Bcause%3D302>;index=1,\r\n <sip:+13035550142@ims.example.net;cause=302>;index=1.1\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn invite_with_sdp() {
    let m = parse(INVITE).unwrap();
    assert!(m.is_request());
    assert_eq!(m.method(), Some(Method::Invite));
    assert_eq!(m.request_uri(), Some("sip:bob@biloxi.example.com"));
    assert_eq!(m.status(), None);
    assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.atlanta.example.com"));
    assert_eq!(m.cseq(), Some((314159, Method::Invite)));
    let from = m.from().unwrap();
    assert_eq!(
        (from.display, from.uri, from.tag),
        (
            Some("Alice"),
            "sip:alice@atlanta.example.com",
            Some("1928301774")
        )
    );
    let to = m.to().unwrap();
    assert_eq!(
        (to.display, to.uri, to.tag),
        (Some("Bob"), "sip:bob@biloxi.example.com", None)
    );
    assert_eq!(
        m.contact().unwrap().uri,
        "sip:alice@pc33.atlanta.example.com"
    );
    assert_eq!(m.via_branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.header_values("via").count(), 3);
    assert_eq!(m.header("MAX-FORWARDS"), Some("70"));
    assert_eq!(m.headers().count(), 10);
    assert_eq!(m.headers().nth(2), Some(("Max-Forwards", "70")));
    assert!(m.content_type_is("application/sdp"));
    assert_eq!(m.content_length(), Some(149));
    assert_eq!(m.body().len(), 149);
    assert!(!m.body_truncated());
    assert_eq!(m.raw(), INVITE);
    let sdp = sdp::parse(m.body()).unwrap();
    let eps = sdp.media_endpoints();
    assert_eq!(eps.len(), 1);
    assert_eq!(
        (eps[0].addr.to_string(), eps[0].rtp_port, eps[0].rtcp_port),
        ("192.0.2.101".to_string(), 49172, 49173)
    );
}

#[test]
fn provisional_and_final_responses() {
    let r = parse(RINGING).unwrap();
    assert!(!r.is_request());
    assert_eq!(
        *r.start(),
        StartLine::Response {
            status: 180,
            reason: "Ringing"
        }
    );
    assert_eq!(r.status(), Some(180));
    assert_eq!(r.method(), None);
    assert_eq!(r.cseq(), Some((314159, Method::Invite)));
    assert_eq!(r.to().unwrap().tag, Some("a6c85cf"));
    assert_eq!(r.body(), b"");

    let ok = parse(OK_SDP).unwrap();
    assert_eq!(ok.status(), Some(200));
    assert!(!ok.body_truncated());
    assert_eq!(ok.raw(), OK_SDP);
    assert_eq!(
        ok.header("remote-party-id")
            .and_then(NameAddr::parse)
            .unwrap()
            .param("party"),
        Some("calling")
    );
    let sdp = sdp::parse(ok.body()).unwrap();
    assert_eq!(sdp.media_endpoints()[0].direction, sdp::Direction::RecvOnly);
    assert_eq!(sdp.media[0].ptime, Some(20));
}

#[test]
fn bye_and_cancel_with_bare_lf() {
    let b = parse(BYE).unwrap();
    assert_eq!(b.method(), Some(Method::Bye));
    assert_eq!(b.cseq(), Some((231, Method::Bye)));
    assert_eq!(
        b.header("reason"),
        Some("Q.850;cause=16;text=\"Normal call clearing\"")
    );

    let c = parse(CANCEL).unwrap();
    assert_eq!(c.method(), Some(Method::Cancel));
    assert_eq!(c.from().unwrap().display, Some("admind"));
    assert_eq!(c.from().unwrap().uri, "sip:admind@178.45.73.241");
    assert_eq!(c.via_branch(), Some("z9hG4bK-d87543-1"));
    assert_eq!(c.body(), b"");
    assert_eq!(c.raw(), CANCEL);
}

#[test]
fn compact_forms_and_folding() {
    let m = parse(COMPACT_FOLDED).unwrap();
    assert_eq!(m.call_id(), Some("compact-1@2001:db8::1"));
    assert_eq!(m.header("Call-ID"), m.header("i"));
    assert_eq!(m.from().unwrap().tag, Some("c1"));
    assert_eq!(m.to().unwrap().uri, "sip:9876@[2001:db8::9]");
    assert_eq!(m.contact().unwrap().uri, "sip:4321@[2001:db8::1]:5060");
    assert_eq!(m.via_branch(), Some("z9hG4bKcomp"));
    assert_eq!(
        m.cseq(),
        Some((7, Method::Invite)),
        "value only on the continuation line"
    );
    assert_eq!(
        m.header("s"),
        Some("I know you're there,\r\n\tpick up the phone\r\n   and talk to me!")
    );
    assert_eq!(
        m.header_values("supported").collect::<Vec<_>>(),
        vec!["replaces", "100rel"]
    );
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.body(), b"v=0\r");
    assert!(m.raw().starts_with(b"INVITE"));
    assert!(m.raw().ends_with(b"v=0\r"));
    let ruri = parse_uri(m.request_uri().unwrap()).unwrap();
    assert_eq!((ruri.host, ruri.port), ("[2001:db8::9]", Some(5070)));
}

#[test]
fn asserted_identity_privacy_and_redirection() {
    let m = parse(PRIVATE_FORWARDED).unwrap();
    let pai: Vec<_> = m.p_asserted_identities().map(|a| a.uri).collect();
    assert_eq!(
        pai,
        vec![
            "sip:+13035550199@ims.example.net;user=phone",
            "tel:+13035550199"
        ]
    );
    assert_eq!(
        m.p_asserted_identities().next().unwrap().display,
        Some("John Doe")
    );
    assert!(m.privacy_id());
    let div: Vec<_> = m.diversion().map(|d| (d.uri, d.param("reason"))).collect();
    assert_eq!(
        div,
        vec![
            ("sip:+13035550100@ims.example.net", Some("unconditional")),
            ("sip:+13035550111@ims.example.net", Some("no-answer")),
        ]
    );
    let hi: Vec<_> = m
        .history_info()
        .map(|h| (h.uri, h.param("index")))
        .collect();
    assert_eq!(
        hi,
        vec![
            (
                "sip:+13035550100@ims.example.net?Reason=SIP%3Bcause%3D302",
                Some("1")
            ),
            ("sip:+13035550142@ims.example.net;cause=302", Some("1.1")),
        ]
    );
    assert!(!parse(INVITE).unwrap().privacy_id());
    let none = parse(b"INVITE sip:a@b SIP/2.0\r\nPrivacy: none\r\n\r\n").unwrap();
    assert!(!none.privacy_id());
}

#[test]
fn body_length_rules() {
    let short = parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 50\r\n\r\nhello").unwrap();
    assert_eq!(short.body(), b"hello");
    assert!(short.body_truncated());
    let no_cl =
        parse(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Type: text/plain\r\n\r\nhello world").unwrap();
    assert_eq!(no_cl.body(), b"hello world");
    assert_eq!(no_cl.content_length(), None);
    let no_blank = parse(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x").unwrap();
    assert_eq!(no_blank.call_id(), Some("x"));
    assert_eq!(no_blank.body(), b"");
}

#[test]
fn non_utf8_header_is_skipped() {
    let m = parse(b"INVITE sip:a@b SIP/2.0\r\nFrom: \"M\xfcller\" <sip:m@b>;tag=1\r\n  x\r\nCall-ID: u1\r\n\r\n").unwrap();
    assert_eq!(m.skipped_headers(), 1);
    assert_eq!(m.from(), None);
    assert_eq!(m.call_id(), Some("u1"));
}

#[test]
fn errors() {
    assert_eq!(parse(b"").err(), Some(SipError::Empty));
    assert_eq!(parse(b"\r\n\r\n").err(), Some(SipError::Empty));
    assert!(matches!(
        parse(b"HTTP/1.1 200 OK\r\n\r\n"),
        Err(SipError::BadStartLine { .. })
    ));
    assert!(matches!(
        parse(b"INVITE sip:a@b SIP/2.0\r\nno colon here\r\n\r\n"),
        Err(SipError::BadHeader { offset: 24, .. })
    ));
    assert!(matches!(
        parse(b"INVITE sip:a@b SIP/2.0\r\n folded first\r\n\r\n"),
        Err(SipError::BadHeader { .. })
    ));
    assert_eq!(
        parse(b"BYE sip:a@b SIP/2.0\r\nl: x\r\n\r\n").err(),
        Some(SipError::BadContentLength)
    );
    let mut many = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    for _ in 0..=MAX_HEADERS {
        many.extend_from_slice(b"X-A: 1\r\n");
    }
    assert_eq!(
        parse(&many).err(),
        Some(SipError::TooManyHeaders { limit: MAX_HEADERS })
    );
}

#[test]
fn compact_name_table() {
    assert_eq!(full_header_name("I"), "call-id");
    assert_eq!(full_header_name("q"), "q");
    assert!(header_name_eq("v", "VIA"));
    assert!(!header_name_eq("From", "to"));
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        if let Ok(m) = parse(&bytes) {
            let _ = (m.call_id(), m.cseq(), m.from(), m.to(), m.contact(), m.via_branch(), m.privacy_id());
            let _ = (m.p_asserted_identities().count(), m.diversion().count(), m.history_info().count());
            let _ = (m.headers().count(), m.body(), m.raw(), m.content_length());
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_invite(pos in 0usize..INVITE.len(), byte in proptest::prelude::any::<u8>(), cut in 0usize..INVITE.len()) {
        let mut b = INVITE.to_vec();
        b[pos] = byte;
        b.truncate(cut.max(pos + 1));
        if let Ok(m) = parse(&b) {
            proptest::prop_assert!(m.body().len() <= b.len());
            let _ = (m.from(), m.header_values("via").count(), m.contact());
        }
    }
}
