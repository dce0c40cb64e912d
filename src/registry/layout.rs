//! OCI image layouts on disk, read through the same interface as a registry:
//! tags from `org.opencontainers.image.ref.name`, blobs verified against their
//! digests, and a referrers view computed from the manifests' `subject` fields.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::OnceCell;

use super::digest::Digest;
use super::error::RegistryError;
use super::manifest::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, Manifest};
use super::reference::ImageRef;

/// How many blobs a referrers scan reads at most.
const MAX_SCAN_MANIFESTS: usize = 4096;

#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    index: ImageIndex,
    /// subject digest → referrer descriptors, built on first use.
    referrers: OnceCell<HashMap<Digest, Vec<Descriptor>>>,
    manifest_cap: u64,
}

impl Layout {
    pub fn open(root: &Path, manifest_cap: u64) -> Result<Layout, RegistryError> {
        let err = |detail: String| RegistryError::Layout {
            path: root.display().to_string(),
            detail,
        };
        let marker = read_capped(&root.join("oci-layout"), 64 << 10)
            .map_err(|e| err(format!("oci-layout: {e}")))?;
        let marker: serde_json::Value = serde_json::from_slice(&marker)
            .map_err(|e| err(format!("oci-layout is not JSON: {e}")))?;
        if marker
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(err("oci-layout has no imageLayoutVersion".into()));
        }
        let index_bytes = read_capped(&root.join("index.json"), manifest_cap)
            .map_err(|e| err(format!("index.json: {e}")))?;
        let index: ImageIndex =
            serde_json::from_slice(&index_bytes).map_err(|e| err(format!("index.json: {e}")))?;
        Ok(Layout {
            root: root.to_owned(),
            index,
            referrers: OnceCell::new(),
            manifest_cap,
        })
    }

    pub fn path(&self) -> String {
        self.root.display().to_string()
    }

    /// The `index.json` entries.
    pub fn entries(&self) -> &[Descriptor] {
        &self.index.manifests
    }

    /// The entry whose `ref.name` annotation names `name`: the whole reference,
    /// or its tag (`docker.io/library/x:test` answers to `test`).
    pub fn find_tag(&self, name: &str) -> Option<&Descriptor> {
        let entries = &self.index.manifests;
        entries
            .iter()
            .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(name))
            .or_else(|| {
                entries.iter().find(|d| {
                    d.annotation(ANNOTATION_REF_NAME)
                        .and_then(|r| r.rsplit_once(':'))
                        .is_some_and(|(repo, tag)| {
                            tag == name && !tag.contains('/') && !repo.is_empty()
                        })
                })
            })
    }

    /// The image a layout holds under `name` (a `ref.name` or a tag of one),
    /// or its only entry when `name` is `None`. A `ref.name` that is a full
    /// reference is used as the image's reference; a bare tag gets the
    /// reference `oci-layout/<directory name>:<tag>`.
    pub fn image_ref(&self, name: Option<&str>) -> Result<ImageRef, RegistryError> {
        let entry = match name {
            Some(n) => match self.find_tag(n) {
                Some(e) => e,
                None => {
                    if let Ok(r) = ImageRef::parse(n) {
                        if r.digest.is_some() {
                            return Ok(r);
                        }
                        if r.tag.as_deref().and_then(|t| self.find_tag(t)).is_some() {
                            return Ok(r);
                        }
                    }
                    let names: Vec<&str> = self
                        .index
                        .manifests
                        .iter()
                        .filter_map(|d| d.annotation(ANNOTATION_REF_NAME))
                        .collect();
                    return Err(self.err(format!(
                        "no entry named {n:?} in index.json (names: {})",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )));
                }
            },
            None => match self.index.manifests.as_slice() {
                [only] => only,
                [] => return Err(self.err("index.json lists no image".into())),
                many => {
                    return Err(self.err(format!(
                        "index.json lists {} entries; name one of them",
                        many.len()
                    )));
                }
            },
        };
        let dir_name: String = self
            .root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default()
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let dir_name = dir_name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let dir_name = if dir_name.is_empty() {
            "image"
        } else {
            dir_name
        };
        match entry.annotation(ANNOTATION_REF_NAME) {
            Some(ref_name) if ref_name.contains('/') => ImageRef::parse(ref_name)
                .map_err(|e| self.err(format!("ref.name {ref_name:?}: {e}"))),
            Some(tag) if is_valid_tag(tag) => Ok(ImageRef {
                registry: "oci-layout".into(),
                repository: dir_name.to_owned(),
                tag: Some(tag.to_owned()),
                digest: None,
            }),
            Some(other) => Err(self.err(format!(
                "ref.name {other:?} is neither a reference nor a tag"
            ))),
            None => Ok(ImageRef {
                registry: "oci-layout".into(),
                repository: dir_name.to_owned(),
                tag: None,
                digest: Some(entry.digest.clone()),
            }),
        }
    }

    fn err(&self, detail: String) -> RegistryError {
        RegistryError::Layout {
            path: self.path(),
            detail,
        }
    }

    /// Reads and verifies a blob (manifests are blobs in a layout).
    pub fn blob(&self, digest: &Digest, max: u64) -> Result<Bytes, RegistryError> {
        let path = self
            .root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex());
        let bytes = read_capped(&path, max).map_err(|e| match e {
            ReadError::TooLarge => RegistryError::TooLarge {
                registry: format!("layout {}", self.path()),
                what: format!("blob {digest}"),
                limit: max,
            },
            ReadError::Missing => RegistryError::NotFound {
                registry: format!("layout {}", self.path()),
                what: format!("blob {digest}"),
            },
            ReadError::Io(detail) => self.err(format!("blob {digest}: {detail}")),
        })?;
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                registry: format!("layout {}", self.path()),
                what: format!("blob {digest}"),
                actual: Digest::sha256_of(&bytes).to_string(),
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// Referrers of `digest`: manifests reachable from `index.json` whose
    /// `subject` is `digest`, as a registry with the referrers API would list them.
    pub async fn referrers(&self, digest: &Digest) -> Result<Vec<Descriptor>, RegistryError> {
        let map = self
            .referrers
            .get_or_try_init(|| async { self.scan_subjects() })
            .await?;
        Ok(map.get(digest).cloned().unwrap_or_default())
    }

    /// Every manifest stored in the layout that has a `subject`: referrers
    /// need not be listed in index.json (BuildKit's OCI-artifact attestations
    /// exist only as referrers), so all blobs are looked at, within bounds.
    fn scan_subjects(&self) -> Result<HashMap<Digest, Vec<Descriptor>>, RegistryError> {
        let mut out: HashMap<Digest, Vec<Descriptor>> = HashMap::new();
        let dir = self.root.join("blobs/sha256");
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        for name in names.into_iter().take(MAX_SCAN_MANIFESTS) {
            let Ok(digest) = Digest::parse(&format!("sha256:{name}")) else {
                continue;
            };
            // Unreadable, large or non-manifest blobs are skipped: the scan is a
            // view, and the resolver verifies whatever it later fetches.
            let Ok(bytes) = self.blob(&digest, self.manifest_cap) else {
                continue;
            };
            if !bytes.windows(9).any(|w| w == b"\"subject\"") {
                continue;
            }
            let Ok(manifest) = Manifest::parse(None, &bytes) else {
                continue;
            };
            let Some(subject) = manifest.subject() else {
                continue;
            };
            let annotations = match &manifest {
                Manifest::Index(i) => i.annotations.clone(),
                Manifest::Image(m) => m.annotations.clone(),
            };
            out.entry(subject.digest.clone())
                .or_default()
                .push(Descriptor {
                    media_type: manifest.media_type().to_owned(),
                    digest,
                    size: bytes.len() as i64,
                    annotations,
                    platform: None,
                    artifact_type: manifest.artifact_type().map(str::to_owned),
                });
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| a.digest.cmp(&b.digest));
        }
        Ok(out)
    }
}

/// A tag as distribution defines it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

enum ReadError {
    Missing,
    TooLarge,
    Io(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => f.write_str("missing"),
            ReadError::TooLarge => f.write_str("too large"),
            ReadError::Io(e) => f.write_str(e),
        }
    }
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Io(e.to_string()),
    })?;
    let mut buf = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if buf.len() as u64 > max {
        return Err(ReadError::TooLarge);
    }
    Ok(buf)
}
