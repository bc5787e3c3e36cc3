//! X2/X3 throughput from a POI to the mediation function over mutual TLS 1.3 on loopback:
//! X3 PDUs (RTP, 160-octet G.711 payload) appended to a POI destination spool, sent by the
//! spooled sender (`x2x3::sender::run_spooled`, keepalive-confirmed) to the X2/X3 listener
//! of `tapline run` (framing, dedupe, ingest into frames), whose frames are drained. Prints
//! PDUs/s and Gbit/s of PDU bytes, appended-to-confirmed, with the spool's fdatasync off
//! and on, and the process CPU seconds (figures on a shared machine are noisy: CPU seconds
//! and best of 3 are the steadier measure).
//!
//! `cargo bench --bench x2x3`. `TAPLINE_BENCH_PDUS` (default 200000).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tapline::delivery::pki::{create_dev_pki, loopback_hosts};
use tapline::delivery::spool::{Framing, Spool, SpoolOptions};
use tapline::x2x3::sender::{run_spooled, SenderConfig, SenderStats, SpooledQueue};
use tapline::x2x3::{Direction, LinkConfig, Listener, ListenerConfig, PayloadFormat, PduRepr, PduType, Xid};
use tapline::Timestamp;

fn pdus(n: usize) -> (Vec<Vec<u8>>, u64) {
    let mut rtp = vec![0x80u8, 0x00, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
    rtp.resize(12 + 160, 0xd5);
    let mut total = 0;
    let out = (0..n)
        .map(|i| {
            let mut p = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, Xid([7; 16]), &rtp);
            p.correlation_id = 1;
            p.sequence = Some(i as u32);
            p.timestamp = Some(Timestamp::from_nanos(1_790_000_000_000_000_000 + i as u64 * 20_000_000));
            p.src_addr = Some("198.51.100.7".parse().expect("ip"));
            p.dst_addr = Some("192.0.2.10".parse().expect("ip"));
            p.src_port = Some(40_000);
            p.dst_port = Some(20_000);
            p.ip_protocol = Some(17);
            let v = p.to_vec();
            total += v.len() as u64;
            v
        })
        .collect();
    (out, total)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn measure(root: &std::path::Path, fsync: bool, pdus: &[Vec<u8>], bytes: u64) -> (f64, f64, f64) {
    let pki = create_dev_pki(&root.join("pki"), &["mf".to_string()], &loopback_hosts()).expect("pki");
    let mf = pki.server("mf").expect("mf cert");
    let config = ListenerConfig::new(vec!["127.0.0.1:0".parse().expect("addr")], mf.cert.clone(), mf.key.clone(), pki.ca.clone());
    let (listener, frames) = Listener::start(&config).expect("listener");
    let addr: SocketAddr = listener.local_addrs()[0];
    frames.xids.hold_tasks([(Xid([7; 16]), Timestamp::from_nanos(0), Timestamp::from_nanos(u64::MAX))]);
    // Taken and confirmed at once: this measures the link, not the spools behind it.
    let drain = std::thread::spawn(move || frames.take_all().len());
    let dir = root.join(if fsync { "spool-fsync" } else { "spool" });
    let _ = std::fs::remove_dir_all(&dir);
    let options = SpoolOptions { framing: Framing::X2x3, fsync, ..SpoolOptions::default() };
    let queue = Arc::new(SpooledQueue::new(Spool::open_with(&dir, options).expect("spool")));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let sender = SenderConfig {
        addr,
        server_name: rustls::pki_types::ServerName::try_from("localhost").expect("name"),
        tls: tapline::delivery::tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).expect("tls"),
        link: LinkConfig::default(),
        reconnect_after: Duration::from_millis(100),
    };
    let stats = Arc::new(SenderStats::default());
    let (_addr_tx, addr_rx) = tokio::sync::watch::channel(addr);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    rt.spawn(run_spooled(sender, addr_rx, queue.clone(), stats.clone(), stop_rx));
    for p in pdus {
        queue.spool().append(p).expect("append");
        queue.wake();
    }
    while stats.pdus_confirmed.load(Ordering::Relaxed) < pdus.len() as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let _ = stop_tx.send(true);
    let counters = listener.stop();
    assert_eq!(counters.frames, pdus.len() as u64, "{counters:?}");
    assert_eq!(drain.join().expect("drain"), pdus.len());
    rt.shutdown_timeout(Duration::from_secs(1));
    (pdus.len() as f64 / secs, bytes as f64 * 8.0 / secs / 1e9, cpu)
}

fn main() {
    let n = std::env::var("TAPLINE_BENCH_PDUS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let (pdus, bytes) = pdus(n);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-x2x3");
    let _ = std::fs::remove_dir_all(&root);
    for fsync in [false, true] {
        let mut best = (0.0, 0.0, f64::MAX);
        for _ in 0..3 {
            let r = measure(&root, fsync, &pdus, bytes);
            if r.0 > best.0 {
                best = r;
            }
        }
        println!(
            "x2x3 POI->MF mTLS, fsync {}: {n} X3 PDUs of {} octets: {:.0} PDUs/s, {:.3} Gbit/s, {:.2} CPU s (best of 3)",
            if fsync { "on " } else { "off" },
            bytes / n as u64,
            best.0,
            best.1,
            best.2
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
