//! TOML warrant files: the input is split at the first NUL into agencies.toml and one
//! warrant file, loaded as a warrant directory and checked as `tapline warrant check` does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (agencies, warrant) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"[appliance]\noperator_id = \"OP\"\nnetwork_element_id = \"NE\"\ncountry = \"US\"\n\n[[agency]]\nid = \"fbi-denver\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n"[..], data),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("agencies.toml"), agencies).expect("write");
    std::fs::write(dir.path().join("W-1.toml"), warrant).expect("write");
    let _ = tapline::warrant::Store::load_dir(dir.path());
    let _ = tapline::warrant::check_paths(&[dir.path().to_owned()]);
});
