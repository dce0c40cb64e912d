//! `attestgate serve` in-process on a real TCP port with a test CA, and an
//! HTTPS client that verifies it as the API server does with caBundle.

use std::sync::Arc;
use std::time::Duration;

use attestgate::admission::server::{Running, start};
use attestgate::admission::tls::generate_dev_certificate;
use attestgate::config::{Config, Dur};
use serde_json::{Value, json};

pub struct Server {
    pub running: Running,
    pub client: reqwest::Client,
    pub base: String,
    pub metrics: String,
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
}

pub fn client_for(ca_pem: &str) -> reqwest::Client {
    use rustls_pki_types::pem::PemObject as _;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

pub fn config(registries: &[&str]) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        metrics_listen: "127.0.0.1:0".into(),
        node_platforms: false,
        pull_secrets: false,
        ..Config::default()
    };
    c.registries.insecure = registries.iter().map(|s| s.to_string()).collect();
    c.registries.allow_local = c.registries.insecure.clone();
    c.default_platforms = vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ];
    c.budget = Dur(Duration::from_secs(4));
    c.policies.reload_interval = Dur(Duration::from_millis(150));
    c.tls.reload_interval = Some(Dur(Duration::from_millis(100)));
    c
}

pub async fn server(mut c: Config) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let dev = generate_dev_certificate(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &dev.cert_pem).unwrap();
    std::fs::write(&key, &dev.key_pem).unwrap();
    std::fs::write(dir.path().join("ca.key.unused"), "").unwrap();
    c.tls.cert_file = Some(cert);
    c.tls.key_file = Some(key);
    let running = start(c).await.unwrap();
    let base = format!("https://127.0.0.1:{}", running.addr.port());
    let metrics = format!("http://{}", running.metrics_addr);
    Server {
        client: client_for(&dev.ca_pem),
        running,
        base,
        metrics,
        dir,
        ca_pem: dev.ca_pem,
    }
}

impl Server {
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Sends a review and returns its `response`.
    pub async fn review(&self, review: &Value) -> Value {
        let (status, body) = self
            .post_raw("/validate", serde_json::to_vec(review).unwrap())
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        let response = body["response"].clone();
        assert_eq!(
            response["uid"], review["request"]["uid"],
            "the uid is echoed"
        );
        response
    }

    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

pub fn pod(name: &str, containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "apps"}, "spec": {"containers": containers}})
}

pub fn review_of(
    uid: &str,
    group: &str,
    kind: &str,
    resource: &str,
    operation: &str,
    object: Value,
    old: Option<Value>,
) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": resource},
            "namespace": "apps", "name": object["metadata"]["name"], "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object, "oldObject": old, "dryRun": false
        }
    })
}

pub fn pod_review(uid: &str, image: &str) -> Value {
    review_of(
        uid,
        "",
        "Pod",
        "pods",
        "CREATE",
        pod("web", json!([{"name": "app", "image": image}])),
        None,
    )
}
