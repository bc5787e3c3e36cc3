//! TOML warrant files: the input is split at the first NUL into agencies.toml and one
//! warrant file, loaded as a warrant directory and checked as `tapline warrant check` does.
#![no_main]
use libfuzzer_sys::fuzz_target;

const AGENCIES: &[u8] = b"[appliance]\noperator_id = \"OP\"\nnetwork_element_id = \"NE\"\ncountry = \"US\"\n\n[[agency]]\nid = \"fbi-denver\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n";

fuzz_target!(|data: &[u8]| {
    let (agencies, warrant) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (AGENCIES, data),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    tapline::fuzzing::warrant_dir(dir.path(), agencies, warrant).expect("write");
});
