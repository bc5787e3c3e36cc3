//! The mediation function SIGKILLed mid-run and restarted on the same spool, as real
//! processes over real mutual TLS on loopback: `tapline poi` (tasked over X1 by this test,
//! replaying the capture) → `tapline run --x2x3-listen` → the agencies' LEMFs. The MF acks
//! a POI's keepalive only once the records of the PDUs before it are durable in its spool,
//! so a POI deletes nothing the killed MF had not made safe: after the restart the LEMFs
//! hold every record a single-box replay of the capture gives and nothing out of scope.
//! Killed before any of those records was durable, the MF delivers each exactly once;
//! killed while delivering, records of PDUs it took after its last ack come again (at
//! least once across a crash: README "Scale-out", known gaps of a restart).

mod common;
mod delivery_support;
mod poi_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use delivery_support::*;
use poi_support::*;

/// `tapline run` as the mediation function: X2/X3 in on `addr`, the bundled warrants'
/// agencies out, spooling to `spool` (each interface's spool limited to `limit_mib`).
fn start_mf(w: &SingleBox, warrants: &Path, addr: SocketAddr, spool: &Path, limit_mib: u64, name: &str) -> (Child, PathBuf) {
    let mf = w.pki.server("mf").expect("mf cert");
    let log = w.dir.path().join(format!("{name}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_tapline"))
        .arg("run")
        .arg("--warrants").arg(warrants)
        .arg("--spool").arg(spool)
        .arg("--cert").arg(&w.pki.appliance.cert)
        .arg("--key").arg(&w.pki.appliance.key)
        .args(["--spool-limit-mib", &limit_mib.to_string(), "--drain-secs", "30"])
        .arg("--x2x3-listen").arg(addr.to_string())
        .arg("--x2x3-cert").arg(&mf.cert)
        .arg("--x2x3-key").arg(&mf.key)
        .arg("--x2x3-client-ca").arg(&w.pki.ca)
        .stdout(std::fs::File::create(w.dir.path().join(format!("{name}.out"))).expect("stdout file"))
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("tapline run starts");
    assert!(
        wait_until(Duration::from_secs(20), || log_has(&log, "X2/X3 listener started")),
        "the MF listens: {}",
        read(&log)
    );
    (child, log)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn log_has(log: &Path, text: &str) -> bool {
    read(log).contains(text)
}

/// The MF's end-of-run ingest counters (`x2x3 ingest: {...}` on stdout).
fn ingest_counters(out: &Path) -> serde_json::Value {
    read(out)
        .lines()
        .find_map(|l| l.strip_prefix("x2x3 ingest: "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("the MF's ingest counters: {}", read(out)))
}

/// The kill comes while the killed MF holds the PDUs the POI sent in its pipeline and none
/// of their records in its spool: its agencies are unreachable and its spool limit is 0,
/// so after each interface's first record (the HI1 notifications) the pipeline waits. A
/// listener that confirmed PDUs once they were queued would have let the POI delete them
/// all, and this test fails with the calls missing. With durable confirmation the POI
/// keeps them and resends them to the restarted MF, which delivers the HI1 notifications
/// from its spool (and, its ledger says, does not repeat them) and every call once.
#[test]
fn an_mf_killed_before_its_records_are_durable_loses_nothing_after_a_restart() {
    let w = single_box(17, &["mf", "poi"]);
    let mf_addr = reserved_port();
    let mf_spool = w.dir.path().join("mf-spool");
    // The same warrants, their agencies where nobody listens.
    let nowhere: Vec<Vec<SocketAddr>> = AGENCIES.iter().map(|_| vec![reserved_port(), reserved_port()]).collect();
    let unreachable = bundled_warrants(&w.dir.path().join("mf-1"), Some(&w.pki.ca), &nowhere);
    let (mut mf, mf_log) = start_mf(&w, &unreachable, mf_addr, &mf_spool, 0, "mf-1");
    let tasks = tasks(&w.warrants, |_| true);
    let poi_spool = w.dir.path().join("poi-spool");
    let (mut poi, x1_addr, poi_log) = start_poi(w.dir.path(), &w.pki, &poi_spool, Some(&w.pcap), tasks.len(), "poi-1");
    w.task(x1_addr, mf_addr, &tasks);
    assert!(
        wait_until(Duration::from_secs(60), || poi_summary(&poi_log, "poi: capture done ").is_some()),
        "the capture is processed: {}",
        read(&poi_log)
    );
    // The MF has taken PDUs and its pipeline waits at the spool; the POI keeps sending
    // keepalives (every second) that must stay unanswered.
    assert!(
        wait_until(Duration::from_secs(30), || log_has(&mf_log, "ALARM spool full")),
        "the MF's pipeline reached its spool: {}",
        read(&mf_log)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(!log_has(&poi_log, "ERROR"), "{}", read(&poi_log));
    mf.kill().expect("SIGKILL the MF");
    let _ = mf.wait();

    // The same MF again, on the same spool and address, with room to spool.
    let (mut mf, mf_log) = start_mf(&w, &w.warrants, mf_addr, &mf_spool, 64, "mf-2");
    wait_exit(&mut poi, &poi_log);
    let (x2, x3) = pdus_sent(&final_summary(&poi_log));
    assert!(x2 > 0 && x3 > 0, "the POI sent X2 and X3: {}", read(&poi_log));
    let _ = Command::new("kill").arg("-TERM").arg(mf.id().to_string()).status();
    let status = mf.wait().expect("the MF exits");
    assert!(status.success(), "the restarted MF delivers everything and exits 0: {}", read(&mf_log));
    let counters = ingest_counters(&w.dir.path().join("mf-2.out"));
    if std::env::var("MF_RESTART_DEBUG").is_ok() {
        eprintln!("--- mf-1\n{}\n--- poi\n{}\n--- mf-2\n{}", read(&w.dir.path().join("mf-1.log")), read(&poi_log), read(&mf_log));
    }
    let n = |k: &str| counters[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!((n("x2_pdus"), n("x3_pdus")), (x2, x3), "every PDU resent to the restarted MF: {counters}");
    assert_eq!(n("unknown_xid") + n("not_ingested") + n("malformed_pdus"), 0, "{counters}");
    assert!(n("acks") > 0, "the restarted MF confirmed the resent PDUs: {counters}");
    w.same_as_replay(&AGENCIES);
}

/// The agency's records with CINs left out: a call the restarted MF ingested a second
/// time comes under a new CIN, numbered from 0 again, so this is what it repeats.
fn without_cins(dir: &Path) -> Vec<tapline::handover::Pdu> {
    let mut records = decoded_records(dir);
    for r in &mut records {
        r.header.cin = None;
    }
    records
}

/// The usual crash: the MF is SIGKILLed as soon as its agencies have had records, its spool
/// holding some and its POI's keepalive possibly not yet answered. After the restart every
/// record of the single box is delivered and nothing else; records of PDUs the killed MF
/// took after its last ack are delivered again (delivery across an MF crash is at least
/// once, README "Scale-out": known gaps), and the test says how many.
#[test]
fn an_mf_killed_while_delivering_loses_nothing_and_delivers_nothing_out_of_scope() {
    let w = single_box(19, &["mf", "poi"]);
    let mf_addr = reserved_port();
    let mf_spool = w.dir.path().join("mf-spool");
    let (mut mf, _) = start_mf(&w, &w.warrants, mf_addr, &mf_spool, 64, "mf-1");
    let tasks = tasks(&w.warrants, |_| true);
    let poi_spool = w.dir.path().join("poi-spool");
    let (mut poi, x1_addr, poi_log) = start_poi(w.dir.path(), &w.pki, &poi_spool, Some(&w.pcap), tasks.len(), "poi-1");
    w.task(x1_addr, mf_addr, &tasks);
    let content = w.lemf_out.join("dea-phoenix/hi3.ber");
    assert!(
        wait_until(Duration::from_secs(60), || std::fs::metadata(&content).is_ok_and(|m| m.len() > 0)),
        "the agency gets content: {}",
        read(&poi_log)
    );
    mf.kill().expect("SIGKILL the MF");
    let _ = mf.wait();
    let (mut mf, mf_log) = start_mf(&w, &w.warrants, mf_addr, &mf_spool, 64, "mf-2");
    wait_exit(&mut poi, &poi_log);
    let _ = Command::new("kill").arg("-TERM").arg(mf.id().to_string()).status();
    let status = mf.wait().expect("the MF exits");
    assert!(status.success(), "the restarted MF delivers everything and exits 0: {}", read(&mf_log));
    let SingleBox { rt, lemfs, lemf_out, replay_out, .. } = w;
    for l in lemfs {
        rt.block_on(l.stop()).expect("LEMF stops");
    }
    for agency in AGENCIES {
        let mut got = without_cins(&lemf_out.join(agency));
        let want = without_cins(&replay_out.join(agency));
        assert!(!want.is_empty(), "{agency}: the replay delivers records");
        for (i, w) in want.iter().enumerate() {
            let at = got.iter().position(|g| g == w);
            assert!(at.is_some(), "{agency}: record {i} of the single box was lost: {w:?}");
            if let Some(at) = at {
                got.remove(at);
            }
        }
        for extra in &got {
            assert!(want.contains(extra), "{agency}: a record the single box does not deliver: {extra:?}");
        }
        eprintln!("{agency}: all {} records of the single box, {} delivered again after the restart", want.len(), got.len());
    }
}
