//! Helpers of the tests that run `tapline poi` (`mod poi_support;`, with `mod common;` and
//! `mod delivery_support;`): acting as the ADMF over X1, starting a POI process, reading
//! its summary lines, and comparing the LEMFs' records with the single box's.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::delivery_support::*;
use tapline::delivery::pki::DevPki;
use tapline::warrant::{OrderKind, Store};
use tapline::x1::*;
use tapline::x2x3::Xid;

/// POSTs one X1 request as the ADMF (the appliance's certificate); the single response.
pub async fn x1(addr: SocketAddr, pki: &DevPki, n: u8, r: Request) -> Response {
    let h = MessageHeader {
        admf_identifier: "appliance".into(),
        ne_identifier: "poi-1".into(),
        timestamp: "2026-12-07T18:00:00.000000Z".into(),
        version: VERSION.into(),
        transaction_id: Xid([n; 16]),
    };
    let body = write_request(&X1Request { messages: vec![(h, r)] });
    let xml = crate::common::x1::post(addr, pki, "appliance", &body).await;
    match parse_response(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}")) {
        X1Response::Responses(mut v) if v.len() == 1 => v.remove(0).1,
        other => panic!("not one response: {other:?}"),
    }
}

pub fn ok(r: Response) {
    assert!(matches!(r, Response::Ok { ok: OkStatus::AcknowledgedAndCompleted, .. }), "{r:?}");
}

/// What the ADMF side makes of a warrant's target text.
pub fn identifier(raw: &str) -> TargetIdentifier {
    match raw.strip_prefix('+') {
        Some(digits) => TargetIdentifier::E164Number(digits.to_owned()),
        None if raw.starts_with("tel:") => TargetIdentifier::TelUri(raw.to_owned()),
        None => TargetIdentifier::SipUri(raw.to_owned()),
    }
}

/// One task per warrant of `warrants` whose kind `keep` accepts: X2andX3 where the order
/// allows content, X2Only otherwise.
pub fn tasks(warrants: &Path, keep: impl Fn(OrderKind) -> bool) -> Vec<TaskDetails> {
    let (store, _) = Store::load_dir(warrants).expect("warrants");
    let mut out = Vec::new();
    for w in store.warrants.iter().filter(|w| keep(w.kind)) {
        out.push(TaskDetails {
            // The MF ingests only PDUs of its warrants' task XIDs.
            xid: tapline::admf::plan::xid_of(&w.liid),
            targets: w.targets.iter().map(|t| identifier(&t.raw)).collect(),
            delivery_type: if w.kind.entitlement().content { DeliveryType::X2AndX3 } else { DeliveryType::X2Only },
            destinations: vec![DID],
            correlation_id: None,
            implicit_deactivation_allowed: None,
        });
    }
    out
}

pub const DID: Xid = Xid([0xd0; 16]);

/// `tapline poi` with its stderr in a file; its X1 address.
pub fn start_poi(dir: &Path, pki: &DevPki, spool: &Path, pcap: Option<&Path>, wait_tasks: usize, name: &str) -> (Child, SocketAddr, PathBuf) {
    start_poi_keepalive(dir, pki, spool, pcap, wait_tasks, name, 1)
}

/// [`start_poi`] with its X2/X3 keepalive (TIME_P1) every `keepalive_secs`.
pub fn start_poi_keepalive(dir: &Path, pki: &DevPki, spool: &Path, pcap: Option<&Path>, wait_tasks: usize, name: &str, keepalive_secs: u64) -> (Child, SocketAddr, PathBuf) {
    let poi = pki.server("poi").expect("poi cert");
    let log = dir.join(format!("{name}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapline"));
    cmd.args(["poi", "--x1-listen", "127.0.0.1:0", "--admf-id", "appliance", "--keepalive-secs", &keepalive_secs.to_string()])
        .arg("--cert").arg(&poi.cert).arg("--key").arg(&poi.key).arg("--client-ca").arg(&pki.ca)
        .arg("--spool").arg(spool)
        .arg("--x2x3-cert").arg(&pki.appliance.cert).arg("--x2x3-key").arg(&pki.appliance.key).arg("--x2x3-ca").arg(&pki.ca)
        .args(["--wait-tasks", &wait_tasks.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    if let Some(p) = pcap {
        cmd.arg("--pcap").arg(p);
    }
    let child = cmd.spawn().expect("tapline poi starts");
    let mut addr = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            addr = text.lines().find_map(|l| l.split_once("X1 endpoint on https://")).and_then(|(_, a)| a.trim().parse().ok());
            addr.is_some()
        }),
        "the POI serves X1: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    (child, addr.expect("address"), log)
}

/// The POI's summary lines (`poi: {...}`, `poi: capture done {...}`) and PDU counts.
#[allow(unused_imports)] // not every test that includes this module reads summaries
pub use crate::common::poi::{final_summary_in as final_summary, pdus_sent, summary_in as poi_summary, wait_exit_of as wait_exit};

/// The ADMF's side of the tests, on the single box's set-up.
pub trait Tasking {
    fn task(&self, x1_addr: SocketAddr, mf: SocketAddr, tasks: &[TaskDetails]);
    fn same_as_replay(self, agencies: &[&str]);
}

impl Tasking for SingleBox {
    fn task(&self, x1_addr: SocketAddr, mf: SocketAddr, tasks: &[TaskDetails]) {
        self.rt.block_on(async {
            let dest = DestinationDetails {
                did: DID,
                friendly_name: None,
                delivery_type: DeliveryType::X2AndX3,
                address: DeliveryAddress::IpAndPort { address: mf.ip(), port: Port::Tcp(mf.port()) },
            };
            ok(x1(x1_addr, &self.pki, 1, Request::CreateDestination(dest)).await);
            for (i, t) in tasks.iter().enumerate() {
                ok(x1(x1_addr, &self.pki, 2 + i as u8, Request::ActivateTask(t.clone())).await);
            }
        });
    }

    /// Stops the LEMFs; per agency, the LEMF's records must be the single box's.
    fn same_as_replay(self, agencies: &[&str]) {
        for l in self.lemfs {
            self.rt.block_on(l.stop()).expect("LEMF stops");
        }
        for agency in agencies {
            let got = decoded_records(&self.lemf_out.join(agency));
            let want = decoded_records(&self.replay_out.join(agency));
            assert!(!want.is_empty(), "{agency}: the replay delivers records");
            eprintln!("{agency}: {} records, as the single box", got.len());
            assert_eq!(got.len(), want.len(), "{agency}: as many records as the single box");
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{agency}: record {i} differs from the single box");
            }
        }
    }
}

