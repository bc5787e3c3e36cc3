//! What `tapline run` over a file says at the default level when things go right: the
//! agency's interfaces connected (INFO, naming agency and channel, never a target), and the
//! end line with elapsed time and throughput.

mod delivery_support;

use delivery_support::*;

#[test]
fn run_logs_agency_connections_and_ends_with_the_throughput_line() {
    let setup = OneAgency::start(3, 1_793_628_000);
    let warrant = "liid = \"KEEP-1\"\nkind = \"title-iii\"\nagency = \"fbi-denver\"\ntargets = [\"tel:+13035550142\"]\n\
                   valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\ncourt_order = \"2:26-wt-1\"\n\
                   issuing_authority = \"Hon. John Roe\"\nserved_by = \"SA M. Chen\"\nprovisioned_by = \"K. Osei\"\n";
    std::fs::write(setup.warrants.join("KEEP-1.toml"), warrant).unwrap();
    let out = setup.run_command(20_000).env_remove("RUST_LOG").env_remove("TAPLINE_LOG_FORMAT").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let connected: Vec<&str> = err.lines().filter(|l| l.contains("INFO") && l.contains(" connected")).collect();
    assert!(connected.iter().any(|l| l.contains("fbi-denver") && l.contains("Hi2")), "{err}");
    assert!(connected.iter().any(|l| l.contains("fbi-denver") && l.contains("Hi3")), "{err}");
    assert!(err.lines().any(|l| l.starts_with("tapline: run: ") && l.contains(" packets in ") && l.ends_with(" packets/s)")), "{err}");
    assert!(!err.contains("3035550142"), "no target in the log: {err}");
}
