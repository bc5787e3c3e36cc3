//! Small text helpers shared by the SIP parsers: comma lists that respect `<>` and quotes,
//! `;name=value` parameter lookup, MIME type extraction.

/// Splits a header value at top-level commas (not inside `"..."` or `<...>`), trimming each
/// element and skipping empty ones.
#[derive(Debug, Clone)]
pub struct CommaSplit<'a> {
    rest: &'a str,
}

impl<'a> CommaSplit<'a> {
    pub fn new(value: &'a str) -> Self {
        CommaSplit { rest: value }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let bytes = self.rest.as_bytes();
            let mut in_quotes = false;
            let mut escaped = false;
            let mut in_angle = false;
            let mut cut = bytes.len();
            for (i, &b) in bytes.iter().enumerate() {
                if in_quotes {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_quotes = false;
                    }
                    continue;
                }
                match b {
                    b'"' => in_quotes = true,
                    b'<' => in_angle = true,
                    b'>' => in_angle = false,
                    b',' if !in_angle => {
                        cut = i;
                        break;
                    }
                    _ => {}
                }
            }
            // `cut` is a byte index of an ASCII ',' or the end, so both slices are on
            // char boundaries.
            let item = self.rest.get(..cut).unwrap_or("");
            self.rest = self.rest.get(cut + 1..).unwrap_or("");
            let item = item.trim();
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Looks up `name` (case-insensitive) in a `;`-separated parameter list such as
/// `tag=1;lr;branch=z9hG4bK1`. A flag parameter yields `Some("")`; quotes around a value are
/// removed.
pub fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let p = p.trim();
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (p, ""),
        };
        if !key.eq_ignore_ascii_case(name) {
            return None;
        }
        Some(
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value),
        )
    })
}

/// The `type/subtype` of a Content-Type value, without parameters, trimmed.
/// Compare it with `eq_ignore_ascii_case`.
pub fn mime_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Position of the first `needle` byte in `hay`.
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let v = r#""Doe, John" <sip:a@b;x=1,2>;index=1 , <sip:c@d>,,tel:+1"#;
        let items: Vec<_> = CommaSplit::new(v).collect();
        assert_eq!(
            items,
            vec![
                r#""Doe, John" <sip:a@b;x=1,2>;index=1"#,
                "<sip:c@d>",
                "tel:+1"
            ]
        );
        let esc = r#""a\"," <sip:x@y>, <sip:z@w>"#;
        assert_eq!(CommaSplit::new(esc).count(), 2);
    }

    #[test]
    fn param_lookup() {
        assert_eq!(param("tag=abc; lr ;Branch=z9", "branch"), Some("z9"));
        assert_eq!(param("tag=abc;lr", "lr"), Some(""));
        assert_eq!(
            param("reason=\"unconditional\"", "reason"),
            Some("unconditional")
        );
        assert_eq!(param("tag=abc", "x"), None);
    }

    #[test]
    fn mime() {
        assert_eq!(mime_type(" application/SDP ; charset=x"), "application/SDP");
    }
}
