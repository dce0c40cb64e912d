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
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v ferro-oci-server >/dev/null; then
  echo "installing ferro-oci-server 1.0.0 from crates.io"
  cargo install --locked --quiet ferro-oci-server --version 1.0.0
fi
