//! The `tapline` command line: parses arguments and calls the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;
use cli::checks;
mod cli_admf;
mod cli_desk;
mod cli_poi;

#[derive(Parser)]
#[command(name = "tapline", version, about = "Lawful-intercept mediation: SIP/RTP to ETSI TS 102 232 handover")]
struct Cli {
    /// Log line format on stderr: `text` (coloured only on a terminal) or `json` (one object
    /// per line, for journald or a log shipper). The level is INFO unless RUST_LOG says otherwise.
    #[arg(long, global = true, value_enum, default_value_t = cli::logging::LogFormat::Text, env = "TAPLINE_LOG_FORMAT")]
    log_format: cli::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a pcap/pcapng capture against a warrant directory; write each agency's
    /// hi2.ber/hi3.ber and summary.json into OUT.
    Replay {
        /// The pcap or pcapng capture file.
        capture: PathBuf,
        /// Warrant directory: agencies.toml and one TOML file per warrant.
        #[arg(long)]
        warrants: PathBuf,
        /// Output directory (one subdirectory per agency, and summary.json).
        #[arg(long)]
        out: PathBuf,
        /// Call Trace (*57) configuration (see calltrace/README.md).
        #[arg(long)]
        calltrace: Option<PathBuf>,
        /// Call trace state file: running counts survive restarts (needs --calltrace).
        #[arg(long, requires = "calltrace")]
        calltrace_state: Option<PathBuf>,
        /// Media shard threads; 0 runs every stage on one thread (the reference output).
        #[arg(long, default_value_t = 1)]
        media_shards: usize,
        #[command(flatten)]
        timers: CallTimerArgs,
        /// Call detail records of every call into this database: a SQLite file or postgres://….
        #[arg(long, value_name = "PATH|postgres://…")]
        records_db: Option<String>,
        /// List every LIID in the summary (default: the top 10 by records and a totals line).
        #[arg(long)]
        verbose: bool,
        #[command(flatten)]
        retention: cli_desk::RetentionArgs,
    },
    /// Print a handover stream as JSON lines: BER PS-PDUs (hi2.ber, hi3.ber), or `laes`
    /// CDC records (hi2.ber) or CCC frames (hi3.ccc).
    Decode {
        /// hi2.ber, hi3.ber (etsi) or hi2.ber, hi3.ccc (laes).
        file: PathBuf,
        /// `etsi`, `laes` or `x2x3`; default: `laes` for a stream of CdcPdus or a `.ccc`
        /// file, `x2x3` for a stream of X2/X3 PDUs (a POI spool segment).
        #[arg(long)]
        profile: Option<String>,
        /// Print one line per call (as the LEMF's calls.jsonl) from an etsi hi2.ber; the
        /// hi3.ber beside it gives the content counts.
        #[arg(long)]
        calls: bool,
    },
    /// Warrant provisioning.
    Warrant {
        #[command(subcommand)]
        command: cli::warrant::WarrantCommand,
    },
    /// Legal demands at the Law Enforcement Support desk (enter, validate, decide, produce, deliver).
    Demand {
        #[command(subcommand)]
        command: cli_desk::DemandCommand,
    },
    /// The desk's records database: directory import, purge, CPNI password, Call Identification Center.
    Desk {
        #[command(subcommand)]
        command: cli_desk::DeskCommand,
    },
    /// The CALEA audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run the pipeline and deliver each agency's records over mutual TLS from a disk spool.
    Run(RunArgs),
    /// A reference agency server (LEMF): accepts the appliance over mutual TLS, answers
    /// keep-alives, writes records.jsonl, hi2.ber, hi3.ber, content.pcap, calls.jsonl and
    /// calls.pcap into OUT.
    Lemf {
        /// Address to listen on; repeat for the HI2 and HI3 ports.
        #[arg(long, required = true)]
        listen: Vec<std::net::SocketAddr>,
        /// The agency server's certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The agency server's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// CA of the appliance's client certificate (PEM).
        #[arg(long)]
        client_ca: PathBuf,
        /// Directory the received records are written into.
        #[arg(long)]
        out: PathBuf,
        /// The agency's copy of the warrants: which party is the target, so calls.pcap puts
        /// content at its real addresses (without it, on synthetic ones).
        #[arg(long, value_name = "DIR")]
        warrants: Option<PathBuf>,
    },
    /// Create a development PKI: CA, appliance client certificate, one server certificate
    /// per agency.
    Certs {
        /// Directory for the CA, certificates and keys.
        #[arg(long)]
        out: PathBuf,
        /// Agency id (repeatable); default: the bundled demo agencies.
        #[arg(long = "agency")]
        agencies: Vec<String>,
        /// Host name or address for the server certificates (repeatable); default loopback.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// A desk client certificate NAME.pem (CN NAME, OU desk-ROLE; ROLE analyst,
        /// supervisor or auditor), repeatable; issued by the CA already in OUT if there is one.
        #[arg(long = "desk-user", value_name = "NAME:ROLE")]
        desk_users: Vec<String>,
    },
    /// The main job on the bundled default: replay the demo capture with the demo warrants,
    /// deliver over mutual TLS to two reference agency servers started on loopback, and print
    /// what each agency received.
    Demo {
        /// Where the PKI, spool and the agencies' received files go.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Run it scaled out: three points of interception (`tapline poi` processes) tasked
        /// over X1 by this mediation function, X2/X3 to it, all over mutual TLS on loopback.
        #[arg(long)]
        scale_out: bool,
    },
    Poi(cli_poi::PoiArgs),
    /// Write a deterministic synthetic VoIP capture (SIP over UDP/TCP, IPv4/IPv6, VLAN,
    /// G.711 RTP both ways, RTCP, RFC 4733 digits, unanswered and forwarded calls) and,
    /// with --warrants, the warrant set that targets a share of its calls.
    Gen {
        /// Number of calls to generate.
        #[arg(long)]
        calls: u64,
        /// Calls in progress at once (on average).
        #[arg(long, default_value_t = 100)]
        concurrent: u32,
        /// The capture file to write (pcap).
        #[arg(long)]
        out: PathBuf,
        /// Random seed: the same seed gives the same capture.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write agencies.toml and one warrant file per target number into this directory.
        #[arg(long)]
        warrants: Option<PathBuf>,
        /// Percent of calls with a warrant target as a party (exact, rounded down).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
        target_share: u8,
        /// Deliver the frames inside a mirror tunnel: gre, gre-ethernet, erspan2, erspan3, vxlan.
        #[arg(long)]
        tunnel: Option<tapline::gen::MirrorTunnel>,
    },
    /// Write the man pages (tapline.1, tapline-SUBCOMMAND.1) into DIR.
    #[command(hide = true)]
    Man {
        /// Output directory.
        dir: PathBuf,
    },
    /// Print the shell completion script for SHELL.
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Warrant directory: agencies.toml and one TOML file per warrant (followed while running).
    #[arg(long)]
    warrants: PathBuf,
    /// Replay this capture file.
    #[arg(long, required_unless_present_any = ["iface", "x2x3_listen"], conflicts_with = "iface")]
    pcap: Option<PathBuf>,
    /// Capture live from this interface (build with --features live).
    #[arg(long)]
    iface: Option<String>,
    /// Spool directory (survives restarts; use the same one again).
    #[arg(long)]
    spool: PathBuf,
    /// The appliance's client certificate and key (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// The appliance's client private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// Size limit of each agency interface's spool, MiB.
    #[arg(long, default_value_t = 1024)]
    spool_limit_mib: u64,
    /// Replay paced: packets per second (e.g. 50000) or a multiple of the capture's own
    /// rate (e.g. 2x); each packet is released at its scheduled time.
    #[arg(long, value_name = "PPS|Nx")]
    rate: Option<tapline::capture::Rate>,
    /// Seconds to wait for confirmations after the capture ends or SIGTERM.
    #[arg(long, default_value_t = 30)]
    drain_secs: u64,
    /// Run Call Trace (*57) with this configuration; records go to SPOOL/calltrace/.
    #[arg(long)]
    calltrace: Option<PathBuf>,
    /// Call detail records of every call into this database: a SQLite file (e.g.
    /// SPOOL/records/records.sqlite) or postgres://… (see README, "Law Enforcement Support desk").
    #[arg(long, value_name = "PATH|postgres://…")]
    records_db: Option<String>,
    #[command(flatten)]
    retention: cli_desk::RetentionArgs,
    /// Audit trail directory (default SPOOL/audit).
    #[arg(long)]
    audit: Option<PathBuf>,
    /// Serve Prometheus metrics (plain HTTP `GET /metrics`, `/healthz`, `/ready`) on this
    /// address, e.g. 127.0.0.1:9464.
    #[arg(long = "metrics-listen", alias = "metrics", value_name = "HOST:PORT")]
    metrics: Option<std::net::SocketAddr>,
    /// Media shard threads; 0 runs every stage on one thread.
    #[arg(long, default_value_t = 1)]
    media_shards: usize,
    /// List every LIID in the summary (default: the top 10 by records and a totals line).
    #[arg(long)]
    verbose: bool,
    #[command(flatten)]
    timers: CallTimerArgs,
    #[command(flatten)]
    api: RunApiArgs,
    #[command(flatten)]
    x2x3: RunX2x3Args,
    #[command(flatten)]
    pois: cli_admf::PoisArgs,
    #[command(flatten)]
    capture: cli::capture::CaptureArgs,
}

/// X2/X3 ingest (ETSI TS 103 221-2) inside `tapline run`: PDUs from points of interception
/// and network elements replace the capture.
#[derive(clap::Args)]
struct RunX2x3Args {
    /// Accept X2/X3 over mutual TLS on HOST:PORT (repeatable) instead of --pcap/--iface.
    #[arg(long = "x2x3-listen", value_name = "HOST:PORT", conflicts_with_all = ["pcap", "iface"],
          requires_all = ["x2x3_cert", "x2x3_key", "x2x3_client_ca"])]
    x2x3_listen: Vec<std::net::SocketAddr>,
    /// The listener's server certificate (PEM).
    #[arg(long, requires = "x2x3_listen")]
    x2x3_cert: Option<PathBuf>,
    /// The listener's private key (PEM).
    #[arg(long, requires = "x2x3_listen")]
    x2x3_key: Option<PathBuf>,
    /// CA of the points of interception's client certificates.
    #[arg(long, requires = "x2x3_listen")]
    x2x3_client_ca: Option<PathBuf>,
}

/// Call timers of mediation, in seconds of packet time.
#[derive(clap::Args)]
struct CallTimerArgs {
    /// An answered call with no signalling or media for this long is dropped [default: 86400].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    idle_timeout_confirmed: Option<u64>,
    /// A call not answered yet with no signalling or media for this long is dropped [default: 900].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    idle_timeout_unanswered: Option<u64>,
}

impl CallTimerArgs {
    fn config(&self) -> tapline::mediation::MediatorConfig {
        let mut c = tapline::mediation::MediatorConfig::default();
        if let Some(s) = self.idle_timeout_confirmed {
            c.idle_timeout_ns = s * 1_000_000_000;
        }
        if let Some(s) = self.idle_timeout_unanswered {
            c.unanswered_timeout_ns = s * 1_000_000_000;
        }
        c
    }
}

/// The provisioning API served inside `tapline run` (as `warrant serve` does on its own),
/// over the run's warrant directory and audit trail.
#[derive(clap::Args)]
struct RunApiArgs {
    /// Serve the provisioning API on HOST:PORT while running.
    #[arg(long = "api-listen", alias = "api", value_name = "HOST:PORT", requires_all = ["api_cert", "api_key", "api_client_ca"])]
    api_listen: Option<std::net::SocketAddr>,
    /// The API's server certificate and key (PEM).
    #[arg(long, requires = "api_listen")]
    api_cert: Option<PathBuf>,
    /// The API's private key (PEM).
    #[arg(long, requires = "api_listen")]
    api_key: Option<PathBuf>,
    /// CA of the provisioning clients' certificates.
    #[arg(long, requires = "api_listen")]
    api_client_ca: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the audit log in DIR; exit non-zero naming the first entry
    /// altered, removed or reordered.
    Verify {
        /// The audit directory.
        dir: PathBuf,
    },
    /// Print every audit entry of one interception (its §1.20004 records and provisioning acts).
    Show {
        /// The interception's LIID.
        #[arg(long)]
        liid: String,
        /// The audit directory.
        #[arg(long, default_value = "audit")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = parse_cli();
    cli::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Replay { capture, warrants, out, calltrace, calltrace_state, media_shards, timers, records_db, verbose, retention } => {
            let pipeline = tapline::pipeline::PipelineConfig { media_shards, progress: Some("replay"), ..Default::default() };
            let mediator = timers.config();
            let options =
                tapline::replay::ReplayOptions { calltrace, calltrace_state, pipeline, mediator, records_db, retention: retention.get(), metrics: None, rate: None };
            run_replay(&capture, &warrants, &out, &options, verbose)
        }
        Command::Decode { file, profile, calls } => run_decode(&file, profile.as_deref(), calls),
        Command::Warrant { command } => cli::warrant::run(command),
        Command::Audit { command: AuditCommand::Verify { dir } } => run_audit_verify(&dir),
        Command::Audit { command: AuditCommand::Show { liid, dir } } => run_audit_show(&dir, &liid),
        Command::Demand { command } => cli_desk::run_demand(command),
        Command::Desk { command } => cli_desk::run_desk(command),
        Command::Run(args) => run_delivery(args),
        Command::Lemf { listen, cert, key, client_ca, out, warrants } => {
            let config = tapline::lemf::LemfConfig { listen, cert, key, client_ca, out, warrants };
            tapline::lemf::serve_until_signal(&config)
                .map(|stats| {
                    println!("{}", serde_json::to_string_pretty(&stats).unwrap_or_default());
                    ExitCode::SUCCESS
                })
                .map_err(Into::into)
        }
        Command::Poi(args) => cli_poi::run_poi(args),
        Command::Certs { out, agencies, hosts, desk_users } => run_certs(&out, agencies, hosts, &desk_users),
        Command::Demo { out, scale_out } => run_demo(&out, scale_out),
        Command::Man { dir } => cli::docs::write_man_pages(Cli::command(), &dir)
            .map(|n| {
                println!("{n} man pages in {}", dir.display());
                ExitCode::SUCCESS
            })
            .map_err(|e| format!("{}: {e}", dir.display()).into()),
        Command::Completions { shell } => {
            cli::docs::write_completions(Cli::command(), shell);
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen { calls, concurrent, out, seed, warrants, target_share, tunnel } => {
            let mut cfg = tapline::gen::GenConfig::new(calls, concurrent, seed);
            cfg.target_share = target_share;
            cfg.tunnel = tunnel;
            run_gen(&cfg, &out, warrants.as_deref())
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tapline: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--version`: the version, the git commit and the enabled features.
fn version() -> &'static str {
    let b = tapline::metrics::BUILD;
    let features = if b.features.is_empty() { "none" } else { b.features };
    Box::leak(format!("{} (commit {}, features: {features})", b.version, b.commit).into_boxed_str())
}

/// The command line, with the long version string (not a constant: it names the build).
fn parse_cli() -> Cli {
    let matches = Cli::command().version(version()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The directory holding the bundled `fixtures/` and `warrants/`: the current directory
/// when it has them, else the source tree this binary was built from.
fn bundled_root() -> PathBuf {
    if Path::new("fixtures/demo.pcap").exists() && Path::new("warrants").is_dir() {
        PathBuf::from(".")
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

fn run_replay(
    capture: &Path,
    warrants: &Path,
    out: &Path,
    options: &tapline::replay::ReplayOptions,
    verbose: bool,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    checks::capture_path(capture)?;
    let (summary, refused) = tapline::replay::replay_with(capture, warrants, out, options)?;
    for e in &refused {
        eprintln!("refused warrant: {e}");
    }
    print!("{}", tapline::report::replay_report(&summary, out, verbose));
    let problems =
        checks::capture_problems(capture, &summary.capture_errors, summary.decode.skipped_non_ip, summary.packets_read);
    Ok(checks::exit_for(&problems))
}

fn run_delivery(a: RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use tapline::run::{RunOptions, Source};
    let mut x2x3 = None;
    let verbose = a.verbose;
    let source = match (a.pcap, a.iface, a.x2x3) {
        (Some(path), _, _) => {
            checks::capture_path(&path)?;
            Source::Pcap { path, rate: a.rate }
        }
        (None, Some(name), _) => Source::Iface(a.capture.config(&name)),
        (None, None, RunX2x3Args { x2x3_listen, x2x3_cert: Some(cert), x2x3_key: Some(key), x2x3_client_ca: Some(ca) })
            if !x2x3_listen.is_empty() =>
        {
            let config = tapline::x2x3::ListenerConfig::new(x2x3_listen, cert, key, ca);
            let (listener, frames) = tapline::x2x3::Listener::start(&config)?;
            x2x3 = Some(listener);
            Source::Channel(frames)
        }
        _ => return Err("give --pcap FILE, --iface NAME or --x2x3-listen HOST:PORT".into()),
    };
    let audit = a.audit.unwrap_or_else(|| a.spool.join("audit"));
    let api = match a.api {
        RunApiArgs { api_listen: Some(listen), api_cert: Some(cert), api_key: Some(key), api_client_ca: Some(client_ca) } => {
            Some(tapline::provision::ProvisionConfig {
                listen,
                cert,
                key,
                client_ca,
                warrants: a.warrants.clone(),
                audit: Some(audit.clone()),
            })
        }
        _ => None,
    };
    let lifecycle = tapline::run::LifecycleOptions { audit: Some(audit), api, pois: a.pois.load()?, ..Default::default() };
    let options = RunOptions {
        warrants: a.warrants,
        source,
        delivery: tapline::delivery::DeliveryOptions {
            spool: a.spool,
            client_cert: a.cert,
            client_key: a.key,
            spool_limit: a.spool_limit_mib.saturating_mul(1 << 20),
            sender: Default::default(),
        },
        drain: std::time::Duration::from_secs(a.drain_secs),
        ca_override: Default::default(),
        calltrace: a.calltrace,
        pipeline: tapline::pipeline::PipelineConfig { media_shards: a.media_shards, progress: Some("run"), ..Default::default() },
        metrics: a.metrics,
        mediator: a.timers.config(),
        records_db: a.records_db,
        retention: a.retention.get(),
    };
    let pcap = match &options.source {
        Source::Pcap { path, .. } => Some(path.clone()),
        _ => None,
    };
    let spool = options.delivery.spool.clone();
    let summary = tapline::run::run_until_signal_with(&options, &lifecycle)?;
    if let Some(listener) = x2x3 {
        let counters = listener.stop();
        println!("x2x3 ingest: {}", serde_json::to_string(&counters).unwrap_or_default());
    }
    print!("{}", tapline::run::run_report(&summary, verbose));
    let mut problems = match &pcap {
        Some(path) => checks::capture_problems(path, &summary.capture_errors, summary.skipped_non_ip, summary.packets_read),
        None => summary.capture_errors.iter().map(|e| format!("capture incomplete: {e}")).collect(),
    };
    problems.extend(checks::capture_loss(summary.dropped_pipeline_full, summary.dropped_kernel));
    problems.extend(checks::undelivered(&summary.interfaces, &spool));
    Ok(checks::exit_for(&problems))
}

/// `tapline poi`: the X1 endpoint until SIGINT/SIGTERM; task changes are logged by XID
/// (never their targets).
fn run_certs(out: &Path, agencies: Vec<String>, hosts: Vec<String>, desk_users: &[String]) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !desk_users.is_empty() && tapline::delivery::pki::has_dev_ca(out) {
        cli_desk::issue_desk_users(out, desk_users)?;
        return Ok(ExitCode::SUCCESS);
    }
    let agencies = if agencies.is_empty() { vec!["fbi-denver".into(), "dea-phoenix".into()] } else { agencies };
    let hosts = if hosts.is_empty() { tapline::delivery::pki::loopback_hosts() } else { hosts };
    let pki = tapline::delivery::pki::create_dev_pki(out, &agencies, &hosts)?;
    println!("CA            {}", pki.ca.display());
    println!("appliance     {} {}", pki.appliance.cert.display(), pki.appliance.key.display());
    for (agency, f) in &pki.servers {
        println!("{agency:<13} {} {}", f.cert.display(), f.key.display());
    }
    println!("api server    {} {}", pki.provision_api().cert.display(), pki.provision_api().key.display());
    println!("provisioner   {} {}", pki.provisioner().cert.display(), pki.provisioner().key.display());
    println!("viewer        {} {}", pki.viewer().cert.display(), pki.viewer().key.display());
    cli_desk::issue_desk_users(out, desk_users)?;
    Ok(ExitCode::SUCCESS)
}

fn run_demo(out: &Path, scale_out: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let root = bundled_root();
    if scale_out {
        let exe = std::env::current_exe()?;
        let demo = tapline::run::demo_scale_out(&exe, &tapline::gen::demo_scenario(), &root.join("warrants"), out)?;
        print!("{}", tapline::run::scale_out_report(&demo));
        return Ok(ExitCode::SUCCESS);
    }
    let demo = tapline::run::demo(&root.join("fixtures/demo.pcap"), &root.join("warrants"), out)?;
    print!("{}", tapline::run::demo_report(&demo));
    Ok(ExitCode::SUCCESS)
}

fn run_gen(
    cfg: &tapline::gen::GenConfig,
    out: &Path,
    warrants: Option<&Path>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let stats = tapline::gen::generate_showing_progress(cfg, std::io::BufWriter::new(file))?;
    println!(
        "{}: {} calls, {} frames, {} SIP messages, {} RTP and {} RTCP packets",
        out.display(),
        stats.calls,
        stats.frames,
        stats.sip_messages,
        stats.rtp_packets,
        stats.rtcp_packets
    );
    let Some(dir) = warrants else {
        return Ok(ExitCode::SUCCESS);
    };
    let set = tapline::gen::write_warrant_set(cfg, dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "{}: {} warrants; {} of {} calls targeted ({} %), {} dialogs to intercept",
        dir.display(),
        set.warrants,
        set.targeted_calls,
        set.calls,
        cfg.target_share,
        set.targeted_dialogs()
    );
    for k in set.kinds {
        println!("  {:<15} {:>5} warrants {:>8} calls {:>8} dialogs", k.kind.as_str(), k.warrants, k.calls, k.dialogs);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_decode(file: &Path, profile: Option<&str>, calls: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if file.is_dir() {
        return Err(format!("{} is a directory; give a handover stream file (hi2.ber, hi3.ber, hi3.ccc)", file.display()).into());
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if let Some(kind) = checks::capture_format(&bytes) {
        return Err(format!(
            "{}: this is a {kind} capture, not a handover stream; replay it with `tapline replay` \
             (decode reads hi2.ber, hi3.ber and hi3.ccc)",
            file.display()
        )
        .into());
    }
    if calls {
        return cli::decode_calls::print(file, &bytes);
    }
    use tapline::handover::profile::registry;
    let profile = match profile {
        Some(name) => registry::by_name(name)
            .ok_or_else(|| format!("unknown profile `{name}` ({})", registry::all_names()))?,
        None => registry::detect(file, &bytes),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = match profile.decode_jsonl(&bytes, &mut out) {
        Err(e) if e.is_broken_pipe() => return Ok(ExitCode::SUCCESS),
        r => r.map_err(|e| e.to_string()),
    };
    let broken_pipe = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    // A reader that went away (`| head`) ends the output quietly.
    let result = match (result, std::io::Write::flush(&mut out)) {
        (Ok(_), Err(e)) if broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
        (r, _) => r,
    };
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            use std::io::Write;
            let _ = out.flush();
            eprintln!("tapline: {}: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_audit_verify(dir: &Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match tapline::audit::verify_dir(dir)? {
        Ok(v) => {
            println!("ok: {} entries, chain intact, last {}", v.entries, v.last);
            Ok(ExitCode::SUCCESS)
        }
        Err(t) => {
            eprintln!("{}: {t}", dir.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_audit_show(dir: &Path, liid: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let entries = tapline::audit::entries_of_liid(dir, liid)?;
    if entries.is_empty() {
        eprintln!("no audit entry for LIID {liid}");
        return Ok(ExitCode::FAILURE);
    }
    for e in &entries {
        println!("{}", serde_json::to_string_pretty(e)?);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every subcommand has help text.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let builtin = matches!(a.get_id().as_str(), "help" | "version");
            if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                out.push(format!("{path} {}", a.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_has_help() {
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "tapline", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
