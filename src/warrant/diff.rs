//! What an amendment changed: the keys whose values differ between two versions of a
//! warrant, for the audit trail. Target identities never appear, only how many were added
//! and removed.

use std::fmt;

use super::model::Warrant;

/// One changed key of a warrant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A key other than `targets`, with its old and new values (`-` for an absent one).
    Value { key: &'static str, old: String, new: String },
    /// The targets: how many identities were added and removed.
    Targets { added: usize, removed: usize },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Value { key, old, new } => write!(f, "{key}: {old} → {new}"),
            Change::Targets { added, removed } => write!(f, "targets: {added} added, {removed} removed"),
        }
    }
}

/// The keys changed from `old` to `new`, in warrant-file order (the LIID never changes).
pub fn changes(old: &Warrant, new: &Warrant) -> Vec<Change> {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let values: [(&'static str, String, String); 8] = [
        ("kind", old.kind.to_string(), new.kind.to_string()),
        ("agency", old.agency.clone(), new.agency.clone()),
        ("valid_from", old.valid_from.to_rfc3339(), new.valid_from.to_rfc3339()),
        ("valid_until", old.valid_until.to_rfc3339(), new.valid_until.to_rfc3339()),
        ("court_order", old.court_order.clone(), new.court_order.clone()),
        ("issuing_authority", old.issuing_authority.clone(), new.issuing_authority.clone()),
        (
            "post_cut_through_digits",
            old.post_cut_through_digits.to_string(),
            new.post_cut_through_digits.to_string(),
        ),
        ("served_by", text(&old.served_by), text(&new.served_by)),
    ];
    let mut out: Vec<Change> = Vec::new();
    for (key, before, after) in values {
        if before != after {
            out.push(Change::Value { key, old: before, new: after });
        }
        if key == "agency" {
            let added = new.targets.iter().filter(|t| !old.targets.iter().any(|o| o.identity == t.identity)).count();
            let removed = old.targets.iter().filter(|t| !new.targets.iter().any(|n| n.identity == t.identity)).count();
            if added + removed > 0 {
                out.push(Change::Targets { added, removed });
            }
        }
    }
    let (before, after) = (text(&old.provisioned_by), text(&new.provisioned_by));
    if before != after {
        out.push(Change::Value { key: "provisioned_by", old: before, new: after });
    }
    out
}

/// The changes as one audit detail: `changed: k: a → b; targets: 1 added, 0 removed`.
pub fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no key changed".into();
    }
    let parts: Vec<String> = changes.iter().map(Change::to_string).collect();
    format!("changed: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warrant::{Liid, Numbering, OrderKind, Target};
    use crate::Timestamp;

    fn warrant(targets: &[&str]) -> Warrant {
        Warrant {
            liid: Liid::new("L1").unwrap(),
            kind: OrderKind::PenRegister,
            agency: "fbi-denver".into(),
            targets: targets.iter().map(|t| Target::parse(t, &Numbering::default()).unwrap()).collect(),
            valid_from: Timestamp::from_nanos(0),
            valid_until: Timestamp::from_nanos(1_000_000_000),
            court_order: "1:26-mj-00042".into(),
            issuing_authority: "Hon. Jane Doe".into(),
            post_cut_through_digits: false,
            served_by: None,
            provisioned_by: Some("K. Osei".into()),
            source: "L1.toml".into(),
        }
    }

    #[test]
    fn changed_keys_with_values_and_target_counts_only() {
        let old = warrant(&["tel:+13035550142", "sip:alice@example.net"]);
        let mut new = warrant(&["303-555-0142", "tel:+13035550199", "sip:bob@example.net"]);
        new.valid_until = Timestamp::from_nanos(2_000_000_000);
        new.served_by = Some("SA R. Alvarez".into());
        let text = describe(&changes(&old, &new));
        assert_eq!(
            text,
            "changed: targets: 2 added, 1 removed; valid_until: 1970-01-01T00:00:01.000000Z → \
             1970-01-01T00:00:02.000000Z; served_by: - → SA R. Alvarez"
        );
        assert!(!text.contains("555") && !text.contains("alice") && !text.contains("bob"), "{text}");
        assert_eq!(describe(&changes(&old, &old)), "no key changed");
    }
}
