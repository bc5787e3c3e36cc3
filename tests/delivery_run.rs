//! The whole `tapline run` pipeline (bundled demo capture and warrants) delivering over
//! loopback mutual TLS: two agencies kept apart, a LEMF restarted mid-replay, and the real
//! binary killed with SIGKILL and restarted on the same spool.

mod delivery_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use delivery_support::*;
use tapline::delivery::pki::DevPki;
use tapline::delivery::Spool;
use tapline::handover::{decode_pdu, split_stream, Payload};
use tapline::lemf::Lemf;
use tapline::run::{run, RunOptions, Source};


fn demo_pcap() -> PathBuf {
    crate_root().join("fixtures/demo.pcap")
}

fn options(warrants: &Path, spool: &Path, pki: &DevPki, rate: Option<u32>) -> RunOptions {
    run_options(warrants, spool, pki, demo_pcap(), rate)
}

type Key = (Vec<u8>, u32, bool, u32);

/// (LIID, CIN, is-CC, sequence) of every record in BER stream files.
fn keys(files: &[PathBuf]) -> Vec<Key> {
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).unwrap_or_default();
        for pdu in split_stream(&bytes) {
            let p = decode_pdu(pdu.unwrap()).unwrap();
            let cc = match p.payload {
                Payload::Iri(_) => false,
                Payload::Cc(_) => true,
                _ => continue,
            };
            out.push((p.header.liid.clone(), p.header.cin.unwrap(), cc, p.header.sequence));
        }
    }
    out
}

fn lemf_files(dir: &Path, agency: &str) -> Vec<PathBuf> {
    vec![dir.join(agency).join("hi2.ber"), dir.join(agency).join("hi3.ber")]
}

#[test]
fn two_agencies_get_only_their_own_warrants_records() {
    let s = setup();
    let summary = run(&options(&s.warrants, &s.dir.path().join("spool"), &s.pki, None), Arc::new(AtomicBool::new(false))).unwrap();
    assert!(summary.calls_intercepted >= 3, "{summary:?}");
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0 && i.confirmed == i.spooled), "{:?}", summary.interfaces);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.dir.path().join("spool/metrics.json")).unwrap()).unwrap();
    let confirmed: Vec<u64> = metrics.as_array().unwrap().iter().map(|m| m["confirmed"].as_u64().unwrap()).collect();
    assert_eq!(confirmed, summary.interfaces.iter().map(|i| i.confirmed).collect::<Vec<_>>());
    let stats: Vec<_> = s.lemfs.into_iter().map(|l| s.rt.block_on(l.stop()).unwrap()).collect();
    let den = &summary.liids["DEN-2026-0042"];
    let phx = &summary.liids["PHX-2026-T3-0007"];
    assert!(den.iri_records > 0 && den.cc_records == 0, "pen register: IRI only");
    assert!(phx.iri_records > 0 && phx.cc_records > 0, "title III: IRI and CC");
    assert_eq!(stats[0].per_liid.iter().map(|(l, n)| (l.as_str(), *n)).collect::<Vec<_>>(), [("DEN-2026-0042", den.iri_records)]);
    assert_eq!(
        stats[1].per_liid.iter().map(|(l, n)| (l.as_str(), *n)).collect::<Vec<_>>(),
        [("PHX-2026-T3-0007", phx.iri_records + phx.cc_records)]
    );
    assert!(stats.iter().all(|st| st.gaps == 0 && st.duplicates == 0));
    let liids_a: HashSet<Vec<u8>> = keys(&lemf_files(s.dir.path(), AGENCIES[0])).into_iter().map(|k| k.0).collect();
    assert_eq!(liids_a, HashSet::from([b"DEN-2026-0042".to_vec()]));
    let pcap = std::fs::metadata(s.dir.path().join("dea-phoenix/content.pcap")).unwrap().len();
    assert!(pcap > 24 + phx.cc_records * (16 + 42 + 12), "content.pcap holds every CC packet");
    if let Some(script) = oracle() {
        for a in AGENCIES {
            for f in lemf_files(s.dir.path(), a) {
                if std::fs::metadata(&f).map(|m| m.len() > 0).unwrap_or(false) {
                    oracle_check(&script, &f);
                }
            }
        }
    }
}

#[test]
fn lemf_stopped_mid_replay_and_restarted_ends_with_every_record_once() {
    let mut s = setup();
    let opts = options(&s.warrants, &s.dir.path().join("spool"), &s.pki, Some(1500));
    let runner = std::thread::spawn(move || run(&opts, Arc::new(AtomicBool::new(false))));
    let dea = s.lemfs.pop().unwrap();
    assert!(wait_until(Duration::from_secs(20), || dea.stats().records >= 100), "DEA LEMF receives records");
    let before = s.rt.block_on(dea.stop()).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let out = s.dir.path().join("dea-phoenix");
    let dea = start_lemf(&s.rt, &lemf_config(&s.pki, "dea-phoenix", s.addrs[1].clone(), &out));
    let summary = runner.join().unwrap().unwrap();
    let after = s.rt.block_on(dea.stop()).unwrap();
    let phx = &summary.liids["PHX-2026-T3-0007"];
    assert!(before.records < phx.iri_records + phx.cc_records, "stopped in the middle");
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    assert_eq!(after.records, phx.iri_records + phx.cc_records, "every record once");
    assert_eq!(after.gaps, 0);
    let received = keys(&lemf_files(s.dir.path(), "dea-phoenix"));
    let distinct: HashSet<&Key> = received.iter().collect();
    assert_eq!(distinct.len(), received.len(), "hi2.ber/hi3.ber are de-duplicated");
    if let Some(script) = oracle() {
        for f in lemf_files(s.dir.path(), "dea-phoenix") {
            oracle_check(&script, &f);
        }
    }
}

/// Every record left unconfirmed in the spool directories.
fn spooled(spool: &Path) -> Vec<Key> {
    let mut out = Vec::new();
    for a in AGENCIES {
        for i in ["hi2", "hi3"] {
            let s = Spool::open(&spool.join(a).join(i), u64::MAX).unwrap();
            let mut at = s.confirmed();
            loop {
                let chunk = s.read(at, 1 << 20).unwrap();
                if chunk.records == 0 {
                    break;
                }
                let f = spool.join("chunk.ber");
                std::fs::write(&f, &chunk.bytes).unwrap();
                out.extend(keys(&[f]));
                at = chunk.end;
            }
        }
    }
    out
}

fn tapline(warrants: &Path, spool: &Path, pki: &DevPki, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
    c.arg("run").arg("--warrants").arg(warrants).arg("--pcap").arg(demo_pcap()).arg("--spool").arg(spool);
    c.arg("--cert").arg(&pki.appliance.cert).arg("--key").arg(&pki.appliance.key).args(extra);
    c.stdout(Stdio::piped()).stderr(Stdio::null());
    c
}

#[test]
fn appliance_killed_with_sigkill_delivers_everything_spooled_after_restart() {
    let mut s = setup();
    let spool = s.dir.path().join("spool");
    let mut child = tapline(&s.warrants, &spool, &s.pki, &["--rate", "1500"]).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(20), || s.lemfs[1].stats().records >= 50), "delivery started");
    // The agencies go away; records pile up in the spool; then the appliance is killed.
    let stopped: Vec<_> = s.lemfs.drain(..).map(|l| s.rt.block_on(l.stop()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let pending = spooled(&spool);
    assert!(!pending.is_empty(), "records were waiting in the spool ({stopped:?})");
    let floor: u32 = std::fs::read_to_string(spool.join("cin-reserved")).unwrap().trim().parse().unwrap();
    assert!(pending.iter().all(|k| k.1 < floor), "CINs used before the kill are below the reservation");

    let lemfs: Vec<Lemf> = AGENCIES
        .iter()
        .zip(&s.addrs)
        .map(|(a, addrs)| start_lemf(&s.rt, &lemf_config(&s.pki, a, addrs.clone(), &s.dir.path().join(a))))
        .collect();
    let started = Instant::now();
    let mut again = tapline(&s.warrants, &spool, &s.pki, &["--drain-secs", "30"]).spawn().unwrap();
    let status = loop {
        if let Some(st) = again.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > Duration::from_secs(60) {
            again.kill().unwrap();
            panic!("restarted appliance did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let stats: Vec<_> = lemfs.into_iter().map(|l| s.rt.block_on(l.stop()).unwrap()).collect();
    assert!(spooled(&spool).is_empty(), "spool fully confirmed");
    let mut received = HashSet::new();
    for a in AGENCIES {
        received.extend(keys(&lemf_files(s.dir.path(), a)));
    }
    let missing: Vec<_> = pending.iter().filter(|k| !received.contains(*k)).collect();
    assert!(missing.is_empty(), "{} spooled records never delivered", missing.len());
    assert!(received.iter().any(|k| k.1 >= floor), "the restarted run used fresh CINs");
    assert!(stats.iter().all(|st| st.gaps == 0), "{stats:?}");
    if let Some(script) = oracle() {
        for a in AGENCIES {
            for f in lemf_files(s.dir.path(), a) {
                oracle_check(&script, &f);
            }
        }
    }
}

#[test]
fn demo_delivers_the_bundled_capture_to_two_reference_lemfs() {
    let dir = tempfile::tempdir().unwrap();
    let addrs: Vec<Vec<SocketAddr>> = AGENCIES.iter().map(|_| vec![reserved_port(), reserved_port()]).collect();
    let w = bundled_warrants(dir.path(), None, &addrs);
    let out = dir.path().join("out");
    let d = tapline::run::demo(&demo_pcap(), &w, &out).unwrap();
    let report = tapline::run::demo_report(&d);
    eprintln!("{report}");
    for (liid, agency) in [("DEN-2026-0042", "fbi-denver"), ("PHX-2026-T3-0007", "dea-phoenix")] {
        let sent = &d.run.liids[liid];
        let got = &d.lemfs[agency];
        assert_eq!(got.per_liid.get(liid).copied(), Some(sent.iri_records + sent.cc_records));
        assert_eq!(got.per_liid.len(), 1);
        assert!(out.join(agency).join("records.jsonl").is_file());
    }
    assert!(d.run.interfaces.iter().all(|i| i.unconfirmed == 0));
    let pcap = out.join("dea-phoenix/content.pcap");
    match Command::new("tshark").args(["-o", "rtp.heuristic_rtp:TRUE", "-Y", "rtp", "-T", "fields", "-e", "rtp.ssrc", "-r"]).arg(&pcap).output() {
        Ok(o) if o.status.success() => {
            let rtp = String::from_utf8_lossy(&o.stdout).lines().count() as u64;
            assert_eq!(rtp, d.run.liids["PHX-2026-T3-0007"].cc_records, "Wireshark sees every CC packet as RTP");
        }
        _ => eprintln!("SKIP: tshark unavailable; content.pcap not checked with Wireshark"),
    }
    assert!(report.contains("calls          4 seen, 3 intercepted"), "{report}");
    assert!(d.run.latency.encoded.is_some_and(|p| p.count > 0), "the run reports capture→spooled latency");
    assert!(report.contains("latency        capture → spooled record p50 "), "{report}");
}

#[test]
fn sigterm_drains_the_spools_and_exits_cleanly() {
    let s = setup();
    let spool = s.dir.path().join("spool");
    let child = tapline(&s.warrants, &spool, &s.pki, &["--rate", "800"]).spawn().unwrap();
    assert!(wait_until(Duration::from_secs(20), || s.lemfs[1].stats().records >= 50), "delivery started");
    let term = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(term.success());
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(output.status.success(), "exit status {:?}", output.status);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("stopped by signal"), "{report}");
    assert!(spooled(&spool).is_empty(), "everything spooled was confirmed before exit");
    let stats: Vec<_> = s.lemfs.into_iter().map(|l| s.rt.block_on(l.stop()).unwrap()).collect();
    let phx = stats[1].per_liid["PHX-2026-T3-0007"];
    assert!((50..1131).contains(&phx), "stopped part-way: {phx}");
    assert!(stats.iter().all(|st| st.gaps == 0));
}

#[test]
fn cli_certs_lemf_and_run_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tapline");
    let pki_dir = dir.path().join("pki");
    let certs = Command::new(bin)
        .args(["certs", "--out"])
        .arg(&pki_dir)
        .args(["--agency", "fbi-denver", "--agency", "dea-phoenix"])
        .output()
        .unwrap();
    assert!(certs.status.success());
    let free = reserved_port;
    let addrs: Vec<Vec<SocketAddr>> = AGENCIES.iter().map(|_| vec![free(), free()]).collect();
    let mut lemfs = Vec::new();
    for (a, ad) in AGENCIES.iter().zip(&addrs) {
        let mut c = Command::new(bin);
        c.arg("lemf");
        for x in ad {
            c.arg("--listen").arg(x.to_string());
        }
        c.arg("--cert").arg(pki_dir.join(format!("{a}.pem"))).arg("--key").arg(pki_dir.join(format!("{a}.key")));
        c.arg("--client-ca").arg(pki_dir.join("ca.pem")).arg("--out").arg(dir.path().join(a));
        lemfs.push(c.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    }
    let w = bundled_warrants(dir.path(), Some(&pki_dir.join("ca.pem")), &addrs);
    let pki = DevPki {
        ca: pki_dir.join("ca.pem"),
        ca_key: pki_dir.join("ca.key"),
        appliance: tapline::delivery::pki::CertFiles { cert: pki_dir.join("appliance.pem"), key: pki_dir.join("appliance.key") },
        servers: Vec::new(),
    };
    // The LEMF processes may still be binding: the appliance retries with back-off.
    let run = tapline(&w, &dir.path().join("spool"), &pki, &[]).output().unwrap();
    assert!(run.status.success());
    let report = String::from_utf8_lossy(&run.stdout);
    let left: Vec<&str> = report.lines().filter(|l| l.contains("left in spool")).collect();
    assert_eq!(left.len(), 4, "{report}");
    assert!(left.iter().all(|l| l.contains("left in spool      0")), "{report}");
    for (a, lemf) in AGENCIES.iter().zip(lemfs) {
        Command::new("kill").arg("-TERM").arg(lemf.id().to_string()).status().unwrap();
        let out = lemf.wait_with_output().unwrap();
        assert!(out.status.success());
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let lines = std::fs::read_to_string(dir.path().join(a).join("records.jsonl")).unwrap().lines().count();
        // One line per record and per HI1 notification.
        let told = stats["records"].as_u64().unwrap() + stats["hi1_notifications"].as_u64().unwrap();
        assert_eq!(told, lines as u64, "{a}: {stats}");
        assert!(lines > 0);
    }
}

#[test]
fn a_laes_agency_is_delivered_over_tls_exactly_as_replay_writes_it() {
    let s = setup();
    // dea-phoenix (Title III) switches to the US profile: CDC on HI2, CCC frames on HI3.
    let agencies = std::fs::read_to_string(s.warrants.join("agencies.toml")).unwrap();
    let at = agencies.rfind("profile = \"etsi\"").unwrap();
    let agencies = format!("{}profile = \"laes\"{}", &agencies[..at], &agencies[at + "profile = \"etsi\"".len()..]);
    std::fs::write(s.warrants.join("agencies.toml"), agencies).unwrap();

    let summary = run(&options(&s.warrants, &s.dir.path().join("spool"), &s.pki, None), Arc::new(AtomicBool::new(false))).unwrap();
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0 && i.confirmed == i.spooled), "{:?}", summary.interfaces);
    let _stats: Vec<_> = s.lemfs.into_iter().map(|l| s.rt.block_on(l.stop()).unwrap()).collect();

    let replayed = s.dir.path().join("replay");
    tapline::replay::replay(&demo_pcap(), &s.warrants, &replayed).unwrap();
    for file in ["hi2.ber", "hi3.ccc"] {
        let want = std::fs::read(replayed.join("dea-phoenix").join(file)).unwrap();
        let got = std::fs::read(s.dir.path().join("dea-phoenix").join(file)).unwrap();
        assert!(!want.is_empty(), "{file}");
        assert!(got == want, "{file}: the LEMF received {} bytes, replay wrote {}", got.len(), want.len());
    }
    // the etsi agency beside it is unaffected
    assert!(keys(&lemf_files(s.dir.path(), "fbi-denver")).iter().all(|k| k.0 == b"DEN-2026-0042"));
}

#[test]
fn call_trace_runs_on_the_delivering_appliance_too() {
    use tapline::gen::{CallSpec, Outcome, Scenario};
    use tapline::Timestamp;
    let s = setup();
    let start = Timestamp::from_secs_micros(1_793_628_000, 0);
    let at = |secs: u64| Timestamp::from_nanos(start.as_nanos() + secs * 1_000_000_000);
    let talk = Outcome::Answered { talk: Duration::from_secs(2) };
    let mut scenario = Scenario::new(57);
    scenario.call(CallSpec::new("+13035550177", "+13035550142", talk.clone(), at(0)));
    scenario.call(CallSpec::new("+13035550142", "*57", talk, at(20)));
    let capture = s.dir.path().join("star57.pcap");
    scenario.write_pcap(std::fs::File::create(&capture).unwrap()).unwrap();

    let spool = s.dir.path().join("spool");
    let mut opts = options(&s.warrants, &spool, &s.pki, None);
    opts.source = Source::Pcap { path: capture, rate: None };
    opts.calltrace = Some(crate_root().join("calltrace/calltrace.toml"));
    let summary = run(&opts, Arc::new(AtomicBool::new(false))).unwrap();
    let stats = summary.calltrace.expect("call trace configured");
    assert_eq!(stats.traces_succeeded, 1, "{stats:?}");
    let traces = std::fs::read_to_string(spool.join("calltrace/cic/traces.jsonl")).unwrap();
    let trace: serde_json::Value = serde_json::from_str(traces.lines().next().unwrap()).unwrap();
    assert_eq!(trace["result"], "success", "{trace}");
    let outcome = std::fs::read_to_string(spool.join("calltrace/subscriber/outcomes.jsonl")).unwrap();
    assert!(!outcome.contains("3035550177"), "the subscriber never learns the caller: {outcome}");
    assert!(spool.join("calltrace/state.json").exists(), "counts survive a restart");
    // the Title III on +13035550142 intercepted both calls meanwhile
    assert_eq!(summary.liids["PHX-2026-T3-0007"].communications, 2);
}

/// GET `path` from `addr` over plain HTTP; the whole response.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn a_running_appliance_serves_prometheus_metrics() {
    let s = setup();
    let addr = reserved_port();
    let mut o = options(&s.warrants, &s.dir.path().join("spool"), &s.pki, Some(400));
    o.metrics = Some(addr);
    let stop = Arc::new(AtomicBool::new(false));
    let running = std::thread::spawn(move || run(&o, stop).unwrap());
    // Scrape while the capture plays (400 packets/s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        if let Ok(body) = http_get(addr, "/metrics") {
            if metric(&body, "tapline_packets_total ").is_some_and(|p| p > 0.0) {
                break body;
            }
        }
        assert!(Instant::now() < deadline, "no packets counted on the metrics endpoint");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("text/plain; version=0.0.4"));
    for name in ["tapline_sip_messages_total ", "tapline_calls_seen_total ", "tapline_drops_total{stage=\"decode\"} "] {
        assert!(metric(&body, name).is_some(), "{name} missing:\n{body}");
    }
    assert!(body.contains("tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"+Inf\"}"));
    let summary = running.join().unwrap();
    assert!(metric(&body, "tapline_packets_total ").unwrap() <= summary.packets_read as f64);
    // The endpoint stops with the run.
    assert!(http_get(addr, "/metrics").is_err());
}
