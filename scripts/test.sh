#!/usr/bin/env bash
# The test command: installs what the tests need, starts real registries on
# 127.0.0.1 with temporary storage, checks formatting and lints, runs every
# test, and stops the registries it started whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

work=$(mktemp -d -t attestgate-test.XXXXXX)
# shellcheck source=scripts/registries.sh
source scripts/registries.sh
cleanup() { stop_registries; rm -rf "$work"; }
trap cleanup EXIT INT TERM
start_registries "$work/registries"

export ATTESTGATE_OPA_SO="${ATTESTGATE_TOOLS:-$HOME/.cache/attestgate-tools}/opa/unpacked/opa_bindings/libopabridge.so"

# Tests that need a registry, the corpus or OPA fail instead of skipping here.
export ATTESTGATE_TEST_STRICT=1
export ATTESTGATE_CORPUS="${ATTESTGATE_CORPUS:-$(cd .. && pwd)/shared/corpus}"

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets

# Helm chart: lint, kubernetes-validate --strict, assertions on the rendered
# objects, and the server (built by cargo test) run with each rendered config.
ATTESTGATE_BIN=target/debug/attestgate scripts/chart-test.sh
# Image: static binary, buildah FROM scratch (offline), podman run as non-root;
# prints SKIPPED and passes where containers cannot run.
scripts/image-test.sh
