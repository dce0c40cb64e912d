//! The policy engine: the shipped policies agree with real OPA on realistic
//! inputs; malformed policies are clear errors that never allow; the
//! `test` and `eval` commands behave as the CLI contract says.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use attestgate::attestation::{PlatformSelection, Resolver};
use attestgate::policy::decision::{Verdict, decide};
use attestgate::policy::input::to_value;
use attestgate::policy::{
    ContainerInfo, ContainerKind, InputBuilder, Mode, OnError, PolicyOptions, PolicySet,
    RequestInfo, SourceFile, Sources,
};
use attestgate::registry::{Backend, CacheConfig, Keyring, Layout, Limits, Store};
use serde_json::{Value, json};
use support::fixtures::{
    SLSA_V1, SLSA_V02, SPDX, VULNS, slsa_v1_predicate, slsa_v02_predicate, v01, v1,
};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(support::binary()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------
// Inputs: from the corpus (resolved for real) and synthetic ones.

async fn corpus_inputs(corpus: &Path) -> Vec<Value> {
    let builder = InputBuilder::new(16 << 20);
    let mut out = Vec::new();
    for name in ["unsigned-index", "no-provenance-index", "unsigned-image"] {
        let layout =
            Layout::open(&corpus.join("attest/test/testdata").join(name), 4 << 20).unwrap();
        let image = layout.image_ref(None).unwrap();
        let store = Store::new(
            Backend::Layout(Arc::new(layout)),
            Limits::default(),
            &CacheConfig::default(),
        );
        let resolved = Resolver::new(Arc::new(store), Default::default())
            .resolve(&image, &Keyring::default(), &PlatformSelection::All)
            .await
            .unwrap();
        let request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "namespace": "apps", "name": "web"});
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": image.to_string()}]}});
        let info = RequestInfo::new(&request, Some(&pod));
        let container = ContainerInfo {
            name: "app".into(),
            kind: ContainerKind::Container,
            image: image.to_string(),
        };
        for p in &resolved.platforms {
            out.push(
                serde_json::to_value(builder.build(&RequestInfo::default(), None, p)).unwrap(),
            );
            out.push(serde_json::to_value(builder.build(&info, Some(&container), p)).unwrap());
        }
    }
    out
}

const AMD: &str = "sha256:1ab0a7e1b1f4e3c3d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9";
const ARM: &str = "sha256:2bc1b8f2c2e5f4d4e3a2b1cad9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0";
const IDX: &str = "sha256:3cd2c9a3d3f6a5e5f4b3c2dbeaf9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1";

fn attestation(statement: Value, source: &str, subject: &str) -> Value {
    json!({"predicateType": statement["predicateType"], "statement": statement, "digest": format!("sha256:{:064x}", statement.to_string().len()),
           "mediaType": "application/vnd.in-toto+json", "manifest": "sha256:4de3dab4e4a7b6f6a5c4d3ecfba0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2",
           "source": source, "subject": subject, "verified": false})
}

fn image(
    reference: &str,
    tag: Option<&str>,
    canonical: bool,
    platform: &str,
    digest: &str,
    provenance: Option<Value>,
) -> Value {
    let (os, arch) = platform.split_once('/').unwrap();
    let mut i = json!({"ref": reference, "host": "ghcr.io", "repo": "ghcr.io/example/app", "fullRepo": "ghcr.io/example/app",
        "checksum": IDX, "platform": platform, "os": os, "arch": arch, "digest": digest, "index": IDX,
        "createdTime": "2025-06-01T10:01:00Z", "env": ["PATH=/usr/bin"], "user": "1000"});
    if let Some(t) = tag {
        i["tag"] = json!(t);
    }
    if canonical {
        i["isCanonical"] = json!(true);
    }
    if let Some(p) = provenance {
        i["hasProvenance"] = json!(true);
        i["provenance"] = p;
    }
    i
}

fn vulns(subject: &str, results: Value) -> Value {
    v01(
        VULNS,
        &[subject],
        json!({"scanner": {"uri": "pkg:github/aquasecurity/trivy", "version": "0.50", "result": results}, "metadata": {"scanStartedOn": "2025-06-01T10:00:00Z"}}),
    )
}

fn synthetic_inputs() -> Vec<Value> {
    let trusted = "https://github.com/example/builder/.github/workflows/build.yml@refs/heads/main";
    let v02 =
        |d: &str, builder: &str, src: &str| v01(SLSA_V02, &[d], slsa_v02_predicate(builder, src));
    let slsa1 =
        |d: &str, builder: &str, src: &str| v1(SLSA_V1, &[d], slsa_v1_predicate(builder, src));
    let sbom = |d: &str| {
        v01(
            SPDX,
            &[d],
            json!({"spdxVersion": "SPDX-2.3", "packages": []}),
        )
    };
    let cdx = |d: &str| {
        v1(
            "https://cyclonedx.org/bom/v1.5",
            &[d],
            json!({"bomFormat": "CycloneDX", "specVersion": "1.5"}),
        )
    };
    let summary = |builder: &str, src: &str| json!({"predicateType": SLSA_V02, "buildType": "https://mobyproject.org/buildkit@v1", "builderID": builder, "configSource": {"uri": src}});
    let r = "ghcr.io/example/app:1.2.3";
    let mut unpinned_material = slsa_v02_predicate(trusted, "https://github.com/example/app.git");
    unpinned_material["materials"] = json!([{"uri": "pkg:docker/alpine@latest?platform=linux%2Famd64"}, {"uri": "https://github.com/example/app.git", "digest": {"sha1": "abc"}}]);
    let mut vcs_only = slsa_v02_predicate("", "");
    vcs_only["invocation"]["configSource"] = json!({"entryPoint": "Dockerfile"});
    vcs_only["metadata"]["https://mobyproject.org/buildkit@v1#metadata"] =
        json!({"vcs": {"source": "git@github.com:example/app.git", "revision": "ba33"}});
    let docs = vec![
        // Fully compliant, SLSA v0.2 + SBOM + clean vulnerability report, amd64.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, Some(summary(trusted, "https://github.com/example/app.git"))),
               "attestations": [attestation(v02(AMD, trusted, "https://github.com/example/app.git"), "index", "platform"), attestation(sbom(AMD), "index", "platform"), attestation(vulns(AMD, json!([])), "referrers", "platform")]}),
        // SLSA v1 bound to the index, CycloneDX SBOM, arm64.
        json!({"image": image(r, Some("1.2.3"), false, "linux/arm64", ARM, None),
               "attestations": [attestation(slsa1(IDX, trusted, "https://github.com/example/app.git"), "cosign-tag", "index"), attestation(cdx(ARM), "referrers", "platform")]}),
        // Nothing at all.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, None), "attestations": []}),
        // Provenance about another digest only (grafted): must not count.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, None),
               "attestations": [attestation(v02(ARM, trusted, "https://github.com/example/app.git"), "referrers-tag", "platform"), attestation(sbom(AMD), "index", "platform")]}),
        // Untrusted builder, foreign source repository, unpinned material.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, Some(summary("https://evil.example/builder", "https://gitlab.com/evil/app.git"))),
               "attestations": [attestation(v02(AMD, "https://evil.example/builder", "https://gitlab.com/evil/app.git"), "index", "platform"), attestation(sbom(AMD), "index", "platform")]}),
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, Some(summary(trusted, "https://github.com/example/app.git"))),
               "attestations": [attestation(v01(SLSA_V02, &[AMD], unpinned_material), "index", "platform"), attestation(sbom(AMD), "index", "platform")]}),
        // BuildKit local build: empty builder id, source only in VCS metadata.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, Some(json!({"predicateType": SLSA_V02, "buildType": "https://mobyproject.org/buildkit@v1", "configSource": {"path": "Dockerfile"}}))),
               "attestations": [attestation(v01(SLSA_V02, &[AMD], vcs_only), "index", "platform"), attestation(sbom(AMD), "index", "platform")]}),
        // Critical vulnerabilities: by word, by CVSS score, one ignored, one high.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, Some(summary(trusted, "https://github.com/example/app.git"))),
               "attestations": [attestation(v02(AMD, trusted, "https://github.com/example/app.git"), "index", "platform"), attestation(sbom(AMD), "index", "platform"),
                                attestation(vulns(AMD, json!([
                                    {"id": "CVE-2024-0001", "severity": [{"method": "nvd", "score": "CRITICAL"}]},
                                    {"id": "CVE-2024-0002", "severity": [{"method": "cvss_v3", "score": "9.8"}]},
                                    {"id": "CVE-2024-0003", "severity": [{"method": "cvss_v3", "score": "7.5"}]},
                                    {"id": "CVE-2023-9999", "severity": [{"method": "nvd", "score": "critical"}]},
                                    {"id": "GHSA-xxxx", "severity": [{"method": "ghsa", "score": "not-a-number"}]}
                                ])), "cosign-tag", "index")]}),
        // Floating tags and pins (the buildx-style policy).
        json!({"image": image("docker.io/library/nginx:latest", Some("latest"), false, "linux/amd64", AMD, None), "attestations": []}),
        json!({"image": image(&format!("docker.io/library/nginx@{IDX}"), None, true, "linux/amd64", AMD, None), "attestations": []}),
        json!({"image": image(&format!("docker.io/library/nginx:latest@{IDX}"), Some("latest"), true, "linux/amd64", AMD, None), "attestations": []}),
        // Malformed statements an attacker could push: wrong types everywhere.
        json!({"image": image(r, Some("1.2.3"), false, "linux/amd64", AMD, Some(json!({"builderID": 7, "configSource": "x"}))),
               "attestations": [{"predicateType": SLSA_V02, "statement": {"subject": "nope", "predicate": {"builder": {"id": ["x"]}, "materials": "m"}}},
                                {"predicateType": 5, "statement": null}, {"statement": {"subject": [{"digest": {"sha256": 1}}]}},
                                attestation(vulns(AMD, json!({"not": "a list"})), "index", "platform")]}),
        // A build-context input as buildx gives it (no image): buildx policies must allow it.
        json!({"local": {"name": "context"}, "env": {"filename": "Dockerfile"}}),
    ];
    docs
}

fn shipped_sources(data: Option<Value>) -> Sources {
    let mut sources = Sources::read(&[policies_dir()], false).unwrap();
    if let Some(d) = data {
        sources.data = vec![SourceFile {
            path: "configured.json".into(),
            data_path: vec![],
            contents: d.to_string(),
        }];
    }
    sources
}

fn configured_data() -> Value {
    json!({"attestgate": {
        "trusted_builders": {"builders": ["https://github.com/example/**"]},
        "source_repositories": {"repositories": ["https://github.com/example/*"]},
        "no_critical_vulnerabilities": {"threshold": 9.0, "ignore": ["CVE-2023-9999"], "require_report": true}
    }})
}

fn messages(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                Value::Object(o) => o
                    .get("msg")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string()),
                other => other.to_string(),
            })
            .collect(),
        Value::Null => Vec::new(),
        Value::Bool(true) => vec!["<true>".into()],
        Value::Bool(false) => Vec::new(),
        other => vec![other.to_string()],
    };
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn shipped_policies_give_the_same_answers_as_opa() {
    let Some(so) = std::env::var("ATTESTGATE_OPA_SO")
        .ok()
        .filter(|p| Path::new(p).is_file())
    else {
        support::skip("ATTESTGATE_OPA_SO is not set (scripts/test.sh fetches the OPA wheel)");
        return;
    };
    let mut inputs = synthetic_inputs();
    if let Some(corpus) = support::corpus() {
        inputs.extend(corpus_inputs(&corpus).await);
    }
    let (mut denials, mut clean) = (0, 0);
    for data in [None, Some(configured_data())] {
        let sources = shipped_sources(data);
        let set = PolicySet::compile(&sources, &PolicyOptions::default()).unwrap();
        let mut queries: Vec<(String, String, String)> = Vec::new();
        for p in set.deny_packages() {
            queries.push((p.clone(), "deny".into(), format!("data.{p}.deny")));
        }
        for p in set.warn_packages() {
            queries.push((p.clone(), "warn".into(), format!("data.{p}.warn")));
        }
        assert!(set.has_docker_decision());
        queries.push((
            "docker".into(),
            "decision".into(),
            "data.docker.decision".into(),
        ));
        assert!(queries.len() >= 9, "{queries:?}");

        let modules: serde_json::Map<String, Value> = sources
            .modules
            .iter()
            .map(|m| (m.path.clone(), Value::String(m.contents.clone())))
            .collect();
        let data: Value = sources.data.iter().fold(json!({}), |mut acc, d| {
            let mut v: Value = serde_json::from_str(&d.contents).unwrap();
            for k in d.data_path.iter().rev() {
                v = json!({k: v});
            }
            merge(&mut acc, v);
            acc
        });
        let request = json!({"modules": modules, "data": data, "queries": queries.iter().map(|q| q.2.clone()).collect::<Vec<_>>(), "inputs": inputs});
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opa/opa_decide.py"))
            .env("OPA_GOLIB_SO", &so)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(request.to_string().as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let opa: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert!(opa.get("error").is_none(), "OPA: {opa}");

        for (i, input) in inputs.iter().enumerate() {
            let outcome = set
                .evaluate(to_value(input))
                .unwrap_or_else(|e| panic!("input {i}: {e}"));
            let row = &opa["results"][i];
            for (q, (pkg, rule, _)) in queries.iter().enumerate() {
                let ours: Vec<String> = {
                    let list = if rule == "warn" {
                        &outcome.warn
                    } else {
                        &outcome.deny
                    };
                    let mut m: Vec<String> = list
                        .iter()
                        .filter(|f| &f.policy == pkg)
                        .map(|f| f.message.clone())
                        .collect();
                    m.sort();
                    m
                };
                let theirs = if rule == "decision" {
                    let d = &row[q];
                    if d["allow"] == true {
                        Vec::new()
                    } else {
                        let m = messages(&d["deny_msg"]);
                        if m.is_empty() {
                            vec![
                                "not allowed by policy (data.docker.decision.allow is not true)"
                                    .to_owned(),
                            ]
                        } else {
                            m
                        }
                    }
                } else {
                    messages(&row[q])
                };
                assert_eq!(
                    ours, theirs,
                    "input {i}, {pkg}.{rule}: attestgate (left) and OPA (right) disagree\ninput: {input}"
                );
                if rule == "deny" && !ours.is_empty() {
                    denials += 1;
                }
            }
            if outcome.deny.is_empty() {
                clean += 1;
            }
        }
    }
    // The inputs exercise both sides of the policies.
    assert!(
        denials >= 15 && clean >= 3,
        "denials {denials}, clean {clean}"
    );
}

fn merge(acc: &mut Value, v: Value) {
    match (acc, v) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

// ---------------------------------------------------------------------------
// Malformed policies.

fn policy_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load_err(files: &[(&str, &str)]) -> String {
    let dir = policy_dir(files);
    PolicySet::load(&[dir.path().to_owned()], &PolicyOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_policies_are_clear_errors_with_file_and_line() {
    let e = load_err(&[(
        "bad.rego",
        "package p\n\ndeny contains msg if {\n\tmsg := \n",
    )]);
    assert!(e.contains("bad.rego:4"), "{e}");
    let e = load_err(&[(
        "bad.rego",
        "package p\n\ndeny contains msg if {\n\tmsg := not_a_builtin(1)\n}\n",
    )]);
    assert!(
        e.contains("bad.rego:4") && e.contains("unknown function not_a_builtin"),
        "{e}"
    );
    let e = load_err(&[
        (
            "ok.rego",
            "package p\nimport data.q\ndeny contains \"x\" if q.f(1)\n",
        ),
        ("q.rego", "package q\nf(x) if g(x)\ng(x) if f(x)\n"),
    ]);
    assert!(e.contains("recursion") && e.contains("q.rego:"), "{e}");
    let e = load_err(&[(
        "r.rego",
        "package p\na if b\nb if a\ndeny contains \"x\" if a\n",
    )]);
    assert!(
        e.contains("recursion between rules is not allowed") && e.contains("r.rego:"),
        "{e}"
    );
    let e = load_err(&[(
        "v0.rego",
        "package p\ndeny[msg] { msg := \"old syntax\" }\n",
    )]);
    assert!(e.contains("v0.rego:2"), "{e}");
    let e = load_err(&[("data.json", "{\"a\": ")]);
    assert!(
        e.contains("no .rego modules") || e.contains("data.json"),
        "{e}"
    );
    let dir = policy_dir(&[
        ("p.rego", "package p\ndeny contains \"x\" if input.a\n"),
        ("data.json", "[1, 2]"),
    ]);
    let e = PolicySet::load(&[dir.path().to_owned()], &PolicyOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data.json") && e.contains("must be an object"),
        "{e}"
    );
    let deep = format!("package p\nx := {}1{}\n", "[".repeat(200), "]".repeat(200));
    let e = load_err(&[("deep.rego", &deep)]);
    assert!(e.contains("deep.rego:2") && e.contains("nested"), "{e}");
}

#[test]
fn runtime_conflicts_and_time_limits_are_errors_that_deny() {
    let dir = policy_dir(&[(
        "c.rego",
        "package p\n\nlevel := 1 if input.a\nlevel := 2 if input.b\n\ndeny contains \"too high\" if level > 1\n\nslow := count([1 | some x in numbers.range(1, 5000); some y in numbers.range(1, 5000)]) if input.slow\n\ndeny contains \"slow\" if slow > 0\n",
    )]);
    let options = PolicyOptions {
        eval_timeout: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let set = PolicySet::load(&[dir.path().to_owned()], &options).unwrap();
    // Fine inputs evaluate.
    assert!(
        set.evaluate(to_value(&json!({"a": true})))
            .unwrap()
            .deny
            .is_empty()
    );
    // Two values for a complete rule: an error naming the rule's place.
    let e = set
        .evaluate(to_value(&json!({"a": true, "b": true})))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("c.rego:") && text.contains("conflict"),
        "{text}"
    );
    // Over the time limit: an error, not a silent pass.
    let started = std::time::Instant::now();
    let e = set.evaluate(to_value(&json!({"slow": true}))).unwrap_err();
    assert!(e.to_string().contains("200 ms limit"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Under onError: deny, an error denies; it is never an allow.
    let v = Verdict::failed(
        None,
        "img".into(),
        Some("linux/amd64".into()),
        e.to_string(),
    );
    assert!(!decide(vec![v], Mode::Enforce, OnError::Deny).allowed);
}

#[test]
fn eval_never_exits_0_on_a_broken_policy() {
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        input.path(),
        r#"{"image": {"ref": "x", "platform": "linux/amd64"}, "attestations": []}"#,
    )
    .unwrap();
    for files in [
        vec![("bad.rego", "package p\ndeny contains \"x\" if {\n")],
        vec![(
            "bad.rego",
            "package p\ndeny contains x if { x := nope.nope(1) }\n",
        )],
        vec![(
            "bad.rego",
            "package p\nv := 1 if true\nv := 2 if true\ndeny contains \"x\" if v\n",
        )],
    ] {
        let dir = policy_dir(&files);
        let (code, out, err) = run(&[
            "eval",
            "--policy",
            dir.path().to_str().unwrap(),
            "--input",
            input.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "stdout {out} stderr {err}");
        assert!(err.contains("bad.rego:"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// The test and eval commands.

#[test]
fn test_command_passes_the_shipped_policies_and_names_a_broken_test() {
    let (code, out, err) = run(&["test", policies_dir().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap();
    let re = regex::Regex::new(r"^(\d+) passed, 0 failed$").unwrap();
    let n: usize = re
        .captures(last)
        .unwrap_or_else(|| panic!("last line {last:?}"))[1]
        .parse()
        .unwrap();
    assert!(n >= 50, "{last}");

    // A deliberately broken test: exit 1, named with its file and line.
    let dir = tempfile::tempdir().unwrap();
    let src = policies_dir().join("require-provenance");
    for f in ["policy.rego", "policy_test.rego"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("broken_test.rego"),
        "package attestgate.require_provenance_broken_test\n\nimport data.attestgate.require_provenance\n\ntest_no_attestations_is_allowed if {\n\tcount(require_provenance.deny) == 0 with input as {\"image\": {\"ref\": \"x\", \"platform\": \"linux/amd64\", \"digest\": \"sha256:aa\"}, \"attestations\": []}\n}\n\ntodo_test_later if false\n",
    )
    .unwrap();
    let (code, out, _) = run(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAIL data.attestgate.require_provenance_broken_test.test_no_attestations_is_allowed"
        ) && out.contains("broken_test.rego:5"),
        "{out}"
    );
    assert!(
        out.lines().last().unwrap().ends_with("1 failed, 1 skipped"),
        "{out}"
    );

    // --run narrows; --coverage reports covered / total lines and the gaps.
    let (code, out, _) = run(&[
        "test",
        dir.path().to_str().unwrap(),
        "--run",
        "require_provenance_test",
        "--coverage",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("policy.rego:") && out.contains("lines ("),
        "{out}"
    );
    assert!(
        regex::Regex::new(r"^\d+ passed, 0 failed$")
            .unwrap()
            .is_match(out.lines().last().unwrap()),
        "{out}"
    );
}

#[test]
fn eval_judges_the_corpus_images_as_the_issue_says() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let layouts = corpus.join("attest/test/testdata");
    let policy = policies_dir().join("require-provenance");
    let (code, out, err) = run(&[
        "eval",
        "--policy",
        policy.to_str().unwrap(),
        "--layout",
        layouts.join("no-provenance-index").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            out.lines().any(|l| l.contains(platform)
                && l.contains(
                    "has no SLSA provenance attestation; found: https://spdx.dev/Document"
                )),
            "{platform}: {out}"
        );
    }
    let (code, out, _) = run(&[
        "eval",
        "--policy",
        policy.to_str().unwrap(),
        "--layout",
        layouts.join("unsigned-index").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ALLOW")).count(),
        2,
        "{out}"
    );

    // JSON for machines, the whole shipped set, and a saved input document.
    let (code, out, _) = run(&[
        "eval",
        "--policy",
        policies_dir().to_str().unwrap(),
        "--layout",
        layouts.join("unsigned-index").to_str().unwrap(),
        "--output",
        "json",
        "--platform",
        "linux/arm64",
    ]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["allowed"], true);
    assert_eq!(doc["verdicts"].as_array().unwrap().len(), 1);
    assert_eq!(doc["verdicts"][0]["platform"], "linux/arm64");
    let (_, resolved, _) = run(&[
        "resolve",
        "--layout",
        layouts.join("no-provenance-index").to_str().unwrap(),
        "--platform",
        "linux/amd64",
    ]);
    let input = tempfile::NamedTempFile::new().unwrap();
    let first: Value = serde_json::from_str::<Value>(&resolved).unwrap()[0].clone();
    std::fs::write(input.path(), first.to_string()).unwrap();
    let (code, out, _) = run(&[
        "eval",
        "--policy",
        policy.to_str().unwrap(),
        "--input",
        input.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("linux/amd64"));
    // Usage errors are 2.
    assert_eq!(run(&["eval", "--policy", policy.to_str().unwrap()]).0, 2);
    assert_eq!(run(&["eval"]).0, 2);
}

#[tokio::test]
async fn eval_review_judges_every_container_as_the_webhook_would() {
    let Some(corpus) = support::corpus() else {
        return;
    };
    let Some(reg) = support::registry("ATTESTGATE_TEST_DISTRIBUTION") else {
        return;
    };
    let good = support::unique_repo("eval/good");
    let sbom_only = support::unique_repo("eval/sbom-only");
    support::Pusher::new(&reg, &good)
        .layout(&corpus.join("attest/test/testdata/unsigned-index"))
        .await;
    support::Pusher::new(&reg, &sbom_only)
        .layout(&corpus.join("attest/test/testdata/no-provenance-index"))
        .await;
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u1", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "namespace": "apps", "name": "api", "operation": "CREATE", "userInfo": {"username": "bob"},
        "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"selector": {}, "template": {"spec": {
            "initContainers": [{"name": "init", "image": format!("{reg}/{sbom_only}:test")}],
            "containers": [{"name": "api", "image": format!("{reg}/{good}:test")}],
            "ephemeralContainers": [{"name": "debug", "image": format!("{reg}/{good}:test")}]}}}}}});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), review.to_string()).unwrap();
    let policy = policies_dir().join("require-provenance");
    let eval = |platforms: &[&str]| {
        let mut args = vec![
            "eval",
            "--policy",
            policy.to_str().unwrap(),
            "--review",
            file.path().to_str().unwrap(),
            "--insecure-registry",
            &reg,
        ];
        for p in platforms {
            args.extend(["--platform", p]);
        }
        run(&args)
    };
    let (code, out, err) = eval(&["linux/arm64"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("DENY  init container \"init\"") && out.contains("linux/arm64"),
        "{out}"
    );
    assert!(
        out.contains("ALLOW container \"api\"")
            && out.contains("ALLOW ephemeral container \"debug\""),
        "{out}"
    );
    assert!(
        !out.contains("linux/amd64"),
        "only the requested platform: {out}"
    );

    // The pod's own nodeSelector narrows --platform, as in the webhook.
    let mut pinned = review.clone();
    pinned["request"]["object"]["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/arch": "amd64"});
    std::fs::write(file.path(), pinned.to_string()).unwrap();
    let (code, out, err) = eval(&["linux/arm64", "linux/amd64"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("linux/amd64") && !out.contains("linux/arm64"),
        "only the platform the pod can run on: {out}"
    );
    let (code, out, err) = eval(&["linux/arm64"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("allow none of the given platforms (linux/arm64)"),
        "{err}"
    );
}

#[test]
fn operator_data_overrides_the_shipped_defaults_and_must_agree_with_itself() {
    let mut sources = Sources::embedded();
    sources.data.push(SourceFile {
        path: "/etc/attestgate/policies/data.json".into(),
        data_path: vec![],
        contents: json!({"attestgate": {"trusted_builders": {"builders": ["https://github.com/example/**"]}}}).to_string(),
    });
    let set = PolicySet::compile(&sources, &PolicyOptions::default()).unwrap();
    // A local BuildKit build (empty builder id) is now judged by the configured list.
    let input = json!({"image": {"ref": "x", "platform": "linux/amd64", "digest": AMD, "hasProvenance": true,
        "provenance": {"predicateType": SLSA_V02, "buildType": "https://mobyproject.org/buildkit@v1"}},
        "attestations": [attestation(v01(SLSA_V02, &[AMD], slsa_v02_predicate("", "")), "index", "platform")]});
    let outcome = set.evaluate(to_value(&input)).unwrap();
    assert!(
        outcome
            .deny
            .iter()
            .any(|f| f.policy == "attestgate.trusted_builders"),
        "{outcome:?}"
    );
    // Two operator documents that disagree are an error naming the place.
    sources.data.push(SourceFile {
        path: "/etc/attestgate/policies/more.json".into(),
        data_path: vec![],
        contents: json!({"attestgate": {"trusted_builders": {"builders": ["other"]}}}).to_string(),
    });
    let e = PolicySet::compile(&sources, &PolicyOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("more.json") && e.contains("data.attestgate.trusted_builders.builders"),
        "{e}"
    );
}

#[test]
fn a_failing_package_does_not_hide_another_packages_denial() {
    let dir = policy_dir(&[
        (
            "broken.rego",
            "package broken\nv := 1 if true\nv := 2 if true\ndeny contains \"never\" if v == 3\n",
        ),
        (
            "strict.rego",
            "package strict\ndeny contains \"strict: no\" if true\n",
        ),
    ]);
    let set = PolicySet::load(&[dir.path().to_owned()], &PolicyOptions::default()).unwrap();
    let outcome = set.evaluate(to_value(&json!({}))).unwrap();
    assert_eq!(
        outcome
            .deny
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>(),
        ["strict: no"]
    );
    assert_eq!(outcome.errors.len(), 1, "{outcome:?}");
    // Even with onError: allow, the other package's denial stands.
    let mut v = Verdict::failed(None, "img".into(), None, outcome.errors.join("; "));
    v.deny = outcome.deny;
    assert!(!decide(vec![v], Mode::Enforce, OnError::Allow).allowed);
}
