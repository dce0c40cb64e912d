//! The HTTP registry client (OCI distribution API): manifests, blobs and the
//! referrers API, with the anonymous / basic / bearer-token auth flows.
//!
//! oci-client's own client is not used for fetching because it reads manifest
//! and referrers bodies without a size cap and its referrers call takes no
//! credentials; this client caps every body, verifies every digest, and is
//! given per-request credentials (they differ per pod).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use super::auth::Credential;
use super::digest::Digest;
use super::error::RegistryError;
use super::guard::{AddressPolicy, GuardedResolver, host_of};
use super::manifest::{Descriptor, MANIFEST_ACCEPT, OCI_INDEX};
use super::reference::registry_api_host;

/// Size and time bounds for everything read from a registry.
#[derive(Debug, Clone)]
pub struct Limits {
    pub manifest_bytes: u64,
    pub config_bytes: u64,
    pub statement_bytes: u64,
    pub referrers_page_bytes: u64,
    pub referrers_pages: usize,
    pub referrers_descriptors: usize,
    pub token_bytes: u64,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            manifest_bytes: 4 << 20,
            config_bytes: 4 << 20,
            statement_bytes: 16 << 20,
            referrers_page_bytes: 4 << 20,
            referrers_pages: 16,
            referrers_descriptors: 1024,
            token_bytes: 1 << 20,
            request_timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Registries (as written in references, `host[:port]`) reached over plain HTTP.
    pub insecure_registries: HashSet<String>,
    /// Extra trusted CA certificates (DER), beside the Mozilla roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub address_policy: AddressPolicy,
    pub limits: Limits,
}

/// Which registry and repository a request is for, and with what credentials.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub credentials: &'a [Credential],
}

/// A manifest as fetched: its verified digest, media type and exact bytes.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: Option<String>,
    pub bytes: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    host: String,
    repository: String,
    credential: Option<String>,
}

#[derive(Clone)]
struct Token {
    value: String,
    expires: Instant,
}

/// Counters of what the client did, for metrics and tests.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub token_requests: AtomicU64,
    pub bytes: AtomicU64,
}

pub struct RegistryClient {
    http: reqwest::Client,
    options: ClientOptions,
    challenges: std::sync::RwLock<HashMap<String, Challenge>>,
    tokens: moka::future::Cache<TokenKey, Token>,
    pub stats: Arc<ClientStats>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the registry HTTP client: {0}")]
pub struct ClientBuildError(String);

impl RegistryClient {
    pub fn new(options: ClientOptions) -> Result<Self, ClientBuildError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in &options.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| ClientBuildError(format!("extra CA certificate: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientBuildError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let policy = Arc::new(options.address_policy.clone());
        let redirect_policy = policy.clone();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // Blob downloads redirect to storage; the target is judged like a registry.
                if attempt.previous().len() >= 5 {
                    return attempt.error("too many redirects");
                }
                let host = attempt.url().host_str().unwrap_or_default().to_owned();
                match redirect_policy.check_registry(&host) {
                    Ok(()) => attempt.follow(),
                    Err(reason) => attempt.error(format!("redirect to {host} refused: {reason}")),
                }
            }))
            .connect_timeout(options.limits.connect_timeout)
            .read_timeout(options.limits.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("attestgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        Ok(RegistryClient {
            http,
            options,
            challenges: Default::default(),
            tokens: moka::future::Cache::builder().max_capacity(10_000).build(),
            stats: Default::default(),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    fn base_url(&self, registry: &str) -> String {
        let scheme = if self.options.insecure_registries.contains(registry)
            || self.options.insecure_registries.contains(host_of(registry))
        {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", registry_api_host(registry))
    }

    /// Fetches a manifest by tag or digest, verifies it, and returns its bytes.
    pub async fn manifest(
        &self,
        target: Target<'_>,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let expected = if reference.contains(':') {
            Some(
                Digest::parse(reference).map_err(|e| RegistryError::Malformed {
                    registry: target.registry.into(),
                    what: format!("manifest reference of {}", target.repository),
                    detail: e.to_string(),
                })?,
            )
        } else {
            None
        };
        let what = format!("manifest {}:{reference}", target.repository);
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(target.registry),
            target.repository
        );
        let resp = self.get(target, &url, MANIFEST_ACCEPT, &what).await?;
        let media_type = header_str(resp.headers(), CONTENT_TYPE).map(str::to_owned);
        let header_digest = header_str(resp.headers(), "docker-content-digest").map(str::to_owned);
        let bytes = self
            .read_capped(
                target.registry,
                resp,
                self.options.limits.manifest_bytes,
                &what,
            )
            .await?;
        let digest = match expected {
            Some(d) => d,
            None => match header_digest.as_deref().map(Digest::parse) {
                Some(Ok(d)) if d.algorithm() != "sha256" => d,
                _ => Digest::sha256_of(&bytes),
            },
        };
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                registry: target.registry.into(),
                what: format!("{what} (expected {digest})"),
                actual: Digest::sha256_of(&bytes).to_string(),
            });
        }
        // For a tag, the registry's own claim must agree with the bytes too.
        if let Some(Ok(claimed)) = header_digest.as_deref().map(Digest::parse)
            && !claimed.matches(&bytes)
        {
            return Err(RegistryError::DigestMismatch {
                registry: target.registry.into(),
                what: format!("{what} (Docker-Content-Digest {claimed})"),
                actual: Digest::sha256_of(&bytes).to_string(),
            });
        }
        Ok(FetchedManifest {
            digest,
            media_type,
            bytes,
        })
    }

    /// Fetches a blob, at most `max` bytes, and verifies it against `digest`.
    pub async fn blob(
        &self,
        target: Target<'_>,
        digest: &Digest,
        max: u64,
    ) -> Result<Bytes, RegistryError> {
        let what = format!("blob {digest} of {}", target.repository);
        let url = format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(target.registry),
            target.repository
        );
        let resp = self.get(target, &url, "*/*", &what).await?;
        let bytes = self.read_capped(target.registry, resp, max, &what).await?;
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                registry: target.registry.into(),
                what,
                actual: Digest::sha256_of(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }

    /// The OCI 1.1 referrers of `digest`, or `None` when the registry does not
    /// implement the API (then the `sha256-<hex>` tag is the fallback).
    /// `artifact_type` is sent as a filter and applied here too unless the
    /// registry says (`OCI-Filters-Applied`) it already did.
    pub async fn referrers(
        &self,
        target: Target<'_>,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let limits = &self.options.limits;
        let what = format!("referrers of {digest} in {}", target.repository);
        let base = self.base_url(target.registry);
        let mut url = format!("{base}/v2/{}/referrers/{digest}", target.repository);
        if let Some(t) = artifact_type {
            url.push_str("?artifactType=");
            url.push_str(&urlencode(t));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for page in 0.. {
            if page >= limits.referrers_pages {
                return Err(RegistryError::LimitExceeded {
                    registry: target.registry.into(),
                    what,
                    limit: limits.referrers_pages,
                    unit: "pages",
                });
            }
            if !seen.insert(url.clone()) {
                return Err(RegistryError::Malformed {
                    registry: target.registry.into(),
                    what,
                    detail: "the pagination links loop".into(),
                });
            }
            let resp = match self.get(target, &url, OCI_INDEX, &what).await {
                Ok(r) => r,
                // No API: distribution 2.8 answers 404 for the unknown route.
                Err(RegistryError::NotFound { .. }) if page == 0 => return Ok(None),
                Err(RegistryError::Http { status, .. })
                    if page == 0 && matches!(status, 400 | 405 | 501) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let filtered = header_str(resp.headers(), "oci-filters-applied")
                .map(|v| v.split(',').any(|f| f.trim() == "artifactType"))
                .unwrap_or(false);
            let next = next_link(resp.headers(), &base);
            let bytes = self
                .read_capped(target.registry, resp, limits.referrers_page_bytes, &what)
                .await?;
            let index: super::manifest::ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Malformed {
                    registry: target.registry.into(),
                    what: what.clone(),
                    detail: e.to_string(),
                })?;
            for d in index.manifests {
                if filtered || artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t)) {
                    out.push(d);
                }
            }
            if out.len() > limits.referrers_descriptors {
                return Err(RegistryError::LimitExceeded {
                    registry: target.registry.into(),
                    what,
                    limit: limits.referrers_descriptors,
                    unit: "referrers",
                });
            }
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(Some(out))
    }

    /// GET with the auth flow: a request, on 401 the challenge is learnt and
    /// the request retried with a token or basic credentials, trying each
    /// credential in turn as the kubelet does.
    async fn get(
        &self,
        target: Target<'_>,
        url: &str,
        accept: &str,
        what: &str,
    ) -> Result<Response, RegistryError> {
        if let Err(reason) = self.options.address_policy.check_registry(target.registry) {
            return Err(RegistryError::Refused {
                registry: target.registry.into(),
                reason,
            });
        }
        let host = registry_api_host(target.registry).to_owned();
        let anonymous: [Option<&Credential>; 1] = [None];
        let candidates: Vec<Option<&Credential>> = if target.credentials.is_empty() {
            anonymous.to_vec()
        } else {
            target.credentials.iter().map(Some).collect()
        };
        let mut last_detail = String::new();
        for credential in candidates {
            let mut fresh = false;
            for _attempt in 0..2 {
                let authz = self.authorization(target, &host, credential, fresh).await?;
                let mut req = self.http.get(url).header(ACCEPT, accept);
                if let Some(a) = &authz {
                    req = req.header(AUTHORIZATION, a);
                }
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                let resp = req
                    .send()
                    .await
                    .map_err(|e| self.transport_error(target.registry, what, e))?;
                match resp.status() {
                    s if s.is_success() => return Ok(resp),
                    StatusCode::UNAUTHORIZED => {
                        let challenge =
                            header_str(resp.headers(), WWW_AUTHENTICATE).and_then(parse_challenge);
                        last_detail = match (&challenge, credential) {
                            (_, None) => {
                                "the registry requires credentials and none matched it".into()
                            }
                            (_, Some(c)) => format!(
                                "credentials{} were rejected",
                                c.username()
                                    .map(|u| format!(" of user {u}"))
                                    .unwrap_or_default()
                            ),
                        };
                        let Some(challenge) = challenge else { break };
                        let known = self.challenge(&host);
                        self.set_challenge(&host, challenge.clone());
                        if authz.is_some() && known.as_ref() == Some(&challenge) && fresh {
                            break;
                        }
                        if authz.is_none() && credential.is_none() && challenge == Challenge::Basic
                        {
                            break;
                        }
                        fresh = true;
                    }
                    StatusCode::FORBIDDEN => {
                        last_detail = "access denied (HTTP 403)".into();
                        break;
                    }
                    StatusCode::NOT_FOUND => {
                        return Err(RegistryError::NotFound {
                            registry: target.registry.into(),
                            what: what.into(),
                        });
                    }
                    status => {
                        let detail = error_detail(resp).await;
                        return Err(RegistryError::Http {
                            registry: target.registry.into(),
                            what: what.into(),
                            status: status.as_u16(),
                            detail,
                        });
                    }
                }
            }
        }
        Err(RegistryError::AuthFailed {
            registry: target.registry.into(),
            repository: target.repository.into(),
            detail: last_detail,
        })
    }

    fn challenge(&self, host: &str) -> Option<Challenge> {
        self.challenges
            .read()
            .ok()
            .and_then(|m| m.get(host).cloned())
    }

    fn set_challenge(&self, host: &str, c: Challenge) {
        if let Ok(mut m) = self.challenges.write() {
            m.insert(host.to_owned(), c);
        }
    }

    /// The Authorization header for a request, from what is known of the
    /// host's challenge. A cached token is reused unless `fresh` is asked.
    async fn authorization(
        &self,
        target: Target<'_>,
        host: &str,
        credential: Option<&Credential>,
        fresh: bool,
    ) -> Result<Option<String>, RegistryError> {
        let Some(challenge) = self.challenge(host) else {
            return Ok(None);
        };
        match (challenge, credential) {
            (Challenge::Basic, Some(Credential::Basic { username, password })) => {
                Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                )))
            }
            (Challenge::Basic, _) => Ok(None),
            (Challenge::Bearer { .. }, Some(Credential::Bearer(token))) => {
                Ok(Some(format!("Bearer {token}")))
            }
            (Challenge::Bearer { realm, service }, credential) => {
                let key = TokenKey {
                    host: host.to_owned(),
                    repository: target.repository.to_owned(),
                    credential: credential.map(Credential::fingerprint),
                };
                if fresh {
                    self.tokens.invalidate(&key).await;
                }
                if let Some(t) = self.tokens.get(&key).await {
                    if t.expires > Instant::now() {
                        return Ok(Some(format!("Bearer {}", t.value)));
                    }
                    self.tokens.invalidate(&key).await;
                }
                // Concurrent requests for one repository share one token fetch.
                let token = self
                    .tokens
                    .try_get_with(
                        key,
                        self.fetch_token(target, &realm, service.as_deref(), credential),
                    )
                    .await
                    .map_err(|e| (*e).clone())?;
                Ok(Some(format!("Bearer {}", token.value)))
            }
        }
    }

    async fn fetch_token(
        &self,
        target: Target<'_>,
        realm: &str,
        service: Option<&str>,
        credential: Option<&Credential>,
    ) -> Result<Token, RegistryError> {
        let what = format!("token for {}", target.repository);
        let realm_url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Malformed {
            registry: target.registry.into(),
            what: what.clone(),
            detail: format!("bad realm {realm:?}: {e}"),
        })?;
        if !matches!(realm_url.scheme(), "https" | "http") {
            return Err(RegistryError::Malformed {
                registry: target.registry.into(),
                what,
                detail: format!("realm scheme {} is not HTTP", realm_url.scheme()),
            });
        }
        if let Err(reason) = self
            .options
            .address_policy
            .check_registry(realm_url.host_str().unwrap_or_default())
        {
            return Err(RegistryError::Refused {
                registry: target.registry.into(),
                reason: format!("token realm {realm}: {reason}"),
            });
        }
        let mut url = realm_url;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", &format!("repository:{}:pull", target.repository));
        }
        let mut req = self.http.get(url);
        if let Some(Credential::Basic { username, password }) = credential {
            req = req.basic_auth(username, Some(password));
        }
        self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(target.registry, &what, e))?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(RegistryError::AuthFailed {
                    registry: target.registry.into(),
                    repository: target.repository.into(),
                    detail: format!(
                        "the token service refused the {}",
                        if credential.is_some() {
                            "credentials"
                        } else {
                            "anonymous request"
                        }
                    ),
                });
            }
            status => {
                return Err(RegistryError::Http {
                    registry: target.registry.into(),
                    what,
                    status: status.as_u16(),
                    detail: error_detail(resp).await,
                });
            }
        }
        let bytes = self
            .read_capped(
                target.registry,
                resp,
                self.options.limits.token_bytes,
                &what,
            )
            .await?;
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Malformed {
                registry: target.registry.into(),
                what: what.clone(),
                detail: e.to_string(),
            })?;
        let value = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Malformed {
                registry: target.registry.into(),
                what,
                detail: "no token in the response".into(),
            })?;
        let lifetime = parsed.expires_in.unwrap_or(60).clamp(10, 300);
        Ok(Token {
            value,
            expires: Instant::now() + Duration::from_secs(lifetime - 5),
        })
    }

    async fn read_capped(
        &self,
        registry: &str,
        mut resp: Response,
        max: u64,
        what: &str,
    ) -> Result<Bytes, RegistryError> {
        let too_large = || RegistryError::TooLarge {
            registry: registry.into(),
            what: what.into(),
            limit: max,
        };
        if resp.content_length().is_some_and(|l| l > max) {
            return Err(too_large());
        }
        let capacity = resp.content_length().unwrap_or(8192).min(max) as usize;
        let mut buf = BytesMut::with_capacity(capacity);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport_error(registry, what, e))?
        {
            if (buf.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        self.stats
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.freeze())
    }

    fn transport_error(&self, registry: &str, what: &str, e: reqwest::Error) -> RegistryError {
        if e.is_timeout() {
            let limit = if e.is_connect() {
                self.options.limits.connect_timeout
            } else {
                self.options.limits.request_timeout
            };
            return RegistryError::Timeout {
                registry: registry.into(),
                what: what.into(),
                millis: limit.as_millis() as u64,
            };
        }
        // The innermost causes say what happened ("connection refused",
        // "resolves to ... refused"); reqwest's outer layers only repeat context.
        let e = e.without_url();
        let mut chain: Vec<String> = vec![e.to_string()];
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
        chain.dedup();
        let kept = chain.len().min(2);
        let mut detail = chain[chain.len() - kept..].join(": ");
        if e.is_connect() {
            detail = format!("cannot connect: {detail}");
        }
        if detail.contains(super::guard::REFUSED)
            || detail.contains("redirect to") && detail.contains("refused")
        {
            return RegistryError::Refused {
                registry: registry.into(),
                reason: detail,
            };
        }
        RegistryError::Transport {
            registry: registry.into(),
            what: what.into(),
            detail,
        }
    }
}

fn header_str<K: reqwest::header::AsHeaderName>(h: &HeaderMap, k: K) -> Option<&str> {
    h.get(k).and_then(|v| v.to_str().ok())
}

async fn error_detail(resp: Response) -> String {
    // A short excerpt of the registry's error body helps; never more.
    let mut resp = resp;
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() > 512 {
            break;
        }
    }
    let text: String = String::from_utf8_lossy(&buf)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

/// `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let params = parse_params(rest);
            let realm = params.get("realm")?.clone();
            Some(Challenge::Bearer {
                realm,
                service: params.get("service").cloned(),
            })
        }
        _ => None,
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    out
}

/// The `rel="next"` target of a `Link` header, resolved against `base`.
fn next_link(headers: &HeaderMap, base: &str) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let Some((target, params)) = part.split_once(';') else {
                continue;
            };
            let is_next = params.split(';').any(|p| {
                p.trim()
                    .replace(' ', "")
                    .eq_ignore_ascii_case("rel=\"next\"")
                    || p.trim().eq_ignore_ascii_case("rel=next")
            });
            if !is_next {
                continue;
            }
            let target = target.trim().trim_start_matches('<').trim_end_matches('>');
            if target.starts_with("http://") || target.starts_with("https://") {
                // Pagination must stay on the same registry.
                return target.starts_with(base).then(|| target.to_owned());
            }
            if target.starts_with('/') {
                return Some(format!("{base}{target}"));
            }
        }
    }
    None
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn link_header_pagination() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            r#"</v2/a/referrers/sha256:x?n=10&last=y>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h, "http://r:5000").as_deref(),
            Some("http://r:5000/v2/a/referrers/sha256:x?n=10&last=y")
        );
        let mut h = HeaderMap::new();
        h.insert(LINK, r#"<http://evil/v2/x>; rel="next""#.parse().unwrap());
        assert_eq!(
            next_link(&h, "http://r:5000"),
            None,
            "cross-host pagination is refused"
        );
        assert_eq!(next_link(&HeaderMap::new(), "http://r"), None);
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            urlencode("application/vnd.docker.attestation.manifest.v1+json"),
            "application%2Fvnd.docker.attestation.manifest.v1%2Bjson"
        );
    }
}
