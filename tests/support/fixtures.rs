//! OCI content built in code for cases the corpus lacks: small multi-platform
//! images, BuildKit attestation manifests in both forms, referrers-only
//! attestations, cosign `.att` manifests with DSSE layers, foreign subjects.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Pusher, sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
pub const ATTESTATION_ARTIFACT: &str = "application/vnd.docker.attestation.manifest.v1+json";
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SPDX: &str = "https://spdx.dev/Document";
pub const VULNS: &str = "https://in-toto.io/attestation/vulns/v0.1";

pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub fn desc(media_type: &str, b: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(b), "size": b.len()})
}

/// An in-toto statement about `subjects` (digests `sha256:<hex>`).
pub fn statement(
    statement_type: &str,
    predicate_type: &str,
    subjects: &[&str],
    predicate: Value,
) -> Value {
    json!({
        "_type": statement_type,
        "predicateType": predicate_type,
        "subject": subjects.iter().map(|d| json!({"name": "pkg:docker/test", "digest": {"sha256": d.trim_start_matches("sha256:")}})).collect::<Vec<_>>(),
        "predicate": predicate,
    })
}

pub fn v01(predicate_type: &str, subjects: &[&str], predicate: Value) -> Value {
    statement(
        "https://in-toto.io/Statement/v0.1",
        predicate_type,
        subjects,
        predicate,
    )
}

pub fn v1(predicate_type: &str, subjects: &[&str], predicate: Value) -> Value {
    statement(
        "https://in-toto.io/Statement/v1",
        predicate_type,
        subjects,
        predicate,
    )
}

pub fn slsa_v02_predicate(builder: &str, source: &str) -> Value {
    json!({
        "builder": {"id": builder},
        "buildType": "https://mobyproject.org/buildkit@v1",
        "materials": [{"uri": "pkg:docker/alpine@3.20", "digest": {"sha256": "c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b"}}],
        "invocation": {"configSource": {"uri": source, "entryPoint": "Dockerfile"}, "parameters": {"frontend": "dockerfile.v0"}},
        "metadata": {"buildInvocationID": "inv-1", "buildStartedOn": "2025-06-01T10:00:00.5Z", "buildFinishedOn": "2025-06-01T10:01:00Z",
                     "completeness": {"parameters": true, "environment": true, "materials": false}, "reproducible": false}
    })
}

pub fn slsa_v1_predicate(builder: &str, source: &str) -> Value {
    json!({
        "buildDefinition": {
            "buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
            "externalParameters": {"configSource": {"uri": source, "path": "Dockerfile"}, "request": {"frontend": "dockerfile.v0", "args": {"build-arg:VERSION": "1.2.3"}}},
            "resolvedDependencies": [{"uri": "pkg:docker/alpine@3.20?platform=linux%2Famd64", "digest": {"sha256": "c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b"}}]
        },
        "runDetails": {
            "builder": {"id": builder},
            "metadata": {"invocationID": "inv-v1", "startedOn": "2025-07-01T10:00:00Z", "finishedOn": "2025-07-01T10:02:00Z",
                         "buildkit_completeness": {"request": true, "resolvedDependencies": false}, "buildkit_reproducible": true}
        }
    })
}

/// A DSSE envelope around `statement` with one (fake) signature.
pub fn dsse(statement: &Value) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    bytes(&json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": b64.encode(bytes(statement)),
        "signatures": [{"keyid": "test-key", "sig": b64.encode(b"not a real signature")}]
    }))
}

/// One platform image pushed: its manifest digest and bytes.
pub struct PushedImage {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub platform: (String, String, Option<String>),
}

/// Pushes a tiny image for `os/arch[/variant]` (config + one layer).
pub async fn push_image(
    p: &Pusher,
    os: &str,
    arch: &str,
    variant: Option<&str>,
    label: &str,
) -> PushedImage {
    let layer = format!("layer of {os}/{arch} {label}").into_bytes();
    p.blob(&layer).await;
    let mut config = json!({
        "architecture": arch, "os": os, "created": "2025-06-01T10:01:00.123Z",
        "config": {"Env": ["PATH=/usr/bin", format!("LABEL={label}")], "User": "1000:1000",
                   "Labels": {"org.opencontainers.image.source": "https://github.com/example/app"},
                   "WorkingDir": "/app", "Volumes": {"/data": {}}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]}
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let config = bytes(&config);
    p.blob(&config).await;
    let manifest = bytes(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", &layer)]
    }));
    let digest = p
        .manifest(&sha256(&manifest), OCI_MANIFEST, &manifest)
        .await;
    PushedImage {
        digest,
        manifest,
        platform: (os.into(), arch.into(), variant.map(str::to_owned)),
    }
}

/// How an attestation manifest is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AttestationForm {
    /// BuildKit before v0.32: an image manifest with an image config.
    Legacy,
    /// BuildKit v0.32+: artifactType, empty config, `subject`.
    Artifact,
}

/// Pushes an attestation manifest whose layers are `statements` (in-toto
/// layers with the predicate-type annotation), for the manifest `subject`.
pub async fn push_attestation_manifest(
    p: &Pusher,
    subject: &PushedImage,
    statements: &[Value],
    form: AttestationForm,
) -> (String, Vec<u8>) {
    let mut layers = Vec::new();
    for s in statements {
        let b = bytes(s);
        p.blob(&b).await;
        let mut d = desc(IN_TOTO, &b);
        d["annotations"] = json!({"in-toto.io/predicate-type": s["predicateType"]});
        layers.push(d);
    }
    let manifest = match form {
        AttestationForm::Legacy => {
            let config = bytes(
                &json!({"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}),
            );
            p.blob(&config).await;
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc("application/vnd.oci.image.config.v1+json", &config), "layers": layers})
        }
        AttestationForm::Artifact => {
            p.blob(b"{}").await;
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ATTESTATION_ARTIFACT,
                   "config": desc(EMPTY, b"{}"), "layers": layers,
                   "subject": desc(OCI_MANIFEST, &subject.manifest)})
        }
    };
    let b = bytes(&manifest);
    let d = p.manifest(&sha256(&b), OCI_MANIFEST, &b).await;
    (d, b)
}

/// An index entry for a platform image.
pub fn platform_entry(img: &PushedImage) -> Value {
    let mut d = desc(OCI_MANIFEST, &img.manifest);
    let (os, arch, variant) = &img.platform;
    d["platform"] = json!({"os": os, "architecture": arch});
    if let Some(v) = variant {
        d["platform"]["variant"] = json!(v);
    }
    d
}

/// An index entry for an in-index attestation manifest of `subject`.
pub fn attestation_entry(manifest: &[u8], subject: &PushedImage, artifact: bool) -> Value {
    let mut d = desc(OCI_MANIFEST, manifest);
    d["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    d["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": subject.digest});
    if artifact {
        d["artifactType"] = json!(ATTESTATION_ARTIFACT);
    }
    d
}

/// Pushes an index of `entries` under `tag`; returns its digest and bytes.
pub async fn push_index(p: &Pusher, tag: &str, entries: Vec<Value>) -> (String, Vec<u8>) {
    let b = bytes(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}));
    let d = p.manifest(tag, OCI_INDEX, &b).await;
    (d, b)
}

/// Writes the referrers fallback tag `sha256-<hex>` of `subject` listing
/// `referrers` (what a client does on a registry without the referrers API).
pub async fn push_fallback_tag(p: &Pusher, subject: &str, referrers: &[(Vec<u8>, Option<&str>)]) {
    let entries: Vec<Value> = referrers
        .iter()
        .map(|(m, at)| {
            let mut d = desc(OCI_MANIFEST, m);
            if let Some(at) = at {
                d["artifactType"] = json!(at);
            }
            d
        })
        .collect();
    let b = bytes(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}));
    p.manifest(
        &format!("sha256-{}", subject.trim_start_matches("sha256:")),
        OCI_INDEX,
        &b,
    )
    .await;
}

/// Pushes a cosign attestation manifest at `sha256-<hex>.att` of `subject`:
/// DSSE layers, optionally without the `predicateType` annotation (old cosign).
pub async fn push_cosign_att(
    p: &Pusher,
    subject: &str,
    statements: &[Value],
    annotate: bool,
) -> String {
    let config = bytes(
        &json!({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}),
    );
    p.blob(&config).await;
    let mut layers = Vec::new();
    for s in statements {
        let env = dsse(s);
        p.blob(&env).await;
        let mut d = desc(DSSE, &env);
        if annotate {
            d["annotations"] = json!({"predicateType": s["predicateType"]});
        } else {
            d["annotations"] = json!({"dev.cosignproject.cosign/signature": ""});
        }
        layers.push(d);
    }
    let b = bytes(
        &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc("application/vnd.oci.image.config.v1+json", &config), "layers": layers}),
    );
    p.manifest(
        &format!("sha256-{}.att", subject.trim_start_matches("sha256:")),
        OCI_MANIFEST,
        &b,
    )
    .await
}

/// SLSA v0.2 provenance and an SPDX SBOM about `subject`: a compliant image.
pub fn provenance_and_sbom(subject: &str) -> Vec<Value> {
    vec![
        v01(
            SLSA_V02,
            &[subject],
            slsa_v02_predicate(
                "https://github.com/example/builder",
                "https://github.com/example/app.git",
            ),
        ),
        v01(
            SPDX,
            &[subject],
            json!({"spdxVersion": "SPDX-2.3", "packages": []}),
        ),
    ]
}
