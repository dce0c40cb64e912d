#!/usr/bin/env python3
"""Runs the real server with what the chart renders, the way the pod would.

    serve_rendered.py --bin target/release/attestgate --release R --namespace NS --work DIR RENDERED.yaml

The rendered config.yaml is used as is, except the listen addresses (free
ports on 127.0.0.1) and the /etc/attestgate/... paths, which point into DIR
where the rendered Secret and ConfigMaps are written in the kubelet's layout
(`..data` symlink to a timestamped directory). The server runs with
--no-kubernetes (no API server here). Then, as the API server would:

  - /healthz and /readyz answer on the metrics port (policies loaded, no
    policy error);
  - TLS: the serving certificate verifies against the webhook's caBundle for
    the name <service>.<namespace>.svc;
  - every webhook path of the ValidatingWebhookConfiguration answers an
    AdmissionReview: its uid echoed, kube-system admitted, and a pod whose
    registry is refused decided by that path's mode and onError;
  - the metrics named by the PrometheusRule (when rendered) exist;
  - policies.settings (the <name>-policy-settings ConfigMap, when rendered)
    reach the shipped policies: with trusted builders configured, an image
    from a local test registry (tests/chart/oci_test_registry.py, added to the
    config's insecure and allowLocal registries) whose provenance names
    another builder is denied by trusted-builders with the configured list,
    and one built by an allowed builder from an allowed source is not;
  - a policy added to the policies ConfigMap is picked up without a restart;
  - SIGTERM: the process exits 0 within terminationGracePeriodSeconds.
"""

import argparse
import base64
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from oci_test_registry import TestRegistry  # noqa: E402

FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_projected(directory, files, generation="..2025_01_01_00_00_00.000000001"):
    """Writes files as the kubelet does: DIR/..<ts>/name, DIR/..data -> ..<ts>, DIR/name -> ..data/name."""
    os.makedirs(directory, exist_ok=True)
    ts = os.path.join(directory, generation)
    os.makedirs(ts, exist_ok=True)
    for name, content in files.items():
        with open(os.path.join(ts, name), "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    tmp = os.path.join(directory, "..data_tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(generation, tmp)
    os.replace(tmp, os.path.join(directory, "..data"))
    for name in files:
        link = os.path.join(directory, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..data", name), link)


def http_get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def review(kind, namespace, image, uid):
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "chart-test", "namespace": namespace},
           "spec": {"containers": [{"name": "app", "image": image}]}}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "requestKind": {"group": "", "version": "v1", "kind": kind},
                        "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                        "name": "chart-test", "namespace": namespace, "operation": "CREATE",
                        "userInfo": {"username": "chart-test", "groups": ["system:authenticated"]},
                        "object": pod, "oldObject": None, "dryRun": False,
                        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}


def check_tls_reload(config, port, host, base):
    """Swap the mounted Secret to a new certificate the way the kubelet does
    (new ..data target) and wait until the server presents it."""
    tls_dir = os.path.dirname(config["tls"]["certFile"])
    tmp = os.path.join(tls_dir, "..new")
    os.makedirs(tmp, exist_ok=True)
    crt, key = os.path.join(tmp, "crt"), os.path.join(tmp, "key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", f"/CN={host}",
                        "-addext", f"subjectAltName=DNS:{host}"], capture_output=True, text=True)
    if not check(r.returncode == 0, f"openssl req: {r.stderr}"):
        return
    files = {"tls.crt": open(crt, "rb").read(), "tls.key": open(key, "rb").read()}
    write_projected(tls_dir, files, generation="..2025_01_02_00_00_00.000000002")
    ctx = ssl.create_default_context(cadata=files["tls.crt"].decode())
    interval = config["tls"].get("reloadInterval", "10s")
    seconds = float(re.sub(r"[a-z]+$", "", interval)) * {"ms": 0.001, "s": 1, "m": 60}[re.search(r"[a-z]+$", interval).group(0)]
    deadline = time.monotonic() + seconds + 10
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=host):
                    last = None
                    break
        except (ssl.SSLError, OSError) as e:
            last = e
            time.sleep(0.5)
    check(last is None, f"the replaced certificate is not served within {seconds + 10:.0f}s: {last}")
    status, text = http_get(base + "/metrics")
    check('attestgate_tls_reloads_total{result="success"} 1' in text, "attestgate_tls_reloads_total{result=\"success\"} is not 1 after the reload")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--check-tls-reload", action="store_true",
                    help="also replace the mounted certificate and wait for the server to serve the new one")
    ap.add_argument("rendered")
    a = ap.parse_args()
    variant = os.path.basename(a.rendered)
    docs = [d for d in yaml.safe_load_all(open(a.rendered)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    dep = by_kind["Deployment"][0]
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    vwc = by_kind["ValidatingWebhookConfiguration"][0]
    svc = by_kind["Service"][0]
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}

    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    config_path = c["args"][c["args"].index("--config") + 1]
    # Materialise every volume the container mounts, under WORK + mountPath.
    volumes = {v["name"]: v for v in pod["volumes"]}
    example_ca = None
    for s in secrets.values():
        if "ca.crt" in s.get("data", {}):
            example_ca = base64.b64decode(s["data"]["ca.crt"])
    for m in c["volumeMounts"]:
        v = volumes[m["name"]]
        target = work + m["mountPath"]
        files = {}
        if "configMap" in v:
            cm = configmaps.get(v["configMap"]["name"])
            if cm is None:
                print(f"SKIPPED [{variant}]: ConfigMap {v['configMap']['name']} is not rendered by the chart")
                return
            files = dict(cm.get("data", {}))
        elif "secret" in v:
            name = v["secret"]["secretName"]
            if name in secrets:
                files = {k: base64.b64decode(val) for k, val in secrets[name]["data"].items()}
            else:  # an operator's existing Secret: registry credentials
                files = {it["key"]: json.dumps({"auths": {}}) for it in v["secret"].get("items", [])}
        elif "projected" in v:
            for src in v["projected"]["sources"]:
                cm = configmaps.get(src["configMap"]["name"])
                for it in src["configMap"].get("items", []):
                    files[it["path"]] = cm["data"][it["key"]] if cm else example_ca  # operator's ConfigMap
        if "items" in v.get("secret", {}):
            files = {it["path"]: files[it["key"]] for it in v["secret"]["items"]}
        if m.get("subPath"):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            content = files[m["subPath"]]
            with open(target, "wb") as f:
                f.write(content if isinstance(content, bytes) else content.encode())
        else:
            write_projected(target, files)

    # The config as rendered; only addresses and the /etc/attestgate prefix change.
    config_file = work + config_path
    text = open(config_file).read()
    config = yaml.safe_load(text)
    port, metrics_port = free_port(), free_port()
    config["listen"] = f"127.0.0.1:{port}"
    config["metricsListen"] = f"127.0.0.1:{metrics_port}"
    relocated = json.loads(json.dumps(config).replace('"/etc/attestgate/', f'"{work}/etc/attestgate/'))
    settings_cm = configmaps.get(f"{dep['metadata']['name']}-policy-settings")
    settings = json.loads(settings_cm["data"]["data.json"]) if settings_cm else None
    registry = settings_registry(settings, relocated)
    with open(config_file, "w") as f:
        yaml.safe_dump(relocated, f)

    log_path = os.path.join(work, "server.log")
    log = open(log_path, "wb")
    env = dict(os.environ, RUST_LOG="info")
    proc = subprocess.Popen([a.bin, "serve", "--config", config_file, "--no-kubernetes"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        run_checks(a, variant, proc, port, metrics_port, relocated, vwc, svc, dep, by_kind, work, registry)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        if registry:
            registry["server"].stop()
    if FAILURES:
        for f in FAILURES:
            print(f"FAIL [{variant}]: {f}")
        print(f"--- server log ({log_path}), last lines:")
        print("".join(open(log_path, errors="replace").readlines()[-25:]))
        sys.exit(1)


def pattern_example(pattern):
    """A value the shipped policies' glob matches: `*` and `**` filled in."""
    return pattern.replace("**", "x/y").replace("*", "x")


def as_list(v):
    return [v] if isinstance(v, str) else list(v or [])


def settings_registry(settings, config):
    """When the settings configure trusted builders: a local registry with one
    image built by an allowed builder (from an allowed source) and one that
    is not, reachable by the server (plain HTTP, loopback allowed for it)."""
    shipped = (settings or {}).get("attestgate", {})
    builders = as_list(shipped.get("trusted_builders", {}).get("builders"))
    repositories = as_list(shipped.get("source_repositories", {}).get("repositories"))
    if not builders or not config["policies"]["includeDefault"]:
        return None
    if config["registries"]["allowList"] or "linux/amd64" not in config["defaultPlatforms"]:
        print("note: registries.allowList or the default platforms keep the settings check from running")
        return None
    server = TestRegistry()
    server.add_image("trusted", pattern_example(builders[0]),
                     pattern_example(repositories[0]) if repositories else "https://git.example/app")
    server.add_image("untrusted", "https://untrusted.invalid/builder", "https://untrusted.invalid/app")
    addr = server.start()
    config["registries"]["insecure"] = config["registries"]["insecure"] + [addr]
    config["registries"]["allowLocal"] = config["registries"]["allowLocal"] + [addr]
    return {"server": server, "addr": addr, "builders": builders, "repositories": repositories}


def check_settings(post, paths, registry):
    """The settings reach the shipped policies (see settings_registry)."""
    path = next((p for p, mode in paths if mode == "enforce"), None)
    if not path:
        print("note: no enforcing webhook path; the settings check did not run")
        return
    messages = {}
    for tag in ("untrusted", "trusted"):
        status, body = post(path, review("Pod", "team-a", f"{registry['addr']}/chart-test/app:{tag}", f"chart-test-settings-{tag}"))
        resp = body.get("response", {})
        messages[tag] = (resp.get("status") or {}).get("message", "")
        check(status == 200 and "cannot be judged" not in messages[tag],
              f"{path}: the test image {tag} was not judged: {status} {resp}")
    bad = messages["untrusted"]
    check('trusted-builders: ' in bad and 'untrusted builder "https://untrusted.invalid/builder"' in bad
          and all(b in bad for b in registry["builders"]),
          f"policies.settings do not reach trusted-builders: no denial naming the configured builders {registry['builders']}: {bad!r}")
    if registry["repositories"]:
        check("source-repositories: " in bad and all(r in bad for r in registry["repositories"]),
              f"policies.settings do not reach source-repositories ({registry['repositories']}): {bad!r}")
    good = messages["trusted"]
    check("trusted-builders:" not in good and "source-repositories:" not in good,
          f"an image built by an allowed builder from an allowed source is denied by trusted-builders or source-repositories: {good!r}")


def run_checks(a, variant, proc, port, metrics_port, config, vwc, svc, dep, by_kind, work, registry):
    base = f"http://127.0.0.1:{metrics_port}"
    deadline = time.monotonic() + 30
    ready = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            check(False, f"the server exited with {proc.returncode} at startup (does it accept the rendered config?)")
            return
        status, body = http_get(base + "/readyz")
        if status == 200:
            ready = json.loads(body)
            break
        time.sleep(0.2)
    if not check(ready is not None, f"/readyz not 200 within 30s: {http_get(base + '/readyz')}"):
        return
    check(http_get(base + "/healthz")[0] == 200, "/healthz on the metrics port is not 200")
    policy_status = ready.get("policies", {})
    check(policy_status.get("loaded") is True and not policy_status.get("lastError"),
          f"/readyz: the policies did not load cleanly: {policy_status}")
    modules_before = ready.get("policies", {}).get("modules", 0)

    # TLS as the API server does it: trust only the caBundle, name <svc>.<ns>.svc.
    host = f"{svc['metadata']['name']}.{a.namespace}.svc"
    bundle = base64.b64decode(vwc["webhooks"][0]["clientConfig"]["caBundle"]).decode()
    ctx = ssl.create_default_context(cadata=bundle)

    def post(path, body):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=15)
        # server_hostname for SNI and verification:
        conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=15), server_hostname=host)
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, json.loads(data)

    try:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=host)
        conn.request("GET", "/healthz")
        check(conn.getresponse().status == 200, "GET /healthz over HTTPS is not 200")
        conn.close()
    except (ssl.SSLError, OSError) as e:
        check(False, f"TLS to the webhook port with the caBundle for {host} fails: {e}")
        return

    mode_default = config["mode"]
    allow_list = config["registries"]["allowList"]
    image = "127.0.0.1:1/chart-test/app:1.0"  # loopback: refused, never contacted
    violation = bool(allow_list) or config["onError"] == "deny"
    n = 0
    paths = []
    for h in vwc["webhooks"]:
        path = h["clientConfig"]["service"]["path"]
        mode = path.rsplit("/", 1)[1] if path.count("/") == 2 else mode_default
        paths.append((path, mode))
        n += 1
        uid = f"chart-test-{n}-{mode}"
        status, body = post(path, review("Pod", "kube-system", image, uid + "-excluded"))
        resp = body.get("response", {})
        check(status == 200 and resp.get("uid") == uid + "-excluded" and resp.get("allowed") is True,
              f"{path}: a pod in kube-system is not admitted: {status} {body}")
        status, body = post(path, review("Pod", "team-a", image, uid))
        resp = body.get("response", {})
        if not check(status == 200 and resp.get("uid") == uid, f"{path}: no response for uid {uid}: {status} {body}"):
            continue
        if mode == "enforce":
            check(resp.get("allowed") is (not violation),
                  f"{path} (enforce, onError {config['onError']}): allowed={resp.get('allowed')}, expected {not violation}: {resp}")
            if violation:
                check("127.0.0.1:1" in (resp.get("status") or {}).get("message", ""),
                      f"{path}: the denial does not name the image: {resp}")
        elif mode == "warn":
            check(resp.get("allowed") is True, f"{path} (warn): not allowed: {resp}")
            if violation:
                check(resp.get("warnings"), f"{path} (warn): no warnings for a refused registry: {resp}")
        else:
            # Audit: admitted; a denial is never turned into a warning (errors
            # let through by onError: allow are still said out loud).
            check(resp.get("allowed") is True and not any("would be denied" in w for w in resp.get("warnings") or []),
                  f"{path} (audit): {resp}")

    if registry:
        check_settings(post, paths, registry)

    # The metrics of what just happened (the PrometheusRule's names are checked
    # statically against src/metrics.rs by check_rendered.py).
    status, text = http_get(base + "/metrics")
    check(status == 200, f"/metrics: {status}")
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    for name in ("attestgate_admissions", "attestgate_admission_duration_seconds", "attestgate_verdicts",
                 "attestgate_policy_healthy"):
        check(name in families, f"/metrics lacks {name} (exported: {sorted(families)})")

    if a.check_tls_reload:
        check_tls_reload(config, port, host, base)

    # A policy added to the ConfigMap is loaded without a restart.
    policies_dir = None
    for p in config["policies"]["paths"]:
        if policies_dir is None or os.path.basename(p) == "policies":
            policies_dir = p
    if policies_dir:
        existing = {n_: open(os.path.join(policies_dir, n_), "rb").read()
                    for n_ in os.listdir(policies_dir) if not n_.startswith(".")}
        existing["chart-test-added.rego"] = b'package charttest.added\n\nwarn contains "chart-test: added" if { false }\n'
        write_projected(policies_dir, existing, generation="..2025_01_02_00_00_00.000000002")
        interval = float(re.sub(r"[a-z]+$", "", config["policies"]["reloadInterval"]))
        unit = re.search(r"[a-z]+$", config["policies"]["reloadInterval"]).group(0)
        wait = 2 * interval * {"ms": 0.001, "s": 1, "m": 60}[unit] + 10
        deadline = time.monotonic() + wait
        modules = modules_before
        while time.monotonic() < deadline and modules <= modules_before:
            time.sleep(0.5)
            status, body = http_get(base + "/readyz")
            if status == 200:
                modules = json.loads(body).get("policies", {}).get("modules", 0)
        check(modules == modules_before + 1, f"the added policy was not loaded within {wait:.0f}s ({modules_before} -> {modules} modules)")

    # Graceful shutdown within the pod's grace period.
    grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = ((dep["spec"]["template"]["spec"]["containers"][0].get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=grace - pre_stop)
        check(rc == 0, f"exit code {rc} after SIGTERM")
    except subprocess.TimeoutExpired:
        check(False, f"still running {grace - pre_stop}s after SIGTERM (terminationGracePeriodSeconds {grace} - preStop {pre_stop})")
    if not FAILURES:
        print(f"ok: {variant}: the server runs with the rendered config; TLS verifies with the caBundle for {host}; "
              f"{len(vwc['webhooks'])} webhook path(s) answer by mode"
              f"{'; policies.settings reach the shipped policies' if registry else ''}"
              f"{'; an added policy is loaded' if config['policies']['paths'] else ''}"
              f"{'; the replaced certificate is served' if a.check_tls_reload else ''}; exits {time.monotonic() - started:.1f}s after SIGTERM")


if __name__ == "__main__":
    main()
