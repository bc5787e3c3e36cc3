//! The metrics endpoint over real TCP: `GET /metrics` answers the Prometheus text with the
//! live counter values, other paths 404, and shutting the server down frees its port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use tapline::metrics::{serve, Counter, Gauge, LatencyRecorder, Metrics, Stage};

/// One HTTP/1.1 request with `Connection: close`; returns (status, headers, body).
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Every non-comment line is `name{labels} value` with a numeric value.
fn assert_exposition_format(body: &str) {
    for line in body.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("tapline_"), "{line}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
        }
    }
}

#[test]
fn get_metrics_serves_live_counters() {
    let metrics = Arc::new(Metrics::new());
    let server = serve("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    metrics.add(Counter::Packets, 1000);
    metrics.add(Counter::CcRecords, 12);
    metrics.add_drops(Stage::Capture, 3);
    metrics.set_gauge(Gauge::ActiveCalls, 4);
    let mut recorder = LatencyRecorder::new(Stage::Decode);
    recorder.record(Duration::from_nanos(750));
    recorder.flush_into(&metrics);

    let (status, headers, body) = request(addr, "GET", "/metrics");
    assert_eq!(status, 200);
    let content_type = header(&headers, "content-type").unwrap();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let lines: Vec<&str> = body.lines().collect();
    for expected in [
        "# TYPE tapline_packets_total counter",
        "tapline_packets_total 1000",
        "tapline_cc_records_total 12",
        "tapline_drops_total{stage=\"capture\"} 3",
        "tapline_active_calls 4",
        "tapline_stage_latency_seconds_bucket{stage=\"decode\",le=\"0.000001\"} 1",
        "tapline_stage_latency_seconds_count{stage=\"decode\"} 1",
    ] {
        assert!(lines.contains(&expected), "missing {expected}\n{body}");
    }
    assert_exposition_format(&body);

    // The values are read at request time.
    metrics.add(Counter::Packets, 1);
    let (_, _, body) = request(addr, "GET", "/metrics");
    assert!(body.lines().any(|l| l == "tapline_packets_total 1001"));
}

#[test]
fn other_paths_and_methods_are_refused() {
    let server = serve("127.0.0.1:0".parse().unwrap(), Arc::new(Metrics::new())).unwrap();
    let (status, _, body) = request(server.local_addr(), "GET", "/");
    assert_eq!(status, 404);
    assert!(!body.contains("tapline_"));
    let (status, _, _) = request(server.local_addr(), "GET", "/metrics/extra");
    assert_eq!(status, 404);
    let (status, headers, _) = request(server.local_addr(), "POST", "/metrics");
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("GET"));
}

#[test]
fn shutdown_frees_the_port() {
    let server = serve("127.0.0.1:0".parse().unwrap(), Arc::new(Metrics::new())).unwrap();
    let addr = server.local_addr();
    assert!(TcpListener::bind(addr).is_err(), "the server holds the port");
    assert_eq!(request(addr, "GET", "/metrics").0, 200);
    server.shutdown();
    assert!(TcpStream::connect(addr).is_err(), "nothing listens after shutdown");
    TcpListener::bind(addr).expect("the port is free after shutdown");
}

#[test]
fn dropping_the_server_stops_it_even_with_a_connection_open() {
    let server = serve("127.0.0.1:0".parse().unwrap(), Arc::new(Metrics::new())).unwrap();
    let addr = server.local_addr();
    // An idle client that never sends a request must not keep the server alive.
    let _idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(server);
    TcpListener::bind(addr).expect("the port is free after drop");
}

#[test]
fn a_port_in_use_is_an_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = serve(addr, Arc::new(Metrics::new())).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
