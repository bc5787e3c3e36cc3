//! Records database benchmark: insert rate (batched transactions, as the writer thread
//! does) and the time of "calls from/to number N between T1 and T2" at 10^7 rows.
//!
//! `TAPLINE_RECORDS_ROWS` (default 10000000) sets the row count; `TAPLINE_RECORDS_DB`
//! a database (default: a SQLite file in a temporary directory; `postgres://…` for a
//! server). `cargo bench --bench records`.

use std::time::Instant;

use tapline::records::{CallRecord, Db, Direction, Disposition};

const NUMBERS: u64 = 200_000;
const BATCH: usize = 10_000;
const SECOND: i64 = 1_000_000_000;
const T0: i64 = 1_793_628_000 * SECOND;

fn number(i: u64) -> String {
    format!("1303{:07}", i % NUMBERS)
}

fn main() {
    let rows: u64 = std::env::var("TAPLINE_RECORDS_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let spec = std::env::var("TAPLINE_RECORDS_DB").unwrap_or_else(|_| tmp.path().join("bench.sqlite").display().to_string());
    let mut db = Db::open(&spec).expect("open the database");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..rows {
        let start = T0 + (i as i64) * (SECOND / 10); // ten calls a second
        let answered = next() % 4 != 0;
        batch.push(CallRecord {
            call_id: format!("{:016x}@bench", next()),
            caller: Some(number(next())),
            presentation: Some(number(next())),
            privacy: false,
            callee: Some(number(next())),
            original_called: None,
            start_ns: start,
            answer_ns: answered.then_some(start + 5 * SECOND),
            end_ns: start + 90 * SECOND,
            disposition: if answered { Disposition::Answered } else { Disposition::NoAnswer },
            transport: "udp".into(),
            traced: false,
        });
        if batch.len() == BATCH || i + 1 == rows {
            db.insert_calls(&batch).expect("insert");
            batch.clear();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("records/insert  {rows} rows in {secs:.1} s: {:.0} rows/s ({})", rows as f64 / secs, if db.is_postgres() { "postgresql" } else { "sqlite" });
    let span = (rows as i64) * (SECOND / 10);
    let mut times = Vec::new();
    let mut found = 0;
    for q in 0..200u64 {
        let n = number(next());
        let from = T0 + (next() % (span.max(1) as u64)) as i64;
        let to = from + 30 * 86_400 * SECOND;
        let dir = if q % 2 == 0 { Direction::Made } else { Direction::Received };
        let t = Instant::now();
        found += db.calls_of(&n, dir, from, to).expect("query").len();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "records/query   calls from/to N in a 30-day window at {rows} rows: p50 {:.2} ms, p99 {:.2} ms ({found} rows over 200 queries)",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}
