#!/usr/bin/env bash
# Runs every cargo-fuzz target of the packager (packager/fuzz: track head, fragments, TS
# remux, WebVTT) for SECONDS each from seeds made by `examples/fuzz_seeds.rs`; make test runs
# it for a few seconds, a real campaign for hours:
#   deploy/local/fuzz-smoke.sh [SECONDS]      (FUZZ_CORPUS=dir to keep a corpus)
# Needs the nightly toolchain (sanitizers) and cargo-fuzz (installed if missing). A crash
# leaves its input in packager/fuzz/artifacts/TARGET/ and fails the run.
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
  cargo +nightly fuzz run "$target" "$corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|Done)|panicked" || true
  # A crash makes libFuzzer exit non-zero and write an artifact; the pipe above hides the
  # status, so look for the artifact.
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz smoke: $target crashed; inputs in packager/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
