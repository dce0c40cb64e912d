#!/usr/bin/env python3
"""Checks the checker: each mutation of a correct rendering must make
check_rendered.py fail, with a message naming the problem.

    mutations.py --chart DIR --config-rs FILE --release R --namespace NS RENDERED.yaml
"""

import argparse
import base64
import copy
import os
import subprocess
import sys
import tempfile

import yaml


def find(docs, kind):
    return next(d for d in docs if d["kind"] == kind)


def container(docs):
    return find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def config(docs, edit):
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and "config.yaml" in d.get("data", {}))
    c = yaml.safe_load(cm["data"]["config.yaml"])
    edit(c)
    cm["data"]["config.yaml"] = yaml.safe_dump(c)


def other_ca(docs):
    # A caBundle holding some other certificate: the serving one itself is not a CA.
    secret = find(docs, "Secret")
    for h in find(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        h["clientConfig"]["caBundle"] = secret["data"]["tls.crt"]


def swap_serving_cert(docs):
    # Serving certificate replaced by the CA certificate (signed by itself).
    secret = find(docs, "Secret")
    secret["data"]["tls.crt"] = secret["data"]["ca.crt"]


def corrupt_key(docs):
    secret = find(docs, "Secret")
    pem = base64.b64decode(secret["data"]["tls.key"]).decode()
    ca_key = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
    secret["data"]["tls.key"] = base64.b64encode((ca_key if pem != ca_key else pem).encode()).decode()


def include_kube_system(docs):
    for h in find(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        for e in h["namespaceSelector"]["matchExpressions"]:
            if e["key"] == "kubernetes.io/metadata.name":
                e["values"] = [v for v in e["values"] if v != "kube-system"]


def include_release_namespace(docs):
    for h in find(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        h["namespaceSelector"]["matchExpressions"] = [
            e for e in h["namespaceSelector"]["matchExpressions"] if e["key"] != "kubernetes.io/metadata.name"]


def overlapping_modes(docs):
    h = find(docs, "ValidatingWebhookConfiguration")["webhooks"][0]
    h["namespaceSelector"]["matchExpressions"] = [
        e for e in h["namespaceSelector"]["matchExpressions"] if e["key"] != "attestgate.dev/mode"]


def ignore_opt_out(docs):
    for h in find(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        h["namespaceSelector"]["matchExpressions"] = [
            e for e in h["namespaceSelector"]["matchExpressions"] if e["key"] != "attestgate.dev/ignore"]


def side_effects(docs):
    find(docs, "ValidatingWebhookConfiguration")["webhooks"][1]["sideEffects"] = "NoneOnDryRun"


def failure_policy(docs):
    find(docs, "ValidatingWebhookConfiguration")["webhooks"][0]["failurePolicy"] = "Ignore"


def timeout(docs):
    find(docs, "ValidatingWebhookConfiguration")["webhooks"][2]["timeoutSeconds"] = 5


def budget_too_long(docs):
    config(docs, lambda c: c.update(budget="10s"))


def no_ephemeral_rule(docs):
    for h in find(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        h["rules"] = [r for r in h["rules"] if "pods/ephemeralcontainers" not in r["resources"]]


def rbac_list_secrets(docs):
    find(docs, "ClusterRole")["rules"][1]["verbs"].append("list")


def rbac_wildcard(docs):
    find(docs, "ClusterRole")["rules"].append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})


def rbac_configmaps(docs):
    find(docs, "ClusterRole")["rules"].append({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]})


def rbac_other_subject(docs):
    find(docs, "ClusterRoleBinding")["subjects"].append({"kind": "Group", "name": "system:authenticated"})


def writable_root(docs):
    container(docs)["securityContext"]["readOnlyRootFilesystem"] = False


def escalation(docs):
    del container(docs)["securityContext"]["allowPrivilegeEscalation"]


def capabilities(docs):
    container(docs)["securityContext"]["capabilities"] = {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}


def root_user(docs):
    container(docs)["securityContext"]["runAsUser"] = 0


def no_seccomp(docs):
    del container(docs)["securityContext"]["seccompProfile"]
    del find(docs, "Deployment")["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]


def host_path(docs):
    find(docs, "Deployment")["spec"]["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}})


def unknown_config_key(docs):
    config(docs, lambda c: c["registries"].update(insecureRegistries=["x"]))


def wrong_mode(docs):
    config(docs, lambda c: c.update(mode="audit"))


def no_pdb(docs):
    docs[:] = [d for d in docs if d["kind"] != "PodDisruptionBudget"]


def one_replica(docs):
    find(docs, "Deployment")["spec"]["replicas"] = 1


def short_grace(docs):
    find(docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 8


def exec_pre_stop(docs):
    container(docs)["lifecycle"]["preStop"] = {"exec": {"command": ["sleep", "5"]}}


def tls_path(docs):
    config(docs, lambda c: c["tls"].update(certFile="/tls/tls.crt"))


def unmounted_policy_path(docs):
    config(docs, lambda c: c["policies"].update(paths=["/etc/attestgate/policy-settings"]))


MUTATIONS = [
    (other_ca, "caBundle"),
    (swap_serving_cert, "serving certificate"),
    (corrupt_key, "tls.key"),
    (include_kube_system, "namespace kube-system"),
    (include_release_namespace, "namespace attestgate-system"),
    (overlapping_modes, "expected exactly one webhook"),
    (ignore_opt_out, "attestgate.dev/ignore=true"),
    (side_effects, "sideEffects"),
    (failure_policy, "failurePolicy"),
    (timeout, "timeoutSeconds"),
    (budget_too_long, "budget"),
    (no_ephemeral_rule, "pods/ephemeralcontainers"),
    (rbac_list_secrets, "grants list on core/secrets"),
    (rbac_wildcard, "grants * on */*"),
    (rbac_configmaps, "configmaps"),
    (rbac_other_subject, "not only the chart's ServiceAccount"),
    (writable_root, "readOnlyRootFilesystem"),
    (escalation, "allowPrivilegeEscalation"),
    (capabilities, "capabilities are added"),
    (root_user, "runAsUser is 0"),
    (no_seccomp, "seccomp"),
    (host_path, "hostPath"),
    (unknown_config_key, "unknown key 'insecureRegistries'"),
    (wrong_mode, "config mode differs"),
    (no_pdb, "PodDisruptionBudget"),
    (one_replica, "replicas 1"),
    (short_grace, "terminationGracePeriodSeconds 8"),
    (exec_pre_stop, "preStop uses exec"),
    (tls_path, "tls.certFile"),
    (unmounted_policy_path, "config policies.paths"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chart", required=True)
    ap.add_argument("--config-rs", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("rendered")
    a = ap.parse_args()
    checker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_rendered.py")
    original = [d for d in yaml.safe_load_all(open(a.rendered)) if d]
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for mutate, expected in MUTATIONS:
            docs = copy.deepcopy(original)
            mutate(docs)
            path = os.path.join(tmp, f"{mutate.__name__}.yaml")
            with open(path, "w") as f:
                yaml.safe_dump_all(docs, f)
            r = subprocess.run([sys.executable, checker, "--chart", a.chart, "--config-rs", a.config_rs,
                                "--release", a.release, "--namespace", a.namespace, path],
                               capture_output=True, text=True)
            out = r.stdout + r.stderr
            if r.returncode == 0:
                failed.append(f"{mutate.__name__}: the checker passed a broken rendering")
            elif expected not in out:
                failed.append(f"{mutate.__name__}: the checker failed, but without {expected!r}:\n{out}")
    for f in failed:
        print(f"FAIL: {f}")
    if failed:
        sys.exit(1)
    print(f"ok: the checker catches all {len(MUTATIONS)} mutations of the default rendering")


if __name__ == "__main__":
    main()
