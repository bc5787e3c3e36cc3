//! Identity normalisation: the one matching key for warrant targets and SIP parties seen on
//! the wire, so `tel:+13035550142` and `sip:303-555-0142@carrier.net;user=phone` are equal.

use std::fmt;

/// A normalised subscriber identity. Targets are secrets: `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// Digits only; E.164 without the `+` when known (NANP 10-digit numbers get the `1`).
    Tel(String),
    /// A SIP address whose user part is not a telephone number.
    Sip {
        /// Unescaped, case-sensitive.
        user: String,
        /// Lowercase, without port; IPv6 literals keep their brackets.
        host: String,
    },
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Tel(_) => f.write_str("Identity::Tel(<redacted>)"),
            Identity::Sip { .. } => f.write_str("Identity::Sip { <redacted> }"),
        }
    }
}

/// Why a string is not a usable identity. Never carries the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("empty target")]
    Empty,
    #[error("not a tel:, sip: or sips: URI or a telephone number")]
    UnknownForm,
    #[error(
        "not a telephone number: only digits, one leading `+` and the separators `-.() ` \
         are allowed (at most 15 digits after `+`, 32 otherwise)"
    )]
    BadNumber,
    #[error("SIP URI has no user part")]
    NoUser,
    #[error("SIP URI has no host")]
    NoHost,
    #[error("bad %-escape in the URI user part")]
    BadEscape,
    #[error("anonymous identity")]
    Anonymous,
}

/// Most digits a `+` (E.164) number may have.
const E164_MAX_DIGITS: usize = 15;
/// Most digits any other number may have.
const LOCAL_MAX_DIGITS: usize = 32;

/// Parses a warrant target: a `tel:`, `sip:` or `sips:` URI, or a bare telephone number.
pub fn parse_target(s: &str) -> Result<Identity, IdentityError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(IdentityError::Empty);
    }
    if has_known_scheme(s) || s.starts_with('<') {
        return parse_uri(s);
    }
    if s.contains(['@', ':']) {
        return Err(IdentityError::UnknownForm);
    }
    normalise_number(s)
        .map(Identity::Tel)
        .ok_or(IdentityError::BadNumber)
}

/// Normalises a party URI seen on the wire (From/To/P-Asserted-Identity/Request-URI): may be
/// wrapped in `<>` with a display name, carry parameters and %-escapes. `None` when it names
/// nobody: no user part, anonymous, or not a tel/sip/sips URI.
pub fn from_uri(uri: &str) -> Option<Identity> {
    parse_uri(uri.trim()).ok()
}

/// True for the RFC 3323 anonymous identity (`sip:anonymous@anonymous.invalid`, any case of
/// `anonymous` as user, or the `anonymous.invalid` host).
pub fn is_anonymous(uri: &str) -> bool {
    parse_uri(uri.trim()) == Err(IdentityError::Anonymous)
}

fn has_known_scheme(s: &str) -> bool {
    ["tel:", "sip:", "sips:"].iter().any(|scheme| {
        s.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    })
}

fn parse_uri(s: &str) -> Result<Identity, IdentityError> {
    let addr = match s.rfind('<') {
        Some(open) => {
            let inner = s.get(open + 1..).unwrap_or("");
            match inner.find('>') {
                Some(close) => inner.get(..close).unwrap_or(""),
                None => return Err(IdentityError::UnknownForm),
            }
        }
        None => s,
    };
    let addr = addr.trim();
    let (scheme, rest) = addr.split_once(':').ok_or(IdentityError::UnknownForm)?;
    if scheme.eq_ignore_ascii_case("tel") {
        parse_tel(rest)
    } else if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        parse_sip(rest)
    } else {
        Err(IdentityError::UnknownForm)
    }
}

/// `tel:` body: the number before any `;` parameter (`phone-context`, `ext`, … are ignored).
fn parse_tel(rest: &str) -> Result<Identity, IdentityError> {
    let number = rest.split(';').next().unwrap_or("");
    let number = percent_decode(number)?;
    normalise_number(&number)
        .map(Identity::Tel)
        .ok_or(IdentityError::BadNumber)
}

/// `sip:`/`sips:` body: `user[:password]@host[:port][;params][?headers]`.
fn parse_sip(rest: &str) -> Result<Identity, IdentityError> {
    let rest = rest.split('?').next().unwrap_or("");
    // Parameters and host never contain '@'; the user part may contain ';'.
    let (userinfo, hostpart) = rest.rsplit_once('@').ok_or(IdentityError::NoUser)?;
    let user_raw = userinfo.split(':').next().unwrap_or("");
    if user_raw.is_empty() {
        return Err(IdentityError::NoUser);
    }
    let hostport = hostpart.split(';').next().unwrap_or("");
    let host = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(close) => hostport.get(..=close).unwrap_or(""),
            None => return Err(IdentityError::NoHost),
        }
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err(IdentityError::NoHost);
    }
    let host = host.to_ascii_lowercase();
    let user = percent_decode(user_raw)?;
    // A telephone-subscriber user part may carry its own ';' parameters (npdi, rn, isub…).
    let number_part = user.split(';').next().unwrap_or("");
    if number_part.eq_ignore_ascii_case("anonymous") || host == "anonymous.invalid" {
        return Err(IdentityError::Anonymous);
    }
    // `;user=phone` or a user made only of digits, '+' and separators: a telephone number.
    match normalise_number(number_part) {
        Some(digits) => Ok(Identity::Tel(digits)),
        None => Ok(Identity::Sip { user, host }),
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')' | ' ')
}

/// Digits of a telephone number: separators removed, a leading `+` kept implicit, NANP
/// 10-digit numbers (first digit 2–9) given the country code `1`.
fn normalise_number(s: &str) -> Option<String> {
    let mut digits = String::with_capacity(s.len() + 1);
    let mut international = false;
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !international => international = true,
            c if is_separator(c) => {}
            _ => return None,
        }
    }
    let max = if international {
        E164_MAX_DIGITS
    } else {
        LOCAL_MAX_DIGITS
    };
    if digits.is_empty() || digits.len() > max {
        return None;
    }
    if !international
        && digits.len() == 10
        && digits.starts_with(['2', '3', '4', '5', '6', '7', '8', '9'])
    {
        digits.insert(0, '1');
    }
    Some(digits)
}

fn percent_decode(s: &str) -> Result<String, IdentityError> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|h| (*h as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|l| (*l as char).to_digit(16));
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(IdentityError::BadEscape),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| IdentityError::BadEscape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tel(d: &str) -> Identity {
        Identity::Tel(d.to_owned())
    }

    fn sip(user: &str, host: &str) -> Identity {
        Identity::Sip {
            user: user.to_owned(),
            host: host.to_owned(),
        }
    }

    #[test]
    fn equivalent_forms_of_one_number_are_equal() {
        let forms = [
            "tel:+13035550142",
            "sip:+1-303-555-0142@carrier.net;user=phone",
            "sip:3035550142@x.example",
            "tel:(303) 555-0142",
            "+1 303 555 0142",
            "13035550142",
            "303.555.0142",
            "sips:+13035550142@carrier.net",
            "<sip:%2B13035550142@carrier.net>",
            "tel:3035550142;phone-context=+1",
            "TEL:+1(303)555-0142",
        ];
        for form in forms {
            assert_eq!(parse_target(form), Ok(tel("13035550142")), "{form}");
        }
    }

    #[test]
    fn wire_uris_normalise_like_targets() {
        let cases = [
            "\"Alice\" <sip:+13035550142@10.0.0.1:5060;user=phone>;tag=1928301774",
            "<sip:3035550142@x.example;transport=tcp>",
            "sip:+13035550142;npdi;rn=+13035550000@carrier.net;user=phone",
            "<tel:+1-303-555-0142>",
            "sip:3035550142:secret@x.example",
        ];
        for uri in cases {
            assert_eq!(from_uri(uri), Some(tel("13035550142")), "{uri}");
        }
    }

    #[test]
    fn nanp_and_other_lengths() {
        assert_eq!(parse_target("2125550100"), Ok(tel("12125550100")));
        // A 10-digit number starting with 0 or 1 is not NANP: kept as given.
        assert_eq!(parse_target("0125550100"), Ok(tel("0125550100")));
        assert_eq!(parse_target("+442079460000"), Ok(tel("442079460000")));
        // A '+' number is E.164: never given a NANP prefix.
        assert_eq!(parse_target("+3035550142"), Ok(tel("3035550142")));
        assert_eq!(parse_target("5550142"), Ok(tel("5550142")));
        assert_eq!(from_uri("sip:2001@pbx.example"), Some(tel("2001")));
    }

    #[test]
    fn different_numbers_and_users_differ() {
        assert_ne!(
            parse_target("tel:+13035550142"),
            parse_target("tel:+13035550143")
        );
        assert_ne!(parse_target("+3035550142"), parse_target("3035550142"));
        assert_ne!(
            from_uri("sip:alice@example.net"),
            from_uri("sip:Alice@example.net")
        );
        assert_ne!(
            from_uri("sip:alice@example.net"),
            from_uri("sip:alice@example.org")
        );
    }

    #[test]
    fn sip_user_case_sensitive_host_lowercased_port_dropped() {
        assert_eq!(
            from_uri("<sip:Alice@Example.NET:5061;transport=tls>"),
            Some(sip("Alice", "example.net"))
        );
        assert_eq!(
            from_uri("sips:bob%20smith@[2001:DB8::1]:5061"),
            Some(sip("bob smith", "[2001:db8::1]"))
        );
        assert_eq!(
            parse_target("sip:alice@example.net"),
            Ok(sip("alice", "example.net"))
        );
        // user=phone on a user that is not a number leaves it a SIP identity.
        assert_eq!(
            from_uri("sip:*57@carrier.net;user=phone"),
            Some(sip("*57", "carrier.net"))
        );
    }

    #[test]
    fn anonymous_and_userless_uris_name_nobody() {
        for uri in [
            "sip:anonymous@anonymous.invalid",
            "\"Anonymous\" <sip:Anonymous@anonymous.invalid>;tag=9",
            "sip:anonymous@carrier.net",
            "sip:3035550142@anonymous.invalid",
        ] {
            assert!(is_anonymous(uri), "{uri}");
            assert_eq!(from_uri(uri), None, "{uri}");
        }
        assert!(!is_anonymous("sip:alice@example.net"));
        assert_eq!(from_uri("sip:200.57.7.195:55061;user=phone"), None);
        assert_eq!(parse_target("sip:200.57.7.195"), Err(IdentityError::NoUser));
        assert_eq!(parse_target("sip:@example.net"), Err(IdentityError::NoUser));
        assert_eq!(parse_target("sip:alice@"), Err(IdentityError::NoHost));
        assert_eq!(
            parse_target("sip:anonymous@anonymous.invalid"),
            Err(IdentityError::Anonymous)
        );
    }

    #[test]
    fn malformed_targets_are_rejected() {
        assert_eq!(parse_target("  "), Err(IdentityError::Empty));
        assert_eq!(parse_target("mailto:a@b"), Err(IdentityError::UnknownForm));
        assert_eq!(
            parse_target("alice@example.net"),
            Err(IdentityError::UnknownForm)
        );
        assert_eq!(parse_target("303-555-O142"), Err(IdentityError::BadNumber));
        assert_eq!(parse_target("1+3035550142"), Err(IdentityError::BadNumber));
        assert_eq!(parse_target("tel:"), Err(IdentityError::BadNumber));
        assert_eq!(
            parse_target("+1234567890123456"),
            Err(IdentityError::BadNumber)
        );
        assert_eq!(
            parse_target("sip:al%2@example.net"),
            Err(IdentityError::BadEscape)
        );
        assert_eq!(
            parse_target("<sip:alice@example.net"),
            Err(IdentityError::UnknownForm)
        );
    }

    #[test]
    fn debug_redacts_the_value() {
        let text = format!("{:?} {:?}", tel("13035550142"), sip("alice", "example.net"));
        assert_eq!(
            text,
            "Identity::Tel(<redacted>) Identity::Sip { <redacted> }"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC*") {
            let _ = parse_target(&s);
            let _ = from_uri(&s);
        }

        #[test]
        fn separators_never_change_a_number(digits in "[2-9][0-9]{9}", sep in "[-. ()]") {
            let spaced: String = digits.chars().flat_map(|c| [c, sep.chars().next().unwrap_or('-')]).collect();
            prop_assert_eq!(parse_target(&spaced), parse_target(&digits));
            prop_assert_eq!(parse_target(&format!("tel:+1{digits}")), parse_target(&digits));
        }
    }
}
