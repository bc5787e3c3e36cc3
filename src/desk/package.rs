//! The response package of a demand: a directory and a zip of the same files: `calls.csv`
//! (one row per call, UTC, with `key.txt` explaining the call types), `subscriber.json`,
//! `traces.csv` (only when the instrument releases trace results), `disclosures.csv`
//! (customer packages: legal demands about the account that no non-disclosure order
//! hides), the records custodian's `certificate.html`, and `manifest.json` with the SHA-256
//! of every file. Built only from the database, the demand and its decision, with the
//! production time given: the same inputs give the same bytes (the audit trail keeps them).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::demand::DemandDoc;
use super::instrument::{CallsMade, Release, SubscriberInfo};
use super::DeskError;
use crate::records::{CallRecord, Db, Direction, Disposition};
use crate::Timestamp;

/// What a package needs besides the database.
pub struct PackageInput<'a> {
    pub demand_id: &'a str,
    pub doc: &'a DemandDoc,
    pub release: &'a Release,
    pub from_ns: i64,
    pub to_ns: i64,
    pub produced_ns: i64,
    pub carrier: &'a str,
    pub custodian: &'a str,
    /// Customer packages: (demand id, instrument, received) of demands the customer may see.
    pub disclosures: Vec<(String, String, String)>,
}

/// One file of a package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A built package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Produced {
    pub dir: PathBuf,
    pub zip: PathBuf,
    pub files: Vec<FileEntry>,
    /// SHA-256 of `manifest.json`: names the whole package in the audit trail.
    pub manifest_sha256: String,
    pub calls: usize,
    pub traces: usize,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn utc(ns: i64) -> String {
    Timestamp::from_nanos(u64::try_from(ns).unwrap_or(0)).to_rfc3339()
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> DeskError {
    DeskError::Package(format!("{}: {e}", path.display()))
}

/// The calls a release gives for the demand's numbers and period, by start time, each
/// with its direction relative to the named number.
pub fn select_calls(db: &mut Db, numbers: &[String], release: &Release, from: i64, to: i64) -> Result<Vec<(&'static str, CallRecord)>, DeskError> {
    let mut out: Vec<(&'static str, CallRecord)> = Vec::new();
    for n in numbers {
        if release.calls_made != CallsMade::No {
            out.extend(db.calls_of(n, Direction::Made, from, to)?.into_iter().map(|c| ("made", c)));
        }
        if release.calls_received {
            out.extend(db.calls_of(n, Direction::Received, from, to)?.into_iter().map(|c| ("received", c)));
        }
    }
    out.sort_by(|a, b| (a.1.start_ns, &a.1.call_id, a.0).cmp(&(b.1.start_ns, &b.1.call_id, b.0)));
    out.dedup_by(|a, b| a.1.call_id == b.1.call_id && a.1.start_ns == b.1.start_ns);
    Ok(out)
}

fn calls_csv(calls: &[(&'static str, CallRecord)], release: &Release, customer: bool) -> Result<Vec<u8>, DeskError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["direction", "start_utc", "answer_utc", "end_utc", "duration_s", "caller", "presentation", "callee", "original_called", "call_type", "transport"];
    if release.trace_results {
        header.push("traced_by_star57");
    }
    let csv_err = |e: csv::Error| DeskError::Package(e.to_string());
    w.write_record(&header).map_err(csv_err)?;
    for (dir, c) in calls {
        // A caller who marked the call private is never shown to the called party.
        let hide = customer && *dir == "received" && c.privacy;
        let caller = if hide { "private".to_owned() } else { c.caller.clone().unwrap_or_else(|| "anonymous".into()) };
        let presentation = if hide { "private".to_owned() } else { c.presentation.clone().unwrap_or_default() };
        let mut row = vec![
            dir.to_string(),
            utc(c.start_ns),
            c.answer_ns.map(utc).unwrap_or_default(),
            utc(c.end_ns),
            c.duration_s().to_string(),
            caller,
            presentation,
            c.callee.clone().unwrap_or_default(),
            c.original_called.clone().unwrap_or_default(),
            c.disposition.as_str().to_owned(),
            c.transport.clone(),
        ];
        if release.trace_results {
            row.push(if c.traced { "yes".into() } else { "no".into() });
        }
        w.write_record(&row).map_err(csv_err)?;
    }
    w.into_inner().map_err(|e| DeskError::Package(e.to_string()))
}

fn key_txt(release: &Release) -> Vec<u8> {
    let mut s = String::from("Key of calls.csv (all times UTC, RFC 3339)\n\ndirection: made = placed by the named number; received = to it (directly, or as the number originally dialled of a forwarded call)\n\ncall_type:\n");
    for d in Disposition::ALL {
        s.push_str(&format!("  {:<10} {}\n", d.as_str(), d.meaning()));
    }
    s.push_str("\ncaller: the network-asserted identity; presentation: the number the caller presented (From); anonymous = no identity\n");
    if release.trace_results {
        s.push_str("traced_by_star57: the called subscriber traced this call with *57\n");
    }
    s.into_bytes()
}

fn subscriber_json(db: &mut Db, numbers: &[String], info: SubscriberInfo) -> Result<Option<Vec<u8>>, DeskError> {
    if info == SubscriberInfo::None {
        return Ok(None);
    }
    let mut subs = Vec::new();
    for n in numbers {
        let Some(s) = db.subscriber(n)? else {
            subs.push(serde_json::json!({ "number": n, "found": false }));
            continue;
        };
        let v = match info {
            SubscriberInfo::None => continue,
            SubscriberInfo::NameAddressLength => serde_json::json!({ "number": s.number, "name": s.name, "address": s.address, "account_start": s.account_start }),
            SubscriberInfo::Basic | SubscriberInfo::OwnAccount | SubscriberInfo::All => serde_json::json!({
                "number": s.number, "name": s.name, "address": s.address, "account_start": s.account_start,
                "services": s.services, "payment": s.payment,
            }),
        };
        subs.push(v);
    }
    serde_json::to_vec_pretty(&subs).map(Some).map_err(|e| DeskError::Package(e.to_string()))
}

fn traces_csv(db: &mut Db, numbers: &[String], from: i64, to: i64) -> Result<(Vec<u8>, usize), DeskError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| DeskError::Package(e.to_string());
    w.write_record(["trace_id", "case_id", "time_utc", "subscriber", "result", "failure_reason", "caller", "presentation", "caller_type", "caller_name", "caller_address", "call_waiting", "answered", "count", "threshold_reached"])
        .map_err(csv_err)?;
    let mut n = 0;
    for number in numbers {
        for t in db.traces_involving(number, from, to)? {
            n += 1;
            let b = |x: bool| if x { "yes".to_owned() } else { "no".to_owned() };
            w.write_record([
                t.trace_id, t.case_id, utc(t.time_ns), t.subscriber, t.result, t.failure_reason.unwrap_or_default(),
                t.caller.unwrap_or_default(), t.presentation.unwrap_or_default(), t.caller_type,
                t.caller_name.unwrap_or_default(), t.caller_address.unwrap_or_default(), b(t.call_waiting), b(t.answered),
                t.pair_count.to_string(), b(t.threshold_reached),
            ])
            .map_err(csv_err)?;
        }
    }
    Ok((w.into_inner().map_err(|e| DeskError::Package(e.to_string()))?, n))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn certificate(p: &PackageInput<'_>, files: &[FileEntry], calls: usize) -> Vec<u8> {
    let e = html_escape;
    let mut rows = String::new();
    for f in files {
        rows.push_str(&format!("<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n", e(&f.name), f.bytes, f.sha256));
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Certificate of authenticity {id}</title>\n\
<style>body{{font-family:serif;max-width:45em;margin:2em auto}}td,th{{border:1px solid #999;padding:.2em .5em}}table{{border-collapse:collapse}}</style></head><body>\n\
<h1>Certificate of authenticity of business records</h1>\n\
<p>I, {custodian}, am a custodian of records of {carrier}, and I certify that the records produced in response to \
demand <b>{id}</b> ({instrument}, {citation}{case}) are {calls} call detail records and the files listed below. \
They were made at or near the time of the events they record, by, or from information transmitted by, a person with \
knowledge of those matters; they were kept in the course of the regularly conducted activity of {carrier}; and making \
such records is a regular practice of that activity (Federal Rules of Evidence 803(6), 902(11)).</p>\n\
<p>Period: {from} to {to} (UTC). Produced: {produced} (UTC).</p>\n\
<table><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>\n{rows}</table>\n\
<p>I declare under penalty of perjury that the foregoing is true and correct.</p>\n\
<p>Signature: ______________________________ &nbsp; Date: ____________</p>\n</body></html>\n",
        id = e(p.demand_id),
        custodian = e(p.custodian),
        carrier = e(p.carrier),
        instrument = e(&format!("{:?}", p.doc.instrument)),
        citation = e(p.doc.instrument.citation()),
        case = p.doc.case_number.as_deref().map(|c| format!(", case {}", e(c))).unwrap_or_default(),
        from = utc(p.from_ns),
        to = utc(p.to_ns),
        produced = utc(p.produced_ns),
    )
    .into_bytes()
}

/// The package's `calls.csv` for these numbers, release and period, and its row count:
/// what a demand's query answers and its package holds.
pub fn released_calls_csv(db: &mut Db, numbers: &[String], release: &Release, from: i64, to: i64) -> Result<(Vec<u8>, usize), DeskError> {
    let customer = release.calls_made == CallsMade::OwnNumberAskedPeriod;
    let calls = select_calls(db, numbers, release, from, to)?;
    Ok((calls_csv(&calls, release, customer)?, calls.len()))
}

/// Builds the package under `out/ID/` and `out/ID.zip` (replacing an earlier build).
pub fn build(db: &mut Db, p: &PackageInput<'_>, out: &Path) -> Result<Produced, DeskError> {
    let customer = p.release.calls_made == CallsMade::OwnNumberAskedPeriod;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut call_count = 0;
    let mut trace_count = 0;
    if p.release.calls_made != CallsMade::No || p.release.calls_received {
        let (csv, n) = released_calls_csv(db, &p.doc.numbers, p.release, p.from_ns, p.to_ns)?;
        call_count = n;
        files.push(("calls.csv".into(), csv));
        files.push(("key.txt".into(), key_txt(p.release)));
    }
    if let Some(s) = subscriber_json(db, &p.doc.numbers, p.release.subscriber_info)? {
        files.push(("subscriber.json".into(), s));
    }
    if p.release.trace_results {
        let (t, n) = traces_csv(db, &p.doc.numbers, p.from_ns, p.to_ns)?;
        trace_count = n;
        files.push(("traces.csv".into(), t));
    }
    if customer {
        let mut w = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| DeskError::Package(e.to_string());
        w.write_record(["demand", "instrument", "received"]).map_err(csv_err)?;
        for (id, instrument, received) in &p.disclosures {
            w.write_record([id, instrument, received]).map_err(csv_err)?;
        }
        files.push(("disclosures.csv".into(), w.into_inner().map_err(|e| DeskError::Package(e.to_string()))?));
    }
    let entries = |files: &[(String, Vec<u8>)]| -> Vec<FileEntry> {
        files.iter().map(|(n, b)| FileEntry { name: n.clone(), bytes: b.len() as u64, sha256: sha256_hex(b) }).collect()
    };
    let cert = certificate(p, &entries(&files), call_count);
    files.push(("certificate.html".into(), cert));
    let listed = entries(&files);
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "demand": p.demand_id,
        "produced_utc": utc(p.produced_ns),
        "files": listed,
    }))
    .map_err(|e| DeskError::Package(e.to_string()))?;
    let manifest_sha256 = sha256_hex(&manifest);
    files.push(("manifest.json".into(), manifest));

    let dir = out.join(p.demand_id);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    }
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    for (name, bytes) in &files {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| io_err(&path, e))?;
    }
    let zip_path = out.join(format!("{}.zip", p.demand_id));
    let f = fs::File::create(&zip_path).map_err(|e| io_err(&zip_path, e))?;
    let mut z = zip::ZipWriter::new(f);
    // A fixed time in the archive: the same package gives the same zip.
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, bytes) in &files {
        z.start_file(format!("{}/{name}", p.demand_id), opts).map_err(|e| io_err(&zip_path, e))?;
        z.write_all(bytes).map_err(|e| io_err(&zip_path, e))?;
    }
    z.finish().map_err(|e| io_err(&zip_path, e))?;
    Ok(Produced { dir, zip: zip_path, files: entries(&files), manifest_sha256, calls: call_count, traces: trace_count })
}
