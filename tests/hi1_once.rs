//! HI1 "activated" is sent once per activation, remembered across restarts: `tapline run`
//! killed with SIGKILL mid-replay and restarted several times on the same spool tells the
//! agency once that each warrant was activated.

mod delivery_support;

use std::path::Path;
use std::time::{Duration, Instant};

use delivery_support::*;
use serde_json::Value;

fn warrant(liid: &str, target: &str) -> String {
    format!(
        "liid = \"{liid}\"\nkind = \"pen-register\"\nagency = \"{LIFECYCLE_AGENCY}\"\ntargets = [\"tel:{target}\"]\n\
         valid_from = 2026-11-01T00:00:00Z\nvalid_until = 2026-12-31T00:00:00Z\ncourt_order = \"2:26-mj-7\"\n\
         issuing_authority = \"Hon. John Roe\"\nserved_by = \"SA M. Chen\"\nprovisioned_by = \"K. Osei\"\n"
    )
}

/// HI1 notifications of `liid` received by the LEMF, in order.
fn hi1(lemf_out: &Path, liid: &str) -> Vec<String> {
    std::fs::read_to_string(lemf_out.join("records.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "hi1" && v["liid"] == liid)
        .map(|v| v["notification"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn activated_is_sent_once_over_kills_and_restarts() {
    let setup = OneAgency::start(5, 1_793_628_000);
    let liids = ["HI1-A", "HI1-B"];
    for (liid, target) in liids.iter().zip(["+13035550142", "+13035550177"]) {
        std::fs::write(setup.warrants.join(format!("{liid}.toml")), warrant(liid, target)).unwrap();
    }
    let restarts = 4;
    for round in 0..restarts {
        let before = setup.lemf.stats().records;
        let mut child = setup.run_command(400).stdout(std::process::Stdio::null()).spawn().unwrap();
        let delivered = wait_until(Duration::from_secs(30), || {
            setup.lemf.stats().records >= before + 20 && liids.iter().all(|l| !hi1(&setup.lemf_out, l).is_empty())
        });
        // Let the keep-alive confirm what arrived, so nothing is re-sent from the spool.
        std::thread::sleep(Duration::from_millis(600));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(delivered, "round {round}: delivery started");
    }
    let started = Instant::now();
    let status = setup.run_command(20_000).args(["--drain-secs", "30"]).stdout(std::process::Stdio::null()).status().unwrap();
    assert!(status.success(), "final run");
    assert!(started.elapsed() < Duration::from_secs(120));
    for liid in liids {
        assert_eq!(
            hi1(&setup.lemf_out, liid),
            ["activated"],
            "{liid}: one activation told over {} runs",
            restarts + 1
        );
    }
    // The ledger holds one line per notification and no target.
    let ledger = std::fs::read_to_string(setup.dir.path().join("spool/hi1-notified")).unwrap();
    assert_eq!(ledger.lines().count(), 2, "{ledger}");
    assert!(!ledger.contains("303555"), "no target in the ledger");
}
