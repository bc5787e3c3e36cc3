//! Warrant lifecycle in a running appliance: notices changes of the warrant directory
//! (modification times polled, or a SIGHUP), validates them, audits each change and hands
//! the pipeline an immutable snapshot plus the HI1 notifications to send. Every event
//! (load, change, activation, lapse) and its audit entry is stamped with the run's clock
//! ([`RunClock`]: packet time on replay, wall time live).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::audit::{self, AuditLog, Event, InterceptionRecord, InterceptionStatus, ProvisioningAct};
use super::schedule::Schedule;
use crate::handover::etsi::Hi1Notification;
use crate::time::RunClock;
use crate::warrant::{Numbering, Store, Warrant, WarrantError, WarrantTable};
use crate::Timestamp;

/// Who acts when a change is picked up from the warrant directory.
pub const STORE_ACTOR: &str = "warrant-store";

/// The warrants in force, by LIID, sharing the table's allocations.
pub type InForce = HashMap<String, Arc<Warrant>>;

/// What the packet path uses: the table new calls are matched against, and the warrants
/// whose records may still be delivered (a revoked one is absent).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub table: Arc<WarrantTable>,
    pub in_force: Arc<InForce>,
}

impl Snapshot {
    /// The snapshot of `warrants`, whose targets were parsed under `numbering`.
    pub fn new(warrants: impl IntoIterator<Item = Warrant>, numbering: Numbering) -> Snapshot {
        let table = WarrantTable::with_numbering(warrants, numbering);
        let in_force = table.iter().map(|w| (w.liid.as_str().to_owned(), Arc::clone(w))).collect();
        Snapshot { table: Arc::new(table), in_force: Arc::new(in_force) }
    }
}

/// One change the agency is told about on its HI2 connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub agency: String,
    pub liid: String,
    pub notification: Hi1Notification,
}

/// A new snapshot and what changed.
#[derive(Debug)]
pub struct Update {
    pub snapshot: Snapshot,
    pub notices: Vec<Notice>,
    /// The run's clock when the change was picked up: its audit entries and HI1
    /// notifications carry this time.
    pub at: Timestamp,
}

/// The warrant directory as last loaded, and the audit log changes go to.
pub struct Lifecycle {
    dir: PathBuf,
    /// Agencies the delivery was started with; warrants for others are refused.
    agencies: HashSet<String>,
    fingerprint: Vec<(PathBuf, Option<SystemTime>, u64)>,
    current: BTreeMap<String, Warrant>,
    audit: Option<Arc<Mutex<AuditLog>>>,
    /// Loaded warrants the audit log already records as in force with the same order.
    on_record: HashSet<String>,
    /// The number domains the run was started with; like the agencies, fixed until restart.
    numbering: Numbering,
    /// What every event is stamped with.
    clock: Arc<RunClock>,
}

impl Lifecycle {
    /// Starts from the store loaded at startup. A warrant the audit log last recorded as in
    /// force with the same order gets no new entry; any other is audited as loaded, and its
    /// activation when packet time reaches it (see [`Timeline`]). Events are stamped `clock`.
    pub fn new(dir: &Path, store: &Store, audit: Option<Arc<Mutex<AuditLog>>>, clock: Arc<RunClock>) -> Lifecycle {
        let last = match &audit {
            Some(log) => {
                let dir = lock(log).dir().to_owned();
                audit::last_interceptions(&dir).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "cannot read the audit trail back: every warrant is audited as loaded");
                    HashMap::new()
                })
            }
            None => HashMap::new(),
        };
        let mut lc = Lifecycle {
            dir: dir.to_owned(),
            agencies: store.agencies.iter().map(|a| a.id.clone()).collect(),
            fingerprint: fingerprint(dir),
            current: store.warrants.iter().map(|w| (w.liid.as_str().to_owned(), w.clone())).collect(),
            audit,
            on_record: HashSet::new(),
            numbering: store.appliance.numbering.clone(),
            clock,
        };
        let loaded: Vec<Warrant> = lc.current.values().cloned().collect();
        for w in &loaded {
            let liid = w.liid.as_str();
            if last.get(liid).is_some_and(|(status, record)| in_force_as_recorded(w, *status, record)) {
                lc.on_record.insert(liid.to_owned());
            } else {
                lc.act("load", w);
            }
        }
        lc
    }

    /// The packet-time schedule of `in_force` (the startup snapshot), auditing to the same log.
    pub fn timeline(&self, in_force: &InForce) -> Timeline {
        Timeline {
            schedule: Schedule::new(in_force),
            audit: self.audit.clone(),
            on_record: self.on_record.clone(),
            told_active: HashMap::new(),
            clock: Arc::clone(&self.clock),
        }
    }

    /// The snapshot of what is in force now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.current.values().cloned(), self.numbering.clone())
    }

    /// Reloads when a file of the directory changed (or always with `force`, on SIGHUP).
    /// None when nothing changed or the directory was refused as a whole.
    pub fn poll(&mut self, force: bool) -> Option<Update> {
        let now = fingerprint(&self.dir);
        if !force && now == self.fingerprint {
            return None;
        }
        self.fingerprint = now;
        self.reload()
    }

    fn reload(&mut self) -> Option<Update> {
        let (store, errors) = match Store::load_dir(&self.dir) {
            Ok(loaded) => loaded,
            Err(e) => {
                self.refused(&e, "agencies file invalid: no warrant changed");
                return None;
            }
        };
        if store.appliance.numbering != self.numbering {
            // Targets kept from files refused now were keyed under the running numbering, and
            // the handover encoders use it too: a change applies as a whole, on restart.
            let e = WarrantError::new(
                &self.dir.join(crate::warrant::AGENCIES_FILE),
                Some("appliance.number_domains"),
                "changed: restart to apply (no warrant changed)",
            );
            self.refused(&e, "agencies file changed number_domains: no warrant changed");
            return None;
        }
        let mut refused_files: HashSet<PathBuf> = HashSet::new();
        for e in &errors {
            self.refused(e, "refused: the warrant in force (if any) is kept");
            refused_files.insert(e.file.clone());
        }
        let mut next: BTreeMap<String, Warrant> = BTreeMap::new();
        for w in store.warrants {
            if !self.agencies.contains(&w.agency) {
                let e = WarrantError::new(&w.source, Some("agency"), "agency not delivered to by this run (restart to add agencies)");
                self.refused(&e, "refused: the warrant in force (if any) is kept");
                refused_files.insert(w.source.clone());
                continue;
            }
            next.insert(w.liid.as_str().to_owned(), w);
        }
        // A file that fails validation changes nothing: its warrant stays as it was.
        for (liid, w) in &self.current {
            if refused_files.contains(&w.source) && !next.contains_key(liid) {
                next.insert(liid.clone(), w.clone());
            }
        }
        let since = self.clock.now();
        let mut notices = Vec::new();
        let previous = std::mem::take(&mut self.current);
        for (liid, w) in &next {
            match previous.get(liid) {
                None => {
                    // Its interception record comes with its activation in packet time.
                    self.act("create", w);
                    notices.push(notice(w, Hi1Notification::Activated));
                }
                Some(old) if !same_order(old, w) => {
                    self.record("amend", w, since, InterceptionStatus::Modified, None);
                    notices.push(notice(w, Hi1Notification::Modified));
                }
                Some(_) => {}
            }
        }
        for (liid, old) in &previous {
            if !next.contains_key(liid) {
                self.record("revoke", old, since, InterceptionStatus::Deactivated, Some(since));
                notices.push(notice(old, Hi1Notification::Deactivated));
            }
        }
        self.current = next;
        if notices.is_empty() {
            return None;
        }
        tracing::info!(changes = notices.len(), warrants = self.current.len(), "warrant table reloaded");
        Some(Update { snapshot: self.snapshot(), notices, at: since })
    }

    fn refused(&mut self, e: &WarrantError, what: &str) {
        tracing::warn!(error = %e, "{what}");
        self.audit(Event::Provisioning(ProvisioningAct {
            who: STORE_ACTOR.into(),
            action: "refused".into(),
            liid: None,
            client: e.file.display().to_string(),
            detail: Some(format!("{}{}", e.key.as_ref().map_or(String::new(), |k| format!("key `{k}`: ")), e.reason)),
        }));
    }

    fn record(&mut self, action: &str, w: &Warrant, since: Timestamp, status: InterceptionStatus, until: Option<Timestamp>) {
        self.act(action, w);
        self.audit(Event::Interception { status, record: InterceptionRecord::of(w, since, until) });
    }

    fn act(&mut self, action: &str, w: &Warrant) {
        self.audit(Event::Provisioning(ProvisioningAct {
            who: STORE_ACTOR.into(),
            action: action.into(),
            liid: Some(w.liid.to_string()),
            client: w.source.display().to_string(),
            detail: None,
        }));
    }

    fn audit(&self, event: Event) {
        append(self.audit.as_ref(), event, self.clock.now());
    }
}

/// The packet-time schedule of the warrants in force, auditing each activation and lapse
/// it reaches. Lives on the packet path: [`advance`](Timeline::advance) on every packet.
#[derive(Debug)]
pub struct Timeline {
    schedule: Schedule,
    audit: Option<Arc<Mutex<AuditLog>>>,
    /// LIIDs whose activation the audit log already holds from an earlier run.
    on_record: HashSet<String>,
    /// LIID → order digest of warrants an earlier run told their agency were activated
    /// (from the [`super::Hi1Ledger`]): their activation is not sent again.
    told_active: HashMap<String, String>,
    /// What the audit entries are stamped with.
    clock: Arc<RunClock>,
}

impl Timeline {
    /// Leaves out the activation of each warrant `told` (LIID → order digest) says its
    /// agency already knows active under the same order.
    pub fn already_told(mut self, told: HashMap<String, String>) -> Timeline {
        self.told_active = told;
        self
    }

    /// The notices packet time `now` brings (warrants reaching `valid_from` or `valid_until`),
    /// each audited with its packet-time start and end. Cheap when nothing is due.
    pub fn advance(&mut self, now: Timestamp) -> Vec<Notice> {
        self.clock.observe(now);
        let due = self.schedule.advance(now);
        due.iter()
            .filter_map(|t| {
                let known = t.notification == Hi1Notification::Activated && self.on_record.remove(t.warrant.liid.as_str());
                if !known {
                    let status = match t.notification {
                        Hi1Notification::Activated => InterceptionStatus::Activated,
                        Hi1Notification::Modified => InterceptionStatus::Modified,
                        Hi1Notification::Deactivated => InterceptionStatus::Deactivated,
                    };
                    append(self.audit.as_ref(), Event::Interception { status, record: t.record() }, self.clock.now());
                }
                let told = t.notification == Hi1Notification::Activated
                    && self
                        .told_active
                        .remove(t.warrant.liid.as_str())
                        .is_some_and(|order| order == super::hi1_ledger::order_digest(&t.warrant));
                (!told).then(|| t.notice())
            })
            .collect()
    }

    /// The run's clock now: what the notices [`advance`](Timeline::advance) returns are
    /// stamped with.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Follows a reloaded snapshot. Returns the reload's notices to send now: activations
    /// are left out, since the next [`advance`](Timeline::advance) tells them at packet time.
    pub fn reseed(&mut self, in_force: &InForce, notices: Vec<Notice>) -> Vec<Notice> {
        self.schedule.reseed(in_force);
        notices.into_iter().filter(|n| n.notification != Hi1Notification::Activated).collect()
    }
}

fn lock(log: &Mutex<AuditLog>) -> std::sync::MutexGuard<'_, AuditLog> {
    log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Appends to the audit log, if kept, stamped `at`; a failure is logged (the packet path
/// goes on).
fn append(log: Option<&Arc<Mutex<AuditLog>>>, event: Event, at: Timestamp) {
    let Some(log) = log else { return };
    if let Err(e) = lock(log).append_at(event, at) {
        tracing::error!(error = %e, "cannot write the audit trail");
    }
}

/// The audit log's last record of the LIID says it is in force under this same order.
fn in_force_as_recorded(w: &Warrant, status: InterceptionStatus, record: &InterceptionRecord) -> bool {
    if status == InterceptionStatus::Deactivated {
        return false;
    }
    let mut now = InterceptionRecord::of(w, w.valid_from, None);
    now.start.clone_from(&record.start);
    now == *record
}

fn notice(w: &Warrant, notification: Hi1Notification) -> Notice {
    Notice { agency: w.agency.clone(), liid: w.liid.to_string(), notification }
}

/// Equal apart from the file it was read from.
fn same_order(a: &Warrant, b: &Warrant) -> bool {
    let mut b = b.clone();
    b.source.clone_from(&a.source);
    *a == b
}

/// Name, modification time and size of every entry of `dir`, sorted.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let meta = e.metadata().ok();
            (e.path(), meta.as_ref().and_then(|m| m.modified().ok()), meta.map_or(0, |m| m.len()))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const AGENCIES: &str = "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n\n[[agency]]\nid = \"fbi-denver\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n";

    fn warrant_toml(liid: &str, target: &str, until: &str) -> String {
        format!(
            "liid = \"{liid}\"\nkind = \"pen-register\"\nagency = \"fbi-denver\"\ntargets = [\"{target}\"]\nvalid_from = 2026-01-01T00:00:00Z\nvalid_until = {until}\ncourt_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Jane Doe\"\nserved_by = \"SA R. Alvarez\"\nprovisioned_by = \"K. Osei\"\n"
        )
    }

    fn setup() -> (tempfile::TempDir, Lifecycle) {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("warrants");
        fs::create_dir(&w).unwrap();
        fs::write(w.join("agencies.toml"), AGENCIES).unwrap();
        fs::write(w.join("A-1.toml"), warrant_toml("A-1", "tel:+13035550142", "2027-01-01T00:00:00Z")).unwrap();
        let (store, errors) = Store::load_dir(&w).unwrap();
        assert!(errors.is_empty());
        let log = AuditLog::open(&dir.path().join("audit")).unwrap();
        let lc = Lifecycle::new(&w, &store, Some(Arc::new(Mutex::new(log))), Arc::new(RunClock::wall()));
        (dir, lc)
    }

    fn liids(s: &Snapshot) -> Vec<String> {
        let mut v: Vec<String> = s.in_force.keys().cloned().collect();
        v.sort();
        v
    }

    #[test]
    fn add_amend_revoke_and_refuse() {
        let (dir, mut lc) = setup();
        let w = dir.path().join("warrants");
        assert!(lc.poll(false).is_none(), "nothing changed");
        assert_eq!(liids(&lc.snapshot()), ["A-1"]);

        fs::write(w.join("B-1.toml"), warrant_toml("B-1", "tel:+13035550199", "2027-01-01T00:00:00Z")).unwrap();
        let u = lc.poll(true).unwrap();
        assert_eq!(liids(&u.snapshot), ["A-1", "B-1"]);
        assert_eq!(u.notices, [Notice { agency: "fbi-denver".into(), liid: "B-1".into(), notification: Hi1Notification::Activated }]);

        fs::write(w.join("B-1.toml"), warrant_toml("B-1", "tel:+13035550199", "2026-06-01T00:00:00Z")).unwrap();
        let u = lc.poll(true).unwrap();
        assert_eq!(u.notices[0].notification, Hi1Notification::Modified);
        let b = &u.snapshot.in_force["B-1"];
        assert_eq!(b.valid_until.to_rfc3339(), "2026-06-01T00:00:00.000000Z");

        // A broken edit of A-1 changes nothing; A-1 stays in force as it was.
        fs::write(w.join("A-1.toml"), "liid = \"A-1\"\nkind = \"wiretap\"\n").unwrap();
        assert!(lc.poll(true).is_none());
        assert_eq!(liids(&lc.snapshot()), ["A-1", "B-1"]);

        fs::remove_file(w.join("B-1.toml")).unwrap();
        let u = lc.poll(true).unwrap();
        assert_eq!(liids(&u.snapshot), ["A-1"]);
        assert_eq!(u.notices[0].notification, Hi1Notification::Deactivated);

        let audit_dir = dir.path().join("audit");
        // The broken file has 7 errors (unknown kind, 6 keys missing), each refused at both reloads.
        assert_eq!(audit::verify_dir(&audit_dir).unwrap().unwrap().entries, 1 + 1 + 2 + 2 * 7 + 2, "load, create, amend, refusals (the broken file's errors), revoke");
        let b_entries = audit::entries_of_liid(&audit_dir, "B-1").unwrap();
        let statuses: Vec<_> = b_entries
            .iter()
            .filter_map(|e| match &e.event {
                Event::Interception { status, .. } => Some(*status),
                Event::Provisioning(_) => None,
            })
            .collect();
        // Its activation is audited by the timeline, at packet time.
        assert_eq!(statuses, [InterceptionStatus::Modified, InterceptionStatus::Deactivated]);
    }

    fn audited(dir: &Path) -> u64 {
        audit::verify_dir(&dir.join("audit")).unwrap().unwrap().entries
    }

    fn restart(dir: &Path) -> Lifecycle {
        let w = dir.join("warrants");
        let (store, errors) = Store::load_dir(&w).unwrap();
        assert!(errors.is_empty());
        let log = AuditLog::open(&dir.join("audit")).unwrap();
        Lifecycle::new(&w, &store, Some(Arc::new(Mutex::new(log))), Arc::new(RunClock::wall()))
    }

    /// 2026-09-21, inside the orders' validity.
    const PACKET: Timestamp = Timestamp::from_nanos(1_790_000_000_000_000_000);

    #[test]
    fn a_restart_audits_only_changed_warrants() {
        let (dir, lc) = setup();
        assert_eq!(audited(dir.path()), 1, "A-1 loaded");
        let mut t = lc.timeline(&lc.snapshot().in_force);
        assert_eq!(t.advance(PACKET).len(), 1);
        assert_eq!(audited(dir.path()), 2, "A-1 activated at packet time");

        // The same order after a restart: the agency is told again, the audit log is not.
        let lc = restart(dir.path());
        let mut t = lc.timeline(&lc.snapshot().in_force);
        let notices = t.advance(PACKET);
        assert_eq!(notices.iter().map(|n| n.notification).collect::<Vec<_>>(), [Hi1Notification::Activated]);
        assert_eq!(audited(dir.path()), 2);

        // A-1 amended and B-1 new while stopped: both loaded and activated anew.
        let w = dir.path().join("warrants");
        fs::write(w.join("A-1.toml"), warrant_toml("A-1", "tel:+13035550142", "2026-12-01T00:00:00Z")).unwrap();
        fs::write(w.join("B-1.toml"), warrant_toml("B-1", "tel:+13035550199", "2027-01-01T00:00:00Z")).unwrap();
        let lc = restart(dir.path());
        let mut t = lc.timeline(&lc.snapshot().in_force);
        assert_eq!(t.advance(PACKET).len(), 2);
        assert_eq!(audited(dir.path()), 2 + 2 + 2);
        let a = audit::entries_of_liid(&dir.path().join("audit"), "A-1").unwrap();
        let Some(Event::Interception { status, record }) = a.last().map(|e| &e.event) else { panic!("{a:?}") };
        assert_eq!((*status, record.end.as_str()), (InterceptionStatus::Activated, "2026-12-01T00:00:00.000000Z"));
        assert_eq!(record.start, PACKET.to_rfc3339());

        // Once lapsed in packet time, a restart sees it as ended and audits it again.
        assert_eq!(t.advance(Timestamp::from_nanos(1_797_000_000_000_000_000)).len(), 1);
        assert_eq!(audited(dir.path()), 7, "A-1 deactivated");
        drop(restart(dir.path()));
        assert_eq!(audited(dir.path()), 8, "A-1 loaded again");
    }

    #[test]
    fn modification_time_is_noticed_without_force() {
        let (dir, mut lc) = setup();
        fs::write(dir.path().join("warrants/C-1.toml"), warrant_toml("C-1", "tel:+13035550177", "2027-01-01T00:00:00Z")).unwrap();
        let u = lc.poll(false).unwrap();
        assert_eq!(liids(&u.snapshot), ["A-1", "C-1"]);
    }

    #[test]
    fn bad_agencies_file_changes_nothing() {
        let (dir, mut lc) = setup();
        let w = dir.path().join("warrants");
        fs::write(w.join("agencies.toml"), "[appliance]\n").unwrap();
        fs::remove_file(w.join("A-1.toml")).unwrap();
        assert!(lc.poll(false).is_none());
        assert_eq!(liids(&lc.snapshot()), ["A-1"]);
    }
}
