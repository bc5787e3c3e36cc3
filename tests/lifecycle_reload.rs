//! Warrant lifecycle in a running appliance: during a paced replay delivered over loopback
//! mutual TLS, one warrant is added, one amended and one revoked; the added one intercepts
//! its target's next call, the revoked one stops at once, and the amended one's records are
//! untouched. Every lifecycle audit entry and HI1 notification is at the run's clock: packet
//! time, inside the capture's span. Also: HI1 notification PDUs pass the independent ETSI
//! oracle.

mod delivery_support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use delivery_support::*;
use tapline::audit::{entries_of_liid, verify_dir, Event, InterceptionStatus};
use tapline::handover::etsi::{encode_hi1_notification, Hi1Notification};
use tapline::handover::{decode_pdu, split_stream, Payload, PduHeader};
use tapline::run::{run_with, LifecycleOptions};
use tapline::Timestamp;

const AGENCY: &str = "fbi-denver";
const START: u64 = 1_793_628_000;

fn warrant(liid: &str, target: &str) -> String {
    format!(
        "liid = \"{liid}\"\nkind = \"title-iii\"\nagency = \"{AGENCY}\"\ntargets = [\"tel:{target}\"]\n\
         valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\ncourt_order = \"2:26-wt-1\"\n\
         issuing_authority = \"Hon. John Roe\"\nserved_by = \"SA M. Chen\"\nprovisioned_by = \"K. Osei\"\n"
    )
}

/// First and last packet time of a capture, RFC 3339 (which orders as time does).
fn capture_span(pcap: &std::path::Path) -> (String, String) {
    let mut reader = tapline::capture::FileReader::open(pcap).unwrap();
    let (mut first, mut last) = (None, Timestamp::default());
    while let Some(f) = reader.next_frame().unwrap() {
        first.get_or_insert(f.ts);
        last = last.max(f.ts);
    }
    (first.unwrap().to_rfc3339(), last.to_rfc3339())
}

/// (notification, timestamp) of every HI1 notification the LEMF received.
fn hi1_lines(lemf_out: &std::path::Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(lemf_out.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "hi1")
        .map(|v| {
            let field = |k: &str| v[k].as_str().unwrap().to_owned();
            (field("liid"), field("notification"), field("timestamp"))
        })
        .collect()
}


/// (LIID, packet time ns, is CC) of every IRI/CC PDU in the files, sorted.
fn records(files: &[PathBuf]) -> Vec<(String, u64, bool)> {
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for pdu in split_stream(&bytes) {
            let pdu = decode_pdu(pdu.unwrap()).unwrap();
            let cc = match pdu.payload {
                Payload::Iri(_) => false,
                Payload::Cc(_) => true,
                _ => continue,
            };
            let h = &pdu.header;
            let ts = h.seconds.unwrap() * 1_000_000_000 + u64::from(h.micros.unwrap()) * 1_000;
            out.push((String::from_utf8(h.liid.clone()).unwrap(), ts, cc));
        }
    }
    out.sort();
    out
}

fn of(records: &[(String, u64, bool)], liid: &str) -> Vec<(u64, bool)> {
    records.iter().filter(|r| r.0 == liid).map(|r| (r.1, r.2)).collect()
}

#[test]
fn warrant_added_and_revoked_while_a_replay_runs() {
    let OneAgency { dir, pcap, pki, rt: _rt, lemf, lemf_out, .. } = OneAgency::start(7, START);
    let agencies_toml = one_agency_toml(&pki.ca, lemf.local_addrs());

    // What a run with all three warrants from the start delivers (offline replay).
    let all = dir.path().join("all");
    std::fs::create_dir_all(&all).unwrap();
    std::fs::write(all.join("agencies.toml"), &agencies_toml).unwrap();
    for (liid, target) in [("KEEP-1", "+13035550142"), ("GONE-1", "+13035550177"), ("NEW-1", "+13035550199")] {
        std::fs::write(all.join(format!("{liid}.toml")), warrant(liid, target)).unwrap();
    }
    let reference_out = dir.path().join("reference");
    tapline::replay::replay(&pcap, &all, &reference_out).unwrap();
    let reference = records(&[reference_out.join(AGENCY).join("hi2.ber"), reference_out.join(AGENCY).join("hi3.ber")]);

    let warrants = dir.path().join("warrants");
    std::fs::create_dir_all(&warrants).unwrap();
    std::fs::write(warrants.join("agencies.toml"), &agencies_toml).unwrap();
    std::fs::write(warrants.join("KEEP-1.toml"), warrant("KEEP-1", "+13035550142")).unwrap();
    std::fs::write(warrants.join("GONE-1.toml"), warrant("GONE-1", "+13035550177")).unwrap();

    let options = run_options(&warrants, &dir.path().join("spool"), &pki, pcap.clone(), Some(2000));
    // Reload only on request, so the addition and the revocation land in one snapshot.
    let lifecycle =
        LifecycleOptions { audit: Some(dir.path().join("audit")), poll: None, reload: Arc::default(), api: None, pois: None };
    let reload = lifecycle.reload.clone();
    let runner = std::thread::spawn(move || run_with(&options, Arc::new(AtomicBool::new(false)), &lifecycle));

    // Once the revoked-to-be warrant has delivered a third of its records (about four of its
    // twelve calls), add one, amend one (who served it) and revoke the other.
    let third = of(&reference, "GONE-1").len() as u64 / 3;
    let started = wait_until(Duration::from_secs(60), || lemf.stats().per_liid.get("GONE-1").is_some_and(|n| *n >= third));
    assert!(started, "GONE-1 records never arrived");
    std::fs::write(warrants.join("NEW-1.toml"), warrant("NEW-1", "+13035550199")).unwrap();
    let amended = warrant("KEEP-1", "+13035550142").replace("SA M. Chen", "SA P. Novak");
    std::fs::write(warrants.join("KEEP-1.toml"), amended).unwrap();
    std::fs::remove_file(warrants.join("GONE-1.toml")).unwrap();
    reload.store(true, Ordering::Relaxed);

    let summary = runner.join().unwrap().unwrap();
    assert_eq!(summary.warrant_reloads, 1);
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    let stats = lemf.stats();
    assert_eq!(stats.duplicates, 0);
    assert_eq!(stats.gaps, 0);
    let got = records(&[lemf_out.join("hi2.ber"), lemf_out.join("hi3.ber")]);

    // The warrant in force throughout (amended): every record, once.
    assert_eq!(of(&got, "KEEP-1"), of(&reference, "KEEP-1"));
    // The revoked one: every record up to the revocation, none after.
    let gone = of(&got, "GONE-1");
    let gone_all = of(&reference, "GONE-1");
    assert!(!gone.is_empty() && gone.len() < gone_all.len(), "GONE-1: {} of {}", gone.len(), gone_all.len());
    let last_gone = gone.last().unwrap().0;
    assert_eq!(gone, gone_all.iter().copied().filter(|r| r.0 <= last_gone).collect::<Vec<_>>());
    // The added one: whole calls from the first call after the addition.
    let new = of(&got, "NEW-1");
    let new_all = of(&reference, "NEW-1");
    assert!(!new.is_empty() && new.len() < new_all.len(), "NEW-1: {} of {}", new.len(), new_all.len());
    let first_new = new.first().unwrap().0;
    assert!(last_gone < first_new, "one snapshot: revocation and addition take effect together");
    assert_eq!(new, new_all.iter().copied().filter(|r| r.0 >= first_new).collect::<Vec<_>>());

    // The audit trail: intact, with the activation and the deactivation.
    let audit = dir.path().join("audit");
    assert!(verify_dir(&audit).unwrap().is_ok());
    let status = |liid: &str| -> Vec<InterceptionStatus> {
        entries_of_liid(&audit, liid)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::Interception { status, .. } => Some(status),
                Event::Provisioning(_) => None,
            })
            .collect()
    };
    assert_eq!(status("NEW-1"), [InterceptionStatus::Activated]);
    assert_eq!(status("GONE-1"), [InterceptionStatus::Activated, InterceptionStatus::Deactivated]);
    assert_eq!(status("KEEP-1"), [InterceptionStatus::Activated, InterceptionStatus::Modified]);

    // One clock: every entry, the interceptions' starts and the revocation's end, and every
    // HI1 notification are at packet time, inside the capture (not today's wall clock).
    let (first, last) = capture_span(&pcap);
    let within = |what: &str, t: &str| assert!(first.as_str() <= t && t <= last.as_str(), "{what} at {t}, outside {first}..{last}");
    let mut entries = 0;
    for liid in ["KEEP-1", "GONE-1", "NEW-1"] {
        for e in entries_of_liid(&audit, liid).unwrap() {
            within(&format!("audit entry {} ({liid})", e.seq), &e.time);
            if let Event::Interception { status, record } = &e.event {
                within(&format!("{status:?} start ({liid})"), &record.start);
                if *status == InterceptionStatus::Deactivated {
                    within(&format!("revocation end ({liid})"), &record.end);
                }
            }
            entries += 1;
        }
    }
    assert_eq!(entries, 2 + 2 + 1 + 3 + 2, "KEEP-1 load, activated, amend, modified; NEW-1 create, activated; GONE-1 load, activated, revoke, deactivated");
    let hi1 = hi1_lines(&lemf_out);
    let kinds: Vec<(&str, &str)> = hi1.iter().map(|(l, n, _)| (l.as_str(), n.as_str())).collect();
    for expected in [("KEEP-1", "activated"), ("GONE-1", "activated"), ("KEEP-1", "modified"), ("GONE-1", "deactivated"), ("NEW-1", "activated")] {
        assert!(kinds.contains(&expected), "{expected:?} not notified: {kinds:?}");
    }
    for (liid, n, t) in &hi1 {
        within(&format!("HI1 {n} ({liid})"), t);
    }
}

#[test]
fn hi1_notifications_pass_the_oracle() {
    let Some(script) = oracle() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (i, n) in [Hi1Notification::Activated, Hi1Notification::Modified, Hi1Notification::Deactivated].into_iter().enumerate() {
        let header = PduHeader {
            liid: "DEN-2026-0042",
            authorization_country: "US",
            operator_id: "EXAMPLE-TEL",
            network_element_id: "MED-01",
            cin: 0,
            delivery_country: "US",
            sequence: i as u32,
            ts: Timestamp::from_secs_micros(START, 0),
        };
        encode_hi1_notification(&mut out, &header, n);
    }
    let file = dir.path().join("hi1.ber");
    std::fs::write(&file, &out).unwrap();
    oracle_check(&script, &file);
    let decoded = std::process::Command::new("python3").arg(&script).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&decoded.stdout);
    for alt in ["liActivated", "liModified", "liDeactivated"] {
        assert!(text.contains(alt), "{alt} missing in {text}");
    }
    assert_eq!(text.matches("DEN-2026-0042").count(), 6, "{text}");
}

/// The real binary: SIGHUP reloads (and does not end the run); `--audit` gets the trail.
#[test]
fn sighup_reloads_the_running_binary() {
    let setup = OneAgency::start(7, START);
    let OneAgency { dir, lemf, warrants, .. } = &setup;
    std::fs::write(warrants.join("GONE-1.toml"), warrant("GONE-1", "+13035550177")).unwrap();
    let audit = dir.path().join("audit");
    let child = setup
        .run_command(2000)
        .arg("--audit")
        .arg(&audit)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(60), || lemf.stats().per_liid.get("GONE-1").is_some_and(|n| *n > 0)));
    std::fs::remove_file(warrants.join("GONE-1.toml")).unwrap();
    let hup = std::process::Command::new("kill").arg("-HUP").arg(child.id().to_string()).status().unwrap();
    assert!(hup.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the run survives SIGHUP");
    assert!(String::from_utf8_lossy(&out.stdout).contains("GONE-1"));
    assert!(verify_dir(&audit).unwrap().is_ok());
    let deactivated = entries_of_liid(&audit, "GONE-1")
        .unwrap()
        .iter()
        .any(|e| matches!(&e.event, Event::Interception { status: InterceptionStatus::Deactivated, .. }));
    assert!(deactivated);
}
