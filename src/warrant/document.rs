//! A warrant file as the JSON document the provisioning API takes: the same keys, the
//! datetimes as RFC 3339 strings. The file is checked for structure first, so a client
//! reports the errors `warrant check` would (the API checks the rest against its store).

use std::path::Path;

use serde_json::{Map, Value};

use super::error::WarrantError;
use super::schema;

/// The warrant file `file` as a JSON object, or every structural error in it.
pub fn document(file: &Path) -> Result<Map<String, Value>, Vec<WarrantError>> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| vec![WarrantError::new(file, None, format!("cannot read: {e}"))])?;
    let mut table = schema::table(file, &text, schema::WARRANT).map_err(|e| vec![e])?;
    let errors = schema::check(file, &mut table, schema::WARRANT);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(table.into_iter().map(|(key, value)| (key, json(value))).collect())
}

/// A checked value (string, datetime, boolean, array of strings) as JSON.
fn json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(json).collect()),
        toml::Value::Table(t) => Value::Object(t.into_iter().map(|(k, v)| (k, json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_becomes_the_api_document() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.toml");
        std::fs::write(
            &file,
            "liid = \"A-1\"\nkind = \"pen-register\"\nagency = \"a\"\ntargets = [\"tel:+13035550142\"]\n\
             valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-01-01T00:00:00-07:00\ncourt_order = \"c\"\n\
             issuing_authority = \"i\"\npost_cut_through_digits = false\n",
        )
        .unwrap();
        let doc = Value::Object(document(&file).unwrap());
        assert_eq!(doc["valid_from"], "2026-01-01T00:00:00Z");
        assert_eq!(doc["valid_until"], "2027-01-01T00:00:00-07:00");
        assert_eq!(doc["targets"], serde_json::json!(["tel:+13035550142"]));
        assert_eq!(doc["post_cut_through_digits"], false);
        std::fs::write(&file, "liid = \"A-1\"\nagncy = \"a\"\n").unwrap();
        let errors = document(&file).unwrap_err();
        assert_eq!(errors[0].to_string(), format!("{}: key `agncy`: unknown key, did you mean `agency`?", file.display()));
        assert!(errors.len() > 5, "{errors:?}");
    }
}
