//! Ring blocks built byte by byte: packet headers located, VLAN tags put back in place.

use super::*;

const FIRST: usize = 48;
/// Frame offset from its header: after the header, the sockaddr_ll and the 4-byte headroom
/// (rounded up to 16, as the kernel aligns it).
const MAC: usize = 80;

/// A block of one packet (`frame`), with a stripped tag `(tpid, tci)` when given.
fn block(frame: &[u8], tag: Option<(u16, u16)>, pkttype: u8) -> Vec<u8> {
    let mut block = vec![0u8; 4096];
    let put32 = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put16 = |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    put32(&mut block, BLOCK_NUM_PKTS, 1);
    put32(&mut block, BLOCK_FIRST_PKT, FIRST as u32);
    put32(&mut block, FIRST + PKT_SEC, 1_700_000_000);
    put32(&mut block, FIRST + PKT_NSEC, 123);
    put32(&mut block, FIRST + PKT_SNAPLEN, frame.len() as u32);
    put32(&mut block, FIRST + PKT_LEN, frame.len() as u32 + 10);
    put16(&mut block, FIRST + PKT_MAC, MAC as u16);
    let mut status = libc::TP_STATUS_USER;
    if let Some((tpid, tci)) = tag {
        status |= libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        put32(&mut block, FIRST + PKT_VLAN_TCI, u32::from(tci));
        put16(&mut block, FIRST + PKT_VLAN_TPID, tpid);
    }
    put32(&mut block, FIRST + PKT_STATUS, status);
    block[FIRST + SLL_PKTTYPE] = pkttype;
    block[FIRST + MAC..FIRST + MAC + frame.len()].copy_from_slice(frame);
    block
}

/// An untagged Ethernet frame: addresses, EtherType IPv4, a short payload.
fn frame() -> Vec<u8> {
    let mut frame = vec![1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00];
    frame.extend_from_slice(b"payload");
    frame
}

#[test]
fn locates_a_packet_and_its_frame() {
    let block = block(&frame(), None, libc::PACKET_HOST);
    let packet = locate(&block, FIRST).expect("a packet");
    assert_eq!(&block[packet.start..packet.start + packet.captured], &frame()[..]);
    assert_eq!(packet.ts, Timestamp(1_700_000_000_000_000_123));
    assert_eq!(packet.orig_len, frame().len() as u32 + 10);
    assert!(!packet.outgoing);
    assert!(locate(&block, 4090).is_none(), "a header past the block's end");
    let outgoing = self::block(&frame(), None, libc::PACKET_OUTGOING);
    assert!(locate(&outgoing, FIRST).expect("a packet").outgoing);
}

#[test]
fn a_frame_running_past_the_block_is_refused() {
    let mut block = block(&frame(), None, libc::PACKET_HOST);
    block[FIRST + PKT_SNAPLEN..FIRST + PKT_SNAPLEN + 4].copy_from_slice(&5000u32.to_ne_bytes());
    assert!(locate(&block, FIRST).is_none());
}

#[test]
fn a_stripped_vlan_tag_is_put_back_in_place() {
    let mut block = block(&frame(), Some((0x88A8, 100)), libc::PACKET_HOST);
    restore_vlan_tags(&mut block);
    let packet = locate(&block, FIRST).expect("a packet");
    let mut want = frame();
    want.splice(12..12, [0x88, 0xA8, 0x00, 100]);
    assert_eq!(&block[packet.start..packet.start + packet.captured], &want[..]);
    assert_eq!(packet.orig_len, frame().len() as u32 + 14);
    // Done once: a second pass leaves the frame alone.
    restore_vlan_tags(&mut block);
    let again = locate(&block, FIRST).expect("a packet");
    assert_eq!(&block[again.start..again.start + again.captured], &want[..]);
}

#[test]
fn an_untagged_frame_is_left_alone() {
    let mut block = block(&frame(), None, libc::PACKET_HOST);
    let before = block.clone();
    restore_vlan_tags(&mut block);
    assert_eq!(block, before);
}

#[test]
fn interfaces_whose_frames_are_not_decoded_are_refused() {
    assert_eq!(link_of(ARPHRD_ETHER), Some(LinkType::Ethernet));
    assert_eq!(link_of(ARPHRD_LOOPBACK), Some(LinkType::Ethernet));
    assert_eq!(link_of(ARPHRD_NONE), Some(LinkType::RawIp));
    assert_eq!(link_of(778), None, "GRE: not decoded as raw frames");
}
