//! What the webhook reads from the cluster through kube: the nodes (watched,
//! for candidate platforms) and image pull secrets of pods and their service
//! accounts (fetched on demand, cached briefly, never logged).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, PodSpec, Secret, ServiceAccount};
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, reflector, watcher};

use crate::platform::{NodeView, Platform};
use crate::registry::Keyring;

#[derive(Debug, Clone, thiserror::Error)]
#[error("Kubernetes API: {0}")]
pub struct ClusterError(pub String);

pub struct Cluster {
    client: kube::Client,
    nodes: Option<reflector::Store<Node>>,
    /// (namespace, secret) → the secret's docker config bytes (or none).
    secrets: moka::future::Cache<(String, String), Option<Arc<Vec<u8>>>>,
    /// (namespace, service account) → its imagePullSecrets names.
    accounts: moka::future::Cache<(String, String), Arc<Vec<String>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("watching_nodes", &self.nodes.is_some())
            .finish()
    }
}

impl Cluster {
    /// Connects with `kubeconfig`, else the usual inference (KUBECONFIG,
    /// then in-cluster).
    pub async fn connect(
        kubeconfig: Option<&std::path::Path>,
        watch_nodes: bool,
    ) -> Result<Cluster, ClusterError> {
        let client = match kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| ClusterError(format!("{}: {e}", path.display())))?;
                let config = kube::Config::from_custom_kubeconfig(
                    kc,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .map_err(|e| ClusterError(format!("{}: {e}", path.display())))?;
                kube::Client::try_from(config).map_err(|e| ClusterError(e.to_string()))?
            }
            None => kube::Client::try_default()
                .await
                .map_err(|e| ClusterError(e.to_string()))?,
        };
        let nodes = if watch_nodes {
            let (reader, writer) = reflector::store();
            let stream = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
                .default_backoff()
                .reflect(writer)
                .applied_objects();
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    if let Err(e) = event {
                        tracing::warn!(error = %e, "watching nodes");
                    }
                }
            });
            Some(reader)
        } else {
            None
        };
        Ok(Cluster {
            client,
            nodes,
            secrets: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
            accounts: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
        })
    }

    /// Waits (at most `limit`) for the first node list.
    pub async fn wait_for_nodes(&self, limit: Duration) -> bool {
        match &self.nodes {
            Some(n) => tokio::time::timeout(limit, n.wait_until_ready())
                .await
                .is_ok_and(|r| r.is_ok()),
            None => false,
        }
    }

    /// The nodes as scheduling sees them (empty until the first list).
    pub fn nodes(&self) -> Vec<NodeView> {
        let Some(store) = &self.nodes else {
            return Vec::new();
        };
        store
            .state()
            .iter()
            .filter_map(|n| {
                let labels = n.metadata.labels.clone().unwrap_or_default();
                let info = n.status.as_ref().and_then(|s| s.node_info.as_ref());
                let os = labels
                    .get("kubernetes.io/os")
                    .cloned()
                    .or_else(|| info.map(|i| i.operating_system.clone()))?;
                let arch = labels
                    .get("kubernetes.io/arch")
                    .cloned()
                    .or_else(|| info.map(|i| i.architecture.clone()))?;
                Some(NodeView {
                    name: n.metadata.name.clone().unwrap_or_default(),
                    labels: labels.into_iter().collect(),
                    platform: Platform::new(&os, &arch, None),
                })
            })
            .collect()
    }

    async fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Vec<u8>>> {
        let client = self.client.clone();
        let key = (namespace.to_owned(), name.to_owned());
        self.secrets
            .get_with(key, async move {
                let api: Api<Secret> = Api::namespaced(client, namespace);
                match api.get_opt(name).await {
                    Ok(Some(s)) => {
                        let data = s.data.unwrap_or_default();
                        data.get(".dockerconfigjson")
                            .or_else(|| data.get(".dockercfg"))
                            .map(|b| Arc::new(b.0.clone()))
                    }
                    Ok(None) => {
                        tracing::warn!(namespace, secret = name, "image pull secret not found");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(namespace, secret = name, error = %e, "cannot read image pull secret");
                        None
                    }
                }
            })
            .await
    }

    async fn account_secrets(&self, namespace: &str, account: &str) -> Arc<Vec<String>> {
        let client = self.client.clone();
        self.accounts
            .get_with((namespace.to_owned(), account.to_owned()), async move {
                let api: Api<ServiceAccount> = Api::namespaced(client, namespace);
                match api.get_opt(account).await {
                    Ok(Some(sa)) => Arc::new(
                        sa.image_pull_secrets
                            .unwrap_or_default()
                            .into_iter()
                            .map(|r| r.name)
                            .filter(|n| !n.is_empty())
                            .collect(),
                    ),
                    Ok(None) => Arc::new(Vec::new()),
                    Err(e) => {
                        tracing::warn!(namespace, service_account = account, error = %e, "cannot read service account");
                        Arc::new(Vec::new())
                    }
                }
            })
            .await
    }

    /// The pod's pull secrets, then its service account's, as the kubelet
    /// combines them.
    pub async fn pull_credentials(&self, namespace: &str, spec: &PodSpec) -> Keyring {
        let mut names: Vec<String> = spec
            .image_pull_secrets
            .iter()
            .flatten()
            .map(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .collect();
        let account = spec
            .service_account_name
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or("default");
        names.extend(
            self.account_secrets(namespace, account)
                .await
                .iter()
                .cloned(),
        );
        names.dedup();
        let mut keyring = Keyring::default();
        for name in names {
            if let Some(bytes) = self.secret(namespace, &name).await
                && let Err(e) =
                    keyring.add_docker_config(&format!("secret {namespace}/{name}"), &bytes)
            {
                tracing::warn!(error = %e, "ignoring malformed image pull secret");
            }
        }
        keyring
    }
}
