//! Human-readable reports of a run for the terminal (never naming a target).

use std::fmt::Write;
use std::path::Path;

use crate::replay::Summary;

/// The replay summary as an operator reads it.
pub fn replay_report(s: &Summary, out: &Path) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "capture        {}", s.capture.display());
    let _ = writeln!(
        r,
        "packets        {} read, {} malformed (skipped), {} bytes",
        s.packets_read, s.malformed, s.bytes_read
    );
    for e in &s.capture_errors {
        let _ = writeln!(r, "capture error  {e}");
    }
    let _ = writeln!(r, "sip messages   {}", s.sip_messages);
    let _ = writeln!(r, "calls          {} seen, {} intercepted", s.calls_seen, s.calls_intercepted);
    let _ = writeln!(r, "warrants       {} loaded, {} refused", s.warrants_loaded, s.warrants_refused);
    let _ = writeln!(r, "records per LIID:");
    for (liid, c) in &s.liids {
        let _ = writeln!(
            r,
            "  {liid:<25} agency {:<14} IRI {:>6}  CC {:>7}  communications {}",
            c.agency, c.iri_records, c.cc_records, c.communications
        );
    }
    if let Some(ct) = &s.calltrace {
        let _ = writeln!(
            r,
            "call trace     {} requests, {} traced, {} failed, {} at threshold, {} cents charged",
            ct.trace_requests,
            ct.traces_succeeded,
            ct.failed_no_incoming_call + ct.failed_never_rang + ct.failed_caller_unavailable,
            ct.thresholds_reached,
            ct.charged_cents
        );
    }
    let _ = writeln!(r, "written to {}:", out.display());
    for (agency, b) in &s.agencies {
        let _ = writeln!(
            r,
            "  {agency:<14} hi2.ber {:>9} bytes  {} {:>10} bytes",
            b.hi2_bytes, b.hi3_file, b.hi3_bytes
        );
    }
    if s.calltrace.is_some() {
        let _ = writeln!(r, "  cic/traces.jsonl  billing/charges.jsonl  subscriber/outcomes.jsonl");
    }
    let _ = writeln!(r, "  summary.json");
    r
}
