//! RTP and RTCP views.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = tapline::rtp::RtpPacket::new_checked(data) {
        let _ = (p.version(), p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc(), p.csrcs().count());
        assert!(p.header_len() + p.payload().len() <= data.len());
    }
    if let Ok(p) = tapline::rtp::RtcpPacket::new_checked(data) {
        let _ = (p.version(), p.count(), p.packet_type(), p.length(), p.ssrc());
    }
});
