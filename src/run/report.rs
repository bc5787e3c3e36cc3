//! Readable reports of `tapline run` and `tapline demo` for the terminal (no targets).

use std::fmt::Write;

use super::{DemoSummary, RunSummary};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

/// The run summary as an operator reads it; `verbose` lists every LIID.
pub fn run_report(s: &RunSummary, verbose: bool) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "packets        {} read in {} ms", s.packets_read, s.elapsed_ms);
    if s.dropped_pipeline_full + s.dropped_kernel > 0 {
        let _ = writeln!(
            r,
            "capture loss   {} dropped (pipeline full), {} dropped by the kernel or NIC",
            s.dropped_pipeline_full, s.dropped_kernel
        );
    }
    let _ = writeln!(r, "sip messages   {}", s.sip_messages);
    let _ = writeln!(r, "calls          {} seen, {} intercepted", s.calls_seen, s.calls_intercepted);
    let _ = writeln!(r, "warrants       {} loaded, {} refused", s.warrants_loaded, s.warrants_refused);
    if let Some(ct) = &s.calltrace {
        let _ = writeln!(
            r,
            "call trace     {} requests, {} traced, {} cents charged (records in SPOOL/calltrace/)",
            ct.trace_requests, ct.traces_succeeded, ct.charged_cents
        );
    }
    if let Some(p) = s.latency.encoded {
        let us = |ns: u64| ns as f64 / 1e3;
        let _ = writeln!(
            r,
            "latency        capture → spooled record p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
            us(p.p50),
            us(p.p99),
            us(p.p999),
            us(p.max)
        );
    }
    if !s.x1_reports.is_empty() {
        let each: Vec<String> = s.x1_reports.iter().map(|(poi, message, n)| format!("{poi} {message} {n}")).collect();
        let _ = writeln!(r, "x1 reports     {} (from the POIs)", each.join(", "));
    }
    crate::report::liid_table(&mut r, "records per LIID (spooled by this run)", &s.liids, verbose);
    let _ = writeln!(r, "delivery (confirmed by keep-alive-response):");
    for i in &s.interfaces {
        let _ = writeln!(
            r,
            "  {:<14} {}  spooled {:>6}  confirmed {:>6}  left in spool {:>6}  latency avg {} max {}{}{}",
            i.agency,
            i.interface,
            i.spooled,
            i.confirmed,
            i.unconfirmed,
            ms(i.latency_avg_ms),
            ms(i.latency_max_ms),
            if i.spool_full_alarms > 0 { format!("  SPOOL FULL x{}", i.spool_full_alarms) } else { String::new() },
            if i.disk_full_alarms > 0 { format!("  DISK FULL x{}", i.disk_full_alarms) } else { String::new() }
        );
    }
    if s.interrupted {
        let _ = writeln!(r, "stopped by signal; unconfirmed records stay in the spool for the next run");
    }
    r
}

/// The demo summary: the run, then what each reference LEMF received.
pub fn demo_report(d: &DemoSummary) -> String {
    let mut r = run_report(&d.run, true);
    let _ = writeln!(r, "received by the reference LEMFs (de-duplicated):");
    for (agency, s) in &d.lemfs {
        let liids: Vec<String> = s.per_liid.iter().map(|(l, n)| format!("{l} {n}")).collect();
        let _ = writeln!(
            r,
            "  {agency:<14} IRI {:>6}  CC {:>7}  duplicates {}  gaps {}  [{}]",
            s.iri_records,
            s.cc_records,
            s.duplicates,
            s.gaps,
            liids.join(", ")
        );
        let _ = writeln!(r, "  {:<14} {}/records.jsonl, hi2.ber, hi3.ber, content.pcap", "", d.out.join(agency).display());
    }
    r
}
