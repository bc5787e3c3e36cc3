//! Parses and validates one warrant file or one `agencies.toml` into the model, collecting
//! every problem found in the file (serde reports the first structural one).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::value::{Datetime, Offset};

use super::error::WarrantError;
use super::schema;
use super::identity::Numbering;
use super::model::{is_dns_name, Agency, Appliance, Endpoint, Liid, OrderKind, Profile, Target, Warrant};
use super::policy::PostCutThroughDigits;
use crate::Timestamp;

/// Longest free-text value (court order number, authority, names).
const MAX_TEXT: usize = 256;
/// Longest agency id (it also names the agency's spool directory).
const MAX_AGENCY_ID: usize = 32;
/// Longest operator and network element identifiers (ETSI TS 102 232-1: 1..16 octets).
const MAX_APPLIANCE_ID: usize = 16;

/// A warrant file's values of the right type (see [`schema::WARRANT`]); the missing and
/// mistyped ones are `None`, already reported.
struct RawWarrant {
    liid: Option<String>,
    kind: Option<String>,
    agency: Option<String>,
    targets: Option<Vec<String>>,
    valid_from: Option<Datetime>,
    valid_until: Option<Datetime>,
    court_order: Option<String>,
    issuing_authority: Option<String>,
    post_cut_through_digits: bool,
    served_by: Option<String>,
    provisioned_by: Option<String>,
}

impl RawWarrant {
    /// The values of a table [`schema::check`]ed (only keys of the right type are left).
    fn of(mut table: toml::Table) -> RawWarrant {
        let mut text = |key: &str| match table.remove(key) {
            Some(toml::Value::String(s)) => Some(s),
            _ => None,
        };
        let (liid, kind, agency) = (text("liid"), text("kind"), text("agency"));
        let (court_order, issuing_authority) = (text("court_order"), text("issuing_authority"));
        let (served_by, provisioned_by) = (text("served_by"), text("provisioned_by"));
        let mut datetime = |key: &str| match table.remove(key) {
            Some(toml::Value::Datetime(d)) => Some(d),
            _ => None,
        };
        let (valid_from, valid_until) = (datetime("valid_from"), datetime("valid_until"));
        let targets = match table.remove("targets") {
            Some(toml::Value::Array(items)) => {
                Some(items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            }
            _ => None,
        };
        let post_cut_through_digits = table.get("post_cut_through_digits").and_then(toml::Value::as_bool) == Some(true);
        RawWarrant {
            liid,
            kind,
            agency,
            targets,
            valid_from,
            valid_until,
            court_order,
            issuing_authority,
            post_cut_through_digits,
            served_by,
            provisioned_by,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgencies {
    appliance: RawAppliance,
    #[serde(default)]
    agency: Vec<RawAgency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppliance {
    operator_id: String,
    network_element_id: String,
    country: String,
    /// The carrier's own number domains (see `identity`): SIP hosts whose digit users are
    /// telephone numbers.
    #[serde(default)]
    number_domains: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgency {
    id: String,
    country: String,
    profile: String,
    hi2: String,
    hi3: String,
    ca: Option<String>,
    server_name: Option<String>,
    pin_sha256: Option<Vec<String>>,
}

/// Collects the errors of one file.
struct Report<'f> {
    file: &'f Path,
    errors: Vec<WarrantError>,
}

impl Report<'_> {
    fn error(&mut self, key: &str, reason: impl Into<String>) {
        self.errors
            .push(WarrantError::new(self.file, Some(key), reason));
    }

    /// Free text: trimmed, 1..=MAX_TEXT characters, no control characters.
    fn text(&mut self, key: &str, value: &str) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.error(key, "must not be empty");
        } else if value.chars().count() > MAX_TEXT {
            self.error(key, format!("longer than {MAX_TEXT} characters"));
        } else if value.chars().any(char::is_control) {
            self.error(key, "contains a control character");
        }
        value.to_owned()
    }

    /// 1..=max visible ASCII characters (identifiers written into records).
    fn identifier(&mut self, key: &str, value: &str, max: usize) {
        if value.is_empty() || value.len() > max {
            self.error(key, format!("must be 1..={max} characters long"));
        } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
            self.error(key, "must be visible ASCII (no spaces)");
        }
    }

    fn country(&mut self, key: &str, value: &str) {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
            self.error(
                key,
                "must be an ISO 3166-1 alpha-2 code: two capital letters",
            );
        }
    }

    fn timestamp(&mut self, key: &str, value: &Datetime) -> Option<Timestamp> {
        match to_timestamp(value) {
            Ok(ts) => Some(ts),
            Err(reason) => {
                self.error(key, reason);
                None
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<WarrantError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// Packet time of a TOML offset datetime; local dates/times are refused (no implied zone).
fn to_timestamp(dt: &Datetime) -> Result<Timestamp, &'static str> {
    const NOT_FULL: &str = "not a full offset datetime: give date, time and UTC offset, \
                            e.g. 2026-11-01T00:00:00Z";
    let (Some(date), Some(clock), Some(offset)) = (dt.date, dt.time, dt.offset) else {
        return Err(NOT_FULL);
    };
    const INVALID: &str = "not a valid calendar date and time";
    let month = time::Month::try_from(date.month).map_err(|_| INVALID)?;
    let day = time::Date::from_calendar_date(i32::from(date.year), month, date.day)
        .map_err(|_| INVALID)?;
    let clock = time::Time::from_hms_nano(clock.hour, clock.minute, clock.second, clock.nanosecond)
        .map_err(|_| INVALID)?;
    let minutes = match offset {
        Offset::Z => 0,
        Offset::Custom { minutes } => i32::from(minutes),
    };
    let offset = time::UtcOffset::from_whole_seconds(minutes * 60).map_err(|_| INVALID)?;
    let nanos = time::PrimitiveDateTime::new(day, clock)
        .assume_offset(offset)
        .unix_timestamp_nanos();
    u64::try_from(nanos)
        .map(Timestamp::from_nanos)
        .map_err(|_| "outside 1970-01-01 .. 2554-07-21 (packet time range)")
}

/// Parses `agencies.toml` (text read from `file`).
pub(super) fn parse_agencies(
    file: &Path,
    text: &str,
) -> Result<(Appliance, Vec<Agency>), Vec<WarrantError>> {
    let raw: RawAgencies = toml::from_str(text).map_err(|e| {
        vec![WarrantError::from_toml(
            file,
            text,
            &e,
            &["appliance", "agency"],
        )]
    })?;
    let mut report = Report {
        file,
        errors: Vec::new(),
    };
    let a = &raw.appliance;
    report.identifier("appliance.operator_id", &a.operator_id, MAX_APPLIANCE_ID);
    report.identifier(
        "appliance.network_element_id",
        &a.network_element_id,
        MAX_APPLIANCE_ID,
    );
    report.country("appliance.country", &a.country);
    for (i, domain) in a.number_domains.iter().enumerate() {
        let host = domain.trim().trim_end_matches('.');
        let literal = host.parse::<std::net::Ipv4Addr>().is_ok()
            || host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        if !literal && !is_dns_name(host) {
            report.error(
                "appliance.number_domains",
                format!(
                    "entry {}: `{}` is not a host name, an IPv4 address or a bracketed IPv6 address",
                    i + 1,
                    domain.escape_debug()
                ),
            );
        }
    }
    let appliance = Appliance {
        operator_id: a.operator_id.clone(),
        network_element_id: a.network_element_id.clone(),
        country: a.country.clone(),
        numbering: Numbering::new(&a.number_domains),
    };
    if raw.agency.is_empty() {
        report.error("agency", "at least one [[agency]] table is required");
    }
    let base = file.parent().unwrap_or(Path::new(""));
    let mut agencies = Vec::with_capacity(raw.agency.len());
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    for (i, ra) in raw.agency.iter().enumerate() {
        let n = i + 1;
        let key = |field: &str| format!("agency[{n}].{field}");
        if ra.id.is_empty()
            || ra.id.len() > MAX_AGENCY_ID
            || !ra
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            report.error(
                &key("id"),
                format!("must be 1..={MAX_AGENCY_ID} characters of letters, digits, `-`, `_`"),
            );
        } else if let Some(first) = first_index.get(ra.id.as_str()) {
            report.error(
                &key("id"),
                format!(
                    "duplicate agency id `{}`, first defined in agency[{first}]",
                    ra.id
                ),
            );
        } else {
            first_index.insert(&ra.id, n);
        }
        report.country(&key("country"), &ra.country);
        let profile = Profile::from_name(&ra.profile);
        if profile.is_none() {
            report.error(
                &key("profile"),
                format!(
                    "unknown profile `{}`; expected {}",
                    ra.profile.escape_debug(),
                    Profile::names()
                ),
            );
        }
        let mut endpoint = |field: &str, url: &str| match Endpoint::parse(url) {
            Ok(e) => Some(e),
            Err(e) => {
                report.error(&key(field), format!("bad endpoint URL: {e}"));
                None
            }
        };
        let hi2 = endpoint("hi2", &ra.hi2);
        let hi3 = endpoint("hi3", &ra.hi3);
        let ca = match ra.ca.as_deref().map(str::trim) {
            Some("") => {
                report.error(&key("ca"), "must not be empty (omit the key instead)");
                None
            }
            Some(path) => Some(base.join(path)),
            None => None,
        };
        let server_name = ra.server_name.clone().unwrap_or_else(|| ra.id.clone());
        let id_valid = !ra.id.is_empty()
            && ra.id.len() <= MAX_AGENCY_ID
            && ra.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        // An invalid id is reported once, on `id`.
        if (ra.server_name.is_some() || id_valid)
            && rustls_pki_types::DnsName::try_from(server_name.as_str()).is_err()
        {
            let why = match ra.server_name {
                Some(_) => "must be a DNS name".to_owned(),
                None => format!("the agency id `{}` is not a DNS name: set `server_name`", ra.id.escape_debug()),
            };
            report.error(&key("server_name"), why);
        }
        let mut pin_sha256 = Vec::new();
        for (j, pin) in ra.pin_sha256.iter().flatten().enumerate() {
            match parse_sha256(pin) {
                Some(p) => pin_sha256.push(p),
                None => report.error(
                    &format!("agency[{n}].pin_sha256[{}]", j + 1),
                    "must be a SHA-256 fingerprint: 64 hex digits (colons allowed)",
                ),
            }
        }
        if let (Some(profile), Some(hi2), Some(hi3)) = (profile, hi2, hi3) {
            agencies.push(Agency {
                id: ra.id.clone(),
                country: ra.country.clone(),
                profile,
                hi2,
                hi3,
                ca,
                server_name,
                pin_sha256,
            });
        }
    }
    report.finish((appliance, agencies))
}

/// A SHA-256 fingerprint written as 64 hex digits, optionally `:`-separated.
fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// LIIDs already taken in a store, with the file that took each.
pub(super) type LiidOwners = HashMap<Liid, PathBuf>;

/// Parses one warrant file. `agencies` is `None` when agencies.toml could not be read (the
/// agency check is then skipped). A valid LIID is recorded in `owners` even if the file has
/// other errors, so a later file reusing it is reported.
pub(super) fn parse_warrant(
    file: &Path,
    text: &str,
    agencies: Option<&[Agency]>,
    numbering: &Numbering,
    owners: &mut LiidOwners,
) -> Result<Warrant, Vec<WarrantError>> {
    let mut table = schema::table(file, text, schema::WARRANT).map_err(|e| vec![e])?;
    let errors = schema::check(file, &mut table, schema::WARRANT);
    let raw = RawWarrant::of(table);
    let mut report = Report { file, errors };
    let liid = match raw.liid.map(Liid::new) {
        Some(Ok(liid)) => {
            if let Some(first) = owners.get(&liid) {
                report.error(
                    "liid",
                    format!(
                        "duplicate LIID `{liid}`, already used by {}",
                        first.display()
                    ),
                );
            } else {
                owners.insert(liid.clone(), file.to_path_buf());
            }
            Some(liid)
        }
        Some(Err(e)) => {
            report.error("liid", e.to_string());
            None
        }
        None => None,
    };
    let kind = raw.kind.as_deref().and_then(|name| {
        let kind = OrderKind::from_name(name);
        if kind.is_none() {
            let names: Vec<_> = OrderKind::ALL.iter().map(|k| k.as_str()).collect();
            report.error(
                "kind",
                format!("unknown kind `{}`; expected one of {}", name.escape_debug(), names.join(", ")),
            );
        }
        kind
    });
    if let (Some(agencies), Some(agency)) = (agencies, &raw.agency) {
        if !agencies.iter().any(|a| a.id == *agency) {
            let known: Vec<_> = agencies.iter().map(|a| a.id.as_str()).collect();
            let hint = schema::closest(agency, known.iter().copied())
                .map_or_else(String::new, |near| format!("did you mean `{near}`? "));
            report.error(
                "agency",
                format!(
                    "unknown agency `{}`: not an [[agency]] id in agencies.toml ({hint}known: {})",
                    agency.escape_debug(),
                    known.join(", ")
                ),
            );
        }
    }
    let targets = raw.targets.as_deref().map(|t| parse_targets(&mut report, t, numbering));
    let valid_from = raw.valid_from.and_then(|v| report.timestamp("valid_from", &v));
    let valid_until = raw.valid_until.and_then(|v| report.timestamp("valid_until", &v));
    if let (Some(from), Some(until)) = (valid_from, valid_until) {
        if until <= from {
            report.error("valid_until", "must be after valid_from");
        }
    }
    let court_order = raw.court_order.map(|s| report.text("court_order", &s));
    let issuing_authority = raw.issuing_authority.map(|s| report.text("issuing_authority", &s));
    let served_by = raw.served_by.map(|s| report.text("served_by", &s));
    let provisioned_by = raw
        .provisioned_by
        .map(|s| report.text("provisioned_by", &s));
    // The policy table says which kinds can never receive digits; a file asking for them
    // is refused (a Title III order receives them with the content, so the key is moot).
    let never_digits = |k: OrderKind| k.entitlement().post_cut_through_digits == PostCutThroughDigits::Never;
    if let Some(kind) = kind.filter(|&k| raw.post_cut_through_digits && never_digits(k)) {
        report.error(
            "post_cut_through_digits",
            format!("a {kind} order never receives post-cut-through digits"),
        );
    }
    let (Some(liid), Some(kind), Some(agency), Some(targets), Some(valid_from), Some(valid_until)) =
        (liid, kind, raw.agency, targets, valid_from, valid_until)
    else {
        return Err(report.errors);
    };
    let (Some(court_order), Some(issuing_authority)) = (court_order, issuing_authority) else {
        return Err(report.errors);
    };
    report.finish(Warrant {
        liid,
        kind,
        agency,
        targets,
        valid_from,
        valid_until,
        court_order,
        issuing_authority,
        post_cut_through_digits: raw.post_cut_through_digits,
        served_by,
        provisioned_by,
        source: file.to_path_buf(),
    })
}

/// Targets by entry; errors name the entry number, never the value.
fn parse_targets(report: &mut Report<'_>, raw: &[String], numbering: &Numbering) -> Vec<Target> {
    if raw.is_empty() {
        report.error("targets", "at least one target is required");
    }
    let mut targets: Vec<Target> = Vec::with_capacity(raw.len());
    let mut entries: Vec<usize> = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let n = i + 1;
        match Target::parse(text, numbering) {
            Ok(target) => {
                let same = targets.iter().position(|t| t.identity == target.identity);
                match same.and_then(|j| entries.get(j)) {
                    Some(first) => report.error(
                        "targets",
                        format!("entry {n} names the same identity as entry {first}"),
                    ),
                    None => {
                        targets.push(target);
                        entries.push(n);
                    }
                }
            }
            Err(e) => report.error("targets", format!("entry {n}: {e}")),
        }
    }
    targets
}
