//! What each order kind may receive (HANDOVER.md "What each order may receive"), as ONE
//! exhaustive table: [`OrderKind::entitlement`]. Mediation (`mediation::scope`), warrant
//! validation, the audit trail and the laes profile all read it; nothing else decides.
//!
//! | kind | calls made | calls received | content | post-cut-through digits |
//! |---|---|---|---|---|
//! | pen register | yes | no | no | as IRI on calls made, if the order says so |
//! | trap and trace | no | yes | no | never |
//! | pen/trap | yes | yes | no | as IRI on calls made, if the order says so |
//! | Title III | yes | yes | yes | inside the content |
//!
//! The table is a `match` with every kind spelled out and no wildcard, so adding a kind
//! does not compile until its row is written: the policy fails closed.

use super::model::OrderKind;

/// Whether, and how, an order receives digits the target dials after cut-through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostCutThroughDigits {
    /// Never (a trap and trace order covers no dialled digits).
    Never,
    /// As IRI on calls the target makes, only when the order itself allows them
    /// (`post_cut_through_digits = true` in the warrant file).
    IfOrdered,
    /// Inside the call content (Title III receives the media and the signalling whole).
    AsContent,
}

/// One row of the table: what an order kind may receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entitlement {
    /// Call-identifying information of calls the target makes.
    pub calls_made: bool,
    /// Call-identifying information of calls to the target (forwarded, unanswered, private).
    pub calls_received: bool,
    /// Call content: RTP/RTCP, non-SDP SIP bodies, free-text headers, full SIP messages.
    pub content: bool,
    pub post_cut_through_digits: PostCutThroughDigits,
}

impl OrderKind {
    /// The row of this kind in the policy table.
    pub const fn entitlement(self) -> Entitlement {
        use PostCutThroughDigits::*;
        match self {
            OrderKind::PenRegister => Entitlement {
                calls_made: true,
                calls_received: false,
                content: false,
                post_cut_through_digits: IfOrdered,
            },
            OrderKind::TrapAndTrace => Entitlement {
                calls_made: false,
                calls_received: true,
                content: false,
                post_cut_through_digits: Never,
            },
            OrderKind::PenTrap => Entitlement {
                calls_made: true,
                calls_received: true,
                content: false,
                post_cut_through_digits: IfOrdered,
            },
            OrderKind::TitleIii => Entitlement {
                calls_made: true,
                calls_received: true,
                content: true,
                post_cut_through_digits: AsContent,
            },
        }
    }

    /// Call-identifying information of calls the target makes ([`Entitlement::calls_made`]).
    pub const fn outgoing_cii(self) -> bool {
        self.entitlement().calls_made
    }

    /// Call-identifying information of calls to the target ([`Entitlement::calls_received`]).
    pub const fn incoming_cii(self) -> bool {
        self.entitlement().calls_received
    }

    /// Call content ([`Entitlement::content`]).
    pub const fn content(self) -> bool {
        self.entitlement().content
    }

    /// Whether the order's own `post_cut_through_digits` setting decides if digits are
    /// delivered (otherwise the kind alone decides: never, or always with the content).
    pub const fn may_order_digits(self) -> bool {
        matches!(self.entitlement().post_cut_through_digits, PostCutThroughDigits::IfOrdered)
    }
}

impl PostCutThroughDigits {
    /// Whether digits reach the agency at all, given the order's own setting.
    pub const fn delivered(self, ordered: bool) -> bool {
        match self {
            PostCutThroughDigits::Never => false,
            PostCutThroughDigits::IfOrdered => ordered,
            PostCutThroughDigits::AsContent => true,
        }
    }

    /// Whether digits are reported as IRI records (outside the content) on a call the
    /// target makes (`calls_made`) or receives, given the order's own setting.
    pub const fn as_iri(self, ordered: bool, calls_made: bool) -> bool {
        match self {
            PostCutThroughDigits::Never | PostCutThroughDigits::AsContent => false,
            PostCutThroughDigits::IfOrdered => ordered && calls_made,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PostCutThroughDigits::*;
    use super::*;

    fn row(calls_made: bool, calls_received: bool, content: bool, digits: PostCutThroughDigits) -> Entitlement {
        Entitlement { calls_made, calls_received, content, post_cut_through_digits: digits }
    }

    #[test]
    fn pen_register_row() {
        assert_eq!(OrderKind::PenRegister.entitlement(), row(true, false, false, IfOrdered));
        assert!(OrderKind::PenRegister.may_order_digits());
    }

    #[test]
    fn trap_and_trace_row() {
        assert_eq!(OrderKind::TrapAndTrace.entitlement(), row(false, true, false, Never));
        assert!(!OrderKind::TrapAndTrace.may_order_digits());
    }

    #[test]
    fn pen_trap_row() {
        assert_eq!(OrderKind::PenTrap.entitlement(), row(true, true, false, IfOrdered));
        assert!(OrderKind::PenTrap.may_order_digits());
    }

    #[test]
    fn title_iii_row() {
        assert_eq!(OrderKind::TitleIii.entitlement(), row(true, true, true, AsContent));
        assert!(!OrderKind::TitleIii.may_order_digits(), "digits come with the content");
    }

    #[test]
    fn accessors_read_the_table() {
        for k in OrderKind::ALL {
            let e = k.entitlement();
            assert_eq!((k.outgoing_cii(), k.incoming_cii(), k.content()), (e.calls_made, e.calls_received, e.content));
            // Every kind covers some direction, and content implies both directions.
            assert!(e.calls_made || e.calls_received, "{k}");
            assert!(!e.content || (e.calls_made && e.calls_received), "{k}");
            // Digits as content only with content.
            assert_eq!(e.post_cut_through_digits == AsContent, e.content, "{k}");
        }
    }

    #[test]
    fn digits_rule_per_row() {
        for ordered in [false, true] {
            assert!(!Never.delivered(ordered) && !Never.as_iri(ordered, true) && !Never.as_iri(ordered, false));
            assert_eq!(IfOrdered.delivered(ordered), ordered);
            assert_eq!(IfOrdered.as_iri(ordered, true), ordered);
            assert!(!IfOrdered.as_iri(ordered, false), "never on calls received");
            assert!(AsContent.delivered(ordered) && !AsContent.as_iri(ordered, true));
        }
    }
}
