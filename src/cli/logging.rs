//! Logging of the `tapline` binary: tapline's own events at INFO by default (`RUST_LOG`
//! overrides), plain text without ANSI colour unless stderr is a terminal, or one JSON
//! object per line (`--log-format json`) for journald and log shippers.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; coloured only on a terminal.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// The filter used when `RUST_LOG` is unset: tapline's events at INFO, the libraries'
/// (TLS, HTTP) only from WARN.
pub const DEFAULT_FILTER: &str = "info,rustls=warn,hyper=warn,hyper_util=warn,tokio_rustls=warn";

/// Installs the global subscriber writing to stderr.
pub fn init(format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::try_new(&s).unwrap_or_else(|e| {
            eprintln!("tapline: RUST_LOG={s:?} ignored ({e}); logging at the default level");
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).with_current_span(false).try_init(),
    };
    if let Err(e) = result {
        eprintln!("tapline: cannot install the logger: {e}");
    }
}
