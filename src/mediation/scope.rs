//! What one warrant may receive of one communication, derived from the policy table
//! ([`crate::warrant::OrderKind::entitlement`], see `warrant::policy`) and nothing else: the direction of
//! the communication picks the "calls made" or "calls received" column, and the digits
//! rule is the table's, applied to the order's own `post_cut_through_digits`.

use crate::warrant::Warrant;

/// Whether the target is the calling or the called party of a communication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    /// The target makes the call or sends the request.
    Originating,
    /// The call or request is for the target (incl. forwarded from the target).
    Terminating,
}

/// What one warrant may receive of one communication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    /// Full SIP messages (`sIPMessage`) instead of minimised ones.
    pub full_signalling: bool,
    /// RTP/RTCP content (HI3).
    pub content: bool,
    /// Digits the target sends after cut-through, reported as IRI.
    pub digits_as_iri: bool,
}

/// The scope of `warrant` over a communication where its target has `role`, or `None`
/// when the order does not cover that communication at all.
pub fn scope(warrant: &Warrant, role: Role) -> Option<Scope> {
    let policy = warrant.kind.entitlement();
    let covered = match role {
        Role::Originating => policy.calls_made,
        Role::Terminating => policy.calls_received,
    };
    if !covered {
        return None;
    }
    Some(Scope {
        full_signalling: policy.content,
        content: policy.content,
        // Title III receives digits inside the content; a pen register only where the
        // court allowed it, and only on calls the target makes (the pen-register part of
        // the order): trap and trace never authorises digits.
        digits_as_iri: policy
            .post_cut_through_digits
            .as_iri(warrant.post_cut_through_digits, role == Role::Originating),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mediation::tests::warrant_of_kind;
    use crate::warrant::OrderKind;

    #[test]
    fn pen_register_sees_only_calls_the_target_makes() {
        let w = warrant_of_kind(OrderKind::PenRegister, false);
        let s = scope(&w, Role::Originating).expect("outgoing is covered");
        assert!(!s.content && !s.full_signalling && !s.digits_as_iri);
        assert_eq!(scope(&w, Role::Terminating), None);
    }

    #[test]
    fn trap_and_trace_sees_only_calls_to_the_target_and_never_digits() {
        let w = warrant_of_kind(OrderKind::TrapAndTrace, true);
        assert_eq!(scope(&w, Role::Originating), None);
        let s = scope(&w, Role::Terminating).expect("incoming is covered");
        assert!(!s.content && !s.full_signalling && !s.digits_as_iri);
    }

    #[test]
    fn pen_trap_sees_both_directions_digits_only_outgoing_and_only_if_ordered() {
        let w = warrant_of_kind(OrderKind::PenTrap, false);
        assert!(!scope(&w, Role::Originating).unwrap().digits_as_iri);
        let w = warrant_of_kind(OrderKind::PenTrap, true);
        assert!(scope(&w, Role::Originating).unwrap().digits_as_iri);
        assert!(!scope(&w, Role::Terminating).unwrap().digits_as_iri);
    }

    #[test]
    fn title_iii_sees_everything_in_both_directions() {
        let w = warrant_of_kind(OrderKind::TitleIii, false);
        for role in [Role::Originating, Role::Terminating] {
            let s = scope(&w, role).expect("covered");
            assert!(s.content && s.full_signalling && !s.digits_as_iri);
        }
    }

    #[test]
    fn only_title_iii_ever_gets_content_or_full_signalling() {
        for kind in [OrderKind::PenRegister, OrderKind::TrapAndTrace, OrderKind::PenTrap] {
            for digits in [false, true] {
                let w = warrant_of_kind(kind, digits);
                for role in [Role::Originating, Role::Terminating] {
                    if let Some(s) = scope(&w, role) {
                        assert!(!s.content && !s.full_signalling, "{kind:?}");
                    }
                }
            }
        }
    }
}
