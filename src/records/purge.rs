//! The daily retention purge inside a run: [`Retention`] (how long call records and trace
//! cases are kept), [`PurgeSchedule`] (the sans-IO clock saying when a purge is due, by
//! packet time), and [`Db::purge_expired`], the one purge the run and `tapline desk purge`
//! both do.

use super::cic::DEFAULT_TRACE_RETENTION_BUSINESS_DAYS;
use super::db::{Db, DbError};
use super::store::{PurgeReport, DEFAULT_RETENTION_DAYS};
use super::DAY_NS;

/// How long the records database keeps things.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    /// Days a call record is kept after its start (47 CFR §42.6: 18 months), unless held.
    pub call_days: i64,
    /// Business days a Call Identification Center case is kept after its last trace.
    pub trace_business_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { call_days: DEFAULT_RETENTION_DAYS, trace_business_days: DEFAULT_TRACE_RETENTION_BUSINESS_DAYS }
    }
}

/// When the next purge is due: at the first packet of a run, then at the first packet of
/// each new UTC day (packet time, so a replay purges as the live run would have).
#[derive(Clone, Debug, Default)]
pub struct PurgeSchedule {
    next_ns: Option<i64>,
}

impl PurgeSchedule {
    /// True when a purge is due at packet time `now_ns` (and the next one is then set for
    /// the following UTC midnight).
    pub fn due(&mut self, now_ns: i64) -> bool {
        match self.next_ns {
            Some(next) if now_ns < next => false,
            _ => {
                self.next_ns = Some(now_ns.div_euclid(DAY_NS).saturating_add(1).saturating_mul(DAY_NS));
                true
            }
        }
    }
}

impl Db {
    /// The retention purge at `now_ns`: calls past `retention.call_days` except those a hold
    /// covers, and trace cases past `retention.trace_business_days`.
    pub fn purge_expired(&mut self, now_ns: i64, retention: &Retention) -> Result<PurgeReport, DbError> {
        let mut report = self.purge(now_ns, retention.call_days)?;
        report.traces_deleted = self.purge_traces(now_ns, retention.trace_business_days)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_the_first_packet_then_once_per_utc_day() {
        let day = 20_000 * DAY_NS;
        let mut s = PurgeSchedule::default();
        assert!(s.due(day + 14 * 3600 * 1_000_000_000), "first packet");
        assert!(!s.due(day + 23 * 3600 * 1_000_000_000), "same day");
        assert!(s.due(day + DAY_NS), "midnight");
        assert!(!s.due(day + DAY_NS + 1));
        assert!(s.due(day + 5 * DAY_NS + 7), "days without packets: one purge");
        assert!(!s.due(day + 5 * DAY_NS + 8));
    }
}
