//! Bounds-checked BER TLV reader for the decoder: identifiers, definite lengths, primitive
//! values (unsigned INTEGER/ENUMERATED, OBJECT IDENTIFIER, RELATIVE-OID).

use std::fmt;

use super::DecodeError;

/// Identifier of a TLV, as found (used in error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagInfo {
    /// Class bits as on the wire: 0x00 universal, 0x40 application, 0x80 context, 0xC0 private.
    pub class: u8,
    pub constructed: bool,
    pub number: u32,
}

impl fmt::Display for TagInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = if self.constructed {
            "constructed"
        } else {
            "primitive"
        };
        match self.class {
            0x80 => write!(f, "[{}] {form}", self.number),
            0x00 => write!(f, "UNIVERSAL {} {form}", self.number),
            0x40 => write!(f, "[APPLICATION {}] {form}", self.number),
            _ => write!(f, "[PRIVATE {}] {form}", self.number),
        }
    }
}

/// One TLV inside a buffer; offsets are absolute (from the start of the decoded PDU).
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: TagInfo,
    pub value: &'a [u8],
    /// Offset of the identifier octet.
    pub offset: usize,
    /// Offset of the first contents octet.
    pub value_offset: usize,
    /// Identifier + length + contents octets.
    pub total_len: usize,
}

impl<'a> Tlv<'a> {
    pub fn is_ctx(&self, number: u32) -> bool {
        self.tag.class == 0x80 && self.tag.number == number
    }

    /// Contents of a primitive TLV, else an error naming `what` was expected.
    pub fn primitive(&self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.tag.constructed {
            return Err(self.unexpected(what));
        }
        Ok(self.value)
    }

    /// Children of a constructed TLV, else an error naming `what` was expected.
    pub fn children(&self, what: &'static str) -> Result<Children<'a>, DecodeError> {
        if !self.tag.constructed {
            return Err(self.unexpected(what));
        }
        Ok(Children {
            buf: self.value,
            pos: 0,
            base: self.value_offset,
            failed: false,
        })
    }

    /// The single alternative inside an explicitly tagged CHOICE.
    pub fn choice(&self, what: &'static str) -> Result<Tlv<'a>, DecodeError> {
        match self.children(what)?.next() {
            Some(alt) => alt,
            None => Err(DecodeError::Missing {
                offset: self.offset,
                what,
                within: "empty CHOICE",
            }),
        }
    }

    pub fn unexpected(&self, expected: &'static str) -> DecodeError {
        DecodeError::Unexpected {
            offset: self.offset,
            expected,
            found: self.tag,
        }
    }

    /// Non-negative INTEGER or ENUMERATED no larger than `max`.
    pub fn unsigned(&self, what: &'static str, max: u64) -> Result<u64, DecodeError> {
        let v = self.primitive(what)?;
        let invalid = |why| DecodeError::Invalid {
            offset: self.offset,
            what,
            why,
        };
        let (first, rest) = v.split_first().ok_or_else(|| invalid("empty INTEGER"))?;
        if first & 0x80 != 0 {
            return Err(invalid("negative value"));
        }
        let mut acc = u64::from(*first);
        for b in rest {
            acc = acc
                .checked_mul(256)
                .and_then(|a| a.checked_add(u64::from(*b)))
                .ok_or_else(|| invalid("value out of range"))?;
        }
        if acc > max {
            return Err(invalid("value out of range"));
        }
        Ok(acc)
    }

    /// Unsigned value that fits a u32 field.
    pub fn u32(&self, what: &'static str) -> Result<u32, DecodeError> {
        let v = self.unsigned(what, u64::from(u32::MAX))?;
        u32::try_from(v).map_err(|_| DecodeError::Invalid {
            offset: self.offset,
            what,
            why: "value out of range",
        })
    }
}

/// Iterator over the TLVs of a constructed value's contents (stops after the first error).
pub struct Children<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let rest = self.buf.get(self.pos..)?;
        let item = read_tlv(rest, self.base + self.pos);
        match &item {
            Ok(tlv) => self.pos += tlv.total_len,
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

/// Reads the TLV at the start of `buf`, whose first octet is at absolute `offset`.
pub fn read_tlv(buf: &[u8], offset: usize) -> Result<Tlv<'_>, DecodeError> {
    let truncated = |what, need: usize| DecodeError::Truncated {
        offset,
        what,
        need,
        have: buf.len(),
    };
    let first = *buf.first().ok_or_else(|| truncated("identifier", 1))?;
    let mut p = 1;
    let mut number = u32::from(first & 0x1F);
    if number == 0x1F {
        number = 0;
        loop {
            let b = *buf
                .get(p)
                .ok_or_else(|| truncated("high tag number", p + 1))?;
            p += 1;
            number = number
                .checked_mul(128)
                .map(|n| n | u32::from(b & 0x7F))
                .ok_or(DecodeError::Invalid {
                    offset,
                    what: "tag number",
                    why: "larger than 32 bits",
                })?;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let tag = TagInfo {
        class: first & 0xC0,
        constructed: first & 0x20 != 0,
        number,
    };
    let lb = *buf.get(p).ok_or_else(|| truncated("length", p + 1))?;
    p += 1;
    let len = if lb < 0x80 {
        usize::from(lb)
    } else if lb == 0x80 {
        return Err(DecodeError::Invalid {
            offset,
            what: "length",
            why: "indefinite length (tapline decodes definite-length BER only)",
        });
    } else {
        let k = usize::from(lb & 0x7F);
        if k > 8 {
            return Err(DecodeError::Invalid {
                offset,
                what: "length",
                why: "long form of more than 8 octets",
            });
        }
        let octets = buf
            .get(p..p + k)
            .ok_or_else(|| truncated("long-form length", p + k))?;
        p += k;
        let mut len: u64 = 0;
        for b in octets {
            len = (len << 8) | u64::from(*b);
        }
        usize::try_from(len).map_err(|_| truncated("contents", usize::MAX))?
    };
    let end = p
        .checked_add(len)
        .ok_or_else(|| truncated("contents", usize::MAX))?;
    let value = buf.get(p..end).ok_or_else(|| truncated("contents", end))?;
    Ok(Tlv {
        tag,
        value,
        offset,
        value_offset: offset + p,
        total_len: end,
    })
}

/// Dotted text of an OBJECT IDENTIFIER's contents octets.
pub fn oid_text(v: &[u8], offset: usize) -> Result<String, DecodeError> {
    let arcs = arcs(v, offset, "OBJECT IDENTIFIER")?;
    let (first, rest) = arcs.split_first().ok_or(DecodeError::Invalid {
        offset,
        what: "OBJECT IDENTIFIER",
        why: "no arcs",
    })?;
    let (a, b) = match *first {
        x if x < 40 => (0, x),
        x if x < 80 => (1, x - 40),
        x => (2, x - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in rest {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    Ok(s)
}

/// Dotted text of a RELATIVE-OID's contents octets.
pub fn relative_oid_text(v: &[u8], offset: usize) -> Result<String, DecodeError> {
    let arcs = arcs(v, offset, "RELATIVE-OID")?;
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

fn arcs(v: &[u8], offset: usize, what: &'static str) -> Result<Vec<u64>, DecodeError> {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut open = false;
    for b in v {
        acc = acc
            .checked_mul(128)
            .map(|a| a | u64::from(b & 0x7F))
            .ok_or(DecodeError::Invalid {
                offset,
                what,
                why: "arc larger than 64 bits",
            })?;
        open = b & 0x80 != 0;
        if !open {
            out.push(acc);
            acc = 0;
        }
    }
    if open {
        return Err(DecodeError::Invalid {
            offset,
            what,
            why: "last arc unterminated",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_long_and_high_tags() {
        let t = read_tlv(&[0x81, 0x02, 0xAA, 0xBB, 0xFF], 10).unwrap();
        assert_eq!(
            t.tag,
            TagInfo {
                class: 0x80,
                constructed: false,
                number: 1
            }
        );
        assert_eq!(
            (t.value, t.offset, t.value_offset, t.total_len),
            (&[0xAA, 0xBB][..], 10, 12, 4)
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend_from_slice(&[0; 128]);
        assert_eq!(read_tlv(&long, 0).unwrap().value.len(), 128);
        let high = read_tlv(&[0xBF, 0x81, 0x49, 0x00], 0).unwrap();
        assert_eq!(
            high.tag,
            TagInfo {
                class: 0x80,
                constructed: true,
                number: 201
            }
        );
    }

    #[test]
    fn truncation_and_indefinite_are_errors() {
        assert_eq!(
            read_tlv(&[0x30, 0x05, 0x00], 7).unwrap_err(),
            DecodeError::Truncated {
                offset: 7,
                what: "contents",
                need: 7,
                have: 3
            }
        );
        assert!(matches!(
            read_tlv(&[0x30, 0x80, 0, 0], 0),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            read_tlv(&[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1], 0),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            read_tlv(&[0x1F, 0x81], 0),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            read_tlv(&[0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0], 0),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn integers_and_oids() {
        let t = |b: &'static [u8]| read_tlv(b, 0).unwrap();
        assert_eq!(
            t(&[0x84, 0x02, 0x00, 0x80]).unsigned("n", u64::MAX),
            Ok(128)
        );
        assert_eq!(
            t(&[0x84, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]).u32("n"),
            Ok(u32::MAX)
        );
        assert!(t(&[0x84, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00])
            .u32("n")
            .is_err());
        assert!(t(&[0x84, 0x01, 0x80]).unsigned("n", u64::MAX).is_err());
        assert!(t(&[0x84, 0x00]).unsigned("n", u64::MAX).is_err());
        assert_eq!(
            oid_text(&[0x04, 0x00, 0x02, 0x02, 0x05, 0x01, 0x2B], 0).unwrap(),
            "0.4.0.2.2.5.1.43"
        );
        assert_eq!(oid_text(&[0x2A, 0x86, 0x48], 0).unwrap(), "1.2.840");
        assert_eq!(
            relative_oid_text(&[0x05, 0x05, 0x11, 0x01], 0).unwrap(),
            "5.5.17.1"
        );
        assert!(relative_oid_text(&[0x85], 0).is_err());
    }
}
