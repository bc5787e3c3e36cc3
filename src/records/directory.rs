//! The subscriber directory: number → name, service address, account start, services and
//! means of payment, imported from CSV or TOML into the records database. It is the one
//! directory: Call Trace reads its listings from here (`Db::directory`), the desk its
//! subscriber information. The TOML form is the Call Trace `directory.toml` format
//! (`[[subscriber]]` `number`, `name`, `address`) with the optional extra keys. Numbers key
//! under the appliance's number domains (`number_key`), as mediation and Call Trace key them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::db::{Db, DbError, Value};
use crate::calltrace::{number_key, Directory, Listing};
use crate::warrant::Numbering;

/// One subscriber of the carrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// A number or `tel:`/`sip:` URI; stored normalised (`identity_key`).
    pub number: String,
    pub name: String,
    /// Service address (also the address of record for CPNI notices).
    pub address: String,
    /// Date the account was opened (`YYYY-MM-DD`).
    #[serde(default)]
    pub account_start: Option<String>,
    /// Types of service, `;`-separated in CSV (e.g. `voice;voicemail`; `payphone` marks a pay phone).
    #[serde(default, deserialize_with = "services_de")]
    pub services: Vec<String>,
    /// Means and source of payment.
    #[serde(default)]
    pub payment: Option<String>,
    /// `true` blocks Call Trace on the line, `false` lifts a block; absent leaves it as is.
    #[serde(default)]
    pub trace_blocked: Option<bool>,
}

fn services_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        List(Vec<String>),
        Text(String),
    }
    Ok(match S::deserialize(d)? {
        S::List(v) => v,
        S::Text(t) => t.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    subscriber: Vec<Subscriber>,
}

/// Why an import failed: the file, the entry and the key, never the number.
fn invalid(path: &Path, entry: usize, key: &str, why: impl std::fmt::Display) -> DbError {
    DbError::Invalid(format!("{}: subscriber[{entry}].{key}: {why}", path.display()))
}

fn normalise(path: &Path, mut subs: Vec<Subscriber>, numbering: &Numbering) -> Result<Vec<Subscriber>, DbError> {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in subs.iter_mut().enumerate() {
        s.number = number_key(&s.number, numbering).map_err(|_| invalid(path, i, "number", "not a telephone number or SIP URI"))?;
        if !seen.insert(s.number.clone()) {
            return Err(invalid(path, i, "number", "listed twice"));
        }
        if let Some(d) = &s.account_start {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(d, fmt).map_err(|_| invalid(path, i, "account_start", "not a YYYY-MM-DD date"))?;
        }
    }
    Ok(subs)
}

/// Imports a TOML directory (the `directory.toml` format); entries replace those of the same
/// number. Numbers key under the appliance's `numbering`.
pub fn import_toml(db: &mut Db, path: &Path, numbering: &Numbering) -> Result<usize, DbError> {
    let text = std::fs::read_to_string(path).map_err(|e| DbError::Invalid(format!("{}: {e}", path.display())))?;
    let file: TomlFile = toml::from_str(&text).map_err(|e| DbError::Invalid(format!("{}: not valid TOML: {}", path.display(), e.message())))?;
    let subs = normalise(path, file.subscriber, numbering)?;
    db.upsert_subscribers(&subs)?;
    Ok(subs.len())
}

/// Imports a CSV directory with a header row `number,name,address,account_start,services,payment,trace_blocked`
/// (the last four may be empty or absent; `trace_blocked` is `yes`/`no`).
pub fn import_csv(db: &mut Db, path: &Path, numbering: &Numbering) -> Result<usize, DbError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| DbError::Invalid(format!("{}: {e}", path.display())))?;
    let mut subs = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let row = row.map_err(|e| invalid(path, i, "row", e))?;
        let empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let trace_blocked = match empty(row.trace_blocked).as_deref().map(str::trim) {
            None => None,
            Some("yes" | "true") => Some(true),
            Some("no" | "false") => Some(false),
            Some(_) => return Err(invalid(path, i, "trace_blocked", "not yes or no")),
        };
        subs.push(Subscriber {
            number: row.number,
            name: row.name,
            address: row.address,
            account_start: empty(row.account_start),
            services: row.services.unwrap_or_default().split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            payment: empty(row.payment),
            trace_blocked,
        });
    }
    let subs = normalise(path, subs, numbering)?;
    db.upsert_subscribers(&subs)?;
    Ok(subs.len())
}

#[derive(Deserialize)]
struct CsvRow {
    number: String,
    name: String,
    address: String,
    #[serde(default)]
    account_start: Option<String>,
    #[serde(default)]
    services: Option<String>,
    #[serde(default)]
    payment: Option<String>,
    #[serde(default)]
    trace_blocked: Option<String>,
}

const SUB_COLUMNS: &str = "number, name, address, account_start, services, payment";

fn sub_of(r: &[Value]) -> Option<Subscriber> {
    let t = |i: usize| r.get(i).and_then(Value::text).map(str::to_owned);
    Some(Subscriber {
        number: t(0)?,
        name: t(1)?,
        address: t(2)?,
        account_start: t(3),
        services: t(4).map(|s| s.split(';').filter(|x| !x.is_empty()).map(str::to_owned).collect()).unwrap_or_default(),
        payment: t(5),
        trace_blocked: None,
    })
}

impl Db {
    /// Inserts or replaces subscribers (numbers already normalised), keeping their CPNI
    /// credentials; sets or lifts the Call Trace blocks the entries say.
    pub fn upsert_subscribers(&mut self, subs: &[Subscriber]) -> Result<(), DbError> {
        let now_ns = i64::try_from(crate::audit::now().as_nanos()).unwrap_or(i64::MAX);
        self.transaction(|db| {
            for s in subs {
                if let Some(blocked) = s.trace_blocked {
                    db.set_trace_block(&s.number, blocked, now_ns)?;
                }
                let services = s.services.join(";");
                let params = [
                    s.number.as_str().into(),
                    s.name.as_str().into(),
                    s.address.as_str().into(),
                    Value::opt_text(&s.account_start),
                    services.into(),
                    Value::opt_text(&s.payment),
                ];
                let n = db.execute(
                    "UPDATE subscribers SET name = $2, address = $3, account_start = $4, services = $5, payment = $6 WHERE number = $1",
                    &params,
                )?;
                if n == 0 {
                    db.execute(&format!("INSERT INTO subscribers ({SUB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"), &params)?;
                }
            }
            Ok(())
        })
    }

    /// The subscriber of a normalised number.
    pub fn subscriber(&mut self, number: &str) -> Result<Option<Subscriber>, DbError> {
        let rows = self.query(&format!("SELECT {SUB_COLUMNS} FROM subscribers WHERE number = $1"), &[number.into()])?;
        Ok(rows.first().and_then(|r| sub_of(r)))
    }

    /// The Call Trace directory: name and address of every subscriber, and the lines with
    /// Call Trace blocked.
    pub fn directory(&mut self) -> Result<Directory, DbError> {
        let rows = self.query(&format!("SELECT {SUB_COLUMNS} FROM subscribers"), &[])?;
        let blocked = self.query("SELECT number FROM trace_blocks", &[])?;
        Ok(Directory::from_entries(
            rows.iter().filter_map(|r| sub_of(r)).map(|s| (s.number, Listing { name: s.name, address: s.address })),
            blocked.iter().filter_map(|r| r.first().and_then(Value::text).map(str::to_owned)),
        ))
    }
}
