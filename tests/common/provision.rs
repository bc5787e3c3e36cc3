//! A provisioning API server on loopback over real mutual TLS, with a warrant directory,
//! an audit trail and the dev PKI in a temporary directory; and the CLI client against it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use tapline::audit::{entries_of_liid, Event, ProvisioningAct};
use tapline::delivery::pki::{create_dev_pki, loopback_hosts, DevPki};
use tapline::provision::{start, ApiClient, ProvisionConfig, ProvisionServer};

use super::warrants::agencies_toml;

pub const TARGET: &str = "tel:+13035550142";

/// A warrant of the API as JSON (the keys of a warrant file).
pub fn warrant_json(liid: &str, until: &str) -> Value {
    json!({
        "liid": liid,
        "kind": "pen-register",
        "agency": "fbi-denver",
        "targets": [TARGET],
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": until,
        "court_order": "1:26-mj-00042",
        "issuing_authority": "Hon. Jane Doe",
        "post_cut_through_digits": false,
        "served_by": "SA R. Alvarez",
        "provisioned_by": "K. Osei"
    })
}

/// The same warrant as a TOML warrant file.
pub fn warrant_toml(liid: &str, from: &str, until: &str, targets: &[&str]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "liid = \"{liid}\"\nkind = \"pen-register\"\nagency = \"fbi-denver\"\ntargets = [{}]\n\
         valid_from = {from}\nvalid_until = {until}\ncourt_order = \"1:26-mj-00042\"\n\
         issuing_authority = \"Hon. Jane Doe\"\nserved_by = \"SA R. Alvarez\"\n",
        targets.join(", ")
    )
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub rt: tokio::runtime::Runtime,
    pub server: ProvisionServer,
}

impl Setup {
    pub fn warrants(&self) -> PathBuf {
        self.dir.path().join("warrants")
    }
    pub fn audit(&self) -> PathBuf {
        self.dir.path().join("audit")
    }
    pub fn client(&self, cert: &Path, key: &Path) -> ApiClient {
        ApiClient::new(&self.server.addr.to_string(), &self.pki.ca, cert, key).unwrap()
    }
    pub fn call(&self, client: &ApiClient, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let r = self.rt.block_on(client.request(method, path, body)).unwrap();
        (r.status, r.body)
    }

    /// `tapline ARGS` with no client settings from the environment.
    pub fn tapline(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
        for var in ["TAPLINE_API", "TAPLINE_CA", "TAPLINE_CERT", "TAPLINE_KEY", "TAPLINE_CONFIG"] {
            c.env_remove(var);
        }
        c
    }

    /// The client flags for certificate `who` (`provisioner`, `viewer`).
    pub fn api_flags(&self, who: &str) -> Vec<String> {
        let pki = self.dir.path().join("pki");
        let path = |name: String| pki.join(name).display().to_string();
        vec![
            "--api".into(),
            self.server.addr.to_string(),
            "--ca".into(),
            path("ca.pem".into()),
            "--cert".into(),
            path(format!("{who}.pem")),
            "--key".into(),
            path(format!("{who}.key")),
        ]
    }

    /// `tapline ARGS --api … --ca … --cert … --key …` as `who`.
    pub fn cli(&self, who: &str, args: &[&str]) -> Output {
        self.tapline().args(args).args(self.api_flags(who)).output().unwrap()
    }

    /// The provisioning acts audited for `liid`.
    pub fn acts(&self, liid: &str) -> Vec<ProvisioningAct> {
        entries_of_liid(&self.audit(), liid)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::Provisioning(a) => Some(a),
                Event::Interception { .. } => None,
            })
            .collect()
    }
}

/// Stdout and stderr of a finished command, for messages.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = create_dev_pki(&dir.path().join("pki"), &[], &loopback_hosts()).unwrap();
    let warrants = dir.path().join("warrants");
    std::fs::create_dir_all(&warrants).unwrap();
    std::fs::write(warrants.join("agencies.toml"), agencies_toml(&[("fbi-denver", "US", "etsi")])).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = ProvisionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: pki.provision_api().cert.clone(),
        key: pki.provision_api().key.clone(),
        client_ca: pki.ca.clone(),
        warrants,
        audit: Some(dir.path().join("audit")),
    };
    let server = rt.block_on(start(&config)).unwrap();
    Setup { dir, pki, rt, server }
}
