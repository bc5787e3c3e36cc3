//! pcap / pcapng files (the reader maps a file, so each input is written to one first).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("input.pcap");
    std::fs::write(&path, data).expect("write input");
    tapline::fuzzing::capture_file(&path, data.len());
});
