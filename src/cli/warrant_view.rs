//! How the warrant commands show warrants on a terminal: the `warrant list` table and the
//! expiry warnings of `warrant check`, with times to expiry as `12d 4h`.

use serde_json::Value;
use tapline::warrant::Warrant;
use tapline::Timestamp;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// A span of seconds in its two largest units: `12d 4h`, `3h 20m`, `5m`, `<1m`.
pub fn span(secs: u64) -> String {
    match secs {
        s if s >= DAY => format!("{}d {}h", s / DAY, s % DAY / HOUR),
        s if s >= HOUR => format!("{}h {}m", s / HOUR, s % HOUR / MINUTE),
        s if s >= MINUTE => format!("{}m", s / MINUTE),
        _ => "<1m".into(),
    }
}

/// The time to the end of validity at `now`: `in 12d 4h`, `ended 3d 1h ago`.
pub fn to_expiry(until: Timestamp, now: Timestamp) -> String {
    if until > now {
        format!("in {}", span(until.saturating_sub(now) / 1_000_000_000))
    } else {
        format!("ended {} ago", span(now.saturating_sub(until) / 1_000_000_000))
    }
}

/// The warning `warrant check` prints for a warrant that ended before `now` or ends within
/// `within_secs` of it; `None` otherwise.
pub fn expiry_warning(w: &Warrant, now: Timestamp, within_secs: u64) -> Option<String> {
    let left = w.valid_until.saturating_sub(now) / 1_000_000_000;
    let file = w.source.display();
    let until = w.valid_until.to_rfc3339();
    if w.valid_until <= now {
        Some(format!("{file}: warrant {} has expired: valid_until {until} ({})", w.liid, to_expiry(w.valid_until, now)))
    } else if left <= within_secs {
        Some(format!("{file}: warrant {} expires {}: valid_until {until}", w.liid, to_expiry(w.valid_until, now)))
    } else {
        None
    }
}

/// The API's warrant list as a table: LIID, kind, agency, state, time to expiry.
pub fn table(warrants: &[Value], now: Timestamp) -> String {
    let text = |w: &Value, key: &str| w.get(key).and_then(Value::as_str).unwrap_or("-").to_owned();
    let mut rows: Vec<[String; 5]> = vec![["LIID", "KIND", "AGENCY", "STATE", "EXPIRES"].map(str::to_owned)];
    for w in warrants {
        let state = text(w, "state");
        let expires = match (state.as_str(), parse_rfc3339(&text(w, "valid_until"))) {
            ("revoked", _) | (_, None) => "-".to_owned(),
            (_, Some(until)) => to_expiry(until, now),
        };
        rows.push([text(w, "liid"), text(w, "kind"), text(w, "agency"), state, expires]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// An RFC 3339 time as the API writes it, as a timestamp.
fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos()).ok().map(Timestamp::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn spans_and_expiry() {
        assert_eq!(span(12 * DAY + 4 * HOUR + 59), "12d 4h");
        assert_eq!(span(3 * HOUR + 20 * MINUTE), "3h 20m");
        assert_eq!(span(5 * MINUTE + 3), "5m");
        assert_eq!(span(59), "<1m");
        let now = Timestamp::from_nanos(10 * DAY * S);
        assert_eq!(to_expiry(Timestamp::from_nanos(12 * DAY * S), now), "in 2d 0h");
        assert_eq!(to_expiry(Timestamp::from_nanos(9 * DAY * S), now), "ended 1d 0h ago");
    }

    #[test]
    fn list_table() {
        let now = parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        let list = serde_json::json!([
            {"liid": "DEN-1", "kind": "pen-register", "agency": "fbi-denver", "state": "active",
             "valid_until": "2026-12-31T00:00:00.000000Z"},
            {"liid": "PHX-22", "kind": "title-iii", "agency": "dea-phoenix", "state": "revoked",
             "valid_until": "2027-01-01T00:00:00.000000Z"},
        ]);
        assert_eq!(
            table(list.as_array().unwrap(), now),
            "LIID    KIND          AGENCY       STATE    EXPIRES\n\
             DEN-1   pen-register  fbi-denver   active   in 30d 0h\n\
             PHX-22  title-iii     dea-phoenix  revoked  -\n"
        );
    }
}
