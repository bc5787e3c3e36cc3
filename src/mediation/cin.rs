//! Communication identity numbers: one per intercepted communication per LIID, never reused.

use std::collections::HashMap;

/// Hands out CINs per LIID. Starts from a floor so that a restarted appliance, given the
/// floor it persisted, never hands out a CIN it used before.
#[derive(Clone, Debug, Default)]
pub struct CinAllocator {
    pub(super) next: HashMap<String, u32>,
    pub(super) floor: u32,
}

impl CinAllocator {
    /// CINs start at 1 for every LIID.
    pub fn new() -> Self {
        Self::with_floor(1)
    }

    /// CINs start at `floor` for LIIDs without a recorded next value.
    pub fn with_floor(floor: u32) -> Self {
        CinAllocator { next: HashMap::new(), floor }
    }

    /// Restores the next CIN of a LIID (from persisted state).
    pub fn restore(&mut self, liid: &str, next: u32) {
        let slot = self.next.entry(liid.to_owned()).or_insert(next);
        *slot = (*slot).max(next);
    }

    /// The next CIN for `liid`. After 2^32-1 the counter wraps to the floor: TS 102 232-1
    /// bounds the CIN to 32 bits, and four billion calls on one warrant is not a real case.
    pub fn allocate(&mut self, liid: &str) -> u32 {
        let floor = self.floor;
        let slot = match self.next.get_mut(liid) {
            Some(slot) => slot,
            None => self.next.entry(liid.to_owned()).or_insert(floor),
        };
        let cin = *slot;
        *slot = slot.checked_add(1).unwrap_or(floor);
        cin
    }

    /// The next CIN of every LIID, to persist.
    pub fn snapshot(&self) -> impl Iterator<Item = (&str, u32)> {
        self.next.iter().map(|(l, n)| (l.as_str(), *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cins_rise_per_liid_independently() {
        let mut a = CinAllocator::new();
        assert_eq!(a.allocate("A"), 1);
        assert_eq!(a.allocate("A"), 2);
        assert_eq!(a.allocate("B"), 1);
        assert_eq!(a.allocate("A"), 3);
    }

    #[test]
    fn restored_state_is_never_lowered() {
        let mut a = CinAllocator::new();
        a.restore("A", 40);
        a.restore("A", 7);
        assert_eq!(a.allocate("A"), 40);
        let snap: Vec<_> = a.snapshot().collect();
        assert_eq!(snap, vec![("A", 41)]);
    }
}
