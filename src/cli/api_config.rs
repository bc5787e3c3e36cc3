//! Where the provisioning API is and how the client authenticates to it: `--api --ca
//! --cert --key`, each also from the environment (`TAPLINE_API`, `TAPLINE_CA`,
//! `TAPLINE_CERT`, `TAPLINE_KEY`) or a TOML settings file (`--config FILE` or
//! `TAPLINE_CONFIG`). A flag wins over the environment, the environment over the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How to reach the provisioning API.
#[derive(clap::Args, Clone, Debug)]
pub struct ApiArgs {
    /// HOST:PORT of the API (or `api` in the settings file).
    #[arg(long, env = "TAPLINE_API", value_name = "HOST:PORT")]
    api: Option<String>,
    /// CA of the API's server certificate, PEM (or `ca` in the settings file).
    #[arg(long, env = "TAPLINE_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// This client's certificate, PEM (or `cert` in the settings file).
    #[arg(long, env = "TAPLINE_CERT", value_name = "FILE")]
    cert: Option<PathBuf>,
    /// This client's private key, PEM (or `key` in the settings file).
    #[arg(long, env = "TAPLINE_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// Client settings file: TOML with `api`, `ca`, `cert`, `key` (paths relative to the
    /// file); flags and environment variables win over it.
    #[arg(long = "config", env = "TAPLINE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The settings resolved: every one present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiSettings {
    pub api: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The settings file's keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    api: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{file}: cannot read the client settings: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: client settings: {reason} (keys: api, ca, cert, key)")]
    Parse { file: String, reason: String },
    #[error("no {what}: give --{what}, set {env}, or put `{what}` in a settings file (--config FILE or TAPLINE_CONFIG)")]
    Missing { what: &'static str, env: &'static str },
}

impl ApiArgs {
    /// Flags and environment (clap has merged those), then the settings file.
    pub fn resolve(&self) -> Result<ApiSettings, SettingsError> {
        let file = match &self.config {
            Some(path) => read_settings(path)?,
            None => SettingsFile::default(),
        };
        let missing = |what, env| SettingsError::Missing { what, env };
        Ok(ApiSettings {
            api: self.api.clone().or(file.api).ok_or(missing("api", "TAPLINE_API"))?,
            ca: self.ca.clone().or(file.ca).ok_or(missing("ca", "TAPLINE_CA"))?,
            cert: self.cert.clone().or(file.cert).ok_or(missing("cert", "TAPLINE_CERT"))?,
            key: self.key.clone().or(file.key).ok_or(missing("key", "TAPLINE_KEY"))?,
        })
    }
}

/// The settings file, its relative paths made relative to its directory.
fn read_settings(path: &Path) -> Result<SettingsFile, SettingsError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read { file: file.clone(), source })?;
    let mut s: SettingsFile =
        toml::from_str(&text).map_err(|e| SettingsError::Parse { file, reason: e.message().to_owned() })?;
    let base = path.parent().unwrap_or(Path::new(""));
    for p in [&mut s.ca, &mut s.cert, &mut s.key].into_iter().flatten() {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    Ok(s)
}
