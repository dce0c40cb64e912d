//! `attestgate serve`: the admission webhook.

use std::path::PathBuf;

use clap::Args;

use crate::config::{Config, Dur};
use crate::platform::Platform;
use crate::policy::{Mode, OnError};

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Configuration file (YAML or JSON); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTPS address of the webhook.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Plain-HTTP address of /metrics, /healthz and /readyz.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Serving certificate chain (PEM); without it a self-signed development certificate is generated.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Where the generated development certificate and its CA are written.
    #[arg(long, value_name = "DIR")]
    pub dev_cert_dir: Option<PathBuf>,
    /// Policy files or directories (repeatable), reloaded when they change.
    #[arg(long = "policy", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Do not include the shipped policies built into the binary.
    #[arg(long)]
    pub no_default_policies: bool,
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    #[arg(long, value_enum)]
    pub on_error: Option<OnError>,
    /// Candidate platforms when no node information is available (repeatable).
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    pub platforms: Vec<Platform>,
    /// Reach this registry over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Lift the refusal of loopback / link-local / metadata addresses for this registry (repeatable).
    #[arg(long = "allow-registry", value_name = "HOST[:PORT]")]
    pub allow_registries: Vec<String>,
    /// Admit images matching this glob without judging them (repeatable).
    #[arg(long = "exclude-image", value_name = "GLOB")]
    pub exclude_images: Vec<String>,
    /// Operator registry credentials (dockerconfigjson).
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    /// Trust this CA (PEM) for registries (repeatable).
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub registry_cas: Vec<PathBuf>,
    /// Time budget of one admission (e.g. 8s).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
    pub budget: Option<std::time::Duration>,
    /// Do not contact a Kubernetes API server (no node platforms, no pull secrets).
    #[arg(long)]
    pub no_kubernetes: bool,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then these flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(v) = &self.listen {
            c.listen = v.clone();
        }
        if let Some(v) = &self.metrics_listen {
            c.metrics_listen = v.clone();
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls.cert_file = Some(cert.clone());
            c.tls.key_file = Some(key.clone());
        }
        if let Some(d) = &self.dev_cert_dir {
            c.tls.dev_cert_dir = Some(d.clone());
        }
        if !self.policies.is_empty() {
            c.policies.paths = self.policies.clone();
        }
        if self.no_default_policies {
            c.policies.include_default = false;
        }
        if let Some(m) = self.mode {
            c.mode = m;
        }
        if let Some(o) = self.on_error {
            c.on_error = o;
        }
        if !self.platforms.is_empty() {
            c.default_platforms = self.platforms.clone();
        }
        c.registries
            .insecure
            .extend(self.insecure_registries.iter().cloned());
        c.registries
            .allow_local
            .extend(self.allow_registries.iter().cloned());
        c.registries
            .ca_files
            .extend(self.registry_cas.iter().cloned());
        c.exclude.images.extend(self.exclude_images.iter().cloned());
        if let Some(d) = &self.docker_config {
            c.registries.docker_config = Some(d.clone());
        }
        if let Some(b) = self.budget {
            c.budget = Dur(b);
        }
        if self.no_kubernetes {
            c.node_platforms = false;
            c.pull_secrets = false;
        }
        c.validate()?;
        Ok(c)
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    let config = args.config()?;
    init_logging();
    crate::admission::server::run(config).await?;
    Ok(0)
}

/// Structured JSON logs on stderr; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
