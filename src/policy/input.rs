//! The policy input document (v1), one per (container, platform):
//! `request`, `object`, `container`, `image`, `attestations`. Statements are
//! converted to policy values once per blob digest and shared after that.

use std::sync::atomic::{AtomicU64, Ordering};

use regorus::Value;
use serde::{Deserialize, Serialize};

use crate::attestation::image::image_input;
use crate::attestation::{Attestation, PlatformImage, ResolvedImage};
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

/// What the admission request contributes, converted once per request.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// `input.request`
    pub request: Option<Value>,
    /// `input.object`
    pub object: Option<Value>,
}

impl RequestInfo {
    pub fn new(request: &serde_json::Value, object: Option<&serde_json::Value>) -> RequestInfo {
        RequestInfo {
            request: Some(to_value(request)),
            object: object.map(to_value),
        }
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
                .weigher(|_k, v: &Value| u32::try_from(approx_size(v)).unwrap_or(u32::MAX))
                .max_capacity(max_bytes)
                .build(),
            conversions: AtomicU64::new(0),
        }
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

    /// The input for one (container, platform). `container` is absent when a
    /// bare image is evaluated.
    pub fn build(
        &self,
        request: &RequestInfo,
        container: Option<&ContainerInfo>,
        resolved: &ResolvedImage,
        platform: &PlatformImage,
    ) -> Value {
        let mut input = Value::new_object();
        if let Ok(map) = input.as_object_mut() {
            if let Some(r) = &request.request {
                map.insert(Value::from("request"), r.clone());
            }
            if let Some(o) = &request.object {
                map.insert(Value::from("object"), o.clone());
            }
            if let Some(c) = container {
                map.insert(
                    Value::from("container"),
                    to_value(&serde_json::to_value(c).unwrap_or_default()),
                );
            }
            map.insert(
                Value::from("image"),
                to_value(&image_input(resolved, platform)),
            );
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

/// A rough byte size of a value, for cache weights.
fn approx_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 16,
        Value::Array(a) => 16 + a.iter().map(approx_size).sum::<usize>(),
        Value::Set(s) => 16 + s.iter().map(approx_size).sum::<usize>(),
        Value::Object(o) => {
            16 + o
                .iter()
                .map(|(k, v)| approx_size(k) + approx_size(v))
                .sum::<usize>()
        }
        _ => 16,
    }
}
