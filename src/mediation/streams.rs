//! The media streams of one call: for each party that sent SDP (the caller, and each callee
//! dialog by its tag), the endpoints of its latest offer or answer. The taps of a call are
//! exactly the union of these; a new SDP from a party replaces that party's endpoints, so
//! a moved or removed stream (new `c=`/`m=`, port 0) stops being tapped at once.

use std::net::IpAddr;

/// Who announced a set of endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Caller,
    /// The callee of the dialog with this tag (`None`: a callee SDP without To-tag).
    Callee(Option<String>),
}

pub type Endpoint = (IpAddr, u16);

/// A party's endpoints, in the order announced.
#[derive(Debug, Default)]
pub struct Streams {
    pub(super) by_owner: Vec<(Owner, Vec<Endpoint>)>,
}

/// Most owners one call tracks (bounded against hostile signalling).
pub(super) const MAX_OWNERS: usize = 34;

impl Streams {
    /// Whether `ep` is tapped for this call.
    pub fn contains(&self, ep: &Endpoint) -> bool {
        self.by_owner.iter().any(|(_, eps)| eps.contains(ep))
    }

    /// Every tapped endpoint once.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut all: Vec<Endpoint> = Vec::new();
        for (_, eps) in &self.by_owner {
            for ep in eps {
                if !all.contains(ep) {
                    all.push(*ep);
                }
            }
        }
        all
    }

    /// Replaces `owner`'s endpoints with `eps`. Returns (endpoints new to the call,
    /// endpoints no longer tapped for the call).
    pub fn set(&mut self, owner: Owner, eps: Vec<Endpoint>) -> (Vec<Endpoint>, Vec<Endpoint>) {
        let before = self.endpoints();
        match self.by_owner.iter().position(|(o, _)| *o == owner) {
            Some(i) => {
                if let Some((_, old)) = self.by_owner.get_mut(i) {
                    *old = eps;
                }
            }
            None if self.by_owner.len() < MAX_OWNERS => self.by_owner.push((owner, eps)),
            None => {}
        }
        self.diff(before)
    }

    /// Drops the endpoints of every owner `drop` selects; returns those no longer tapped.
    pub fn drop_where(&mut self, mut drop: impl FnMut(&Owner) -> bool) -> Vec<Endpoint> {
        let before = self.endpoints();
        self.by_owner.retain(|(o, _)| !drop(o));
        self.diff(before).1
    }

    /// Drops everything; returns every endpoint that was tapped.
    pub fn clear(&mut self) -> Vec<Endpoint> {
        let all = self.endpoints();
        self.by_owner.clear();
        all
    }

    fn diff(&self, before: Vec<Endpoint>) -> (Vec<Endpoint>, Vec<Endpoint>) {
        let after = self.endpoints();
        let added = after.iter().filter(|e| !before.contains(e)).copied().collect();
        let removed = before.into_iter().filter(|e| !after.contains(e)).collect();
        (added, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16) -> Endpoint {
        ("10.0.0.1".parse().unwrap(), port)
    }

    #[test]
    fn a_new_offer_replaces_the_party_endpoints() {
        let mut s = Streams::default();
        assert_eq!(s.set(Owner::Caller, vec![ep(4000), ep(4001)]), (vec![ep(4000), ep(4001)], vec![]));
        assert_eq!(s.set(Owner::Callee(Some("b".into())), vec![ep(5000)]), (vec![ep(5000)], vec![]));
        // the caller moves its stream; the callee keeps its own
        assert_eq!(s.set(Owner::Caller, vec![ep(4100), ep(4101)]), (vec![ep(4100), ep(4101)], vec![ep(4000), ep(4001)]));
        assert!(s.contains(&ep(5000)) && !s.contains(&ep(4000)));
        // port 0 (no endpoints) removes the stream
        assert_eq!(s.set(Owner::Caller, vec![]), (vec![], vec![ep(4100), ep(4101)]));
    }

    #[test]
    fn an_endpoint_shared_by_two_owners_stays_until_both_drop_it() {
        let mut s = Streams::default();
        s.set(Owner::Callee(Some("1".into())), vec![ep(6000)]);
        s.set(Owner::Callee(Some("2".into())), vec![ep(6000)]);
        assert!(s.drop_where(|o| *o == Owner::Callee(Some("1".into()))).is_empty());
        assert_eq!(s.drop_where(|_| true), vec![ep(6000)]);
        assert!(s.clear().is_empty());
    }
}
