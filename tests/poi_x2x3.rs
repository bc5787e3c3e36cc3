//! `tapline poi` end to end over real mutual-TLS sockets on loopback: this test acts as the
//! ADMF and tasks the POI over X1 (one task per bundled warrant: X2Only for the pen
//! register, X2andX3 for the Title III); the POI replays a capture and delivers X2/X3 to
//! `tapline run`'s X2/X3 listener, whose agencies' reference LEMFs must get exactly what a
//! single-box `tapline replay` of the same capture gives. Also: with only the IRI-only task
//! the POI sends no X3 at all; a POI SIGKILLed with everything spooled and nothing
//! delivered, then restarted, delivers it all, once.

mod common;
mod delivery_support;
mod poi_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use common::poi::{pdus_sent, Poi};
use delivery_support::*;
use poi_support::*;
use rustls::pki_types::ServerName;
use tapline::delivery::pki::DevPki;
use tapline::run::{run, Source};
use tapline::x1::*;
use tapline::x2x3::{IngestCounters, Listener, ListenerConfig, Xid};
use tapline::Timestamp;
use tokio::io::AsyncWriteExt;

/// `tapline poi` (neIdentifier `poi-1`, keepalives every second) replaying `pcap` once it
/// holds `wait_tasks` tasks.
fn start_poi(dir: &Path, pki: &DevPki, spool: &Path, pcap: Option<&Path>, wait_tasks: usize) -> Poi {
    let mut extra: Vec<std::ffi::OsString> = vec!["--keepalive-secs".into(), "1".into(), "--wait-tasks".into(), wait_tasks.to_string().into()];
    if let Some(p) = pcap {
        extra.extend(["--pcap".into(), p.as_os_str().to_owned()]);
    }
    common::poi::start(dir, pki, "poi-1", "127.0.0.1:0".parse().expect("addr"), spool, &extra)
}

/// The mediation function: X2/X3 listener into `tapline run` with the bundled warrants.
struct Mf {
    listener: Listener,
    runner: std::thread::JoinHandle<Result<tapline::run::RunSummary, tapline::run::RunError>>,
}

fn start_mf(dir: &Path, pki: &DevPki, warrants: &Path, at: SocketAddr) -> Mf {
    let mf = pki.server("mf").expect("mf cert");
    let config = ListenerConfig::new(vec![at], mf.cert.clone(), mf.key.clone(), pki.ca.clone());
    let (listener, frames) = Listener::start(&config).expect("X2/X3 listener");
    let mut options = run_options(warrants, &dir.join("mf-spool"), pki, PathBuf::new(), None);
    options.source = Source::Channel(frames);
    let runner = std::thread::spawn(move || run(&options, Arc::new(AtomicBool::new(false))));
    Mf { listener, runner }
}

impl Mf {
    /// Waits for `frames` frames, then ends the run (its spools delivered).
    fn finish(self, frames: u64) -> IngestCounters {
        assert!(
            wait_until(Duration::from_secs(30), || self.listener.counters().frames >= frames),
            "every PDU ingested: {:?}",
            self.listener.counters()
        );
        let counters = self.listener.stop();
        let summary = self.runner.join().expect("run thread").expect("run");
        assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
        counters
    }
}

#[test]
fn a_tasked_poi_gives_the_agencies_what_a_single_box_gives() {
    let w = single_box(11, &["mf", "poi"]);
    let mf = start_mf(w.dir.path(), &w.pki, &w.warrants, "127.0.0.1:0".parse().expect("addr"));
    let mf_addr = mf.listener.local_addrs()[0];
    let tasks = tasks(&w.warrants, |_| true);
    assert_eq!(tasks.len(), 2);
    let mut poi = start_poi(w.dir.path(), &w.pki, &w.dir.path().join("poi-spool"), Some(&w.pcap), tasks.len());
    w.task(poi.x1, mf_addr, &tasks);
    poi.wait_exit();
    let summary = poi.final_summary();
    let (x2, x3) = pdus_sent(&summary);
    assert!(x2 > 0 && x3 > 0, "{summary}");
    assert_eq!(summary["unconfirmed"], 0);
    let counters = mf.finish(x2 + x3);
    assert_eq!((counters.x2_pdus, counters.x3_pdus), (x2, x3), "{counters:?}");
    assert_eq!(counters.malformed_pdus + counters.not_ingested + counters.refused_streams + counters.resends_dropped, 0, "{counters:?}");
    w.same_as_replay(&AGENCIES);
}

#[test]
fn with_only_iri_only_tasks_the_poi_sends_no_content() {
    let w = single_box(11, &["mf", "poi"]);
    let mf = start_mf(w.dir.path(), &w.pki, &w.warrants, "127.0.0.1:0".parse().expect("addr"));
    let mf_addr = mf.listener.local_addrs()[0];
    let tasks = tasks(&w.warrants, |k| !k.entitlement().content);
    assert!(!tasks.is_empty() && tasks.iter().all(|t| t.delivery_type == DeliveryType::X2Only));
    let mut poi = start_poi(w.dir.path(), &w.pki, &w.dir.path().join("poi-spool"), Some(&w.pcap), tasks.len());
    w.task(poi.x1, mf_addr, &tasks);
    poi.wait_exit();
    let summary = poi.final_summary();
    let (x2, x3) = pdus_sent(&summary);
    assert!(x2 > 0, "{summary}");
    assert_eq!((x3, summary["pdus"]["x3_bytes"].as_u64()), (0, Some(0)), "no X3 byte: {summary}");
    let counters = mf.finish(x2);
    assert_eq!(counters.x3_pdus, 0, "the MF received no X3: {counters:?}");
    // The IRI-only agency gets exactly its single-box records.
    let iri_only: Vec<&str> = vec!["fbi-denver"];
    w.same_as_replay(&iri_only);
}

#[test]
fn a_poi_killed_with_everything_spooled_delivers_it_all_after_a_restart() {
    let w = single_box(11, &["mf", "poi"]);
    let spool = w.dir.path().join("poi-spool");
    // The MF's address is known but nobody listens there yet: nothing can be confirmed.
    let mf_addr = reserved_port();
    let tasks = tasks(&w.warrants, |_| true);
    let poi = start_poi(w.dir.path(), &w.pki, &spool, Some(&w.pcap), tasks.len());
    w.task(poi.x1, mf_addr, &tasks);
    assert!(
        wait_until(Duration::from_secs(60), || poi.summary("poi: capture done ").is_some()),
        "the capture is processed: {}",
        poi.log_text()
    );
    let (x2, x3) = pdus_sent(&poi.summary("poi: capture done ").expect("summary"));
    assert!(x2 > 0 && x3 > 0);
    drop(poi); // SIGKILL

    let mf = start_mf(w.dir.path(), &w.pki, &w.warrants, mf_addr);
    // Restarted with no capture and no tasks: it delivers its spool where it was addressed.
    let mut poi = start_poi(w.dir.path(), &w.pki, &spool, None, 0);
    let counters = {
        assert!(
            wait_until(Duration::from_secs(30), || mf.listener.counters().frames >= x2 + x3),
            "every spooled PDU arrives: {:?}\n{}",
            mf.listener.counters(),
            poi.log_text()
        );
        // Until the POI has had its confirmation, then stop it.
        assert!(
            wait_until(Duration::from_secs(30), || spool_confirmed(&spool)),
            "the spool is confirmed: {}",
            poi.log_text()
        );
        poi.proc.terminate();
        poi.wait_exit();
        mf.finish(x2 + x3)
    };
    assert_eq!((counters.x2_pdus, counters.x3_pdus), (x2, x3), "each PDU once: {counters:?}");
    w.same_as_replay(&AGENCIES);
}

/// Every destination spool's confirmed position is at its end (segments wholly confirmed
/// are deleted; the tail's length equals the confirmed offset).
fn spool_confirmed(spool: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(spool) else { return false };
    entries.flatten().all(|e| {
        let dir = e.path();
        let confirmed = std::fs::read_to_string(dir.join("confirmed")).unwrap_or_default();
        let mut parts = confirmed.split_whitespace().map(|p| p.parse::<u64>().unwrap_or(u64::MAX));
        let (Some(seg), Some(off)) = (parts.next(), parts.next()) else { return false };
        let tail = dir.join(format!("seg-{seg:016}.ber"));
        std::fs::metadata(&tail).map(|m| m.len() == off && off > 0).unwrap_or(false)
    })
}

/// What a POI resends after a dropped connection (PDUs written but never confirmed) reaches
/// the mediation function's pipeline once: the listener drops the PDUs it already took.
#[test]
fn resends_after_a_reconnect_are_ingested_once() {
    use tapline::x2x3::{Direction, PayloadFormat, PduRepr, PduType};
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(&dir.path().join("pki"), &["mf"]);
    let mf = pki.server("mf").expect("mf cert");
    let config = ListenerConfig::new(vec!["127.0.0.1:0".parse().expect("addr")], mf.cert.clone(), mf.key.clone(), pki.ca.clone());
    let (listener, feed) = Listener::start(&config).expect("X2/X3 listener");
    feed.xids.hold_tasks([(Xid([7; 16]), Timestamp::from_nanos(0), Timestamp::from_nanos(u64::MAX))]);
    let consumer = std::thread::spawn(move || feed.take_all());
    let addr = listener.local_addrs()[0];
    let rtp = [0x80u8, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xd5, 0xd5];
    let pdu = |i: u32| {
        let mut p = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, Xid([7; 16]), &rtp);
        p.sequence = Some(i);
        p.timestamp = Some(Timestamp::from_nanos(1_790_000_000_000_000_000 + u64::from(i) * 20_000_000));
        p.src_addr = Some("198.51.100.7".parse().expect("ip"));
        p.dst_addr = Some("192.0.2.10".parse().expect("ip"));
        p.src_port = Some(40_000);
        p.dst_port = Some(20_000);
        p.to_vec()
    };
    let client = tapline::delivery::tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).expect("client TLS");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for (range, want) in [(0..10u32, 10), (5..15, 15)] {
        rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let mut s = tokio_rustls::TlsConnector::from(client.clone())
                .connect(ServerName::try_from("localhost").expect("name"), tcp)
                .await
                .expect("TLS");
            for i in range {
                s.write_all(&pdu(i)).await.expect("write");
            }
            s.flush().await.expect("flush");
            s.shutdown().await.expect("close");
        });
        assert!(wait_until(Duration::from_secs(10), || listener.counters().x3_pdus >= want), "{:?}", listener.counters());
    }
    let counters = listener.stop();
    let got = consumer.join().expect("consumer");
    assert_eq!(got.len(), 15, "PDUs 0..15 once each: {counters:?}");
    assert_eq!(counters.resends_dropped, 5, "{counters:?}");
}

/// The PDUs the POI writes for a capture, on a TCP connection in a pcap, read by tshark's
/// `5gli` dissector (`li5g` in newer Wireshark): every one decodes, X2 with format 9 and the
/// SIP inside handed to tshark's SIP dissector, X3 with format 8 and RTP inside, under the
/// task's XID.
#[test]
fn tshark_decodes_the_pdus_the_poi_writes() {
    use tapline::gen::{frame, Endpoint, FrameBuilder, PcapWriter, Resolution};
    use tapline::wire::{Decoded, Decoder};
    if !common::tshark::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("calls.pcap");
    target_calls_capture(&pcap, 11);
    let xid: Xid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8".parse().expect("xid");
    let mut poi = tapline::poi::Poi::new(Default::default(), Default::default());
    poi.apply(Change::DestinationCreated(DestinationDetails {
        did: DID,
        friendly_name: None,
        delivery_type: DeliveryType::X2AndX3,
        address: DeliveryAddress::IpAndPort { address: "127.0.0.2".parse().expect("ip"), port: Port::Tcp(24_102) },
    }));
    poi.apply(Change::TaskActivated(TaskDetails {
        xid,
        targets: vec![TargetIdentifier::E164Number("13035550142".into())],
        delivery_type: DeliveryType::X2AndX3,
        destinations: vec![DID],
        correlation_id: None,
        implicit_deactivation_allowed: None,
    }));
    let mut pdus: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    let mut reader = tapline::capture::FileReader::open(&pcap).expect("open");
    let mut decoder = Decoder::new();
    while let Some(f) = reader.next_frame().expect("frame") {
        if let Decoded::Datagram(dg) = decoder.decode(&f) {
            poi.handle(&dg, &mut |_, _, bytes| pdus.push((dg.ts, bytes.to_vec())));
        }
    }
    let stats = poi.stats();
    assert!(stats.x2_pdus > 0 && stats.x3_pdus > 0, "{stats:?}");

    let out = dir.path().join("x2x3.pcap");
    let port = 24_102;
    let (from, to) = (Endpoint::new("127.0.0.1".parse().expect("ip"), 41_000), Endpoint::new("127.0.0.2".parse().expect("ip"), port));
    let mut w = PcapWriter::new(std::fs::File::create(&out).expect("create"), Resolution::Micro).expect("pcap");
    let mut fb = FrameBuilder::new(1);
    let mut f = Vec::new();
    let t0 = pdus[0].0;
    let (mut seq, ack) = (1000u32, 5001u32);
    fb.tcp_frame(&mut f, from, to, None, seq, 0, frame::SYN, &[]);
    w.write_frame(t0, &f).expect("write");
    f.clear();
    fb.tcp_frame(&mut f, to, from, None, ack - 1, seq + 1, frame::SYN | frame::ACK, &[]);
    w.write_frame(t0, &f).expect("write");
    seq += 1;
    for (ts, bytes) in &pdus {
        f.clear();
        fb.tcp_frame(&mut f, from, to, None, seq, ack, frame::PSH | frame::ACK, bytes);
        w.write_frame(*ts, &f).expect("write");
        seq = seq.wrapping_add(bytes.len() as u32);
    }
    drop(w);
    let fields = ["frame.protocols", "li5g.type", "li5g.pf", "li5g.xid"];
    let run = |proto: &str| {
        let mut c = Command::new("tshark");
        c.arg("-r").arg(&out).args(["-d", &format!("tcp.port=={port},{proto}"), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]);
        for f in fields {
            c.args(["-e", f]);
        }
        c.output().expect("tshark runs")
    };
    let mut res = run("5gli");
    if !res.status.success() {
        res = run("li5g");
    }
    assert!(res.status.success(), "tshark failed: {}", String::from_utf8_lossy(&res.stderr));
    let text = String::from_utf8_lossy(&res.stdout);
    let rows: Vec<Vec<&str>> = text.lines().filter(|l| l.contains("5gli") || l.contains("li5g")).map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), pdus.len(), "every PDU dissected:\n{text}");
    let (mut x2, mut x3) = (0, 0);
    for r in &rows {
        assert_eq!(r[3], "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "{r:?}");
        match (r[1], r[2]) {
            ("1", "9") => {
                assert!(r[0].contains(":sip"), "SIP inside X2: {r:?}");
                x2 += 1;
            }
            ("2", "8") => {
                assert!(r[0].contains(":rtp") || r[0].contains(":rtcp"), "RTP/RTCP inside X3: {r:?}");
                x3 += 1;
            }
            other => panic!("unexpected type/format {other:?}: {r:?}"),
        }
    }
    assert_eq!((x2, x3), (stats.x2_pdus, stats.x3_pdus));
}
