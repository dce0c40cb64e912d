#!/usr/bin/env bash
# Installs on a fresh Debian machine what the tests need, skipping what is
# already there: Debian packages, ferro-oci-server from crates.io.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

need_apt=()
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v ferro-oci-server >/dev/null; then
  echo "installing ferro-oci-server 1.0.0 from crates.io"
  cargo install --locked --quiet ferro-oci-server --version 1.0.0
fi

# Real OPA (v1.20.2) as a C shared library, from the PyPI wheel
# opa-golib-python-bindings (it declares Python >= 3.14 but loads anywhere;
# it is unpacked, not installed). The differential tests drive it with ctypes.
tools="${ATTESTGATE_TOOLS:-$HOME/.cache/attestgate-tools}"
opa_wheel=opa_golib_python_bindings-0.4.4-py3-none-manylinux_2_34_x86_64.whl
opa_sha256=d411c901e14b8c7c3023e23e4a944f4cf429c1d31baf80e959e57d11efbfd24a
if [ ! -f "$tools/opa/unpacked/opa_bindings/libopabridge.so" ]; then
  echo "fetching the OPA wheel from PyPI"
  mkdir -p "$tools/opa"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
    --platform manylinux_2_34_x86_64 opa-golib-python-bindings==0.4.4 -d "$tools/opa"
  echo "$opa_sha256  $tools/opa/$opa_wheel" | sha256sum -c --quiet -
  python3 -m zipfile -e "$tools/opa/$opa_wheel" "$tools/opa/unpacked"
fi
