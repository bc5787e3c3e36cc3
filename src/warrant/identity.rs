//! Identity normalisation: the one matching key for warrant targets and SIP parties seen on
//! the wire, so `tel:+13035550142` and `sip:303-555-0142@carrier.net;user=phone` are equal.
//!
//! The rule (documented for operators in `warrants/README.md`): the user part of a `sip:` or
//! `sips:` URI is a telephone number only when
//! - it is a global number (`+…`), or
//! - the URI says so with `;user=phone`, or
//! - the host is one of the carrier's own number domains ([`Numbering`], configured as
//!   `[appliance] number_domains` in `agencies.toml`);
//!
//! a `tel:` URI and a bare number (in a warrant file) are always numbers. Otherwise the whole
//! `user@host` is the identity, so `sip:2001@tenant-a.example` and `sip:2001@tenant-b.example`
//! (extensions of two tenants of a hosted PBX) are different subscribers. [`from_uri`] and
//! [`parse_target`] are the only entry points; warrant loading, mediation matching, Call
//! Trace and the handover records all go through them.

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
    #[error("SIP URI host contains whitespace or a control character")]
    BadHost,
    #[error("bad %-escape in the URI user part")]
    BadEscape,
    #[error("anonymous identity")]
    Anonymous,
}

/// The carrier's own number domains: SIP hosts under which a digit user part is a telephone
/// number of the carrier's numbering plan (`sip:3035550142@carrier.net` is `tel:+13035550142`).
/// Hosts are compared case-insensitively, without port. The default has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Numbering {
    /// Lowercase host names (IPv6 literals with brackets).
    number_domains: Vec<String>,
}

impl Numbering {
    /// The numbering with these number domains (any case; a trailing `.` is ignored).
    pub fn new<S: AsRef<str>>(number_domains: impl IntoIterator<Item = S>) -> Numbering {
        let mut domains: Vec<String> = Vec::new();
        for d in number_domains {
            let d = d.as_ref().trim().trim_end_matches('.').to_ascii_lowercase();
            if !d.is_empty() && !domains.contains(&d) {
                domains.push(d);
            }
        }
        Numbering { number_domains: domains }
    }

    /// True when `host` (lowercase, as in [`Identity::Sip`]) is one of the number domains.
    pub fn is_number_domain(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        self.number_domains.iter().any(|d| d == host)
    }

    pub fn number_domains(&self) -> &[String] {
        &self.number_domains
    }
}

/// Most digits a `+` (E.164) number may have.
const E164_MAX_DIGITS: usize = 15;
/// Most digits any other number may have.
const LOCAL_MAX_DIGITS: usize = 32;

/// Parses a warrant target: a `tel:`, `sip:` or `sips:` URI, or a bare telephone number.
pub fn parse_target(s: &str, numbering: &Numbering) -> Result<Identity, IdentityError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(IdentityError::Empty);
    }
    if has_known_scheme(s) || s.starts_with('<') {
        return parse_uri(s, numbering);
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
pub fn from_uri(uri: &str, numbering: &Numbering) -> Option<Identity> {
    parse_uri(uri.trim(), numbering).ok()
}

/// True for the RFC 3323 anonymous identity (`sip:anonymous@anonymous.invalid`, any case of
/// `anonymous` as user, or the `anonymous.invalid` host).
pub fn is_anonymous(uri: &str) -> bool {
    parse_uri(uri.trim(), &Numbering::default()) == Err(IdentityError::Anonymous)
}

fn has_known_scheme(s: &str) -> bool {
    ["tel:", "sip:", "sips:"].iter().any(|scheme| {
        s.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    })
}

fn parse_uri(s: &str, numbering: &Numbering) -> Result<Identity, IdentityError> {
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
        parse_sip(rest, numbering)
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
fn parse_sip(rest: &str, numbering: &Numbering) -> Result<Identity, IdentityError> {
    let rest = rest.split('?').next().unwrap_or("");
    // Parameters and host never contain '@'; the user part may contain ';'.
    let (userinfo, hostpart) = rest.rsplit_once('@').ok_or(IdentityError::NoUser)?;
    let user_raw = userinfo.split(':').next().unwrap_or("");
    if user_raw.is_empty() {
        return Err(IdentityError::NoUser);
    }
    let mut fields = hostpart.split(';');
    let hostport = fields.next().unwrap_or("");
    let user_phone = fields.any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("user") && v.trim().eq_ignore_ascii_case("phone")
        })
    });
    let host = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(close) => hostport.get(..=close).unwrap_or("").to_ascii_lowercase(),
            None => return Err(IdentityError::NoHost),
        }
    } else if hostport.matches(':').count() > 1 {
        // An IPv6 literal written without brackets (seen in the wild): the whole of it is
        // the host, bracketed like a well-formed one.
        format!("[{}]", hostport.to_ascii_lowercase())
    } else {
        hostport.split(':').next().unwrap_or("").to_ascii_lowercase()
    };
    if host.is_empty() || host == "[]" {
        return Err(IdentityError::NoHost);
    }
    // No host name has them; kept, `sip:u@a :` would be a user of the host `a ` that a
    // trimmed rewrite of the same URI (`sip:u@a`) would not match.
    if host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(IdentityError::BadHost);
    }
    let user = percent_decode(user_raw)?;
    // A telephone-subscriber user part may carry its own ';' parameters (npdi, rn, isub…).
    let number_part = user.split(';').next().unwrap_or("");
    if number_part.eq_ignore_ascii_case("anonymous") || host == "anonymous.invalid" {
        return Err(IdentityError::Anonymous);
    }
    if user_is_number(number_part, &host, user_phone, numbering) {
        if let Some(digits) = normalise_number(number_part) {
            return Ok(Identity::Tel(digits));
        }
    }
    Ok(Identity::Sip { user, host })
}

/// THE rule: whether the user part of a SIP URI names a telephone number (then normalised
/// to digits) rather than a user of that host (then `user@host` is the identity).
fn user_is_number(user: &str, host: &str, user_phone: bool, numbering: &Numbering) -> bool {
    user.starts_with('+') || user_phone || numbering.is_number_domain(host)
}

pub(super) fn is_separator(c: char) -> bool {
    matches!(c, '-' | '.' | '(' | ')' | ' ')
}

/// Digits of a telephone number: separators removed, a leading `+` kept implicit, NANP
/// 10-digit numbers (first digit 2–9) given the country code `1`.
pub(super) fn normalise_number(s: &str) -> Option<String> {
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

    fn none() -> Numbering {
        Numbering::default()
    }

    /// The carrier of the tests: `carrier.net` and `x.example` are its number domains.
    fn carrier() -> Numbering {
        Numbering::new(["Carrier.NET", "x.example."])
    }

    fn parse_target(s: &str) -> Result<Identity, IdentityError> {
        super::parse_target(s, &carrier())
    }

    fn from_uri(s: &str) -> Option<Identity> {
        super::from_uri(s, &carrier())
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
        // NANP handling also applies to digits under a number domain or with user=phone.
        assert_eq!(from_uri("sip:2125550100@carrier.net"), Some(tel("12125550100")));
        assert_eq!(super::from_uri("sip:2125550100@pbx.example;user=phone", &none()), Some(tel("12125550100")));
    }

    #[test]
    fn tenants_of_a_hosted_pbx_are_different_subscribers() {
        // The bug of issue 11: a digit user part was taken for a number and the host dropped.
        let a = from_uri("sip:2001@tenant-a.example");
        let b = from_uri("sip:2001@tenant-b.example");
        assert_eq!(a, Some(sip("2001", "tenant-a.example")));
        assert_eq!(b, Some(sip("2001", "tenant-b.example")));
        assert_ne!(a, b);
        assert_ne!(a, Some(tel("2001")));
        assert_eq!(parse_target("sip:2001@Tenant-A.example:5060"), Ok(sip("2001", "tenant-a.example")));
        // A 10-digit extension of a tenant is not a NANP number either.
        assert_eq!(from_uri("sip:3035550142@tenant-a.example"), Some(sip("3035550142", "tenant-a.example")));
    }

    #[test]
    fn a_user_part_is_a_number_only_by_the_rule() {
        let n = none();
        // global number
        assert_eq!(super::from_uri("sip:+13035550142@any.example", &n), Some(tel("13035550142")));
        // ;user=phone (any case, among other parameters)
        assert_eq!(super::from_uri("<sip:3035550142@any.example;transport=tcp;USER=Phone>", &n), Some(tel("13035550142")));
        // tel: URI and bare number
        assert_eq!(super::from_uri("tel:2001;phone-context=tenant-a.example", &n), Some(tel("2001")));
        assert_eq!(super::parse_target("2001", &n), Ok(tel("2001")));
        // a number domain of the carrier
        assert_eq!(super::from_uri("sip:2001@carrier.net", &n), Some(sip("2001", "carrier.net")));
        assert_eq!(super::from_uri("sip:2001@CARRIER.net:5060", &carrier()), Some(tel("2001")));
        // user=phone as a header of the URI (after '?') or in the user part is not the parameter
        assert_eq!(super::from_uri("sip:2001@h.example?user=phone", &n), Some(sip("2001", "h.example")));
        // a parameter only looking like it
        assert_eq!(super::from_uri("sip:2001@h.example;xuser=phone", &n), Some(sip("2001", "h.example")));
    }

    #[test]
    fn number_domains_normalise() {
        let n = Numbering::new(["A.example", "a.example", " b.example. ", ""]);
        assert_eq!(n.number_domains(), ["a.example", "b.example"]);
        assert!(n.is_number_domain("b.example") && n.is_number_domain("a.example."));
        assert!(!n.is_number_domain("c.example"));
        assert!(Numbering::default().number_domains().is_empty());
    }

    #[test]
    fn bracketless_ipv6_hosts_keep_the_whole_address() {
        assert_eq!(
            from_uri("sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0"),
            Some(sip("9876", "[fe80:0:0:0:21a:a0ff:fe07:32e0]"))
        );
        assert_ne!(from_uri("sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0"), from_uri("sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e1"));
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
        assert_eq!(parse_target("sip:A@a :"), Err(IdentityError::BadHost));
        assert_eq!(parse_target("sip:alice@exa mple.net"), Err(IdentityError::BadHost));
        assert_eq!(from_uri("<sip:alice@exam\tple.net>"), None);
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
            let _ = super::from_uri(&s, &none());
        }

        #[test]
        fn separators_never_change_a_number(digits in "[2-9][0-9]{9}", sep in "[-. ()]") {
            let spaced: String = digits.chars().flat_map(|c| [c, sep.chars().next().unwrap_or('-')]).collect();
            prop_assert_eq!(parse_target(&spaced), parse_target(&digits));
            prop_assert_eq!(parse_target(&format!("tel:+1{digits}")), parse_target(&digits));
        }
    }
}
