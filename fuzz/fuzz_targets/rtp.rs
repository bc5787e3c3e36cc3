//! RTP and RTCP views.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tapline::fuzzing::rtp(data));
