//! Times in decoded output: every time printed by `tapline decode` (etsi and laes) and by
//! the reference LEMF is RFC 3339 in UTC with microseconds, like packet time
//! ([`crate::Timestamp::to_rfc3339`]); ASN.1 GeneralizedTime is converted here.

/// `20261102140000.77Z` → `2026-11-02T14:00:00.770000Z`; other text is returned as it is.
pub fn rfc3339_of_generalized(t: &str) -> String {
    let (Some(main), Some(frac)) = (t.get(..14), t.strip_suffix('Z').map(|x| x.get(14..).unwrap_or(""))) else {
        return t.to_owned();
    };
    let digits = frac.strip_prefix('.').unwrap_or(frac);
    if !main.bytes().all(|b| b.is_ascii_digit()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 6 {
        return t.to_owned();
    }
    let d = |r: std::ops::Range<usize>| main.get(r).unwrap_or("00");
    format!("{}-{}-{}T{}:{}:{}.{:0<6}Z", d(0..4), d(4..6), d(6..8), d(8..10), d(10..12), d(12..14), digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_becomes_rfc3339_as_packet_time_prints() {
        assert_eq!(rfc3339_of_generalized("20261102140000.77Z"), "2026-11-02T14:00:00.770000Z");
        assert_eq!(rfc3339_of_generalized("20261102140000Z"), "2026-11-02T14:00:00.000000Z");
        assert_eq!(rfc3339_of_generalized("garbage"), "garbage");
        let ts = crate::Timestamp::from_secs_micros(1_793_628_000, 770_000);
        assert_eq!(rfc3339_of_generalized("20261102140000.77Z"), ts.to_rfc3339());
    }
}
