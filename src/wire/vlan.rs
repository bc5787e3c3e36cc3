//! IEEE 802.1Q / 802.1ad VLAN tag view, and stripping of stacked tags (up to 4 deep).

use super::ethernet::ethertype;
use super::{read_u16, MalformedReason};

mod field {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
    pub const PAYLOAD: usize = 4;
}

pub const HEADER_LEN: usize = field::PAYLOAD;
/// Deepest tag stack accepted (QinQ and beyond).
pub const MAX_DEPTH: usize = 4;

/// True for the EtherTypes that announce a VLAN tag: 0x8100, 0x88a8 and 0x9100.
pub fn is_tag_ethertype(value: u16) -> bool {
    matches!(
        value,
        ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_LEGACY
    )
}

/// A read view of one 4-byte VLAN tag (the part after the tag's EtherType).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding at least the 4-byte tag.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedReason::TruncatedVlan);
        }
        Ok(Packet { buffer })
    }

    /// Priority code point (0–7).
    pub fn priority(&self) -> u8 {
        (read_u16(self.buffer.as_ref(), field::TCI) >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn drop_eligible(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::TCI) & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vlan_id(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TCI) & 0x0FFF
    }

    /// EtherType of what follows the tag.
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The bytes after the tag.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(field::PAYLOAD..).unwrap_or_default()
    }
}

/// What remains after removing stacked VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untagged<'a> {
    /// VLAN id of the outermost tag, if any.
    pub outer_vlan: Option<u16>,
    /// EtherType after the innermost tag.
    pub ethertype: u16,
    pub payload: &'a [u8],
}

/// Removes up to `MAX_DEPTH` VLAN tags following an EtherType of `ethertype`.
pub fn strip_tags(mut ethertype: u16, mut payload: &[u8]) -> Result<Untagged<'_>, MalformedReason> {
    let mut outer_vlan = None;
    let mut depth = 0;
    while is_tag_ethertype(ethertype) {
        if depth == MAX_DEPTH {
            return Err(MalformedReason::TooManyVlanTags);
        }
        let tag = Packet::new_checked(payload)?;
        outer_vlan.get_or_insert(tag.vlan_id());
        ethertype = tag.ethertype();
        payload = tag.payload();
        depth += 1;
    }
    Ok(Untagged {
        outer_vlan,
        ethertype,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_tag_fields() {
        // PCP 5, DEI 0, VID 100, then IPv4.
        let tag = [0xA0, 0x64, 0x08, 0x00, 0x45];
        let packet = Packet::new_checked(&tag[..]).expect("valid");
        assert_eq!(packet.priority(), 5);
        assert!(!packet.drop_eligible());
        assert_eq!(packet.vlan_id(), 100);
        assert_eq!(packet.ethertype(), ethertype::IPV4);
        assert_eq!(packet.payload(), &[0x45]);
    }

    #[test]
    fn strips_qinq_keeping_outer_id() {
        // S-tag VID 200 (0x88a8 already read), C-tag 0x8100 VID 100, then IPv6.
        let bytes = [0x00, 0xC8, 0x81, 0x00, 0x00, 0x64, 0x86, 0xDD, 0x60];
        let untagged = strip_tags(ethertype::QINQ, &bytes).expect("valid");
        assert_eq!(
            untagged,
            Untagged {
                outer_vlan: Some(200),
                ethertype: ethertype::IPV6,
                payload: &[0x60]
            }
        );
    }

    #[test]
    fn untagged_passes_through() {
        let untagged = strip_tags(ethertype::IPV4, &[0x45]).expect("valid");
        assert_eq!(untagged.outer_vlan, None);
        assert_eq!(untagged.payload, &[0x45]);
    }

    #[test]
    fn rejects_five_tags_and_truncation() {
        let mut bytes = Vec::new();
        for _ in 0..5 {
            bytes.extend_from_slice(&[0x00, 0x01, 0x81, 0x00]);
        }
        bytes.extend_from_slice(&[0x00, 0x01, 0x08, 0x00]);
        assert_eq!(
            strip_tags(ethertype::VLAN, &bytes),
            Err(MalformedReason::TooManyVlanTags)
        );
        let four_tags = &bytes[8..];
        let untagged = strip_tags(ethertype::VLAN, four_tags).expect("four tags accepted");
        assert_eq!(untagged.ethertype, ethertype::IPV4);
        assert_eq!(untagged.outer_vlan, Some(1));
        assert_eq!(
            strip_tags(ethertype::VLAN, &[0x00, 0x01, 0x08]),
            Err(MalformedReason::TruncatedVlan)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(ethertype in any::<u16>(), bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(untagged) = strip_tags(ethertype, &bytes) {
                prop_assert!(!is_tag_ethertype(untagged.ethertype));
                prop_assert!(untagged.payload.len() <= bytes.len());
            }
            let tag = Packet::new_unchecked(&bytes[..]);
            let _ = (tag.vlan_id(), tag.ethertype(), tag.payload());
        }
    }
}
