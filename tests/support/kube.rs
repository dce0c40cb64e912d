//! The one accepted double: a thin stand-in for the Kubernetes API server
//! that serves real Kubernetes JSON (k8s-openapi objects) for what the
//! webhook reads: the node list (and an idle watch), service accounts and
//! secrets. It records which paths were asked for.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    LocalObjectReference, Node, NodeStatus, NodeSystemInfo, Secret, ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

pub struct FakeApi {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn node(name: &str, os: &str, arch: &str) -> Node {
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/os".to_owned(), os.to_owned());
    labels.insert("kubernetes.io/arch".to_owned(), arch.to_owned());
    labels.insert("kubernetes.io/hostname".to_owned(), name.to_owned());
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            resource_version: Some("1".into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        status: Some(NodeStatus {
            node_info: Some(NodeSystemInfo {
                operating_system: os.into(),
                architecture: arch.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn pull_secret(namespace: &str, name: &str, dockerconfigjson: &[u8]) -> Secret {
    let mut data = BTreeMap::new();
    data.insert(
        ".dockerconfigjson".to_owned(),
        ByteString(dockerconfigjson.to_vec()),
    );
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(data),
        ..Default::default()
    }
}

pub fn service_account(namespace: &str, name: &str, pull_secrets: &[&str]) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..Default::default()
        },
        image_pull_secrets: Some(
            pull_secrets
                .iter()
                .map(|s| LocalObjectReference { name: (*s).into() })
                .collect(),
        ),
        ..Default::default()
    }
}

fn not_found(what: &str) -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("{what} not found"), "reason": "NotFound", "code": 404}),
    )
}

/// Serves `nodes`, `accounts` and `secrets` until the process ends.
pub fn start(nodes: Vec<Node>, accounts: Vec<ServiceAccount>, secrets: Vec<Secret>) -> FakeApi {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorded = requests.clone();
    let addr = super::serve_in_background("127.0.0.1:0".into(), move |listener| async move {
            let nodes = Arc::new(nodes);
            let accounts = Arc::new(accounts);
            let secrets = Arc::new(secrets);
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { continue };
                let (nodes, accounts, secrets, recorded) = (nodes.clone(), accounts.clone(), secrets.clone(), recorded.clone());
                tokio::spawn(async move {
                    while let Some(target) = super::read_request_target(&mut stream).await {
                        recorded.lock().unwrap().push(target.clone());
                        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                        if path == "/api/v1/nodes" && query.contains("watch=true") {
                            // An idle watch: headers, then nothing (bookmarks are optional).
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                                .await;
                            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                            return;
                        }
                        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
                        let (status, body) = match parts.as_slice() {
                            ["api", "v1", "nodes"] => (200, json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": *nodes})),
                            ["api", "v1", "namespaces", ns, "serviceaccounts", name] => {
                                match accounts.iter().find(|a| a.metadata.namespace.as_deref() == Some(ns) && a.metadata.name.as_deref() == Some(name)) {
                                    Some(a) => (200, serde_json::to_value(a).unwrap()),
                                    None => not_found(&format!("serviceaccounts \"{name}\"")),
                                }
                            }
                            ["api", "v1", "namespaces", ns, "secrets", name] => {
                                match secrets.iter().find(|s| s.metadata.namespace.as_deref() == Some(ns) && s.metadata.name.as_deref() == Some(name)) {
                                    Some(s) => (200, serde_json::to_value(s).unwrap()),
                                    None => not_found(&format!("secrets \"{name}\"")),
                                }
                            }
                            _ => not_found(path),
                        };
                        let mut body = body;
                        if let Some(obj) = body.as_object_mut()
                            && parts.len() == 6
                            && status == 200
                        {
                            {
                                obj.insert("apiVersion".into(), json!("v1"));
                                obj.insert("kind".into(), json!(if parts[4] == "secrets" { "Secret" } else { "ServiceAccount" }));
                            }
                        }
                        let bytes = serde_json::to_vec(&body).unwrap();
                        let head = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", bytes.len());
                        if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
            }
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-token\n"
        ),
    )
    .unwrap();
    FakeApi {
        addr,
        requests,
        kubeconfig,
        _dir: dir,
    }
}
