//! Points of interception for tests: `tapline poi` as a child process (killed when dropped,
//! its stderr in a log file), its summaries read back from that log, a `pois.toml` for the
//! mediation function's ADMF, and what a POI holds read over X1 as that ADMF.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tapline::admf::envelope::{answers, container, Parties};
use tapline::admf::PoisConfig;
use tapline::delivery::pki::{issue_client_cert, DevPki};
use tapline::x1::client::X1Client;
use tapline::x1::{parse_response, write_request, DeliveryType, Request, Response, TaskDetails};
use tapline::x2x3::Xid;
use tapline::Timestamp;

/// A child process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Sends SIGTERM (the orderly stop).
    pub fn terminate(&self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
    }
}

/// A running `tapline poi`: the process, its X1 address, its log.
pub struct Poi {
    pub proc: Proc,
    pub x1: SocketAddr,
    pub log: PathBuf,
}

/// `tapline poi` with neIdentifier `ne` on `listen` (port 0: any), accepting only the ADMF
/// `appliance`, its X1 server certificate the PKI's `poi`, X2/X3 with its own client
/// certificate (CN `ne`, issued on first start: the mediation function tells its POIs
/// apart by certificate, e.g. to drop resends per sender); spool
/// `spool`, stderr in `DIR/NE.log` (a second start of `ne` appends a suffix), `extra`
/// arguments (`--pcap`, `--wait-tasks`, …) appended. Waits until it serves X1.
pub fn start<S: AsRef<OsStr>>(dir: &Path, pki: &DevPki, ne: &str, listen: SocketAddr, spool: &Path, extra: &[S]) -> Poi {
    let cert = pki.server("poi").expect("the PKI has a `poi` server certificate");
    let pki_dir = pki.ca.parent().expect("pki dir");
    let client = (pki_dir.join(format!("{ne}.pem")), pki_dir.join(format!("{ne}.key")));
    if !client.0.exists() {
        issue_client_cert(pki_dir, ne, "poi").expect("the POI's client certificate");
    }
    let mut log = dir.join(format!("{ne}.log"));
    for n in 2.. {
        if !log.exists() {
            break;
        }
        log = dir.join(format!("{ne}-{n}.log"));
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapline"));
    cmd.args(["poi", "--x1-listen", &listen.to_string(), "--ne-id", ne, "--admf-id", "appliance"])
        .arg("--cert").arg(&cert.cert).arg("--key").arg(&cert.key).arg("--client-ca").arg(&pki.ca)
        .arg("--spool").arg(spool)
        .arg("--x2x3-cert").arg(&client.0).arg("--x2x3-key").arg(&client.1).arg("--x2x3-ca").arg(&pki.ca)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("POI log"));
    let proc = Proc(cmd.spawn().expect("tapline poi starts"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(x1) = text.lines().find_map(|l| l.split_once("X1 endpoint on https://")).and_then(|(_, a)| a.trim().parse().ok()) {
            return Poi { proc, x1, log };
        }
        assert!(Instant::now() < deadline, "the POI serves X1: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Poi {
    /// The log written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to a minute) for the POI to exit, which it must do with status 0 (a
    /// `--pcap` POI exits once everything is confirmed).
    pub fn wait_exit(&mut self) {
        wait_exit_of(&mut self.proc.0, &self.log);
    }

    /// How many X1 changes named `change` (`task activated`, `task deactivated`, …) it has
    /// applied, each with the number of frames it had processed before it.
    pub fn changes(&self, change: &str) -> Vec<u64> {
        let needle = format!("change=\"{change}\"");
        self.log_text()
            .lines()
            .filter(|l| l.contains("X1 change applied") && l.contains(&needle))
            .filter_map(|l| l.split("frames=").nth(1)?.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Its summary line starting `prefix` (`poi: ` as it exits, `poi: capture done `).
    pub fn summary(&self, prefix: &str) -> Option<serde_json::Value> {
        summary_in(&self.log, prefix)
    }

    /// The summary it wrote as it exited.
    pub fn final_summary(&self) -> serde_json::Value {
        final_summary_in(&self.log)
    }
}

/// Waits (up to a minute) for the POI process `child`, logging to `log`, to exit, which it
/// must do with status 0.
pub fn wait_exit_of(child: &mut Child, log: &Path) {
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the POI did not finish: {}", log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the POI exits 0 once all is confirmed: {}", log_text());
}

/// The last summary line in the POI log `log`, written as the POI exited.
pub fn final_summary_in(log: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().rev().find_map(|l| l.strip_prefix("poi: ")).and_then(|j| serde_json::from_str(j).ok()).expect("the POI's summary")
}

/// The first summary line starting `prefix` in the POI log `log`.
pub fn summary_in(log: &Path, prefix: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|j| serde_json::from_str(j.trim()).ok())
}

/// X2 and X3 PDUs a POI summary counts.
pub fn pdus_sent(summary: &serde_json::Value) -> (u64, u64) {
    let n = |k: &str| summary["pdus"][k].as_u64().expect("count");
    (n("x2_pdus"), n("x3_pdus"))
}

/// A `pois.toml` (written as `DIR/pois-CERT.toml`) whose ADMF uses the PKI's client
/// certificate `cert`, tasking the POIs at `pois` (X1 address, neIdentifier; ids `p1`, `p2`,
/// …) to deliver to `deliver_to`, reconciling every second.
pub fn pois_toml(dir: &Path, pki: &DevPki, cert: &str, pois: &[(SocketAddr, &str)], deliver_to: SocketAddr) -> PathBuf {
    let ca_dir = pki.ca.parent().expect("pki dir");
    let mut t = format!(
        "[admf]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\ndeliver_to = \"{deliver_to}\"\nreconcile_secs = 1\n",
        ca_dir.join(format!("{cert}.pem")).display(),
        ca_dir.join(format!("{cert}.key")).display(),
        pki.ca.display()
    );
    for (i, (addr, ne)) in pois.iter().enumerate() {
        t += &format!("\n[[poi]]\nid = \"p{}\"\nx1 = \"https://localhost:{}/X1/NE\"\nne_identifier = \"{ne}\"\n", i + 1, addr.port());
    }
    let path = dir.join(format!("pois-{cert}.toml"));
    std::fs::write(&path, t).expect("pois.toml");
    path
}

/// What POI `poi` of `config` holds, read over X1 as its ADMF (`ListAllDetails`, then
/// `GetTaskDetails`); None when it does not answer.
pub fn held(rt: &tokio::runtime::Runtime, config: &PoisConfig, poi: usize) -> Option<BTreeMap<Xid, TaskDetails>> {
    let p = &config.pois[poi];
    let client = X1Client::new(&p.x1, &p.ca, &config.cert, &config.key).expect("client");
    let parties = Parties { admf: config.admf_identifier.clone(), ne: p.ne_identifier.clone() };
    let round = |requests: Vec<Request>| {
        let x1 = container(&parties, &requests, Timestamp::wall_now());
        let body = rt.block_on(client.post(write_request(&x1))).ok()?;
        answers(&parties, &x1, parse_response(&body).ok()?).ok()
    };
    let Response::ListAllDetails { xids, .. } = round(vec![Request::ListAllDetails])?.remove(0) else { return None };
    if xids.is_empty() {
        return Some(BTreeMap::new());
    }
    let details = round(xids.iter().map(|xid| Request::GetTaskDetails { xid: *xid }).collect())?;
    Some(
        details
            .into_iter()
            .filter_map(|r| match r {
                Response::GetTaskDetails { task, .. } => Some((task.xid, task)),
                _ => None,
            })
            .collect(),
    )
}

/// Delivery types held by XID.
pub fn kinds(tasks: &BTreeMap<Xid, TaskDetails>) -> BTreeMap<Xid, DeliveryType> {
    tasks.iter().map(|(x, t)| (*x, t.delivery_type)).collect()
}

/// Waits (up to two minutes) until every POI of `config` holds exactly `want`.
pub fn wait_for_tasks(rt: &tokio::runtime::Runtime, config: &PoisConfig, want: &BTreeMap<Xid, DeliveryType>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now: Vec<_> = (0..config.pois.len()).map(|i| held(rt, config, i).map(|t| kinds(&t))).collect();
        if now.iter().all(|h| h.as_ref() == Some(want)) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: POIs hold {now:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
