//! The desk's operations on one demand, in order: [`Desk::enter`], [`Desk::validate`],
//! [`Desk::decide`], [`Desk::produce`], [`Desk::deliver`]. Each writes one audit entry
//! (`demand-entered`, `demand-validated` / `demand-rejected` / `demand-returned`,
//! `demand-decided`, `demand-produced`, `demand-delivered`) whose detail is JSON carrying
//! what is needed to rebuild the package ([`Desk::reproduce`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cpni;
use super::demand::{self, CustomerAuth, DemandDoc, Refusal, RequesterKind, State};
use super::instrument::{release, Instrument, Release};
use super::package::{self, PackageInput, Produced};
use super::DeskError;
use crate::audit::{self, AuditLog, Event, ProvisioningAct};
use crate::calltrace::number_key;
use crate::records::{Db, Hold, Value, DAY_NS, DEFAULT_RETENTION_DAYS};
use crate::warrant::Numbering;

/// A preservation hold's term (18 U.S.C. §2703(f)(2)), renewable once.
pub const PRESERVATION_DAYS: i64 = 90;

/// The carrier the desk answers for.
#[derive(Clone, Debug)]
pub struct DeskConfig {
    /// The legal entity demands must be addressed to.
    pub carrier: String,
    /// Who signs certificates of authenticity.
    pub custodian: String,
    pub retention_days: i64,
    /// Fee of a customer's own request, cents.
    pub customer_fee_cents: i64,
    /// The appliance's number domains (`[appliance] number_domains`): how a demand's
    /// numbers key, as mediation and Call Trace key the parties of calls.
    pub numbering: Numbering,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            carrier: "Carrier Example Inc.".into(),
            custodian: "Custodian of Records, Law Enforcement Support".into(),
            retention_days: DEFAULT_RETENTION_DAYS,
            customer_fee_cents: 500,
            numbering: Numbering::default(),
        }
    }
}

/// A demand and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandRecord {
    pub id: String,
    pub doc: DemandDoc,
    pub state: State,
    pub refusal: Option<Refusal>,
    pub release: Option<Release>,
    pub produced_ns: Option<i64>,
    pub produced: Option<Produced>,
    pub delivered_to: Option<String>,
    /// Emergency disclosures: needs follow-up legal process and goes in the yearly report.
    pub follow_up: bool,
    /// Customer requests by password: whether it matched when entered (the password itself
    /// is never stored).
    pub password_verified: Option<bool>,
}

/// The desk: the records database and the audit trail.
pub struct Desk {
    pub db: Db,
    audit: AuditLog,
    config: DeskConfig,
}

fn passwordless(doc: &DemandDoc) -> DemandDoc {
    let mut d = doc.clone();
    if let Some(CustomerAuth::Password { .. }) = d.customer_auth {
        d.customer_auth = Some(CustomerAuth::Password { password: "(verified, not kept)".into() });
    }
    d
}

impl Desk {
    pub fn open(db: Db, audit_dir: &Path, config: DeskConfig) -> Result<Desk, DeskError> {
        Ok(Desk { db, audit: AuditLog::open(audit_dir)?, config })
    }

    pub fn config(&self) -> &DeskConfig {
        &self.config
    }

    fn log(&mut self, who: &str, action: &str, id: &str, detail: serde_json::Value) -> Result<(), DeskError> {
        let mut d = serde_json::json!({ "demand": id });
        if let (Some(m), serde_json::Value::Object(extra)) = (d.as_object_mut(), detail) {
            m.extend(extra);
        }
        self.record(who, action, d)
    }

    /// Appends a desk entry to the audit trail: `who` did `action`, `detail` (JSON) says
    /// what. The API also records here what it refused.
    pub fn record(&mut self, who: &str, action: &str, detail: serde_json::Value) -> Result<(), DeskError> {
        self.audit.append(Event::Provisioning(ProvisioningAct {
            who: who.to_owned(),
            action: action.to_owned(),
            liid: None,
            client: "desk".into(),
            detail: Some(detail.to_string()),
        }))?;
        Ok(())
    }

    /// Every entry of the audit trail, after its chain verified.
    pub fn audit_entries(&self) -> Result<Vec<audit::Entry>, DeskError> {
        trusted_entries(self.audit.dir())
    }

    /// Walks the audit trail's chain (`tapline audit verify`).
    pub fn verify_audit(&self) -> Result<Result<audit::Verified, audit::Tamper>, DeskError> {
        Ok(audit::verify_dir(self.audit.dir())?)
    }

    /// The call rows (the package's `calls.csv`) a decided demand releases, now; logged as
    /// `demand-queried` with the row count.
    pub fn query_calls(&mut self, id: &str, who: &str) -> Result<Vec<u8>, DeskError> {
        let r = self.get(id)?;
        if !matches!(r.state, State::Decided | State::Produced | State::Delivered) {
            return Err(DeskError::WrongState { id: r.id.clone(), state: r.state.as_str(), action: "query", needs: "a decided demand" });
        }
        let rel = r.release.ok_or_else(|| DeskError::Invalid { id: id.to_owned(), why: "not decided".into() })?;
        let (from, to) = period(&r)?;
        let (csv, rows) = package::released_calls_csv(&mut self.db, &r.doc.numbers, &rel, from, to)?;
        self.log(who, "demand-queried", id, serde_json::json!({ "calls": rows }))?;
        Ok(csv)
    }

    /// The zip of a produced demand's package; logged as `package-fetched`.
    pub fn package_zip(&mut self, id: &str, who: &str) -> Result<Vec<u8>, DeskError> {
        let r = self.get(id)?;
        let p = r.produced.ok_or_else(|| DeskError::WrongState { id: r.id.clone(), state: r.state.as_str(), action: "fetch", needs: "a produced demand" })?;
        let bytes = std::fs::read(&p.zip).map_err(|e| DeskError::Package(format!("{}: {e}", p.zip.display())))?;
        self.log(who, "package-fetched", id, serde_json::json!({ "manifest_sha256": p.manifest_sha256 }))?;
        Ok(bytes)
    }

    fn save(&mut self, r: &DemandRecord) -> Result<(), DeskError> {
        let json = serde_json::to_string(r).map_err(|e| DeskError::Package(e.to_string()))?;
        let customer = if r.doc.requester_kind == RequesterKind::Customer { r.doc.numbers.first().cloned() } else { None };
        let ndo = if r.doc.nondisclosure {
            Value::Int(r.doc.nondisclosure_until.as_deref().and_then(demand::parse_time).unwrap_or(i64::MAX))
        } else {
            Value::Null
        };
        let now = now_ns();
        let n = self.db.execute(
            "UPDATE demands SET doc = $1, state = $2, customer = $3, nondisclosure_until_ns = $4, updated_ns = $5 WHERE id = $6",
            &[json.as_str().into(), r.state.as_str().into(), Value::opt_text(&customer), ndo.clone(), now.into(), r.id.as_str().into()],
        )?;
        if n == 0 {
            self.db.execute(
                "INSERT INTO demands (doc, state, customer, nondisclosure_until_ns, updated_ns, id) VALUES ($1, $2, $3, $4, $5, $6)",
                &[json.into(), r.state.as_str().into(), Value::opt_text(&customer), ndo, now.into(), r.id.as_str().into()],
            )?;
        }
        Ok(())
    }

    pub fn get(&mut self, id: &str) -> Result<DemandRecord, DeskError> {
        let rows = self.db.query("SELECT doc FROM demands WHERE id = $1", &[id.into()])?;
        let doc = rows.first().and_then(|r| r.first()).and_then(Value::text).ok_or_else(|| DeskError::NoDemand(id.to_owned()))?;
        serde_json::from_str(doc).map_err(|e| DeskError::Invalid { id: id.to_owned(), why: e.to_string() })
    }

    pub fn list(&mut self) -> Result<Vec<DemandRecord>, DeskError> {
        let rows = self.db.query("SELECT id FROM demands ORDER BY id", &[])?;
        let ids: Vec<String> = rows.iter().filter_map(|r| r.first().and_then(Value::text).map(str::to_owned)).collect();
        ids.iter().map(|id| self.get(id)).collect()
    }

    /// Enters a demand; numbers are normalised (an unusable one makes validation return it
    /// for clarification). A customer's password is checked here and never stored.
    pub fn enter(&mut self, mut doc: DemandDoc, who: &str) -> Result<DemandRecord, DeskError> {
        let mut bad_number = false;
        for n in &mut doc.numbers {
            match number_key(n, &self.config.numbering) {
                Ok(key) => *n = key,
                Err(_) => bad_number = true,
            }
        }
        let count = self.db.query("SELECT COUNT(*) FROM demands", &[])?;
        let seq = count.first().and_then(|r| r.first()).and_then(Value::int).unwrap_or(0) + 1;
        let id = format!("D-{seq:06}");
        let password_verified = match (&doc.customer_auth, doc.numbers.first()) {
            (Some(CustomerAuth::Password { password }), Some(n)) => Some(cpni::verify_password(&mut self.db, n, password)?),
            (Some(CustomerAuth::Password { .. }), None) => Some(false),
            _ => None,
        };
        let r = DemandRecord {
            id: id.clone(),
            doc: passwordless(&doc),
            state: State::Entered,
            refusal: bad_number.then(|| Refusal::Invalid("a named number is not a telephone number or SIP URI".into())),
            release: None,
            produced_ns: None,
            produced: None,
            delivered_to: None,
            follow_up: false,
            password_verified,
        };
        self.save(&r)?;
        self.log(who, "demand-entered", &id, serde_json::json!({ "doc": r.doc }))?;
        Ok(r)
    }

    fn expect(r: &DemandRecord, state: State, action: &'static str, needs: &'static str) -> Result<(), DeskError> {
        if r.state != state {
            return Err(DeskError::WrongState { id: r.id.clone(), state: r.state.as_str(), action, needs });
        }
        Ok(())
    }

    /// Validates an entered demand: rejected or returned for clarification with the
    /// reason, or validated.
    pub fn validate(&mut self, id: &str, who: &str) -> Result<DemandRecord, DeskError> {
        let mut r = self.get(id)?;
        Self::expect(&r, State::Entered, "validate", "an entered demand")?;
        let checked = match r.refusal.clone() {
            Some(refusal) => Err(refusal),
            None => demand::validate(&r.doc, &self.config.carrier, now_ns(), self.config.retention_days).and_then(|_| self.authenticate(&r)),
        };
        let action = match checked {
            Ok(()) => {
                r.state = State::Validated;
                "demand-validated"
            }
            Err(refusal) => {
                r.state = refusal.outcome();
                r.refusal = Some(refusal);
                if r.state == State::Rejected { "demand-rejected" } else { "demand-returned" }
            }
        };
        self.save(&r)?;
        self.log(who, action, id, serde_json::json!({ "state": r.state, "refusal": r.refusal }))?;
        Ok(r)
    }

    /// CPNI: a customer's call detail only after a password, or by mail to the address of
    /// record / a call back to the number of record.
    fn authenticate(&mut self, r: &DemandRecord) -> Result<(), Refusal> {
        if r.doc.instrument != Instrument::CustomerRequest {
            return Ok(());
        }
        match (&r.doc.customer_auth, r.password_verified) {
            (Some(CustomerAuth::Password { .. }), Some(true)) => Ok(()),
            (Some(CustomerAuth::Password { .. }), _) => Err(Refusal::NotAuthenticated("wrong or no password on the account".into())),
            (Some(CustomerAuth::MailToAddressOfRecord | CustomerAuth::CallBackNumberOfRecord), _) => {
                let n = r.doc.numbers.first().cloned().unwrap_or_default();
                match self.db.subscriber(&n) {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err(Refusal::NotAuthenticated("no account of record for the number".into())),
                    Err(e) => Err(Refusal::Invalid(format!("records database: {e}"))),
                }
            }
            (None, _) => Err(Refusal::NotAuthenticated("no authentication given".into())),
        }
    }

    /// Decides what is released: the instrument table, or for an emergency disclosure the
    /// analyst's `grant` (required, with the demand's justification; flagged for follow-up).
    /// A preservation request places its holds here.
    pub fn decide(&mut self, id: &str, who: &str, grant: Option<Release>) -> Result<DemandRecord, DeskError> {
        let mut r = self.get(id)?;
        Self::expect(&r, State::Validated, "decide", "a validated demand")?;
        let table = release(r.doc.instrument);
        let decided = if table.analyst_decides {
            let g = grant.ok_or_else(|| DeskError::Invalid { id: id.to_owned(), why: "an emergency disclosure needs the analyst's grant".into() })?;
            r.follow_up = true;
            Release { analyst_decides: true, preserve: false, ..g }
        } else {
            if grant.is_some() {
                return Err(DeskError::Invalid { id: id.to_owned(), why: "only an emergency disclosure takes an analyst's grant".into() });
            }
            table
        };
        let mut holds = Vec::new();
        if decided.preserve {
            let (from, to) = period(&r)?;
            let now = now_ns();
            for (i, n) in r.doc.numbers.iter().enumerate() {
                let h = Hold {
                    id: format!("{id}-H{}", i + 1),
                    demand_id: id.to_owned(),
                    number: n.clone(),
                    from_ns: from,
                    to_ns: to,
                    expires_ns: now + PRESERVATION_DAYS * DAY_NS,
                    renewals: 0,
                };
                self.db.add_hold(&h)?;
                holds.push(h.id);
            }
        }
        r.release = Some(decided);
        r.state = State::Decided;
        self.save(&r)?;
        self.log(who, "demand-decided", id, serde_json::json!({ "release": decided, "follow_up": r.follow_up, "holds": holds }))?;
        Ok(r)
    }

    /// Demands about `number` a customer-facing view may show: none under a non-disclosure
    /// order that has not ended, and never a preservation hold's or the customer's own.
    pub fn customer_view(&mut self, number: &str, now: i64) -> Result<Vec<DemandRecord>, DeskError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|d| d.doc.requester_kind != RequesterKind::Customer && d.doc.numbers.iter().any(|n| n == number))
            .filter(|d| !d.doc.nondisclosure || d.doc.nondisclosure_until.as_deref().and_then(demand::parse_time).is_some_and(|t| t <= now))
            .collect())
    }

    /// Builds the response package under `out` (nothing for a preservation request).
    pub fn produce(&mut self, id: &str, who: &str, out: &Path) -> Result<DemandRecord, DeskError> {
        let mut r = self.get(id)?;
        Self::expect(&r, State::Decided, "produce", "a decided demand")?;
        let produced_ns = now_ns();
        let produced = self.build(&r, produced_ns, out)?;
        if r.doc.instrument == Instrument::CustomerRequest {
            let n = r.doc.numbers.first().cloned().unwrap_or_default();
            self.db.bill(produced_ns, &n, "records_request", self.config.customer_fee_cents, id)?;
        }
        r.produced_ns = Some(produced_ns);
        r.state = State::Produced;
        self.log(who, "demand-produced", id, serde_json::json!({
            "produced_ns": produced_ns,
            "manifest_sha256": produced.manifest_sha256,
            "files": produced.files,
            "calls": produced.calls,
            "traces": produced.traces,
        }))?;
        r.produced = Some(produced);
        self.save(&r)?;
        Ok(r)
    }

    fn build(&mut self, r: &DemandRecord, produced_ns: i64, out: &Path) -> Result<Produced, DeskError> {
        let rel = r.release.ok_or_else(|| DeskError::Invalid { id: r.id.clone(), why: "not decided".into() })?;
        let (from, to) = period(r)?;
        let disclosures = if r.doc.instrument == Instrument::CustomerRequest {
            let n = r.doc.numbers.first().cloned().unwrap_or_default();
            self.customer_view(&n, produced_ns)?
                .into_iter()
                .filter(|d| d.doc.instrument != Instrument::PreservationRequest)
                .map(|d| (d.id, format!("{:?}", d.doc.instrument), d.doc.received))
                .collect()
        } else {
            Vec::new()
        };
        let input = PackageInput {
            demand_id: &r.id,
            doc: &r.doc,
            release: &rel,
            from_ns: from,
            to_ns: to,
            produced_ns,
            carrier: &self.config.carrier,
            custodian: &self.config.custodian,
            disclosures,
        };
        package::build(&mut self.db, &input, out)
    }

    /// Records delivery. A customer request authenticated by mail or call back goes to the
    /// address or number of record whatever `to` says.
    pub fn deliver(&mut self, id: &str, who: &str, to: &str) -> Result<DemandRecord, DeskError> {
        let mut r = self.get(id)?;
        Self::expect(&r, State::Produced, "deliver", "a produced demand")?;
        let to = match r.doc.customer_auth {
            Some(CustomerAuth::MailToAddressOfRecord) => "mail to the address of record".to_owned(),
            Some(CustomerAuth::CallBackNumberOfRecord) => "call back to the number of record".to_owned(),
            _ => to.to_owned(),
        };
        r.delivered_to = Some(to.clone());
        r.state = State::Delivered;
        self.save(&r)?;
        self.log(who, "demand-delivered", id, serde_json::json!({ "to": to }))?;
        Ok(r)
    }

    /// Rebuilds a produced demand's package from the audit trail alone (the demand as
    /// entered, the decision, the production time) and the records database, under `out`;
    /// fails unless its manifest hash equals the one logged at production.
    pub fn reproduce(&mut self, id: &str, out: &Path) -> Result<Produced, DeskError> {
        let dir = self.audit.dir().to_owned();
        let entries = trusted_entries(&dir)?;
        let mut doc: Option<DemandDoc> = None;
        let mut rel: Option<Release> = None;
        let mut produced: Option<(i64, String)> = None;
        for e in entries {
            let Event::Provisioning(act) = e.event else { continue };
            let Some(detail) = act.detail.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()) else { continue };
            if detail["demand"] != id {
                continue;
            }
            match act.action.as_str() {
                "demand-entered" => doc = serde_json::from_value(detail["doc"].clone()).ok(),
                "demand-decided" => rel = serde_json::from_value(detail["release"].clone()).ok(),
                "demand-produced" => produced = detail["produced_ns"].as_i64().zip(detail["manifest_sha256"].as_str().map(str::to_owned)),
                _ => {}
            }
        }
        let invalid = |why: &str| DeskError::Invalid { id: id.to_owned(), why: why.to_owned() };
        let doc = doc.ok_or_else(|| invalid("not in the audit trail"))?;
        let rel = rel.ok_or_else(|| invalid("no decision in the audit trail"))?;
        let (produced_ns, sha) = produced.ok_or_else(|| invalid("no production in the audit trail"))?;
        let r = DemandRecord {
            id: id.to_owned(),
            doc,
            state: State::Decided,
            refusal: None,
            release: Some(rel),
            produced_ns: Some(produced_ns),
            produced: None,
            delivered_to: None,
            follow_up: false,
            password_verified: None,
        };
        let p = self.build(&r, produced_ns, out)?;
        if p.manifest_sha256 != sha {
            return Err(invalid("the rebuilt package differs from the one produced (records changed since?)"));
        }
        Ok(p)
    }
}

fn period(r: &DemandRecord) -> Result<(i64, i64), DeskError> {
    let bad = || DeskError::Invalid { id: r.id.clone(), why: "period is not RFC 3339".into() };
    Ok((demand::parse_time(&r.doc.from).ok_or_else(bad)?, demand::parse_time(&r.doc.to).ok_or_else(bad)?))
}

/// Wall clock, ns.
pub fn now_ns() -> i64 {
    i64::try_from(audit::now().as_nanos()).unwrap_or(i64::MAX)
}

/// Every entry of the audit log in `dir`, after `audit::verify_dir` found the chain intact.
fn trusted_entries(dir: &Path) -> Result<Vec<audit::Entry>, DeskError> {
    if let Err(t) = audit::verify_dir(dir)? {
        return Err(DeskError::Package(format!("the audit trail does not verify: {t}")));
    }
    let path = dir.join(audit::LOG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| DeskError::Package(format!("{}: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' ').and_then(|(_, json)| serde_json::from_str(json).ok()))
        .collect())
}
