//! `tapline warrant …`: check warrant files, serve the provisioning API, and its client
//! (add, amend, revoke, list, show) sending the same TOML warrant files the store holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{json, Value};
use tapline::provision::https::percent_encode;
use tapline::provision::{ApiClient, ProvisionConfig, Reply};

use super::api_config::ApiArgs;
use super::warrant_view;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Default of `warrant check --expiring-within`, days.
const EXPIRING_WITHIN_DAYS: u64 = 7;

#[derive(Subcommand)]
pub enum WarrantCommand {
    /// Validate warrant files (or directories of them): every error of every file in one
    /// pass (file, key, reason), exit 1 if any. Warrants already expired or expiring soon
    /// are warned about (exit 0 if that is all).
    Check {
        /// Warrant files or directories of them (each with its agencies.toml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Check each warrant's agency against this agencies.toml instead of the one beside it.
        #[arg(long, value_name = "FILE")]
        agencies: Option<PathBuf>,
        /// Warn about warrants whose validity ends within this many days.
        #[arg(long, value_name = "DAYS", default_value_t = EXPIRING_WITHIN_DAYS)]
        expiring_within: u64,
    },
    /// Serve the provisioning API (HTTPS, client certificate required) over a warrant
    /// directory; a running `tapline run` on that directory picks the changes up.
    Serve {
        /// HOST:PORT to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The warrant directory the API reads and writes.
        #[arg(long)]
        warrants: PathBuf,
        /// The API's server certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The API's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// CA of the provisioning clients' certificates (PEM).
        #[arg(long)]
        client_ca: PathBuf,
        /// Audit trail directory.
        #[arg(long)]
        audit: PathBuf,
    },
    /// Create a warrant from a warrant file (TOML, as `warrant check` and the store read).
    Add {
        /// The warrant file (TOML).
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Replace a warrant with the warrant file's; the audit entry lists the keys changed.
    Amend {
        /// LIID of the warrant to replace.
        liid: String,
        /// The new warrant file (TOML); its `liid` must be LIID.
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Revoke a warrant; the reason is audited (it must not name a target).
    Revoke {
        /// LIID of the warrant to revoke.
        liid: String,
        /// Why (one line, at most 500 characters kept; no target identities).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the warrants as a table: LIID, kind, agency, state, time to expiry.
    List {
        /// Print the API's JSON (with targets for a provisioning certificate) instead.
        #[arg(long)]
        json: bool,
        /// Include the revoked warrants.
        #[arg(long, conflicts_with = "state")]
        all: bool,
        /// Only the warrants in this state.
        #[arg(long, value_parser = ["pending", "active", "expired", "revoked"])]
        state: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show one warrant (JSON; targets only for a provisioning certificate).
    Show {
        /// LIID of the warrant.
        liid: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Runs one `tapline warrant` command.
pub fn run(command: WarrantCommand) -> Result<ExitCode> {
    match command {
        WarrantCommand::Check { paths, agencies, expiring_within } => {
            Ok(check(&paths, agencies.as_deref(), expiring_within))
        }
        WarrantCommand::Serve { listen, warrants, cert, key, client_ca, audit } => {
            serve(&ProvisionConfig { listen, cert, key, client_ca, warrants, audit: Some(audit) })
        }
        WarrantCommand::Add { file, api } => {
            let Some(doc) = document(&file) else { return Ok(ExitCode::FAILURE) };
            let reply = call(&api, "POST", "/warrants", Some(&doc))?;
            Ok(print_reply(&reply, Some(&file)))
        }
        WarrantCommand::Amend { liid, file, api } => {
            let Some(doc) = document(&file) else { return Ok(ExitCode::FAILURE) };
            let reply = call(&api, "PUT", &format!("/warrants/{}", percent_encode(&liid)), Some(&doc))?;
            Ok(print_reply(&reply, Some(&file)))
        }
        WarrantCommand::Revoke { liid, reason, api } => {
            let body = json!({ "reason": reason });
            let reply = call(&api, "DELETE", &format!("/warrants/{}", percent_encode(&liid)), Some(&body))?;
            Ok(print_reply(&reply, None))
        }
        WarrantCommand::List { json, all, state, api } => {
            let query = match (all, state) {
                (_, Some(s)) => format!("?state={s}"),
                (true, None) => "?all=1".to_owned(),
                (false, None) => String::new(),
            };
            let reply = call(&api, "GET", &format!("/warrants{query}"), None)?;
            match (&reply.body, json, reply.is_success()) {
                (Value::Array(list), false, true) if list.is_empty() => {
                    println!("no warrants");
                    Ok(ExitCode::SUCCESS)
                }
                (Value::Array(list), false, true) => {
                    print!("{}", warrant_view::table(list, tapline::audit::now()));
                    Ok(ExitCode::SUCCESS)
                }
                _ => Ok(print_reply(&reply, None)),
            }
        }
        WarrantCommand::Show { liid, api } => {
            let reply = call(&api, "GET", &format!("/warrants/{}", percent_encode(&liid)), None)?;
            Ok(print_reply(&reply, None))
        }
    }
}

/// `warrant check`: errors on stderr and exit 1; expiry warnings on stderr, exit 0.
fn check(paths: &[PathBuf], agencies: Option<&Path>, within_days: u64) -> ExitCode {
    let checked = tapline::warrant::check(paths, agencies);
    for e in &checked.errors {
        eprintln!("{e}");
    }
    let now = tapline::audit::now();
    let within = within_days.saturating_mul(24 * 3600);
    let warnings: Vec<String> =
        checked.warrants.iter().filter_map(|w| warrant_view::expiry_warning(w, now, within)).collect();
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let valid = checked.warrants.len();
    if checked.errors.is_empty() {
        println!("ok: {valid} valid warrant(s), no errors, {} warning(s)", warnings.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("{} error(s), {} warning(s); {valid} valid warrant(s)", checked.errors.len(), warnings.len());
        ExitCode::FAILURE
    }
}

fn serve(config: &ProvisionConfig) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let server = tapline::provision::start(config).await?;
        println!("provisioning API on {}", server.addr);
        tapline::lemf::wait_for_signal().await;
        server.stop();
        Ok(ExitCode::SUCCESS)
    })
}

/// The warrant file as the API's JSON document; its structural errors printed when not.
fn document(file: &Path) -> Option<Value> {
    match tapline::warrant::document(file) {
        Ok(doc) => Some(Value::Object(doc)),
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); nothing sent", errors.len());
            None
        }
    }
}

fn call(api: &ApiArgs, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
    let s = api.resolve()?;
    let client = ApiClient::new(&s.api, &s.ca, &s.cert, &s.key)?;
    Ok(client.call(method, path, body)?)
}

/// A success's JSON on stdout; a refusal on stderr (a warrant's errors as `FILE: key: reason`
/// against the local file), exit 1.
fn print_reply(reply: &Reply, file: Option<&Path>) -> ExitCode {
    if reply.is_success() {
        println!("{}", serde_json::to_string_pretty(&reply.body).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let message = reply.body.get("error").and_then(Value::as_str).unwrap_or("refused");
    eprintln!("tapline: HTTP {}: {message}", reply.status);
    let errors = reply.body.get("errors").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    for e in errors {
        let text = |k: &str| e.get(k).and_then(Value::as_str);
        let shown = file.map(|f| f.display().to_string()).or_else(|| text("file").map(str::to_owned));
        let key = text("key").map_or_else(String::new, |k| format!("key `{k}`: "));
        eprintln!("{}: {key}{}", shown.unwrap_or_default(), text("reason").unwrap_or("?"));
    }
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use tapline::metrics::WarrantState;

    /// The states `warrant list --state` accepts are the API's.
    #[test]
    fn list_states_are_the_warrant_states() {
        let names: Vec<&str> = WarrantState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["pending", "active", "expired", "revoked"]);
    }
}
