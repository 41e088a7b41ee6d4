#!/usr/bin/env bash
# Progressive MP4 downloads side by side with `ffmpeg -c copy -movflags +faststart` making the
# same file (the 720p rung and its audio) from the same fMP4 tracks, one core each (CPU 0).
#
#   edge, cold: a fresh edge (empty caches) answers GET /v/bench/download/720p.mp4 — time to
#     first byte (plan: one moof read per fragment), total time, edge CPU per GB sent;
#   edge, warm: the same request again (plan and segments cached);
#   ffmpeg: wall time until its output is complete (a faststart file is usable, and its first
#     byte sendable, only then), CPU per GB written (user+sys of the process).
#
#   SECONDS_OF_MEDIA=600 ROUNDS=5 WORK=./demo-work/bench-downloads
# Prints a markdown table of medians over ROUNDS alternating runs, and the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/bench-title.sh
. "$root/deploy/local/bench-title.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/bench-downloads}
media_secs=${SECONDS_OF_MEDIA:-600}
rounds=${ROUNDS:-5}
hz=$(getconf CLK_TCK)
mkdir -p "$work"
cargo build --release -p sunomi-origin -p sunomi-edge >/dev/null

store=$work/store
bench_title "$store" "$media_secs" 1280x720 ultrafast
manifest=$store/videos/bench/manifest.json
video=$store/videos/bench/$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print([r["path"] for r in m["renditions"] if r["name"]=="720p"][0])' "$manifest")
audio=$store/videos/bench/$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["audio"][0]["path"])' "$manifest")

edge_port=18291 admin_port=18292
edge_pid=
cleanup() { [ -z "$edge_pid" ] || kill "$edge_pid" 2>/dev/null || true; }
trap cleanup EXIT
# A segment cache large enough for the whole rung, so the warm run reads no storage.
printf 'threads = 1\n[cache]\nsegment_bytes = 2147483648\n' >"$work/edge.toml"

ticks() { read -r -a f <"/proc/$1/stat"; echo $((f[13] + f[14])); }

start_edge() {
  taskset -c 0 env RUST_LOG=warn "$bin/sunomi-edge" --store "$store" --listen 127.0.0.1:$edge_port \
    --admin 127.0.0.1:$admin_port --config "$work/edge.toml" &
  edge_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done
}

# One edge request: "ttfb_s total_s bytes cpu_s".
edge_get() {
  local t0 t1 out
  t0=$(ticks "$edge_pid")
  out=$(taskset -c 1 curl -s -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}' \
    "http://127.0.0.1:$edge_port/v/bench/download/720p.mp4")
  t1=$(ticks "$edge_pid")
  echo "$out $(python3 -c "print(($t1 - $t0) / $hz)")"
}

# One ffmpeg run: "wall_s wall_s bytes cpu_s" (its first byte is ready when it is done).
ffmpeg_run() {
  local out=$work/ffmpeg.mp4 times
  times=$( { /usr/bin/time -f '%e %U %S' taskset -c 0 ffmpeg -v error -y -i "$video" -i "$audio" \
    -map 0:v -map 1:a -c copy -movflags +faststart "$out"; } 2>&1 | tail -1)
  read -r wall user sys <<<"$times"
  echo "$wall $wall $(stat -c %s "$out") $(python3 -c "print($user + $sys)")"
}

cold=() warm=() ref=()
for _ in $(seq "$rounds"); do
  start_edge
  cold+=("$(edge_get)")
  warm+=("$(edge_get)")
  kill "$edge_pid"; wait "$edge_pid" 2>/dev/null || true; edge_pid=
  ref+=("$(ffmpeg_run)")
done

python3 - "$(printf '%s;' "${cold[@]}")" "$(printf '%s;' "${warm[@]}")" "$(printf '%s;' "${ref[@]}")" "$media_secs" <<'PY'
import statistics, sys
med = statistics.median
def parse(s):
    runs = [list(map(float, r.split())) for r in s.strip(";").split(";")]
    ttfb = med(r[0] for r in runs); total = med(r[1] for r in runs)
    size = med(r[2] for r in runs); cpu_gb = med(r[3] / (r[2] / 1e9) for r in runs)
    return ttfb, total, size, cpu_gb
rows = {"edge, cold": parse(sys.argv[1]), "edge, warm": parse(sys.argv[2]),
        "ffmpeg -c copy -movflags +faststart": parse(sys.argv[3])}
print(f"Progressive MP4 of the 720p rung and its audio, {sys.argv[4]} s of media; medians")
print("| | time to first byte (s) | total (s) | bytes | CPU s per GB |")
print("|---|---|---|---|---|")
for label, (ttfb, total, size, cpu) in rows.items():
    print(f"| {label} | {ttfb:.3f} | {total:.3f} | {size:.0f} | {cpu:.3f} |")
ref = rows["ffmpeg -c copy -movflags +faststart"]
for label in ("edge, cold", "edge, warm"):
    r = rows[label]
    print(f"| **{label} / ffmpeg** | **{r[0] / ref[0]:.2f}×** | {r[1] / ref[1]:.2f}× | | **{r[3] / ref[3]:.2f}×** |")
PY
