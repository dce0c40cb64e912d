#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets) for a bounded time, one
# after another, and stops at the first crash, printing the artifact path.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target, default 300
#
# NOT part of the test command (scripts/test.sh): it needs the nightly
# toolchain and takes SECONDS x 6. What it finds is kept instead: minimise a
# crash with `cargo +nightly fuzz tmin -a TARGET ARTIFACT`, copy the result
# to fuzz/regressions/TARGET/<what-it-is>, fix the bug, and
# tests/fuzz_regressions.rs (run by `cargo test`) replays it from then on.
#
# Each target runs as one libFuzzer process (a single job; `-jobs=1` would
# only move the output into a fuzz-0.log file), with debug assertions and
# overflow checks on (`-a`), its seeds from fuzz/seeds/TARGET and its
# dictionary from fuzz/dicts/TARGET.dict. Leak detection is off: the code
# under test keeps process-wide caches (parsed references, the compiled
# policy sets), which LeakSanitizer would rescan after nearly every input.
# New corpus entries go to fuzz/corpus/TARGET, crashes to
# fuzz/artifacts/TARGET, and each run's log to fuzz/artifacts/TARGET.log;
# none of them is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds="${1:-300}"
shift || true
case "$seconds" in
'' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
  ;;
esac
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=(admission_review manifest dsse_statement docker_config policy_input layout_resolve)
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "the nightly toolchain is required: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

summary=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  artifacts="fuzz/artifacts/$target"
  log="fuzz/artifacts/$target.log"
  mkdir -p "$corpus" "$artifacts"
  dict=()
  [ -f "fuzz/dicts/$target.dict" ] && dict=("-dict=fuzz/dicts/$target.dict")
  echo "== $target: ${seconds}s (log: $log)"
  status=0
  # The first corpus directory receives new inputs; the seeds are read only.
  cargo +nightly fuzz run -a "$target" "$corpus" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=60 -detect_leaks=0 -print_final_stats=1 "${dict[@]}" \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  if [ "$status" -ne 0 ]; then
    grep -m1 -A3 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)' "$log" >&2 || tail -n 20 "$log" >&2
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
    echo "CRASH in $target (exit $status) after ${execs:-?} executions" >&2
    echo "artifact: ${artifact:-see $log}" >&2
    echo "minimise: cargo +nightly fuzz tmin -a $target ${artifact:-ARTIFACT}" >&2
    exit 1
  fi
  summary+=("$(printf '%-18s %12s execs %8s exec/s  no crash' "$target" "${execs:-?}" "${rate:-?}")")
done
echo "== ${seconds}s per target"
printf '%s\n' "${summary[@]}"
