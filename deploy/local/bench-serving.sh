#!/usr/bin/env bash
# Serving side by side with nginx (the same nginx 1.31 build as the playlist benchmark,
# serving the edge's own bytes as static files): server CPU per request, one core each (the
# server pinned to CPU 0 with one worker/thread, the load generator on CPU 1).
#   1. TLS 1.3, one P-256 certificate for both: a warm media segment and a media playlist,
#      HTTP/1.1 and HTTP/2 (h2load, 16 connections; HTTP/2 with 10 streams each).
#   2. Plain HTTP, warm segment: 16 and 1,000 connections (wrk): CPU per request and p99.
# Medians of ROUNDS alternating runs (see cpu-per-request.sh).
#
#   NGINX=path (default: deploy/local/nginx-vod.sh's build) DURATION=5 ROUNDS=5
#   CASES="seg_h1 seg_h2 pl_h1 pl_h2 seg_16 seg_1000" (a subset runs only those)
#   WORK=./demo-work/bench-serving (reuses ./demo-work/bench-playlists/store when present)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/cpu-per-request.sh
. "$root/deploy/local/cpu-per-request.sh"
# shellcheck source=deploy/local/nginx-static.sh
. "$root/deploy/local/nginx-static.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/bench-serving}
secs=${DURATION:-5}
nginx=${NGINX:-$HOME/.cache/sunomi/nginx-vod/sbin/nginx}
[ -x "$nginx" ] || { echo "no nginx at $nginx: run deploy/local/nginx-vod.sh" >&2; exit 2; }
for t in wrk h2load openssl; do command -v $t >/dev/null || { echo "$t is missing (apt: wrk nghttp2-client openssl)" >&2; exit 2; }; done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$work/nginx/logs" "$work/www" "$work/tls"
# EDGE_BIN=path measures that edge binary instead of this tree's (to compare two builds on the
# same machine and run); the tree is then not rebuilt.
edge_bin=${EDGE_BIN:-$bin/sunomi-edge}
if [ -z "${EDGE_BIN:-}" ] || [ ! -x "$bin/sunomi-origin" ]; then
  cargo build --release -p sunomi-origin -p sunomi-edge >/dev/null
fi

store=${STORE:-$root/demo-work/bench-playlists/store}
if [ ! -s "$store/videos/bench/manifest.json" ]; then
  store=$work/store
  if [ ! -s "$store/videos/bench/manifest.json" ]; then
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" \
      -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 \
      -c:v libx264 -preset ultrafast -c:a aac -shortest "$work/src.mp4"
    RUST_LOG=warn "$bin/sunomi-origin" transcode "$work/src.mp4" --id bench --store "$store" --preset ultrafast
  fi
fi
top=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["renditions"][0]["name"])' \
  "$store/videos/bench/manifest.json")

tls=$work/tls
if [ ! -s "$tls/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
fi

edge_port=18201 edge_tls=18202 admin_port=18203 nginx_port=18204 nginx_tls=18205
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; "$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true; }
trap cleanup EXIT

printf 'threads = 1\n[connections]\nmax = 20000\n' >"$work/edge.toml"
taskset -c 0 env RUST_LOG=warn "$edge_bin" --store "$store" --listen 127.0.0.1:$edge_port \
  --admin 127.0.0.1:$admin_port --tls-listen 127.0.0.1:$edge_tls --tls-cert "$tls/cert.pem" \
  --tls-key "$tls/key.pem" --config "$work/edge.toml" &
edge_pid=$!; pids+=("$edge_pid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done
seg_path=/v/bench/$top/1.m4s
pl_path=/v/bench/$top/media.m3u8
curl -sf -o "$work/www/1.m4s" "http://127.0.0.1:$edge_port$seg_path"
curl -sf -o "$work/www/media.m3u8" "http://127.0.0.1:$edge_port$pl_path"

nginx_conf "$work/nginx" "  server { listen 127.0.0.1:$nginx_port; root $work/www; }
  server {
    listen 127.0.0.1:$nginx_tls ssl;
    http2 on;
    ssl_certificate $tls/cert.pem;
    ssl_certificate_key $tls/key.pem;
    ssl_protocols TLSv1.3;
    root $work/www;
  }" 20000
taskset -c 0 "$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.3
nginx_master=$(cat "$work/nginx/nginx.pid")
nginx_pids="$nginx_master $(pgrep -P "$nginx_master" | tr '\n' ' ')"
for u in "https://127.0.0.1:$edge_tls$seg_path" "https://127.0.0.1:$nginx_tls/1.m4s"; do
  curl -skf --http2 -o /dev/null "$u" || { echo "$u fails" >&2; exit 1; }
done

# Load functions: each prints "requests p99".
h2() { # url h1|h2
  local proto=() streams=10
  [ "$2" = h1 ] && { proto=(--h1); streams=1; }
  taskset -c 1 h2load "${proto[@]}" -t1 -c16 -m"$streams" -D"$secs" "$1" 2>/dev/null \
    | awk '/^requests:/ {print $8, "-"}'
}
wrkload() { # url connections
  taskset -c 1 wrk -t1 -c"$2" -d"${secs}s" --latency "$1" \
    | awk '/requests in/ {r=$1} $1=="99%" {p=$2} END {print r, p}'
}
edge_seg_h1() { h2 "https://127.0.0.1:$edge_tls$seg_path" h1; }
nginx_seg_h1() { h2 "https://127.0.0.1:$nginx_tls/1.m4s" h1; }
edge_seg_h2() { h2 "https://127.0.0.1:$edge_tls$seg_path" h2; }
nginx_seg_h2() { h2 "https://127.0.0.1:$nginx_tls/1.m4s" h2; }
edge_pl_h1() { h2 "https://127.0.0.1:$edge_tls$pl_path" h1; }
nginx_pl_h1() { h2 "https://127.0.0.1:$nginx_tls/media.m3u8" h1; }
edge_pl_h2() { h2 "https://127.0.0.1:$edge_tls$pl_path" h2; }
nginx_pl_h2() { h2 "https://127.0.0.1:$nginx_tls/media.m3u8" h2; }
edge_seg_16() { wrkload "http://127.0.0.1:$edge_port$seg_path" 16; }
nginx_seg_16() { wrkload "http://127.0.0.1:$nginx_port/1.m4s" 16; }
edge_seg_1000() { wrkload "http://127.0.0.1:$edge_port$seg_path" 1000; }
nginx_seg_1000() { wrkload "http://127.0.0.1:$nginx_port/1.m4s" 1000; }

rows=$work/rows.md
: >"$rows"
for case in ${CASES:-seg_h1 seg_h2 pl_h1 pl_h2 seg_16 seg_1000}; do
  side_by_side "$rows" "edge $case" "edge_$case" "$edge_pid" "nginx $case" "nginx_$case" "$nginx_pids"
done
{
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "segment $(stat -c %s "$work/www/1.m4s") bytes, playlist $(stat -c %s "$work/www/media.m3u8") bytes;"
  echo "seg_h1/seg_h2/pl_*: TLS 1.3 (h2load, 16 connections, HTTP/2 with 10 streams each);"
  echo "seg_16/seg_1000: plain HTTP/1.1 (wrk). Medians of $rounds alternating runs of ${secs}s."
  echo "| what | server CPU µs/request | range | user µs | kernel µs | p99 ms (wrk) |"
  echo "|---|---|---|---|---|---|"
  cat "$rows"
} | tee "$work/serving.md"
