//! What the desk asks of the records database: call records in and out ("calls from/to
//! number N between T1 and T2"), the retention purge with preservation holds, and the Call
//! Identification Center's trace cases. All on [`Db`], the same SQL on both engines.

use serde::{Deserialize, Serialize};

use super::db::{Db, DbError, Value};
use super::{CallRecord, Disposition, DAY_NS};

/// 18 months (47 CFR §42.6), in days.
pub const DEFAULT_RETENTION_DAYS: i64 = 548;

/// Which calls of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The number placed them (the asserted caller).
    Made,
    /// The number was called, directly or as the originally dialled number of a forward.
    Received,
}

/// A preservation hold (18 U.S.C. §2703(f)): the calls of `number` in [from, to) are never
/// purged before `expires_ns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    pub demand_id: String,
    pub number: String,
    pub from_ns: i64,
    pub to_ns: i64,
    pub expires_ns: i64,
    pub renewals: i64,
}

/// What a purge did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub calls_deleted: u64,
    /// Calls past retention kept because a hold covers them.
    pub calls_held: u64,
    pub traces_deleted: u64,
}

const CALL_COLUMNS: &str = "call_id, caller, presentation, privacy, callee, original_called, start_ns, answer_ns, end_ns, disposition, transport, traced";

pub(super) const INSERT_CALL: &str = "INSERT INTO calls (call_id, caller, presentation, privacy, callee, original_called, start_ns, answer_ns, end_ns, disposition, transport, traced) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The bound values of a call record, in [`INSERT_CALL`] order.
pub(super) fn call_row(r: &CallRecord) -> Vec<Value> {
    vec![
        r.call_id.as_str().into(),
        Value::opt_text(&r.caller),
        Value::opt_text(&r.presentation),
        r.privacy.into(),
        Value::opt_text(&r.callee),
        Value::opt_text(&r.original_called),
        r.start_ns.into(),
        Value::opt_int(r.answer_ns),
        r.end_ns.into(),
        r.disposition.as_str().into(),
        r.transport.as_str().into(),
        r.traced.into(),
    ]
}

fn text(v: &Value) -> Option<String> {
    v.text().map(str::to_owned)
}

fn call_of(row: &[Value], db: &str) -> Result<CallRecord, DbError> {
    let bad = |column| DbError::Type { db: db.to_owned(), column };
    let get_int = |i: usize| row.get(i).and_then(Value::int).ok_or_else(|| bad(i));
    let disposition = row.get(9).and_then(Value::text).and_then(Disposition::parse).ok_or_else(|| bad(9))?;
    Ok(CallRecord {
        call_id: row.first().and_then(text).ok_or_else(|| bad(0))?,
        caller: row.get(1).and_then(text),
        presentation: row.get(2).and_then(text),
        privacy: get_int(3)? != 0,
        callee: row.get(4).and_then(text),
        original_called: row.get(5).and_then(text),
        start_ns: get_int(6)?,
        answer_ns: row.get(7).and_then(Value::int),
        end_ns: get_int(8)?,
        disposition,
        transport: row.get(10).and_then(text).ok_or_else(|| bad(10))?,
        traced: get_int(11)? != 0,
    })
}

impl Db {
    /// Inserts call records in one transaction.
    pub fn insert_calls(&mut self, calls: &[CallRecord]) -> Result<(), DbError> {
        let rows: Vec<Vec<Value>> = calls.iter().map(call_row).collect();
        self.insert_many(INSERT_CALL, &rows)
    }

    /// Marks the call `call_id` as traced by `*57`; false when no such call is recorded.
    pub fn mark_traced(&mut self, call_id: &str) -> Result<bool, DbError> {
        Ok(self.execute("UPDATE calls SET traced = 1 WHERE call_id = $1", &[call_id.into()])? > 0)
    }

    /// The calls of `number` in `direction` that started in [from_ns, to_ns), by start time.
    pub fn calls_of(&mut self, number: &str, direction: Direction, from_ns: i64, to_ns: i64) -> Result<Vec<CallRecord>, DbError> {
        let sql = match direction {
            Direction::Made => format!(
                "SELECT {CALL_COLUMNS} FROM calls WHERE caller = $1 AND start_ns >= $2 AND start_ns < $3 ORDER BY start_ns, id"
            ),
            // Two index range scans (callee, original_called) rather than one OR over both.
            Direction::Received => format!(
                "SELECT {CALL_COLUMNS} FROM calls WHERE id IN (
                   SELECT id FROM calls WHERE callee = $1 AND start_ns >= $2 AND start_ns < $3
                   UNION SELECT id FROM calls WHERE original_called = $1 AND start_ns >= $2 AND start_ns < $3)
                 ORDER BY start_ns, id"
            ),
        };
        let rows = self.query(&sql, &[number.into(), from_ns.into(), to_ns.into()])?;
        let name = self.name().to_owned();
        rows.iter().map(|r| call_of(r, &name)).collect()
    }

    /// A recorded call by Call-ID (the first, if a capture repeated it).
    pub fn call_by_id(&mut self, call_id: &str) -> Result<Option<CallRecord>, DbError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE call_id = $1 ORDER BY id LIMIT 1");
        let rows = self.query(&sql, &[call_id.into()])?;
        let name = self.name().to_owned();
        rows.first().map(|r| call_of(r, &name)).transpose()
    }

    pub fn count_calls(&mut self) -> Result<i64, DbError> {
        let rows = self.query("SELECT COUNT(*) FROM calls", &[])?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::int).unwrap_or(0))
    }

    /// Places a preservation hold.
    pub fn add_hold(&mut self, h: &Hold) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO holds (id, demand_id, number, from_ns, to_ns, expires_ns, renewals) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[h.id.as_str().into(), h.demand_id.as_str().into(), h.number.as_str().into(), h.from_ns.into(), h.to_ns.into(), h.expires_ns.into(), h.renewals.into()],
        )?;
        Ok(())
    }

    /// Extends a hold by `by_ns` from its current expiry; refused after one renewal.
    pub fn renew_hold(&mut self, id: &str, by_ns: i64) -> Result<Hold, DbError> {
        let mut h = self.holds()?.into_iter().find(|h| h.id == id).ok_or_else(|| DbError::Invalid(format!("no hold {id}")))?;
        if h.renewals >= 1 {
            return Err(DbError::Invalid(format!("hold {id} was already renewed once (18 U.S.C. §2703(f)(2))")));
        }
        h.expires_ns = h.expires_ns.saturating_add(by_ns);
        h.renewals += 1;
        self.execute("UPDATE holds SET expires_ns = $1, renewals = $2 WHERE id = $3", &[h.expires_ns.into(), h.renewals.into(), id.into()])?;
        Ok(h)
    }

    pub fn holds(&mut self) -> Result<Vec<Hold>, DbError> {
        let rows = self.query("SELECT id, demand_id, number, from_ns, to_ns, expires_ns, renewals FROM holds ORDER BY id", &[])?;
        let name = self.name().to_owned();
        rows.iter()
            .map(|r| {
                let bad = |c| DbError::Type { db: name.clone(), column: c };
                Ok(Hold {
                    id: r.first().and_then(text).ok_or_else(|| bad(0))?,
                    demand_id: r.get(1).and_then(text).ok_or_else(|| bad(1))?,
                    number: r.get(2).and_then(text).ok_or_else(|| bad(2))?,
                    from_ns: r.get(3).and_then(Value::int).ok_or_else(|| bad(3))?,
                    to_ns: r.get(4).and_then(Value::int).ok_or_else(|| bad(4))?,
                    expires_ns: r.get(5).and_then(Value::int).ok_or_else(|| bad(5))?,
                    renewals: r.get(6).and_then(Value::int).ok_or_else(|| bad(6))?,
                })
            })
            .collect()
    }

    /// Deletes calls that started more than `retention_days` before `now_ns`, except those a
    /// hold in force at `now_ns` covers; and trace cases whose retention ended (see
    /// `desk::cic`). Run daily.
    pub fn purge(&mut self, now_ns: i64, retention_days: i64) -> Result<PurgeReport, DbError> {
        let cutoff = now_ns.saturating_sub(retention_days.saturating_mul(DAY_NS));
        const HELD: &str = "EXISTS (SELECT 1 FROM holds h WHERE h.expires_ns > $2
              AND (calls.caller = h.number OR calls.callee = h.number OR calls.original_called = h.number)
              AND calls.start_ns >= h.from_ns AND calls.start_ns < h.to_ns)";
        self.transaction(|db| {
            let held = db.query(&format!("SELECT COUNT(*) FROM calls WHERE start_ns < $1 AND {HELD}"), &[cutoff.into(), now_ns.into()])?;
            let calls_held = held.first().and_then(|r| r.first()).and_then(Value::int).unwrap_or(0) as u64;
            let calls_deleted =
                db.execute(&format!("DELETE FROM calls WHERE start_ns < $1 AND NOT {HELD}"), &[cutoff.into(), now_ns.into()])?;
            db.execute("DELETE FROM holds WHERE expires_ns <= $1", &[now_ns.into()])?;
            Ok(PurgeReport { calls_deleted, calls_held, traces_deleted: 0 })
        })
    }

    /// Appends a billing record (a customer request fee, a trace charge).
    pub fn bill(&mut self, time_ns: i64, number: &str, service: &str, cents: i64, reference: &str) -> Result<(), DbError> {
        self.execute(
            "INSERT INTO billing (time_ns, number, service, cents, reference) VALUES ($1, $2, $3, $4, $5)",
            &[time_ns.into(), number.into(), service.into(), cents.into(), reference.into()],
        )?;
        Ok(())
    }

    /// Billing records of a number: (time_ns, service, cents, reference).
    pub fn billing_of(&mut self, number: &str) -> Result<Vec<(i64, String, i64, String)>, DbError> {
        let rows = self.query("SELECT time_ns, service, cents, reference FROM billing WHERE number = $1 ORDER BY id", &[number.into()])?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.first()?.int()?, text(r.get(1)?)?, r.get(2)?.int()?, text(r.get(3)?)?)))
            .collect())
    }
}

/// One trace of the Call Identification Center (see `desk::cic`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceCase {
    pub trace_id: String,
    pub case_id: String,
    pub time_ns: i64,
    pub subscriber: String,
    pub result: String,
    pub failure_reason: Option<String>,
    pub call_id: Option<String>,
    pub caller: Option<String>,
    pub presentation: Option<String>,
    /// `listed`, `private`, `unavailable`, `pay_phone`, `unlisted`.
    pub caller_type: String,
    pub caller_name: Option<String>,
    pub caller_address: Option<String>,
    pub call_waiting: bool,
    pub answered: bool,
    pub pair_count: i64,
    pub threshold_reached: bool,
}
