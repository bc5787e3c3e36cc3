//! PCESP `CdcPdu` BER encoder (PacketCable Electronic Surveillance I04, protocolVersion v4):
//! one call-data record per call event of the `laes` profile (tags as in asn1/PCESP-tapline.asn).

use std::borrow::Cow;

use crate::handover::ber::{self, Tag};
use crate::Timestamp;

/// `ProtocolVersion ::= ENUMERATED { v3(3), v4(4) }`: tapline writes v4.
pub const PROTOCOL_VERSION: u64 = 4;
/// `FlowDirection` downstream-and-upstream(3): each ccopen covers both directions.
pub const FLOW_BOTH: u64 = 3;

/// A party identity as PCESP `PartyId` carries it (one field set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Party {
    /// `dn [6]`: an E.164 number (digits, at most 15).
    Dn(String),
    /// `genericDigits [15]`: a longer or non-E.164 digit string.
    Digits(String),
    /// `genericAddress [14]`: a SIP address `user@host`.
    Address(String),
}

/// `CallId ::= SEQUENCE { sequencenumber [0], systemidentity [1] }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallId<'a> {
    pub sequence: &'a str,
    pub system: &'a str,
}

/// `RedirectedFromInfo` of a termination attempt forwarded to or from the target.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RedirectedFrom {
    pub last_redirecting: Option<Party>,
    pub original_called: Option<Party>,
    /// 1..=100.
    pub redirections: u8,
}

/// The content channel identifiers of a call: one per direction (`sepCCCpair`), as the
/// CCC frames carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CccPair {
    /// What the subject transmits (from the target).
    pub xmit: u32,
    /// What the subject receives (to the target).
    pub recv: u32,
}

/// The fields every message starts with.
#[derive(Clone, Copy, Debug)]
pub struct Common<'a> {
    /// caseId: the warrant's LIID.
    pub case_id: &'a str,
    /// accessingElementId: the appliance's network element id (first 15 characters).
    pub element_id: &'a str,
    /// eventTime: capture time.
    pub time: Timestamp,
}

/// The CDC messages tapline emits.
#[derive(Clone, Debug)]
pub enum Message<'a> {
    Origination { call_id: CallId<'a>, calling: Option<Party>, called: Option<Party>, input: &'a str },
    TerminationAttempt {
        call_id: CallId<'a>,
        calling: Option<Party>,
        called: Option<Party>,
        redirected_from: Option<RedirectedFrom>,
    },
    Answer { call_id: CallId<'a>, answering: Option<Party> },
    Redirection { old: CallId<'a>, redirected_to: Option<Party>, redirected_from: Option<Party> },
    Release { call_id: CallId<'a> },
    CcOpen { call_id: CallId<'a>, ccc: CccPair, subject: Option<&'a str>, associate: Option<&'a str> },
    CcClose { ccc: CccPair },
    DialedDigits { call_id: CallId<'a>, digits: &'a str },
}

impl Message<'_> {
    /// The `Message` CHOICE tag number and PCESP name.
    pub fn tag_and_name(&self) -> (u32, &'static str) {
        match self {
            Message::Answer { .. } => (1, "answer"),
            Message::CcClose { .. } => (2, "ccclose"),
            Message::CcOpen { .. } => (3, "ccopen"),
            Message::Origination { .. } => (5, "origination"),
            Message::Redirection { .. } => (7, "redirection"),
            Message::Release { .. } => (8, "release"),
            Message::TerminationAttempt { .. } => (10, "terminationattempt"),
            Message::DialedDigits { .. } => (15, "dialeddigitextraction"),
        }
    }
}

/// Appends one `CdcPdu` to `out`.
pub fn encode_cdc(out: &mut Vec<u8>, common: &Common<'_>, message: &Message<'_>) {
    let pdu = ber::begin(out, Tag::SEQUENCE);
    ber::write_unsigned(out, Tag::ctx(0), PROTOCOL_VERSION);
    let choice = ber::begin(out, Tag::ctx_cons(1));
    let (tag, _) = message.tag_and_name();
    let body = ber::begin(out, Tag::ctx_cons(tag));
    visible(out, 0, common.case_id);
    visible(out, 1, common.element_id);
    generalized_time(out, 2, common.time);
    match message {
        Message::Origination { call_id, calling, called, input } => {
            write_call_id(out, 3, call_id);
            party(out, 4, calling.as_ref());
            if let Some(p) = called {
                party(out, 5, Some(p));
            }
            visible(out, 6, input);
            ber::write_null(out, Tag::ctx(8));
        }
        Message::TerminationAttempt { call_id, calling, called, redirected_from } => {
            write_call_id(out, 3, call_id);
            if let Some(p) = calling {
                party(out, 4, Some(p));
            }
            if let Some(p) = called {
                party(out, 5, Some(p));
            }
            ber::write_null(out, Tag::ctx(6));
            if let Some(r) = redirected_from {
                let info = ber::begin(out, Tag::ctx_cons(7));
                if let Some(p) = &r.last_redirecting {
                    party(out, 0, Some(p));
                }
                if let Some(p) = &r.original_called {
                    party(out, 1, Some(p));
                }
                ber::write_unsigned(out, Tag::ctx(2), u64::from(r.redirections.clamp(1, 100)));
                ber::end(out, info);
            }
        }
        Message::Answer { call_id, answering } => {
            write_call_id(out, 3, call_id);
            if let Some(p) = answering {
                party(out, 4, Some(p));
            }
        }
        Message::Redirection { old, redirected_to, redirected_from } => {
            write_call_id(out, 3, old);
            party(out, 4, redirected_to.as_ref());
            ber::write_null(out, Tag::ctx(6));
            ber::write_null(out, Tag::ctx(7));
            if let Some(p) = redirected_from {
                party(out, 9, Some(p));
            }
        }
        Message::Release { call_id } => write_call_id(out, 3, call_id),
        Message::CcOpen { call_id, ccc, subject, associate } => {
            // ccOpenOption is an untagged CHOICE: its alternative ccOpenTime [3] appears directly.
            let open_time = ber::begin(out, Tag::ctx_cons(3));
            write_call_id_tagged(out, Tag::SEQUENCE, call_id);
            ber::end(out, open_time);
            write_ccc(out, 5, ccc);
            if let Some(sdp) = subject {
                ber::write_primitive(out, Tag::ctx(6), sdp.as_bytes());
            }
            if let Some(sdp) = associate {
                ber::write_primitive(out, Tag::ctx(7), sdp.as_bytes());
            }
            ber::write_unsigned(out, Tag::ctx(8), FLOW_BOTH);
        }
        Message::CcClose { ccc } => {
            write_ccc(out, 3, ccc);
            ber::write_unsigned(out, Tag::ctx(4), FLOW_BOTH);
        }
        Message::DialedDigits { call_id, digits } => {
            write_call_id(out, 3, call_id);
            visible(out, 4, digits);
        }
    }
    ber::end(out, body);
    ber::end(out, choice);
    ber::end(out, pdu);
}

/// A VisibleString `[n]`; characters outside `' '..='~'` become `?`.
fn visible(out: &mut Vec<u8>, n: u32, s: &str) {
    ber::write_primitive(out, Tag::ctx(n), to_visible(s).as_bytes());
}

/// `s` restricted to the VisibleString repertoire (`?` for anything else).
pub fn to_visible(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect())
}

fn write_call_id(out: &mut Vec<u8>, n: u32, id: &CallId<'_>) {
    write_call_id_tagged(out, Tag::ctx_cons(n), id);
}

fn write_call_id_tagged(out: &mut Vec<u8>, tag: Tag, id: &CallId<'_>) {
    let seq = ber::begin(out, tag);
    visible(out, 0, id.sequence);
    visible(out, 1, id.system);
    ber::end(out, seq);
}

/// `PartyId [n]`; an unknown party is an empty `PartyId` (every field is optional).
fn party(out: &mut Vec<u8>, n: u32, p: Option<&Party>) {
    let seq = ber::begin(out, Tag::ctx_cons(n));
    match p {
        Some(Party::Dn(d)) => visible(out, 6, d),
        Some(Party::Address(a)) => visible(out, 14, a),
        Some(Party::Digits(d)) => visible(out, 15, d),
        None => {}
    }
    ber::end(out, seq);
}

/// `cCCId [n] EXPLICIT CCCId` as `sepCCCpair [1] { sepXmitCCC [0], sepRecvCCC [1] }`, each
/// the 32-bit CCCID as 8 upper-case hex digits.
fn write_ccc(out: &mut Vec<u8>, n: u32, ccc: &CccPair) {
    let explicit = ber::begin(out, Tag::ctx_cons(n));
    let pair = ber::begin(out, Tag::ctx_cons(1));
    ber::write_primitive(out, Tag::ctx(0), ccc_hex(ccc.xmit).as_bytes());
    ber::write_primitive(out, Tag::ctx(1), ccc_hex(ccc.recv).as_bytes());
    ber::end(out, pair);
    ber::end(out, explicit);
}

/// The CDC's text form of a CCCID: 8 upper-case hex digits.
pub fn ccc_hex(id: u32) -> String {
    format!("{id:08X}")
}

/// GeneralizedTime `[n]` in UTC: `YYYYMMDDHHMMSS[.f*]Z`, the fraction with as many digits as
/// needed down to microseconds, trailing zeros dropped (770 ms → `.77`, 77 ms → `.077`).
fn generalized_time(out: &mut Vec<u8>, n: u32, ts: Timestamp) {
    ber::write_primitive(out, Tag::ctx(n), ber::generalized_time(ts, true).as_bytes());
}


#[cfg(test)]
mod tests {
    use super::*;

    const CALL: CallId<'static> = CallId { sequence: "7,0A0B0C0D", system: "MED-01" };

    fn common() -> Common<'static> {
        // 2026-11-01T10:00:00.770Z
        Common { case_id: "L1", element_id: "MED-01", time: Timestamp::from_secs_micros(1_793_527_200, 770_000) }
    }

    #[test]
    fn generalized_time_fractions() {
        assert_eq!(ber::generalized_time(Timestamp::from_secs_micros(1_793_527_200, 770_000), true), "20261101100000.77Z");
        assert_eq!(ber::generalized_time(Timestamp::from_secs_micros(1_793_527_200, 77_000), true), "20261101100000.077Z");
        assert_eq!(ber::generalized_time(Timestamp::from_secs_micros(1_793_527_200, 1), true), "20261101100000.000001Z");
        assert_eq!(ber::generalized_time(Timestamp::from_secs_micros(1_793_527_200, 0), true), "20261101100000Z");
        // whole seconds (HI1 notifications) drop any fraction
        assert_eq!(ber::generalized_time(Timestamp::from_secs_micros(1_793_527_200, 770_000), false), "20261101100000Z");
    }

    #[test]
    fn release_bytes() {
        let mut out = Vec::new();
        encode_cdc(&mut out, &common(), &Message::Release { call_id: CALL });
        let mut want = vec![0x30, 0x3d, 0x80, 0x01, 0x04, 0xa1, 0x38, 0xa8, 0x36];
        want.extend_from_slice(&[0x80, 0x02, b'L', b'1']);
        want.extend_from_slice(&[0x81, 0x06]);
        want.extend_from_slice(b"MED-01");
        want.extend_from_slice(&[0x82, 0x12]);
        want.extend_from_slice(b"20261101100000.77Z");
        want.extend_from_slice(&[0xa3, 0x14, 0x80, 0x0a]);
        want.extend_from_slice(b"7,0A0B0C0D");
        want.extend_from_slice(&[0x81, 0x06]);
        want.extend_from_slice(b"MED-01");
        assert_eq!(out, want);
    }

    #[test]
    fn ccclose_carries_the_explicit_ccc_pair_and_both_directions() {
        let mut out = Vec::new();
        encode_cdc(&mut out, &common(), &Message::CcClose { ccc: CccPair { xmit: 0x0e, recv: 0x0f } });
        let tail: &[u8] = &[
            0xa3, 0x16, 0xa1, 0x14, 0x80, 0x08, b'0', b'0', b'0', b'0', b'0', b'0', b'0', b'E', 0x81, 0x08, b'0',
            b'0', b'0', b'0', b'0', b'0', b'0', b'F', 0x84, 0x01, 0x03,
        ];
        assert!(out.ends_with(tail), "{out:02x?}");
        assert_eq!(out.get(5..8), Some(&[0xa1, out[6], 0xa2][..]));
    }

    #[test]
    fn origination_always_carries_calling_and_user_input() {
        let mut out = Vec::new();
        let m = Message::Origination { call_id: CALL, calling: None, called: Some(Party::Dn("13035550142".into())), input: "3035550142" };
        encode_cdc(&mut out, &common(), &m);
        let s = out.windows(2).position(|w| w == [0xa4, 0x00]);
        assert!(s.is_some(), "empty calling PartyId present");
        let dn = [&[0xa5, 0x0d, 0x86, 0x0b][..], b"13035550142"].concat();
        assert!(out.windows(dn.len()).any(|w| w == dn.as_slice()));
        // The reserved NULL [8] is mandatory in PCESP's Origination.
        let input = [&[0x86, 0x0a][..], b"3035550142", &[0x88, 0x00]].concat();
        assert!(out.ends_with(&input));
    }

    #[test]
    fn non_visible_characters_are_replaced() {
        assert_eq!(to_visible("a\u{e9}b\n"), "a?b?");
        assert_eq!(to_visible("plain"), "plain");
    }
}
