//! The Prometheus text exposition format (0.0.4) of the metrics: counters, drops and queue
//! depths by stage, stage latency as histograms in seconds (buckets add up across
//! appliances), delivery per agency interface, warrants by state, and the build.

use std::fmt::Write as _;

use super::{Counter, Gauge, Metrics, Stage, WarrantState, X1Family, BUILD};

/// The `Content-Type` of the rendering.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const LATENCY: &str = "tapline_stage_latency_seconds";

/// Upper bounds of the latency histogram's buckets, nanoseconds (1 µs .. 10 s).
pub const LATENCY_BUCKETS_NS: [u64; 15] = [
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Every metric family name this renders (for dashboards and their test).
pub const FAMILIES: &[&str] = &[
    "tapline_build_info",
    "tapline_packets_total",
    "tapline_bytes_total",
    "tapline_malformed_packets_total",
    "tapline_sip_messages_total",
    "tapline_calls_seen_total",
    "tapline_calls_intercepted_total",
    "tapline_taps_installed_total",
    "tapline_media_packets_tapped_total",
    "tapline_iri_records_total",
    "tapline_cc_records_total",
    "tapline_records_spooled_total",
    "tapline_records_confirmed_total",
    "tapline_spool_disk_full_total",
    "tapline_trace_alarms_total",
    "tapline_call_records_purged_total",
    "tapline_traces_purged_total",
    "tapline_records_purges_total",
    "tapline_drops_total",
    "tapline_active_calls",
    "tapline_intercepted_calls",
    "tapline_spool_bytes",
    "tapline_queue_depth",
    "tapline_stage_latency_seconds",
    "tapline_warrants",
    "tapline_x1_requests_total",
    "tapline_x1_reports_total",
    "tapline_x1_report_messages_total",
    "tapline_interface_records_spooled_total",
    "tapline_interface_records_confirmed_total",
    "tapline_interface_records_unconfirmed",
    "tapline_interface_connected",
    "tapline_interface_connects_total",
    "tapline_interface_connect_failures_total",
    "tapline_interface_spool_full_total",
];

/// The whole exposition. Label values are stage names only: no target, no LIID.
pub fn render_prometheus(metrics: &Metrics) -> String {
    let mut out = String::with_capacity(8192);
    family(&mut out, "tapline_build_info", "The running build: version, git commit, enabled features (value 1).", "gauge");
    let build = [("version", BUILD.version), ("commit", BUILD.commit), ("features", BUILD.features)];
    sample(&mut out, "tapline_build_info", &build, 1u64);
    for counter in Counter::ALL {
        let name = format!("tapline_{}_total", counter.name());
        family(&mut out, &name, counter.help(), "counter");
        sample(&mut out, &name, &[], metrics.get(counter));
    }

    family(&mut out, "tapline_drops_total", "Packets or records lost, by the stage that lost them.", "counter");
    for stage in Stage::ALL {
        sample(&mut out, "tapline_drops_total", &[("stage", stage.name())], metrics.drops(stage));
    }

    for gauge in Gauge::ALL {
        let name = format!("tapline_{}", gauge.name());
        family(&mut out, &name, gauge.help(), "gauge");
        sample(&mut out, &name, &[], metrics.gauge(gauge));
    }

    family(&mut out, "tapline_queue_depth", "Items waiting in the input queue of a stage.", "gauge");
    for stage in Stage::ALL {
        sample(&mut out, "tapline_queue_depth", &[("stage", stage.name())], metrics.queue_depth(stage));
    }

    family(&mut out, LATENCY, "Processing time of a packet or record in a stage.", "histogram");
    for stage in Stage::ALL {
        let mut total = 0;
        for le in LATENCY_BUCKETS_NS {
            let (below, all) = metrics.latency_at_most(stage, le);
            total = all;
            let bound = format!("{}", seconds(le));
            sample(&mut out, &format!("{LATENCY}_bucket"), &[("stage", stage.name()), ("le", &bound)], below);
        }
        sample(&mut out, &format!("{LATENCY}_bucket"), &[("stage", stage.name()), ("le", "+Inf")], total);
        let p = metrics.latency(stage);
        let labels = [("stage", stage.name())];
        sample(&mut out, &format!("{LATENCY}_sum"), &labels, seconds(p.map_or(0, |p| p.sum)));
        sample(&mut out, &format!("{LATENCY}_count"), &labels, p.map_or(0, |p| p.count));
    }

    family(&mut out, "tapline_warrants", "Warrants by lifecycle state at the current packet time.", "gauge");
    for state in WarrantState::ALL {
        sample(&mut out, "tapline_warrants", &[("state", state.name())], metrics.warrants(state));
    }

    for f in X1Family::ALL {
        family(&mut out, f.name(), f.help(), "counter");
        for (poi, value, n) in metrics.x1(f) {
            sample(&mut out, f.name(), &[("poi", poi.as_str()), (f.label(), value)], n);
        }
    }

    interfaces(&mut out, metrics);
    out
}

/// Delivery per agency interface (labels: agency id and `hi2`/`hi3`; never a LIID).
fn interfaces(out: &mut String, metrics: &Metrics) {
    let all = metrics.interfaces();
    type Field = fn(&super::InterfaceSample) -> u64;
    let families: [(&str, &str, &str, Field); 7] = [
        ("tapline_interface_records_spooled_total", "Records spooled for the interface.", "counter", |i| i.spooled),
        ("tapline_interface_records_confirmed_total", "Records the agency confirmed.", "counter", |i| i.confirmed),
        ("tapline_interface_records_unconfirmed", "Records in the spool not yet confirmed.", "gauge", |i| i.unconfirmed),
        ("tapline_interface_connected", "1 while connected to the agency, else 0.", "gauge", |i| u64::from(i.connected)),
        ("tapline_interface_connects_total", "Connections established to the agency.", "counter", |i| i.connects),
        (
            "tapline_interface_connect_failures_total",
            "Connection attempts to the agency that failed.",
            "counter",
            |i| i.connect_failures,
        ),
        (
            "tapline_interface_spool_full_total",
            "Times the interface's spool reached its size limit.",
            "counter",
            |i| i.spool_full,
        ),
    ];
    for (name, help, kind, field) in families {
        family(out, name, help, kind);
        for i in &all {
            sample(out, name, &[("agency", &i.agency), ("interface", i.interface)], field(i));
        }
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",...} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Value) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    out.push(' ');
    value.write_to(out);
    out.push('\n');
}

/// A sample value as the format spells it (`NaN`, `+Inf`, plain decimals).
trait Value {
    fn write_to(&self, out: &mut String);
}

impl Value for u64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write_to(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(s: &str) -> String {
    s.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// Help text escapes backslash and line feed.
fn escape_help(s: &str) -> String {
    s.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::super::LatencyRecorder;
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    /// Every line is a comment or `name{labels} value` with a valid name, well-formed labels
    /// and a number; returns the samples as (name with labels, value).
    fn parse(text: &str) -> Vec<(String, f64)> {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(
                !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                    && !name.starts_with(|c: char| c.is_ascii_digit()),
                "bad name: {line}"
            );
            if name_end < series.len() {
                let labels = series[name_end..].strip_prefix('{').and_then(|l| l.strip_suffix('}'));
                let labels = labels.unwrap_or_else(|| panic!("bad labels: {line}"));
                for pair in labels.split(',') {
                    let (label, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                    assert!(v.len() >= 2 && v.starts_with('"') && v.ends_with('"'), "{line}");
                }
            }
            samples.push((series.to_owned(), value));
        }
        samples
    }

    #[test]
    fn counters_render_with_help_and_type() {
        let m = Metrics::new();
        m.add(Counter::Packets, 1234);
        m.add(Counter::CallsIntercepted, 2);
        m.add_drops(Stage::Decode, 7);
        m.set_gauge(Gauge::SpoolBytes, 65536);
        m.set_queue_depth(Stage::Media, 3);
        let text = render_prometheus(&m);
        let l = lines(&text);
        let at = l.iter().position(|x| *x == "# HELP tapline_packets_total Packets read from the capture source.");
        let at = at.expect("packets HELP line");
        assert_eq!(l[at + 1], "# TYPE tapline_packets_total counter");
        assert_eq!(l[at + 2], "tapline_packets_total 1234");
        assert!(l.contains(&"tapline_calls_intercepted_total 2"));
        assert!(l.contains(&"tapline_malformed_packets_total 0"));
        assert!(l.contains(&"# TYPE tapline_drops_total counter"));
        assert!(l.contains(&"tapline_drops_total{stage=\"decode\"} 7"));
        assert!(l.contains(&"tapline_drops_total{stage=\"capture\"} 0"));
        assert!(l.contains(&"# TYPE tapline_spool_bytes gauge"));
        assert!(l.contains(&"tapline_spool_bytes 65536"));
        assert!(l.contains(&"tapline_queue_depth{stage=\"media\"} 3"));
        // Each family is described once.
        assert_eq!(l.iter().filter(|x| x.starts_with("# TYPE tapline_drops_total ")).count(), 1);
    }

    #[test]
    fn latency_is_a_cumulative_histogram_in_seconds() {
        let m = Metrics::new();
        let mut r = LatencyRecorder::new(Stage::Signalling);
        for us in 1..=1000u64 {
            r.record_nanos(us * 1000);
        }
        r.flush_into(&m);
        let text = render_prometheus(&m);
        let l = lines(&text);
        let at = l
            .iter()
            .position(|x| *x == "# HELP tapline_stage_latency_seconds Processing time of a packet or record in a stage.")
            .expect("latency HELP line");
        assert_eq!(l[at + 1], "# TYPE tapline_stage_latency_seconds histogram");
        for expected in [
            "tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"0.000001\"} 1",
            "tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"0.00001\"} 10",
            "tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"0.0001\"} 100",
            "tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"0.001\"} 1000",
            "tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"10\"} 1000",
            "tapline_stage_latency_seconds_bucket{stage=\"signalling\",le=\"+Inf\"} 1000",
            "tapline_stage_latency_seconds_sum{stage=\"signalling\"} 0.5005",
            "tapline_stage_latency_seconds_count{stage=\"signalling\"} 1000",
            // A stage without samples still has its series.
            "tapline_stage_latency_seconds_bucket{stage=\"decode\",le=\"+Inf\"} 0",
            "tapline_stage_latency_seconds_count{stage=\"decode\"} 0",
        ] {
            assert!(l.contains(&expected), "missing {expected}\n{text}");
        }
        // Buckets never decrease.
        let buckets: Vec<f64> = parse(&text)
            .into_iter()
            .filter(|(s, _)| s.starts_with("tapline_stage_latency_seconds_bucket{stage=\"signalling\""))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(buckets.len(), LATENCY_BUCKETS_NS.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }

    #[test]
    fn interfaces_warrants_and_build_are_labelled() {
        let m = Metrics::new();
        m.set_interfaces(vec![super::super::InterfaceSample {
            agency: "fbi-denver".into(),
            interface: "hi2",
            spooled: 10,
            confirmed: 7,
            unconfirmed: 3,
            connected: true,
            connects: 1,
            connect_failures: 2,
            spool_full: 0,
        }]);
        m.set_warrant_states([1, 2, 3, 4]);
        let text = render_prometheus(&m);
        let l = lines(&text);
        for expected in [
            "tapline_interface_records_spooled_total{agency=\"fbi-denver\",interface=\"hi2\"} 10",
            "tapline_interface_records_confirmed_total{agency=\"fbi-denver\",interface=\"hi2\"} 7",
            "tapline_interface_records_unconfirmed{agency=\"fbi-denver\",interface=\"hi2\"} 3",
            "tapline_interface_connected{agency=\"fbi-denver\",interface=\"hi2\"} 1",
            "tapline_interface_connect_failures_total{agency=\"fbi-denver\",interface=\"hi2\"} 2",
            "tapline_interface_spool_full_total{agency=\"fbi-denver\",interface=\"hi2\"} 0",
            "tapline_warrants{state=\"pending\"} 1",
            "tapline_warrants{state=\"active\"} 2",
            "tapline_warrants{state=\"expired\"} 3",
            "tapline_warrants{state=\"revoked\"} 4",
        ] {
            assert!(l.contains(&expected), "missing {expected}\n{text}");
        }
        assert!(l.iter().any(|x| x.starts_with("tapline_build_info{version=\"") && x.ends_with("} 1")), "{text}");
        // Every family rendered is listed for the dashboards, and every listed one rendered.
        let typed: Vec<&str> = l.iter().filter_map(|x| x.strip_prefix("# TYPE ")).map(|x| x.split(' ').next().unwrap()).collect();
        assert_eq!(typed, FAMILIES);
    }

    #[test]
    fn every_line_parses() {
        let m = Metrics::new();
        m.add(Counter::Bytes, u64::MAX);
        let mut r = LatencyRecorder::new(Stage::Capture);
        r.record_nanos(42);
        r.flush_into(&m);
        let samples = parse(&render_prometheus(&m));
        let expected = 1 + Counter::COUNT + Stage::COUNT + Gauge::COUNT + Stage::COUNT
            + Stage::COUNT * (LATENCY_BUCKETS_NS.len() + 3)
            + 4;
        assert_eq!(samples.len(), expected);
        let bytes = samples.iter().find(|(s, _)| s == "tapline_bytes_total").unwrap();
        assert_eq!(bytes.1, u64::MAX as f64);
        let count = samples.iter().find(|(s, _)| s == "tapline_stage_latency_seconds_count{stage=\"capture\"}");
        assert_eq!(count.unwrap().1, 1.0);
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("line\nbreak"), r"line\nbreak");
        assert_eq!(escape_help("back\\slash \"quoted\"\nnext"), "back\\\\slash \"quoted\"\\nnext");
        let mut out = String::new();
        sample(&mut out, "tapline_x", &[("stage", "a\"b\\c\nd")], 1u64);
        assert_eq!(out, "tapline_x{stage=\"a\\\"b\\\\c\\nd\"} 1\n");
        assert_eq!(parse(&out), vec![("tapline_x{stage=\"a\\\"b\\\\c\\nd\"}".to_owned(), 1.0)]);
    }

    #[test]
    fn special_float_values() {
        let mut out = String::new();
        sample(&mut out, "a", &[], f64::NAN);
        sample(&mut out, "b", &[], f64::INFINITY);
        sample(&mut out, "c", &[], 0.25f64);
        assert_eq!(out, "a NaN\nb +Inf\nc 0.25\n");
    }
}
