//! Opening the image source named on the command line: a registry (with its
//! TLS, plain-HTTP and credential settings) or an OCI layout.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use super::SourceArgs;
use crate::registry::{
    Backend, CacheConfig, ClientOptions, ImageRef, Keyring, Layout, Limits, RegistryClient, Store,
};

pub struct ImageSource {
    pub store: Store,
    pub image: ImageRef,
    pub keyring: Keyring,
}

pub fn read_keyring(path: Option<&Path>) -> anyhow::Result<Keyring> {
    let mut keyring = Keyring::default();
    if let Some(path) = path {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        keyring
            .add_docker_config(&path.display().to_string(), &bytes)
            .map_err(anyhow::Error::new)?;
        for helper in &keyring.ignored_helpers {
            eprintln!(
                "attestgate: warning: {}: credential helpers are never run; ignoring {helper}",
                path.display()
            );
        }
    }
    Ok(keyring)
}

pub fn read_ca_files(
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Vec<rustls_pki_types::CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject as _;
    let mut out = Vec::new();
    for p in paths {
        let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(p)
            .with_context(|| format!("reading {}", p.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{}: not PEM certificates", p.display()))?;
        anyhow::ensure!(!certs.is_empty(), "{}: no certificate found", p.display());
        out.extend(certs);
    }
    Ok(out)
}

/// A registry client as the command-line flags describe it.
pub fn registry_client(args: &SourceArgs, limits: &Limits) -> anyhow::Result<RegistryClient> {
    let options = ClientOptions {
        insecure_registries: args.insecure_registries.iter().cloned().collect(),
        extra_roots: read_ca_files(&args.registry_cas)?,
        address_policy: Default::default(),
        limits: limits.clone(),
    };
    Ok(RegistryClient::new(options)?)
}

pub fn open(args: &SourceArgs, image: Option<&str>) -> anyhow::Result<ImageSource> {
    let limits = Limits::default();
    let keyring = read_keyring(args.docker_config.as_deref())?;
    let cache = CacheConfig::default();
    match &args.layout {
        Some(dir) => {
            let layout = Layout::open(dir, limits.manifest_bytes)?;
            let image = layout.image_ref(image)?;
            Ok(ImageSource {
                store: Store::new(Backend::Layout(Arc::new(layout)), limits, &cache),
                image,
                keyring,
            })
        }
        None => {
            let image = image.context("an IMAGE is required without --layout")?;
            let image = ImageRef::parse(image)?;
            let client = registry_client(args, &limits)?;
            Ok(ImageSource {
                store: Store::new(Backend::Remote(Arc::new(client)), limits, &cache),
                image,
                keyring,
            })
        }
    }
}
