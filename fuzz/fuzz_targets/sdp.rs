//! SDP bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tapline::fuzzing::sdp(data));
