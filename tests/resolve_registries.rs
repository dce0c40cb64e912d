//! The resolver against real registries: distribution 2.8 (no referrers API,
//! plain HTTP; and HTTPS + htpasswd; and bearer tokens) and ferro-oci-server
//! (referrers API), the corpus pushed byte-exact, fixtures built in code, and
//! hostile answers that must end in clear errors.

mod support;

use std::sync::Arc;
use std::time::Duration;

use attestgate::attestation::{PlatformSelection, ResolveError, ResolvedImage, Resolver};
use attestgate::platform::Platform;
use attestgate::registry::{
    Backend, CacheConfig, ClientOptions, ImageRef, Keyring, Layout, Limits, RegistryClient,
    RegistryError, Store,
};
use serde_json::json;
use support::fixtures::*;
use support::{PushAuth, Pusher, corpus, registry, unique_repo};

const BOTH: [&str; 2] = ["ATTESTGATE_TEST_DISTRIBUTION", "ATTESTGATE_TEST_FERRO"];

type Row = (String, String, String);
type Summary = Vec<(String, Vec<Row>)>;

/// Per platform: (platform, sorted (predicateType, source, subject)).
fn summary(r: &ResolvedImage) -> Summary {
    r.platforms
        .iter()
        .map(|p| {
            let mut rows: Vec<Row> = p
                .attestations
                .iter()
                .map(|a| {
                    let j = a.to_json();
                    (
                        a.predicate_type().to_owned(),
                        j["source"].as_str().unwrap().to_owned(),
                        j["subject"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            rows.sort();
            (p.platform.to_string(), rows)
        })
        .collect()
}

fn row(pt: &str, source: &str, subject: &str) -> Row {
    (pt.into(), source.into(), subject.into())
}

async fn resolve(registry: &str, image: &str) -> Result<ResolvedImage, ResolveError> {
    resolve_with(registry, image, Limits::default()).await
}

async fn resolve_with(
    registry: &str,
    image: &str,
    limits: Limits,
) -> Result<ResolvedImage, ResolveError> {
    let resolver = support::http_resolver(registry, limits);
    resolver
        .resolve(
            &ImageRef::parse(image).unwrap(),
            &Keyring::default(),
            &PlatformSelection::All,
        )
        .await
}

async fn resolve_layout(dir: &std::path::Path) -> ResolvedImage {
    resolve_layout_tag(dir, None).await
}

fn attest_dir(corpus: &std::path::Path, name: &str) -> std::path::PathBuf {
    corpus.join("attest/test/testdata").join(name)
}

#[tokio::test]
async fn corpus_buildkit_layouts_resolve_alike_over_http_and_from_disk() {
    let Some(corpus) = corpus() else { return };
    let both = vec![
        row(SLSA_V02, "index", "platform"),
        row(SPDX, "index", "platform"),
    ];
    let sbom = vec![row(SPDX, "index", "platform")];
    let cases: Vec<(&str, Summary)> = vec![
        (
            "unsigned-index",
            vec![
                ("linux/amd64".into(), both.clone()),
                ("linux/arm64".into(), both.clone()),
            ],
        ),
        (
            "no-provenance-index",
            vec![
                ("linux/amd64".into(), sbom.clone()),
                ("linux/arm64".into(), sbom.clone()),
            ],
        ),
        ("unsigned-image", vec![("linux/amd64".into(), vec![])]),
    ];
    for (name, expected) in &cases {
        let dir = attest_dir(&corpus, name);
        let from_disk = resolve_layout(&dir).await;
        assert_eq!(&summary(&from_disk), expected, "layout {name}");
        for var in BOTH {
            let Some(reg) = registry(var) else { continue };
            let repo = unique_repo(&format!("corpus/{name}"));
            Pusher::new(&reg, &repo).layout(&dir).await;
            let over_http = resolve(&reg, &format!("{reg}/{repo}:test")).await.unwrap();
            assert_eq!(&summary(&over_http), expected, "{name} via {var}");
            // Same digests, same statements, whatever the transport.
            assert_eq!(over_http.root, from_disk.root, "{name} via {var}");
            for (a, b) in over_http.platforms.iter().zip(&from_disk.platforms) {
                assert_eq!(a.manifest, b.manifest);
                let statements = |p: &attestgate::attestation::PlatformImage| {
                    p.attestations
                        .iter()
                        .map(|a| a.to_json())
                        .collect::<Vec<_>>()
                };
                assert_eq!(statements(a), statements(b), "{name} via {var}");
                // Every statement's subject is this platform's manifest.
                for att in &a.attestations {
                    assert!(att.blob.statement.is_about(&a.manifest));
                }
            }
        }
    }
}

#[tokio::test]
async fn corpus_provenance_summary_matches_buildx_field_names() {
    let Some(corpus) = corpus() else { return };
    let r = resolve_layout(&attest_dir(&corpus, "unsigned-index")).await;
    let img = attestgate::attestation::image::image_input(&r, &r.platforms[0]);
    assert_eq!(img["ref"], "docker.io/library/test-image:test");
    assert_eq!(img["repo"], "test-image");
    assert_eq!(img["fullRepo"], "docker.io/library/test-image");
    assert_eq!(img["checksum"], r.root.as_str());
    assert_eq!(img["digest"], r.platforms[0].manifest.as_str());
    assert_eq!(img["createdTime"], "2024-03-08T16:42:30Z");
    assert_eq!(img["workingDir"], "/");
    assert_eq!(img["hasProvenance"], true);
    assert_eq!(
        img["provenance"]["buildType"],
        "https://mobyproject.org/buildkit@v1"
    );
    assert_eq!(
        img["provenance"]["invocationID"],
        "jckf4dzdrb4i99ygsshezjtsq"
    );
    assert_eq!(img["provenance"]["startedOn"], "2024-04-29T10:23:45Z");
    assert_eq!(img["provenance"]["frontend"], "dockerfile.v0");
    assert_eq!(img["provenance"]["configSource"]["path"], "Dockerfile");
    assert!(
        img.get("isCanonical").is_none(),
        "false fields are absent, as in buildx"
    );
    let single = resolve_layout(&attest_dir(&corpus, "unsigned-image")).await;
    let img = attestgate::attestation::image::image_input(&single, &single.platforms[0]);
    assert!(img.get("hasProvenance").is_none() && img.get("index").is_none());
}

#[tokio::test]
async fn regclient_testrepo_with_a_subject_loop_resolves_without_hanging() {
    let Some(corpus) = corpus() else { return };
    let dir = corpus.join("regclient/testdata/testrepo");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let tags: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|t| !t.starts_with("sha256-"))
        .collect();
    assert!(tags.contains(&"loop".to_owned()) && tags.contains(&"child".to_owned()));
    for var in BOTH {
        let Some(reg) = registry(var) else { continue };
        let repo = unique_repo("corpus/testrepo");
        Pusher::new(&reg, &repo).layout(&dir).await;
        for tag in &tags {
            let r = tokio::time::timeout(
                Duration::from_secs(20),
                resolve(&reg, &format!("{reg}/{repo}:{tag}")),
            )
            .await
            .unwrap_or_else(|_| panic!("{tag} via {var} hung"));
            match (tag.as_str(), r) {
                ("v1", Ok(r)) => assert_eq!(summary(&r).len(), 2),
                ("v3" | "b1", Ok(r)) => assert_eq!(summary(&r).len(), 4),
                // Artifacts that are not images say so.
                ("child" | "a1", Err(e)) => {
                    assert!(e.to_string().contains("names no platform"), "{e}")
                }
                (_, Ok(_)) => {}
                (_, Err(e)) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

/// An index with two platforms, both attestation-manifest forms in it, and
/// the pushed pieces for further decoration.
struct Built {
    index: String,
}

async fn build_image(p: &Pusher, tag: &str, artifact_form_for_arm: bool) -> Built {
    let amd64 = push_image(p, "linux", "amd64", None, tag).await;
    let arm64 = push_image(p, "linux", "arm64", Some("v8"), tag).await;
    let (_, amd_att) = push_attestation_manifest(
        p,
        &amd64,
        &[v01(
            SLSA_V02,
            &[&amd64.digest],
            slsa_v02_predicate(
                "https://github.com/example/builder",
                "https://github.com/example/app.git",
            ),
        )],
        AttestationForm::Legacy,
    )
    .await;
    let form = if artifact_form_for_arm {
        AttestationForm::Artifact
    } else {
        AttestationForm::Legacy
    };
    let (_, arm_att) = push_attestation_manifest(
        p,
        &arm64,
        &[v01(
            SLSA_V02,
            &[&arm64.digest],
            slsa_v02_predicate(
                "https://github.com/example/builder",
                "https://github.com/example/app.git",
            ),
        )],
        form,
    )
    .await;
    let (index, _) = push_index(
        p,
        tag,
        vec![
            platform_entry(&amd64),
            platform_entry(&arm64),
            attestation_entry(&amd_att, &amd64, false),
            attestation_entry(&arm_att, &arm64, artifact_form_for_arm),
        ],
    )
    .await;
    Built { index }
}

#[tokio::test]
async fn oci_artifact_attestation_manifest_in_the_index() {
    for var in BOTH {
        let Some(reg) = registry(var) else { continue };
        let repo = unique_repo("fixtures/artifact-in-index");
        let p = Pusher::new(&reg, &repo);
        build_image(&p, "v1", true).await;
        let r = resolve(&reg, &format!("{reg}/{repo}:v1")).await.unwrap();
        assert_eq!(
            summary(&r),
            vec![
                (
                    "linux/amd64".into(),
                    vec![row(SLSA_V02, "index", "platform")]
                ),
                (
                    "linux/arm64".into(),
                    vec![row(SLSA_V02, "index", "platform")]
                ),
            ],
            "{var}"
        );
    }
}

#[tokio::test]
async fn referrers_only_attestations_via_api_and_fallback_tag() {
    for (var, source) in [
        ("ATTESTGATE_TEST_FERRO", "referrers"),
        ("ATTESTGATE_TEST_DISTRIBUTION", "referrers-tag"),
    ] {
        let Some(reg) = registry(var) else { continue };
        let repo = unique_repo("fixtures/referrers-only");
        let p = Pusher::new(&reg, &repo);
        let amd64 = push_image(&p, "linux", "amd64", None, "ref").await;
        let arm64 = push_image(&p, "linux", "arm64", None, "ref").await;
        push_index(
            &p,
            "v1",
            vec![platform_entry(&amd64), platform_entry(&arm64)],
        )
        .await;
        // BuildKit v0.32 pushes the attestation manifest only as a referrer of
        // the platform manifest; a client on a registry without the API also
        // writes the fallback tag (whose annotations may be stripped).
        let (_, att) = push_attestation_manifest(
            &p,
            &arm64,
            &[v1(
                SLSA_V1,
                &[&arm64.digest],
                slsa_v1_predicate(
                    "https://builder.example/v1",
                    "https://github.com/example/app.git",
                ),
            )],
            AttestationForm::Artifact,
        )
        .await;
        if var == "ATTESTGATE_TEST_DISTRIBUTION" {
            push_fallback_tag(&p, &arm64.digest, &[(att.clone(), None)]).await;
        }
        let r = resolve(&reg, &format!("{reg}/{repo}:v1")).await.unwrap();
        assert_eq!(
            summary(&r),
            vec![
                ("linux/amd64".into(), vec![]),
                ("linux/arm64".into(), vec![row(SLSA_V1, source, "platform")])
            ],
            "{var}"
        );
        // Statement v1 with SLSA v1 provenance feeds the buildx summary.
        let img = attestgate::attestation::image::image_input(&r, &r.platforms[1]);
        assert_eq!(
            img["provenance"]["builderID"], "https://builder.example/v1",
            "{var}"
        );
        assert_eq!(img["provenance"]["buildArgs"], json!({"VERSION": "1.2.3"}));
        assert_eq!(img["provenance"]["reproducible"], true);
        assert_eq!(
            img["variant"],
            serde_json::Value::Null,
            "arm64/v8 normalises to arm64"
        );
    }
}

#[tokio::test]
async fn cosign_att_on_the_index_without_predicate_annotation() {
    for var in BOTH {
        let Some(reg) = registry(var) else { continue };
        let repo = unique_repo("fixtures/cosign");
        let p = Pusher::new(&reg, &repo);
        let built = build_image(&p, "v1", false).await;
        // Old cosign: DSSE layers, no predicateType annotation; signed the index.
        let vuln = v01(
            VULNS,
            &[&built.index],
            json!({"scanner": {"uri": "pkg:github/aquasecurity/trivy", "result": []}}),
        );
        push_cosign_att(&p, &built.index, &[vuln], false).await;
        let r = resolve(&reg, &format!("{reg}/{repo}:v1")).await.unwrap();
        for (platform, rows) in summary(&r) {
            assert_eq!(
                rows,
                vec![
                    row(VULNS, "cosign-tag", "index"),
                    row(SLSA_V02, "index", "platform")
                ],
                "{platform} via {var}"
            );
        }
        let att = r.platforms[0]
            .attestations
            .iter()
            .find(|a| a.predicate_type() == VULNS)
            .unwrap()
            .to_json();
        assert_eq!(att["mediaType"], DSSE);
        assert_eq!(
            att["envelope"]["payloadType"],
            "application/vnd.in-toto+json"
        );
        assert_eq!(att["envelope"]["signatures"][0]["keyid"], "test-key");
        assert_eq!(att["verified"], false);
    }
}

#[tokio::test]
async fn statements_about_other_images_are_excluded_and_reported() {
    for var in BOTH {
        let Some(reg) = registry(var) else { continue };
        let repo = unique_repo("fixtures/foreign");
        let p = Pusher::new(&reg, &repo);
        let amd64 = push_image(&p, "linux", "amd64", None, "foreign").await;
        let foreign = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let (_, att) = push_attestation_manifest(
            &p,
            &amd64,
            &[
                v01(
                    SLSA_V02,
                    &[foreign],
                    slsa_v02_predicate("https://evil.example/builder", "https://evil.example/src"),
                ),
                v01(
                    SPDX,
                    &[&amd64.digest],
                    json!({"spdxVersion": "SPDX-2.3", "packages": []}),
                ),
            ],
            AttestationForm::Legacy,
        )
        .await;
        push_index(
            &p,
            "v1",
            vec![
                platform_entry(&amd64),
                attestation_entry(&att, &amd64, false),
            ],
        )
        .await;
        let r = resolve(&reg, &format!("{reg}/{repo}:v1")).await.unwrap();
        assert_eq!(
            summary(&r),
            vec![("linux/amd64".into(), vec![row(SPDX, "index", "platform")])],
            "{var}"
        );
        assert_eq!(r.excluded.len(), 1, "{var}");
        assert_eq!(r.excluded[0].predicate_type, SLSA_V02);
        assert!(r.excluded[0].subjects.contains("sha256:111111111111"));
        let img = attestgate::attestation::image::image_input(&r, &r.platforms[0]);
        assert!(
            img.get("provenance").is_none(),
            "grafted provenance must not reach the summary"
        );
    }
}

#[tokio::test]
async fn platform_selection_picks_what_each_node_would_pull() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let repo = unique_repo("fixtures/select");
    let p = Pusher::new(&reg, &repo);
    build_image(&p, "v1", false).await;
    let resolver = support::http_resolver(&reg, Limits::default());
    let image = ImageRef::parse(&format!("{reg}/{repo}:v1")).unwrap();
    let nodes = |ps: &[&str]| {
        PlatformSelection::Nodes(ps.iter().map(|s| s.parse::<Platform>().unwrap()).collect())
    };
    let r = resolver
        .resolve(&image, &Keyring::default(), &nodes(&["linux/arm64/v8"]))
        .await
        .unwrap();
    assert_eq!(
        summary(&r)
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["linux/arm64"]
    );
    assert_eq!(r.offered.len(), 2);
    let r = resolver
        .resolve(&image, &Keyring::default(), &nodes(&["windows/amd64"]))
        .await
        .unwrap();
    assert!(r.platforms.is_empty());
}

#[tokio::test]
async fn a_blob_whose_bytes_do_not_match_its_digest_is_refused() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let Some(root) = registry("ATTESTGATE_TEST_DISTRIBUTION_ROOT") else {
        return;
    };
    let repo = unique_repo("hostile/tampered");
    let p = Pusher::new(&reg, &repo);
    let amd64 = push_image(&p, "linux", "amd64", None, "tampered").await;
    let statement = v01(
        SLSA_V02,
        &[&amd64.digest],
        slsa_v02_predicate("https://good.example", "https://good.example/src"),
    );
    let (_, att) = push_attestation_manifest(
        &p,
        &amd64,
        std::slice::from_ref(&statement),
        AttestationForm::Legacy,
    )
    .await;
    push_index(
        &p,
        "v1",
        vec![
            platform_entry(&amd64),
            attestation_entry(&att, &amd64, false),
        ],
    )
    .await;
    // Rewrite the stored statement: the registry now serves other bytes.
    let blob = support::sha256(&bytes(&statement));
    let hex = &blob[7..];
    let path = std::path::Path::new(&root).join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let tampered = bytes(&statement)
        .iter()
        .map(|b| if *b == b'g' { b'e' } else { *b })
        .collect::<Vec<_>>();
    std::fs::write(&path, tampered).unwrap();
    let err = resolve(&reg, &format!("{reg}/{repo}:v1"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&reg) && err.contains(&blob) && err.contains("does not match its digest"),
        "{err}"
    );
}

#[tokio::test]
async fn a_manifest_over_the_size_cap_is_refused_unread() {
    for var in BOTH {
        let Some(reg) = registry(var) else { continue };
        let repo = unique_repo("hostile/big");
        let p = Pusher::new(&reg, &repo);
        let amd64 = push_image(&p, "linux", "amd64", None, "big").await;
        let mut entry = platform_entry(&amd64);
        entry["annotations"] = json!({"padding": "x".repeat(200_000)});
        let (digest, _) = push_index(&p, "v1", vec![entry]).await;
        let limits = Limits {
            manifest_bytes: 64 << 10,
            ..Limits::default()
        };
        let err = resolve_with(&reg, &format!("{reg}/{repo}:v1"), limits)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&reg)
                && err.contains("v1")
                && err.contains("larger than the 65536-byte limit"),
            "{var}: {err}"
        );
        let limits = Limits {
            manifest_bytes: 64 << 10,
            ..Limits::default()
        };
        let err = resolve_with(&reg, &format!("{reg}/{repo}@{digest}"), limits)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&digest), "{var}: {err}");
    }
}

/// The hostile stand-in serves a valid one-platform image, plus `extra`.
fn hostile_image(
    extra: impl Fn(&str) -> Option<support::hostile::Reply> + Send + Sync + 'static,
) -> (support::hostile::Hostile, String) {
    use support::hostile::{Reply, start};
    let config = bytes(&json!({"architecture": "amd64", "os": "linux", "config": {}}));
    let manifest = bytes(
        &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc("application/vnd.oci.image.config.v1+json", &config), "layers": []}),
    );
    let md = support::sha256(&manifest);
    let cd = support::sha256(&config);
    let md2 = md.clone();
    let server = start(move |path| {
        if let Some(r) = extra(path) {
            return r;
        }
        if path.ends_with("/manifests/v1") || path.ends_with(&format!("/manifests/{md}")) {
            return Reply {
                status: 200,
                headers: vec![("Content-Type".into(), OCI_MANIFEST.into())],
                body: manifest.clone(),
                stall_after: None,
            };
        }
        if path.ends_with(&format!("/blobs/{cd}")) {
            return Reply {
                status: 200,
                headers: vec![],
                body: config.clone(),
                stall_after: None,
            };
        }
        Reply::json(404, &json!({"errors": [{"code": "MANIFEST_UNKNOWN"}]}))
    });
    (server, md2)
}

#[tokio::test]
async fn a_referrers_list_that_paginates_forever_is_cut_off() {
    use support::hostile::Reply;
    let (server, _) = hostile_image(|path| {
        let (base, query) = path.split_once('?').unwrap_or((path, ""));
        base.contains("/referrers/").then(|| {
            let page: u64 = query
                .strip_prefix("page=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Reply::json(
                200,
                &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
            )
            .header("Content-Type", OCI_INDEX)
            .header("Link", &format!("<{base}?page={}>; rel=\"next\"", page + 1))
        })
    });
    let reg = server.addr.clone();
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        resolve(&reg, &format!("{reg}/evil/app:v1")),
    )
    .await
    .expect("endless pagination must not hang")
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&reg)
            && err.contains("referrers of sha256:")
            && err.contains("more than 16 pages"),
        "{err}"
    );
}

#[tokio::test]
async fn a_registry_that_stops_answering_mid_body_times_out_clearly() {
    use support::hostile::Reply;
    let (server, md) = hostile_image(|path| {
        path.ends_with("/manifests/stall").then(|| Reply {
            status: 200,
            headers: vec![("Content-Type".into(), OCI_MANIFEST.into())],
            body: vec![b' '; 4000],
            stall_after: Some(100),
        })
    });
    let reg = server.addr.clone();
    let limits = Limits {
        request_timeout: Duration::from_millis(700),
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let err = resolve_with(&reg, &format!("{reg}/evil/app:stall"), limits)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, ResolveError::Registry(RegistryError::Timeout { .. })),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&reg)
            && msg.contains("manifest evil/app:stall")
            && msg.contains("no answer within 700 ms"),
        "{msg}"
    );
    // A digest-pinned reference names the digest.
    let (server, _) = hostile_image(move |path| {
        path.contains("/manifests/sha256:").then(|| Reply {
            status: 200,
            headers: vec![],
            body: vec![b' '; 4000],
            stall_after: Some(10),
        })
    });
    let limits = Limits {
        request_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let reg = server.addr.clone();
    let msg = resolve_with(&reg, &format!("{reg}/evil/app@{md}"), limits)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&md), "{msg}");
}

fn docker_config(
    dir: &std::path::Path,
    registry: &str,
    user: &str,
    password: &str,
) -> std::path::PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({"auths": {registry: {"auth": auth}}})).unwrap(),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn basic_auth_over_https_with_a_dockerconfigjson() {
    let Some(corpus) = corpus() else { return };
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION_AUTH") else {
        return;
    };
    let ca = std::env::var("ATTESTGATE_TEST_CA").unwrap();
    let user = std::env::var("ATTESTGATE_TEST_AUTH_USER").unwrap();
    let password = std::env::var("ATTESTGATE_TEST_AUTH_PASSWORD").unwrap();
    let repo = unique_repo("private/app");
    Pusher::with(
        format!("https://{reg}"),
        &repo,
        PushAuth::Basic(user.clone(), password.clone()),
        Some(std::path::Path::new(&ca)),
    )
    .layout(&attest_dir(&corpus, "unsigned-index"))
    .await;
    let image = format!("{reg}/{repo}:test");
    let tmp = tempfile::tempdir().unwrap();

    // Through the command line, as a user would.
    let config = docker_config(tmp.path(), &reg, &user, &password);
    let out = std::process::Command::new(support::binary())
        .args(["resolve", &image, "--registry-ca", &ca, "--docker-config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc.as_array().unwrap().len(), 2);
    assert_eq!(doc[0]["attestations"].as_array().unwrap().len(), 2);
    assert_eq!(doc[1]["image"]["platform"], "linux/arm64");

    // Without credentials, and with wrong ones: authentication failed, named.
    let out = std::process::Command::new(support::binary())
        .args(["resolve", &image, "--registry-ca", &ca])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&reg) && stderr.contains("authentication failed"),
        "{stderr}"
    );
    let wrong = docker_config(tmp.path(), &reg, &user, "wrong-password");
    let out = std::process::Command::new(support::binary())
        .args(["resolve", &image, "--registry-ca", &ca, "--docker-config"])
        .arg(&wrong)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authentication failed") && stderr.contains("rejected"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-password") && !stderr.contains(&password),
        "a credential leaked: {stderr}"
    );

    // Without the CA, the certificate is not trusted.
    let out = std::process::Command::new(support::binary())
        .args(["resolve", &image])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[tokio::test]
async fn bearer_token_flow_anonymous_and_with_credentials() {
    let Some(corpus) = corpus() else { return };
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION_TOKEN") else {
        return;
    };
    assert!(support::token::ensure_running());
    let dir = attest_dir(&corpus, "no-provenance-index");
    let public = unique_repo("public/app");
    let private = unique_repo("team/app");
    for repo in [&public, &private] {
        let token = support::token::mint(repo, &["pull", "push"]);
        Pusher::with(format!("http://{reg}"), repo, PushAuth::Bearer(token), None)
            .layout(&dir)
            .await;
    }
    let client = Arc::new(
        RegistryClient::new(ClientOptions {
            insecure_registries: [reg.clone()].into_iter().collect(),
            ..Default::default()
        })
        .unwrap(),
    );
    let resolver = Resolver::new(
        Arc::new(Store::new(
            Backend::Remote(client.clone()),
            Limits::default(),
            &CacheConfig::default(),
        )),
        Default::default(),
    );
    let all = PlatformSelection::All;
    let anonymous = Keyring::default();
    let r = resolver
        .resolve(
            &ImageRef::parse(&format!("{reg}/{public}:test")).unwrap(),
            &anonymous,
            &all,
        )
        .await
        .unwrap();
    assert_eq!(summary(&r)[0].1, vec![row(SPDX, "index", "platform")]);

    let private_ref = ImageRef::parse(&format!("{reg}/{private}:test")).unwrap();
    let err = resolver
        .resolve(&private_ref, &anonymous, &all)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("authentication failed") && err.contains(&private),
        "{err}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let mut keyring = Keyring::default();
    let config = docker_config(
        tmp.path(),
        &reg,
        support::token::USER,
        support::token::PASSWORD,
    );
    keyring
        .add_docker_config("test", &std::fs::read(config).unwrap())
        .unwrap();
    let before = client
        .stats
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let r = resolver
        .resolve(&private_ref, &keyring, &all)
        .await
        .unwrap();
    assert_eq!(summary(&r).len(), 2);
    // One token per repository and credential, shared by every request.
    let after = client
        .stats
        .token_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 1, "token requests for one resolution");
}

#[tokio::test]
async fn referrers_inside_a_layout_as_in_a_registry() {
    let dir = tempfile::tempdir().unwrap();
    let p = Pusher::to_layout(dir.path());
    let amd64 = push_image(&p, "linux", "amd64", None, "layout").await;
    push_index(&p, "v1", vec![platform_entry(&amd64)]).await;
    let (_, att) = push_attestation_manifest(
        &p,
        &amd64,
        &[v1(
            SLSA_V1,
            &[&amd64.digest],
            slsa_v1_predicate(
                "https://builder.example/v1",
                "https://github.com/example/app.git",
            ),
        )],
        AttestationForm::Artifact,
    )
    .await;
    // The attestation manifest is in the layout, found through its subject.
    let r = resolve_layout_tag(dir.path(), Some("v1")).await;
    assert_eq!(
        summary(&r),
        vec![(
            "linux/amd64".into(),
            vec![row(SLSA_V1, "referrers", "platform")]
        )]
    );
    // A layout that carries the fallback tag is read the way a registry
    // without the referrers API is: through the tag.
    push_fallback_tag(&p, &amd64.digest, &[(att, None)]).await;
    let r = resolve_layout_tag(dir.path(), Some("v1")).await;
    assert_eq!(
        summary(&r),
        vec![(
            "linux/amd64".into(),
            vec![row(SLSA_V1, "referrers-tag", "platform")]
        )]
    );
    assert_eq!(
        r.reference.to_string(),
        format!(
            "oci-layout/{}:v1",
            dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_lowercase()
                .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        )
    );
}

async fn resolve_layout_tag(dir: &std::path::Path, tag: Option<&str>) -> ResolvedImage {
    let layout = Layout::open(dir, 4 << 20).unwrap();
    let image = layout.image_ref(tag).unwrap();
    let store = Store::new(
        Backend::Layout(Arc::new(layout)),
        Limits::default(),
        &CacheConfig::default(),
    );
    Resolver::new(Arc::new(store), Default::default())
        .resolve(&image, &Keyring::default(), &PlatformSelection::All)
        .await
        .unwrap()
}

#[tokio::test]
async fn statement_layers_of_unwanted_predicate_types_are_not_fetched() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let proxy = support::proxy::start(&reg);
    let repo = unique_repo("fixtures/predicate-filter");
    let p = Pusher::new(&reg, &repo);
    let amd64 = push_image(&p, "linux", "amd64", None, &repo).await;
    let sbom = v01(
        SPDX,
        &[&amd64.digest],
        json!({"spdxVersion": "SPDX-2.3", "packages": []}),
    );
    let (_, m) = push_attestation_manifest(
        &p,
        &amd64,
        &[
            v01(
                SLSA_V02,
                &[&amd64.digest],
                slsa_v02_predicate("https://b.example", "https://s.example"),
            ),
            sbom.clone(),
        ],
        AttestationForm::Legacy,
    )
    .await;
    push_index(
        &p,
        "v1",
        vec![platform_entry(&amd64), attestation_entry(&m, &amd64, false)],
    )
    .await;
    let client = RegistryClient::new(ClientOptions {
        insecure_registries: [proxy.addr.clone()].into_iter().collect(),
        ..Default::default()
    })
    .unwrap();
    let store = Store::new(
        Backend::Remote(Arc::new(client)),
        Limits::default(),
        &CacheConfig::default(),
    );
    let options = attestgate::attestation::ResolverOptions {
        predicate_types: Some([SLSA_V02.to_owned()].into_iter().collect()),
        ..Default::default()
    };
    let r = Resolver::new(Arc::new(store), options)
        .resolve(
            &ImageRef::parse(&format!("{}/{repo}:v1", proxy.addr)).unwrap(),
            &Keyring::default(),
            &PlatformSelection::All,
        )
        .await
        .unwrap();
    assert_eq!(
        summary(&r),
        vec![(
            "linux/amd64".into(),
            vec![row(SLSA_V02, "index", "platform")]
        )]
    );
    let sbom_blob = support::sha256(&bytes(&sbom));
    assert!(
        !proxy.counts().keys().any(|k| k.ends_with(&sbom_blob)),
        "the SBOM layer was fetched: {:?}",
        proxy.counts()
    );
}

#[tokio::test]
async fn the_referrers_artifact_type_filter_is_applied_by_the_registry_or_here() {
    use attestgate::registry::Target;
    let Some(ferro) = registry("ATTESTGATE_TEST_FERRO") else {
        return;
    };
    let repo = unique_repo("fixtures/filter");
    let p = Pusher::new(&ferro, &repo);
    let amd64 = push_image(&p, "linux", "amd64", None, &repo).await;
    push_attestation_manifest(
        &p,
        &amd64,
        &[v01(SPDX, &[&amd64.digest], json!({}))],
        AttestationForm::Artifact,
    )
    .await;
    // Another referrer of a type nobody asked for.
    p.blob(b"{}").await;
    let other = bytes(
        &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": desc(EMPTY, b"{}"), "layers": [], "subject": desc(OCI_MANIFEST, &amd64.manifest)}),
    );
    p.manifest(&support::sha256(&other), OCI_MANIFEST, &other)
        .await;
    let digest = attestgate::registry::Digest::parse(&amd64.digest).unwrap();
    for (registry, filtered_by_server) in [(ferro.clone(), true)] {
        let client = RegistryClient::new(ClientOptions {
            insecure_registries: [registry.clone()].into_iter().collect(),
            ..Default::default()
        })
        .unwrap();
        let t = Target {
            registry: &registry,
            repository: &repo,
            credentials: &[],
        };
        let all = client.referrers(t, &digest, None).await.unwrap().unwrap();
        assert_eq!(
            all.len(),
            2,
            "{all:?} (server filtering: {filtered_by_server})"
        );
        let only = client
            .referrers(t, &digest, Some(ATTESTATION_ARTIFACT))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].artifact_type.as_deref(), Some(ATTESTATION_ARTIFACT));
    }
    // A registry that ignores the filter (no OCI-Filters-Applied): filtered here.
    use support::hostile::{Reply, start};
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": amd64.digest, "size": 1, "artifactType": ATTESTATION_ARTIFACT},
        {"mediaType": OCI_MANIFEST, "digest": amd64.digest, "size": 1, "artifactType": "application/vnd.example.signature"}]});
    let server = start(move |_| Reply::json(200, &index).header("Content-Type", OCI_INDEX));
    let client = RegistryClient::new(ClientOptions {
        insecure_registries: [server.addr.clone()].into_iter().collect(),
        ..Default::default()
    })
    .unwrap();
    let t = Target {
        registry: &server.addr,
        repository: "x",
        credentials: &[],
    };
    let only = client
        .referrers(t, &digest, Some(ATTESTATION_ARTIFACT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].artifact_type.as_deref(), Some(ATTESTATION_ARTIFACT));
}

#[tokio::test]
async fn attestations_kept_in_another_repository_are_found_through_the_mapping() {
    // Docker Hardened Images keep signed attestations beside, not in, the image repository.
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let image_repo = unique_repo("dhi/app");
    let attestation_repo = unique_repo("dhi-attestations/app");
    let p = Pusher::new(&reg, &image_repo);
    let amd64 = push_image(&p, "linux", "amd64", None, &image_repo).await;
    let (index, _) = push_index(&p, "v1", vec![platform_entry(&amd64)]).await;
    // The attestation repository holds only the cosign tag for the index.
    let a = Pusher::new(&reg, &attestation_repo);
    push_cosign_att(
        &a,
        &index,
        &[v1(
            SLSA_V1,
            &[&amd64.digest],
            slsa_v1_predicate(
                "https://dhi.example/builder",
                "https://github.com/docker-hardened-images/app",
            ),
        )],
        true,
    )
    .await;

    let image = ImageRef::parse(&format!("{reg}/{image_repo}:v1")).unwrap();
    let unmapped = support::http_resolver(&reg, Limits::default());
    let r = unmapped
        .resolve(&image, &Keyring::default(), &PlatformSelection::All)
        .await
        .unwrap();
    assert_eq!(summary(&r), vec![("linux/amd64".into(), vec![])]);

    let client = RegistryClient::new(ClientOptions {
        insecure_registries: [reg.clone()].into_iter().collect(),
        ..Default::default()
    })
    .unwrap();
    let store = Store::new(
        Backend::Remote(Arc::new(client)),
        Limits::default(),
        &CacheConfig::default(),
    );
    let options = attestgate::attestation::ResolverOptions {
        attestation_repositories: vec![attestgate::attestation::discover::AttestationRepository {
            images: globset::Glob::new(&format!("{reg}/dhi/*"))
                .unwrap()
                .compile_matcher(),
            repository: ImageRef::parse(&format!("{reg}/{attestation_repo}")).unwrap(),
        }],
        ..Default::default()
    };
    let r = Resolver::new(Arc::new(store), options)
        .resolve(&image, &Keyring::default(), &PlatformSelection::All)
        .await
        .unwrap();
    assert_eq!(
        summary(&r),
        vec![(
            "linux/amd64".into(),
            vec![row(SLSA_V1, "cosign-tag", "platform")]
        )]
    );
}
