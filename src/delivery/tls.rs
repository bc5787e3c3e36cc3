//! TLS 1.3 configurations with mutual authentication (rustls, ring provider): the
//! appliance's client side and the reference LEMF's server side, from PEM files.
//!
//! An agency's server is bound to that agency, not only to a CA and a host name
//! ([`AgencyIdentity`]): its certificate must also be valid for the agency's `server_name`
//! (by default the agency id) and, when pinned, have one of the pinned SHA-256
//! fingerprints. Private keys are refused when group or others may read them (like ssh).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: no {what} found in PEM file")]
    Empty { path: PathBuf, what: &'static str },
    #[error("{path}: {why}")]
    Pem { path: PathBuf, why: String },
    #[error("{path}: certificate refused as trust anchor: {why}")]
    Anchor { path: PathBuf, why: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
    #[error("{path}: private key is readable by group or others (mode {mode:03o}); run `chmod 600 {path}`")]
    KeyExposed { path: PathBuf, mode: u32 },
    #[error("server name `{0}` is not a valid DNS name")]
    ServerName(String),
}

/// Who an agency's server must prove to be, beyond a certificate from the agency's CA that
/// names the endpoint's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgencyIdentity {
    pub agency: String,
    /// A DNS name the server certificate must be valid for (subject alternative name).
    pub server_name: String,
    /// SHA-256 fingerprints of the end-entity certificate; empty means not pinned.
    pub pins: Vec<[u8; 32]>,
}

/// A server certificate from the right CA that belongs to another agency (or to nobody).
#[derive(Debug, thiserror::Error)]
pub enum IdentityMismatch {
    #[error("server certificate is not issued to `{server_name}`, the identity of agency `{agency}`")]
    Name { agency: String, server_name: String },
    #[error("server certificate (SHA-256 {got}) is not one pinned for agency `{agency}`")]
    Pin { agency: String, got: String },
}

/// The SHA-256 fingerprint of a DER certificate, as lowercase hex.
pub fn fingerprint_hex(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02x}")).collect()
}

/// The `IdentityMismatch` inside a TLS handshake error, if that is why it failed.
pub fn identity_mismatch(e: &io::Error) -> Option<&IdentityMismatch> {
    let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = e.get_ref()?.downcast_ref::<rustls::Error>()? else {
        return None;
    };
    other.0.downcast_ref::<IdentityMismatch>()
}

/// WebPKI verification (chain to the agency CA, valid for the endpoint host), then the
/// agency binding: valid for `server_name` too, and a pinned fingerprint when pins are set.
#[derive(Debug)]
struct AgencyVerifier {
    inner: Arc<WebPkiServerVerifier>,
    identity: AgencyIdentity,
    name: ServerName<'static>,
}

impl AgencyVerifier {
    fn mismatch(m: IdentityMismatch) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(m))))
    }
}

impl ServerCertVerifier for AgencyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        match self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now) {
            Ok(_) => {}
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => {
                return Err(Self::mismatch(IdentityMismatch::Name {
                    agency: self.identity.agency.clone(),
                    server_name: self.identity.server_name.clone(),
                }))
            }
            Err(e) => return Err(e),
        }
        if !self.identity.pins.is_empty() {
            let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
            if !self.identity.pins.contains(&got) {
                return Err(Self::mismatch(IdentityMismatch::Pin {
                    agency: self.identity.agency.clone(),
                    got: fingerprint_hex(end_entity.as_ref()),
                }));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// All certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Pem { path: path.to_owned(), why: e.to_string() })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { path: path.to_owned(), why: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Empty { path: path.to_owned(), what: "certificate" });
    }
    Ok(certs)
}

/// The private key of a PEM file, refused when group or others may read it.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    check_key_private(path)?;
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem { path: path.to_owned(), why: e.to_string() })
}

/// Refuses a private key file that group or others may read or write (as ssh does).
pub fn check_key_private(path: &Path) -> Result<(), TlsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| TlsError::Io { path: path.to_owned(), source })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TlsError::KeyExposed { path: path.to_owned(), mode });
        }
    }
    Ok(())
}

fn roots(ca: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in load_certs(ca)? {
        store.add(cert).map_err(|e| TlsError::Anchor { path: ca.to_owned(), why: e.to_string() })?;
    }
    Ok(store)
}

/// The appliance side: TLS 1.3 only, trusts only `server_ca`, presents `cert`/`key`.
pub fn client_config(server_ca: &Path, cert: &Path, key: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(server_ca)?)
        .with_client_auth_cert(load_certs(cert)?, load_key(key)?)?;
    Ok(Arc::new(config))
}

/// The appliance side for one agency: as [`client_config`], and the server must also prove
/// to be that agency (see [`AgencyIdentity`]).
pub fn agency_client_config(
    server_ca: &Path,
    cert: &Path,
    key: &Path,
    identity: &AgencyIdentity,
) -> Result<Arc<ClientConfig>, TlsError> {
    let name = ServerName::try_from(identity.server_name.clone())
        .map_err(|_| TlsError::ServerName(identity.server_name.clone()))?;
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(server_ca)?), provider())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let verifier = AgencyVerifier { inner, identity: identity.clone(), name };
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(load_certs(cert)?, load_key(key)?)?;
    Ok(Arc::new(config))
}

/// The LEMF side: TLS 1.3 only, requires a client certificate chaining to `client_ca`.
pub fn server_config(cert: &Path, key: &Path, client_ca: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(client_ca)?), provider())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)?;
    Ok(Arc::new(config))
}

/// A random number from the TLS provider's secure generator (0 if it fails).
pub fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = provider().secure_random.fill(&mut b);
    u32::from_be_bytes(b)
}
