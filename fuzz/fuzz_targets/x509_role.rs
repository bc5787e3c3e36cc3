//! The X.509 role reader of the provisioning API (client certificates, DER).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tapline::fuzzing::x509_role(data));
