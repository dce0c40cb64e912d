#!/usr/bin/env bash
# Builds the attestgate image offline and runs it:
#   1. a static binary: RUSTFLAGS="-C target-feature=+crt-static" cargo build --release
#      --target x86_64-unknown-linux-gnu --bin attestgate (CARGO_TARGET_DIR is honoured;
#      ATTESTGATE_STATIC_BIN=FILE uses an existing static binary instead);
#   2. the image, with `buildah bud --build-arg BINARY_SOURCE=prebuilt` on the
#      repository's Dockerfile, from a context holding only that binary and the
#      host's CA roots: FROM scratch, nothing pulled;
#   3. runs it under podman (host network) with the pod's restrictions
#      (read-only root filesystem, all capabilities dropped, no-new-privileges):
#      `attestgate serve --no-kubernetes --platform linux/amd64 --exclude-image 'example.invalid/*'`.
#      With no certificate files and no writable directory, the server keeps its
#      development certificate in memory and prints the development CA to its log;
#      the test takes the CA from there;
#   4. checks: the process runs as UID 65532 (podman top, /proc), GET /healthz over
#      HTTPS verified against that CA and on the metrics port, one AdmissionReview
#      (a Pod with an excluded image -> allowed, uid echoed) and one the server
#      must deny (a registry on a loopback address), no shell in the image, and a
#      clean exit on SIGTERM (podman stop).
# Containers run with a private storage (vfs) and configuration under a temporary
# directory. When this machine cannot build or run containers, the step prints
# "SKIPPED: ..." and exits 0. Needs the Debian packages buildah, podman, runc
# (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

skip() { echo "SKIPPED: $*"; exit 0; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
if [ "$(id -u)" != 0 ]; then command -v newuidmap >/dev/null || need+=(uidmap); fi
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
    echo "installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || skip "cannot install ${need[*]}"
  else
    skip "missing ${need[*]} and no way to install them"
  fi
fi

# -- 1. the static binary
target=x86_64-unknown-linux-gnu
if [ -n "${ATTESTGATE_STATIC_BIN:-}" ]; then
  bin=$ATTESTGATE_STATIC_BIN
else
  echo "== building the static binary (cargo build --release --target $target)"
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" --bin attestgate
  bin="${CARGO_TARGET_DIR:-target}/$target/release/attestgate"
fi
[ -x "$bin" ] || { echo "FAIL: no binary at $bin"; exit 1; }
python3 - "$bin" <<'PY'
import struct, sys
# A static executable has no PT_INTERP (dynamic loader) program header.
with open(sys.argv[1], "rb") as f:
    elf = f.read(64)
    assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not a 64-bit ELF file"
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        if struct.unpack("<I", f.read(4))[0] == 3:
            sys.exit(f"FAIL: {sys.argv[1]} is dynamically linked; it cannot run FROM scratch")
PY
echo "ok: $bin is statically linked ($("$bin" --version))"

work=$(mktemp -d -t attestgate-image.XXXXXX)
name="attestgate-image-test-$$"
image="localhost/attestgate:image-test-$$"
cleanup() {
  podman rm -f "$name" "$name-files" >/dev/null 2>&1 || true
  podman rmi -f "$image" >/dev/null 2>&1 || true
  if [ "$(id -u)" = 0 ]; then rm -rf "$work"; else podman unshare rm -rf "$work" 2>/dev/null || rm -rf "$work" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

# -- private container configuration: vfs storage, runc, limits this host allows
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] && nproc=1048576
[ "$nofile" -gt 4096 ] && nofile=4096
[ "$nproc" -gt 4096 ] && nproc=4096
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$work/run"
graphroot = "$work/storage"
EOF
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$work/policy.json" <<'EOF'
{"default": [{"type": "reject"}], "transports": {"containers-storage": {"": [{"type": "insecureAcceptAnything"}]}}}
EOF
export CONTAINERS_STORAGE_CONF="$work/storage.conf" CONTAINERS_CONF="$work/containers.conf"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$work/xdg}"
mkdir -p "$XDG_RUNTIME_DIR"

probe=$(buildah from --signature-policy "$work/policy.json" scratch 2>&1) || skip "buildah cannot create containers here: $probe"
buildah rm "$probe" >/dev/null

# -- 2. the image, offline, from the Dockerfile's prebuilt path
echo "== buildah bud --build-arg BINARY_SOURCE=prebuilt (context: the binary and the CA roots only)"
mkdir -p "$work/context/dist"
cp "$bin" "$work/context/dist/attestgate"
cp /etc/ssl/certs/ca-certificates.crt "$work/context/dist/ca-certificates.crt"
if ! buildah bud --isolation chroot --signature-policy "$work/policy.json" --pull=false \
    --build-arg BINARY_SOURCE=prebuilt -f "$root/Dockerfile" -t "$image" "$work/context" >"$work/build.log" 2>&1; then
  cat "$work/build.log"; echo "FAIL: buildah bud"; exit 1
fi
user=$(podman image inspect --format '{{.Config.User}}' "$image")
entrypoint=$(podman image inspect --format '{{json .Config.Entrypoint}}' "$image")
echo "ok: built $image (user $user, entrypoint $entrypoint, $(podman image inspect --format '{{.Size}}' "$image") bytes)"
[ "$user" = "65532:65532" ] || { echo "FAIL: image user is '$user', expected 65532:65532"; exit 1; }

# No shell and nothing but the binary and the CA roots.
podman create --name "$name-files" "$image" >/dev/null
files=$(podman export "$name-files" | tar -t | grep -v '/$' | sort)
podman rm "$name-files" >/dev/null
echo "$files" | grep -qx 'usr/local/bin/attestgate' || { echo "FAIL: no usr/local/bin/attestgate in the image"; exit 1; }
echo "$files" | grep -qx 'etc/ssl/certs/ca-certificates.crt' || { echo "FAIL: no CA roots in the image"; exit 1; }
if echo "$files" | grep -qE '(^|/)(sh|bash|busybox)$'; then echo "FAIL: the image has a shell"; exit 1; fi
echo "ok: image files: $(echo "$files" | grep -vE '^(etc/(hosts|hostname|resolv.conf)|run/.*|dev/.*|proc/.*|sys/.*)$' | tr '\n' ' ')"

# -- 3. run it
set +e
version=$(podman run --rm "$image" --version 2>&1)
rc=$?
set -e
if [ $rc = 125 ]; then skip "podman cannot run containers here: $version"; fi
[ $rc = 0 ] || { echo "FAIL: attestgate --version in the container exited $rc: $version"; exit 1; }
echo "ok: podman run $image --version: $version"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port)
metrics=$(free_port)
echo "== podman run (read-only, no capabilities, no-new-privileges): attestgate serve"
podman run -d --name "$name" --network host --read-only --cap-drop ALL \
  --security-opt no-new-privileges "$image" \
  serve --no-kubernetes --platform linux/amd64 --exclude-image 'example.invalid/*' \
  --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$metrics" >/dev/null

python3 - "$name" "$port" "$metrics" <<'PY'
import http.client, json, re, socket, ssl, subprocess, sys, time, urllib.request

name, port, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def logs():
    return subprocess.run(["podman", "logs", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
def fail(msg):
    print(f"FAIL: {msg}\n--- container log:\n{logs()[-3000:]}")
    sys.exit(1)

deadline = time.monotonic() + 60
ca = None
while time.monotonic() < deadline:
    state = subprocess.run(["podman", "inspect", "--format", "{{.State.Status}}", name], capture_output=True, text=True).stdout.strip()
    if state not in ("running", "created", "configured", "initialized"):
        fail(f"the container is {state}")
    m = re.search(r"attestgate: development CA certificate\s*\n(-----BEGIN CERTIFICATE-----\n.*?\n-----END CERTIFICATE-----)", logs(), re.S)
    if m:
        ca = m.group(1) + "\n"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
    time.sleep(0.3)
else:
    fail("no development CA in the log, or /healthz on the metrics port not 200, within 60s")
print("ok: the development CA is in the log; GET /healthz on the metrics port: 200")

# Non-root: the image user, podman top, and the kernel's view of the process.
top = subprocess.run(["podman", "top", name, "user", "group", "args"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
rows = [l.split() for l in top.strip().splitlines()[1:]]
if not rows or any(r[0] != "65532" or r[1] != "65532" for r in rows):
    fail(f"podman top: processes not running as 65532:65532:\n{top}")
pid = subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", name], capture_output=True, text=True).stdout.strip()
status = open(f"/proc/{pid}/status").read()
uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
caps = re.search(r"^CapEff:\s+(\S+)$", status, re.M).group(1)
nnp = re.search(r"^NoNewPrivs:\s+(\d)$", status, re.M)
import os
if os.getuid() == 0 and set(uids) != {"65532"}:
    fail(f"/proc/{pid}/status: Uid {uids}")
if int(caps, 16) != 0:
    fail(f"effective capabilities {caps}, expected none")
if nnp and nnp.group(1) != "1":
    fail("no_new_privs is not set")
print(f"ok: runs as non-root (podman top: user {rows[0][0]} group {rows[0][1]}; /proc: Uid {' '.join(uids)}; CapEff {caps}; NoNewPrivs {nnp.group(1) if nnp else '?'})")

ctx = ssl.create_default_context(cadata=ca)
def request(method, path, body=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=15)
    conn.sock = ctx.wrap_socket(raw, server_hostname="localhost")
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data

try:
    status, body = request("GET", "/healthz")
except (ssl.SSLError, OSError) as e:
    fail(f"HTTPS to 127.0.0.1:{port} verified against the logged CA: {e}")
if status != 200:
    fail(f"GET /healthz over HTTPS: {status} {body!r}")
print("ok: GET /healthz over HTTPS, certificate verified against the development CA: 200")

def review(uid, image):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": "default", "name": "web", "operation": "CREATE",
                        "userInfo": {"username": "image-test"},
                        "object": {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": "web", "namespace": "default"},
                                   "spec": {"containers": [{"name": "web", "image": image}]}}}}

uid = "5f6a7c1e-image-test-allowed"
status, body = request("POST", "/validate", review(uid, "example.invalid/web:1.0"))
resp = json.loads(body).get("response", {}) if status == 200 else {}
if status != 200 or resp.get("uid") != uid or resp.get("allowed") is not True:
    fail(f"AdmissionReview for an excluded image: {status} {body!r}")
print(f"ok: POST /validate (Pod, image example.invalid/web:1.0, excluded): allowed, uid {resp['uid']} echoed")

uid = "5f6a7c1e-image-test-denied"
status, body = request("POST", "/validate", review(uid, "127.0.0.1:1/web:1.0"))
resp = json.loads(body).get("response", {}) if status == 200 else {}
if status != 200 or resp.get("uid") != uid or resp.get("allowed") is not False:
    fail(f"AdmissionReview for a loopback registry: {status} {body!r}")
print(f"ok: POST /validate (Pod, image 127.0.0.1:1/web:1.0): denied: {resp.get('status', {}).get('message', '').splitlines()[-1][:120]}")
PY

podman stop -t 20 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || { podman logs "$name" 2>&1 | tail -5; echo "FAIL: exit code $code after SIGTERM"; exit 1; }
echo "ok: podman stop (SIGTERM): exit code 0"
echo "image-test: all checks passed"
