//! The metrics as one JSON object, for the replay summary and the benchmark to print the same
//! numbers as the Prometheus endpoint.

use serde_json::{Map, Value};

use super::{Counter, Gauge, Metrics, Stage};

/// `{"counters": {..}, "drops": {stage: n}, "gauges": {..}, "queue_depth": {stage: n},
/// "latency": {stage: {"p50_us", "p99_us", "p999_us", "max_us", "count", "sum_us"} | null}}`
/// (as [`super::Percentiles`] serializes).
pub fn snapshot_json(metrics: &Metrics) -> Value {
    let counters: Map<String, Value> = Counter::ALL.iter().map(|c| (c.name().into(), metrics.get(*c).into())).collect();
    let gauges: Map<String, Value> = Gauge::ALL.iter().map(|g| (g.name().into(), metrics.gauge(*g).into())).collect();
    let by_stage = |f: &dyn Fn(Stage) -> Value| -> Map<String, Value> {
        Stage::ALL.iter().map(|s| (s.name().into(), f(*s))).collect()
    };
    let latency = by_stage(&|s| serde_json::to_value(metrics.latency(s)).unwrap_or(Value::Null));
    serde_json::json!({
        "counters": counters,
        "drops": by_stage(&|s| metrics.drops(s).into()),
        "gauges": gauges,
        "queue_depth": by_stage(&|s| metrics.queue_depth(s).into()),
        "latency": latency,
    })
}

#[cfg(test)]
mod tests {
    use super::super::LatencyRecorder;
    use super::*;

    #[test]
    fn snapshot_has_every_counter_and_the_percentiles() {
        let m = Metrics::new();
        m.add(Counter::IriRecords, 5);
        m.add_drops(Stage::Media, 1);
        m.set_gauge(Gauge::ActiveCalls, 2);
        m.set_queue_depth(Stage::Encode, 8);
        let mut r = LatencyRecorder::new(Stage::Decode);
        for ns in 1..=1000 {
            r.record_nanos(ns);
        }
        r.flush_into(&m);
        let v = snapshot_json(&m);
        assert_eq!(v["counters"]["iri_records"], 5);
        assert_eq!(v["counters"]["packets"], 0);
        assert_eq!(v["counters"].as_object().unwrap().len(), Counter::COUNT);
        assert_eq!(v["drops"]["media"], 1);
        assert_eq!(v["gauges"]["active_calls"], 2);
        assert_eq!(v["queue_depth"]["encode"], 8);
        assert_eq!(
            v["latency"]["decode"],
            serde_json::json!({"p50_us": 0.5, "p99_us": 0.99, "p999_us": 0.999, "max_us": 1.0, "count": 1000, "sum_us": 500.5})
        );
        assert!(v["latency"]["media"].is_null());
    }
}
