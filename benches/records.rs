//! Records database benchmark: insert rate on the writer thread's path (transactions of
//! 4,096 rows into the indexed table), then a bulk load up to 10^7 rows (indexes rebuilt
//! after), and the time of "calls from/to number N between T1 and T2" at that size.
//!
//! `TAPLINE_RECORDS_ROWS` (default 10000000) sets the row count, `TAPLINE_RECORDS_WRITER_ROWS`
//! (default 1000000) how many of them go in on the writer's path; `TAPLINE_RECORDS_DB` a
//! database (default: a SQLite file in a temporary directory under target/; `postgres://…`
//! for a server). `cargo bench --bench records`.

use std::time::Instant;

use tapline::records::{CallRecord, Db, Direction, Disposition};

const NUMBERS: u64 = 200_000;
/// The writer thread's largest transaction (8 channel batches of 512).
const WRITER_BATCH: usize = 4_096;
const BULK_BATCH: usize = 100_000;
const SECOND: i64 = 1_000_000_000;
const T0: i64 = 1_793_628_000 * SECOND;

fn number(i: u64) -> String {
    format!("1303{:07}", i % NUMBERS)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Deterministic synthetic calls: ten a second, 200,000 numbers, three in four answered.
struct Calls {
    x: u64,
    i: u64,
}

impl Calls {
    fn next_u64(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    fn batch(&mut self, n: u64) -> Vec<CallRecord> {
        (0..n)
            .map(|_| {
                let start = T0 + (self.i as i64) * (SECOND / 10);
                self.i += 1;
                let answered = self.next_u64() % 4 != 0;
                CallRecord {
                    call_id: format!("{:016x}@bench", self.next_u64()),
                    caller: Some(number(self.next_u64())),
                    presentation: Some(number(self.next_u64())),
                    privacy: false,
                    callee: Some(number(self.next_u64())),
                    original_called: None,
                    start_ns: start,
                    answer_ns: answered.then_some(start + 5 * SECOND),
                    end_ns: start + 90 * SECOND,
                    disposition: if answered { Disposition::Answered } else { Disposition::NoAnswer },
                    transport: "udp".into(),
                    traced: false,
                }
            })
            .collect()
    }
}

fn main() {
    let rows = env_or("TAPLINE_RECORDS_ROWS", 10_000_000);
    let writer_rows = env_or("TAPLINE_RECORDS_WRITER_ROWS", 1_000_000).min(rows);
    let tmp = tempfile::tempdir_in("target").expect("temp dir");
    let spec = std::env::var("TAPLINE_RECORDS_DB").unwrap_or_else(|_| tmp.path().join("bench.sqlite").display().to_string());
    let mut db = Db::open(&spec).expect("open the database");
    let engine = if db.is_postgres() { "postgresql" } else { "sqlite" };
    let mut calls = Calls { x: 0x9E37_79B9_7F4A_7C15, i: 0 };
    let started = Instant::now();
    while calls.i < writer_rows {
        let batch = calls.batch((WRITER_BATCH as u64).min(writer_rows - calls.i));
        db.insert_calls(&batch).expect("insert");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "records/insert  writer path: {writer_rows} rows into the indexed table in {secs:.1} s: {:.0} rows/s ({engine}, {WRITER_BATCH} rows a transaction)",
        writer_rows as f64 / secs
    );
    let started = Instant::now();
    let bulk = db
        .bulk_load_calls(|| (calls.i < rows).then(|| calls.batch((BULK_BATCH as u64).min(rows - calls.i))))
        .expect("bulk load");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "records/bulk    {bulk} more rows (to {rows}) in {secs:.1} s including the index rebuild: {:.0} rows/s ({engine})",
        bulk as f64 / secs.max(1e-9)
    );
    if !db.is_postgres() {
        let bytes = std::fs::metadata(&spec).map(|m| m.len()).unwrap_or(0);
        println!("records/size    {:.2} GB database file at {rows} rows", bytes as f64 / 1e9);
    }
    let mut next = || calls.next_u64();
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
