//! ETSI TS 102 232 PS-PDU streams: split, decode, JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tapline::fuzzing::etsi_pdus(data));
