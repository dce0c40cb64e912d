//! The `serve` configuration file (YAML or JSON). Command-line flags
//! override the file; the file overrides the defaults documented here and in
//! docs/operating.md.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::judge::PlatformMismatch;
use crate::platform::Platform;
use crate::policy::{Mode, OnError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("config {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("config: {0}")]
    Invalid(String),
}

/// A duration written `500ms`, `8s`, `2m` (or a number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Duration::try_from_secs_f64(n)
                .map(Dur)
                .map_err(serde::de::Error::custom),
            Raw::Text(t) => parse_duration(&t)
                .map(Dur)
                .map_err(serde::de::Error::custom),
        }
    }
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 500ms, 8s, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    /// HTTPS address of the webhook.
    pub listen: String,
    /// Plain-HTTP address of /metrics (and /healthz, /readyz).
    pub metrics_listen: String,
    pub tls: Tls,
    pub policies: Policies,
    /// Default mode; namespaces can be given another one by the webhook path
    /// (`/validate/warn`, `/validate/audit`), which the Helm chart wires to a
    /// namespace label.
    pub mode: Mode,
    pub on_error: OnError,
    pub platform_mismatch: PlatformMismatch,
    /// Candidate platforms when no node information is available.
    pub default_platforms: Vec<Platform>,
    /// Use the cluster's nodes as candidate platforms (needs list/watch nodes).
    pub node_platforms: bool,
    /// A kubeconfig to reach the API server with; default: in-cluster
    /// configuration, or `KUBECONFIG`.
    pub kubeconfig: Option<PathBuf>,
    /// Read imagePullSecrets of pods and their service accounts (needs get
    /// secrets and serviceaccounts).
    pub pull_secrets: bool,
    /// On UPDATE, judge only containers whose image changed.
    pub changed_images_only: bool,
    /// The time budget of one admission (keep it below the webhook's timeoutSeconds).
    pub budget: Dur,
    /// Largest accepted AdmissionReview body.
    pub max_body_bytes: usize,
    pub max_concurrent_evaluations: usize,
    pub registries: Registries,
    pub attestation_repositories: Vec<AttestationRepositoryConfig>,
    /// When set, statement layers whose `in-toto.io/predicate-type`
    /// annotation names another type are not fetched (policies then see only
    /// these types, plus unannotated statements). Empty: every statement.
    pub predicate_types: Vec<String>,
    pub exclude: Exclude,
    pub cache: Cache,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8443".into(),
            metrics_listen: "0.0.0.0:9090".into(),
            tls: Tls::default(),
            policies: Policies::default(),
            mode: Mode::Enforce,
            on_error: OnError::Deny,
            platform_mismatch: PlatformMismatch::Deny,
            default_platforms: vec![Platform::new("linux", "amd64", None)],
            node_platforms: true,
            kubeconfig: None,
            pull_secrets: true,
            changed_images_only: true,
            budget: Dur(Duration::from_secs(8)),
            max_body_bytes: 3 << 20,
            max_concurrent_evaluations: 0,
            registries: Registries::default(),
            attestation_repositories: Vec::new(),
            predicate_types: Vec::new(),
            exclude: Exclude::default(),
            cache: Cache::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain; without it a self-signed development
    /// certificate is generated (and written to `devCertDir`).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Where the generated development certificate and CA go.
    pub dev_cert_dir: Option<PathBuf>,
    /// How often the certificate files are checked for a change.
    pub reload_interval: Option<Dur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Policies {
    /// Policy files or directories (for example a mounted ConfigMap).
    pub paths: Vec<PathBuf>,
    /// Include the shipped policies built into the binary.
    pub include_default: bool,
    /// How often `paths` are checked for a change.
    pub reload_interval: Dur,
    /// Time limit of one rule evaluation.
    pub eval_timeout: Dur,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            paths: Vec::new(),
            include_default: true,
            reload_interval: Dur(Duration::from_secs(10)),
            eval_timeout: Dur(Duration::from_secs(1)),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[derive(Default)]
pub struct Registries {
    /// Registries reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Registries exempt from the refusal of loopback, link-local and
    /// metadata addresses.
    pub allow_local: Vec<String>,
    /// Also refuse private network addresses (RFC 1918, ULA, CGNAT).
    pub refuse_private_networks: bool,
    /// When non-empty, images from other registries are denied.
    pub allow_list: Vec<String>,
    /// Extra CA certificates (PEM) for registries.
    pub ca_files: Vec<PathBuf>,
    /// Operator credentials (dockerconfigjson).
    pub docker_config: Option<PathBuf>,
    pub limits: RegistryLimits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RegistryLimits {
    pub manifest_bytes: u64,
    pub statement_bytes: u64,
    pub request_timeout: Dur,
    pub max_attestation_manifests: usize,
    pub max_statements: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        let l = crate::registry::Limits::default();
        RegistryLimits {
            manifest_bytes: l.manifest_bytes,
            statement_bytes: l.statement_bytes,
            request_timeout: Dur(Duration::from_secs(4)),
            max_attestation_manifests: 64,
            max_statements: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationRepositoryConfig {
    /// Glob over the image's repository (`dhi.io/*`).
    pub images: String,
    /// Where their attestations live (`registry.example/attestations/*` not
    /// supported; one repository).
    pub repository: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Exclude {
    pub namespaces: Vec<String>,
    /// Globs over the image as written and its normalised reference.
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Cache {
    /// Verified manifests and blobs, by digest.
    pub content_bytes: u64,
    /// Parsed statements: half for remembered resolutions, half for the
    /// statements converted to policy values (by digest).
    pub statement_bytes: u64,
    pub tag_ttl: Dur,
    pub negative_ttl: Dur,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            content_bytes: 128 << 20,
            statement_bytes: 64 << 20,
            tag_ttl: Dur(Duration::from_secs(30)),
            negative_ttl: Dur(Duration::from_secs(30)),
        }
    }
}

impl Config {
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Config::parse(&text).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// YAML (JSON is YAML too).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let value =
            regorus::Value::from_yaml_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::to_value(&value).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let json = if json.is_null() {
            serde_json::json!({})
        } else {
            json
        };
        let config: Config =
            serde_json::from_value(json).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls.certFile and tls.keyFile go together".into(),
            ));
        }
        if self.budget.0 < Duration::from_millis(100) {
            return Err(ConfigError::Invalid("budget must be at least 100ms".into()));
        }
        if !self.policies.include_default && self.policies.paths.is_empty() {
            return Err(ConfigError::Invalid(
                "no policies: set policies.paths or keep policies.includeDefault".into(),
            ));
        }
        for g in self
            .exclude
            .images
            .iter()
            .chain(self.attestation_repositories.iter().map(|a| &a.images))
        {
            globset::Glob::new(g).map_err(|e| ConfigError::Invalid(format!("glob {g:?}: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yaml_with_durations_and_defaults() {
        let c = Config::parse(
            "mode: warn\nbudget: 7500ms\ndefaultPlatforms: [linux/arm64, linux/amd64]\nregistries:\n  insecure: [\"r:5000\"]\ncache:\n  tagTtl: 1m\n",
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Warn);
        assert_eq!(c.budget.0, Duration::from_millis(7500));
        assert_eq!(c.default_platforms.len(), 2);
        assert_eq!(c.cache.tag_ttl.0, Duration::from_secs(60));
        assert_eq!(c.listen, "0.0.0.0:8443");
        assert!(Config::parse("").is_ok());
    }

    #[test]
    fn rejects_unknown_and_inconsistent_settings() {
        let e = Config::parse("lisen: x\n").unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");
        assert!(Config::parse("tls:\n  certFile: a\n").is_err());
        assert!(Config::parse("mode: maybe\n").is_err());
        assert!(Config::parse("budget: 5x\n").is_err());
        assert!(Config::parse("policies:\n  includeDefault: false\n").is_err());
    }
}
