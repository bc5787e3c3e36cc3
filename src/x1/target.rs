//! Target identifiers of X1 tasks and the project's matching key ([`Identity`]), both ways:
//! the ADMF writes a warrant target's identity as a `TargetIdentifier`, a network element
//! reads it back to the same identity. One mapping, so the two sides cannot drift.
//!
//! - a number ([`Identity::Tel`], digits, E.164 without `+` when known) of at most 15 digits
//!   is an `e164Number` with exactly those digits; a longer (local) one a `telUri`
//!   `tel:DIGITS`;
//! - a SIP identity is a `sipUri` `sip:USER@HOST`, the user part %-escaped where the
//!   schema's URI pattern needs it. It is read back under the default numbering (no number
//!   domains): the ADMF already decided the user part is not a telephone number.

use super::message::TargetIdentifier;
use crate::warrant::{from_uri, parse_target, Identity, Numbering};

/// Most digits of an `e164Number` (TS 103 280 `InternationalE164`).
const E164_MAX_DIGITS: usize = 15;

/// The task target identifier of a warrant target's identity.
pub fn of_identity(identity: &Identity) -> TargetIdentifier {
    match identity {
        Identity::Tel(digits) if digits.len() <= E164_MAX_DIGITS => TargetIdentifier::E164Number(digits.clone()),
        Identity::Tel(digits) => TargetIdentifier::TelUri(format!("tel:{digits}")),
        Identity::Sip { user, host } => TargetIdentifier::SipUri(format!("sip:{}@{host}", escape_user(user))),
    }
}

/// The identity a network element matches for a task target identifier; None for an
/// identifier that names no SIP or telephone subscriber (IMSI, IMEI, ...) or is malformed.
pub fn to_identity(target: &TargetIdentifier) -> Option<Identity> {
    match target {
        TargetIdentifier::E164Number(digits)
            if !digits.is_empty() && digits.len() <= E164_MAX_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(Identity::Tel(digits.clone()))
        }
        TargetIdentifier::E164Number(_) => None,
        TargetIdentifier::TelUri(uri) => parse_target(uri, &Numbering::default()).ok(),
        TargetIdentifier::SipUri(uri) => from_uri(uri, &Numbering::default()),
        TargetIdentifier::Other { .. } => None,
    }
}

/// RFC 3261 `user` characters written as they are (unreserved and user-unreserved); every
/// other byte is %-escaped.
fn escape_user(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(s: &str) -> Identity {
        parse_target(s, &Numbering::new(["carrier.net"])).expect("target")
    }

    #[test]
    fn numbers_and_uris() {
        assert_eq!(of_identity(&id("tel:+13035550142")), TargetIdentifier::E164Number("13035550142".into()));
        assert_eq!(of_identity(&id("sip:3035550142@carrier.net")), TargetIdentifier::E164Number("13035550142".into()));
        assert_eq!(of_identity(&id("sip:Alice@Example.COM:5061")), TargetIdentifier::SipUri("sip:Alice@example.com".into()));
        assert_eq!(of_identity(&id("sip:a%20b%40c@[::1]")), TargetIdentifier::SipUri("sip:a%20b%40c@[::1]".into()));
        let long = id("1234567890123456789");
        assert_eq!(of_identity(&long), TargetIdentifier::TelUri("tel:1234567890123456789".into()));
        assert_eq!(to_identity(&of_identity(&long)), Some(long));
        assert_eq!(to_identity(&TargetIdentifier::Other { element: "imsi".into(), value: "001010123456789".into() }), None);
        assert_eq!(to_identity(&TargetIdentifier::E164Number("12ab".into())), None);
    }

    proptest! {
        #[test]
        fn every_identity_reads_back(raw in "(sip:|tel:\\+?|)[a-zA-Z0-9%@:;.+ -]{1,24}") {
            if let Ok(identity) = parse_target(&raw, &Numbering::new(["carrier.net"])) {
                prop_assert_eq!(to_identity(&of_identity(&identity)), Some(identity));
            }
        }

        #[test]
        fn sip_users_read_back(user in "[ -~]{1,16}", host in "[a-z]{1,8}\\.example") {
            // Identities as a warrant yields them (a `+digits` user is a number, not a SIP user).
            let numbering = Numbering::new(["carrier.net"]);
            if let Ok(identity) = parse_target(&format!("sip:{user}@{host}"), &numbering) {
                prop_assert_eq!(to_identity(&of_identity(&identity)), Some(identity));
            }
        }
    }
}
