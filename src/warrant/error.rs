//! Warrant-store validation errors (file, key, reason) and the mapping of the `toml`
//! crate's serde messages onto them, without echoing values (targets are secrets).

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a warrant or agencies file.
/// Displays as `FILE: key `KEY`: REASON` (or `FILE: REASON` when no key applies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{}", .file.display(), KeyLabel(.key.as_deref()), .reason)]
pub struct WarrantError {
    pub file: PathBuf,
    /// The key, dotted for nested tables: `appliance.country`, `agency[2].hi2` (counting
    /// `[[agency]]` tables from 1).
    pub key: Option<String>,
    pub reason: String,
}

struct KeyLabel<'a>(Option<&'a str>);

impl fmt::Display for KeyLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, "key `{key}`: "),
            None => Ok(()),
        }
    }
}

impl WarrantError {
    pub fn new(file: &Path, key: Option<&str>, reason: impl Into<String>) -> WarrantError {
        WarrantError {
            file: file.to_path_buf(),
            key: key.map(str::to_owned),
            reason: reason.into(),
        }
    }

    /// Maps a `toml` deserialisation error of `text` (read from `file`) to file/key/reason.
    /// `root_keys` are the top-level keys of the schema: a missing one is reported unqualified
    /// (its span, the whole document, may start at a table header).
    pub(crate) fn from_toml(
        file: &Path,
        text: &str,
        err: &toml::de::Error,
        root_keys: &[&str],
    ) -> WarrantError {
        let msg = err.message();
        let start = err.span().map(|s| s.start);
        let table = start.and_then(|pos| enclosing_table(text, pos));
        let qualify = |key: &str| match &table {
            Some(t) => format!("{t}.{key}"),
            None => key.to_owned(),
        };
        let (key, reason) = if let Some(name) = backticked_after(msg, "unknown field `") {
            let reason = match msg.split_once(", expected ") {
                Some((_, expected)) => format!("unknown key; expected {expected}"),
                None => "unknown key".to_owned(),
            };
            (Some(qualify(name)), reason)
        } else if let Some(name) = backticked_after(msg, "missing field `") {
            let key = if root_keys.contains(&name) {
                name.to_owned()
            } else {
                qualify(name)
            };
            (Some(key), "missing required key".to_owned())
        } else if let Some(name) = backticked_after(msg, "duplicate key `") {
            (Some(qualify(name)), "key given more than once".to_owned())
        } else if let Some(rest) = msg.strip_prefix("invalid type: ") {
            let key = start.and_then(|pos| key_of_value(text, pos));
            (key.map(|k| qualify(&k)), wrong_type(rest))
        } else if let Some(rest) = msg.strip_prefix("invalid value: ") {
            let key = start.and_then(|pos| key_of_value(text, pos));
            let expected = rest.rsplit_once(", expected ").map_or(rest, |(_, e)| e);
            (
                key.map(|k| qualify(&k)),
                format!("invalid value; expected {expected}"),
            )
        } else {
            let detail = msg.trim().replace('\n', "; ");
            let reason = match start {
                Some(pos) => {
                    let (line, column) = line_column(text, pos);
                    format!("TOML syntax error at line {line}, column {column}: {detail}")
                }
                None => format!("TOML syntax error: {detail}"),
            };
            (None, reason)
        };
        WarrantError {
            file: file.to_path_buf(),
            key,
            reason,
        }
    }
}

/// The name between backticks after `prefix` at the start of `msg`.
fn backticked_after<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    msg.strip_prefix(prefix)?.split('`').next()
}

/// `string "…", expected a sequence` → `wrong type: expected an array, found a string`.
/// The found value itself is dropped: it may be a target.
fn wrong_type(rest: &str) -> String {
    let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, "?"));
    let found = found.split([' ', '"', '`']).next().unwrap_or(found);
    let found = match found {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "a table",
        other => other,
    };
    let expected = match expected {
        "a sequence" => "an array".to_owned(),
        "a TOML datetime" => "an unquoted offset datetime such as 2026-11-01T00:00:00Z".to_owned(),
        e if e.starts_with("struct ") => "a table".to_owned(),
        e => e.to_owned(),
    };
    format!("wrong type: expected {expected}, found {found}")
}

fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Lines of `text` with their byte offsets, up to and including the line holding `pos`.
fn lines_upto(text: &str, pos: usize) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split_inclusive('\n')
        .map(move |line| {
            let start = offset;
            offset += line.len();
            (start, line)
        })
        .take_while(move |(start, _)| *start <= pos)
}

/// A line that is a table header: `[name]` or `[[name]]`, maybe followed by a comment.
fn header_name(line: &str) -> Option<(&str, bool)> {
    let line = line.split('#').next().unwrap_or("").trim();
    if let Some(inner) = line.strip_prefix("[[") {
        return Some((inner.strip_suffix("]]")?.trim(), true));
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
    let bare = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    bare.then_some((inner, false))
}

/// The table holding the item at byte `pos`: `appliance`, `agency[2]`, or `None` for the root.
/// A header line counts only when `pos` is at its opening bracket (errors about the table
/// itself); a position inside a header's name belongs to the parent.
fn enclosing_table(text: &str, pos: usize) -> Option<String> {
    let mut current: Option<(usize, &str, bool)> = None;
    let mut array_counts: Vec<(&str, usize)> = Vec::new();
    for (start, line) in lines_upto(text, pos) {
        let Some((name, is_array)) = header_name(line) else {
            continue;
        };
        let bracket = start + (line.len() - line.trim_start().len());
        if bracket != pos && start + line.len() > pos {
            break;
        }
        let index = if is_array {
            match array_counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    array_counts.push((name, 1));
                    1
                }
            }
        } else {
            0
        };
        current = Some((index, name, is_array));
    }
    current.map(|(index, name, is_array)| {
        if is_array {
            format!("{name}[{index}]")
        } else {
            name.to_owned()
        }
    })
}

fn is_bare_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `key = …` at the start of a line.
fn leading_key(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let end = line.bytes().position(|b| !is_bare_key_byte(b))?;
    let (key, rest) = line.split_at(end);
    (!key.is_empty() && rest.trim_start().starts_with('=')).then_some(key)
}

/// The key whose value (or an element of it) starts at byte `pos`.
fn key_of_value(text: &str, pos: usize) -> Option<String> {
    let line_start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
    let prefix = text.get(line_start..pos)?;
    // Directly after `key =`, also inside an inline table: `{id = "a", port = `.
    if let Some(before_eq) = prefix.trim_end().strip_suffix('=') {
        let before_eq = before_eq.trim_end();
        let start = before_eq
            .bytes()
            .rposition(|b| !is_bare_key_byte(b))
            .map_or(0, |i| i + 1);
        let key = before_eq.get(start..)?;
        return (!key.is_empty()).then(|| key.to_owned());
    }
    // An element of an array that may span lines: the nearest `key =` line above.
    let mut lines: Vec<(usize, &str)> = lines_upto(text, pos).collect();
    if let Some(last) = lines.last_mut() {
        last.1 = prefix;
    }
    for (_, line) in lines.iter().rev() {
        if let Some(key) = leading_key(line) {
            return Some(key.to_owned());
        }
        if header_name(line).is_some() {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields exist to be deserialised
    struct Doc {
        name: String,
        list: Vec<String>,
        flag: Option<bool>,
        when: Option<toml::value::Datetime>,
        #[serde(default)]
        item: Vec<Item>,
        section: Option<Section>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        port: u16,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        code: String,
    }

    fn mapped(text: &str) -> (Option<String>, String) {
        let err = toml::from_str::<Doc>(text).expect_err("test document must be invalid");
        let e = WarrantError::from_toml(Path::new("f.toml"), text, &err, &["name", "list"]);
        (e.key, e.reason)
    }

    const BASE: &str = "name = \"n\"\nlist = [\"a\"]\n";

    #[test]
    fn unknown_missing_and_duplicate_keys() {
        let (key, reason) = mapped(&format!("{BASE}colour = 1\n"));
        assert_eq!(key.as_deref(), Some("colour"));
        assert!(
            reason.starts_with("unknown key; expected one of `name`"),
            "{reason}"
        );
        assert_eq!(
            mapped("list = []\n"),
            (Some("name".into()), "missing required key".into())
        );
        let (key, reason) = mapped(&format!("{BASE}name = \"m\"\n"));
        assert_eq!(
            (key.as_deref(), reason.as_str()),
            (Some("name"), "key given more than once")
        );
    }

    #[test]
    fn wrong_types_name_the_key_but_not_the_value() {
        let (key, reason) = mapped("name = \"n\"\nlist = \"tel:+13035550142\"\n");
        assert_eq!(key.as_deref(), Some("list"));
        assert_eq!(reason, "wrong type: expected an array, found a string");
        let (key, reason) = mapped("name = \"n\"\nlist = [\n  \"a\",\n  7,\n]\n");
        assert_eq!(key.as_deref(), Some("list"));
        assert_eq!(reason, "wrong type: expected a string, found an integer");
        let (key, reason) = mapped(&format!("{BASE}when = \"2026-01-01T00:00:00Z\"\n"));
        assert_eq!(key.as_deref(), Some("when"));
        assert!(reason.contains("unquoted offset datetime"), "{reason}");
        let (key, reason) = mapped(&format!("{BASE}flag = \"yes\"\n"));
        assert_eq!(
            (key.as_deref(), reason.as_str()),
            (
                Some("flag"),
                "wrong type: expected a boolean, found a string"
            )
        );
    }

    #[test]
    fn nested_tables_are_qualified() {
        let items = "[[item]]\nid = \"a\"\nport = 1\n[[item]]\nid = \"b\"\n";
        assert_eq!(
            mapped(&format!("{BASE}{items}")),
            (Some("item[2].port".into()), "missing required key".into())
        );
        let (key, reason) = mapped(&format!("{BASE}{items}port = 70000\n"));
        assert_eq!(key.as_deref(), Some("item[2].port"));
        assert_eq!(reason, "invalid value; expected u16");
        let (key, _) = mapped(&format!("{BASE}[section]\ncode = \"x\"\nextra = 1\n"));
        assert_eq!(key.as_deref(), Some("section.extra"));
        let (key, _) = mapped(&format!("{BASE}[section] # comment\ncode = 5\n"));
        assert_eq!(key.as_deref(), Some("section.code"));
        let (key, _) = mapped(&format!("{BASE}[sectoin]\ncode = \"x\"\n"));
        assert_eq!(key.as_deref(), Some("sectoin"));
        let (key, _) = mapped(&format!("{BASE}item = [{{id = \"a\", port = \"x\"}}]\n"));
        assert_eq!(key.as_deref(), Some("port"));
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let (key, reason) = mapped("name = \"n\"\nlist = [\"a\"\nflag = \n");
        assert_eq!(key, None);
        assert!(
            reason.starts_with("TOML syntax error at line 3, column"),
            "{reason}"
        );
    }

    #[test]
    fn display_includes_file_key_and_reason() {
        let e = WarrantError::new(Path::new("w/a.toml"), Some("kind"), "unknown kind");
        assert_eq!(e.to_string(), "w/a.toml: key `kind`: unknown kind");
        let e = WarrantError::new(Path::new("w/a.toml"), None, "cannot read");
        assert_eq!(e.to_string(), "w/a.toml: cannot read");
    }
}
