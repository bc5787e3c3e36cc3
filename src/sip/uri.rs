//! SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966), borrowed from the header text.

use std::borrow::Cow;

use super::text::param;
use super::SipError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
        }
    }
}

/// A parsed URI. For `tel:` the number is in `user` and `host` is empty. URI headers
/// (`?...`) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri<'a> {
    pub scheme: Scheme,
    /// User part as sent (percent escapes not decoded, user parameters such as `;npdi`
    /// kept); see [`unescape_user`].
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Host: a name, IPv4, `[IPv6]` with brackets, or a bare IPv6 address without brackets
    /// (seen in real captures, e.g. `fe80:0:0:0:21a:a0ff:fe07:32e0`; then there is no port).
    pub host: &'a str,
    pub port: Option<u16>,
    /// URI parameters after the host (or after a tel number), without the leading `;`.
    pub params: &'a str,
}

impl<'a> Uri<'a> {
    /// A URI parameter (`user`, `transport`, `phone-context`, ...); a flag yields `Some("")`.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }

    /// The host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &'a str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host)
    }
}

fn bad(scheme: Scheme, why: &'static str) -> SipError {
    SipError::BadUri {
        scheme: scheme.name(),
        why,
    }
}

/// Parses a `sip:`, `sips:` or `tel:` URI (scheme case-insensitive). A URI inside `<...>`
/// is accepted; anything after the `>` is ignored.
pub fn parse_uri(s: &str) -> Result<Uri<'_>, SipError> {
    let mut s = s.trim();
    if let Some(inner) = s.strip_prefix('<') {
        s = inner.split('>').next().unwrap_or(inner).trim();
    }
    let (scheme_name, rest) = s.split_once(':').ok_or(SipError::BadUri {
        scheme: "unknown",
        why: "no scheme",
    })?;
    let scheme = if scheme_name.eq_ignore_ascii_case("sip") {
        Scheme::Sip
    } else if scheme_name.eq_ignore_ascii_case("sips") {
        Scheme::Sips
    } else if scheme_name.eq_ignore_ascii_case("tel") {
        Scheme::Tel
    } else {
        return Err(SipError::BadUri {
            scheme: "unknown",
            why: "not sip, sips or tel",
        });
    };
    let rest = rest.split('?').next().unwrap_or(rest);
    if scheme == Scheme::Tel {
        let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
        if number.is_empty() {
            return Err(bad(scheme, "empty number"));
        }
        return Ok(Uri {
            scheme,
            user: Some(number),
            password: None,
            host: "",
            port: None,
            params,
        });
    }
    let (userinfo, hostpart) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (Some(user), Some(pw)),
            None => (Some(u), None),
        },
        None => (None, None),
    };
    if user == Some("") {
        return Err(bad(scheme, "empty user part"));
    }
    let (hostport, params) = hostpart.split_once(';').unwrap_or((hostpart, ""));
    let (host, port) = split_host_port(hostport).ok_or(bad(scheme, "bad host or port"))?;
    if host.is_empty() {
        return Err(bad(scheme, "empty host"));
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
    })
}

fn split_host_port(hostport: &str) -> Option<(&str, Option<u16>)> {
    if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let host = hostport.get(..=close)?;
        let after = hostport.get(close + 1..)?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match hostport.matches(':').count() {
        0 => Some((hostport, None)),
        1 => {
            let (host, port) = hostport.split_once(':')?;
            Some((host, Some(port.parse().ok()?)))
        }
        // Bare IPv6 address: no room for a port.
        _ => Some((hostport, None)),
    }
}

/// Decodes `%XX` escapes in a user part (`%2A57` → `*57`). Invalid escapes are kept as
/// sent; bytes that do not form UTF-8 are replaced (U+FFFD).
pub fn unescape_user(user: &str) -> Cow<'_, str> {
    if !user.contains('%') {
        return Cow::Borrowed(user);
    }
    let bytes = user.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let decoded = (b == b'%')
            .then(|| {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                Some(hi << 4 | lo)
            })
            .flatten();
        match decoded {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_with_port_and_params() {
        let u = parse_uri("sip:5514540002@200.57.7.195:55061;user=phone?Subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("5514540002"));
        assert_eq!(u.host, "200.57.7.195");
        assert_eq!(u.port, Some(55061));
        assert_eq!(u.param("user"), Some("phone"));
        assert_eq!(u.params, "user=phone");
    }

    #[test]
    fn no_user_part_and_password() {
        let u = parse_uri("<sip:200.57.7.195:55061;user=phone>;tag=1").unwrap();
        assert_eq!(
            (u.user, u.host, u.port),
            (None, "200.57.7.195", Some(55061))
        );
        let p = parse_uri("SIPS:alice:secret@atlanta.example.com;transport=tls").unwrap();
        assert_eq!(p.scheme, Scheme::Sips);
        assert_eq!((p.user, p.password), (Some("alice"), Some("secret")));
        assert_eq!(p.param("transport"), Some("tls"));
    }

    #[test]
    fn ipv6_hosts() {
        let u = parse_uri("sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0").unwrap();
        assert_eq!((u.host, u.port), ("fe80:0:0:0:21a:a0ff:fe07:32e0", None));
        let b = parse_uri("sip:bob@[2001:db8::10]:5070;lr").unwrap();
        assert_eq!((b.host, b.port), ("[2001:db8::10]", Some(5070)));
        assert_eq!(b.host_unbracketed(), "2001:db8::10");
        assert_eq!(b.param("lr"), Some(""));
    }

    #[test]
    fn tel_uri() {
        let t = parse_uri("tel:+1-303-555-0142;phone-context=example.com").unwrap();
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user, Some("+1-303-555-0142"));
        assert_eq!(t.host, "");
        assert_eq!(t.param("phone-context"), Some("example.com"));
        let s = parse_uri("tel:9171969136;phone-context=+7").unwrap();
        assert_eq!(s.param("phone-context"), Some("+7"));
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse_uri("http://x").is_err());
        assert!(parse_uri("sip:").is_err());
        assert!(parse_uri("sip:@host").is_err());
        assert!(parse_uri("sip:a@host:99999").is_err());
        assert!(parse_uri("sip:a@[::1").is_err());
        assert!(parse_uri("tel:").is_err());
        assert!(parse_uri("nocolon").is_err());
    }

    #[test]
    fn unescape() {
        assert_eq!(unescape_user("%2A57"), "*57");
        assert_eq!(unescape_user("%2a57%23"), "*57#");
        assert!(matches!(unescape_user("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape_user("100%"), "100%");
        assert_eq!(unescape_user("a%zz"), "a%zz");
    }
}
