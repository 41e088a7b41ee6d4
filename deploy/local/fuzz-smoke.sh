#!/usr/bin/env bash
# Runs every cargo-fuzz target of the packager (packager/fuzz: track head, fragments, TS
# remux, WebVTT) for SECONDS each from seeds made by `examples/fuzz_seeds.rs`; make test runs
# it for a few seconds, a real campaign for hours:
#   deploy/local/fuzz-smoke.sh [SECONDS]      (FUZZ_CORPUS=dir to keep a corpus)
# Needs the nightly toolchain (sanitizers) and cargo-fuzz (installed if missing). A crash,
# timeout, out-of-memory or leak leaves its input in packager/fuzz/artifacts/TARGET/ and fails
# the run, as does libFuzzer exiting non-zero for any reason.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
corpus=${FUZZ_CORPUS:-$root/packager/fuzz/corpus}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz smoke: SKIPPED — no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
cargo run -q -p sunomi-packager --example fuzz_seeds -- "$corpus"
cd "$root/packager/fuzz"
for target in track_head fragment ts_remux vtt; do
  echo "==> fuzzing $target for ${secs}s"
  rm -rf "artifacts/$target"
  log=$(mktemp)
  # libFuzzer's own verdict: non-zero on a crash, a timeout (-timeout, seconds per input),
  # running out of memory (-rss_limit_mb) or a leak; each leaves an artifact.
  status=0
  cargo +nightly fuzz run "$target" "$corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|Done)|panicked" "$log" || true
  artifacts=$(find "artifacts/$target" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' \
    -o -name 'oom-*' -o -name 'leak-*' -o -name 'slow-unit-*' \) -printf '%f\n' 2>/dev/null || true)
  if [ "$status" -ne 0 ] || [ -n "$artifacts" ]; then
    tail -n 40 "$log" >&2
    echo "fuzz smoke: $target failed (exit $status): ${artifacts:-no artifact}; inputs in packager/fuzz/artifacts/$target/" >&2
    rm -f "$log"
    exit 1
  fi
  if ! grep -q "^Done" "$log"; then
    tail -n 40 "$log" >&2
    echo "fuzz smoke: $target did not run to its time limit" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
done
