#!/usr/bin/env bash
# Side by side: the same content served by (a) the Sunomi edge packaging just in time from
# CMAF mezzanines and (b) Debian's nginx serving HLS pre-packaged by the ffmpeg CLI (same
# rungs, same GOP), driven by the same sunomi-bench scenarios; writes a compare table per
# scenario. This is what we quote for performance.
#   PLAYERS=50 SPEED=4 DURATION=60s TITLES=8 WORK=./demo-work/side-by-side
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/nginx-static.sh
. "$root/deploy/local/nginx-static.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/side-by-side}
players=${PLAYERS:-50}
speed=${SPEED:-4}
duration=${DURATION:-60s}
titles=${TITLES:-8}
edge_port=${EDGE_PORT:-18381} admin_port=$(( ${EDGE_PORT:-18381} + 1 )) nginx_port=$(( ${EDGE_PORT:-18381} + 2 ))
mkdir -p "$work"/{out,nginx/logs,www/v}
cargo build --release -p sunomi-origin -p sunomi-edge -p sunomi-bench >/dev/null

src=$work/src.mp4
[ -s "$src" ] || ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 -c:v libx264 -preset veryfast -crf 18 -c:a aac -shortest "$src"

# (a) one transcode, published under several ids so each is a distinct title to the edge.
if [ ! -s "$work/store/videos/t1/manifest.json" ]; then
  RUST_LOG=warn "$bin/sunomi-origin" transcode "$src" --id t1 --store "$work/store"
  for i in $(seq 2 "$titles"); do
    rm -rf "$work/store/videos/t$i"; cp -r "$work/store/videos/t1" "$work/store/videos/t$i"
    sed -i "s/\"id\": \"t1\"/\"id\": \"t$i\"/" "$work/store/videos/t$i/manifest.json"
  done
fi
# (b) the ffmpeg CLI's own HLS packaging of the same ladder, copied per title for nginx.
if [ ! -s "$work/www/v/t1/master.m3u8" ]; then
  mkdir -p "$work/www/v/t1"
  ffmpeg -v error -y -i "$src" -filter_complex \
    "[0:v]split=3[a][b][c];[a]scale=1280:720[v0];[b]scale=854:480[v1];[c]scale=640:360[v2]" \
    -map '[v0]' -map '[v1]' -map '[v2]' -map 0:a -c:v libx264 -preset veryfast \
    -b:v:0 2500k -maxrate:v:0 2675k -bufsize:v:0 5000k -b:v:1 1200k -maxrate:v:1 1284k -bufsize:v:1 2400k \
    -b:v:2 800k -maxrate:v:2 856k -bufsize:v:2 1600k -x264-params keyint=60:min-keyint=60:scenecut=0:open-gop=0 \
    -c:a aac -b:a 128k -ar 48000 -ac 2 -f hls -hls_time 6 -hls_playlist_type vod -hls_segment_type fmp4 \
    -master_pl_name master.m3u8 -var_stream_map "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud a:0,agroup:aud,default:yes" \
    -hls_segment_filename "$work/www/v/t1/%v/%d.m4s" "$work/www/v/t1/%v/media.m3u8"
  for i in $(seq 2 "$titles"); do rm -rf "$work/www/v/t$i"; cp -r "$work/www/v/t1" "$work/www/v/t$i"; done
fi
seq 1 "$titles" | sed 's/^/t/' > "$work/catalog.txt"

write_nginx_conf "$work/nginx" "$nginx_port" "$work/www"
printf 'threads = 1\n' > "$work/edge.toml"
edge_pid=
cleanup() { [ -n "$edge_pid" ] && kill "$edge_pid" 2>/dev/null; nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true; }
trap cleanup EXIT
taskset -c 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"

for scenario in flash-crowd zipf-catalog cold-start steady-state; do
  # A fresh edge per scenario, so every run starts with a cold cache, as nginx's page cache is warm.
  taskset -c 0 env RUST_LOG=warn "$bin/sunomi-edge" --store "$work/store" --listen 127.0.0.1:$edge_port \
    --admin 127.0.0.1:$admin_port --config "$work/edge.toml" & edge_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done
  for server in nginx edge; do
    port=$([ $server = edge ] && echo $edge_port || echo $nginx_port)
    metrics=()
    [ $server = edge ] && metrics=(--metrics "http://127.0.0.1:$admin_port/metrics")
    taskset -c 1 "$bin/sunomi-bench" players --catalog "$work/catalog.txt" --base "http://127.0.0.1:$port" \
      --scenario "$scenario" --players "$players" --speed "$speed" --duration "$duration" \
      "${metrics[@]}" --html --out "$work/out/$server-$scenario" > "$work/out/$server-$scenario.txt"
  done
  kill "$edge_pid"; wait "$edge_pid" 2>/dev/null || true; edge_pid=
  "$bin/sunomi-bench" compare "$work/out/nginx-$scenario/report.json" "$work/out/edge-$scenario/report.json" \
    > "$work/out/compare-$scenario.txt"
  echo "== $scenario (A = nginx, B = edge)"
  grep -E '^(figures\.(requests_per_second|latency_us\.(p50|p99)|ttfb_us\.p99)|players\.(startup_ms\.(p50|p99)|stalls|rebuffer_ppm\.p99)) ' \
    "$work/out/compare-$scenario.txt" || true
  grep -E 'server|storage reads' "$work/out/edge-$scenario.txt" || true
done
echo "reports and charts: $work/out"
