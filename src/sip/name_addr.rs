//! `name-addr` / `addr-spec` values of From, To, Contact, P-Asserted-Identity, Diversion and
//! History-Info: `"Name" <uri>;tag=x`, `Name <uri>`, `<uri>`, bare `uri;tag=x`.

use super::text::param;

/// One address from an address header. All fields borrow the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name, without the surrounding quotes (escapes are left as sent).
    pub display: Option<&'a str>,
    /// The URI, without `<>` (it may carry URI parameters and `?headers`).
    pub uri: &'a str,
    /// The `tag` header parameter.
    pub tag: Option<&'a str>,
    /// All header parameters after the URI, without the leading `;` (e.g.
    /// `tag=1;reason=unconditional`, `index=1.1`). Look one up with [`NameAddr::param`].
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Parses one address. Returns `None` when there is no URI (empty, or `<` without `>`).
    pub fn parse(value: &'a str) -> Option<NameAddr<'a>> {
        let value = value.trim();
        let (display, rest) = if let Some(quoted) = value.strip_prefix('"') {
            let end = closing_quote(quoted)?;
            (quoted.get(..end), quoted.get(end + 1..)?.trim_start())
        } else {
            match value.find('<') {
                Some(lt) => {
                    let name = value.get(..lt)?.trim();
                    ((!name.is_empty()).then_some(name), value.get(lt..)?)
                }
                None => (None, value),
            }
        };
        let (uri, params) = if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>')?;
            (inner.get(..gt)?.trim(), inner.get(gt + 1..)?)
        } else {
            // addr-spec form: parameters after the URI belong to the header (RFC 3261 20.10).
            match rest.find(';') {
                Some(semi) => (rest.get(..semi)?.trim(), rest.get(semi..)?),
                None => (rest.trim(), ""),
            }
        };
        if uri.is_empty() {
            return None;
        }
        let params = params.trim();
        let params = params.strip_prefix(';').unwrap_or(params).trim_start();
        Some(NameAddr {
            display,
            uri,
            tag: param(params, "tag"),
            params,
        })
    }

    /// A header parameter such as `index` (History-Info) or `reason` (Diversion).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }
}

/// Byte index of the closing `"` in a quoted string body (after the opening quote).
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_name() {
        let a = NameAddr::parse(
            r#""Alice \"A\" Liddell" <sip:alice@atlanta.example.com>;tag=1928301774"#,
        )
        .unwrap();
        assert_eq!(a.display, Some(r#"Alice \"A\" Liddell"#));
        assert_eq!(a.uri, "sip:alice@atlanta.example.com");
        assert_eq!(a.tag, Some("1928301774"));
    }

    #[test]
    fn token_display_and_bare_forms() {
        let a = NameAddr::parse("Bob <sip:bob@biloxi.example.com;transport=tcp> ; tag=a6c85cf")
            .unwrap();
        assert_eq!(a.display, Some("Bob"));
        assert_eq!(a.uri, "sip:bob@biloxi.example.com;transport=tcp");
        assert_eq!(a.tag, Some("a6c85cf"));

        let b = NameAddr::parse("<sip:carol@chicago.example.com>").unwrap();
        assert_eq!(
            (b.display, b.uri, b.tag, b.params),
            (None, "sip:carol@chicago.example.com", None, "")
        );

        let c = NameAddr::parse("sip:200.57.7.195:55061;user=phone;tag=GR52RWG346-34").unwrap();
        assert_eq!(c.uri, "sip:200.57.7.195:55061");
        assert_eq!(c.tag, Some("GR52RWG346-34"));
        assert_eq!(c.param("user"), Some("phone"));
    }

    #[test]
    fn header_params() {
        let d =
            NameAddr::parse("<sip:+13035550100@ims.example.net>;reason=unconditional;counter=1")
                .unwrap();
        assert_eq!(d.param("reason"), Some("unconditional"));
        assert_eq!(d.param("counter"), Some("1"));
    }

    #[test]
    fn rejects_missing_uri() {
        assert_eq!(NameAddr::parse(""), None);
        assert_eq!(NameAddr::parse("\"Only name\""), None);
        assert_eq!(NameAddr::parse("Name <sip:x"), None);
        assert_eq!(NameAddr::parse("<>"), None);
    }
}
