//! OCI / Docker manifest, index and image-config documents, parsed leniently
//! (unknown fields ignored, `null` lists accepted) but with typed digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::digest::Digest;
use crate::platform::Platform;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const BUILDKIT_ATTESTATION_ARTIFACT: &str =
    "application/vnd.docker.attestation.manifest.v1+json";
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Every manifest media type we ask registries for.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A platform as written in a descriptor (`architecture`, `os`, `variant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl DescriptorPlatform {
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: i64,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<DescriptorPlatform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The BuildKit attestation-manifest annotations: `Some(subject digest)`
    /// when this index entry is an attestation manifest for that digest. Both
    /// the `vnd.docker.*` and `com.docker.*` spellings are accepted.
    pub fn buildkit_attestation_for(&self) -> Option<&str> {
        let get = |suffix: &str| {
            self.annotation(&format!("vnd.docker.reference.{suffix}"))
                .or_else(|| self.annotation(&format!("com.docker.reference.{suffix}")))
        };
        match get("type") {
            Some("attestation-manifest") => get("digest"),
            _ => None,
        }
    }

    /// Whether the entry carries any BuildKit reference annotation at all
    /// (attestation or another reference type): such entries are never images.
    pub fn is_buildkit_reference(&self) -> bool {
        self.annotations.contains_key("vnd.docker.reference.type")
            || self.annotations.contains_key("com.docker.reference.type")
    }

    /// Claimed size, or 0 when the descriptor has a nonsensical one.
    pub fn claimed_size(&self) -> u64 {
        u64::try_from(self.size).unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default, deserialize_with = "null_as_default")]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    /// The artifact type as the referrers API defines it: `artifactType`, or
    /// else the config media type.
    pub fn effective_artifact_type(&self) -> &str {
        self.artifact_type
            .as_deref()
            .unwrap_or(self.config.media_type.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Manifest {
    Index(ImageIndex),
    Image(ImageManifest),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    #[error("neither an image index nor an image manifest")]
    UnknownShape,
    #[error("malformed {kind}: {reason}")]
    Malformed { kind: &'static str, reason: String },
}

impl Manifest {
    /// Parses a manifest body. The body's own `mediaType` wins over the
    /// transport's `Content-Type`; without either, the shape decides.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let obj = value.as_object().ok_or(ManifestError::UnknownShape)?;
        let declared = obj
            .get("mediaType")
            .and_then(|m| m.as_str())
            .or(content_type.map(|c| c.split(';').next().unwrap_or(c).trim()))
            .filter(|m| !m.is_empty() && *m != "application/json" && *m != "text/plain");
        let is_index = match declared {
            Some(OCI_INDEX) | Some(DOCKER_MANIFEST_LIST) => true,
            Some(OCI_MANIFEST) | Some(DOCKER_MANIFEST) => false,
            Some(other) if other.contains("docker.distribution.manifest.v1") => {
                return Err(ManifestError::UnsupportedMediaType(other.to_owned()));
            }
            _ if obj.contains_key("manifests") => true,
            _ if obj.contains_key("config") => false,
            Some(other) => return Err(ManifestError::UnsupportedMediaType(other.to_owned())),
            None => return Err(ManifestError::UnknownShape),
        };
        if is_index {
            serde_json::from_value(value)
                .map(Manifest::Index)
                .map_err(|e| ManifestError::Malformed {
                    kind: "image index",
                    reason: e.to_string(),
                })
        } else {
            serde_json::from_value(value)
                .map(Manifest::Image)
                .map_err(|e| ManifestError::Malformed {
                    kind: "image manifest",
                    reason: e.to_string(),
                })
        }
    }

    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index(i) => i.media_type.as_deref().unwrap_or(OCI_INDEX),
            Manifest::Image(m) => m.media_type.as_deref().unwrap_or(OCI_MANIFEST),
        }
    }

    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Index(i) => i.subject.as_ref(),
            Manifest::Image(m) => m.subject.as_ref(),
        }
    }

    pub fn artifact_type(&self) -> Option<&str> {
        match self {
            Manifest::Index(i) => i.artifact_type.as_deref(),
            Manifest::Image(m) => Some(m.effective_artifact_type()),
        }
    }
}

/// The parts of an image configuration blob that policies see.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "User", default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(rename = "Env", default, deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    #[serde(rename = "Labels", default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Volumes", default, deserialize_with = "null_as_default")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "WorkingDir", default, deserialize_with = "null_as_default")]
    pub working_dir: String,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
            kind: "image config",
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:da8b190665956ea07890a0273e2a9c96bfe291662f08e2860e868eef69c34620";

    #[test]
    fn index_with_attestation_entries() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":476,"platform":{{"architecture":"amd64","os":"linux"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"architecture":"unknown","os":"unknown"}},
              "annotations":{{"com.docker.reference.type":"attestation-manifest","com.docker.reference.digest":"{D}"}}}}]}}"#
        );
        let Manifest::Index(index) = Manifest::parse(None, body.as_bytes()).unwrap() else {
            panic!("not an index")
        };
        assert_eq!(index.manifests[0].buildkit_attestation_for(), None);
        assert_eq!(index.manifests[1].buildkit_attestation_for(), Some(D));
        assert!(
            index.manifests[1]
                .platform
                .as_ref()
                .unwrap()
                .platform()
                .is_unknown()
        );
    }

    #[test]
    fn null_layers_and_shape_detection() {
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{D}","size":2}},"layers":null}}"#
        );
        let Manifest::Image(m) =
            Manifest::parse(Some("application/json"), body.as_bytes()).unwrap()
        else {
            panic!("not a manifest")
        };
        assert!(m.layers.is_empty());
        assert_eq!(m.effective_artifact_type(), "x");
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(Manifest::parse(None, b"[]").is_err());
        assert!(Manifest::parse(None, b"{").is_err());
        let bad_digest = r#"{"manifests":[{"mediaType":"x","digest":"sha256:zz","size":1}]}"#;
        let err = Manifest::parse(None, bad_digest.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("invalid digest"), "{err}");
        let schema1 =
            r#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
        assert!(matches!(
            Manifest::parse(None, schema1.as_bytes()),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
    }
}
