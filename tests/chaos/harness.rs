//! The chaos harness: the real `tapline run` binary replaying a capture to real `tapline lemf`
//! processes over loopback mutual TLS, with faults injected at seeded random times (SIGKILL
//! and restart of the appliance or a LEMF, SIGSTOP stalls), and the check that the agencies'
//! de-duplicated records equal a replay of the same capture, with no record of another
//! agency. Used by `tests/chaos.rs` and `tests/disk_full.rs`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::delivery_support::{bundled_warrants, crate_root, pki, reserved_port, AGENCIES};
use tapline::delivery::pki::DevPki;
use tapline::delivery::Spool;
use tapline::handover::{decode_pdu, split_stream, Payload};

/// (LIID, CIN, is-CC, sequence number): what a LEMF de-duplicates by.
pub type Key = (String, u32, bool, u32);

/// Keys of every IRI and CC record in BER stream bytes.
pub fn keys_of(bytes: &[u8]) -> Vec<Key> {
    let mut out = Vec::new();
    for pdu in split_stream(bytes) {
        let Ok(pdu) = pdu else { break };
        let Ok(p) = decode_pdu(pdu) else { continue };
        let cc = match p.payload {
            Payload::Iri(_) => false,
            Payload::Cc(_) => true,
            _ => continue,
        };
        let liid = String::from_utf8_lossy(&p.header.liid).into_owned();
        out.push((liid, p.header.cin.unwrap_or(0), cc, p.header.sequence));
    }
    out
}

/// Keys of `DIR/hi2.ber` and `DIR/hi3.ber`.
pub fn keys_in(dir: &Path) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for f in ["hi2.ber", "hi3.ber"] {
        out.extend(keys_of(&std::fs::read(dir.join(f)).unwrap_or_default()));
    }
    out
}

/// CINs renumbered 1, 2, … in their order (one allocator serves every LIID, so a run's CINs
/// are the replay's shifted by its floor).
pub fn by_rank(keys: &BTreeSet<Key>) -> BTreeSet<Key> {
    let cins: BTreeSet<u32> = keys.iter().map(|k| k.1).collect();
    let rank: BTreeMap<u32, u32> = cins.into_iter().zip(1..).collect();
    keys.iter().map(|(l, c, cc, s)| (l.clone(), rank[c], *cc, *s)).collect()
}

/// A `tapline lemf` process for one agency on fixed ports, restartable on the same output.
pub struct LemfProc {
    pub agency: String,
    pub addrs: Vec<SocketAddr>,
    pub out: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    child: Option<Child>,
}

impl LemfProc {
    pub fn new(pki: &DevPki, agency: &str, out: PathBuf) -> LemfProc {
        let server = pki.server(agency).expect("server certificate");
        let mut l = LemfProc {
            agency: agency.to_owned(),
            addrs: vec![reserved_port(), reserved_port()],
            out,
            cert: server.cert.clone(),
            key: server.key.clone(),
            ca: pki.ca.clone(),
            child: None,
        };
        l.start();
        l
    }

    pub fn start(&mut self) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
        c.arg("lemf");
        for a in &self.addrs {
            c.arg("--listen").arg(a.to_string());
        }
        c.arg("--cert").arg(&self.cert).arg("--key").arg(&self.key).arg("--client-ca").arg(&self.ca);
        c.arg("--out").arg(&self.out).stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(c.spawn().expect("tapline lemf starts"));
        let ready = wait_until(Duration::from_secs(10), || {
            self.addrs.iter().all(|a| std::net::TcpStream::connect_timeout(a, Duration::from_millis(100)).is_ok())
        });
        assert!(ready, "LEMF {} listening", self.agency);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops with SIGTERM (flushes its files) and waits.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if c.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LemfProc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The bundled warrants, both agencies' LEMF processes, and a capture.
pub struct World {
    pub dir: PathBuf,
    pub pki: DevPki,
    pub lemfs: Vec<LemfProc>,
    pub warrants: PathBuf,
    pub pcap: PathBuf,
    pub spool: PathBuf,
}

impl World {
    /// Everything under `dir`; the spool (and its audit trail) at `spool`.
    pub fn new(dir: &Path, pcap: PathBuf, spool: PathBuf) -> World {
        let pki = pki(&dir.join("pki"), &AGENCIES);
        let lemfs: Vec<LemfProc> = AGENCIES.iter().map(|a| LemfProc::new(&pki, a, dir.join("lemf").join(a))).collect();
        let addrs: Vec<Vec<SocketAddr>> = lemfs.iter().map(|l| l.addrs.clone()).collect();
        let warrants = bundled_warrants(dir, Some(&pki.ca), &addrs);
        World { dir: dir.to_owned(), pki, lemfs, warrants, pcap, spool }
    }

    /// `tapline run` replaying the capture at `rate` packets/s, stderr to `log`.
    pub fn appliance(&self, rate: Option<u32>, log: &Path) -> Child {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
        c.arg("run").arg("--warrants").arg(&self.warrants).arg("--pcap").arg(&self.pcap);
        if let Some(r) = rate {
            c.args(["--rate", &r.to_string()]);
        }
        c.arg("--spool").arg(&self.spool).args(["--drain-secs", "60"]);
        c.arg("--cert").arg(&self.pki.appliance.cert).arg("--key").arg(&self.pki.appliance.key);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        c.stdout(Stdio::null()).stderr(log);
        c.spawn().expect("tapline run starts")
    }

    /// What `tapline replay` of the same capture and warrants writes, per agency.
    pub fn replayed(&self) -> BTreeMap<String, BTreeSet<Key>> {
        let out = self.dir.join("replay");
        let st = Command::new(env!("CARGO_BIN_EXE_tapline"))
            .arg("replay")
            .arg(&self.pcap)
            .arg("--warrants")
            .arg(&self.warrants)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("tapline replay runs");
        assert!(st.success(), "replay succeeds");
        AGENCIES.iter().map(|a| (a.to_string(), keys_in(&out.join(a)))).collect()
    }

    /// What each LEMF has received so far, de-duplicated.
    pub fn received(&self) -> BTreeMap<String, BTreeSet<Key>> {
        self.lemfs.iter().map(|l| (l.agency.clone(), keys_in(&l.out))).collect()
    }

    /// Every record left unconfirmed in the spool (the appliance must not be running).
    pub fn pending(&self) -> BTreeSet<Key> {
        let mut out = BTreeSet::new();
        for a in AGENCIES {
            for i in ["hi2", "hi3"] {
                let dir = self.spool.join(a).join(i);
                if !dir.is_dir() {
                    continue;
                }
                // Every lane of the interface (lane 0 is the directory itself).
                for (_, lane) in tapline::delivery::lanes::lane_dirs(&dir).expect("lanes listed") {
                    let s = Spool::open(&lane, u64::MAX).expect("spool opens");
                    let mut at = s.confirmed();
                    loop {
                        let chunk = s.read(at, 1 << 20).expect("spool reads");
                        if chunk.records == 0 {
                            break;
                        }
                        out.extend(keys_of(&chunk.bytes));
                        at = chunk.end;
                    }
                }
            }
        }
        out
    }

    /// The LIIDs of each agency's warrants.
    pub fn liids_of(&self, agency: &str) -> BTreeSet<String> {
        let (store, _) = tapline::warrant::Store::load_dir(&self.warrants).expect("warrants load");
        store.warrants.iter().filter(|w| w.agency == agency).map(|w| w.liid.as_str().to_owned()).collect()
    }

    /// The agencies hold exactly what replay writes (records with CINs at or above
    /// `floor`, renumbered by rank), and nothing of another agency's warrants.
    pub fn assert_delivered_as_replayed(&self, floor: u32) {
        let replayed = self.replayed();
        let received = self.received();
        for a in AGENCIES {
            let got = &received[a];
            let own = self.liids_of(a);
            let foreign: Vec<_> = got.iter().filter(|k| !own.contains(&k.0)).collect();
            assert!(foreign.is_empty(), "{a} received {} records of another agency's warrants", foreign.len());
            let last: BTreeSet<Key> = got.iter().filter(|k| k.1 >= floor).cloned().collect();
            let want = by_rank(&replayed[a]);
            let have = by_rank(&last);
            let missing = want.difference(&have).count();
            let extra = have.difference(&want).count();
            assert!(missing == 0 && extra == 0, "{a}: {missing} replayed records missing, {extra} not in the replay ({} delivered, {} replayed)", have.len(), want.len());
        }
    }
}

/// The first CIN the next run on `spool` will use.
pub fn cin_floor(spool: &Path) -> u32 {
    std::fs::read_to_string(spool.join("cin-reserved")).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(1)
}

/// A capture long enough to inject faults into: the twelve-round scenario.
pub fn rounds_pcap(dir: &Path) -> PathBuf {
    let p = dir.join("calls.pcap");
    crate::delivery_support::rounds_capture(&p, 7, 1_790_000_000);
    p
}

pub fn demo_pcap() -> PathBuf {
    crate_root().join("fixtures/demo.pcap")
}
