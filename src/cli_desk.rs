//! `tapline demand …` and `tapline desk …`: the Law Enforcement Support desk's command
//! line over the records database and the audit trail (see README, "Law Enforcement
//! Support desk").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use tapline::desk::{DemandDoc, Desk, DeskConfig, DeskRole, Release};
use tapline::records::{self, Db, Retention};
use tapline::warrant::Numbering;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The desk's records database, audit trail and carrier.
#[derive(Args, Clone)]
pub struct Place {
    /// Records database: a SQLite file or postgres://….
    #[arg(long, value_name = "PATH|postgres://…")]
    db: String,
    /// Audit trail directory.
    #[arg(long)]
    audit: PathBuf,
    /// The carrier's legal entity demands must be addressed to.
    #[arg(long, default_value = "Carrier Example Inc.")]
    carrier: String,
    #[command(flatten)]
    appliance: ApplianceArgs,
}

impl Place {
    fn desk(&self) -> Result<Desk> {
        let config = DeskConfig { carrier: self.carrier.clone(), numbering: self.appliance.numbering()?, ..DeskConfig::default() };
        Ok(Desk::open(Db::open(&self.db)?, &self.audit, config)?)
    }
}

/// Where the desk keeps its state, and who acts.
#[derive(Args, Clone)]
pub struct Store {
    #[command(flatten)]
    place: Place,
    /// Who acts (recorded in the audit trail).
    #[arg(long = "as", value_name = "NAME", default_value = "analyst")]
    who: String,
}

impl Store {
    fn desk(&self) -> Result<Desk> {
        self.place.desk()
    }
}

/// How numbers written by people key: under the appliance's number domains, as in `tapline run`.
#[derive(Args, Clone)]
pub struct ApplianceArgs {
    /// The appliance's warrant directory: its agencies.toml `[appliance] number_domains` say
    /// which SIP hosts' digit users are telephone numbers (without it: none).
    #[arg(long = "warrants", value_name = "DIR")]
    warrants: Option<PathBuf>,
}

impl ApplianceArgs {
    fn numbering(&self) -> Result<Numbering> {
        match &self.warrants {
            Some(dir) => Ok(tapline::warrant::Store::load_dir(dir)?.0.appliance.numbering),
            None => Ok(Numbering::default()),
        }
    }
}

/// How long the records database keeps things (`tapline run`, `replay`, `desk purge`).
#[derive(Args, Clone, Copy)]
pub struct RetentionArgs {
    /// Days call records are kept (47 CFR §42.6: 18 months); purged daily, except under a
    /// preservation hold.
    #[arg(long, default_value_t = records::DEFAULT_RETENTION_DAYS, value_parser = clap::value_parser!(i64).range(1..))]
    retention_days: i64,
    /// Business days a Call Identification Center case is kept after its last trace.
    #[arg(long, default_value_t = records::cic::DEFAULT_TRACE_RETENTION_BUSINESS_DAYS, value_parser = clap::value_parser!(i64).range(1..))]
    trace_business_days: i64,
}

impl RetentionArgs {
    pub fn get(self) -> Retention {
        Retention { call_days: self.retention_days, trace_business_days: self.trace_business_days }
    }
}

#[derive(Subcommand)]
pub enum DemandCommand {
    /// Enter a demand from a TOML or JSON file; prints its id.
    Enter {
        /// The demand file (TOML or JSON).
        file: PathBuf,
        #[command(flatten)]
        store: Store,
    },
    /// Validate: validated, rejected or returned for clarification (with the reason).
    Validate {
        /// The demand's id (D-NNNNNN).
        id: String,
        #[command(flatten)]
        store: Store,
    },
    /// Decide what is released (the instrument table; an emergency disclosure needs --grant).
    Decide {
        /// The demand's id (D-NNNNNN).
        id: String,
        /// Emergency disclosures: the analyst's grant, a JSON `Release`.
        #[arg(long)]
        grant: Option<PathBuf>,
        #[command(flatten)]
        store: Store,
    },
    /// Build the response package (directory and zip) under OUT.
    Produce {
        /// The demand's id (D-NNNNNN).
        id: String,
        /// Directory the package is written into.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: Store,
    },
    /// Record delivery.
    Deliver {
        /// The demand's id (D-NNNNNN).
        id: String,
        /// To whom and how the package was delivered.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        store: Store,
    },
    /// Rebuild a produced package from the audit trail and check its manifest hash.
    Reproduce {
        /// The demand's id (D-NNNNNN).
        id: String,
        /// Directory the rebuilt package is written into.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        store: Store,
    },
    /// Print a demand (JSON).
    Show {
        /// The demand's id (D-NNNNNN).
        id: String,
        #[command(flatten)]
        store: Store,
    },
    /// List demands: id, state, instrument.
    List {
        #[command(flatten)]
        store: Store,
    },
}

#[derive(Subcommand)]
pub enum DeskCommand {
    /// Serve the desk's HTTPS API (mutual TLS; the role is the client certificate's OU:
    /// desk-analyst, desk-supervisor, desk-auditor). See README, "The desk's API".
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "HOST:PORT")]
        listen: std::net::SocketAddr,
        /// The API's server certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The API's private key (PEM, mode 0600).
        #[arg(long)]
        key: PathBuf,
        /// CA of the staff's client certificates (PEM).
        #[arg(long)]
        client_ca: PathBuf,
        /// Directory response packages are written into.
        #[arg(long)]
        packages: PathBuf,
        #[command(flatten)]
        place: Place,
    },
    /// Import the subscriber directory (CSV with a header row, or TOML `[[subscriber]]`).
    ImportDirectory {
        /// The directory file (.csv or .toml).
        file: PathBuf,
        /// Records database: a SQLite file or postgres://….
        #[arg(long)]
        db: String,
        #[command(flatten)]
        appliance: ApplianceArgs,
    },
    /// The daily purge (`tapline run` does it itself): calls past retention (except under a
    /// hold), traces past theirs.
    Purge {
        /// Records database: a SQLite file or postgres://….
        #[arg(long)]
        db: String,
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Set a customer's CPNI password (read from the TAPLINE_CPNI_PASSWORD environment variable).
    SetPassword {
        /// The subscriber's number.
        number: String,
        #[command(flatten)]
        store: Store,
    },
    /// Block or unblock Call Trace on a subscriber line (audited); a running appliance
    /// applies it at its next start.
    BlockTrace {
        /// The subscriber's number.
        number: String,
        /// Lift the block instead of setting it.
        #[arg(long)]
        unblock: bool,
        #[command(flatten)]
        store: Store,
    },
    /// The Call Identification Center's cases of a subscriber (JSON).
    Cases {
        /// The subscriber's number.
        number: String,
        #[command(flatten)]
        store: Store,
    },
    /// An analyst releases a case below the three-trace threshold (threatening calls).
    Override {
        /// The case id.
        case: String,
        /// Why (recorded with the override).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        store: Store,
    },
    /// A case was handed to law enforcement: its traces are deleted.
    HandOff {
        /// The case id.
        case: String,
        #[command(flatten)]
        store: Store,
    },
}

fn now() -> i64 {
    i64::try_from(tapline::audit::now().as_nanos()).unwrap_or(i64::MAX)
}

fn read_doc(path: &Path) -> Result<DemandDoc> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
    } else {
        Ok(toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?)
    }
}

pub fn run_demand(cmd: DemandCommand) -> Result<ExitCode> {
    let print = |r: &tapline::desk::DemandRecord| {
        let reason = r.refusal.as_ref().map(|x| format!(" ({x})")).unwrap_or_default();
        println!("{} {}{reason}", r.id, r.state.as_str());
    };
    match cmd {
        DemandCommand::Enter { file, store } => print(&store.desk()?.enter(read_doc(&file)?, &store.who)?),
        DemandCommand::Validate { id, store } => {
            let r = store.desk()?.validate(&id, &store.who)?;
            print(&r);
            if r.refusal.is_some() {
                return Ok(ExitCode::from(3));
            }
        }
        DemandCommand::Decide { id, grant, store } => {
            let grant: Option<Release> = match grant {
                Some(p) => Some(serde_json::from_str(&std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?)?),
                None => None,
            };
            print(&store.desk()?.decide(&id, &store.who, grant)?);
        }
        DemandCommand::Produce { id, out, store } => {
            let r = store.desk()?.produce(&id, &store.who, &out)?;
            print(&r);
            if let Some(p) = &r.produced {
                println!("{} {} manifest sha256 {}", p.dir.display(), p.zip.display(), p.manifest_sha256);
            }
        }
        DemandCommand::Deliver { id, to, store } => print(&store.desk()?.deliver(&id, &store.who, &to)?),
        DemandCommand::Reproduce { id, out, store } => {
            let p = store.desk()?.reproduce(&id, &out)?;
            println!("{} reproduced, manifest sha256 {}", p.dir.display(), p.manifest_sha256);
        }
        DemandCommand::Show { id, store } => println!("{}", serde_json::to_string_pretty(&store.desk()?.get(&id)?)?),
        DemandCommand::List { store } => {
            for r in store.desk()?.list()? {
                println!("{} {} {:?}", r.id, r.state.as_str(), r.doc.instrument);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(tls: &tapline::provision::https::TlsListen, desk: Desk, packages: &Path) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let api = tapline::desk::api::start(tls, desk, packages).await?;
        println!("desk API on {}", api.addr);
        tapline::lemf::wait_for_signal().await;
        api.stop();
        Ok(ExitCode::SUCCESS)
    })
}

/// `tapline certs --desk-user NAME:ROLE`: a desk client certificate per person, from the
/// development CA in `out`; prints the files.
pub fn issue_desk_users(out: &Path, users: &[String]) -> Result<()> {
    for u in users {
        let (name, role) = u.split_once(':').ok_or_else(|| format!("--desk-user `{u}`: expected NAME:ROLE"))?;
        let role = DeskRole::parse(role).ok_or_else(|| format!("--desk-user `{u}`: role is analyst, supervisor or auditor"))?;
        let f = tapline::delivery::pki::issue_client_cert(out, name, role.unit())?;
        println!("{:<13} {} {} (OU {})", name, f.cert.display(), f.key.display(), role.unit());
    }
    Ok(())
}

pub fn run_desk(cmd: DeskCommand) -> Result<ExitCode> {
    match cmd {
        DeskCommand::Serve { listen, cert, key, client_ca, packages, place } => {
            let tls = tapline::provision::https::TlsListen { listen, cert, key, client_ca };
            return serve(&tls, place.desk()?, &packages);
        }
        DeskCommand::ImportDirectory { file, db, appliance } => {
            let mut db = Db::open(&db)?;
            let numbering = appliance.numbering()?;
            let n = if file.extension().is_some_and(|e| e == "csv") {
                records::import_csv(&mut db, &file, &numbering)?
            } else {
                records::import_toml(&mut db, &file, &numbering)?
            };
            println!("{n} subscribers imported");
        }
        DeskCommand::Purge { db, retention } => {
            let report = Db::open(&db)?.purge_expired(now(), &retention.get())?;
            println!("{}", serde_json::to_string(&report)?);
        }
        DeskCommand::SetPassword { number, store } => {
            let password = std::env::var("TAPLINE_CPNI_PASSWORD").map_err(|_| "set TAPLINE_CPNI_PASSWORD to the new password")?;
            store.desk()?.set_cpni_password(&number, &password, &store.who)?;
            println!("password set; the customer is notified at the address of record");
        }
        DeskCommand::BlockTrace { number, unblock, store } => store.desk()?.set_trace_block(&number, !unblock, &store.who)?,
        DeskCommand::Cases { number, store } => {
            let (cases, traces) = store.desk()?.cases(&number, &store.who)?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "cases": cases, "traces": traces }))?);
        }
        DeskCommand::Override { case, reason, store } => store.desk()?.override_case(&case, &reason, &store.who)?,
        DeskCommand::HandOff { case, store } => {
            let n = store.desk()?.hand_off(&case, &store.who)?;
            println!("{n} traces deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
