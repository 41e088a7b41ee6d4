#!/usr/bin/env bash
# Playlist CPU side by side: the edge's warm media and multivariant playlists and its DASH
# MPD vs nginx-vod-module generating the same from the same renditions (local mode, its
# metadata cache on, fMP4, 6 s segments; its MPD with a SegmentTimeline, as the edge's). One core each: the server pinned to CPU 0 with one
# worker, wrk on CPU 1; server CPU time per request from /proc (utime+stime).
#
#   NGINX_VOD=path/to/nginx (default: deploy/local/nginx-vod.sh's build; see that script)
#   SECONDS_OF_MEDIA=300 SEGMENT_MS=6000 SOURCE_SIZE=1280x720 DURATION=5s ROUNDS=7
#   CONNECTIONS=16 WORK=./demo-work/bench-playlists
# (1,200 segments: SECONDS_OF_MEDIA=2400 SEGMENT_MS=2000 SOURCE_SIZE=640x360, one rung.)
# Medians of ROUNDS alternating runs (see cpu-per-request.sh).
#   PROFILE=1  also record `perf` profiles of the edge (WORK/perf-*.txt: top symbols)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=deploy/local/cpu-per-request.sh
. "$root/deploy/local/cpu-per-request.sh"
# shellcheck source=deploy/local/nginx-static.sh
. "$root/deploy/local/nginx-static.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin=$CARGO_TARGET_DIR/release
work=${WORK:-$root/demo-work/bench-playlists}
duration=${DURATION:-5s}
conns=${CONNECTIONS:-16}
media_secs=${SECONDS_OF_MEDIA:-300}
segment_ms=${SEGMENT_MS:-6000}
source_size=${SOURCE_SIZE:-1280x720}
vod=${NGINX_VOD:-$HOME/.cache/sunomi/nginx-vod/sbin/nginx}
[ -x "$vod" ] || { echo "no nginx with nginx-vod-module at $vod: run deploy/local/nginx-vod.sh" >&2; exit 2; }
mkdir -p "$work/vod/logs" "$work/vod/media"
# EDGE_BIN=path measures that edge binary instead of this tree's (to compare two builds on the
# same machine and run); the tree is then not rebuilt.
edge_bin=${EDGE_BIN:-$bin/sunomi-edge}
if [ -z "${EDGE_BIN:-}" ] || [ ! -x "$bin/sunomi-origin" ]; then
  cargo build --release -p sunomi-origin -p sunomi-edge >/dev/null
fi

store=$work/store
if [ ! -s "$store/videos/bench/manifest.json" ]; then
  src=$work/src.mp4
  ffmpeg -v error -y -f lavfi -i "testsrc2=size=$source_size:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$media_secs" \
    -c:v libx264 -preset ultrafast -c:a aac -shortest "$src"
  RUST_LOG=warn "$bin/sunomi-origin" transcode "$src" --id bench --store "$store" --preset ultrafast
fi
# nginx-vod reads progressive MP4: each rendition with the audio track, stream-copied.
rungs=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join(r["name"] for r in m["renditions"]))' \
  "$store/videos/bench/manifest.json")
audio=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["audio"][0]["path"])' \
  "$store/videos/bench/manifest.json")
for r in $rungs; do
  path=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print([x["path"] for x in m["renditions"] if x["name"]==sys.argv[2]][0])' \
    "$store/videos/bench/manifest.json" "$r")
  out=$work/vod/media/bench_$r.mp4
  [ -s "$out" ] || ffmpeg -v error -y -i "$store/videos/bench/$path" -i "$store/videos/bench/$audio" \
    -map 0:v -map 1:a -c copy -movflags +faststart "$out"
done
urlset="bench_,$(tr ' ' ',' <<<"$rungs"),.mp4.urlset"
top=$(cut -d' ' -f1 <<<"$rungs")

edge_port=18191 vod_port=18192 admin_port=18193
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; "$vod" -p "$work/vod" -c "$work/vod/nginx.conf" -s stop 2>/dev/null || true; }
trap cleanup EXIT

nginx_conf "$work/vod" "  vod_mode local;
  vod_metadata_cache metadata_cache 512m;
  vod_segment_duration $segment_ms;
  vod_hls_container_format fmp4;
  vod_multi_uri_suffix .urlset;
  open_file_cache max=1000 inactive=5m;
  open_file_cache_valid 2m;
  open_file_cache_min_uses 1;
  open_file_cache_errors on;
  server {
    listen 127.0.0.1:$vod_port;
    location /hls/ { alias $work/vod/media/; vod hls; }
    location /dash/ { alias $work/vod/media/; vod dash; vod_dash_manifest_format segmenttimeline; }
  }"
taskset -c 0 "$vod" -p "$work/vod" -c "$work/vod/nginx.conf"
printf 'threads = 1\nsegment_target_ms = %s\n' "$segment_ms" >"$work/edge.toml"
taskset -c 0 env RUST_LOG=warn "$edge_bin" --store "$store" --listen 127.0.0.1:$edge_port \
  --admin 127.0.0.1:$admin_port --config "$work/edge.toml" &
edge_pid=$!; pids+=("$edge_pid")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done
sleep 0.3
vod_master=$(cat "$work/vod/nginx.pid")
vod_pids="$vod_master $(pgrep -P "$vod_master" | tr '\n' ' ')"

rows=$work/rows.md
: >"$rows"
wrkload() { # url → "requests p99"
  taskset -c 1 wrk -t1 -c"$conns" -d"$duration" --latency "$1" \
    | awk '/requests in/ {r=$1} $1=="99%" {p=$2} END {print r, p}'
}
edge_media_url=http://127.0.0.1:$edge_port/v/bench/$top/media.m3u8
vod_media_url=http://127.0.0.1:$vod_port/hls/bench_$top.mp4/index-v1.m3u8
edge_master_url=http://127.0.0.1:$edge_port/v/bench/master.m3u8
vod_master_url=http://127.0.0.1:$vod_port/hls/$urlset/master.m3u8
edge_mpd_url=http://127.0.0.1:$edge_port/v/bench/manifest.mpd
vod_mpd_url=http://127.0.0.1:$vod_port/dash/$urlset/manifest.mpd
for u in "$edge_media_url" "$vod_media_url" "$edge_master_url" "$vod_master_url" "$edge_mpd_url" "$vod_mpd_url"; do
  curl -sf -o /dev/null "$u" || { echo "$u fails" >&2; exit 1; }
done
edge_media() { wrkload "$edge_media_url"; }
vod_media() { wrkload "$vod_media_url"; }
edge_master() { wrkload "$edge_master_url"; }
vod_master() { wrkload "$vod_master_url"; }
edge_mpd() { wrkload "$edge_mpd_url"; }
vod_mpd() { wrkload "$vod_mpd_url"; }
profile() { # name url: perf profile of the edge under the same load
  [ "${PROFILE:-0}" = 1 ] || return 0
  taskset -c 1 wrk -t1 -c"$conns" -d"$duration" "$2" >/dev/null &
  local w=$!
  sleep 1
  perf record -F 2000 -g -p "$edge_pid" -o "$work/perf-$1.data" -- sleep 5 >/dev/null 2>&1
  wait "$w"
  perf report -i "$work/perf-$1.data" --no-children --percent-limit 0.7 --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' >"$work/perf-$1.txt" || true
}

side_by_side "$rows" "edge media playlist" edge_media "$edge_pid" "nginx-vod media playlist" vod_media "$vod_pids"
side_by_side "$rows" "edge multivariant playlist" edge_master "$edge_pid" \
  "nginx-vod multivariant playlist" vod_master "$vod_pids"
side_by_side "$rows" "edge DASH MPD" edge_mpd "$edge_pid" "nginx-vod DASH MPD" vod_mpd "$vod_pids"
profile media "$edge_media_url"
profile master "$edge_master_url"
{
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $((media_secs * 1000 / segment_ms)) segments;"
  for u in "$edge_media_url" "$vod_media_url" "$edge_master_url" "$vod_master_url" "$edge_mpd_url" "$vod_mpd_url"; do
    echo "$(curl -sf "$u" | wc -c) bytes: $u"
  done
  echo "server CPU µs per request (median of $rounds alternating runs of $duration, $conns connections)"
  echo "| what | CPU µs/request | range | user µs | kernel µs | p99 ms |"
  echo "|---|---|---|---|---|---|"
  cat "$rows"
} | tee "$work/playlists.md"
