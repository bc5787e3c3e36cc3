//! The reason given for a revocation: read from the request body of `DELETE /warrants/LIID`
//! and cleaned to one line of at most [`MAX_REASON`] characters.

use serde_json::Value;

/// Most characters of a reason kept (the rest is cut).
pub const MAX_REASON: usize = 500;

/// The reason in a body `{"reason": "…"}`, cleaned; `None` for an empty body (clients before
/// reasons existed). `Err` says what is wrong with the body.
pub fn of_body(body: &[u8]) -> Result<Option<String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(map) = doc else {
        return Err("the body must be a JSON object with a `reason`".into());
    };
    if let Some(key) = map.keys().find(|k| *k != "reason") {
        return Err(format!("unknown key `{}` in the body; only `reason` is accepted", key.escape_debug()));
    }
    match map.get("reason") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => match one_line(text) {
            line if line.is_empty() => Err("the reason is empty".into()),
            line => Ok(Some(line)),
        },
        Some(_) => Err("`reason` must be a string".into()),
    }
}

/// Control characters and runs of white space become one space; trimmed.
pub fn one_line(text: &str) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first [`MAX_REASON`] characters.
pub fn capped(line: &str) -> String {
    line.chars().take(MAX_REASON).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(of_body(b""), Ok(None));
        assert_eq!(of_body(b"{}"), Ok(None));
        assert_eq!(of_body(br#"{"reason": " order\n vacated\t\u0007 by court "}"#), Ok(Some("order vacated by court".into())));
        assert!(of_body(br#"{"reason": " \n "}"#).unwrap_err().contains("empty"));
        assert!(of_body(br#"{"reason": 5}"#).unwrap_err().contains("string"));
        assert!(of_body(br#"{"why": "x"}"#).unwrap_err().contains("unknown key `why`"));
        assert!(of_body(b"vacated").unwrap_err().contains("not JSON"));
        assert_eq!(capped(&"é".repeat(600)).chars().count(), MAX_REASON);
    }
}
