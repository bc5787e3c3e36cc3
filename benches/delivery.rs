//! Delivery benchmark: records appended to interface spools are delivered over loopback
//! mutual TLS to reference LEMFs (`tapline::lemf`, which decodes and stores every record)
//! and confirmed by keep-alives. Prints, each with the process's CPU seconds (the figure
//! that does not depend on what else runs on the machine):
//! - records/s confirmed to two LEMFs (two agencies, one spool and sender each), with the
//!   durable spool (fdatasync before sending, group commit) and without it;
//! - Gbit/s of one hot LIID (CC records of an RTP-sized 1,200-octet packet), durable;
//! - with one hot LIID and ten light ones on one interface (its lanes, `delivery::lanes`),
//!   the light records' p50, p99 and max spool→confirmed latency, with the hot LIID at full
//!   speed and at half of it (`TAPLINE_BENCH_LANES`, default the sender's, 1 = one FIFO spool).
//!
//! `cargo bench --bench delivery`. `TAPLINE_BENCH_RECORDS` (default 200000) small records
//! of about 270 octets; the spools live under `target/` (the build's file system).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tapline::delivery::pki::{create_dev_pki, loopback_hosts, DevPki};
use tapline::delivery::{run_sender, KeepaliveIdentity, Lanes, Phase, Queue, Sender, SenderConfig, SpoolOptions};
use tapline::handover::sequencer::Channel;
use tapline::handover::{encode_cc, encode_iri, Direction, IriContent, IriType, PduHeader};
use tapline::lemf::{Lemf, LemfConfig};
use tapline::warrant::Endpoint;
use tapline::Timestamp;

fn header(liid: &str, i: usize) -> PduHeader<'_> {
    PduHeader {
        liid,
        authorization_country: "US",
        operator_id: "EXAMPLE-TEL",
        network_element_id: "MED-01",
        cin: 1 + (i / 1000) as u32,
        delivery_country: "US",
        sequence: (i % 1000) as u32,
        ts: Timestamp::from_secs_micros(1_790_000_000 + i as u64 / 1000, (i % 1000) as u32),
    }
}

/// `n` IRI records of `liid` carrying a short SIP message (about 270 octets each).
fn iri_records(liid: &str, n: usize) -> Vec<Vec<u8>> {
    let sip = b"BYE sip:bob@example.com SIP/2.0\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: bench\r\nCSeq: 2 BYE\r\n\r\n";
    let (src, dst) = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    (0..n)
        .map(|i| {
            let mut out = Vec::new();
            encode_iri(&mut out, &header(liid, i), IriType::Continue, &IriContent::SipMessage { src, dst, sip });
            out
        })
        .collect()
}

/// `n` CC records of `liid`, each one 1,200-octet RTP packet.
fn cc_records(liid: &str, n: usize) -> Vec<Vec<u8>> {
    let rtp = vec![0x80u8; 1200];
    (0..n)
        .map(|i| {
            let mut out = Vec::new();
            encode_cc(&mut out, &header(liid, i), Direction::FromTarget, &rtp);
            out
        })
        .collect()
}

/// User + system CPU seconds of this process so far (all threads: producer, senders, LEMFs).
fn cpu_seconds() -> f64 {
    cpu_seconds_of("/proc/self/stat")
}

/// User + system CPU seconds of the calling thread so far.
fn thread_cpu_seconds() -> f64 {
    cpu_seconds_of("/proc/thread-self/stat")
}

fn cpu_seconds_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // In USER_HZ clock ticks, 100 a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// One LEMF and one sender delivering one spool to it, on `rt`.
struct Link {
    lemf: Lemf,
    queue: Arc<Queue>,
    phase: tokio::sync::watch::Sender<Phase>,
    task: tokio::task::JoinHandle<()>,
}

fn start_lemf(rt: &tokio::runtime::Runtime, dir: &Path, pki: &DevPki, agency: &str) -> Lemf {
    let server = pki.server(agency).expect("server cert");
    let config = LemfConfig {
        listen: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)],
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: pki.ca.clone(),
        out: dir.join(format!("lemf-{agency}")),
        warrants: None,
    };
    rt.block_on(Lemf::start(&config)).expect("LEMF")
}

/// A sender delivering `queue` to the LEMF at `addr`.
fn sender_to(queue: Arc<Queue>, addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> Sender {
    Sender {
        queue,
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
    }
}

fn client_tls(pki: &DevPki) -> Arc<rustls::ClientConfig> {
    tapline::delivery::tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).expect("TLS")
}

fn start_link(rt: &tokio::runtime::Runtime, dir: &Path, pki: &DevPki, agency: &str, fsync: bool) -> Link {
    let lemf = start_lemf(rt, dir, pki, agency);
    let addr = lemf.local_addrs()[0];
    let options = SpoolOptions { fsync, ..SpoolOptions::default() };
    let queue = Arc::new(Queue::open_with(agency, Channel::Hi2, &dir.join(format!("spool-{agency}")), options).expect("spool"));
    let sender = sender_to(queue.clone(), addr, client_tls(pki));
    let (phase, phase_rx) = tokio::sync::watch::channel(Phase::Running);
    let task = rt.spawn(run_sender(sender, phase_rx));
    Link { lemf, queue, phase, task }
}

impl Link {
    fn confirmed(&self) -> u64 {
        self.queue.metrics.confirmed_records.load(Ordering::Relaxed)
    }

    /// Stops the sender and the LEMF; the LEMF's count of distinct records.
    fn stop(self, rt: &tokio::runtime::Runtime) -> u64 {
        let _ = self.phase.send(Phase::Stop);
        let _ = rt.block_on(self.task);
        rt.block_on(self.lemf.stop()).expect("LEMF stop").records
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn wait_confirmed(links: &[&Link], n: u64, started: Instant) {
    while links.iter().map(|l| l.confirmed()).sum::<u64>() < n {
        assert!(started.elapsed() < Duration::from_secs(600), "delivery stalled");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What one measurement took: wall seconds, CPU seconds, of which the producer's appends.
struct Took {
    wall: f64,
    cpu: f64,
    append_cpu: f64,
}

/// Records appended alternately to the spools of two agencies, each delivered to its own LEMF.
fn two_lemfs(root: &Path, fsync: bool, pdus: &[Vec<u8>]) -> Took {
    let dir = tempfile::tempdir_in(root).expect("bench dir");
    let agencies = ["bench-a".to_owned(), "bench-b".to_owned()];
    let pki = create_dev_pki(&dir.path().join("pki"), &agencies, &loopback_hosts()).expect("dev PKI");
    let rt = runtime();
    let links: Vec<Link> = agencies.iter().map(|a| start_link(&rt, dir.path(), &pki, a, fsync)).collect();
    let (cpu0, thread0, started) = (cpu_seconds(), thread_cpu_seconds(), Instant::now());
    for (i, p) in pdus.iter().enumerate() {
        links[i % 2].queue.append(p).expect("append");
    }
    let append_cpu = thread_cpu_seconds() - thread0;
    wait_confirmed(&links.iter().collect::<Vec<_>>(), pdus.len() as u64, started);
    let took = Took { wall: started.elapsed().as_secs_f64(), cpu: cpu_seconds() - cpu0, append_cpu };
    let stored: u64 = links.into_iter().map(|l| l.stop(&rt)).sum();
    assert_eq!(stored, pdus.len() as u64, "every record stored once by the LEMFs");
    took
}

/// One hot LIID's large records through one durable spool to one LEMF: bytes delivered.
fn hot_liid(root: &Path, pdus: &[Vec<u8>]) -> Took {
    let dir = tempfile::tempdir_in(root).expect("bench dir");
    let pki = create_dev_pki(&dir.path().join("pki"), &["bench".to_owned()], &loopback_hosts()).expect("dev PKI");
    let rt = runtime();
    let link = start_link(&rt, dir.path(), &pki, "bench", true);
    let (cpu0, thread0, started) = (cpu_seconds(), thread_cpu_seconds(), Instant::now());
    for p in pdus {
        link.queue.append(p).expect("append");
    }
    let append_cpu = thread_cpu_seconds() - thread0;
    wait_confirmed(&[&link], pdus.len() as u64, started);
    let took = Took { wall: started.elapsed().as_secs_f64(), cpu: cpu_seconds() - cpu0, append_cpu };
    assert_eq!(link.stop(&rt), pdus.len() as u64);
    took
}

/// Spool→confirmed latencies (ms) of the light records, sorted, and the records/s delivered
/// (all records over the time until the last was confirmed), with the hot LIID appended at
/// `hot_per_sec` (None: as fast as the producer can) and each light LIID one record every
/// 10 ms, all into one interface's lanes (`lanes` of them, each its own durable spool and
/// sender; 1 is the FIFO spool of before). A watcher polls the lanes' confirmed ordinals
/// every 200 µs (so latencies are high by at most that much).
fn fairness(root: &Path, hot: &[Vec<u8>], light: &[Vec<Vec<u8>>], hot_per_sec: Option<f64>, lanes: usize) -> (Vec<f64>, f64) {
    let dir = tempfile::tempdir_in(root).expect("bench dir");
    let pki = create_dev_pki(&dir.path().join("pki"), &["bench".to_owned()], &loopback_hosts()).expect("dev PKI");
    let rt = runtime();
    let lemf = start_lemf(&rt, dir.path(), &pki, "bench");
    let addr = lemf.local_addrs()[0];
    let (phase, phase_rx) = tokio::sync::watch::channel(Phase::Running);
    let tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let start: tapline::delivery::lanes::StartSender = {
        let (handle, tasks, tls) = (rt.handle().clone(), tasks.clone(), client_tls(&pki));
        Box::new(move |queue| {
            let task = handle.spawn(run_sender(sender_to(queue, addr, tls.clone()), phase_rx.clone()));
            tasks.lock().expect("tasks").push(task);
        })
    };
    let options = SpoolOptions { fsync: true, ..SpoolOptions::default() };
    let lanes = Arc::new(Lanes::open("bench", Channel::Hi2, &dir.path().join("spool"), options, lanes, start).expect("lanes"));
    let confirmed = |lanes: &Lanes| lanes.queues().iter().map(|q| q.metrics.confirmed_records.load(Ordering::Relaxed)).sum::<u64>();
    // Light records not yet confirmed: lane, ordinal, when spooled.
    let pending: Arc<std::sync::Mutex<VecDeque<(usize, u64, Instant)>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (lanes, pending, done) = (lanes.clone(), pending.clone(), done.clone());
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            loop {
                let now = Instant::now();
                {
                    let mut p = pending.lock().expect("pending");
                    p.retain(|&(lane, ordinal, at)| {
                        let delivered = lanes.confirmed_ordinal(lane) >= ordinal;
                        if delivered {
                            latencies.push(now.duration_since(at).as_secs_f64() * 1000.0);
                        }
                        !delivered
                    });
                    if done.load(Ordering::Relaxed) && p.is_empty() {
                        return latencies;
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let started = Instant::now();
    let light_every = Duration::from_millis(10);
    let (mut next_light, mut round) = (started, 0usize);
    let rounds = light.first().map_or(0, Vec::len);
    let mut next_hot = 0usize;
    while round < rounds || next_hot < hot.len() {
        let now = Instant::now();
        if round < rounds && now >= next_light {
            for l in light {
                let at = Instant::now();
                let (lane, ordinal) = lanes.append(&l[round]).expect("append");
                pending.lock().expect("pending").push_back((lane, ordinal, at));
            }
            round += 1;
            next_light += light_every;
        }
        let due = match hot_per_sec {
            Some(rate) => ((now.duration_since(started).as_secs_f64() * rate) as usize).min(hot.len()),
            None => hot.len(),
        };
        let upto = due.min(next_hot + 256).max(next_hot);
        for p in &hot[next_hot..upto] {
            lanes.append(p).expect("append");
        }
        next_hot = upto;
        if upto == due {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    done.store(true, Ordering::Relaxed);
    let mut latencies = watcher.join().expect("watcher");
    let total = (hot.len() + light.iter().map(Vec::len).sum::<usize>()) as u64;
    while confirmed(&lanes) < total {
        assert!(started.elapsed() < Duration::from_secs(600), "delivery stalled");
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = phase.send(Phase::Stop);
    for task in std::mem::take(&mut *tasks.lock().expect("tasks")) {
        let _ = rt.block_on(task);
    }
    let stored = rt.block_on(lemf.stop()).expect("LEMF stop").records;
    assert_eq!(stored, total, "every record stored once by the LEMF");
    latencies.sort_by(f64::total_cmp);
    (latencies, total as f64 / secs)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let n = std::env::var("TAPLINE_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000usize);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let pdus = iri_records("BENCH-1", n);
    let avg = pdus.iter().map(Vec::len).sum::<usize>() / n.max(1);
    println!("delivery: loopback mutual TLS to reference LEMFs, spools under {}", root.display());
    println!("two LEMFs, {n} records of {avg} octets (best of 2):");
    for fsync in [true, false] {
        let best = (0..2).map(|_| two_lemfs(&root, fsync, &pdus)).min_by(|a, b| a.wall.total_cmp(&b.wall));
        if let Some(t) = best {
            println!(
                "  {:<34} {:>9.0} records/s  {:>9.0} records per CPU-second ({:.2} CPU-s, of which spool appends {:.2})",
                if fsync { "durable (fdatasync, group commit)" } else { "not durable (no fsync)" },
                n as f64 / t.wall,
                n as f64 / t.cpu.max(1e-9),
                t.cpu,
                t.append_cpu
            );
        }
    }
    let hot = cc_records("HOT-1", n / 2);
    let bytes: usize = hot.iter().map(Vec::len).sum();
    let best = (0..2).map(|_| hot_liid(&root, &hot)).min_by(|a, b| a.wall.total_cmp(&b.wall));
    if let Some(t) = best {
        println!(
            "one hot LIID, {} CC records of {} octets, durable: {:.2} Gbit/s  ({:.2} Gbit per CPU-second, {:.2} CPU-s, of which spool appends {:.2})",
            hot.len(),
            bytes / hot.len().max(1),
            bytes as f64 * 8.0 / t.wall / 1e9,
            bytes as f64 * 8.0 / t.cpu.max(1e-9) / 1e9,
            t.cpu,
            t.append_cpu
        );
    }
    let light: Vec<Vec<Vec<u8>>> = (1..=10).map(|k| iri_records(&format!("LIGHT-{k}"), 200)).collect();
    let hot = iri_records("HOT-1", n);
    let lanes = std::env::var("TAPLINE_BENCH_LANES").ok().and_then(|v| v.parse().ok()).unwrap_or(SenderConfig::default().lanes);
    let (lat, full) = fairness(&root, &hot, &light, None, lanes);
    print_fairness("at full speed", lanes, &lat, full);
    let (lat, delivered) = fairness(&root, &hot, &light, Some(full / 2.0), lanes);
    print_fairness(&format!("at {:.0} records/s (half of full speed)", full / 2.0), lanes, &lat, delivered);
}

fn print_fairness(label: &str, lanes: usize, lat: &[f64], delivered: f64) {
    println!(
        "1 hot LIID {label} + 10 light LIIDs (100 records/s each), one interface of {lanes} durable lanes, {delivered:.0} records/s delivered:\n  light records' spool→confirmed latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} records)",
        quantile(lat, 0.5),
        quantile(lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len()
    );
}
