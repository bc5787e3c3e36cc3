//! The one schema of the records database, for both engines. Only the row-id column type
//! differs (SQLite `INTEGER PRIMARY KEY`, PostgreSQL `BIGSERIAL PRIMARY KEY`); every other
//! column is BIGINT (times in ns since the epoch, flags 0/1) or TEXT.
//!
//! `calls` is indexed for "calls from/to number N between T1 and T2": one index per party
//! column, each on (party, start_ns), and one on start_ns alone for the retention purge.

use super::db::{Db, DbError};

/// Bumped when a table changes; stored in `meta`.
pub const SCHEMA_VERSION: i64 = 1;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id {ID},
    call_id TEXT NOT NULL,
    caller TEXT,
    presentation TEXT,
    privacy BIGINT NOT NULL,
    callee TEXT,
    original_called TEXT,
    start_ns BIGINT NOT NULL,
    answer_ns BIGINT,
    end_ns BIGINT NOT NULL,
    disposition TEXT NOT NULL,
    transport TEXT NOT NULL,
    traced BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS holds (
    id TEXT PRIMARY KEY,
    demand_id TEXT NOT NULL,
    number TEXT NOT NULL,
    from_ns BIGINT NOT NULL,
    to_ns BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    renewals BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS subscribers (
    number TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    account_start TEXT,
    services TEXT,
    payment TEXT,
    password_hash TEXT,
    callback_number TEXT
);
CREATE TABLE IF NOT EXISTS notices (
    id {ID},
    number TEXT NOT NULL,
    time_ns BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sent_to TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS billing (
    id {ID},
    time_ns BIGINT NOT NULL,
    number TEXT NOT NULL,
    service TEXT NOT NULL,
    cents BIGINT NOT NULL,
    reference TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    time_ns BIGINT NOT NULL,
    subscriber TEXT NOT NULL,
    result TEXT NOT NULL,
    failure_reason TEXT,
    call_id TEXT,
    caller TEXT,
    presentation TEXT,
    caller_type TEXT NOT NULL,
    caller_name TEXT,
    caller_address TEXT,
    call_waiting BIGINT NOT NULL,
    answered BIGINT NOT NULL,
    pair_count BIGINT NOT NULL,
    threshold_reached BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_case ON traces (case_id);
CREATE TABLE IF NOT EXISTS trace_cases (
    case_id TEXT PRIMARY KEY,
    subscriber TEXT NOT NULL,
    caller TEXT,
    last_trace_ns BIGINT NOT NULL,
    traces BIGINT NOT NULL,
    override_by TEXT,
    override_reason TEXT,
    handed_off_ns BIGINT
);
CREATE TABLE IF NOT EXISTS trace_blocks (number TEXT PRIMARY KEY, since_ns BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS demands (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    state TEXT NOT NULL,
    customer TEXT,
    nondisclosure_until_ns BIGINT,
    updated_ns BIGINT NOT NULL
);
";

/// The indexes of `calls`: (name, columns).
const CALL_INDEXES: [(&str, &str); 5] = [
    ("calls_caller", "caller, start_ns"),
    ("calls_callee", "callee, start_ns"),
    ("calls_original", "original_called, start_ns"),
    ("calls_start", "start_ns"),
    ("calls_call_id", "call_id"),
];

fn create_call_indexes(db: &mut Db) -> Result<(), DbError> {
    for (name, columns) in CALL_INDEXES {
        db.batch(&format!("CREATE INDEX IF NOT EXISTS {name} ON calls ({columns})"))?;
    }
    Ok(())
}

/// Creates the tables and indexes if missing, and records the schema version.
pub fn create(db: &mut Db) -> Result<(), DbError> {
    let id = if db.is_postgres() { "BIGSERIAL PRIMARY KEY" } else { "INTEGER PRIMARY KEY" };
    db.batch(&TABLES.replace("{ID}", id))?;
    create_call_indexes(db)?;
    let rows = db.query("SELECT value FROM meta WHERE key = $1", &["schema".into()])?;
    match rows.first().and_then(|r| r.first()).and_then(|v| v.text()) {
        None => {
            db.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", &["schema".into(), SCHEMA_VERSION.to_string().into()])?;
        }
        Some(v) if v == SCHEMA_VERSION.to_string() => {}
        Some(v) => return Err(DbError::Invalid(format!("{}: schema version {v}, this build reads {SCHEMA_VERSION}", db.name()))),
    }
    Ok(())
}

impl Db {
    /// Loads many call records at once (an archive import, the benchmark): drops the call
    /// indexes, inserts each batch `next` yields in its own transaction, and rebuilds the
    /// indexes (one sort each, far faster than growing them row by row). Queries by party
    /// are slow until it returns; not for a database a run is writing to. Rows loaded.
    pub fn bulk_load_calls(&mut self, mut next: impl FnMut() -> Option<Vec<super::CallRecord>>) -> Result<u64, DbError> {
        for (name, _) in CALL_INDEXES {
            self.batch(&format!("DROP INDEX IF EXISTS {name}"))?;
        }
        let mut rows = 0;
        let loaded = std::iter::from_fn(&mut next).try_for_each(|batch| {
            rows += batch.len() as u64;
            self.insert_calls(&batch)
        });
        // The indexes come back even when a batch failed.
        let rebuilt = create_call_indexes(self);
        loaded.and(rebuilt).map(|()| rows)
    }
}
