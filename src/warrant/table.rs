//! The active warrant table: an immutable snapshot mapping each target identity to the
//! warrants naming it, consulted per SIP message; swapped whole when warrants change.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::identity::{from_uri, Identity, Numbering};
use super::model::Warrant;
use crate::Timestamp;

/// Warrants by target identity. SipHash (the std default) because keys come from the wire.
#[derive(Clone, Default)]
pub struct WarrantTable {
    by_target: HashMap<Identity, Vec<Arc<Warrant>>>,
    warrants: Vec<Arc<Warrant>>,
    /// How wire URIs key to identities; the same the targets were parsed with.
    numbering: Numbering,
}

impl WarrantTable {
    /// A table under no number domains: only `+…`, `;user=phone` and `tel:` are numbers.
    /// The appliance builds its tables with [`Self::with_numbering`] from `agencies.toml`.
    pub fn new(warrants: impl IntoIterator<Item = Warrant>) -> Self {
        Self::with_numbering(warrants, Numbering::default())
    }

    /// A table whose targets were parsed under `numbering` (the store's
    /// `appliance.numbering`), keying wire URIs the same way.
    pub fn with_numbering(warrants: impl IntoIterator<Item = Warrant>, numbering: Numbering) -> Self {
        let warrants: Vec<Arc<Warrant>> = warrants.into_iter().map(Arc::new).collect();
        let mut by_target: HashMap<Identity, Vec<Arc<Warrant>>> = HashMap::new();
        for warrant in &warrants {
            for target in &warrant.targets {
                let list = by_target.entry(target.identity.clone()).or_default();
                // One warrant naming the same identity twice is listed once.
                if !list.iter().any(|w| Arc::ptr_eq(w, warrant)) {
                    list.push(Arc::clone(warrant));
                }
            }
        }
        WarrantTable {
            by_target,
            warrants,
            numbering,
        }
    }

    /// The carrier's numbering the table is keyed under.
    pub fn numbering(&self) -> &Numbering {
        &self.numbering
    }

    /// The identity of a party URI seen on the wire, keyed as the targets are
    /// ([`from_uri`] under [`Self::numbering`]).
    pub fn identity(&self, uri: &str) -> Option<Identity> {
        from_uri(uri, &self.numbering)
    }

    /// Warrants naming `id` as a target that are active at `ts` (packet time).
    pub fn matching<'t>(
        &'t self,
        id: &Identity,
        ts: Timestamp,
    ) -> impl Iterator<Item = &'t Arc<Warrant>> + 't {
        self.by_target
            .get(id)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter(move |w| w.is_active(ts))
    }

    /// Every warrant in the snapshot, active or not, in the order given to [`Self::new`].
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Warrant>> {
        self.warrants.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.warrants.is_empty()
    }

    pub fn len(&self) -> usize {
        self.warrants.len()
    }
}

impl fmt::Debug for WarrantTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarrantTable")
            .field("warrants", &self.warrants.len())
            .field("identities", &self.by_target.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warrant::identity::Numbering;
    use crate::warrant::model::{Liid, OrderKind, Target};
    use std::path::PathBuf;

    const SEC: u64 = 1_000_000_000;

    fn warrant(liid: &str, kind: OrderKind, targets: &[&str], from: u64, until: u64) -> Warrant {
        Warrant {
            liid: Liid::new(liid).unwrap(),
            kind,
            agency: "fbi-denver".into(),
            targets: targets.iter().map(|t| Target::parse(t, &Numbering::default()).unwrap()).collect(),
            valid_from: Timestamp::from_nanos(from * SEC),
            valid_until: Timestamp::from_nanos(until * SEC),
            court_order: "1:26-mj-00042".into(),
            issuing_authority: "Hon. Jane Doe".into(),
            post_cut_through_digits: false,
            served_by: None,
            provisioned_by: None,
            source: PathBuf::from(format!("{liid}.toml")),
        }
    }

    fn liids(table: &WarrantTable, uri: &str, secs: u64) -> Vec<String> {
        let id = table.identity(uri).unwrap();
        table
            .matching(&id, Timestamp::from_nanos(secs * SEC))
            .map(|w| w.liid.to_string())
            .collect()
    }

    fn table() -> WarrantTable {
        WarrantTable::new([
            warrant(
                "DEN-1",
                OrderKind::PenRegister,
                &["tel:+13035550142"],
                100,
                200,
            ),
            warrant(
                "PHX-1",
                OrderKind::TitleIii,
                &["3035550142", "sip:alice@example.net"],
                150,
                300,
            ),
            // Two spellings of one number in one warrant: listed once.
            warrant(
                "DUP-1",
                OrderKind::PenTrap,
                &["tel:+13035550199", "303-555-0199"],
                0,
                10,
            ),
        ])
    }

    #[test]
    fn matches_every_active_warrant_on_a_target() {
        let t = table();
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
        let caller = "<sip:+1-303-555-0142@carrier.net;user=phone>";
        assert_eq!(liids(&t, caller, 99), Vec::<String>::new());
        assert_eq!(liids(&t, caller, 100), ["DEN-1"]);
        assert_eq!(liids(&t, caller, 150), ["DEN-1", "PHX-1"]);
        assert_eq!(liids(&t, caller, 200), ["PHX-1"]);
        assert_eq!(liids(&t, caller, 300), Vec::<String>::new());
        assert_eq!(liids(&t, "sip:alice@EXAMPLE.net:5060", 160), ["PHX-1"]);
        assert_eq!(liids(&t, "sip:bob@example.net", 160), Vec::<String>::new());
        assert_eq!(liids(&t, "tel:+13035550199", 5), ["DUP-1"]);
    }

    #[test]
    fn warrants_share_one_allocation() {
        let t = table();
        let id = t.identity("tel:+13035550142").unwrap();
        let via_match = t
            .matching(&id, Timestamp::from_nanos(150 * SEC))
            .next()
            .unwrap();
        let via_iter = t.iter().next().unwrap();
        assert!(Arc::ptr_eq(via_match, via_iter));
    }

    #[test]
    fn empty_table() {
        let t = WarrantTable::new([]);
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(liids(&t, "tel:+13035550142", 1), Vec::<String>::new());
        assert_eq!(
            format!("{t:?}"),
            "WarrantTable { warrants: 0, identities: 0 }"
        );
    }
}
