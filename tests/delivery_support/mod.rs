//! Helpers of the delivery tests: dev PKI, agencies on loopback, in-process LEMFs,
//! synthetic PS-PDU streams, waiting with a deadline, and the ETSI oracle.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tapline::delivery::pki::{create_dev_pki, loopback_hosts, DevPki};
use tapline::delivery::{DeliveryOptions, SenderConfig, TrackerConfig};
use tapline::handover::sequencer::{AgencyOutput, Channel};
use tapline::handover::{encode_cc, encode_iri, Direction, IriContent, IriType, PduHeader};
use tapline::lemf::{Lemf, LemfConfig};
use tapline::warrant::{Agency, Appliance, Endpoint, Profile};
use tapline::Timestamp;

pub fn pki(dir: &Path, agencies: &[&str]) -> DevPki {
    let ids: Vec<String> = agencies.iter().map(|a| a.to_string()).collect();
    create_dev_pki(dir, &ids, &loopback_hosts()).expect("dev PKI")
}

pub fn appliance() -> Appliance {
    Appliance { operator_id: "EXAMPLE-TEL".into(), network_element_id: "MED-01".into(), country: "US".into(), numbering: Default::default() }
}

pub fn endpoint(a: SocketAddr) -> Endpoint {
    Endpoint { host: a.ip().to_string(), port: a.port() }
}

pub fn agency(id: &str, addrs: &[SocketAddr], ca: &Path) -> Agency {
    Agency {
        id: id.into(),
        country: "US".into(),
        profile: Profile::Etsi,
        hi2: endpoint(addrs[0]),
        hi3: endpoint(addrs[1]),
        ca: Some(ca.to_owned()),
        server_name: id.into(),
        pin_sha256: Vec::new(),
    }
}

pub fn lemf_config(pki: &DevPki, agency: &str, listen: Vec<SocketAddr>, out: &Path) -> LemfConfig {
    let server = pki.server(agency).expect("server cert");
    LemfConfig {
        listen,
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: pki.ca.clone(),
        out: out.to_owned(),
        warrants: None,
    }
}

pub fn any_port() -> Vec<SocketAddr> {
    let a = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    vec![a, a]
}

pub fn start_lemf(rt: &tokio::runtime::Runtime, config: &LemfConfig) -> Lemf {
    rt.block_on(Lemf::start(config)).expect("LEMF starts")
}

/// One record of a synthetic stream: agency index, interface, whole PDU.
pub struct SyntheticPdu {
    pub agency: usize,
    pub channel: Channel,
    pub pdu: Vec<u8>,
}

/// `cins` communications of `liid`, each with `per_cin` IRI (SIP) and `per_cin` CC (RTP)
/// records, interleaved, numbered from 0 per (LIID, CIN, IRI/CC).
pub fn synthetic(agency: usize, liid: &str, cins: u32, per_cin: u32) -> Vec<SyntheticPdu> {
    let mut out = Vec::new();
    let sip = b"INVITE sip:bob@example.com SIP/2.0\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: x\r\n\r\n";
    let mut rtp = vec![0x80u8, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.resize(172, 0xd5);
    for i in 0..per_cin {
        for cin in 1..=cins {
            let header = PduHeader {
                liid,
                authorization_country: "US",
                operator_id: "EXAMPLE-TEL",
                network_element_id: "MED-01",
                cin,
                delivery_country: "US",
                sequence: i,
                ts: Timestamp::from_secs_micros(1_790_000_000 + u64::from(i), cin * 10),
            };
            let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
            let mut pdu = Vec::new();
            let t = if i == 0 { IriType::Begin } else { IriType::Continue };
            encode_iri(&mut pdu, &header, t, &IriContent::SipMessage { src, dst, sip });
            out.push(SyntheticPdu { agency, channel: Channel::Hi2, pdu });
            let mut pdu = Vec::new();
            encode_cc(&mut pdu, &header, Direction::FromTarget, &rtp);
            out.push(SyntheticPdu { agency, channel: Channel::Hi3, pdu });
        }
    }
    out
}

/// Feeds PDUs to an output, pausing `pause` every `every` records (a paced replay).
pub fn feed(output: &mut impl AgencyOutput, pdus: &[SyntheticPdu], every: usize, pause: Duration) {
    for (i, p) in pdus.iter().enumerate() {
        output.write_pdu(p.agency, p.channel, &p.pdu);
        if every > 0 && i % every == every - 1 {
            std::thread::sleep(pause);
        }
    }
}

/// Polls `cond` until it holds or `limit` passes; whether it held.
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

/// The oracle script beside the crate, or None (printing SKIP; a panic under CI).
pub fn oracle() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/etsi-oracle/etsi_oracle.py");
    let usable = script.is_file()
        && Command::new("python3").args(["-c", "import asn1tools"]).output().is_ok_and(|o| o.status.success());
    if usable {
        return Some(script);
    }
    if std::env::var_os("CI").is_some() {
        panic!("ETSI oracle (../shared/etsi-oracle, python3 asn1tools) required under CI but unavailable");
    }
    eprintln!("SKIP: ETSI oracle unavailable (../shared/etsi-oracle or python3 asn1tools missing)");
    None
}

/// Runs `etsi_oracle.py --check FILE`; panics with its output when a check fails.
pub fn oracle_check(script: &Path, file: &Path) {
    let out = Command::new("python3").arg(script).arg("--check").arg(file).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "oracle --check failed on {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr).lines().take(20).collect::<Vec<_>>().join("\n")
    );
}

/// Number of PDUs in a BER stream file.
pub fn pdu_count(file: &Path) -> usize {
    let bytes = std::fs::read(file).unwrap_or_default();
    tapline::handover::split_stream(&bytes).filter(|p| p.is_ok()).count()
}

/// The one agency of the lifecycle tests.
pub const LIFECYCLE_AGENCY: &str = "fbi-denver";

/// Twelve rounds, 10 s apart from `start` (Unix seconds): +13035550142, +13035550177 and
/// +13035550199 each make one answered 2-second call per round, 3 s apart.
pub fn rounds_capture(path: &Path, seed: u64, start: u64) {
    use tapline::gen::{CallSpec, Outcome, Scenario};
    let mut s = Scenario::new(seed);
    for round in 0..12u64 {
        for (i, (caller, callee)) in
            [("+13035550142", "+17205550101"), ("+13035550177", "+17205550102"), ("+13035550199", "+17205550103")]
                .iter()
                .enumerate()
        {
            let at = Timestamp::from_secs_micros(start + round * 10 + i as u64 * 3, 0);
            s.call(CallSpec::new(caller, callee, Outcome::Answered { talk: Duration::from_secs(2) }, at));
        }
    }
    s.write_pcap(std::io::BufWriter::new(std::fs::File::create(path).expect("create capture"))).expect("write capture");
}

/// agencies.toml with the one `etsi` agency at `addrs` (hi2, hi3), trusting `ca`.
pub fn one_agency_toml(ca: &Path, addrs: &[SocketAddr]) -> String {
    format!(
        "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n\n\
         [[agency]]\nid = \"{LIFECYCLE_AGENCY}\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://{}\"\nhi3 = \"tls://{}\"\nca = \"{}\"\n",
        addrs[0],
        addrs[1],
        ca.display()
    )
}

/// `tapline run` options replaying `pcap` (at `rate` packets/s) with the appliance's dev
/// certificate, spooling to `spool`.
pub fn run_options(warrants: &Path, spool: &Path, pki: &DevPki, pcap: PathBuf, rate: Option<u32>) -> tapline::run::RunOptions {
    use tapline::delivery::{DeliveryOptions, SenderConfig, TrackerConfig};
    tapline::run::RunOptions {
        warrants: warrants.to_owned(),
        source: tapline::run::Source::Pcap { path: pcap, rate: rate.map(tapline::capture::Rate::PacketsPerSecond) },
        delivery: DeliveryOptions {
            spool: spool.to_owned(),
            client_cert: pki.appliance.cert.clone(),
            client_key: pki.appliance.key.clone(),
            spool_limit: 64 << 20,
            sender: SenderConfig {
                tracker: TrackerConfig { batch_records: 32, ..TrackerConfig::default() },
                backoff_min: Duration::from_millis(50),
                backoff_max: Duration::from_millis(400),
                ..SenderConfig::default()
            },
        },
        drain: Duration::from_secs(30),
        ca_override: std::collections::BTreeMap::new(),
        calltrace: None,
        pipeline: Default::default(),
        metrics: None,
        mediator: Default::default(),
        records_db: None,
        retention: Default::default(),
    }
}

/// A loopback address free now, for a server that must be started on a known port (the
/// demo, the metrics endpoint). Taken below the kernel's ephemeral range (32768 and up), so
/// servers other tests bind to port 0 meanwhile cannot take it; distinct on every call.
pub fn reserved_port() -> SocketAddr {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 5_000) as u16;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 5_000;
        if let Ok(l) = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            return l.local_addr().expect("bound address");
        }
    }
}

/// One agency's LEMF on loopback, the twelve-round capture, and a warrant directory holding
/// only agencies.toml: the set-up of the lifecycle tests.
pub struct OneAgency {
    pub dir: tempfile::TempDir,
    pub pcap: PathBuf,
    pub pki: DevPki,
    pub rt: tokio::runtime::Runtime,
    pub lemf: Lemf,
    pub lemf_out: PathBuf,
    pub warrants: PathBuf,
}

impl OneAgency {
    pub fn start(seed: u64, start: u64) -> OneAgency {
        let dir = tempfile::tempdir().expect("tempdir");
        let pcap = dir.path().join("calls.pcap");
        rounds_capture(&pcap, seed, start);
        let pki = pki(&dir.path().join("pki"), &[LIFECYCLE_AGENCY]);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let lemf_out = dir.path().join("lemf");
        let lemf = start_lemf(&rt, &lemf_config(&pki, LIFECYCLE_AGENCY, any_port(), &lemf_out));
        let warrants = dir.path().join("warrants");
        std::fs::create_dir_all(&warrants).expect("warrant dir");
        std::fs::write(warrants.join("agencies.toml"), one_agency_toml(&pki.ca, lemf.local_addrs())).expect("agencies");
        OneAgency { dir, pcap, pki, rt, lemf, lemf_out, warrants }
    }

    /// `tapline run` on this set-up, replaying at `rate` packets/s.
    pub fn run_command(&self, rate: u32) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
        c.arg("run")
            .arg("--warrants")
            .arg(&self.warrants)
            .arg("--pcap")
            .arg(&self.pcap)
            .args(["--rate", &rate.to_string()])
            .arg("--spool")
            .arg(self.dir.path().join("spool"))
            .arg("--cert")
            .arg(&self.pki.appliance.cert)
            .arg("--key")
            .arg(&self.pki.appliance.key);
        c
    }
}

/// The two agencies of the bundled warrants.
pub const AGENCIES: [&str; 2] = ["fbi-denver", "dea-phoenix"];

pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled warrants with an agencies.toml pointing at `addrs` (hi2, hi3 per agency).
pub fn bundled_warrants(dir: &Path, ca: Option<&Path>, addrs: &[Vec<SocketAddr>]) -> PathBuf {
    let w = dir.join("warrants");
    std::fs::create_dir_all(&w).unwrap();
    for entry in std::fs::read_dir(crate_root().join("warrants")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".toml") && name != "agencies.toml" {
            std::fs::copy(&p, w.join(&name)).unwrap();
        }
    }
    let mut toml = String::from(
        "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n",
    );
    for (id, a) in AGENCIES.iter().zip(addrs) {
        toml += &format!(
            "\n[[agency]]\nid = \"{id}\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://{}\"\nhi3 = \"tls://{}\"\n",
            a[0],
            a[1],
        );
        if let Some(ca) = ca {
            toml += &format!("ca = \"{}\"\n", ca.display());
        }
    }
    std::fs::write(w.join("agencies.toml"), toml).unwrap();
    w
}

/// Both agencies' LEMFs on loopback and the bundled warrants pointing at them.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub rt: tokio::runtime::Runtime,
    pub lemfs: Vec<Lemf>,
    pub addrs: Vec<Vec<SocketAddr>>,
    pub warrants: PathBuf,
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(&dir.path().join("pki"), &AGENCIES);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lemfs: Vec<Lemf> = AGENCIES
        .iter()
        .map(|a| start_lemf(&rt, &lemf_config(&pki, a, any_port(), &dir.path().join(a))))
        .collect();
    let addrs: Vec<Vec<SocketAddr>> = lemfs.iter().map(|l| l.local_addrs().to_vec()).collect();
    let warrants = bundled_warrants(dir.path(), Some(&pki.ca), &addrs);
    Setup { dir, pki, rt, lemfs, addrs, warrants }
}

/// Delivery options of the TLS tests: small batches, short back-off, the given response timeout.
pub fn delivery_options(spool: &Path, pki: &DevPki, response_timeout: Duration) -> DeliveryOptions {
    DeliveryOptions {
        spool: spool.to_owned(),
        client_cert: pki.appliance.cert.clone(),
        client_key: pki.appliance.key.clone(),
        spool_limit: 64 << 20,
        sender: SenderConfig {
            tracker: TrackerConfig {
                batch_records: 64,
                idle: Duration::from_millis(500),
                response_timeout,
                ..TrackerConfig::default()
            },
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            ..SenderConfig::default()
        },
    }
}

/// (LIID, agency) pairs as the delivery service takes them.
pub fn liids(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(l, a)| (l.to_string(), a.to_string())).collect()
}

/// The decoded records of an agency's streams (hi2.ber, then hi3.ber) with the stream
/// each is from, keep-alives left out and the IP header of IRI-only RTP packets cut (it is
/// rebuilt on ingest).
fn stream_records(dir: &Path) -> Vec<(&'static str, tapline::handover::Pdu)> {
    use tapline::handover::{decode_pdu, split_stream, IriContentKind, Payload};
    let mut out = Vec::new();
    for name in ["hi2.ber", "hi3.ber"] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
        for raw in split_stream(&bytes) {
            let mut pdu = decode_pdu(raw.expect("framed")).expect("decodes");
            if matches!(pdu.payload, Payload::KeepAlive | Payload::KeepAliveResponse) {
                continue;
            }
            if let Payload::Iri(iris) = &mut pdu.payload {
                for iri in iris.iter_mut().filter(|i| i.kind == IriContentKind::IriOnlyRtpPacket) {
                    let ihl = match iri.bytes.first() {
                        Some(b) if b >> 4 == 4 => usize::from(b & 0x0f) * 4,
                        _ => 40,
                    };
                    iri.bytes.drain(..ihl.min(iri.bytes.len()));
                }
            }
            out.push((name, pdu));
        }
    }
    out
}

/// The decoded records of an agency's streams, CINs renumbered in order of appearance
/// (per stream) and the IP header of IRI-only RTP packets cut (it is rebuilt on ingest).
pub fn decoded_records(dir: &Path) -> Vec<tapline::handover::Pdu> {
    let mut out = Vec::new();
    let (mut cins, mut current): (Vec<u32>, &str) = (Vec::new(), "");
    for (stream, mut pdu) in stream_records(dir) {
        if stream != current {
            (cins, current) = (Vec::new(), stream);
        }
        if let Some(cin) = pdu.header.cin {
            let pos = cins.iter().position(|c| *c == cin).unwrap_or_else(|| {
                cins.push(cin);
                cins.len() - 1
            });
            pdu.header.cin = Some(pos as u32 + 1);
        }
        out.push(pdu);
    }
    out
}

/// The capture times (Unix microseconds) of an agency's records of `liid`.
pub fn record_times(dir: &Path, liid: &str) -> Vec<u64> {
    stream_records(dir)
        .into_iter()
        .filter(|(_, p)| p.header.liid == liid.as_bytes())
        .map(|(_, p)| p.header.seconds.unwrap_or(0) * 1_000_000 + u64::from(p.header.micros.unwrap_or(0)))
        .collect()
}

/// An agency's records per LIID whatever order they arrived in: each CIN renumbered by the
/// time of its first record (a call's number, wherever it was seen), then every record
/// (`Debug` text) in time order. Calls, IRI messages and CC packets of several POIs
/// interleave at the mediation function in any order; this is what must not differ.
pub fn records_per_liid(dir: &Path) -> std::collections::BTreeMap<String, Vec<String>> {
    use std::collections::BTreeMap;
    let time = |p: &tapline::handover::Pdu| (p.header.seconds.unwrap_or(0), p.header.micros.unwrap_or(0));
    let mut by_liid: BTreeMap<String, Vec<tapline::handover::Pdu>> = BTreeMap::new();
    for (_, pdu) in stream_records(dir) {
        by_liid.entry(String::from_utf8_lossy(&pdu.header.liid).into_owned()).or_default().push(pdu);
    }
    by_liid
        .into_iter()
        .map(|(liid, mut pdus)| {
            // A call's key: its first record's time and text (CIN left out).
            type Key = ((u64, u32), String);
            let mut first: BTreeMap<u32, Key> = BTreeMap::new();
            for p in &pdus {
                if let Some(cin) = p.header.cin {
                    let mut key = p.clone();
                    key.header.cin = None;
                    let this = (time(p), format!("{key:?}"));
                    let e = first.entry(cin).or_insert_with(|| this.clone());
                    if this < *e {
                        *e = this;
                    }
                }
            }
            let mut order: Vec<(Key, u32)> = first.into_iter().map(|(c, k)| (k, c)).collect();
            order.sort();
            let renumber: BTreeMap<u32, u32> = order.iter().enumerate().map(|(i, (_, c))| (*c, i as u32 + 1)).collect();
            for p in &mut pdus {
                p.header.cin = p.header.cin.map(|c| renumber[&c]);
            }
            let mut records: Vec<((u64, u32), String)> = pdus.iter().map(|p| (time(p), format!("{p:?}"))).collect();
            records.sort();
            (liid, records.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

/// A capture of a call made by the target of both bundled warrants and one made to it.
pub fn target_calls_capture(path: &Path, seed: u64) {
    use tapline::gen::{CallSpec, Outcome, Scenario};
    let mut s = Scenario::new(seed);
    let t0 = 1_790_000_000;
    let talk = Outcome::Answered { talk: Duration::from_secs(2) };
    s.call(CallSpec::new("+13035550142", "+17205550101", talk.clone(), Timestamp::from_secs_micros(t0, 0)));
    s.call(CallSpec::new("+17205550188", "+13035550142", talk, Timestamp::from_secs_micros(t0 + 5, 0)));
    s.write_pcap(std::io::BufWriter::new(std::fs::File::create(path).expect("create"))).expect("write capture");
}

/// Both agencies' LEMFs, the bundled warrants pointing at them, a capture of the target's
/// calls and the single-box replay of it: what X2/X3 delivery is compared with.
pub struct SingleBox {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub rt: tokio::runtime::Runtime,
    pub pcap: PathBuf,
    pub warrants: PathBuf,
    pub lemfs: Vec<Lemf>,
    pub lemf_out: PathBuf,
    pub replay_out: PathBuf,
}

/// [`SingleBox`] with the capture of `seed` and server certificates also for `hosts`.
pub fn single_box(seed: u64, hosts: &[&str]) -> SingleBox {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("calls.pcap");
    target_calls_capture(&pcap, seed);
    let names: Vec<&str> = AGENCIES.iter().chain(hosts).copied().collect();
    let pki = pki(&dir.path().join("pki"), &names);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lemf_out = dir.path().join("lemf");
    let lemfs: Vec<_> =
        AGENCIES.iter().map(|a| start_lemf(&rt, &lemf_config(&pki, a, any_port(), &lemf_out.join(a)))).collect();
    let addrs: Vec<Vec<_>> = lemfs.iter().map(|l| l.local_addrs().to_vec()).collect();
    let warrants = bundled_warrants(dir.path(), Some(&pki.ca), &addrs);
    let replay_out = dir.path().join("replay");
    tapline::replay::replay(&pcap, &warrants, &replay_out).expect("replay");
    SingleBox { dir, pki, rt, pcap, warrants, lemfs, lemf_out, replay_out }
}
