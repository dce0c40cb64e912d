//! The resolver: image reference → root → platform manifests → attestation
//! manifests from every source → statements bound to this image's digests.
//!
//! Sources, in precedence order for de-duplication: BuildKit attestation
//! manifests listed in the index, the referrers API (or its `sha256-<hex>`
//! tag fallback), and cosign `sha256-<hex>.att` tags, for each selected
//! platform manifest and for the root index. Independent fetches run
//! concurrently; the [`Store`] fetches each digest once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::future::{join_all, try_join_all};
use serde::Serialize;

use super::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::statement::Statement;
use crate::platform::{self, Platform};
use crate::registry::manifest::{
    ANNOTATION_PREDICATE_TYPE, BUILDKIT_ATTESTATION_ARTIFACT, DOCKER_MANIFEST, DSSE_ENVELOPE,
    IN_TOTO, ImageConfig, OCI_MANIFEST, SIGSTORE_BUNDLE_V03,
};
use crate::registry::{
    Descriptor, Digest, ImageRef, Keyring, Manifest, RegistryError, Store, Target,
};

/// How an attestation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Index,
    Referrers,
    ReferrersTag,
    CosignTag,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Index => "index",
            Source::Referrers => "referrers",
            Source::ReferrersTag => "referrers-tag",
            Source::CosignTag => "cosign-tag",
        })
    }
}

/// Which digest of the image a statement's subject matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectBinding {
    Platform,
    Index,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvelopeInfo {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<SignatureInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
}

/// A statement blob, parsed.
#[derive(Debug)]
pub struct ParsedBlob {
    pub statement: Statement,
    pub envelope: Option<EnvelopeInfo>,
}

/// One attestation of one platform: what a policy sees in `input.attestations`.
#[derive(Debug, Clone)]
pub struct Attestation {
    pub blob: Arc<ParsedBlob>,
    pub digest: Digest,
    pub media_type: String,
    pub manifest: Digest,
    pub source: Source,
    pub subject: SubjectBinding,
}

impl Attestation {
    pub fn predicate_type(&self) -> &str {
        &self.blob.statement.predicate_type
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("predicateType".into(), self.predicate_type().into());
        m.insert("statement".into(), (*self.blob.statement.json).clone());
        m.insert("digest".into(), self.digest.as_str().into());
        m.insert("mediaType".into(), self.media_type.clone().into());
        m.insert("manifest".into(), self.manifest.as_str().into());
        m.insert(
            "source".into(),
            serde_json::to_value(self.source).unwrap_or_default(),
        );
        m.insert(
            "subject".into(),
            serde_json::to_value(self.subject).unwrap_or_default(),
        );
        if let Some(e) = &self.blob.envelope {
            m.insert(
                "envelope".into(),
                serde_json::to_value(e).unwrap_or_default(),
            );
        }
        m.insert("verified".into(), false.into());
        serde_json::Value::Object(m)
    }
}

/// A statement that was found but is not about this image.
#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    pub digest: Digest,
    pub predicate_type: String,
    pub source: Source,
    pub subjects: String,
}

#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    pub manifest: Digest,
    pub config: Arc<ImageConfig>,
    pub attestations: Vec<Attestation>,
    /// `input.image` for this platform, built once per resolution.
    pub image: Arc<serde_json::Value>,
    /// Identifies `image` and the attestations (by blob digest, source,
    /// subject): equal keys mean equal policy input for these two parts.
    pub image_key: [u8; 32],
    pub attestations_key: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub reference: ImageRef,
    /// The digest the reference resolved to (index or single manifest).
    pub root: Digest,
    /// The root, when it is an index.
    pub index: Option<Digest>,
    /// Every runnable platform the image offers.
    pub offered: Vec<Platform>,
    /// The selected platforms, resolved.
    pub platforms: Vec<PlatformImage>,
    pub excluded: Vec<Excluded>,
}

/// Which platforms to resolve.
#[derive(Debug, Clone)]
pub enum PlatformSelection {
    All,
    /// The platforms of the nodes a pod may run on; each gets the image
    /// platform its runtime would pull.
    Nodes(Vec<Platform>),
}

/// "Attestations for images of `images` live in `repository`" (Docker Hardened Images).
#[derive(Debug, Clone)]
pub struct AttestationRepository {
    pub images: globset::GlobMatcher,
    pub repository: ImageRef,
}

#[derive(Debug, Clone)]
pub struct ResolverOptions {
    pub referrers: bool,
    pub cosign: bool,
    /// When set, statement layers whose predicate-type annotation names
    /// another type are not fetched.
    pub predicate_types: Option<HashSet<String>>,
    pub max_attestation_manifests: usize,
    pub max_statements: usize,
    pub attestation_repositories: Vec<AttestationRepository>,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            referrers: true,
            cosign: true,
            predicate_types: None,
            max_attestation_manifests: 64,
            max_statements: 256,
            attestation_repositories: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{location}: {what}: {detail}")]
    Invalid {
        location: String,
        what: String,
        detail: String,
    },
    #[error("{reference}: more than {limit} {what}")]
    TooMany {
        reference: String,
        what: &'static str,
        limit: usize,
    },
}

impl ResolveError {
    pub fn kind(&self) -> &'static str {
        match self {
            ResolveError::Registry(e) => e.kind(),
            ResolveError::Invalid { .. } => "invalid",
            ResolveError::TooMany { .. } => "limit",
        }
    }
}

pub struct Resolver {
    store: Arc<Store>,
    options: ResolverOptions,
}

/// An attestation manifest to read, and how it was found.
#[derive(Debug, Clone)]
struct Candidate {
    repo: ImageRef,
    manifest: Digest,
    source: Source,
}

#[derive(Debug)]
struct Found {
    blob: Arc<ParsedBlob>,
    digest: Digest,
    media_type: String,
    manifest: Digest,
    source: Source,
}

impl Resolver {
    pub fn new(store: Arc<Store>, options: ResolverOptions) -> Resolver {
        Resolver { store, options }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn options(&self) -> &ResolverOptions {
        &self.options
    }

    fn target<'a>(
        repo: &'a ImageRef,
        keyring: &'a [(String, Vec<crate::registry::Credential>)],
    ) -> Target<'a> {
        let key = repo.full_repo();
        let credentials = keyring
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, c)| c.as_slice())
            .unwrap_or(&[]);
        Target {
            registry: &repo.registry,
            repository: &repo.repository,
            credentials,
        }
    }

    /// Resolves `image` for the selected platforms.
    pub async fn resolve(
        &self,
        image: &ImageRef,
        keyring: &Keyring,
        selection: &PlatformSelection,
    ) -> Result<ResolvedImage, ResolveError> {
        // Credentials per repository touched, looked up once.
        let mut repos = vec![image.clone()];
        repos.extend(self.attestation_repos_for(image));
        let creds: Vec<(String, Vec<crate::registry::Credential>)> = repos
            .iter()
            .map(|r| (r.full_repo(), keyring.lookup(&r.registry, &r.repository)))
            .collect();
        let target = Self::target(image, &creds);

        let root = match &image.digest {
            Some(d) => d.clone(),
            None => {
                let tag = image.tag.as_deref().unwrap_or("latest");
                self.store.resolve_tag(target, tag).await?
            }
        };
        let root_manifest = self.store.manifest(target, &root).await?;
        let location = self.store.location(&target);

        // Platform manifests: (platform, digest, config descriptor if known).
        let mut entries: Vec<(Platform, Digest)> = Vec::new();
        let mut in_index: HashMap<Digest, Vec<Digest>> = HashMap::new();
        let index = match &root_manifest.manifest {
            Manifest::Index(ix) => {
                for d in &ix.manifests {
                    if let Some(subject) = d.buildkit_attestation_for() {
                        if let Ok(subject) = Digest::parse(subject) {
                            in_index.entry(subject).or_default().push(d.digest.clone());
                        }
                        continue;
                    }
                    if d.is_buildkit_reference() || !is_image_manifest(&d.media_type) {
                        continue;
                    }
                    let Some(p) = d.platform.as_ref().map(|p| p.platform()) else {
                        continue;
                    };
                    if !p.is_unknown() {
                        entries.push((p, d.digest.clone()));
                    }
                }
                Some(root.clone())
            }
            Manifest::Image(_) => None,
        };

        let (offered, selected_manifests): (Vec<Platform>, Vec<(Platform, Digest)>) = match index {
            Some(_) => {
                let offered: Vec<Platform> = entries.iter().map(|(p, _)| p.clone()).collect();
                let chosen = match selection {
                    PlatformSelection::All => (0..entries.len()).collect(),
                    PlatformSelection::Nodes(nodes) => platform::select_for_nodes(&offered, nodes),
                };
                let selected = chosen.into_iter().map(|i| entries[i].clone()).collect();
                (offered, selected)
            }
            None => {
                // A single manifest: its config says what platform it is.
                let config = self.config_of(target, &root).await?;
                let p = Platform::new(&config.os, &config.architecture, config.variant.as_deref());
                if config.os.is_empty() || config.architecture.is_empty() || p.is_unknown() {
                    return Err(ResolveError::Invalid {
                        location,
                        what: format!("image {root}"),
                        detail: "its configuration names no platform".into(),
                    });
                }
                let runs = match selection {
                    PlatformSelection::All => true,
                    PlatformSelection::Nodes(nodes) => {
                        !platform::select_for_nodes(std::slice::from_ref(&p), nodes).is_empty()
                    }
                };
                let selected = if runs {
                    vec![(p.clone(), root.clone())]
                } else {
                    vec![]
                };
                (vec![p], selected)
            }
        };

        // Platform manifests' configs and every attestation source, concurrently.
        let configs = try_join_all(
            selected_manifests
                .iter()
                .map(|(_, d)| self.config_of(target, d)),
        );
        let mut subjects: Vec<Digest> = selected_manifests.iter().map(|(_, d)| d.clone()).collect();
        if let Some(i) = &index {
            subjects.push(i.clone());
        }
        let gathered = self.gather(image, &repos, &creds, &subjects, &in_index);
        let (configs, found) = futures::try_join!(configs, gathered)?;

        // Bind statements to platforms by subject.
        let all_image_digests: HashSet<&Digest> = entries
            .iter()
            .map(|(_, d)| d)
            .chain(std::iter::once(&root))
            .collect();
        let mut excluded = Vec::new();
        for f in &found {
            if !all_image_digests
                .iter()
                .any(|d| f.blob.statement.is_about(d))
            {
                excluded.push(Excluded {
                    digest: f.digest.clone(),
                    predicate_type: f.blob.statement.predicate_type.clone(),
                    source: f.source,
                    subjects: f.blob.statement.subject_summary(),
                });
            }
        }
        let platforms = selected_manifests
            .into_iter()
            .zip(configs)
            .map(|((platform, manifest), config)| {
                let attestations = found
                    .iter()
                    .filter_map(|f| {
                        let subject = if f.blob.statement.is_about(&manifest) {
                            SubjectBinding::Platform
                        } else if index.as_ref().is_some_and(|i| f.blob.statement.is_about(i)) {
                            SubjectBinding::Index
                        } else {
                            return None;
                        };
                        Some(Attestation {
                            blob: f.blob.clone(),
                            digest: f.digest.clone(),
                            media_type: f.media_type.clone(),
                            manifest: f.manifest.clone(),
                            source: f.source,
                            subject,
                        })
                    })
                    .collect();
                PlatformImage {
                    platform,
                    manifest,
                    config,
                    attestations,
                    image: Arc::new(serde_json::Value::Null),
                    image_key: [0; 32],
                    attestations_key: [0; 32],
                }
            })
            .collect();
        let mut resolved = ResolvedImage {
            reference: image.clone(),
            root,
            index,
            offered,
            platforms,
            excluded,
        };
        let views: Vec<serde_json::Value> = resolved
            .platforms
            .iter()
            .map(|p| super::image::image_input(&resolved, p))
            .collect();
        for (p, view) in resolved.platforms.iter_mut().zip(views) {
            use sha2::{Digest as _, Sha256};
            p.image_key = Sha256::digest(view.to_string().as_bytes()).into();
            let mut h = Sha256::new();
            for a in &p.attestations {
                h.update(
                    format!(
                        "{}|{}|{}|{}|{:?};",
                        a.digest, a.media_type, a.manifest, a.source, a.subject
                    )
                    .as_bytes(),
                );
            }
            p.attestations_key = h.finalize().into();
            p.image = Arc::new(view);
        }
        Ok(resolved)
    }

    fn attestation_repos_for(&self, image: &ImageRef) -> Vec<ImageRef> {
        self.options
            .attestation_repositories
            .iter()
            .filter(|m| m.images.is_match(image.full_repo()))
            .map(|m| m.repository.clone())
            .collect()
    }

    async fn config_of(
        &self,
        target: Target<'_>,
        manifest: &Digest,
    ) -> Result<Arc<ImageConfig>, ResolveError> {
        let m = self.store.manifest(target, manifest).await?;
        let Manifest::Image(m) = &m.manifest else {
            return Err(ResolveError::Invalid {
                location: self.store.location(&target),
                what: format!("platform manifest {manifest}"),
                detail: "is an index, not an image manifest".into(),
            });
        };
        let bytes = self
            .store
            .blob(target, &m.config.digest, self.store.limits().config_bytes)
            .await?;
        let config = ImageConfig::parse(&bytes).map_err(|e| ResolveError::Invalid {
            location: self.store.location(&target),
            what: format!("image config {}", m.config.digest),
            detail: e.to_string(),
        })?;
        Ok(Arc::new(config))
    }

    /// Statements from every source for `subjects` (selected platform
    /// manifests, then the root index). Each source's attestation manifests
    /// are read as soon as that source answers, so a slow or empty source
    /// never delays the others: in-index manifests are read at once.
    async fn gather(
        &self,
        image: &ImageRef,
        repos: &[ImageRef],
        creds: &[(String, Vec<crate::registry::Credential>)],
        subjects: &[Digest],
        in_index: &HashMap<Digest, Vec<Digest>>,
    ) -> Result<Vec<Found>, ResolveError> {
        let limit = self.options.max_attestation_manifests;
        let too_many = || ResolveError::TooMany {
            reference: image.to_string(),
            what: "attestation manifests",
            limit,
        };
        let in_index: Vec<Candidate> = subjects
            .iter()
            .flat_map(|s| in_index.get(s).into_iter().flatten())
            .map(|m| Candidate {
                repo: image.clone(),
                manifest: m.clone(),
                source: Source::Index,
            })
            .collect();
        if in_index.len() > limit {
            return Err(too_many());
        }
        let read = |candidates: Vec<Candidate>| async move {
            if candidates.len() > limit {
                return Err(too_many());
            }
            let per_manifest =
                try_join_all(candidates.iter().map(|c| self.read_manifest(c, creds))).await?;
            Ok::<Vec<Found>, ResolveError>(per_manifest.into_iter().flatten().collect())
        };
        let mut sources: Vec<futures::future::BoxFuture<'_, Result<Vec<Found>, ResolveError>>> =
            Vec::new();
        sources.push(Box::pin(read(in_index)));
        for repo in repos {
            for s in subjects {
                if self.options.referrers {
                    sources.push(Box::pin(async move {
                        read(self.referrer_candidates(repo, creds, s).await?).await
                    }));
                }
                if self.options.cosign {
                    sources.push(Box::pin(async move {
                        read(
                            self.cosign_candidate(repo, creds, s)
                                .await?
                                .into_iter()
                                .collect(),
                        )
                        .await
                    }));
                }
            }
        }
        let mut found: Vec<Found> = Vec::new();
        for r in join_all(sources).await {
            found.extend(r?);
        }
        // First source wins for a statement found several ways.
        found.sort_by_key(|f| f.source);
        let mut seen = HashSet::new();
        found.retain(|f| seen.insert(f.digest.clone()));
        let manifests: HashSet<&Digest> = found.iter().map(|f| &f.manifest).collect();
        if manifests.len() > limit {
            return Err(too_many());
        }
        if found.len() > self.options.max_statements {
            return Err(ResolveError::TooMany {
                reference: image.to_string(),
                what: "attestation statements",
                limit: self.options.max_statements,
            });
        }
        Ok(found)
    }

    async fn referrer_candidates(
        &self,
        repo: &ImageRef,
        creds: &[(String, Vec<crate::registry::Credential>)],
        subject: &Digest,
    ) -> Result<Vec<Candidate>, ResolveError> {
        let target = Self::target(repo, creds);
        let tag = subject.fallback_tag();
        let fallback = async {
            match self.store.resolve_tag(target, &tag).await {
                Ok(tag_digest) => {
                    let m = self.store.manifest(target, &tag_digest).await?;
                    match &m.manifest {
                        Manifest::Index(ix) => Ok(ix.manifests.clone()),
                        Manifest::Image(_) => Err(ResolveError::Invalid {
                            location: self.store.location(&target),
                            what: format!("referrers tag {tag}"),
                            detail: "is not an image index".into(),
                        }),
                    }
                }
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            }
        };
        // Until a registry has said whether it has the referrers API, ask the
        // API and read the fallback tag at the same time: one round trip
        // instead of two on registries without it.
        let (list, source) = match self.store.referrers_api(target.registry) {
            Some(true) => match self.store.referrers(target, subject, None).await? {
                Some(list) => (list.as_ref().clone(), Source::Referrers),
                None => (fallback.await?, Source::ReferrersTag),
            },
            Some(false) => (fallback.await?, Source::ReferrersTag),
            None => {
                let (api, tagged) =
                    futures::join!(self.store.referrers(target, subject, None), fallback);
                match api? {
                    Some(list) => (list.as_ref().clone(), Source::Referrers),
                    None => (tagged?, Source::ReferrersTag),
                }
            }
        };
        Ok(list
            .into_iter()
            .filter(wanted_referrer)
            .map(|d| Candidate {
                repo: repo.clone(),
                manifest: d.digest,
                source,
            })
            .collect())
    }

    async fn cosign_candidate(
        &self,
        repo: &ImageRef,
        creds: &[(String, Vec<crate::registry::Credential>)],
        subject: &Digest,
    ) -> Result<Option<Candidate>, ResolveError> {
        let target = Self::target(repo, creds);
        match self
            .store
            .resolve_tag(target, &subject.cosign_attestation_tag())
            .await
        {
            Ok(d) => Ok(Some(Candidate {
                repo: repo.clone(),
                manifest: d,
                source: Source::CosignTag,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn read_manifest(
        &self,
        c: &Candidate,
        creds: &[(String, Vec<crate::registry::Credential>)],
    ) -> Result<Vec<Found>, ResolveError> {
        let target = Self::target(&c.repo, creds);
        let m = self.store.manifest(target, &c.manifest).await?;
        // Indexes in a referrers list (e.g. nested artifacts) hold no statements.
        let Manifest::Image(m) = &m.manifest else {
            return Ok(Vec::new());
        };
        if m.layers.len() > self.options.max_statements {
            return Err(ResolveError::TooMany {
                reference: format!("attestation manifest {}", c.manifest),
                what: "layers",
                limit: self.options.max_statements,
            });
        }
        let layers = m
            .layers
            .iter()
            .filter(|l| is_statement_layer(&l.media_type) && self.predicate_wanted(l));
        let blobs = try_join_all(layers.map(|l| async move {
            let parsed = self.parse_layer(target, l).await?;
            Ok::<_, ResolveError>(parsed.map(|blob| Found {
                blob,
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                manifest: c.manifest.clone(),
                source: c.source,
            }))
        }))
        .await?;
        Ok(blobs.into_iter().flatten().collect())
    }

    fn predicate_wanted(&self, layer: &Descriptor) -> bool {
        let Some(wanted) = &self.options.predicate_types else {
            return true;
        };
        match layer
            .annotation(ANNOTATION_PREDICATE_TYPE)
            .or_else(|| layer.annotation("predicateType"))
        {
            Some(t) => wanted.contains(t),
            None => true,
        }
    }

    /// Fetches and parses one statement layer, once per digest. `None` for a
    /// DSSE envelope whose payload is not an in-toto statement.
    async fn parse_layer(
        &self,
        target: Target<'_>,
        layer: &Descriptor,
    ) -> Result<Option<Arc<ParsedBlob>>, ResolveError> {
        let bytes = self
            .store
            .blob(target, &layer.digest, self.store.limits().statement_bytes)
            .await?;
        let invalid = |detail: String| ResolveError::Invalid {
            location: self.store.location(&target),
            what: format!("attestation layer {}", layer.digest),
            detail,
        };
        let parsed = match layer.media_type.as_str() {
            IN_TOTO => ParsedBlob {
                statement: Statement::parse(&bytes).map_err(|e| invalid(e.to_string()))?,
                envelope: None,
            },
            _ => {
                let envelope = if layer.media_type == SIGSTORE_BUNDLE_V03 {
                    Envelope::parse_bundle(&bytes)
                } else {
                    Envelope::parse(&bytes).map(Some)
                }
                .map_err(|e| invalid(e.to_string()))?;
                let Some(envelope) = envelope else {
                    return Ok(None);
                };
                if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
                    return Ok(None);
                }
                ParsedBlob {
                    statement: Statement::parse(&envelope.payload)
                        .map_err(|e| invalid(format!("DSSE payload: {e}")))?,
                    envelope: Some(EnvelopeInfo {
                        payload_type: envelope.payload_type.clone(),
                        signatures: envelope
                            .signatures
                            .iter()
                            .map(|s| SignatureInfo {
                                keyid: s.keyid.clone(),
                            })
                            .collect(),
                    }),
                }
            }
        };
        // Parsed statements are not cached here: resolutions that hold them
        // are (bounded by their memory), and the bytes are in the store.
        Ok(Some(Arc::new(parsed)))
    }
}

fn is_image_manifest(media_type: &str) -> bool {
    media_type.is_empty() || media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

fn is_statement_layer(media_type: &str) -> bool {
    matches!(media_type, IN_TOTO | DSSE_ENVELOPE | SIGSTORE_BUNDLE_V03)
}

/// Referrers that can hold statements. Descriptors without an artifact type
/// (a fallback tag's annotations may be stripped) are read to find out.
fn wanted_referrer(d: &Descriptor) -> bool {
    match d.artifact_type.as_deref() {
        None | Some("") => true,
        Some(t) => {
            matches!(
                t,
                BUILDKIT_ATTESTATION_ARTIFACT | SIGSTORE_BUNDLE_V03 | IN_TOTO
            ) || t.starts_with("application/vnd.dev.sigstore.bundle")
        }
    }
}

/// Predicate types present, for messages: `https://spdx.dev/Document, ...`.
pub fn predicate_types(attestations: &[Attestation]) -> Vec<String> {
    let set: BTreeMap<&str, ()> = attestations
        .iter()
        .map(|a| (a.predicate_type(), ()))
        .collect();
    set.into_keys().map(str::to_owned).collect()
}
