//! The keys of a warrant file and the type of each: a parsed file checked against them,
//! every unknown (with the closest known key), missing and mistyped key reported at once.

use std::path::Path;

use super::error::WarrantError;

/// The type a key's value must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    Text,
    TextList,
    Datetime,
    Bool,
}

/// One key of a file.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
}

const fn key(name: &'static str, shape: Shape, required: bool) -> Key {
    Key { name, shape, required }
}

/// The keys of a warrant file, all top-level, in the order they are documented.
pub(super) const WARRANT: &[Key] = &[
    key("liid", Shape::Text, true),
    key("kind", Shape::Text, true),
    key("agency", Shape::Text, true),
    key("targets", Shape::TextList, true),
    key("valid_from", Shape::Datetime, true),
    key("valid_until", Shape::Datetime, true),
    key("court_order", Shape::Text, true),
    key("issuing_authority", Shape::Text, true),
    key("post_cut_through_digits", Shape::Bool, false),
    key("served_by", Shape::Text, false),
    key("provisioned_by", Shape::Text, false),
];

/// The names of the required keys of `schema`.
pub(super) fn required(schema: &[Key]) -> Vec<&'static str> {
    schema.iter().filter(|k| k.required).map(|k| k.name).collect()
}

/// The TOML text as a table; a syntax error (also a key given twice) is the only error.
pub(super) fn table(file: &Path, text: &str, schema: &[Key]) -> Result<toml::Table, WarrantError> {
    text.parse::<toml::Table>().map_err(|e| WarrantError::from_toml(file, text, &e, &required(schema)))
}

/// Every structural error of `table` against `schema`, in file order of the keys; the keys
/// found wrong are removed from `table` so the rest can still be checked.
pub(super) fn check(file: &Path, table: &mut toml::Table, schema: &[Key]) -> Vec<WarrantError> {
    let mut errors = Vec::new();
    let mut wrong = Vec::new();
    for (name, value) in table.iter() {
        let reason = match schema.iter().find(|k| k.name == name) {
            None => Some(unknown_key(name, schema)),
            Some(k) => wrong_shape(k.shape, value),
        };
        if let Some(reason) = reason {
            errors.push(WarrantError::new(file, Some(name), reason));
            wrong.push(name.clone());
        }
    }
    for name in wrong {
        table.remove(&name);
    }
    for k in schema.iter().filter(|k| k.required && !table.contains_key(k.name)) {
        if !errors.iter().any(|e| e.key.as_deref() == Some(k.name)) {
            errors.push(WarrantError::new(file, Some(k.name), "missing required key"));
        }
    }
    errors
}

/// `unknown key, did you mean `agency`?` or the list of the keys.
fn unknown_key(name: &str, schema: &[Key]) -> String {
    match closest(name, schema.iter().map(|k| k.name)) {
        Some(near) => format!("unknown key, did you mean `{near}`?"),
        None => {
            let names: Vec<String> = schema.iter().map(|k| format!("`{}`", k.name)).collect();
            format!("unknown key; expected one of {}", names.join(", "))
        }
    }
}

/// The candidate nearest to `name` by edit distance (ignoring case), if near enough to be a
/// slip: at most 2 edits, and fewer than half the name's length.
pub(super) fn closest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let name = name.to_ascii_lowercase();
    let limit = 2.min(name.chars().count().saturating_sub(1) / 2).max(usize::from(!name.is_empty()));
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Why `value` does not have `shape`, without the value (it may be a target).
fn wrong_shape(shape: Shape, value: &toml::Value) -> Option<String> {
    let expected = match shape {
        Shape::Text => "a string",
        Shape::TextList => "an array",
        Shape::Datetime => "an unquoted offset datetime such as 2026-11-01T00:00:00Z",
        Shape::Bool => "a boolean",
    };
    let fits = match (shape, value) {
        (Shape::Text, toml::Value::String(_))
        | (Shape::Datetime, toml::Value::Datetime(_))
        | (Shape::Bool, toml::Value::Boolean(_)) => true,
        (Shape::TextList, toml::Value::Array(items)) => {
            return items.iter().find(|v| !v.is_str()).map(|v| format!("wrong type: expected a string, found {}", a(v)));
        }
        _ => false,
    };
    (!fits).then(|| format!("wrong type: expected {expected}, found {}", a(value)))
}

/// `a string`, `an integer`, … for the type of `value`.
fn a(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_get_the_closest_key() {
        let names = WARRANT.iter().map(|k| k.name);
        assert_eq!(closest("agncy", names.clone()), Some("agency"));
        assert_eq!(closest("valid_untill", names.clone()), Some("valid_until"));
        assert_eq!(closest("Target", names.clone()), Some("targets"));
        assert_eq!(closest("targts", names.clone()), Some("targets"));
        assert_eq!(closest("LIID", names.clone()), Some("liid"));
        assert_eq!(closest("judge", names.clone()), None);
        assert_eq!(closest("id", names), None);
    }

    #[test]
    fn every_structural_error_at_once() {
        let text = "liid = 7\nkind = \"pen-register\"\nagncy = \"fbi-denver\"\ntargets = [\"tel:+13035550142\", 5]\n\
                    valid_from = \"2026-01-01\"\nvalid_until = 2027-01-01T00:00:00Z\ncourt_order = \"c\"\n\
                    post_cut_through_digits = \"no\"\n";
        let file = Path::new("w.toml");
        let mut t = table(file, text, WARRANT).unwrap();
        let got: Vec<(Option<String>, String)> =
            check(file, &mut t, WARRANT).into_iter().map(|e| (e.key, e.reason)).collect();
        let key = |k: &str| Some(k.to_owned());
        assert_eq!(
            got,
            [
                (key("agncy"), "unknown key, did you mean `agency`?".to_owned()),
                (key("liid"), "wrong type: expected a string, found an integer".into()),
                (key("post_cut_through_digits"), "wrong type: expected a boolean, found a string".into()),
                (key("targets"), "wrong type: expected a string, found an integer".into()),
                (
                    key("valid_from"),
                    "wrong type: expected an unquoted offset datetime such as 2026-11-01T00:00:00Z, found a string".into()
                ),
                (key("agency"), "missing required key".into()),
                (key("issuing_authority"), "missing required key".into()),
            ]
        );
        assert_eq!(t.keys().map(String::as_str).collect::<Vec<_>>(), ["court_order", "kind", "valid_until"]);
    }
}
