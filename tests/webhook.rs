//! `attestgate serve` on a real TCP port with a test CA, driven with real
//! AdmissionReview JSON over HTTPS (the client verifies the certificate as
//! the API server does with caBundle), judging images in real registries.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use attestgate::admission::tls::generate_dev_certificate;
use attestgate::config::Dur;
use attestgate::policy::{Mode, OnError};
use serde_json::{Value, json};
use support::fixtures::*;
use support::server::*;
use support::{Pusher, registry, unique_repo};

/// Pushes a two-platform image whose platforms carry `amd` / `arm` statements
/// (built from the platform manifest digest); returns `registry/repo:v1`.
async fn push_image_with(
    reg: &str,
    name: &str,
    amd: fn(&str) -> Vec<Value>,
    arm: fn(&str) -> Vec<Value>,
) -> String {
    let repo = unique_repo(name);
    let p = Pusher::new(reg, &repo);
    let amd64 = push_image(&p, "linux", "amd64", None, name).await;
    let arm64 = push_image(&p, "linux", "arm64", None, name).await;
    let mut entries = vec![platform_entry(&amd64), platform_entry(&arm64)];
    for (img, f) in [(&amd64, amd), (&arm64, arm)] {
        let statements = f(&img.digest);
        if !statements.is_empty() {
            let (_, m) =
                push_attestation_manifest(&p, img, &statements, AttestationForm::Legacy).await;
            entries.push(attestation_entry(&m, img, false));
        }
    }
    push_index(&p, "v1", entries).await;
    format!("{reg}/{repo}:v1")
}

fn sbom_only(d: &str) -> Vec<Value> {
    vec![v01(
        SPDX,
        &[d],
        json!({"spdxVersion": "SPDX-2.3", "packages": []}),
    )]
}

#[tokio::test]
async fn judges_pods_and_workloads_as_the_policies_say() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let good = push_image_with(
        &reg,
        "webhook/good",
        provenance_and_sbom,
        provenance_and_sbom,
    )
    .await;
    let bad = push_image_with(&reg, "webhook/bad", sbom_only, sbom_only).await;
    let s = server(config(&[&reg])).await;

    // Pod CREATE, good image: allowed, with the vulnerability-report warning.
    let r = s.review(&pod_review("u-good", &good)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("no vulnerability report")),
        "{r}"
    );

    // Pod CREATE, bad image: denied naming container, image, platform and the policy's words.
    let r = s.review(&pod_review("u-bad", &bad)).await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let msg = r["status"]["message"].as_str().unwrap();
    for needle in [
        "attestgate denied Pod web",
        "container \"app\"",
        &bad,
        "linux/amd64",
        "linux/arm64",
        "require-provenance",
        "found: https://spdx.dev/Document",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from {msg}");
    }
    assert_eq!(r["auditAnnotations"]["decision"], "denied");

    // dryRun: same judgement.
    let mut dry = pod_review("u-dry", &bad);
    dry["request"]["dryRun"] = json!(true);
    assert_eq!(s.review(&dry).await["allowed"], false);

    // Deployment and CronJob: the pod template is judged.
    let template = json!({"spec": {"containers": [{"name": "api", "image": bad}], "initContainers": [{"name": "migrate", "image": good}]}});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "apps"}, "spec": {"selector": {}, "template": template}});
    let r = s
        .review(&review_of(
            "u-deploy",
            "apps",
            "Deployment",
            "deployments",
            "CREATE",
            deployment,
            None,
        ))
        .await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Deployment.apps api")
            && msg.contains("container \"api\"")
            && !msg.contains("migrate"),
        "{msg}"
    );
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "apps"},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": good}], "restartPolicy": "Never"}}}}}});
    let r = s
        .review(&review_of(
            "u-cron", "batch", "CronJob", "cronjobs", "CREATE", cron, None,
        ))
        .await;
    assert_eq!(r["allowed"], true, "{r}");

    // UPDATE that keeps the (non-compliant) image: a scale-up is never blocked.
    let old = pod("web", json!([{"name": "app", "image": bad}]));
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"scaled": "yes"});
    let r = s
        .review(&review_of(
            "u-update",
            "",
            "Pod",
            "pods",
            "UPDATE",
            new,
            Some(old.clone()),
        ))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    // UPDATE that changes the image is judged.
    let changed = pod(
        "web",
        json!([{"name": "app", "image": bad}, {"name": "extra", "image": bad}]),
    );
    let r = s
        .review(&review_of(
            "u-update2",
            "",
            "Pod",
            "pods",
            "UPDATE",
            changed,
            Some(pod("web", json!([{"name": "app", "image": good}]))),
        ))
        .await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("container \"app\"") && msg.contains("container \"extra\""),
        "{msg}"
    );

    // An ephemeral debug container added through pods/ephemeralcontainers.
    let mut with_debug = old.clone();
    with_debug["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": bad}]);
    let mut eph = review_of("u-eph", "", "Pod", "pods", "UPDATE", with_debug, Some(old));
    eph["request"]["subResource"] = json!("ephemeralcontainers");
    let r = s.review(&eph).await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("ephemeral container \"debug\""),
        "{r}"
    );

    // Other kinds and DELETE are not judged.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    assert_eq!(
        s.review(&review_of(
            "u-cm",
            "",
            "ConfigMap",
            "configmaps",
            "CREATE",
            cm,
            None
        ))
        .await["allowed"],
        true
    );

    let m = s.metrics_text().await;
    assert!(
        m.contains("attestgate_admissions_total{result=\"denied\",mode=\"enforce\"}"),
        "{m}"
    );
    assert!(m.contains("attestgate_registry_requests_total"), "{m}");
}

#[tokio::test]
async fn modes_warn_and_audit_allow_with_the_reasons_said() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let bad = push_image_with(&reg, "webhook/modes", sbom_only, sbom_only).await;
    let s = server(config(&[&reg])).await;
    let review = pod_review("u-warn", &bad);
    let (status, body) = s
        .post_raw("/validate/warn", serde_json::to_vec(&review).unwrap())
        .await;
    assert_eq!(status, 200);
    let r = &body["response"];
    assert_eq!(r["allowed"], true);
    let warnings: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("would be denied: container \"app\"")
                && w.contains("require-provenance")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|w| w.len() <= 256 && !w.contains('\n')),
        "{warnings:?}"
    );
    let (_, body) = s
        .post_raw("/validate/audit", serde_json::to_vec(&review).unwrap())
        .await;
    assert_eq!(body["response"]["allowed"], true);
    assert_eq!(body["response"]["auditAnnotations"]["decision"], "warned");
    let (status, _) = s
        .post_raw("/validate/bogus", serde_json::to_vec(&review).unwrap())
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn judged_on_the_platforms_the_pod_can_run_on() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    // amd64 lacks provenance; arm64 has it.
    let image = push_image_with(&reg, "webhook/platforms", sbom_only, provenance_and_sbom).await;
    let api = support::kube::start(
        vec![
            support::kube::node("amd-1", "linux", "amd64"),
            support::kube::node("arm-1", "linux", "arm64"),
        ],
        vec![],
        vec![],
    );
    let mut c = config(&[&reg]);
    c.node_platforms = true;
    c.kubeconfig = Some(api.kubeconfig.clone());
    c.default_platforms = vec!["linux/s390x".parse().unwrap()];
    let s = server(c).await;

    let pinned = pod("arm", json!([{"name": "app", "image": image}]));
    let mut pinned = pinned;
    pinned["spec"]["nodeSelector"] = json!({"kubernetes.io/arch": "arm64"});
    let r = s
        .review(&review_of(
            "u-arm", "", "Pod", "pods", "CREATE", pinned, None,
        ))
        .await;
    assert_eq!(r["allowed"], true, "judged on arm64 only: {r}");

    let r = s.review(&pod_review("u-both", &image)).await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("linux/amd64") && !msg.contains("linux/arm64"),
        "judged on both, amd64 fails: {msg}"
    );
    assert!(
        api.requests
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.starts_with("/api/v1/nodes"))
    );

    // An image with none of the pod's platforms is denied, saying both sides.
    let mut s390 = pod("s390", json!([{"name": "app", "image": image}]));
    s390["spec"]["nodeSelector"] = json!({"kubernetes.io/arch": "s390x"});
    let r = s
        .review(&review_of(
            "u-s390", "", "Pod", "pods", "CREATE", s390, None,
        ))
        .await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("offers linux/amd64, linux/arm64, but the pod can run on linux/s390x"),
        "{msg}"
    );
}

#[tokio::test]
async fn pull_secrets_of_the_pod_and_its_service_account_are_used() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION_AUTH") else {
        return;
    };
    let ca = std::env::var("ATTESTGATE_TEST_CA").unwrap();
    let user = std::env::var("ATTESTGATE_TEST_AUTH_USER").unwrap();
    let password = std::env::var("ATTESTGATE_TEST_AUTH_PASSWORD").unwrap();
    let repo = unique_repo("private/webhook");
    let uncached = unique_repo("private/uncached");
    for r in [&repo, &uncached] {
        Pusher::with(
            format!("https://{reg}"),
            r,
            support::PushAuth::Basic(user.clone(), password.clone()),
            Some(std::path::Path::new(&ca)),
        )
        .layout(&corpus.join("attest/test/testdata/unsigned-index"))
        .await;
    }
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let dockerconfig = serde_json::to_vec(&json!({"auths": {&reg: {"auth": auth}}})).unwrap();
    let api = support::kube::start(
        vec![support::kube::node("amd-1", "linux", "amd64")],
        vec![support::kube::service_account(
            "apps",
            "builder",
            &["regcred"],
        )],
        vec![support::kube::pull_secret("apps", "regcred", &dockerconfig)],
    );
    let mut c = config(&[]);
    c.registries.allow_local = vec![reg.clone()];
    c.registries.ca_files = vec![ca.into()];
    c.pull_secrets = true;
    c.kubeconfig = Some(api.kubeconfig.clone());
    let s = server(c).await;
    let image = format!("{reg}/{repo}:test");
    // Through the service account's imagePullSecrets.
    let mut p = pod("private", json!([{"name": "app", "image": image}]));
    p["spec"]["serviceAccountName"] = json!("builder");
    let r = s
        .review(&review_of("u-sa", "", "Pod", "pods", "CREATE", p, None))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    // Without any secret (and nothing cached for it): authentication failed,
    // named, denied (onError: deny). Content already verified by digest is
    // judged without new fetches, whoever asks (see docs/operating.md).
    let r = s
        .review(&pod_review("u-nosecret", &format!("{reg}/{uncached}:test")))
        .await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("authentication failed") && msg.contains(&reg),
        "{msg}"
    );
    assert!(!msg.contains(&password));
    let paths = api.requests.lock().unwrap().clone();
    assert!(
        paths
            .iter()
            .any(|p| p == "/api/v1/namespaces/apps/secrets/regcred"),
        "{paths:?}"
    );
}

#[tokio::test]
async fn bad_bodies_get_400_or_a_denial_and_the_server_keeps_serving() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let good = push_image_with(
        &reg,
        "webhook/bodies",
        provenance_and_sbom,
        provenance_and_sbom,
    )
    .await;
    let mut c = config(&[&reg]);
    c.max_body_bytes = 64 << 10;
    let s = server(c).await;
    for (body, expect) in [
        (b"\x00\xffgarbage".to_vec(), "not a JSON AdmissionReview"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x""#
                .to_vec(),
            "not a JSON AdmissionReview",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#
                .to_vec(),
            "unsupported AdmissionReview",
        ),
        (vec![b' '; 200 << 10], "larger than 65536 bytes"),
        (Vec::new(), "not a JSON AdmissionReview"),
    ] {
        let (status, body) = s.post_raw("/validate", body).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(expect), "{body}");
    }
    // Decodable, but the pod spec is malformed: a denial with the reason.
    let mut broken = pod_review("u-broken", &good);
    broken["request"]["object"]["spec"]["containers"] = json!("not a list");
    let r = s.review(&broken).await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed pod spec"),
        "{r}"
    );
    // Still serving.
    assert_eq!(
        s.review(&pod_review("u-after", &good)).await["allowed"],
        true
    );
}

async fn presented_certificate(addr: std::net::SocketAddr, ca_pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn a_rotated_certificate_is_presented_on_the_next_handshake() {
    let s = server(config(&[])).await;
    let dir = s.dir.path();
    let first = presented_certificate(s.running.addr, &s.ca_pem).await;
    // Kubernetes swaps a Secret volume by retargeting the ..data symlink; do
    // the same: new files in a new directory, then an atomic symlink rename.
    let next = generate_dev_certificate(&["localhost".into()]).unwrap();
    let v2 = dir.join("..2025_v2");
    std::fs::create_dir(&v2).unwrap();
    std::fs::write(v2.join("tls.crt"), &next.cert_pem).unwrap();
    std::fs::write(v2.join("tls.key"), &next.key_pem).unwrap();
    // Replace the regular files with symlinks through ..data.
    std::os::unix::fs::symlink("..2025_v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key"] {
        let tmp = dir.join(format!("{f}.tmp"));
        std::os::unix::fs::symlink(format!("..data/{f}"), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join(f)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let next_ca = next.ca_pem.clone();
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The new certificate is signed by another CA: trust both.
        let both = format!("{}{}", s.ca_pem, next_ca);
        let presented = presented_certificate(s.running.addr, &both).await;
        if presented != first {
            use rustls_pki_types::pem::PemObject as _;
            let expected =
                rustls_pki_types::CertificateDer::from_pem_slice(next.cert_pem.as_bytes()).unwrap();
            assert_eq!(presented, expected.to_vec());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never presented"
        );
    }
    let m = s.metrics_text().await;
    assert!(
        m.contains("attestgate_tls_reloads_total{result=\"success\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn a_broken_policy_keeps_the_last_good_set_in_force() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let good = push_image_with(
        &reg,
        "webhook/reload",
        provenance_and_sbom,
        provenance_and_sbom,
    )
    .await;
    let policies = tempfile::tempdir().unwrap();
    let write = |text: &str| std::fs::write(policies.path().join("team.rego"), text).unwrap();
    write(
        "package team\n\ndeny contains msg if {\n\tinput.container.name == \"app\"\n\tmsg := \"team: containers named app are not allowed\"\n}\n",
    );
    let mut c = config(&[&reg]);
    c.policies.paths = vec![policies.path().to_owned()];
    c.policies.include_default = false;
    let s = server(c).await;
    let r = s.review(&pod_review("u-1", &good)).await;
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("containers named app are not allowed"),
        "{r}"
    );

    write("package team\n\ndeny contains msg if {\n\tinput.container.name == \n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ready: Value = reqwest::get(format!("{}/readyz", s.metrics))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["policies"]["lastError"].is_string() {
            assert!(
                ready["policies"]["lastError"]
                    .as_str()
                    .unwrap()
                    .contains("team.rego:"),
                "{ready}"
            );
            assert_eq!(ready["ready"], true, "the last good set still serves");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken policy was never noticed"
        );
    }
    let r = s.review(&pod_review("u-2", &good)).await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("containers named app are not allowed"),
        "{r}"
    );
    let m = s.metrics_text().await;
    assert!(
        m.contains("attestgate_policy_healthy 0")
            && m.contains("attestgate_policy_reloads_total{result=\"failure\"} 1"),
        "{m}"
    );

    // Fixed again: the new set takes over.
    write("package team\n\nwarn contains \"team: looked at it\" if true\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = s.review(&pod_review("u-3", &good)).await;
        if r["allowed"] == true {
            assert!(r["warnings"].to_string().contains("team: looked at it"));
            break;
        }
        assert!(Instant::now() < deadline);
    }
}

/// An attested image pushed to `reg`, named through a counting proxy in
/// front of it: returns the proxy and the image as a pod names it.
async fn behind_proxy(reg: &str, repo: &str) -> (support::proxy::Proxy, String) {
    let proxy = support::proxy::start(reg);
    let image = push_image_with(reg, repo, provenance_and_sbom, provenance_and_sbom).await;
    let image = image.replacen(reg, &proxy.addr, 1);
    (proxy, image)
}

#[tokio::test]
async fn concurrent_admissions_of_a_new_image_fetch_each_object_once() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let (proxy, image) = behind_proxy(&reg, "webhook/concurrent").await;
    // A little latency so all 100 admissions are in flight while the first
    // fetches are outstanding.
    proxy
        .delay_ms
        .store(20, std::sync::atomic::Ordering::Relaxed);
    let s = Arc::new(server(config(&[&proxy.addr])).await);
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let s = s.clone();
            let image = image.clone();
            tokio::spawn(async move { s.review(&pod_review(&format!("u-{i}"), &image)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap()["allowed"], true);
    }
    let counts = proxy.counts();
    let fetches: Vec<(&String, &u64)> = counts
        .iter()
        .filter(|(k, _)| {
            k.contains("/manifests/") || k.contains("/blobs/") || k.contains("/referrers/")
        })
        .collect();
    assert!(fetches.len() >= 10, "{counts:?}");
    let sent: u64 = counts.values().sum();
    let m = s.metrics_text().await;
    let client_side = m
        .lines()
        .find(|l| l.starts_with("attestgate_registry_requests_total"))
        .unwrap_or_default()
        .to_owned();
    for (path, n) in &fetches {
        assert_eq!(
            **n, 1,
            "{path} fetched {n} times (proxy saw {sent}, client says {client_side}): {counts:?}"
        );
    }
}

#[tokio::test]
async fn a_registry_outage_follows_on_error_and_names_the_registry() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let (mut proxy, image) = behind_proxy(&reg, "webhook/outage").await;
    proxy.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for on_error in [OnError::Deny, OnError::Allow] {
        let mut c = config(&[&proxy.addr]);
        c.on_error = on_error;
        let budget = c.budget.0;
        let s = server(c).await;
        let started = Instant::now();
        let r = s.review(&pod_review("u-down", &image)).await;
        assert!(started.elapsed() < budget, "answered before the deadline");
        let text = r.to_string();
        assert!(text.contains(&proxy.addr), "names the registry: {r}");
        match on_error {
            OnError::Deny => assert_eq!(r["allowed"], false, "{r}"),
            OnError::Allow => {
                assert_eq!(r["allowed"], true);
                assert!(
                    r["warnings"]
                        .to_string()
                        .contains("allowed by onError: allow"),
                    "{r}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_slow_registry_is_cut_off_by_the_admission_budget() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let (proxy, image) = behind_proxy(&reg, "webhook/slow").await;
    proxy
        .delay_ms
        .store(3_000, std::sync::atomic::Ordering::Relaxed);
    let mut c = config(&[&proxy.addr]);
    c.budget = Dur(Duration::from_millis(1500));
    let s = server(c).await;
    let started = Instant::now();
    let r = s.review(&pod_review("u-slow", &image)).await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("1500 ms admission budget"),
        "{r}"
    );
}

#[tokio::test]
async fn loopback_and_metadata_registries_are_refused_without_connecting() {
    // A listener that counts connections stands in for a service on the node.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let s = server(config(&[])).await;
    for image in [
        format!("127.0.0.1:{port}/team/app:v1"),
        "169.254.169.254/latest/meta-data:v1".into(),
        format!("localhost:{port}/x:1"),
    ] {
        let r = s.review(&pod_review("u-ssrf", &image)).await;
        assert_eq!(r["allowed"], false, "{r}");
        assert!(
            r["status"]["message"].as_str().unwrap().contains("refused"),
            "{r}"
        );
    }
    assert!(
        listener.accept().is_err(),
        "a connection was made to the refused registry"
    );
    // Allowed by configuration: now it is contacted.
    let mut c = config(&[]);
    let host = format!("127.0.0.1:{port}");
    c.registries.allow_local = vec![host.clone()];
    c.registries.insecure = vec![host.clone()];
    let s = server(c).await;
    let _ = tokio::time::timeout(
        Duration::from_millis(300),
        s.review(&pod_review("u-allowed", &format!("{host}/team/app:v1"))),
    )
    .await;
    assert!(
        listener.accept().is_ok(),
        "the allowed registry was never contacted"
    );
}

#[tokio::test]
async fn excluded_images_and_namespaces_are_admitted_unjudged() {
    let mut c = config(&[]);
    c.exclude.images = vec!["example.invalid/**".into()];
    c.exclude.namespaces = vec!["tools".into()];
    let s = server(c).await;
    let r = s
        .review(&pod_review("u-ex", "example.invalid/team/app:1"))
        .await;
    assert_eq!(r["allowed"], true, "{r}");
    let mut other_ns = pod_review("u-ns", "unreachable.invalid/app:1");
    other_ns["request"]["namespace"] = json!("tools");
    assert_eq!(s.review(&other_ns).await["allowed"], true);
    assert_eq!(Mode::default(), Mode::Enforce);
}

#[tokio::test]
async fn images_from_registries_off_the_allow_list_are_denied_unfetched() {
    let mut c = config(&[]);
    c.registries.allow_list = vec!["registry.example.com".into()];
    let s = server(c).await;
    let r = s
        .review(&pod_review("u-off-list", "ghcr.io/someone/app:1"))
        .await;
    assert_eq!(r["allowed"], false);
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("registry ghcr.io is not allowed (allowed: registry.example.com)"),
        "{msg}"
    );
    assert!(
        s.metrics_text()
            .await
            .contains("attestgate_registry_requests_total 0")
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_admissions() {
    let Some(reg) = registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let (proxy, image) = behind_proxy(&reg, "webhook/shutdown").await;
    proxy
        .delay_ms
        .store(300, std::sync::atomic::Ordering::Relaxed);
    let s = Arc::new(server(config(&[&proxy.addr])).await);
    let in_flight = {
        let s = s.clone();
        tokio::spawn(async move { s.review(&pod_review("u-inflight", &image)).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.running.shutdown();
    let ready = reqwest::get(format!("{}/readyz", s.metrics)).await;
    if let Ok(r) = ready {
        assert_eq!(r.status().as_u16(), 503, "not ready while draining");
    }
    let r = in_flight.await.unwrap();
    assert_eq!(r["allowed"], true, "the in-flight admission completed: {r}");
}
