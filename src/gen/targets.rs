//! Which generated calls are under warrant: an exact share of the calls, each given a target
//! number from a pool untargeted calls never use, in a party the target's order covers.

use super::call::{CallSpec, Outcome};
use super::rng::Rng;
use crate::warrant::{OrderKind, Profile};

/// Area codes of every generated number.
pub const AREA_CODES: [&str; 4] = ["303", "720", "212", "415"];
/// Line numbers (after `555`) of subscribers never under warrant.
pub const SUBSCRIBER_LINES: (u64, u64) = (1_000, 9_999);
/// First line number of the target pool `555-0100 ..= 555-0995`.
const FIRST_TARGET_LINE: u64 = 100;
/// Target numbers the pool holds: 112 blocks of 8 lines in each of the 4 area codes.
pub const MAX_TARGETS: u64 = 112 * 8 * 4;
/// Each warrant's target is in about this many targeted calls (fewer when there are few).
const CALLS_PER_TARGET: u64 = 3;
/// Warrants of a set with enough targeted calls: each kind under both agencies.
const MIN_TARGETS: u64 = 8;

/// A party of a generated call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Party {
    Caller,
    Callee,
    /// The party a 3xx or a Diversion forwards the call to.
    ForwardedTo,
}

/// One target number and the order that names it; the `index`-th warrant of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetSlot {
    pub index: u64,
}

impl TargetSlot {
    /// Kinds rotate fastest, then the agency, so any 8 consecutive slots hold every kind under
    /// both profiles.
    pub fn kind(self) -> OrderKind {
        OrderKind::ALL[(self.index % 4) as usize]
    }

    pub fn profile(self) -> Profile {
        if (self.index / 4).is_multiple_of(2) {
            Profile::Etsi
        } else {
            Profile::Laes
        }
    }

    /// E.164 number in the reserved pool `+1AAA555LLLL`, `LLLL` in 0100..=0995.
    pub fn number(self) -> String {
        let area = AREA_CODES[((self.index / 8) % 4) as usize];
        let line = FIRST_TARGET_LINE + self.index % 8 + 8 * (self.index / 32);
        format!("+1{area}555{line:04}")
    }

    /// The target as the warrant names it: mostly `tel:`, every fifth as the carrier's SIP URI.
    pub fn uri(self) -> String {
        if self.index % 5 == 3 {
            format!("sip:{}@carrier.example;user=phone", self.number())
        } else {
            format!("tel:{}", self.number())
        }
    }

    /// Post-cut-through digits on every third pen register and pen/trap order.
    pub fn post_cut_through_digits(self) -> bool {
        matches!(self.kind(), OrderKind::PenRegister | OrderKind::PenTrap)
            && self.index.is_multiple_of(3)
    }

    /// `GEN-PR-0000`, `GEN-TT-0001`, `GEN-PT-0002`, `GEN-T3-0003`, ...
    pub fn liid(self) -> String {
        let code = match self.kind() {
            OrderKind::PenRegister => "PR",
            OrderKind::TrapAndTrace => "TT",
            OrderKind::PenTrap => "PT",
            OrderKind::TitleIii => "T3",
        };
        format!("GEN-{code}-{:04}", self.index)
    }
}

/// A call under warrant: which target, in which party, and how many dialogs (Call-IDs) of
/// the call name the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetedCall {
    pub slot: TargetSlot,
    pub party: Party,
    /// 2 for a 3xx-redirected call from a target caller (the redirect retry is a second
    /// dialog from the same caller), else 1.
    pub dialogs: u64,
}

/// The targeting of a whole run: call `i` is targeted when `floor((i+1)p/100)` exceeds
/// `floor(ip/100)`, so exactly `floor(calls * p / 100)` calls are, evenly spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPlan {
    share: u64,
    targeted: u64,
    slots: u64,
}

impl TargetPlan {
    /// `share_percent` above 100 counts as 100.
    pub fn new(calls: u64, share_percent: u8) -> Self {
        let share = u64::from(share_percent.min(100));
        let targeted = ((u128::from(calls) * u128::from(share)) / 100) as u64;
        let slots = targeted
            .div_ceil(CALLS_PER_TARGET)
            .max(MIN_TARGETS)
            .min(targeted)
            .min(MAX_TARGETS);
        TargetPlan {
            share,
            targeted,
            slots,
        }
    }

    /// Calls under warrant.
    pub fn targeted_calls(&self) -> u64 {
        self.targeted
    }

    /// Target numbers, one warrant each.
    pub fn slots(&self) -> impl Iterator<Item = TargetSlot> {
        (0..self.slots).map(|index| TargetSlot { index })
    }

    /// The target slot of call `index`, when it is targeted.
    pub fn slot_of(&self, index: u64) -> Option<TargetSlot> {
        let before = (u128::from(index) * u128::from(self.share)) / 100;
        let after = ((u128::from(index) + 1) * u128::from(self.share)) / 100;
        if after == before || self.slots == 0 {
            return None;
        }
        let ordinal = before as u64;
        Some(TargetSlot {
            index: ordinal % self.slots,
        })
    }

    /// Puts the target of call `index` (if any) into a party its order covers: a pen
    /// register the caller, a trap and trace the callee or forwarded-to party, the others
    /// any party. A target caller is always identifiable (never fully anonymous).
    pub fn apply(&self, index: u64, spec: &mut CallSpec, rng: &mut Rng) -> Option<TargetedCall> {
        let slot = self.slot_of(index)?;
        let forwarded = match &spec.outcome {
            Outcome::ForwardedBy3xx { .. } => Some(true),
            Outcome::ForwardedDiversion { .. } => Some(false),
            _ => None,
        };
        let mut parties: Vec<Party> = Vec::with_capacity(3);
        if slot.kind().outgoing_cii() {
            parties.push(Party::Caller);
        }
        if slot.kind().incoming_cii() {
            parties.push(Party::Callee);
            if forwarded.is_some() {
                parties.push(Party::ForwardedTo);
            }
        }
        let pick = rng.between(0, parties.len() as u64 - 1) as usize;
        let party = parties.get(pick).copied().unwrap_or(Party::Caller);
        let number = slot.number();
        match party {
            Party::Caller => {
                spec.caller = number;
                spec.caller_anonymous_unavailable = false;
            }
            Party::Callee => spec.callee = number,
            Party::ForwardedTo => match &mut spec.outcome {
                Outcome::ForwardedBy3xx { to, .. } | Outcome::ForwardedDiversion { to, .. } => {
                    *to = number;
                }
                _ => {}
            },
        }
        let dialogs = if party == Party::Caller && forwarded == Some(true) {
            2
        } else {
            1
        };
        Some(TargetedCall {
            slot,
            party,
            dialogs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn share_is_exact_and_spread() {
        let plan = TargetPlan::new(1_000, 10);
        let hits: Vec<u64> = (0..1_000).filter(|&i| plan.slot_of(i).is_some()).collect();
        assert_eq!(hits.len(), 100);
        assert_eq!(plan.targeted_calls(), 100);
        assert!(hits.windows(2).all(|w| w[1] - w[0] == 10));
        assert_eq!(TargetPlan::new(7, 0).slot_of(3), None);
        assert_eq!(
            (0..7)
                .filter(|&i| TargetPlan::new(7, 200).slot_of(i).is_some())
                .count(),
            7
        );
        assert_eq!(TargetPlan::new(333, 15).targeted_calls(), 49);
    }

    #[test]
    fn slot_count_follows_targeted_calls() {
        assert_eq!(TargetPlan::new(1_000, 10).slots().count(), 34);
        assert_eq!(TargetPlan::new(100, 10).slots().count(), 8);
        assert_eq!(TargetPlan::new(50, 10).slots().count(), 5);
        assert_eq!(
            TargetPlan::new(10_000_000, 50).slots().count() as u64,
            MAX_TARGETS
        );
    }

    #[test]
    fn target_numbers_are_distinct_and_outside_the_subscriber_pool() {
        let mut seen = HashSet::new();
        for index in 0..MAX_TARGETS {
            let number = TargetSlot { index }.number();
            assert_eq!(number.len(), 12, "{number}");
            let line: u64 = number[8..].parse().unwrap();
            assert!((100..SUBSCRIBER_LINES.0).contains(&line), "{number}");
            assert!(seen.insert(number));
        }
        assert_eq!(TargetSlot { index: 0 }.number(), "+13035550100");
        assert_eq!(TargetSlot { index: 9 }.number(), "+17205550101");
        assert_eq!(
            TargetSlot { index: 3 }.uri(),
            "sip:+13035550103@carrier.example;user=phone"
        );
        assert_eq!(TargetSlot { index: 4 }.uri(), "tel:+13035550104");
    }

    #[test]
    fn eight_slots_cover_every_kind_under_both_profiles() {
        let pairs: HashSet<_> = (0..8)
            .map(|index| {
                let s = TargetSlot { index };
                (s.kind(), s.profile())
            })
            .collect();
        assert_eq!(pairs.len(), 8);
        assert_eq!(TargetSlot { index: 7 }.liid(), "GEN-T3-0007");
    }
}
