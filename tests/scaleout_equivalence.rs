//! Scale-out, end to end over real mutual TLS on loopback: three `tapline poi` processes, one
//! per site, each replaying its own share of the calls (every call's SIP and media seen by
//! one POI: a POI that saw only RTP could not find a call's media without its SDP), tasked
//! over X1 by ONE mediation function (`tapline run --pois pois.toml --x2x3-listen …`, its
//! ADMF; no test-side ADMF) with the four order kinds of two agencies; X2/X3 into that same
//! run; the agencies' reference LEMFs must get, per LIID, the same calls, IRI messages and
//! CC packets as a single-box `tapline replay` of the whole capture (the three shares merged
//! by time with the project's capture reader and pcap writer).
//!
//! And a warrant revoked while the POIs replay paced: not one record of that LIID for a
//! packet captured after the deactivation took effect on every POI (each POI logs the
//! number of frames it had processed when it applied the X1 change), nothing lost for the
//! other LIIDs.

mod common;
mod delivery_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::poi::{pdus_sent, pois_toml, Poi, Proc};
use delivery_support::*;
use tapline::capture::FileReader;
use tapline::gen::{CallSpec, Outcome, PcapWriter, Resolution, Scenario};
use tapline::lemf::Lemf;
use tapline::Timestamp;

const T0: u64 = 1_790_000_000;

/// The Title III of the bundled warrants (dea-phoenix, +13035550142); the bundled pen
/// register (fbi-denver, DEN-2026-0042) is on the same target.
const TITLE_III: &str = "PHX-2026-T3-0007";
/// The two orders added to the bundled ones: (LIID, kind, agency, target).
const ADDED: [(&str, &str, &str, &str); 2] = [
    ("DEN-2026-TT-0051", "trap-and-trace", "fbi-denver", "tel:+13035550177"),
    ("PHX-2026-PT-0013", "pen-trap", "dea-phoenix", "tel:+13035550199"),
];

/// The calls each site's POI sees, (caller, callee, outcome, start in seconds from T0):
/// the pen register's and Title III's target calls out at sites 1 and 3 and is called at
/// site 1; the trap-and-trace target is called at site 2 and calls out (not of interest) at
/// site 1; the pen/trap target calls out and is called at sites 2 and 3; one call of
/// nobody's target. Every site's first call starts within 2 s of T0.
fn site_calls(site: usize) -> Vec<(&'static str, &'static str, Outcome, u64)> {
    let talk = |s| Outcome::Answered { talk: Duration::from_secs(s) };
    match site {
        0 => vec![
            ("+13035550142", "+17205550101", talk(3), 0),
            ("+17205550188", "+13035550142", talk(3), 5),
            ("+13035550177", "+17205550102", talk(2), 10),
        ],
        1 => vec![
            ("+17205550103", "+13035550177", talk(3), 1),
            ("+13035550199", "+17205550104", talk(3), 6),
            ("+17205550105", "+13035550199", Outcome::RangNoAnswer { ring: Duration::from_secs(2) }, 11),
        ],
        _ => vec![
            ("+17205550109", "+13035550199", talk(2), 2),
            ("+17205550106", "+17205550107", talk(2), 7),
            ("+13035550142", "+17205550108", Outcome::Rejected { status: 486 }, 12),
        ],
    }
}

/// Writes each site's capture (`site-N.pcap`) and the whole one (`whole.pcap`: every
/// site's frames merged by time, read back with the capture reader, written with the pcap
/// writer); the sites' paths.
fn write_captures(dir: &Path) -> (Vec<PathBuf>, PathBuf) {
    let mut sites = Vec::new();
    let mut frames: Vec<(Timestamp, usize, Vec<u8>)> = Vec::new();
    for site in 0..3 {
        let mut s = Scenario::new(1300 + site as u64);
        for (caller, callee, outcome, at) in site_calls(site) {
            s.call(CallSpec::new(caller, callee, outcome, Timestamp::from_secs_micros(T0 + at, 0)));
        }
        let path = dir.join(format!("site-{}.pcap", site + 1));
        s.write_pcap(std::io::BufWriter::new(std::fs::File::create(&path).expect("create capture"))).expect("write capture");
        let mut reader = FileReader::open(&path).expect("read capture");
        while let Some(f) = reader.next_frame().expect("frame") {
            frames.push((f.ts, site, f.data.to_vec()));
        }
        sites.push(path);
    }
    frames.sort_by_key(|(ts, site, _)| (*ts, *site));
    let whole = dir.join("whole.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&whole).expect("create capture"));
    let mut w = PcapWriter::new(file, Resolution::Nano).expect("pcap header");
    for (ts, _, frame) in &frames {
        w.write_frame(*ts, frame).expect("frame");
    }
    use std::io::Write;
    w.into_inner().flush().expect("flush");
    (sites, whole)
}

fn warrant_toml(liid: &str, kind: &str, agency: &str, target: &str) -> String {
    format!(
        "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"{agency}\"\ntargets = [\"{target}\"]\n\
         valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\n\
         court_order = \"3:26-mj-00051\"\nissuing_authority = \"Hon. Test\"\n"
    )
}

/// The agencies' LEMFs, the four orders, the sites' captures and the single box's replay
/// of the whole capture.
struct ScaleOut {
    dir: tempfile::TempDir,
    pki: tapline::delivery::pki::DevPki,
    rt: tokio::runtime::Runtime,
    lemfs: Vec<Lemf>,
    lemf_out: PathBuf,
    warrants: PathBuf,
    sites: Vec<PathBuf>,
    replay_out: PathBuf,
}

fn set_up() -> ScaleOut {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(&dir.path().join("pki"), &[AGENCIES[0], AGENCIES[1], "mf", "poi"]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let lemf_out = dir.path().join("lemf");
    let lemfs: Vec<_> = AGENCIES.iter().map(|a| start_lemf(&rt, &lemf_config(&pki, a, any_port(), &lemf_out.join(a)))).collect();
    let addrs: Vec<Vec<_>> = lemfs.iter().map(|l| l.local_addrs().to_vec()).collect();
    let warrants = bundled_warrants(dir.path(), Some(&pki.ca), &addrs);
    for (liid, kind, agency, target) in ADDED {
        std::fs::write(warrants.join(format!("{liid}.toml")), warrant_toml(liid, kind, agency, target)).expect("warrant");
    }
    let (sites, whole) = write_captures(dir.path());
    let replay_out = dir.path().join("replay");
    let (_, refused) = tapline::replay::replay(&whole, &warrants, &replay_out).expect("replay");
    assert!(refused.is_empty(), "{refused:?}");
    ScaleOut { dir, pki, rt, lemfs, lemf_out, warrants, sites, replay_out }
}

/// The mediation function: `tapline run` and its stdout.
struct Mf {
    proc: Proc,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl ScaleOut {
    /// One POI per site (neIdentifier `poi-N`), each replaying its capture once it holds
    /// the four tasks; `extra` arguments for all.
    fn start_pois(&self, extra: &[&str]) -> Vec<Poi> {
        (0..3)
            .map(|i| {
                let mut args: Vec<std::ffi::OsString> = vec!["--pcap".into(), self.sites[i].clone().into()];
                args.extend(["--wait-tasks", "4", "--keepalive-secs", "1"].map(Into::into));
                args.extend(extra.iter().map(Into::into));
                let spool = self.dir.path().join(format!("poi-{}-spool", i + 1));
                common::poi::start(self.dir.path(), &self.pki, &format!("poi-{}", i + 1), "127.0.0.1:0".parse().expect("addr"), &spool, &args)
            })
            .collect()
    }

    /// `tapline run --pois` tasking `pois`, ingesting X2/X3 on a free loopback port.
    fn start_mf(&self, pois: &[Poi]) -> Mf {
        let x2x3 = reserved_port();
        let at: Vec<(SocketAddr, String)> = pois.iter().enumerate().map(|(i, p)| (p.x1, format!("poi-{}", i + 1))).collect();
        let at: Vec<(SocketAddr, &str)> = at.iter().map(|(a, n)| (*a, n.as_str())).collect();
        let pois_file = pois_toml(self.dir.path(), &self.pki, "appliance", &at, x2x3);
        let mf = self.pki.server("mf").expect("mf cert");
        let (stdout, stderr) = (self.dir.path().join("mf.out"), self.dir.path().join("mf.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_tapline"))
            .arg("run")
            .arg("--warrants").arg(&self.warrants)
            .arg("--spool").arg(self.dir.path().join("mf-spool"))
            .arg("--cert").arg(&self.pki.appliance.cert)
            .arg("--key").arg(&self.pki.appliance.key)
            .args(["--x2x3-listen", &x2x3.to_string()])
            .arg("--x2x3-cert").arg(&mf.cert)
            .arg("--x2x3-key").arg(&mf.key)
            .arg("--x2x3-client-ca").arg(&self.pki.ca)
            .arg("--pois").arg(&pois_file)
            .stdout(std::fs::File::create(&stdout).expect("mf stdout"))
            .stderr(std::fs::File::create(&stderr).expect("mf log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("tapline run");
        Mf { proc: Proc(child), stdout, stderr }
    }

    /// Waits for every POI to exit 0 (all confirmed), then stops the mediation function
    /// (SIGTERM: what it received is processed and delivered) and the LEMFs; the X2 and X3
    /// PDUs the POIs sent, each POI's.
    fn finish(self, mut pois: Vec<Poi>, mut mf: Mf) -> (Finished, Vec<(u64, u64)>) {
        let mut sent = Vec::new();
        for p in &mut pois {
            p.wait_exit();
            let summary = p.final_summary();
            assert_eq!(summary["unconfirmed"], 0, "{summary}");
            sent.push(pdus_sent(&summary));
        }
        mf.proc.terminate();
        let status = wait_until(Duration::from_secs(60), || matches!(mf.proc.0.try_wait(), Ok(Some(_))));
        let log = std::fs::read_to_string(&mf.stderr).unwrap_or_default();
        assert!(status, "the mediation function stops on SIGTERM: {log}");
        let out = std::fs::read_to_string(&mf.stdout).unwrap_or_default();
        let ingest: serde_json::Value = out
            .lines()
            .find_map(|l| l.strip_prefix("x2x3 ingest: "))
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_else(|| panic!("the MF's ingest counters: {out}\n{log}"));
        let (x2, x3) = sent.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
        assert_eq!((ingest["x2_pdus"].as_u64(), ingest["x3_pdus"].as_u64()), (Some(x2), Some(x3)), "every PDU ingested once: {ingest}");
        for k in ["malformed_pdus", "not_ingested", "refused_streams", "resends_dropped"] {
            assert_eq!(ingest[k].as_u64(), Some(0), "{k}: {ingest}");
        }
        for l in self.lemfs {
            self.rt.block_on(l.stop()).expect("LEMF stops");
        }
        (Finished { dir: self.dir, lemf_out: self.lemf_out, replay_out: self.replay_out, sites: self.sites, pois }, sent)
    }
}

/// After the run: where the LEMFs and the single box wrote.
struct Finished {
    #[allow(dead_code)]
    dir: tempfile::TempDir,
    lemf_out: PathBuf,
    replay_out: PathBuf,
    sites: Vec<PathBuf>,
    pois: Vec<Poi>,
}

#[test]
fn three_pois_tasked_by_one_mediation_function_give_what_a_single_box_gives() {
    let s = set_up();
    let pois = s.start_pois(&[]);
    let mf = s.start_mf(&pois);
    let (done, sent) = s.finish(pois, mf);
    for (i, (x2, _)) in sent.iter().enumerate() {
        assert!(*x2 > 0, "POI {} delivered X2: {sent:?}", i + 1);
    }
    for agency in AGENCIES {
        let got = records_per_liid(&done.lemf_out.join(agency));
        let want = records_per_liid(&done.replay_out.join(agency));
        assert_eq!(want.len(), 2, "{agency}: two LIIDs with records in the single box: {:?}", want.keys());
        for (liid, records) in &want {
            let mine = got.get(liid).map(Vec::as_slice).unwrap_or_default();
            eprintln!("{agency} {liid}: {} records, single box {}", mine.len(), records.len());
            assert_eq!(mine.len(), records.len(), "{agency} {liid}: as many records as the single box");
            for (i, (g, w)) in mine.iter().zip(records).enumerate() {
                assert_eq!(g, w, "{agency} {liid}: record {i} (in time order) differs from the single box");
            }
        }
        assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{agency}: the same LIIDs");
    }
}

/// The capture time (Unix µs) of frame `index` of `capture`, and how many of the frames
/// before it are RTP to or from `number`'s UA (what a POI tasked with content for
/// `number` sends as X3 until then).
fn cut_at(capture: &Path, index: u64, number: &str) -> (Option<u64>, u64) {
    let ua = tapline::gen::call::ua_ip(number, false);
    let mut reader = FileReader::open(capture).expect("capture");
    let mut decoder = tapline::wire::Decoder::new();
    let (mut i, mut rtp) = (0, 0);
    while let Some(f) = reader.next_frame().expect("frame") {
        if i == index {
            return (Some(f.ts.as_nanos() / 1_000), rtp);
        }
        if let tapline::wire::Decoded::Datagram(dg) = decoder.decode(&f) {
            let media = dg.flow.src_port != 5060 && dg.flow.dst_port != 5060 && dg.payload.first().is_some_and(|b| b >> 6 == 2);
            if media && (dg.flow.src == ua || dg.flow.dst == ua) {
                rtp += 1;
            }
        }
        i += 1;
    }
    (None, rtp)
}

#[test]
fn a_warrant_revoked_while_the_pois_replay_gets_no_record_of_a_later_packet() {
    let s = set_up();
    // Every POI replays its site at the capture's own pace (about 15 s).
    let pois = s.start_pois(&["--rate", "1x"]);
    let mf = s.start_mf(&pois);
    assert!(
        wait_until(Duration::from_secs(60), || pois.iter().all(|p| p.changes("task activated").len() == 4)),
        "every POI is tasked: {:?}",
        pois.iter().map(Poi::log_text).collect::<Vec<_>>()
    );
    // Once the Title III's content reaches its agency (the target's first call is talking), revoke.
    let hi3 = s.lemf_out.join(AGENCIES[1]).join("hi3.ber");
    assert!(wait_until(Duration::from_secs(60), || pdu_count(&hi3) > 0), "content reaches the LEMF");
    std::fs::remove_file(s.warrants.join(format!("{TITLE_III}.toml"))).expect("revoke");
    assert!(
        wait_until(Duration::from_secs(60), || pois.iter().all(|p| p.changes("task deactivated").len() == 1)),
        "the Title III's task is deactivated on every POI: {:?}",
        pois.iter().map(Poi::log_text).collect::<Vec<_>>()
    );
    let (done, sent) = s.finish(pois, mf);

    // Where the deactivation took effect on each POI: the first frame it processed after.
    let target = "+13035550142";
    let mut cut = 0;
    for (i, poi) in done.pois.iter().enumerate() {
        let frames = poi.changes("task deactivated")[0];
        let (at, content) = cut_at(&done.sites[i], frames, target);
        let at = at.unwrap_or_else(|| panic!("POI {} had replayed its whole capture ({frames} frames) before the revocation", i + 1));
        cut = cut.max(at);
        eprintln!("POI {}: deactivated after {frames} frames, at {at} µs ({} µs after T0), {content} content packets before", i + 1, at - T0 * 1_000_000);
        // Content at source only until the cut: X3 is the target's RTP before it, no more.
        assert_eq!(sent[i].1, content, "POI {}: X3 PDUs = the target's RTP packets before frame {frames}", i + 1);
    }
    assert!(sent[0].1 > 0, "the Title III got content before the revocation: {sent:?}");
    let times = record_times(&done.lemf_out.join(AGENCIES[1]), TITLE_III);
    let after: Vec<_> = times.iter().filter(|t| **t >= cut).collect();
    assert!(times.len() > after.len(), "records of {TITLE_III} before the cut");
    assert!(after.is_empty(), "{} records of {TITLE_III} for packets at or after {cut} µs: {after:?}", after.len());

    // The other LIIDs lose nothing: exactly the single box's records.
    for agency in AGENCIES {
        let mut got = records_per_liid(&done.lemf_out.join(agency));
        let mut want = records_per_liid(&done.replay_out.join(agency));
        got.remove(TITLE_III);
        want.remove(TITLE_III);
        assert_eq!(want.len(), if agency == AGENCIES[0] { 2 } else { 1 }, "{agency}: {:?}", want.keys());
        assert_eq!(got, want, "{agency}: the other LIIDs' records are the single box's");
    }
}
