//! Live capture end to end (build with `--features live`, run as root): `tapline run
//! --iface lo` while tcpreplay plays the demo capture onto the loopback interface. The
//! agencies receive over mutual TLS the same records per LIID as a replay of the file, and
//! the pipeline reports no loss. Skips with a message when not built with `live`, not
//! root, or tcpreplay is missing (under `CI=true` the missing pieces are failures).

#![cfg(feature = "live")]

mod delivery_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use delivery_support::*;
use tapline::lemf::Lemf;
use tapline::run::{run, Source};

const AGENCIES: [&str; 2] = ["fbi-denver", "dea-phoenix"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled warrants with an agencies.toml pointing at the LEMFs.
fn warrants(dir: &Path, ca: &Path, addrs: &[Vec<std::net::SocketAddr>]) -> PathBuf {
    let w = dir.join("warrants");
    std::fs::create_dir_all(&w).unwrap();
    for entry in std::fs::read_dir(root().join("warrants")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") && !p.ends_with("agencies.toml") {
            std::fs::copy(&p, w.join(p.file_name().unwrap())).unwrap();
        }
    }
    let mut toml = String::from("[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n");
    for (id, a) in AGENCIES.iter().zip(addrs) {
        toml += &format!(
            "\n[[agency]]\nid = \"{id}\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://{}\"\nhi3 = \"tls://{}\"\nca = \"{}\"\n",
            a[0],
            a[1],
            ca.display()
        );
    }
    std::fs::write(w.join("agencies.toml"), toml).unwrap();
    w
}

fn missing(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what} (required under CI=true)");
    eprintln!("SKIPPED live capture test: {what}");
}

#[test]
fn live_capture_on_loopback_delivers_what_a_replay_of_the_same_packets_does() {
    if Command::new("tcpreplay").arg("--version").output().is_err() {
        return missing("tcpreplay is not installed");
    }
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        return missing("live capture needs root (CAP_NET_RAW)");
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &AGENCIES);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lemfs: Vec<Lemf> = AGENCIES
        .iter()
        .map(|a| start_lemf(&rt, &lemf_config(&pki, a, any_port(), &dir.path().join(a))))
        .collect();
    let addrs: Vec<Vec<_>> = lemfs.iter().map(|l| l.local_addrs().to_vec()).collect();
    let warrants = warrants(dir.path(), &pki.ca, &addrs);
    let demo = root().join("fixtures/demo.pcap");
    let (reference, _) = tapline::replay::replay(&demo, &warrants, &dir.path().join("reference")).unwrap();

    let mut options = run_options(&warrants, &dir.path().join("spool"), &pki, demo.clone(), None);
    options.source = Source::Iface("lo".into());
    let stop = Arc::new(AtomicBool::new(false));
    let running = std::thread::spawn({
        let stop = stop.clone();
        move || run(&options, stop)
    });
    std::thread::sleep(Duration::from_secs(2)); // the capture is open
    let played = Command::new("tcpreplay").args(["-q", "-i", "lo", "--pps", "1000"]).arg(&demo).output().unwrap();
    assert!(played.status.success(), "tcpreplay: {}", String::from_utf8_lossy(&played.stderr));
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let summary = running.join().unwrap().unwrap();

    assert_eq!((summary.dropped_pipeline_full, summary.dropped_kernel), (0, 0));
    assert!(summary.packets_read >= reference.packets_read, "{} < {}", summary.packets_read, reference.packets_read);
    assert_eq!(summary.calls_intercepted, reference.calls_intercepted);
    for (liid, want) in &reference.liids {
        let got = &summary.liids[liid];
        assert_eq!((got.iri_records, got.cc_records), (want.iri_records, want.cc_records), "{liid}");
    }
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    let received: u64 = lemfs.into_iter().map(|l| rt.block_on(l.stop()).unwrap().records).sum();
    let expected: u64 = reference.liids.values().map(|c| c.iri_records + c.cc_records).sum();
    assert_eq!(received, expected);
}
