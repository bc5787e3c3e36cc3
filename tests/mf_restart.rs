//! The mediation function SIGKILLed mid-run and restarted on the same spool, as real
//! processes over real mutual TLS on loopback: `tapline poi` (tasked over X1 by this test,
//! replaying the capture) → `tapline run --x2x3-listen` → the agencies' LEMFs. The MF acks
//! a POI's keepalive only once the records of the PDUs before it are durable in its spool,
//! so a POI deletes nothing the killed MF had not made safe: after the restart the LEMFs
//! hold every record a single-box replay of the capture gives and nothing out of scope.
//! Killed before any of those records was durable, the MF delivers each exactly once;
//! killed while delivering after its POI's last ack, the restarted MF resumes from its
//! last checkpoint (spools cut back, resend filter restored) and delivers each record
//! exactly once.

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

/// The kill comes while the killed MF's agencies are unreachable and its spool limit is
/// 0: what it spooled and committed by a checkpoint waits there (and holds its pipeline),
/// and the POI deletes only PDUs the MF acked, which it does only once their records are
/// committed. The POI resends the rest to the restarted MF, which delivers the HI1
/// notifications and the committed records from its spool (and, its ledger says, does not
/// repeat the notifications), drops the resends its checkpoint covers, and delivers every
/// call once. (Before the checkpoints the spool limit counted records not yet published
/// too and held the pipeline before any was committed; it no longer does, see
/// `spool_commit.rs`, so the POI may have had its PDUs confirmed before the kill.)
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
    // The MF has taken the PDUs; its agencies are unreachable.
    std::thread::sleep(Duration::from_secs(3));
    assert!(log_has(&mf_log, "X2/X3 peer connected"), "{}", read(&mf_log));
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
    assert!(n("x2_pdus") <= x2 && n("x3_pdus") <= x3, "only PDUs the POI sent: {counters}");
    assert_eq!(n("unknown_xid") + n("not_ingested") + n("malformed_pdus"), 0, "{counters}");
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
/// holding some and its POI's keepalive possibly not yet answered. After the restart no
/// record comes twice and nothing the single box does not deliver comes at all; every
/// record is delivered, those of a call spanning the kill too (the MF had taken its first
/// PDUs before its last checkpoint: the checkpoint's pipeline state carries it on).
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
        let mut got = texts_without_cins(&lemf_out.join(agency));
        let want = decoded_records(&replay_out.join(agency));
        assert!(!want.is_empty(), "{agency}: the replay delivers records");
        let (mut delivered_cins, mut lost) = (std::collections::BTreeSet::new(), Vec::new());
        for w in &want {
            let mut key = w.clone();
            key.header.cin = None;
            match got.iter().position(|g| *g == format!("{key:?}")) {
                Some(at) => {
                    got.remove(at);
                    delivered_cins.insert(w.header.cin);
                }
                None => lost.push(w.header.cin),
            }
        }
        assert!(got.is_empty(), "{agency}: {} records delivered twice or out of scope: {:?}", got.len(), got.first());
        let spanning = lost.iter().filter(|cin| cin.is_some() && delivered_cins.contains(cin)).count();
        assert!(lost.is_empty(), "{agency}: {} records lost ({spanning} of calls spanning the kill)", lost.len());
        eprintln!("{agency}: {} records of the single box, each once", want.len());
    }
}

/// A record's text without its CIN (a call ingested twice comes under a new CIN).
fn texts_without_cins(dir: &Path) -> Vec<String> {
    without_cins(dir).iter().map(|r| format!("{r:?}")).collect()
}

/// A TCP relay between the POI and the MF that, while `hold` is set, forwards the POI's
/// bytes but drops the MF's once the POI has sent more than its TLS handshake (8 KiB): the
/// MF's keepalive acks are lost on the way, as they are when an MF dies before its acks
/// leave. `cut` closes every relayed connection (the POI sees its MF gone).
struct AckLoss {
    addr: SocketAddr,
    hold: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

/// Copies `rd` to `wr` until either ends or `cut` changes; each read's bytes are passed
/// on only if `pass(len)` says so.
async fn relay(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut cut: tokio::sync::watch::Receiver<u64>,
    pass: impl Fn(usize) -> bool,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            n = rd.read(&mut buf) => match n {
                Ok(n) if n > 0 => {
                    if pass(n) && wr.write_all(&buf[..n]).await.is_err() { return }
                }
                _ => return,
            },
            _ = cut.changed() => return,
        }
    }
}

fn ack_loss(rt: &tokio::runtime::Runtime, to: SocketAddr) -> AckLoss {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("relay binds");
    let addr = listener.local_addr().expect("relay address");
    let hold = Arc::new(AtomicBool::new(true));
    let (cut, cuts) = tokio::sync::watch::channel(0u64);
    let held = hold.clone();
    rt.spawn(async move {
        while let Ok((poi, _)) = listener.accept().await {
            let Ok(mf) = tokio::net::TcpStream::connect(to).await else { continue };
            let (poi_rd, poi_wr) = poi.into_split();
            let (mf_rd, mf_wr) = mf.into_split();
            let up_bytes = Arc::new(AtomicU64::new(0));
            let (up_seen, hold) = (up_bytes.clone(), held.clone());
            let (mut cut_up, mut cut_down) = (cuts.clone(), cuts.clone());
            // Only a cut after this connection came closes it.
            cut_up.borrow_and_update();
            cut_down.borrow_and_update();
            tokio::spawn(relay(poi_rd, mf_wr, cut_up, move |n| {
                up_seen.fetch_add(n as u64, Ordering::Relaxed);
                true
            }));
            tokio::spawn(relay(mf_rd, poi_wr, cut_down, move |_| {
                !(hold.load(Ordering::Relaxed) && up_bytes.load(Ordering::Relaxed) > 8 << 10)
            }));
        }
    });
    AckLoss { addr, hold, cut }
}

/// The crash the checkpoint exists for: the MF has ingested every PDU of the capture,
/// spooled their records and delivered them (published by its checkpoints), but its acks
/// never reached the POI (lost on the way, see [`AckLoss`]), when it is SIGKILLed. The POI
/// resends everything unconfirmed to the restarted MF, which resumes from its last
/// checkpoint: its resend filter drops the PDUs whose records are before the checkpoint,
/// and its spools are cut back to it, so what came after is regenerated once. The LEMFs
/// get each record of the single box exactly once (CINs left out: a call regenerated after
/// the cut is numbered by the restarted MF). Both calls of the capture end before the kill;
/// calls spanning a kill need the mediation state the checkpoint's pipeline part carries
/// (the snapshot branch), and are not in this capture.
#[test]
fn an_mf_killed_after_delivering_unacknowledged_pdus_delivers_each_record_exactly_once() {
    let w = single_box(23, &["mf", "poi"]);
    let mf_addr = reserved_port();
    let mf_spool = w.dir.path().join("mf-spool");
    let relay = ack_loss(&w.rt, mf_addr);
    let (mut mf, mf_log) = start_mf(&w, &w.warrants, mf_addr, &mf_spool, 64, "mf-1");
    let tasks = tasks(&w.warrants, |_| true);
    let poi_spool = w.dir.path().join("poi-spool");
    // TIME_P2 (the POI's wait for an ack) is its keepalive interval: 20 s.
    let (mut poi, x1_addr, poi_log) =
        start_poi_keepalive(w.dir.path(), &w.pki, &poi_spool, Some(&w.pcap), tasks.len(), "poi-1", 20);
    w.task(x1_addr, relay.addr, &tasks);
    let want: std::collections::BTreeMap<&str, Vec<String>> =
        AGENCIES.iter().map(|a| (*a, texts_without_cins(&w.replay_out.join(a)))).collect();
    let delivered = || AGENCIES.iter().all(|a| texts_without_cins(&w.lemf_out.join(a)).len() >= want[a].len());
    assert!(
        wait_until(Duration::from_secs(30), delivered),
        "the MF delivers every record of the capture: {}",
        read(&mf_log)
    );
    assert!(!log_has(&mf_log, "ERROR"), "{}", read(&mf_log));
    mf.kill().expect("SIGKILL the MF");
    let _ = mf.wait();
    let confirmed_before = poi_summary(&poi_log, "poi: capture done ");
    assert!(mf_spool.join("x2x3-checkpoint").exists(), "the killed MF wrote checkpoints");
    relay.hold.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = relay.cut.send(1);

    let (mut mf, mf_log) = start_mf(&w, &w.warrants, mf_addr, &mf_spool, 64, "mf-2");
    wait_exit(&mut poi, &poi_log);
    let (x2, x3) = pdus_sent(&final_summary(&poi_log));
    let _ = Command::new("kill").arg("-TERM").arg(mf.id().to_string()).status();
    let status = mf.wait().expect("the MF exits");
    assert!(status.success(), "the restarted MF exits 0: {}", read(&mf_log));
    assert!(log_has(&mf_log, "X2/X3 restart from the checkpoint"), "{}", read(&mf_log));
    let counters = ingest_counters(&w.dir.path().join("mf-2.out"));
    let n = |k: &str| counters[k].as_u64().unwrap_or(u64::MAX);
    assert!(x2 > 0 && x3 > 0, "the POI sent X2 and X3: {}", read(&poi_log));
    let SingleBox { rt, lemfs, lemf_out, .. } = w;
    for l in lemfs {
        rt.block_on(l.stop()).expect("LEMF stops");
    }
    for agency in AGENCIES {
        let mut got = texts_without_cins(&lemf_out.join(agency));
        let mut want = want[agency].clone();
        assert!(!want.is_empty(), "{agency}: the replay delivers records");
        got.sort();
        want.sort();
        let times = |v: &[String], r: &String| v.iter().filter(|x| *x == r).count();
        let again: Vec<_> = got.iter().filter(|g| times(&got, g) > times(&want, g)).collect();
        assert!(again.is_empty(), "{agency}: {} records delivered twice: {:?}", again.len(), again.first());
        assert_eq!(got, want, "{agency}: each record of the single box exactly once");
        eprintln!("{agency}: {} records, each once; {} resends dropped by the restored filter", want.len(), n("resends_dropped"));
    }
    assert!(n("resends_dropped") > 0, "the POI resent PDUs the killed MF had delivered: {counters} (POI before: {confirmed_before:?})");
    if let Some(line) = read(&mf_log).lines().find(|l| l.contains("X2/X3 checkpoints")) {
        eprintln!("restarted MF: {line}");
    }
}

/// An MF that cannot read its checkpoint must not start (it would deliver again what the
/// checkpoint protects): it exits non-zero, naming the file and the reason.
#[test]
fn an_mf_with_a_corrupt_checkpoint_refuses_to_start() {
    let w = single_box(29, &["mf"]);
    let mf_spool = w.dir.path().join("mf-spool");
    std::fs::create_dir_all(&mf_spool).expect("spool dir");
    std::fs::write(mf_spool.join("x2x3-checkpoint"), b"TLCKPT\0\x01torn").expect("a torn checkpoint");
    let (mut mf, mf_log) = start_mf(&w, &w.warrants, reserved_port(), &mf_spool, 64, "mf-1");
    let mut status = None;
    wait_until(Duration::from_secs(20), || {
        status = mf.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = mf.kill();
        let _ = mf.wait();
    }
    let log = read(&mf_log);
    assert!(status.is_some_and(|s| !s.success()), "refused, exit non-zero: {status:?} {log}");
    assert!(log.contains("x2x3-checkpoint") && log.contains("torn"), "the file and the reason: {log}");
}
