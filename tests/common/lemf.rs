//! `tapline lemf` as a child process, the way an agency starts it.

use std::path::Path;
use std::process::Command;

/// `tapline lemf` on an ephemeral loopback port with the server certificate `cert` and key
/// `key`, accepting clients whose certificates chain to `client_ca`, writing into `out`;
/// further arguments and the standard streams are the caller's.
pub fn command(cert: &Path, key: &Path, client_ca: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
    c.args(["lemf", "--listen", "127.0.0.1:0", "--cert"]).arg(cert).arg("--key").arg(key);
    c.arg("--client-ca").arg(client_ca).arg("--out").arg(out);
    c
}
