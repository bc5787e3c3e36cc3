//! Delivery benchmark: records appended to one interface's spool are delivered over loopback
//! mutual TLS to a reference LEMF (`tapline::lemf`) and confirmed by keep-alives; prints
//! records/s spooled-to-confirmed with the durable spool (fdatasync before sending, group
//! commit) and without it, and how many records each sync covered.
//!
//! `cargo bench --bench delivery`. `TAPLINE_BENCH_RECORDS` (default 200000) records of
//! about 250 octets; the spool lives under `target/` (the build's file system).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tapline::delivery::pki::{create_dev_pki, loopback_hosts};
use tapline::delivery::{run_sender, KeepaliveIdentity, Phase, Queue, Sender, SenderConfig, SpoolOptions};
use tapline::handover::sequencer::Channel;
use tapline::handover::{encode_iri, IriContent, IriType, PduHeader};
use tapline::lemf::{Lemf, LemfConfig};
use tapline::warrant::Endpoint;
use tapline::Timestamp;

fn records(n: usize) -> Vec<Vec<u8>> {
    let sip = b"BYE sip:bob@example.com SIP/2.0\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: bench\r\nCSeq: 2 BYE\r\n\r\n";
    let (src, dst) = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    (0..n)
        .map(|i| {
            let h = PduHeader {
                liid: "BENCH-1",
                authorization_country: "US",
                operator_id: "EXAMPLE-TEL",
                network_element_id: "MED-01",
                cin: 1 + (i / 1000) as u32,
                delivery_country: "US",
                sequence: (i % 1000) as u32,
                ts: Timestamp::from_secs_micros(1_790_000_000 + i as u64 / 1000, (i % 1000) as u32),
            };
            let mut out = Vec::new();
            encode_iri(&mut out, &h, IriType::Continue, &IriContent::SipMessage { src, dst, sip });
            out
        })
        .collect()
}

struct Result {
    per_sec: f64,
    syncs: u64,
}

fn measure(root: &Path, fsync: bool, pdus: &[Vec<u8>]) -> Result {
    let dir = tempfile::tempdir_in(root).expect("bench dir");
    let pki = create_dev_pki(&dir.path().join("pki"), &["bench".to_owned()], &loopback_hosts()).expect("dev PKI");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = pki.server("bench").expect("server cert");
    let config = LemfConfig {
        listen: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)],
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: pki.ca.clone(),
        out: dir.path().join("lemf"),
    };
    let lemf: Lemf = rt.block_on(Lemf::start(&config)).expect("LEMF");
    let addr = lemf.local_addrs()[0];
    let options = SpoolOptions { fsync, ..SpoolOptions::default() };
    let queue = Arc::new(Queue::open_with("bench", Channel::Hi2, &dir.path().join("spool"), options).expect("spool"));
    let tls = tapline::delivery::tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).expect("TLS");
    let sender = Sender {
        queue: queue.clone(),
        endpoint: Endpoint { host: addr.ip().to_string(), port: addr.port() },
        tls,
        identity: KeepaliveIdentity {
            liid: "BENCH-1".into(),
            authorization_country: "US".into(),
            operator_id: "EXAMPLE-TEL".into(),
            network_element_id: "MED-01".into(),
            delivery_country: "US".into(),
        },
        config: SenderConfig::default(),
    };
    let (phase, phase_rx) = tokio::sync::watch::channel(Phase::Running);
    let task = rt.spawn(run_sender(sender, phase_rx));
    let started = Instant::now();
    for p in pdus {
        queue.append(p).expect("append");
    }
    let n = pdus.len() as u64;
    while queue.metrics.confirmed_records.load(Ordering::Relaxed) < n {
        assert!(started.elapsed() < Duration::from_secs(600), "delivery stalled");
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    let _ = phase.send(Phase::Stop);
    let _ = rt.block_on(task);
    let _ = rt.block_on(lemf.stop());
    Result { per_sec: n as f64 / elapsed.as_secs_f64(), syncs: queue.metrics.syncs.load(Ordering::Relaxed) }
}

fn main() {
    let n = std::env::var("TAPLINE_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000usize);
    let pdus = records(n);
    let avg = pdus.iter().map(Vec::len).sum::<usize>() / n.max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    println!("delivery: {n} records of {avg} octets, one interface, loopback mutual TLS, spool under {}", root.display());
    for fsync in [false, true, false, true] {
        let r = measure(&root, fsync, &pdus);
        let per_sync = if r.syncs > 0 { format!("{:.0} records per fdatasync ({} syncs)", n as f64 / r.syncs as f64, r.syncs) } else { "no syncs".into() };
        println!(
            "  {:<34} {:>10.0} records/s  {per_sync}",
            if fsync { "durable (fdatasync, group commit)" } else { "not durable (no fsync)" },
            r.per_sec
        );
    }
}
