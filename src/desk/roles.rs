//! Who may do what at the desk's API: the role of a client certificate (its organizational
//! unit) and ONE exhaustive authorisation table, role × action, no wildcard: a new role or
//! action does not compile until its row is written.

use serde::Serialize;

use crate::provision::Subject;

/// The organizational unit of an analyst's certificate.
pub const OU_ANALYST: &str = "desk-analyst";
/// The organizational unit of a supervisor's certificate.
pub const OU_SUPERVISOR: &str = "desk-supervisor";
/// The organizational unit of an auditor's certificate.
pub const OU_AUDITOR: &str = "desk-auditor";

/// A desk role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskRole {
    /// Enters and validates demands, produces and delivers packages, queries what a decided
    /// demand releases, works the Call Identification Center's lines and cases.
    Analyst,
    /// Decides demands (the instrument table; approves emergency disclosures with the
    /// grant), overrides the trace threshold, hands cases off.
    Supervisor,
    /// Read-only: the audit trail and the demand list; no record contents.
    Auditor,
}

impl DeskRole {
    pub const ALL: [DeskRole; 3] = [DeskRole::Analyst, DeskRole::Supervisor, DeskRole::Auditor];

    /// The certificate's organizational unit for this role.
    pub fn unit(self) -> &'static str {
        match self {
            DeskRole::Analyst => OU_ANALYST,
            DeskRole::Supervisor => OU_SUPERVISOR,
            DeskRole::Auditor => OU_AUDITOR,
        }
    }

    /// The role named `desk-analyst`, `desk-supervisor`, `desk-auditor` (or without the
    /// `desk-` prefix).
    pub fn parse(s: &str) -> Option<DeskRole> {
        DeskRole::ALL.into_iter().find(|r| r.unit() == s || r.unit().strip_prefix("desk-") == Some(s))
    }

    /// The role of a certificate: exactly one desk unit in its subject. None with no desk
    /// unit, or with several (one person, one role: separation of duties).
    pub fn of(subject: &Subject) -> Option<DeskRole> {
        let mut roles = DeskRole::ALL.into_iter().filter(|r| subject.units.iter().any(|u| u == r.unit()));
        match (roles.next(), roles.next()) {
            (Some(r), None) => Some(r),
            _ => None,
        }
    }
}

/// An operation of the desk's API (one per endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeskAction {
    /// `GET /demands`: id, state, instrument, dates; no numbers, no records.
    ListDemands,
    /// `GET /demands/ID`: the demand as entered (numbers named) and its progress.
    ShowDemand,
    EnterDemand,
    ValidateDemand,
    /// Includes an emergency disclosure's grant.
    DecideDemand,
    /// `GET /demands/ID/calls`: the call rows a decided demand releases.
    QueryCalls,
    ProducePackage,
    /// `GET /demands/ID/package`: the produced zip.
    FetchPackage,
    DeliverPackage,
    /// Rebuilds a package from the audit trail and compares manifest hashes; answers
    /// only the hashes.
    ReproducePackage,
    ReadAudit,
    VerifyAudit,
    /// The Call Identification Center's cases and traces of a line.
    ShowCases,
    SetTraceBlock,
    SetCpniPassword,
    /// Release a case below the three-trace threshold (threatening calls).
    OverrideCase,
    HandOffCase,
}

impl DeskAction {
    pub const ALL: [DeskAction; 17] = [
        DeskAction::ListDemands,
        DeskAction::ShowDemand,
        DeskAction::EnterDemand,
        DeskAction::ValidateDemand,
        DeskAction::DecideDemand,
        DeskAction::QueryCalls,
        DeskAction::ProducePackage,
        DeskAction::FetchPackage,
        DeskAction::DeliverPackage,
        DeskAction::ReproducePackage,
        DeskAction::ReadAudit,
        DeskAction::VerifyAudit,
        DeskAction::ShowCases,
        DeskAction::SetTraceBlock,
        DeskAction::SetCpniPassword,
        DeskAction::OverrideCase,
        DeskAction::HandOffCase,
    ];

    /// The name in audit entries and the README (`enter-demand`, …).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// THE authorisation table.
pub fn allowed(role: DeskRole, action: DeskAction) -> bool {
    use DeskAction as A;
    use DeskRole::{Analyst, Auditor, Supervisor};
    match (action, role) {
        (A::ListDemands, Analyst | Supervisor | Auditor) => true,
        (A::ShowDemand, Analyst | Supervisor) => true,
        (A::ShowDemand, Auditor) => false,
        (A::EnterDemand | A::ValidateDemand, Analyst) => true,
        (A::EnterDemand | A::ValidateDemand, Supervisor | Auditor) => false,
        (A::DecideDemand, Supervisor) => true,
        (A::DecideDemand, Analyst | Auditor) => false,
        (A::QueryCalls | A::ProducePackage | A::FetchPackage | A::DeliverPackage, Analyst) => true,
        (A::QueryCalls | A::ProducePackage | A::FetchPackage | A::DeliverPackage, Supervisor | Auditor) => false,
        (A::ReproducePackage, Analyst | Auditor) => true,
        (A::ReproducePackage, Supervisor) => false,
        (A::ReadAudit | A::VerifyAudit, Supervisor | Auditor) => true,
        (A::ReadAudit | A::VerifyAudit, Analyst) => false,
        (A::ShowCases | A::SetTraceBlock | A::SetCpniPassword, Analyst) => true,
        (A::ShowCases | A::SetTraceBlock | A::SetCpniPassword, Supervisor | Auditor) => false,
        (A::OverrideCase | A::HandOffCase, Supervisor) => true,
        (A::OverrideCase | A::HandOffCase, Analyst | Auditor) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test per action (a row of the table): which roles may.
    macro_rules! row {
        ($name:ident, $action:expr, analyst: $an:expr, supervisor: $su:expr, auditor: $au:expr) => {
            #[test]
            fn $name() {
                assert_eq!(allowed(DeskRole::Analyst, $action), $an, "analyst");
                assert_eq!(allowed(DeskRole::Supervisor, $action), $su, "supervisor");
                assert_eq!(allowed(DeskRole::Auditor, $action), $au, "auditor");
            }
        };
    }

    row!(list_demands, DeskAction::ListDemands, analyst: true, supervisor: true, auditor: true);
    row!(show_demand, DeskAction::ShowDemand, analyst: true, supervisor: true, auditor: false);
    row!(enter_demand, DeskAction::EnterDemand, analyst: true, supervisor: false, auditor: false);
    row!(validate_demand, DeskAction::ValidateDemand, analyst: true, supervisor: false, auditor: false);
    row!(decide_demand, DeskAction::DecideDemand, analyst: false, supervisor: true, auditor: false);
    row!(query_calls, DeskAction::QueryCalls, analyst: true, supervisor: false, auditor: false);
    row!(produce_package, DeskAction::ProducePackage, analyst: true, supervisor: false, auditor: false);
    row!(fetch_package, DeskAction::FetchPackage, analyst: true, supervisor: false, auditor: false);
    row!(deliver_package, DeskAction::DeliverPackage, analyst: true, supervisor: false, auditor: false);
    row!(reproduce_package, DeskAction::ReproducePackage, analyst: true, supervisor: false, auditor: true);
    row!(read_audit, DeskAction::ReadAudit, analyst: false, supervisor: true, auditor: true);
    row!(verify_audit, DeskAction::VerifyAudit, analyst: false, supervisor: true, auditor: true);
    row!(show_cases, DeskAction::ShowCases, analyst: true, supervisor: false, auditor: false);
    row!(set_trace_block, DeskAction::SetTraceBlock, analyst: true, supervisor: false, auditor: false);
    row!(set_cpni_password, DeskAction::SetCpniPassword, analyst: true, supervisor: false, auditor: false);
    row!(override_case, DeskAction::OverrideCase, analyst: false, supervisor: true, auditor: false);
    row!(hand_off_case, DeskAction::HandOffCase, analyst: false, supervisor: true, auditor: false);

    #[test]
    fn the_auditor_touches_no_record_contents_and_changes_nothing() {
        let reads_records = [DeskAction::QueryCalls, DeskAction::FetchPackage, DeskAction::ShowCases, DeskAction::ShowDemand];
        for a in DeskAction::ALL {
            if allowed(DeskRole::Auditor, a) {
                assert!(!reads_records.contains(&a), "{a:?}");
            }
        }
    }

    #[test]
    fn role_is_exactly_one_desk_unit() {
        let s = |units: &[&str]| Subject { common_name: Some("x".into()), units: units.iter().map(|u| u.to_string()).collect() };
        assert_eq!(DeskRole::of(&s(&["desk-analyst"])), Some(DeskRole::Analyst));
        assert_eq!(DeskRole::of(&s(&["provisioning", "desk-auditor"])), Some(DeskRole::Auditor));
        assert_eq!(DeskRole::of(&s(&["desk-analyst", "desk-supervisor"])), None, "two roles: refused");
        assert_eq!(DeskRole::of(&s(&["provisioning"])), None);
        assert_eq!(DeskRole::of(&s(&[])), None);
        assert_eq!(DeskRole::parse("supervisor"), Some(DeskRole::Supervisor));
        assert_eq!(DeskRole::parse("desk-auditor"), Some(DeskRole::Auditor));
        assert_eq!(DeskRole::parse("admin"), None);
        assert_eq!(DeskAction::EnterDemand.name(), "enter-demand");
    }
}
