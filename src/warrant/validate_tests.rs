//! Unit tests of warrant and agencies file validation: one per rule, each checking the
//! file, the key and the reason reported.

use std::path::{Path, PathBuf};

use super::error::WarrantError;
use super::identity::Numbering;
use super::model::{Agency, OrderKind, Profile};
use super::validate::{parse_agencies, parse_warrant, LiidOwners};
use crate::Timestamp;

const AGENCIES: &str = r#"
[appliance]
operator_id = "EXAMPLE-TEL"
network_element_id = "MED-01"
country = "US"

[[agency]]
id = "fbi-denver"
country = "US"
profile = "etsi"
hi2 = "tls://127.0.0.1:6100"
hi3 = "tls://127.0.0.1:6101"

[[agency]]
id = "dea-phoenix"
country = "US"
profile = "laes"
hi2 = "tls://[::1]:6200"
hi3 = "tls://lemf.example.gov:6201"
ca = "certs/dea.pem"
"#;

const WARRANT: &str = r#"
liid = "DEN-2026-0042"
kind = "pen-register"
agency = "fbi-denver"
targets = ["tel:+13035550142", "sip:alice@example.net"]
valid_from = 2026-11-01T00:00:00Z
valid_until = 2027-01-30T00:00:00Z
court_order = "1:26-mj-00042"
issuing_authority = "Hon. Jane Doe, D. Colo."
"#;

fn agencies() -> Vec<Agency> {
    parse_agencies(Path::new("w/agencies.toml"), AGENCIES)
        .expect("reference agencies are valid")
        .1
}

fn warrant_errors(text: &str) -> Vec<WarrantError> {
    let agencies = agencies();
    match parse_warrant(
        Path::new("w/a.toml"),
        text,
        Some(&agencies),
        &Numbering::default(),
        &mut LiidOwners::new(),
    ) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

/// `WARRANT` with the line starting `key =` replaced by `line` (or removed when empty).
fn with(key: &str, line: &str) -> String {
    let prefix = format!("{key} =");
    let mut found = false;
    let mut out: Vec<&str> = Vec::new();
    for l in WARRANT.lines() {
        if l.starts_with(&prefix) {
            found = true;
            if !line.is_empty() {
                out.push(line);
            }
        } else {
            out.push(l);
        }
    }
    if !found {
        out.push(line);
    }
    out.join("\n") + "\n"
}

/// Asserts exactly one error, on `key`, whose reason contains `reason`.
fn assert_one(errors: &[WarrantError], file: &str, key: &str, reason: &str) {
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!(e.file, PathBuf::from(file));
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    assert!(
        e.reason.contains(reason),
        "reason {:?} lacks {reason:?}",
        e.reason
    );
}

#[test]
fn valid_warrant_loads_every_field() {
    let agencies = agencies();
    let text = with("served_by", "served_by = \"SA John Roe\"")
        + "provisioned_by = \"ops: M. Smith\"\npost_cut_through_digits = true\n";
    let w = parse_warrant(
        Path::new("w/a.toml"),
        &text,
        Some(&agencies),
        &Numbering::default(),
        &mut LiidOwners::new(),
    )
    .expect("valid warrant");
    assert_eq!(w.liid.as_str(), "DEN-2026-0042");
    assert_eq!(w.kind, OrderKind::PenRegister);
    assert_eq!(w.agency, "fbi-denver");
    assert_eq!(w.targets.len(), 2);
    assert_eq!(w.targets[0].raw, "tel:+13035550142");
    assert_eq!(
        w.valid_from,
        Timestamp::from_nanos(1_793_491_200 * 1_000_000_000)
    );
    assert_eq!(w.valid_until.to_rfc3339(), "2027-01-30T00:00:00.000000Z");
    assert_eq!(w.court_order, "1:26-mj-00042");
    assert_eq!(w.issuing_authority, "Hon. Jane Doe, D. Colo.");
    assert!(w.post_cut_through_digits);
    assert_eq!(w.served_by.as_deref(), Some("SA John Roe"));
    assert_eq!(w.provisioned_by.as_deref(), Some("ops: M. Smith"));
    assert_eq!(w.source, PathBuf::from("w/a.toml"));
    assert!(warrant_errors(WARRANT).is_empty());
}

#[test]
fn offsets_convert_to_utc() {
    let agencies = agencies();
    let text = with("valid_from", "valid_from = 2026-10-31T18:00:00-06:00");
    let w = parse_warrant(
        Path::new("w/a.toml"),
        &text,
        Some(&agencies),
        &Numbering::default(),
        &mut LiidOwners::new(),
    )
    .expect("valid warrant");
    assert_eq!(w.valid_from.to_rfc3339(), "2026-11-01T00:00:00.000000Z");
}

#[test]
fn unknown_kind() {
    let errors = warrant_errors(&with("kind", "kind = \"wiretap\""));
    assert_one(
        &errors,
        "w/a.toml",
        "kind",
        "unknown kind `wiretap`; expected one of pen-register",
    );
}

#[test]
fn liid_length_and_characters() {
    let errors = warrant_errors(&with("liid", "liid = \"\""));
    assert_one(&errors, "w/a.toml", "liid", "LIID is empty");
    let errors = warrant_errors(&with("liid", &format!("liid = \"{}\"", "X".repeat(26))));
    assert_one(&errors, "w/a.toml", "liid", "26 characters; at most 25");
    let errors = warrant_errors(&with("liid", "liid = \"DEN\\t42\""));
    assert_one(&errors, "w/a.toml", "liid", "not visible ASCII");
}

#[test]
fn duplicate_liid_names_the_first_file() {
    let agencies = agencies();
    let mut owners = LiidOwners::new();
    assert!(parse_warrant(Path::new("w/a.toml"), WARRANT, Some(&agencies), &Numbering::default(), &mut owners).is_ok());
    let errors = parse_warrant(Path::new("w/b.toml"), WARRANT, Some(&agencies), &Numbering::default(), &mut owners)
        .expect_err("second use of the LIID");
    assert_one(
        &errors,
        "w/b.toml",
        "liid",
        "duplicate LIID `DEN-2026-0042`, already used by w/a.toml",
    );
}

#[test]
fn unknown_agency() {
    let errors = warrant_errors(&with("agency", "agency = \"cia\""));
    assert_one(&errors, "w/a.toml", "agency", "unknown agency `cia`");
    // Without agencies (agencies.toml unreadable) the check is skipped.
    let skipped = parse_warrant(
        Path::new("w/a.toml"),
        &with("agency", "agency = \"cia\""),
        None,
        &Numbering::default(),
        &mut LiidOwners::new(),
    );
    assert!(skipped.is_ok());
}

#[test]
fn valid_until_must_follow_valid_from() {
    let errors = warrant_errors(&with("valid_until", "valid_until = 2026-11-01T00:00:00Z"));
    assert_one(
        &errors,
        "w/a.toml",
        "valid_until",
        "must be after valid_from",
    );
    let errors = warrant_errors(&with("valid_until", "valid_until = 2026-10-01T00:00:00Z"));
    assert_one(
        &errors,
        "w/a.toml",
        "valid_until",
        "must be after valid_from",
    );
}

#[test]
fn dates_must_be_full_offset_datetimes() {
    for value in ["2026-11-01", "2026-11-01T00:00:00", "00:00:00"] {
        let errors = warrant_errors(&with("valid_from", &format!("valid_from = {value}")));
        assert_one(
            &errors,
            "w/a.toml",
            "valid_from",
            "not a full offset datetime",
        );
    }
    let errors = warrant_errors(&with("valid_from", "valid_from = \"2026-11-01T00:00:00Z\""));
    assert_one(
        &errors,
        "w/a.toml",
        "valid_from",
        "expected an unquoted offset datetime",
    );
    let errors = warrant_errors(&with("valid_from", "valid_from = 1969-12-31T23:59:59Z"));
    assert_one(&errors, "w/a.toml", "valid_from", "outside 1970-01-01");
}

#[test]
fn targets_must_parse_and_be_present() {
    let errors = warrant_errors(&with("targets", "targets = []"));
    assert_one(
        &errors,
        "w/a.toml",
        "targets",
        "at least one target is required",
    );
    let errors = warrant_errors(&with(
        "targets",
        "targets = [\"tel:+13035550142\", \"fax:123\"]",
    ));
    assert_one(
        &errors,
        "w/a.toml",
        "targets",
        "entry 2: not a tel:, sip: or sips: URI",
    );
    assert!(!errors[0].reason.contains("fax:123"));
    let errors = warrant_errors(&with(
        "targets",
        "targets = [\"sip:anonymous@anonymous.invalid\"]",
    ));
    assert_one(
        &errors,
        "w/a.toml",
        "targets",
        "entry 1: anonymous identity",
    );
    let errors = warrant_errors(&with(
        "targets",
        "targets = [\"303-555-0142\", \"tel:+13035550142\"]",
    ));
    assert_one(
        &errors,
        "w/a.toml",
        "targets",
        "entry 2 names the same identity as entry 1",
    );
}

#[test]
fn unknown_missing_and_mistyped_keys() {
    let errors = warrant_errors(&with("colour", "colour = \"red\""));
    assert_one(
        &errors,
        "w/a.toml",
        "colour",
        "unknown key; expected one of `liid`",
    );
    let errors = warrant_errors(&with("court_order", ""));
    assert_one(&errors, "w/a.toml", "court_order", "missing required key");
    let errors = warrant_errors(&with("targets", "targets = \"tel:+13035550142\""));
    assert_one(
        &errors,
        "w/a.toml",
        "targets",
        "wrong type: expected an array, found a string",
    );
    assert!(!errors[0].reason.contains("303"));
    let errors = warrant_errors(&with(
        "post_cut_through_digits",
        "post_cut_through_digits = 1",
    ));
    assert_one(
        &errors,
        "w/a.toml",
        "post_cut_through_digits",
        "expected a boolean, found an integer",
    );
}

#[test]
fn text_fields_and_digits_flag() {
    let errors = warrant_errors(&with("issuing_authority", "issuing_authority = \"  \""));
    assert_one(
        &errors,
        "w/a.toml",
        "issuing_authority",
        "must not be empty",
    );
    let errors = warrant_errors(&with("served_by", "served_by = \"a\\u0007b\""));
    assert_one(&errors, "w/a.toml", "served_by", "control character");
    let text = with("kind", "kind = \"trap-and-trace\"") + "post_cut_through_digits = true\n";
    let errors = warrant_errors(&text);
    assert_one(
        &errors,
        "w/a.toml",
        "post_cut_through_digits",
        "never receives post-cut-through",
    );
}

#[test]
fn several_problems_in_one_file_are_all_reported() {
    let text = with("kind", "kind = \"wiretap\"").replace("fbi-denver", "nobody");
    let errors = warrant_errors(&text);
    let keys: Vec<_> = errors.iter().filter_map(|e| e.key.as_deref()).collect();
    assert_eq!(keys, ["kind", "agency"]);
}

#[test]
fn agencies_file_loads() {
    let (appliance, agencies) = parse_agencies(Path::new("w/agencies.toml"), AGENCIES).unwrap();
    assert_eq!(appliance.operator_id, "EXAMPLE-TEL");
    assert_eq!(appliance.network_element_id, "MED-01");
    assert_eq!(appliance.country, "US");
    assert_eq!(agencies.len(), 2);
    assert_eq!(agencies[0].hi2.to_string(), "tls://127.0.0.1:6100");
    assert_eq!(agencies[0].ca, None);
    assert_eq!(agencies[1].profile, Profile::Laes);
    assert_eq!(agencies[1].hi2.host, "::1");
    assert_eq!(agencies[1].ca, Some(PathBuf::from("w/certs/dea.pem")));
}

fn agencies_errors(from: &str, to: &str) -> Vec<WarrantError> {
    assert!(AGENCIES.contains(from), "{from}");
    match parse_agencies(
        Path::new("w/agencies.toml"),
        &AGENCIES.replacen(from, to, 1),
    ) {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}

#[test]
fn agencies_validation() {
    let f = "w/agencies.toml";
    let cases = [
        (
            "hi2 = \"tls://[::1]:6200\"",
            "hi2 = \"https://[::1]:6200\"",
            "agency[2].hi2",
            "bad endpoint URL: must start with `tls://`",
        ),
        (
            "hi3 = \"tls://127.0.0.1:6101\"",
            "hi3 = \"tls://127.0.0.1\"",
            "agency[1].hi3",
            "bad endpoint URL",
        ),
        (
            "profile = \"laes\"",
            "profile = \"x\"",
            "agency[2].profile",
            "unknown profile `x`",
        ),
        (
            "id = \"dea-phoenix\"",
            "id = \"fbi-denver\"",
            "agency[2].id",
            "duplicate agency id `fbi-denver`, first defined in agency[1]",
        ),
        (
            "id = \"dea-phoenix\"",
            "id = \"dea/phoenix\"",
            "agency[2].id",
            "1..=32 characters",
        ),
        (
            "country = \"US\"\n\n[[agency]]",
            "country = \"USA\"\n\n[[agency]]",
            "appliance.country",
            "two capital letters",
        ),
        (
            "country = \"US\"\nprofile = \"laes\"",
            "country = \"us\"\nprofile = \"laes\"",
            "agency[2].country",
            "two capital letters",
        ),
        (
            "operator_id = \"EXAMPLE-TEL\"",
            "operator_id = \"EXAMPLE-TELEPHONE\"",
            "appliance.operator_id",
            "1..=16 characters",
        ),
        (
            "network_element_id = \"MED-01\"",
            "network_element_id = \"\"",
            "appliance.network_element_id",
            "1..=16 characters",
        ),
        (
            "ca = \"certs/dea.pem\"",
            "cafile = \"certs/dea.pem\"",
            "agency[2].cafile",
            "unknown key",
        ),
        (
            "hi3 = \"tls://lemf.example.gov:6201\"",
            "",
            "agency[2].hi3",
            "missing required key",
        ),
        (
            "hi2 = \"tls://127.0.0.1:6100\"",
            "hi2 = 6100",
            "agency[1].hi2",
            "wrong type: expected a string, found an integer",
        ),
    ];
    for (from, to, key, reason) in cases {
        assert_one(&agencies_errors(from, to), f, key, reason);
    }
}

#[test]
fn agencies_file_needs_appliance_and_an_agency() {
    let agencies_only = AGENCIES
        .split_once("[[agency]]")
        .map(|(_, rest)| rest)
        .unwrap_or("");
    let errors = parse_agencies(
        Path::new("agencies.toml"),
        &format!("[[agency]]{agencies_only}"),
    )
    .unwrap_err();
    assert_one(
        &errors,
        "agencies.toml",
        "appliance",
        "missing required key",
    );
    let text = AGENCIES.split("[[agency]]").next().unwrap_or("");
    let errors = parse_agencies(Path::new("agencies.toml"), text).unwrap_err();
    assert_one(
        &errors,
        "agencies.toml",
        "agency",
        "at least one [[agency]]",
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = parse_agencies(Path::new("agencies.toml"), &text);
            let _ = parse_warrant(Path::new("a.toml"), &text, None, &Numbering::default(), &mut LiidOwners::new());
        }

        /// Damaging a valid file anywhere gives errors that always name the file.
        #[test]
        fn damaged_files_report_the_file(at in 0usize..400, junk in "[\\[\\]=\"#\n a-z0-9{},.:-]{1,6}") {
            for (name, good) in [("w/agencies.toml", AGENCIES), ("w/a.toml", WARRANT)] {
                let at = at % good.len();
                let (head, tail) = good.split_at(at);
                let text = format!("{head}{junk}{tail}");
                let errors = if name.ends_with("agencies.toml") {
                    parse_agencies(Path::new(name), &text).err()
                } else {
                    parse_warrant(Path::new(name), &text, Some(&agencies()), &Numbering::default(), &mut LiidOwners::new()).err()
                };
                for e in errors.unwrap_or_default() {
                    prop_assert_eq!(&e.file, Path::new(name));
                    prop_assert!(!e.reason.is_empty());
                }
            }
        }
    }
}

#[test]
fn number_domains_load_and_key_targets() {
    let text = AGENCIES.replacen(
        "country = \"US\"\n",
        "country = \"US\"\nnumber_domains = [\"Carrier.NET\", \"192.0.2.1\", \"[2001:db8::1]\"]\n",
        1,
    );
    let (appliance, agencies) = parse_agencies(Path::new("w/agencies.toml"), &text).unwrap();
    assert_eq!(appliance.numbering.number_domains(), ["carrier.net", "192.0.2.1", "[2001:db8::1]"]);
    assert_eq!(
        parse_agencies(Path::new("w/agencies.toml"), AGENCIES).unwrap().0.numbering,
        Numbering::default(),
        "no number domains unless configured"
    );
    // Under the carrier's numbering a digit user at a number domain is that number, so
    // naming it twice is refused; a tenant's extension is a SIP user of its own host.
    let twice = with("targets", "targets = [\"tel:+13035550142\", \"sip:3035550142@carrier.net\"]");
    let errors = parse_warrant(Path::new("w/a.toml"), &twice, Some(&agencies), &appliance.numbering, &mut LiidOwners::new())
        .unwrap_err();
    assert_one(&errors, "w/a.toml", "targets", "entry 2 names the same identity as entry 1");
    let tenants = with("targets", "targets = [\"sip:2001@tenant-a.example\", \"sip:2001@tenant-b.example\", \"2001\"]");
    let w = parse_warrant(Path::new("w/a.toml"), &tenants, Some(&agencies), &appliance.numbering, &mut LiidOwners::new())
        .expect("three different identities");
    assert_eq!(w.targets.len(), 3);
    let bad = AGENCIES.replacen("country = \"US\"\n", "country = \"US\"\nnumber_domains = [\"carrier.net\", \"not a host\"]\n", 1);
    let errors = parse_agencies(Path::new("w/agencies.toml"), &bad).unwrap_err();
    assert_one(&errors, "w/agencies.toml", "appliance.number_domains", "entry 2: `not a host` is not a host name");
}
