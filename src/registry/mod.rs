//! Where image content comes from: registries over HTTP or OCI layouts on disk,
//! behind one [`Store`] that verifies, size-caps, caches by digest and
//! de-duplicates concurrent fetches of the same object.

pub mod auth;
pub mod client;
pub mod digest;
pub mod error;
pub mod guard;
pub mod layout;
pub mod manifest;
pub mod reference;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use auth::{Credential, Keyring};
pub use client::{ClientOptions, ClientStats, Limits, RegistryClient, Target};
pub use digest::Digest;
pub use error::RegistryError;
pub use layout::Layout;
pub use manifest::{Descriptor, Manifest};
pub use reference::ImageRef;

/// A manifest fetched, verified and parsed.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub manifest: Manifest,
    pub size: usize,
}

#[derive(Debug, Clone)]
pub enum Backend {
    Remote(Arc<RegistryClient>),
    Layout(Arc<Layout>),
}

/// Cache sizes and lifetimes.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Bytes of verified manifests and blobs kept, keyed by digest.
    pub content_bytes: u64,
    /// How long a tag keeps pointing at the digest it resolved to.
    pub tag_ttl: Duration,
    /// How long "not found" (tags, referrers tags, cosign tags) and referrers
    /// lists are remembered.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            content_bytes: 128 << 20,
            tag_ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
enum Content {
    Manifest(Arc<FetchedManifest>),
    Blob(Bytes),
}

impl Content {
    fn weight(&self) -> u32 {
        let n = match self {
            Content::Manifest(m) => m.size * 2 + 256,
            Content::Blob(b) => b.len() + 64,
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

type Referrers = Option<Arc<Vec<Descriptor>>>;

/// Found tags live for the tag TTL, "not found" for the negative TTL.
struct TagExpiry {
    found: Duration,
    not_found: Duration,
}

impl moka::Expiry<String, Result<Digest, RegistryError>> for TagExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Result<Digest, RegistryError>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(if value.is_ok() {
            self.found
        } else {
            self.not_found
        })
    }
}

/// The content store: one backend, caches in front of it.
pub struct Store {
    backend: Backend,
    limits: Limits,
    content: moka::future::Cache<Digest, Content>,
    tags: moka::future::Cache<String, Result<Digest, RegistryError>>,
    referrers: moka::future::Cache<String, Result<Referrers, RegistryError>>,
    /// Whether each registry answered the referrers API (learnt on first use).
    referrers_api: moka::sync::Cache<String, bool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(backend: Backend, limits: Limits, cache: &CacheConfig) -> Store {
        Store {
            backend,
            limits,
            content: moka::future::Cache::builder()
                .weigher(|_k, v: &Content| v.weight())
                .max_capacity(cache.content_bytes)
                .build(),
            tags: moka::future::Cache::builder()
                .max_capacity(100_000)
                .expire_after(TagExpiry {
                    found: cache.tag_ttl,
                    not_found: cache.negative_ttl,
                })
                .build(),
            referrers: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(cache.negative_ttl)
                .build(),
            referrers_api: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes currently held by the content cache (approximate weight).
    pub fn cached_bytes(&self) -> u64 {
        self.content.weighted_size()
    }

    pub fn location(&self, target: &Target<'_>) -> String {
        match &self.backend {
            Backend::Remote(_) => target.registry.to_owned(),
            Backend::Layout(l) => format!("layout {}", l.path()),
        }
    }

    /// Resolves a tag to a digest (not cached beyond the tag TTL; "not found"
    /// for the negative TTL) and caches the manifest by its digest.
    pub async fn resolve_tag(
        &self,
        target: Target<'_>,
        tag: &str,
    ) -> Result<Digest, RegistryError> {
        let key = format!("{}/{}:{tag}", target.registry, target.repository);
        self.tags
            .try_get_with(key, async {
                remember_not_found(self.fetch_tag(target, tag).await)
            })
            .await
            .map_err(|e| (*e).clone())?
    }

    async fn fetch_tag(&self, target: Target<'_>, tag: &str) -> Result<Digest, RegistryError> {
        match &self.backend {
            Backend::Remote(client) => {
                let fetched = client.manifest(target, tag).await?;
                let digest = fetched.digest.clone();
                let parsed = parse_fetched(target.registry, fetched)?;
                self.content
                    .insert(digest.clone(), Content::Manifest(Arc::new(parsed)))
                    .await;
                Ok(digest)
            }
            Backend::Layout(layout) => {
                layout
                    .find_tag(tag)
                    .map(|d| d.digest.clone())
                    .ok_or_else(|| RegistryError::NotFound {
                        registry: format!("layout {}", layout.path()),
                        what: format!("tag {tag}"),
                    })
            }
        }
    }

    /// A manifest by digest: verified, parsed, cached, fetched once.
    pub async fn manifest(
        &self,
        target: Target<'_>,
        digest: &Digest,
    ) -> Result<Arc<FetchedManifest>, RegistryError> {
        let content = self
            .content
            .try_get_with(digest.clone(), async {
                let parsed = match &self.backend {
                    Backend::Remote(client) => {
                        let fetched = client.manifest(target, digest.as_str()).await?;
                        parse_fetched(target.registry, fetched)?
                    }
                    Backend::Layout(layout) => {
                        let bytes = layout.blob(digest, self.limits.manifest_bytes)?;
                        let manifest = Manifest::parse(None, &bytes).map_err(|e| {
                            RegistryError::Malformed {
                                registry: format!("layout {}", layout.path()),
                                what: format!("manifest {digest}"),
                                detail: e.to_string(),
                            }
                        })?;
                        FetchedManifest {
                            digest: digest.clone(),
                            manifest,
                            size: bytes.len(),
                        }
                    }
                };
                Ok::<_, RegistryError>(Content::Manifest(Arc::new(parsed)))
            })
            .await
            .map_err(|e| (*e).clone())?;
        match content {
            Content::Manifest(m) => Ok(m),
            Content::Blob(_) => Err(RegistryError::Malformed {
                registry: self.location(&target),
                what: format!("manifest {digest}"),
                detail: "the digest names a blob that is not a manifest".into(),
            }),
        }
    }

    /// A blob by digest, at most `max` bytes: verified, cached, fetched once.
    pub async fn blob(
        &self,
        target: Target<'_>,
        digest: &Digest,
        max: u64,
    ) -> Result<Bytes, RegistryError> {
        let content = self
            .content
            .try_get_with(digest.clone(), async {
                let bytes = match &self.backend {
                    Backend::Remote(client) => client.blob(target, digest, max).await?,
                    Backend::Layout(layout) => layout.blob(digest, max)?,
                };
                Ok::<_, RegistryError>(Content::Blob(bytes))
            })
            .await
            .map_err(|e| (*e).clone())?;
        match content {
            Content::Blob(b) if b.len() as u64 <= max => Ok(b),
            Content::Blob(_) => Err(RegistryError::TooLarge {
                registry: self.location(&target),
                what: format!("blob {digest}"),
                limit: max,
            }),
            // The same bytes were fetched as a manifest earlier.
            Content::Manifest(_) => match &self.backend {
                Backend::Remote(client) => client.blob(target, digest, max).await,
                Backend::Layout(layout) => layout.blob(digest, max),
            },
        }
    }

    /// Whether `registry` has the referrers API, once known.
    pub fn referrers_api(&self, registry: &str) -> Option<bool> {
        match &self.backend {
            Backend::Remote(_) => self.referrers_api.get(registry),
            Backend::Layout(_) => None,
        }
    }

    /// Referrers of `digest` (`None`: no referrers API, use the fallback tag).
    pub async fn referrers(
        &self,
        target: Target<'_>,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, RegistryError> {
        let key = format!(
            "{}/{}@{digest}?{}",
            target.registry,
            target.repository,
            artifact_type.unwrap_or_default()
        );
        self.referrers
            .try_get_with(key, async {
                let found = match &self.backend {
                    Backend::Remote(client) => Ok(client
                        .referrers(target, digest, artifact_type)
                        .await?
                        .map(Arc::new)),
                    // A layout that carries the fallback tag was written for
                    // registries without the API: read it the same way.
                    Backend::Layout(layout)
                        if layout.find_tag(&digest.fallback_tag()).is_some() =>
                    {
                        Ok(None)
                    }
                    Backend::Layout(layout) => {
                        let mut list = layout.referrers(digest).await?;
                        if let Some(t) = artifact_type {
                            list.retain(|d| d.artifact_type.as_deref() == Some(t));
                        }
                        Ok(Some(Arc::new(list)))
                    }
                };
                if let (Backend::Remote(_), Ok(answer)) = (&self.backend, &found) {
                    self.referrers_api
                        .insert(target.registry.to_owned(), answer.is_some());
                }
                remember_not_found(found)
            })
            .await
            .map_err(|e| (*e).clone())?
    }
}

/// Only answers (found / not found) are cached; transient failures are not.
fn remember_not_found<T>(
    r: Result<T, RegistryError>,
) -> Result<Result<T, RegistryError>, RegistryError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.is_not_found() => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

fn parse_fetched(
    registry: &str,
    fetched: client::FetchedManifest,
) -> Result<FetchedManifest, RegistryError> {
    let manifest = Manifest::parse(fetched.media_type.as_deref(), &fetched.bytes).map_err(|e| {
        RegistryError::Malformed {
            registry: registry.into(),
            what: format!("manifest {}", fetched.digest),
            detail: e.to_string(),
        }
    })?;
    Ok(FetchedManifest {
        digest: fetched.digest,
        manifest,
        size: fetched.bytes.len(),
    })
}
