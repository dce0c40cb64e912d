//! Judging images and pods: resolve each container's image for its candidate
//! platforms, build one input per (container, platform), evaluate the policy
//! set off the async threads, and collect verdicts. Shared by the webhook and
//! `attestgate eval`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::attestation::discover::predicate_types;
use crate::attestation::{PlatformSelection, ResolvedImage, Resolver};
use crate::platform::{self, Platform};
use crate::policy::decision::Verdict;
use crate::policy::{ContainerInfo, Finding, InputBuilder, PolicySet, RequestInfo};
use crate::registry::{ImageRef, Keyring};

/// What to do when an image offers none of the pod's candidate platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PlatformMismatch {
    #[default]
    Deny,
    Allow,
}

pub struct Judge {
    pub resolver: Resolver,
    pub inputs: InputBuilder,
    /// Bounds concurrent policy evaluations (they run on blocking threads).
    pub evaluations: Arc<Semaphore>,
    pub platform_mismatch: PlatformMismatch,
}

impl Judge {
    pub fn new(
        resolver: Resolver,
        inputs: InputBuilder,
        max_concurrent_evaluations: usize,
    ) -> Judge {
        Judge {
            resolver,
            inputs,
            evaluations: Arc::new(Semaphore::new(max_concurrent_evaluations.max(1))),
            platform_mismatch: PlatformMismatch::Deny,
        }
    }

    /// Resolves one image for `nodes` (all offered platforms when empty).
    pub async fn resolve(
        &self,
        image: &ImageRef,
        nodes: &[Platform],
        keyring: &Keyring,
    ) -> Result<ResolvedImage, crate::attestation::ResolveError> {
        let selection = if nodes.is_empty() {
            PlatformSelection::All
        } else {
            PlatformSelection::Nodes(nodes.to_vec())
        };
        self.resolver.resolve(image, keyring, &selection).await
    }

    /// Verdicts for one container (or a bare image when `container` is None).
    pub async fn judge_image(
        &self,
        policies: &Arc<PolicySet>,
        request: &RequestInfo,
        container: Option<&ContainerInfo>,
        image_as_written: &str,
        nodes: &[Platform],
        keyring: &Keyring,
    ) -> Vec<Verdict> {
        let shown = image_as_written.to_owned();
        let image = match ImageRef::parse(image_as_written) {
            Ok(i) => i,
            Err(e) => {
                return vec![Verdict::failed(
                    container.cloned(),
                    shown,
                    None,
                    e.to_string(),
                )];
            }
        };
        let resolved = match self.resolve(&image, nodes, keyring).await {
            Ok(r) => r,
            Err(e) => {
                return vec![Verdict::failed(
                    container.cloned(),
                    shown,
                    None,
                    format!("cannot resolve {image}: {e}"),
                )];
            }
        };
        if resolved.platforms.is_empty() {
            let message = format!(
                "platform: {image} offers {}, but the pod can run on {}",
                platform::list(&resolved.offered),
                platform::list(nodes)
            );
            let finding = vec![Finding {
                policy: "attestgate.platform".into(),
                message,
            }];
            let (deny, warn) = match self.platform_mismatch {
                PlatformMismatch::Deny => (finding, Vec::new()),
                PlatformMismatch::Allow => (Vec::new(), finding),
            };
            return vec![Verdict {
                container: container.cloned(),
                image: shown,
                platform: None,
                deny,
                warn,
                error: None,
                found: Vec::new(),
            }];
        }
        let resolved = Arc::new(resolved);
        let mut verdicts = Vec::with_capacity(resolved.platforms.len());
        let evaluations = resolved.platforms.iter().map(|p| {
            let input = self.inputs.build(request, container, &resolved, p);
            let policies = policies.clone();
            let semaphore = self.evaluations.clone();
            let found = predicate_types(&p.attestations);
            let platform = p.platform.to_string();
            async move {
                let permit = semaphore.acquire_owned().await;
                let outcome = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    policies.evaluate(input)
                })
                .await;
                (platform, found, outcome)
            }
        });
        for (platform, found, outcome) in futures::future::join_all(evaluations).await {
            let mut v = Verdict {
                container: container.cloned(),
                image: shown.clone(),
                platform: Some(platform),
                deny: Vec::new(),
                warn: Vec::new(),
                error: None,
                found,
            };
            match outcome {
                Ok(Ok(o)) => {
                    v.deny = o.deny;
                    v.warn = o.warn;
                }
                Ok(Err(e)) => v.error = Some(e.to_string()),
                Err(join) => v.error = Some(format!("policy evaluation failed: {join}")),
            }
            verdicts.push(v);
        }
        verdicts
    }
}
