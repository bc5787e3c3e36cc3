//! The desk's operations on subscriber lines and the Call Identification Center's cases,
//! each written to the audit trail: a line's CPNI password and Call Trace block, a line's
//! cases and traces, a supervisor's override of the three-trace threshold, a hand-off.

use serde_json::json;

use super::service::now_ns;
use super::{cpni, Desk, DeskError};
use crate::records::cic::Case;
use crate::records::TraceCase;

impl Desk {
    /// The records database's key of a number or SIP URI as a person writes it, under the
    /// appliance's number domains.
    pub fn number_key(&self, n: &str) -> Result<String, DeskError> {
        crate::calltrace::number_key(n, &self.config().numbering).map_err(|_| DeskError::BadNumber)
    }

    /// Sets (or changes) a line's CPNI password; the customer is notified at the address
    /// of record. The password is never logged.
    pub fn set_cpni_password(&mut self, number: &str, password: &str, who: &str) -> Result<(), DeskError> {
        let n = self.number_key(number)?;
        cpni::set_password(&mut self.db, &n, password, now_ns())?;
        self.record(who, "cpni-password-set", json!({ "number": n }))
    }

    /// Blocks (or unblocks) Call Trace on a line.
    pub fn set_trace_block(&mut self, number: &str, blocked: bool, who: &str) -> Result<(), DeskError> {
        let n = self.number_key(number)?;
        self.db.set_trace_block(&n, blocked, now_ns())?;
        self.record(who, if blocked { "trace-blocked" } else { "trace-unblocked" }, json!({ "line": n }))
    }

    /// A line's cases and their traces (logged: trace results are record contents).
    pub fn cases(&mut self, number: &str, who: &str) -> Result<(Vec<Case>, Vec<TraceCase>), DeskError> {
        let n = self.number_key(number)?;
        let cases = self.db.cases_of(&n)?;
        let traces = self.db.traces_of(&n)?;
        self.record(who, "cases-shown", json!({ "number": n, "cases": cases.len(), "traces": traces.len() }))?;
        Ok((cases, traces))
    }

    /// Releases a case below the threshold (threatening calls), with the reason.
    pub fn override_case(&mut self, case: &str, reason: &str, who: &str) -> Result<(), DeskError> {
        self.db.override_case(case, who, reason)?;
        self.record(who, "case-overridden", json!({ "case": case, "reason": reason }))
    }

    /// The case was handed to law enforcement: its traces are deleted; their count.
    pub fn hand_off(&mut self, case: &str, who: &str) -> Result<u64, DeskError> {
        let n = self.db.hand_off(case, now_ns())?;
        self.record(who, "case-handed-off", json!({ "case": case, "traces_deleted": n }))?;
        Ok(n)
    }
}
