//! One admission, start to end: decode, decide what to judge (kinds,
//! operations, exclusions, changed images), find the pod's platforms and
//! credentials, judge every container within the admission's time budget,
//! and answer with a decision a person can act on.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use globset::{Glob, GlobSet, GlobSetBuilder};

use super::cluster::Cluster;
use super::policies::LivePolicies;
use super::review::{self, Request, Response, Status};
use crate::config::Config;
use crate::judge::Judge;
use crate::metrics::{self, AdmissionLabels, KindLabels, Metrics};
use crate::platform::{self, Platform};
use crate::policy::decision::{Decision, Verdict, decide};
use crate::policy::{ContainerInfo, Mode, OnError, RequestInfo};
use crate::registry::{ImageRef, Keyring};

pub struct Webhook {
    pub config: Config,
    pub judge: Judge,
    pub policies: Arc<LivePolicies>,
    pub cluster: Option<Cluster>,
    pub operator_keyring: Keyring,
    pub metrics: Arc<Metrics>,
    excluded_images: GlobSet,
    excluded_namespaces: HashSet<String>,
    pub shutting_down: AtomicBool,
}

/// What the HTTP layer sends back: a status code and a JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Webhook {
    pub fn new(
        config: Config,
        judge: Judge,
        policies: Arc<LivePolicies>,
        cluster: Option<Cluster>,
        operator_keyring: Keyring,
        metrics: Arc<Metrics>,
    ) -> Result<Webhook, globset::Error> {
        let mut globs = GlobSetBuilder::new();
        for g in &config.exclude.images {
            globs.add(Glob::new(g)?);
        }
        Ok(Webhook {
            excluded_images: globs.build()?,
            excluded_namespaces: config.exclude.namespaces.iter().cloned().collect(),
            config,
            judge,
            policies,
            cluster,
            operator_keyring,
            metrics,
            shutting_down: AtomicBool::new(false),
        })
    }

    pub fn ready(&self) -> bool {
        self.policies.current().is_some() && !self.shutting_down.load(Ordering::Relaxed)
    }

    fn count(&self, result: &str, mode: Mode) {
        self.metrics
            .admissions
            .get_or_create(&AdmissionLabels {
                result: result.into(),
                mode: mode.to_string(),
            })
            .inc();
    }

    /// Handles one AdmissionReview body. Anything decodable gets HTTP 200 and
    /// a response with its uid; anything else 400 with the reason.
    pub async fn review(&self, body: &[u8], forced_mode: Option<Mode>) -> Answer {
        let started = Instant::now();
        let mode = forced_mode.unwrap_or(self.config.mode);
        let request = match review::parse(body) {
            Ok(r) => r,
            Err(e) => {
                self.count("invalid", mode);
                tracing::warn!(error = %e, "undecodable admission review");
                return Answer {
                    status: 400,
                    body: serde_json::json!({"error": e.to_string()})
                        .to_string()
                        .into_bytes(),
                };
            }
        };
        let response = self.admit(&request, mode).await;
        let elapsed = started.elapsed();
        self.metrics
            .admission_seconds
            .observe(elapsed.as_secs_f64());
        Answer {
            status: 200,
            body: response.to_review_bytes(),
        }
    }

    fn allow(&self, request: &Request, mode: Mode, result: &str, note: &str) -> Response {
        self.count(result, mode);
        tracing::debug!(uid = %request.uid, kind = %request.kind.kind, result, note, "admitted without judgement");
        let mut audit = BTreeMap::new();
        audit.insert("decision".to_owned(), format!("allowed ({note})"));
        Response {
            uid: request.uid.clone(),
            allowed: true,
            audit_annotations: audit,
            ..Response::default()
        }
    }

    async fn admit(&self, request: &Request, mode: Mode) -> Response {
        if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
            return self.allow(request, mode, "skipped", "operation not judged");
        }
        let namespace = request.namespace.clone().unwrap_or_default();
        if self.excluded_namespaces.contains(&namespace) {
            return self.allow(request, mode, "excluded", "namespace excluded");
        }
        let Some(object) = request.object.as_ref() else {
            return self.allow(request, mode, "skipped", "no object");
        };
        let started = Instant::now();
        let spec = match review::pod_spec(&request.kind, object) {
            Ok(Some(spec)) => spec,
            Ok(None) => return self.allow(request, mode, "skipped", "kind not judged"),
            Err(e) => {
                let verdict = Verdict::failed(None, "(pod spec)".into(), None, e.to_string());
                return self.respond(request, mode, vec![verdict], started);
            }
        };
        let mut containers = review::containers(&spec);
        if request.operation == "UPDATE" && self.config.changed_images_only {
            let old = request
                .old_object
                .as_ref()
                .and_then(|o| review::pod_spec(&request.kind, o).ok().flatten())
                .map(|s| review::containers(&s))
                .unwrap_or_default();
            containers = review::changed(&containers, &old);
        }
        containers.retain(|c| !self.image_excluded(&c.image));
        if containers.is_empty() {
            return self.allow(request, mode, "skipped", "no new or judged image");
        }

        let nodes = self.cluster.as_ref().map(|c| c.nodes()).unwrap_or_default();
        let candidates =
            platform::candidate_platforms(&spec, &nodes, &self.config.default_platforms);
        let mut keyring = match (&self.cluster, self.config.pull_secrets) {
            (Some(cluster), true) => cluster.pull_credentials(&namespace, &spec).await,
            _ => Keyring::default(),
        };
        keyring.extend(&self.operator_keyring);

        let all_failed = |reason: &str| -> Vec<Verdict> {
            containers
                .iter()
                .map(|c| Verdict::failed(Some(c.clone()), c.image.clone(), None, reason.to_owned()))
                .collect()
        };
        let Some(policies) = self.policies.current() else {
            return self.respond(
                request,
                mode,
                all_failed("no policy set is loaded"),
                started,
            );
        };
        let info = RequestInfo::new(&request.info(), Some(object));
        let budget = self.config.budget.0;
        let judged = join_all(
            containers
                .iter()
                .map(|c| self.judge_container(&policies, &info, c, &candidates, &keyring)),
        );
        let verdicts = match tokio::time::timeout(budget, judged).await {
            Ok(v) => v.into_iter().flatten().collect(),
            Err(_) => all_failed(&format!(
                "not judged within the {} ms admission budget (registry too slow?)",
                budget.as_millis()
            )),
        };
        self.respond(request, mode, verdicts, started)
    }

    fn image_excluded(&self, image: &str) -> bool {
        if self.excluded_images.is_empty() {
            return false;
        }
        self.excluded_images.is_match(image)
            || ImageRef::parse(image).is_ok_and(|r| self.excluded_images.is_match(r.normalized()))
    }

    async fn judge_container(
        &self,
        policies: &Arc<crate::policy::PolicySet>,
        info: &RequestInfo,
        container: &ContainerInfo,
        candidates: &[Platform],
        keyring: &Keyring,
    ) -> Vec<Verdict> {
        let refused = |reason: String| {
            vec![Verdict::failed(
                Some(container.clone()),
                container.image.clone(),
                None,
                reason,
            )]
        };
        let allow_list = &self.config.registries.allow_list;
        if !allow_list.is_empty() {
            match ImageRef::parse(&container.image) {
                Ok(r) if !allow_list.contains(&r.registry) => {
                    return vec![Verdict {
                        container: Some(container.clone()),
                        image: container.image.clone(),
                        platform: None,
                        deny: vec![crate::policy::Finding {
                            policy: "attestgate.registries".into(),
                            message: format!(
                                "registry {} is not allowed (allowed: {})",
                                r.registry,
                                allow_list.join(", ")
                            ),
                        }],
                        warn: Vec::new(),
                        error: None,
                        found: Vec::new(),
                    }];
                }
                Err(e) => return refused(e.to_string()),
                Ok(_) => {}
            }
        }
        let verdicts = self
            .judge
            .judge_image(
                policies,
                info,
                Some(container),
                &container.image,
                candidates,
                keyring,
            )
            .await;
        for v in &verdicts {
            if v.error.is_some() {
                self.metrics
                    .errors
                    .get_or_create(&KindLabels {
                        kind: "judge".into(),
                    })
                    .inc();
            }
        }
        verdicts
    }

    fn respond(
        &self,
        request: &Request,
        mode: Mode,
        verdicts: Vec<Verdict>,
        started: Instant,
    ) -> Response {
        let on_error: OnError = self.config.on_error;
        for v in &verdicts {
            let r = if v.error.is_some() {
                "error"
            } else if v.deny.is_empty() {
                "allow"
            } else {
                "deny"
            };
            metrics::inc(&self.metrics.verdicts, r);
        }
        let decision: Decision = decide(verdicts, mode, on_error);
        let result = if !decision.allowed {
            "denied"
        } else if decision.violation {
            "warned"
        } else {
            "allowed"
        };
        self.count(result, mode);
        let violations: Vec<String> = decision
            .verdicts
            .iter()
            .filter(|v| v.denies(on_error))
            .map(|v| format!("{}: {}", v.subject(), v.reasons(on_error).join("; ")))
            .collect();
        // Allows are the bulk of the traffic (their warnings went back to the
        // user): debug. Denials, would-be denials and errors: info.
        let notable = result != "allowed" || decision.verdicts.iter().any(|v| v.error.is_some());
        macro_rules! log_admission {
            ($level:ident) => {
                tracing::$level!(
            uid = %request.uid,
            kind = %request.kind.kind,
            namespace = request.namespace.as_deref().unwrap_or(""),
            name = %request.object_name(),
            operation = %request.operation,
            dry_run = request.dry_run.unwrap_or(false),
            mode = %mode,
            result,
            judged = decision.verdicts.len(),
            violations = ?violations,
            duration_ms = started.elapsed().as_millis() as u64,
            "admission"
                )
            };
        }
        if notable {
            log_admission!(info);
        } else {
            log_admission!(debug);
        }
        let mut audit = BTreeMap::new();
        audit.insert("decision".to_owned(), result.to_owned());
        if !violations.is_empty() {
            let joined = violations.join(" | ");
            audit.insert("violations".to_owned(), joined.chars().take(1000).collect());
        }
        let kind = match request.kind.group.as_str() {
            "" => request.kind.kind.clone(),
            g => format!("{}.{g}", request.kind.kind),
        };
        Response {
            uid: request.uid.clone(),
            allowed: decision.allowed,
            status: decision.message.map(|m| Status {
                code: 403,
                message: format!("attestgate denied {kind} {}:\n{m}", request.object_name()),
                reason: Some("Forbidden".into()),
            }),
            warnings: decision.warnings,
            audit_annotations: audit,
        }
    }
}

/// A bounded wait used at startup.
pub const NODE_WAIT: Duration = Duration::from_secs(5);
