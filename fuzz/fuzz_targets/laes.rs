//! laes records: J-STD-025-style CdcPdus, PacketCable CCC frames, whole streams.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tapline::fuzzing::laes(data));
