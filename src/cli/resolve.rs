//! `attestgate resolve`.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::SourceArgs;
use super::source::{self, ImageSource};
use crate::attestation::image::platform_view;
use crate::attestation::{PlatformSelection, Resolver, ResolverOptions};
use crate::platform;

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The image reference (optional with --layout when index.json has one entry).
    pub image: Option<String>,
    #[command(flatten)]
    pub source: SourceArgs,
}

pub async fn run(args: ResolveArgs) -> anyhow::Result<i32> {
    let ImageSource {
        store,
        image,
        keyring,
    } = source::open(&args.source, args.image.as_deref())
        .context("cannot open the image source")?;
    let resolver = Resolver::new(Arc::new(store), ResolverOptions::default());
    let selection = if args.source.platforms.is_empty() {
        PlatformSelection::All
    } else {
        PlatformSelection::Nodes(args.source.platforms.clone())
    };
    let resolved = tokio::time::timeout(
        args.source.timeout,
        resolver.resolve(&image, &keyring, &selection),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "cannot resolve {image}: not done within {:?} (--timeout)",
            args.source.timeout
        )
    })?
    .with_context(|| format!("cannot resolve {image}"))?;
    for x in &resolved.excluded {
        eprintln!(
            "attestgate: warning: {} statement {} found via {} is not about {image} (subjects {}); excluded",
            x.predicate_type, x.digest, x.source, x.subjects
        );
    }
    if resolved.platforms.is_empty() {
        if resolved.offered.is_empty() {
            anyhow::bail!(
                "{image} is an index with no runnable platform (only artifacts or attestations)"
            );
        }
        anyhow::bail!(
            "{image} offers {}, none of the requested {}",
            platform::list(&resolved.offered),
            platform::list(&args.source.platforms)
        );
    }
    let out: Vec<serde_json::Value> = resolved
        .platforms
        .iter()
        .map(|p| platform_view(&resolved, p))
        .collect();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}
