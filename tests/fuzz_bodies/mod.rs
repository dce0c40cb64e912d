//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`), shared with
//! `tests/fuzz_regressions.rs` so that every kept crash input is replayed by
//! `cargo test` through exactly the code the fuzzer ran. A body must return
//! normally for any bytes: errors are fine, panics are bugs. The few
//! assertions check invariants of values the code accepted (round trips,
//! all-or-nothing keyrings).

// Each fuzz target uses one body.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use attestgate::admission::review::{self, Response};
use attestgate::attestation::dsse::Envelope;
use attestgate::attestation::image::{image_input, platform_view};
use attestgate::attestation::provenance::{self, SLSA_V1, SLSA_V02};
use attestgate::attestation::statement::Statement;
use attestgate::attestation::{PlatformSelection, Resolver};
use attestgate::platform::{self, NodeView, Platform};
use attestgate::policy::input::to_value;
use attestgate::policy::{InputBuilder, PolicySet, RequestInfo, SourceFile, Sources};
use attestgate::registry::guard::{self, AddressPolicy};
use attestgate::registry::manifest::{
    ANNOTATION_PREDICATE_TYPE, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ImageConfig, ImageIndex,
    OCI_INDEX, OCI_MANIFEST,
};
use attestgate::registry::{
    Backend, CacheConfig, Descriptor, Digest, ImageRef, Keyring, Layout, Limits, Manifest, Store,
};
use serde_json::{Value, json};

/// At most this many lines of a text input are parsed as references,
/// digests and platforms (pairs of platforms are compared).
const MAX_LINES: usize = 16;

fn p(s: &str) -> Platform {
    s.parse().expect("a valid platform")
}

/// Node platforms a cluster commonly has, variants included.
fn node_platforms() -> Vec<Platform> {
    [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/amd64/v3",
        "windows/amd64",
    ]
    .into_iter()
    .map(p)
    .collect()
}

fn nodes() -> Vec<NodeView> {
    node_platforms()
        .into_iter()
        .enumerate()
        .map(|(i, platform)| {
            let labels = [
                ("kubernetes.io/os", platform.os.clone()),
                ("kubernetes.io/arch", platform.architecture.clone()),
                ("kubernetes.io/hostname", format!("node-{i}")),
                ("pool", if i % 2 == 0 { "a" } else { "b" }.to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            NodeView {
                name: format!("node-{i}"),
                labels,
                platform,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- helpers

fn check_digest(d: &Digest) {
    assert_eq!(Digest::parse(d.as_str()).as_ref(), Ok(d));
    assert!(d.as_str().starts_with(d.short()));
    let _ = (d.fallback_tag(), d.cosign_attestation_tag(), d.matches(b""));
}

fn check_image_ref(r: &ImageRef) {
    let normalized = r.normalized();
    let again = ImageRef::parse(&normalized)
        .unwrap_or_else(|e| panic!("{normalized:?} (normalised) does not parse: {e}"));
    assert_eq!(&again, r, "{normalized:?} does not parse back to itself");
    let _ = (
        r.api_host(),
        r.full_repo(),
        r.familiar_repo(),
        r.manifest_reference(),
    );
    if let Some(d) = &r.digest {
        check_digest(d);
    }
}

fn check_platform(pl: &Platform) {
    let shown = pl.to_string();
    let again: Platform = shown
        .parse()
        .unwrap_or_else(|e| panic!("{shown:?} (displayed) does not parse: {e}"));
    assert_eq!(&again, pl, "{shown:?} does not parse back to itself");
    if !pl.is_unknown() {
        assert_eq!(pl.fit(pl), Some(0));
        assert!(pl.runs_on(pl));
    }
}

/// Platforms as written in descriptors or typed by users, matched against
/// each other and against common nodes the way the resolver selects them.
fn check_platform_matching(offered: &[Platform]) {
    let offered = &offered[..offered.len().min(MAX_LINES)];
    for a in offered {
        for b in offered {
            let _ = (a.fit(b), a.runs_on(b));
        }
    }
    for nodes in [node_platforms(), offered.to_vec()] {
        let chosen = platform::select_for_nodes(offered, &nodes);
        assert!(chosen.iter().all(|&i| i < offered.len()));
        assert!(chosen.windows(2).all(|w| w[0] < w[1]));
    }
    let _ = platform::list(offered);
}

/// A registry name (from a reference, or as an operator writes it in
/// `--allow-registry`) through the address guard.
fn check_registry(registry: &str, allowed: &[&str]) {
    let host = guard::host_of(registry);
    assert!(
        registry.starts_with(host),
        "{host:?} is not part of {registry:?}"
    );
    let policy = AddressPolicy {
        refuse_local: true,
        refuse_private: true,
        allowed_hosts: allowed.iter().map(|a| (*a).to_owned()).collect(),
    };
    let _ = (
        policy.host_allowed(registry),
        policy.check_registry(registry),
    );
}

/// Each line of a text input as a digest, an image reference, a registry
/// and a platform.
fn check_strings(text: &str) {
    let lines: Vec<&str> = text.lines().take(MAX_LINES).collect();
    let mut platforms = Vec::new();
    for &line in &lines {
        check_registry(line, &lines);
        if let Ok(d) = Digest::parse(line) {
            check_digest(&d);
        }
        if let Ok(r) = ImageRef::parse(line) {
            check_image_ref(&r);
            check_registry(&r.registry, &lines);
        }
        if let Ok(pl) = Platform::from_str(line) {
            check_platform(&pl);
            platforms.push(pl);
        }
    }
    check_platform_matching(&platforms);
}

fn check_descriptor(d: &Descriptor) -> Option<Platform> {
    check_digest(&d.digest);
    let _ = (
        d.buildkit_attestation_for(),
        d.is_buildkit_reference(),
        d.claimed_size(),
        d.annotation(ANNOTATION_PREDICATE_TYPE),
    );
    d.platform.as_ref().map(|dp| dp.platform())
}

fn check_index(index: &ImageIndex) {
    let offered: Vec<Platform> = index
        .manifests
        .iter()
        .filter_map(check_descriptor)
        .filter(|pl| !pl.is_unknown())
        .collect();
    check_platform_matching(&offered);
    if let Some(s) = &index.subject {
        check_descriptor(s);
    }
}

fn check_manifest(m: &Manifest) {
    let _ = (m.media_type(), m.artifact_type());
    if let Some(s) = m.subject() {
        check_descriptor(s);
    }
    match m {
        Manifest::Index(index) => check_index(index),
        Manifest::Image(image) => {
            let _ = image.effective_artifact_type();
            check_descriptor(&image.config);
            for layer in &image.layers {
                check_descriptor(layer);
            }
        }
    }
}

fn check_statement(st: &Statement) {
    assert!(!st.subjects.is_empty(), "a statement without subjects");
    let _ = st.subject_summary();
    // Every well-formed subject digest is one the statement is about.
    for subject in &st.subjects {
        for (algorithm, hex) in &subject.digest {
            if let Ok(d) = Digest::parse(&format!("{algorithm}:{hex}")) {
                assert!(st.is_about(&d), "not about its own subject {d}");
            }
        }
    }
    let _ = st.is_about(&Digest::sha256_of(b""));
    let _ = provenance::is_provenance(&st.predicate_type);
    for predicate_type in [st.predicate_type.as_str(), SLSA_V02, SLSA_V1] {
        if let Some(summary) = provenance::summarize(predicate_type, &st.json) {
            assert!(summary.is_object());
            let _ = to_value(&summary);
        }
    }
}

fn check_envelope(env: &Envelope) {
    let pae = env.pae();
    assert!(pae.starts_with(b"DSSEv1 ") && pae.ends_with(&env.payload));
    if let Ok(st) = Statement::parse(&env.payload) {
        check_statement(&st);
    }
}

// ------------------------------------------------------------------ bodies

/// `admission_review`: an AdmissionReview body through decoding, the pod
/// spec of every workload kind, its containers and candidate platforms, and
/// the request part of the policy input, as the webhook does.
pub fn admission_review(data: &[u8]) {
    let request = match review::parse(data) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let info = request.info();
    assert!(info.is_object());
    let _ = request.object_name();
    let nodes = nodes();
    let defaults = node_platforms();
    let mut lists = Vec::new();
    for object in [request.object.as_ref(), request.old_object.as_ref()]
        .into_iter()
        .flatten()
    {
        match review::pod_spec(&request.kind, object) {
            Ok(Some(spec)) => {
                let containers = review::containers(&spec);
                for c in containers.iter().take(MAX_LINES) {
                    if let Ok(r) = ImageRef::parse(&c.image) {
                        check_image_ref(&r);
                    }
                }
                for candidates in [
                    platform::candidate_platforms(&spec, &nodes, &defaults),
                    platform::candidate_platforms(&spec, &[], &defaults),
                ] {
                    assert!(candidates.iter().all(|c| !c.is_unknown()));
                }
                lists.push(containers);
            }
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    if let [new, old] = lists.as_slice() {
        let _ = review::changed(new, old);
    }
    let _ = to_value(&info);
    if let Some(object) = &request.object {
        let _ = to_value(object);
    }
    let response = Response {
        uid: request.uid.clone(),
        allowed: false,
        ..Response::default()
    };
    let bytes = response.to_review_bytes();
    assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
}

/// Content types a manifest may arrive with (the body's own `mediaType`
/// wins over them).
const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some(OCI_INDEX),
    Some(OCI_MANIFEST),
    Some(DOCKER_MANIFEST_LIST),
    Some(DOCKER_MANIFEST),
    Some("application/json"),
    Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
    Some("text/plain"),
];

/// `manifest`: a registry answer as a manifest or index (with and without a
/// content type), a referrers page, an image config, and as text: digests,
/// references and platforms, one per line.
pub fn manifest(data: &[u8]) {
    let content_type = CONTENT_TYPES[data.len() % CONTENT_TYPES.len()];
    for ct in [None, content_type] {
        match Manifest::parse(ct, data) {
            Ok(m) => check_manifest(&m),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    // A referrers page; a layout's index.json is read the same way.
    if let Ok(index) = serde_json::from_slice::<ImageIndex>(data) {
        check_index(&index);
        let bytes = serde_json::to_vec(&index).expect("an index serialises");
        let again: ImageIndex = serde_json::from_slice(&bytes).expect("an index parses back");
        assert_eq!(again, index, "an index does not survive a round trip");
    }
    if let Ok(config) = ImageConfig::parse(data) {
        let _ = Platform::new(&config.os, &config.architecture, config.variant.as_deref());
        if let Some(created) = &config.created {
            let _ = provenance::format_time_keep_offset(created);
            let _ = provenance::format_time_utc(created);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_strings(text);
    }
}

/// `dsse_statement`: an attestation layer as a DSSE envelope, a Sigstore
/// bundle and a bare in-toto statement, then the statement's subjects and
/// provenance summary.
pub fn dsse_statement(data: &[u8]) {
    if let Ok(env) = Envelope::parse(data) {
        check_envelope(&env);
    }
    if let Ok(Some(env)) = Envelope::parse_bundle(data) {
        check_envelope(&env);
    }
    match Statement::parse(data) {
        Ok(st) => check_statement(&st),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Where the fuzzed docker config's credentials are looked up, besides the
/// config's own keys.
const LOOKUPS: [(&str, &str); 6] = [
    ("docker.io", "library/nginx"),
    ("index.docker.io", "user/app"),
    ("registry.example.com", "team/app"),
    ("a.corp.example", "x"),
    ("localhost:5000", "app"),
    ("127.0.0.1:5000", "team/app"),
];

/// `docker_config`: a `.dockerconfigjson` / `.dockercfg`, then lookups for
/// common images and for every key the config names.
pub fn docker_config(data: &[u8]) {
    let mut keyring = Keyring::default();
    if let Err(e) = keyring.add_docker_config("fuzz", data) {
        let _ = e.to_string();
        assert!(keyring.is_empty(), "a rejected config left credentials");
        return;
    }
    let mut targets: Vec<(String, String)> = LOOKUPS
        .iter()
        .map(|(r, p)| ((*r).to_owned(), (*p).to_owned()))
        .collect();
    if let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(data) {
        let keys = match top.get("auths") {
            Some(Value::Object(auths)) => auths.keys().cloned().collect::<Vec<_>>(),
            _ => top.keys().cloned().collect(),
        };
        for key in keys.into_iter().take(MAX_LINES) {
            let bare = key
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let (registry, repo) = bare.split_once('/').unwrap_or((bare, "app"));
            targets.push((registry.to_owned(), repo.to_owned()));
            targets.push((key.clone(), String::new()));
        }
    }
    for (registry, repo) in &targets {
        for c in keyring.lookup(registry, repo) {
            let _ = (c.fingerprint(), c.username(), format!("{c:?}"));
        }
    }
    let mut merged = Keyring::default();
    merged.extend(&keyring);
    merged.extend(&keyring);
    let _ = format!("{merged:?}");
}

/// The shipped policy set as built in, and with every setting the policies
/// read turned on (allow-lists, ignored ids, a required report), so that
/// rules inactive by default are evaluated too.
fn policy_sets() -> &'static [PolicySet; 2] {
    static SETS: OnceLock<[PolicySet; 2]> = OnceLock::new();
    SETS.get_or_init(|| {
        let compile = |sources: &Sources| {
            PolicySet::compile(sources, &Default::default()).expect("the shipped policies compile")
        };
        let mut configured = Sources::embedded();
        configured.data.push(SourceFile {
            path: "fuzz/data.json".into(),
            data_path: Vec::new(),
            contents: json!({"attestgate": {
                "trusted_builders": {"builders": ["https://github.com/*", "https://builder.example/1"]},
                "source_repositories": {"repositories": ["github.com/o/*", "https://gitlab.com/g/r"]},
                "no_critical_vulnerabilities": {"threshold": 7.5, "ignore": ["CVE-2024-0001", " cve-2023-1 "], "require_report": true},
            }})
            .to_string(),
        });
        [compile(&Sources::embedded()), compile(&configured)]
    })
}

/// `policy_input`: fuzzed JSON as a whole input document, and as an in-toto
/// statement placed in the input the resolver would build around it, both
/// evaluated by the shipped policy set. Evaluation errors are fine.
pub fn policy_input(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let sets = policy_sets();
    for set in sets {
        let _ = set.evaluate(to_value(&doc));
    }
    let Ok(st) = Statement::from_value(doc.clone()) else {
        return;
    };
    let digest = st
        .subjects
        .iter()
        .find_map(|s| {
            s.digest
                .get("sha256")
                .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok())
        })
        .unwrap_or_else(|| Digest::sha256_of(b"image"));
    let mut image = json!({
        "ref": format!("docker.io/library/app:1@{digest}"),
        "host": "docker.io", "repo": "app", "fullRepo": "docker.io/library/app",
        "tag": "1", "isCanonical": true, "checksum": digest.as_str(),
        "platform": "linux/amd64", "os": "linux", "arch": "amd64", "digest": digest.as_str(),
        "hasProvenance": true,
    });
    if let Some(summary) = provenance::summarize(&st.predicate_type, &st.json) {
        image["provenance"] = summary;
    }
    let input = json!({
        "container": {"name": "app", "type": "container", "image": "app:1"},
        "image": image,
        "attestations": [{
            "predicateType": st.predicate_type,
            "statement": doc,
            "digest": Digest::sha256_of(data).as_str(),
            "mediaType": "application/vnd.in-toto+json",
            "manifest": digest.as_str(),
            "source": "index",
            "subject": "platform",
            "verified": false,
        }],
    });
    for set in sets {
        let _ = set.evaluate(to_value(&input));
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Replaces `$N` by the digest, `&N` by the hex digest and `%N` by the size
/// of earlier blob `N`.
fn substitute(chunk: &[u8], blobs: &[(Digest, usize)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len());
    let mut i = 0;
    while i < chunk.len() {
        let marker = chunk[i];
        let blob = chunk
            .get(i + 1)
            .filter(|_| matches!(marker, b'$' | b'&' | b'%'))
            .and_then(|n| n.checked_sub(b'0'))
            .and_then(|n| blobs.get(usize::from(n)));
        match (marker, blob) {
            (b'$', Some((digest, _))) => out.extend_from_slice(digest.as_str().as_bytes()),
            (b'&', Some((digest, _))) => out.extend_from_slice(digest.hex().as_bytes()),
            (_, Some((_, size))) => out.extend_from_slice(size.to_string().as_bytes()),
            (_, None) => {
                out.push(marker);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    out
}

/// `layout_resolve`: an OCI layout made of fuzzed blobs, resolved for every
/// platform and for common nodes, then turned into policy input. The input
/// is NUL-separated chunks: every chunk but the last is a blob, the last is
/// `index.json`; in a chunk, `$N` stands for the digest (`&N` its hex) and
/// `%N` for the size of blob `N` (an earlier chunk), so the fuzzer can link
/// documents.
pub fn layout_resolve(data: &[u8]) {
    let chunks: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    if chunks.len() > 11 {
        return;
    }
    let Some((index_json, blob_chunks)) = chunks.split_last() else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    std::fs::create_dir_all(root.join("blobs/sha256")).expect("blobs/sha256");
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let mut blobs: Vec<(Digest, usize)> = Vec::new();
    for chunk in blob_chunks {
        let bytes = substitute(chunk, &blobs);
        let digest = Digest::sha256_of(&bytes);
        std::fs::write(root.join("blobs/sha256").join(digest.hex()), &bytes).expect("a blob");
        blobs.push((digest, bytes.len()));
    }
    std::fs::write(root.join("index.json"), substitute(index_json, &blobs)).expect("index.json");

    let Ok(layout) = Layout::open(root, 4 << 20) else {
        return;
    };
    let image = match layout.image_ref(None) {
        Ok(image) => image,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let store = Store::new(
        Backend::Layout(Arc::new(layout)),
        Limits::default(),
        &CacheConfig::default(),
    );
    let resolver = Resolver::new(Arc::new(store), Default::default());
    let builder = InputBuilder::new(1 << 20);
    let request = RequestInfo::default();
    for selection in [
        PlatformSelection::All,
        PlatformSelection::Nodes(node_platforms()),
    ] {
        let resolved =
            match runtime().block_on(resolver.resolve(&image, &Keyring::default(), &selection)) {
                Ok(r) => r,
                Err(e) => {
                    let _ = (e.to_string(), e.kind());
                    continue;
                }
            };
        for pi in &resolved.platforms {
            assert!(!pi.platform.is_unknown());
            let _ = (image_input(&resolved, pi), platform_view(&resolved, pi));
            for a in &pi.attestations {
                let _ = a.to_json();
            }
            let _ = builder.build(&request, None, pi);
        }
    }
}
