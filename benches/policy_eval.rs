//! One evaluation of the shipped policy set on the real corpus input (a
//! BuildKit image with an SPDX SBOM and SLSA provenance), with statement
//! conversion cached (the webhook's steady state) and uncached.
//!
//! `cargo bench --bench policy_eval`; the corpus is read from
//! `ATTESTGATE_CORPUS` or `../shared/corpus`.

use std::path::PathBuf;
use std::sync::Arc;

use attestgate::attestation::{PlatformSelection, ResolvedImage, Resolver};
use attestgate::policy::{
    ContainerInfo, ContainerKind, InputBuilder, PolicyOptions, PolicySet, RequestInfo, Sources,
};
use attestgate::registry::{Backend, CacheConfig, Keyring, Layout, Limits, Store};
use criterion::{Criterion, criterion_group, criterion_main};

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("ATTESTGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    dir.join("PROVENANCE.md").exists().then_some(dir)
}

fn resolved(corpus: &std::path::Path) -> ResolvedImage {
    let layout = Layout::open(&corpus.join("attest/test/testdata/unsigned-index"), 4 << 20)
        .expect("corpus layout");
    let image = layout.image_ref(None).expect("image");
    let store = Store::new(
        Backend::Layout(Arc::new(layout)),
        Limits::default(),
        &CacheConfig::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(Resolver::new(Arc::new(store), Default::default()).resolve(
        &image,
        &Keyring::default(),
        &PlatformSelection::All,
    ))
    .expect("resolve")
}

fn bench(c: &mut Criterion) {
    let Some(corpus) = corpus() else {
        eprintln!("SKIPPED: the corpus is absent; set ATTESTGATE_CORPUS");
        return;
    };
    let policies = PolicySet::compile(&Sources::embedded(), &PolicyOptions::default())
        .expect("shipped policies");
    let resolved = resolved(&corpus);
    let platform = &resolved.platforms[0];
    assert_eq!(platform.attestations.len(), 2, "SBOM + provenance");
    let request = serde_json::json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE"});
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "test-image:test"}]}});
    let info = RequestInfo::new(&request, Some(&pod));
    let container = ContainerInfo {
        name: "app".into(),
        kind: ContainerKind::Container,
        image: "test-image:test".into(),
    };

    let warm = InputBuilder::new(64 << 20);
    let _ = warm.build(&info, Some(&container), platform);
    let mut group = c.benchmark_group("shipped-policies");
    group.bench_function("evaluate, statements cached", |b| {
        b.iter(|| {
            let input = warm.build(&info, Some(&container), platform);
            policies.evaluate(input).expect("evaluate")
        })
    });
    group.bench_function("evaluate, statements converted", |b| {
        b.iter(|| {
            let cold = InputBuilder::new(64 << 20);
            let input = cold.build(&info, Some(&container), platform);
            policies.evaluate(input).expect("evaluate")
        })
    });
    let input = warm.build(&info, Some(&container), platform);
    group.bench_function("policy evaluation only", |b| {
        b.iter(|| policies.evaluate(input.clone()).expect("evaluate"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
