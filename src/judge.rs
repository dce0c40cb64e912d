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

/// Roughly the memory a resolution holds: its statements and image views.
fn resolution_memory(r: &ResolvedImage) -> usize {
    let mut seen = std::collections::HashSet::new();
    r.platforms
        .iter()
        .map(|p| {
            crate::memory::json(&p.image)
                + p.attestations
                    .iter()
                    .filter(|a| seen.insert(&a.digest))
                    .map(|a| a.blob.statement.memory + 512)
                    .sum::<usize>()
        })
        .sum::<usize>()
        + 1024
}

enum Work {
    Remembered(Arc<crate::policy::Outcome>),
    Evaluate(regorus::Value),
}

pub struct Judge {
    pub resolver: Resolver,
    /// Recent resolutions by (reference, node platforms): what a tag points
    /// to is kept for the tag TTL anyway, and this saves walking the caches.
    resolutions: Option<moka::future::Cache<String, Arc<ResolvedImage>>>,
    /// Statements found but not about the image (shared with the metrics).
    pub excluded_statements: prometheus_client::metrics::counter::Counter,
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
            resolutions: None,
            excluded_statements: Default::default(),
            inputs,
            evaluations: Arc::new(Semaphore::new(max_concurrent_evaluations.max(1))),
            platform_mismatch: PlatformMismatch::Deny,
        }
    }

    /// Keeps resolutions for `ttl` (the tag TTL), within `max_bytes` of
    /// memory (their parsed statements); the webhook does, the CLI does not.
    pub fn cache_resolutions(&mut self, ttl: std::time::Duration, max_bytes: u64) {
        self.resolutions = Some(
            moka::future::Cache::builder()
                .weigher(|_k, r: &Arc<ResolvedImage>| {
                    u32::try_from(resolution_memory(r)).unwrap_or(u32::MAX)
                })
                .max_capacity(max_bytes)
                .time_to_live(ttl)
                .build(),
        );
    }

    /// Estimated bytes held by the resolution cache.
    pub fn resolutions_bytes(&self) -> u64 {
        self.resolutions
            .as_ref()
            .map(|c| c.weighted_size())
            .unwrap_or(0)
    }

    /// Resolves one image for `nodes` (all offered platforms when empty).
    pub async fn resolve(
        &self,
        image: &ImageRef,
        nodes: &[Platform],
        keyring: &Keyring,
    ) -> Result<Arc<ResolvedImage>, crate::attestation::ResolveError> {
        let selection = if nodes.is_empty() {
            PlatformSelection::All
        } else {
            PlatformSelection::Nodes(nodes.to_vec())
        };
        let fresh = async {
            let resolved = self.resolver.resolve(image, keyring, &selection).await?;
            // Reported once per resolution, not once per admission.
            for x in &resolved.excluded {
                self.excluded_statements.inc();
                tracing::warn!(
                    image = %image,
                    statement = %x.digest,
                    predicate_type = %x.predicate_type,
                    source = %x.source,
                    subjects = %x.subjects,
                    "statement excluded: its subject is not this image"
                );
            }
            Ok::<_, crate::attestation::ResolveError>(Arc::new(resolved))
        };
        let Some(cache) = &self.resolutions else {
            return fresh.await;
        };
        let key = format!("{image} {}", platform::list(nodes));
        cache
            .try_get_with(key, fresh)
            .await
            .map_err(|e| (*e).clone())
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
        match ImageRef::parse(image_as_written) {
            Ok(image) => {
                self.judge_ref(policies, request, container, shown, &image, nodes, keyring)
                    .await
            }
            Err(e) => vec![Verdict::failed(
                container.cloned(),
                shown,
                None,
                e.to_string(),
            )],
        }
    }

    /// Verdicts for an already parsed reference (`shown` is how messages name it).
    #[allow(clippy::too_many_arguments)]
    pub async fn judge_ref(
        &self,
        policies: &Arc<PolicySet>,
        request: &RequestInfo,
        container: Option<&ContainerInfo>,
        shown: String,
        image: &ImageRef,
        nodes: &[Platform],
        keyring: &Keyring,
    ) -> Vec<Verdict> {
        let resolved = match self.resolve(image, nodes, keyring).await {
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
        let mut verdicts = Vec::with_capacity(resolved.platforms.len());
        let evaluations = resolved.platforms.iter().map(|p| {
            let key = self
                .inputs
                .decision_key(policies.input_use(), request, container, p);
            // Build the input only when it will be evaluated.
            let work = match policies.cached(&key) {
                Some(outcome) => Work::Remembered(outcome),
                None => Work::Evaluate(self.inputs.build(request, container, p)),
            };
            let policies = policies.clone();
            let semaphore = self.evaluations.clone();
            let found = predicate_types(&p.attestations);
            let platform = p.platform.to_string();
            async move {
                let fresh = matches!(work, Work::Evaluate(_));
                let outcome = match work {
                    Work::Remembered(o) => Ok(Ok(o)),
                    Work::Evaluate(input) => {
                        let permit = semaphore.acquire_owned().await;
                        tokio::task::spawn_blocking(move || {
                            let _permit = permit;
                            policies.evaluate_and_remember(key, input)
                        })
                        .await
                    }
                };
                (platform, found, outcome, fresh)
            }
        });
        for (platform, found, outcome, fresh) in futures::future::join_all(evaluations).await {
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
                    v.deny = o.deny.clone();
                    v.warn = o.warn.clone();
                    // A failing package does not hide the others' denials.
                    if !o.errors.is_empty() {
                        v.error = Some(o.errors.join("; "));
                    }
                    if fresh && !o.prints.is_empty() {
                        tracing::debug!(image = %v.image, prints = ?o.prints, "policy print() output");
                    }
                }
                Ok(Err(e)) => v.error = Some(e.to_string()),
                Err(join) => v.error = Some(format!("policy evaluation failed: {join}")),
            }
            verdicts.push(v);
        }
        verdicts
    }
}
