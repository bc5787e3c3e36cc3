//! SIP messages (every accessor) and the TCP stream framer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = tapline::sip::parse(data) {
        let _ = (m.method(), m.request_uri(), m.status(), m.call_id(), m.cseq(), m.from(), m.to(), m.contact());
        let _ = (m.via_branch(), m.p_asserted_identities().count(), m.privacy_id(), m.diversion().count());
        let _ = (m.history_info().count(), m.content_length(), m.body_truncated(), m.headers().count());
        if let Some(ct) = m.content_type() {
            let _ = tapline::sip::multipart::find_sdp(ct, m.body());
        }
    }
    let mut framer = tapline::sip::stream::Framer::with_limit(1 << 16);
    for piece in data.chunks(61) {
        framer.push(piece);
        while let Some(m) = framer.next_message() {
            if let Ok(m) = m {
                let _ = tapline::sip::parse(m);
            }
        }
    }
});
