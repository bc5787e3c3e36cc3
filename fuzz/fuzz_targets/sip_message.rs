//! SIP messages (every accessor) and the TCP stream framer.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tapline::fuzzing::sip_message(data, 61));
