#!/usr/bin/env bash
# Edge benchmark: warm-cache figures for one 6 s 720p segment and one media playlist from the
# Sunomi edge, side by side with nginx serving the same bytes from disk (sendfile on, access
# log off), then the edge with its segment cache off (every request packaged from storage).
# Each server is pinned to CPU 0 with one worker; wrk runs on CPU 1. Server CPU time per
# request comes from /proc (utime+stime) before and after each run.
#   DURATION=10s CONNECTIONS=16 WORK=./demo-work/bench-edge
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/nginx-static.sh
. "$root/deploy/local/nginx-static.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/bench-edge}
duration=${DURATION:-10s}
conns=${CONNECTIONS:-16}
mkdir -p "$work/nginx/www" "$work/nginx/logs"
cargo build --release -p sunomi-origin -p sunomi-edge >/dev/null
hz=$(getconf CLK_TCK)

store=$work/store
if [ ! -s "$store/videos/bench/manifest.json" ]; then
  src=$work/src.mp4
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 30 \
    -c:v libx264 -preset veryfast -crf 18 -c:a aac -shortest "$src"
  RUST_LOG=warn "$bin/sunomi-origin" transcode "$src" --id bench --store "$store"
fi

edge_port=18181 nginx_port=18182 admin_port=18183
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true; }
trap cleanup EXIT

start_edge() { # extra flags
  printf 'threads = 1\n' > "$work/edge.toml"
  taskset -c 0 env RUST_LOG=warn "$bin/sunomi-edge" --store "$store" --listen 127.0.0.1:$edge_port \
    --admin 127.0.0.1:$admin_port --config "$work/edge.toml" "$@" &
  edge_pid=$!; pids+=("$edge_pid")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && return; sleep 0.1; done
  echo "edge did not start" >&2; exit 1
}
stop_edge() { kill "$edge_pid"; wait "$edge_pid" 2>/dev/null || true; }

cpu_ticks() { # pids...
  local t=0
  for p in "$@"; do
    read -r -a f < "/proc/$p/stat"
    t=$(( t + f[13] + f[14] ))
  done
  echo $t
}

results=()
measure() { # label url pids...
  local label=$1 url=$2; shift 2
  curl -sf -o /dev/null "$url"; curl -sf -o /dev/null "$url"
  local before; before=$(cpu_ticks "$@")
  local out; out=$(taskset -c 1 wrk -t1 -c"$conns" -d"$duration" --latency "$url")
  local after; after=$(cpu_ticks "$@")
  local reqs rps p99
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local cpu_ms; cpu_ms=$(echo "scale=4; ($after - $before) * 1000 / $hz / $reqs" | bc)
  results+=("| $label | $rps | $p99 | $cpu_ms |")
}

start_edge
seg="http://127.0.0.1:$edge_port/v/bench/720p/1.m4s"
pl="http://127.0.0.1:$edge_port/v/bench/720p/media.m3u8"
curl -sf -o "$work/nginx/www/1.m4s" "$seg"
curl -sf -o "$work/nginx/www/media.m3u8" "$pl"
echo "segment: $(stat -c %s "$work/nginx/www/1.m4s") bytes"

write_nginx_conf "$work/nginx" "$nginx_port" "$work/nginx/www"
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.5
nginx_master=$(cat "$work/nginx/nginx.pid")
nginx_pids="$nginx_master $(pgrep -P "$nginx_master" | tr '\n' ' ')"

measure "edge segment (warm)" "$seg" "$edge_pid"
measure "nginx segment" "http://127.0.0.1:$nginx_port/1.m4s" $nginx_pids
measure "edge playlist (warm)" "$pl" "$edge_pid"
measure "nginx playlist" "http://127.0.0.1:$nginx_port/media.m3u8" $nginx_pids
stop_edge
start_edge --no-segment-cache
measure "edge segment (cache off)" "$seg" "$edge_pid"

{
  echo "| what | req/s | p99 | server CPU ms/request |"
  echo "|---|---|---|---|"
  printf '%s\n' "${results[@]}"
} | tee "$work/edge-bench.md"
