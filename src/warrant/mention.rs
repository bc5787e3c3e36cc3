//! Whether free text (a revocation reason, a note) names a target of a warrant, so the text
//! can be refused before it reaches the audit trail or a log. Errs on the side of refusing.

use super::identity::{is_separator, normalise_number, parse_target, Identity, Numbering};
use super::model::Target;

/// Fewest digits of a run in the text compared with a target number (shorter runs are
/// dates, counts and court-order numbers).
const MIN_DIGITS: usize = 7;

/// True when `text` names one of `targets`: a target as written in the warrant or its
/// `user@host` (any case), a URI keying to a target identity under `numbering`, or a run of at least
/// seven digits (separators `-.() +` allowed) found inside a target number.
pub fn names_a_target(text: &str, targets: &[Target], numbering: &Numbering) -> bool {
    let lower = text.to_lowercase();
    if targets.iter().any(|t| !t.raw.is_empty() && lower.contains(&t.raw.to_lowercase())) {
        return true;
    }
    let identities: Vec<&Identity> = targets.iter().map(|t| &t.identity).collect();
    let addresses = identities.iter().filter_map(|i| match i {
        Identity::Sip { user, host } => Some(format!("{user}@{host}").to_lowercase()),
        Identity::Tel(_) => None,
    });
    if addresses.into_iter().any(|a| lower.contains(&a)) {
        return true;
    }
    let numbers: Vec<&str> = identities
        .iter()
        .filter_map(|i| match i {
            Identity::Tel(digits) => Some(digits.as_str()),
            Identity::Sip { .. } => None,
        })
        .collect();
    if digit_runs(text).iter().any(|run| names_a_number(run, &numbers)) {
        return true;
    }
    tokens(text).any(|token| {
        let as_sip = (token.contains('@') && !token.contains(':')).then(|| format!("sip:{token}"));
        [Some(token.to_owned()), as_sip]
            .into_iter()
            .flatten()
            .filter_map(|t| parse_target(&t, numbering).ok())
            .any(|id| identities.contains(&&id))
    })
}

/// A run of digits (with separators) is a target number, or a long enough piece of one.
fn names_a_number(run: &str, numbers: &[&str]) -> bool {
    let digits: String = run.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < MIN_DIGITS {
        return false;
    }
    let normalised = normalise_number(run.trim());
    numbers.iter().any(|n| n.contains(digits.as_str()) || normalised.as_deref() == Some(n))
}

/// Runs of digits, `+` and number separators, each holding at least one digit.
fn digit_runs(text: &str) -> Vec<&str> {
    let in_run = |c: char| c.is_ascii_digit() || c == '+' || is_separator(c);
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), '\0'))) {
        match (start, in_run(c) && i < text.len()) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let run = text.get(s..i).unwrap_or("");
                if run.bytes().any(|b| b.is_ascii_digit()) {
                    runs.push(run);
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Words of the text that may be URIs: split at white space and quoting punctuation.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '(' | ')' | '[' | ']'))
        .map(|t| t.trim_end_matches(['.', '!', '?']))
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<Target> {
        let n = Numbering::default();
        vec![Target::parse("tel:+13035550142", &n).unwrap(), Target::parse("sip:alice@example.net", &n).unwrap()]
    }

    fn named(text: &str) -> bool {
        names_a_target(text, &targets(), &Numbering::default())
    }

    #[test]
    fn every_spelling_of_a_target_is_found() {
        for text in [
            "revoked after tel:+13035550142 ported out",
            "number (303) 555-0142 ported",
            "303.555.0142",
            "+1 303 555 0142 gone",
            "5550142 moved",
            "user ALICE@example.net left",
            "<sip:alice@EXAMPLE.NET>",
            "sip:+13035550142@carrier.net;user=phone",
        ] {
            assert!(named(text), "not found in {text:?}");
        }
    }

    #[test]
    fn other_text_passes() {
        for text in [
            "court order 1:26-mj-00042 vacated on 2026-12-01",
            "order withdrawn by the agency",
            "bob@example.net is not a target",
            "number 720-555-0199 is not a target",
            "",
        ] {
            assert!(!named(text), "refused {text:?}");
        }
    }
}
