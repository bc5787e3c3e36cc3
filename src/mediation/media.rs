//! Media taps: which intercepted call an RTP/RTCP endpoint belongs to, looked up in O(1).

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;

/// One side of a call, as the SDP that announced the endpoint tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

/// An endpoint's tap: the call slot it belongs to and the side that announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tap {
    pub call: usize,
    pub side: Side,
}

/// Endpoint (address, port) → tap. An endpoint re-announced by a later call moves to it.
#[derive(Debug, Default)]
pub struct MediaTable {
    pub(super) taps: HashMap<(IpAddr, u16), Tap, RandomState>,
}

impl MediaTable {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, addr: IpAddr, port: u16, tap: Tap) {
        self.taps.insert((addr, port), tap);
    }

    /// Removes the endpoint only if it still belongs to `call`.
    pub fn remove(&mut self, addr: IpAddr, port: u16, call: usize) {
        if self.taps.get(&(addr, port)).is_some_and(|t| t.call == call) {
            self.taps.remove(&(addr, port));
        }
    }

    /// The tap of a packet: its source endpoint first, else its destination endpoint.
    /// Returns the tap and whether the packet was sent *by* the tapped endpoint.
    #[inline]
    pub fn lookup(&self, src: (IpAddr, u16), dst: (IpAddr, u16)) -> Option<(Tap, bool)> {
        if self.taps.is_empty() {
            return None;
        }
        if let Some(t) = self.taps.get(&src) {
            return Some((*t, true));
        }
        self.taps.get(&dst).map(|t| (*t, false))
    }

    pub fn len(&self) -> usize {
        self.taps.len()
    }

    /// Applies a tap control's change of the table (call views are not the table's).
    pub fn apply(&mut self, c: &super::TapControl) {
        match *c {
            super::TapControl::Install { addr, port, tap } => self.insert(addr, port, tap),
            super::TapControl::Remove { addr, port, call } => self.remove(addr, port, call),
            super::TapControl::Call { .. } | super::TapControl::Release { .. } => {}
        }
    }

    /// Every tap, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = ((IpAddr, u16), Tap)> + '_ {
        self.taps.iter().map(|(ep, tap)| (*ep, *tap))
    }

    pub fn is_empty(&self) -> bool {
        self.taps.is_empty()
    }
}

/// Media ports held by tracked calls, counted per port. A packet neither of whose ports is
/// held cannot be tapped and skips the tap lookup (most traffic). The lookup reads a bit per
/// port (8 KiB for every port, which stays in the L1 cache), not the counts.
#[derive(Debug)]
pub struct PortFilter {
    counts: Box<[u32]>,
    /// Bit `p` is set while `counts[p] > 0`.
    held: Box<[u64]>,
}

impl Default for PortFilter {
    fn default() -> Self {
        PortFilter { counts: vec![0; 1 << 16].into_boxed_slice(), held: vec![0; (1 << 16) / 64].into_boxed_slice() }
    }
}

impl PortFilter {
    pub fn hold(&mut self, port: u16) {
        if let Some(c) = self.counts.get_mut(usize::from(port)) {
            *c = c.saturating_add(1);
            self.mark(port, true);
        }
    }

    pub fn release(&mut self, port: u16) {
        if let Some(c) = self.counts.get_mut(usize::from(port)) {
            *c = c.saturating_sub(1);
            let held = *c > 0;
            self.mark(port, held);
        }
    }

    fn mark(&mut self, port: u16, held: bool) {
        let bit = 1u64 << (port % 64);
        if let Some(word) = self.held.get_mut(usize::from(port / 64)) {
            if held {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    /// Whether a packet between these ports may belong to a tapped endpoint.
    #[inline]
    pub fn may_match(&self, src_port: u16, dst_port: u16) -> bool {
        let held = |p: u16| self.held.get(usize::from(p / 64)).is_some_and(|w| w & (1u64 << (p % 64)) != 0);
        held(src_port) || held(dst_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filter_counts_holders() {
        let mut f = PortFilter::default();
        assert!(!f.may_match(4000, 5000));
        f.hold(5000);
        f.hold(5000);
        assert!(f.may_match(4000, 5000) && f.may_match(5000, 1));
        f.release(5000);
        assert!(f.may_match(4000, 5000));
        f.release(5000);
        f.release(5000);
        assert!(!f.may_match(4000, 5000));
    }

    #[test]
    fn port_filter_keeps_neighbouring_ports_apart() {
        let mut f = PortFilter::default();
        for p in [0u16, 63, 64, 65535] {
            f.hold(p);
        }
        for p in [0u16, 63, 64, 65535] {
            assert!(f.may_match(p, 1000) && f.may_match(1000, p), "port {p} held");
        }
        for p in [1u16, 62, 65, 127, 65472, 65534] {
            assert!(!f.may_match(p, 1000), "port {p} not held");
        }
        f.release(64);
        assert!(!f.may_match(64, 1000) && f.may_match(63, 1000) && f.may_match(0, 1000));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn looks_up_by_source_then_destination() {
        let mut m = MediaTable::new();
        m.insert(ip("10.0.0.1"), 4000, Tap { call: 3, side: Side::Caller });
        let got = m.lookup((ip("10.0.0.1"), 4000), (ip("10.0.0.2"), 5000));
        assert_eq!(got, Some((Tap { call: 3, side: Side::Caller }, true)));
        let got = m.lookup((ip("10.0.0.2"), 5000), (ip("10.0.0.1"), 4000));
        assert_eq!(got, Some((Tap { call: 3, side: Side::Caller }, false)));
        assert_eq!(m.lookup((ip("10.0.0.9"), 1), (ip("10.0.0.8"), 2)), None);
    }

    #[test]
    fn removal_spares_an_endpoint_taken_over_by_another_call() {
        let mut m = MediaTable::new();
        m.insert(ip("10.0.0.1"), 4000, Tap { call: 1, side: Side::Caller });
        m.insert(ip("10.0.0.1"), 4000, Tap { call: 2, side: Side::Callee });
        m.remove(ip("10.0.0.1"), 4000, 1);
        assert_eq!(m.len(), 1);
        m.remove(ip("10.0.0.1"), 4000, 2);
        assert!(m.is_empty());
    }
}
