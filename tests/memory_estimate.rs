//! The cache weights (`attestgate::memory`) against what the allocator
//! really hands out, on the corpus statements and a generated 1 300-package
//! SBOM: caches are bounded by these estimates, so an estimate far below
//! the truth would let memory grow past the configured sizes.
//!
//! Alone in its test binary: the counting allocator sees every thread.

mod support;

use std::alloc::System;

use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes requested and allocations made by `f`, net of what it freed.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let region = Region::new(GLOBAL);
    let out = f();
    let s = region.change();
    // A reallocation changes a block's size, not the number of blocks.
    let bytes = s.bytes_allocated as isize + s.bytes_reallocated - s.bytes_deallocated as isize;
    let allocations = s.allocations.saturating_sub(s.deallocations);
    (out, usize::try_from(bytes).unwrap_or(0), allocations)
}

fn documents() -> Vec<(String, Vec<u8>)> {
    let mut docs = Vec::new();
    let packages: Vec<Value> = (0..1300)
        .map(|k| json!({"name": format!("pkg-{k}"), "SPDXID": format!("SPDXRef-{k}"), "versionInfo": format!("1.0.{k}")}))
        .collect();
    let sbom = json!({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "app", "digest": {"sha256": "a".repeat(64)}}],
        "predicate": {"spdxVersion": "SPDX-2.3", "packages": packages}});
    docs.push(("generated SBOM".into(), sbom.to_string().into_bytes()));
    if let Some(corpus) = support::corpus() {
        let blobs = corpus.join("attest/test/testdata/unsigned-index/blobs/sha256");
        for e in std::fs::read_dir(&blobs).unwrap().flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            if bytes.windows(7).any(|w| w == b"\"_type\"") {
                docs.push((e.path().display().to_string(), bytes));
            }
        }
    }
    docs
}

#[test]
fn cache_weights_follow_real_allocations() {
    for (name, bytes) in documents() {
        let (json, requested, allocations) =
            measure(|| serde_json::from_slice::<Value>(&bytes).unwrap());
        check(
            &name,
            "parsed JSON",
            attestgate::memory::json(&json),
            requested,
            allocations,
        );
        let (value, requested, allocations) =
            measure(|| attestgate::policy::input::to_value(&json));
        check(
            &name,
            "policy value",
            attestgate::memory::rego(&value),
            requested,
            allocations,
        );
        // Far more than the text: weighing by length would undercount.
        assert!(attestgate::memory::json(&json) > 4 * bytes.len(), "{name}");
    }
}

/// glibc adds an 8-byte header to every allocation and rounds to 16 bytes
/// (32 at least): the real footprint lies between what was requested and
/// that plus 24 bytes per allocation.
fn check(name: &str, what: &str, estimate: usize, requested: usize, allocations: usize) {
    let (low, high) = (requested, requested + 24 * allocations);
    assert!(
        estimate >= low && estimate <= high,
        "{name}: {what} estimated at {estimate} bytes; the allocator handed out {requested} \
         in {allocations} allocations (expected {low}..={high})"
    );
}
