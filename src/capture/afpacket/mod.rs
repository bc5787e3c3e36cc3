//! Live capture through an AF_PACKET socket with a TPACKET_V3 ring (feature `live`, Linux):
//! the kernel fills blocks of a memory-mapped ring; each block is handed to the batches
//! whose frames lie in it, without a copy, and goes back to the kernel when the last of them
//! is dropped. Drops are read from the socket (PACKET_STATISTICS). Optional PACKET_FANOUT
//! (flow hash) shares an interface between several sockets. VLAN tags the kernel took off
//! are put back in place, as libpcap does, and a loopback interface's outgoing copies are
//! skipped (each packet is seen once).

mod ring;

use std::sync::Arc;
use std::time::{Duration, Instant};

use self::ring::{BlockLease, Ring, RingConfig};
use super::source::{Backing, Behaviour, CaptureSource, Next, SourceStats};
use super::{CaptureError, Frame, LinkType, LiveConfig};
use crate::Timestamp;

/// Ring block size: large enough for any frame (64 KiB loopback/GRO packets included), and
/// about a batch (256 KiB), so a 64 MiB ring has 256 blocks: at low rates each block is
/// retired after `RETIRE_MS` with a few packets, and the ring then holds 256 ms of traffic
/// while the pipeline is held up.
const BLOCK_SIZE: u32 = 1 << 18;
const MIN_BLOCKS: u32 = 4;
/// A block holding packets is handed over after this long even when not full.
const RETIRE_MS: u32 = 1;
/// Headroom in front of each frame: room for the 4-byte VLAN tag the kernel took off.
const VLAN_TAG_LEN: usize = 4;

// `struct tpacket_block_desc` / `tpacket_hdr_v1` field offsets.
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
// `struct tpacket3_hdr` field offsets, its size, and `struct sockaddr_ll` after it.
const PKT_NEXT: usize = 0;
const PKT_SEC: usize = 4;
const PKT_NSEC: usize = 8;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_STATUS: usize = 20;
const PKT_MAC: usize = 24;
const PKT_VLAN_TCI: usize = 32;
const PKT_VLAN_TPID: usize = 36;
const PKT_HDR_LEN: usize = 48;
const SLL_PKTTYPE: usize = PKT_HDR_LEN + 10;
const SLL_END: usize = PKT_HDR_LEN + 20;

const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_NONE: u16 = 0xFFFE;

/// The link type of an interface's frames, from its ARPHRD type: only types whose raw
/// frames the decoder reads (another would be captured but never decoded: refused).
fn link_of(hatype: u16) -> Option<LinkType> {
    match hatype {
        ARPHRD_ETHER | ARPHRD_LOOPBACK => Some(LinkType::Ethernet),
        ARPHRD_NONE => Some(LinkType::RawIp),
        _ => None,
    }
}

/// Where the reader is in the block it holds.
struct Cursor {
    lease: Arc<BlockLease>,
    /// Offset of the next packet header in the block.
    offset: usize,
    /// Packets of the block not read yet.
    left: u32,
}

/// One packet located in the current block.
struct Located {
    ts: Timestamp,
    start: usize,
    end: usize,
    orig_len: u32,
}

/// An open AF_PACKET capture.
pub struct AfPacket {
    interface: String,
    ring: Arc<Ring>,
    link: LinkType,
    loopback: bool,
    snaplen: usize,
    wait: Duration,
    /// The block to take from the kernel next.
    next_block: usize,
    current: Option<Cursor>,
    stats: SourceStats,
}

impl AfPacket {
    /// Opens `config.interface` with a ring of `buffer_bytes` (in 256 KiB blocks, at least 4).
    /// A BPF filter is refused (libpcap compiles those: use the pcap backend).
    pub fn open(config: &LiveConfig) -> Result<AfPacket, CaptureError> {
        let unsupported = |what| CaptureError::Unsupported { interface: config.interface.clone(), backend: "af-packet", what };
        if config.filter.is_some() {
            return Err(unsupported("a BPF filter (use the pcap backend)"));
        }
        let ring_config = RingConfig {
            block_size: BLOCK_SIZE,
            block_count: (config.buffer_bytes / BLOCK_SIZE).max(MIN_BLOCKS),
            retire_ms: RETIRE_MS,
            reserve: VLAN_TAG_LEN as u32,
            promiscuous: config.promiscuous,
            fanout: config.fanout,
        };
        let ring = Ring::open(&config.interface, &ring_config).map_err(|(action, source)| CaptureError::AfPacket {
            interface: config.interface.clone(),
            action,
            source,
        })?;
        let hatype = ring.hatype();
        let Some(link) = link_of(hatype) else {
            return Err(unsupported("this interface's link type (use the pcap backend)"));
        };
        Ok(AfPacket {
            interface: config.interface.clone(),
            ring: Arc::new(ring),
            link,
            loopback: hatype == ARPHRD_LOOPBACK,
            snaplen: config.snaplen as usize,
            wait: config.read_timeout,
            next_block: 0,
            current: None,
            stats: SourceStats::default(),
        })
    }

    /// Link type of the interface.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// Moves to the next packet to hand out, or reports a new block or an idle wait.
    fn advance(&mut self, deadline: Option<Instant>) -> Result<Step, CaptureError> {
        loop {
            if let Some(cursor) = &mut self.current {
                if cursor.left > 0 {
                    let block = cursor.lease.bytes();
                    let packet = locate(block, cursor.offset).ok_or_else(|| malformed(&self.interface))?;
                    cursor.left -= 1;
                    cursor.offset += packet.next;
                    if cursor.left > 0 && packet.next == 0 {
                        return Err(malformed(&self.interface));
                    }
                    if self.loopback && packet.outgoing {
                        continue;
                    }
                    let end = packet.start + packet.captured.min(self.snaplen);
                    return Ok(Step::Frame(Located { ts: packet.ts, start: packet.start, end, orig_len: packet.orig_len }));
                }
                // Done with the block: the kernel gets it back once no batch holds it.
                self.current = None;
            }
            if let Some(lease) = self.ring.take(self.next_block, restore_vlan_tags) {
                let block = lease.bytes();
                let left = read_u32(block, BLOCK_NUM_PKTS).ok_or_else(|| malformed(&self.interface))?;
                let offset = read_u32(block, BLOCK_FIRST_PKT).ok_or_else(|| malformed(&self.interface))? as usize;
                self.current = Some(Cursor { lease: Arc::new(lease), offset, left });
                self.next_block = (self.next_block + 1) % self.ring.blocks();
                return Ok(Step::Boundary);
            }
            return self.wait_for_block(deadline);
        }
    }

    /// Waits for the kernel to fill the next block, up to the deadline or the read timeout.
    fn wait_for_block(&self, deadline: Option<Instant>) -> Result<Step, CaptureError> {
        let wait = deadline.map_or(self.wait, |d| d.saturating_duration_since(Instant::now()).min(self.wait));
        if self.ring.is_leased(self.next_block) {
            // Batches still hold the block: the pipeline is behind (the kernel drops and
            // counts meanwhile). Polling would return at once, so sleep briefly instead.
            std::thread::sleep(wait.min(Duration::from_millis(1)));
            return Ok(Step::Idle);
        }
        let wait_ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        self.ring.wait(wait_ms).map_err(|source| CaptureError::AfPacket {
            interface: self.interface.clone(),
            action: "wait for packets",
            source,
        })?;
        Ok(Step::Idle)
    }

    /// Adds the kernel's counters since the last call (it resets them on reading).
    fn read_kernel_counters(&mut self) -> Result<(), CaptureError> {
        let (_received, dropped) = self.ring.take_statistics().map_err(|source| CaptureError::AfPacket {
            interface: self.interface.clone(),
            action: "read the drop counters",
            source,
        })?;
        self.stats.dropped_kernel += dropped;
        Ok(())
    }
}

/// The error of a ring block whose packet offsets do not add up.
fn malformed(interface: &str) -> CaptureError {
    CaptureError::AfPacket {
        interface: interface.to_string(),
        action: "read a ring block",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "packet offsets outside the block"),
    }
}

/// What `advance` found.
enum Step {
    Frame(Located),
    Boundary,
    Idle,
}

impl CaptureSource for AfPacket {
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Next<'_>, CaptureError> {
        let located = match self.advance(deadline)? {
            Step::Frame(located) => located,
            Step::Boundary => return Ok(Next::Boundary),
            Step::Idle => return Ok(Next::Idle),
        };
        let Some(cursor) = &self.current else { return Ok(Next::Idle) };
        let data = cursor.lease.bytes().get(located.start..located.end).unwrap_or_default();
        self.stats.frames += 1;
        self.stats.bytes += data.len() as u64;
        Ok(Next::Frame(Frame { ts: located.ts, link: self.link, data, orig_len: located.orig_len }))
    }

    /// The block the next frames lie in.
    fn backing(&self) -> Option<Arc<dyn Backing>> {
        self.current.as_ref().map(|cursor| Arc::clone(&cursor.lease) as Arc<dyn Backing>)
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour { live: true, deadlined: true }
    }

    /// Frames handed out and the kernel's drops; an error reading those is logged (the
    /// drops then count what was read before).
    fn stats(&mut self) -> SourceStats {
        if let Err(err) = self.read_kernel_counters() {
            tracing::warn!(error = %err, "cannot read the capture's drop counters");
        }
        self.stats
    }
}

impl Backing for BlockLease {
    fn bytes(&self) -> &[u8] {
        BlockLease::bytes(self)
    }
}

/// A packet header of a block, read.
struct PacketHeader {
    ts: Timestamp,
    /// Offset of the frame in the block.
    start: usize,
    captured: usize,
    orig_len: u32,
    /// Offset of the next header from this one (0 for the last).
    next: usize,
    outgoing: bool,
}

/// Reads the packet header at `offset` of `block`; None when it or its frame would lie
/// outside the block.
fn locate(block: &[u8], offset: usize) -> Option<PacketHeader> {
    let field = |at: usize| read_u32(block, offset.checked_add(at)?);
    let secs = u64::from(field(PKT_SEC)?);
    let nanos = u64::from(field(PKT_NSEC)?);
    let captured = field(PKT_SNAPLEN)? as usize;
    let mac = read_u16(block, offset.checked_add(PKT_MAC)?)? as usize;
    let start = offset.checked_add(mac)?;
    let end = start.checked_add(captured)?;
    if end > block.len() || mac < SLL_END {
        return None;
    }
    Some(PacketHeader {
        ts: Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos)),
        start,
        captured,
        orig_len: field(PKT_LEN)?,
        next: field(PKT_NEXT)? as usize,
        outgoing: *block.get(offset.checked_add(SLL_PKTTYPE)?)? == libc::PACKET_OUTGOING,
    })
}

/// Puts back, in place, the VLAN tags the kernel took off the block's frames (it reports
/// them in the header instead): the 12 address bytes move 4 bytes back into the reserved
/// headroom and the tag follows them, so the frame reads as it was on the wire.
fn restore_vlan_tags(block: &mut [u8]) {
    let (Some(count), Some(first)) = (read_u32(block, BLOCK_NUM_PKTS), read_u32(block, BLOCK_FIRST_PKT)) else {
        return;
    };
    let mut offset = first as usize;
    for _ in 0..count {
        restore_vlan_tag(block, offset);
        match read_u32(block, offset + PKT_NEXT) {
            Some(next) if next > 0 => offset += next as usize,
            _ => return,
        }
    }
}

/// `restore_vlan_tags` for the packet whose header is at `offset` (untouched when it has no
/// stripped tag, no headroom, or is shorter than its addresses).
fn restore_vlan_tag(block: &mut [u8], offset: usize) -> Option<()> {
    let status = read_u32(block, offset + PKT_STATUS)?;
    if status & libc::TP_STATUS_VLAN_VALID == 0 {
        return None;
    }
    let mac = read_u16(block, offset + PKT_MAC)? as usize;
    let captured = read_u32(block, offset + PKT_SNAPLEN)? as usize;
    let start = offset + mac;
    if mac < SLL_END + VLAN_TAG_LEN || captured < 12 || start + captured > block.len() {
        return None;
    }
    let tci = read_u32(block, offset + PKT_VLAN_TCI)? as u16;
    let tpid = match read_u16(block, offset + PKT_VLAN_TPID)? {
        tpid if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 && tpid != 0 => tpid,
        _ => 0x8100,
    };
    block.copy_within(start..start + 12, start - VLAN_TAG_LEN);
    block[start + 8..start + 10].copy_from_slice(&tpid.to_be_bytes());
    block[start + 10..start + 12].copy_from_slice(&tci.to_be_bytes());
    let grown = |at: usize, block: &mut [u8]| -> Option<()> {
        let value = read_u32(block, at)?.checked_add(VLAN_TAG_LEN as u32)?;
        block.get_mut(at..at + 4)?.copy_from_slice(&value.to_ne_bytes());
        Some(())
    };
    grown(offset + PKT_SNAPLEN, block)?;
    grown(offset + PKT_LEN, block)?;
    block.get_mut(offset + PKT_MAC..offset + PKT_MAC + 2)?.copy_from_slice(&((mac - VLAN_TAG_LEN) as u16).to_ne_bytes());
    block.get_mut(offset + PKT_STATUS..offset + PKT_STATUS + 4)?.copy_from_slice(&(status & !libc::TP_STATUS_VLAN_VALID).to_ne_bytes());
    Some(())
}

fn read_u32(block: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(block.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn read_u16(block: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(block.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests;
