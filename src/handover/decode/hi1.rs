//! Decoding the hI1-Operation payload (TS 101 671 HI1NotificationOperations) the appliance
//! sends on HI2 when an interception is activated, deactivated or modified.

use super::tlv::Tlv;
use super::{text, DecodeError};
use crate::handover::etsi::Hi1Notification;

/// One decoded hI1-Operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hi1Operation {
    /// The alternative's tag number (`[1]` liActivated, `[2]` liDeactivated, `[3]` liModified).
    pub alternative: u32,
    /// The notification, when one of those three.
    pub notification: Option<Hi1Notification>,
    /// Notification.lawfulInterceptionIdentifier.
    pub liid: Option<Vec<u8>>,
    /// Notification.timeStamp: localTime's generalizedTime, or utcTime, as sent.
    pub time_stamp: Option<String>,
}

impl Hi1Operation {
    /// The ASN.1 name of the alternative, e.g. `liActivated`.
    pub fn asn1_name(&self) -> Option<&'static str> {
        self.notification.map(|n| match n {
            Hi1Notification::Activated => "liActivated",
            Hi1Notification::Deactivated => "liDeactivated",
            Hi1Notification::Modified => "liModified",
        })
    }
}

/// Decodes payload `[3]` hI1-Operation (an explicit CHOICE) given its TLV.
pub(super) fn decode_hi1_operation(t: &Tlv) -> Result<Hi1Operation, DecodeError> {
    let alt = t.choice("[3] hI1-Operation (explicit CHOICE)")?;
    if alt.tag.class != 0x80 {
        return Err(alt.unexpected("a context-tagged hI1-Operation alternative"));
    }
    let notification = match alt.tag.number {
        1 => Some(Hi1Notification::Activated),
        2 => Some(Hi1Notification::Deactivated),
        3 => Some(Hi1Notification::Modified),
        _ => None,
    };
    let mut op = Hi1Operation { alternative: alt.tag.number, notification, liid: None, time_stamp: None };
    if notification.is_none() {
        return Ok(op);
    }
    for f in alt.children("Notification SEQUENCE")? {
        let f = f?;
        if f.is_ctx(1) {
            op.liid = Some(f.primitive("[1] lawfulInterceptionIdentifier")?.to_vec());
        } else if f.is_ctx(3) {
            op.time_stamp = Some(decode_time_stamp(&f)?);
        }
    }
    Ok(op)
}

/// TimeStamp ::= CHOICE { localTime [0] LocalTimeStamp, utcTime [1] UTCTime }, explicit.
fn decode_time_stamp(t: &Tlv) -> Result<String, DecodeError> {
    let alt = t.choice("[3] timeStamp (explicit CHOICE)")?;
    if alt.is_ctx(1) {
        return Ok(text(alt.primitive("[1] utcTime")?));
    }
    if !alt.is_ctx(0) {
        return Err(alt.unexpected("[0] localTime or [1] utcTime"));
    }
    for f in alt.children("[0] localTime")? {
        let f = f?;
        if f.is_ctx(0) {
            return Ok(text(f.primitive("[0] generalizedTime")?));
        }
    }
    Err(DecodeError::Missing { offset: alt.offset, what: "[0] generalizedTime", within: "LocalTimeStamp" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::decode::tlv::read_tlv;
    use proptest::prelude::*;

    /// `[3]` hI1-Operation holding `[2]` liDeactivated for LIID-0001 at 2026-01-02 03:04:05Z,
    /// as `encode_hi1_notification` writes it.
    const DEACTIVATED: &[u8] = &[
        0xA3, 0x25, 0xA2, 0x23, 0x81, 0x09, b'L', b'I', b'I', b'D', b'-', b'0', b'0', b'0', b'1', 0xA3, 0x16, 0xA0,
        0x14, 0x80, 0x0F, b'2', b'0', b'2', b'6', b'0', b'1', b'0', b'2', b'0', b'3', b'0', b'4', b'0', b'5', b'Z',
        0x81, 0x01, 0x00,
    ];

    fn decode(bytes: &[u8]) -> Result<Hi1Operation, DecodeError> {
        decode_hi1_operation(&read_tlv(bytes, 0)?)
    }

    #[test]
    fn deactivated_bytes() {
        let op = decode(DEACTIVATED).unwrap();
        assert_eq!(
            op,
            Hi1Operation {
                alternative: 2,
                notification: Some(Hi1Notification::Deactivated),
                liid: Some(b"LIID-0001".to_vec()),
                time_stamp: Some("20260102030405Z".into()),
            }
        );
        assert_eq!(op.asn1_name(), Some("liDeactivated"));
    }

    #[test]
    fn utc_time_and_unknown_alternative() {
        // [1] liActivated with [1] lawfulInterceptionIdentifier "L" and timeStamp [1] utcTime.
        let activated = [0xA3, 0x14, 0xA1, 0x12, 0x81, 0x01, b'L', 0xA3, 0x0D, 0x81, 0x0B];
        let mut bytes = activated.to_vec();
        bytes.extend_from_slice(b"2601020304Z");
        let op = decode(&bytes).unwrap();
        assert_eq!(op.notification, Some(Hi1Notification::Activated));
        assert_eq!(op.liid.as_deref(), Some(&b"L"[..]));
        assert_eq!(op.time_stamp.as_deref(), Some("2601020304Z"));
        // [4] alarms-indicator: kept as its tag number, contents skipped.
        let op = decode(&[0xA3, 0x04, 0xA4, 0x02, 0x80, 0x00]).unwrap();
        assert_eq!((op.alternative, op.notification, op.liid), (4, None, None));
    }

    #[test]
    fn malformed_operations_are_errors() {
        // Empty CHOICE.
        assert!(matches!(decode(&[0xA3, 0x00]), Err(DecodeError::Missing { .. })));
        // Universal-class alternative.
        assert!(matches!(decode(&[0xA3, 0x02, 0x30, 0x00]), Err(DecodeError::Unexpected { offset: 2, .. })));
        // A primitive LIID field announced longer than the buffer.
        assert!(matches!(decode(&[0xA3, 0x04, 0xA1, 0x02, 0x81, 0x05]), Err(DecodeError::Truncated { .. })));
        // localTime without a generalizedTime.
        assert!(matches!(
            decode(&[0xA3, 0x06, 0xA1, 0x04, 0xA3, 0x02, 0xA0, 0x00]),
            Err(DecodeError::Missing { what: "[0] generalizedTime", .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_contents_never_panic(body in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut bytes = vec![0xA3, u8::try_from(body.len()).unwrap_or(0)];
            bytes.extend_from_slice(&body);
            let _ = decode(&bytes);
        }
    }
}
