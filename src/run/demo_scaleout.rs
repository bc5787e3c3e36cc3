//! `tapline demo --scale-out`: the bundled demo as ETSI scale-out on loopback. The demo's
//! calls are shared between three `tapline poi` processes (each sees whole calls, SIP and
//! media together); one mediation function (this process: the X2/X3 listener, the run and
//! its ADMF) tasks them over X1 and delivers to the agencies' reference LEMFs; every hop is
//! mutual TLS with the demo's development PKI. The agencies get what the single-box demo
//! gives them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::demo::{io, run_options, runtime, start_lemfs, stop_lemfs, work_dir};
use super::{run_with, DemoError, DemoSummary, LifecycleOptions, Source};
use crate::admf::{Plan, PoisConfig};
use crate::delivery::pki::{create_dev_pki, issue_client_cert, loopback_hosts, DevPki};
use crate::gen::{Resolution, Scenario};
use crate::warrant::Store;
use crate::x1::{DeliveryAddress, Port};
use crate::x2x3::{IngestCounters, Listener, ListenerConfig};
use crate::Timestamp;

/// The points of interception of the demo, `poi-1` … (their neIdentifiers).
pub const SITES: usize = 3;
const SERVE_WITHIN: Duration = Duration::from_secs(30);
const DELIVER_WITHIN: Duration = Duration::from_secs(120);

/// What one point of interception did (its own summary line, `poi: {…}`).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoiCounts {
    pub id: String,
    /// Calls and MESSAGEs of the demo in its share of the capture.
    pub items: usize,
    pub frames: u64,
    pub x2_pdus: u64,
    pub x3_pdus: u64,
    pub x2_bytes: u64,
    pub x3_bytes: u64,
    pub unconfirmed: u64,
}

/// The single-box summary of the mediation function's run and the LEMFs, per POI counts
/// and the mediation function's X2/X3 ingest counters.
#[derive(Debug, serde::Serialize)]
pub struct ScaleOutSummary {
    pub demo: DemoSummary,
    pub pois: Vec<PoiCounts>,
    pub ingest: IngestCounters,
}

/// Children killed when dropped (a demo that fails leaves no POI behind).
struct Pois(Vec<(String, Child, PathBuf)>);

impl Drop for Pois {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The demo `scenario` (the calls of `fixtures/demo.pcap`) with the warrants in
/// `warrants`: item `i` seen by POI `i mod 3`, the POIs started from the `tapline`
/// executable `exe`, the LEMFs writing into `out/AGENCY/`.
pub fn demo_scale_out(exe: &Path, scenario: &Scenario, warrants: &Path, out: &Path) -> Result<ScaleOutSummary, DemoError> {
    let (store, _) = Store::load_dir(warrants)?;
    let work = work_dir("demo-scale-out")?;
    let ids: Vec<String> = store.agencies.iter().map(|a| a.id.clone()).collect();
    let mut hosts = ids.clone();
    hosts.extend(["mf".to_string(), "poi".to_string()]);
    let pki = create_dev_pki(&work.join("pki"), &hosts, &loopback_hosts())?;
    let pki_dir = work.join("pki");
    let runtime = runtime()?;
    let lemfs = start_lemfs(&store, &pki, warrants, out, &runtime)?;
    let (mf_cert, poi_cert) = match (pki.server("mf"), pki.server("poi")) {
        (Some(m), Some(p)) => (m.clone(), p.clone()),
        _ => return Err(DemoError::Io { what: "demo PKI".into(), source: std::io::Error::other("no mf/poi certificate") }),
    };
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let (listener, frames) = Listener::start(&ListenerConfig::new(vec![loopback], mf_cert.cert, mf_cert.key, pki.ca.clone()))?;
    let deliver_to = listener.local_addrs()[0];
    // Each POI starts its capture once it holds every task the ADMF will give it.
    let address = DeliveryAddress::IpAndPort { address: deliver_to.ip(), port: Port::Tcp(deliver_to.port()) };
    let tasks = Plan::new(&store.warrants, Timestamp::wall_now(), &address).tasks.len();

    let mut pois = Pois(Vec::new());
    let mut items = Vec::new();
    for site in 0..SITES {
        let id = format!("poi-{}", site + 1);
        let capture = work.join(format!("{id}.pcap"));
        let file = std::fs::File::create(&capture).map_err(io("POI capture"))?;
        let share = |i: usize| i % SITES == site;
        scenario.write_pcap_part(std::io::BufWriter::new(file), Resolution::Micro, share).map_err(io("POI capture"))?;
        items.push((0..scenario.calls().len() + scenario.messages().len()).filter(|i| share(*i)).count());
        let client = issue_client_cert(&pki_dir, &id, "poi")?;
        let log = work.join(format!("{id}.log"));
        let child = Command::new(exe)
            .args(["poi", "--x1-listen", "127.0.0.1:0", "--ne-id", &id, "--admf-id", "appliance", "--keepalive-secs", "1"])
            .arg("--cert").arg(&poi_cert.cert).arg("--key").arg(&poi_cert.key).arg("--client-ca").arg(&pki.ca)
            .arg("--spool").arg(work.join(format!("{id}-spool")))
            .arg("--x2x3-cert").arg(&client.cert).arg("--x2x3-key").arg(&client.key).arg("--x2x3-ca").arg(&pki.ca)
            .arg("--pcap").arg(&capture)
            .args(["--wait-tasks", &tasks.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(io("POI log"))?)
            .spawn()
            .map_err(io("starting tapline poi"))?;
        pois.0.push((id, child, log));
    }
    let mut x1 = Vec::new();
    for (id, child, log) in &mut pois.0 {
        x1.push((id.clone(), serving(id, child, log)?));
    }
    let config = PoisConfig::load(&pois_toml(&work, &pki, &x1, deliver_to)?)?;

    let lifecycle = LifecycleOptions { pois: Some(config), ..Default::default() };
    let options = run_options(warrants, Source::Channel(frames), &work, &pki, &ids);
    let mf = std::thread::spawn(move || run_with(&options, Arc::new(AtomicBool::new(false)), &lifecycle));
    let mut counts = Vec::new();
    for ((id, child, log), items) in pois.0.iter_mut().zip(items) {
        counts.push(delivered(id, child, log, items)?);
    }
    // Everything the POIs sent is confirmed, so queued to the run: ending the listener ends
    // the run once it is processed and delivered.
    let ingest = listener.stop();
    let result = mf.join().map_err(|_| DemoError::Io { what: "mediation function".into(), source: std::io::Error::other("panicked") })?;
    let received = stop_lemfs(lemfs, runtime)?;
    drop(pois);
    let _ = std::fs::remove_dir_all(&work);
    Ok(ScaleOutSummary { demo: DemoSummary { run: result?, lemfs: received, out: out.to_owned() }, pois: counts, ingest })
}

/// Waits for a POI to say where it serves X1.
fn serving(id: &str, child: &mut Child, log: &Path) -> Result<SocketAddr, DemoError> {
    let fail = |reason: &str| DemoError::Poi { id: id.to_owned(), reason: reason.to_owned(), log: log.to_owned() };
    let deadline = Instant::now() + SERVE_WITHIN;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text.lines().find_map(|l| l.split_once("X1 endpoint on https://")).and_then(|(_, a)| a.trim().parse().ok()) {
            return Ok(addr);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(fail(&format!("exited at start ({status})")));
        }
        if Instant::now() > deadline {
            return Err(fail("does not serve X1"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a POI to exit once everything it captured is confirmed; its counts.
fn delivered(id: &str, child: &mut Child, log: &Path, items: usize) -> Result<PoiCounts, DemoError> {
    let fail = |reason: String| DemoError::Poi { id: id.to_owned(), reason, log: log.to_owned() };
    let deadline = Instant::now() + DELIVER_WITHIN;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io("waiting for tapline poi"))? {
            break status;
        }
        if Instant::now() > deadline {
            return Err(fail(format!("did not deliver within {} s", DELIVER_WITHIN.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let summary: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("poi: "))
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| fail("wrote no summary".into()))?;
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let pdus = &summary["pdus"];
    Ok(PoiCounts {
        id: id.to_owned(),
        items,
        frames: n(&summary["frames"]),
        x2_pdus: n(&pdus["x2_pdus"]),
        x3_pdus: n(&pdus["x3_pdus"]),
        x2_bytes: n(&pdus["x2_bytes"]),
        x3_bytes: n(&pdus["x3_bytes"]),
        unconfirmed: n(&summary["unconfirmed"]),
    })
}

/// The ADMF's `pois.toml`: the appliance's certificate (CN `appliance`) towards the POIs'
/// X1 endpoints, X2/X3 to `deliver_to`.
fn pois_toml(work: &Path, pki: &DevPki, pois: &[(String, SocketAddr)], deliver_to: SocketAddr) -> Result<PathBuf, DemoError> {
    let mut text = format!(
        "[admf]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\ndeliver_to = \"{deliver_to}\"\n",
        pki.appliance.cert.display(),
        pki.appliance.key.display(),
        pki.ca.display()
    );
    for (id, x1) in pois {
        text += &format!("\n[[poi]]\nid = \"{id}\"\nx1 = \"https://localhost:{}/X1/NE\"\nne_identifier = \"{id}\"\n", x1.port());
    }
    let path = work.join("pois.toml");
    std::fs::write(&path, text).map_err(io("pois.toml"))?;
    Ok(path)
}

/// The single-box demo's report, then one line per point of interception and the
/// mediation function's X2/X3 ingest.
pub fn scale_out_report(s: &ScaleOutSummary) -> String {
    use std::fmt::Write;
    let mut r = super::demo_report(&s.demo);
    let _ = writeln!(r, "points of interception (X2/X3 over mutual TLS to the mediation function):");
    for p in &s.pois {
        let _ = writeln!(
            r,
            "  {:<14} calls/messages {}  frames {:>6}  X2 {:>5} PDUs {:>8} B  X3 {:>6} PDUs {:>9} B  unconfirmed {}",
            p.id, p.items, p.frames, p.x2_pdus, p.x2_bytes, p.x3_pdus, p.x3_bytes, p.unconfirmed
        );
    }
    let i = &s.ingest;
    let _ = writeln!(
        r,
        "  mediation      ingested X2 {} X3 {}  connections {}  malformed {}  resends dropped {}",
        i.x2_pdus, i.x3_pdus, i.connections, i.malformed_pdus, i.resends_dropped
    );
    r
}
