//! `pois.toml`: the points of interception this mediation function tasks over X1, the
//! ADMF's client certificate, and where the POIs deliver X2/X3. Errors name the file, the
//! key and the reason, as for `agencies.toml` ([`WarrantError`]). Relative paths are
//! resolved against the file's directory.
//!
//! ```toml
//! [admf]
//! cert = "admf.pem"            # client certificate; its common name is the ADMF identifier
//! key = "admf.key"
//! ca = "ca.pem"                # CA of the POIs' X1 server certificates
//! deliver_to = "192.0.2.10:24000"   # the mediation function's X2/X3 listener (TCP)
//! reconcile_secs = 60          # full reconciliation of every POI this often
//! report_listen = "0.0.0.0:8445"    # optional: where POIs send issue reports (HTTPS, mTLS)
//! report_cert = "admf-server.pem"   # its server certificate and key
//! report_key = "admf-server.key"
//! # report_client_ca = "poi-ca.pem" # CA of the POIs' client certificates (default: ca)
//!
//! [[poi]]
//! id = "edge-1"                # label in logs, metrics and the audit trail
//! x1 = "https://10.0.0.5:8443/X1/NE"
//! ne_identifier = "edge-1"     # its neIdentifier
//! # ca = "other-ca.pem"        # instead of admf.ca
//! # deliver_to = "10.0.0.1:24000"   # instead of admf.deliver_to
//! ```

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::delivery::tls;
use crate::provision::https::TlsListen;
use crate::warrant::WarrantError;
use crate::x1::client::X1Url;
use crate::x1::{DeliveryAddress, Port};

/// The ADMF and every POI it tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoisConfig {
    pub file: PathBuf,
    /// The common name of `cert`: the `admfIdentifier` of every message.
    pub admf_identifier: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub reconcile: Duration,
    pub pois: Vec<PoiConfig>,
    /// The issue-report endpoint, when configured; its `client_ca` is the CA of the POIs'
    /// client certificates (their common name is their neIdentifier).
    pub reports: Option<TlsListen>,
}

/// One point of interception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoiConfig {
    pub id: String,
    pub x1: X1Url,
    pub ne_identifier: String,
    /// CA of its X1 server certificate.
    pub ca: PathBuf,
    /// Where it delivers X2/X3.
    pub deliver_to: DeliveryAddress,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    admf: AdmfDoc,
    #[serde(default)]
    poi: Vec<PoiDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmfDoc {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
    deliver_to: Option<String>,
    reconcile_secs: Option<u64>,
    report_listen: Option<String>,
    report_cert: Option<PathBuf>,
    report_key: Option<PathBuf>,
    report_client_ca: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoiDoc {
    id: String,
    x1: String,
    ne_identifier: String,
    ca: Option<PathBuf>,
    deliver_to: Option<String>,
}

/// Default period of the full reconciliation.
pub const DEFAULT_RECONCILE: Duration = Duration::from_secs(60);

impl PoisConfig {
    /// Reads and checks `file` (certificates and keys are read, the key must be private).
    pub fn load(file: &Path) -> Result<PoisConfig, WarrantError> {
        let text = std::fs::read_to_string(file).map_err(|e| WarrantError::new(file, None, format!("cannot read: {e}")))?;
        PoisConfig::parse(file, &text)
    }

    /// Checks the text of `file`.
    pub fn parse(file: &Path, text: &str) -> Result<PoisConfig, WarrantError> {
        let err = |key: &str, reason: String| WarrantError::new(file, Some(key), reason);
        let doc: Doc = toml::from_str(text).map_err(|e| WarrantError::from_toml(file, text, &e, &["admf", "poi"]))?;
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| if p.is_absolute() { p.to_owned() } else { base.join(p) };
        let (cert, key) = (resolve(&doc.admf.cert), resolve(&doc.admf.key));
        let certs = tls::load_certs(&cert).map_err(|e| err("admf.cert", e.to_string()))?;
        let admf_identifier = certs
            .first()
            .and_then(|c| crate::provision::subject_of(c.as_ref()))
            .and_then(|s| s.common_name)
            .filter(|cn| !cn.is_empty())
            .ok_or_else(|| err("admf.cert", "the certificate has no common name (the ADMF identifier)".into()))?;
        tls::load_key(&key).map_err(|e| err("admf.key", e.to_string()))?;
        let reconcile = match doc.admf.reconcile_secs {
            Some(0) => return Err(err("admf.reconcile_secs", "must be at least 1".into())),
            Some(s) => Duration::from_secs(s),
            None => DEFAULT_RECONCILE,
        };
        let address = |key: &str, text: &str| {
            text.parse::<SocketAddr>()
                .ok()
                .filter(|a| a.port() >= 2)
                .map(|a| DeliveryAddress::IpAndPort { address: a.ip(), port: Port::Tcp(a.port()) })
                .ok_or_else(|| err(key, "not an IP address and port such as 192.0.2.10:24000 or [2001:db8::1]:24000".into()))
        };
        let default_to = match &doc.admf.deliver_to {
            Some(t) => Some(address("admf.deliver_to", t)?),
            None => None,
        };
        let reports = match (&doc.admf.report_listen, &doc.admf.report_cert, &doc.admf.report_key) {
            (None, None, None) if doc.admf.report_client_ca.is_none() => None,
            (Some(listen), Some(rcert), Some(rkey)) => {
                let listen = listen
                    .parse::<SocketAddr>()
                    .map_err(|_| err("admf.report_listen", "not an IP address and port such as 0.0.0.0:8445".into()))?;
                let (rcert, rkey) = (resolve(rcert), resolve(rkey));
                tls::load_certs(&rcert).map_err(|e| err("admf.report_cert", e.to_string()))?;
                tls::load_key(&rkey).map_err(|e| err("admf.report_key", e.to_string()))?;
                let client_ca = match doc.admf.report_client_ca.as_deref().or(doc.admf.ca.as_deref()) {
                    Some(ca) => resolve(ca),
                    None => return Err(err("admf.report_client_ca", "missing: give it or admf.ca".into())),
                };
                tls::load_certs(&client_ca).map_err(|e| err("admf.report_client_ca", e.to_string()))?;
                Some(TlsListen { listen, cert: rcert, key: rkey, client_ca })
            }
            (listen, rcert, _) => {
                let missing = if listen.is_none() { "admf.report_listen" } else if rcert.is_none() { "admf.report_cert" } else { "admf.report_key" };
                return Err(err(missing, "missing: report_listen, report_cert and report_key go together".into()));
            }
        };
        if doc.poi.is_empty() {
            return Err(WarrantError::new(file, Some("poi"), "no [[poi]]: give at least one point of interception"));
        }
        let mut ids = BTreeSet::new();
        let mut pois = Vec::with_capacity(doc.poi.len());
        for (n, p) in doc.poi.into_iter().enumerate() {
            let at = |k: &str| format!("poi[{}].{k}", n + 1);
            let id_ok = !p.id.is_empty() && p.id.len() <= 64 && p.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !id_ok {
                return Err(err(&at("id"), "1 to 64 letters, digits, `-`, `_` or `.`".into()));
            }
            if !ids.insert(p.id.clone()) {
                return Err(err(&at("id"), "given to another [[poi]] too".into()));
            }
            let x1 = X1Url::parse(&p.x1).ok_or_else(|| err(&at("x1"), "not an https://host:port/path URL".into()))?;
            if p.ne_identifier.trim().is_empty() {
                return Err(err(&at("ne_identifier"), "must not be empty".into()));
            }
            let ca = match p.ca.as_deref().or(doc.admf.ca.as_deref()) {
                Some(ca) => resolve(ca),
                None => return Err(err(&at("ca"), "missing: give it here or as admf.ca".into())),
            };
            tls::load_certs(&ca).map_err(|e| err(&at("ca"), e.to_string()))?;
            let deliver_to = match (&p.deliver_to, &default_to) {
                (Some(t), _) => address(&at("deliver_to"), t)?,
                (None, Some(d)) => d.clone(),
                (None, None) => return Err(err(&at("deliver_to"), "missing: give it here or as admf.deliver_to".into())),
            };
            pois.push(PoiConfig { id: p.id, x1, ne_identifier: p.ne_identifier, ca, deliver_to });
        }
        Ok(PoisConfig { file: file.to_owned(), admf_identifier, cert, key, reconcile, pois, reports })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::pki::{create_dev_pki, loopback_hosts};

    fn pki() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        create_dev_pki(dir.path(), &["poi".to_string()], &loopback_hosts()).expect("PKI");
        dir
    }

    const GOOD: &str = r#"
[admf]
cert = "appliance.pem"
key = "appliance.key"
ca = "ca.pem"
deliver_to = "127.0.0.1:24000"

[[poi]]
id = "edge-1"
x1 = "https://localhost:8443/X1/NE"
ne_identifier = "poi-1"

[[poi]]
id = "media-1"
x1 = "https://[::1]:8444"
ne_identifier = "poi-2"
deliver_to = "[::1]:24001"
"#;

    #[test]
    fn a_good_file() {
        let dir = pki();
        let file = dir.path().join("pois.toml");
        let c = PoisConfig::parse(&file, GOOD).expect("valid");
        assert_eq!(c.admf_identifier, "appliance", "the certificate's common name");
        assert_eq!(c.reconcile, DEFAULT_RECONCILE);
        assert_eq!(c.pois.len(), 2);
        assert_eq!(c.pois[0].x1, X1Url { host: "localhost".into(), port: 8443, path: "/X1/NE".into() });
        assert_eq!(c.pois[1].x1, X1Url { host: "::1".into(), port: 8444, path: "/".into() });
        assert_eq!(c.pois[0].ca, dir.path().join("ca.pem"));
        assert_eq!(
            c.pois[1].deliver_to,
            DeliveryAddress::IpAndPort { address: "::1".parse().expect("ip"), port: Port::Tcp(24_001) }
        );
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let dir = pki();
        let file = dir.path().join("pois.toml");
        let cases = [
            (GOOD.replace("x1 = \"https://localhost:8443/X1/NE\"", "x1 = \"http://localhost:8443\""), "poi[1].x1", "https://"),
            (GOOD.replace("id = \"media-1\"", "id = \"edge-1\""), "poi[2].id", "another"),
            (GOOD.replace("deliver_to = \"127.0.0.1:24000\"\n", ""), "poi[1].deliver_to", "missing"),
            (GOOD.replace("deliver_to = \"[::1]:24001\"", "deliver_to = \"somewhere\""), "poi[2].deliver_to", "IP address"),
            (GOOD.replace("ca = \"ca.pem\"", "ca = \"nope.pem\""), "poi[1].ca", "nope.pem"),
            (GOOD.replace("cert = \"appliance.pem\"", "cert = \"missing.pem\""), "admf.cert", "missing.pem"),
            (GOOD.replace("ne_identifier = \"poi-2\"", "ne_identifier = \" \""), "poi[2].ne_identifier", "empty"),
            (GOOD.replace("ne_identifier = \"poi-2\"", "ne_id = \"poi-2\""), "poi[2].ne_id", "unknown key"),
            (GOOD.replace("deliver_to = \"127.0.0.1:24000\"", "reconcile_secs = 0"), "admf.reconcile_secs", "at least 1"),
            (GOOD.replace("ca = \"ca.pem\"\n", "ca = \"ca.pem\"\nreport_listen = \"127.0.0.1:8445\"\n"), "admf.report_cert", "together"),
        ];
        for (text, key, reason) in cases {
            let e = PoisConfig::parse(&file, &text).expect_err(key);
            assert_eq!(e.file, file);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.reason.contains(reason), "{key}: {e}");
        }
        let e = PoisConfig::parse(&file, "[admf]\ncert = \"appliance.pem\"\nkey = \"appliance.key\"\n").expect_err("no poi");
        assert_eq!(e.key.as_deref(), Some("poi"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path().join("appliance.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = PoisConfig::parse(&file, GOOD).expect_err("exposed key");
            assert_eq!(e.key.as_deref(), Some("admf.key"), "{e}");
        }
    }

    #[test]
    fn x1_urls() {
        assert!(X1Url::parse("https://h").is_some_and(|u| u.port == 443 && u.path == "/"));
        assert!(X1Url::parse("https://h:0/").is_none());
        assert!(X1Url::parse("https://h:x/").is_none());
        assert!(X1Url::parse("https://[zz]:1/").is_none());
        assert!(X1Url::parse("https://a b:1/").is_none());
        assert!(X1Url::parse("https://h:1/a b").is_none());
    }
}
