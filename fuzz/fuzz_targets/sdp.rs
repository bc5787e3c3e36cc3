//! SDP bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = tapline::sip::sdp::parse(data) {
        let _ = sdp.media_endpoints();
        for m in &sdp.media {
            let _ = m.payload_type_of("telephone-event");
        }
    }
});
