//! Human-readable reports of a run for the terminal (never naming a target), and the
//! per-LIID table they share: every LIID with `--verbose`, else the top
//! [`LIID_TABLE_TOP`] by records and a line totalling the rest.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::handover::sequencer::LiidCounts;
use crate::replay::Summary;

/// LIIDs listed in a summarised per-LIID table.
pub const LIID_TABLE_TOP: usize = 10;

/// The per-LIID table under `title`: every LIID in LIID order when `verbose` or when there
/// are at most [`LIID_TABLE_TOP`]; otherwise the top ones by records (IRI + CC), then
/// `… and K more LIIDs` with their totals, and the totals of all.
pub fn liid_table(r: &mut String, title: &str, liids: &BTreeMap<String, LiidCounts>, verbose: bool) {
    let _ = writeln!(r, "{title}:");
    let row = |r: &mut String, liid: &str, c: &LiidCounts| {
        let _ = writeln!(
            r,
            "  {liid:<25} agency {:<14} IRI {:>6}  CC {:>7}  communications {}",
            c.agency, c.iri_records, c.cc_records, c.communications
        );
    };
    if verbose || liids.len() <= LIID_TABLE_TOP {
        for (liid, c) in liids {
            row(r, liid, c);
        }
        return;
    }
    let mut by_records: Vec<(&String, &LiidCounts)> = liids.iter().collect();
    by_records.sort_by(|a, b| (b.1.iri_records + b.1.cc_records).cmp(&(a.1.iri_records + a.1.cc_records)).then(a.0.cmp(b.0)));
    let (top, rest) = by_records.split_at(LIID_TABLE_TOP);
    for (liid, c) in top {
        row(r, liid, c);
    }
    let totals = |rows: &[(&String, &LiidCounts)]| {
        rows.iter().fold((0, 0, 0), |(i, c, n), (_, x)| (i + x.iri_records, c + x.cc_records, n + x.communications))
    };
    let (iri, cc, comms) = totals(rest);
    let more = format!("… and {} more LIIDs", rest.len());
    let _ = writeln!(r, "  {more:<47} IRI {iri:>6}  CC {cc:>7}  communications {comms}");
    let (iri, cc, comms) = totals(&by_records);
    let all = format!("total of {} LIIDs", liids.len());
    let _ = writeln!(r, "  {all:<47} IRI {iri:>6}  CC {cc:>7}  communications {comms}");
    let _ = writeln!(r, "  (--verbose lists every LIID)");
}

/// The replay summary as an operator reads it; `verbose` lists every LIID.
pub fn replay_report(s: &Summary, out: &Path, verbose: bool) -> String {
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
    liid_table(&mut r, "records per LIID", &s.liids, verbose);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: u64) -> BTreeMap<String, LiidCounts> {
        (0..n)
            .map(|i| {
                let c = LiidCounts { agency: "fbi-denver".into(), iri_records: i, cc_records: 10 * i, communications: 1 };
                (format!("L-{i:03}"), c)
            })
            .collect()
    }

    #[test]
    fn a_large_table_shows_the_top_by_records_and_totals_the_rest() {
        let mut r = String::new();
        liid_table(&mut r, "records per LIID", &counts(25), false);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 1 + LIID_TABLE_TOP + 3, "{r}");
        assert!(lines[1].starts_with("  L-024 ") && lines[10].starts_with("  L-015 "), "most records first: {r}");
        // The other 15 (L-000..L-014): IRI 0+…+14 = 105, CC 1050.
        assert!(lines[11].starts_with("  … and 15 more LIIDs") && lines[11].contains("IRI    105  CC    1050  communications 15"), "{r}");
        assert!(lines[12].starts_with("  total of 25 LIIDs") && lines[12].contains("IRI    300  CC    3000  communications 25"), "{r}");
    }

    #[test]
    fn verbose_or_a_small_table_lists_every_liid_in_order() {
        let mut r = String::new();
        liid_table(&mut r, "t", &counts(25), true);
        assert_eq!(r.lines().count(), 26);
        assert!(r.lines().nth(1).is_some_and(|l| l.starts_with("  L-000 ")));
        let mut r = String::new();
        liid_table(&mut r, "t", &counts(LIID_TABLE_TOP as u64), false);
        assert_eq!(r.lines().count(), 1 + LIID_TABLE_TOP);
        assert!(!r.contains("more LIIDs"));
    }
}
