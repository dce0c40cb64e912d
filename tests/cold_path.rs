//! Cold-path accounting: a never-seen image admitted through a proxy that
//! adds 100 ms to every registry round trip (50 ms each way). For each
//! storage style the proxy's timeline gives how many round trips had to
//! happen one after another. Counts are asserted; the latencies are printed
//! (`cargo test --test cold_path -- --nocapture`) for docs/performance.md.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::fixtures::*;
use support::server::*;
use support::{PushAuth, Pusher, registry, unique_repo};

const ROUND_TRIP_MS: u64 = 100;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    InIndex,
    ReferrersApi,
    ReferrersTag,
    CosignTag,
}

/// Pushes a two-platform image attested in `style`; returns `repo:v1`.
async fn push(p: &Pusher, style: Style) {
    // Content unique to this push: nothing is in any cache by digest.
    let amd64 = push_image(p, "linux", "amd64", None, &p.repo).await;
    let arm64 = push_image(p, "linux", "arm64", None, &p.repo).await;
    let mut entries = vec![platform_entry(&amd64), platform_entry(&arm64)];
    match style {
        Style::InIndex => {
            for img in [&amd64, &arm64] {
                let (_, m) = push_attestation_manifest(
                    p,
                    img,
                    &provenance_and_sbom(&img.digest),
                    AttestationForm::Legacy,
                )
                .await;
                entries.push(attestation_entry(&m, img, false));
            }
            push_index(p, "v1", entries).await;
        }
        Style::ReferrersApi | Style::ReferrersTag => {
            for img in [&amd64, &arm64] {
                let (_, m) = push_attestation_manifest(
                    p,
                    img,
                    &provenance_and_sbom(&img.digest),
                    AttestationForm::Artifact,
                )
                .await;
                if style == Style::ReferrersTag {
                    push_fallback_tag(p, &img.digest, &[(m, Some(ATTESTATION_ARTIFACT))]).await;
                }
            }
            push_index(p, "v1", entries).await;
        }
        Style::CosignTag => {
            let (index, _) = push_index(p, "v1", entries).await;
            let mut all = provenance_and_sbom(&amd64.digest);
            all.extend(provenance_and_sbom(&arm64.digest));
            push_cosign_att(p, &index, &all, true).await;
        }
    }
}

struct Row {
    name: &'static str,
    depth: usize,
    tokens: u64,
    requests: usize,
    latency: Duration,
}

async fn admit_cold(
    s: &Server,
    proxy: &support::proxy::Proxy,
    image: &str,
    uid: &str,
) -> (Value, usize, usize, Duration) {
    proxy.reset();
    let started = Instant::now();
    let r = s.review(&pod_review(uid, image)).await;
    let latency = started.elapsed();
    (r, proxy.sequential_depth(), proxy.timeline().len(), latency)
}

fn token_requests(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("attestgate_registry_token_requests_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn cold_admissions_take_few_sequential_round_trips() {
    let (Some(dist), Some(ferro)) = (
        registry("ATTESTGATE_TEST_DISTRIBUTION"),
        registry("ATTESTGATE_TEST_FERRO"),
    ) else {
        return;
    };
    let mut rows = Vec::new();
    for (name, reg, style) in [
        (
            "in-index attestation manifests (distribution)",
            &dist,
            Style::InIndex,
        ),
        (
            "referrers API (ferro-oci-server)",
            &ferro,
            Style::ReferrersApi,
        ),
        (
            "referrers tag fallback (distribution)",
            &dist,
            Style::ReferrersTag,
        ),
        (
            "cosign .att tag on the index (distribution)",
            &dist,
            Style::CosignTag,
        ),
    ] {
        let repo = unique_repo("cold/app");
        push(&Pusher::new(reg, &repo), style).await;
        let proxy = support::proxy::start(reg);
        proxy
            .delay_ms
            .store(ROUND_TRIP_MS, std::sync::atomic::Ordering::Relaxed);
        // A fresh server: nothing cached, nothing known about the registry.
        let s = server(config(&[&proxy.addr])).await;
        let image = format!("{}/{repo}:v1", proxy.addr);
        let (r, depth, requests, latency) = admit_cold(&s, &proxy, &image, "u-cold").await;
        if std::env::var("COLD_TIMELINE").is_ok() {
            let t0 = proxy.timeline().iter().map(|x| x.start).min().unwrap();
            let mut tl = proxy.timeline();
            tl.sort_by_key(|x| x.start);
            for x in tl {
                eprintln!(
                    "{:>5} {:>5} {}",
                    (x.start - t0).as_millis(),
                    (x.end - t0).as_millis(),
                    x.what
                );
            }
        }
        assert_eq!(r["allowed"], true, "{name}: {r}");
        assert!(
            !r.to_string().contains("require-provenance"),
            "{name}: provenance found"
        );
        rows.push(Row {
            name,
            depth,
            tokens: 0,
            requests,
            latency,
        });
        // Warm: the same image again costs no registry round trip at all.
        let (_, depth, requests, _) = admit_cold(&s, &proxy, &image, "u-warm").await;
        assert_eq!(
            (depth, requests),
            (0, 0),
            "{name}: a warm admission went to the registry"
        );
    }

    // Bearer tokens: the first image of a registry learns its auth realm (a
    // 401), later repositories fetch their token first.
    if let Some(tok) = registry("ATTESTGATE_TEST_DISTRIBUTION_TOKEN") {
        assert!(support::token::ensure_running());
        let proxy = support::proxy::start(&tok);
        let s = server(config(&[&proxy.addr])).await;
        proxy
            .delay_ms
            .store(ROUND_TRIP_MS, std::sync::atomic::Ordering::Relaxed);
        for name in [
            "in-index, bearer token, first image of the registry",
            "in-index, bearer token, new repository",
        ] {
            let repo = unique_repo("public/cold");
            let token = support::token::mint(&repo, &["pull", "push"]);
            push(
                &Pusher::with(
                    format!("http://{tok}"),
                    &repo,
                    PushAuth::Bearer(token),
                    None,
                ),
                Style::InIndex,
            )
            .await;
            let before = token_requests(&s.metrics_text().await);
            let (r, depth, requests, latency) =
                admit_cold(&s, &proxy, &format!("{}/{repo}:v1", proxy.addr), "u-tok").await;
            assert_eq!(r["allowed"], true, "{name}: {r}");
            let tokens = token_requests(&s.metrics_text().await) - before;
            // Token requests go to the token service, not through the proxy;
            // each comes before the repository's first authorised request.
            rows.push(Row {
                name,
                depth: depth + tokens as usize,
                tokens,
                requests,
                latency,
            });
        }
    }

    eprintln!(
        "\ncold admission of a two-platform image, {ROUND_TRIP_MS} ms per registry round trip:"
    );
    eprintln!(
        "{:<55} {:>10} {:>8} {:>9} {:>10}",
        "storage style", "sequential", "tokens", "requests", "latency"
    );
    for r in &rows {
        eprintln!(
            "{:<55} {:>10} {:>8} {:>9} {:>8} ms",
            r.name,
            r.depth,
            r.tokens,
            r.requests,
            r.latency.as_millis()
        );
    }
    let in_index = &rows[0];
    assert!(
        in_index.depth <= 4,
        "in-index: {} sequential round trips",
        in_index.depth
    );
    for r in &rows {
        assert!(
            r.depth <= 5,
            "{}: {} sequential round trips",
            r.name,
            r.depth
        );
    }
    if let Some(known) = rows.iter().find(|r| r.name.ends_with("new repository")) {
        assert!(
            known.depth <= 4,
            "token included, on a known registry: {}",
            known.depth
        );
    }
}
