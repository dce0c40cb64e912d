//! The HTTPS server (axum on hyper, rustls with ring, TLS 1.2+) and the
//! plain-HTTP metrics server; certificate and policy reloading; graceful
//! shutdown that finishes in-flight admissions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt as _;
use tokio::net::TcpListener;

use super::cluster::Cluster;
use super::policies::LivePolicies;
use super::tls::{CertStore, TlsError, certified_key, generate_dev_certificate, server_config};
use super::webhook::{NODE_WAIT, Webhook};
use crate::attestation::discover::AttestationRepository;
use crate::attestation::{Resolver, ResolverOptions};
use crate::config::Config;
use crate::judge::Judge;
use crate::metrics::{self, Metrics};
use crate::policy::{InputBuilder, Mode};
use crate::registry::guard::AddressPolicy;
use crate::registry::{
    Backend, CacheConfig, ClientOptions, ImageRef, Keyring, Limits, RegistryClient, Store,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {detail}")]
    Listen { addr: String, detail: String },
    #[error("policies: {0}")]
    Policies(String),
}

/// A running server's addresses and the way to stop it (tests use this).
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub webhook: Arc<Webhook>,
    pub dev_ca_pem: Option<String>,
    shutdown: tokio::sync::watch::Sender<bool>,
    pub done: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts a graceful shutdown: not ready at once, in-flight requests finish.
    pub fn shutdown(&self) {
        self.webhook.shutting_down.store(true, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
    }
}

fn registry_client(config: &Config) -> Result<RegistryClient, ServeError> {
    use rustls_pki_types::pem::PemObject as _;
    let mut extra_roots = Vec::new();
    for p in &config.registries.ca_files {
        for c in rustls_pki_types::CertificateDer::pem_file_iter(p)
            .map_err(|e| ServeError::Config(format!("{}: {e}", p.display())))?
        {
            extra_roots.push(c.map_err(|e| ServeError::Config(format!("{}: {e}", p.display())))?);
        }
    }
    let r = &config.registries;
    let limits = Limits {
        manifest_bytes: r.limits.manifest_bytes,
        statement_bytes: r.limits.statement_bytes,
        request_timeout: r.limits.request_timeout.0,
        ..Limits::default()
    };
    RegistryClient::new(ClientOptions {
        insecure_registries: r.insecure.iter().cloned().collect(),
        extra_roots,
        address_policy: AddressPolicy {
            refuse_local: true,
            refuse_private: r.refuse_private_networks,
            allowed_hosts: r.allow_local.iter().cloned().collect(),
        },
        limits,
    })
    .map_err(|e| ServeError::Config(e.to_string()))
}

/// Builds the webhook from its configuration (no sockets yet).
pub async fn build(config: Config) -> Result<Webhook, ServeError> {
    let client = Arc::new(registry_client(&config)?);
    let limits = client.limits().clone();
    let cache = CacheConfig {
        content_bytes: config.cache.content_bytes,
        tag_ttl: config.cache.tag_ttl.0,
        negative_ttl: config.cache.negative_ttl.0,
    };
    let store = Arc::new(Store::new(Backend::Remote(client.clone()), limits, &cache));
    let mut attestation_repositories = Vec::new();
    for m in &config.attestation_repositories {
        attestation_repositories.push(AttestationRepository {
            images: globset::Glob::new(&m.images)
                .map_err(|e| ServeError::Config(e.to_string()))?
                .compile_matcher(),
            repository: ImageRef::parse(&m.repository)
                .map_err(|e| ServeError::Config(e.to_string()))?,
        });
    }
    let resolver = Resolver::new(
        store.clone(),
        ResolverOptions {
            max_attestation_manifests: config.registries.limits.max_attestation_manifests,
            max_statements: config.registries.limits.max_statements,
            attestation_repositories,
            predicate_types: (!config.predicate_types.is_empty())
                .then(|| config.predicate_types.iter().cloned().collect()),
            ..ResolverOptions::default()
        },
    );
    let workers = if config.max_concurrent_evaluations == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        config.max_concurrent_evaluations
    };
    // Parsed statements (in remembered resolutions) and their policy values
    // share the statement budget; a statement takes about 1.7 times more
    // memory parsed than converted, but resolutions also expire by TTL.
    let statement_budget = config.cache.statement_bytes / 2;
    let mut judge = Judge::new(resolver, InputBuilder::new(statement_budget), workers);
    judge.platform_mismatch = config.platform_mismatch;
    judge.cache_resolutions(config.cache.tag_ttl.0, statement_budget);

    let mut metrics = Metrics::new();
    metrics.watch_store(client.stats.clone(), store);
    judge.excluded_statements = metrics.excluded_statements.clone();
    let metrics = Arc::new(metrics);

    let mut operator_keyring = Keyring::default();
    if let Some(path) = &config.registries.docker_config {
        let bytes = std::fs::read(path)
            .map_err(|e| ServeError::Config(format!("{}: {e}", path.display())))?;
        operator_keyring
            .add_docker_config(&path.display().to_string(), &bytes)
            .map_err(|e| ServeError::Config(e.to_string()))?;
    }

    let policies = Arc::new(LivePolicies::new(config.policies.clone()));
    match policies.reload() {
        Ok(_) => {
            metrics::inc(&metrics.policy_reloads, "success");
            metrics.policy_healthy.set(1);
        }
        Err(e) => {
            // Not ready until a good set loads; the reload loop keeps trying.
            metrics::inc(&metrics.policy_reloads, "failure");
            tracing::error!(error = %e, "the policies do not load; not ready");
        }
    }

    let cluster = if config.node_platforms || config.pull_secrets {
        match Cluster::connect(config.kubeconfig.as_deref(), config.node_platforms).await {
            Ok(c) => {
                if config.node_platforms && !c.wait_for_nodes(NODE_WAIT).await {
                    tracing::warn!(
                        "no node list yet; using the default platforms until it arrives"
                    );
                }
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no Kubernetes API: default platforms and operator credentials only");
                None
            }
        }
    } else {
        None
    };
    Webhook::new(config, judge, policies, cluster, operator_keyring, metrics)
        .map_err(|e| ServeError::Config(e.to_string()))
}

async fn validate(State(webhook): State<Arc<Webhook>>, body: Body) -> Response {
    handle(webhook, None, body).await
}

async fn validate_mode(
    State(webhook): State<Arc<Webhook>>,
    Path(mode): Path<String>,
    body: Body,
) -> Response {
    let mode = match mode.as_str() {
        "enforce" => Mode::Enforce,
        "warn" => Mode::Warn,
        "audit" => Mode::Audit,
        other => {
            return (
                StatusCode::NOT_FOUND,
                format!("unknown mode {other:?} (enforce, warn or audit)"),
            )
                .into_response();
        }
    };
    handle(webhook, Some(mode), body).await
}

async fn handle(webhook: Arc<Webhook>, mode: Option<Mode>, body: Body) -> Response {
    let limit = webhook.config.max_body_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let reason = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                format!("request body larger than {limit} bytes")
            } else {
                format!("cannot read the request body: {e}")
            };
            tracing::warn!(%reason, "rejected admission request");
            return json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": reason}),
            );
        }
    };
    let answer = webhook.review(&bytes, mode).await;
    (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response()
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(webhook): State<Arc<Webhook>>) -> Response {
    let status = webhook.policies.status();
    let ready = webhook.ready();
    let body = serde_json::json!({"ready": ready, "shuttingDown": webhook.shutting_down.load(Ordering::Relaxed), "policies": status});
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
    )
}

async fn metrics_text(State(webhook): State<Arc<Webhook>>) -> Response {
    let set = |kind: &str, v: u64| {
        webhook
            .metrics
            .cache_bytes
            .get_or_create(&crate::metrics::KindLabels { kind: kind.into() })
            .set(i64::try_from(v).unwrap_or(i64::MAX));
    };
    set("resolutions", webhook.judge.resolutions_bytes());
    set("statement_values", webhook.judge.inputs.cached_bytes());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        webhook.metrics.encode(),
    )
        .into_response()
}

/// The certificate store the configuration asks for, and the dev CA if generated.
fn certificates(config: &Config) -> Result<(Arc<CertStore>, Option<String>), ServeError> {
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        return Ok((Arc::new(CertStore::from_files(cert, key)?), None));
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        names.push(h.to_ascii_lowercase());
    }
    let dev = generate_dev_certificate(&names)?;
    if let Some(dir) = &config.tls.dev_cert_dir {
        let write = |name: &str, content: &str| -> Result<PathBuf, ServeError> {
            let p = dir.join(name);
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&p, content))
                .map_err(|e| ServeError::Config(format!("{}: {e}", p.display())))?;
            Ok(p)
        };
        let ca = write("ca.pem", &dev.ca_pem)?;
        let cert = write("tls.crt", &dev.cert_pem)?;
        let key = write("tls.key", &dev.key_pem)?;
        tracing::info!(ca = %ca.display(), "wrote the development certificate and its CA");
        return Ok((
            Arc::new(CertStore::from_files(&cert, &key)?),
            Some(dev.ca_pem),
        ));
    }
    let ck = certified_key(
        dev.cert_pem.as_bytes(),
        dev.key_pem.as_bytes(),
        "generated",
        "generated",
    )?;
    Ok((Arc::new(CertStore::fixed(ck)), Some(dev.ca_pem)))
}

/// Starts both servers and the reload loops; returns at once.
pub async fn start(config: Config) -> Result<Running, ServeError> {
    let (certs, dev_ca_pem) = certificates(&config)?;
    if let Some(ca) = &dev_ca_pem
        && config.tls.dev_cert_dir.is_none()
    {
        // Without a directory the only way to trust it is to read it here.
        eprintln!("attestgate: development CA certificate\n{ca}");
    }
    let tls = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(certs.clone())?));
    let listen = config.listen.clone();
    let metrics_listen = config.metrics_listen.clone();
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| ServeError::Listen {
            addr: listen.clone(),
            detail: e.to_string(),
        })?;
    let metrics_listener =
        TcpListener::bind(&metrics_listen)
            .await
            .map_err(|e| ServeError::Listen {
                addr: metrics_listen.clone(),
                detail: e.to_string(),
            })?;
    let addr = listener.local_addr().map_err(|e| ServeError::Listen {
        addr: listen,
        detail: e.to_string(),
    })?;
    let metrics_addr = metrics_listener
        .local_addr()
        .map_err(|e| ServeError::Listen {
            addr: metrics_listen,
            detail: e.to_string(),
        })?;

    let tls_interval = config
        .tls
        .reload_interval
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(10));
    let policy_interval = config.policies.reload_interval.0;
    let webhook = Arc::new(build(config).await?);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);

    // Reload loops.
    {
        let certs = certs.clone();
        let metrics = webhook.metrics.clone();
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(tls_interval) => {}
                    _ = stop.changed() => return,
                }
                match certs.reload_if_changed() {
                    Ok(true) => {
                        metrics::inc(&metrics.tls_reloads, "success");
                        tracing::info!("serving certificate reloaded");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        metrics::inc(&metrics.tls_reloads, "failure");
                        tracing::error!(error = %e, "certificate reload failed; serving the previous one");
                    }
                }
            }
        });
    }
    {
        let webhook = webhook.clone();
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(policy_interval) => {}
                    _ = stop.changed() => return,
                }
                let policies = webhook.policies.clone();
                let result = tokio::task::spawn_blocking(move || policies.reload()).await;
                match result {
                    Ok(Ok(true)) => {
                        metrics::inc(&webhook.metrics.policy_reloads, "success");
                        webhook.metrics.policy_healthy.set(1);
                        tracing::info!(status = ?webhook.policies.status(), "policies reloaded");
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => {
                        metrics::inc(&webhook.metrics.policy_reloads, "failure");
                        webhook.metrics.policy_healthy.set(0);
                        tracing::error!(error = %e, "policy reload failed; the last good policies stay in force");
                    }
                    Err(e) => tracing::error!(error = %e, "policy reload task failed"),
                }
            }
        });
    }

    let app = Router::new()
        .route("/validate", post(validate))
        .route("/validate/{mode}", post(validate_mode))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(webhook.clone());
    let metrics_app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(webhook.clone());

    let mut metrics_stop = shutdown_rx.clone();
    tokio::spawn(async move {
        let _ = axum::serve(metrics_listener, metrics_app)
            .with_graceful_shutdown(async move {
                let _ = metrics_stop.changed().await;
            })
            .await;
    });

    let grace = webhook.config.budget.0 + Duration::from_secs(2);
    let done = tokio::spawn(serve_https(listener, tls, app, shutdown_rx, grace));

    tracing::info!(%addr, %metrics_addr, "attestgate serving");
    Ok(Running {
        addr,
        metrics_addr,
        webhook,
        dev_ca_pem,
        shutdown,
        done,
    })
}

/// Accepts TLS connections and serves `app` on them (HTTP/1.1 and h2) until
/// `stop` changes, then waits up to `grace` for in-flight requests.
pub async fn serve_https(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(10), tls.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests still running after the grace period; exiting");
    }
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let running = start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| ServeError::Config(format!("cannot handle SIGTERM: {e}")))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: finishing in-flight admissions");
    running.shutdown();
    let _ = running.done.await;
    Ok(())
}
