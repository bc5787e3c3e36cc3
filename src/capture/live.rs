//! Live capture from a network interface through libpcap (feature `live`): nanosecond
//! timestamps, immediate delivery, optional BPF filter, and a bounded wait per read.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use pcap::{Active, Capture, Precision};

use super::source::{Behaviour, CaptureSource, Next, SourceStats};
use super::{CaptureError, Frame, LinkType, LiveConfig};
use crate::Timestamp;

/// Kernel and reader counters of a live capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Packets the kernel received (after filtering).
    pub received: u64,
    /// Packets dropped because the capture buffer was full.
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
    /// Frames handed out by `next_frame`.
    pub frames: u64,
    /// Captured bytes handed out.
    pub bytes: u64,
}

/// libpcap's packet buffer timeout: how long the kernel may hold packets before delivery.
const BUFFER_TIMEOUT_MS: i32 = 10;

/// An open live capture.
pub struct LiveCapture {
    interface: String,
    capture: Capture<Active>,
    /// Selectable descriptor of the capture, waited on when no packet is ready.
    fd: RawFd,
    wait_ms: i32,
    link: LinkType,
    frames: u64,
    bytes: u64,
}

impl LiveCapture {
    /// Opens the interface in non-blocking mode: a blocking libpcap read can wait forever
    /// once traffic stops (TPACKET_V3), so `next_frame` waits on the descriptor with `poll`.
    pub fn open(config: &LiveConfig) -> Result<LiveCapture, CaptureError> {
        let fail = |source| CaptureError::Live {
            interface: config.interface.clone(),
            source,
        };
        if config.fanout.is_some() {
            return Err(CaptureError::Unsupported {
                interface: config.interface.clone(),
                backend: "pcap",
                what: "PACKET_FANOUT (use the af-packet backend)",
            });
        }
        let wait_ms = i32::try_from(config.read_timeout.as_millis()).unwrap_or(i32::MAX);
        let mut capture = Capture::from_device(config.interface.as_str())
            .map_err(fail)?
            .snaplen(i32::try_from(config.snaplen).unwrap_or(i32::MAX))
            .promisc(config.promiscuous)
            .immediate_mode(true)
            .precision(Precision::Nano)
            .buffer_size(i32::try_from(config.buffer_bytes).unwrap_or(i32::MAX))
            .timeout(BUFFER_TIMEOUT_MS)
            .open()
            .and_then(Capture::setnonblock)
            .map_err(fail)?;
        if let Some(filter) = &config.filter {
            capture.filter(filter, true).map_err(fail)?;
        }
        let link = LinkType::from_linktype(capture.get_datalink().0 as u32);
        let fd = capture.as_raw_fd();
        Ok(LiveCapture {
            interface: config.interface.clone(),
            capture,
            fd,
            wait_ms,
            link,
            frames: 0,
            bytes: 0,
        })
    }

    /// Link type of the interface.
    pub fn link(&self) -> LinkType {
        self.link
    }

    /// The next frame, or `Ok(None)` after waiting up to the read timeout for traffic (so the
    /// caller can check for shutdown, then call again). The frame borrows libpcap's buffer
    /// until the next call.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        self.read(self.wait_ms)
    }

    /// The next frame, or `Ok(None)` after waiting up to `wait_ms` for traffic.
    fn read(&mut self, wait_ms: i32) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.capture.next_packet() {
            Ok(packet) => {
                let header = packet.header;
                let secs = u64::try_from(header.ts.tv_sec).unwrap_or(0);
                let nanos = u64::try_from(header.ts.tv_usec).unwrap_or(0);
                self.frames += 1;
                self.bytes += packet.data.len() as u64;
                Ok(Some(Frame {
                    ts: Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos)),
                    link: self.link,
                    data: packet.data,
                    orig_len: header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => match wait_readable(self.fd, wait_ms) {
                Ok(()) => Ok(None),
                Err(err) => Err(CaptureError::Live {
                    interface: self.interface.clone(),
                    source: pcap::Error::IoError(err.kind()),
                }),
            },
            Err(source) => Err(CaptureError::Live {
                interface: self.interface.clone(),
                source,
            }),
        }
    }

    /// Kernel counters (received, dropped, dropped by the interface) and frames handed out.
    pub fn stats(&mut self) -> Result<LiveStats, CaptureError> {
        let kernel = self.capture.stats().map_err(|source| CaptureError::Live {
            interface: self.interface.clone(),
            source,
        })?;
        Ok(LiveStats {
            received: u64::from(kernel.received),
            dropped: u64::from(kernel.dropped),
            if_dropped: u64::from(kernel.if_dropped),
            frames: self.frames,
            bytes: self.bytes,
        })
    }
}

/// libpcap's reader: frames live in libpcap's buffer until the next read, so batches copy
/// them. A full pipeline holds the reader back; libpcap's kernel buffer holds the traffic
/// meanwhile and counts what it must drop.
impl CaptureSource for LiveCapture {
    fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Next<'_>, CaptureError> {
        let wait_ms = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.wait_ms.min(i32::try_from(left.as_millis()).unwrap_or(i32::MAX))
            }
            None => self.wait_ms,
        };
        Ok(match self.read(wait_ms)? {
            Some(frame) => Next::Frame(frame),
            None => Next::Idle,
        })
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour { live: true, deadlined: true }
    }

    /// Kernel counters; when libpcap cannot read them, the frames handed out (the error
    /// logged, drops unknown).
    fn stats(&mut self) -> SourceStats {
        match LiveCapture::stats(self) {
            Ok(stats) => SourceStats {
                frames: stats.frames,
                bytes: stats.bytes,
                dropped_kernel: stats.dropped + stats.if_dropped,
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the capture's drop counters");
                SourceStats { frames: self.frames, bytes: self.bytes, dropped_kernel: 0 }
            }
        }
    }
}

/// Waits until `fd` is readable or `timeout_ms` passes (an interrupted wait counts as done).
fn wait_readable(fd: RawFd, timeout_ms: i32) -> std::io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pollfd` is one valid, exclusively borrowed entry for the whole call, and `fd`
    // stays open while the capture that owns it lives.
    let rc = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Needs root (CAP_NET_RAW) and a loopback interface; skipped otherwise.
    #[test]
    fn loopback_read_times_out_then_sees_traffic() {
        let mut config = LiveConfig::new("lo");
        config.filter = Some("udp port 47999".to_string());
        config.read_timeout = Duration::from_millis(50);
        let mut capture = match LiveCapture::open(&config) {
            Ok(capture) => capture,
            Err(err) => {
                eprintln!("skipping live capture test (needs root and lo): {err}");
                return;
            }
        };
        let started = Instant::now();
        let idle = capture.next_frame().expect("idle read");
        assert!(idle.is_none(), "no traffic matches the filter yet");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(40),
            "waited for traffic: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(2),
            "returned after its timeout: {waited:?}"
        );

        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .send_to(b"tapline-live-test", "127.0.0.1:47999")
            .expect("send");
        let mut seen = false;
        for _ in 0..100 {
            if let Some(frame) = capture.next_frame().expect("read") {
                assert_eq!(frame.link, LinkType::Ethernet);
                assert!(frame.data.ends_with(b"tapline-live-test"));
                assert!(frame.ts.secs() > 1_600_000_000);
                seen = true;
                break;
            }
        }
        assert!(seen, "the datagram sent to lo was captured");
        let stats = capture.stats().expect("stats");
        assert_eq!(stats.frames, 1);
        assert!(stats.received >= 1);
    }
}
