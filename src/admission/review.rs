//! AdmissionReview (`admission.k8s.io/v1`) in and out, and the pod spec
//! inside every workload kind we admit. The request object is kept verbatim
//! (it becomes `input.object`); the pod spec is read with k8s-openapi types.

use k8s_openapi::api::core::v1::PodSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::policy::{ContainerInfo, ContainerKind};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    #[error("not a JSON AdmissionReview: {0}")]
    Json(String),
    #[error("unsupported AdmissionReview {0} (expected admission.k8s.io/v1 AdmissionReview)")]
    Version(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("{kind} {name}: {detail}")]
    Object {
        kind: String,
        name: String,
        detail: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupVersionResource {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub resource: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub resource: GroupVersionResource,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: String,
    #[serde(default)]
    pub user_info: UserInfo,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub old_object: Option<Value>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    /// Decoded after the version is known to be v1.
    request: Option<Value>,
}

/// Decodes an AdmissionReview body.
pub fn parse(body: &[u8]) -> Result<Request, ReviewError> {
    let review: ReviewIn =
        serde_json::from_slice(body).map_err(|e| ReviewError::Json(e.to_string()))?;
    if review.api_version != "admission.k8s.io/v1" || review.kind != "AdmissionReview" {
        return Err(ReviewError::Version(format!(
            "{}/{}",
            review.api_version, review.kind
        )));
    }
    let request = review
        .request
        .filter(|r| !r.is_null())
        .ok_or(ReviewError::NoRequest)?;
    let request =
        Request::deserialize(request).map_err(|e| ReviewError::Json(format!("request: {e}")))?;
    if request.uid.is_empty() {
        return Err(ReviewError::Json("request.uid is empty".into()));
    }
    Ok(request)
}

impl Request {
    /// `input.request`: the request without its objects.
    pub fn info(&self) -> Value {
        json!({
            "uid": self.uid,
            "kind": self.kind,
            "resource": self.resource,
            "subResource": self.sub_resource,
            "namespace": self.namespace.clone().unwrap_or_default(),
            "name": self.name.clone().unwrap_or_default(),
            "operation": self.operation,
            "userInfo": self.user_info,
            "dryRun": self.dry_run.unwrap_or(false),
        })
    }

    pub fn object_name(&self) -> String {
        self.name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                self.object
                    .as_ref()
                    .and_then(|o| o.pointer("/metadata/generateName").and_then(Value::as_str))
                    .map(|g| format!("{g}*"))
            })
            .unwrap_or_else(|| "(unnamed)".into())
    }
}

/// Where the pod spec sits in an object of `kind`; `None` for kinds we do not admit.
pub fn pod_spec_pointer(kind: &GroupVersionKind) -> Option<&'static str> {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// The pod spec of a workload object.
pub fn pod_spec(kind: &GroupVersionKind, object: &Value) -> Result<Option<PodSpec>, ReviewError> {
    let Some(pointer) = pod_spec_pointer(kind) else {
        return Ok(None);
    };
    let err = |detail: String| ReviewError::Object {
        kind: kind.kind.clone(),
        name: object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_owned(),
        detail,
    };
    let spec = object
        .pointer(pointer)
        .ok_or_else(|| err(format!("no pod spec at {pointer}")))?;
    PodSpec::deserialize(spec)
        .map(Some)
        .map_err(|e| err(format!("malformed pod spec: {e}")))
}

/// Every container of a pod spec, init and ephemeral ones included.
pub fn containers(spec: &PodSpec) -> Vec<ContainerInfo> {
    let mut out = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        out.push(ContainerInfo {
            name: c.name.clone(),
            kind: ContainerKind::InitContainer,
            image: c.image.clone().unwrap_or_default(),
        });
    }
    for c in &spec.containers {
        out.push(ContainerInfo {
            name: c.name.clone(),
            kind: ContainerKind::Container,
            image: c.image.clone().unwrap_or_default(),
        });
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        out.push(ContainerInfo {
            name: c.name.clone(),
            kind: ContainerKind::EphemeralContainer,
            image: c.image.clone().unwrap_or_default(),
        });
    }
    out
}

/// The containers of `new` whose image is not already used by a container
/// of the same name in `old` (what an UPDATE actually changes).
pub fn changed(new: &[ContainerInfo], old: &[ContainerInfo]) -> Vec<ContainerInfo> {
    new.iter()
        .filter(|c| !old.iter().any(|o| o.name == c.name && o.image == c.image))
        .cloned()
        .collect()
}

/// The AdmissionReview answer.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub audit_annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: &'a Response,
}

impl Response {
    pub fn into_review(self) -> Value {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": self})
    }

    /// The AdmissionReview answer, serialised directly.
    pub fn to_review_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&ReviewOut {
            api_version: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: self,
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(kind: &str, group: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"group": group, "version": "v1", "kind": kind},
                        "resource": {"group": group, "version": "v1", "resource": "x"},
                        "operation": "CREATE", "userInfo": {"username": "alice"}, "object": object}
        }))
        .unwrap()
    }

    #[test]
    fn finds_pod_specs_in_every_workload() {
        let spec = json!({"containers": [{"name": "app", "image": "nginx"}], "initContainers": [{"name": "init", "image": "busybox"}]});
        for (kind, group, object) in [
            ("Pod", "", json!({"spec": spec})),
            (
                "Deployment",
                "apps",
                json!({"spec": {"template": {"spec": spec}}}),
            ),
            (
                "CronJob",
                "batch",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
            ),
            (
                "ReplicationController",
                "",
                json!({"spec": {"template": {"spec": spec}}}),
            ),
        ] {
            let req = parse(&review(kind, group, object)).unwrap();
            let spec = pod_spec(&req.kind, req.object.as_ref().unwrap())
                .unwrap()
                .unwrap();
            let c = containers(&spec);
            assert_eq!(
                c.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                ["init", "app"],
                "{kind}"
            );
            assert_eq!(c[0].kind, ContainerKind::InitContainer);
        }
        let req = parse(&review("ConfigMap", "", json!({}))).unwrap();
        assert!(
            pod_spec(&req.kind, req.object.as_ref().unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_reviews_are_clear_errors() {
        assert!(matches!(parse(b"{"), Err(ReviewError::Json(_))));
        assert!(matches!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#),
            Err(ReviewError::Version(_))
        ));
        assert!(matches!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            Err(ReviewError::NoRequest)
        ));
        let req = parse(&review("Pod", "", json!({"spec": {"containers": "nope"}}))).unwrap();
        let err = pod_spec(&req.kind, req.object.as_ref().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("malformed pod spec"), "{err}");
    }

    #[test]
    fn update_evaluates_only_changed_images() {
        let c = |n: &str, i: &str| ContainerInfo {
            name: n.into(),
            kind: ContainerKind::Container,
            image: i.into(),
        };
        let old = [c("a", "x:1"), c("b", "y:1")];
        let new = [c("a", "x:1"), c("b", "y:2"), c("c", "z:1")];
        assert_eq!(
            changed(&new, &old)
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
    }
}
