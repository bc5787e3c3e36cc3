//! `tapline certs`: a development PKI (one CA, the appliance's client certificate, one
//! server certificate per agency) for demos and tests. Never for production warrants.
//!
//! Every `*.key` is written mode 0600 (delivery, the LEMF and the provisioning API refuse a
//! key group or others can read). Each agency's server certificate names the agency id as
//! a DNS subject alternative name besides the hosts, so it satisfies the default
//! `server_name` of that agency in agencies.toml and no other agency's.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("certificate name `{0}`: only letters, digits, `-`, `_` and `.` (it names the files)")]
    Name(String),
    #[error("{path}: not the development CA's key: {why}")]
    CaKey { path: PathBuf, why: String },
}

/// Paths of a PEM certificate and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What `create_dev_pki` wrote.
#[derive(Clone, Debug)]
pub struct DevPki {
    /// The CA certificate: the agencies' `ca` and the LEMFs' `--client-ca`.
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    /// The appliance's client certificate.
    pub appliance: CertFiles,
    /// Server certificate per agency id, in the order given.
    pub servers: Vec<(String, CertFiles)>,
}

impl DevPki {
    /// The files `NAME.pem`/`NAME.key` beside the CA.
    fn beside_ca(&self, name: &str) -> CertFiles {
        let dir = self.ca.parent().unwrap_or(Path::new("."));
        CertFiles { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) }
    }

    /// The provisioning API's server certificate.
    pub fn provision_api(&self) -> CertFiles {
        self.beside_ca(PROVISION_API)
    }

    /// A client allowed to provision warrants and see targets (OU `provisioning`).
    pub fn provisioner(&self) -> CertFiles {
        self.beside_ca(PROVISIONER)
    }

    /// A client that may only list and show warrants, without targets (OU `viewer`).
    pub fn viewer(&self) -> CertFiles {
        self.beside_ca(VIEWER)
    }

    pub fn server(&self, agency: &str) -> Option<&CertFiles> {
        self.servers.iter().find(|(a, _)| a == agency).map(|(_, f)| f)
    }
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, PkiError> {
    fs::write(&path, text).map_err(|source| PkiError::Io { path: path.clone(), source })?;
    Ok(path)
}

/// Writes a private key readable by its owner only (also when the file existed).
fn write_key(path: PathBuf, text: &str) -> Result<PathBuf, PkiError> {
    use std::io::Write;
    let io = |source| PkiError::Io { path: path.clone(), source };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        if path.exists() {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    let mut f = options.open(&path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(path)
}

/// Writes `ca.pem`/`ca.key`, `appliance.pem`/`.key` and `AGENCY.pem`/`.key` for each of
/// `agencies` into `out` (created). Server certificates name `hosts` (DNS names or IP
/// addresses) as subject alternative names.
pub fn create_dev_pki(out: &Path, agencies: &[String], hosts: &[String]) -> Result<DevPki, PkiError> {
    fs::create_dir_all(out).map_err(|source| PkiError::Io { path: out.to_owned(), source })?;
    let ca_key = KeyPair::generate()?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params()?, ca_key)?;
    let ca_path = write(out.join("ca.pem"), &ca.pem())?;
    let ca_key_path = write_key(out.join("ca.key"), &ca_key_pem)?;

    let leaf = |name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose| leaf_with_role(out, &ca, name, None, sans, usage);
    let appliance = leaf("appliance", vec!["appliance.tapline.invalid".into()], ExtendedKeyUsagePurpose::ClientAuth)?;
    let mut servers = Vec::new();
    for agency in agencies {
        let mut names = vec![agency.clone()];
        names.extend(hosts.iter().filter(|h| *h != agency).cloned());
        servers.push((agency.clone(), leaf(agency, names, ExtendedKeyUsagePurpose::ServerAuth)?));
    }
    leaf(PROVISION_API, hosts.to_vec(), ExtendedKeyUsagePurpose::ServerAuth)?;
    let client = ExtendedKeyUsagePurpose::ClientAuth;
    leaf_with_role(out, &ca, PROVISIONER, Some(ROLE_PROVISIONING), vec![], client.clone())?;
    leaf_with_role(out, &ca, VIEWER, Some(ROLE_VIEWER), vec![], client)?;
    Ok(DevPki { ca: ca_path, ca_key: ca_key_path, appliance, servers })
}

/// The development CA's subject and usages (the same for the CA made and the CA loaded).
fn ca_params() -> Result<CertificateParams, PkiError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "tapline development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(ca_params)
}

/// Whether `out` holds a development CA (`ca.pem` and `ca.key`).
pub fn has_dev_ca(out: &Path) -> bool {
    out.join("ca.pem").is_file() && out.join("ca.key").is_file()
}

/// Issues the client certificate `out/NAME.pem`/`.key` (CN `name`, OU `unit`), signed by
/// the development CA already in `out` (its other certificates stay valid).
pub fn issue_client_cert(out: &Path, name: &str, unit: &str) -> Result<CertFiles, PkiError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) || name.starts_with('.') {
        return Err(PkiError::Name(name.to_owned()));
    }
    let key_path = out.join("ca.key");
    let pem = fs::read_to_string(&key_path).map_err(|source| PkiError::Io { path: key_path.clone(), source })?;
    let key = KeyPair::from_pem(&pem).map_err(|e| PkiError::CaKey { path: key_path.clone(), why: e.to_string() })?;
    let ca = Issuer::new(ca_params()?, key);
    leaf_with_role(out, &ca, name, Some(unit), vec![], ExtendedKeyUsagePurpose::ClientAuth)
}

const PROVISION_API: &str = "provision-api";
const PROVISIONER: &str = "provisioner";
const VIEWER: &str = "viewer";

/// The organizational unit of a client certificate allowed to provision warrants.
pub const ROLE_PROVISIONING: &str = "provisioning";
/// The organizational unit of a client certificate allowed to list warrants without targets.
pub const ROLE_VIEWER: &str = "viewer";

/// Writes `out/NAME.pem` and `.key`: a certificate for `name` (OU `role` when given) signed
/// by `ca`.
fn leaf_with_role(
    out: &Path,
    ca: &Issuer<'_, KeyPair>,
    name: &str,
    role: Option<&str>,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertFiles, PkiError> {
    let mut params = CertificateParams::new(sans)?;
    params.distinguished_name.push(DnType::CommonName, name);
    if let Some(role) = role {
        params.distinguished_name.push(DnType::OrganizationalUnitName, role);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(CertFiles {
        cert: write(out.join(format!("{name}.pem")), &cert.pem())?,
        key: write_key(out.join(format!("{name}.key")), &key.serialize_pem())?,
    })
}

/// The host names a loopback demo needs in server certificates.
pub fn loopback_hosts() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::tls;
    use std::sync::Arc;

    #[test]
    fn dev_pki_loads_as_client_and_server_configs() {
        let dir = tempfile::tempdir().unwrap();
        let pki = create_dev_pki(dir.path(), &["agency-a".into()], &loopback_hosts()).unwrap();
        let server = pki.server("agency-a").unwrap();
        assert!(tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).is_ok());
        assert!(tls::server_config(&server.cert, &server.key, &pki.ca).is_ok());
        assert_eq!(tls::load_certs(&pki.ca).unwrap().len(), 1);
    }

    #[test]
    fn a_client_certificate_issued_later_chains_to_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = create_dev_pki(dir.path(), &[], &loopback_hosts()).unwrap();
        assert!(has_dev_ca(dir.path()));
        let alice = issue_client_cert(dir.path(), "alice", "desk-analyst").unwrap();
        let subject = crate::provision::subject_of(tls::load_certs(&alice.cert).unwrap()[0].as_ref()).unwrap();
        assert_eq!((subject.common_name.as_deref(), subject.units.as_slice()), (Some("alice"), ["desk-analyst".to_owned()].as_slice()));
        // The CA's verifier accepts it: a server trusting ca.pem takes alice's certificate.
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new({
                let mut roots = rustls::RootCertStore::empty();
                roots.add(tls::load_certs(&pki.ca).unwrap().remove(0)).unwrap();
                roots
            }),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let cert = tls::load_certs(&alice.cert).unwrap().remove(0);
        let now = rustls::pki_types::UnixTime::now();
        assert!(verifier.verify_client_cert(&cert, &[], now).is_ok(), "issued by the CA in the directory");
        assert!(matches!(issue_client_cert(dir.path(), "../x", "desk-analyst"), Err(PkiError::Name(_))));
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(issue_client_cert(other.path(), "bob", "desk-analyst"), Err(PkiError::Io { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn every_key_is_written_owner_only_and_an_exposed_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pki = create_dev_pki(dir.path(), &["agency-a".into()], &loopback_hosts()).unwrap();
        let mut keys = 0;
        for entry in fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "key") {
                keys += 1;
                let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", path.display());
            }
        }
        assert_eq!(keys, 6, "ca, appliance, agency-a, provision-api, provisioner, viewer");
        fs::set_permissions(&pki.appliance.key, fs::Permissions::from_mode(0o640)).unwrap();
        let e = tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("appliance.key") && text.contains("readable by group or others"), "{text}");
        // Issuing again over exposed files tightens them.
        create_dev_pki(dir.path(), &["agency-a".into()], &loopback_hosts()).unwrap();
        assert!(tls::client_config(&pki.ca, &pki.appliance.cert, &pki.appliance.key).is_ok());
    }
}
