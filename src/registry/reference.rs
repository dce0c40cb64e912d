//! Image references, normalised the way Docker does (`nginx` is
//! `docker.io/library/nginx:latest`). Parsing is oci-client's (a port of
//! distribution's reference grammar); this type adds the views policies need.

use std::fmt;

use super::digest::Digest;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry as written after normalisation: `docker.io`, `ghcr.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path inside the registry: `library/nginx`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

/// Recently parsed references: the grammar is a regular expression and the
/// same few images are parsed for every admission.
static PARSED: std::sync::LazyLock<moka::sync::Cache<String, Result<ImageRef, ReferenceError>>> =
    std::sync::LazyLock::new(|| moka::sync::Cache::new(10_000));

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, ReferenceError> {
        if reference.len() > 1024 {
            return Err(ReferenceError {
                reference: reference.chars().take(300).collect(),
                reason: "longer than 1024 characters".into(),
            });
        }
        PARSED.get_with_by_ref(reference, || ImageRef::parse_uncached(reference))
    }

    fn parse_uncached(reference: &str) -> Result<ImageRef, ReferenceError> {
        let err = |reason: String| ReferenceError {
            reference: reference.chars().take(300).collect(),
            reason,
        };
        let trimmed = reference.trim();
        if trimmed.is_empty() {
            return Err(err("empty".into()));
        }
        let parsed = oci_client::Reference::try_from(trimmed).map_err(|e| err(e.to_string()))?;
        if parsed.repository().chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err("repository name must be lowercase".into()));
        }
        let digest = parsed
            .digest()
            .map(Digest::parse)
            .transpose()
            .map_err(|e| err(e.to_string()))?;
        // A digest pins the content; the tag is kept only for display.
        let tag = parsed.tag().map(str::to_owned);
        Ok(ImageRef {
            registry: parsed.registry().to_owned(),
            repository: parsed.repository().to_owned(),
            tag,
            digest,
        })
    }

    /// The host the registry API is served from (`docker.io` is served by
    /// `registry-1.docker.io`).
    pub fn api_host(&self) -> &str {
        registry_api_host(&self.registry)
    }

    /// `docker.io/library/nginx`.
    pub fn full_repo(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The familiar name: `nginx` for official Docker Hub images,
    /// `user/app` for other Hub images, `ghcr.io/org/app` elsewhere.
    pub fn familiar_repo(&self) -> String {
        if self.registry == "docker.io" {
            self.repository
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            self.full_repo()
        }
    }

    /// The normalised reference, e.g. `docker.io/library/nginx:latest` or
    /// `docker.io/library/nginx:1.27@sha256:...`.
    pub fn normalized(&self) -> String {
        self.to_string()
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

/// The API host of a registry name.
pub fn registry_api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "da8b190665956ea07890a0273e2a9c96bfe291662f08e2860e868eef69c34620";

    #[test]
    fn normalises_docker_hub_names() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.normalized(), "docker.io/library/nginx:latest");
        assert_eq!(r.familiar_repo(), "nginx");
        assert_eq!(r.full_repo(), "docker.io/library/nginx");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = ImageRef::parse("bitnami/redis:7").unwrap();
        assert_eq!(r.normalized(), "docker.io/bitnami/redis:7");
        assert_eq!(r.familiar_repo(), "bitnami/redis");
        let r = ImageRef::parse("index.docker.io/library/alpine:3").unwrap();
        assert_eq!(r.normalized(), "docker.io/library/alpine:3");
    }

    #[test]
    fn ports_localhost_and_digests() {
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "app")
        );
        let r = ImageRef::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.familiar_repo(), "127.0.0.1:5000/team/app");
        assert_eq!(r.manifest_reference(), "v1");
        let r = ImageRef::parse(&format!("ghcr.io/o/a:v2@sha256:{HEX}")).unwrap();
        assert_eq!(r.manifest_reference(), format!("sha256:{HEX}"));
        assert_eq!(r.normalized(), format!("ghcr.io/o/a:v2@sha256:{HEX}"));
        let r = ImageRef::parse(&format!("alpine@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(
            r.normalized(),
            format!("docker.io/library/alpine@sha256:{HEX}")
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "UPPER/case",
            "a b",
            "x@sha256:1234",
            "nginx@md5:00",
            "http://x/y",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
