//! The `tapline` command line: parses arguments and calls the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tapline", version, about = "Lawful-intercept mediation: SIP/RTP to ETSI TS 102 232 handover")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a pcap/pcapng capture against a warrant directory; write each agency's
    /// hi2.ber/hi3.ber and summary.json into OUT.
    Replay {
        capture: PathBuf,
        #[arg(long)]
        warrants: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a stream of BER PS-PDUs (hi2.ber, hi3.ber) as JSON lines.
    Decode { file: PathBuf },
    /// Warrant provisioning.
    Warrant {
        #[command(subcommand)]
        command: WarrantCommand,
    },
    /// Replay the bundled demo capture with the bundled warrants and print what each
    /// agency received.
    Demo {
        /// Where the agencies' streams go.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum WarrantCommand {
    /// Validate warrant files (or directories of them); exit non-zero naming file, key and
    /// reason for every error.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay { capture, warrants, out } => run_replay(&capture, &warrants, &out),
        Command::Decode { file } => run_decode(&file),
        Command::Warrant { command: WarrantCommand::Check { paths } } => run_check(&paths),
        Command::Demo { out } => {
            let root = bundled_root();
            run_replay(&root.join("fixtures/demo.pcap"), &root.join("warrants"), &out)
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

/// The directory holding the bundled `fixtures/` and `warrants/`: the current directory
/// when it has them, else the source tree this binary was built from.
fn bundled_root() -> PathBuf {
    if Path::new("fixtures/demo.pcap").exists() && Path::new("warrants").is_dir() {
        PathBuf::from(".")
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

fn run_replay(capture: &Path, warrants: &Path, out: &Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (summary, refused) = tapline::replay::replay(capture, warrants, out)?;
    for e in &refused {
        eprintln!("refused warrant: {e}");
    }
    print!("{}", tapline::report::replay_report(&summary, out));
    Ok(ExitCode::SUCCESS)
}

fn run_decode(file: &Path) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match tapline::handover::decode_stream_jsonl(&bytes, &mut out) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            use std::io::Write;
            let _ = out.flush();
            eprintln!("tapline: {}: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_check(paths: &[PathBuf]) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let errors = tapline::warrant::check_paths(paths);
    for e in &errors {
        eprintln!("{e}");
    }
    if errors.is_empty() {
        println!("ok: no errors");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} error(s)", errors.len());
        Ok(ExitCode::FAILURE)
    }
}
