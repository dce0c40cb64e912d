//! Test support: where the real registries are, pushing content to them
//! byte-exact, building OCI fixtures in code, and the few stand-ins a real
//! registry cannot play (a token service, a hostile registry).
#![allow(dead_code)]

pub mod fixtures;
pub mod hostile;
pub mod kube;
pub mod proxy;
pub mod server;
pub mod token;

use std::future::Future;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::io::AsyncReadExt;

/// A registry address from the environment, or a skip (a failure when the
/// test command runs with `ATTESTGATE_TEST_STRICT=1`).
pub fn registry(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            skip(&format!(
                "{var} is not set (run scripts/test.sh to start the registries)"
            ));
            None
        }
    }
}

pub fn strict() -> bool {
    std::env::var("ATTESTGATE_TEST_STRICT").is_ok_and(|v| v == "1")
}

pub fn skip(why: &str) {
    assert!(
        !strict(),
        "cannot skip under ATTESTGATE_TEST_STRICT=1: {why}"
    );
    eprintln!("SKIPPED: {why}");
}

/// The shared corpus (`ATTESTGATE_CORPUS`, else `../shared/corpus`).
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("ATTESTGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.join("PROVENANCE.md").exists() {
        Some(dir)
    } else {
        skip(&format!("the corpus is absent at {}", dir.display()));
        None
    }
}

/// A unique repository name per call, so tests never share state.
pub fn unique_repo(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

pub fn sha256(bytes: &[u8]) -> String {
    attestgate::registry::Digest::sha256_of(bytes).to_string()
}

/// How a test pushes to a registry.
#[derive(Clone)]
pub enum PushAuth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// Pushes blobs and manifests with plain distribution-API calls, byte-exact;
/// or writes them into an OCI layout directory (`Pusher::to_layout`).
#[derive(Clone)]
pub struct Pusher {
    pub base: String,
    pub repo: String,
    http: reqwest::Client,
    auth: PushAuth,
    layout: Option<PathBuf>,
}

impl Pusher {
    pub fn new(registry: &str, repo: &str) -> Pusher {
        Pusher::with(format!("http://{registry}"), repo, PushAuth::None, None)
    }

    pub fn with(base: String, repo: &str, auth: PushAuth, ca_pem: Option<&Path>) -> Pusher {
        // As main() does: one process-wide rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder();
        if let Some(ca) = ca_pem {
            let roots = ca_roots(ca);
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            b = b.tls_backend_preconfigured(tls);
        }
        Pusher {
            base,
            repo: repo.to_owned(),
            http: b.build().unwrap(),
            auth,
            layout: None,
        }
    }

    /// Writes into an OCI image layout at `dir` instead of a registry; tags
    /// become `org.opencontainers.image.ref.name` entries of index.json.
    pub fn to_layout(dir: &Path) -> Pusher {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        if !dir.join("index.json").exists() {
            std::fs::write(
                dir.join("index.json"),
                br#"{"schemaVersion":2,"manifests":[]}"#,
            )
            .unwrap();
        }
        let mut p = Pusher::with("layout".into(), "layout", PushAuth::None, None);
        p.layout = Some(dir.to_owned());
        p
    }

    fn write_layout_blob(dir: &Path, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        std::fs::write(dir.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
        digest
    }

    fn authed(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            PushAuth::None => r,
            PushAuth::Basic(u, p) => r.basic_auth(u, Some(p)),
            PushAuth::Bearer(t) => r.bearer_auth(t),
        }
    }

    pub async fn blob(&self, bytes: &[u8]) -> String {
        if let Some(dir) = &self.layout {
            return Pusher::write_layout_blob(dir, bytes);
        }
        let digest = sha256(bytes);
        let url = format!("{}/v2/{}/blobs/uploads/", self.base, self.repo);
        let resp = self.authed(self.http.post(&url)).send().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            202,
            "start upload: {}",
            resp.text().await.unwrap_or_default()
        );
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .authed(self.http.put(format!("{location}{sep}digest={digest}")))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            201,
            "finish upload: {}",
            resp.text().await.unwrap_or_default()
        );
        digest
    }

    /// PUTs manifest bytes under `reference` (a tag or their digest).
    pub async fn manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> String {
        if let Some(dir) = &self.layout {
            let digest = Pusher::write_layout_blob(dir, bytes);
            if !reference.starts_with("sha256:") {
                let mut index: Value =
                    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap())
                        .unwrap();
                let entries = index["manifests"].as_array_mut().unwrap();
                entries
                    .retain(|e| e["annotations"]["org.opencontainers.image.ref.name"] != reference);
                entries.push(serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len(),
                    "annotations": {"org.opencontainers.image.ref.name": reference}}));
                std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap())
                    .unwrap();
            }
            return digest;
        }
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repo);
        let resp = self
            .authed(self.http.put(&url))
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "put manifest {reference}: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
        sha256(bytes)
    }

    /// Pushes an OCI layout byte-exact: every blob, then every manifest
    /// reachable from `index.json` children first, then its tags.
    pub async fn layout(&self, dir: &Path) {
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let blobs = dir.join("blobs/sha256");
        let mut manifests = Vec::new();
        for entry in std::fs::read_dir(&blobs).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v)
                    if v.get("manifests").is_some()
                        || v.get("layers").is_some()
                        || v.get("config").is_some() && v.get("schemaVersion").is_some() =>
                {
                    manifests.push((sha256(&bytes), v, bytes));
                }
                _ => {
                    self.blob(&bytes).await;
                }
            }
        }
        // Children first: repeat until every manifest is in.
        let mut done = std::collections::HashSet::new();
        while done.len() < manifests.len() {
            let before = done.len();
            for (digest, v, bytes) in &manifests {
                if done.contains(digest) {
                    continue;
                }
                let children: Vec<String> = v["manifests"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|d| d["digest"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let ready = children
                    .iter()
                    .all(|c| done.contains(c) || !manifests.iter().any(|(d, _, _)| d == c));
                if ready {
                    let mt = manifest_media_type(v);
                    self.manifest(digest, mt, bytes).await;
                    done.insert(digest.clone());
                }
            }
            assert!(
                done.len() > before,
                "manifest dependency cycle in {}",
                dir.display()
            );
        }
        for entry in index["manifests"].as_array().unwrap() {
            if let Some(name) = entry["annotations"]["org.opencontainers.image.ref.name"].as_str() {
                let tag = name
                    .rsplit_once(':')
                    .map(|(_, t)| t)
                    .filter(|t| !t.contains('/'))
                    .unwrap_or(name);
                let digest = entry["digest"].as_str().unwrap();
                let bytes = std::fs::read(blobs.join(&digest[7..])).unwrap();
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                self.manifest(tag, manifest_media_type(&v), &bytes).await;
            }
        }
    }
}

pub fn manifest_media_type(v: &Value) -> &'static str {
    match v["mediaType"].as_str() {
        Some("application/vnd.docker.distribution.manifest.list.v2+json") => {
            "application/vnd.docker.distribution.manifest.list.v2+json"
        }
        Some("application/vnd.docker.distribution.manifest.v2+json") => {
            "application/vnd.docker.distribution.manifest.v2+json"
        }
        _ if v.get("manifests").is_some() => "application/vnd.oci.image.index.v1+json",
        _ => "application/vnd.oci.image.manifest.v1+json",
    }
}

pub fn ca_roots(ca_pem: &Path) -> rustls::RootCertStore {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

/// A resolver over a plain-HTTP registry, the way `attestgate resolve --insecure-registry` builds one.
pub fn http_resolver(
    registry: &str,
    limits: attestgate::registry::Limits,
) -> attestgate::attestation::Resolver {
    use attestgate::registry::{Backend, CacheConfig, ClientOptions, RegistryClient, Store};
    let client = RegistryClient::new(ClientOptions {
        insecure_registries: [registry.to_owned()].into_iter().collect(),
        limits: limits.clone(),
        ..Default::default()
    })
    .unwrap();
    let store = Store::new(
        Backend::Remote(std::sync::Arc::new(client)),
        limits,
        &CacheConfig::default(),
    );
    attestgate::attestation::Resolver::new(std::sync::Arc::new(store), Default::default())
}

/// The path of the built `attestgate` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_attestgate"))
}

/// Binds `bind` and runs `serve` on it on a thread and runtime of their own
/// (so a stand-in outlives the runtime of the test that started it);
/// returns the bound address, or `None` if it cannot bind.
pub fn serve_in_background<F, Fut>(bind: String, serve: F) -> Option<String>
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::bind(&bind).await else {
                return;
            };
            let _ = tx.send(listener.local_addr().unwrap().to_string());
            serve(listener).await;
        });
    });
    rx.recv().ok()
}

/// Reads one HTTP/1.1 request head (the raw stand-ins read no bodies) and
/// returns its request target; `None` when the connection ends first.
pub async fn read_request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let line = head.lines().next().unwrap_or_default();
    Some(line.split(' ').nth(1).unwrap_or("/").to_owned())
}
