//! The Call Identification Center's store: each `*57` trace becomes a trace row in a case
//! per (subscriber, caller), with the caller type, presentation next to asserted number,
//! call-waiting and answered flags, and the running count against the three-trace
//! threshold (or an analyst's override for threatening calls). Cases are kept until ten
//! business days (configurable) after their last trace, and deleted once handed off.

use super::db::{Db, DbError, Value};
use super::store::TraceCase;
use super::DAY_NS;
use crate::calltrace::{TraceRecord, TraceResult};

/// Default retention of a case: business days after its last trace.
pub const DEFAULT_TRACE_RETENTION_BUSINESS_DAYS: i64 = 10;
/// Successful traces of one caller by one subscriber at which the case may be released to
/// law enforcement without an analyst's override.
pub const TRACE_THRESHOLD: i64 = 3;

const TRACE_COLUMNS: &str = "trace_id, case_id, time_ns, subscriber, result, failure_reason, call_id, caller, presentation, caller_type, caller_name, caller_address, call_waiting, answered, pair_count, threshold_reached";

/// A case of the Center.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Case {
    pub case_id: String,
    pub subscriber: String,
    pub caller: Option<String>,
    pub last_trace_ns: i64,
    pub traces: i64,
    pub override_by: Option<String>,
    pub override_reason: Option<String>,
    pub handed_off_ns: Option<i64>,
}

impl Case {
    /// The case may be released: three traces, or an analyst's override.
    pub fn releasable(&self) -> bool {
        self.traces >= TRACE_THRESHOLD || self.override_by.is_some()
    }
}

fn parse_ns(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `ns` plus `days` business days (Monday–Friday), at the same time of day.
pub fn add_business_days(ns: i64, days: i64) -> i64 {
    let mut t = ns;
    let mut left = days;
    while left > 0 {
        t += DAY_NS;
        // 1970-01-01 was a Thursday: day 0 → Thursday.
        let weekday = (t.div_euclid(DAY_NS) + 3).rem_euclid(7); // 0 = Monday
        if weekday < 5 {
            left -= 1;
        }
    }
    t
}

impl Db {
    /// Stores a trace from Call Trace: opens or extends the (subscriber, caller) case.
    /// A line with Call Trace blocked here (blocked after the tracer started) gets no case
    /// and no trace: `None`.
    pub fn record_trace(&mut self, t: &TraceRecord) -> Result<Option<TraceCase>, DbError> {
        let time_ns = parse_ns(&t.time);
        if self.trace_blocked(&t.subscriber)? {
            return Ok(None);
        }
        let call = match &t.traced_call {
            Some(c) => self.call_by_id(&c.call_id)?,
            None => None,
        };
        let success = t.result == TraceResult::Success;
        let caller = if success { t.calling_number.clone() } else { None };
        let listed = match &caller {
            Some(c) => self.subscriber(c)?,
            None => None,
        };
        let private = t.traced_call.as_ref().is_some_and(|c| c.caller_private);
        let caller_type = match (&caller, &listed) {
            (None, _) => "unavailable",
            (Some(_), Some(s)) if s.services.iter().any(|x| x == "payphone") => "pay_phone",
            _ if private => "private",
            (Some(_), Some(_)) => "listed",
            (Some(_), None) => "unlisted",
        };
        let call_waiting = match &call {
            Some(c) => {
                let rows = self.query(
                    "SELECT COUNT(*) FROM calls WHERE call_id <> $1 AND answer_ns IS NOT NULL AND answer_ns <= $2 AND end_ns > $2
                     AND (caller = $3 OR callee = $3)",
                    &[c.call_id.as_str().into(), c.start_ns.into(), t.subscriber.as_str().into()],
                )?;
                rows.first().and_then(|r| r.first()).and_then(Value::int).unwrap_or(0) > 0
            }
            None => false,
        };
        let answered = call.as_ref().is_some_and(|c| c.answer_ns.is_some());
        // The open case of this pair, else a new one named after its first trace.
        let open = self.query(
            "SELECT case_id, traces FROM trace_cases WHERE subscriber = $1 AND handed_off_ns IS NULL AND
             ((caller IS NULL AND $2 = '') OR caller = $2) ORDER BY last_trace_ns DESC LIMIT 1",
            &[t.subscriber.as_str().into(), caller.clone().unwrap_or_default().into()],
        )?;
        let (case_id, traces) = match open.first() {
            Some(r) => (r.first().and_then(Value::text).unwrap_or_default().to_owned(), r.get(1).and_then(Value::int).unwrap_or(0)),
            None => {
                let id = format!("CASE-{}", t.trace_id);
                self.execute(
                    "INSERT INTO trace_cases (case_id, subscriber, caller, last_trace_ns, traces) VALUES ($1, $2, $3, $4, 0)",
                    &[id.as_str().into(), t.subscriber.as_str().into(), Value::opt_text(&caller), time_ns.into()],
                )?;
                (id, 0)
            }
        };
        let pair_count = if success { i64::from(t.successful_traces).max(traces + 1) } else { traces };
        self.execute(
            "UPDATE trace_cases SET last_trace_ns = $1, traces = $2 WHERE case_id = $3",
            &[time_ns.into(), pair_count.into(), case_id.as_str().into()],
        )?;
        let row = TraceCase {
            trace_id: t.trace_id.clone(),
            case_id,
            time_ns,
            subscriber: t.subscriber.clone(),
            result: format!("{:?}", t.result).to_lowercase(),
            failure_reason: t.failure_reason.map(|r| serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
            call_id: t.traced_call.as_ref().map(|c| c.call_id.clone()),
            caller: caller.clone(),
            presentation: if success { call.as_ref().and_then(|c| c.presentation.clone()) } else { None },
            caller_type: caller_type.to_owned(),
            caller_name: if success { t.caller_name.clone() } else { None },
            caller_address: if success { t.caller_address.clone() } else { None },
            call_waiting,
            answered,
            pair_count,
            threshold_reached: pair_count >= TRACE_THRESHOLD,
        };
        self.execute(
            &format!("INSERT INTO traces ({TRACE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"),
            &[
                row.trace_id.as_str().into(),
                row.case_id.as_str().into(),
                row.time_ns.into(),
                row.subscriber.as_str().into(),
                row.result.as_str().into(),
                Value::opt_text(&row.failure_reason),
                Value::opt_text(&row.call_id),
                Value::opt_text(&row.caller),
                Value::opt_text(&row.presentation),
                row.caller_type.as_str().into(),
                Value::opt_text(&row.caller_name),
                Value::opt_text(&row.caller_address),
                row.call_waiting.into(),
                row.answered.into(),
                row.pair_count.into(),
                row.threshold_reached.into(),
            ],
        )?;
        Ok(Some(row))
    }

    /// Traces of a subscriber's cases (not handed off), oldest first.
    pub fn traces_of(&mut self, subscriber: &str) -> Result<Vec<TraceCase>, DbError> {
        let rows = self.query(&format!("SELECT {TRACE_COLUMNS} FROM traces WHERE subscriber = $1 ORDER BY time_ns, trace_id"), &[subscriber.into()])?;
        Ok(rows.iter().filter_map(|r| trace_of(r)).collect())
    }

    pub fn cases_of(&mut self, subscriber: &str) -> Result<Vec<Case>, DbError> {
        let rows = self.query(
            "SELECT case_id, subscriber, caller, last_trace_ns, traces, override_by, override_reason, handed_off_ns FROM trace_cases WHERE subscriber = $1 ORDER BY case_id",
            &[subscriber.into()],
        )?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let t = |i: usize| r.get(i).and_then(Value::text).map(str::to_owned);
                Some(Case {
                    case_id: t(0)?,
                    subscriber: t(1)?,
                    caller: t(2),
                    last_trace_ns: r.get(3)?.int()?,
                    traces: r.get(4)?.int()?,
                    override_by: t(5),
                    override_reason: t(6),
                    handed_off_ns: r.get(7).and_then(Value::int),
                })
            })
            .collect())
    }

    /// An analyst releases a case below the threshold (threatening calls), with a reason.
    pub fn override_case(&mut self, case_id: &str, analyst: &str, reason: &str) -> Result<(), DbError> {
        if reason.trim().is_empty() {
            return Err(DbError::Invalid("an override needs a reason".into()));
        }
        let n = self.execute("UPDATE trace_cases SET override_by = $1, override_reason = $2 WHERE case_id = $3", &[analyst.into(), reason.into(), case_id.into()])?;
        if n == 0 {
            return Err(DbError::Invalid(format!("no case {case_id}")));
        }
        Ok(())
    }

    /// A case was handed to law enforcement: its traces are deleted, the case kept as a stub.
    pub fn hand_off(&mut self, case_id: &str, now_ns: i64) -> Result<u64, DbError> {
        self.transaction(|db| {
            db.execute("UPDATE trace_cases SET handed_off_ns = $1 WHERE case_id = $2", &[now_ns.into(), case_id.into()])?;
            db.execute("DELETE FROM traces WHERE case_id = $1", &[case_id.into()])
        })
    }

    /// Deletes the traces of cases whose last trace is more than `business_days` business
    /// days before `now_ns`.
    pub fn purge_traces(&mut self, now_ns: i64, business_days: i64) -> Result<u64, DbError> {
        let cases = self.query("SELECT case_id, last_trace_ns FROM trace_cases", &[])?;
        let mut deleted = 0;
        for r in cases {
            let (Some(id), Some(last)) = (r.first().and_then(Value::text), r.get(1).and_then(Value::int)) else { continue };
            if add_business_days(last, business_days) <= now_ns {
                deleted += self.execute("DELETE FROM traces WHERE case_id = $1", &[id.into()])?;
                self.execute("DELETE FROM trace_cases WHERE case_id = $1", &[id.into()])?;
            }
        }
        Ok(deleted)
    }

    /// Blocks (or unblocks) Call Trace on a subscriber line.
    pub fn set_trace_block(&mut self, number: &str, blocked: bool, now_ns: i64) -> Result<(), DbError> {
        self.execute("DELETE FROM trace_blocks WHERE number = $1", &[number.into()])?;
        if blocked {
            self.execute("INSERT INTO trace_blocks (number, since_ns) VALUES ($1, $2)", &[number.into(), now_ns.into()])?;
        }
        Ok(())
    }

    pub fn trace_blocked(&mut self, number: &str) -> Result<bool, DbError> {
        Ok(!self.query("SELECT 1 FROM trace_blocks WHERE number = $1", &[number.into()])?.is_empty())
    }
}

fn trace_of(r: &[Value]) -> Option<TraceCase> {
    let t = |i: usize| r.get(i).and_then(Value::text).map(str::to_owned);
    let i = |n: usize| r.get(n).and_then(Value::int);
    Some(TraceCase {
        trace_id: t(0)?,
        case_id: t(1)?,
        time_ns: i(2)?,
        subscriber: t(3)?,
        result: t(4)?,
        failure_reason: t(5),
        call_id: t(6),
        caller: t(7),
        presentation: t(8),
        caller_type: t(9)?,
        caller_name: t(10),
        caller_address: t(11),
        call_waiting: i(12)? != 0,
        answered: i(13)? != 0,
        pair_count: i(14)?,
        threshold_reached: i(15)? != 0,
    })
}

impl Db {
    /// Traces made by `number` or of calls from it, in [from_ns, to_ns), oldest first.
    pub fn traces_involving(&mut self, number: &str, from_ns: i64, to_ns: i64) -> Result<Vec<TraceCase>, DbError> {
        let rows = self.query(
            &format!("SELECT {TRACE_COLUMNS} FROM traces WHERE (subscriber = $1 OR caller = $1) AND time_ns >= $2 AND time_ns < $3 ORDER BY time_ns, trace_id"),
            &[number.into(), from_ns.into(), to_ns.into()],
        )?;
        Ok(rows.iter().filter_map(|r| trace_of(r)).collect())
    }
}
