//! What each legal instrument releases: ONE exhaustive table (a `match` over every
//! instrument, no wildcard), like the intercept scope table. A new instrument does not
//! compile until its row is written.

use serde::{Deserialize, Serialize};

/// The legal instrument (or request) a demand is made under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Instrument {
    /// A customer asking for their own records (47 CFR §64.2010 authentication, fee).
    CustomerRequest,
    /// 18 U.S.C. §2703(c)(2).
    Subpoena,
    /// 18 U.S.C. §2703(d).
    CourtOrder,
    /// 18 U.S.C. §2703(c)(1)(A).
    SearchWarrant,
    /// 18 U.S.C. §2709.
    NationalSecurityLetter,
    /// 18 U.S.C. §2702(c)(4).
    EmergencyDisclosure,
    /// 18 U.S.C. §2703(f).
    PreservationRequest,
}

impl Instrument {
    pub const ALL: [Instrument; 7] = [
        Instrument::CustomerRequest,
        Instrument::Subpoena,
        Instrument::CourtOrder,
        Instrument::SearchWarrant,
        Instrument::NationalSecurityLetter,
        Instrument::EmergencyDisclosure,
        Instrument::PreservationRequest,
    ];

    /// The statute, for certificates and the README.
    pub fn citation(self) -> &'static str {
        match self {
            Instrument::CustomerRequest => "47 CFR §64.2010 (customer's own CPNI)",
            Instrument::Subpoena => "18 U.S.C. §2703(c)(2)",
            Instrument::CourtOrder => "18 U.S.C. §2703(d)",
            Instrument::SearchWarrant => "18 U.S.C. §2703(c)(1)(A)",
            Instrument::NationalSecurityLetter => "18 U.S.C. §2709",
            Instrument::EmergencyDisclosure => "18 U.S.C. §2702(c)(4)",
            Instrument::PreservationRequest => "18 U.S.C. §2703(f)",
        }
    }
}

/// Which subscriber information is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberInfo {
    None,
    /// The customer's own account (all fields of their own record).
    OwnAccount,
    /// Name, address, length of service (account start) only.
    NameAddressLength,
    /// Name, address, length and types of service, number, means of payment.
    Basic,
    /// Everything held.
    All,
}

/// Which calls made by the named number are released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallsMade {
    No,
    /// Only the requester's own number, only the period asked.
    OwnNumberAskedPeriod,
    Yes,
}

/// What an instrument releases; for an emergency disclosure, the analyst's grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub subscriber_info: SubscriberInfo,
    pub calls_made: CallsMade,
    pub calls_received: bool,
    pub trace_results: bool,
    /// Freezes the matching records (90 days, renewable once) and releases nothing.
    pub preserve: bool,
    /// The analyst decides what is released, with a justification; flagged for follow-up
    /// legal process and the yearly report.
    pub analyst_decides: bool,
}

impl Release {
    pub const NOTHING: Release = Release {
        subscriber_info: SubscriberInfo::None,
        calls_made: CallsMade::No,
        calls_received: false,
        trace_results: false,
        preserve: false,
        analyst_decides: false,
    };

    /// True when nothing at all is released.
    pub fn is_nothing(&self) -> bool {
        self.subscriber_info == SubscriberInfo::None && self.calls_made == CallsMade::No && !self.calls_received && !self.trace_results
    }
}

/// The table.
pub fn release(instrument: Instrument) -> Release {
    use CallsMade as M;
    use SubscriberInfo as S;
    let r = |subscriber_info, calls_made, calls_received, trace_results| Release {
        subscriber_info,
        calls_made,
        calls_received,
        trace_results,
        preserve: false,
        analyst_decides: false,
    };
    match instrument {
        Instrument::CustomerRequest => r(S::OwnAccount, M::OwnNumberAskedPeriod, false, false),
        Instrument::Subpoena => r(S::Basic, M::Yes, true, true),
        Instrument::CourtOrder => r(S::Basic, M::Yes, true, true),
        Instrument::SearchWarrant => r(S::All, M::Yes, true, true),
        Instrument::NationalSecurityLetter => r(S::NameAddressLength, M::Yes, true, false),
        Instrument::EmergencyDisclosure => Release { analyst_decides: true, ..Release::NOTHING },
        Instrument::PreservationRequest => Release { preserve: true, ..Release::NOTHING },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_request_own_calls_made_only() {
        let r = release(Instrument::CustomerRequest);
        assert_eq!(r.subscriber_info, SubscriberInfo::OwnAccount);
        assert_eq!(r.calls_made, CallsMade::OwnNumberAskedPeriod);
        assert!(!r.calls_received && !r.trace_results && !r.preserve && !r.analyst_decides);
    }

    #[test]
    fn subpoena_basic_info_both_directions_and_traces() {
        let r = release(Instrument::Subpoena);
        assert_eq!((r.subscriber_info, r.calls_made, r.calls_received, r.trace_results), (SubscriberInfo::Basic, CallsMade::Yes, true, true));
        assert!(!r.preserve && !r.analyst_decides);
    }

    #[test]
    fn court_order_as_subpoena() {
        assert_eq!(release(Instrument::CourtOrder), release(Instrument::Subpoena));
    }

    #[test]
    fn search_warrant_everything() {
        let r = release(Instrument::SearchWarrant);
        assert_eq!((r.subscriber_info, r.calls_made, r.calls_received, r.trace_results), (SubscriberInfo::All, CallsMade::Yes, true, true));
    }

    #[test]
    fn nsl_toll_records_no_traces() {
        let r = release(Instrument::NationalSecurityLetter);
        assert_eq!((r.subscriber_info, r.calls_made, r.calls_received, r.trace_results), (SubscriberInfo::NameAddressLength, CallsMade::Yes, true, false));
    }

    #[test]
    fn emergency_analyst_decides_nothing_by_default() {
        let r = release(Instrument::EmergencyDisclosure);
        assert!(r.analyst_decides && r.is_nothing() && !r.preserve);
    }

    #[test]
    fn preservation_releases_nothing_and_freezes() {
        let r = release(Instrument::PreservationRequest);
        assert!(r.preserve && r.is_nothing() && !r.analyst_decides);
    }

    #[test]
    fn only_subpoena_order_warrant_release_traces() {
        let with: Vec<_> = Instrument::ALL.into_iter().filter(|i| release(*i).trace_results).collect();
        assert_eq!(with, [Instrument::Subpoena, Instrument::CourtOrder, Instrument::SearchWarrant]);
    }
}
