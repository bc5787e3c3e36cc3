//! The warrant model: order kinds and what each may receive, LIIDs, targets, agencies and
//! their handover endpoints, and the appliance's own identifiers.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::identity::{parse_target, Identity, IdentityError, Numbering};
use crate::metrics::WarrantState;
use crate::Timestamp;

/// Handover profile an agency collects in (defined by the profile registry).
pub use crate::handover::profile::Profile;

/// The kind of court order (see HANDOVER.md "What each order may receive").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderKind {
    PenRegister,
    TrapAndTrace,
    PenTrap,
    TitleIii,
}

impl OrderKind {
    pub const ALL: [OrderKind; 4] = [
        OrderKind::PenRegister,
        OrderKind::TrapAndTrace,
        OrderKind::PenTrap,
        OrderKind::TitleIii,
    ];

    /// The name used in warrant files.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::PenRegister => "pen-register",
            OrderKind::TrapAndTrace => "trap-and-trace",
            OrderKind::PenTrap => "pen-trap",
            OrderKind::TitleIii => "title-iii",
        }
    }

    /// The kind named `name` in a warrant file.
    pub fn from_name(name: &str) -> Option<OrderKind> {
        OrderKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lawful Interception IDentifier: 1..=25 visible ASCII characters (ETSI TS 102 232-1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Liid(String);

/// Why a string is not a valid LIID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LiidError {
    #[error("LIID is empty")]
    Empty,
    #[error("LIID has {0} characters; at most 25 are allowed")]
    TooLong(usize),
    #[error("LIID character {0} is not visible ASCII (`!`..`~`, no spaces)")]
    NotPrintable(usize),
}

impl Liid {
    pub const MAX_LEN: usize = 25;

    pub fn new(s: impl Into<String>) -> Result<Liid, LiidError> {
        let s = s.into();
        if s.is_empty() {
            return Err(LiidError::Empty);
        }
        if let Some(pos) = s.chars().position(|c| !c.is_ascii_graphic()) {
            return Err(LiidError::NotPrintable(pos + 1));
        }
        if s.len() > Liid::MAX_LEN {
            return Err(LiidError::TooLong(s.len()));
        }
        Ok(Liid(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Liid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A warrant target: the text as written in the warrant file and its matching key.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub raw: String,
    pub identity: Identity,
}

impl Target {
    /// A target as written in a warrant, keyed under the carrier's `numbering`.
    pub fn parse(raw: &str, numbering: &Numbering) -> Result<Target, IdentityError> {
        Ok(Target {
            raw: raw.trim().to_owned(),
            identity: parse_target(raw, numbering)?,
        })
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Target(<redacted>)")
    }
}

/// One court order as provisioned on the appliance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warrant {
    pub liid: Liid,
    pub kind: OrderKind,
    /// Id of the [`Agency`] that receives the records.
    pub agency: String,
    pub targets: Vec<Target>,
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
    pub court_order: String,
    pub issuing_authority: String,
    /// The order allows digits dialled after cut-through (pen register, pen/trap).
    pub post_cut_through_digits: bool,
    /// Officer who served the order on the carrier (audit trail).
    pub served_by: Option<String>,
    /// Carrier staff who provisioned it (audit trail).
    pub provisioned_by: Option<String>,
    /// The file it was loaded from.
    pub source: PathBuf,
}

impl Warrant {
    /// In force at packet time `ts`: `valid_from <= ts < valid_until`.
    pub fn is_active(&self, ts: Timestamp) -> bool {
        self.valid_from <= ts && ts < self.valid_until
    }

    /// Its lifecycle state at `ts` while in the store: pending, active or expired (a revoked
    /// warrant is no longer in the store).
    pub fn state_at(&self, ts: Timestamp) -> WarrantState {
        if ts < self.valid_from {
            WarrantState::Pending
        } else if ts < self.valid_until {
            WarrantState::Active
        } else {
            WarrantState::Expired
        }
    }

    /// Whether post-cut-through digits may be delivered (as IRI or inside the content):
    /// the policy table's rule for the kind ([`OrderKind::entitlement`]) applied to what the
    /// order says.
    pub fn delivers_post_cut_through_digits(&self) -> bool {
        self.kind
            .entitlement()
            .post_cut_through_digits
            .delivered(self.post_cut_through_digits)
    }
}

/// A handover endpoint `tls://host:port`; `host` is stored without IPv6 brackets, so
/// `(host.as_str(), port)` can be passed to a socket connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// Why an endpoint URL is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("must start with `tls://`")]
    Scheme,
    #[error("must be `tls://host:port` with nothing after the port")]
    Shape,
    #[error("host is not an IPv4 address, a bracketed IPv6 address or a DNS name")]
    Host,
    #[error("port is not a number in 1..=65535")]
    Port,
}

impl Endpoint {
    /// Parses `tls://host:port`, `tls://192.0.2.1:6100` or `tls://[::1]:6100`.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let rest = url
            .get(..6)
            .filter(|s| s.eq_ignore_ascii_case("tls://"))
            .and_then(|_| url.get(6..))
            .ok_or(EndpointError::Scheme)?;
        if rest.contains(['/', '@', '?', '#']) {
            return Err(EndpointError::Shape);
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(EndpointError::Host)?;
            host.parse::<Ipv6Addr>().map_err(|_| EndpointError::Host)?;
            let port = after.strip_prefix(':').ok_or(EndpointError::Shape)?;
            (host.to_ascii_lowercase(), port)
        } else {
            let (host, port) = rest.rsplit_once(':').ok_or(EndpointError::Shape)?;
            if host.parse::<Ipv4Addr>().is_err() && !is_dns_name(host) {
                return Err(EndpointError::Host);
            }
            (host.to_ascii_lowercase(), port)
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EndpointError::Port);
        }
        let port = port.parse::<u16>().map_err(|_| EndpointError::Port)?;
        if port == 0 {
            return Err(EndpointError::Port);
        }
        Ok(Endpoint { host, port })
    }
}

pub(super) fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tls://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tls://{}:{}", self.host, self.port)
        }
    }
}

/// A law-enforcement agency that collects records (its LEMF).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agency {
    pub id: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub profile: Profile,
    /// Intercept-related information (CII / IRI).
    pub hi2: Endpoint,
    /// Content of communication.
    pub hi3: Endpoint,
    /// CA certificate(s) that sign the agency's TLS server certificate; relative paths are
    /// resolved against the directory of `agencies.toml` at load time.
    pub ca: Option<PathBuf>,
    /// A DNS name the agency's server certificate must also be valid for (besides the
    /// endpoint's host), binding the endpoints to this agency: by default the agency id.
    pub server_name: String,
    /// SHA-256 fingerprints of the agency's server certificate; empty when not pinned.
    pub pin_sha256: Vec<[u8; 32]>,
}

/// The appliance's identifiers, written into every record it sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appliance {
    pub operator_id: String,
    pub network_element_id: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The carrier's own number domains (`number_domains`): how SIP URIs key to identities.
    pub numbering: Numbering,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn order_scopes_follow_the_handover_table() {
        use OrderKind::*;
        let scopes: Vec<_> = OrderKind::ALL
            .iter()
            .map(|k| (k.outgoing_cii(), k.incoming_cii(), k.content()))
            .collect();
        assert_eq!(
            scopes,
            [
                (true, false, false),
                (false, true, false),
                (true, true, false),
                (true, true, true)
            ]
        );
        for k in OrderKind::ALL {
            assert_eq!(OrderKind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(OrderKind::from_name("wiretap"), None);
        assert_eq!(TitleIii.to_string(), "title-iii");
    }

    #[test]
    fn liid_length_and_characters() {
        assert_eq!(
            Liid::new("DEN-2026-0042").map(|l| l.to_string()),
            Ok("DEN-2026-0042".into())
        );
        assert!(Liid::new("A".repeat(25)).is_ok());
        assert_eq!(Liid::new("A".repeat(26)), Err(LiidError::TooLong(26)));
        assert_eq!(Liid::new(""), Err(LiidError::Empty));
        assert_eq!(Liid::new("DEN 42"), Err(LiidError::NotPrintable(4)));
        assert_eq!(Liid::new("DEN\u{7}"), Err(LiidError::NotPrintable(4)));
        assert_eq!(Liid::new("DÉN"), Err(LiidError::NotPrintable(2)));
    }

    fn warrant(kind: OrderKind, from: u64, until: u64) -> Warrant {
        Warrant {
            liid: Liid::new("L1").unwrap(),
            kind,
            agency: "a".into(),
            targets: vec![Target::parse("tel:+13035550142", &Numbering::default()).unwrap()],
            valid_from: Timestamp::from_nanos(from),
            valid_until: Timestamp::from_nanos(until),
            court_order: "c".into(),
            issuing_authority: "i".into(),
            post_cut_through_digits: true,
            served_by: None,
            provisioned_by: None,
            source: PathBuf::from("w.toml"),
        }
    }

    #[test]
    fn activity_window_is_half_open() {
        let w = warrant(OrderKind::PenRegister, 100, 200);
        assert!(!w.is_active(Timestamp::from_nanos(99)));
        assert!(w.is_active(Timestamp::from_nanos(100)));
        assert!(w.is_active(Timestamp::from_nanos(199)));
        assert!(!w.is_active(Timestamp::from_nanos(200)));
        let states: Vec<_> = [99, 100, 199, 200].map(|t| w.state_at(Timestamp::from_nanos(t))).into();
        assert_eq!(states, [WarrantState::Pending, WarrantState::Active, WarrantState::Active, WarrantState::Expired]);
    }

    #[test]
    fn post_cut_through_digits_per_kind() {
        let got: Vec<_> = OrderKind::ALL
            .iter()
            .map(|k| warrant(*k, 0, 1).delivers_post_cut_through_digits())
            .collect();
        assert_eq!(got, [true, false, true, true]);
        let mut w = warrant(OrderKind::PenRegister, 0, 1);
        w.post_cut_through_digits = false;
        assert!(!w.delivers_post_cut_through_digits());
    }

    #[test]
    fn target_debug_is_redacted() {
        let w = warrant(OrderKind::TitleIii, 0, 1);
        let text = format!("{w:?}");
        assert!(text.contains("Target(<redacted>)"));
        assert!(!text.contains("303"));
    }

    #[test]
    fn endpoints() {
        let ok = |s: &str| Endpoint::parse(s).map(|e| (e.host.clone(), e.port, e.to_string()));
        assert_eq!(
            ok("tls://127.0.0.1:6100"),
            Ok(("127.0.0.1".into(), 6100, "tls://127.0.0.1:6100".into()))
        );
        assert_eq!(
            ok("tls://[::1]:6101"),
            Ok(("::1".into(), 6101, "tls://[::1]:6101".into()))
        );
        assert_eq!(
            ok("TLS://LEMF.Example.gov:443"),
            Ok((
                "lemf.example.gov".into(),
                443,
                "tls://lemf.example.gov:443".into()
            ))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:6100"),
            Err(EndpointError::Scheme)
        );
        assert_eq!(
            Endpoint::parse("127.0.0.1:6100"),
            Err(EndpointError::Scheme)
        );
        assert_eq!(
            Endpoint::parse("tls://127.0.0.1"),
            Err(EndpointError::Shape)
        );
        assert_eq!(Endpoint::parse("tls://host"), Err(EndpointError::Shape));
        assert_eq!(
            Endpoint::parse("tls://host:6100/x"),
            Err(EndpointError::Shape)
        );
        assert_eq!(Endpoint::parse("tls://::1:6100"), Err(EndpointError::Host));
        assert_eq!(
            Endpoint::parse("tls://[::1]6100"),
            Err(EndpointError::Shape)
        );
        assert_eq!(Endpoint::parse("tls://[zz]:6100"), Err(EndpointError::Host));
        assert_eq!(Endpoint::parse("tls://host:0"), Err(EndpointError::Port));
        assert_eq!(
            Endpoint::parse("tls://host:65536"),
            Err(EndpointError::Port)
        );
        assert_eq!(Endpoint::parse("tls://host:+80"), Err(EndpointError::Port));
        assert_eq!(Endpoint::parse("tls://:80"), Err(EndpointError::Host));
        assert_eq!(
            Endpoint::parse("tls://bad_host:80"),
            Err(EndpointError::Host)
        );
    }

    proptest! {
        #[test]
        fn endpoint_parse_never_panics(s in "\\PC*") {
            let _ = Endpoint::parse(&s);
            let _ = Liid::new(s);
        }
    }
}
