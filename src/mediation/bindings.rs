//! REGISTER bindings of targets (RFC 3261 §10): address of record ↔ contact URIs, each
//! with its expiry in packet time. A call whose Request-URI is a bound contact of a target
//! reaches that target even when no header names it.
//!
//! The registrar's 2xx to a REGISTER lists every current binding of the AOR (§10.3 step
//! 8), so it replaces the AOR's bindings whole: a contact it no longer lists, or lists with
//! `expires=0`, is removed, and a 2xx without Contact (after `Contact: *` or the last
//! `expires=0`) removes them all. Only AORs that a warrant names are kept; other
//! subscribers' registrations leave nothing behind.

use std::collections::HashMap;

use crate::sip::{self, Message};
use crate::warrant::{from_uri, Identity, Numbering};
use crate::Timestamp;

/// Registrations last this long when neither the contact nor the request says (§10.2.1.1).
const DEFAULT_EXPIRES_S: u64 = 3600;
/// Most contacts kept per AOR (a hostile registrar cannot grow the table without limit).
const MAX_CONTACTS_PER_AOR: usize = 16;

#[derive(Debug, Clone)]
pub(super) struct Binding {
    pub(super) aor: Identity,
    pub(super) expires: Timestamp,
}

/// Contact key → binding.
#[derive(Debug, Default)]
pub struct Bindings {
    pub(super) by_contact: HashMap<String, Binding>,
}

/// How a contact URI is compared with a Request-URI: scheme, user, host (case-folded) and
/// port (default 5060, 5061 for sips); URI parameters are ignored.
pub fn contact_key(uri: &str) -> Option<String> {
    let u = sip::uri::parse_uri(uri).ok()?;
    let scheme = match u.scheme {
        sip::uri::Scheme::Sip => "sip",
        sip::uri::Scheme::Sips => "sips",
        sip::uri::Scheme::Tel => return None,
    };
    let port = u.port.unwrap_or(if scheme == "sips" { 5061 } else { 5060 });
    let user = u.user.unwrap_or("");
    Some(format!("{scheme}:{user}@{}:{port}", u.host_unbracketed().to_ascii_lowercase()))
}

impl Bindings {
    pub fn is_empty(&self) -> bool {
        self.by_contact.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_contact.len()
    }

    /// Whether any binding of `aor` is held.
    pub fn has_aor(&self, aor: &Identity) -> bool {
        self.by_contact.values().any(|b| b.aor == *aor)
    }

    /// A 2xx to a REGISTER for `aor`: its Contact list replaces the AOR's bindings.
    pub fn handle_register_ok(&mut self, aor: &Identity, msg: &Message<'_>, ts: Timestamp) {
        self.by_contact.retain(|_, b| b.aor != *aor);
        let default_s = msg
            .header("expires")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_EXPIRES_S);
        let mut kept = 0;
        for value in msg.header_values("contact") {
            let Some(na) = sip::NameAddr::parse(value) else { continue };
            let secs = na
                .param("expires")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default_s);
            if secs == 0 || kept == MAX_CONTACTS_PER_AOR {
                continue;
            }
            let Some(key) = contact_key(na.uri) else { continue };
            let expires = Timestamp::from_nanos(ts.as_nanos().saturating_add(secs.saturating_mul(1_000_000_000)));
            self.by_contact.insert(key, Binding { aor: aor.clone(), expires });
            kept += 1;
        }
    }

    /// The target AOR a Request-URI reaches through a live binding.
    pub fn lookup(&self, request_uri: &str, now: Timestamp) -> Option<&Identity> {
        if self.by_contact.is_empty() {
            return None;
        }
        let b = self.by_contact.get(&contact_key(request_uri)?)?;
        (b.expires > now).then_some(&b.aor)
    }

    /// Drops expired bindings; returns how many.
    pub fn expire(&mut self, now: Timestamp) -> usize {
        let before = self.by_contact.len();
        self.by_contact.retain(|_, b| b.expires > now);
        before - self.by_contact.len()
    }
}

/// The AOR a REGISTER 2xx is about (its To), as an identity.
pub fn register_aor(msg: &Message<'_>, numbering: &Numbering) -> Option<Identity> {
    msg.to().and_then(|t| from_uri(t.uri, numbering))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(contacts: &str, expires: Option<u32>) -> String {
        let exp = expires.map(|e| format!("Expires: {e}\r\n")).unwrap_or_default();
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.1.2.3:5062;branch=z9hG4bK-r\r\nFrom: <sip:+13035550142@carrier.example>;tag=r1\r\nTo: <sip:+13035550142@carrier.example>;tag=s1\r\nCall-ID: reg-1\r\nCSeq: 2 REGISTER\r\n{contacts}{exp}Content-Length: 0\r\n\r\n"
        )
    }

    fn ts(s: u64) -> Timestamp {
        Timestamp::from_secs_micros(1_793_000_000 + s, 0)
    }

    #[test]
    fn a_binding_is_kept_refreshed_and_removed() {
        let mut b = Bindings::default();
        let text = ok("Contact: <sip:abc@10.1.2.3:5062;transport=udp>;expires=600\r\n", None);
        let msg = sip::parse(text.as_bytes()).unwrap();
        let aor = register_aor(&msg, &Numbering::default()).unwrap();
        b.handle_register_ok(&aor, &msg, ts(0));
        assert_eq!(b.lookup("sip:abc@10.1.2.3:5062", ts(10)), Some(&aor));
        assert_eq!(b.lookup("sip:abc@10.1.2.3:5062;transport=udp", ts(10)), Some(&aor));
        assert_eq!(b.lookup("sip:abc@10.1.2.3", ts(10)), None, "another port");
        assert_eq!(b.lookup("sip:abc@10.1.2.3:5062", ts(600)), None, "expired");
        // refreshed by a later 2xx with the header default
        let text = ok("Contact: <sip:abc@10.1.2.3:5062>\r\n", Some(1200));
        b.handle_register_ok(&aor, &sip::parse(text.as_bytes()).unwrap(), ts(500));
        assert!(b.lookup("sip:abc@10.1.2.3:5062", ts(1600)).is_some());
        // a 2xx listing it with expires=0 removes it
        let text = ok("Contact: <sip:abc@10.1.2.3:5062>;expires=0\r\n", None);
        b.handle_register_ok(&aor, &sip::parse(text.as_bytes()).unwrap(), ts(700));
        assert!(b.is_empty());
        // after Contact: * the 2xx lists nothing
        let text = ok("Contact: <sip:abc@10.1.2.3:5062>\r\n", None);
        b.handle_register_ok(&aor, &sip::parse(text.as_bytes()).unwrap(), ts(800));
        assert_eq!(b.len(), 1);
        b.handle_register_ok(&aor, &sip::parse(ok("", None).as_bytes()).unwrap(), ts(900));
        assert!(b.is_empty());
        assert_eq!(b.expire(ts(10_000)), 0);
    }
}
