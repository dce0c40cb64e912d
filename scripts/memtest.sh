#!/usr/bin/env bash
# The memory check of docs/performance.md: attestgate serve (release) with
# small configured caches admits N distinct never-seen images (each with an
# SBOM of about PAD bytes), twice over, with 8 concurrent clients; resident
# memory is sampled throughout and compared with the configured cache sizes.
#
#   scripts/memtest.sh [N] [PAD_BYTES] [CONTENT_CACHE_MIB] [STATEMENT_CACHE_MIB]
#   (defaults: 1000 images, 32768-byte SBOMs, 16 MiB and 8 MiB caches)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; pad=${2:-32768}; content_mib=${3:-16}; statement_mib=${4:-8}

scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet --bin attestgate

# shellcheck source=scripts/registries.sh
source scripts/registries.sh
start_scratch_registries mem
reg=$ATTESTGATE_TEST_DISTRIBUTION
echo "pushing $n images with ~$pad-byte SBOMs"
python3 scripts/lib/gen-images.py "$reg" "$n" "$pad"

ag_port=$(free_port); ag_metrics=$(free_port)
cat > "$work/config.yaml" <<YAML
listen: 127.0.0.1:$ag_port
metricsListen: 127.0.0.1:$ag_metrics
nodePlatforms: false
pullSecrets: false
defaultPlatforms: [linux/amd64]
tls: {devCertDir: $work/tls}
registries: {insecure: ["$reg"], allowLocal: ["$reg"]}
cache: {contentBytes: $((content_mib << 20)), statementBytes: $((statement_mib << 20))}
YAML
./target/release/attestgate serve --config "$work/config.yaml" > "$work/serve.log" 2>&1 &
pids+=($!)
pid=$!
wait_for "http://127.0.0.1:$ag_metrics/readyz"
base_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

python3 - "$ag_port" "$work/tls/ca.pem" "$reg" "$n" "$pid" "$base_kb" "$content_mib" "$statement_mib" <<'PY'
import http.client, json, ssl, sys, threading
port, ca, reg, n, pid, base_kb, content_mib, statement_mib = sys.argv[1:]
n, base_kb = int(n), int(base_kb)
ctx = ssl.create_default_context(cafile=ca)
def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
peak = [base_kb]
def review(i):
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": f"mem-{i}", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
        "namespace": "default", "name": f"p{i}", "userInfo": {"username": "mem"},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}"},
                   "spec": {"containers": [{"name": "app", "image": f"{reg}/mem/app-{i % n}:v1"}]}}}}).encode()
def worker(start):
    conn = http.client.HTTPSConnection("localhost", int(port), context=ctx)
    for i in range(start, 2 * n, 8):
        conn.request("POST", "/validate", review(i), {"Content-Type": "application/json"})
        r = json.loads(conn.getresponse().read())["response"]
        assert r["allowed"], r
        if i % 50 == 0:
            peak[0] = max(peak[0], rss_kb())
threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
end = rss_kb()
peak[0] = max(peak[0], end)
caches = int(content_mib) + int(statement_mib)
print(f"{n} distinct images admitted twice; configured caches {content_mib} + {statement_mib} = {caches} MiB")
print(f"resident memory: {base_kb // 1024} MiB at start, peak {peak[0] // 1024} MiB, end {end // 1024} MiB")
print(f"peak above the configured caches: {peak[0] // 1024 - caches} MiB")
PY
curl -s "http://127.0.0.1:$ag_metrics/metrics" | grep -E "^attestgate_(cache_content_bytes|cache_bytes|registry_requests_total|admissions_total)" || true
