//! What a Prometheus/Grafana operator relies on: `/healthz` and `/ready`, the build and
//! per-agency-interface series from a real delivering run, and the shipped Grafana
//! dashboard asking only for series the appliance exports.

mod delivery_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use delivery_support::*;
use tapline::metrics::{serve, InterfaceSample, Metrics, PROMETHEUS_FAMILIES};

/// (status, body) of `GET path`.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

fn interface(agency: &str, interface: &'static str, connected: bool) -> InterfaceSample {
    InterfaceSample { agency: agency.into(), interface, connected, ..Default::default() }
}

#[test]
fn healthz_and_ready_say_what_is_wrong() {
    let metrics = Arc::new(Metrics::new());
    let server = serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    let addr = server.local_addr();
    assert_eq!(get(addr, "/healthz").unwrap(), (200, "ok\n".into()));
    let (status, body) = get(addr, "/ready").unwrap();
    assert_eq!((status, body.as_str()), (503, "not ready: pipeline not running\n"));
    metrics.set_running(true);
    metrics.set_interfaces(vec![interface("fbi-denver", "hi2", true), interface("fbi-denver", "hi3", false)]);
    let (status, body) = get(addr, "/ready").unwrap();
    assert_eq!((status, body.as_str()), (503, "not ready: not connected to fbi-denver/hi3\n"));
    metrics.set_interfaces(vec![interface("fbi-denver", "hi2", true), interface("fbi-denver", "hi3", true)]);
    assert_eq!(get(addr, "/ready").unwrap(), (200, "ready\n".into()));
}

#[test]
fn build_info_names_version_commit_and_features() {
    let body = tapline::metrics::render_prometheus(&Metrics::new());
    let line = body.lines().find(|l| l.starts_with("tapline_build_info{")).expect("build info");
    assert!(line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{line}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(o) if o.status.success() && std::env::var("TAPLINE_GIT_COMMIT").is_err() => {
            let commit = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            assert!(line.contains(&format!("commit=\"{commit}\"")), "{line} vs HEAD {commit}");
        }
        _ => assert!(!line.contains("commit=\"\""), "{line}"),
    }
    let features = if cfg!(feature = "live") { "live" } else { "" };
    assert!(line.contains(&format!("features=\"{features}\"")), "{line}");
}

#[test]
fn a_delivering_run_exports_per_interface_series_warrant_states_and_readiness() {
    let s = setup();
    let addr = reserved_port();
    let mut o = run_options(&s.warrants, &s.dir.path().join("spool"), &s.pki, crate_root().join("fixtures/demo.pcap"), Some(300));
    o.metrics = Some(addr);
    let running = std::thread::spawn(move || tapline::run::run(&o, Arc::new(AtomicBool::new(false))).unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut ready_seen, mut untapped_seen, mut last) = (false, false, String::new());
    loop {
        if let Ok((200, body)) = get(addr, "/metrics") {
            let active = value(&body, "tapline_active_calls").unwrap_or(0.0);
            let intercepted = value(&body, "tapline_intercepted_calls").unwrap_or(f64::NAN);
            assert!(intercepted <= active, "intercepted {intercepted} > tracked {active}");
            untapped_seen |= active > intercepted;
            ready_seen |= get(addr, "/ready").is_ok_and(|(st, _)| st == 200);
            if value(&body, "tapline_packets_total").is_some_and(|p| p >= 1000.0) {
                last = body;
            }
        }
        if (ready_seen && untapped_seen && !last.is_empty()) || running.is_finished() {
            break;
        }
        assert!(Instant::now() < deadline, "metrics never showed a ready, delivering run:\n{last}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready_seen, "/ready answered 200 while every interface was connected");
    assert!(untapped_seen, "tapline_active_calls counts calls not intercepted too");
    for agency in AGENCIES {
        for i in ["hi2", "hi3"] {
            let labels = format!("{{agency=\"{agency}\",interface=\"{i}\"}}");
            for family in ["tapline_interface_records_spooled_total", "tapline_interface_connected", "tapline_interface_connect_failures_total"] {
                assert!(value(&last, &format!("{family}{labels}")).is_some(), "{family}{labels} missing:\n{last}");
            }
        }
    }
    assert_eq!(value(&last, "tapline_interface_connected{agency=\"dea-phoenix\",interface=\"hi3\"}"), Some(1.0), "{last}");
    assert!(value(&last, "tapline_interface_records_spooled_total{agency=\"dea-phoenix\",interface=\"hi3\"}").unwrap() > 0.0);
    assert_eq!(value(&last, "tapline_warrants{state=\"active\"}"), Some(2.0), "{last}");
    assert_eq!(value(&last, "tapline_warrants{state=\"revoked\"}"), Some(0.0), "{last}");
    assert!(!last.contains("3035550142") && !last.contains("DEN-2026-0042"), "no target or LIID in metrics");
    running.join().unwrap();
}

/// Metric names a PromQL expression refers to (`tapline_…` words; histogram suffixes cut).
fn referenced(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("tapline_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        names.push(base.to_owned());
        rest = &tail[end..];
    }
    names
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

#[test]
fn the_grafana_dashboard_parses_and_asks_only_for_exported_series() {
    let path = crate_root().join("deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("deploy/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dashboard["title"].is_string() && dashboard["panels"].is_array(), "a Grafana dashboard");
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 8, "queries: {all:?}");
    for expr in &all {
        let names = referenced(expr);
        assert!(!names.is_empty(), "query without a tapline metric: {expr}");
        for n in names {
            assert!(PROMETHEUS_FAMILIES.contains(&n.as_str()), "{expr}: {n} is not exported");
        }
    }
    for p in dashboard["panels"].as_array().unwrap() {
        assert!(p["title"].is_string() && p["type"].is_string(), "{p}");
    }
}
