//! `etsi` profile encoder: TS 102 232-1 PS-PDUs (LI-PS-PDU version 43) carrying
//! TS 102 232-5 IP multimedia IRI and CC (IPMultimediaPDU version 17). Tags: asn1/.

use std::net::IpAddr;

use super::ber::{self, Tag};
use crate::Timestamp;

/// Contents octets of li-psDomainId 0.4.0.2.2.5.1.43 (LI-PS-PDU version 43), no trailing arc.
pub const LI_PS_DOMAIN_ID: [u8; 7] = [0x04, 0x00, 0x02, 0x02, 0x05, 0x01, 0x2B];
/// Contents octets of iPMMIRIObjId, RELATIVE-OID li-ps(5) iPMultimedia(5) version17(17) iRI(1).
pub const IPMM_IRI_OBJ_ID: [u8; 4] = [0x05, 0x05, 0x11, 0x01];
/// Contents octets of iPMMCCObjId, RELATIVE-OID li-ps(5) iPMultimedia(5) version17(17) cC(2).
pub const IPMM_CC_OBJ_ID: [u8; 4] = [0x05, 0x05, 0x11, 0x02];

/// TimeStampQualifier timeOfInterception(1): the header time is the capture time.
const TIME_OF_INTERCEPTION: u64 = 1;
/// FrameType rtpFrame(2): mMCCContents is an RTP/RTCP packet without IP and UDP headers.
const RTP_FRAME: u64 = 2;

/// The PSHeader fields of one PDU. LIID, operator/NE ids and countries come from the
/// warrant and appliance configuration: check them once with [`check_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduHeader<'a> {
    pub liid: &'a str,
    pub authorization_country: &'a str,
    pub operator_id: &'a str,
    pub network_element_id: &'a str,
    /// communicationIdentityNumber: one per intercepted call per LIID.
    pub cin: u32,
    pub delivery_country: &'a str,
    /// Per (LIID, CIN), separate counters for IRI and CC, from 0 without gaps.
    pub sequence: u32,
    /// Capture time, written as microSecondTimeStamp with qualifier timeOfInterception.
    pub ts: Timestamp,
}

/// IRIType of an IRIPayload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IriType {
    Begin = 1,
    End = 2,
    Continue = 3,
    Report = 4,
}

/// The IPMMIRI contents alternative carried by one IRI PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IriContent<'a> {
    /// `[1] sIPMessage`: SIP message of a content-authorised warrant.
    SipMessage {
        src: IpAddr,
        dst: IpAddr,
        sip: &'a [u8],
    },
    /// `[6] iRIOnlySIPMessage`: SIP message of an IRI-only warrant.
    IriOnlySipMessage {
        src: IpAddr,
        dst: IpAddr,
        sip: &'a [u8],
    },
    /// `[7] iRIOnlyRTPPacket`: in IPMultimediaPDU v17 a plain OCTET STRING holding the RTP
    /// telephony-event packet *with its original IP and UDP headers* (TS 102 232-5 5.2.8.1),
    /// so it takes the whole captured IP datagram rather than addresses plus RTP.
    IriOnlyRtpPacket { ip_packet: &'a [u8] },
}

/// CCPayload payloadDirection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    FromTarget = 0,
    ToTarget = 1,
}

/// A header field outside the range the ASN.1 modules allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("LIID is {len} octets, LawfulInterceptionIdentifier allows 1..25")]
    LiidLength { len: usize },
    #[error("{field} is {len} octets, NetworkIdentifier allows 1..16")]
    IdentifierLength { field: &'static str, len: usize },
    #[error("{field} must be two PrintableString characters (ISO 3166-1 alpha-2)")]
    CountryCode { field: &'static str },
}

/// Checks the size constraints of the header's configured fields (LIID 1..25 octets,
/// operator and network element id 1..16, country codes 2 PrintableString characters).
/// The `encode_*` functions assume a header that passed this check.
pub fn check_header(h: &PduHeader) -> Result<(), EncodeError> {
    if !(1..=25).contains(&h.liid.len()) {
        return Err(EncodeError::LiidLength { len: h.liid.len() });
    }
    for (field, id) in [
        ("operatorIdentifier", h.operator_id),
        ("networkElementIdentifier", h.network_element_id),
    ] {
        if !(1..=16).contains(&id.len()) {
            return Err(EncodeError::IdentifierLength {
                field,
                len: id.len(),
            });
        }
    }
    for (field, cc) in [
        ("authorizationCountryCode", h.authorization_country),
        ("deliveryCountryCode", h.delivery_country),
    ] {
        if cc.len() != 2 || !ber::is_printable_string(cc) {
            return Err(EncodeError::CountryCode { field });
        }
    }
    Ok(())
}

/// PSHeader `[1]`. `cin` is None only for keep-alives (CIN is mandatory for IRI and CC).
fn write_ps_header(out: &mut Vec<u8>, h: &PduHeader, cin: Option<u32>) {
    debug_assert_eq!(check_header(h), Ok(()));
    let header = ber::begin(out, Tag::ctx_cons(1));
    ber::write_primitive(out, Tag::ctx(0), &LI_PS_DOMAIN_ID);
    ber::write_octet_string(out, Tag::ctx(1), h.liid.as_bytes());
    ber::write_printable_string(out, Tag::ctx(2), h.authorization_country);
    let comm_id = ber::begin(out, Tag::ctx_cons(3));
    let network_id = ber::begin(out, Tag::ctx_cons(0));
    ber::write_octet_string(out, Tag::ctx(0), h.operator_id.as_bytes());
    ber::write_octet_string(out, Tag::ctx(1), h.network_element_id.as_bytes());
    ber::end(out, network_id);
    if let Some(cin) = cin {
        ber::write_unsigned(out, Tag::ctx(1), u64::from(cin));
    }
    ber::write_printable_string(out, Tag::ctx(2), h.delivery_country);
    ber::end(out, comm_id);
    ber::write_unsigned(out, Tag::ctx(4), u64::from(h.sequence));
    let micro_ts = ber::begin(out, Tag::ctx_cons(7));
    ber::write_unsigned(out, Tag::ctx(0), h.ts.secs());
    ber::write_unsigned(out, Tag::ctx(1), u64::from(h.ts.subsec_micros()));
    ber::end(out, micro_ts);
    ber::write_unsigned(out, Tag::ctx(8), TIME_OF_INTERCEPTION);
    ber::end(out, header);
}

/// IPAddress { [1] iP-type, [2] iP-value CHOICE (explicit) { [1] iPBinaryAddress } }.
fn write_ip_address(out: &mut Vec<u8>, tag: Tag, addr: &IpAddr) {
    let ip = ber::begin(out, tag);
    let (ip_type, v4, v6);
    let binary: &[u8] = match addr {
        IpAddr::V4(a) => {
            ip_type = 0;
            v4 = a.octets();
            &v4
        }
        IpAddr::V6(a) => {
            ip_type = 1;
            v6 = a.octets();
            &v6
        }
    };
    ber::write_unsigned(out, Tag::ctx(1), ip_type);
    let value = ber::begin(out, Tag::ctx_cons(2));
    ber::write_octet_string(out, Tag::ctx(1), binary);
    ber::end(out, value);
    ber::end(out, ip);
}

/// SIPMessage { [0] iPSourceAddress, [1] iPDestinationAddress, [2] sIPContent }.
fn write_sip_message(out: &mut Vec<u8>, tag: Tag, src: &IpAddr, dst: &IpAddr, sip: &[u8]) {
    let msg = ber::begin(out, tag);
    write_ip_address(out, Tag::ctx_cons(0), src);
    write_ip_address(out, Tag::ctx_cons(1), dst);
    ber::write_octet_string(out, Tag::ctx(2), sip);
    ber::end(out, msg);
}

/// Appends one IRI PS-PDU: payload `[0]` iRIPayloadSequence of one IRIPayload whose
/// iRIContents is `[11]` iPMMIRI.
pub fn encode_iri(out: &mut Vec<u8>, h: &PduHeader, t: IriType, c: &IriContent) {
    let pdu = ber::begin(out, Tag::SEQUENCE);
    write_ps_header(out, h, Some(h.cin));
    let payload = ber::begin(out, Tag::ctx_cons(2)); // Payload is a CHOICE: explicit tag
    let sequence = ber::begin(out, Tag::ctx_cons(0));
    let iri_payload = ber::begin(out, Tag::SEQUENCE);
    ber::write_unsigned(out, Tag::ctx(0), t as u64);
    let iri_contents = ber::begin(out, Tag::ctx_cons(2)); // IRIContents CHOICE: explicit
    let ipmmiri = ber::begin(out, Tag::ctx_cons(11));
    ber::write_primitive(out, Tag::ctx(0), &IPMM_IRI_OBJ_ID);
    let ipmm_contents = ber::begin(out, Tag::ctx_cons(1)); // IPIRIContents CHOICE: explicit
    match c {
        IriContent::SipMessage { src, dst, sip } => {
            write_sip_message(out, Tag::ctx_cons(1), src, dst, sip)
        }
        IriContent::IriOnlySipMessage { src, dst, sip } => {
            write_sip_message(out, Tag::ctx_cons(6), src, dst, sip)
        }
        IriContent::IriOnlyRtpPacket { ip_packet } => {
            ber::write_octet_string(out, Tag::ctx(7), ip_packet)
        }
    }
    ber::end(out, ipmm_contents);
    ber::end(out, ipmmiri);
    ber::end(out, iri_contents);
    ber::end(out, iri_payload);
    ber::end(out, sequence);
    ber::end(out, payload);
    ber::end(out, pdu);
}

/// Appends one CC PS-PDU: payload `[1]` cCPayloadSequence of one CCPayload whose cCContents
/// is `[12]` iPMMCC carrying one RTP/RTCP packet as rtpFrame.
pub fn encode_cc(out: &mut Vec<u8>, h: &PduHeader, dir: Direction, rtp: &[u8]) {
    let pdu = ber::begin(out, Tag::SEQUENCE);
    write_ps_header(out, h, Some(h.cin));
    let payload = ber::begin(out, Tag::ctx_cons(2));
    let sequence = ber::begin(out, Tag::ctx_cons(1));
    let cc_payload = ber::begin(out, Tag::SEQUENCE);
    ber::write_unsigned(out, Tag::ctx(0), dir as u64);
    let cc_contents = ber::begin(out, Tag::ctx_cons(2)); // CCContents CHOICE: explicit
    let ipmmcc = ber::begin(out, Tag::ctx_cons(12));
    ber::write_primitive(out, Tag::ctx(0), &IPMM_CC_OBJ_ID);
    ber::write_octet_string(out, Tag::ctx(1), rtp);
    ber::write_unsigned(out, Tag::ctx(2), RTP_FRAME);
    ber::end(out, ipmmcc);
    ber::end(out, cc_contents);
    ber::end(out, cc_payload);
    ber::end(out, sequence);
    ber::end(out, payload);
    ber::end(out, pdu);
}

/// TRIPayload alternative numbers used by the appliance.
const KEEP_ALIVE: u32 = 3;
const KEEP_ALIVE_RESPONSE: u32 = 4;

fn encode_tri(out: &mut Vec<u8>, h: &PduHeader, alternative: u32) {
    let pdu = ber::begin(out, Tag::SEQUENCE);
    write_ps_header(out, h, None);
    let payload = ber::begin(out, Tag::ctx_cons(2));
    let tri = ber::begin(out, Tag::ctx_cons(2)); // TRIPayload CHOICE: explicit
    ber::write_null(out, Tag::ctx(alternative));
    ber::end(out, tri);
    ber::end(out, payload);
    ber::end(out, pdu);
}

/// Appends a keep-alive PS-PDU (tRIPayload `[3]` keep-alive NULL).
///
/// A keep-alive belongs to the connection, not to a communication, so its header carries
/// no communicationIdentityNumber (`h.cin` is ignored; TS 102 232-1 5.2.4 makes the CIN
/// mandatory only for IRI and CC). PSHeader still requires an LIID: the caller passes one of
/// the agency's LIIDs on that connection, and `h.sequence` from a per-connection keep-alive
/// counter (IRI/CC counters are not touched).
pub fn encode_keepalive(out: &mut Vec<u8>, h: &PduHeader) {
    encode_tri(out, h, KEEP_ALIVE);
}

/// Appends a keep-aliveResponse PS-PDU (tRIPayload `[4]`), header as for [`encode_keepalive`].
pub fn encode_keepalive_response(out: &mut Vec<u8>, h: &PduHeader) {
    encode_tri(out, h, KEEP_ALIVE_RESPONSE);
}

/// HI1-Operation alternative (TS 101 671 HI1NotificationOperations) told to the agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Hi1Notification {
    Activated = 1,
    Deactivated = 2,
    Modified = 3,
}

/// Appends an HI1 notification PS-PDU: payload `[3]` hI1-Operation (explicit: a CHOICE)
/// holding `[1]` liActivated, `[2]` liDeactivated or `[3]` liModified, a Notification with
/// the LIID and `h.ts` as timeStamp (localTime, GeneralizedTime in UTC). Like a keep-alive
/// it belongs to no communication: the header carries no CIN (`h.cin` is ignored). No
/// target information is sent.
pub fn encode_hi1_notification(out: &mut Vec<u8>, h: &PduHeader, n: Hi1Notification) {
    let pdu = ber::begin(out, Tag::SEQUENCE);
    write_ps_header(out, h, None);
    let payload = ber::begin(out, Tag::ctx_cons(2));
    let operation = ber::begin(out, Tag::ctx_cons(3));
    let notification = ber::begin(out, Tag::ctx_cons(n as u32));
    ber::write_octet_string(out, Tag::ctx(1), h.liid.as_bytes());
    let time_stamp = ber::begin(out, Tag::ctx_cons(3)); // TimeStamp CHOICE: explicit
    let local = ber::begin(out, Tag::ctx_cons(0));
    ber::write_primitive(out, Tag::ctx(0), ber::generalized_time(h.ts, false).as_bytes());
    ber::write_unsigned(out, Tag::ctx(1), 0); // winterSummerIndication notProvided(0)
    ber::end(out, local);
    ber::end(out, time_stamp);
    ber::end(out, notification);
    ber::end(out, operation);
    ber::end(out, payload);
    ber::end(out, pdu);
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn header(seq: u32) -> PduHeader<'static> {
        PduHeader {
            liid: "LIID-0001",
            authorization_country: "US",
            operator_id: "EXAMPLEOP",
            network_element_id: "MED-01",
            cin: 1001,
            delivery_country: "US",
            sequence: seq,
            ts: Timestamp::from_secs_micros(1_767_323_045, 123_456),
        }
    }

    /// The PSHeader bytes of `header(seq)` with CIN 1001 (`81 02 03 e9`).
    const PS_HEADER: &[u8] = &[
        0xA1, 0x4A, // [1] pSHeader
        0x80, 0x07, 0x04, 0x00, 0x02, 0x02, 0x05, 0x01, 0x2B, // [0] li-psDomainId
        0x81, 0x09, b'L', b'I', b'I', b'D', b'-', b'0', b'0', b'0', b'1', // [1] LIID
        0x82, 0x02, b'U', b'S', // [2] authorizationCountryCode
        0xA3, 0x1D, // [3] communicationIdentifier
        0xA0, 0x13, // [0] networkIdentifier
        0x80, 0x09, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'O', b'P', 0x81, 0x06, b'M', b'E',
        b'D', b'-', b'0', b'1', 0x81, 0x02, 0x03, 0xE9, // [1] CIN 1001
        0x82, 0x02, b'U', b'S', // [2] deliveryCountryCode
        0x84, 0x01, 0x07, // [4] sequenceNumber 7
        0xA7, 0x0B, // [7] microSecondTimeStamp
        0x80, 0x04, 0x69, 0x57, 0x35, 0xA5, // seconds 1767323045
        0x81, 0x03, 0x01, 0xE2, 0x40, // microSeconds 123456
        0x88, 0x01, 0x01, // [8] timeOfInterception
    ];

    #[test]
    fn hi1_notification_bytes() {
        let mut out = Vec::new();
        encode_hi1_notification(&mut out, &header(7), Hi1Notification::Deactivated);
        // PSHeader of header(7) without the CIN (`81 02 03 e9`).
        let mut ps = PS_HEADER.to_vec();
        let cin_at = ps.windows(4).position(|w| w == [0x81, 0x02, 0x03, 0xE9]).unwrap();
        ps.drain(cin_at..cin_at + 4);
        ps[1] -= 4;
        ps[27] -= 4; // communicationIdentifier
        let time = b"20260102030405Z";
        assert_eq!(&ber::generalized_time(header(0).ts, false), "20260102030405Z");
        let mut expected = vec![0x30, 0x00];
        expected.extend_from_slice(&ps);
        expected.extend_from_slice(&[0xA2, 0x27, 0xA3, 0x25, 0xA2, 0x23]);
        expected.extend_from_slice(&[0x81, 0x09]);
        expected.extend_from_slice(b"LIID-0001");
        expected.extend_from_slice(&[0xA3, 0x16, 0xA0, 0x14, 0x80, 0x0F]);
        expected.extend_from_slice(time);
        expected.extend_from_slice(&[0x81, 0x01, 0x00]);
        expected[1] = (expected.len() - 2) as u8;
        assert_eq!(out, expected);
    }

    #[test]
    fn cc_pdu_bytes() {
        let mut out = Vec::new();
        encode_cc(
            &mut out,
            &header(7),
            Direction::ToTarget,
            &[0x80, 0x00, 0x00, 0x01],
        );
        let mut want = vec![0x30, 0x68];
        want.extend_from_slice(PS_HEADER);
        want.extend_from_slice(&[
            0xA2, 0x1A, // [2] payload (explicit CHOICE)
            0xA1, 0x18, // [1] cCPayloadSequence
            0x30, 0x16, // CCPayload
            0x80, 0x01, 0x01, // payloadDirection toTarget
            0xA2, 0x11, // [2] cCContents (explicit CHOICE)
            0xAC, 0x0F, // [12] iPMMCC
            0x80, 0x04, 0x05, 0x05, 0x11, 0x02, // iPMMCCObjId 5.5.17.2
            0x81, 0x04, 0x80, 0x00, 0x00, 0x01, // mMCCContents
            0x82, 0x01, 0x02, // frameType rtpFrame
        ]);
        assert_eq!(out, want);
    }

    #[test]
    fn iri_sip_pdu_bytes() {
        let mut out = Vec::new();
        let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let dst = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
        let c = IriContent::SipMessage {
            src,
            dst,
            sip: b"BYE",
        };
        encode_iri(&mut out, &header(7), IriType::End, &c);
        let mut want = vec![0x30, 0x81, 0x82];
        want.extend_from_slice(PS_HEADER);
        want.extend_from_slice(&[
            0xA2, 0x34, 0xA0, 0x32, 0x30, 0x30, // payload, iRIPayloadSequence, IRIPayload
            0x80, 0x01, 0x02, // iRIType iRI-End
            0xA2, 0x2B, 0xAB, 0x29, // [2] iRIContents, [11] iPMMIRI
            0x80, 0x04, 0x05, 0x05, 0x11, 0x01, // iPMMIRIObjId 5.5.17.1
            0xA1, 0x21, 0xA1, 0x1F, // [1] iPMMIRIContents, [1] sIPMessage
            0xA0, 0x0B, 0x81, 0x01, 0x00, 0xA2, 0x06, 0x81, 0x04, 192, 0, 2, 10, 0xA1, 0x0B, 0x81,
            0x01, 0x00, 0xA2, 0x06, 0x81, 0x04, 198, 51, 100, 20, 0x82, 0x03, b'B', b'Y', b'E',
        ]);
        assert_eq!(out, want);
    }

    #[test]
    fn keepalive_has_no_cin() {
        let mut out = Vec::new();
        encode_keepalive(&mut out, &header(7));
        assert!(!out.windows(4).any(|w| w == [0x81, 0x02, 0x03, 0xE9]));
        assert_eq!(out[out.len() - 6..], [0xA2, 0x04, 0xA2, 0x02, 0x83, 0x00]);
        let mut resp = Vec::new();
        encode_keepalive_response(&mut resp, &header(7));
        assert_eq!(resp[resp.len() - 2..], [0x84, 0x00]);
    }

    #[test]
    fn header_ranges() {
        assert_eq!(check_header(&header(0)), Ok(()));
        let long_liid = "L".repeat(26);
        assert_eq!(
            check_header(&PduHeader {
                liid: &long_liid,
                ..header(0)
            }),
            Err(EncodeError::LiidLength { len: 26 })
        );
        assert_eq!(
            check_header(&PduHeader {
                liid: "",
                ..header(0)
            }),
            Err(EncodeError::LiidLength { len: 0 })
        );
        assert_eq!(
            check_header(&PduHeader {
                operator_id: "OPERATOR-NAME-17",
                ..header(0)
            }),
            Ok(())
        );
        assert_eq!(
            check_header(&PduHeader {
                network_element_id: "NETWORK-ELEMENT-17",
                ..header(0)
            }),
            Err(EncodeError::IdentifierLength {
                field: "networkElementIdentifier",
                len: 18
            })
        );
        assert_eq!(
            check_header(&PduHeader {
                delivery_country: "USA",
                ..header(0)
            }),
            Err(EncodeError::CountryCode {
                field: "deliveryCountryCode"
            })
        );
        assert_eq!(
            check_header(&PduHeader {
                authorization_country: "U*",
                ..header(0)
            }),
            Err(EncodeError::CountryCode {
                field: "authorizationCountryCode"
            })
        );
    }
}
