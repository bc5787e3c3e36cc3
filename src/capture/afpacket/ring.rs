//! The unsafe core of the AF_PACKET backend, and the only unsafe code in it: the packet
//! socket and its options, the TPACKET_V3 receive ring mapped into memory, and the hand-over
//! of ring blocks between the kernel and tapline. Parsing a block's bytes is safe code in
//! the parent module.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use libc::c_int;

/// `tpacket_versions::TPACKET_V3`.
const TPACKET_V3: c_int = 2;
/// Offset of `block_status` in `struct tpacket_block_desc` (version, offset_to_priv, then
/// the 8-aligned `tpacket_hdr_v1` whose first field it is).
const BLOCK_STATUS_OFFSET: usize = 8;
/// `tp_frame_size`: TPACKET_V3 places frames of any size in a block; the kernel still
/// checks this against the header size and derives `tp_frame_nr` from it.
const FRAME_SIZE: u32 = 2048;

/// The ring's geometry and the socket's options.
#[derive(Clone, Copy, Debug)]
pub(super) struct RingConfig {
    /// Bytes per block: a power of two, a multiple of the page size.
    pub block_size: u32,
    pub block_count: u32,
    /// A block holding any packet is handed to tapline after this many milliseconds.
    pub retire_ms: u32,
    /// Bytes the kernel leaves free in front of each frame (room to re-insert a VLAN tag).
    pub reserve: u32,
    pub promiscuous: bool,
    /// PACKET_FANOUT group to join (flow hash, defragmenting first).
    pub fanout: Option<u16>,
}

/// What failed, for the error message, and the OS error.
pub(super) type RingError = (&'static str, io::Error);

/// A bound packet socket and its mapped receive ring.
pub(super) struct Ring {
    fd: OwnedFd,
    base: NonNull<u8>,
    len: usize,
    block_size: usize,
    /// Per block: tapline holds it (the reader, or batches through a [`BlockLease`]).
    leased: Box<[AtomicBool]>,
    /// The interface's ARPHRD type.
    hatype: u16,
}

// SAFETY: the mapping is only reached through `&self` methods: block status words with
// atomic accesses, and block contents only while `leased` marks the block as tapline's,
// exclusively (`take`) or shared read-only (`block`, through a lease). Nothing in the ring
// is tied to the thread that created it.
unsafe impl Send for Ring {}
// SAFETY: as for `Send`; concurrent `release` calls touch distinct blocks' words.
unsafe impl Sync for Ring {}

impl Ring {
    /// Opens a TPACKET_V3 socket on `interface`: the ring is set up and mapped before the
    /// socket is bound, so it never sees another interface's packets.
    pub(super) fn open(interface: &str, config: &RingConfig) -> Result<Ring, RingError> {
        let name = CString::new(interface)
            .map_err(|_| ("name the interface", io::Error::from(io::ErrorKind::InvalidInput)))?;
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(("find the interface", io::Error::last_os_error()));
        }
        // Protocol 0: no packet reaches the socket until `bind` names the interface.
        // SAFETY: plain system call without pointers.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(("open a packet socket", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_option(&fd, libc::PACKET_VERSION, &TPACKET_V3).map_err(|e| ("select TPACKET_V3", e))?;
        set_option(&fd, libc::PACKET_RESERVE, &config.reserve).map_err(|e| ("reserve frame headroom", e))?;
        let request = libc::tpacket_req3 {
            tp_block_size: config.block_size,
            tp_block_nr: config.block_count,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: config.block_size / FRAME_SIZE * config.block_count,
            tp_retire_blk_tov: config.retire_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(&fd, libc::PACKET_RX_RING, &request).map_err(|e| ("set up the receive ring", e))?;
        let len = config.block_size as usize * config.block_count as usize;
        // SAFETY: maps the ring the kernel allocated for this socket, `len` bytes as
        // requested; unmapped only in `Drop`.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(("map the receive ring", io::Error::last_os_error()));
        }
        let Some(base) = NonNull::new(base.cast::<u8>()) else {
            return Err(("map the receive ring", io::Error::from(io::ErrorKind::AddrNotAvailable)));
        };
        let leased = (0..config.block_count).map(|_| AtomicBool::new(false)).collect();
        let mut ring = Ring { fd, base, len, block_size: config.block_size as usize, leased, hatype: 0 };
        let ifindex = c_int::try_from(ifindex).map_err(|_| ("find the interface", io::Error::from(io::ErrorKind::InvalidData)))?;
        ring.hatype = ring.bind(ifindex)?;
        if config.promiscuous {
            let request = libc::packet_mreq {
                mr_ifindex: ifindex,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            set_option(&ring.fd, libc::PACKET_ADD_MEMBERSHIP, &request).map_err(|e| ("enter promiscuous mode", e))?;
        }
        if let Some(group) = config.fanout {
            let mode = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;
            let argument: u32 = u32::from(group) | (mode << 16);
            set_option(&ring.fd, libc::PACKET_FANOUT, &argument).map_err(|e| ("join the fanout group", e))?;
        }
        Ok(ring)
    }

    /// Binds the socket to every protocol on the interface; returns its ARPHRD type.
    fn bind(&self, ifindex: c_int) -> Result<u16, RingError> {
        // SAFETY: an all-zero `sockaddr_ll` is a valid value of the plain C struct.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        address.sll_ifindex = ifindex;
        let size = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `address` is a valid `sockaddr_ll` of `size` bytes for the whole call.
        let rc = unsafe {
            libc::bind(self.fd.as_raw_fd(), std::ptr::from_ref(&address).cast::<libc::sockaddr>(), size)
        };
        if rc < 0 {
            return Err(("bind to the interface", io::Error::last_os_error()));
        }
        let mut bound_size = size;
        // SAFETY: the kernel writes at most `bound_size` bytes into `address`, and updates
        // `bound_size`; both outlive the call.
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                std::ptr::from_mut(&mut address).cast::<libc::sockaddr>(),
                &mut bound_size,
            )
        };
        if rc < 0 {
            return Err(("read the interface type", io::Error::last_os_error()));
        }
        Ok(address.sll_hatype)
    }

    /// The interface's ARPHRD type.
    pub(super) fn hatype(&self) -> u16 {
        self.hatype
    }

    /// Number of blocks in the ring.
    pub(super) fn blocks(&self) -> usize {
        self.leased.len()
    }

    /// Whether tapline still holds `block` (a batch has not been dropped yet).
    pub(super) fn is_leased(&self, block: usize) -> bool {
        self.leased.get(block).is_none_or(|l| l.load(Ordering::Acquire))
    }

    fn status(&self, block: usize) -> &AtomicU32 {
        debug_assert!(block < self.blocks());
        // SAFETY: `block` is below the block count (checked by every caller), so the word
        // lies in the mapping; blocks are page-aligned, so it is 4-aligned. The kernel writes
        // it after the block's packets (with a write barrier) and reads it; tapline only
        // accesses it atomically.
        unsafe { &*self.base.as_ptr().add(block * self.block_size + BLOCK_STATUS_OFFSET).cast::<AtomicU32>() }
    }

    /// Takes `block` from the kernel when it holds packets for tapline and tapline does not
    /// hold it already: `prepare` may rewrite it in place (exclusively), then the lease
    /// shares it read-only until dropped, which gives it back to the kernel.
    pub(super) fn take(self: &Arc<Self>, block: usize, prepare: impl FnOnce(&mut [u8])) -> Option<BlockLease> {
        if block >= self.blocks() || self.is_leased(block) {
            return None;
        }
        if self.status(block).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        self.leased[block].store(true, Ordering::Release);
        // SAFETY: the kernel handed the block over (TP_STATUS_USER, read with Acquire, so
        // its packets are visible) and writes it no more until its status is reset; no other
        // view of it exists (it was not leased, and only this reader thread takes blocks).
        // The slice ends before `prepare` returns.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(self.base.as_ptr().add(block * self.block_size), self.block_size)
        };
        prepare(bytes);
        Some(BlockLease { ring: Arc::clone(self), block })
    }

    /// The bytes of a block tapline holds (shared, read-only).
    fn block(&self, block: usize) -> &[u8] {
        debug_assert!(self.is_leased(block));
        // SAFETY: only called through a live `BlockLease`, so the block is tapline's: the
        // kernel does not write it and `take`'s exclusive view has ended.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(block * self.block_size), self.block_size) }
    }

    /// Gives `block` back to the kernel.
    fn release(&self, block: usize) {
        self.status(block).store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.leased[block].store(false, Ordering::Release);
    }

    /// Waits until the socket is readable, at most `timeout_ms` (an interrupted wait counts
    /// as done).
    pub(super) fn wait(&self, timeout_ms: i32) -> io::Result<()> {
        let mut pollfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN | libc::POLLERR, revents: 0 };
        // SAFETY: `pollfd` is one valid, exclusively borrowed entry for the whole call.
        let rc = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Packets received and dropped since the previous call (the kernel resets them).
    pub(super) fn take_statistics(&self) -> io::Result<(u64, u64)> {
        let mut stats = libc::tpacket_stats_v3 { tp_packets: 0, tp_drops: 0, tp_freeze_q_cnt: 0 };
        let mut size = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `size` bytes into `stats` and updates `size`;
        // both outlive the call.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                std::ptr::from_mut(&mut stats).cast::<libc::c_void>(),
                &mut size,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((u64::from(stats.tp_packets), u64::from(stats.tp_drops)))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are the mapping made in `open`; no lease outlives the ring
        // (each holds an `Arc` of it), so nothing refers to the mapping any more.
        unsafe {
            libc::munmap(self.base.as_ptr().cast::<libc::c_void>(), self.len);
        }
    }
}

/// A ring block tapline holds: batches whose frames lie in it share it, and the last one
/// dropped gives it back to the kernel.
pub(super) struct BlockLease {
    ring: Arc<Ring>,
    block: usize,
}

impl BlockLease {
    pub(super) fn bytes(&self) -> &[u8] {
        self.ring.block(self.block)
    }
}

impl Drop for BlockLease {
    fn drop(&mut self) {
        self.ring.release(self.block);
    }
}

/// Sets a SOL_PACKET socket option to `value`.
fn set_option<T>(fd: &OwnedFd, option: c_int, value: &T) -> io::Result<()> {
    let size = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points to `size` readable bytes for the whole call.
    let rc = unsafe {
        libc::setsockopt(fd.as_raw_fd(), libc::SOL_PACKET, option, std::ptr::from_ref(value).cast::<libc::c_void>(), size)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
