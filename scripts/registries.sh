# shellcheck shell=bash
# Starts the real registries the tests run against, on 127.0.0.1 with
# temporary storage, and exports where they are. Source it, then call
# `start_registries DIR`; `stop_registries` kills exactly the PIDs it started.
#
#   ATTESTGATE_TEST_DISTRIBUTION        distribution 2.8, plain HTTP, no referrers API
#   ATTESTGATE_TEST_DISTRIBUTION_ROOT   its storage root (tests tamper with it)
#   ATTESTGATE_TEST_DISTRIBUTION_AUTH   distribution 2.8, HTTPS (test CA) + htpasswd basic auth
#   ATTESTGATE_TEST_AUTH_USER / _PASSWORD, ATTESTGATE_TEST_CA (PEM)
#   ATTESTGATE_TEST_DISTRIBUTION_TOKEN  distribution 2.8, plain HTTP, bearer-token auth whose
#                                       token service the tests run at ATTESTGATE_TEST_TOKEN_PORT,
#                                       signing with ATTESTGATE_TEST_TOKEN_KEY (PKCS#8 PEM)
#   ATTESTGATE_TEST_FERRO               ferro-oci-server 1.0.0, plain HTTP, referrers API

REGISTRY_PIDS=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # URL [CAFILE]
  python3 - "$@" <<'PY'
import ssl, sys, time, urllib.request, urllib.error
url = sys.argv[1]
ctx = ssl.create_default_context(cafile=sys.argv[2]) if len(sys.argv) > 2 else None
deadline = time.time() + 30
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2, context=ctx)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # 401 from an authenticated registry still means it is up
    except Exception:
        time.sleep(0.2)
sys.exit(f"{url} did not come up")
PY
}

start_distribution() { # NAME PORT DIR EXTRA_YAML
  local name=$1 port=$2 dir=$3 extra=$4
  mkdir -p "$dir/storage"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: attestgate-test-secret
$extra
YAML
  docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
  REGISTRY_PIDS+=($!)
}

start_registries() { # DIR
  local dir=$1
  mkdir -p "$dir"
  # A test CA and a serving certificate for 127.0.0.1.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=attestgate test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  # Basic-auth users.
  export ATTESTGATE_TEST_AUTH_USER=tester ATTESTGATE_TEST_AUTH_PASSWORD="pw-$RANDOM$RANDOM"
  htpasswd -Bbc "$dir/htpasswd" "$ATTESTGATE_TEST_AUTH_USER" "$ATTESTGATE_TEST_AUTH_PASSWORD" 2>/dev/null
  # The token service's signing key and certificate.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=attestgate test token issuer" -keyout "$dir/token.key" -out "$dir/token.pem" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$dir/token.key" -out "$dir/token.pk8" 2>/dev/null

  local p1 p2 p3 p4 tp
  p1=$(free_port); p2=$(free_port); p3=$(free_port); p4=$(free_port); tp=$(free_port)
  start_distribution plain "$p1" "$dir/plain" ""
  start_distribution auth "$p2" "$dir/auth" "  tls:
    certificate: $dir/server.pem
    key: $dir/server.key
auth:
  htpasswd:
    realm: attestgate-test
    path: $dir/htpasswd"
  start_distribution token "$p3" "$dir/token" "auth:
  token:
    realm: http://127.0.0.1:$tp/token
    service: attestgate-test-registry
    issuer: attestgate-test-issuer
    rootcertbundle: $dir/token.pem"
  mkdir -p "$dir/ferro"
  FERRO_OCI_LISTEN=127.0.0.1:$p4 FERRO_OCI_STORAGE_DIR="$dir/ferro" RUST_LOG=warn \
    ferro-oci-server > "$dir/ferro.log" 2>&1 &
  REGISTRY_PIDS+=($!)

  wait_for "http://127.0.0.1:$p1/v2/"
  wait_for "https://127.0.0.1:$p2/v2/" "$dir/ca.pem"
  wait_for "http://127.0.0.1:$p3/v2/"
  wait_for "http://127.0.0.1:$p4/v2/"

  export ATTESTGATE_TEST_DISTRIBUTION=127.0.0.1:$p1
  export ATTESTGATE_TEST_DISTRIBUTION_ROOT=$dir/plain/storage
  export ATTESTGATE_TEST_DISTRIBUTION_AUTH=127.0.0.1:$p2
  export ATTESTGATE_TEST_CA=$dir/ca.pem
  export ATTESTGATE_TEST_DISTRIBUTION_TOKEN=127.0.0.1:$p3
  export ATTESTGATE_TEST_TOKEN_PORT=$tp
  export ATTESTGATE_TEST_TOKEN_KEY=$dir/token.pk8
  export ATTESTGATE_TEST_TOKEN_CERT=$dir/token.pem
  export ATTESTGATE_TEST_FERRO=127.0.0.1:$p4
}

stop_registries() {
  local pid
  for pid in "${REGISTRY_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${REGISTRY_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  REGISTRY_PIDS=()
}

# For the measurement scripts: a scratch directory in $work, registries in
# it, and on exit the processes listed in the global array `pids` killed,
# the registries stopped and the directory removed.
start_scratch_registries() { # NAME
  work=$(mktemp -d -t "attestgate-$1.XXXXXX")
  pids=()
  trap scratch_cleanup EXIT INT TERM
  start_registries "$work/registries"
}

scratch_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_registries
  rm -rf "$work"
}
