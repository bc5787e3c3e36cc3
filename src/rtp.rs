//! RTP and RTCP header views (RFC 3550), UDP payload classification, and RFC 4733
//! telephone-event payloads (DTMF digits in RTP).

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("RTP/RTCP packet too short: {len} bytes, header needs {needed}")]
    Truncated { len: usize, needed: usize },
    #[error("RTP/RTCP version {version}, expected 2")]
    BadVersion { version: u8 },
    #[error("RTP padding count {padding} larger than the {available} payload bytes")]
    BadPadding { padding: usize, available: usize },
    #[error("RTCP packet type {packet_type} outside 200..=207")]
    NotRtcp { packet_type: u8 },
}

mod field {
    pub type Field = core::ops::Range<usize>;
    /// V(2) P(1) X(1) CC(4)
    pub const VPXCC: usize = 0;
    /// M(1) PT(7) — for RTCP the whole byte is the packet type.
    pub const MPT: usize = 1;
    pub const SEQUENCE: Field = 2..4;
    pub const TIMESTAMP: Field = 4..8;
    pub const SSRC: Field = 8..12;
    pub const HEADER_LEN: usize = 12;
    pub const RTCP_LENGTH: Field = 2..4;
    pub const RTCP_SSRC: Field = 4..8;
    pub const RTCP_HEADER_LEN: usize = 4;
    pub const EVENT: usize = 0;
    /// E(1) R(1) volume(6)
    pub const END_VOLUME: usize = 1;
    pub const DURATION: Field = 2..4;
    pub const EVENT_LEN: usize = 4;
}

fn u16_at(b: &[u8], f: field::Field) -> u16 {
    b.get(f)
        .and_then(|s| s.try_into().ok())
        .map(u16::from_be_bytes)
        .unwrap_or(0)
}

fn u32_at(b: &[u8], f: field::Field) -> u32 {
    b.get(f)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .unwrap_or(0)
}

fn byte_at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// A read-only view of an RTP packet.
#[derive(Debug, Clone)]
pub struct RtpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        RtpPacket { buffer }
    }

    /// Checks version 2, that the header (CSRCs, extension) fits and that padding is sane.
    pub fn new_checked(buffer: T) -> Result<Self, RtpError> {
        let packet = RtpPacket { buffer };
        let b = packet.buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(RtpError::Truncated {
                len: b.len(),
                needed: field::HEADER_LEN,
            });
        }
        if packet.version() != 2 {
            return Err(RtpError::BadVersion {
                version: packet.version(),
            });
        }
        let fixed = field::HEADER_LEN + 4 * usize::from(packet.csrc_count());
        let header_len = if packet.extension() {
            if b.len() < fixed + 4 {
                return Err(RtpError::Truncated {
                    len: b.len(),
                    needed: fixed + 4,
                });
            }
            fixed + 4 + 4 * usize::from(u16_at(b, fixed + 2..fixed + 4))
        } else {
            fixed
        };
        if b.len() < header_len {
            return Err(RtpError::Truncated {
                len: b.len(),
                needed: header_len,
            });
        }
        if packet.padding() {
            let padding = usize::from(byte_at(b, b.len() - 1));
            let available = b.len() - header_len;
            if padding == 0 || padding > available {
                return Err(RtpError::BadPadding { padding, available });
            }
        }
        Ok(packet)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::VPXCC) >> 6
    }
    pub fn padding(&self) -> bool {
        byte_at(self.buffer.as_ref(), field::VPXCC) & 0x20 != 0
    }
    pub fn extension(&self) -> bool {
        byte_at(self.buffer.as_ref(), field::VPXCC) & 0x10 != 0
    }
    pub fn csrc_count(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::VPXCC) & 0x0f
    }
    pub fn marker(&self) -> bool {
        byte_at(self.buffer.as_ref(), field::MPT) & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::MPT) & 0x7f
    }
    pub fn sequence(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::SEQUENCE)
    }
    pub fn timestamp(&self) -> u32 {
        u32_at(self.buffer.as_ref(), field::TIMESTAMP)
    }
    pub fn ssrc(&self) -> u32 {
        u32_at(self.buffer.as_ref(), field::SSRC)
    }

    /// The CSRC identifiers.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        let start = field::HEADER_LEN;
        (0..usize::from(self.csrc_count())).map(move |i| {
            let at = start + 4 * i;
            u32_at(self.buffer.as_ref(), at..at + 4)
        })
    }

    /// Header length including CSRCs and the extension.
    pub fn header_len(&self) -> usize {
        let b = self.buffer.as_ref();
        let fixed = field::HEADER_LEN + 4 * usize::from(self.csrc_count());
        if self.extension() {
            fixed + 4 + 4 * usize::from(u16_at(b, fixed + 2..fixed + 4))
        } else {
            fixed
        }
    }

    /// The payload after CSRCs and extension, without padding (empty if inconsistent).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let padding = if self.padding() {
            usize::from(byte_at(b, b.len().saturating_sub(1)))
        } else {
            0
        };
        let end = b.len().saturating_sub(padding);
        b.get(self.header_len()..end).unwrap_or(&[])
    }
}

/// A read-only view of the first RTCP packet of a compound packet.
#[derive(Debug, Clone)]
pub struct RtcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtcpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        RtcpPacket { buffer }
    }

    /// Checks the header length, version 2 and a packet type in 200..=207.
    pub fn new_checked(buffer: T) -> Result<Self, RtpError> {
        let packet = RtcpPacket { buffer };
        let len = packet.buffer.as_ref().len();
        if len < field::RTCP_HEADER_LEN {
            return Err(RtpError::Truncated {
                len,
                needed: field::RTCP_HEADER_LEN,
            });
        }
        if packet.version() != 2 {
            return Err(RtpError::BadVersion {
                version: packet.version(),
            });
        }
        if !(200..=207).contains(&packet.packet_type()) {
            return Err(RtpError::NotRtcp {
                packet_type: packet.packet_type(),
            });
        }
        Ok(packet)
    }

    pub fn version(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::VPXCC) >> 6
    }
    /// Report count / subtype (low 5 bits of the first byte).
    pub fn count(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::VPXCC) & 0x1f
    }
    /// 200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205 RTPFB, 206 PSFB, 207 XR.
    pub fn packet_type(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::MPT)
    }
    /// Length field: 32-bit words minus one.
    pub fn length(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::RTCP_LENGTH)
    }
    /// Sender SSRC (0 when the packet is shorter than 8 bytes).
    pub fn ssrc(&self) -> u32 {
        u32_at(self.buffer.as_ref(), field::RTCP_SSRC)
    }
}

/// What a UDP payload looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpKind {
    Rtp { pt: u8 },
    Rtcp,
    NotRtp,
}

/// Classifies a UDP payload by its first bytes: version 2 with a second byte in 200..=207
/// (PT 72..=79 with the marker bit, which RTP avoids, RFC 5761) is RTCP; any other version 2
/// packet whose header fits is RTP.
pub fn classify(udp_payload: &[u8]) -> RtpKind {
    if byte_at(udp_payload, field::VPXCC) >> 6 != 2 {
        return RtpKind::NotRtp;
    }
    let second = byte_at(udp_payload, field::MPT);
    if (200..=207).contains(&second) {
        return if udp_payload.len() >= 8 {
            RtpKind::Rtcp
        } else {
            RtpKind::NotRtp
        };
    }
    match RtpPacket::new_checked(udp_payload) {
        Ok(p) => RtpKind::Rtp {
            pt: p.payload_type(),
        },
        Err(_) => RtpKind::NotRtp,
    }
}

/// An RFC 4733 telephone-event payload (the RTP payload of the negotiated event PT).
#[derive(Debug, Clone)]
pub struct TelephoneEvent<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TelephoneEvent<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        TelephoneEvent { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, RtpError> {
        let len = buffer.as_ref().len();
        if len < field::EVENT_LEN {
            return Err(RtpError::Truncated {
                len,
                needed: field::EVENT_LEN,
            });
        }
        Ok(TelephoneEvent { buffer })
    }

    /// Event code: 0..=9 digits, 10 `*`, 11 `#`, 12..=15 `A`..`D`, 16 flash.
    pub fn event(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::EVENT)
    }
    /// End of the event (E bit); the end packet is usually sent three times.
    pub fn end(&self) -> bool {
        byte_at(self.buffer.as_ref(), field::END_VOLUME) & 0x80 != 0
    }
    /// Volume in -dBm0 (0..=63).
    pub fn volume(&self) -> u8 {
        byte_at(self.buffer.as_ref(), field::END_VOLUME) & 0x3f
    }
    /// Duration in timestamp units.
    pub fn duration(&self) -> u16 {
        u16_at(self.buffer.as_ref(), field::DURATION)
    }
    /// The DTMF digit (`0`-`9`, `*`, `#`, `A`-`D`); `None` for flash and other events.
    pub fn digit(&self) -> Option<char> {
        match self.event() {
            e @ 0..=9 => Some(char::from(b'0' + e)),
            10 => Some('*'),
            11 => Some('#'),
            e @ 12..=15 => Some(char::from(b'A' + (e - 12))),
            _ => None,
        }
    }
    /// Event 16: hook flash.
    pub fn is_flash(&self) -> bool {
        self.event() == 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PCMA packet, marker set, seq 0x1234, ts 0x000000a0, SSRC 0xdee0ee8f.
    const PCMA: [u8; 16] = [
        0x80, 0x88, 0x12, 0x34, 0, 0, 0, 0xa0, 0xde, 0xe0, 0xee, 0x8f, 0xd5, 0xd5, 0x55, 0x54,
    ];

    #[test]
    fn rtp_header_fields() {
        let p = RtpPacket::new_checked(&PCMA[..]).unwrap();
        assert_eq!(
            (p.version(), p.padding(), p.extension(), p.csrc_count()),
            (2, false, false, 0)
        );
        assert!(p.marker());
        assert_eq!(p.payload_type(), 8);
        assert_eq!(
            (p.sequence(), p.timestamp(), p.ssrc()),
            (0x1234, 0xa0, 0xdee0_ee8f)
        );
        assert_eq!(p.payload(), &[0xd5, 0xd5, 0x55, 0x54]);
    }

    #[test]
    fn csrc_extension_and_padding() {
        let mut b = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]); // CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension, 1 word
        b.extend_from_slice(&[9, 9, 0, 0, 3]); // payload 9 9 + 3 padding bytes
        let p = RtpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![0xaabb_ccdd]);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), &[9, 9]);
        let mut bad = b.clone();
        *bad.last_mut().unwrap() = 40;
        assert_eq!(
            RtpPacket::new_checked(&bad[..]).err(),
            Some(RtpError::BadPadding {
                padding: 40,
                available: 5
            })
        );
        assert!(matches!(
            RtpPacket::new_checked(&b[..20]),
            Err(RtpError::Truncated { .. })
        ));
        assert_eq!(
            RtpPacket::new_checked(&[0x40u8; 12][..]).err(),
            Some(RtpError::BadVersion { version: 1 })
        );
    }

    #[test]
    fn rtcp_and_classification() {
        let rr = [0x81, 201, 0, 7, 0xde, 0xe0, 0xee, 0x8f, 0, 0, 0, 0];
        let p = RtcpPacket::new_checked(&rr[..]).unwrap();
        assert_eq!(
            (
                p.version(),
                p.count(),
                p.packet_type(),
                p.length(),
                p.ssrc()
            ),
            (2, 1, 201, 7, 0xdee0_ee8f)
        );
        assert_eq!(classify(&rr), RtpKind::Rtcp);
        assert_eq!(classify(&PCMA), RtpKind::Rtp { pt: 8 });
        assert_eq!(classify(b"INVITE sip:x SIP/2.0"), RtpKind::NotRtp);
        assert_eq!(classify(&[0x80, 0x00]), RtpKind::NotRtp);
        assert_eq!(
            RtcpPacket::new_checked(&PCMA[..]).err(),
            Some(RtpError::NotRtcp { packet_type: 0x88 })
        );
    }

    #[test]
    fn telephone_events() {
        // From sipp-dtmf_2833_1.pcap: digit 1, end bit, volume 10, duration 1280.
        let e = TelephoneEvent::new_checked([0x01, 0x8a, 0x05, 0x00]).unwrap();
        assert_eq!(
            (e.event(), e.end(), e.volume(), e.duration()),
            (1, true, 10, 1280)
        );
        assert_eq!(e.digit(), Some('1'));
        let names: String = (0..16u8)
            .filter_map(|ev| TelephoneEvent::new_unchecked([ev, 0, 0, 0]).digit())
            .collect();
        assert_eq!(names, "0123456789*#ABCD");
        let flash = TelephoneEvent::new_unchecked([16, 0, 0, 0]);
        assert!(flash.is_flash() && flash.digit().is_none());
        assert!(TelephoneEvent::new_checked([1u8, 2, 3]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = classify(&bytes);
            if let Ok(p) = RtpPacket::new_checked(&bytes[..]) {
                proptest::prop_assert!(p.payload().len() + p.header_len() <= bytes.len());
                let _ = p.csrcs().count();
            }
            let u = RtpPacket::new_unchecked(&bytes[..]);
            let _ = (u.payload(), u.ssrc(), u.header_len());
            if let Ok(r) = RtcpPacket::new_checked(&bytes[..]) { let _ = (r.length(), r.ssrc()); }
            if let Ok(t) = TelephoneEvent::new_checked(&bytes[..]) { let _ = (t.digit(), t.duration()); }
        }
    }
}
