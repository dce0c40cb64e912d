#!/usr/bin/env python3
"""Assertions on the manifests rendered by the attestgate chart.

    check_rendered.py --chart charts/attestgate --config-rs src/config.rs \
        --release R --namespace NS [--values FILE]... RENDERED.yaml

The expectations come from the chart's values.yaml merged with the --values
files (as Helm merges them), so every assertion compares the rendered objects
with what the operator configured. The server's configuration file is checked
against the fields of `Config` in src/config.rs (which rejects unknown
fields). Needs PyYAML and the openssl command. Exits 1 with one line per
failed assertion.
"""

import argparse
import base64
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import yaml

FAILURES = []
CHECKS = 0


def check(condition, message):
    global CHECKS
    CHECKS += 1
    if not condition:
        FAILURES.append(message)
    return bool(condition)


def merge(base, override):
    """Helm's coalescing of values files: maps merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(base.get(k), v) if k in base else v
        return out
    return override


def duration_ms(text):
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m)", str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    factor = {"ms": 1, "s": 1000, "m": 60000}[m.group(2)]
    return math.ceil(float(m.group(1)) * factor)


# ---------------------------------------------------------------- config.rs

def config_schema(config_rs):
    """{struct: {camelCaseField: type-string}} from the serde structs of src/config.rs."""
    text = open(config_rs, encoding="utf-8").read()
    structs = {}
    for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", text, re.S):
        fields = {}
        for f in re.finditer(r"^\s*pub (\w+): ([^\n]+),\s*$", m.group(2), re.M):
            snake, typ = f.group(1), f.group(2).strip()
            camel = re.sub(r"_([a-z0-9])", lambda x: x.group(1).upper(), snake)
            fields[camel] = typ
        structs[m.group(1)] = fields
    return structs


def check_config_keys(value, struct, structs, where):
    if not check(isinstance(value, dict), f"config {where}: expected a mapping"):
        return
    fields = structs.get(struct)
    if not check(fields is not None, f"config {where}: struct {struct} not found in config.rs"):
        return
    for key, v in value.items():
        if not check(key in fields, f"config {where or '(root)'}: unknown key {key!r} "
                     f"(Config rejects unknown fields; known: {', '.join(sorted(fields))})"):
            continue
        typ = fields[key]
        inner = re.fullmatch(r"(?:Option<|Vec<)?(\w+)>?", typ)
        name = inner.group(1) if inner else typ
        if name in structs:
            if typ.startswith("Vec<"):
                for i, item in enumerate(v or []):
                    check_config_keys(item, name, structs, f"{where}{key}[{i}].")
            elif v is not None:
                check_config_keys(v, name, structs, f"{where}{key}.")


# ---------------------------------------------------------------- selectors

def selector_matches(selector, labels):
    if selector is None:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


# ---------------------------------------------------------------- openssl

def openssl(*args, stdin=None):
    r = subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def check_generated_tls(secret, ca_bundles, service, namespace, cluster_domain, tmp):
    data = secret.get("data") or {}
    for key in ("ca.crt", "tls.crt", "tls.key"):
        check(key in data, f"TLS Secret {secret['metadata']['name']}: no {key}")
    if not all(k in data for k in ("ca.crt", "tls.crt", "tls.key")):
        return
    check(secret.get("type") == "kubernetes.io/tls", "TLS Secret: type is not kubernetes.io/tls")
    for i, bundle in enumerate(ca_bundles):
        check(bundle == data["ca.crt"],
              f"webhook {i}: caBundle is not the CA (ca.crt) of Secret {secret['metadata']['name']}")
    paths = {}
    for key in ("ca.crt", "tls.crt", "tls.key"):
        paths[key] = os.path.join(tmp, key)
        with open(paths[key], "wb") as f:
            f.write(base64.b64decode(data[key]))
    # The caBundle the API server will trust must verify the serving certificate.
    bundle = os.path.join(tmp, "caBundle.pem")
    with open(bundle, "wb") as f:
        f.write(base64.b64decode(ca_bundles[0] if ca_bundles else data["ca.crt"]))
    rc, out = openssl("verify", "-purpose", "sslserver", "-CAfile", bundle, paths["tls.crt"])
    check(rc == 0 and ": OK" in out, f"serving certificate does not verify against the caBundle: {out.strip()}")
    # ... for the name the API server uses (<service>.<namespace>.svc).
    host = f"{service}.{namespace}.svc"
    rc, out = openssl("verify", "-purpose", "sslserver", "-verify_hostname", host,
                      "-CAfile", bundle, paths["tls.crt"])
    check(rc == 0, f"serving certificate is not valid for {host}: {out.strip()}")
    rc, out = openssl("x509", "-in", paths["tls.crt"], "-noout", "-ext", "subjectAltName")
    for name in (service, f"{service}.{namespace}", host, f"{host}.{cluster_domain}"):
        check(f"DNS:{name}" in out, f"serving certificate lacks the name {name}: {out.strip()}")
    rc, out = openssl("x509", "-in", paths["ca.crt"], "-noout", "-ext", "basicConstraints")
    check("CA:TRUE" in out, f"ca.crt is not a CA certificate: {out.strip()}")
    rc, out = openssl("x509", "-in", paths["ca.crt"], "-noout", "-issuer", "-subject", "-nameopt", "RFC2253")
    # The key belongs to the certificate.
    rc1, cert_pub = openssl("x509", "-in", paths["tls.crt"], "-noout", "-pubkey")
    rc2, key_pub = openssl("pkey", "-in", paths["tls.key"], "-pubout")
    check(rc1 == 0 and rc2 == 0 and cert_pub.strip() == key_pub.strip(),
          "tls.key is not the key of tls.crt")
    # Not a certificate signed by itself: the serving certificate is not the CA.
    rc, out = openssl("x509", "-in", paths["tls.crt"], "-noout", "-ext", "basicConstraints")
    check("CA:TRUE" not in out, "the serving certificate is a CA certificate")


# ---------------------------------------------------------------- main

ALLOWED_RBAC = {("", "nodes", "list"), ("", "nodes", "watch"),
                ("", "secrets", "get"), ("", "serviceaccounts", "get")}
RESTRICTED_VOLUME_TYPES = {"configMap", "secret", "projected", "emptyDir", "downwardAPI",
                           "csi", "ephemeral", "persistentVolumeClaim"}
EXPECTED_RULES = {
    ("", "pods", "CREATE"), ("", "pods", "UPDATE"),
    ("", "pods/ephemeralcontainers", "UPDATE"),
    ("", "replicationcontrollers", "CREATE"), ("", "replicationcontrollers", "UPDATE"),
    ("apps", "deployments", "CREATE"), ("apps", "deployments", "UPDATE"),
    ("apps", "replicasets", "CREATE"), ("apps", "replicasets", "UPDATE"),
    ("apps", "statefulsets", "CREATE"), ("apps", "statefulsets", "UPDATE"),
    ("apps", "daemonsets", "CREATE"), ("apps", "daemonsets", "UPDATE"),
    ("batch", "jobs", "CREATE"), ("batch", "jobs", "UPDATE"),
    ("batch", "cronjobs", "CREATE"), ("batch", "cronjobs", "UPDATE"),
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"}
DNS_WEBHOOK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?){2,}$")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chart", required=True)
    ap.add_argument("--config-rs", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--metrics-rs", help="src/metrics.rs: the alerts may only use metrics registered there")
    ap.add_argument("--values", action="append", default=[])
    ap.add_argument("rendered")
    a = ap.parse_args()

    values = yaml.safe_load(open(os.path.join(a.chart, "values.yaml")))
    for f in a.values:
        values = merge(values, yaml.safe_load(open(f)) or {})
    variant = os.path.basename(a.rendered)
    ns = a.namespace

    docs = [d for d in yaml.safe_load_all(open(a.rendered)) if d]
    objects = {}
    for d in docs:
        key = (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
        check(key not in objects, f"duplicate object {key}")
        objects[key] = d

    def of_kind(kind):
        return [d for d in docs if d["kind"] == kind]

    def one(kind):
        found = of_kind(kind)
        check(len(found) == 1, f"expected one {kind}, found {len(found)}")
        return found[0] if found else None

    # -- conventions: labels, namespaces
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        where = f"{d['kind']}/{d['metadata']['name']}"
        for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                  "app.kubernetes.io/managed-by", "helm.sh/chart"):
            check(k in labels, f"{where}: no label {k}")
        check(labels.get("app.kubernetes.io/instance") == a.release, f"{where}: wrong instance label")
        if d["kind"] in CLUSTER_SCOPED:
            check("namespace" not in d["metadata"], f"{where}: cluster-scoped object with a namespace")
        elif d["kind"] not in ("Role", "RoleBinding"):
            check(d["metadata"].get("namespace") == ns, f"{where}: not in the release namespace {ns}")

    dep = one("Deployment")
    svc = one("Service")
    vwc = one("ValidatingWebhookConfiguration")
    cfg_maps = [d for d in of_kind("ConfigMap") if "config.yaml" in (d.get("data") or {})]
    check(len(cfg_maps) == 1, "expected one ConfigMap with config.yaml")
    if not (dep and svc and vwc and cfg_maps):
        return finish(variant)
    config = yaml.safe_load(cfg_maps[0]["data"]["config.yaml"])
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    containers = spec["containers"]
    check(len(containers) == 1 and not spec.get("initContainers"), "expected exactly one container")
    c = containers[0]

    # -- the server's configuration file: keys known to Config, values as configured
    structs = config_schema(a.config_rs)
    check("Config" in structs and "listen" in structs["Config"], "could not read Config from config.rs")
    check_config_keys(config, "Config", structs, "")
    budget_ms = duration_ms(values["budget"])
    check(config["mode"] == values["mode"], "config mode differs from values")
    check(config["onError"] == values["onError"], "config onError differs from values")
    check(config["platformMismatch"] == values["platformMismatch"], "config platformMismatch differs")
    check(config["defaultPlatforms"] == values["platforms"], "config defaultPlatforms differ from values.platforms")
    check(config["nodePlatforms"] == values["nodePlatforms"], "config nodePlatforms differs")
    check(config["pullSecrets"] == values["pullSecrets"]["enabled"], "config pullSecrets differs")
    check(config["changedImagesOnly"] == values["changedImagesOnly"], "config changedImagesOnly differs")
    check(duration_ms(config["budget"]) == budget_ms, "config budget differs from values")
    check(config["maxBodyBytes"] == values["maxBodyBytes"], "config maxBodyBytes differs")
    check(config["cache"] == values["cache"], "config cache differs from values.cache")
    check(config["exclude"]["images"] == values["excludeImages"], "config exclude.images differs")
    for n in [ns, "kube-system", *values["excludeNamespaces"]]:
        check(n in config["exclude"]["namespaces"], f"config exclude.namespaces lacks {n}")
    reg = values["registries"]
    for k in ("insecure", "allowLocal", "refusePrivateNetworks", "allowList", "limits"):
        check(config["registries"][k] == reg[k], f"config registries.{k} differs from values")
    check(config.get("attestationRepositories", []) == values["attestationRepositories"],
          "config attestationRepositories differ")
    check(config["policies"]["includeDefault"] == values["policies"]["includeDefault"],
          "config policies.includeDefault differs")
    check(config["policies"]["includeDefault"] or config["policies"]["paths"],
          "no policies at all (includeDefault false and no paths)")

    # -- the webhook configuration
    check(vwc["apiVersion"] == "admissionregistration.k8s.io/v1", "webhook configuration is not admissionregistration.k8s.io/v1")
    hooks = vwc.get("webhooks") or []
    names = [h["name"] for h in hooks]
    check(len(set(names)) == len(names), f"webhook names not unique: {names}")
    for n in names:
        check(DNS_WEBHOOK_NAME.match(n), f"webhook name {n!r} is not a fully qualified DNS name")
    modes_enabled = values["namespaceModes"]["enabled"]
    check(len(hooks) == (3 if modes_enabled else 1), f"expected {3 if modes_enabled else 1} webhooks, found {len(hooks)}")
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    cports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check(config["listen"].endswith(f":{cports.get('https')}"), "config listen port is not the container port https")
    check(config["metricsListen"].endswith(f":{cports.get('http-metrics')}"), "config metricsListen port is not the container port http-metrics")
    check(svc_ports.get("https", {}).get("targetPort") in ("https", cports.get("https")), "Service https does not target the container's https port")
    check(selector_matches({"matchLabels": svc["spec"]["selector"]}, pod["metadata"]["labels"]), "Service selector does not select the pods")
    check(selector_matches(dep["spec"]["selector"], pod["metadata"]["labels"]), "Deployment selector does not select its pods")
    ca_bundles = []
    for h in hooks:
        w = f"webhook {h['name']}"
        check(h.get("sideEffects") == "None", f"{w}: sideEffects is {h.get('sideEffects')!r}, not None")
        hook_mode = h["name"].split(".")[0]
        expected_policy = values["failurePolicy"] if hook_mode == "enforce" else values["warnAuditFailurePolicy"]
        check(h.get("failurePolicy") == expected_policy, f"{w}: failurePolicy {h.get('failurePolicy')} != {expected_policy} (configured for {hook_mode})")
        check(h.get("timeoutSeconds") == values["timeoutSeconds"], f"{w}: timeoutSeconds {h.get('timeoutSeconds')} != {values['timeoutSeconds']}")
        check(budget_ms < h.get("timeoutSeconds", 0) * 1000, f"{w}: the server budget {budget_ms}ms is not below timeoutSeconds")
        check("v1" in (h.get("admissionReviewVersions") or []), f"{w}: admissionReviewVersions lacks v1")
        s = (h.get("clientConfig") or {}).get("service") or {}
        check(s.get("name") == svc["metadata"]["name"] and s.get("namespace") == ns, f"{w}: does not call the chart's Service")
        check(s.get("port") == svc_ports.get("https", {}).get("port"), f"{w}: port is not the Service's https port")
        if "caBundle" in h["clientConfig"]:
            ca_bundles.append(h["clientConfig"]["caBundle"])
        rules = set()
        for r in h.get("rules") or []:
            check(r.get("scope") == "Namespaced", f"{w}: a rule is not scope Namespaced")
            check(r.get("apiVersions") == ["v1"], f"{w}: rule apiVersions {r.get('apiVersions')}")
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    for op in r["operations"]:
                        rules.add((g, res, op))
        check(rules == EXPECTED_RULES, f"{w}: rules differ: missing {sorted(EXPECTED_RULES - rules)}, extra {sorted(rules - EXPECTED_RULES)}")
        conds = [m["name"] for m in h.get("matchConditions") or []]
        check(len(set(conds)) == len(conds), f"{w}: matchCondition names not unique")
        if values["webhook"]["skipDeleting"]:
            check("not-being-deleted" in conds, f"{w}: no not-being-deleted matchCondition")
        if values["webhook"]["skipUnchangedSpec"]:
            check("spec-changed" in conds, f"{w}: no spec-changed matchCondition")
        for extra in values["webhook"]["extraMatchConditions"]:
            check(extra["name"] in conds, f"{w}: extra matchCondition {extra['name']} missing")

    # Namespaces: who is sent to which webhook (and path, hence mode).
    mode_label = values["namespaceModes"]["label"]
    ignore = values["ignoreLabel"]

    def hooks_for(name, labels):
        labels = dict(labels, **{"kubernetes.io/metadata.name": name})
        return [h for h in hooks if selector_matches(h.get("namespaceSelector"), labels)]

    for excluded in [ns, "kube-system", *values["excludeNamespaces"]]:
        for lab in ({}, {mode_label: "warn"}, {mode_label: "audit"}, {mode_label: "enforce"}):
            got = hooks_for(excluded, lab)
            check(not got, f"namespace {excluded} {lab} is sent to {[h['name'] for h in got]}")
    got = hooks_for("team-a", {ignore: "true"})
    check(not got, f"a namespace labelled {ignore}=true is sent to {[h['name'] for h in got]}")
    default_mode = values["mode"]
    cases = [({}, default_mode), ({mode_label: "something-else"}, default_mode)]
    for m in ("enforce", "warn", "audit"):
        cases.append(({mode_label: m}, m if modes_enabled else default_mode))
    for lab, expected_mode in cases:
        got = hooks_for("team-a", lab)
        if not check(len(got) == 1, f"namespace team-a {lab}: expected exactly one webhook, got {[h['name'] for h in got]}"):
            continue
        path = got[0]["clientConfig"]["service"]["path"]
        if expected_mode == default_mode:
            check(path == "/validate", f"namespace team-a {lab}: path {path}, expected /validate (config mode {default_mode})")
        else:
            check(path == f"/validate/{expected_mode}", f"namespace team-a {lab}: path {path}, expected /validate/{expected_mode}")
        check(got[0]["name"].startswith(expected_mode + "."), f"namespace team-a {lab}: webhook {got[0]['name']} for mode {expected_mode}")

    # -- TLS: the caBundle matches the serving certificate
    tls_volume = next((v for v in spec.get("volumes", []) if v["name"] == "tls"), None)
    check(tls_volume and "secret" in tls_volume, "no tls Secret volume")
    tls_secret_name = tls_volume["secret"]["secretName"] if tls_volume else None
    tls_mount = next((m for m in c.get("volumeMounts", []) if m["name"] == "tls"), None)
    check(tls_mount and config["tls"]["certFile"] == f"{tls_mount['mountPath']}/tls.crt"
          and config["tls"]["keyFile"] == f"{tls_mount['mountPath']}/tls.key",
          "config tls.certFile/keyFile are not the mounted Secret's tls.crt/tls.key")
    service = svc["metadata"]["name"]
    if values["tls"]["certManager"]["enabled"]:
        check(not ca_bundles, "cert-manager: the chart must not set a caBundle (cainjector does)")
        inject = (vwc["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from", "")
        certs = {d["metadata"]["name"]: d for d in of_kind("Certificate")}
        cert_ns, _, cert_name = inject.partition("/")
        serving = certs.get(cert_name)
        check(cert_ns == ns and serving is not None, f"cert-manager: inject-ca-from {inject!r} names no Certificate of the chart")
        check(not any(d["kind"] == "Secret" for d in docs), "cert-manager: the chart also renders a Secret")
        if serving:
            check(serving["spec"]["secretName"] == tls_secret_name, "cert-manager: the serving Certificate's Secret is not the one mounted")
            for name in (service, f"{service}.{ns}", f"{service}.{ns}.svc"):
                check(name in serving["spec"].get("dnsNames", []), f"cert-manager: serving Certificate lacks {name}")
            check(not serving["spec"].get("isCA"), "cert-manager: the serving Certificate is a CA")
            ref = serving["spec"]["issuerRef"]
            if values["tls"]["certManager"]["issuerRef"]:
                check(ref == values["tls"]["certManager"]["issuerRef"], "cert-manager: issuerRef is not the configured one")
                check(not of_kind("Issuer"), "cert-manager: Issuers rendered although issuerRef is given")
            else:
                issuers = {d["metadata"]["name"]: d for d in of_kind("Issuer")}
                ca_issuer = issuers.get(ref.get("name"))
                check(ref.get("kind") == "Issuer" and ca_issuer and "ca" in ca_issuer["spec"],
                      "cert-manager: the serving Certificate is not issued by the chart's CA Issuer")
                if ca_issuer:
                    ca_cert = next((d for d in certs.values() if d["spec"].get("secretName") == ca_issuer["spec"]["ca"]["secretName"]), None)
                    check(ca_cert and ca_cert["spec"].get("isCA"), "cert-manager: the CA Issuer's Secret is not issued by an isCA Certificate")
                    if ca_cert:
                        root = issuers.get(ca_cert["spec"]["issuerRef"]["name"])
                        check(root and "selfSigned" in root["spec"], "cert-manager: the CA is not issued by a selfSigned Issuer")
    else:
        secrets = {d["metadata"]["name"]: d for d in of_kind("Secret")}
        secret = secrets.get(tls_secret_name)
        check(secret is not None, f"generated TLS: no Secret {tls_secret_name} rendered")
        check(len(ca_bundles) == len(hooks), "generated TLS: a webhook has no caBundle")
        check(not of_kind("Certificate") and not of_kind("Issuer"), "generated TLS: cert-manager objects rendered")
        if secret:
            with tempfile.TemporaryDirectory() as tmp:
                check_generated_tls(secret, ca_bundles, service, ns, values["clusterDomain"], tmp)

    # -- RBAC: nothing beyond nodes list/watch, secrets and serviceaccounts get
    sa_name = spec.get("serviceAccountName")
    check(sa_name and any(d["metadata"]["name"] == sa_name for d in of_kind("ServiceAccount")), "the pod's ServiceAccount is not rendered")
    needs_api = values["nodePlatforms"] or values["pullSecrets"]["enabled"]
    check(spec.get("automountServiceAccountToken") is needs_api, f"automountServiceAccountToken should be {needs_api}")
    for d in docs:
        if d["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            check(d["apiVersion"] == "rbac.authorization.k8s.io/v1", f"{d['kind']}: apiVersion")
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs if d["kind"] in ("Role", "ClusterRole")}
    cluster_grants, ns_grants = set(), {}
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for s in b.get("subjects", []):
            check(s == {"kind": "ServiceAccount", "name": sa_name, "namespace": ns},
                  f"{b['kind']} {b['metadata']['name']}: binds {s}, not only the chart's ServiceAccount")
        ref = b["roleRef"]
        role = roles.get((ref["kind"], b["metadata"].get("namespace") if ref["kind"] == "Role" else None, ref["name"]))
        if not check(role is not None, f"{b['kind']} {b['metadata']['name']}: roleRef {ref} is not rendered by the chart"):
            continue
        for r in role.get("rules", []):
            check(not r.get("resourceNames") and not r.get("nonResourceURLs"), f"{role['kind']} {role['metadata']['name']}: unexpected rule fields {r}")
            for g in r.get("apiGroups", []):
                for res in r.get("resources", []):
                    for verb in r.get("verbs", []):
                        grant = (g, res, verb)
                        check(grant in ALLOWED_RBAC, f"{role['kind']} {role['metadata']['name']}: grants {verb} on {g or 'core'}/{res}, beyond the least-privilege list")
                        if b["kind"] == "ClusterRoleBinding":
                            cluster_grants.add(grant)
                        else:
                            ns_grants.setdefault(b["metadata"]["namespace"], set()).add(grant)
    for d in roles.values():
        bound = any(b["kind"] in ("RoleBinding", "ClusterRoleBinding") and b["roleRef"]["name"] == d["metadata"]["name"] for b in docs)
        check(bound, f"{d['kind']} {d['metadata']['name']} is not bound")
    pull = {("", "secrets", "get"), ("", "serviceaccounts", "get")}
    nodes = {("", "nodes", "list"), ("", "nodes", "watch")}
    expected_cluster = set()
    if values["nodePlatforms"]:
        expected_cluster |= nodes
    namespaced = values["rbac"]["pullSecrets"]["scope"] == "namespaced"
    if values["pullSecrets"]["enabled"] and not namespaced:
        expected_cluster |= pull
    check(cluster_grants == expected_cluster, f"cluster-wide grants {sorted(cluster_grants)}, expected {sorted(expected_cluster)}")
    expected_ns = {}
    if values["pullSecrets"]["enabled"] and namespaced:
        expected_ns = {n: pull for n in values["rbac"]["pullSecrets"]["namespaces"]}
    check(ns_grants == expected_ns, f"namespaced grants {ns_grants}, expected {expected_ns}")

    # -- the restricted security context (Pod Security Standards "restricted")
    psc = spec.get("securityContext") or {}
    sc = c.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True or sc.get("runAsNonRoot") is True, "runAsNonRoot is not set")
    check(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, "the container may run as root")
    for ctx, where in ((psc, "pod"), (sc, "container")):
        check(ctx.get("runAsUser", 1) != 0, f"{where} runAsUser is 0")
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    check(seccomp in ("RuntimeDefault", "Localhost"), f"seccomp profile is {seccomp!r}")
    check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    check(not sc.get("privileged"), "the container is privileged")
    check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), "capabilities do not drop ALL")
    check(not (sc.get("capabilities") or {}).get("add"), "capabilities are added")
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        check(not spec.get(k), f"{k} is set")
    for v in spec.get("volumes", []):
        kinds = set(v) - {"name"}
        check(kinds <= RESTRICTED_VOLUME_TYPES, f"volume {v['name']} of type {kinds} is not allowed by the restricted profile")
    for p in c.get("ports", []):
        check("hostPort" not in p, "a hostPort is used")

    # -- availability and shutdown
    if values["autoscaling"]["enabled"]:
        check("replicas" not in dep["spec"], "replicas set although an HPA scales the Deployment")
        hpa = one("HorizontalPodAutoscaler")
        if hpa:
            check(hpa["spec"]["minReplicas"] == values["autoscaling"]["minReplicas"], "HPA minReplicas differs")
            check(hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], "HPA does not scale the Deployment")
    else:
        check(dep["spec"].get("replicas") == values["replicaCount"], f"replicas {dep['spec'].get('replicas')} != {values['replicaCount']}")
        check(not of_kind("HorizontalPodAutoscaler"), "HPA rendered although disabled")
    check(dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "rollouts may drop below the replica count")
    spread = {t["topologyKey"]: t for t in spec.get("topologySpreadConstraints", [])}
    if values["topologySpread"]["nodes"]:
        t = spread.get("kubernetes.io/hostname")
        check(t and t["whenUnsatisfiable"] == values["topologySpread"]["nodes"], "no topology spread across nodes")
        if t:
            check(selector_matches(t["labelSelector"], pod["metadata"]["labels"]), "the node spread constraint does not select the pods")
    if values["podDisruptionBudget"]["enabled"]:
        pdb = one("PodDisruptionBudget")
        if pdb:
            check(selector_matches(pdb["spec"]["selector"], pod["metadata"]["labels"]), "PDB does not select the pods")
            if values["podDisruptionBudget"].get("minAvailable") is not None:
                check(pdb["spec"].get("minAvailable") == values["podDisruptionBudget"]["minAvailable"], "PDB minAvailable differs")
            else:
                check(pdb["spec"].get("maxUnavailable") == values["podDisruptionBudget"]["maxUnavailable"], "PDB maxUnavailable differs")
    res = c.get("resources") or {}
    check((res.get("requests") or {}).get("cpu") and (res.get("requests") or {}).get("memory"), "no cpu/memory requests")
    mem_limit = (res.get("limits") or {}).get("memory")
    check(mem_limit, "no memory limit")
    if mem_limit:
        m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi)?", str(mem_limit))
        if check(m, f"memory limit {mem_limit} not understood"):
            limit = int(m.group(1)) * {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, None: 1}[m.group(2)]
            caches = values["cache"]["contentBytes"] + values["cache"]["statementBytes"]
            check(limit >= caches + (64 << 20), f"memory limit {mem_limit} leaves no room beyond the caches ({caches} bytes)")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe) or {}
        port = (p.get("httpGet") or {}).get("port")
        check(port in ("http-metrics", cports.get("http-metrics")), f"{probe}: not an HTTP probe of the metrics port")
    check((c.get("readinessProbe") or {}).get("httpGet", {}).get("path") == "/readyz", "readiness probe is not /readyz")
    check((c.get("livenessProbe") or {}).get("httpGet", {}).get("path") == "/healthz", "liveness probe is not /healthz")
    pre_stop = ((c.get("lifecycle") or {}).get("preStop") or {})
    check("exec" not in pre_stop, "preStop uses exec: the image has no shell")
    sleep = (pre_stop.get("sleep") or {}).get("seconds", 0)
    check(sleep == values["preStopSleepSeconds"], f"preStop sleep {sleep} != {values['preStopSleepSeconds']}")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    needed = sleep + math.ceil(budget_ms / 1000) + 2
    check(grace >= needed, f"terminationGracePeriodSeconds {grace} < preStop {sleep}s + budget + 2s = {needed}s")
    check(grace <= needed + 15, f"terminationGracePeriodSeconds {grace} is far above what shutdown needs ({needed}s)")

    # -- the command line and mounts the configuration relies on
    check(c.get("args", [])[:1] == ["serve"] and "--config" in c.get("args", []), f"args {c.get('args')} do not run serve --config")
    config_path = c["args"][c["args"].index("--config") + 1] if "--config" in c.get("args", []) else None
    mount = next((m for m in c.get("volumeMounts", []) if m["mountPath"] == config_path), None)
    check(mount and mount.get("subPath") == "config.yaml", "the --config file is not the mounted config.yaml")
    vol = next((v for v in spec["volumes"] if mount and v["name"] == mount["name"]), None)
    check(vol and vol.get("configMap", {}).get("name") == cfg_maps[0]["metadata"]["name"], "the config volume is not the rendered ConfigMap")
    check(all(m.get("readOnly") for m in c.get("volumeMounts", [])), "a volume is mounted read-write")

    # Policies: shipped by default; add or replace from a ConfigMap; settings
    # (policies.settings) as data.json in a ConfigMap of their own.
    pol = values["policies"]
    pol_vol = next((v for v in spec["volumes"] if v["name"] == "policies"), None)
    pol_mount = next((m for m in c.get("volumeMounts", []) if m["name"] == "policies"), None)
    set_vol = next((v for v in spec["volumes"] if v["name"] == "policy-settings"), None)
    set_mount = next((m for m in c.get("volumeMounts", []) if m["name"] == "policy-settings"), None)
    settings_cm_name = f"{dep['metadata']['name']}-policy-settings"
    settings_cm = next((d for d in of_kind("ConfigMap") if d["metadata"]["name"] == settings_cm_name), None)
    expected_paths = []
    if pol["configMap"] or pol["files"]:
        expected_cm = pol["configMap"] or f"{dep['metadata']['name']}-policies"
        check(pol_vol and pol_vol["configMap"]["name"] == expected_cm, f"policies volume is not ConfigMap {expected_cm}")
        check(pol_mount and "subPath" not in pol_mount, "policies mounted with subPath: changes would never reach the pod")
        if pol_mount:
            expected_paths.append(pol_mount["mountPath"])
        if pol["configMap"]:
            check(not any(d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-policies") for d in docs), "a policies ConfigMap is rendered although an existing one is named")
        else:
            cm = next((d for d in of_kind("ConfigMap") if d["metadata"]["name"] == expected_cm), None)
            check(cm and cm["data"] == pol["files"], "the policies ConfigMap does not hold policies.files verbatim")
    else:
        check(pol_vol is None and pol_mount is None, "policies mounted although none are configured")
    if pol["settings"]:
        data = (settings_cm or {}).get("data") or {}
        if check(settings_cm and list(data) == ["data.json"], f"ConfigMap {settings_cm_name} does not hold exactly data.json: {sorted(data)}"):
            try:
                rendered_settings = json.loads(data["data.json"])
            except ValueError as e:
                rendered_settings = f"not JSON: {e}"
            check(rendered_settings == pol["settings"],
                  f"ConfigMap {settings_cm_name}: data.json {rendered_settings!r} is not policies.settings {pol['settings']!r}")
        check(set_vol and set_vol.get("configMap", {}).get("name") == settings_cm_name, f"policy-settings volume is not ConfigMap {settings_cm_name}")
        check(set_mount and "subPath" not in set_mount, "policy settings mounted with subPath: changes would never reach the pod")
        check(not (pol_mount and set_mount and pol_mount["mountPath"] == set_mount["mountPath"]), "policies and policy settings share a mount path")
        if set_mount:
            expected_paths.append(set_mount["mountPath"])
    else:
        check(settings_cm is None and set_vol is None and set_mount is None, "policy settings rendered or mounted although policies.settings is empty")
    check(config["policies"]["paths"] == expected_paths,
          f"config policies.paths {config['policies']['paths']} are not the mounted policy directories {expected_paths}")
    check(config["policies"]["includeDefault"] == pol["includeDefault"], "includeDefault differs")

    # Registry credentials and CAs reach the paths the config names.
    creds = values["registries"]["credentials"]["existingSecret"]
    if creds:
        cv = next((v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == creds), None)
        cm_ = next((m for m in c["volumeMounts"] if cv and m["name"] == cv["name"]), None)
        check(cv and cm_ and config["registries"].get("dockerConfig") == f"{cm_['mountPath']}/{values['registries']['credentials']['key']}",
              "registries.dockerConfig is not the mounted credentials Secret")
    else:
        check("dockerConfig" not in config["registries"], "dockerConfig set without credentials")
    ca_mount = next((m for m in c.get("volumeMounts", []) if m["name"] == "registry-ca"), None)
    for f in config["registries"]["caFiles"]:
        check(ca_mount and f.startswith(ca_mount["mountPath"] + "/"), f"registry CA file {f} is not in a mounted volume")

    # -- optional objects
    if values["serviceMonitor"]["enabled"]:
        sm = one("ServiceMonitor")
        if sm:
            check(sm["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
            check(selector_matches(sm["spec"]["selector"], svc["metadata"]["labels"]), "ServiceMonitor does not select the Service")
            check(all(e["port"] in svc_ports for e in sm["spec"]["endpoints"]), "ServiceMonitor port is not a Service port")
            check(all(e["path"] == "/metrics" for e in sm["spec"]["endpoints"]), "ServiceMonitor path is not /metrics")
    else:
        check(not of_kind("ServiceMonitor"), "ServiceMonitor rendered although disabled")
    registered = set()
    if a.metrics_rs:
        registered = set(re.findall(r'"(attestgate_[a-z_]+)"', open(a.metrics_rs, encoding="utf-8").read()))
        check(registered, f"no metric names found in {a.metrics_rs}")
    if values["prometheusRule"]["enabled"] and a.metrics_rs:
        pr = one("PrometheusRule")
        if pr:
            for g in pr["spec"]["groups"]:
                for r in g["rules"]:
                    check(r.get("alert") and r.get("expr") and r.get("labels", {}).get("severity"), f"PrometheusRule: incomplete rule {r.get('alert')}")
                    for metric in re.findall(r"\b(attestgate_[a-z_]+)", r.get("expr", "")):
                        base = re.sub(r"_(total|bucket|sum|count)$", "", metric)
                        check(base in registered, f"alert {r.get('alert')}: {metric} is not a metric of src/metrics.rs")
    elif not values["prometheusRule"]["enabled"]:
        check(not of_kind("PrometheusRule"), "PrometheusRule rendered although disabled")
    if values["networkPolicy"]["enabled"]:
        np_ = one("NetworkPolicy")
        if np_:
            check(selector_matches(np_["spec"]["podSelector"], pod["metadata"]["labels"]), "NetworkPolicy does not select the pods")
            open_https = any(not r.get("from") and any(p.get("port") in ("https", cports.get("https")) for p in r.get("ports", []))
                             for r in np_["spec"].get("ingress", []))
            check(open_https, "NetworkPolicy does not let the API server reach the webhook port")
    else:
        check(not of_kind("NetworkPolicy"), "NetworkPolicy rendered although disabled")

    return finish(variant)


def finish(variant):
    if FAILURES:
        for f in FAILURES:
            print(f"FAIL [{variant}]: {f}")
        print(f"check_rendered [{variant}]: {len(FAILURES)} of {CHECKS} assertions failed")
        sys.exit(1)
    print(f"ok: {variant}: {CHECKS} assertions passed")
    return 0


if __name__ == "__main__":
    main()
