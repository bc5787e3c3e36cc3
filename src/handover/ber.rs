//! Minimal definite-length BER writer for the handover hot path (X.690 subset).
//!
//! Why hand-written: CRATES.md measured this writer at 7–10.6 M records/s for a PS-PDU-sized
//! record against 2.6–4.3 M for rasn 0.30 (byte-identical output), and asn1-rs encodes DER
//! only and ignores implicit tags on encode, so it would put wrong tags on the wire. The
//! PS-PDU needs only a dozen primitives, all below; every value the encoder emits is checked
//! byte for byte against an independent asn1tools decoder (tests/handover_oracle.rs).
//! Constructed values are written in one pass: the identifier and a one-octet length
//! placeholder go out first, the contents follow, and [`end`] patches the length, shifting
//! the contents right only when the long form is needed. Nothing allocates beyond `out`.

/// Tag class bits of the identifier octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    Universal = 0x00,
    Application = 0x40,
    Context = 0x80,
    Private = 0xC0,
}

/// An identifier: class, primitive/constructed, tag number (any size, high-tag form above 30).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub class: Class,
    pub constructed: bool,
    pub number: u32,
}

impl Tag {
    /// Primitive context-specific tag `[n]` (an IMPLICIT primitive field).
    pub const fn ctx(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: false,
            number,
        }
    }
    /// Constructed context-specific tag `[n]` (SEQUENCE fields and explicit CHOICE tags).
    pub const fn ctx_cons(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: true,
            number,
        }
    }
    /// Universal SEQUENCE / SEQUENCE OF (`30`).
    pub const SEQUENCE: Tag = Tag {
        class: Class::Universal,
        constructed: true,
        number: 16,
    };
}

/// Position of an open constructed value, returned by [`begin`] and consumed by [`end`].
#[must_use = "a constructed value must be closed with ber::end"]
#[derive(Debug)]
pub struct Open {
    length_at: usize,
}

/// Writes the identifier octet(s) of `tag`.
pub fn write_tag(out: &mut Vec<u8>, tag: Tag) {
    let lead = tag.class as u8 | if tag.constructed { 0x20 } else { 0 };
    if tag.number < 31 {
        out.push(lead | tag.number as u8);
        return;
    }
    out.push(lead | 0x1F);
    let groups = (32 - tag.number.leading_zeros()).div_ceil(7);
    for i in (0..groups).rev() {
        let bits = ((tag.number >> (7 * i)) & 0x7F) as u8;
        out.push(if i == 0 { bits } else { bits | 0x80 });
    }
}

/// Number of octets the long form needs for `len` (0 for the short form).
fn long_form_octets(len: usize) -> usize {
    if len < 0x80 {
        0
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    }
}

/// Writes a definite length in its minimal form (short below 128, else long).
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    let n = long_form_octets(len);
    if n == 0 {
        out.push(len as u8);
        return;
    }
    out.push(0x80 | n as u8);
    for i in (0..n).rev() {
        out.push((len >> (8 * i)) as u8);
    }
}

/// Writes a primitive TLV with the given contents octets.
pub fn write_primitive(out: &mut Vec<u8>, tag: Tag, contents: &[u8]) {
    write_tag(out, tag);
    write_length(out, contents.len());
    out.extend_from_slice(contents);
}

/// Opens a constructed value: identifier plus a one-octet length placeholder.
pub fn begin(out: &mut Vec<u8>, tag: Tag) -> Open {
    write_tag(out, tag);
    let length_at = out.len();
    out.push(0);
    Open { length_at }
}

/// Closes a constructed value opened by [`begin`], writing its minimal definite length.
pub fn end(out: &mut Vec<u8>, open: Open) {
    let start = open.length_at + 1;
    let len = out.len() - start;
    let extra = long_form_octets(len);
    if extra == 0 {
        out[open.length_at] = len as u8;
        return;
    }
    let old_end = out.len();
    out.resize(old_end + extra, 0);
    out.copy_within(start..old_end, start + extra);
    out[open.length_at] = 0x80 | extra as u8;
    for i in 0..extra {
        out[start + i] = (len >> (8 * (extra - 1 - i))) as u8;
    }
}

/// INTEGER (or ENUMERATED, same contents) of a non-negative value: minimal two's complement,
/// so a leading `00` appears when the top bit of the first significant octet is set.
pub fn write_unsigned(out: &mut Vec<u8>, tag: Tag, value: u64) {
    let bytes = value.to_be_bytes();
    let mut first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let pad = bytes[first] & 0x80 != 0;
    write_tag(out, tag);
    out.push((8 - first + usize::from(pad)) as u8);
    if pad {
        out.push(0);
    }
    while first < 8 {
        out.push(bytes[first]);
        first += 1;
    }
}

/// INTEGER of any signed value, minimal two's complement.
pub fn write_integer(out: &mut Vec<u8>, tag: Tag, value: i64) {
    let bytes = value.to_be_bytes();
    let mut first = 0;
    // Drop a leading octet while the next one carries the same sign.
    while first < 7 {
        let (b, next) = (bytes[first], bytes[first + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            first += 1;
        } else {
            break;
        }
    }
    write_primitive(out, tag, &bytes[first..]);
}

/// NULL: identifier and a zero length.
pub fn write_null(out: &mut Vec<u8>, tag: Tag) {
    write_tag(out, tag);
    out.push(0);
}

/// Appends the base-128 arc encoding (X.690 8.19.2) of one subidentifier.
fn push_arc(out: &mut Vec<u8>, arc: u64) {
    let groups = (64 - arc.leading_zeros()).div_ceil(7).max(1);
    for i in (0..groups).rev() {
        let bits = ((arc >> (7 * i)) & 0x7F) as u8;
        out.push(if i == 0 { bits } else { bits | 0x80 });
    }
}

/// Error from writing an OBJECT IDENTIFIER with arcs X.660 does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidError {
    #[error("OBJECT IDENTIFIER needs at least two arcs")]
    TooFewArcs,
    #[error("OBJECT IDENTIFIER first arc must be 0, 1 or 2 and the second below 40 under 0 and 1")]
    BadRootArcs,
}

/// OBJECT IDENTIFIER: the first two arcs combine as 40·a + b, the rest are base-128.
pub fn write_oid(out: &mut Vec<u8>, tag: Tag, arcs: &[u64]) -> Result<(), OidError> {
    let (a, b, rest) = match arcs {
        [a, b, rest @ ..] => (*a, *b, rest),
        _ => return Err(OidError::TooFewArcs),
    };
    if a > 2 || (a < 2 && b >= 40) {
        return Err(OidError::BadRootArcs);
    }
    let first = (a * 40).checked_add(b).ok_or(OidError::BadRootArcs)?;
    let open = begin(out, tag);
    push_arc(out, first);
    for &arc in rest {
        push_arc(out, arc);
    }
    end(out, open);
    Ok(())
}

/// RELATIVE-OID: every arc base-128, no combination of the first two.
pub fn write_relative_oid(out: &mut Vec<u8>, tag: Tag, arcs: &[u64]) {
    let open = begin(out, tag);
    for &arc in arcs {
        push_arc(out, arc);
    }
    end(out, open);
}

/// OCTET STRING.
pub fn write_octet_string(out: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    write_primitive(out, tag, value);
}

/// Whether every character is in the PrintableString set (X.680 41.4).
pub fn is_printable_string(s: &str) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&c))
}

/// PrintableString; the caller guarantees the character set (see [`is_printable_string`]).
pub fn write_printable_string(out: &mut Vec<u8>, tag: Tag, value: &str) {
    debug_assert!(is_printable_string(value));
    write_primitive(out, tag, value.as_bytes());
}

/// GeneralizedTime text of a capture time in UTC, `YYYYMMDDhhmmss[.f]Z`. With `fraction`,
/// the sub-second part to microseconds with trailing zeros dropped (770 ms → `.77`, 77 ms →
/// `.077`, none when zero); without, whole seconds.
pub fn generalized_time(ts: crate::Timestamp, fraction: bool) -> String {
    // A u64 of nanoseconds ends in the year 2554, so the conversion cannot fail.
    let secs = i64::try_from(ts.secs()).unwrap_or(i64::MAX);
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return "19700101000000Z".to_owned();
    };
    let mut s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let micros = ts.subsec_micros();
    if fraction && micros != 0 {
        let digits = format!("{micros:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn lengths_short_and_long_form() {
        assert_eq!(enc(|o| write_length(o, 0)), [0x00]);
        assert_eq!(enc(|o| write_length(o, 127)), [0x7F]);
        assert_eq!(enc(|o| write_length(o, 128)), [0x81, 0x80]);
        assert_eq!(enc(|o| write_length(o, 255)), [0x81, 0xFF]);
        assert_eq!(enc(|o| write_length(o, 256)), [0x82, 0x01, 0x00]);
        assert_eq!(enc(|o| write_length(o, 70_000)), [0x83, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn tags_low_and_high_numbers() {
        assert_eq!(enc(|o| write_tag(o, Tag::ctx(0))), [0x80]);
        assert_eq!(enc(|o| write_tag(o, Tag::ctx_cons(12))), [0xAC]);
        assert_eq!(enc(|o| write_tag(o, Tag::SEQUENCE)), [0x30]);
        assert_eq!(enc(|o| write_tag(o, Tag::ctx(30))), [0x9E]);
        assert_eq!(enc(|o| write_tag(o, Tag::ctx(31))), [0x9F, 0x1F]);
        assert_eq!(
            enc(|o| write_tag(o, Tag::ctx_cons(201))),
            [0xBF, 0x81, 0x49]
        );
        let app = Tag {
            class: Class::Application,
            constructed: false,
            number: 1,
        };
        assert_eq!(enc(|o| write_tag(o, app)), [0x41]);
    }

    #[test]
    fn unsigned_integers_minimal_twos_complement() {
        let t = Tag {
            class: Class::Universal,
            constructed: false,
            number: 2,
        };
        assert_eq!(enc(|o| write_unsigned(o, t, 0)), [0x02, 0x01, 0x00]);
        assert_eq!(enc(|o| write_unsigned(o, t, 127)), [0x02, 0x01, 0x7F]);
        assert_eq!(enc(|o| write_unsigned(o, t, 128)), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(enc(|o| write_unsigned(o, t, 256)), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(
            enc(|o| write_unsigned(o, t, u32::MAX as u64)),
            [0x02, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            enc(|o| write_unsigned(o, t, u64::MAX)),
            [0x02, 0x09, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn signed_integers() {
        let t = Tag {
            class: Class::Universal,
            constructed: false,
            number: 2,
        };
        assert_eq!(enc(|o| write_integer(o, t, 0)), [0x02, 0x01, 0x00]);
        assert_eq!(enc(|o| write_integer(o, t, 128)), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(enc(|o| write_integer(o, t, -1)), [0x02, 0x01, 0xFF]);
        assert_eq!(enc(|o| write_integer(o, t, -128)), [0x02, 0x01, 0x80]);
        assert_eq!(enc(|o| write_integer(o, t, -129)), [0x02, 0x02, 0xFF, 0x7F]);
    }

    #[test]
    fn oid_and_relative_oid() {
        let oid = Tag {
            class: Class::Universal,
            constructed: false,
            number: 6,
        };
        assert_eq!(
            enc(|o| write_oid(o, oid, &[0, 4, 0, 2, 2, 5, 1, 43]).unwrap()),
            [0x06, 0x07, 0x04, 0x00, 0x02, 0x02, 0x05, 0x01, 0x2B]
        );
        assert_eq!(
            enc(|o| write_oid(o, oid, &[1, 2, 840, 113549]).unwrap()),
            [0x06, 0x06, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]
        );
        assert_eq!(
            write_oid(&mut Vec::new(), oid, &[1]),
            Err(OidError::TooFewArcs)
        );
        assert_eq!(
            write_oid(&mut Vec::new(), oid, &[1, 40]),
            Err(OidError::BadRootArcs)
        );
        assert_eq!(
            enc(|o| write_relative_oid(o, Tag::ctx(0), &[5, 5, 17, 1])),
            [0x80, 0x04, 0x05, 0x05, 0x11, 0x01]
        );
        assert_eq!(
            enc(|o| write_relative_oid(o, Tag::ctx(0), &[128])),
            [0x80, 0x02, 0x81, 0x00]
        );
    }

    #[test]
    fn null_octets_printable() {
        assert_eq!(enc(|o| write_null(o, Tag::ctx(3))), [0x83, 0x00]);
        assert_eq!(
            enc(|o| write_octet_string(o, Tag::ctx(1), b"ab")),
            [0x81, 0x02, b'a', b'b']
        );
        assert_eq!(
            enc(|o| write_printable_string(o, Tag::ctx(2), "US")),
            [0x82, 0x02, b'U', b'S']
        );
        assert!(is_printable_string("US"));
        assert!(!is_printable_string("U@"));
    }

    #[test]
    fn nested_constructed_patch_and_shift() {
        // Inner 200-byte octet string forces the outer length into long form (81 CB).
        let body = vec![0x5A; 200];
        let v = enc(|o| {
            let outer = begin(o, Tag::SEQUENCE);
            let inner = begin(o, Tag::ctx_cons(1));
            write_octet_string(o, Tag::ctx(2), &body);
            end(o, inner);
            write_null(o, Tag::ctx(3));
            end(o, outer);
        });
        let mut want = vec![0x30, 0x81, 0xD0, 0xA1, 0x81, 0xCB, 0x82, 0x81, 0xC8];
        want.extend_from_slice(&body);
        want.extend_from_slice(&[0x83, 0x00]);
        assert_eq!(v, want);
        // Short form stays one octet.
        let short = enc(|o| {
            let s = begin(o, Tag::SEQUENCE);
            write_null(o, Tag::ctx(0));
            end(o, s);
        });
        assert_eq!(short, [0x30, 0x02, 0x80, 0x00]);
    }

    proptest! {
        #[test]
        fn constructed_length_matches_contents(n in 0usize..70_000) {
            let body = vec![7u8; n];
            let v = enc(|o| {
                let s = begin(o, Tag::SEQUENCE);
                o.extend_from_slice(&body);
                end(o, s);
            });
            let mut want = vec![0x30];
            write_length(&mut want, n);
            want.extend_from_slice(&body);
            prop_assert_eq!(v, want);
        }

        #[test]
        fn unsigned_matches_signed_for_positive(v in 0i64..i64::MAX) {
            let t = Tag::ctx(4);
            prop_assert_eq!(enc(|o| write_unsigned(o, t, v as u64)), enc(|o| write_integer(o, t, v)));
        }
    }
}
