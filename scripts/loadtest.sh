#!/usr/bin/env bash
# The load test of docs/performance.md. It measures, in one run, attestgate
# serve (release build, shipped policies, images in a local distribution
# registry, caches warmed) and a floor: a minimal responder on the same TLS
# stack answering every AdmissionReview with allowed: true (examples/
# admission_floor.rs). Both get real AdmissionReviews for a 3-container pod
# with two candidate platforms, from wrk at several concurrencies. Prints
# p50 / p99 latency and throughput for both and their ratios, and writes
# them to target/loadtest/results.txt.
#
#   scripts/loadtest.sh [SECONDS_PER_RUN] [CONCURRENCIES]     (default: 30 "1 8 32 64")
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30}
concurrencies=${2:-"1 8 32 64"}
corpus=${ATTESTGATE_CORPUS:-$(cd .. && pwd)/shared/corpus}
layout="$corpus/attest/test/testdata/unsigned-index"
[ -d "$layout" ] || { echo "the corpus is needed at $corpus (ATTESTGATE_CORPUS)"; exit 2; }

scripts/install-deps.sh
command -v wrk >/dev/null || { sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo; $sudo_cmd apt-get install -y -qq wrk >/dev/null; }
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet --bin attestgate --example admission_floor

# shellcheck source=scripts/registries.sh
source scripts/registries.sh
start_scratch_registries load
reg=$ATTESTGATE_TEST_DISTRIBUTION
for app in app1 app2 app3; do
  python3 scripts/lib/push-layout.py "$reg" "load/$app" "$layout"
done

cat > "$work/review.json" <<JSON
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"load-0001","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","name":"web","operation":"CREATE","userInfo":{"username":"load"},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},"spec":{"containers":[{"name":"a","image":"$reg/load/app1:test"},{"name":"b","image":"$reg/load/app2:test"},{"name":"c","image":"$reg/load/app3:test"}]}}}}
JSON

ag_port=$(free_port); ag_metrics=$(free_port); floor_port=$(free_port)
./target/release/attestgate serve --no-kubernetes --platform linux/amd64 --platform linux/arm64 \
  --dev-cert-dir "$work/tls" --listen "127.0.0.1:$ag_port" --metrics-listen "127.0.0.1:$ag_metrics" \
  --insecure-registry "$reg" --allow-registry "$reg" > "$work/serve.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$ag_metrics/readyz"
./target/release/examples/admission_floor "127.0.0.1:$floor_port" "$work/tls/tls.crt" "$work/tls/tls.key" > "$work/floor.log" 2>&1 &
pids+=($!)
sleep 0.5
ag_pid=${pids[0]}

# Warm attestgate's caches, and check both answer as expected.
for url in "https://localhost:$ag_port/validate" "https://localhost:$floor_port/validate"; do
  python3 - "$url" "$work/tls/ca.pem" "$work/review.json" <<'PY'
import json, ssl, sys, urllib.request
url, ca, body = sys.argv[1:]
req = urllib.request.Request(url, data=open(body, "rb").read(), headers={"Content-Type": "application/json"})
resp = json.load(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)))
assert resp["response"]["uid"] == "load-0001" and resp["response"]["allowed"] is True, resp
PY
done

run() { # PORT CONCURRENCY -> "p50_ms p99_ms rps"
  local threads=2; [ "$2" -lt 2 ] && threads=1
  REVIEW_FILE="$work/review.json" wrk -t"$threads" -c"$2" -d"${duration}s" --latency \
    -s scripts/lib/post.lua "https://localhost:$1/validate" > "$work/wrk.out" 2>&1
  python3 - "$work/wrk.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
if bad or errors:
    sys.exit(f"wrk saw errors: {bad.group(0) if bad else ''} {errors.group(0) if errors else ''}")
print(f"{ms(50):.3f} {ms(99):.3f} {rps:.0f}")
PY
}

mkdir -p target/loadtest
out=target/loadtest/results.txt
{
  echo "attestgate load test, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${duration}s per run"
  echo "3-container pod, 2 candidate platforms (6 judgements per admission), shipped policies, caches warm"
  printf '%-11s | %-26s | %-26s | %s\n' connections "floor p50 / p99 / req/s" "attestgate p50 / p99 / req/s" "p99 ratio"
} | tee "$out"
for c in $concurrencies; do
  read -r fp50 fp99 frps < <(run "$floor_port" "$c")
  read -r ap50 ap99 arps < <(run "$ag_port" "$c")
  ratio=$(python3 -c "print(f'{$ap99/$fp99:.2f}')")
  printf '%-11s | %6.2f ms %6.2f ms %7s | %6.2f ms %6.2f ms %7s | %sx\n' \
    "$c" "$fp50" "$fp99" "$frps" "$ap50" "$ap99" "$arps" "$ratio" | tee -a "$out"
done
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$ag_pid/status")
echo "attestgate resident memory after the runs: $((rss_kb / 1024)) MiB" | tee -a "$out"
