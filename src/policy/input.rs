//! The policy input document (v1), one per (container, platform):
//! `request`, `object`, `container`, `image`, `attestations`. Statements are
//! converted to policy values once per blob digest and shared after that.

use std::sync::atomic::{AtomicU64, Ordering};

use regorus::Value;
use serde::{Deserialize, Serialize};

use super::analysis::InputUse;
use crate::attestation::{Attestation, PlatformImage};
use crate::registry::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerKind {
    Container,
    InitContainer,
    EphemeralContainer,
}

/// `input.container`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ContainerKind,
    /// The image as written in the spec.
    pub image: String,
}

/// What the admission request contributes. Converted to policy values and
/// hashed only when needed (a remembered decision needs neither), and then
/// once per request, however many containers and platforms it has.
#[derive(Debug, Default)]
pub struct RequestInfo {
    request: Option<serde_json::Value>,
    object: Option<serde_json::Value>,
    converted: std::sync::OnceLock<(Option<Value>, Option<Value>)>,
    hashes: std::sync::OnceLock<([u8; 32], [u8; 32])>,
}

fn hash_json(v: Option<&serde_json::Value>) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    v.map(|v| Sha256::digest(v.to_string().as_bytes()).into())
        .unwrap_or_default()
}

impl RequestInfo {
    pub fn new(request: &serde_json::Value, object: Option<&serde_json::Value>) -> RequestInfo {
        RequestInfo {
            request: Some(request.clone()),
            object: object.cloned(),
            ..RequestInfo::default()
        }
    }

    fn values(&self) -> &(Option<Value>, Option<Value>) {
        self.converted.get_or_init(|| {
            (
                self.request.as_ref().map(to_value),
                self.object.as_ref().map(to_value),
            )
        })
    }

    fn hashes(&self) -> &([u8; 32], [u8; 32]) {
        self.hashes.get_or_init(|| {
            (
                hash_json(self.request.as_ref()),
                hash_json(self.object.as_ref()),
            )
        })
    }
}

/// serde_json → regorus, without consuming the source.
pub fn to_value(v: &serde_json::Value) -> Value {
    serde::Deserialize::deserialize(v).unwrap_or(Value::Null)
}

/// Builds input documents, caching converted statements by blob digest.
pub struct InputBuilder {
    statements: moka::sync::Cache<Digest, Value>,
    conversions: AtomicU64,
}

impl std::fmt::Debug for InputBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputBuilder").finish_non_exhaustive()
    }
}

impl InputBuilder {
    /// `max_bytes` bounds the cache by the statements' JSON size.
    pub fn new(max_bytes: u64) -> InputBuilder {
        InputBuilder {
            statements: moka::sync::Cache::builder()
                .weigher(|_k, v: &Value| u32::try_from(crate::memory::rego(v)).unwrap_or(u32::MAX))
                .max_capacity(max_bytes)
                .build(),
            conversions: AtomicU64::new(0),
        }
    }

    /// Estimated bytes held by the converted statements.
    pub fn cached_bytes(&self) -> u64 {
        self.statements.run_pending_tasks();
        self.statements.weighted_size()
    }

    /// How many statements have been converted (each digest once while cached).
    pub fn conversions(&self) -> u64 {
        self.conversions.load(Ordering::Relaxed)
    }

    fn statement(&self, a: &Attestation) -> Value {
        self.statements.get_with(a.digest.clone(), || {
            self.conversions.fetch_add(1, Ordering::Relaxed);
            to_value(&a.blob.statement.json)
        })
    }

    fn attestation(&self, a: &Attestation) -> Value {
        let mut obj = Value::new_object();
        if let Ok(map) = obj.as_object_mut() {
            let mut put = |k: &str, v: Value| {
                map.insert(Value::from(k), v);
            };
            put("predicateType", Value::from(a.predicate_type()));
            put("statement", self.statement(a));
            put("digest", Value::from(a.digest.as_str()));
            put("mediaType", Value::from(a.media_type.as_str()));
            put("manifest", Value::from(a.manifest.as_str()));
            put("source", Value::from(a.source.to_string()));
            put(
                "subject",
                Value::from(match a.subject {
                    crate::attestation::SubjectBinding::Platform => "platform",
                    crate::attestation::SubjectBinding::Index => "index",
                }),
            );
            if let Some(e) = &a.blob.envelope {
                put(
                    "envelope",
                    to_value(&serde_json::to_value(e).unwrap_or_default()),
                );
            }
            put("verified", Value::from(false));
        }
        obj
    }

    /// A key that identifies the input as far as a policy set reads it: two
    /// inputs with the same key get the same answer from a deterministic set.
    /// Statements are identified by their blob digest (their content).
    pub fn decision_key(
        &self,
        uses: &InputUse,
        request: &RequestInfo,
        container: Option<&ContainerInfo>,
        platform: &PlatformImage,
    ) -> [u8; 32] {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        let mut part = |name: &str, bytes: &[u8]| {
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        if uses.reads("request") {
            part("request", &request.hashes().0);
        }
        if uses.reads("object") {
            part("object", &request.hashes().1);
        }
        if uses.reads("container")
            && let Some(c) = container
        {
            part(
                "container",
                format!("{}|{:?}|{}", c.name, c.kind, c.image).as_bytes(),
            );
        }
        if uses.reads("image") {
            part("image", &platform.image_key);
        }
        if uses.reads("attestations") {
            part("attestations", &platform.attestations_key);
        }
        h.finalize().into()
    }

    /// The input for one (container, platform). `container` is absent when a
    /// bare image is evaluated.
    pub fn build(
        &self,
        request: &RequestInfo,
        container: Option<&ContainerInfo>,
        platform: &PlatformImage,
    ) -> Value {
        let mut input = Value::new_object();
        if let Ok(map) = input.as_object_mut() {
            let (r, o) = request.values();
            if let Some(r) = r {
                map.insert(Value::from("request"), r.clone());
            }
            if let Some(o) = o {
                map.insert(Value::from("object"), o.clone());
            }
            if let Some(c) = container {
                map.insert(
                    Value::from("container"),
                    to_value(&serde_json::to_value(c).unwrap_or_default()),
                );
            }
            map.insert(Value::from("image"), to_value(&platform.image));
            let attestations: Vec<Value> = platform
                .attestations
                .iter()
                .map(|a| self.attestation(a))
                .collect();
            map.insert(Value::from("attestations"), Value::from(attestations));
        }
        input
    }
}
