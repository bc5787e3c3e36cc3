//! Warrants activated and lapsing by packet time in a real run delivered over loopback mutual
//! TLS: the agency gets HI1 activated/deactivated when packet time reaches `valid_from` and
//! `valid_until`, no records outside the window, and the audit trail holds the packet-time
//! start and end. Also: `run --api` (library and binary) picks up a warrant added over the
//! API during the run.

mod delivery_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use delivery_support::*;
use serde_json::{json, Value};
use tapline::audit::{entries_of_liid, verify_dir, Event, InterceptionRecord, InterceptionStatus};
use tapline::delivery::pki::DevPki;
use tapline::handover::{decode_pdu, split_stream, Payload};
use tapline::provision::{ApiClient, ProvisionConfig};
use tapline::run::{run_with, LifecycleOptions, RunOptions};
use tapline::Timestamp;

const AGENCY: &str = "fbi-denver";
/// 2026-11-02T14:00:00Z, the capture's first call.
const START: u64 = 1_793_628_000;
const SEC: u64 = 1_000_000_000;

fn rfc3339(secs: u64) -> String {
    Timestamp::from_nanos(secs * SEC).to_rfc3339()
}

fn warrant(liid: &str, target: &str, from: &str, until: &str) -> String {
    format!(
        "liid = \"{liid}\"\nkind = \"title-iii\"\nagency = \"{AGENCY}\"\ntargets = [\"tel:{target}\"]\n\
         valid_from = {from}\nvalid_until = {until}\ncourt_order = \"2:26-wt-1\"\n\
         issuing_authority = \"Hon. John Roe\"\nserved_by = \"SA M. Chen\"\nprovisioned_by = \"K. Osei\"\n"
    )
}

fn options(dir: &Path, pki: &DevPki, warrants: PathBuf, pcap: PathBuf, rate: Option<u32>) -> RunOptions {
    run_options(&warrants, &dir.join("spool"), pki, pcap, rate)
}

/// Packet times (ns) of the IRI/CC records of `liid` in the LEMF's files.
fn record_times(lemf_out: &Path, liid: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for f in ["hi2.ber", "hi3.ber"] {
        let bytes = std::fs::read(lemf_out.join(f)).unwrap_or_default();
        for pdu in split_stream(&bytes) {
            let pdu = decode_pdu(pdu.unwrap()).unwrap();
            if !matches!(pdu.payload, Payload::Iri(_) | Payload::Cc(_)) || pdu.header.liid != liid.as_bytes() {
                continue;
            }
            out.push(pdu.header.seconds.unwrap() * SEC + u64::from(pdu.header.micros.unwrap()) * 1_000);
        }
    }
    out.sort();
    out
}

/// (notification, timestamp) of the HI1 lines of `liid` in the LEMF's records.jsonl.
fn hi1_lines(lemf_out: &Path, liid: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(lemf_out.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "hi1" && v["liid"] == liid)
        .map(|v| (v["notification"].as_str().unwrap().to_owned(), v["timestamp"].as_str().unwrap().to_owned()))
        .collect()
}

fn interceptions(audit: &Path, liid: &str) -> Vec<(InterceptionStatus, InterceptionRecord)> {
    entries_of_liid(audit, liid)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Interception { status, record } => Some((status, record)),
            Event::Provisioning(_) => None,
        })
        .collect()
}

#[test]
fn warrants_start_and_lapse_by_packet_time() {
    let OneAgency { dir, pcap, pki, rt, lemf, lemf_out, warrants } = OneAgency::start(11, START);
    let wide = ("2026-01-01T00:00:00Z", "2027-12-31T00:00:00Z");
    // Lapses between round 5 and round 6 (its target calls at START+3 s each round).
    let lapse_at = START + 55;
    // Starts between round 3 and round 4 (its target calls at START+6 s each round).
    let late_from = START + 38;
    std::fs::write(warrants.join("KEEP-1.toml"), warrant("KEEP-1", "+13035550142", wide.0, wide.1)).unwrap();
    std::fs::write(warrants.join("LAPSE-1.toml"), warrant("LAPSE-1", "+13035550177", wide.0, &rfc3339(lapse_at))).unwrap();
    std::fs::write(warrants.join("LATE-1.toml"), warrant("LATE-1", "+13035550199", &rfc3339(late_from), wide.1)).unwrap();

    let audit = dir.path().join("audit");
    let lifecycle = LifecycleOptions { audit: Some(audit.clone()), poll: None, reload: Arc::default(), api: None, pois: None };
    let summary = run_with(
        &options(dir.path(), &pki, warrants, pcap, None),
        Arc::new(AtomicBool::new(false)),
        &lifecycle,
    )
    .unwrap();
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    let stats = rt.block_on(lemf.stop()).unwrap();
    assert_eq!((stats.gaps, stats.duplicates), (0, 0));
    assert_eq!(stats.hi1_notifications, 4, "KEEP-1, LATE-1 activated; LAPSE-1 activated and deactivated");

    // HI1: each told once, stamped with the packet time it happened at.
    let first = rfc3339(START);
    assert_eq!(hi1_lines(&lemf_out, "KEEP-1"), [("activated".to_owned(), first.clone())]);
    let lapse = hi1_lines(&lemf_out, "LAPSE-1");
    assert_eq!(lapse.len(), 2, "{lapse:?}");
    assert_eq!(lapse[0], ("activated".to_owned(), first.clone()));
    assert_eq!(lapse[1].0, "deactivated");
    assert!(lapse[1].1 >= rfc3339(lapse_at) && lapse[1].1 < rfc3339(lapse_at + 10), "{lapse:?}");
    let late = hi1_lines(&lemf_out, "LATE-1");
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].0, "activated");
    assert!(late[0].1 >= rfc3339(late_from) && late[0].1 < rfc3339(late_from + 10), "{late:?}");

    // Records only inside each window.
    let lapsed = record_times(&lemf_out, "LAPSE-1");
    assert!(!lapsed.is_empty());
    assert!(lapsed.iter().all(|t| *t < lapse_at * SEC), "a record of LAPSE-1 after valid_until");
    assert!(*lapsed.last().unwrap() >= (START + 43) * SEC, "LAPSE-1 intercepted up to its end");
    let late_times = record_times(&lemf_out, "LATE-1");
    assert!(!late_times.is_empty());
    assert!(late_times.iter().all(|t| *t >= late_from * SEC), "a record of LATE-1 before valid_from");
    assert_eq!(record_times(&lemf_out, "KEEP-1").first().copied(), Some(START * SEC));

    // The audit trail: the packet-time start and end.
    assert!(verify_dir(&audit).unwrap().is_ok());
    let lapse_audit = interceptions(&audit, "LAPSE-1");
    let statuses: Vec<_> = lapse_audit.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [InterceptionStatus::Activated, InterceptionStatus::Deactivated]);
    assert_eq!(lapse_audit[0].1.start, first);
    assert_eq!((lapse_audit[1].1.start.as_str(), lapse_audit[1].1.end.as_str()), (first.as_str(), rfc3339(lapse_at).as_str()));
    let late_audit = interceptions(&audit, "LATE-1");
    assert_eq!(late_audit.len(), 1);
    assert_eq!(late_audit[0].0, InterceptionStatus::Activated);
    assert_eq!(late_audit[0].1.start, late[0].1, "audited start = the packet time it was told at");
}

#[test]
fn a_warrant_added_over_the_api_during_a_run_is_picked_up() {
    let OneAgency { dir, pcap, pki, rt, lemf, lemf_out, warrants } = OneAgency::start(11, START);
    std::fs::write(
        warrants.join("KEEP-1.toml"),
        warrant("KEEP-1", "+13035550142", "2026-01-01T00:00:00Z", "2027-12-31T00:00:00Z"),
    )
    .unwrap();
    // A free port for the API (bound, then released for the run to bind).
    let api_addr = reserved_port();
    let audit = dir.path().join("audit");
    let lifecycle = LifecycleOptions {
        audit: Some(audit.clone()),
        poll: Some(Duration::from_millis(100)),
        reload: Arc::default(),
        api: Some(ProvisionConfig {
            listen: api_addr,
            cert: pki.provision_api().cert.clone(),
            key: pki.provision_api().key.clone(),
            client_ca: pki.ca.clone(),
            // Replaced by the run's.
            warrants: PathBuf::from("/nonexistent"),
            audit: None,
        }),
        pois: None,
    };
    let options = options(dir.path(), &pki, warrants.clone(), pcap, Some(500));
    let runner = std::thread::spawn(move || run_with(&options, Arc::new(AtomicBool::new(false)), &lifecycle));

    assert!(wait_until(Duration::from_secs(60), || lemf.stats().per_liid.get("KEEP-1").is_some_and(|n| *n > 0)));
    let client =
        ApiClient::new(&api_addr.to_string(), &pki.ca, &pki.provisioner().cert, &pki.provisioner().key).unwrap();
    let body = api_warrant("API-1");
    let reply = rt.block_on(client.request("POST", "/warrants", Some(&body))).unwrap();
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert!(warrants.join("API-1.toml").is_file(), "written through to the run's directory");

    let summary = runner.join().unwrap().unwrap();
    assert!(summary.warrant_reloads >= 1);
    assert!(summary.liids.get("API-1").is_some_and(|c| c.iri_records > 0), "{:?}", summary.liids);
    let stats = rt.block_on(lemf.stop()).unwrap();
    assert!(stats.per_liid.get("API-1").is_some_and(|n| *n > 0), "{stats:?}");
    assert_eq!(hi1_lines(&lemf_out, "API-1").len(), 1);
    // The API's act and the packet-time activation, in the run's audit trail.
    assert!(verify_dir(&audit).unwrap().is_ok());
    let entries = entries_of_liid(&audit, "API-1").unwrap();
    assert!(entries.iter().any(|e| matches!(&e.event, Event::Provisioning(a) if a.action == "create" && a.who != "warrant-store")));
    assert_eq!(interceptions(&audit, "API-1").len(), 1);
    // The API is gone with the run.
    assert!(rt.block_on(client.request("GET", "/warrants", None)).is_err());
}

/// The real binary: `run --api ADDR --api-cert --api-key --api-client-ca`.
#[test]
fn the_binary_serves_the_api_while_running() {
    let setup = OneAgency::start(11, START);
    let OneAgency { dir, pki, rt, lemf, warrants, .. } = &setup;
    std::fs::write(
        warrants.join("KEEP-1.toml"),
        warrant("KEEP-1", "+13035550142", "2026-01-01T00:00:00Z", "2027-12-31T00:00:00Z"),
    )
    .unwrap();
    let api_addr = reserved_port();
    let child = setup
        .run_command(500)
        .arg("--api")
        .arg(api_addr.to_string())
        .arg("--api-cert")
        .arg(&pki.provision_api().cert)
        .arg("--api-key")
        .arg(&pki.provision_api().key)
        .arg("--api-client-ca")
        .arg(&pki.ca)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(60), || lemf.stats().per_liid.get("KEEP-1").is_some_and(|n| *n > 0)));
    let client =
        ApiClient::new(&api_addr.to_string(), &pki.ca, &pki.provisioner().cert, &pki.provisioner().key).unwrap();
    let body = api_warrant("API-2");
    let reply = rt.block_on(client.request("POST", "/warrants", Some(&body))).unwrap();
    assert_eq!(reply.status, 201, "{}", reply.body);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("API-2"), "the run report lists the added warrant");
    assert!(lemf.stats().per_liid.get("API-2").is_some_and(|n| *n > 0));
    // The default audit trail (SPOOL/audit) holds the API's act.
    let audit = dir.path().join("spool/audit");
    assert!(verify_dir(&audit).unwrap().is_ok());
    assert!(entries_of_liid(&audit, "API-2").unwrap().iter().any(|e| matches!(&e.event, Event::Provisioning(a) if a.action == "create" && a.who != "warrant-store")));
}

/// A warrant for +13035550199 as the provisioning API takes it.
fn api_warrant(liid: &str) -> Value {
    json!({
        "liid": liid,
        "kind": "title-iii",
        "agency": AGENCY,
        "targets": ["tel:+13035550199"],
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-12-31T00:00:00Z",
        "court_order": "2:26-wt-2",
        "issuing_authority": "Hon. John Roe",
        "post_cut_through_digits": false,
        "served_by": "SA M. Chen",
        "provisioned_by": "K. Osei"
    })
}
